/*
 * inspect.c - the statement hook (see inspect.h). sqlparse classifies and parses; the
 * session learns what it must track (USE); every IMPORT INTO, in whatever form it came
 * (plain, in a batch, in PREPARE ... FROM 'text', as COM_STMT_PREPARE), is decided by
 * policy/decide against a fresh read of the cluster state, then forwarded, rewritten or
 * refused. A batch with one refused import is refused whole: nothing of it is sent.
 */
#include "proxy/inspect.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "policy/clusterstate.h"
#include "policy/decide.h"
#include "pd/statecache.h"
#include "policy/version.h"
#include "proxy/audit.h"
#include "proxy/obligations.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/mysql_proto.h"
#include "proxy/runtime.h"
#include "sqlparse/logical.h"
#include "sqlparse/shape.h"
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
	/* The session's state as the server reported it (probe.h); without it, the plan only
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

bool ig_inspect_quick(const char *sql, size_t len)
{
	return sql_quick_reject(sql, len) != 0;
}

void ig_inspect_out_free(ig_inspect_out *out)
{
	ig_buf_reset(&out->text);
	for (unsigned i = 0; i < out->nuse; i++)
		free(out->use_db[i]);
	out->nuse = 0;
}

static void reject(ig_inspect_out *out, uint16_t code, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reject(ig_inspect_out *out, uint16_t code, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;
	out->action = IA_REJECT;
	out->err_code = code;
	snprintf(out->sqlstate, sizeof(out->sqlstate), "%s", sqlstate);
	va_start(ap, fmt);
	vsnprintf(out->err_msg, sizeof(out->err_msg), fmt, ap);
	va_end(ap);
}

static void free_items(ig_inspection *p)
{
	for (size_t i = 0; i < p->nitems; i++) {
		import_item *it = &p->items[i];
		if (it->parsed)
			sql_import_free(&it->imp);
		if (it->decided)
			ig_decision_free(&it->dec);
		free(it->prepare_name);
		free(it->batch_db);
		free(it->text);
		free(it->new_text);
	}
	free(p->items);
	p->items = NULL;
	p->nitems = 0;
	for (unsigned i = 0; i < p->nuse; i++)
		free(p->use_db[i]);
	memset(p->use_db, 0, sizeof(p->use_db));
	p->nuse = 0;
}

void ig_inspection_free(ig_inspection *p)
{
	if (!p)
		return;
	free_items(p);
	ig_state_release(p->state);
	ig_cfg_release((ig_config *)p->cfg);
	ig_session_facts_free(&p->facts);
	for (size_t i = 0; i < p->nprobe_vars; i++) {
		free(p->probe_vars[i]);
		free(p->probe_toks[i]);
	}
	free(p->user);
	free(p->host);
	free(p->db);
	free(p->server_version);
	free(p->backend);
	free(p->sql);
	free(p);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static ig_inspection *plan_new(const ig_stmt_ctx *ctx, const char *sql, size_t len)
{
	ig_inspection *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->conn_id = ctx->conn_id;
	p->cmd = ctx->cmd;
	p->cfg = ig_cfg_acquire();
	if (ctx->facts) {
		/* Decisions use what the server said, never what the session tracked. */
		if (ig_session_facts_copy(&p->facts, ctx->facts) < 0) {
			ig_inspection_free(p);
			return NULL;
		}
		p->have_facts = true;
	}
	const char *user = p->have_facts && p->facts.user ? p->facts.user : ctx->user;
	const char *db = p->have_facts ? p->facts.db : ctx->db;
	p->user = dup_or_null(user);
	p->host = dup_or_null(ctx->client_host);
	p->db = dup_or_null(db);
	p->server_version = dup_or_null(ctx->server_version);
	p->backend = dup_or_null(ctx->backend ? ctx->backend : "");
	p->client_tls = ctx->client_tls;
	p->quiet = ctx->quiet;
	p->sql = malloc(len + 1);
	if (!p->user || !p->host || (db && !p->db) || !p->server_version || !p->backend || !p->sql) {
		ig_inspection_free(p);
		return NULL;
	}
	memcpy(p->sql, sql, len);
	p->sql[len] = '\0';
	p->len = len;
	return p;
}

static int add_item(ig_inspection *p, const sql_stmt *st, size_t index, bool via_prepare,
                    const char *batch_db)
{
	import_item *items = realloc(p->items, (p->nitems + 1) * sizeof(*items));
	if (!items)
		return -1;
	p->items = items;
	import_item *it = &items[p->nitems];
	memset(it, 0, sizeof(*it));
	it->stmt_index = index;
	if (batch_db && !(it->batch_db = strdup(batch_db)))
		return -1;
	/* Only the import is parsed and rewritten; a statement wrapped around it (EXPLAIN
	 * ANALYZE, TRACE, PLAN REPLAYER DUMP, ...) stays byte for byte. */
	it->span = via_prepare ? st->span : st->import_span;
	it->whole = st->span;
	it->via_prepare = via_prepare;
	it->flags = via_prepare ? st->flags : st->import_flags;
	if (via_prepare) {
		it->text = malloc(st->prepare_text_len + 1);
		it->prepare_name = dup_or_null(st->prepare_name);
		if (!it->text || (st->prepare_name && !it->prepare_name))
			goto fail;
		memcpy(it->text, st->prepare_text, st->prepare_text_len);
		it->len = st->prepare_text_len;
		/* The inner text of PREPARE ... FROM 'text' is lexed from its start, whatever the
		 * outer statement's variant (a variable's value comes with its own reading). */
		if (st->kind == SQL_PREPARE_TEXT)
			it->flags &= SQL_F_NO_BACKSLASH_ESCAPES | SQL_F_ANSI_QUOTES;
	} else {
		it->text = malloc(it->span.len + 1);
		if (!it->text)
			goto fail;
		memcpy(it->text, p->sql + it->span.off, it->span.len);
		it->len = it->span.len;
	}
	it->text[it->len] = '\0';
	p->nitems++;
	return 0;
fail:
	free(it->text);
	free(it->prepare_name);
	free(it->batch_db);
	return -1;
}

