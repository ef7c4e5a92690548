/*
 * metrics.h - the gateway's Prometheus metrics: a fixed registry of counters, gauges and
 * one histogram type, updated lock-free (atomics) from any thread, and rendered in the
 * Prometheus text exposition format (version 0.0.4) for the admin server's /metrics.
 *
 * Label sets are known at registration: each labelled series is its own id (e.g.
 * IG_M_TIMEOUTS_IDLE is importgate_timeouts_total{timeout="idle"}). Two kinds of families
 * are dynamic: the per-backend ones ({backend="host:port"}, registered at start with
 * ig_metrics_backends_init()) and importgate_imports_total{mode, verdict, rule}, whose rule
 * names come from the configuration (bounded: IG_METRICS_MAX_IMPORT_SERIES).
 * Histograms are sharded per thread, so that the workers' observations (one per query)
 * never contend for a cache line; a render sums the shards. The process_* families
 * (proxy/procstat.h) are read at render time.
 */
#ifndef IMPORTGATE_METRICS_H
#define IMPORTGATE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ig_metric_id {
	IG_M_CONNECTIONS_TOTAL,            /* counter: client connections accepted */
	IG_M_CONNECTIONS_ACTIVE,           /* gauge: client connections open */
	IG_M_STATEMENTS_QUICK,             /* counter: statements{class="quick"} (hot path) */
	IG_M_STATEMENTS_INSPECTED,         /* counter: statements{class="inspected"} */
	IG_M_PROBES,                       /* counter: session_probes{result="sent"} (proxy/probe.h) */
	IG_M_PROBE_FAILURES,               /* counter: session_probes{result="failed"} */
	IG_M_STATE_READS_OK,               /* counter: cluster_state_reads{result="ok"} */
	IG_M_STATE_READS_ERROR,            /* counter: cluster_state_reads{result="error"} */
	IG_M_STATE_READ_SECONDS,           /* histogram: cluster_state_read_seconds */
	IG_M_STATE_AGE,                    /* age: cluster_state_age_seconds (ig_metric_stamp on a good read) */
	IG_M_DECISION_SECONDS,             /* histogram: decision_seconds (an IMPORT INTO held for its decision) */
	IG_M_HANDSHAKE_SECONDS,            /* histogram: handshake_seconds (accept to the command phase) */
	IG_M_QUERY_SECONDS_QUERY,          /* histogram: query_duration_seconds{command="query"} */
	IG_M_QUERY_SECONDS_STMT_PREPARE,   /* histogram: query_duration_seconds{command="stmt_prepare"} */
	IG_M_QUERY_SECONDS_STMT_EXECUTE,   /* histogram: query_duration_seconds{command="stmt_execute"} */
	IG_M_QUERY_SECONDS_OTHER,          /* histogram: query_duration_seconds{command="other"} */
	IG_M_ERRORS_1040,                  /* counter: error_answers{code="1040"} (too many connections) */
	IG_M_ERRORS_2013,                  /* counter: error_answers{code="2013"} (lost the backend) */
	IG_M_ERRORS_OTHER,                 /* counter: error_answers{code="other"} */
	IG_M_TIMEOUTS_BACKEND_CONNECT,     /* counter: timeouts{timeout="backend_connect"} */
	IG_M_TIMEOUTS_HANDSHAKE,           /* counter: timeouts{timeout="handshake"} */
	IG_M_TIMEOUTS_RESPONSE,            /* counter: timeouts{timeout="response"} */
	IG_M_TIMEOUTS_IDLE,                /* counter: timeouts{timeout="idle"} */
	IG_M_TIMEOUTS_CLIENT_WRITE,        /* counter: timeouts{timeout="client_write"} */
	IG_M_TIMEOUTS_PROBE,               /* counter: timeouts{timeout="probe"} */
	IG_M_AUDIT_WRITES_OK,              /* counter: audit_writes{result="ok"} */
	IG_M_AUDIT_WRITES_ERROR,           /* counter: audit_writes{result="error"} */
	IG_M_AUDIT_DROPPED,                /* counter: audit records lost */
	IG_M_BYTES_CLIENT_TO_BACKEND,      /* counter: bytes_relayed{direction="client_to_backend"} */
	IG_M_BYTES_BACKEND_TO_CLIENT,      /* counter: bytes_relayed{direction="backend_to_client"} */
	IG_M_OBLIGATIONS_PENDING,          /* gauge: obligations{state="pending"} (store-wide) */
	IG_M_OBLIGATIONS_RUNNING,          /* gauge: obligations{state="running"} */
	IG_M_OBLIGATIONS_DONE,             /* gauge: obligations{state="done"} */
	IG_M_OBLIGATIONS_FAILED,           /* gauge: obligations{state="failed"} */
	IG_M_OBLIGATIONS_OLDEST,           /* age: obligations_oldest_unfinished_age_seconds (stamp = creation) */
	IG_M_CONFIG_RELOADS_OK,            /* counter: config_reloads{result="ok"} */
	IG_M_CONFIG_RELOADS_ERROR,         /* counter: config_reloads{result="error"} */
	IG_M_AUDIT_ROTATIONS,              /* counter: audit_rotations (audit.max_file_bytes reached) */
	IG_M_AUDIT_BYTES,                  /* counter: audit_bytes_written (bytes appended to the audit log) */
	IG_M_BRIE_RESTORE,                 /* gauge: brie_imports_running{kind="restore"} (proxy/brmon.c) */
	IG_M_BRIE_LIGHTNING,               /* gauge: brie_imports_running{kind="lightning"} */
	IG_M_BRIE_IMPORT_INTO,             /* gauge: brie_imports_running{kind="import-into"} */
	IG_M_BRIE_OTHER,                   /* gauge: brie_imports_running{kind="other"} */
	IG_M_BRIE_CONFLICTS,               /* gauge: running imports a log backup task or changefeed may cover */
	IG_M_BRIE_CONFLICT_EVENTS,         /* counter: brie.import.conflict events */
	IG_M_BRIE_READS_OK,                /* counter: brie_registration_reads{result="ok"} */
	IG_M_BRIE_READS_ERROR,             /* counter: brie_registration_reads{result="error"} */
	IG_M_BRIE_UNGUARDED_EVENTS,        /* counter: brie.import.unguarded events (Lightning not run guarded) */
	IG_M__COUNT
} ig_metric_id;

