/* Group commit: writes to one back-mdb database that arrive together share one transaction
 * and one flush.
 *
 * Each write is a job, queued in the order the reset log numbered it. Whichever thread
 * finds no batch in progress leads: it takes the queue (up to RG_GROUP_MAX jobs), begins a
 * transaction (back-mdb's bi_op_txn, the one RFC 5805 transactions use), and gives each job
 * its turn in order; commits once; and tells every job how it ended. A job writes on its own
 * thread, with its own operation and memory, the transaction on its o_extra: an LMDB write
 * transaction is used by one thread at a time, here in turns, and begun and committed by
 * the leader. Nothing is answered before the commit (the writes are held below syncprov,
 * hold.c), so a record still precedes its change on disk, and a rolled-back write reaches
 * no one.
 *
 * A job whose write fails cleanly (the backend wrote nothing) leaves the others to commit;
 * one that leaves the transaction unusable (RG_JOB_TAINTED) aborts the batch. Records of
 * this server's chain then fail with every record queued behind them, which chains to
 * them: the group is broken until the log's writer has found the head again
 * (rg_group_mend). */
#include "resetguard.h"

#define RG_GROUP_MAX 64

enum { JOB_QUEUED, JOB_TURN, JOB_WRITTEN, JOB_ENDED };

void
rg_group_init(struct rg_group *g)
{
	memset(g, 0, sizeof(*g));
	ldap_pvt_thread_mutex_init(&g->mutex);
	ldap_pvt_thread_cond_init(&g->lead_cond);
	g->tail = &g->head;
}

void
rg_group_destroy(struct rg_group *g)
{
	ldap_pvt_thread_cond_destroy(&g->lead_cond);
	ldap_pvt_thread_mutex_destroy(&g->mutex);
}

static BackendInfo *
backend_of(BackendDB *be)
{
	return overlay_is_over(be) ? ((slap_overinfo *)be->bd_info)->oi_orig : be->bd_info;
}

int
rg_group_batchable(BackendDB *be)
{
	slap_overinfo *oi = (slap_overinfo *)be->bd_info;

	return backend_of(be)->bi_op_txn != NULL && (!overlay_is_over(be) ||
		rg_held_below_syncprov(oi, "rglog") || rg_held_below_syncprov(oi, "resetguard"));
}

/* The next batch off the queue, in order, each entry once: syncprov makes a second change
 * of an entry wait for the answer to the first, which comes after the commit. */
static int
take_batch(struct rg_group *g, struct rg_group_job **batch)
{
	int n = 0;

	while (g->head != NULL && n < RG_GROUP_MAX) {
		struct rg_group_job *j = g->head;
		int i;

		for (i = 0; i < n && !dn_match(j->dn, batch[i]->dn); i++)
			;
		if (i < n)
			break;
		if ((g->head = j->next) == NULL)
			g->tail = &g->head;
		batch[n++] = j;
	}
	return n;
}

static void
end_job(struct rg_group_job *j, int committed)
{
	j->committed = committed;
	j->state = JOB_ENDED;
	ldap_pvt_thread_cond_signal(&j->cond);
}

/* With g locked: a chained job lost, and every chained job queued behind it. */
static void
break_chain(struct rg_group *g)
{
	g->broken = 1;
	for (struct rg_group_job **jp = &g->head; *jp != NULL;) {
		struct rg_group_job *j = *jp;

		if (j->chained) {
			*jp = j->next;
			end_job(j, 0);
		} else {
			jp = &j->next;
		}
	}
	for (g->tail = &g->head; *g->tail != NULL; g->tail = &(*g->tail)->next)
		;
}

