/*
 * clusterstate.h - the cluster state a decision looks at: PiTR log backup tasks and TiCDC
 * changefeeds as read from PD's etcd, with what failed to decode (fail safe: a task or
 * changefeed that cannot be decoded covers every table). Built from raw etcd key/values
 * (pure, no I/O: pd/etcdread.c does the reading) and asked which tasks and changefeeds
 * cover a table.
 */
#ifndef IMPORTGATE_CLUSTERSTATE_H
#define IMPORTGATE_CLUSTERSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/tablefilter.h"
#include "policy/version.h"

/* etcd key prefixes (pingcap/tidb br/pkg/streamhelper/models.go, pkg/util/cdcutil/cdc.go) */
#define IG_KEY_TASK_INFO "/tidb/br-stream/info/"
#define IG_KEY_TASK_PAUSE "/tidb/br-stream/pause/"
#define IG_KEY_TASK_LAST_ERROR "/tidb/br-stream/last-error/"
#define IG_KEY_CDC "/tidb/cdc/"
/* TiDB keyspace etcd namespaces: "/keyspaces/tidb/<keyspace id>" before a key (pingcap/tidb
 * pkg/keyspace MakeKeyspaceEtcdNamespace, pingcap/tidb#40269): a TiDB with keyspace-name, or
 * TiDB X, wraps its domain's etcd client with it, and `br log start` puts a keyspace's log
 * backup task through that client (docs/TIDB_VERSIONS.md, "Keyspace clusters"). */
#define IG_KEY_KEYSPACES "/keyspaces/tidb/"

typedef struct ig_lbtask {
	char *name;          /* from the key: /tidb/br-stream/info/<name>; "<name> (keyspace <id>)"
	                      * under /keyspaces/tidb/<id>/tidb/br-stream/info/<name> */
	char *pb_name;       /* StreamBackupTaskInfo.name (field 4); NULL when absent */
	char **filters;      /* StreamBackupTaskInfo.table_filter (field 5) */
	size_t nfilters;
	ig_tablefilter *filter; /* NULL: no filter = every table */
	bool paused;         /* /tidb/br-stream/pause/<name> exists (the task still counts) */
	bool has_error;      /* /tidb/br-stream/last-error/<name>/... exists */
	bool undecodable;    /* value or filter could not be read: covers every table */
	/* for operators only (/api/v1/status), never for a decision: */
	uint64_t start_ts;   /* StreamBackupTaskInfo.start_ts (field 2), 0 when absent */
	char *storage;       /* "s3://bucket/prefix", "local:///path", ... (field 1, its
	                      * non-secret fields only); NULL when absent or unreadable */
} ig_lbtask;

/* TiCDC FeedState (pingcap/tiflow cdc/model/changefeed.go), plus the v4/v5 "error" and
 * "running" some TiDB versions know. */
typedef enum {
	IG_CFSTATE_NORMAL,
	IG_CFSTATE_PENDING,
	IG_CFSTATE_WARNING,
	IG_CFSTATE_ERROR,
	IG_CFSTATE_FAILED,
	IG_CFSTATE_STOPPED,
	IG_CFSTATE_RUNNING,
	IG_CFSTATE_FINISHED,
	IG_CFSTATE_REMOVED,
	IG_CFSTATE_UNKNOWN,  /* reported; treated as covering */
} ig_cfstate;

typedef struct ig_changefeed {
	char *cluster;       /* NULL for the legacy (<= v6.1) layout */
	char *ns;            /* namespace; NULL for legacy */
	char *id;
	char *display;       /* "cluster/namespace/id" or "id" (legacy), for messages */
	ig_cfstate state;
	char *state_text;    /* as stored */
	char **rules;        /* config.filter.rules; ["*.*"] when absent or empty (TiCDC default) */
	size_t nrules;
	int case_sensitive;  /* config.case-sensitive: 1, 0, or -1 when absent (both ways) */
	ig_tablefilter *filter_cs, *filter_ci; /* the case-sensitive build (only to check that the rules
	                      * compile so too) and the case-insensitive one decisions read */
	bool undecodable;    /* value or filter could not be read: covers every table */
	/* for operators only (/api/v1/status), never for a decision: */
	char *sink_uri;      /* "sink-uri" as stored: holds credentials, shown redacted only */
	uint64_t start_ts;   /* "start-ts", 0 when absent */
} ig_changefeed;

typedef struct ig_cluster_state {
	ig_lbtask *tasks;
	size_t ntasks;
	ig_changefeed *cfs;
	size_t ncfs;
	char **problems;     /* what could not be decoded, and other warnings, for operators */
	size_t nproblems;
	int64_t read_at_ms;  /* CLOCK_REALTIME when read (set by the reader) */
	char *source;        /* the PD endpoint that answered */
	int64_t revision;    /* etcd revision of the read, 0 when unknown */
	/* private: pause/last-error keys seen before their task */
	char **pending_pause, **pending_error;
	size_t npending_pause, npending_error;
} ig_cluster_state;

