/*
 * config.c - importgate's YAML configuration, the model: enum names, the schema of
 * conf/importgate.yaml (plus timeouts, limits, backends.connect_timeout_ms) as key tables
 * (one per mapping), defaults, cross-checks, load and freeing. The tables are walked over the
 * tree yamldoc.c builds by config_walk.c; checks beyond one key are config_check.c.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "policy/config_int.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/tablefilter.h"

#define MAX_CONFIG_BYTES (16u << 20)

/* ---- enum names (index = enum value) ---- */

static const char *const btls_names[] = {"off", "verify", "insecure", NULL};
static const char *const pp_send_names[] = {"off", "v2", NULL};
static const char *const bz_names[] = {"off", "zlib", "zstd", NULL};
const char *const cfg_action_names[] = {"decide", "deny", "pass", NULL};
const char *const cfg_lb_names[] = {"required", "not-needed", "snapshot-after-import", "logical", NULL};
const char *const cfg_cf_names[] = {"required", "not-needed", "reimport-downstream", "logical", NULL};
static const char *const mode_names[] = {"enforce", "dry-run", NULL};
static const char *const unavail_names[] = {"defer-to-tidb", "reject", NULL};
static const char *const opaque_names[] = {"allow", "reject", NULL};
static const char *const lbf_names[] = {"every-table", "by-name", NULL};
static const char *const fsync_names[] = {"always", "interval", "off", NULL};
static const char *const logstmt_names[] = {"none", "bulk", "all", NULL};
static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_format_names[] = {"text", "json", NULL};

static const char *enum_name(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? names[v] : "?";
}

const char *ig_log_level_name(ig_log_level l) { return enum_name(level_names, 4, (int)l); }
const char *ig_action_name(ig_rule_action a) { return enum_name(cfg_action_names, 3, (int)a); }
const char *ig_logbackup_req_name(ig_logbackup_req r) { return enum_name(cfg_lb_names, 4, (int)r); }
const char *ig_changefeed_req_name(ig_changefeed_req r) { return enum_name(cfg_cf_names, 4, (int)r); }

/* ---- the schema ---- */

#define CF(f) offsetof(ig_config, f)

static const spec tls_mode_specs[] = {
	{.key = "mode", .t = T_ENUM, .off = CF(backends.tls.mode), .names = btls_names},
	{.key = "ca", .t = T_OPTSTR, .off = CF(backends.tls.files.ca)},
	{.key = "cert", .t = T_OPTSTR, .off = CF(backends.tls.files.cert)},
	{.key = "key", .t = T_OPTSTR, .off = CF(backends.tls.files.key)},
	{0},
};

static const spec backends_specs[] = {
	{.key = "servers", .t = T_HOSTPORTS, .off = CF(backends.servers), .countoff = CF(backends.nservers), .flags = F_NONEMPTY},
	{.key = "tidb_version", .t = T_FUNC, .fn = cfg_fn_tidb_version},
	{.key = "tls", .t = T_MAP, .sub = tls_mode_specs, .fn = cfg_post_backend_tls},
	{.key = "connect_timeout_ms", .t = T_INT, .off = CF(backends.connect_timeout_ms), .min = 1, .max = 600000},
	{.key = "health_interval_ms", .t = T_INT, .off = CF(backends.health_interval_ms), .min = 0, .max = 3600000},
	{.key = "health_timeout_ms", .t = T_INT, .off = CF(backends.health_timeout_ms), .min = 1, .max = 600000},
	{.key = "max_connections", .t = T_INT, .off = CF(backends.max_connections), .min = 0, .max = 10000000},
	{.key = "proxy_protocol", .t = T_ENUM, .off = CF(backends.proxy_protocol), .names = pp_send_names},
	{.key = "compression", .t = T_ENUM, .off = CF(backends.compression), .names = bz_names},
	{.key = "zstd_level", .t = T_INT, .off = CF(backends.zstd_level), .min = 1, .max = 22},
	{0},
};

static const spec client_pp_specs[] = {
	{.key = "networks", .t = T_FUNC, .fn = cfg_fn_pp_networks},
	{.key = "header_timeout_ms", .t = T_INT, .off = CF(client_proxy_protocol.header_timeout_ms), .min = 1, .max = 600000},
	{.key = "fallbackable", .t = T_BOOL, .off = CF(client_proxy_protocol.fallbackable)},
	{0},
};

