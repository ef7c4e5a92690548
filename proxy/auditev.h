/*
 * auditev.h - every event of the audit log, one constructor per event of docs/AUDIT.md
 * ("Events"), in the same order. Each builds its record (redaction and bounds applied
 * inside, proxy/auditfield.h) and hands it to the writer (proxy/audit.h): durably
 * (ig_audit_write, the caller learns whether it is on disk) or queued (ig_audit_post).
 * Nothing else in the gateway shapes an audit record.
 */
#ifndef IMPORTGATE_AUDITEV_H
#define IMPORTGATE_AUDITEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "policy/clusterstate.h"
#include "policy/decide.h"
#include "policy/oblrecord.h"
#include "proxy/importresult.h"
#include "sqlparse/sqlparse.h"

/* Every event name the gateway can write, as docs/AUDIT.md lists them. */
extern const char *const ig_auditev_names[];
extern const size_t ig_auditev_nnames;

/* Who sent the statement, as the events name the session. */
typedef struct ig_auditev_who {
	uint64_t conn;          /* the gateway's connection id */
	const char *user;       /* MySQL user */
	const char *client;     /* client address */
	bool tls;               /* the client's leg uses TLS */
	const char *db;         /* current database, NULL: none */
	const char *backend;    /* "host:port" */
} ig_auditev_who;

/* One decided (or refused before a decision) import of a statement. */
typedef struct ig_auditev_decision {
	const char *table;                /* "db.tbl" as resolved */
	const char *statement;            /* as audited: the client's statement, a wrapper included,
	                                   * or the text a PREPARE prepares */
	size_t statement_len;
	const char *prepare;              /* PREPARE name, NULL: not a PREPARE */
	const sql_import *imp;            /* the parsed import: location, format, options */
	const ig_decision *dec;           /* NULL: not decided */
	const ig_cluster_state *state;    /* the state decided on, NULL: unreadable (state_error) */
	const char *state_error;
	/* The rewrite, when the forwarded text differs: the import's text (import_len bytes at
	 * import_offset of statement) and what is sent in its place. new_text NULL: none. */
	const char *import_text;
	size_t import_len, import_offset;
	const char *new_text;
	size_t new_len;
} ig_auditev_decision;

/* A MySQL error as an event carries it ("error": {"code", "message"}; message redacted). */
typedef struct ig_auditev_error {
	int code;
	const char *message;
} ig_auditev_error;

/* A running-import registration (/tidb/brie/import/, proxy/brmon.c). */
typedef struct ig_auditev_brie {
	const char *kind, *task, *key;    /* from etcd: bounded and made valid UTF-8 */
	int64_t lease;
	size_t value_bytes;
	bool seen_at_start;
} ig_auditev_brie;

/* import.decision. durable: the import is forwarded only once this returns 0 (ig_audit_write);
 * else queued (it is refused anyway). -1 + err: not written (the caller refuses the import). */
int ig_auditev_import_decision(const ig_auditev_who *who, const ig_auditev_decision *d, bool durable,
                               char *err, size_t errlen);
/* import.rejected: an import TiDB itself would refuse (an option error), answered as TiDB
 * answers. Queued. */
void ig_auditev_import_rejected(const ig_auditev_who *who, const char *sql, size_t len,
                                const ig_auditev_error *error);
/* import.result: TiDB's answer to a forwarded import (r->message already redacted or
 * withheld by the caller; IR_UNKNOWN: "status": "unreadable"). who: conn, user, client,
 * backend. Queued. */
void ig_auditev_import_result(const ig_auditev_who *who, const char *table, uint64_t latency_ms,
                              const ig_import_result *r);
/* obligation.created, .claimed, .step, .failed, .not_owed, .done, .dismissed (event is one of
 * them: policy/obllife.h names the transition). Durable; 0, or -1 + err (not written: an
 * unknown name, out of memory, or the writer's error). */
int ig_auditev_obligation(const char *event, const ig_obl_record *r, const char *step, const char *error,
                          const char *replica, char *err, size_t errlen);
/* lightning.decision: one table of a TiDB Lightning task as `importgate lightning` decided it
 * (proxy/ltn_preflight.c). Durable; 0, or -1 + err. */
typedef struct ig_auditev_ltn_table {
	const char *task;        /* the task file's path */
	const char *backend;     /* Lightning's backend: local, tidb */
	const char *user;        /* who runs it */
	const char *db, *table;  /* the target; table is "db.table" */
	const char *verdict;     /* the preflight's verdict */
	const ig_decision *dec;  /* the gateway's decision; dec->reason NULL: none was made */
	const char *reason;      /* one line */
} ig_auditev_ltn_table;
int ig_auditev_lightning_decision(const ig_auditev_ltn_table *t, char *err, size_t errlen);
/* lightning.refused, lightning.started, lightning.result: the guarded run (proxy/ltn_run.c);
 * exit_status < 0: none; message may be NULL. Durable; 0, or -1 + err. */
int ig_auditev_lightning_run(const char *event, const char *task, const char *program, size_t tables,
                             size_t obligations, int exit_status, const char *message, char *err, size_t errlen);
/* bypass.suspect: refused (error set: "verdict": "reject" and the error) or forwarded anyway
 * (error NULL: "verdict": "pass" and reason). Queued. */
void ig_auditev_bypass_suspect(const ig_auditev_who *who, const char *sql, size_t len,
                               const ig_auditev_error *error, const char *reason);
/* admin.reload: the configuration was reloaded. Queued. */
void ig_auditev_admin_reload(void);
/* admin.reload_refused: a reload was refused, the configuration unchanged. Queued. */
void ig_auditev_admin_reload_refused(const char *error);
/* statement (audit.log_statements): who without tls and backend; kind: sql_kind_name or
 * "other". Queued. */
void ig_auditev_statement(const ig_auditev_who *who, const char *sql, size_t len, const char *kind);
/* brie.import.started: pd is the endpoint that answered. Queued. */
void ig_auditev_brie_import_started(const ig_auditev_brie *b, const char *pd);
/* brie.import.ended: its key is gone. Queued. */
void ig_auditev_brie_import_ended(const ig_auditev_brie *b, int64_t duration_ms, bool conflicted);
/* brie.import.conflict: conflict holds every_table, log_backup_tasks, changefeeds (copied);
 * message the log line's text. Queued. */
void ig_auditev_brie_import_conflict(const ig_auditev_brie *b, const json_t *conflict, const char *message);
/* brie.import.unguarded: a Lightning registration no guarded run bound (policy/ltnguard.h);
 * tasks/changefeeds: how many exist (-1: the cluster state could not be read). Queued. */
void ig_auditev_brie_import_unguarded(const ig_auditev_brie *b, int64_t tasks, int64_t changefeeds,
                                      const char *message);

#endif
