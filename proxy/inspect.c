/*
 * inspect.c - the statement hook (see inspect.h), up to the decision: sqlparse classifies;
 * the session learns what it must track (USE); every IMPORT INTO, in whatever form it came
 * (plain, in a batch, in PREPARE ... FROM 'text', in PREPARE ... FROM @var, as
 * COM_STMT_PREPARE), becomes an item of the inspection, parsed and resolved to its table,
 * or the statement is refused (what cannot be read is not forwarded). The decision is
 * decision.c's.
 */
#include "proxy/inspect_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pd/statecache.h"
#include "policy/version.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/mysql_proto.h"
#include "proxy/runtime.h"
#include "sqlparse/shape.h"

bool ig_inspect_quick(const char *sql, size_t len)
{
	return sql_quick_reject(sql, len) != 0;
}

void ig_inspect_out_free(ig_inspect_out *out)
{
	ig_buf_reset(&out->text);
	ig_import_rec_free(out->import);
	out->import = NULL;
	for (unsigned i = 0; i < out->nuse; i++)
		free(out->use_db[i]);
	out->nuse = 0;
}

void ig_inspect_reject(ig_inspect_out *out, uint16_t code, const char *sqlstate, const char *fmt, ...)
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

static ig_inspection *inspection_new(const ig_stmt_ctx *ctx, const char *sql, size_t len)
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

/* Refused before any decision: applied whatever policy.mode says, hence mode "enforce". */
static void count_reject(const ig_inspection *p)
{
	if (!p->quiet)
		ig_metric_import("enforce", "reject", IG_METRIC_RULE_NONE);
}

/* A statement refused before any decision: TiDB would refuse it too (import.rejected), or it
 * looks like a way around the gateway (bypass.suspect). */
static void audit_refused(const ig_inspection *p, bool suspect, const ig_inspect_out *out)
{
	if (p->quiet)
		return;
	ig_auditev_who who = ig_inspection_who(p);
	ig_auditev_error e = {.code = out->err_code, .message = out->err_msg};
	if (suspect)
		ig_auditev_bypass_suspect(&who, p->sql, p->len, &e, NULL);
	else
		ig_auditev_import_rejected(&who, p->sql, p->len, &e);
}

void ig_inspect_audit_statement(const ig_stmt_ctx *ctx, const char *sql, size_t len, const char *kind)
{
	ig_auditev_who who = {.conn = ctx->conn_id, .user = ctx->user, .client = ctx->client_host, .db = ctx->db};
	ig_auditev_statement(&who, sql, len, kind);
}

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
			ig_inspect_reject(out, ER_PARSE_ERROR, "42000",
			       "importgate: this IMPORT INTO cannot be parsed (%s); it was not sent to TiDB", err);
			LOG_WARN(p->conn_id, "bypass.suspect: unparsable IMPORT INTO from '%s'@%s: %s", p->user,
			         p->host, err);
			audit_refused(p, true, out);
			return false;
		}
		it->parsed = true;
		if (it->imp.tidb_errcode) {
			/* TiDB would refuse it with this error; answer as TiDB does. */
			ig_inspect_reject(out, (uint16_t)it->imp.tidb_errcode, "HY000", "%s", it->imp.tidb_errmsg);
			audit_refused(p, false, out);
			return false;
		}
		/* A USE earlier in the batch decides, as it will on the server: a USE that fails
		 * ends the batch there, so the import after it never runs. */
		it->db = it->imp.db ? it->imp.db : it->batch_db ? it->batch_db : p->db;
		if (p->have_facts && !ig_charset_is_utf8(p->facts.charset) &&
		    (has_high_byte(it->imp.db) || has_high_byte(it->imp.table) || (!it->imp.db && has_high_byte(it->batch_db)))) {
			/* The server decodes names from the client's character set; the rules and the
			 * cluster state name tables in UTF-8. */
			ig_inspect_reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
			       "PreCheck failed: importgate: the IMPORT INTO names a database or table with "
			       "non-ASCII characters while the client's character set is %s; the gateway matches "
			       "names in UTF-8: use SET NAMES utf8mb4 for the import", p->facts.charset);
			audit_refused(p, true, out);
			return false;
		}
		/* Names in UTF-8 from here on (checked just above): as TiDB folds them. */
		go_ascii_fold(it->imp.db);
		go_ascii_fold(it->imp.table);
		go_ascii_fold(it->batch_db);
		if (!it->imp.db && it->db_unknown) {
			ig_inspect_reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
			       "PreCheck failed: importgate: the IMPORT INTO into %s has no database name and "
			       "follows, in the same batch, a statement that may change the current database "
			       "where the gateway cannot see it (EXECUTE, CALL, SET SESSION_STATES); name the "
			       "database (IMPORT INTO db.%s) or send the import as a statement of its own",
			       it->imp.table, it->imp.table);
			audit_refused(p, true, out);
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
	ig_inspect_reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
	       "PreCheck failed: importgate: the text of this PREPARE ... FROM @variable cannot be known "
	       "before it runs (%s) and policy.opaque_prepare is reject; send the PREPARE as a statement "
	       "of its own, or use PREPARE ... FROM 'statement text'", p->opaque_why);
	count_reject(p);
	audit_refused(p, true, out);
}

