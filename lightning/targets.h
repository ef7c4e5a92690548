/*
 * targets.h - which tables a TiDB Lightning task loads, found as Lightning finds them
 * (pingcap/tidb pkg/lightning/mydump loader.go and router.go, v7.5-v8.5; br/pkg/lightning/
 * mydump before the move): every file under data-source-dir is named by the default file
 * rules (Dumpling's and mydumper's naming; case-insensitive; names URL-path-unescaped):
 *   {schema}-schema-create.sql[.{compress}]          the database's schema
 *   {schema}.{table}-schema.sql[.{compress}]         the table's schema
 *   {schema}.{table}-schema-view.sql[.{compress}]    a view (not loaded with data)
 *   {schema}.{table}[.{n}].{sql|csv|parquet}[.{compress}] a data file
 *   {schema}.{table}.{n}.{snappy|gzip|gz|zstd|zst}.parquet
 *   *-schema-trigger.sql, *-schema-post.sql, *.{sql|csv|parquet}[.x].bak: ignored
 * the table filter ([mydumper] filter) is applied to the SOURCE names, then [[routes]] rename
 * what passed (loader.go: constructFileInfo filters, setup() then routes).
 * PURE: relative paths in (the caller lists the directory), tables out.
 */
#ifndef IMPORTGATE_LTN_TARGETS_H
#define IMPORTGATE_LTN_TARGETS_H

#include <stdbool.h>
#include <stddef.h>

#include "lightning/task.h"

typedef struct ig_ltn_table {
	char *db, *table;         /* the target, after routes */
	char *src_db, *src_table; /* the first source that routes to it */
	size_t data_files;
	bool schema_file;         /* a {schema}.{table}-schema.sql was found */
	size_t sources;           /* distinct source tables routed here (merge: > 1) */
} ig_ltn_table;

typedef struct ig_ltn_targets {
	ig_ltn_table *v;          /* sorted by db, table */
	size_t n;
	size_t files_seen, files_ignored, files_filtered; /* every path; not a table file; filtered out */
} ig_ltn_targets;

/* 0, or -1 + err (a route error, an invalid filter, out of memory). out is empty on failure. */
int ig_ltn_targets_find(const ig_ltn_task *task, const char *const *paths, size_t n,
                        ig_ltn_targets *out, char *err, size_t errlen);
void ig_ltn_targets_free(ig_ltn_targets *t);

#endif
