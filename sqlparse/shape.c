/*
 * shape.c - statement shapes the inspector needs beyond the classifier's kinds (shape.h).
 * `PREPARE name FROM @var` is read exactly; anything else of the PREPARE shape (a user
 * variable in an expression, a system variable, nesting) is not: the caller treats it as
 * opaque.
 */
#include "sqlparse/shape.h"

#include <stdlib.h>
#include <string.h>

#include "sqlparse/lexer.h"

int sql_prepare_var_name(const char *sql, size_t len, unsigned flags, char **var, size_t *tok_off,
                         size_t *tok_len)
{
	sql_lexer lx;
	sql_token t[5];
	size_t n = 0;
	*var = NULL;
	sql_lex_init(&lx, sql, len, flags);
	while (n < 5) {
		sql_tok_type ty = sql_lex_next(&lx, &t[n]);
		if (ty == SQL_TOK_EOF)
			break;
		if (ty == SQL_TOK_ERROR)
			return 1;
		n++;
	}
	/* PREPARE name FROM @var, optionally followed by the statement's ';'. */
	if (n < 4 || (n == 5 && t[4].type != SQL_TOK_SEMI))
		return 1;
	if (!sql_tok_is(sql, &t[0], "PREPARE") || (t[1].type != SQL_TOK_IDENT && t[1].type != SQL_TOK_QIDENT) ||
	    !sql_tok_is(sql, &t[2], "FROM") || t[3].type != SQL_TOK_VAR)
		return 1;
	if (n == 5) {
		sql_token extra;
		if (sql_lex_next(&lx, &extra) != SQL_TOK_EOF)
			return 1;
	}
	size_t n_name;
	*var = sql_tok_decode(sql, &t[3], flags, &n_name);
	if (!*var)
		return -1;
	if (n_name == 0 || memchr(*var, '\0', n_name)) {
		/* No name the probe could ask for faithfully. */
		free(*var);
		*var = NULL;
		return 1;
	}
	*tok_off = t[3].off;
	*tok_len = t[3].len;
	return 0;
}

bool sql_may_change_session_unseen(const char *sql, size_t len, unsigned flags)
{
	sql_lexer lx;
	sql_token t;
	bool first = true, set = false;
	sql_lex_init(&lx, sql, len, flags);
	for (;;) {
		sql_tok_type ty = sql_lex_next(&lx, &t);
		if (ty == SQL_TOK_ERROR)
			return true;
		if (ty == SQL_TOK_EOF)
			return false;
		if (first) {
			if (sql_tok_is(sql, &t, "EXECUTE") || sql_tok_is(sql, &t, "CALL"))
				return true;
			set = sql_tok_is(sql, &t, "SET");
			first = false;
			if (!set)
				return false;
			continue;
		}
		if (set && sql_tok_is(sql, &t, "SESSION_STATES"))
			return true;
	}
}

bool sql_mentions_session_states(const char *text, size_t len)
{
	static const char word[] = "session_states";
	size_t n = sizeof(word) - 1;
	for (size_t i = 0; text && i + n <= len; i++) {
		size_t k = 0;
		while (k < n && (word[k] == '_' ? text[i + k] == '_' : (text[i + k] | 0x20) == word[k]))
			k++;
		if (k == n)
			return true;
	}
	return false;
}
