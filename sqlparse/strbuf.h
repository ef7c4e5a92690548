/*
 * strbuf.h - the growable, always NUL-terminated string the sqlparse writers build their
 * output in (redactor, logical rewrite). An allocation failure is sticky: later appends do
 * nothing and the writer reports it once, at the end.
 */
#ifndef IMPORTGATE_SQLPARSE_STRBUF_H
#define IMPORTGATE_SQLPARSE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sql_sbuf {
	char *p;
	size_t n, cap;
	bool oom;
} sql_sbuf;

void sql_sb_put(sql_sbuf *b, const char *s, size_t n);
void sql_sb_str(sql_sbuf *b, const char *s);
/* The text (an empty string when nothing was written), or NULL when an allocation failed
 * (the buffer is then freed). The caller owns the text. */
char *sql_sb_done(sql_sbuf *b);

#endif