static const spec client_tls_specs[] = {
	{.key = "cert", .t = T_OPTSTR, .off = CF(client_tls.files.cert)},
	{.key = "key", .t = T_OPTSTR, .off = CF(client_tls.files.key)},
	{.key = "ca", .t = T_OPTSTR, .off = CF(client_tls.files.ca)},
	{.key = "require", .t = T_BOOL, .off = CF(client_tls.require)},
	{0},
};

static const spec cluster_tls_specs[] = {
	{.key = "ca", .t = T_OPTSTR, .off = CF(cluster.tls.ca)},
	{.key = "cert", .t = T_OPTSTR, .off = CF(cluster.tls.cert)},
	{.key = "key", .t = T_OPTSTR, .off = CF(cluster.tls.key)},
	{0},
};

static const spec cluster_specs[] = {
	{.key = "name", .t = T_FUNC, .fn = cfg_fn_cluster_name},
	{.key = "pd", .t = T_FUNC, .fn = cfg_fn_pd},
	{.key = "tls", .t = T_MAP, .sub = cluster_tls_specs, .fn = cfg_post_cluster_tls},
	{.key = "timeout_ms", .t = T_INT, .off = CF(cluster.timeout_ms), .min = 1, .max = 600000},
	{.key = "state_max_age_ms", .t = T_INT, .off = CF(cluster.state_max_age_ms), .min = 0, .max = 3600000},
	{0},
};

static const spec policy_specs[] = {
	{.key = "mode", .t = T_ENUM, .off = CF(policy.mode), .names = mode_names},
	{.key = "on_state_unavailable", .t = T_ENUM, .off = CF(policy.on_state_unavailable), .names = unavail_names},
	{.key = "opaque_prepare", .t = T_ENUM, .off = CF(policy.opaque_prepare), .names = opaque_names},
	{.key = "log_backup_filters", .t = T_ENUM, .off = CF(policy.log_backup_filters), .names = lbf_names},
	{.key = "rules", .t = T_FUNC, .fn = cfg_fn_rules},
	{0},
};

static const spec audit_specs[] = {
	{.key = "path", .t = T_OPTSTR, .off = CF(audit.path)},
	{.key = "fsync", .t = T_ENUM, .off = CF(audit.fsync), .names = fsync_names},
	{.key = "log_statements", .t = T_ENUM, .off = CF(audit.log_statements), .names = logstmt_names},
	{.key = "max_statement_bytes", .t = T_SIZE, .off = CF(audit.max_statement_bytes), .min = 256, .max = 1ll << 24},
	{.key = "max_file_bytes", .t = T_SIZE, .off = CF(audit.max_file_bytes), .min = 0, .max = 1ll << 40},
	{.key = "keep_files", .t = T_INT, .off = CF(audit.keep_files), .min = 0, .max = 1000},
	{0},
};

static const spec service_tls_specs[] = {
	{.key = "mode", .t = T_ENUM, .off = CF(obligations.service.tls.mode), .names = btls_names},
	{.key = "ca", .t = T_OPTSTR, .off = CF(obligations.service.tls.files.ca)},
	{.key = "cert", .t = T_OPTSTR, .off = CF(obligations.service.tls.files.cert)},
	{.key = "key", .t = T_OPTSTR, .off = CF(obligations.service.tls.files.key)},
	{0},
};

static const spec service_specs[] = {
	{.key = "user", .t = T_STR, .off = CF(obligations.service.user), .flags = F_NONEMPTY},
	{.key = "password_file", .t = T_OPTSTR, .off = CF(obligations.service.password_file)},
	{.key = "tls", .t = T_MAP, .sub = service_tls_specs, .fn = cfg_post_service_tls},
	{0},
};

static const spec downstream_specs[] = {
	{.key = "servers", .t = T_HOSTPORTS, .off = CF(obligations.downstream.servers), .countoff = CF(obligations.downstream.nservers)},
	{.key = "user", .t = T_OPTSTR, .off = CF(obligations.downstream.user)},
	{.key = "password_file", .t = T_OPTSTR, .off = CF(obligations.downstream.password_file)},
	{0},
};

