/* A syncd instance's id: what a claim carries, and its default. */
#include "instance.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
instance_valid(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= INSTANCE_MAX && strspn(id, INSTANCE_CHARS) == n;
}

/* The hostname cut to what a claim can carry: unique among the instances sharing a log as
 * long as their hosts' names are. */
int
instance_default(char **id)
{
	char host[INSTANCE_MAX + 1] = "", pid[24];
	size_t n;

	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	snprintf(pid, sizeof(pid), ":%ld", (long)getpid());
	for (n = 0; host[n] != '\0' && strchr(INSTANCE_CHARS, host[n]) != NULL; n++)
		;
	if (n == 0)
		n = strlen(strcpy(host, "syncd"));
	if (n + strlen(pid) > INSTANCE_MAX)
		n = INSTANCE_MAX - strlen(pid);
	return asprintf(id, "%.*s%s", (int)n, host, pid) < 0 ? -1 : 0;
}
