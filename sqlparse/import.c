/*
 * import.c - the IMPORT INTO parser (TiDB v7.2-v8.5 grammar, docs/ARCHITECTURE.md):
 *   IMPORT INTO [db.]tbl [(col_or_@var, ...)] [SET col=expr, ...] FROM 'loc' [FORMAT 'fmt'] [WITH opt[=val], ...]
 *   IMPORT INTO [db.]tbl [(col, ...)] FROM {SELECT | (SELECT) | WITH cte ... SELECT} ... [WITH opt[=val], ...]
 * Owns the statement's structure and byte spans; option validation lives in import_opts.c.
 */
#include "sqlparse/import_internal.h"
#include "sqlparse/lexer.h"
#include "sqlparse/sqlparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tokens of the statement: a typical IMPORT INTO fits the parser's own array, longer
 * ones (FROM SELECT ...) move to the heap. */
#define TOKV_LOCAL 64

typedef struct tokv {
	sql_token *v;
	size_t n, cap;
	sql_token local[TOKV_LOCAL];
} tokv;

typedef struct parser {
	const char *sql;
	unsigned flags;
	tokv t;
	size_t i;      /* cursor */
	size_t ntok;   /* tokens of the statement (before a trailing ';') */
	char *err;
	size_t errlen;
} parser;

static int perr(parser *p, const char *what)
{
	size_t off = p->i < p->ntok ? p->t.v[p->i].off : (p->ntok ? p->t.v[p->ntok - 1].off + p->t.v[p->ntok - 1].len : 0);
	snprintf(p->err, p->errlen, "IMPORT INTO syntax: %s at offset %zu", what, off);
	return -1;
}

static int oom(parser *p)
{
	snprintf(p->err, p->errlen, "out of memory");
	return -1;
}

static int tokenize(parser *p, const char *sql, size_t len)
{
	sql_lexer lx;
	sql_token tk;
	sql_lex_init(&lx, sql, len, p->flags);
	p->t.v = p->t.local;
	p->t.cap = TOKV_LOCAL;
	for (;;) {
		sql_tok_type ty = sql_lex_next(&lx, &tk);
		if (ty == SQL_TOK_EOF)
			break;
		if (ty == SQL_TOK_ERROR) {
			snprintf(p->err, p->errlen, "unterminated string, identifier or comment at offset %zu", tk.off);
			return -1;
		}
		if (p->t.n == p->t.cap) {
			size_t nc = p->t.cap * 2;
			sql_token *nv = realloc(p->t.v == p->t.local ? NULL : p->t.v, nc * sizeof(*nv));
			if (!nv)
				return oom(p);
			if (p->t.v == p->t.local)
				memcpy(nv, p->t.local, sizeof(p->t.local));
			p->t.v = nv;
			p->t.cap = nc;
		}
		p->t.v[p->t.n++] = tk;
	}
	/* One statement: trailing ';' (and nothing after) allowed. */
	for (p->ntok = 0; p->ntok < p->t.n && p->t.v[p->ntok].type != SQL_TOK_SEMI; p->ntok++)
		;
	for (size_t k = p->ntok; k < p->t.n; k++)
		if (p->t.v[k].type != SQL_TOK_SEMI) {
			p->i = k;
			return perr(p, "more than one statement");
		}
	return 0;
}

static const sql_token *cur(const parser *p)
{
	return p->i < p->ntok ? &p->t.v[p->i] : NULL;
}

static bool at_kw(const parser *p, size_t i, const char *kw)
{
	return i < p->ntok && sql_tok_is(p->sql, &p->t.v[i], kw);
}

static bool at_type(const parser *p, size_t i, sql_tok_type ty)
{
	return i < p->ntok && p->t.v[i].type == ty;
}

static size_t tok_end(const sql_token *t)
{
	return t->off + t->len;
}

static int expect_kw(parser *p, const char *kw)
{
	if (!at_kw(p, p->i, kw)) {
		char what[48];
		snprintf(what, sizeof(what), "expected %s", kw);
		return perr(p, what);
	}
	p->i++;
	return 0;
}

