/*
 * split.h - splits a COM_QUERY text into statements on ';' tokens (never inside strings,
 * comments or quoted identifiers). A statement's span runs from its first token to the
 * end of its last token: leading/trailing blanks and comments and the ';' are excluded.
 */
#ifndef IMPORTGATE_SQLPARSE_SPLIT_H
#define IMPORTGATE_SQLPARSE_SPLIT_H

#include "sqlparse/lexer.h"
#include "sqlparse/sqlparse.h"

#include <stdint.h>

typedef struct sql_piece {
	sql_span span;
	unsigned flags;     /* lexing flags to re-lex the span alone (adds SQL_F_IN_EXEC_COMMENT) */
	size_t ntok;
	uint64_t sig;       /* hash of the token boundaries: equal sig = same tokenization */
	bool lex_error;     /* ended on an unterminated string/comment/identifier */
} sql_piece;

/* Called for every token of the statement being split (index i within the statement). */
typedef void (*sql_tok_cb)(void *ud, const char *sql, const sql_token *t, size_t i);

typedef struct sql_splitter {
	sql_lexer lx;
	const char *sql;
	unsigned flags;
	bool done;
} sql_splitter;

void sql_splitter_init(sql_splitter *sp, const char *sql, size_t len, unsigned flags);
/* The same, starting at byte `start` of sql (offsets stay relative to sql); flags may hold
 * SQL_F_IN_EXEC_COMMENT when start is inside an executable comment. */
void sql_splitter_init_at(sql_splitter *sp, const char *sql, size_t len, unsigned flags, size_t start);
/* 1 and *out filled for the next non-empty statement, 0 at the end. */
int sql_splitter_next(sql_splitter *sp, sql_piece *out, sql_tok_cb cb, void *ud);

/* Convenience: all statement spans at once. 0 ok, -1 on allocation failure (err). */
int sql_split(const char *sql, size_t len, unsigned flags, sql_piece **out, size_t *n, char *err, size_t errlen);

#endif
