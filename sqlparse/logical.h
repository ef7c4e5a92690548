/*
 * logical.h - the logical-import rewrite (docs/LOGICAL_IMPORT.md): a physical IMPORT INTO of
 * a CSV file becomes the LOAD DATA INFILE that loads the same rows through transactions
 * (so log backup and TiCDC see them). Pure function, no I/O; see logical.c for the TiDB
 * facts it relies on and docs/LOGICAL_IMPORT.md for what is mapped and refused.
 */
#ifndef IMPORTGATE_SQLPARSE_LOGICAL_H
#define IMPORTGATE_SQLPARSE_LOGICAL_H

#include <stddef.h>

#include "sqlparse/sqlparse.h"

/* The oldest TiDB that runs the produced statement: remote (s3://, gcs://) LOAD DATA INFILE
 * and FIELDS DEFINED NULL BY both appeared in v7.0.0. The gateway must refuse the rewrite
 * (reject the import) when the backend is older. */
#define SQL_LOGICAL_MIN_TIDB_MAJOR 7
#define SQL_LOGICAL_MIN_TIDB_MINOR 0

/* Build
 *   LOAD DATA INFILE '<location>' INTO TABLE <target as written> CHARACTER SET <cs>
 *   FIELDS TERMINATED BY .. ENCLOSED BY .. ESCAPED BY .. DEFINED NULL BY .. [OPTIONALLY ENCLOSED]
 *   LINES TERMINATED BY .. [IGNORE n LINES] [(columns and @vars as written)] [SET as written]
 * from an IMPORT INTO text and its parse (imp = sql_import_parse of the same sql/len).
 * IMPORT INTO's defaults are written out. Clauses copied from the statement are copied
 * byte for byte (so the server reads them as it read the IMPORT INTO, in either backslash
 * mode); values that have to be re-quoted are written as hex literals or plain quoted
 * strings without backslashes, whose meaning is the same with and without
 * NO_BACKSLASH_ESCAPES.
 * 0 and a malloc'd NUL-terminated *out (*outlen bytes), or -1 with err naming what has no
 * LOAD DATA counterpart (or an allocation failure). */
int sql_import_to_load_data(const char *sql, size_t len, const sql_import *imp, char **out, size_t *outlen,
                            char *err, size_t errlen);

#endif