static void count_reject(const ig_inspection *p)
{
	if (!p->quiet)
		ig_metric_inc(IG_M_IMPORTS_REJECT);
}

static const char *qual(const char *db) { return db ? db : "(no database)"; }

/* ---- audit events (formats in docs/AUDIT.md) ---- */

/* An event with who sent what: connection, user, client, TLS, database, backend. */
static json_t *audit_base(const ig_inspection *p, const char *event)
{
	json_t *ev = ig_audit_event(event);
	if (!ev)
		return NULL;
	json_object_set_new(ev, "conn", json_integer((json_int_t)p->conn_id));
	ig_audit_set_string(ev, "user", p->user, strlen(p->user));
	ig_audit_set_string(ev, "client", p->host, strlen(p->host));
	json_object_set_new(ev, "tls", json_boolean(p->client_tls));
	json_object_set_new(ev, "db", p->db ? json_string(p->db) : json_null());
	ig_audit_set_string(ev, "backend", p->backend, strlen(p->backend));
	return ev;
}

/* An import refused before any decision (unparsable, TiDB option error, opaque, ...). */
static void audit_refused(const ig_inspection *p, const char *event, const ig_inspect_out *out)
{
	if (p->quiet)
		return;
	json_t *ev = audit_base(p, event);
	if (!ev)
		return;
	ig_audit_set_statement(ev, p->sql, p->len);
	json_object_set_new(ev, "verdict", json_string("reject"));
	ig_audit_set_error(ev, out->err_code, out->err_msg);
	ig_audit_post(ev);
}

