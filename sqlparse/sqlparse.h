/*
 * sqlparse.h - the public API of the statement inspector (docs/ARCHITECTURE.md).
 * Pure functions over (const char *, size_t): no I/O, no globals, safe on any bytes.
 * Split a COM_QUERY text into statements, classify each, parse IMPORT INTO, rewrite its
 * DISABLE_PRECHECK option and redact credentials for the audit log.
 */
#ifndef IMPORTGATE_SQLPARSE_H
#define IMPORTGATE_SQLPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lexical modes of the server's sql_mode. The classifier is conservative about both
 * (see sql_classify); the IMPORT INTO parser honours them. */
#define SQL_F_NO_BACKSLASH_ESCAPES 1u
#define SQL_F_ANSI_QUOTES 2u
/* The default reading is TiDB's lexer (pkg/parser/lexer.go): /\*! is code whatever its
 * version and exactly five version digits are skipped when five are there, /\*T![ids] is
 * code when TiDB knows every id, /\*M! is a comment, bytes 0x85/0xA0 between tokens are
 * blanks. The flags below select other readings; the classifier explores them on its own
 * (sql_stmt.flags says which one saw a statement: pass them back to sql_import_parse /
 * sql_redact_statement). */
#define SQL_F_IN_EXEC_COMMENT 4u     /* the text starts inside an executable comment */
#define SQL_F_EXEC_AS_COMMENT 8u     /* /\*! and /\*T! are plain comments (MySQL, older version) */
#define SQL_F_MB_PAIRS 16u           /* in quotes, 0x81-0xFE + 0x40-0xFE (not 0x7F) is one character
                                      * (client charset gbk or gb18030, see lexer.c) */
#define SQL_F_TIDB_FEATURES_OFF 32u  /* /\*T![ids]: only ids every TiDB with IMPORT INTO knows are
                                      * known (global_index, pre_split are not: older TiDB) */
#define SQL_F_MARIADB_EXEC 64u       /* /\*M! is code (MariaDB) */
#define SQL_F_NBSP_IS_WORD 128u      /* 0x85/0xA0 are word bytes everywhere and "--" + any byte
                                      * <= ' ' is a comment (MySQL) */
/* sql_classify only: the caller's SQL_F_NO_BACKSLASH_ESCAPES, SQL_F_ANSI_QUOTES and
 * SQL_F_MB_PAIRS are the server's own values (asked at decision time), so those three are
 * not explored, except after a statement of the batch that may change sql_mode or the
 * client character set (SET sql_mode/NAMES/CHARACTER SET/CHARSET/character_set_*, any SET
 * naming them, SET SESSION_STATES, EXECUTE, CALL, a lexical error): every later statement
 * is read under every reading again. Unknown /\*T! ids and the other servers' readings
 * are still explored. Never set in sql_stmt.flags. */
#define SQL_F_EXACT_MODES 256u
#define SQL_F_VERSION6 512u          /* /\*! and /\*M! take a six-digit version when six digits
                                      * follow (MariaDB's and newer MySQL's versions may have six
                                      * digits; TiDB always takes five) */
#define SQL_F_TIDB_FEATURES_ON 1024u /* /\*T![ids] with a well-formed list is code whatever the ids
                                      * (a TiDB build that knows ids the gateway does not) */

typedef struct sql_span {
	size_t off, len;
} sql_span;

typedef enum sql_kind {
	SQL_OTHER,
	SQL_IMPORT_INTO,
	SQL_SHOW_IMPORT_JOB,   /* SHOW IMPORT JOBS / SHOW IMPORT JOB n */
	SQL_CANCEL_IMPORT_JOB, /* CANCEL IMPORT JOB n */
	SQL_PREPARE_TEXT,      /* PREPARE name FROM 'text' */
	SQL_PREPARE_VAR,       /* PREPARE name FROM @var: opaque */
	SQL_USE,
	SQL_LOAD_DATA,
	SQL_BACKUP,
	SQL_RESTORE,
	SQL_SET_SQL_MODE, /* SET [GLOBAL|SESSION|LOCAL] sql_mode = / @@[scope.]sql_mode := ... */
	SQL_LEX_ERROR     /* unterminated string/comment/identifier (the server's syntax error) */
} sql_kind;

const char *sql_kind_name(sql_kind k);

/* 1 when the text certainly holds nothing of interest: after blanks it starts with a plain
 * keyword (SELECT INSERT UPDATE DELETE REPLACE BEGIN START COMMIT ROLLBACK SAVEPOINT RELEASE
 * DO CALL EXECUTE; SET without "sql_mode" anywhere; SHOW not followed by IMPORT) directly
 * followed by a non-word byte, and holds no ';' byte and no "import" (any case) after the
 * keyword. 0 means: take the full path. */
int sql_quick_reject(const char *sql, size_t len);

/* 1 when the text is exactly one KILL of a connection by a literal decimal id - blanks,
 * KILL, one optional HARD / SOFT / TIDB, an optional CONNECTION, the id, an optional ';' -
 * with the id in *id; 0 for anything else (a comment, QUERY, an expression, USER, a second
 * statement). kill.c says what it is for. */
