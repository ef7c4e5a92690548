/*
 * prepvar.h - the user variable a `PREPARE name FROM @var` reads its text from, so the
 * gateway can ask the server for that variable's value at decision time (proxy/probe.h).
 */
#ifndef IMPORTGATE_SQLPARSE_PREPVAR_H
#define IMPORTGATE_SQLPARSE_PREPVAR_H

#include <stddef.h>

/*
 * sql is one statement (as a SQL_PREPARE_VAR span), flags its lexical reading (SQL_F_*).
 * 0: *var is the decoded variable name (malloc'd); 1: the statement is not exactly
 * PREPARE name FROM @var (then its text cannot be known: opaque); -1: out of memory.
 */
int sql_prepare_var_name(const char *sql, size_t len, unsigned flags, char **var);

#endif