static void note_opaque_allowed(const ig_inspection *p)
{
	if (p->quiet)
		return;
	LOG_WARN(p->conn_id, "bypass.suspect: PREPARE ... FROM @variable from '%s'@%s: %s; forwarded "
	         "(policy.opaque_prepare: allow)", p->user, p->host, p->opaque_why);
	ig_auditev_who who = ig_inspection_who(p);
	ig_auditev_bypass_suspect(&who, p->sql, p->len, NULL, p->opaque_why);
}

ig_inspection *ig_inspect_begin(const ig_stmt_ctx *ctx, const char *sql, size_t len,
                                ig_inspect_out *out)
{
	sql_batch b;
	char err[256];
	memset(out, 0, sizeof(*out));
	out->action = IA_FORWARD;
	ig_inspection *p = inspection_new(ctx, sql, len);
	if (!p) {
		ig_inspect_reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: out of memory inspecting the statement");
		return NULL;
	}
	if (sql_classify(sql, len, classify_flags(p), &b, err, sizeof(err)) < 0) {
		ig_inspection_free(p);
		ig_inspect_reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: out of memory inspecting the statement");
		return NULL;
	}
	bool ok = collect(p, &b);
	if (ok && p->session_states) {
		sql_batch_free(&b);
		ig_inspect_reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
		       "PreCheck failed: importgate: SET SESSION_STATES is refused: it restores prepared "
		       "statements and the current database that the gateway cannot inspect (session "
		       "migration belongs between TiProxy and TiDB, not through the gateway)");
		count_reject(p);
		audit_refused(p, true, out);
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
		ig_inspect_reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: out of memory inspecting the statement");
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
		ig_inspect_reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
		       "PreCheck failed: importgate: this statement reads differently depending on session "
		       "state the gateway cannot know before it runs (an executable comment /*! */ or /*T! */ "
		       "with a feature it does not know, or a statement earlier in the batch that changes "
		       "sql_mode or the character set), so the IMPORT INTO in it cannot be checked safely; "
		       "send the IMPORT INTO as a plain statement of its own");
		count_reject(p);
		audit_refused(p, true, out);
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
	/*
	 * TIDB_VERSION() is asked plainly of a server whose greeting names TiDB (any spelling:
	 * TiProxy with no backend known yet greets "5.7.25-TiDB-None"), which must answer it;
	 * of another only inside a TiDB-only comment (probe.c), as the function would fail a
	 * MySQL server's whole probe while a TiDB configured to greet without the word may be
	 * TiDB X that only TIDB_VERSION() names (docs/TIDB_VERSIONS.md).
	 */
	req->tidb_info = p->server_version && strcasestr(p->server_version, "tidb") != NULL;
	req->nvars = p->nprobe_vars;
	for (size_t i = 0; i < p->nprobe_vars; i++) {
		req->names[i] = p->probe_vars[i];
		req->toks[i] = p->probe_toks[i];
		req->tok_lens[i] = p->probe_tok_lens[i];
	}
	return true;
}
