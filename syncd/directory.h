/* syncd's own connection to the main directory (the reset log and its accounts), as
 * opposed to the legacy directories of the targets (dirconn.h). */
#ifndef RG_DIRECTORY_H
#define RG_DIRECTORY_H

#include <ldap.h>

#include "syncd.h"

/* Connects and binds with the config's settings; NULL with err on failure. */
LDAP *directory_connect(struct syncd_config *cfg, const char *password, char *err, size_t errlen);

#endif
