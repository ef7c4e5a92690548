/*
 * classify.c - statement classification (docs/ARCHITECTURE.md). Owns: the kind of each
 * statement of a COM_QUERY text, the decoded USE database and PREPARE text (classified
 * recursively), and the exploration of the lexical modes the server could be in
 * (backslash escapes, ANSI_QUOTES, executable comments ignored, version digits, TiDB
 * feature ids, multibyte client charsets): a candidate statement seen under any of them
 * is reported. Work is linear in the text: readings are compared in one walk over their
 * statements (in text order), and nested PREPARE texts share a byte budget.
 *
 * Statements that carry or run another statement, from TiDB's grammar (pkg/parser/parser.y
 * productions ExplainStmt/ExplainableStmt, TraceStmt/TraceableStmt, PlanReplayerStmt,
 * Create/DropBindingStmt/BindableStmt, NonTransactionalDMLStmt/ShardableStmt; read through
 * excerpts that quote them, not per release tag: a stored BNF extract of an older parser.y,
 * a Go re-implementation whose functions cite each production (ExplainableStmt there has
 * ImportIntoStmt and AlterTableStmt), and the TiDB docs of EXPLAIN ANALYZE, TRACE,
 * PLAN REPLAYER, BATCH and CREATE BINDING):
 *   EXPLAIN | DESC | DESCRIBE [ANALYZE] [FORMAT = 'x'] ExplainableStmt (ANALYZE runs it);
 *     EXPLAIN [ANALYZE] 'plan digest', EXPLAIN FOR CONNECTION n and EXPLAIN tbl [col]
 *     (SHOW COLUMNS) carry none.
 *   TRACE [FORMAT = 'x'] TraceableStmt, TRACE PLAN [TARGET = 'x'] TraceableStmt (runs it:
 *     DML, SELECT, LOAD DATA, BEGIN/COMMIT/ROLLBACK, SET, ANALYZE).
 *   PLAN REPLAYER DUMP [WITH STATS AS OF TIMESTAMP expr] EXPLAIN [ANALYZE] <statement>,
 *     ... EXPLAIN [ANALYZE] ('sql', 'sql', ...) (string literals whose text is explained,
 *     and run with ANALYZE), ... EXPLAIN [ANALYZE] 'file' (statements read from a file on
 *     the server: unknown to the gateway), ... EXPLAIN SLOW QUERY.
 *   CREATE | DROP [GLOBAL | SESSION] BINDING FOR BindableStmt [USING BindableStmt],
 *     SET BINDING ENABLED|DISABLED FOR ...: SELECT/UPDATE/DELETE/INSERT/REPLACE only.
 *   BATCH [ON col] LIMIT n [DRY RUN [QUERY]] ShardableStmt (DELETE/UPDATE/INSERT/REPLACE).
 *   PREPARE name FROM 'text' | @var, EXECUTE name: handled as PREPARE kinds.
 *   CREATE VIEW ... AS SELECT, INSERT ... SELECT, WITH ... : queries only.
 * The rule does not depend on this list: an IMPORT INTO keyword pair anywhere in a
 * statement makes it an import candidate, whatever wraps it (import_span). A PLAN
 * REPLAYER DUMP statement with a string literal right after EXPLAIN [ANALYZE] (a file),
 * or one after EXPLAIN that mentions IMPORT, holds a backslash or is joined to another
 * literal, is a candidate whose import_span is that literal, which does not parse: the
 * caller refuses it.
 */
#include "sqlparse/hexdigit.h"
#include "sqlparse/lexer.h"
#include "sqlparse/split.h"
#include "sqlparse/sqlparse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS_FIRST 6       /* leading tokens kept per statement */
#define CLS_MAX_DEPTH 4   /* PREPARE ... FROM 'PREPARE ... FROM ...' nesting bound */
/* Nested PREPARE texts are classified within a budget of bytes lexed (over all nesting
 * levels and readings of one sql_classify call), so the work stays linear in the text:
 * past it a nested text is opaque (SQL_PREPARE_VAR), never harmless. */
#define CLS_NESTED_MIN (64u << 10)
#define CLS_NESTED_FACTOR 32
#define CLS_PASS_COST 64 /* bytes charged per nested pass on top of its length */
/* Lexical dimensions that SQL_F_EXACT_MODES fixes to the caller's values. */
#define CLS_MODE_DIMS (SQL_F_NO_BACKSLASH_ESCAPES | SQL_F_ANSI_QUOTES | SQL_F_MB_PAIRS)

const char *sql_kind_name(sql_kind k)
{
	switch (k) {
	case SQL_OTHER:
		return "other";
	case SQL_IMPORT_INTO:
		return "import_into";
	case SQL_SHOW_IMPORT_JOB:
		return "show_import_job";
	case SQL_CANCEL_IMPORT_JOB:
		return "cancel_import_job";
	case SQL_PREPARE_TEXT:
		return "prepare_text";
	case SQL_PREPARE_VAR:
		return "prepare_var";
	case SQL_USE:
		return "use";
	case SQL_LOAD_DATA:
		return "load_data";
	case SQL_BACKUP:
		return "backup";
	case SQL_RESTORE:
		return "restore";
	case SQL_SET_SQL_MODE:
		return "set_sql_mode";
	case SQL_LEX_ERROR:
		return "lex_error";
	}
	return "unknown";
}

