/* The kinds of targets and hooks the daemon knows, by the name used after `type`. Adding
 * a kind means adding its ops here and its file to Makefile.am; nothing else changes. */
#include <stdio.h>
#include <string.h>

#include "registry.h"

static const struct target_ops *const target_kinds[] = {
	&target_ldap_ops,
	&target_ad_ops,
	&target_exec_ops,
};

static const struct hook_ops *const hook_kinds[] = {
	&hook_caep_ops,
	&hook_webhook_ops,
	&hook_exec_ops,
	&hook_notify_ops,
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const struct target_ops *
registry_target_ops(const char *kind)
{
	for (size_t i = 0; kind != NULL && i < COUNT(target_kinds); i++)
		if (strcmp(target_kinds[i]->kind, kind) == 0)
			return target_kinds[i];
	return NULL;
}

const struct hook_ops *
registry_hook_ops(const char *kind)
{
	for (size_t i = 0; kind != NULL && i < COUNT(hook_kinds); i++)
		if (strcmp(hook_kinds[i]->kind, kind) == 0)
			return hook_kinds[i];
	return NULL;
}

/* "ldap, ad, exec": for error messages that tell the operator what would be accepted. */
static void
join(char *buf, size_t len, const char *const *names, size_t n)
{
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

void
registry_target_kinds(char *buf, size_t len)
{
	const char *names[COUNT(target_kinds)];

	for (size_t i = 0; i < COUNT(target_kinds); i++)
		names[i] = target_kinds[i]->kind;
	join(buf, len, names, COUNT(names));
}

void
registry_hook_kinds(char *buf, size_t len)
{
	const char *names[COUNT(hook_kinds)];

	for (size_t i = 0; i < COUNT(hook_kinds); i++)
		names[i] = hook_kinds[i]->kind;
	join(buf, len, names, COUNT(names));
}
