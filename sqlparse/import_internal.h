/*
 * import_internal.h - shared between the IMPORT INTO parser and its option checker
 * (not part of the public API).
 */
#ifndef IMPORTGATE_SQLPARSE_IMPORT_INTERNAL_H
#define IMPORTGATE_SQLPARSE_IMPORT_INTERNAL_H

#include "sqlparse/sqlparse.h"

/* Fill imp->tidb_errcode / tidb_errmsg as TiDB's option validation would. */
void sql_import_check_options(const char *sql, unsigned flags, sql_import *imp);

#endif
