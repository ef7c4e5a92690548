/*
 * metrics.c - the metrics registry (see metrics.h): a static table describing every series,
 * atomic cells holding their values, and the Prometheus text renderer. Updates are single
 * relaxed atomic operations, so the workers' hot path never takes a lock; histograms are
 * sharded per thread (each thread adds to its own cache lines). A render reads each cell
 * once and may mix values from before and after a concurrent update, which Prometheus
 * tolerates (every series is monotonic or a point-in-time gauge).
 */
#include "proxy/metrics.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/procstat.h"

#ifndef IMPORTGATE_VERSION
#define IMPORTGATE_VERSION "unknown"
#endif

/* MT_AGE: a gauge rendered as now minus a stamp (Unix ms) held in the cell. */
typedef enum { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM, MT_AGE } metric_type;

typedef struct bounds {
	const double *v;
	size_t n;
} bounds;

/* Upper bounds in seconds; +Inf implied. State reads: 1 ms .. 2 s (cluster.timeout_ms
 * defaults to 2000). Queries and handshakes: 100 us (a point select through the gateway on
 * one host, docs/BENCHMARKS.md) .. 10 s. Decisions: 1 ms .. 30 s (a state read, an audit
 * fsync and an obligation record in etcd, each bounded by its own timeout). */
