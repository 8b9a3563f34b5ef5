/* The kinds of targets and hooks the daemon knows, by the name used after `type`. */
#ifndef RG_REGISTRY_H
#define RG_REGISTRY_H

#include <stddef.h>

#include "hook.h"
#include "target.h"

const struct target_ops *registry_target_ops(const char *kind);
const struct hook_ops *registry_hook_ops(const char *kind);
/* "ldap, ad, exec": for error messages that tell the operator what would be accepted. */
void registry_target_kinds(char *buf, size_t len);
void registry_hook_kinds(char *buf, size_t len);

#endif
