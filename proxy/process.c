/*
 * process.c - the runtime of one gateway process (see process.h): the table of long-lived
 * modules, each with its start and stop, started in the table's order and stopped in the
 * reverse one; the reload (SIGHUP, POST /api/v1/reload); the main thread's signal loop.
 *
 * Why this order (each module may use those above it, never those below):
 *   config      - everything reads the configuration in force (proxy/runtime.c).
 *   logging     - its level comes from the config.
 *   backends    - resolved backends, their backend_up series, the TLS contexts and the RSA
 *                 key: the workers, health checks and /metrics use them.
 *   signals     - the main loop: before anything listens (a SIGHUP or SIGTERM that comes as
 *                 soon as a port accepts must be handled, not kill the process with the
 *                 default action; they are queued and handled once the loop runs); its stop
 *                 runs the loop until the health probes still in flight have ended, which
 *                 write to their backend records: so before the backends are freed.
 *   audit       - the audit writer: the monitor, the obligations and every decision write
 *                 to it, so it is closed last of those.
 *   pd state    - the cluster-state cache (pd/statecache.c); its watch starts with the first
 *                 decision and is stopped after the last decision, the monitor's last round
 *                 and the obligations.
 *   brmon       - the running-import monitor (reads the state cache, audits).
 *   obligations - started before the workers (a session's import creates a record) and
 *                 stopped after them (an answer on its way is delivered).
 *   admin       - its status reads the monitor and the obligations; it outlives the workers'
 *                 drain, so /healthz answers "stopping" until the last session has ended.
 *   workers     - the SQL listeners and sessions.
 *   health      - probes on the main loop, stopped first (at the drain's start).
 */
#include "proxy/process.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/ssl.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#else
/* Without libsystemd the notifications are no-ops (Type=simple then). */
static int sd_notify(int unset, const char *state) { (void)unset; (void)state; return 0; }
#endif

#include "pd/statecache.h"
#include "proxy/audit.h"
#include "proxy/auditev.h"
#include "proxy/auditfield.h"
#include "proxy/coverage.h"
#include "proxy/credentials.h"
#include "proxy/inspect.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/runtime.h"

static const int signums[3] = {SIGTERM, SIGINT, SIGHUP};

/* ---- config and logging ---- */

static int config_start(ig_process *p, char *err, size_t errlen)
{
	ig_config *cfg;

	if (ig_config_load(p->config_path, &cfg, err, errlen) < 0)
		return -1;
	/* Every secret file readable before any port opens (a unit whose token the service user
	 * cannot read failed only after the MySQL port was open). */
	if (ig_secrets_check(cfg, err, errlen) < 0) {
		ig_config_free(cfg);
		return -1;
	}
	ig_cfg_install(cfg);
	atomic_store(&ig_rt.next_conn_id, 1);
	return 0;
}

static void config_stop(ig_process *p)
{
	(void)p;
	ig_cfg_release(ig_rt.cfg); /* the "current" reference */
}

/* A reload sets the level again (ig_cfg_reload). */
static int logging_start(ig_process *p, char *err, size_t errlen)
{
	(void)p;
	(void)err;
	(void)errlen;
	atomic_store_explicit(&ig_log_threshold, ig_rt.cfg->log.level, memory_order_relaxed);
	return 0;
}

/* ---- signals (handled on the main loop: on_signal) ---- */

static void on_signal(uv_signal_t *h, int signum);

static int signals_start(ig_process *p, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit must fail the write (EFBIG: the import is refused), not kill us. */
	signal(SIGXFSZ, SIG_IGN);
	p->loop = uv_default_loop();
	for (int i = 0; i < 3; i++) {
		uv_signal_init(p->loop, &p->sigs[i]);
		p->sigs[i].data = p;
		uv_signal_start(&p->sigs[i], on_signal, signums[i]);
	}
	return 0;
}

/* Last of the main loop's users: whatever is still closing on it (the health timer) ends. */
static void signals_stop(ig_process *p)
{
	for (int i = 0; i < 3; i++)
		uv_close((uv_handle_t *)&p->sigs[i], NULL);
	uv_run(p->loop, UV_RUN_DEFAULT);
	uv_loop_close(p->loop);
}

/* ---- backends and TLS ---- */

/* Before each /metrics render (admin thread): importgate_backend_connections from the
 * backends' own counts, which sessions keep (runtime.h), so the gauge cannot drift. */
