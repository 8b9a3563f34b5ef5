/* resetguard-syncd: the daemon's life cycle. Secrets are read first (as root if started so),
 * privileges dropped, core dumps forbidden, then the event loop runs the follower, the
 * delivery engine and the metrics endpoint until SIGTERM drains it. SIGHUP reloads. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/x509.h>

#include "alerts.h"
#include "engine.h"
#include "errbuf.h"
#include "securefile.h"

struct daemon {
	const char *config_file;
	struct event_base *base;
	struct syncd_config cfg;
	EVP_PKEY *key;
	X509 *cert;
	char *password;
	struct engine *engine;
	struct follower *follower;
	struct metrics *metrics;
	struct alerts *alerts;             /* NULL without alert-hooks */
	struct syncd_config next;          /* a reloaded config, waiting for the drain */
	int reloading;
	int failed;
};

static void
usage(void)
{
	fprintf(stderr, "usage: resetguard-syncd [-f FILE] [-t] [-d]\n"
		"  -f FILE  configuration (default /etc/resetguard/syncd.conf)\n"
		"  -t       check the configuration and exit\n"
		"  -d       log debug messages too (with log syslog, also on stderr)\n"
		"The daemon always runs in the foreground and writes no pid file.\n");
}

/* The certificate the overlay seals to: CMS needs an EC or an RSA key in it. */
static X509 *
load_cert(const char *path, char *err, size_t errlen)
{
	X509 *cert = securefile_load_cert("cert-file", path, err, errlen);
	EVP_PKEY *key = cert != NULL ? X509_get0_pubkey(cert) : NULL;

	if (cert != NULL && (key == NULL || !(EVP_PKEY_is_a(key, "EC") ||
						     EVP_PKEY_is_a(key, "RSA")))) {
		rg_seterr(err, errlen, "cert-file %s has neither an EC nor an RSA key: a CMS "
			"recipient needs one", path);
		X509_free(cert);
		return NULL;
	}
	return cert;
}

static int
load_secrets(struct daemon *d, struct syncd_config *cfg, char *err, size_t errlen)
{
	/* the private key unseals every password */
	if ((d->key = securefile_load_key("key-file", cfg->key_file, err, errlen)) == NULL)
		return -1;
	if ((d->cert = load_cert(cfg->cert_file, err, errlen)) == NULL)
		return -1;
	if (X509_check_private_key(d->cert, d->key) != 1) {
		rg_seterr(err, errlen, "key-file %s does not belong to cert-file %s", cfg->key_file,
			cfg->cert_file);
		return -1;
	}
	/* libldap opens the CA file itself, by path: check it with the others first. */
	if (cfg->tls_ca_file != NULL &&
	    securefile_check_ca("tls-ca-file", cfg->tls_ca_file, err, errlen) != 0)
		return -1;
	if (!cfg->sasl_external &&
	    securefile_read_secret("bind-password-file", cfg->bind_password_file, &d->password,
	    err, errlen) != 0)
		return -1;
	return 0;
}

static void
drop_secrets(struct daemon *d)
{
	EVP_PKEY_free(d->key);
	X509_free(d->cert);
	securefile_free_secret(d->password);
	d->key = NULL;
	d->cert = NULL;
	d->password = NULL;
}