int sql_kill_connection(const char *sql, size_t len, uint64_t *id);

/* prepare_inner/kind of PREPARE texts: "PREPARE s FROM \"...\"" is read as text even under
 * ANSI_QUOTES (where the server refuses it), since the gateway's idea of sql_mode may be
 * wrong. */
typedef struct sql_stmt {
	sql_kind kind;
	sql_span span;           /* statement bytes, no trailing ';' nor surrounding blanks */
	char *use_db;            /* SQL_USE: decoded db name */
	char *prepare_name;      /* PREPARE: statement name (decoded) */
	char *prepare_text;      /* PREPARE_TEXT: decoded text (NUL-terminated) */
	size_t prepare_text_len;
	sql_kind prepare_inner;  /* PREPARE_TEXT: kind of the inner text: IMPORT_INTO if ANY inner
	                          * statement is (or prepares) one; PREPARE_VAR if it cannot be read
	                          * (nested too deep, or FROM @var inside); else the first other kind */
	unsigned flags;          /* lexical flags (SQL_F_*) under which this statement was seen: pass
	                          * them to sql_import_parse for the span's text */
	sql_span import_span;    /* SQL_IMPORT_INTO: from the IMPORT keyword of the first IMPORT INTO
	                          * token pair to the end of the statement (the statement minus any
	                          * wrapper before it: EXPLAIN, TRACE, PLAN REPLAYER DUMP ..., BATCH
	                          * ..., or a shape the gateway does not know); parse THIS with
	                          * sql_import_parse(import_flags). For PLAN REPLAYER DUMP EXPLAIN
	                          * [ANALYZE] 'file' or ('...') whose literal may hold an import,
	                          * the literal's span (it does not parse: the caller refuses).
	                          * len 0 for other kinds. */
	unsigned import_flags;   /* flags for import_span: .flags, with SQL_F_IN_EXEC_COMMENT as the
	                          * lexer was at the IMPORT keyword */
} sql_stmt;

typedef struct sql_batch {
	sql_stmt *stmts;
	size_t n;
	bool mode_dependent; /* lexical readings disagree about a candidate statement of this text */
} sql_batch;

/* 0 ok, -1 error (allocation; err filled). Lexical errors give a SQL_LEX_ERROR statement,
 * not a failure. The statements are those of the reading under `flags`, followed by every
 * candidate statement (kind not OTHER/LEX_ERROR) that another reading the server could
 * make sees and this one does not: backslash escapes on/off, ANSI_QUOTES on/off (when the
 * text has a backslash), executable comments as code or as comments (when it has one),
 * five or six version digits, /\*T! ids the gateway does not know as code and as comment,
 * MariaDB's /\*M!, MySQL's blanks, and GBK-like two-byte characters (when a byte >= 0x81
 * precedes '\' or '`'); with SQL_F_EXACT_MODES the sql_mode/charset readings only after
 * a statement that may change them. Such extra statements carry their reading in .flags;
 * the same span may then appear twice with different flags (e.g. different options):
 * decide each, the strictest verdict wins. mode_dependent is set when the readings
 * disagree about any candidate statement. An IMPORT INTO keyword pair anywhere in a
 * statement (outside strings and comments of that reading) makes it SQL_IMPORT_INTO
 * whatever wraps it (see import_span). Time and memory are linear in len. */
int sql_classify(const char *sql, size_t len, unsigned flags, sql_batch *out, char *err, size_t errlen);
void sql_batch_free(sql_batch *b);

/* ---- IMPORT INTO ---- */

typedef enum sql_optv_kind {
	SQL_OPTV_NONE,   /* no value */
	SQL_OPTV_STRING, /* 'string' (adjacent literals concatenated) */
	SQL_OPTV_NUMBER, /* 12, -1, 1.5 (sign included in value) */
	SQL_OPTV_WORD,   /* TRUE, FALSE, NULL, any other word, `quoted` word */
	SQL_OPTV_OTHER   /* hex/bit literal */
} sql_optv_kind;

typedef struct sql_import_opt {
	char name[32];       /* upper-cased option name (truncated if longer: name_truncated) */
	sql_span span;       /* name through value */
	sql_span name_span;
	sql_span value_span; /* len 0 when no value */
	bool has_value;
	char *value;         /* decoded value (string contents, number or identifier text) or NULL */
	sql_optv_kind value_kind;
	bool name_truncated;
	size_t comma_off;    /* offset of the ',' before this option (0 for the first option) */
} sql_import_opt;

typedef enum { SQL_SRC_FILE, SQL_SRC_SELECT } sql_import_src;

typedef struct sql_import_col {
	char *name; /* decoded; for @var without the '@' */
	bool is_var;
} sql_import_col;