/* A name: unquoted word, `backticked`, or "double quoted" (ANSI_QUOTES reading). */
static bool is_name_tok(const sql_token *t)
{
	return t && (t->type == SQL_TOK_IDENT || t->type == SQL_TOK_QIDENT ||
	             (t->type == SQL_TOK_STRING && (t->flags & SQL_TOKF_DQ) && !(t->flags & SQL_TOKF_PREFIX)));
}

static char *decode_name(parser *p, const sql_token *t)
{
	if (t->type == SQL_TOK_STRING) {
		/* "x" read as an identifier: "" doubles, no backslash escapes */
		sql_token q = *t;
		q.type = SQL_TOK_QIDENT;
		return sql_tok_decode(p->sql, &q, p->flags, NULL);
	}
	return sql_tok_decode(p->sql, t, p->flags, NULL);
}

static int parse_target(parser *p, sql_import *imp)
{
	const sql_token *a = cur(p), *b;
	if (!is_name_tok(a))
		return perr(p, "expected a table name");
	p->i++;
	imp->target_span.off = a->off;
	imp->target_span.len = a->len;
	if (at_type(p, p->i, SQL_TOK_DOT)) {
		p->i++;
		b = cur(p);
		if (!is_name_tok(b))
			return perr(p, "expected a table name after '.'");
		p->i++;
		imp->db = decode_name(p, a);
		imp->table = decode_name(p, b);
		if (!imp->db || !imp->table)
			return oom(p);
		imp->target_span.len = tok_end(b) - a->off;
		return 0;
	}
	imp->table = decode_name(p, a);
	return imp->table ? 0 : oom(p);
}

/* Room for one more element in an array grown by doubling from 8 (its capacity is
 * implied by its count, so the public structure needs no capacity field). */
static bool grow(void **v, size_t n, size_t elem)
{
	void *nv;
	if (n != 0 && (n < 8 || (n & (n - 1)) != 0))
		return true; /* 0 < n < capacity */
	nv = realloc(*v, (n == 0 ? 8 : n * 2) * elem);
	if (!nv)
		return false;
	*v = nv;
	return true;
}

static int push_col(parser *p, sql_import *imp, char *name, bool is_var)
{
	sql_import_col *nv;
	if (!grow((void **)&imp->cols, imp->ncols, sizeof(*nv))) {
		free(name);
		return oom(p);
	}
	nv = imp->cols;
	nv[imp->ncols].name = name;
	nv[imp->ncols].is_var = is_var;
	imp->ncols++;
	return 0;
}

static int parse_columns(parser *p, sql_import *imp)
{
	if (!at_type(p, p->i, SQL_TOK_LPAREN))
		return 0;
	p->i++;
	if (at_type(p, p->i, SQL_TOK_RPAREN)) {
		p->i++;
		return 0;
	}
	for (;;) {
		const sql_token *t = cur(p);
		char *name;
		bool is_var = false;
		if (t && t->type == SQL_TOK_VAR) {
			is_var = true;
			p->i++;
		} else if (is_name_tok(t)) {
			p->i++;
			/* qualified column: keep the last part */
			while (at_type(p, p->i, SQL_TOK_DOT) && p->i + 1 < p->ntok && is_name_tok(&p->t.v[p->i + 1])) {
				t = &p->t.v[p->i + 1];
				p->i += 2;
			}
		} else {
			return perr(p, "expected a column name or @variable");
		}
		name = is_var ? sql_tok_decode(p->sql, t, p->flags, NULL) : decode_name(p, t);
		if (!name)
			return oom(p);
		if (push_col(p, imp, name, is_var) < 0)
			return -1;
		if (at_type(p, p->i, SQL_TOK_COMMA)) {
			p->i++;
			continue;
		}
		if (at_type(p, p->i, SQL_TOK_RPAREN)) {
			p->i++;
			return 0;
		}
		return perr(p, "expected ',' or ')' in the column list");
	}
}

