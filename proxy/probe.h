/*
 * probe.h - asking the server for the session's state at decision time.
 *
 * How TiDB reads a statement depends on session state the gateway cannot see reliably from
 * the traffic that passes by: the current database (USE, COM_INIT_DB, COM_CHANGE_USER,
 * COM_RESET_CONNECTION, a database re-parsed as `USE name`), sql_mode (NO_BACKSLASH_ESCAPES,
 * ANSI_QUOTES), the client character set (GBK-family bytes inside quotes), the login user,
 * and user variables (PREPARE ... FROM @var). It also asks which TiDB answers (@@version,
 * TIDB_VERSION()): the greeting may come from a proxy in between (TiProxy sends a version
 * it copied from some backend, or a placeholder) or carry a configured `server-version`. So before a statement that needs a decision is
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
/* A variable's value longer than this (bytes) is not read: the PREPARE is then opaque. */
#define IG_PROBE_VAR_MAX (1u << 20)
/* The nonce in the probe's column aliases: hex characters, from a CSPRNG, new per probe. */
#define IG_PROBE_NONCE_LEN 16

/* What the probe must read besides the fixed columns: the variables of PREPARE ... FROM @var,
 * and how it asks TIDB_VERSION() (a function only TiDB has): plainly when the greeting names
 * TiDB (then it must answer), else inside a TiDB-only comment (NULL from MySQL, MariaDB). */
typedef struct ig_probe_request {
	bool tidb_info;
	size_t nvars;
	const char *names[IG_PROBE_MAX_VARS]; /* decoded names (how the caller matches them) */
	const char *toks[IG_PROBE_MAX_VARS];  /* each variable reference exactly as the client wrote
	                                       * it, so the server reads it as it will in the
	                                       * statement (never re-spelled: re-spelling under a
	                                       * multi-byte charset could break out of the quotes) */
	size_t tok_lens[IG_PROBE_MAX_VARS];
} ig_probe_request;

/* A user variable's value as the server holds it. */
typedef struct ig_probe_var {
	char *name;     /* the caller's decoded name */
	char *value;    /* raw bytes (NUL-terminated copy); NULL when NULL or too long */
	size_t len;
	char *charset;  /* CHARSET(@v): the bytes above are in it */
	bool too_long;  /* LENGTH(@v) > IG_PROBE_VAR_MAX: not read */
} ig_probe_var;

/* What the server said about the session. */
typedef struct ig_session_facts {
	char *db;           /* DATABASE(); NULL when no database is selected */
	char *user;         /* the login name: USER() up to its last '@' */
	char *sql_mode;     /* @@session.sql_mode */
	char *charset;      /* @@session.character_set_client: how the server lexes the client's bytes */
	char *conn_charset; /* @@session.character_set_connection */
	char *version;      /* @@version: the server's own, not a proxy's greeting */
	char *tidb_info;    /* TIDB_VERSION(); NULL from a server that is not TiDB (request.tidb_info false) */
	unsigned lex_flags; /* SQL_F_NO_BACKSLASH_ESCAPES | SQL_F_ANSI_QUOTES | SQL_F_MB_PAIRS */
	bool charset_known; /* the character set is one whose lexing the gateway models */
	ig_probe_var vars[IG_PROBE_MAX_VARS];
	size_t nvars;
} ig_session_facts;

/*
 * The probe's text. Every string value comes back as HEX() so character_set_results cannot
 * transcode it; LIMIT 1 keeps sql_select_limit from hiding the row; every column has an
 * alias carrying `nonce` (IG_PROBE_NONCE_LEN hex characters), which the answer must repeat,
 * so a probe whose text the server read otherwise than intended (an injection through a
 * variable reference) fails instead of being believed. 0, or -1 on allocation failure.
 */
int ig_probe_build(ig_buf *out, const char *nonce, const ig_probe_request *req);

/*
 * Reads the answer to the probe from the backend bytes received so far (whole packets with
 * their headers, as they came). Returns 1 when more bytes are needed, 0 when `facts` is
 * filled (and *used is the answer's length in bytes), -1 when the answer is an error or
 * not the one row, with the columns, the probe asked for (err says why).
 */
int ig_probe_parse(const uint8_t *p, size_t len, uint32_t caps, const char *nonce, const ig_probe_request *req,
                   ig_session_facts *facts, size_t *used, char *err, size_t errlen);

/*
 * Cheap check between reads: walks the packets that arrived since *scan (updated) and says
 * whether one of them could end the answer (an EOF, OK or ERR packet), so the answer is
 * parsed once per such packet, not once per read.
 */
bool ig_probe_may_be_complete(const uint8_t *p, size_t len, size_t *scan);

/* Lexical flags of a sql_mode value (comma-separated, any case) and a character set name. */
unsigned ig_sql_mode_lex_flags(const char *sql_mode);
/* 1: GBK family (two-byte characters whose second byte may be '\\'), 0: single-byte-safe
 * (utf8, utf8mb4, latin1, ascii, binary), -1: a character set the gateway does not model. */
int ig_charset_kind(const char *charset);
/* utf8mb4, utf8 or utf8mb3: the bytes of identifiers and texts are what the server holds. */
bool ig_charset_is_utf8(const char *charset);

void ig_session_facts_free(ig_session_facts *f);
/* A deep copy; 0 or -1 on allocation failure (dst then empty). */
int ig_session_facts_copy(ig_session_facts *dst, const ig_session_facts *src);

#endif
