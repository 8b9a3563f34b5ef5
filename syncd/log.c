/* Logging for the daemon and its worker threads: syslog, or one JSON object per line on
 * standard error for journald/containers. Every message carries an event name, so log
 * searches and alerts key on a stable word, not on wording. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <jansson.h>

#include "syncd.h"

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_json;
static atomic_int log_debug;       /* read unlocked: debug lines are dropped before formatting */
static int log_opened;

void
log_init(const char *mode, int foreground_debug)
{
	pthread_mutex_lock(&log_mu);
	if (log_opened) {
		closelog();
		log_opened = 0;
	}
	log_json = mode != NULL && strcmp(mode, "json") == 0;
	log_debug = foreground_debug != 0;
	if (!log_json) {
		/* in the foreground (-d) the operator watches the terminal, not the journal */
		openlog("resetguard-syncd", LOG_PID | (log_debug ? LOG_PERROR : 0), LOG_DAEMON);
		log_opened = 1;
	}
	pthread_mutex_unlock(&log_mu);
}

static const char *
level_name(int prio)
{
	switch (LOG_PRI(prio)) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "err";
	case LOG_WARNING:
		return "warning";
	case LOG_DEBUG:
		return "debug";
	default:
		return "info";
	}
}

/* jansson refuses invalid UTF-8; an error text from a legacy store may well contain some,
 * and losing the whole line over it would hide the failure. */
static json_t *
text(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL || s == NULL)
		return j;
	if ((copy = strdup(s)) == NULL)
		return NULL;
	for (char *c = copy; *c != '\0'; c++)
		if ((unsigned char)*c >= 0x80)
			*c = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static void
write_json(int prio, const char *event, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char when[32], stamp[48];
	json_t *obj;
	char *line = NULL;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp, sizeof(stamp), "%s.%03ldZ", when, ts.tv_nsec / 1000000);
	obj = json_pack("{s:s, s:s, s:o?, s:o?}", "time", stamp, "level", level_name(prio),
		"event", text(event), "msg", text(msg));
	if (obj != NULL)
		line = json_dumps(obj, JSON_COMPACT);
	if (line != NULL)
		fprintf(stderr, "%s\n", line);
	else
		fprintf(stderr, "{\"time\":\"%s\",\"level\":\"err\",\"event\":\"log-failed\"}\n",
			stamp);
	fflush(stderr);
	free(line);
	json_decref(obj);
}

void
log_msg(int prio, const char *event, const char *fmt, ...)
{
	char small[1024], *msg = small, *big = NULL;
	va_list ap;
	int n;

	if (LOG_PRI(prio) == LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	/* a long error text from a target is still logged whole; if memory is short, cut */
	if (n >= (int)sizeof(small) && (big = malloc((size_t)n + 1)) != NULL) {
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		msg = big;
	}
	if (n < 0)
		small[0] = '\0';
	if (event == NULL)
		event = "-";
	pthread_mutex_lock(&log_mu);
	if (log_json)
		write_json(prio, event, msg);
	else
		syslog(LOG_PRI(prio) | LOG_DAEMON, "event=%s %s", event, msg);
	pthread_mutex_unlock(&log_mu);
	free(big);
}
