/* Alert events: the records the overlay flagged (rgLogAlert TRUE), sent to the hooks named
 * by alert-hooks, each outcome written back onto the record as rgLogAlertStatus. */
#ifndef RG_ALERTS_H
#define RG_ALERTS_H

#include <stddef.h>

#include "directory.h"
#include "syncd.h"

struct alerts;

struct alerts_stats {
	const char *hook;
	long long attempts, delivered, failed;
};

/* A thread of its own, with its own connection made through dir; NULL with err when the
 * thread cannot start. Call only when cfg has alert hooks. */
struct alerts *alerts_start(const struct syncd_config *cfg, struct directory *dir, char *err,
	size_t errlen);
/* Waits for the hook call in progress, if any. */
void alerts_stop(struct alerts *a);
/* Any thread. */
long long alerts_records(struct alerts *a);
size_t alerts_stats(struct alerts *a, struct alerts_stats *out, size_t max);

#endif
