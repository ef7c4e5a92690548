/*
 * classify.c - statement classification (DESIGN.md section 3). Owns: the kind of each
 * statement of a COM_QUERY text, the decoded USE database and PREPARE text (classified
 * recursively), and the exploration of the lexical modes the server could be in
 * (backslash escapes, ANSI_QUOTES, executable comments ignored, multibyte client
 * charsets): a candidate statement seen under any of them is reported.
 */
#include "sqlparse/lexer.h"
#include "sqlparse/split.h"
#include "sqlparse/sqlparse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS_FIRST 6       /* leading tokens kept per statement */
#define CLS_MAX_DEPTH 4   /* PREPARE ... FROM 'PREPARE ... FROM ...' nesting bound */
#define CLS_MAX_PASSES 256 /* lexical passes per sql_classify call, over all nesting levels */

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
	sql_token first[CLS_FIRST];
	size_t nfirst;
	sql_token prev;
	bool have_prev;
	bool sql_mode_assign; /* <sql_mode name> followed by = or := */
	bool import_into;     /* IMPORT followed by INTO anywhere */
} cls_state;

typedef struct cls_item {
	sql_stmt st;
	uint64_t sig;
} cls_item;

typedef struct cls_ctx {
	unsigned passes;
	bool mode_dep;
	bool truncated; /* a nested reading was skipped for the pass budget */
} cls_ctx;

typedef struct cls_list {
	cls_item *v;
	size_t n, cap;
} cls_list;

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

