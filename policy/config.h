/*
 * config.h - importgate's configuration: one YAML file (libyaml), loaded and validated
 * as a whole. Key names are the contract of conf/importgate.yaml. A config is immutable
 * once loaded; a reload builds a new one and swaps the pointer (the old one is freed
 * when no connection uses it any more, see ig_config_ref/unref).
 */
#ifndef IMPORTGATE_CONFIG_H
#define IMPORTGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/cidr.h"

struct ig_tablefilter; /* policy/tablefilter.h */

typedef struct ig_hostport {
	char *host; /* "127.0.0.1", "::1", "tidb-0.tidb" */
	int port;
} ig_hostport;

typedef enum { IG_BTLS_OFF, IG_BTLS_VERIFY, IG_BTLS_INSECURE } ig_backend_tls_mode;
/* backends.proxy_protocol: off | v2 (a PROXY protocol v2 header first on every backend connection) */
typedef enum { IG_PP_SEND_OFF, IG_PP_SEND_V2 } ig_pp_send_mode;
/* backends.compression: off | zlib | zstd (the backend leg's compressed protocol; a backend
 * that does not offer it gets an uncompressed leg: proxy/handshake.c backend_compression) */
typedef enum { IG_BZ_OFF, IG_BZ_ZLIB, IG_BZ_ZSTD } ig_backend_compression;

typedef struct ig_tls_files {
	char *ca, *cert, *key; /* NULL when not set */
} ig_tls_files;

typedef enum { IG_ACTION_DECIDE, IG_ACTION_DENY, IG_ACTION_PASS } ig_rule_action;
typedef enum { IG_LB_REQUIRED, IG_LB_NOT_NEEDED, IG_LB_SNAPSHOT_AFTER_IMPORT, IG_LB_LOGICAL } ig_logbackup_req;
typedef enum { IG_CF_REQUIRED, IG_CF_NOT_NEEDED, IG_CF_REIMPORT_DOWNSTREAM, IG_CF_LOGICAL } ig_changefeed_req;
typedef enum { IG_MODE_ENFORCE, IG_MODE_DRY_RUN } ig_policy_mode;
typedef enum { IG_UNAVAIL_DEFER_TO_TIDB, IG_UNAVAIL_REJECT } ig_unavailable;
typedef enum { IG_OPAQUE_ALLOW, IG_OPAQUE_REJECT } ig_opaque_prepare;
/* policy.log_backup_filters: how a log backup task whose filter is not exactly "*.*" is read
 * (policy/clusterstate.h ig_task_cover_why) */
typedef enum { IG_LBF_EVERY_TABLE, IG_LBF_BY_NAME } ig_lb_filters;
typedef enum { IG_FSYNC_ALWAYS, IG_FSYNC_INTERVAL, IG_FSYNC_OFF } ig_fsync;
typedef enum { IG_LOGSTMT_NONE, IG_LOGSTMT_BULK, IG_LOGSTMT_ALL } ig_log_statements;
typedef enum { IG_LOG_ERROR, IG_LOG_WARN, IG_LOG_INFO, IG_LOG_DEBUG } ig_log_level;
/* log.format: text (the default, 0) | json (one JSON object a line) */
typedef enum { IG_LOG_TEXT, IG_LOG_JSON } ig_log_format;

typedef struct ig_rule {
	char *name;
	int line;                     /* line in the config file, for messages */
	char *users, *hosts;          /* pcre2 sources, anchored at both ends */
	void *users_re, *hosts_re;    /* pcre2_code *, compiled at load */
	char **tables;                /* table-filter strings */
	size_t ntables;
	struct ig_tablefilter *filter; /* compiled from tables */
	ig_rule_action action;
	ig_logbackup_req log_backup;
	ig_changefeed_req changefeed;
} ig_rule;

