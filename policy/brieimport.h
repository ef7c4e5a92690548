/*
 * brieimport.h - running physical imports registered in PD's etcd: BR restore, TiDB
 * Lightning (physical mode) and IMPORT INTO put a leased key /tidb/brie/import/<kind>/<task>
 * while they run (pingcap/tidb br/pkg/utils/register.go, from v7.1: pingcap/tidb#41956 and
 * #42504; "import-into" added later). `br log start` (br/pkg/task/stream.go
 * checkImportTaskRunning) and TiCDC's changefeed creation (tiflow cdc/api/v2
 * hasRunningImport) refuse while a key with a live lease exists.
 * PURE: decodes one key/value, a range answer of the prefix, and says which log backup tasks
 * and changefeeds a running import conflicts with. The value is "" in every stored version,
 * so a registration never names its tables: what is known is its kind and task name.
 */
#ifndef IMPORTGATE_BRIEIMPORT_H
#define IMPORTGATE_BRIEIMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/clusterstate.h"

#define IG_KEY_BRIE_IMPORT "/tidb/brie/import/" /* RegisterImportTaskPrefix + "/" */

typedef enum {
	IG_BRIE_RESTORE,     /* "restore": br restore (task name restore-<uuid>) */
	IG_BRIE_LIGHTNING,   /* "lightning": TiDB Lightning, physical mode (lightning-<uuid>) */
	IG_BRIE_IMPORT_INTO, /* "import-into": IMPORT INTO (task name = its dist-task id) */
	IG_BRIE_OTHER,       /* a kind this gateway does not know (RegisterTaskType "default", newer) */
} ig_brie_kind;

#define IG_BRIE_NKINDS 4

typedef struct ig_brie_import {
	ig_brie_kind kind;
	char *kind_text;  /* the key's kind segment as stored */
	char *task;       /* the rest of the key after the kind ("" when absent) */
	char *key;        /* the whole key (NUL-terminated copy) */
	bool has_value;   /* a non-empty value: not what the stored versions write (reported) */
	size_t value_bytes;
	int64_t lease;    /* the etcd lease id, 0 = none (BR and TiCDC skip such a key) */
	int64_t create_revision;
} ig_brie_import;

/* Returns 1 and fills out (strings malloc'ed) for a key under IG_KEY_BRIE_IMPORT, 0 for any
 * other key (out untouched), -1 when out of memory (err set). lease/create_revision are 0. */
int ig_brie_import_decode(const char *key, size_t klen, const unsigned char *val, size_t vlen,
                          ig_brie_import *out, char *err, size_t errlen);
void ig_brie_import_clear(ig_brie_import *b);
const char *ig_brie_kind_name(ig_brie_kind k);

/* Every registration under the prefix, as read at one revision. */
typedef struct ig_brie_list {
	ig_brie_import *v;
	size_t n;
	int64_t revision;
} ig_brie_list;

/* Parses an etcd range answer (JSON gateway: kvs[].key/value base64, lease and
 * create_revision as strings or numbers) into out (appended; registrations only, other keys
 * skipped). *more is set when the answer says more keys follow. 0, or -1 + err. */
int ig_brie_range_parse(const char *json, size_t len, ig_brie_list *out, bool *more,
                        char *err, size_t errlen);
void ig_brie_list_clear(ig_brie_list *l);
/* The registration with this key, or NULL. */
const ig_brie_import *ig_brie_list_find(const ig_brie_list *l, const char *key);

/* How far a task or changefeed reaches, as far as can be known without the import's tables. */
typedef enum {
	IG_BRIE_COVERS_SOME,   /* it covers some tables: the import's may be among them */
	IG_BRIE_COVERS_EVERY,  /* it covers every (non-system) table: the import's too */
} ig_brie_reach;

typedef struct ig_brie_conflict {
	size_t *tasks;        /* indexes into st->tasks */
	ig_brie_reach *task_reach;
	size_t ntasks;
	size_t *cfs;          /* indexes into st->cfs */
	ig_brie_reach *cf_reach;
	size_t ncfs;
	bool every;           /* at least one of them covers every table */
} ig_brie_conflict;

/*
 * Which log backup tasks and changefeeds a running import or restore conflicts with (the
 * compatibility guide: physically imported data is in no log backup and reaches no
 * changefeed). The registration names no table, so every log backup task (paused too) and
 * every changefeed that is not finished or removed (a stopped or failed one may be resumed)
 * is listed, with whether it covers every table. 0 (out filled, possibly empty) or -1 (out
 * of memory).
 */
int ig_brie_conflicts(const ig_brie_import *b, const ig_cluster_state *st, ig_brie_conflict *out);
void ig_brie_conflict_free(ig_brie_conflict *c);
const char *ig_brie_reach_name(ig_brie_reach r);

#endif
