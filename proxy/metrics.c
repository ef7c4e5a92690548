/*
 * metrics.c - the metrics registry (see metrics.h): a static table describing every series,
 * atomic cells holding their values, and the Prometheus text renderer. Updates are single
 * relaxed atomic operations, so the workers' hot path never takes a lock; a render reads
 * each cell once and may mix values from before and after a concurrent update, which
 * Prometheus tolerates (every series is monotonic or a point-in-time gauge).
 */
#include "proxy/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef IMPORTGATE_VERSION
#define IMPORTGATE_VERSION "unknown"
#endif

typedef enum { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM } metric_type;

typedef struct metric_def {
	const char *family; /* without the importgate_ prefix */
	const char *help;
	metric_type type;
	const char *label;  /* NULL: unlabelled */
	const char *value;
} metric_def;

/* Series of one family are adjacent: the renderer writes HELP/TYPE when the family changes. */
static const metric_def defs[IG_M__COUNT] = {
	[IG_M_CONNECTIONS_TOTAL] = {"connections_total", "Client connections accepted.", MT_COUNTER, NULL, NULL},
	[IG_M_CONNECTIONS_ACTIVE] = {"connections_active", "Client connections open now.", MT_GAUGE, NULL, NULL},
	[IG_M_STATEMENTS_QUICK] = {"statements_total",
		"Statements seen, by path: quick (first keyword only) or inspected (parsed).",
		MT_COUNTER, "class", "quick"},
	[IG_M_STATEMENTS_INSPECTED] = {"statements_total", NULL, MT_COUNTER, "class", "inspected"},
	[IG_M_PROBES] = {"session_probes_total",
		"Queries the gateway sent for the session's state before deciding a statement, and "
		"those whose answer could not be read (the statement was refused).",
		MT_COUNTER, "result", "sent"},
	[IG_M_PROBE_FAILURES] = {"session_probes_total", NULL, MT_COUNTER, "result", "failed"},
	[IG_M_IMPORTS_PASS] = {"imports_total", "IMPORT INTO statements decided, by verdict.",
		MT_COUNTER, "verdict", "pass"},
	[IG_M_IMPORTS_ADD_DISABLE_PRECHECK] = {"imports_total", NULL, MT_COUNTER, "verdict", "add_disable_precheck"},
	[IG_M_IMPORTS_REJECT] = {"imports_total", NULL, MT_COUNTER, "verdict", "reject"},
	[IG_M_IMPORTS_LOGICAL] = {"imports_total", NULL, MT_COUNTER, "verdict", "logical"},
	[IG_M_IMPORTS_DRY_RUN] = {"imports_total", NULL, MT_COUNTER, "verdict", "dry_run"},
	[IG_M_STATE_READS_OK] = {"cluster_state_reads_total",
		"Reads of the cluster state (log backup tasks, changefeeds) from PD, by result.",
		MT_COUNTER, "result", "ok"},
	[IG_M_STATE_READS_ERROR] = {"cluster_state_reads_total", NULL, MT_COUNTER, "result", "error"},
	[IG_M_STATE_READ_SECONDS] = {"cluster_state_read_seconds",
		"Time taken by one read of the cluster state, in seconds.", MT_HISTOGRAM, NULL, NULL},
	[IG_M_AUDIT_WRITES_OK] = {"audit_writes_total", "Audit records written, by result.",
		MT_COUNTER, "result", "ok"},
	[IG_M_AUDIT_WRITES_ERROR] = {"audit_writes_total", NULL, MT_COUNTER, "result", "error"},
	[IG_M_AUDIT_DROPPED] = {"audit_dropped_total",
		"Audit records that could not be written and were lost.", MT_COUNTER, NULL, NULL},
	[IG_M_BYTES_CLIENT_TO_BACKEND] = {"bytes_relayed_total", "Bytes relayed, by direction.",
		MT_COUNTER, "direction", "client_to_backend"},
	[IG_M_BYTES_BACKEND_TO_CLIENT] = {"bytes_relayed_total", NULL, MT_COUNTER, "direction", "backend_to_client"},
	[IG_M_OBLIGATIONS_PENDING] = {"obligations", "Obligations (backups, downstream imports) by state.",
		MT_GAUGE, "state", "pending"},
	[IG_M_OBLIGATIONS_RUNNING] = {"obligations", NULL, MT_GAUGE, "state", "running"},
	[IG_M_OBLIGATIONS_DONE] = {"obligations", NULL, MT_GAUGE, "state", "done"},
	[IG_M_OBLIGATIONS_FAILED] = {"obligations", NULL, MT_GAUGE, "state", "failed"},
	[IG_M_CONFIG_RELOADS_OK] = {"config_reloads_total", "Configuration reloads, by result.",
		MT_COUNTER, "result", "ok"},
	[IG_M_CONFIG_RELOADS_ERROR] = {"config_reloads_total", NULL, MT_COUNTER, "result", "error"},
	[IG_M_AUDIT_ROTATIONS] = {"audit_rotations_total",
		"Audit log files rotated because audit.max_file_bytes was reached.", MT_COUNTER, NULL, NULL},
	[IG_M_AUDIT_BYTES] = {"audit_bytes_written_total", "Bytes appended to the audit log (all files).",
		MT_COUNTER, NULL, NULL},
	[IG_M_BRIE_RESTORE] = {"brie_imports_running",
		"Physical imports and restores registered under /tidb/brie/import/ with a lease, by kind.",
		MT_GAUGE, "kind", "restore"},
	[IG_M_BRIE_LIGHTNING] = {"brie_imports_running", NULL, MT_GAUGE, "kind", "lightning"},
	[IG_M_BRIE_IMPORT_INTO] = {"brie_imports_running", NULL, MT_GAUGE, "kind", "import-into"},
	[IG_M_BRIE_OTHER] = {"brie_imports_running", NULL, MT_GAUGE, "kind", "other"},
	[IG_M_BRIE_CONFLICTS] = {"brie_import_conflicts",
		"Running physical imports or restores while a log backup task or changefeed may cover their "
		"tables (the registration names no table).", MT_GAUGE, NULL, NULL},
	[IG_M_BRIE_CONFLICT_EVENTS] = {"brie_import_conflict_events_total",
		"brie.import.conflict events: an import's set of conflicting tasks and changefeeds became "
		"non-empty or changed.", MT_COUNTER, NULL, NULL},
	[IG_M_BRIE_READS_OK] = {"brie_registration_reads_total",
		"Reads of /tidb/brie/import/ from PD, by result.", MT_COUNTER, "result", "ok"},
	[IG_M_BRIE_READS_ERROR] = {"brie_registration_reads_total", NULL, MT_COUNTER, "result", "error"},
	[IG_M_BRIE_UNGUARDED_EVENTS] = {"brie_import_unguarded_total",
		"brie.import.unguarded events: a TiDB Lightning physical import registered itself that no "
		"guarded run (importgate lightning run) bound, once per registration.", MT_COUNTER, NULL, NULL},
};

