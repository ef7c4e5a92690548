/*
 * main.c - importgate's entry point: command line, config, TLS contexts, the worker
 * threads, and the main thread's signal loop (SIGTERM/SIGINT: graceful shutdown).
 */
#include <getopt.h>
#include <pthread.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <uv.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#else
/* Without libsystemd the notifications are no-ops (Type=simple then). */
static int sd_notify(int unset, const char *state) { (void)unset; (void)state; return 0; }
#endif

#include "policy/config.h"
#include "pd/statecache.h"
#include "proxy/admin.h"
#include "proxy/audit.h"
#include "proxy/auditev.h"
#include "proxy/auth.h"
#include "proxy/brmon.h"
#include "proxy/health.h"
#include "proxy/obligations.h"
#include "proxy/inspect.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/runtime.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: importgate -c FILE [--check-config]\n"
	        "       importgate --version\n"
	        "  -c, --config FILE   YAML configuration (see conf/importgate.yaml)\n"
	        "      --check-config  load and validate the configuration, then exit\n"
	        "  -h, --help          this text\n");
}

/* The backends, resolved, and their backend_up series. */
static int setup_backends(const ig_config *cfg, char *err, size_t errlen)
{
	ig_backend_set *set;
	if (ig_backends_build(cfg, &set, err, errlen) < 0)
		return -1;
	const char **addrs = calloc(set->n ? set->n : 1, sizeof(char *));
	if (!addrs) {
		ig_backends_release(set);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < set->n; i++)
		addrs[i] = set->v[i]->addr;
	int rc = ig_metrics_backends_init(addrs, set->n, err, errlen);
	free(addrs);
	if (rc < 0) {
		ig_backends_release(set);
		return -1;
	}
	for (size_t i = 0; i < set->n; i++)
		ig_metric_backend_up_addr(set->v[i]->addr, atomic_load(&set->v[i]->healthy));
	ig_backends_install(set);
	return 0;
}

static int setup_tls(const ig_config *cfg, char *err, size_t errlen)
{
	SSL_CTX *client, *backend;
	if (ig_tls_contexts_build(cfg, &client, &backend, err, errlen) < 0)
		return -1;
	ig_tls_contexts_install(client, backend);
	/* Plain-text clients of a TLS backend may need the gateway's RSA key (caching_sha2);
	 * made at start, since backend TLS can be turned on by a reload. */
	ig_rt.rsa = ig_auth_keygen(err, errlen);
	if (!ig_rt.rsa || !(ig_rt.rsa_pem = ig_auth_pubkey_pem(ig_rt.rsa, &ig_rt.rsa_pem_len)))
		return -1;
	return 0;
}

static ig_worker *workers;
static int nworkers;

/* SIGHUP (main thread) and POST /api/v1/reload (admin thread pool) reload one at a time. */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

/* Reload: the config (kept when the new one is bad), then the audit log reopened (rotation). */
static int reload_config(char *err, size_t errlen)
{
	char aerr[512];
	pthread_mutex_lock(&reload_lock);
	int rc = ig_cfg_reload(err, errlen);
	pthread_mutex_unlock(&reload_lock);
	ig_metric_inc(rc < 0 ? IG_M_CONFIG_RELOADS_ERROR : IG_M_CONFIG_RELOADS_OK);
	if (rc < 0)
		LOG_ERROR(0, "reload refused, configuration unchanged: %s", err);
	else
		LOG_INFO(0, "configuration reloaded");
	ig_config *now = ig_cfg_acquire();
	ig_audit_set_limits(now->audit.max_statement_bytes, now->audit.max_file_bytes, now->audit.keep_files);
	int arc = ig_audit_reopen_at(now->audit.path, aerr, sizeof(aerr));
	ig_cfg_release(now);
	if (arc < 0)
		LOG_ERROR(0, "audit log not reopened, still writing the old file: %s", aerr);
	if (rc < 0)
		ig_auditev_admin_reload_refused(err);
	else
		ig_auditev_admin_reload();
	return rc;
}

static int admin_healthy(void) { return !atomic_load(&ig_rt.stopping); }