static void cls_tok(void *ud, const char *sql, const sql_token *t, size_t i)
{
	cls_state *cs = ud;
	if (i < CLS_FIRST)
		cs->first[cs->nfirst++] = *t;
	if (cs->have_prev) {
		if (t->type == SQL_TOK_EQ && names_sql_mode(sql, &cs->prev))
			cs->sql_mode_assign = true;
		if (sql_tok_is(sql, &cs->prev, "IMPORT") && sql_tok_is(sql, t, "INTO"))
			cs->import_into = true;
	}
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

static sql_kind first_kind(const char *sql, const cls_state *cs)
{
	const sql_token *f = cs->first;
	size_t n = cs->nfirst;
	if (n == 0)
		return SQL_OTHER;
	if (n >= 2 && sql_tok_is(sql, &f[0], "IMPORT") && sql_tok_is(sql, &f[1], "INTO"))
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
	/* EXPLAIN ANALYZE runs the statement it explains; TRACE too. */
	if ((sql_tok_is(sql, &f[0], "EXPLAIN") || sql_tok_is(sql, &f[0], "DESC") ||
	     sql_tok_is(sql, &f[0], "DESCRIBE") || sql_tok_is(sql, &f[0], "TRACE")) &&
	    cs->import_into)
		return SQL_IMPORT_INTO;
	return SQL_OTHER;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
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
			hi = hexval(p[i++]);
		lo = hexval(p[i++]);
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

static int classify_text(const char *sql, size_t len, unsigned flags, int depth, cls_list *out, cls_ctx *cx);
static void list_free(cls_list *l);

/* Kind of a PREPARE text: IMPORT_INTO if any inner statement is (or prepares) an import;
 * else PREPARE_VAR if any part is opaque (PREPARE FROM @var, nesting or budget exceeded);
 * else the first kind that is not OTHER. */
static int inner_kind(const char *text, size_t len, unsigned flags, int depth, sql_kind *kind, cls_ctx *cx)
{
	cls_list l = {0};
	size_t i;
	sql_kind best = SQL_OTHER;
	if (depth >= CLS_MAX_DEPTH || cx->passes >= CLS_MAX_PASSES) {
		*kind = SQL_PREPARE_VAR; /* too deep or too costly to read: opaque */
		return 0;
	}
	bool was_truncated = cx->truncated;
	cx->truncated = false;
	if (classify_text(text, len, flags, depth + 1, &l, cx) < 0)
		return -1;
	for (i = 0; i < l.n; i++) {
		sql_kind k = l.v[i].st.kind;
		if (k == SQL_PREPARE_TEXT) /* a prepared PREPARE: what matters is what it prepares */
			k = l.v[i].st.prepare_inner == SQL_OTHER ? SQL_PREPARE_TEXT : l.v[i].st.prepare_inner;
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

static int fill_stmt(const char *sql, const sql_piece *pc, const cls_state *cs, int depth, sql_stmt *st,
                     cls_ctx *cx)
{
	const sql_token *f = cs->first;
	memset(st, 0, sizeof(*st));
	st->span = pc->span;
	st->flags = pc->flags;
	st->kind = pc->lex_error ? SQL_LEX_ERROR : first_kind(sql, cs);
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
		if (inner_kind(st->prepare_text, st->prepare_text_len,
		               pc->flags & (SQL_F_NO_BACKSLASH_ESCAPES | SQL_F_ANSI_QUOTES | SQL_F_MB_PAIRS), depth,
		               &st->prepare_inner, cx) < 0)
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
		stmt_free(&l->v[i].st);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int list_push(cls_list *l, const cls_item *it)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 4;
		cls_item *nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = *it;
	return 0;
}

/* One lexical reading of the text. */
static int classify_pass(const char *sql, size_t len, unsigned flags, int depth, cls_list *out, cls_ctx *cx)
{
	sql_splitter sp;
	sql_piece pc;
	cls_state cs;
	cx->passes++;
	sql_splitter_init(&sp, sql, len, flags);
	for (;;) {
		cls_item it;
		memset(&cs, 0, sizeof(cs));
		if (!sql_splitter_next(&sp, &pc, cls_tok, &cs))
			return 0;
		it.sig = pc.sig;
		if (fill_stmt(sql, &pc, &cs, depth, &it.st, cx) < 0 || list_push(out, &it) < 0) {
			stmt_free(&it.st);
			return -1;
		}
	}
}

static bool same_item(const cls_item *a, const cls_item *b)
{
	return a->st.kind == b->st.kind && a->st.span.off == b->st.span.off && a->st.span.len == b->st.span.len &&
	       a->sig == b->sig && a->st.prepare_inner == b->st.prepare_inner;
}

static bool list_has(const cls_list *l, const cls_item *it)
{
	size_t i;
	for (i = 0; i < l->n; i++)
		if (same_item(&l->v[i], it))
			return true;
	return false;
}

static bool word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
	       c >= 0x80;
}

static bool has_word(const char *s, size_t len, const char *w)
{
	size_t n = strlen(w);
	return len >= n && memmem(s, len, w, n) != NULL;
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
		} else if (c == '/' && i + 3 < len && sql[i + 1] == '*') {
			if (sql[i + 2] == '!' || (sql[i + 2] == 'T' && sql[i + 3] == '!'))
				dims |= SQL_F_EXEC_AS_COMMENT;
			if (sql[i + 2] == 'M' && sql[i + 3] == '!')
				dims |= SQL_F_MARIADB_EXEC;
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
	if ((dims & SQL_F_EXEC_AS_COMMENT) && (has_word(sql, len, "global_index") || has_word(sql, len, "resource_group")))
		dims |= SQL_F_TIDB_FEATURES_OFF;
	return dims;
}

/* Merge reading `alt` into `res` (the primary reading): candidates that res lacks are
 * moved over; any candidate difference marks the text mode dependent. */
static int merge(cls_list *res, size_t nprimary, cls_list *alt, cls_ctx *cx)
{
	size_t i;
	for (i = 0; i < nprimary; i++)
		if (is_candidate(res->v[i].st.kind) && !list_has(alt, &res->v[i]))
			cx->mode_dep = true;
	for (i = 0; i < alt->n; i++) {
		if (!is_candidate(alt->v[i].st.kind) || list_has(res, &alt->v[i]))
			continue;
		cx->mode_dep = true;
		if (list_push(res, &alt->v[i]) < 0)
			return -1;
		memset(&alt->v[i].st, 0, sizeof(alt->v[i].st)); /* ownership moved */
	}
	return 0;
}

static int classify_text(const char *sql, size_t len, unsigned flags, int depth, cls_list *out, cls_ctx *cx)
{
	unsigned dims, combo;
	size_t nprimary;
	if (classify_pass(sql, len, flags, depth, out, cx) < 0)
		return -1;
	nprimary = out->n;
	dims = variant_dims(sql, len);
	for (combo = 1; combo <= dims; combo++) {
		cls_list alt = {0};
		int rc;
		if ((combo & ~dims) != 0)
			continue;
		if (depth > 0 && cx->passes >= CLS_MAX_PASSES) {
			/* the top level always explores every reading; nested PREPARE texts share a budget */
			cx->truncated = true;
			cx->mode_dep = true;
			break;
		}
		rc = classify_pass(sql, len, flags ^ combo, depth, &alt, cx);
		if (rc == 0)
			rc = merge(out, nprimary, &alt, cx);
		list_free(&alt);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int sql_classify(const char *sql, size_t len, unsigned flags, sql_batch *out, char *err, size_t errlen)
{
	cls_list l = {0};
	size_t i;
	cls_ctx cx = {0, false, false};
	memset(out, 0, sizeof(*out));
	if (classify_text(sql, sql ? len : 0, flags, 0, &l, &cx) < 0) {
		list_free(&l);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (l.n) {
		out->stmts = calloc(l.n, sizeof(*out->stmts));
		if (!out->stmts) {
			list_free(&l);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	for (i = 0; i < l.n; i++)
		out->stmts[i] = l.v[i].st;
	out->n = l.n;
	out->mode_dependent = cx.mode_dep;
	free(l.v);
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