static const spec obligations_specs[] = {
	{.key = "file", .t = T_OPTSTR, .off = CF(obligations.file)},
	{.key = "service", .t = T_MAP, .sub = service_specs},
	{.key = "backup_uri", .t = T_FUNC, .fn = cfg_fn_backup_uri},
	{.key = "downstream", .t = T_MAP, .sub = downstream_specs},
	{.key = "poll_ms", .t = T_INT, .off = CF(obligations.poll_ms), .min = 100, .max = 86400000},
	{.key = "executors", .t = T_INT, .off = CF(obligations.executors), .min = 1, .max = 64},
	{0},
};

static const spec admin_specs[] = {
	{.key = "listen", .t = T_HOSTPORT, .off = CF(admin.listen), .flags = F_PORT0},
	{.key = "token_file", .t = T_OPTSTR, .off = CF(admin.token_file)},
	{0},
};

static const spec log_specs[] = {
	{.key = "level", .t = T_ENUM, .off = CF(log.level), .names = level_names},
	{.key = "format", .t = T_ENUM, .off = CF(log.format), .names = log_format_names},
	{0},
};

static const spec timeouts_specs[] = {
	{.key = "handshake_ms", .t = T_INT, .off = CF(timeouts.handshake_ms), .min = 1, .max = 3600000},
	{.key = "idle_ms", .t = T_INT, .off = CF(timeouts.idle_ms), .min = 0, .max = 2147483647},
	{.key = "response_ms", .t = T_INT, .off = CF(timeouts.response_ms), .min = 0, .max = 2147483647},
	{.key = "client_write_ms", .t = T_INT, .off = CF(timeouts.client_write_ms), .min = 0, .max = 2147483647},
	{.key = "kill_hold_ms", .t = T_INT, .off = CF(timeouts.kill_hold_ms), .min = 0, .max = 60000},
	{.key = "shutdown_ms", .t = T_INT, .off = CF(timeouts.shutdown_ms), .min = 0, .max = 3600000},
	{.key = "graceful_wait_ms", .t = T_INT, .off = CF(timeouts.graceful_wait_ms), .min = 0, .max = 3600000},
	{.key = "tcp_keepalive_s", .t = T_INT, .off = CF(timeouts.tcp_keepalive_s), .min = 0, .max = 32767},
	{.key = "tcp_keepalive_interval_s", .t = T_INT, .off = CF(timeouts.tcp_keepalive_interval_s), .min = 1, .max = 32767},
	{.key = "tcp_keepalive_count", .t = T_INT, .off = CF(timeouts.tcp_keepalive_count), .min = 1, .max = 127},
	{.key = "tcp_user_timeout_ms", .t = T_INT, .off = CF(timeouts.tcp_user_timeout_ms), .min = 0, .max = 2147483647},
	{0},
};

static const spec limits_specs[] = {
	{.key = "max_connections", .t = T_INT, .off = CF(limits.max_connections), .min = 0, .max = 10000000},
	{.key = "max_inspect_bytes", .t = T_SIZE, .off = CF(limits.max_inspect_bytes), .min = 1024, .max = 1ll << 31},
	{.key = "write_queue_bytes", .t = T_SIZE, .off = CF(limits.write_queue_bytes), .min = 4096, .max = 1ll << 31},
	{0},
};

static const spec root_specs[] = {
	{.key = "listen", .t = T_HOSTPORT, .off = CF(listen)},
	{.key = "workers", .t = T_INT, .off = CF(workers), .min = 0, .max = 1024},
	{.key = "backends", .t = T_MAP, .sub = backends_specs},
	{.key = "client_tls", .t = T_MAP, .sub = client_tls_specs, .fn = cfg_post_client_tls},
	{.key = "client_proxy_protocol", .t = T_MAP, .sub = client_pp_specs},
	{.key = "cluster", .t = T_MAP, .sub = cluster_specs, .fn = cfg_post_cluster},
	{.key = "policy", .t = T_MAP, .sub = policy_specs},
	{.key = "audit", .t = T_MAP, .sub = audit_specs},
	{.key = "obligations", .t = T_MAP, .sub = obligations_specs},
	{.key = "admin", .t = T_MAP, .sub = admin_specs},
	{.key = "log", .t = T_MAP, .sub = log_specs},
	{.key = "timeouts", .t = T_MAP, .sub = timeouts_specs},
	{.key = "limits", .t = T_MAP, .sub = limits_specs},
	{0},
};