static json_t *string_array(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *decision_event(const ig_inspection *p, const import_item *it)
{
	json_t *ev = audit_base(p, "import.decision");
	char target[520];
	if (!ev)
		return NULL;
	snprintf(target, sizeof(target), "%s.%s", it->db ? it->db : "", it->imp.table);
	ig_audit_set_string(ev, "table", target, strlen(target));
	if (it->via_prepare) /* the text that will be prepared */
		ig_audit_set_statement(ev, it->text, it->len);
	else /* the statement as the client sent it, wrapper included */
		ig_audit_set_statement(ev, p->sql + it->whole.off, it->whole.len);
	if (it->via_prepare && it->prepare_name)
		ig_audit_set_string(ev, "prepare", it->prepare_name, strlen(it->prepare_name));
	if (it->imp.src == SQL_SRC_FILE && it->imp.location)
		ig_audit_set_location(ev, "location", it->imp.location);
	if (it->imp.format)
		ig_audit_set_string(ev, "format", it->imp.format, strlen(it->imp.format));
	for (size_t i = 0; i < it->imp.nopts; i++) {
		const sql_import_opt *o = &it->imp.opts[i];
		ig_audit_set_option(ev, o->name, o->value, o->value ? strlen(o->value) : 0);
	}
	if (it->decided) {
		json_object_set_new(ev, "verdict", json_string(ig_verdict_name(it->dec.verdict)));
		json_object_set_new(ev, "dry_run", json_boolean(it->dec.dry_run));
		json_object_set_new(ev, "rule", it->dec.rule ? json_string(it->dec.rule->name) : json_null());
		json_object_set_new(ev, "tasks", string_array(it->dec.tasks, it->dec.ntasks));
		json_object_set_new(ev, "changefeeds", string_array(it->dec.changefeeds, it->dec.nchangefeeds));
		json_t *obl = json_array();
		if (obl && (it->dec.obligations & IG_OBL_SNAPSHOT_AFTER_IMPORT))
			json_array_append_new(obl, json_string("snapshot-after-import"));
		if (obl && (it->dec.obligations & IG_OBL_REIMPORT_DOWNSTREAM))
			json_array_append_new(obl, json_string("reimport-downstream"));
		json_object_set_new(ev, "obligations", obl);
		if (it->dec.reason)
			ig_audit_set_string(ev, "reason", it->dec.reason, strlen(it->dec.reason));
		if (it->dec.verdict == IG_VERDICT_REJECT && it->dec.message)
			ig_audit_set_error(ev, (int)it->dec.err_code, it->dec.message);
	}
	json_t *cs = json_object();
	if (cs) {
		if (p->state) {
			json_object_set_new(cs, "source", json_string(p->state->source ? p->state->source : ""));
			json_object_set_new(cs, "revision", json_integer(p->state->revision));
			json_object_set_new(cs, "tasks", json_integer((json_int_t)p->state->ntasks));
			json_object_set_new(cs, "changefeeds", json_integer((json_int_t)p->state->ncfs));
		} else {
			ig_audit_set_string(cs, "error", p->state_err, strlen(p->state_err));
		}
		json_object_set_new(ev, "cluster_state", cs);
	}
	return ev;
}

/*
 * Records every decision of the statement. When imports are about to be forwarded the
 * records must be on disk first: if they cannot be written, nothing is sent.
 */
static void audit_decisions(ig_inspection *p, ig_inspect_out *out)
{
	char err[256];
	bool gating = out->action != IA_REJECT;
	for (size_t i = 0; i < p->nitems; i++) {
		import_item *it = &p->items[i];
		json_t *ev = decision_event(p, it);
		if (ev && it->new_text && /* the edit, not a second copy of the statement */
		    ig_audit_set_rewrite(ev, it->text, it->len, it->new_text, it->new_len) == 0 && !it->via_prepare) {
			/* offsets in the audited statement, which starts before a wrapped import */
			json_t *rw = json_object_get(ev, "rewrite");
			json_t *off = rw ? json_object_get(rw, "offset") : NULL;
			size_t delta = it->span.off - it->whole.off;
			if (off)
				json_integer_set(off, json_integer_value(off) + (json_int_t)delta);
			if (rw)
				json_object_set_new(rw, "new_bytes", json_integer((json_int_t)it->whole.len - (json_int_t)it->len + (json_int_t)it->new_len));
		}
		if (!gating) {
			ig_audit_post(ev);
			continue;
		}
		if (ig_audit_write(ev, err, sizeof(err)) < 0) {
			LOG_ERROR(p->conn_id, "audit: %s: the import is refused", err);
			reject(out, ER_UNKNOWN_ERROR, "HY000",
			       "importgate: the audit record could not be written (%s), so the import was "
			       "not sent; ask the DBA to check the audit log (audit.path)", err);
			ig_buf_reset(&out->text);
			gating = false;
		}
	}
}

void ig_inspect_audit_statement(const ig_stmt_ctx *ctx, const char *sql, size_t len, const char *kind)
{
	json_t *ev = ig_audit_event("statement");
	if (!ev)
		return;
	json_object_set_new(ev, "conn", json_integer((json_int_t)ctx->conn_id));
	ig_audit_set_string(ev, "user", ctx->user, strlen(ctx->user));
	ig_audit_set_string(ev, "client", ctx->client_host, strlen(ctx->client_host));
	json_object_set_new(ev, "db", ctx->db ? json_string(ctx->db) : json_null());
	json_object_set_new(ev, "kind", json_string(kind));
	ig_audit_set_statement(ev, sql, len);
	ig_audit_post(ev);
}

/*
 * TiDB looks schema and table names up by their Go strings.ToLower form, and BR's and
 * TiCDC's filters match that way too; Go lower-cases two non-ASCII letters to ASCII: U+0130
 * (dotted capital I) to 'i' and U+212A (Kelvin sign) to 'k', which a Unicode caseless match
 * does not equate with 'i' and 'k'. So `İnventory` is decided as `inventory`, as TiDB loads
 * it (found by the second adversarial round). In place: the text only gets shorter.
 */
static void go_ascii_fold(char *s)
{
	char *w = s;
	for (const char *r = s; s && *r;) {
		if ((unsigned char)r[0] == 0xc4 && (unsigned char)r[1] == 0xb0) {
			*w++ = 'i';
			r += 2;
		} else if ((unsigned char)r[0] == 0xe2 && (unsigned char)r[1] == 0x84 && (unsigned char)r[2] == 0xaa) {
			*w++ = 'k';
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	if (s)
		*w = '\0';
}

static bool has_high_byte(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* Parses every import; a statement the gateway cannot read is not forwarded. */
static bool parse_items(ig_inspection *p, ig_inspect_out *out)
{
	char err[256];
	go_ascii_fold(p->db);
	for (size_t i = 0; i < p->nitems; i++) {
		import_item *it = &p->items[i];
		if (sql_import_parse(it->text, it->len, it->flags, &it->imp, err, sizeof(err)) < 0) {
			reject(out, ER_PARSE_ERROR, "42000",
			       "importgate: this IMPORT INTO cannot be parsed (%s); it was not sent to TiDB", err);
			LOG_WARN(p->conn_id, "bypass.suspect: unparsable IMPORT INTO from '%s'@%s: %s", p->user,
			         p->host, err);
			audit_refused(p, "bypass.suspect", out);
			return false;
		}
		it->parsed = true;
		if (it->imp.tidb_errcode) {
			/* TiDB would refuse it with this error; answer as TiDB does. */
			reject(out, (uint16_t)it->imp.tidb_errcode, "HY000", "%s", it->imp.tidb_errmsg);
			audit_refused(p, "import.rejected", out);
			return false;
		}
		/* A USE earlier in the batch decides, as it will on the server: a USE that fails
		 * ends the batch there, so the import after it never runs. */
		it->db = it->imp.db ? it->imp.db : it->batch_db ? it->batch_db : p->db;
		if (p->have_facts && !ig_charset_is_utf8(p->facts.charset) &&
		    (has_high_byte(it->imp.db) || has_high_byte(it->imp.table) || (!it->imp.db && has_high_byte(it->batch_db)))) {
			/* The server decodes names from the client's character set; the rules and the
			 * cluster state name tables in UTF-8. */
			reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
			       "PreCheck failed: importgate: the IMPORT INTO names a database or table with "
			       "non-ASCII characters while the client's character set is %s; the gateway matches "
			       "names in UTF-8: use SET NAMES utf8mb4 for the import", p->facts.charset);
			audit_refused(p, "bypass.suspect", out);
			return false;
		}
		/* Names in UTF-8 from here on (checked just above): as TiDB folds them. */
		go_ascii_fold(it->imp.db);
		go_ascii_fold(it->imp.table);
		go_ascii_fold(it->batch_db);
		if (!it->imp.db && it->db_unknown) {
			reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
			       "PreCheck failed: importgate: the IMPORT INTO into %s has no database name and "
			       "follows, in the same batch, a statement that may change the current database "
			       "where the gateway cannot see it (EXECUTE, CALL, SET SESSION_STATES); name the "
			       "database (IMPORT INTO db.%s) or send the import as a statement of its own",
			       it->imp.table, it->imp.table);
			audit_refused(p, "bypass.suspect", out);
			return false;
		}
	}
	return true;
}

/* The lexical reading to classify under: the server's own when it said, else every reading. */
static unsigned classify_flags(const ig_inspection *p)
{
	if (!p->have_facts)
		return 0;
	return p->facts.lex_flags | (p->facts.charset_known ? SQL_F_EXACT_MODES : 0);
}

static int note_probe_var(ig_inspection *p, const char *name, const char *tok, size_t tok_len)
{
	for (size_t i = 0; i < p->nprobe_vars; i++)
		if (strcmp(p->probe_vars[i], name) == 0)
			return 0;
	if (p->nprobe_vars == IG_PROBE_MAX_VARS)
		return 1; /* more than one probe reads: treat the rest as opaque */
	size_t i = p->nprobe_vars;
	p->probe_vars[i] = strdup(name);
	p->probe_toks[i] = strndup(tok, tok_len);
	p->probe_tok_lens[i] = tok_len;
	p->nprobe_vars++;
	return p->probe_vars[i] && p->probe_toks[i] ? 0 : -1;
}

static const ig_probe_var *fact_var(const ig_inspection *p, const char *name)
{
	for (size_t i = 0; i < p->facts.nvars; i++)
		if (p->facts.vars[i].name && strcmp(p->facts.vars[i].name, name) == 0)
			return &p->facts.vars[i];
	return NULL;
}

static void set_opaque(ig_inspection *p, const char *why)
{
	if (!p->opaque)
		p->opaque_why = why;
	p->opaque = true;
}

/*
 * The text a PREPARE ... FROM @var would prepare, as the server holds it: its imports become
 * items, as for PREPARE ... FROM 'text'. The value is classified under every reading that
 * stays possible (the variable's bytes were converted when it was set).
 */
static int prepared_from_value(ig_inspection *p, const ig_probe_var *v, const sql_stmt *outer, size_t index,
                               const char *batch_db)
{
	sql_batch in;
	char err[256];
	if (!v->value)
		return 0; /* NULL: the server prepares the text "NULL", a syntax error */
	if (sql_classify(v->value, v->len, p->facts.lex_flags & (SQL_F_NO_BACKSLASH_ESCAPES | SQL_F_ANSI_QUOTES),
	                 &in, err, sizeof(err)) < 0)
		return -1;
	int rc = 0;
	if (in.mode_dependent)
		p->mode_dependent = true;
	if (sql_mentions_session_states(v->value, v->len))
		p->session_states = true;
	for (size_t j = 0; j < in.n && rc == 0; j++) {
		const sql_stmt *st = &in.stmts[j];
		if (st->kind == SQL_PREPARE_TEXT || st->kind == SQL_PREPARE_VAR)
			set_opaque(p, "the variable holds a PREPARE");
		if (st->kind != SQL_IMPORT_INTO)
			continue;
		sql_stmt as_prepare = *outer;
		as_prepare.prepare_text = v->value + st->import_span.off;
		as_prepare.prepare_text_len = st->import_span.len;
		as_prepare.flags = st->import_flags;
		rc = add_item(p, &as_prepare, index, true, batch_db);
	}
	sql_batch_free(&in);
	return rc;
}

/* PREPARE name FROM @var: ask for the variable (no facts yet) or read its value (facts). */
static int prepare_var(ig_inspection *p, const sql_stmt *st, size_t index, const char *batch_db)
{
	char *name = NULL;
	size_t tok_off = 0, tok_len = 0;
	int rc = sql_prepare_var_name(p->sql + st->span.off, st->span.len, st->flags, &name, &tok_off, &tok_len);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		set_opaque(p, "the PREPARE does not name a single user variable");
		return 0;
	}
	if (!p->have_facts) {
		rc = note_probe_var(p, name, p->sql + st->span.off + tok_off, tok_len);
		if (rc > 0)
			set_opaque(p, "too many user variables in one statement");
		free(name);
		return rc < 0 ? -1 : 0;
	}
	/* The probe ran before the batch: a statement before this one may have set the variable. */
	const ig_probe_var *v = index == 0 ? fact_var(p, name) : NULL;
	free(name);
	if (!v) {
		set_opaque(p, index == 0 ? "the variable's value could not be read"
		                         : "another statement of the same batch runs before it and may set the variable");
		return 0;
	}
	if (v->too_long) {
		set_opaque(p, "the variable's value is longer than the gateway reads (1 MiB)");
		return 0;
	}
	/* The probe reads the value's own bytes; TiDB prepares it as UTF-8 and MySQL-family
	 * servers convert it to the connection's character set: only where all of them are
	 * UTF-8 (or ASCII/binary) are those the same text. */
	if (v->value && (!ig_charset_is_utf8(p->facts.charset) || !ig_charset_is_utf8(p->facts.conn_charset) ||
	                 !(ig_charset_is_utf8(v->charset) || (v->charset && (strcasecmp(v->charset, "ascii") == 0 ||
	                                                                     strcasecmp(v->charset, "binary") == 0))))) {
		set_opaque(p, "the variable or the session uses a character set other than UTF-8, so the text the "
		              "server prepares cannot be known byte for byte");
		return 0;
	}
	return prepared_from_value(p, v, st, index, batch_db);
}

/* audit.log_statements: the statements of a batch that needed no probe (or had one). */
static void audit_statements(const ig_inspection *p, const ig_stmt_ctx *ctx, const sql_batch *b)
{
	if (ctx->quiet)
		return;
	for (size_t i = 0; i < b->n; i++) {
		const sql_stmt *st = &b->stmts[i];
		bool bulk = st->kind == SQL_LOAD_DATA || st->kind == SQL_BACKUP || st->kind == SQL_RESTORE ||
		            st->kind == SQL_SHOW_IMPORT_JOB || st->kind == SQL_CANCEL_IMPORT_JOB;
		bool other = st->kind != SQL_IMPORT_INTO && st->kind != SQL_PREPARE_TEXT && st->kind != SQL_PREPARE_VAR &&
		             st->kind != SQL_USE && !bulk;
		if ((bulk && p->cfg->audit.log_statements >= IG_LOGSTMT_BULK) ||
		    (other && p->cfg->audit.log_statements == IG_LOGSTMT_ALL))
			ig_inspect_audit_statement(ctx, p->sql + st->span.off, st->span.len, sql_kind_name(st->kind));
	}
}

/* Walks the batch: USE targets, imports (plain and prepared), PREPARE ... FROM @var. */
static bool collect(ig_inspection *p, const sql_batch *b)
{
	const char *batch_db = NULL;
	bool db_unseen = false; /* a statement after the last USE may have changed the database unseen */
	for (size_t i = 0; i < b->n; i++) {
		const sql_stmt *st = &b->stmts[i];
		size_t first_item = p->nitems;
		LOG_DEBUG(p->conn_id, "inspect: statement %zu/%zu: %s", i + 1, b->n, sql_kind_name(st->kind));
		switch (st->kind) {
		case SQL_USE:
			if (st->use_db) {
				batch_db = st->use_db;
				db_unseen = false;
			}
			if (i < IG_MAX_USE && st->use_db) {
				if (!(p->use_db[i] = strdup(st->use_db)))
					return false;
				if (i + 1 > p->nuse)
					p->nuse = (unsigned)i + 1;
			}
			break;
		case SQL_IMPORT_INTO:
			if (add_item(p, st, i, false, batch_db) < 0)
				return false;
			break;
		case SQL_PREPARE_TEXT:
			if (st->prepare_inner == SQL_IMPORT_INTO && add_item(p, st, i, true, batch_db) < 0)
				return false;
			if (sql_mentions_session_states(st->prepare_text, st->prepare_text_len))
				p->session_states = true;
			if (st->prepare_inner == SQL_PREPARE_VAR)
				set_opaque(p, "a PREPARE ... FROM @var inside a PREPARE text runs later, with a value unknown now");
			break;
		case SQL_PREPARE_VAR:
			if (prepare_var(p, st, i, batch_db) < 0)
				return false;
			break;
		default:
			break;
		}
		for (size_t k = first_item; k < p->nitems; k++)
			p->items[k].db_unknown = db_unseen;
		/* EXECUTE, CALL, SET SESSION_STATES: the database after them is known neither from
		 * the probe nor from a USE before them (EXECUTE may run a prepared USE). Their effect
		 * on sql_mode and the character set is the classifier's: under SQL_F_EXACT_MODES it
		 * reads every later statement under every reading. */
		bool plain = st->kind != SQL_IMPORT_INTO && st->kind != SQL_PREPARE_TEXT && st->kind != SQL_PREPARE_VAR &&
		             st->kind != SQL_USE;
		if (plain && sql_may_change_session_unseen(p->sql + st->span.off, st->span.len, st->flags)) {
			if (sql_mentions_session_states(p->sql + st->span.off, st->span.len))
				p->session_states = true;
			db_unseen = true;
			batch_db = NULL;
		}
	}
	return true;
}

static void refuse_opaque(ig_inspection *p, ig_inspect_out *out)
{
	reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
	       "PreCheck failed: importgate: the text of this PREPARE ... FROM @variable cannot be known "
	       "before it runs (%s) and policy.opaque_prepare is reject; send the PREPARE as a statement "
	       "of its own, or use PREPARE ... FROM 'statement text'", p->opaque_why);
	count_reject(p);
	audit_refused(p, "bypass.suspect", out);
}

