/* Denials outlive the transaction that refused them. A refusal inside the backend
 * transaction aborts it, and with it anything written there: so the denial's record is
 * kept on the thread and appended, in a transaction of its own, by the first hook that runs
 * after the abort (the post-operation hook, or the result about to be sent). */
#include "rg389.h"

#include <string.h>

static const char *
dup(const char *s)
{
	return s != NULL ? slapi_ch_strdup(s) : NULL;
}

static void
drop(const char **s)
{
	slapi_ch_free_string((char **)s);
}

static void
free_record(struct rg389_thread *t)
{
	struct rg_log_record *d = &t->denial;

	drop(&d->target);
	drop(&d->requester);
	drop(&d->authenticated);
	drop(&d->approver);
	drop(&d->kind);
	drop(&d->decision);
	drop(&d->rule);
	drop(&d->rule_text);
	drop(&d->policy);
	drop(&d->operation);
	drop(&d->issuer);
	drop(&d->jti);
	drop(&d->reason);
	slapi_ch_array_free(t->denial_methods);
	t->denial_methods = NULL;
	d->methods = NULL;
	d->nmethods = 0;
}

/* The text stays until the result is sent: the Password Modify response needs it. */
void
rg389_denial_clear(void)
{
	struct rg389_thread *t = rg389_thread();

	free_record(t);
	slapi_ch_free_string(&t->denial_text);
	t->denied = 0;
	t->denial_code = 0;
}

void
rg389_denial_stash(const struct rg_log_record *r, int code, const char *text)
{
	struct rg389_thread *t = rg389_thread();
	struct rg_log_record *d = &t->denial;

	rg389_denial_clear();
	*d = *r;
	d->target = dup(r->target);
	d->requester = dup(r->requester);
	d->authenticated = dup(r->authenticated);
	d->approver = dup(r->approver);
	d->kind = dup(r->kind);
	d->decision = dup(r->decision);
	d->rule = dup(r->rule);
	d->rule_text = dup(r->rule_text);
	d->policy = dup(r->policy);
	d->operation = dup(r->operation);
	d->issuer = dup(r->issuer);
	d->jti = dup(r->jti);
	d->reason = dup(r->reason);
	t->denial_methods = (char **)slapi_ch_calloc(r->nmethods + 1, sizeof(char *));
	for (size_t i = 0; i < r->nmethods; i++)
		t->denial_methods[i] = slapi_ch_strdup(r->methods[i]);
	d->methods = (const char *const *)t->denial_methods;
	t->denial_code = code;
	t->denial_text = slapi_ch_strdup(text);
	t->denied = 1;
}

void
rg389_denial_record(void)
{
	struct rg389_thread *t = rg389_thread();
	char err[256], hash[RG_LOG_HASH_HEX];

	if (!t->denied || t->denial.target == NULL)
		return;
	rg389_log_lock();
	if (rg389_log_append(&t->denial, NULL, 0, hash, err, sizeof(err)) != 0)
		slapi_log_error(SLAPI_LOG_ERR, RG389_NAME, "cannot record the denial of a password "
			"change of \"%s\": %s\n", t->denial.target, err);
	rg389_log_unlock();
	free_record(t);
}

void
rg389_denial_text(int code, const char *text)
{
	struct rg389_thread *t = rg389_thread();

	rg389_denial_clear();
	t->denial_code = code;
	t->denial_text = slapi_ch_strdup(text);
	t->denied = 1;
}