typedef struct ig_config {
	char *path;

	ig_hostport listen;   /* listen: host:port */
	int workers;          /* 0 = one per core */

	struct {
		ig_hostport *servers;
		size_t nservers;
		char *tidb_version; /* "auto" or "v8.5.0" */
		struct {
			ig_backend_tls_mode mode;
			ig_tls_files files;
		} tls;
		int connect_timeout_ms;  /* backends.connect_timeout_ms, default 5000 */
		int health_interval_ms;  /* backends.health_interval_ms, default 5000; 0 = no checks */
		int health_timeout_ms;   /* backends.health_timeout_ms, default 2000 */
		int max_connections;     /* backends.max_connections: per backend, 0 = unlimited */
		ig_pp_send_mode proxy_protocol; /* backends.proxy_protocol, default off */
		ig_backend_compression compression; /* backends.compression, default off */
		int zstd_level;          /* backends.zstd_level 1..22, default 3 (used up to IG_Z_ZSTD_LEVEL_MAX) */
	} backends;

	/* client_proxy_protocol: a PROXY protocol header (v1 or v2) read from the connections
	 * of these networks before anything else; none listed = off (the default). */
	struct {
		ig_cidr *networks;      /* client_proxy_protocol.networks */
		size_t nnetworks;
		int header_timeout_ms;  /* client_proxy_protocol.header_timeout_ms, default 5000 */
		bool fallbackable;      /* client_proxy_protocol.fallbackable: no header by then is
		                           served with the connection's own address; default false */
	} client_proxy_protocol;

	struct {
		ig_tls_files files; /* cert and key: TLS offered to clients when both set */
		bool require;       /* refuse clients that do not start TLS */
	} client_tls;

	struct {
		char *name;          /* default "default" */
		char **pd;           /* PD (etcd) client URLs; none = no cluster-state checks */
		size_t npd;
		ig_tls_files tls;
		int timeout_ms;      /* default 2000 */
		int state_max_age_ms; /* cluster.state_max_age_ms: a cached state is re-read in full
		                         after this long, whatever else says it is current; default 5000 */
	} cluster;

	struct {
		ig_policy_mode mode;
		ig_unavailable on_state_unavailable;
		ig_opaque_prepare opaque_prepare;
		ig_lb_filters log_backup_filters;
		ig_rule *rules;
		size_t nrules;
	} policy;

	struct {
		char *path;          /* NULL = no audit log */
		ig_fsync fsync;
		ig_log_statements log_statements;
		size_t max_statement_bytes; /* statement text kept in a record, JSON-escaped bytes (8 KiB) */
		size_t max_file_bytes;      /* rotate the file past this size; 0 = never (100 MiB) */
		int keep_files;             /* rotated files kept: path.1 .. path.N (5) */
	} audit;

	struct {
		char *file;
		struct {
			char *user;
			char *password_file;
			struct {
				ig_backend_tls_mode mode;
				ig_tls_files files;
			} tls;
		} service;
		char *backup_uri;
		struct {
			ig_hostport *servers;
			size_t nservers;
			char *user;
			char *password_file;
		} downstream;
		int poll_ms;         /* default 5000 */
		int executors;       /* statements run at once (BACKUP, SHOW IMPORT JOB...); default 4 */
	} obligations;

	struct {
		ig_hostport listen;  /* port 0 = admin server off */
		char *token_file;
	} admin;

	struct {
		ig_log_level level;
		ig_log_format format; /* log.format, default text */
	} log;

	/* Additions beyond section 8b (documented in conf/importgate.yaml). */
	struct {
		int handshake_ms;    /* timeouts.handshake_ms, default 10000 */
		int idle_ms;         /* timeouts.idle_ms, default 0 = none */
		int response_ms;     /* timeouts.response_ms: silent backend while a command waits
		                        (imports exempt), default 0 = none */
		int client_write_ms; /* timeouts.client_write_ms: a client taking none of what is
		                        queued for it, default 60000 (MySQL's net_write_timeout) */
		int kill_hold_ms;    /* timeouts.kill_hold_ms: a KILL's OK waits at most this long for
		                        the killed connection's session to close; default 1000, 0 = not held */
		int shutdown_ms;     /* timeouts.shutdown_ms: graceful shutdown bound, default 30000 */
		int graceful_wait_ms; /* timeouts.graceful_wait_ms: after SIGTERM, /healthz fails while
		                         new connections are still accepted this long, before
		                         shutdown_ms starts; default 0 */
		/* TCP on both legs (new connections): keepalive probes after tcp_keepalive_s idle
		 * (0 = off), every tcp_keepalive_interval_s, tcp_keepalive_count unanswered ones
		 * close the connection; tcp_user_timeout_ms bounds how long sent data may stay
		 * unacknowledged (TCP_USER_TIMEOUT; 0 = the kernel's default). */
		int tcp_keepalive_s;          /* default 60 */
		int tcp_keepalive_interval_s; /* default 10 */
		int tcp_keepalive_count;      /* default 6 */
		int tcp_user_timeout_ms;      /* default 0 */
	} timeouts;
	struct {
		int max_connections;     /* limits.max_connections, default 0 = unlimited */
		size_t max_inspect_bytes; /* limits.max_inspect_bytes: largest multi-packet statement
		                             buffered for inspection, default 64 MiB */
		size_t write_queue_bytes; /* limits.write_queue_bytes: backpressure bound, default 1 MiB */
	} limits;

	long refs;           /* reference count, see ig_config_ref/unref; 1 after a load */
} ig_config;

/* Loads and validates `path`. On error returns -1 and writes "file:line: message" into err. */
int ig_config_load(const char *path, ig_config **out, char *err, size_t errlen);
/* Same, from a string in memory (tests, fuzzing); `name` is used in messages. */
int ig_config_load_string(const char *name, const char *yaml, size_t len, ig_config **out,
                          char *err, size_t errlen);
void ig_config_free(ig_config *cfg);
/* The keys read only at start ([restart] in conf/importgate.yaml) whose values differ between
 * o (in force) and n (reloaded): up to max of their names in keys (static strings); returns
 * how many differ (policy/config_diff.c). */
size_t ig_config_restart_changes(const ig_config *o, const ig_config *n, const char **keys, size_t max);
/* Reference counting for reloads: a connection takes a reference on the config it started
 * with; the last unref frees it. A loaded config holds one reference. Thread-safe. */
ig_config *ig_config_ref(ig_config *cfg);
void ig_config_unref(ig_config *cfg);

/* "host:port", "[v6]:port" -> hostport; returns -1 with a message on a bad value. */
int ig_hostport_parse(const char *s, ig_hostport *out, char *err, size_t errlen);

const char *ig_log_level_name(ig_log_level l);
/* The YAML spelling of rule values ("decide", "snapshot-after-import", ...). */
const char *ig_action_name(ig_rule_action a);
const char *ig_logbackup_req_name(ig_logbackup_req r);
const char *ig_changefeed_req_name(ig_changefeed_req r);

#endif