static void note_opaque_allowed(const ig_inspection *p)
{
	if (p->quiet)
		return;
	LOG_WARN(p->conn_id, "bypass.suspect: PREPARE ... FROM @variable from '%s'@%s: %s; forwarded "
	         "(policy.opaque_prepare: allow)", p->user, p->host, p->opaque_why);
	json_t *ev = audit_base(p, "bypass.suspect");
	if (ev) {
		ig_audit_set_statement(ev, p->sql, p->len);
		json_object_set_new(ev, "verdict", json_string("pass"));
		json_object_set_new(ev, "reason", json_string(p->opaque_why));
		ig_audit_post(ev);
	}
}

ig_inspection *ig_inspect_begin(const ig_stmt_ctx *ctx, const char *sql, size_t len,
                                ig_inspect_out *out)
{
	sql_batch b;
	char err[256];
	memset(out, 0, sizeof(*out));
	out->action = IA_FORWARD;
	out->import_index = -1;
	ig_inspection *p = plan_new(ctx, sql, len);
	if (!p) {
		reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: out of memory inspecting the statement");
		return NULL;
	}
	if (sql_classify(sql, len, classify_flags(p), &b, err, sizeof(err)) < 0) {
		ig_inspection_free(p);
		reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: out of memory inspecting the statement");
		return NULL;
	}
	bool ok = collect(p, &b);
	if (ok && p->session_states) {
		sql_batch_free(&b);
		reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
		       "PreCheck failed: importgate: SET SESSION_STATES is refused: it restores prepared "
		       "statements and the current database that the gateway cannot inspect (session "
		       "migration belongs between TiProxy and TiDB, not through the gateway)");
		count_reject(p);
		audit_refused(p, "bypass.suspect", out);
		ig_inspection_free(p);
		return NULL;
	}
	p->mode_dependent |= b.mode_dependent;
	if (ok && !p->have_facts && (p->nitems > 0 || p->nprobe_vars > 0 || p->opaque)) {
		/* Something to decide: nothing is judged before the server has said how it reads it. */
		sql_batch_free(&b);
		p->needs_probe = true;
		return p;
	}
	if (ok)
		audit_statements(p, ctx, &b);
	sql_batch_free(&b);
	if (!ok) {
		ig_inspection_free(p);
		reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: out of memory inspecting the statement");
		return NULL;
	}
	if (p->opaque && p->cfg->policy.opaque_prepare == IG_OPAQUE_REJECT) {
		refuse_opaque(p, out);
		ig_inspection_free(p);
		return NULL;
	}
	if (p->opaque)
		note_opaque_allowed(p);
	if (p->nitems == 0) {
		/* Nothing to decide: the session only learns the USE statements. */
		memcpy(out->use_db, p->use_db, sizeof(p->use_db));
		out->nuse = p->nuse;
		p->nuse = 0;
		ig_inspection_free(p);
		return NULL;
	}
	if (p->mode_dependent) {
		reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
		       "PreCheck failed: importgate: this statement reads differently depending on session "
		       "state the gateway cannot know before it runs (an executable comment /*! */ or /*T! */ "
		       "with a feature it does not know, or a statement earlier in the batch that changes "
		       "sql_mode or the character set), so the IMPORT INTO in it cannot be checked safely; "
		       "send the IMPORT INTO as a plain statement of its own");
		count_reject(p);
		audit_refused(p, "bypass.suspect", out);
		ig_inspection_free(p);
		return NULL;
	}
	if (!parse_items(p, out)) {
		count_reject(p);
		ig_inspection_free(p);
		return NULL;
	}
	return p;
}

