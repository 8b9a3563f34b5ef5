/* syncd's own connection to the main directory (the reset log and its accounts), as
 * opposed to the legacy directories of the targets (dirconn.h). Every LDAP call on it is
 * made by a thread of its own, in the order asked, so that a slow or stopped directory
 * never blocks the event loop (the follower's reading, retries, /metrics, /health): the
 * loop hands it requests and gets each back, done, through the loop. */
#ifndef RG_DIRECTORY_H
#define RG_DIRECTORY_H

#include <stddef.h>

#include <event2/event.h>
#include <ldap.h>

#include "syncd.h"

struct directory;

/* A request, embedded in the asker's own structure. */
struct dir_req {
	/* In the directory thread, with its connection: *ld is NULL while there is none, and
	 * run may make one or drop one that is broken. It may block. */
	void (*run)(struct directory *d, LDAP **ld, struct dir_req *r);
	/* In the event loop, once run has returned, or when directory_post hands a partial
	 * result over. closing: the directory is being freed; release r, touch nothing else
	 * (run may never have been called). */
	void (*done)(struct dir_req *r, int closing);
	int urgent;   /* run before the requests that are not: a short question that a
		       * delivery waits for goes before a queue of status writes */
	int finished; /* set by the directory: run has returned */
	struct dir_req *next;
};

/* The thread, idle until asked; cfg and password (copied) are those it binds with. */
struct directory *directory_new(struct event_base *base, const struct syncd_config *cfg,
	const char *password, char *err, size_t errlen);
/* Stops the thread after the request it runs, then releases every request not yet done
 * (done with closing set), and the connection. */
void directory_free(struct directory *d);
/* Event loop: queues r behind the requests already asked (the urgent ones only behind
 * the urgent ones). */
void directory_submit(struct directory *d, struct dir_req *r);
/* Requests submitted whose done has not run yet. */
size_t directory_pending(struct directory *d);

/* Directory thread only (but directory_connect, directory_config, directory_broken). */
/* Hands r to the loop now, as a partial result of the request running (r->done runs there;
 * r must not have been submitted). */
void directory_post(struct directory *d, struct dir_req *r);
/* The directory is being freed: a long run should stop. */
int directory_closing(struct directory *d);
/* Any thread: a new connection, bound with the directory's settings; NULL with err on
 * failure. Blocks. */
LDAP *directory_connect(struct directory *d, char *err, size_t errlen);
const struct syncd_config *directory_config(struct directory *d);
/* A result code saying the connection itself is gone (not a refusal by the server). */
int directory_broken(int rc);

#endif
