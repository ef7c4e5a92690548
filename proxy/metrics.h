/*
 * metrics.h - the gateway's Prometheus metrics: a fixed registry of counters, gauges and
 * one histogram type, updated lock-free (atomics) from any thread, and rendered in the
 * Prometheus text exposition format (version 0.0.4) for the admin server's /metrics.
 *
 * Label sets are known at registration: each labelled series is its own id (e.g.
 * IG_M_IMPORTS_REJECT is importgate_imports_total{verdict="reject"}). The per-backend
 * gauge importgate_backend_up{backend="host:port"} is the one dynamic family: its series
 * are registered once at start with ig_metrics_backends_init().
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
	IG_M_IMPORTS_PASS,                 /* counter: imports{verdict="pass"} */
	IG_M_IMPORTS_ADD_DISABLE_PRECHECK, /* counter: imports{verdict="add_disable_precheck"} */
	IG_M_IMPORTS_REJECT,               /* counter: imports{verdict="reject"} */
	IG_M_IMPORTS_LOGICAL,              /* counter: imports{verdict="logical"} */
	IG_M_IMPORTS_DRY_RUN,              /* counter: imports{verdict="dry_run"} */
	IG_M_STATE_READS_OK,               /* counter: cluster_state_reads{result="ok"} */
	IG_M_STATE_READS_ERROR,            /* counter: cluster_state_reads{result="error"} */
	IG_M_STATE_READ_SECONDS,           /* histogram: cluster_state_read_seconds */
	IG_M_AUDIT_WRITES_OK,              /* counter: audit_writes{result="ok"} */
	IG_M_AUDIT_WRITES_ERROR,           /* counter: audit_writes{result="error"} */
	IG_M_AUDIT_DROPPED,                /* counter: audit records lost */
	IG_M_BYTES_CLIENT_TO_BACKEND,      /* counter: bytes_relayed{direction="client_to_backend"} */
	IG_M_BYTES_BACKEND_TO_CLIENT,      /* counter: bytes_relayed{direction="backend_to_client"} */
	IG_M_OBLIGATIONS_PENDING,          /* gauge: obligations{state="pending"} */
	IG_M_OBLIGATIONS_RUNNING,          /* gauge: obligations{state="running"} */
	IG_M_OBLIGATIONS_DONE,             /* gauge: obligations{state="done"} */
	IG_M_OBLIGATIONS_FAILED,           /* gauge: obligations{state="failed"} */
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
 * The whole registry in the Prometheus text format (version 0.0.4), NUL-terminated,
 * malloc'd (the caller frees); NULL when out of memory.
 */
char *ig_metrics_render(void);

#endif