static const double read_b[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2};
static const double fast_b[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double decision_b[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                    2.5, 5, 10, 30};
#define NB(a) (sizeof(a) / sizeof((a)[0]))
static const bounds READ_B = {read_b, NB(read_b)}, FAST_B = {fast_b, NB(fast_b)},
                    DECISION_B = {decision_b, NB(decision_b)};
#define MAXB 16 /* the longest bounds list */

typedef struct metric_def {
	const char *family; /* without the importgate_ prefix */
	const char *help;
	metric_type type;
	const char *label;  /* NULL: unlabelled */
	const char *value;
	const bounds *b;    /* histograms */
	int slot;           /* histograms: 1 + index in hists */
	bool from_start;    /* ages: no stamp reads as the time since the process started */
} metric_def;

/* Series of one family are adjacent: the renderer writes HELP/TYPE when the family changes. */
static const metric_def defs[IG_M__COUNT] = {
	[IG_M_CONNECTIONS_TOTAL] = {.family = "connections_total", .help = "Client connections accepted.",
		.type = MT_COUNTER, .label = NULL, .value = NULL},
	[IG_M_CONNECTIONS_ACTIVE] = {.family = "connections_active", .help = "Client connections open now.",
		.type = MT_GAUGE, .label = NULL, .value = NULL},
	[IG_M_STATEMENTS_QUICK] = {.family = "statements_total",
		.help = "Statements seen, by path: quick (first keyword only) or inspected (parsed).",
		.type = MT_COUNTER, .label = "class", .value = "quick"},
	[IG_M_STATEMENTS_INSPECTED] = {.family = "statements_total", .help = NULL,
		.type = MT_COUNTER, .label = "class", .value = "inspected"},
	[IG_M_PROBES] = {.family = "session_probes_total",
		.help = "Queries the gateway sent for the session's state before deciding a statement, and "
		"those whose answer could not be read (the statement was refused).",
		.type = MT_COUNTER, .label = "result", .value = "sent"},
	[IG_M_PROBE_FAILURES] = {.family = "session_probes_total", .help = NULL,
		.type = MT_COUNTER, .label = "result", .value = "failed"},
	[IG_M_STATE_READS_OK] = {.family = "cluster_state_reads_total",
		.help = "Reads of the cluster state (log backup tasks, changefeeds) from PD, by decisions and by "
		"the background check, by result.",
		.type = MT_COUNTER, .label = "result", .value = "ok"},
	[IG_M_STATE_READS_ERROR] = {.family = "cluster_state_reads_total", .help = NULL,
		.type = MT_COUNTER, .label = "result", .value = "error"},
	[IG_M_STATE_READ_SECONDS] = {.family = "cluster_state_read_seconds",
		.help = "Time taken by one read of the cluster state, in seconds.",
		.type = MT_HISTOGRAM, .label = NULL, .value = NULL, .b = &READ_B, .slot = 1},
	[IG_M_STATE_AGE] = {.family = "cluster_state_age_seconds",
		.help = "Seconds since the cluster state was last read or confirmed current (since the process "
		"started when it never was).",
		.type = MT_AGE, .label = NULL, .value = NULL, .b = NULL, .slot = 0, .from_start = true},
	[IG_M_DECISION_SECONDS] = {.family = "decision_seconds",
		.help = "Time an IMPORT INTO statement was held for its decision (cluster state, verdict, "
		"obligation record, audit), in seconds.",
		.type = MT_HISTOGRAM, .label = NULL, .value = NULL, .b = &DECISION_B, .slot = 2},
	[IG_M_HANDSHAKE_SECONDS] = {.family = "handshake_seconds",
		.help = "Time from a client's accept to its session's command phase (backend connect, greeting, "
		"TLS, authentication), in seconds.",
		.type = MT_HISTOGRAM, .label = NULL, .value = NULL, .b = &FAST_B, .slot = 3},
	[IG_M_QUERY_SECONDS_QUERY] = {.family = "query_duration_seconds",
		.help = "Time from a command's forwarding to the end of its answer, by command, in seconds.",
		.type = MT_HISTOGRAM,
		.label = "command", .value = "query", .b = &FAST_B, .slot = 4},
	[IG_M_QUERY_SECONDS_STMT_PREPARE] = {.family = "query_duration_seconds", .help = NULL,
		.type = MT_HISTOGRAM, .label = "command",
		.value = "stmt_prepare", .b = &FAST_B, .slot = 5},
	[IG_M_QUERY_SECONDS_STMT_EXECUTE] = {.family = "query_duration_seconds", .help = NULL,
		.type = MT_HISTOGRAM, .label = "command",
		.value = "stmt_execute", .b = &FAST_B, .slot = 6},
	[IG_M_QUERY_SECONDS_OTHER] = {.family = "query_duration_seconds", .help = NULL,
		.type = MT_HISTOGRAM, .label = "command", .value = "other", .b = &FAST_B, .slot = 7},
	[IG_M_ERRORS_1040] = {.family = "error_answers_total",
		.help = "Errors the gateway itself answered a client with before ending its session, by MySQL "
		"error code: 1040 too many connections, 2013 lost the backend, other.",
		.type = MT_COUNTER, .label = "code", .value = "1040"},
	[IG_M_ERRORS_2013] = {.family = "error_answers_total", .help = NULL,
		.type = MT_COUNTER, .label = "code", .value = "2013"},
	[IG_M_ERRORS_OTHER] = {.family = "error_answers_total", .help = NULL,
		.type = MT_COUNTER, .label = "code", .value = "other"},
	[IG_M_TIMEOUTS_BACKEND_CONNECT] = {.family = "timeouts_total",
		.help = "Sessions ended by a timeout, by timeout.",
		.type = MT_COUNTER, .label = "timeout", .value = "backend_connect"},
	[IG_M_TIMEOUTS_HANDSHAKE] = {.family = "timeouts_total", .help = NULL,
		.type = MT_COUNTER, .label = "timeout", .value = "handshake"},
	[IG_M_TIMEOUTS_RESPONSE] = {.family = "timeouts_total", .help = NULL,
		.type = MT_COUNTER, .label = "timeout", .value = "response"},
	[IG_M_TIMEOUTS_IDLE] = {.family = "timeouts_total", .help = NULL,
		.type = MT_COUNTER, .label = "timeout", .value = "idle"},
	[IG_M_TIMEOUTS_CLIENT_WRITE] = {.family = "timeouts_total", .help = NULL,
		.type = MT_COUNTER, .label = "timeout", .value = "client_write"},
	[IG_M_TIMEOUTS_PROBE] = {.family = "timeouts_total", .help = NULL,
		.type = MT_COUNTER, .label = "timeout", .value = "probe"},
	[IG_M_AUDIT_WRITES_OK] = {.family = "audit_writes_total",
		.help = "Audit records written, by result.",
		.type = MT_COUNTER, .label = "result", .value = "ok"},
	[IG_M_AUDIT_WRITES_ERROR] = {.family = "audit_writes_total", .help = NULL,
		.type = MT_COUNTER, .label = "result", .value = "error"},
	[IG_M_AUDIT_DROPPED] = {.family = "audit_dropped_total",
		.help = "Audit records that could not be written and were lost.",
		.type = MT_COUNTER, .label = NULL, .value = NULL},
	[IG_M_BYTES_CLIENT_TO_BACKEND] = {.family = "bytes_relayed_total",
		.help = "Bytes relayed, by direction.",
		.type = MT_COUNTER, .label = "direction", .value = "client_to_backend"},
	[IG_M_BYTES_BACKEND_TO_CLIENT] = {.family = "bytes_relayed_total", .help = NULL,
		.type = MT_COUNTER, .label = "direction", .value = "backend_to_client"},
	[IG_M_OBLIGATIONS_PENDING] = {.family = "obligations",
		.help = "Obligation records (backups, downstream imports) in the store shared by every replica, "
		"by state: every replica reports the whole store, aggregate with max, never sum.",
		.type = MT_GAUGE, .label = "state", .value = "pending"},
	[IG_M_OBLIGATIONS_RUNNING] = {.family = "obligations", .help = NULL,
		.type = MT_GAUGE, .label = "state", .value = "running"},
	[IG_M_OBLIGATIONS_DONE] = {.family = "obligations", .help = NULL,
		.type = MT_GAUGE, .label = "state", .value = "done"},
	[IG_M_OBLIGATIONS_FAILED] = {.family = "obligations", .help = NULL,
		.type = MT_GAUGE, .label = "state", .value = "failed"},
	[IG_M_OBLIGATIONS_OLDEST] = {.family = "obligations_oldest_unfinished_age_seconds",
		.help = "Age of the oldest obligation record not finished (pending, running or failed) in the "
		"shared store, 0 when none: every replica reports the same, aggregate with max.",
		.type = MT_AGE, .label = NULL, .value = NULL},
	[IG_M_CONFIG_RELOADS_OK] = {.family = "config_reloads_total",
		.help = "Configuration reloads, by result.",
		.type = MT_COUNTER, .label = "result", .value = "ok"},
	[IG_M_CONFIG_RELOADS_ERROR] = {.family = "config_reloads_total", .help = NULL,
		.type = MT_COUNTER, .label = "result", .value = "error"},
	[IG_M_AUDIT_ROTATIONS] = {.family = "audit_rotations_total",
		.help = "Audit log files rotated because audit.max_file_bytes was reached.",
		.type = MT_COUNTER, .label = NULL, .value = NULL},
	[IG_M_AUDIT_BYTES] = {.family = "audit_bytes_written_total",
		.help = "Bytes appended to the audit log (all files).",
		.type = MT_COUNTER, .label = NULL, .value = NULL},
	[IG_M_BRIE_RESTORE] = {.family = "brie_imports_running",
		.help = "Physical imports and restores registered under /tidb/brie/import/ with a lease, by kind.",
		.type = MT_GAUGE, .label = "kind", .value = "restore"},
	[IG_M_BRIE_LIGHTNING] = {.family = "brie_imports_running", .help = NULL,
		.type = MT_GAUGE, .label = "kind", .value = "lightning"},
	[IG_M_BRIE_IMPORT_INTO] = {.family = "brie_imports_running", .help = NULL,
		.type = MT_GAUGE, .label = "kind", .value = "import-into"},
	[IG_M_BRIE_OTHER] = {.family = "brie_imports_running", .help = NULL,
		.type = MT_GAUGE, .label = "kind", .value = "other"},
	[IG_M_BRIE_CONFLICTS] = {.family = "brie_import_conflicts",
		.help = "Running physical imports or restores while a log backup task or changefeed may cover their "
		"tables (the registration names no table).",
		.type = MT_GAUGE, .label = NULL, .value = NULL},
	[IG_M_BRIE_CONFLICT_EVENTS] = {.family = "brie_import_conflict_events_total",
		.help = "brie.import.conflict events: an import's set of conflicting tasks and changefeeds became "
		"non-empty or changed.", .type = MT_COUNTER, .label = NULL, .value = NULL},
	[IG_M_BRIE_READS_OK] = {.family = "brie_registration_reads_total",
		.help = "Reads of /tidb/brie/import/ from PD, by result.",
		.type = MT_COUNTER, .label = "result", .value = "ok"},
	[IG_M_BRIE_READS_ERROR] = {.family = "brie_registration_reads_total", .help = NULL,
		.type = MT_COUNTER, .label = "result", .value = "error"},
	[IG_M_BRIE_UNGUARDED_EVENTS] = {.family = "brie_import_unguarded_total",
		.help = "brie.import.unguarded events: a TiDB Lightning physical import registered itself that no "
		"guarded run (importgate lightning run) bound, once per registration.",
		.type = MT_COUNTER, .label = NULL, .value = NULL},
};

/* Per thread, one cache-line-aligned shard of each histogram; threads beyond NSHARDS share
 * (still correct: the cells are atomic). */
#define NSHARDS 16
#define NHISTS 7

typedef struct shard {
	_Alignas(64) atomic_uint_fast64_t buckets[MAXB + 1]; /* per bucket, not cumulative; [n] is +Inf */
	atomic_uint_fast64_t sum_ns;
} shard;

/*
 * Gauges and age stamps have one signed cell (a gauge is set as well as moved); counters
 * have one per shard, like the histograms: the workers count bytes read and statements on
 * every query, and one shared cell per counter moved its cache line between the cores on
 * each (docs/BENCHMARKS.md 1.18).
 */
typedef struct counter_shard {
	_Alignas(64) atomic_int_fast64_t v[IG_M__COUNT];
} counter_shard;

static atomic_int_fast64_t cells[IG_M__COUNT];
static counter_shard counters[NSHARDS];
static shard hists[NHISTS][NSHARDS];
static atomic_uint next_shard;
static _Thread_local unsigned my_shard = UINT_MAX;

static bool valid(ig_metric_id id) { return (unsigned)id < IG_M__COUNT; }

static unsigned shard_index(void)
{
	if (my_shard == UINT_MAX)
		my_shard = atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) % NSHARDS;
	return my_shard;
}