/* Upper bounds in seconds, 1 ms .. 2 s (cluster.timeout_ms defaults to 2000); +Inf implied. */
static const double bucket_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2};
#define NBUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))

typedef struct histogram {
	atomic_uint_fast64_t buckets[NBUCKETS + 1]; /* per bucket, not cumulative; last is +Inf */
	atomic_uint_fast64_t sum_ns;
} histogram;

/* Counters and gauges share one signed cell; histograms have their own. */
static atomic_int_fast64_t cells[IG_M__COUNT];
static histogram hists[1];

static histogram *hist_of(ig_metric_id id)
{
	return id == IG_M_STATE_READ_SECONDS ? &hists[0] : NULL;
}

static bool valid(ig_metric_id id) { return (unsigned)id < IG_M__COUNT; }

void ig_metric_add(ig_metric_id id, uint64_t n)
{
	if (valid(id) && defs[id].type != MT_HISTOGRAM)
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

void ig_metric_observe_seconds(ig_metric_id id, double s)
{
	histogram *h = valid(id) ? hist_of(id) : NULL;
	if (!h)
		return;
	if (!(s > 0)) /* negative, zero or NaN */
		s = 0;
	size_t i = 0;
	while (i < NBUCKETS && s > bucket_bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	/* Nanoseconds keep the sum an integer atomic; 2^64 ns is 584 years of reads. */
	double ns = s * 1e9;
	atomic_fetch_add_explicit(&h->sum_ns, ns < 1.8e19 ? (uint_fast64_t)ns : 0, memory_order_relaxed);
}

int64_t ig_metric_value(ig_metric_id id)
{
	if (!valid(id) || defs[id].type == MT_HISTOGRAM)
		return 0;
	return atomic_load_explicit(&cells[id], memory_order_relaxed);
}

/* ---- backend_up: registered once, then read by the admin thread ---- */

typedef struct backend_series {
	size_t n;
	char **addrs;
	atomic_int *up;
} backend_series;

static _Atomic(backend_series *) backends;
/* Series replaced by a reload: a render may still be reading one, so they are freed at exit. */
static backend_series *retired[64];
static atomic_size_t nretired;

static void series_free(backend_series *bs)
{
	if (!bs)
		return;
	for (size_t i = 0; i < bs->n; i++)
		free(bs->addrs[i]);
	free(bs->addrs);
	free(bs->up);
	free(bs);
}

int ig_metrics_backends_init(const char *const *addrs, size_t n, char *err, size_t errlen)
{
	backend_series *bs = calloc(1, sizeof(*bs));
	if (!bs)
		goto oom;
	bs->n = n;
	bs->addrs = calloc(n ? n : 1, sizeof(char *));
	bs->up = calloc(n ? n : 1, sizeof(atomic_int));
	if (!bs->addrs || !bs->up)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		if (!(bs->addrs[i] = strdup(addrs[i] ? addrs[i] : "")))
			goto oom;
		atomic_init(&bs->up[i], 0);
	}
	backend_series *expected = NULL;
	if (!atomic_compare_exchange_strong(&backends, &expected, bs)) {
		snprintf(err, errlen, "backend metrics are already registered");
		goto fail;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory registering backend metrics");
fail:
	if (bs) {
		for (size_t i = 0; bs->addrs && i < n; i++)
			free(bs->addrs[i]);
		free(bs->addrs);
		free(bs->up);
		free(bs);
	}
	return -1;
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
	size_t k = atomic_fetch_add(&nretired, 1);
	if (k < sizeof(retired) / sizeof(retired[0]))
		retired[k] = old;
	/* Past 64 reloads that change the backends, old series are kept until exit unfreed
	 * (bounded: a few bytes each) rather than risk freeing one a render is reading. */
	return 0;
}

void ig_metric_backend_up_addr(const char *addr, bool up)
{
	backend_series *bs = atomic_load(&backends);
	for (size_t i = 0; bs && i < bs->n; i++)
		if (strcmp(bs->addrs[i], addr) == 0)
			atomic_store_explicit(&bs->up[i], up ? 1 : 0, memory_order_relaxed);
}

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
	return t == MT_COUNTER ? "counter" : t == MT_GAUGE ? "gauge" : "histogram";
}

static void put_header(out *o, const char *family, const char *help, metric_type t)
{
	put(o, "# HELP importgate_%s %s\n# TYPE importgate_%s %s\n", family, help, family, type_name(t));
}

/* Bounds print as Prometheus writes them ("0.001", "1", "2"), the same on every run. */
static void put_histogram(out *o, const char *family, const histogram *h)
{
	uint64_t cum = 0;
	for (size_t i = 0; i <= NBUCKETS; i++) {
		cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
		if (i < NBUCKETS)
			put(o, "importgate_%s_bucket{le=\"%g\"} %llu\n", family, bucket_bounds[i],
			    (unsigned long long)cum);
		else
			put(o, "importgate_%s_bucket{le=\"+Inf\"} %llu\n", family, (unsigned long long)cum);
	}
	uint64_t ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
	put(o, "importgate_%s_sum %llu.%09llu\n", family, (unsigned long long)(ns / 1000000000u),
	    (unsigned long long)(ns % 1000000000u));
	/* The count is the +Inf bucket, so the two always agree within one render. */
	put(o, "importgate_%s_count %llu\n", family, (unsigned long long)cum);
}

static void put_registry(out *o)
{
	const char *family = NULL;
	for (int id = 0; id < IG_M__COUNT; id++) {
		const metric_def *d = &defs[id];
		if (!family || strcmp(family, d->family) != 0) {
			family = d->family;
			put_header(o, d->family, d->help, d->type);
		}
		if (d->type == MT_HISTOGRAM) {
			put_histogram(o, d->family, hist_of((ig_metric_id)id));
			continue;
		}
		long long v = (long long)atomic_load_explicit(&cells[id], memory_order_relaxed);
		if (d->label)
			put(o, "importgate_%s{%s=\"%s\"} %lld\n", d->family, d->label, d->value, v);
		else
			put(o, "importgate_%s %lld\n", d->family, v);
	}
}

static void put_backends(out *o)
{
	put_header(o, "backend_up", "1 when the backend is considered healthy, else 0.", MT_GAUGE);
	backend_series *bs = atomic_load(&backends);
	for (size_t i = 0; bs && i < bs->n; i++) {
		put(o, "importgate_backend_up{backend=\"");
		put_label_value(o, bs->addrs[i]);
		put(o, "\"} %d\n", atomic_load_explicit(&bs->up[i], memory_order_relaxed));
	}
}

char *ig_metrics_render(void)
{
	out o = {.cap = 8192};
	if (!(o.p = malloc(o.cap)))
		return NULL;
	o.p[0] = '\0';
	put_header(&o, "build_info", "Always 1; the version is in the label.", MT_GAUGE);
	put(&o, "importgate_build_info{version=\"");
	put_label_value(&o, IMPORTGATE_VERSION);
	put(&o, "\"} 1\n");
	put_registry(&o);
	put_backends(&o);
	if (o.oom) {
		free(o.p);
		return NULL;
	}
	return o.p;
}