static void publish_backend_connections(void)
{
	ig_backend_set *set = ig_backends_acquire();
	for (size_t i = 0; set && i < set->n; i++)
		ig_metric_backend_connections_addr(set->v[i]->addr, atomic_load(&set->v[i]->conns));
	ig_backends_release(set);
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
	ig_metrics_on_render(publish_backend_connections);
	return 0;
}

static int setup_tls(const ig_config *cfg, char *err, size_t errlen)
{
	SSL_CTX *client, *backend;
	/* Plain-text clients of a TLS backend may need the gateway's RSA key (caching_sha2). */
	if (ig_rsa_key_ensure(cfg, err, errlen) < 0 || ig_tls_contexts_build(cfg, &client, &backend, err, errlen) < 0)
		return -1;
	ig_tls_contexts_install(client, backend);
	return 0;
}

static void backends_stop(ig_process *p)
{
	(void)p;
	ig_metrics_on_render(NULL);
	ig_metrics_backends_free();
	ig_backends_free_all();
	ig_tls_contexts_install(NULL, NULL);
	ig_rsa_key_free();
}

static int backends_start(ig_process *p, char *err, size_t errlen)
{
	if (setup_backends(ig_rt.cfg, err, errlen) < 0)
		return -1;
	if (setup_tls(ig_rt.cfg, err, errlen) < 0) {
		backends_stop(p);
		return -1;
	}
	return 0;
}

/* ---- the audit writer (proxy/audit.c) ---- */

static int audit_start(ig_process *p, char *err, size_t errlen)
{
	const ig_config *cfg = ig_rt.cfg;

	(void)p;
	ig_audit_set_limits(cfg->audit.max_statement_bytes, cfg->audit.max_file_bytes, cfg->audit.keep_files);
	return ig_audit_open(cfg->audit.path, cfg->audit.fsync, err, errlen);
}

static void audit_stop(ig_process *p)
{
	(void)p;
	ig_audit_close();
}

/* After a config reload, refused or not: the limits in force, the file reopened (rotation). */
static void audit_reload(void)
{
	char aerr[512];
	ig_config *now = ig_cfg_acquire();

	ig_audit_set_limits(now->audit.max_statement_bytes, now->audit.max_file_bytes, now->audit.keep_files);
	int arc = ig_audit_reopen_at(now->audit.path, aerr, sizeof(aerr));
	ig_cfg_release(now);
	if (arc < 0)
		LOG_ERROR(0, "audit log not reopened, still writing the old file: %s", aerr);
}

/* ---- the PD state cache: its watch starts with the first decision ---- */

static void pdstate_stop(ig_process *p)
{
	(void)p;
	ig_state_cache_shutdown();
}

/* ---- the running-import monitor and the obligations engine ---- */

static int brmon_start(ig_process *p, char *err, size_t errlen)
{
	return ig_brmon_start(&p->brmon, err, errlen);
}

static void brmon_stop(ig_process *p)
{
	ig_brmon_stop(p->brmon);
	p->brmon = NULL;
}

static int obligations_start(ig_process *p, char *err, size_t errlen)
{
	return ig_obl_start(&p->obl, ig_rt.cfg, err, errlen);
}

static void obligations_stop(ig_process *p)
{
	ig_obl_stop(p->obl);
	p->obl = NULL;
}

/* ---- admin HTTP: its hooks run on its threads ---- */

/* The process the hooks serve: the hooks take no argument (ig_inspect_explain is one). Set
 * while the admin server runs. */
static ig_process *admin_process;

static int reload(char *restart, size_t restartlen, char *err, size_t errlen);

static int admin_healthy(void) { return !atomic_load(&ig_rt.stopping); }