/* SET assignments: raw span up to the FROM at parenthesis depth 0. */
static int parse_set(parser *p, sql_import *imp)
{
	size_t j, start;
	int depth = 0;
	if (!at_kw(p, p->i, "SET"))
		return 0;
	p->i++;
	start = p->i;
	for (j = start; j < p->ntok; j++) {
		sql_tok_type ty = p->t.v[j].type;
		if (ty == SQL_TOK_LPAREN)
			depth++;
		else if (ty == SQL_TOK_RPAREN && --depth < 0)
			break;
		else if (depth == 0 && sql_tok_is(p->sql, &p->t.v[j], "FROM"))
			break;
	}
	if (j >= p->ntok || depth < 0 || j == start) {
		p->i = j;
		return perr(p, "bad SET clause");
	}
	imp->set_span.off = p->t.v[start].off;
	imp->set_span.len = tok_end(&p->t.v[j - 1]) - imp->set_span.off;
	p->i = j;
	return 0;
}

static bool is_str_tok(const sql_token *t)
{
	return t && t->type == SQL_TOK_STRING;
}

/* Adjacent string literals concatenate ('a' 'b' = 'ab'), as in the server. */
static char *decode_strings(parser *p, size_t *first, sql_span *span)
{
	char *acc = NULL;
	size_t n = 0, start = *first;
	if (!is_str_tok(p->i + 1 < p->ntok ? &p->t.v[p->i + 1] : NULL)) {
		/* one literal (the usual case): its decoded copy is the value */
		acc = sql_tok_decode(p->sql, cur(p), p->flags, NULL);
		if (!acc)
			return NULL;
		p->i++;
		span->off = p->t.v[start].off;
		span->len = tok_end(&p->t.v[p->i - 1]) - span->off;
		return acc;
	}
	while (is_str_tok(cur(p))) {
		if (sql_tok_append_decoded(&acc, &n, p->sql, cur(p), p->flags) < 0)
			return NULL;
		p->i++;
	}
	span->off = p->t.v[start].off;
	span->len = tok_end(&p->t.v[p->i - 1]) - span->off;
	return acc;
}

/* FROM SELECT ...: the import's WITH is the first WITH at depth 0 that is neither the
 * query's own leading CTE WITH nor a GROUP BY ... WITH ROLLUP. */
static int parse_select(parser *p, sql_import *imp)
{
	size_t start = p->i, j;
	int depth = 0;
	if (!(at_kw(p, start, "SELECT") || at_kw(p, start, "WITH") || at_kw(p, start, "TABLE") ||
	      at_kw(p, start, "VALUES") || at_type(p, start, SQL_TOK_LPAREN)))
		return perr(p, "expected a location string or a query after FROM");
	for (j = start; j < p->ntok; j++) {
		sql_tok_type ty = p->t.v[j].type;
		if (ty == SQL_TOK_LPAREN) {
			depth++;
		} else if (ty == SQL_TOK_RPAREN) {
			if (--depth < 0) {
				p->i = j;
				return perr(p, "unbalanced ')'");
			}
		} else if (depth == 0 && j > start && sql_tok_is(p->sql, &p->t.v[j], "WITH") &&
		           !at_kw(p, j + 1, "ROLLUP")) {
			break;
		}
	}
	if (depth != 0)
		return perr(p, "unbalanced '('");
	imp->src = SQL_SRC_SELECT;
	imp->select_span.off = p->t.v[start].off;
	imp->select_span.len = tok_end(&p->t.v[j - 1]) - imp->select_span.off;
	p->i = j;
	return 0;
}

