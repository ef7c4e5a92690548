/*
 * task.h - what importgate reads of a TiDB Lightning task file (tidb-lightning.toml): where
 * the data is, which backend writes it, whether Lightning's own requirement checks run, the
 * table filter and the table routes. PURE: TOML text in (lightning/toml.h), a structure out.
 * Keys and defaults are Lightning's (pingcap/tidb pkg/lightning/config/config.go and
 * global.go, v7.5-v8.5; br/pkg/lightning/config before the move):
 *   [lightning] check-requirements   bool, default true (NewConfig)
 *   [tikv-importer] backend          "local" (physical) or "tidb" (logical); no default:
 *                                    "tikv-importer.backend must not be empty!" (adjust)
 *   [mydumper] data-source-dir       a local directory or a storage URL
 *   [mydumper] filter                table-filter rules, default DefaultFilter:
 *                                    *.*, !mysql.*, !sys.*, !INFORMATION_SCHEMA.*,
 *                                    !PERFORMANCE_SCHEMA.*, !METRICS_SCHEMA.*, !INSPECTION_SCHEMA.*
 *   [mydumper] case-sensitive        bool, default false (filter and routes lower names)
 *   [[routes]] schema-pattern, table-pattern, target-schema, target-table
 *   [tidb] user                      default "root"
 *   [tidb] host, status-port,        where Lightning finds PD: pd-addr when set, else the
 *          pd-addr                   first address of TiDB's `path` read from
 *                                    http://host:status-port/settings (config.go
 *                                    CheckAndAdjustTiDBPort, local backend only); defaults
 *                                    "127.0.0.1", 10080, "" (NewGlobalConfig, global.go)
 * What the preflight cannot read as Lightning would is refused with a clear error rather
 * than guessed: [[mydumper.files]] custom file rules, the legacy [black-white-list], a
 * data-source-dir on external storage (s3://, gcs://, ...), route extractors.
 */
#ifndef IMPORTGATE_LTN_TASK_H
#define IMPORTGATE_LTN_TASK_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
	IG_LTN_BACKEND_LOCAL, /* physical import: KV pairs ingested into TiKV, no change log */
	IG_LTN_BACKEND_TIDB,  /* logical import: SQL through TiDB, seen by log backup and TiCDC */
} ig_ltn_backend;

/* One [[routes]] rule (pingcap/tidb pkg/util/table-router TableRule). */
typedef struct ig_ltn_route {
	char *schema_pattern, *table_pattern; /* table_pattern "" = a schema rule */
	char *target_schema, *target_table;   /* target_table "" = keep the table's name */
} ig_ltn_route;

typedef struct ig_ltn_task {
	char *source_dir;         /* mydumper.data-source-dir as written */
	char *source_path;        /* the local directory (file:// and local:// stripped) */
	ig_ltn_backend backend;
	bool check_requirements;  /* [lightning] check-requirements (default true) */
	char **filter;            /* [mydumper] filter, DefaultFilter when absent */
	size_t nfilter;
	bool filter_default;      /* the filter is Lightning's default */
	bool case_sensitive;      /* [mydumper] case-sensitive */
	ig_ltn_route *routes;
	size_t nroutes;
	char *tidb_user;          /* [tidb] user (default "root") */
	char *tidb_host;          /* [tidb] host (default "127.0.0.1") */
	long tidb_port;           /* [tidb] port, 0 when unset (Lightning asks TiDB's /settings) */
	long tidb_status_port;    /* [tidb] status-port (default 10080) */
	char *pd_addr;            /* [tidb] pd-addr, NULL when absent or "" (Lightning asks TiDB) */
} ig_ltn_task;

/* Parses the task file's text. 0, or -1 with "tidb-lightning.toml: what is wrong" in err
 * (name is used in messages). out is empty on failure. */
int ig_ltn_task_parse(const char *name, const char *text, size_t len, ig_ltn_task *out,
                      char *err, size_t errlen);
void ig_ltn_task_free(ig_ltn_task *t);
const char *ig_ltn_backend_name(ig_ltn_backend b);

/* Lightning's DefaultFilter, in order. */
extern const char *const ig_ltn_default_filter[];
extern const size_t ig_ltn_default_filter_n;

#endif