static shard *my_hist(ig_metric_id id)
{
	if (!valid(id) || defs[id].type != MT_HISTOGRAM || defs[id].slot < 1 || defs[id].slot > NHISTS)
		return NULL;
	return &hists[defs[id].slot - 1][shard_index()];
}

/* A counter's value is its shards' sum; anything else's, its cell. */
static int64_t cell_value(ig_metric_id id)
{
	if (defs[id].type != MT_COUNTER)
		return atomic_load_explicit(&cells[id], memory_order_relaxed);
	int64_t v = 0;
	for (unsigned i = 0; i < NSHARDS; i++)
		v += atomic_load_explicit(&counters[i].v[id], memory_order_relaxed);
	return v;
}

void ig_metric_add(ig_metric_id id, uint64_t n)
{
	if (!valid(id))
		return;
	if (defs[id].type == MT_COUNTER)
		atomic_fetch_add_explicit(&counters[shard_index()].v[id], (int_fast64_t)n, memory_order_relaxed);
	else if (defs[id].type == MT_GAUGE)
		atomic_fetch_add_explicit(&cells[id], (int_fast64_t)n, memory_order_relaxed);
}

void ig_metric_inc(ig_metric_id id) { ig_metric_add(id, 1); }

void ig_metric_gauge_set(ig_metric_id id, int64_t v)
{
	if (valid(id) && defs[id].type == MT_GAUGE)
		atomic_store_explicit(&cells[id], v, memory_order_relaxed);
}

