/* Per-thread state between the hooks of one client operation. 389-DS runs an operation,
 * the internal Modify a Password Modify request turns into, its backend transaction and
 * the result sent to the client on one worker thread, one after another: what a hook
 * learns is handed to the next through the thread, never through shared memory. */
#include "rg389.h"

#include <openssl/crypto.h>
#include <string.h>

static __thread struct rg389_thread tl;

struct rg389_thread *
rg389_thread(void)
{
	return &tl;
}

void
rg389_thread_clear_exop(struct rg389_thread *t)
{
	if (t->exop_new.bv_val != NULL) {
		OPENSSL_cleanse(t->exop_new.bv_val, t->exop_new.bv_len);
		slapi_ch_free((void **)&t->exop_new.bv_val);
	}
	t->exop_new.bv_len = 0;
	t->exop = 0;
	t->exop_old_given = 0;
}