/* One batch, with g locked on entry and on return. */
static void
lead(Operation *op, struct rg_group *g, BackendDB *be, struct rg_group_job *self)
{
	struct rg_group_job *batch[RG_GROUP_MAX];
	BackendInfo *bi = backend_of(be);
	Connection conn;
	OperationBuffer opbuf;
	Operation *txop;
	OpExtra *oex = NULL;
	int n, i, tainted = 0, committed = 0;

	g->leading = 1;
	n = take_batch(g, batch);
	ldap_pvt_thread_mutex_unlock(&g->mutex);
	/* The transaction's own operation, on an internal connection of this thread. */
	connection_fake_init2(&conn, &opbuf, op->o_threadctx, 0);
	txop = &opbuf.ob_op;
	txop->o_bd = be;
	if (bi->bi_op_txn(txop, SLAP_TXN_BEGIN, &oex) != 0) {
		oex = NULL;
		tainted = 1;
	} else {
		/* Each job links it into its own operation's o_extra for its turn. */
		LDAP_SLIST_REMOVE(&txop->o_extra, oex, OpExtra, oe_next);
	}
	for (i = 0; i < n && !tainted; i++) {
		struct rg_group_job *j = batch[i];

		j->oex = oex;
		if (j == self) {
			j->result = j->write(op, j);
		} else {
			ldap_pvt_thread_mutex_lock(&g->mutex);
			j->state = JOB_TURN;
			ldap_pvt_thread_cond_signal(&j->cond);
			while (j->state != JOB_WRITTEN)
				ldap_pvt_thread_cond_wait(&g->lead_cond, &g->mutex);
			ldap_pvt_thread_mutex_unlock(&g->mutex);
		}
		j->oex = NULL;
		tainted = j->result == RG_JOB_TAINTED;
	}
	if (oex != NULL) {
		if (!tainted)
			committed = bi->bi_op_txn(txop, SLAP_TXN_COMMIT, &oex) == 0;
		if (committed)
			atomic_fetch_add_explicit(&g->commits, 1, memory_order_relaxed);
		else
			bi->bi_op_txn(txop, SLAP_TXN_ABORT, &oex);
	}
	ldap_pvt_thread_mutex_lock(&g->mutex);
	for (i = 0; i < n && !committed; i++)
		if (batch[i]->chained) {
			break_chain(g);
			break;
		}
	for (i = 0; i < n; i++)
		end_job(batch[i], committed);
	g->leading = 0;
	/* Someone queued meanwhile leads the next batch. */
	if (g->head != NULL)
		ldap_pvt_thread_cond_signal(&g->head->cond);
}

static void
enqueue(struct rg_group *g, struct rg_group_job *j)
{
	j->state = JOB_QUEUED;
	j->next = NULL;
	*g->tail = j;
	g->tail = &j->next;
}

int
rg_group_run(Operation *op, struct rg_group *g, BackendDB *be, struct rg_group_job *j,
	ldap_pvt_thread_mutex_t *release)
{
	int retried = 0;

	j->result = RG_JOB_OK;
	j->oex = NULL;
	if (!rg_group_batchable(be)) {
		/* Written alone, committed by the backend, with release still held: the next
		 * write waits for this one. */
		j->result = j->write(op, j);
		j->committed = j->result != RG_JOB_TAINTED;
		if (j->result == RG_JOB_OK)
			atomic_fetch_add_explicit(&g->commits, 1, memory_order_relaxed);
		if (j->end != NULL)
			j->end(op, j, j->committed);
		if (release != NULL)
			ldap_pvt_thread_mutex_unlock(release);
		return j->committed;
	}
	ldap_pvt_thread_cond_init(&j->cond);
	ldap_pvt_thread_mutex_lock(&g->mutex);
	if (j->chained && g->broken)
		end_job(j, 0);
	else
		enqueue(g, j);
	if (release != NULL)
		ldap_pvt_thread_mutex_unlock(release);
	for (;;) {
		if (j->state == JOB_TURN) {
			ldap_pvt_thread_mutex_unlock(&g->mutex);
			j->result = j->write(op, j);
			ldap_pvt_thread_mutex_lock(&g->mutex);
			j->state = JOB_WRITTEN;
			ldap_pvt_thread_cond_signal(&g->lead_cond);
		} else if (j->state == JOB_ENDED) {
			if (j->end != NULL) {
				ldap_pvt_thread_mutex_unlock(&g->mutex);
				j->end(op, j, j->committed);
				ldap_pvt_thread_mutex_lock(&g->mutex);
			}
			/* Another's failure cost this write its commit: it may go round once more. */
			if (j->committed || !j->may_retry || retried || j->result != RG_JOB_OK)
				break;
			retried = 1;
			j->result = RG_JOB_OK;
			enqueue(g, j);
		} else if (!g->leading) {
			lead(op, g, be, j);
		} else {
			ldap_pvt_thread_cond_wait(&j->cond, &g->mutex);
		}
	}
	ldap_pvt_thread_mutex_unlock(&g->mutex);
	ldap_pvt_thread_cond_destroy(&j->cond);
	return j->committed;
}

int
rg_group_broken(struct rg_group *g)
{
	int broken;

	ldap_pvt_thread_mutex_lock(&g->mutex);
	broken = g->broken;
	ldap_pvt_thread_mutex_unlock(&g->mutex);
	return broken;
}

void
rg_group_mend(struct rg_group *g)
{
	ldap_pvt_thread_mutex_lock(&g->mutex);
	g->broken = 0;
	ldap_pvt_thread_mutex_unlock(&g->mutex);
}