void ig_metric_gauge_add(ig_metric_id id, int64_t delta)
{
	if (valid(id) && defs[id].type == MT_GAUGE)
		atomic_fetch_add_explicit(&cells[id], delta, memory_order_relaxed);
}

void ig_metric_observe_ns(ig_metric_id id, uint64_t ns)
{
	shard *h = my_hist(id);
	if (!h)
		return;
	const bounds *b = defs[id].b;
	double s = (double)ns / 1e9;
	size_t i = 0;
	while (i < b->n && s > b->v[i])
		i++;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	/* Nanoseconds keep the sum an integer atomic; 2^64 ns is 584 years. */
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void ig_metric_observe_seconds(ig_metric_id id, double s)
{
	if (!(s > 0)) /* negative, zero or NaN */
		s = 0;
	double ns = s * 1e9;
	/* An absurd value still counts (in +Inf) but adds nothing to the sum. */
	if (ns >= 1.8e19) {
		shard *h = my_hist(id);
		if (h)
			atomic_fetch_add_explicit(&h->buckets[defs[id].b->n], 1, memory_order_relaxed);
		return;
	}
	ig_metric_observe_ns(id, (uint64_t)ns);
}

void ig_metric_stamp(ig_metric_id id, int64_t unix_ms)
{
	if (valid(id) && defs[id].type == MT_AGE)
		atomic_store_explicit(&cells[id], unix_ms, memory_order_relaxed);
}

static int64_t unix_ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ig_metric_stamp_now(ig_metric_id id) { ig_metric_stamp(id, unix_ms_now()); }

int64_t ig_metric_value(ig_metric_id id)
{
	if (!valid(id) || defs[id].type == MT_HISTOGRAM || defs[id].type == MT_AGE)
		return 0;
	return cell_value(id);
}

/* ---- importgate_imports_total{mode, verdict, rule}: a table under a mutex (imports are rare) ---- */

typedef struct import_series {
	char *mode, *verdict, *rule;
	uint64_t n;
} import_series;

static pthread_mutex_t imports_mu = PTHREAD_MUTEX_INITIALIZER;
static import_series *imports;
static size_t nimports, capimports;

/* Called with imports_mu held. The series, added at 0 when new; NULL when out of memory. */
static import_series *import_find(const char *mode, const char *verdict, const char *rule, bool add)
{
	for (size_t i = 0; i < nimports; i++)
		if (strcmp(imports[i].rule, rule) == 0 && strcmp(imports[i].verdict, verdict) == 0 &&
		    strcmp(imports[i].mode, mode) == 0)
			return &imports[i];
	if (!add)
		return NULL;
	if (nimports == capimports) {
		size_t cap = capimports ? 2 * capimports : 16;
		import_series *v = realloc(imports, cap * sizeof(*v));
		if (!v)
			return NULL;
		imports = v;
		capimports = cap;
	}
	import_series *e = &imports[nimports];
	e->mode = strdup(mode);
	e->verdict = strdup(verdict);
	e->rule = strdup(rule);
	e->n = 0;
	if (!e->mode || !e->verdict || !e->rule) {
		free(e->mode);
		free(e->verdict);
		free(e->rule);
		return NULL;
	}
	nimports++;
	return e;
}

/* Every mode and verdict under the defaults exists from the start, at 0, so that a rate()
 * sees the first import and a dashboard has its series before any import. Under imports_mu. */
static void imports_seed(void)
{
	static const char *const modes[] = {"enforce", "dry-run"};
	static const char *const verdicts[] = {"pass", "add-disable-precheck", "reject", "logical"};
	static bool seeded;
	if (seeded)
		return;
	seeded = true;
	for (size_t m = 0; m < 2; m++)
		for (size_t v = 0; v < 4; v++)
			(void)import_find(modes[m], verdicts[v], IG_METRIC_RULE_DEFAULTS, true);
}

void ig_metric_import(const char *mode, const char *verdict, const char *rule)
{
	pthread_mutex_lock(&imports_mu);
	imports_seed();
	import_series *e = import_find(mode, verdict, rule, false);
	if (!e)
		e = import_find(mode, verdict, nimports < IG_METRICS_MAX_IMPORT_SERIES ? rule : "(other)", true);
	if (e)
		e->n++;
	pthread_mutex_unlock(&imports_mu);
}

uint64_t ig_metric_import_value(const char *mode, const char *verdict, const char *rule)
{
	pthread_mutex_lock(&imports_mu);
	import_series *e = import_find(mode, verdict, rule, false);
	uint64_t n = e ? e->n : 0;
	pthread_mutex_unlock(&imports_mu);
	return n;
}

/* ---- per backend: registered once, then read by the admin thread ---- */

typedef struct backend_series {
	size_t n;
	char **addrs;
	atomic_int *up;
	atomic_int_fast64_t *conns;
	atomic_uint_fast64_t *connect_failures;
} backend_series;

static _Atomic(backend_series *) backends;
/* Series replaced by a reload: a render may still be reading one, so they are freed at exit. */
static backend_series *retired[64];
static atomic_size_t nretired;
static void (*_Atomic render_hook)(void);

static void series_free(backend_series *bs)
{
	if (!bs)
		return;
	for (size_t i = 0; bs->addrs && i < bs->n; i++)
		free(bs->addrs[i]);
	free(bs->addrs);
	free(bs->up);
	free(bs->conns);
	free(bs->connect_failures);
	free(bs);
}

static backend_series *series_new(const char *const *addrs, size_t n)
{
	backend_series *bs = calloc(1, sizeof(*bs));
	if (!bs)
		return NULL;
	bs->n = n;
	bs->addrs = calloc(n ? n : 1, sizeof(char *));
	bs->up = calloc(n ? n : 1, sizeof(atomic_int));
	bs->conns = calloc(n ? n : 1, sizeof(atomic_int_fast64_t));
	bs->connect_failures = calloc(n ? n : 1, sizeof(atomic_uint_fast64_t));
	if (!bs->addrs || !bs->up || !bs->conns || !bs->connect_failures) {
		series_free(bs);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!(bs->addrs[i] = strdup(addrs[i] ? addrs[i] : ""))) {
			series_free(bs);
			return NULL;
		}
		atomic_init(&bs->up[i], 0);
		atomic_init(&bs->conns[i], 0);
		atomic_init(&bs->connect_failures[i], 0);
	}
	return bs;
}