bool ig_inspect_needs_probe(const ig_inspection *p, ig_probe_request *req)
{
	if (!p->needs_probe)
		return false;
	memset(req, 0, sizeof(*req));
	req->nvars = p->nprobe_vars;
	for (size_t i = 0; i < p->nprobe_vars; i++) {
		req->names[i] = p->probe_vars[i];
		req->toks[i] = p->probe_toks[i];
		req->tok_lens[i] = p->probe_tok_lens[i];
	}
	return true;
}

void ig_inspect_read(ig_inspection *p)
{
	if (p->cfg->cluster.npd == 0) {
		snprintf(p->state_err, sizeof(p->state_err), "no PD endpoint is configured (cluster.pd)");
		return;
	}
	uint64_t t0 = uv_hrtime();
	int rc = ig_state_acquire(p->cfg, &p->state, p->state_err, sizeof(p->state_err));
	if (!p->quiet) {
		ig_metric_observe_seconds(IG_M_STATE_READ_SECONDS, (double)(uv_hrtime() - t0) / 1e9);
		ig_metric_inc(rc < 0 ? IG_M_STATE_READS_ERROR : IG_M_STATE_READS_OK);
	}
	if (rc < 0)
		p->state = NULL;
}

static ig_tidb_version backend_version(const ig_inspection *p)
{
	ig_tidb_version v = {.major = -1};
	const char *sv = p->server_version ? p->server_version : "";
	if (ig_tidb_version_from_server(sv, strlen(sv), &v) == 0)
		return v;
	const char *cv = p->cfg->backends.tidb_version;
	if (cv && strcmp(cv, "auto") != 0 && ig_tidb_version_parse(cv, strlen(cv), &v) == 0)
		return v;
	v.major = -1;
	return v;
}

