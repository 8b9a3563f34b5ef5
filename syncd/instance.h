/* The id a syncd instance writes in each claim of a record ("INSTANCE EXPIRY" in
 * rgLogClaim). slapd/rglog.c refuses a claim whose id has other characters or is longer. */
#ifndef SYNCD_INSTANCE_H
#define SYNCD_INSTANCE_H

#define INSTANCE_CHARS \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:@-"
#define INSTANCE_MAX 64

int instance_valid(const char *id);
/* hostname:pid into *id (malloc'd); -1 when out of memory. */
int instance_default(char **id);

#endif
