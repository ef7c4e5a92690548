/*
 * inspect.h - the statement hook. Every COM_QUERY and COM_STMT_PREPARE text of the
 * command phase is handed to it before a byte of it is forwarded. Phases:
 *   ig_inspect_begin   on the event loop (inspect.c): classify; most statements are done
 *                      here. A statement that may hold an import (or a PREPARE FROM @var)
 *                      first needs the session's state from the server:
 *                      ig_inspect_needs_probe says so; the session asks (proxy/probe.h) and
 *                      calls begin again with the facts. Decisions are made only with facts.
 *   ig_inspect_read    off the loop (libuv thread pool; decision.c): read the cluster state
 *   ig_inspect_finish  decide each import, build the text or the error; then, unless
 *                      quiet (explain), carry out the effects: metrics, log, the import
 *                      record with its obligations (proxy/importrec.h), audit. Explain
 *                      (explain.c) and the live path share every step before.
 * The answer: forward as is, forward a rewritten text, or answer the client with an
 * error. It also reports what the session must learn from the results (USE db).
 */
#ifndef IMPORTGATE_INSPECT_H
#define IMPORTGATE_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/buf.h"
#include "proxy/importrec.h"
#include "proxy/probe.h"

#define IG_MAX_USE 8 /* USE statements tracked per multi-statement batch */

typedef enum ig_action { IA_FORWARD, IA_REWRITE, IA_REJECT } ig_action;

/* What the hook knows about the session; filled by the session. */
typedef struct ig_stmt_ctx {
	uint64_t conn_id;
	const char *user;
	const char *client_host;
	const char *db;           /* current database, NULL if none */
	const char *server_version;
	bool client_tls;
	const char *backend;      /* "host:port" of the session's backend */
	bool quiet;               /* explain: no audit, no counters */
	uint8_t cmd;              /* COM_QUERY or COM_STMT_PREPARE */
	const ig_session_facts *facts; /* what the server said (probe.h); NULL: not asked yet */
} ig_stmt_ctx;

typedef struct ig_inspect_out {
	ig_action action;
	ig_buf text;               /* IA_REWRITE: new statement text */
	uint16_t err_code;         /* IA_REJECT */
	char sqlstate[6];
	char err_msg[2048];
	char *use_db[IG_MAX_USE];  /* USE at statement index i: db set when its result is OK */
	unsigned nuse;
	ig_import_rec *import;     /* the import whose answer the session reads, when it is forwarded:
	                            * its record (proxy/importrec.h), owned; NULL none */
} ig_inspect_out;

typedef struct ig_inspection ig_inspection;

/* True when the statement needs no inspection at all (the hot path). */
bool ig_inspect_quick(const char *sql, size_t len);
/* audit.log_statements: all: a "statement" event for a statement that took the quick path. */
void ig_inspect_audit_statement(const ig_stmt_ctx *ctx, const char *sql, size_t len, const char *kind);
/*
 * Classifies. Returns NULL when `out` is final; otherwise an inspection that needs the
 * cluster state: run ig_inspect_read (blocking, off the loop), then ig_inspect_finish.
 */
ig_inspection *ig_inspect_begin(const ig_stmt_ctx *ctx, const char *sql, size_t len,
                                ig_inspect_out *out);
/*
 * The inspection cannot be decided before the server has been asked about the session: true,
 * with what the probe must read besides the fixed columns (the variables of PREPARE ... FROM
 * @var; req points into the inspection). Call begin again with ctx.facts set, and free this
 * inspection.
 */
bool ig_inspect_needs_probe(const ig_inspection *inspection, ig_probe_request *req);
void ig_inspect_read(ig_inspection *inspection);
void ig_inspect_finish(ig_inspection *inspection, ig_inspect_out *out);
void ig_inspection_free(ig_inspection *inspection);
/* Frees the text, the USE list, and the import record (not handed over: it ends as
 * unanswered, proxy/importrec.h). */
void ig_inspect_out_free(ig_inspect_out *out);

/*
 * POST /api/v1/explain: the verdict a statement would get, decided against a fresh read of
 * the cluster state, with nothing run, audited or counted. body: JSON {"user", "host", "db",
 * "statement"}. Returns malloc'd JSON; *http_status 400 for a body that is not such JSON.
 * Blocking (reads the cluster state): call it off any event loop.
 */
char *ig_inspect_explain(const char *body, size_t len, int *http_status);

#endif