typedef struct sql_import {
	char *db;    /* decoded; NULL if unqualified */
	char *table; /* decoded */
	sql_span target_span;
	sql_import_col *cols;
	size_t ncols;
	sql_span set_span; /* len 0 if none: text after SET up to FROM */
	sql_import_src src;
	char *location;    /* SQL_SRC_FILE: decoded string */
	sql_span location_span; /* the literal's span */
	char *format;      /* decoded FORMAT value or NULL */
	sql_span select_span; /* SQL_SRC_SELECT */
	sql_import_opt *opts;
	size_t nopts;
	bool has_with;
	sql_span with_span; /* WITH keyword through the last option */
	size_t end;         /* offset just after the statement's last token */
	/* What TiDB's option check (pkg/executor/importer/import.go, initOptions) would answer:
	 * 0, or 8163 unknown option, 8164 invalid value, 8165 duplicate, 8166 unsupported here. */
	int tidb_errcode;
	char tidb_errmsg[256]; /* TiDB's message for tidb_errcode */
} sql_import;

/* Parse one IMPORT INTO statement (text of one statement; a trailing ';' and comments are
 * allowed; an EXPLAIN/DESC/DESCRIBE/TRACE prefix is skipped). Lenient where TiDB would
 * refuse but never stricter on what TiDB runs: "db"."tbl" names (ANSI_QUOTES) and a
 * "..." location are accepted in any mode; option values may be words. All offsets are
 * relative to sql. 0 ok, -1 + err on a syntax error. Option errors TiDB reports at
 * execution are not syntax errors: they are returned in tidb_errcode. */
int sql_import_parse(const char *sql, size_t len, unsigned flags, sql_import *out, char *err, size_t errlen);
const sql_import_opt *sql_import_find_opt(const sql_import *imp, const char *name);
void sql_import_free(sql_import *imp);

/* Rewriter: a new malloc'd text (*out, *outlen, NUL-terminated) with DISABLE_PRECHECK
 * added (", DISABLE_PRECHECK" after the last option, or " WITH DISABLE_PRECHECK" after the
 * last token and any 0x85/0xA0 blank bytes right after it; no-op copy if present) or removed with its separator (every occurrence;
 * no-op copy if absent); every other byte kept, so remove(add(s)) == s. imp must be the
 * result of sql_import_parse on the same text. 0 ok, -1 + err (mismatched imp, OOM, or a
 * removal that would join "--" with a blank into a comment). */
int sql_import_add_disable_precheck(const char *sql, size_t len, const sql_import *imp, char **out, size_t *outlen,
                                    char *err, size_t errlen);
int sql_import_remove_disable_precheck(const char *sql, size_t len, const sql_import *imp, char **out,
                                       size_t *outlen, char *err, size_t errlen);

/* Redactor (redact.c): malloc'd NUL-terminated copies with credentials replaced by
 * "redacted"; NULL only on allocation failure.
 * sql_redact_uri: a location as BR parses it: user:PASSWORD@, the value of every query
 * parameter whose name, percent-decoded and folded as Go's strings.ToLower after '_' ->
 * '-' (so U+212A and U+0130 count as 'k' and 'i'), is a credential (access-key,
 * secret-access-key, session-token, external-id, credentials-file, account-key, sas-token,
 * encryption-key, ...) or contains key/token/secret/password/credential/signature/sig/auth
 * (';' also separates, as in Go < 1.17); the fragment after a redacted query; then any
 * credential name=value elsewhere in it.
 * sql_redact_statement: every string literal (and quoted identifier) of the text, adjacent
 * literals joined as the server joins them (the redacted value in the first, the others
 * emptied). Fail closed: the text is lexed under every reading the server could make
 * (flags as given, each SQL_F_* reading bit flipped, every combination of backslash/ANSI
 * quotes/two-byte charset); from the first offset where the readings disagree about a
 * literal, or where a literal or comment does not end, the rest is replaced by a comment
 * saying how many bytes were withheld. Also the password literals of account statements
 * (IDENTIFIED BY 'pw', SET PASSWORD = 'pw', ...) and, as free text, every comment's body.
 * flags: the reading the caller saw (any value is safe: the output is the same whenever
 * the readings agree). */
char *sql_redact_uri(const char *uri, size_t len);
char *sql_redact_statement(const char *sql, size_t len, unsigned flags);
/* The same, streamed: fn gets the output in pieces (nothing is buffered beyond one literal
 * group of at most 64 KiB; longer groups are withheld whole). 0, or -1 out of memory (fn
 * may have had part of the output). */
typedef void (*sql_redact_sink)(void *ctx, const char *p, size_t n);
int sql_redact_statement_to(const char *sql, size_t len, unsigned flags, sql_redact_sink fn, void *ctx);
/* Free text (a backend's error message, which may quote the statement): in every
 * scheme://... (up to a blank, a quote or a control byte) the userinfo password and the
 * whole query and fragment; then the value of every name=value, name:value and
 * name: value whose name is a credential name as above (value up to '&', a blank, a quote
 * or the end; a quoted value to its closing quote). */
char *sql_redact_text(const char *text, size_t len);
/* Whether a raw (percent-encoded, unfolded) parameter name is a credential name. */
bool sql_redact_is_secret_name(const char *name, size_t len);

#endif