/* The statement with DISABLE_PRECHECK added, as it goes in the text sent to TiDB. */
static int rewrite_item(import_item *it, ig_inspect_out *out)
{
	char err[256], *s = NULL;
	size_t n = 0;
	/* Prepared imports never get here: they are refused rather than rewritten (finish). */
	if (sql_import_add_disable_precheck(it->text, it->len, &it->imp, &s, &n, err, sizeof(err)) < 0) {
		reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: cannot add DISABLE_PRECHECK: %s", err);
		return -1;
	}
	it->new_text = s;
	it->new_len = n;
	return 0;
}

/*
 * A covered import whose rule says `logical`: the same data through LOAD DATA, which
 * produces change logs (docs/LOGICAL_IMPORT.md). Remote LOAD DATA
 * exists from TiDB v7.0.0; what has no faithful counterpart is refused, never dropped.
 */
static int logical_item(import_item *it, const ig_tidb_version *ver, ig_inspect_out *out)
{
	char err[512];
	if (it->via_prepare) {
		reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
		       "PreCheck failed: importgate: %s.%s is covered and its rule asks for a logical "
		       "import; a prepared IMPORT INTO is not rewritten, send it as a plain statement",
		       qual(it->db), it->imp.table);
		return -1;
	}
	if (!ig_tidb_version_at_least(ver, SQL_LOGICAL_MIN_TIDB_MAJOR, SQL_LOGICAL_MIN_TIDB_MINOR)) {
		reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
		       "PreCheck failed: importgate: %s.%s is covered and its rule asks for a logical "
		       "import, which needs TiDB v%d.%d.0 or later (remote LOAD DATA); the backend's "
		       "version is older or unknown (set backends.tidb_version)",
		       qual(it->db), it->imp.table, SQL_LOGICAL_MIN_TIDB_MAJOR, SQL_LOGICAL_MIN_TIDB_MINOR);
		return -1;
	}
	if (sql_import_to_load_data(it->text, it->len, &it->imp, &it->new_text, &it->new_len, err,
	                            sizeof(err)) < 0) {
		reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
		       "PreCheck failed: importgate: %s.%s is covered and its rule asks for a logical "
		       "import, but %s; use LOAD DATA yourself, or ask the DBA for another rule",
		       qual(it->db), it->imp.table, err);
		return -1;
	}
	return 0;
}

/* The text for the backend: every rewritten statement in place, the rest byte for byte. */
static int assemble(const ig_inspection *p, ig_buf *text)
{
	size_t at = 0;
	for (size_t i = 0; i < p->nitems; i++) {
		const import_item *it = &p->items[i];
		if (!it->new_text)
			continue;
		if (it->span.off < at || ig_buf_append(text, p->sql + at, it->span.off - at) < 0 ||
		    ig_buf_append(text, it->new_text, it->new_len) < 0)
			return -1;
		at = it->span.off + it->span.len;
	}
	return ig_buf_append(text, p->sql + at, p->len - at);
}


/* Counts and logs one decision (not for explain). */
static void note_decision(const ig_inspection *p, const import_item *it)
{
	static atomic_bool newer_said;
	if (it->dec.precheck_model_newer && !atomic_exchange(&newer_said, true))
		LOG_WARN(p->conn_id, "the backend runs %s, newer than every TiDB version the gateway models; "
		         "deciding with the newest model (%s): check docs/TIDB_VERSIONS.md for an update",
		         p->server_version, it->dec.precheck_model ? it->dec.precheck_model : "?");
	ig_metric_inc(it->dec.dry_run ? IG_M_IMPORTS_DRY_RUN :
	              it->dec.verdict == IG_VERDICT_PASS ? IG_M_IMPORTS_PASS :
	              it->dec.verdict == IG_VERDICT_ADD_DISABLE_PRECHECK ? IG_M_IMPORTS_ADD_DISABLE_PRECHECK :
	              it->dec.verdict == IG_VERDICT_LOGICAL ? IG_M_IMPORTS_LOGICAL : IG_M_IMPORTS_REJECT);
	LOG_INFO(p->conn_id, "import.decision: '%s'@%s %s.%s: %s%s, rule %s: %s", p->user, p->host,
	         qual(it->db), it->imp.table, ig_verdict_name(it->dec.verdict),
	         it->dec.dry_run ? " (dry-run: forwarded unchanged)" : "",
	         it->dec.rule ? it->dec.rule->name : "(defaults)", it->dec.reason ? it->dec.reason : "");
}

static bool is_prepared(const ig_inspection *p, const import_item *it)
{
	return it->via_prepare || p->cmd == COM_STMT_PREPARE;
}