/* Per-statement streaming state filled by the splitter's token callback. */
typedef struct cls_state {
	const char *sql;
	sql_token first[CLS_FIRST];
	size_t nfirst;
	sql_token prev;
	bool have_prev;
	bool sql_mode_assign; /* <sql_mode name> followed by = or := */
	bool import_into;     /* IMPORT followed by INTO anywhere */
	sql_token import_tok; /* the IMPORT of the first such pair */
	bool replayer_lit;    /* PLAN REPLAYER DUMP ... EXPLAIN ... 'text' that may be an import */
	sql_token replayer_tok;
	bool replayer_explain; /* PLAN REPLAYER DUMP statement, EXPLAIN seen */
	bool mode_word;       /* a SET naming sql_mode / names / charset / character / session_states */
} cls_state;


/* The kind of a PREPARE text already classified, by statement: the readings of one text
 * mostly split it the same way, and each would otherwise classify the same PREPARE text
 * under all its own readings again. */
typedef struct cls_memo_ent {
	const char *sql; /* NULL: empty slot */
	size_t off, len;
	uint64_t sig;
	unsigned key;    /* decoding flags, exactness */
	sql_kind kind;
	bool truncated;
} cls_memo_ent;

typedef struct cls_ctx {
	size_t nested_bytes, nested_budget;
	bool mode_dep;
	bool truncated; /* a nested reading was skipped for the budget */
	cls_memo_ent *memo;
	size_t memo_cap, memo_n;
} cls_ctx;

/* Statements of one or more readings; sig[i] is v[i]'s tokenization signature (kept
 * apart so that v becomes the caller's array without a copy). */
typedef struct cls_list {
	sql_stmt *v;
	uint64_t *sig;
	size_t n, cap;
} cls_list;

/* Open-addressing set of list indexes (candidates), keyed like same_item(). */
typedef struct cls_set {
	size_t *slot; /* index + 1, 0 = empty */
	size_t cap, n;
} cls_set;

/* Where the first statement that may change sql_mode or the client charset ended in a
 * pass: the tail after it is read again under every sql_mode/charset reading. */
typedef struct cls_change {
	bool found;
	size_t off;     /* lexer position after the statement (and its ';') */
	unsigned flags; /* the pass's flags, with SQL_F_IN_EXEC_COMMENT as the lexer was there */
} cls_change;

/* Is this token the name sql_mode (sql_mode, `sql_mode`, @@sql_mode, @@session.sql_mode)? */
static bool names_sql_mode(const char *sql, const sql_token *t)
{
	const char *p = sql + t->off;
	size_t n = t->len, i;
	if (t->type == SQL_TOK_SYSVAR) {
		for (i = n; i > 0; i--)
			if (p[i - 1] == '.')
				break;
		if (i == 0)
			i = 2; /* after @@ */
		p += i;
		n -= i;
	} else if (t->type != SQL_TOK_IDENT && t->type != SQL_TOK_QIDENT) {
		return false;
	}
	if (n >= 2 && (p[0] == '`' || p[0] == '"') && p[n - 1] == p[0]) {
		p++;
		n -= 2;
	}
	return sql_ieq(p, n, "SQL_MODE");
}

/* Case-insensitive search of an ASCII word (lower case) in [p, p+n). */
static bool has_ci(const char *p, size_t n, const char *w)
{
	size_t k = strlen(w), i, j;
	for (i = 0; i + k <= n; i++) {
		for (j = 0; j < k; j++) {
			char c = p[i + j];
			if ((c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c) != w[j])
				break;
		}
		if (j == k)
			return true;
	}
	return false;
}

/* A token of a SET that may change how later statements lex: sql_mode, NAMES, CHARACTER
 * SET, CHARSET, character_set_client (any character_set_*), SESSION_STATES. Conservative:
 * any word, quoted name or variable containing one of these. */
static bool names_mode_setting(const char *sql, const sql_token *t)
{
	const char *p = sql + t->off;
	if (t->type != SQL_TOK_IDENT && t->type != SQL_TOK_QIDENT && t->type != SQL_TOK_SYSVAR &&
	    !(t->type == SQL_TOK_STRING && (t->flags & SQL_TOKF_DQ)))
		return false;
	return has_ci(p, t->len, "sql_mode") || has_ci(p, t->len, "names") || has_ci(p, t->len, "charset") ||
	       has_ci(p, t->len, "character") || has_ci(p, t->len, "session_states");
}

static bool is_text_tok(const sql_token *t);

