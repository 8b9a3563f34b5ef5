/* libFuzzer harness: resetguard-syncd.conf, config_load in syncd/config.c, with every
 * target and hook kind's configure() behind it (account mappings, URIs, URLs, secret and
 * key files, commands).
 *
 * Input: the file's text. "@D@" stands for a fixture directory made at start-up, so the
 * seeds can name files that pass the checks: @D@/secret (mode 600), @D@/secret-open
 * (mode 644), @D@/empty (600, empty), @D@/ca.pem (a CA certificate), @D@/p256.pem and
 * @D@/ed25519.pem (private keys, 600), @D@/cmd (an executable that is never run) and
 * @D@/cmd-open (group-writable). The text is written to @D@/syncd.conf and loaded.
 *
 * Invariants: config_load answers 0 or -1; on -1 it says why and leaves the config empty;
 * on 0 the required keys and defaults are there, numbers are in range, names are unique;
 * config_free releases everything (LeakSanitizer checks that).
 *
 * syncd/ is being restructured: the interface used here is named in this block only. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "fuzz.h"

/* ---- syncd interface used here ---- */
#include "hook.h"
#include "syncd.h"
#include "target.h"
#define SYNCD_CONFIG_T struct syncd_config
#define SYNCD_CONFIG_LOAD config_load
#define SYNCD_CONFIG_FREE config_free
/* ---- */

static char *conf_path;

static void
write_ca(void)
{
	EVP_PKEY *k = fuzz_keygen("EC");
	X509 *x = X509_new();
	X509_NAME *n;
	char *path;
	FILE *f;

	if (x == NULL || X509_set_version(x, 2) != 1 ||
		ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
		X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
		X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
		X509_set_pubkey(x, k) != 1 || (n = X509_get_subject_name(x)) == NULL ||
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz CA",
			-1, -1, 0) != 1 ||
		X509_set_issuer_name(x, n) != 1 || X509_sign(x, k, EVP_sha256()) == 0)
		fuzz_setup_fail("cannot make a CA certificate");
	if (asprintf(&path, "%s/ca.pem", fuzz_tmpdir()) < 0)
		fuzz_setup_fail("out of memory");
	f = fopen(path, "w");
	if (f == NULL || PEM_write_X509(f, x) != 1 || fclose(f) != 0)
		fuzz_setup_fail("cannot write %s", path);
	free(path);
	X509_free(x);
	EVP_PKEY_free(k);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char cmd[] = "#!/bin/sh\nexit 0\n";
	EVP_PKEY *p256 = fuzz_keygen("EC"), *ed = fuzz_keygen("ED25519");

	free(fuzz_write_file("secret", "s3cret-for-fuzzing\n", 19, 0600));
	free(fuzz_write_file("secret-open", "s3cret\n", 7, 0644));
	free(fuzz_write_file("empty", "", 0, 0600));
	free(fuzz_write_file("cmd", cmd, sizeof(cmd) - 1, 0755));
	free(fuzz_write_file("cmd-open", cmd, sizeof(cmd) - 1, 0775));
	free(fuzz_write_key("p256.pem", p256, 1));
	free(fuzz_write_key("ed25519.pem", ed, 1));
	write_ca();
	EVP_PKEY_free(p256);
	EVP_PKEY_free(ed);
	conf_path = fuzz_write_file("syncd.conf", "", 0, 0644);
	return 0;
}

/* The input with every "@D@" replaced by the fixture directory. */
static char *
expand(const uint8_t *data, size_t size, size_t *outlen)
{
	const char *dir = fuzz_tmpdir();
	size_t dlen = strlen(dir), n = 0, cap = size + 1;
	char *out;

	for (size_t i = 0; i + 3 <= size; i++)
		if (memcmp(data + i, "@D@", 3) == 0)
			cap += dlen;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	for (size_t i = 0; i < size;) {
		if (i + 3 <= size && memcmp(data + i, "@D@", 3) == 0) {
			memcpy(out + n, dir, dlen);
			n += dlen;
			i += 3;
		} else {
			out[n++] = (char)data[i++];
		}
	}
	*outlen = n;
	return out;
}

static void
check_loaded(const SYNCD_CONFIG_T *cfg)
{
	/* state-file is optional: without it, syncd reads every pending record at start */
	FUZZ_CHECK(cfg->log_uri && cfg->key_file && cfg->cert_file,
		"loaded without a required key");
	FUZZ_CHECK(cfg->log_base != NULL && cfg->log_mode != NULL, "defaults missing");
	FUZZ_CHECK(cfg->sasl_external ? cfg->bind_dn == NULL && cfg->bind_password_file == NULL
				      : cfg->bind_dn != NULL && cfg->bind_password_file != NULL,
		"loaded with an incomplete identity");
	FUZZ_CHECK(cfg->max_attempts >= 1 && cfg->max_attempts <= 1000 && cfg->retry_base >= 1 &&
			cfg->retry_base <= 3600 && cfg->retry_max >= cfg->retry_base &&
			cfg->retry_max <= 86400 && cfg->op_timeout >= 1 && cfg->op_timeout <= 300,
		"a number out of range");
	FUZZ_CHECK(cfg->key_file[0] == '/' && cfg->cert_file[0] == '/' &&
			(cfg->state_file == NULL || cfg->state_file[0] == '/'),
		"a relative path was taken");
	for (size_t i = 0; i < cfg->ntargets; i++) {
		FUZZ_CHECK(cfg->targets[i]->name && cfg->targets[i]->ops, "target %zu unnamed", i);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(cfg->targets[i]->name, cfg->targets[j]->name) != 0,
				"two targets named %s", cfg->targets[i]->name);
	}
	for (size_t i = 0; i < cfg->nhooks; i++) {
		FUZZ_CHECK(cfg->hooks[i]->name && cfg->hooks[i]->ops, "hook %zu unnamed", i);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(cfg->hooks[i]->name, cfg->hooks[j]->name) != 0,
				"two hooks named %s", cfg->hooks[i]->name);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	SYNCD_CONFIG_T cfg, zero;
	char err[SYNCD_ERR], *text;
	size_t len;
	int rc;

	if (size > 64 * 1024)
		return -1;
	if ((text = expand(data, size, &len)) == NULL)
		return 0;
	fuzz_rewrite(conf_path, text, len);
	free(text);
	memset(err, 'x', sizeof(err));
	memset(&zero, 0, sizeof(zero));
	rc = SYNCD_CONFIG_LOAD(conf_path, &cfg, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1, "config_load returned %d", rc);
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL, "error text is not terminated");
	if (fuzz_verbose())
		fprintf(stderr, "config_load: %d %s\n", rc, rc ? err : "");
	if (rc != 0) {
		FUZZ_CHECK(err[0] != '\0', "config_load failed without saying why");
		FUZZ_CHECK(memcmp(&cfg, &zero, sizeof(cfg)) == 0, "a failed load left a config");
		return 0;
	}
	check_loaded(&cfg);
	SYNCD_CONFIG_FREE(&cfg);
	FUZZ_CHECK(memcmp(&cfg, &zero, sizeof(cfg)) == 0, "config_free left fields set");
	return 0;
}