static int parse_source(parser *p, sql_import *imp)
{
	size_t first = p->i;
	if (expect_kw(p, "FROM") < 0)
		return -1;
	first = p->i;
	if (!is_str_tok(cur(p)) && !(cur(p) && cur(p)->type == SQL_TOK_QIDENT && (cur(p)->flags & SQL_TOKF_DQ)))
		return parse_select(p, imp);
	imp->src = SQL_SRC_FILE;
	if (cur(p)->type == SQL_TOK_QIDENT) {
		/* "loc" read under ANSI_QUOTES: TiDB would refuse it; keep its text anyway */
		imp->location = sql_tok_decode(p->sql, cur(p), p->flags, NULL);
		imp->location_span.off = cur(p)->off;
		imp->location_span.len = cur(p)->len;
		p->i++;
	} else {
		imp->location = decode_strings(p, &first, &imp->location_span);
	}
	if (!imp->location)
		return oom(p);
	if (at_kw(p, p->i, "FORMAT")) {
		sql_span fs;
		p->i++;
		first = p->i;
		if (!is_str_tok(cur(p)))
			return perr(p, "expected a string after FORMAT");
		imp->format = decode_strings(p, &first, &fs);
		if (!imp->format)
			return oom(p);
	}
	return 0;
}

/* Option value: string(s), number with optional sign, hex/bit literal or a word. */
static int parse_value(parser *p, sql_import_opt *o)
{
	const sql_token *t = cur(p);
	size_t first = p->i;
	if (!t)
		return perr(p, "expected an option value");
	if (t->type == SQL_TOK_STRING) {
		o->value = decode_strings(p, &first, &o->value_span);
		o->value_kind = SQL_OPTV_STRING;
		return o->value ? 0 : oom(p);
	}
	if (t->type == SQL_TOK_OP && t->len == 1 && (p->sql[t->off] == '-' || p->sql[t->off] == '+') &&
	    at_type(p, p->i + 1, SQL_TOK_NUMBER)) {
		p->i++;
	} else if (t->type != SQL_TOK_NUMBER && t->type != SQL_TOK_IDENT && t->type != SQL_TOK_QIDENT &&
	           t->type != SQL_TOK_HEX && t->type != SQL_TOK_BIT) {
		return perr(p, "expected an option value");
	}
	switch (p->t.v[p->i].type) {
	case SQL_TOK_NUMBER:
		o->value_kind = SQL_OPTV_NUMBER;
		break;
	case SQL_TOK_IDENT:
	case SQL_TOK_QIDENT:
		o->value_kind = SQL_OPTV_WORD;
		break;
	default:
		o->value_kind = SQL_OPTV_OTHER; /* hex / bit literal */
		break;
	}
	o->value_span.off = t->off;
	o->value_span.len = tok_end(&p->t.v[p->i]) - t->off;
	if (p->t.v[p->i].type == SQL_TOK_QIDENT) {
		o->value = sql_tok_decode(p->sql, &p->t.v[p->i], p->flags, NULL);
	} else {
		o->value = malloc(o->value_span.len + 1);
		if (o->value) {
			memcpy(o->value, p->sql + o->value_span.off, o->value_span.len);
			o->value[o->value_span.len] = 0;
		}
	}
	p->i++;
	return o->value ? 0 : oom(p);
}

static int parse_option(parser *p, sql_import_opt *o)
{
	const sql_token *t = cur(p);
	char *name;
	size_t k, n;
	memset(o, 0, sizeof(*o));
	if (!t || (t->type != SQL_TOK_IDENT && t->type != SQL_TOK_QIDENT))
		return perr(p, "expected an option name");
	if (t->type == SQL_TOK_IDENT) {
		/* an unquoted word decodes to itself: no copy needed */
		name = NULL;
		n = t->len;
	} else {
		name = sql_tok_decode(p->sql, t, p->flags, &n);
		if (!name)
			return oom(p);
	}
	{
		const char *src = name ? name : p->sql + t->off;
		for (k = 0; k < n && k < sizeof(o->name) - 1; k++)
			o->name[k] = (src[k] >= 'a' && src[k] <= 'z') ? (char)(src[k] - 32) : src[k];
	}
	o->name[k] = 0;
	o->name_truncated = n >= sizeof(o->name);
	free(name);
	o->name_span.off = t->off;
	o->name_span.len = t->len;
	o->span = o->name_span;
	p->i++;
	if (at_type(p, p->i, SQL_TOK_EQ)) {
		p->i++;
		o->has_value = true;
		if (parse_value(p, o) < 0)
			return -1;
		o->span.len = o->value_span.off + o->value_span.len - o->span.off;
	}
	return 0;
}