/* PLAN REPLAYER DUMP ... EXPLAIN [ANALYZE] 'sql' / ('sql', ...): the literals are run. */
static void replayer_tok(cls_state *cs, const char *sql, const sql_token *t, size_t i)
{
	if (i < 3 || !sql_tok_is(sql, &cs->first[0], "PLAN") || !sql_tok_is(sql, &cs->first[1], "REPLAYER") ||
	    !sql_tok_is(sql, &cs->first[2], "DUMP"))
		return;
	if (sql_tok_is(sql, t, "EXPLAIN")) {
		cs->replayer_explain = true;
		return;
	}
	if (!cs->replayer_explain || cs->replayer_lit || !is_text_tok(t))
		return;
	if (has_ci(sql + t->off, t->len, "import") || (t->flags & SQL_TOKF_BSLASH) ||
	    (cs->have_prev && (is_text_tok(&cs->prev) || sql_tok_is(sql, &cs->prev, "EXPLAIN") ||
	                       sql_tok_is(sql, &cs->prev, "ANALYZE")))) {
		cs->replayer_lit = true;
		cs->replayer_tok = *t;
	}
}

static void cls_tok(void *ud, const char *sql, const sql_token *t, size_t i)
{
	cls_state *cs = ud;
	if (i < CLS_FIRST)
		cs->first[cs->nfirst++] = *t;
	if (cs->have_prev) {
		if (t->type == SQL_TOK_EQ && names_sql_mode(sql, &cs->prev))
			cs->sql_mode_assign = true;
		if (!cs->import_into && sql_tok_is(sql, &cs->prev, "IMPORT") && sql_tok_is(sql, t, "INTO")) {
			cs->import_into = true;
			cs->import_tok = cs->prev;
		}
	}
	if (i > 0 && !cs->mode_word && sql_tok_is(sql, &cs->first[0], "SET") && names_mode_setting(sql, t))
		cs->mode_word = true;
	replayer_tok(cs, sql, t, i);
	cs->prev = *t;
	cs->have_prev = true;
}

static bool is_candidate(sql_kind k)
{
	return k != SQL_OTHER && k != SQL_LEX_ERROR;
}

/* A string literal, or "..." read as an identifier under ANSI_QUOTES: the server would
 * refuse the latter, but the gateway's idea of the sql_mode may be wrong, so read it as
 * the text it would be without ANSI_QUOTES. */
static bool is_text_tok(const sql_token *t)
{
	return t->type == SQL_TOK_STRING || (t->type == SQL_TOK_QIDENT && (t->flags & SQL_TOKF_DQ));
}

/* May this statement change sql_mode or the client character set for what follows?
 * TiDB itself parses the whole COM_QUERY text before running any of it (pkg/server/conn.go
 * handleQuery: cc.ctx.Parse(ctx, sql), then handleStmt per statement), so a SET in the
 * batch does not change how TiDB lexes the rest; reading the rest under every mode anyway
 * is the conservative choice (another server, or a TiDB that changes this). */
static bool may_change_modes(const char *sql, const sql_piece *pc, const cls_state *cs)
{
	const sql_token *f = cs->first;
	if (pc->lex_error)
		return true;
	if (cs->nfirst == 0)
		return false;
	if (sql_tok_is(sql, &f[0], "EXECUTE") || sql_tok_is(sql, &f[0], "CALL"))
		return true; /* a prepared SET, a procedure's body */
	return sql_tok_is(sql, &f[0], "SET") && (cs->mode_word || cs->sql_mode_assign);
}

static sql_kind first_kind(const char *sql, const cls_state *cs)
{
	const sql_token *f = cs->first;
	size_t n = cs->nfirst;
	if (n == 0)
		return SQL_OTHER;
	/* An IMPORT INTO keyword pair anywhere: an import, whatever wraps it (EXPLAIN
	 * ANALYZE, TRACE, PLAN REPLAYER DUMP EXPLAIN ANALYZE, or a form not listed above). */
	if (cs->import_into || cs->replayer_lit)
		return SQL_IMPORT_INTO;
	if (n >= 3 && sql_tok_is(sql, &f[0], "SHOW") && sql_tok_is(sql, &f[1], "IMPORT") &&
	    (sql_tok_is(sql, &f[2], "JOB") || sql_tok_is(sql, &f[2], "JOBS")))
		return SQL_SHOW_IMPORT_JOB;
	if (n >= 3 && sql_tok_is(sql, &f[0], "CANCEL") && sql_tok_is(sql, &f[1], "IMPORT") &&
	    sql_tok_is(sql, &f[2], "JOB"))
		return SQL_CANCEL_IMPORT_JOB;
	if (sql_tok_is(sql, &f[0], "PREPARE")) {
		if (n >= 4 && sql_tok_is(sql, &f[2], "FROM") && (is_text_tok(&f[3]) || f[3].type == SQL_TOK_HEX))
			return SQL_PREPARE_TEXT;
		return SQL_PREPARE_VAR; /* FROM @var, or anything we cannot read: opaque */
	}
	if (n >= 2 && sql_tok_is(sql, &f[0], "USE"))
		return SQL_USE;
	if (n >= 2 && sql_tok_is(sql, &f[0], "LOAD") && sql_tok_is(sql, &f[1], "DATA"))
		return SQL_LOAD_DATA;
	if (sql_tok_is(sql, &f[0], "BACKUP"))
		return SQL_BACKUP;
	if (sql_tok_is(sql, &f[0], "RESTORE"))
		return SQL_RESTORE;
	if (sql_tok_is(sql, &f[0], "SET") && cs->sql_mode_assign)
		return SQL_SET_SQL_MODE;
	return SQL_OTHER;
}