static int
drop_privileges(const char *user, char *err, size_t errlen)
{
	struct passwd *pw;

	if (user == NULL || geteuid() != 0)
		return 0;
	if ((pw = getpwnam(user)) == NULL) {
		rg_seterr(err, errlen, "user %s does not exist", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		rg_seterr(err, errlen, "cannot become %s: %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		rg_seterr(err, errlen, "privileges could not be dropped for good");
		return -1;
	}
	return 0;
}

static int
start(struct daemon *d, char *err, size_t errlen)
{
	if ((d->engine = engine_new(d->base, &d->cfg, d->key, d->cert, d->password, err,
	    errlen)) == NULL)
		return -1;
	if (d->cfg.metrics_listen != NULL &&
	    (d->metrics = metrics_start(d->base, d->cfg.metrics_listen, d->engine, err,
	    errlen)) == NULL)
		return -1;
	if (d->cfg.nalert_hooks > 0 &&
	    (d->alerts = alerts_start(&d->cfg, engine_directory(d->engine), err, errlen)) == NULL)
		return -1;
	metrics_set_alerts(d->metrics, d->alerts);
	if ((d->follower = follow_start(d->base, &d->cfg, d->engine, err, errlen)) == NULL)
		return -1;
	return 0;
}

static void
stop(struct daemon *d)
{
	follow_stop(d->follower);
	metrics_stop(d->metrics);
	alerts_stop(d->alerts);
	engine_free(d->engine);
	d->follower = NULL;
	d->metrics = NULL;
	d->alerts = NULL;
	d->engine = NULL;
}

static void
drained_for_exit(void *arg)
{
	struct daemon *d = arg;

	log_msg(LOG_INFO, "stop", "in-flight deliveries finished; exiting");
	event_base_loopexit(d->base, NULL);
}

static void
drained_for_reload(void *arg)
{
	struct daemon *d = arg;
	char err[SYNCD_ERR];

	stop(d);
	drop_secrets(d);
	config_free(&d->cfg);
	d->cfg = d->next;
	memset(&d->next, 0, sizeof(d->next));
	d->reloading = 0;
	if (load_secrets(d, &d->cfg, err, sizeof(err)) != 0 || start(d, err, sizeof(err)) != 0) {
		log_msg(LOG_ERR, "reload", "cannot run the reloaded configuration: %s; exiting",
			err);
		d->failed = 1;
		event_base_loopexit(d->base, NULL);
		return;
	}
	log_msg(LOG_INFO, "reload", "configuration %s reloaded", d->config_file);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	char err[SYNCD_ERR];

	(void)what;
	if (sig == SIGHUP) {
		if (d->reloading)
			return;
		/* A bad new configuration changes nothing: the running one stays. */
		if (config_load(d->config_file, &d->next, err, sizeof(err)) != 0) {
			log_msg(LOG_ERR, "reload", "%s; keeping the running configuration", err);
			return;
		}
		d->reloading = 1;
		engine_drain(d->engine, drained_for_reload, d);
		return;
	}
	log_msg(LOG_INFO, "stop", "signal %d: draining", (int)sig);
	follow_stop(d->follower);
	d->follower = NULL;
	engine_drain(d->engine, drained_for_exit, d);
}

int
main(int argc, char *argv[])
{
	struct daemon d;
	struct event *sigs[3] = { NULL };
	const int signums[3] = { SIGHUP, SIGTERM, SIGINT };
	struct rlimit nocore = { 0, 0 };
	char err[SYNCD_ERR];
	int opt, check_only = 0, debug = 0, rc = 1;

	memset(&d, 0, sizeof(d));
	d.config_file = "/etc/resetguard/syncd.conf";
	while ((opt = getopt(argc, argv, "f:tdh")) != -1) {
		switch (opt) {
		case 'f':
			d.config_file = optarg;
			break;
		case 't':
			check_only = 1;
			break;
		case 'd':
			debug = 1;
			break;
		default:
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}
	if (config_load(d.config_file, &d.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "resetguard-syncd: %s\n", err);
		return 1;
	}
	if (check_only) {
		printf("%s: configuration OK\n", d.config_file);
		config_free(&d.cfg);
		return 0;
	}
	/* A core dump would hold unsealed passwords and the private key. */
	setrlimit(RLIMIT_CORE, &nocore);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	log_init(d.cfg.log_mode, debug);

	if (load_secrets(&d, &d.cfg, err, sizeof(err)) != 0 ||
	    drop_privileges(d.cfg.user, err, sizeof(err)) != 0) {
		fprintf(stderr, "resetguard-syncd: %s\n", err);
		log_msg(LOG_ERR, "start", "%s", err);
		goto out;
	}
	if (evthread_use_pthreads() != 0 || (d.base = event_base_new()) == NULL) {
		log_msg(LOG_ERR, "start", "cannot set up the event loop");
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d);
		if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0)
			goto out;
	}
	if (start(&d, err, sizeof(err)) != 0) {
		fprintf(stderr, "resetguard-syncd: %s\n", err);
		log_msg(LOG_ERR, "start", "%s", err);
		goto out;
	}
	log_msg(LOG_INFO, "start", "resetguard-syncd started with %zu target(s) and %zu hook(s)",
		d.cfg.ntargets, d.cfg.nhooks);
	if (d.cfg.state_file != NULL)
		log_msg(LOG_WARNING, "config", "%s: state-file is obsolete and unused (the pending "
			"records are read in full on every connection): remove it", d.config_file);
	event_base_dispatch(d.base);
	rc = d.failed;
out:
	stop(&d);
	for (int i = 0; i < 3; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	if (d.base != NULL)
		event_base_free(d.base);
	drop_secrets(&d);
	config_free(&d.cfg);
	config_free(&d.next);
	return rc;
}