static int parse_with(parser *p, sql_import *imp)
{
	if (!at_kw(p, p->i, "WITH"))
		return 0;
	size_t comma = 0;
	imp->has_with = true;
	imp->with_span.off = p->t.v[p->i].off;
	p->i++;
	for (;;) {
		sql_import_opt *nv;
		if (!grow((void **)&imp->opts, imp->nopts, sizeof(*nv)))
			return oom(p);
		nv = imp->opts;
		if (parse_option(p, &nv[imp->nopts]) < 0) {
			free(nv[imp->nopts].value);
			return -1;
		}
		nv[imp->nopts].comma_off = comma;
		imp->nopts++;
		if (!at_type(p, p->i, SQL_TOK_COMMA))
			break;
		comma = p->t.v[p->i].off;
		p->i++;
	}
	imp->with_span.len = tok_end(&p->t.v[p->i - 1]) - imp->with_span.off;
	return 0;
}

/* EXPLAIN [ANALYZE] / DESC / TRACE IMPORT INTO ...: skip to the IMPORT keyword. */
static int skip_prefix(parser *p)
{
	size_t j;
	if (!(at_kw(p, 0, "EXPLAIN") || at_kw(p, 0, "DESC") || at_kw(p, 0, "DESCRIBE") || at_kw(p, 0, "TRACE")))
		return 0;
	for (j = 1; j + 1 < p->ntok; j++)
		if (at_kw(p, j, "IMPORT") && at_kw(p, j + 1, "INTO")) {
			p->i = j;
			return 0;
		}
	return perr(p, "expected IMPORT INTO");
}

static int parse_all(parser *p, sql_import *imp)
{
	if (skip_prefix(p) < 0 || expect_kw(p, "IMPORT") < 0 || expect_kw(p, "INTO") < 0 || parse_target(p, imp) < 0 ||
	    parse_columns(p, imp) < 0 || parse_set(p, imp) < 0 || parse_source(p, imp) < 0 || parse_with(p, imp) < 0)
		return -1;
	if (p->i < p->ntok)
		return perr(p, "unexpected token");
	imp->end = tok_end(&p->t.v[p->ntok - 1]);
	return 0;
}

int sql_import_parse(const char *sql, size_t len, unsigned flags, sql_import *out, char *err, size_t errlen)
{
	parser p;
	int rc;
	memset(out, 0, sizeof(*out));
	/* field by field: clearing the token array (p.t.local) would cost more than parsing */
	p.t.n = 0;
	p.i = 0;
	p.ntok = 0;
	p.sql = sql;
	p.flags = flags;
	p.err = err;
	p.errlen = errlen;
	rc = tokenize(&p, sql, sql ? len : 0);
	if (rc == 0)
		rc = parse_all(&p, out);
	if (rc == 0)
		sql_import_check_options(sql, flags, out);
	if (p.t.v != p.t.local)
		free(p.t.v);
	if (rc < 0)
		sql_import_free(out);
	return rc;
}

const sql_import_opt *sql_import_find_opt(const sql_import *imp, const char *name)
{
	size_t i;
	for (i = 0; imp && i < imp->nopts; i++)
		if (!imp->opts[i].name_truncated && sql_ieq(imp->opts[i].name, strlen(imp->opts[i].name), name))
			return &imp->opts[i];
	return NULL;
}

void sql_import_free(sql_import *imp)
{
	size_t i;
	if (!imp)
		return;
	free(imp->db);
	free(imp->table);
	for (i = 0; i < imp->ncols; i++)
		free(imp->cols[i].name);
	free(imp->cols);
	free(imp->location);
	free(imp->format);
	for (i = 0; i < imp->nopts; i++)
		free(imp->opts[i].value);
	free(imp->opts);
	memset(imp, 0, sizeof(*imp));
}