/* X'41' / 0x41 -> bytes (an odd digit count has an implicit leading 0). */
static char *hex_decode(const char *sql, const sql_token *t, size_t *outlen)
{
	const char *p = sql + t->off;
	size_t n = t->len, i, k = 0;
	bool odd;
	char *out;
	if (n >= 2 && p[0] == '0')
		p += 2, n -= 2;
	else if (n >= 3)
		p += 2, n -= 3;
	else
		n = 0;
	odd = n & 1;
	out = malloc(n / 2 + 2);
	if (!out)
		return NULL;
	for (i = 0; i < n;) {
		int hi = 0, lo;
		if (!(odd && i == 0))
			hi = sql_hex_digit(p[i++]);
		lo = sql_hex_digit(p[i++]);
		out[k++] = (char)((hi < 0 ? 0 : hi) * 16 + (lo < 0 ? 0 : lo));
	}
	out[k] = 0;
	*outlen = k;
	return out;
}

/* Decoded PREPARE text: adjacent string literals are concatenated, as the server does. */
static char *prepare_text(const char *sql, const sql_piece *pc, const sql_token *lit, size_t *outlen)
{
	sql_lexer lx;
	sql_token t;
	char *acc = NULL;
	size_t n = 0;
	if (lit->type == SQL_TOK_HEX)
		return hex_decode(sql, lit, outlen);
	sql_lex_init(&lx, sql, pc->span.off + pc->span.len,
	             (pc->flags & ~SQL_F_IN_EXEC_COMMENT) | ((lit->flags & SQL_TOKF_EXEC) ? SQL_F_IN_EXEC_COMMENT : 0));
	lx.pos = lit->off;
	while (sql_lex_next(&lx, &t) != SQL_TOK_EOF && is_text_tok(&t)) {
		t.type = SQL_TOK_STRING;
		if (sql_tok_append_decoded(&acc, &n, sql, &t, pc->flags) < 0)
			return NULL;
	}
	if (!acc)
		acc = calloc(1, 1);
	*outlen = n;
	return acc;
}

static int classify_text(const char *sql, size_t len, unsigned flags, bool exact, int depth, cls_list *out,
                         cls_ctx *cx);
static void list_free(cls_list *l);

/* Kind of a PREPARE text: IMPORT_INTO if any inner statement is (or prepares) an import;
 * else PREPARE_VAR if any part is opaque (PREPARE FROM @var, nesting or budget exceeded);
 * else the first kind that is not OTHER. */
static int inner_kind(const char *text, size_t len, unsigned flags, bool exact, int depth, sql_kind *kind,
                      cls_ctx *cx)
{
	cls_list l = {0};
	size_t i;
	sql_kind best = SQL_OTHER;
	bool was_truncated;
	if (depth >= CLS_MAX_DEPTH || cx->nested_bytes >= cx->nested_budget) {
		*kind = SQL_PREPARE_VAR; /* too deep or too costly to read: opaque */
		return 0;
	}
	was_truncated = cx->truncated;
	cx->truncated = false;
	if (classify_text(text, len, flags, exact, depth + 1, &l, cx) < 0) {
		list_free(&l);
		return -1;
	}
	for (i = 0; i < l.n; i++) {
		sql_kind k = l.v[i].kind;
		if (k == SQL_PREPARE_TEXT) /* a prepared PREPARE: what matters is what it prepares */
			k = l.v[i].prepare_inner == SQL_OTHER ? SQL_PREPARE_TEXT : l.v[i].prepare_inner;
		if (k == SQL_IMPORT_INTO) {
			best = SQL_IMPORT_INTO;
			break;
		}
		if (k == SQL_PREPARE_VAR || ((best == SQL_OTHER || best == SQL_LEX_ERROR) && k != SQL_OTHER))
			best = best == SQL_PREPARE_VAR ? best : k;
	}
	list_free(&l);
	if (cx->truncated && best != SQL_IMPORT_INTO)
		best = SQL_PREPARE_VAR; /* not every reading was explored: opaque */
	cx->truncated = cx->truncated || was_truncated;
	*kind = best;
	return 0;
}

static size_t memo_slot(const cls_ctx *cx, const char *sql, const sql_piece *pc, unsigned key)
{
	uint64_t h = (pc->sig ^ (uint64_t)(uintptr_t)sql) * 0x100000001b3ull;
	size_t i;
	h = (h ^ pc->span.off ^ ((uint64_t)pc->span.len << 20) ^ ((uint64_t)key << 52)) * 0x9e3779b97f4a7c15ull;
	for (i = (size_t)(h >> 17) & (cx->memo_cap - 1);; i = (i + 1) & (cx->memo_cap - 1)) {
		const cls_memo_ent *e = &cx->memo[i];
		if (!e->sql || (e->sql == sql && e->off == pc->span.off && e->len == pc->span.len && e->sig == pc->sig &&
		                e->key == key))
			return i;
	}
}

