/*
 * lexer.h - MySQL/TiDB tokenizer over (const char *, size_t). By default it reads text as
 * TiDB's lexer does (pkg/parser/lexer.go): comments are skipped, the content of executable
 * comments (/\*! always, /\*T! when TiDB knows the listed features) is lexed as code,
 * /\*M! is a comment, bytes 0x85/0xA0 between tokens are blanks; SQL_F_* flags select the
 * other readings (sql_mode quoting, MySQL, MariaDB, GBK client). Strings, quoted
 * identifiers, literals, variables and operators become tokens carrying byte offsets into
 * the input. Never reads past len.
 */
#ifndef IMPORTGATE_SQLPARSE_LEXER_H
#define IMPORTGATE_SQLPARSE_LEXER_H

#include <stdbool.h>
#include <stddef.h>

typedef enum sql_tok_type {
	SQL_TOK_EOF,
	SQL_TOK_IDENT,   /* unquoted word: keyword or identifier */
	SQL_TOK_QIDENT,  /* `quoted identifier` ("..." under ANSI_QUOTES) */
	SQL_TOK_STRING,  /* '...' or "..." with optional _charset / N prefix */
	SQL_TOK_NUMBER,
	SQL_TOK_HEX,     /* X'..' or 0x.. */
	SQL_TOK_BIT,     /* B'..' or 0b.. */
	SQL_TOK_VAR,     /* @name, @'name', @`name`, @"name" */
	SQL_TOK_SYSVAR,  /* @@name, @@session.name */
	SQL_TOK_PARAM,   /* ? */
	SQL_TOK_SEMI,
	SQL_TOK_LPAREN,
	SQL_TOK_RPAREN,
	SQL_TOK_COMMA,
	SQL_TOK_DOT,
	SQL_TOK_EQ,      /* = or := */
	SQL_TOK_OP,      /* any other operator or punctuation */
	SQL_TOK_ERROR    /* unterminated string/comment/identifier; lexing stops */
} sql_tok_type;

/* token flags */
#define SQL_TOKF_DQ 1u      /* quoted with " */
#define SQL_TOKF_PREFIX 2u  /* STRING with _charset or N prefix: quote starts at qoff */
#define SQL_TOKF_EXEC 4u    /* inside an executable comment */
#define SQL_TOKF_BSLASH 8u  /* quoted token containing a backslash */

typedef struct sql_token {
	sql_tok_type type;
	unsigned flags;
	size_t off, len; /* whole token */
	size_t qoff;     /* STRING/QIDENT/VAR: offset of the opening quote (== off if none) */
} sql_token;

typedef struct sql_lexer {
	const char *s;
	size_t len, pos;
	unsigned flags;  /* SQL_F_* */
	int in_exec;     /* inside an executable comment */
	bool saw_exec;   /* an executable comment was seen */
	bool saw_bslash; /* a quoted token contained a backslash */
} sql_lexer;

void sql_lex_init(sql_lexer *lx, const char *s, size_t len, unsigned flags);
/* Next token; SQL_TOK_EOF at the end, SQL_TOK_ERROR (then EOF) on an unterminated construct. */
sql_tok_type sql_lex_next(sql_lexer *lx, sql_token *t);

/* Case-insensitive keyword test of an IDENT token against an upper-case ASCII word. */
bool sql_tok_is(const char *s, const sql_token *t, const char *kw);

/* Decode a STRING, QIDENT or IDENT token (or the name of a VAR/SYSVAR) into a new
 * NUL-terminated buffer. flags are the lexing flags (backslash escapes). NULL on OOM. */
char *sql_tok_decode(const char *s, const sql_token *t, unsigned flags, size_t *outlen);
/* Appends the decoded value of string token t to *acc (length *n, kept NUL-terminated):
 * adjacent literals concatenate ('a' 'b' is 'ab'). 0, or -1 when out of memory (then *acc
 * is freed and set to NULL). */
int sql_tok_append_decoded(char **acc, size_t *n, const char *s, const sql_token *t, unsigned flags);

/* Which of SQL_F_TIDB_FEATURES_OFF / _ON can change how the /\*T! comment whose "[" (or
 * other byte after "/\*T!") is at s[d] reads: OFF when it lists an id only some TiDB
 * builds know, ON when it lists an id the gateway does not know; 0 for a malformed list. */
unsigned sql_lex_feature_dims(const char *s, size_t len, size_t d);

/* Internal helper shared by the modules: ASCII case-insensitive comparison. */
bool sql_ieq(const char *a, size_t alen, const char *b);

#endif
