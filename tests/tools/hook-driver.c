/* hook-driver: configures one hook block from the command line and fires it once with a
 * sample event, for the integration tests.
 *
 * usage: hook-driver [-n NUMBER] [-k KIND] [-a ACCOUNT] [-u UID] TYPE KEY=VALUE...
 *
 * Prints "DONE", "RETRY: why", "FAIL: why" or "CONFIG: why"; exits 0, 75, 1 or 2. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hook.h"

static const struct hook_ops *const kinds[] = {
	&hook_caep_ops,
	&hook_webhook_ops,
	&hook_exec_ops,
};

int
main(int argc, char **argv)
{
	struct hook_event ev = {
		.number = 42,
		.account = "uid=alice,ou=people,dc=example,dc=org",
		.rdn_value = "alice",
		.kind = "delegated",
		.requester = "uid=helpdesk,ou=people,dc=example,dc=org",
		.time = "20240102030405.000000Z",
		.epoch = 1704164645,
	};
	struct hook h = {.name = "driver", .file = "command line", .line = 0};
	struct conf_kv *kv = NULL;
	char err[SYNCD_ERR] = "";
	enum hook_result res;
	size_t i, n = 0;
	int opt, rc = 2;

	/* As resetguard-syncd does: a peer closing early must be an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt(argc, argv, "n:k:a:u:")) != -1) {
		switch (opt) {
		case 'n':
			ev.number = strtoull(optarg, NULL, 10);
			break;
		case 'k':
			ev.kind = optarg;
			break;
		case 'a':
			ev.account = optarg;
			break;
		case 'u':
			ev.rdn_value = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind >= argc)
		goto usage;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i]->kind, argv[optind]) == 0)
			h.ops = kinds[i];
	if (h.ops == NULL)
		goto usage;
	kv = calloc((size_t)argc, sizeof(*kv));
	if (kv == NULL)
		goto out;
	for (opt = optind + 1; opt < argc; opt++) {
		char *eq = strchr(argv[opt], '=');

		if (eq == NULL)
			goto usage;
		*eq = '\0';
		kv[n] = (struct conf_kv){argv[opt], eq + 1, "command line", opt};
		n++;
	}
	if (h.ops->configure(&h, kv, n, err, sizeof(err)) != 0) {
		printf("CONFIG: %s\n", err);
		goto out;
	}
	res = h.ops->fire(&h, &ev, err, sizeof(err));
	switch (res) {
	case HOOK_DONE:
		printf("DONE\n");
		rc = 0;
		break;
	case HOOK_RETRY:
		printf("RETRY: %s\n", err);
		rc = 75;
		break;
	default:
		printf("FAIL: %s\n", err);
		rc = 1;
		break;
	}
	goto out;
usage:
	fprintf(stderr,
		"usage: hook-driver [-n NUMBER] [-k KIND] [-a ACCOUNT] [-u UID] "
		"caep|webhook|exec KEY=VALUE...\n");
out:
	if (h.ops != NULL && h.ops->free != NULL)
		h.ops->free(&h);
	free(kv);
	return rc;
}