static const cls_memo_ent *memo_get(const cls_ctx *cx, const char *sql, const sql_piece *pc, unsigned key)
{
	const cls_memo_ent *e;
	if (!cx->memo_cap)
		return NULL;
	e = &cx->memo[memo_slot(cx, sql, pc, key)];
	return e->sql ? e : NULL;
}

/* Records a result (load kept under 1/2; a failed growth only loses the shortcut). */
static void memo_put(cls_ctx *cx, const char *sql, const sql_piece *pc, unsigned key, sql_kind kind, bool truncated)
{
	cls_memo_ent *e;
	if ((cx->memo_n + 1) * 2 > cx->memo_cap) {
		cls_ctx g = *cx;
		size_t i;
		g.memo_cap = cx->memo_cap ? cx->memo_cap * 2 : 64;
		g.memo = calloc(g.memo_cap, sizeof(*g.memo));
		if (!g.memo)
			return;
		for (i = 0; i < cx->memo_cap; i++) {
			sql_piece q;
			if (!cx->memo[i].sql)
				continue;
			memset(&q, 0, sizeof(q));
			q.span.off = cx->memo[i].off;
			q.span.len = cx->memo[i].len;
			q.sig = cx->memo[i].sig;
			g.memo[memo_slot(&g, cx->memo[i].sql, &q, cx->memo[i].key)] = cx->memo[i];
		}
		free(cx->memo);
		cx->memo = g.memo;
		cx->memo_cap = g.memo_cap;
	}
	e = &cx->memo[memo_slot(cx, sql, pc, key)];
	if (!e->sql)
		cx->memo_n++;
	e->sql = sql;
	e->off = pc->span.off;
	e->len = pc->span.len;
	e->sig = pc->sig;
	e->key = key;
	e->kind = kind;
	e->truncated = truncated;
}

/* inner_kind of the PREPARE statement pc, through the memo. Only for the caller's text
 * (depth 0): nested texts are buffers freed and reallocated during the call, so their
 * addresses do not identify them. */
static int prepare_kind(const char *sql, const sql_piece *pc, sql_stmt *st, bool exact, int depth, cls_ctx *cx)
{
	unsigned key = (pc->flags & CLS_MODE_DIMS) | (exact ? 0x10000u : 0);
	const cls_memo_ent *e = depth == 0 ? memo_get(cx, sql, pc, key) : NULL;
	bool was_truncated = cx->truncated;
	if (e) {
		st->prepare_inner = e->kind;
		cx->truncated = cx->truncated || e->truncated;
		return 0;
	}
	cx->truncated = false;
	if (inner_kind(st->prepare_text, st->prepare_text_len, pc->flags & CLS_MODE_DIMS, exact, depth,
	               &st->prepare_inner, cx) < 0)
		return -1;
	if (depth == 0)
		memo_put(cx, sql, pc, key, st->prepare_inner, cx->truncated);
	cx->truncated = cx->truncated || was_truncated;
	return 0;
}

static int fill_stmt(const char *sql, const sql_piece *pc, const cls_state *cs, bool exact, int depth, sql_stmt *st,
                     cls_ctx *cx)
{
	const sql_token *f = cs->first;
	memset(st, 0, sizeof(*st));
	st->span = pc->span;
	st->flags = pc->flags;
	st->kind = pc->lex_error ? SQL_LEX_ERROR : first_kind(sql, cs);
	if (st->kind == SQL_IMPORT_INTO) {
		const sql_token *k = cs->import_into ? &cs->import_tok : &cs->replayer_tok;
		st->import_span.off = k->off;
		st->import_span.len = pc->span.off + pc->span.len - k->off;
		if (!cs->import_into)
			st->import_span.len = k->len;
		st->import_flags = (pc->flags & ~SQL_F_IN_EXEC_COMMENT) | ((k->flags & SQL_TOKF_EXEC) ? SQL_F_IN_EXEC_COMMENT : 0);
		return 0;
	}
	if (st->kind == SQL_USE) {
		st->use_db = sql_tok_decode(sql, &f[1], pc->flags, NULL);
		if (!st->use_db)
			return -1;
	}
	if ((st->kind == SQL_PREPARE_TEXT || st->kind == SQL_PREPARE_VAR) && cs->nfirst >= 2 &&
	    f[1].type != SQL_TOK_EOF) {
		st->prepare_name = sql_tok_decode(sql, &f[1], pc->flags, NULL);
		if (!st->prepare_name)
			return -1;
	}
	if (st->kind == SQL_PREPARE_TEXT) {
		st->prepare_text = prepare_text(sql, pc, &f[3], &st->prepare_text_len);
		if (!st->prepare_text)
			return -1;
		if (prepare_kind(sql, pc, st, exact, depth, cx) < 0)
			return -1;
	}
	return 0;
}