/* The import would reach TiDB carrying DISABLE_PRECHECK (added, or the user's own kept). */
static bool runs_without_precheck(const import_item *it)
{
	if (it->dec.verdict == IG_VERDICT_ADD_DISABLE_PRECHECK)
		return true;
	return it->dec.verdict == IG_VERDICT_PASS && sql_import_find_opt(&it->imp, "DISABLE_PRECHECK");
}

/*
 * Decides every import and builds the answer: the text to forward or the error. No side
 * effect (no metric, log line, obligation or audit record), so that explain and the live
 * path cannot disagree. *obl_item: the import whose follow-up must be recorded, or -1.
 */
static void evaluate(ig_inspection *p, ig_inspect_out *out, int *obl_item)
{
	char err[256];
	bool rewrite = false;
	ig_tidb_version ver = backend_version(p);
	int first_plain = -1;
	*obl_item = -1;
	for (size_t i = 0; i < p->nitems && first_plain < 0; i++)
		if (!p->items[i].via_prepare && p->cmd == COM_QUERY)
			first_plain = (int)i;
	for (size_t i = 0; i < p->nitems; i++) {
		import_item *it = &p->items[i];
		/* What of IMPORT INTO's grammar it uses: the backend's version must know all of it. */
		ig_import_usage usage = {
			.options = it->imp.nopts ? it->imp.opts[0].name : NULL,
			.option_stride = sizeof(sql_import_opt), .noptions = it->imp.nopts,
			.from_select = it->imp.src == SQL_SRC_SELECT,
		};
		ig_decide_input in = {
			.user = p->user, .host = p->host, .db = it->db, .table = it->imp.table,
			.disable_precheck = sql_import_find_opt(&it->imp, "DISABLE_PRECHECK") != NULL,
			.usage = &usage,
			.version = ver, .state = p->state, .state_error = p->state_err, .cfg = p->cfg,
		};
		if (ig_decide(&in, &it->dec, err, sizeof(err)) < 0) {
			reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: cannot decide: %s", err);
			return;
		}
		it->decided = true;
		if (it->dec.dry_run)
			continue;
		if (is_prepared(p, it) && runs_without_precheck(it)) {
			/*
			 * A prepared statement runs later, maybe many times, when the cluster state may
			 * have changed: a decision to skip TiDB's precheck cannot be kept that long.
			 */
			reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
			       "PreCheck failed: importgate: a prepared IMPORT INTO into %s.%s would run "
			       "without TiDB's precheck (DISABLE_PRECHECK), decided now but executed later, "
			       "when log backup tasks or changefeeds may cover the table; send the IMPORT "
			       "INTO as a plain statement instead",
			       qual(it->db), it->imp.table);
			return;
		}
		if (it->dec.obligations &&
		    (it->dec.verdict == IG_VERDICT_PASS || it->dec.verdict == IG_VERDICT_ADD_DISABLE_PRECHECK)) {
			/* Only the import whose answer the session reads can have its follow-up carried out. */
			if ((int)i != first_plain) {
				reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
				       "PreCheck failed: importgate: an import into %s.%s owes a follow-up (snapshot backup "
				       "or downstream re-import); send it as a plain statement, first in its batch",
				       qual(it->db), it->imp.table);
				return;
			}
			*obl_item = (int)i;
		}
		switch (it->dec.verdict) {
		case IG_VERDICT_PASS:
			break;
		case IG_VERDICT_ADD_DISABLE_PRECHECK:
			if (rewrite_item(it, out) < 0)
				return;
			rewrite = true;
			break;
		case IG_VERDICT_REJECT:
			reject(out, (uint16_t)it->dec.err_code, it->dec.sqlstate, "%s",
			       it->dec.message ? it->dec.message : "PreCheck failed: importgate: rejected");
			return;
		case IG_VERDICT_LOGICAL:
			if (logical_item(it, &ver, out) < 0)
				return;
			rewrite = true;
			break;
		}
	}
	if (rewrite) {
		out->action = IA_REWRITE;
		if (assemble(p, &out->text) < 0) {
			reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: out of memory rewriting the statement");
			return;
		}
	}
	/* The session reads TiDB's answer to the first plain import (PREPAREs run later). */
	if (first_plain >= 0) {
		const import_item *it = &p->items[first_plain];
		out->import_index = (int)it->stmt_index;
		snprintf(out->import_target, sizeof(out->import_target), "%s.%s", qual(it->db), it->imp.table);
		/* Free-text redaction of an echo cannot recognise a lone piece of a split secret. */
		char *red = sql_redact_statement(it->text, it->len, it->flags);
		out->import_secret = !red || strlen(red) != it->len || memcmp(red, it->text, it->len) != 0;
		free(red);
	}
}

/* The follow-up an allowed import owes, recorded before it is sent (proxy/obligations.h). */
static void record_obligation(const ig_inspection *p, const import_item *it, ig_inspect_out *out)
{
	char err[256];
	ig_obl_spec spec = {
		.kinds = it->dec.obligations, .db = it->db, .table = it->imp.table,
		.statement = it->text, .statement_len = it->len, .user = p->user, .client = p->host,
		.backend = p->backend, .conn_id = p->conn_id,
		.disable_precheck = sql_import_find_opt(&it->imp, "DISABLE_PRECHECK") != NULL,
		.from_select = it->imp.src == SQL_SRC_SELECT,
		/* the FROM location as the session's modes read it, for the job search */
		.source = it->imp.src == SQL_SRC_FILE ? it->imp.location : NULL,
	};
	if (ig_obl_create(&spec, out->obl_id, sizeof(out->obl_id), err, sizeof(err)) < 0)
		reject(out, ER_UNKNOWN_ERROR, "HY000",
		       "importgate: the follow-up owed after this import could not be recorded (%s), so "
		       "the import was not sent", err);
}

