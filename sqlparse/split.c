/*
 * split.c - statement splitting over the token stream (see split.h). Owns statement
 * boundaries and the tokenization signature used to compare lexical modes.
 */
#include "sqlparse/split.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sql_splitter_init(sql_splitter *sp, const char *sql, size_t len, unsigned flags)
{
	memset(sp, 0, sizeof(*sp));
	sql_lex_init(&sp->lx, sql, len, flags);
	sp->sql = sql;
	sp->flags = flags;
}

void sql_splitter_init_at(sql_splitter *sp, const char *sql, size_t len, unsigned flags, size_t start)
{
	sql_splitter_init(sp, sql, len, flags);
	sp->lx.pos = start < sp->lx.len ? start : sp->lx.len;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0x100000001b3ull;
}

int sql_splitter_next(sql_splitter *sp, sql_piece *out, sql_tok_cb cb, void *ud)
{
	sql_token t;
	memset(out, 0, sizeof(*out));
	while (!sp->done) {
		sql_tok_type ty = sql_lex_next(&sp->lx, &t);
		if (ty == SQL_TOK_EOF) {
			sp->done = true;
			break;
		}
		if (ty == SQL_TOK_SEMI) {
			if (out->ntok)
				return 1;
			continue; /* empty statement */
		}
		if (out->ntok == 0) {
			out->span.off = t.off;
			out->flags = (sp->flags & ~SQL_F_IN_EXEC_COMMENT) |
			             ((t.flags & SQL_TOKF_EXEC) ? SQL_F_IN_EXEC_COMMENT : 0);
			out->sig = 0xcbf29ce484222325ull;
		}
		out->span.len = t.off + t.len - out->span.off;
		out->sig = mix(mix(out->sig, t.off - out->span.off), t.len);
		if (cb)
			cb(ud, sp->sql, &t, out->ntok);
		out->ntok++;
		if (ty == SQL_TOK_ERROR) {
			out->lex_error = true;
			sp->done = true;
			return 1;
		}
	}
	return out->ntok ? 1 : 0;
}

int sql_split(const char *sql, size_t len, unsigned flags, sql_piece **out, size_t *n, char *err, size_t errlen)
{
	sql_splitter sp;
	sql_piece p, *v = NULL;
	size_t cap = 0, cnt = 0;
	sql_splitter_init(&sp, sql, len, flags);
	while (sql_splitter_next(&sp, &p, NULL, NULL)) {
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 8;
			sql_piece *nv = realloc(v, nc * sizeof(*nv));
			if (!nv) {
				free(v);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			v = nv;
			cap = nc;
		}
		v[cnt++] = p;
	}
	*out = v;
	*n = cnt;
	return 0;
}