ig_cluster_state *ig_cluster_state_new(void);
void ig_cluster_state_free(ig_cluster_state *st);

/* The length of the keyspace namespace ("/keyspaces/tidb/<digits>", a '/' after it) key
 * starts with, or 0. */
size_t ig_keyspace_ns_len(const char *key, size_t klen);
/* A log backup task key (info, pause, last-error), namespace stripped. */
bool ig_task_key(const char *key, size_t klen);

/* Feeds one etcd key/value. Keys outside the prefixes above, and CDC keys that are not
 * changefeed info, are ignored; task keys count under a keyspace namespace too (changefeed
 * keys do not: TiCDC keeps a keyspace's under /tidb/cdc/, the keyspace in the key). Values that do not decode are recorded (problems) and the
 * task/changefeed covers everything. Returns -1 only when out of memory. */
int ig_cluster_state_add(ig_cluster_state *st, const char *key, size_t klen,
                         const unsigned char *val, size_t vlen, char *err, size_t errlen);
/* Call once after the last add: attaches pause and error markers to their tasks. */
void ig_cluster_state_finish(ig_cluster_state *st);

int ig_cluster_state_problem(ig_cluster_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* What TiDB's own precheck counts depends on its version: policy/precheck_model.h. */

/* Which tasks and changefeeds cover db.tbl (indexes into st->tasks / st->cfs). */
typedef struct ig_coverage {
	size_t *tasks;
	size_t ntasks;
	size_t *cfs;
	size_t ncfs;
} ig_coverage;

/* Which tasks and changefeeds cover db.tbl. A changefeed never covers a schema TiCDC of
 * every version ignores (ig_is_system_schema); a task covers system schemas as its filter
 * says, memory schemas never (ig_logbackup_ignores_schema); a task whose filter is not
 * exactly "*.*" covers every table unless filters_by_name (ig_task_cover_why). Returns -1
 * when out of memory. */
int ig_cluster_covering(const ig_cluster_state *st, const char *db, const char *tbl, bool filters_by_name,
                        ig_coverage *out);
void ig_coverage_free(ig_coverage *c);
/* Ignored by TiCDC of every version (TiDB's filter.IsSystemSchema, any case): mysql, sys,
 * dm_heartbeat, information_schema, performance_schema, metrics_schema, inspection_schema. */
bool ig_is_system_schema(const char *db);
/* Never observed by log backup: the memory schemas (information_schema, performance_schema,
 * metrics_schema, any case). */
bool ig_logbackup_ignores_schema(const char *db);

const char *ig_cfstate_name(ig_cfstate s);

/* Why a task or changefeed covers db.tbl or not, for operators (/api/v1/coverage);
 * ig_cluster_covering answers with the same functions, so the two cannot disagree. */
typedef struct ig_cover_why {
	bool covers;
	size_t rule;     /* index into filters / rules of the rule that decided; SIZE_MAX none */
	const char *why; /* static text */
} ig_cover_why;
/* A task whose filter BR turned into table ids at its start (not exactly "*.*"). */
bool ig_lbtask_filtered(const ig_lbtask *t);
/* filters_by_name: read a filtered task's filter against the statement's names
 * (policy.log_backup_filters: by-name); false: such a task covers every table. */
void ig_task_cover_why(const ig_lbtask *t, const char *db, const char *tbl, bool filters_by_name,
                       ig_cover_why *out);
void ig_cf_cover_why(const ig_changefeed *cf, const char *db, const char *tbl, ig_cover_why *out);
/* A log backup task's state as decoded: "error" (a last-error key exists), "paused" (a
 * pause key), "normal"; "undecodable" when its info could not be read. */
const char *ig_lbtask_state_name(const ig_lbtask *t);

/* ---- decoders (pure, fuzzed) ---- */

/* backuppb.StreamBackupTaskInfo (pingcap/kvproto proto/brpb.proto): name = 4,
 * table_filter = 5 (repeated); other fields skipped by wire type. Fills pb_name and filters
 * of `t` (compiles nothing). Returns 0 or -1 with a message for malformed input. */
int ig_taskinfo_decode(const unsigned char *buf, size_t len, ig_lbtask *t, char *err, size_t errlen);

/* Splits a /tidb/cdc/ key. Returns 1 for a changefeed info key (cluster/ns NULL for the
 * legacy layout; strings malloc'ed), 0 for any other key (status, capture, __backup__, ...),
 * -1 when out of memory. Follows cdcutil.loadChangefeeds: cluster ids must match
 * ^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$. */
int ig_changefeed_key(const char *key, size_t klen, char **cluster, char **ns, char **id);
/* The changefeed info JSON: state, config.filter.rules, config.case-sensitive. Fills those
 * fields of `cf` (compiles nothing). Returns 0 or -1 with a message. */
int ig_changefeed_decode(const char *json, size_t len, ig_changefeed *cf, char *err, size_t errlen);

#endif
