/*
 * shape.h - what the inspector needs to know of a statement's shape beyond its kind: the
 * user variable a `PREPARE name FROM @var` reads its text from (the gateway asks the server
 * for its value, proxy/probe.h), and whether a statement may change, where the gateway
 * cannot see it, the session state that decides how later statements of the same batch
 * are read (current database, sql_mode, character set).
 */
#ifndef IMPORTGATE_SQLPARSE_SHAPE_H
#define IMPORTGATE_SQLPARSE_SHAPE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * sql is one statement (as a SQL_PREPARE_VAR span), flags its lexical reading (SQL_F_*).
 * 0: *var is the decoded variable name (malloc'd) and *tok_off, *tok_len the variable
 * reference's bytes in sql; 1: the statement is not exactly PREPARE name FROM @var (then
 * its text cannot be known: opaque); -1: out of memory.
 */
int sql_prepare_var_name(const char *sql, size_t len, unsigned flags, char **var, size_t *tok_off,
                         size_t *tok_len);

/*
 * True when the statement may change the current database, sql_mode or the character set
 * in a way its text does not show: EXECUTE (a prepared USE or SET), CALL (a procedure's
 * body), TiDB's SET SESSION_STATES (restores a whole session), and a statement that does
 * not lex. Later statements of the same batch then cannot be read with the server's
 * answer about the session from before the batch.
 */
bool sql_may_change_session_unseen(const char *sql, size_t len, unsigned flags);

/*
 * True when the text mentions TiDB's SESSION_STATES (any case). SET SESSION_STATES restores
 * a whole session, prepared statements included (their texts in its JSON, which Go's
 * decoder may spell with \u escapes), for a later EXECUTE: the gateway cannot inspect them,
 * so it refuses the statement, also inside a PREPARE text or a user variable.
 */
bool sql_mentions_session_states(const char *text, size_t len);

#endif