/* Counters and gauges: add to the value (a counter's n must be what happened, never undone). */
void ig_metric_inc(ig_metric_id id);
void ig_metric_add(ig_metric_id id, uint64_t n);
/* Gauges only: set, or move by a signed delta (connections_active: +1 on accept, -1 on close). */
void ig_metric_gauge_set(ig_metric_id id, int64_t v);
void ig_metric_gauge_add(ig_metric_id id, int64_t delta);
/* Histograms only: one observation, in seconds (negative values count as 0). */
void ig_metric_observe_seconds(ig_metric_id id, double s);
/* The same in nanoseconds, for the hot path (no floating point). */
void ig_metric_observe_ns(ig_metric_id id, uint64_t ns);
/* Age gauges only: the moment (Unix time, ms) the age counts from; 0 = none (the age then
 * reads 0 for the obligations, time since the process started for the cluster state). */
void ig_metric_stamp(ig_metric_id id, int64_t unix_ms);
void ig_metric_stamp_now(ig_metric_id id);
/* Current value of a counter or gauge (tests, status); 0 for a histogram or a bad id. */
int64_t ig_metric_value(ig_metric_id id);

/*
 * Registers the backend_up series, one per backend, all 0 (down) until set. Call once at
 * start, before the admin server starts; a second call is refused. -1 + message on failure.
 */
int ig_metrics_backends_init(const char *const *addrs, size_t n, char *err, size_t errlen);
/* Sets backend_up for backend number idx (the order given to ig_metrics_backends_init). */
void ig_metric_backend_up(size_t idx, bool up);
/* Frees the backend series (at exit, after the admin server stopped). */
void ig_metrics_backends_free(void);
/* A reload changed the backends: new series (all 0 until set); the old kept until exit. */
int ig_metrics_backends_replace(const char *const *addrs, size_t n, char *err, size_t errlen);
/* Sets backend_up for the backend shown as addr ("name:port"), if it is in the series. */
void ig_metric_backend_up_addr(const char *addr, bool up);

/*
 * importgate_imports_total{mode, verdict, rule}: one import decided. mode "enforce" or
 * "dry-run" (in dry-run the verdict is the one that would have applied); verdict as in the
 * audit log ("pass", "add-disable-precheck", "reject", "logical"); rule a configured rule's
 * name, IG_METRIC_RULE_DEFAULTS or IG_METRIC_RULE_NONE. Past IG_METRICS_MAX_IMPORT_SERIES
 * distinct series (rules renamed by many reloads) new ones count under rule="(other)".
 * Takes a mutex: imports are rare, never the hot path.
 */
#define IG_METRIC_RULE_DEFAULTS "(defaults)" /* no rule matched: policy.defaults decided */
#define IG_METRIC_RULE_NONE "(none)"         /* refused before any decision */
#define IG_METRICS_MAX_IMPORT_SERIES 1024
void ig_metric_import(const char *mode, const char *verdict, const char *rule);
/* Current value of one importgate_imports_total series (tests); 0 when absent. */
uint64_t ig_metric_import_value(const char *mode, const char *verdict, const char *rule);

/* importgate_backend_connect_failures_total{backend}: a connect to addr failed or timed out. */
void ig_metric_backend_connect_failed(const char *addr);
/* importgate_backend_connections{backend}: set before a render (ig_metrics_on_render). */
void ig_metric_backend_connections_addr(const char *addr, int64_t n);
/* A function run at the start of every render (admin thread) to refresh gauges whose truth
 * lives elsewhere (connections per backend); NULL for none. Set once at start. */
void ig_metrics_on_render(void (*fn)(void));

/*
 * The whole registry in the Prometheus text format (version 0.0.4), NUL-terminated,
 * malloc'd (the caller frees); NULL when out of memory.
 */
char *ig_metrics_render(void);

#endif
