/*
 * covquery.h - the query string of GET /api/v1/coverage (docs/OPERATIONS.md):
 * table=DB.TABLE (required), user=, host= (optional), percent-encoded as in any URL ('+' is a
 * blank). Pure: no I/O, no globals.
 */
#ifndef IMPORTGATE_COVQUERY_H
#define IMPORTGATE_COVQUERY_H

#include <stddef.h>

typedef struct ig_covquery {
	char *db, *table; /* from table=: split at the first '.' outside backquotes */
	char *user, *host; /* "" when not given */
} ig_covquery;

/* 0, or -1 with a message for the client (missing or malformed table, a parameter given
 * twice, an unknown parameter, a bad %XX, a NUL byte, out of memory); out is then empty. */
int ig_covquery_parse(const char *q, size_t len, ig_covquery *out, char *err, size_t errlen);
void ig_covquery_free(ig_covquery *q);
/* Splits "db.table", "`d.b`.`t``x`" (a backquoted name, `` for a backquote) into its two
 * names. 0, or -1 when it is not two non-empty names. Used by `importgate ctl coverage`
 * too. */
int ig_covquery_split_table(const char *s, char **db, char **table);

#endif
