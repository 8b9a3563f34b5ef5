/* The plugin's one instance: its identity, its settings and the reset log's head. */
#include "rg389.h"

struct rg389 rg389;