static void stmt_free(sql_stmt *st)
{
	free(st->use_db);
	free(st->prepare_name);
	free(st->prepare_text);
	memset(st, 0, sizeof(*st));
}

static void list_free(cls_list *l)
{
	size_t i;
	for (i = 0; i < l->n; i++)
		stmt_free(&l->v[i]);
	free(l->v);
	free(l->sig);
	memset(l, 0, sizeof(*l));
}

static int list_push(cls_list *l, const sql_stmt *st, uint64_t sig)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 4;
		sql_stmt *nv = realloc(l->v, nc * sizeof(*nv));
		uint64_t *ns;
		if (!nv)
			return -1;
		l->v = nv;
		ns = realloc(l->sig, nc * sizeof(*ns));
		if (!ns)
			return -1;
		l->sig = ns;
		l->cap = nc;
	}
	l->v[l->n] = *st;
	l->sig[l->n++] = sig;
	return 0;
}

/* One lexical reading of the text from byte `start`. exact: nested PREPARE texts before
 * a statement that may change the modes are read under the caller's exact modes. *chg
 * (if not NULL) receives the end of the first statement that may change them. */
static int classify_pass(const char *sql, size_t len, unsigned flags, size_t start, bool exact, int depth,
                         cls_list *out, cls_ctx *cx, cls_change *chg)
{
	sql_splitter sp;
	sql_piece pc;
	cls_state cs;
	bool changed = false;
	if (depth > 0)
		cx->nested_bytes += len - start + CLS_PASS_COST;
	sql_splitter_init_at(&sp, sql, len, flags, start);
	for (;;) {
		sql_stmt it;
		memset(&cs, 0, sizeof(cs));
		if (!sql_splitter_next(&sp, &pc, cls_tok, &cs))
			return 0;
		if (fill_stmt(sql, &pc, &cs, exact && !changed, depth, &it, cx) < 0 || list_push(out, &it, pc.sig) < 0) {
			stmt_free(&it);
			return -1;
		}
		if (!changed && may_change_modes(sql, &pc, &cs)) {
			changed = true;
			if (chg && !chg->found) {
				chg->found = true;
				chg->off = sp.lx.pos;
				chg->flags = (flags & ~SQL_F_IN_EXEC_COMMENT) | (sp.lx.in_exec ? SQL_F_IN_EXEC_COMMENT : 0);
			}
		}
	}
}

/* Same statement of two readings: kind, span, tokenization and prepared kind. */
static bool same_item(const cls_list *la, size_t a, const cls_list *lb, size_t b)
{
	const sql_stmt *x = &la->v[a], *y = &lb->v[b];
	return x->kind == y->kind && x->span.off == y->span.off && x->span.len == y->span.len &&
	       la->sig[a] == lb->sig[b] && x->prepare_inner == y->prepare_inner;
}

static size_t item_hash(const cls_list *l, size_t i)
{
	const sql_stmt *st = &l->v[i];
	uint64_t h = l->sig[i] ^ 0x9e3779b97f4a7c15ull;
	h = (h ^ st->span.off) * 0x100000001b3ull;
	h = (h ^ st->span.len) * 0x100000001b3ull;
	h = (h ^ ((uint64_t)st->kind << 8 | (uint64_t)st->prepare_inner)) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 29));
}