/* ---- defaults, cross-checks, load, free ---- */

static int set_defaults(ig_config *cfg)
{
	int bad = 0;

	bad |= ig_hostport_parse("127.0.0.1:4000", &cfg->listen, NULL, 0);
	bad |= ig_hostport_parse("127.0.0.1:10090", &cfg->admin.listen, NULL, 0);
	cfg->backends.servers = calloc(1, sizeof(ig_hostport));
	bad |= !cfg->backends.servers || ig_hostport_parse("127.0.0.1:4001", cfg->backends.servers, NULL, 0);
	cfg->backends.nservers = cfg->backends.servers ? 1 : 0;
	cfg->backends.tidb_version = strdup("auto");
	/* Only a PREPARE FROM @var whose variable cannot be read is opaque; never let it through
	 * by default (the text may be a covered import). */
	cfg->policy.opaque_prepare = IG_OPAQUE_REJECT;
	/* A filtered log backup task observes table ids, not names: counted as covering every
	 * table unless the operator accepts the rename risk (docs/TIDB_VERSIONS.md). */
	cfg->policy.log_backup_filters = IG_LBF_EVERY_TABLE;
	cfg->backends.connect_timeout_ms = 5000;
	cfg->backends.health_interval_ms = 5000;
	cfg->backends.health_timeout_ms = 2000;
	cfg->backends.zstd_level = 3; /* MySQL's and TiDB's default */
	cfg->client_proxy_protocol.header_timeout_ms = 5000; /* TiDB's proxy-protocol.header-timeout: 5 s */
	cfg->cluster.name = strdup("default");
	cfg->cluster.pd = calloc(1, sizeof(char *));
	if (cfg->cluster.pd && (cfg->cluster.pd[0] = strdup("http://127.0.0.1:2379")))
		cfg->cluster.npd = 1;
	cfg->cluster.timeout_ms = 2000;
	cfg->cluster.state_max_age_ms = 5000;
	cfg->audit.path = strdup("/var/log/importgate/audit.jsonl");
	cfg->audit.log_statements = IG_LOGSTMT_BULK;
	cfg->audit.max_statement_bytes = 8192;
	cfg->audit.max_file_bytes = 100u << 20;
	cfg->audit.keep_files = 5;
	cfg->obligations.file = strdup("/var/lib/importgate/obligations.log");
	cfg->obligations.service.user = strdup("importgate");
	cfg->obligations.backup_uri = strdup("s3://backup/importgate/{db}/{table}/{job_id}");
	cfg->obligations.poll_ms = 5000;
	cfg->obligations.executors = 4;
	cfg->log.level = IG_LOG_INFO;
	cfg->timeouts.handshake_ms = 10000;
	cfg->timeouts.shutdown_ms = 30000;
	cfg->timeouts.client_write_ms = 60000;
	cfg->timeouts.kill_hold_ms = 1000;
	cfg->timeouts.tcp_keepalive_s = 60;
	cfg->timeouts.tcp_keepalive_interval_s = 10;
	cfg->timeouts.tcp_keepalive_count = 6;
	cfg->limits.max_inspect_bytes = 64u << 20;
	cfg->limits.write_queue_bytes = 1u << 20;
	cfg->refs = 1;
	if (bad || !cfg->backends.tidb_version || !cfg->cluster.name || !cfg->cluster.npd ||
	    !cfg->audit.path || !cfg->obligations.file || !cfg->obligations.service.user ||
	    !cfg->obligations.backup_uri)
		return -1;
	return 0;
}