void ig_inspect_finish(ig_inspection *p, ig_inspect_out *out)
{
	int obl_item;
	memset(out, 0, sizeof(*out));
	out->action = IA_FORWARD;
	out->import_index = -1;
	evaluate(p, out, &obl_item);
	if (!p->quiet) {
		/* The effects: counted and logged, the follow-up recorded, then audited (fsynced when
		 * the import is about to be forwarded). */
		for (size_t i = 0; i < p->nitems; i++)
			if (p->items[i].decided)
				note_decision(p, &p->items[i]);
		if (obl_item >= 0 && out->action != IA_REJECT)
			record_obligation(p, &p->items[obl_item], out);
		audit_decisions(p, out);
	}
	if (out->action == IA_REJECT) {
		if (out->obl_id[0]) /* recorded, then refused (audit): nothing will be owed */
			ig_obl_answered(out->obl_id, "", "", ER_UNKNOWN_ERROR, "refused by the gateway");
		out->obl_id[0] = '\0';
		out->import_index = -1;
		ig_buf_reset(&out->text);
		return;
	}
	memcpy(out->use_db, p->use_db, sizeof(p->use_db));
	out->nuse = p->nuse;
	p->nuse = 0;
}

/* ---- /api/v1/explain ---- */

static char *explain_error(int *http_status, const char *msg)
{
	*http_status = 400;
	json_t *doc = json_pack("{s:s}", "error", msg);
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return s;
}

static json_t *explain_imports(const ig_inspection *p)
{
	json_t *a = json_array();
	for (size_t i = 0; p && a && i < p->nitems; i++) {
		const import_item *it = &p->items[i];
		json_t *o = json_object();
		if (!o)
			break;
		char target[520];
		snprintf(target, sizeof(target), "%s.%s", it->db ? it->db : "", it->imp.table);
		json_object_set_new(o, "table", json_string(target));
		if (it->decided) {
			json_object_set_new(o, "verdict", json_string(ig_verdict_name(it->dec.verdict)));
			json_object_set_new(o, "rule", it->dec.rule ? json_string(it->dec.rule->name) : json_null());
			json_object_set_new(o, "tasks", string_array(it->dec.tasks, it->dec.ntasks));
			json_object_set_new(o, "changefeeds", string_array(it->dec.changefeeds, it->dec.nchangefeeds));
			json_object_set_new(o, "dry_run", json_boolean(it->dec.dry_run));
			if (it->dec.reason)
				json_object_set_new(o, "reason", json_string(it->dec.reason));
		}
		json_array_append_new(a, o);
	}
	return a;
}

char *ig_inspect_explain(const char *body, size_t len, int *http_status)
{
	json_error_t jerr;
	json_t *req = json_loadb(body, len, 0, &jerr);
	const char *user = NULL, *host = "", *db = NULL, *sql = NULL, *mode = "", *charset = "utf8mb4";
	if (!req || json_unpack_ex(req, &jerr, 0, "{s:s, s?s, s?s, s:s, s?s, s?s}", "user", &user, "host", &host,
	                           "db", &db, "statement", &sql, "sql_mode", &mode, "charset", &charset) < 0) {
		json_decref(req);
		return explain_error(http_status, "body must be JSON {\"user\": ..., \"host\": ..., "
		                                  "\"db\": ..., \"statement\": ..., \"sql_mode\": ..., "
		                                  "\"charset\": ...} (sql_mode and charset optional)");
	}
	/* The session state the request describes stands in for the probe's answer: explain
	 * then takes exactly the live path's steps. */
	int cs_kind = ig_charset_kind(charset);
	ig_session_facts facts = {
		.db = (char *)db, .user = (char *)user, .sql_mode = (char *)mode, .charset = (char *)charset,
		.lex_flags = ig_sql_mode_lex_flags(mode) | (cs_kind == 1 ? SQL_F_MB_PAIRS : 0),
		.charset_known = cs_kind >= 0,
	};
	char version[128];
	ig_backend_last_version(version, sizeof(version));
	char backend[80] = "";
	ig_backend_set *set = ig_backends_acquire();
	if (set && set->n)
		snprintf(backend, sizeof(backend), "%s", set->v[0]->addr);
	ig_backends_release(set);
	ig_stmt_ctx ctx = {.user = user, .client_host = host, .db = db, .server_version = version,
	                   .backend = backend, .cmd = COM_QUERY, .quiet = true, .facts = &facts};
	ig_inspect_out out;
	ig_inspection *plan = ig_inspect_begin(&ctx, sql, strlen(sql), &out);
	if (plan) {
		ig_inspect_out_free(&out);
		ig_inspect_read(plan);
		ig_inspect_finish(plan, &out);
	}
	json_t *doc = json_object();
	if (doc) {
		const char *action = out.action == IA_REJECT ? "reject" : out.action == IA_REWRITE ? "rewrite" : "forward";
		const char *verdict = "pass";
		if (out.action == IA_REJECT)
			verdict = "reject";
		else if (plan && plan->nitems > 0 && plan->items[0].decided)
			verdict = ig_verdict_name(plan->items[0].dec.verdict);
		json_object_set_new(doc, "action", json_string(action));
		json_object_set_new(doc, "verdict", json_string(verdict));
		json_object_set_new(doc, "imports", explain_imports(plan));
		json_object_set_new(doc, "rule", plan && plan->nitems && plan->items[0].decided &&
		                                         plan->items[0].dec.rule
		                                     ? json_string(plan->items[0].dec.rule->name) : json_null());
		if (out.action == IA_REJECT)
			json_object_set_new(doc, "error", json_pack("{s:i, s:s}", "code", (int)out.err_code,
			                                            "message", out.err_msg));
		if (out.action == IA_REJECT)
			json_object_set_new(doc, "message", json_string(out.err_msg));
		if (out.action == IA_REWRITE) {
			char *red = sql_redact_statement((const char *)ig_buf_head(&out.text), ig_buf_avail(&out.text), 0);
			json_object_set_new(doc, "statement", red ? json_string(red) : json_null());
			free(red);
		}
		if (plan)
			json_object_set_new(doc, "cluster_state", plan->state
			                        ? json_pack("{s:s, s:I}", "source", plan->state->source ? plan->state->source : "",
			                                    "revision", (json_int_t)plan->state->revision)
			                        : json_pack("{s:s}", "error", plan->state_err));
	}
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	json_decref(req);
	ig_inspect_out_free(&out);
	ig_inspection_free(plan);
	return s;
}
