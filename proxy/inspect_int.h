/*
 * inspect_int.h - the inspection as its three parts see it: inspect.c (classification, the
 * imports found, what the probe must ask), decision.c (the decision and its effects) and
 * explain.c (the same decision for /api/v1/explain). Not for other modules: their
 * interface is inspect.h.
 */
#ifndef IMPORTGATE_INSPECT_INT_H
#define IMPORTGATE_INSPECT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/clusterstate.h"
#include "policy/config.h"
#include "policy/decide.h"
#include "proxy/auditev.h"
#include "proxy/inspect.h"
#include "sqlparse/sqlparse.h"

#define ER_PARSE_ERROR 1064

/* One import found in the text. */
typedef struct import_item {
	size_t stmt_index;     /* position in the batch: the index of its result */
	sql_span span;         /* the import in the text (inside any statement wrapped around it) */
	sql_span whole;        /* the whole statement in the text, as audited */
	bool via_prepare;      /* PREPARE name FROM 'text': text below is the inner statement */
	char *prepare_name;
	char *text;            /* the import statement */
	size_t len;
	unsigned flags;        /* lexical variant it was seen under */
	sql_import imp;
	bool parsed;
	char *batch_db;        /* the database of a USE earlier in the same batch, if any */
	bool db_unknown;       /* a statement before it may have changed the database unseen */
	const char *db;        /* resolved: qualified, else the batch's USE, else the session's */
	ig_decision dec;
	bool decided;
	char *new_text;        /* rewritten statement, when the verdict rewrites */
	size_t new_len;
} import_item;

struct ig_inspection {
	uint64_t conn_id;
	char *user, *host, *db, *server_version, *backend;
	bool client_tls;
	bool quiet;            /* explain: decide only; no audit, no counters, no decision log */
	uint8_t cmd;
	const ig_config *cfg;
	char *sql;
	size_t len;
	import_item *items;
	size_t nitems;
	char *use_db[IG_MAX_USE];
	unsigned nuse;
	const ig_cluster_state *state; /* a reference from the state cache */
	char state_err[512];
	/* The session's state as the server reported it (probe.h); without it, the inspection only
	 * says whether it needs it and which user variables to read. */
	ig_session_facts facts;
	bool have_facts;
	bool needs_probe;
	char *probe_vars[IG_PROBE_MAX_VARS];  /* decoded names */
	char *probe_toks[IG_PROBE_MAX_VARS];  /* the references as written (probe.h) */
	size_t probe_tok_lens[IG_PROBE_MAX_VARS];
	size_t nprobe_vars;
	bool opaque;           /* a PREPARE ... FROM @var whose text cannot be known */
	const char *opaque_why;
	bool mode_dependent;   /* the readings that stay possible disagree about a candidate */
	bool session_states;   /* SET SESSION_STATES somewhere (also in a PREPARE text or variable) */
};

/* inspect.c */
void ig_inspect_reject(ig_inspect_out *out, uint16_t code, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline const char *ig_inspect_qual(const char *db) { return db ? db : "(no database)"; }

/* Who sent the statement, as its audit events name the session. */
static inline ig_auditev_who ig_inspection_who(const ig_inspection *p)
{
	ig_auditev_who who = {.conn = p->conn_id, .user = p->user, .client = p->host, .tls = p->client_tls,
	                      .db = p->db, .backend = p->backend};
	return who;
}

#endif
