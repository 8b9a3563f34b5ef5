/* libFuzzer harness: the checkpoint file of `resetguard-audit verify --checkpoint`
 * (audit_cp_load and audit_cp_save, tools/audit/checkpoint.c).
 *
 * The file exists for the case where someone rewrote the log offline; such a person may
 * have written the checkpoint too, which is why it can be signed. Input byte 0 picks:
 *   0  the rest is the file, loaded with the key: it must never load, since no input can
 *      carry an HMAC under a key generated for this run;
 *   1  the rest is the file, loaded without a key: what loads must be well-formed (the
 *      base asked for, a 64-digit hash, a time) and save and load back unchanged;
 *   2  bytes 1..9 are a number and a tamper position, then a base and a time separated by
 *      0x1e: the checkpoint is saved signed, must load back as saved, and must no longer
 *      load once any one byte of the file is changed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "audit.h"
#include "fuzz.h"

static unsigned char key[32];
static char *path;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (RAND_bytes(key, sizeof(key)) != 1)
		fuzz_setup_fail("RAND_bytes failed");
	path = fuzz_write_file("checkpoint", "", 0, 0600);
	return 0;
}

static int
load(const char *base, int with_key, struct audit_checkpoint *cp)
{
	char err[512];
	int rc;

	memset(err, 0, sizeof(err));
	rc = audit_cp_load(path, base, with_key ? key : NULL, with_key ? sizeof(key) : 0, cp, err,
		sizeof(err));
	if (fuzz_verbose())
		fprintf(stderr, "audit_cp_load: %d %s\n", rc, err);
	FUZZ_CHECK(rc == AUDIT_OK || rc == AUDIT_BROKEN || rc == AUDIT_USAGE || rc == AUDIT_ERROR,
		"audit_cp_load returned %d", rc);
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL, "error text unterminated");
	if (rc != AUDIT_OK) {
		FUZZ_CHECK(err[0] != '\0', "audit_cp_load failed (%d) without saying why", rc);
		FUZZ_CHECK(cp->base == NULL && !cp->present, "a failed load left a checkpoint");
	}
	return rc;
}

static void
save(const struct audit_checkpoint *cp, int with_key)
{
	char err[512];

	if (audit_cp_save(path, cp, with_key ? key : NULL, with_key ? sizeof(key) : 0, err,
		    sizeof(err)) != AUDIT_OK)
		fuzz_fail("audit_cp_save of a loaded checkpoint failed: %s", err);
}

static void
check_same(const struct audit_checkpoint *a, const struct audit_checkpoint *b)
{
	FUZZ_CHECK(a->present && b->present && strcmp(a->base, b->base) == 0 &&
			a->number == b->number && strcmp(a->hash, b->hash) == 0 &&
			strcmp(a->time, b->time) == 0,
		"checkpoint changed through save and load: %llu %s %s / %llu %s %s", a->number,
		a->hash, a->time, b->number, b->hash, b->time);
}

static void
raw(const uint8_t *data, size_t size, int with_key)
{
	struct audit_checkpoint cp, again;
	int rc;

	fuzz_rewrite(path, data, size);
	rc = load("cn=resetlog", with_key, &cp);
	if (with_key) {
		FUZZ_CHECK(rc != AUDIT_OK || !cp.present,
			"a checkpoint loaded under a key made for this run");
		audit_cp_free(&cp);
		return;
	}
	if (rc != AUDIT_OK || !cp.present) {
		audit_cp_free(&cp);
		return;
	}
	FUZZ_CHECK(strcasecmp(cp.base, "cn=resetlog") == 0, "loaded for base \"%s\"", cp.base);
	FUZZ_CHECK(strlen(cp.hash) == 64 && strspn(cp.hash, "0123456789abcdef") == 64 &&
			strlen(cp.time) == AUDIT_CP_TIME_LEN - 1,
		"loaded hash \"%s\" time \"%s\"", cp.hash, cp.time);
	save(&cp, 0);
	FUZZ_CHECK(load("cn=resetlog", 0, &again) == AUDIT_OK, "a saved checkpoint does not load");
	check_same(&cp, &again);
	audit_cp_free(&cp);
	audit_cp_free(&again);
}

static void
signed_round_trip(struct fuzz_cursor *c)
{
	static const char hex[] = "0123456789abcdef";
	struct audit_checkpoint cp, got;
	uint64_t where;
	char *base, *time;
	FILE *f;
	char file[8192];
	size_t n;

	memset(&cp, 0, sizeof(cp));
	cp.number = fuzz_u64(c, 8);
	where = fuzz_byte(c);
	base = fuzz_field(c, 0x1e, NULL);
	time = fuzz_field(c, 0x1e, NULL);
	/* what verify hands to save: a normalized base, a hash, a time of the right shape */
	cp.base = audit_cp_base(base);
	for (int i = 0; i < 64; i++)
		cp.hash[i] = hex[(cp.number >> (i % 16 * 4) ^ (uint64_t)i) & 15];
	snprintf(cp.time, sizeof(cp.time), "%.4s-01-01T00:00:00Z", time);
	if (cp.base == NULL || strspn(cp.time, "0123456789") != 4 || strlen(cp.time) != 20)
		goto out;
	save(&cp, 1);
	cp.present = 1;
	FUZZ_CHECK(load(cp.base, 1, &got) == AUDIT_OK, "a signed checkpoint does not load");
	check_same(&cp, &got);
	audit_cp_free(&got);
	/* one byte changed anywhere in the file */
	f = fopen(path, "r");
	if (f == NULL)
		fuzz_setup_fail("cannot read %s back", path);
	n = fread(file, 1, sizeof(file), f);
	fclose(f);
	if (n == 0 || n == sizeof(file))
		goto out;
	where = where * n / 256;
	file[where] ^= (char)(1 + (unsigned char)time[0] % 255);
	fuzz_rewrite(path, file, n);
	FUZZ_CHECK(load(cp.base, 1, &got) != AUDIT_OK || !got.present,
		"a signed checkpoint changed at byte %llu still loads", (unsigned long long)where);
	audit_cp_free(&got);
out:
	free(cp.base);
	free(base);
	free(time);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cursor c = {data + 1, size ? size - 1 : 0};

	if (size < 1 || size > 8192)
		return -1;
	switch (data[0] % 3) {
	case 0:
		raw(data + 1, size - 1, 1);
		break;
	case 1:
		raw(data + 1, size - 1, 0);
		break;
	default:
		signed_round_trip(&c);
		break;
	}
	return 0;
}
