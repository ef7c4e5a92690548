/*
 * strbuf.c - growable NUL-terminated output string (see strbuf.h).
 */
#include "sqlparse/strbuf.h"

#include <stdlib.h>
#include <string.h>

void sql_sb_put(sql_sbuf *b, const char *s, size_t n)
{
	if (b->oom || n == 0)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 128;
		while (nc < b->n + n + 1)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

void sql_sb_str(sql_sbuf *b, const char *s)
{
	sql_sb_put(b, s, strlen(s));
}

char *sql_sb_done(sql_sbuf *b)
{
	if (b->oom) {
		free(b->p);
		b->p = NULL;
		return NULL;
	}
	if (!b->p && (b->p = malloc(1)))
		b->p[0] = 0;
	return b->p;
}