/* Obligations a rule can create must have somewhere to go. */
static int cross_check(ctx *c)
{
	ig_config *cfg = c->cfg;

	for (size_t i = 0; i < cfg->policy.nrules; i++) {
		const ig_rule *r = &cfg->policy.rules[i];
		char path[200];
		snprintf(path, sizeof(path), "policy.rules[%zu] (\"%.60s\")", i, r->name);
		if (r->log_backup == IG_LB_SNAPSHOT_AFTER_IMPORT && !cfg->obligations.backup_uri)
			return cfg_cerr(c, r->line, path, "log_backup: snapshot-after-import needs "
			            "obligations.backup_uri");
		if (r->changefeed == IG_CF_REIMPORT_DOWNSTREAM && cfg->obligations.downstream.nservers == 0)
			return cfg_cerr(c, r->line, path, "changefeed: reimport-downstream needs "
			            "obligations.downstream.servers");
	}
	return 0;
}

static void free_tls(ig_tls_files *t)
{
	free(t->ca);
	free(t->cert);
	free(t->key);
}

void ig_config_free(ig_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->listen.host);
	cfg_free_hostports(cfg->backends.servers, cfg->backends.nservers);
	free(cfg->backends.tidb_version);
	free_tls(&cfg->backends.tls.files);
	free_tls(&cfg->client_tls.files);
	free(cfg->client_proxy_protocol.networks);
	free(cfg->cluster.name);
	cfg_free_strv(cfg->cluster.pd, cfg->cluster.npd);
	free_tls(&cfg->cluster.tls);
	for (size_t i = 0; i < cfg->policy.nrules; i++) {
		ig_rule *r = &cfg->policy.rules[i];
		free(r->name);
		free(r->users);
		free(r->hosts);
		pcre2_code_free(r->users_re);
		pcre2_code_free(r->hosts_re);
		cfg_free_strv(r->tables, r->ntables);
		ig_tablefilter_free(r->filter);
	}
	free(cfg->policy.rules);
	free(cfg->audit.path);
	free(cfg->obligations.file);
	free(cfg->obligations.service.user);
	free(cfg->obligations.service.password_file);
	free_tls(&cfg->obligations.service.tls.files);
	free(cfg->obligations.backup_uri);
	cfg_free_hostports(cfg->obligations.downstream.servers, cfg->obligations.downstream.nservers);
	free(cfg->obligations.downstream.user);
	free(cfg->obligations.downstream.password_file);
	free(cfg->admin.listen.host);
	free(cfg->admin.token_file);
	free(cfg);
}

ig_config *ig_config_ref(ig_config *cfg)
{
	if (cfg)
		__atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
	return cfg;
}

void ig_config_unref(ig_config *cfg)
{
	if (cfg && __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) == 0)
		ig_config_free(cfg);
}

int ig_config_load_string(const char *name, const char *yaml, size_t len, ig_config **out,
                          char *err, size_t errlen)
{
	ctx c = {.name = name ? name : "<config>", .err = err, .errlen = errlen};
	ig_ynode *root = NULL;
	int rc;

	*out = NULL;
	c.cfg = calloc(1, sizeof(*c.cfg));
	if (!c.cfg || set_defaults(c.cfg) < 0) {
		ig_config_free(c.cfg);
		return cfg_cerr(&c, 1, "", "out of memory");
	}
	rc = ig_yaml_parse(c.name, yaml ? yaml : "", yaml ? len : 0, &root, err, errlen);
	if (rc == 0 && root && root->kind != IG_YN_MAP && !ig_ynode_is_null(root))
		rc = cfg_cerr(&c, root->line, "", "the config must be a mapping of keys (listen, backends, "
		          "cluster, policy, ...), got %s", cfg_kind_name(root));
	if (rc == 0 && root)
		rc = cfg_walk_map(&c, "", root, root_specs, c.cfg);
	if (rc == 0)
		rc = cross_check(&c);
	ig_ynode_free(root);
	if (rc < 0) {
		ig_config_free(c.cfg);
		return -1;
	}
	*out = c.cfg;
	return 0;
}

int ig_config_load(const char *path, ig_config **out, char *err, size_t errlen)
{
	FILE *f;
	struct stat st;
	char *buf;
	size_t n;
	int rc;

	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)MAX_CONFIG_BYTES) {
		snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path, MAX_CONFIG_BYTES);
		fclose(f);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	rc = ig_config_load_string(path, buf, n, out, err, errlen);
	free(buf);
	if (rc == 0 && !((*out)->path = strdup(path))) {
		ig_config_free(*out);
		*out = NULL;
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	return rc;
}