static char *admin_status(void)
{
	json_t *doc = json_object(), *bs = json_array();
	if (!doc || !bs) {
		json_decref(doc);
		json_decref(bs);
		return NULL;
	}
	ig_backend_set *set = ig_backends_acquire();
	for (size_t i = 0; set && i < set->n; i++) {
		ig_backend *b = set->v[i];
		json_array_append_new(bs, json_pack("{s:s, s:b, s:i}", "addr", b->addr, "healthy",
		                                    (int)atomic_load(&b->healthy), "connections",
		                                    atomic_load(&b->conns)));
	}
	ig_backends_release(set);
	json_object_set_new(doc, "backends", bs);
	/* what the decisions and /api/v1/explain take the backend's version from ("" until a
	 * greeting or a health check has been read) */
	char version[128];
	ig_backend_last_version(version, sizeof(version));
	json_object_set_new(doc, "server_version", json_string(version));
	json_object_set_new(doc, "connections", json_integer(atomic_load(&ig_rt.conns)));
	char *obl = ig_obl_status_json();
	json_t *oj = obl ? json_loads(obl, 0, NULL) : NULL;
	free(obl);
	json_object_set_new(doc, "obligations", oj ? oj : json_null());
	json_t *ri = ig_brmon_status();
	json_object_set_new(doc, "running_imports", ri ? ri : json_null());
	char *s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

static char *admin_reload(int *http_status)
{
	char err[1024];
	int rc = reload_config(err, sizeof(err));
	json_t *doc = rc < 0 ? json_pack("{s:b, s:s}", "ok", 0, "error", err) : json_pack("{s:b}", "ok", 1);
	if (rc < 0)
		*http_status = 400;
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return s;
}

/* An operator gives up on a failed obligation; the audit log records it. */
static char *admin_dismiss(const char *body, size_t len, int *http_status)
{
	char err[512];
	json_t *req = json_loadb(body, len, 0, NULL), *doc;
	const char *id = req ? json_string_value(json_object_get(req, "id")) : NULL;
	if (!id) {
		*http_status = 400;
		doc = json_pack("{s:b, s:s}", "ok", 0, "error", "body must be JSON {\"id\": \"<obligation id>\"}");
	} else if (ig_obl_dismiss(id, err, sizeof(err)) < 0) {
		*http_status = 409;
		doc = json_pack("{s:b, s:s}", "ok", 0, "error", err);
	} else {
		doc = json_pack("{s:b}", "ok", 1);
	}
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	json_decref(req);
	return s;
}

static void on_signal(uv_signal_t *h, int signum)
{
	char err[1024];
	if (signum == SIGHUP) {
		sd_notify(0, "RELOADING=1");
		reload_config(err, sizeof(err));
		sd_notify(0, "READY=1");
		return;
	}
	int bound = ig_rt.cfg->timeouts.shutdown_ms;
	LOG_INFO(0, "signal %d: graceful shutdown (bound %d ms)", signum, bound);
	sd_notify(0, "STOPPING=1");
	ig_health_stop();
	atomic_store(&ig_rt.stopping, true);
	for (int i = 0; i < nworkers; i++)
		ig_worker_stop(&workers[i], bound);
	uv_stop(h->loop);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'C'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	bool check_only = false;
	int c;
	char err[1024];

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'C': check_only = true; break;
		case 'V': printf("importgate %s\n", IMPORTGATE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}
	ig_config *cfg;
	if (ig_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate: %s\n", err);
		return 1;
	}
	if (check_only) {
		printf("%s: configuration OK\n", path);
		ig_config_free(cfg);
		return 0;
	}
	ig_cfg_install(cfg);
	atomic_store_explicit(&ig_log_threshold, cfg->log.level, memory_order_relaxed);
	atomic_store(&ig_rt.next_conn_id, 1);
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit must fail the write (EFBIG: the import is refused), not kill us. */
	signal(SIGXFSZ, SIG_IGN);

	/* Handlers before the listeners: a SIGHUP (a reload) or SIGTERM that comes as soon as
	 * the port accepts must be handled, not kill the process with the default action. The
	 * signals are queued and handled once the main loop runs. */
	uv_loop_t *loop = uv_default_loop();
	uv_signal_t sigs[3];
	int signums[3] = {SIGTERM, SIGINT, SIGHUP};
	for (int i = 0; i < 3; i++) {
		uv_signal_init(loop, &sigs[i]);
		uv_signal_start(&sigs[i], on_signal, signums[i]);
	}

	ig_audit_set_limits(cfg->audit.max_statement_bytes, cfg->audit.max_file_bytes, cfg->audit.keep_files);
	if (setup_backends(cfg, err, sizeof(err)) < 0 || setup_tls(cfg, err, sizeof(err)) < 0 ||
	    ig_audit_open(cfg->audit.path, cfg->audit.fsync, err, sizeof(err)) < 0 ||
	    ig_obl_start(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate: %s\n", err);
		return 1;
	}
	nworkers = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (nworkers < 1)
		nworkers = 1;
	workers = calloc((size_t)nworkers, sizeof(*workers));
	if (!workers) {
		fprintf(stderr, "importgate: out of memory\n");
		return 1;
	}
	for (int i = 0; i < nworkers; i++) {
		if (ig_worker_start(&workers[i], i, err, sizeof(err)) < 0) {
			fprintf(stderr, "importgate: %s\n", err);
			return 1;
		}
	}
	LOG_INFO(0, "importgate %s listening on %s:%d, %d workers, %zu backends, client TLS %s, backend TLS %s",
	         IMPORTGATE_VERSION, cfg->listen.host, cfg->listen.port, nworkers, cfg->backends.nservers,
	         ig_rt.client_ctx ? (cfg->client_tls.require ? "required" : "offered") : "off",
	         ig_rt.backend_ctx ? "on" : "off");

	ig_admin_hooks hooks = {.healthy = admin_healthy, .status_json = admin_status,
	                        .explain_json = ig_inspect_explain, .reload = admin_reload,
	                        .dismiss_json = admin_dismiss};
	if (ig_admin_start(&cfg->admin.listen, cfg->admin.token_file, &hooks, err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate: %s\n", err);
		return 1;
	}
	if (ig_brmon_start(err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate: %s\n", err);
		return 1;
	}
	sd_notify(0, "READY=1");
	ig_health_start(loop, cfg->backends.health_interval_ms, cfg->backends.health_timeout_ms);
	uv_run(loop, UV_RUN_DEFAULT);
	for (int i = 0; i < nworkers; i++)
		ig_worker_join(&workers[i]);
	for (int i = 0; i < 3; i++)
		uv_close((uv_handle_t *)&sigs[i], NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	ig_admin_stop();
	ig_metrics_backends_free();
	ig_obl_stop();
	ig_brmon_stop(); /* before the state cache and the audit log it uses */
	ig_state_cache_shutdown(); /* after the last decision: stops the etcd watcher */
	ig_audit_close();
	LOG_INFO(0, "stopped");

	free(workers);
	ig_backends_free_all();
	ig_tls_contexts_install(NULL, NULL);
	EVP_PKEY_free(ig_rt.rsa);
	free(ig_rt.rsa_pem);
	ig_cfg_release(ig_rt.cfg);
	return 0;
}