static char *admin_status(void)
{
	ig_process *p = admin_process;
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
	json_object_set_new(doc, "server_version", ig_audit_string(version, strlen(version)));
	/* what the last probe's server said of itself (null before any probe): what explain and
	 * coverage read before the greeting (docs/TIDB_VERSIONS.md, "Which TiDB answers") */
	char said_version[128], said_info[2048];
	json_t *said = json_null();
	if (ig_backend_last_said(said_version, sizeof(said_version), said_info, sizeof(said_info)) &&
	    (said = json_object())) {
		json_object_set_new(said, "version", ig_audit_string(said_version, strlen(said_version)));
		json_object_set_new(said, "tidb_version",
		                    said_info[0] ? ig_audit_string(said_info, strlen(said_info)) : json_null());
	}
	json_object_set_new(doc, "server_said", said);
	json_object_set_new(doc, "connections", json_integer(atomic_load(&ig_rt.conns)));
	/* per worker: sessions open now, and connections it accepted and handed to a worker
	 * with fewer (worker.h) */
	int sessions[IG_MAX_WORKERS]; /* 12 KiB of the admin thread's stack */
	uint64_t handed[IG_MAX_WORKERS];
	int nw = ig_worker_counts(sessions, handed, IG_MAX_WORKERS);
	json_t *ws = json_array();
	for (int i = 0; ws && i < nw; i++)
		json_array_append_new(ws, json_pack("{s:i, s:i, s:I}", "worker", i, "sessions", sessions[i],
		                                    "handed_over", (json_int_t)handed[i]));
	json_object_set_new(doc, "workers", ws ? ws : json_null());
	char *obl = ig_obl_status_json(p->obl);
	json_t *oj = obl ? json_loads(obl, 0, NULL) : NULL;
	free(obl);
	json_object_set_new(doc, "obligations", oj ? oj : json_null());
	json_t *cl = ig_cluster_status_json(); /* proxy/coverage.c: redacted */
	json_object_set_new(doc, "cluster", cl ? cl : json_null());
	json_t *ri = ig_brmon_status(p->brmon);
	json_object_set_new(doc, "running_imports", ri ? ri : json_null());
	char *s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

/* The keys a restart still needs, as a JSON array ("a, b" -> ["a", "b"]). */
static json_t *restart_list(const char *restart)
{
	json_t *a = json_array();
	for (const char *p = restart; a && *p;) {
		const char *e = strstr(p, ", ");
		size_t n = e ? (size_t)(e - p) : strlen(p);
		json_array_append_new(a, json_stringn(p, n));
		p += n + (e ? 2 : 0);
	}
	return a;
}

static char *admin_reload(int *http_status)
{
	char err[1024], restart[1024];
	int rc = reload(restart, sizeof(restart), err, sizeof(err));
	json_t *doc = rc < 0 ? json_pack("{s:b, s:s}", "ok", 0, "error", err)
	                     : json_pack("{s:b, s:o}", "ok", 1, "restart_required", restart_list(restart));
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
	} else if (ig_obl_dismiss(admin_process->obl, id, err, sizeof(err)) < 0) {
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

static int admin_start(ig_process *p, char *err, size_t errlen)
{
	const ig_config *cfg = ig_rt.cfg;
	ig_admin_hooks hooks = {.healthy = admin_healthy, .status_json = admin_status,
	                        .explain_json = ig_inspect_explain, .reload = admin_reload,
	                        .dismiss_json = admin_dismiss, .coverage_json = ig_coverage_json};

	admin_process = p;
	return ig_admin_start(&p->admin, &cfg->admin.listen, cfg->admin.token_file, &hooks, err, errlen);
}

static void admin_stop(ig_process *p)
{
	ig_admin_stop(p->admin);
	p->admin = NULL;
	admin_process = NULL;
}

/* ---- workers ---- */

/* Begins the drain: no new connection; sessions get timeouts.shutdown_ms to end. */
static void workers_drain(ig_process *p)
{
	ig_config *cfg = ig_cfg_acquire(); /* a reload may replace the current one meanwhile */
	int bound = cfg->timeouts.shutdown_ms;

	ig_cfg_release(cfg);
	atomic_store(&ig_rt.stopping, true);
	for (int i = 0; i < p->nworkers; i++)
		ig_worker_stop(&p->workers[i], bound);
}

/* Waits for the drain (begun by SIGTERM/SIGINT, or here when a later start failed). */
static void workers_stop(ig_process *p)
{
	if (!atomic_load(&ig_rt.stopping))
		workers_drain(p);
	for (int i = 0; i < p->nworkers; i++)
		ig_worker_join(&p->workers[i]);
	/* only once all have ended: until then one may still look at another's inbox */
	for (int i = 0; i < p->nworkers; i++)
		ig_worker_release(&p->workers[i]);
	free(p->workers);
	p->workers = NULL;
	p->nworkers = 0;
}

static int workers_start(ig_process *p, char *err, size_t errlen)
{
	const ig_config *cfg = ig_rt.cfg;
	int n = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	if (!(p->workers = calloc((size_t)n, sizeof(*p->workers)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (p->nworkers = 0; p->nworkers < n; p->nworkers++) {
		if (ig_worker_start(&p->workers[p->nworkers], p->nworkers, err, errlen) < 0) {
			workers_stop(p); /* the ones started */
			return -1;
		}
	}
	LOG_INFO(0, "importgate %s listening on %s:%d, %d workers, %zu backends, client TLS %s, backend TLS %s",
	         IMPORTGATE_VERSION, cfg->listen.host, cfg->listen.port, p->nworkers, cfg->backends.nservers,
	         ig_rt.client_ctx ? (cfg->client_tls.require ? "required" : "offered") : "off",
	         ig_rt.backend_ctx ? "on" : "off");
	return 0;
}

/* ---- health checks (main loop) ---- */

static int health_start(ig_process *p, char *err, size_t errlen)
{
	const ig_config *cfg = ig_rt.cfg;

	return ig_health_start(&p->health, p->loop, cfg->backends.health_interval_ms,
	                       cfg->backends.health_timeout_ms, err, errlen);
}

static void health_stop(ig_process *p)
{
	ig_health_stop(p->health);
	p->health = NULL;
}

/* ---- the table ---- */

typedef struct module {
	const char *name;
	int (*start)(ig_process *p, char *err, size_t errlen); /* NULL: nothing to start */
	void (*stop)(ig_process *p);                           /* NULL: nothing to stop */
} module;

static const module modules[] = {
	{"config", config_start, config_stop},
	{"logging", logging_start, NULL},
	{"backends", backends_start, backends_stop},
	{"signals", signals_start, signals_stop},
	{"audit", audit_start, audit_stop},
	{"pd state", NULL, pdstate_stop},
	{"brmon", brmon_start, brmon_stop},
	{"obligations", obligations_start, obligations_stop},
	{"admin", admin_start, admin_stop},
	{"workers", workers_start, workers_stop},
	{"health", health_start, health_stop},
};

#define NMODULES (sizeof(modules) / sizeof(modules[0]))

int ig_process_start(ig_process *p, const char *config_path, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->config_path = config_path;
	for (; p->started < NMODULES; p->started++) {
		const module *m = &modules[p->started];
		if (m->start && m->start(p, err, errlen) < 0) {
			ig_process_stop(p); /* those before it */
			return -1;
		}
	}
	return 0;
}

void ig_process_stop(ig_process *p)
{
	while (p->started > 0) {
		const module *m = &modules[--p->started];
		if (m->stop)
			m->stop(p);
	}
	if (p->ran)
		LOG_INFO(0, "stopped");
}

/* ---- reload and signals ---- */

/* SIGHUP (main thread) and POST /api/v1/reload (admin thread pool) reload one at a time. */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

/* The config (kept when the new one is bad: TLS, backends and log level follow it,
 * proxy/runtime.c), then the audit log. */
static int reload(char *restart, size_t restartlen, char *err, size_t errlen)
{
	pthread_mutex_lock(&reload_lock);
	int rc = ig_cfg_reload(restart, restartlen, err, errlen);
	pthread_mutex_unlock(&reload_lock);
	ig_metric_inc(rc < 0 ? IG_M_CONFIG_RELOADS_ERROR : IG_M_CONFIG_RELOADS_OK);
	if (rc < 0)
		LOG_ERROR(0, "reload refused, configuration unchanged: %s", err);
	else
		LOG_INFO(0, "configuration reloaded");
	audit_reload();
	if (rc < 0)
		ig_auditev_admin_reload_refused(err);
	else
		ig_auditev_admin_reload();
	return rc;
}

static void on_signal(uv_signal_t *h, int signum)
{
	ig_process *p = h->data;
	char err[1024], restart[1024];

	if (signum == SIGHUP) {
		sd_notify(0, "RELOADING=1");
		reload(restart, sizeof(restart), err, sizeof(err)); /* both are logged */
		sd_notify(0, "READY=1");
		return;
	}
	/* A reference: a reload on the admin pool may replace (and free) the current one now. */
	ig_config *cfg = ig_cfg_acquire();
	LOG_INFO(0, "signal %d: graceful shutdown (bound %d ms)", signum, cfg->timeouts.shutdown_ms);
	ig_cfg_release(cfg);
	sd_notify(0, "STOPPING=1");
	health_stop(p);
	workers_drain(p);
	uv_stop(h->loop);
}

void ig_process_run(ig_process *p)
{
	p->ran = true;
	sd_notify(0, "READY=1");
	uv_run(p->loop, UV_RUN_DEFAULT);
}
