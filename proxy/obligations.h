/*
 * obligations.h - what must follow an import (docs/OBLIGATIONS.md):
 * a BACKUP TABLE after an import into a table covered by a log backup task whose rule says
 * snapshot-after-import, the same import on the downstream cluster for a changefeed whose
 * rule says reimport-downstream. Each obligation is a record in the store
 * (store/oblstore.h) written before the import is forwarded, carried out by the
 * obligations thread on service connections (libmariadb), exactly once across crashes and
 * gateway replicas: every step is a compare-and-swap on the record's revision, claims are
 * bound to an etcd lease kept alive by its own thread.
 */
#ifndef IMPORTGATE_OBLIGATIONS_H
#define IMPORTGATE_OBLIGATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/config.h"

/* The engine: its store, the obligations thread, its executors, its lease. One per process;
 * the sessions' calls below (create, answered, unanswered) go to the one started. */
typedef struct ig_obligations ig_obligations;

/* Main thread, after ig_audit_open: opens the store (etcd when cluster.pd is set, else
 * obligations.file), starts the obligations thread, which recovers unfinished records.
 * Keeps a reference to cfg: obligations.* changes take effect at restart. 0 and *out, or -1
 * + err when the store cannot be opened (or an engine already runs). */
int ig_obl_start(ig_obligations **out, ig_config *cfg, char *err, size_t errlen);

/* Shutdown: stops the thread (after the statement it is running), releases the lease (our
 * claims vanish, another replica takes over at once) and frees the engine. Records stay.
 * NULL is a no-op. After the last session and admin call (they would find it gone). */
void ig_obl_stop(ig_obligations *ob);

typedef struct ig_obl_spec {
	unsigned kinds;               /* IG_OBL_* of the decision */
	const char *db, *table;       /* the resolved target */
	const char *statement;        /* the import's original text (not the rewritten one) */
	size_t statement_len;         /* 0 = strlen(statement) */
	const char *user, *client, *backend;
	uint64_t conn_id;
	bool disable_precheck;        /* the original carried WITH DISABLE_PRECHECK */
	bool from_select;             /* IMPORT INTO ... FROM SELECT */
	const char *source;           /* the FROM location, decoded (sql_import.location); NULL: read
	                               * from the statement under TiDB's default lexing */
} ig_obl_spec;

/* BLOCKING (thread pool), before the import is forwarded: the record, durably (etcd put +
 * claim, or file append + fdatasync). 0 and the id (idlen >= 33), or -1 + err: the caller
 * then refuses the import. Also refuses when the configuration cannot carry the
 * obligation out (no obligations.backup_uri, no obligations.downstream.servers). */
int ig_obl_create(const ig_obl_spec *spec, char *id, size_t idlen, char *err, size_t errlen);

/* Non-blocking (event loop): TiDB answered the forwarded import. err_code != 0: an error
 * (nothing owed). Else job_id "" = IMPORT INTO ... FROM SELECT answered OK (finished);
 * status finished -> due now; pending/running -> the job is followed; failed/cancelled ->
 * nothing owed. */
void ig_obl_answered(const char *id, const char *job_id, const char *status, int err_code,
                     const char *message);
/* Non-blocking: the answer never came (client or backend went away first, or it was not
 * readable). The thread looks for the job by everything SHOW IMPORT JOBS shows of it (data
 * source, target table, creation time, creator: spec.user); when no job or several match,
 * the record becomes outcome-unknown (with a reason) for an operator. */
void ig_obl_unanswered(const char *id);

/* For the admin API: {"replica", "store", "counts": {state: n}, "records": [...]}, the
 * statement (which may hold credentials) left out. malloc'ed; NULL on OOM / not started. */
char *ig_obl_status_json(ig_obligations *ob);
/* Admin: an operator dismisses an obligation (failing, outcome-unknown, or still followed).
 * Blocking (waits for the obligations thread, bounded). 0, or -1 + err. */
int ig_obl_dismiss(ig_obligations *ob, const char *id, char *err, size_t errlen);

#endif