static void set_free(cls_set *s)
{
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

/* Does set s (over list l) hold the statement oi of list ol? */
static bool set_has(const cls_set *s, const cls_list *l, const cls_list *ol, size_t oi)
{
	size_t i;
	if (!s->cap)
		return false;
	for (i = item_hash(ol, oi) & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
		if (same_item(l, s->slot[i] - 1, ol, oi))
			return true;
	return false;
}

static void set_put(cls_set *s, const cls_list *l, size_t idx)
{
	size_t i = item_hash(l, idx) & (s->cap - 1);
	while (s->slot[i])
		i = (i + 1) & (s->cap - 1);
	s->slot[i] = idx + 1;
	s->n++;
}

/* Adds list index idx (load factor kept under 1/2). */
static int set_add(cls_set *s, const cls_list *l, size_t idx)
{
	if ((s->n + 1) * 2 > s->cap) {
		cls_set g = {calloc(s->cap ? s->cap * 2 : 16, sizeof(size_t)), s->cap ? s->cap * 2 : 16, 0};
		size_t i;
		if (!g.slot)
			return -1;
		for (i = 0; i < s->cap; i++)
			if (s->slot[i])
				set_put(&g, l, s->slot[i] - 1);
		free(s->slot);
		*s = g;
	}
	set_put(s, l, idx);
	return 0;
}

static bool word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
	       c >= 0x80;
}

static size_t digits_at(const char *s, size_t len, size_t i)
{
	size_t n = 0;
	while (i + n < len && n < 6 && s[i + n] >= '0' && s[i + n] <= '9')
		n++;
	return n;
}

/* Executable-comment dimensions of the comment opener at i ("/\*" known). */
static unsigned comment_dims(const char *sql, size_t len, size_t i)
{
	unsigned dims = 0;
	char c2 = sql[i + 2];
	bool t = c2 == 'T' && i + 3 < len && sql[i + 3] == '!';
	bool m = c2 == 'M' && i + 3 < len && sql[i + 3] == '!';
	if (c2 == '!' || t)
		dims |= SQL_F_EXEC_AS_COMMENT;
	if (m)
		dims |= SQL_F_MARIADB_EXEC;
	if ((c2 == '!' && digits_at(sql, len, i + 3) >= 6) || (m && digits_at(sql, len, i + 4) >= 6))
		dims |= SQL_F_VERSION6;
	if (t)
		dims |= sql_lex_feature_dims(sql, len, i + 4);
	return dims;
}

/* Which lexical dimensions can change how this text reads (each costs passes, so only
 * those the text can be sensitive to). */
static unsigned variant_dims(const char *sql, size_t len)
{
	unsigned dims = 0;
	bool dq = len > 0 && memchr(sql, '"', len) != NULL; /* memchr(NULL, .., 0) is UB */
	size_t i;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)sql[i];
		if (c == '\\') {
			dims |= SQL_F_NO_BACKSLASH_ESCAPES | (dq ? SQL_F_ANSI_QUOTES : 0);
		} else if (c == '/' && i + 2 < len && sql[i + 1] == '*') {
			dims |= comment_dims(sql, len, i);
		} else if ((c == 0x85 || c == 0xa0) && (i == 0 || !word_byte((unsigned char)sql[i - 1]))) {
			dims |= SQL_F_NBSP_IS_WORD; /* can start a token: blank to TiDB, word to MySQL */
		} else if (c >= 0x81 && c <= 0xfe && i + 1 < len && (sql[i + 1] == '\\' || sql[i + 1] == '`')) {
			dims |= SQL_F_MB_PAIRS;
		} else if (c == '-' && i + 2 < len && sql[i + 1] == '-' && (unsigned char)sql[i + 2] < ' ' &&
		           !(sql[i + 2] == '\t' || sql[i + 2] == '\n' || sql[i + 2] == '\r' || sql[i + 2] == '\f' ||
		             sql[i + 2] == '\v')) {
			dims |= SQL_F_NBSP_IS_WORD; /* "--" + control byte: a comment to MySQL only */
		}
	}
	return dims;
}

/* Readings no server makes, or that cannot differ from one explored anyway: both feature
 * readings at once; the TiDB feature readings (only TiDB knows /\*T!) combined with
 * another server's reading (MySQL/MariaDB blanks, /\*M! code, six-digit versions,
 * executable comments ignored); six-digit versions where /\*! and /\*M! are comments.
 * This keeps the passes per text at most 16 x 8 (sql_mode/charset readings). */
static bool redundant(unsigned f)
{
	unsigned other = SQL_F_NBSP_IS_WORD | SQL_F_MARIADB_EXEC | SQL_F_VERSION6 | SQL_F_EXEC_AS_COMMENT;
	unsigned feat = SQL_F_TIDB_FEATURES_OFF | SQL_F_TIDB_FEATURES_ON;
	if ((f & feat) == feat || ((f & feat) && (f & other)))
		return true;
	return (f & SQL_F_EXEC_AS_COMMENT) && (f & SQL_F_VERSION6) && !(f & SQL_F_MARIADB_EXEC);
}