int ig_metrics_backends_init(const char *const *addrs, size_t n, char *err, size_t errlen)
{
	backend_series *bs = series_new(addrs, n);
	if (!bs) {
		snprintf(err, errlen, "out of memory registering backend metrics");
		return -1;
	}
	backend_series *expected = NULL;
	if (!atomic_compare_exchange_strong(&backends, &expected, bs)) {
		snprintf(err, errlen, "backend metrics are already registered");
		series_free(bs);
		return -1;
	}
	return 0;
}

void ig_metric_backend_up(size_t idx, bool up)
{
	backend_series *bs = atomic_load(&backends);
	if (bs && idx < bs->n)
		atomic_store_explicit(&bs->up[idx], up ? 1 : 0, memory_order_relaxed);
}

void ig_metrics_backends_free(void)
{
	series_free(atomic_exchange(&backends, NULL));
	size_t n = atomic_exchange(&nretired, 0);
	for (size_t i = 0; i < n && i < sizeof(retired) / sizeof(retired[0]); i++)
		series_free(retired[i]);
}

int ig_metrics_backends_replace(const char *const *addrs, size_t n, char *err, size_t errlen)
{
	backend_series *old = atomic_exchange(&backends, NULL);
	if (ig_metrics_backends_init(addrs, n, err, errlen) < 0) {
		backend_series *expected = NULL;
		atomic_compare_exchange_strong(&backends, &expected, old);
		return -1;
	}
	/* A backend kept across the reload keeps its failure count: a counter does not reset
	 * while the process lives. (A failure counted on the old series meanwhile may be lost.) */
	backend_series *bs = atomic_load(&backends);
	for (size_t i = 0; old && bs && i < bs->n; i++)
		for (size_t j = 0; j < old->n; j++)
			if (strcmp(bs->addrs[i], old->addrs[j]) == 0)
				atomic_fetch_add(&bs->connect_failures[i], atomic_load(&old->connect_failures[j]));
	size_t k = atomic_fetch_add(&nretired, 1);
	if (k < sizeof(retired) / sizeof(retired[0]))
		retired[k] = old;
	/* Past 64 reloads that change the backends, old series are kept until exit unfreed
	 * (bounded: a few bytes each) rather than risk freeing one a render is reading. */
	return 0;
}

