/*
 * inspect.h - the statement hook. Every COM_QUERY and COM_STMT_PREPARE text of the
 * command phase is handed to ig_inspect() before a byte of it is forwarded. The hook
 * answers: forward as is, forward a rewritten text, answer the client with an error,
 * or wait (the decision needs state that is read off the event loop). It also reports
 * what the session must learn from the statement's results (USE db).
 */
#ifndef IMPORTGATE_INSPECT_H
#define IMPORTGATE_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/buf.h"

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
	uint8_t cmd;              /* COM_QUERY or COM_STMT_PREPARE */
} ig_stmt_ctx;

typedef struct ig_inspect_out {
	ig_action action;
	ig_buf text;               /* IA_REWRITE: new statement text */
	uint16_t err_code;         /* IA_REJECT */
	char sqlstate[6];
	char err_msg[1024];
	char *use_db[IG_MAX_USE];  /* USE at statement index i: db set when its result is OK */
	unsigned nuse;
	bool uncertain_db;         /* the batch may change the db in ways not tracked */
} ig_inspect_out;

/* Classifies and decides. Always fills out (action IA_FORWARD at least). */
void ig_inspect(const ig_stmt_ctx *ctx, const char *sql, size_t len, ig_inspect_out *out);
/* Quick test: true when the statement needs no inspection at all (hot path). */
bool ig_inspect_quick(const char *sql, size_t len);
void ig_inspect_out_free(ig_inspect_out *out);

/* Process-wide counters of what the hook saw (metrics, tests). */
typedef struct ig_inspect_stats {
	uint64_t statements, quick, classified, imports;
} ig_inspect_stats;
void ig_inspect_stats_get(ig_inspect_stats *s);

#endif