/* First index of the primary reading (res->v[0..n), in text order) at or after byte off. */
static size_t first_at(const cls_list *res, size_t n, size_t off)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (res->v[mid].span.off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Alternative statement j that the primary reading lacks: a candidate is moved into res
 * (unless an earlier reading added it already) and makes the text mode dependent. */
static int add_extra(cls_list *res, cls_set *extra, cls_list *alt, size_t j, cls_ctx *cx)
{
	if (!is_candidate(alt->v[j].kind) || set_has(extra, res, alt, j))
		return 0;
	cx->mode_dep = true;
	if (list_push(res, &alt->v[j], alt->sig[j]) < 0 || set_add(extra, res, res->n - 1) < 0)
		return -1;
	memset(&alt->v[j], 0, sizeof(alt->v[j])); /* ownership moved */
	return 0;
}

/* Merge reading `alt` (of the text from byte off) into `res`, whose first nprimary items
 * are the primary reading. Both readings list statements in text order, so they are
 * compared in one walk; `extra` holds the statements other readings added. Any candidate
 * difference at or after off marks the text mode dependent. */
static int merge(cls_list *res, cls_set *extra, size_t nprimary, cls_list *alt, size_t off, cls_ctx *cx)
{
	size_t i = first_at(res, nprimary, off), j = 0;
	while (j < alt->n && alt->v[j].span.off < off)
		j++;
	while (i < nprimary || j < alt->n) {
		bool p_first = j >= alt->n || (i < nprimary && res->v[i].span.off < alt->v[j].span.off);
		bool a_first = i >= nprimary || (j < alt->n && alt->v[j].span.off < res->v[i].span.off);
		if (!p_first && !a_first && same_item(res, i, alt, j)) {
			i++;
			j++;
			continue;
		}
		if (!a_first) { /* the primary statement has no equal in alt */
			if (is_candidate(res->v[i].kind))
				cx->mode_dep = true;
			i++;
		}
		if (!p_first) {
			if (add_extra(res, extra, alt, j, cx) < 0)
				return -1;
			j++;
		}
	}
	return 0;
}

/* Frees the statements of l and empties it, keeping its arrays for the next reading. */
static void list_clear(cls_list *l)
{
	size_t i;
	for (i = 0; i < l->n; i++)
		stmt_free(&l->v[i]);
	l->n = 0;
}

/* One alternative reading from byte start (into the scratch list alt), merged into res. */
static int alt_pass(const char *sql, size_t len, unsigned flags, size_t start, bool exact, int depth, cls_list *res,
                    cls_set *extra, size_t nprimary, cls_list *alt, cls_ctx *cx, cls_change *chg)
{
	int rc;
	if (depth > 0 && cx->nested_bytes >= cx->nested_budget) {
		/* the top level always explores every reading; nested texts share a budget */
		cx->truncated = true;
		cx->mode_dep = true;
		return 1;
	}
	rc = classify_pass(sql, len, flags, start, exact, depth, alt, cx, chg);
	if (rc == 0)
		rc = merge(res, extra, nprimary, alt, start, cx);
	list_clear(alt);
	return rc;
}

/* SQL_F_EXACT_MODES: after a statement that may change sql_mode or the client charset
 * (ending at chg->off, under chg->flags), read the rest under every such reading. */
static int explore_tail(const char *sql, size_t len, const cls_change *chg, int depth, cls_list *res, cls_set *extra,
                        size_t nprimary, cls_list *alt, cls_ctx *cx)
{
	unsigned dims = variant_dims(sql + chg->off, len - chg->off) & CLS_MODE_DIMS, combo;
	for (combo = 1; combo <= dims; combo++) {
		int rc;
		if ((combo & ~dims) != 0)
			continue;
		rc = alt_pass(sql, len, chg->flags ^ combo, chg->off, false, depth, res, extra, nprimary, alt, cx, NULL);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int classify_text(const char *sql, size_t len, unsigned flags, bool exact, int depth, cls_list *out,
                         cls_ctx *cx)
{
	unsigned dims, combo;
	size_t nprimary;
	cls_set extra = {0};
	cls_list alt = {0};
	cls_change chg = {false, 0, 0};
	int rc = 0;
	if (classify_pass(sql, len, flags, 0, exact, depth, out, cx, &chg) < 0)
		return -1;
	nprimary = out->n;
	dims = variant_dims(sql, len) & ~(exact ? CLS_MODE_DIMS : 0u);
	if (exact && chg.found)
		rc = explore_tail(sql, len, &chg, depth, out, &extra, nprimary, &alt, cx);
	for (combo = 1; combo <= dims && rc == 0; combo++) {
		cls_change c2 = {false, 0, 0};
		if ((combo & ~dims) != 0 || redundant(flags ^ combo))
			continue;
		rc = alt_pass(sql, len, flags ^ combo, 0, exact, depth, out, &extra, nprimary, &alt, cx, exact ? &c2 : NULL);
		if (rc == 0 && exact && c2.found)
			rc = explore_tail(sql, len, &c2, depth, out, &extra, nprimary, &alt, cx);
	}
	list_free(&alt);
	set_free(&extra);
	return rc < 0 ? -1 : 0;
}

int sql_classify(const char *sql, size_t len, unsigned flags, sql_batch *out, char *err, size_t errlen)
{
	cls_list l = {0};
	bool exact = (flags & SQL_F_EXACT_MODES) != 0;
	int rc;
	cls_ctx cx;
	memset(&cx, 0, sizeof(cx));
	memset(out, 0, sizeof(*out));
	if (!sql)
		len = 0;
	cx.nested_budget = len > CLS_NESTED_MIN / CLS_NESTED_FACTOR ? len * CLS_NESTED_FACTOR : CLS_NESTED_MIN;
	rc = classify_text(sql, len, flags & ~SQL_F_EXACT_MODES, exact, 0, &l, &cx);
	free(cx.memo);
	if (rc < 0) {
		list_free(&l);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(l.sig);
	if (l.n && l.n < l.cap) { /* give back the unused tail; keep the array if that fails */
		sql_stmt *shrunk = realloc(l.v, l.n * sizeof(*l.v));
		if (shrunk)
			l.v = shrunk;
	}
	out->stmts = l.n ? l.v : NULL;
	if (!l.n)
		free(l.v);
	out->n = l.n;
	out->mode_dependent = cx.mode_dep;
	return 0;
}

void sql_batch_free(sql_batch *b)
{
	size_t i;
	if (!b)
		return;
	for (i = 0; i < b->n; i++)
		stmt_free(&b->stmts[i]);
	free(b->stmts);
	memset(b, 0, sizeof(*b));
}