/* The backend's index in the current series, or -1. */
static long backend_index(const backend_series *bs, const char *addr)
{
	for (size_t i = 0; bs && i < bs->n; i++)
		if (strcmp(bs->addrs[i], addr) == 0)
			return (long)i;
	return -1;
}

void ig_metric_backend_up_addr(const char *addr, bool up)
{
	backend_series *bs = atomic_load(&backends);
	long i = backend_index(bs, addr);
	if (i >= 0)
		atomic_store_explicit(&bs->up[i], up ? 1 : 0, memory_order_relaxed);
}

void ig_metric_backend_connect_failed(const char *addr)
{
	backend_series *bs = atomic_load(&backends);
	long i = backend_index(bs, addr);
	if (i >= 0)
		atomic_fetch_add_explicit(&bs->connect_failures[i], 1, memory_order_relaxed);
}

void ig_metric_backend_connections_addr(const char *addr, int64_t n)
{
	backend_series *bs = atomic_load(&backends);
	long i = backend_index(bs, addr);
	if (i >= 0)
		atomic_store_explicit(&bs->conns[i], n, memory_order_relaxed);
}

void ig_metrics_on_render(void (*fn)(void)) { atomic_store(&render_hook, fn); }

/* ---- rendering ---- */

typedef struct out {
	char *p;
	size_t len, cap;
	bool oom;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(out *o, const char *fmt, ...)
{
	if (o->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap * 2 + (size_t)n;
		char *p = realloc(o->p, cap);
		if (!p) {
			o->oom = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
}

/* Label values escape backslash, double quote and newline (exposition format 0.0.4). */
static void put_label_value(out *o, const char *v)
{
	for (; *v; v++) {
		switch (*v) {
		case '\\': put(o, "\\\\"); break;
		case '"': put(o, "\\\""); break;
		case '\n': put(o, "\\n"); break;
		default: put(o, "%c", *v); break;
		}
	}
}

static const char *type_name(metric_type t)
{
	return t == MT_COUNTER ? "counter" : t == MT_HISTOGRAM ? "histogram" : "gauge";
}

static void put_header_as(out *o, const char *prefix, const char *family, const char *help, metric_type t)
{
	put(o, "# HELP %s%s %s\n# TYPE %s%s %s\n", prefix, family, help, prefix, family, type_name(t));
}

static void put_header(out *o, const char *family, const char *help, metric_type t)
{
	put_header_as(o, "importgate_", family, help, t);
}

/* Bounds print as Prometheus writes them ("0.001", "1", "2"), the same on every run. The
 * shards are summed per bucket; the count is the +Inf bucket, so the two always agree. */
static void put_histogram(out *o, const metric_def *d)
{
	const shard *sh = hists[d->slot - 1];
	const bounds *b = d->b;
	char lab[96] = "";
	uint64_t cum = 0, ns = 0;
	if (d->label)
		snprintf(lab, sizeof(lab), "%s=\"%s\",", d->label, d->value);
	for (size_t i = 0; i <= b->n; i++) {
		for (size_t k = 0; k < NSHARDS; k++)
			cum += atomic_load_explicit(&sh[k].buckets[i], memory_order_relaxed);
		if (i < b->n)
			put(o, "importgate_%s_bucket{%sle=\"%g\"} %llu\n", d->family, lab, b->v[i], (unsigned long long)cum);
		else
			put(o, "importgate_%s_bucket{%sle=\"+Inf\"} %llu\n", d->family, lab, (unsigned long long)cum);
	}
	for (size_t k = 0; k < NSHARDS; k++)
		ns += atomic_load_explicit(&sh[k].sum_ns, memory_order_relaxed);
	if (d->label)
		lab[strlen(lab) - 1] = '\0'; /* no trailing comma */
	const char *open = d->label ? "{" : "", *close = d->label ? "}" : "";
	put(o, "importgate_%s_sum%s%s%s %llu.%09llu\n", d->family, open, lab, close,
	    (unsigned long long)(ns / 1000000000u), (unsigned long long)(ns % 1000000000u));
	put(o, "importgate_%s_count%s%s%s %llu\n", d->family, open, lab, close, (unsigned long long)cum);
}

static void put_age(out *o, const metric_def *d, int64_t stamp, int64_t now, double started)
{
	double age = 0;
	if (stamp > 0)
		age = (double)(now - stamp) / 1000.0;
	else if (d->from_start && started > 0)
		age = (double)now / 1000.0 - started;
	put(o, "importgate_%s %.3f\n", d->family, age > 0 ? age : 0.0);
}

static void put_registry(out *o, double started)
{
	const char *family = NULL;
	int64_t now = unix_ms_now();
	for (int id = 0; id < IG_M__COUNT; id++) {
		const metric_def *d = &defs[id];
		if (!family || strcmp(family, d->family) != 0) {
			family = d->family;
			put_header(o, d->family, d->help, d->type);
		}
		if (d->type == MT_HISTOGRAM) {
			put_histogram(o, d);
			continue;
		}
		long long v = (long long)cell_value((ig_metric_id)id);
		if (d->type == MT_AGE)
			put_age(o, d, v, now, started);
		else if (d->label)
			put(o, "importgate_%s{%s=\"%s\"} %lld\n", d->family, d->label, d->value, v);
		else
			put(o, "importgate_%s %lld\n", d->family, v);
	}
}

static void put_imports(out *o)
{
	put_header(o, "imports_total",
	           "IMPORT INTO statements decided, by mode (enforce, dry-run: the verdict that would "
	           "have applied), verdict and rule ((defaults): no rule matched; (none): refused before "
	           "a decision).", MT_COUNTER);
	pthread_mutex_lock(&imports_mu);
	imports_seed();
	for (size_t i = 0; i < nimports; i++) {
		const import_series *e = &imports[i];
		put(o, "importgate_imports_total{mode=\"");
		put_label_value(o, e->mode);
		put(o, "\",verdict=\"");
		put_label_value(o, e->verdict);
		put(o, "\",rule=\"");
		put_label_value(o, e->rule);
		put(o, "\"} %llu\n", (unsigned long long)e->n);
	}
	pthread_mutex_unlock(&imports_mu);
}

static void put_backend_family(out *o, const backend_series *bs, const char *family, int which)
{
	for (size_t i = 0; bs && i < bs->n; i++) {
		put(o, "importgate_%s{backend=\"", family);
		put_label_value(o, bs->addrs[i]);
		if (which == 0)
			put(o, "\"} %d\n", atomic_load_explicit(&bs->up[i], memory_order_relaxed));
		else if (which == 1)
			put(o, "\"} %lld\n", (long long)atomic_load_explicit(&bs->conns[i], memory_order_relaxed));
		else
			put(o, "\"} %llu\n",
			    (unsigned long long)atomic_load_explicit(&bs->connect_failures[i], memory_order_relaxed));
	}
}

static void put_backends(out *o)
{
	backend_series *bs = atomic_load(&backends);
	put_header(o, "backend_up", "1 when the backend is considered healthy, else 0.", MT_GAUGE);
	put_backend_family(o, bs, "backend_up", 0);
	put_header(o, "backend_connections", "Client sessions connected to the backend now.", MT_GAUGE);
	put_backend_family(o, bs, "backend_connections", 1);
	put_header(o, "backend_connect_failures_total",
	           "Connects to the backend for a client session that failed or timed out.", MT_COUNTER);
	put_backend_family(o, bs, "backend_connect_failures_total", 2);
}

/* The standard process_* families (Prometheus client libraries' names and units). */
static void put_process(out *o, const ig_procstat *ps, bool have_stat)
{
	if (have_stat) {
		put_header_as(o, "", "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", MT_COUNTER);
		put(o, "process_cpu_seconds_total %.2f\n", ps->cpu_seconds);
		put_header_as(o, "", "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", MT_GAUGE);
		put(o, "process_start_time_seconds %.2f\n", ps->start_time_seconds);
		put_header_as(o, "", "process_resident_memory_bytes", "Resident memory size in bytes.", MT_GAUGE);
		put(o, "process_resident_memory_bytes %llu\n", (unsigned long long)ps->resident_bytes);
		put_header_as(o, "", "process_virtual_memory_bytes", "Virtual memory size in bytes.", MT_GAUGE);
		put(o, "process_virtual_memory_bytes %llu\n", (unsigned long long)ps->virtual_bytes);
	}
	if (ps->open_fds >= 0) {
		put_header_as(o, "", "process_open_fds", "Number of open file descriptors.", MT_GAUGE);
		put(o, "process_open_fds %lld\n", (long long)ps->open_fds);
	}
	if (ps->max_fds >= 0) {
		put_header_as(o, "", "process_max_fds", "Maximum number of open file descriptors.", MT_GAUGE);
		put(o, "process_max_fds %lld\n", (long long)ps->max_fds);
	}
}

char *ig_metrics_render(void)
{
	void (*hook)(void) = atomic_load(&render_hook);
	if (hook)
		hook();
	ig_procstat ps;
	bool have_stat = ig_procstat_read(&ps) == 0;
	out o = {.cap = 16384};
	if (!(o.p = malloc(o.cap)))
		return NULL;
	o.p[0] = '\0';
	put_header(&o, "build_info", "Always 1; the version is in the label.", MT_GAUGE);
	put(&o, "importgate_build_info{version=\"");
	put_label_value(&o, IMPORTGATE_VERSION);
	put(&o, "\"} 1\n");
	put_registry(&o, have_stat ? ps.start_time_seconds : 0);
	put_imports(&o);
	put_backends(&o);
	put_process(&o, &ps, have_stat);
	if (o.oom) {
		free(o.p);
		return NULL;
	}
	return o.p;
}
