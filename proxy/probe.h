/*
 * probe.h - asking the server for the session's state at decision time.
 *
 * How TiDB reads a statement depends on session state the gateway cannot see reliably from
 * the traffic that passes by: the current database (USE, COM_INIT_DB, COM_CHANGE_USER,
 * COM_RESET_CONNECTION, a database re-parsed as `USE name`), sql_mode (NO_BACKSLASH_ESCAPES,
 * ANSI_QUOTES), the client character set (GBK-family bytes inside quotes), the login user,
 * and user variables (PREPARE ... FROM @var). So before a statement that needs a decision is
 * forwarded, the session sends one query of its own on the same connection and consumes the
 * answer (docs/ARCHITECTURE.md, "the probe"). This file builds that query and reads its answer.
 * Pure: bytes in, structures out, no I/O.
 */
#ifndef IMPORTGATE_PROBE_H
#define IMPORTGATE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/buf.h"

#define IG_PROBE_MAX_VARS 8 /* user variables read by one probe (PREPARE ... FROM @var) */

/* A user variable's value as the server holds it. */
typedef struct ig_probe_var {
	char *name;    /* as written after '@', decoded */
	char *value;   /* raw bytes (NUL-terminated copy); NULL when the variable is NULL/unset */
	size_t len;
} ig_probe_var;

/* What the server said about the session. */
typedef struct ig_session_facts {
	char *db;           /* DATABASE(); NULL when no database is selected */
	char *user;         /* the login name: USER() up to its last '@' */
	char *sql_mode;     /* @@session.sql_mode */
	char *charset;      /* @@session.character_set_client */
	unsigned lex_flags; /* SQL_F_NO_BACKSLASH_ESCAPES | SQL_F_ANSI_QUOTES | SQL_F_MB_PAIRS */
	bool charset_known; /* the character set is one whose lexing the gateway models */
	ig_probe_var vars[IG_PROBE_MAX_VARS];
	size_t nvars;
} ig_session_facts;

/*
 * The probe's text for the given user variable names (may be 0). Every string value comes
 * back as HEX() so character_set_results cannot transcode it, and LIMIT 1 keeps
 * sql_select_limit from hiding the row. 0, or -1 on allocation failure.
 */
int ig_probe_build(ig_buf *out, const char *const *vars, size_t nvars);

/*
 * Reads the answer to the probe from the backend bytes received so far (whole packets with
 * their headers, as they came). Returns 1 when more bytes are needed, 0 when `facts` is
 * filled (and *used is the answer's length in bytes), -1 when the answer is an error or
 * not the one row the probe asks for (err says why). nvars must match the probe's.
 */
int ig_probe_parse(const uint8_t *p, size_t len, uint32_t caps, const char *const *vars, size_t nvars,
                   ig_session_facts *facts, size_t *used, char *err, size_t errlen);

/* Lexical flags of a sql_mode value (comma-separated, any case) and a character set name. */
unsigned ig_sql_mode_lex_flags(const char *sql_mode);
/* 1: GBK family (two-byte characters whose second byte may be '\\'), 0: single-byte-safe
 * (utf8, utf8mb4, latin1, ascii, binary), -1: a character set the gateway does not model. */
int ig_charset_kind(const char *charset);

void ig_session_facts_free(ig_session_facts *f);
/* A deep copy; 0 or -1 on allocation failure (dst then empty). */
int ig_session_facts_copy(ig_session_facts *dst, const ig_session_facts *src);

#endif
