/*
 * test_config.c - the YAML config: every default, every key set, each kind of error with
 * its line number (one per key type), host:port parsing, the documented example file
 * (argv[1]) giving exactly the defaults, file loading and reference counting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/config.h"
#include "policy/tablefilter.h"

static const char *example_path;

static ig_config *load_ok(const char *yaml)
{
	char err[512] = "";
	ig_config *c = NULL;

	if (ig_config_load_string("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)) < 0)
		fail_msg("load failed: %s\n--- yaml:\n%s", err, yaml);
	assert_non_null(c);
	return c;
}

static void load_err(const char *yaml, const char *needle)
{
	char err[512] = "";
	ig_config *c = (ig_config *)1;

	if (ig_config_load_string("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)) == 0)
		fail_msg("loaded, expected an error with \"%s\"\n--- yaml:\n%s", needle, yaml);
	assert_null(c);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	if (strstr(err, "PLANTED")) /* a value planted as a credential is never echoed */
		fail_msg("error \"%s\" echoes a planted credential", err);
}

static void assert_defaults(const ig_config *c)
{
	assert_string_equal(c->listen.host, "127.0.0.1");
	assert_int_equal(c->listen.port, 4000);
	assert_int_equal(c->workers, 0);
	assert_int_equal(c->backends.nservers, 1);
	assert_string_equal(c->backends.servers[0].host, "127.0.0.1");
	assert_int_equal(c->backends.servers[0].port, 4001);
	assert_string_equal(c->backends.tidb_version, "auto");
	assert_int_equal(c->backends.tls.mode, IG_BTLS_OFF);
	assert_null(c->backends.tls.files.ca);
	assert_null(c->backends.tls.files.cert);
	assert_null(c->backends.tls.files.key);
	assert_int_equal(c->backends.connect_timeout_ms, 5000);
	assert_int_equal(c->backends.health_interval_ms, 5000);
	assert_int_equal(c->backends.health_timeout_ms, 2000);
	assert_int_equal(c->backends.max_connections, 0);
	assert_int_equal(c->backends.proxy_protocol, IG_PP_SEND_OFF);
	assert_int_equal(c->backends.compression, IG_BZ_OFF);
	assert_int_equal(c->backends.zstd_level, 3);
	assert_int_equal(c->client_proxy_protocol.nnetworks, 0);
	assert_int_equal(c->client_proxy_protocol.header_timeout_ms, 5000);
	assert_false(c->client_proxy_protocol.fallbackable);
	assert_null(c->client_tls.files.cert);
	assert_null(c->client_tls.files.key);
	assert_null(c->client_tls.files.ca);
	assert_false(c->client_tls.require);
	assert_string_equal(c->cluster.name, "default");
	assert_int_equal(c->cluster.npd, 1);
	assert_string_equal(c->cluster.pd[0], "http://127.0.0.1:2379");
	assert_null(c->cluster.tls.ca);
	assert_null(c->cluster.tls.cert);
	assert_null(c->cluster.tls.key);
	assert_int_equal(c->cluster.timeout_ms, 2000);
	assert_int_equal(c->cluster.state_max_age_ms, 5000);
	assert_int_equal(c->policy.mode, IG_MODE_ENFORCE);
	assert_int_equal(c->policy.on_state_unavailable, IG_UNAVAIL_DEFER_TO_TIDB);
	assert_int_equal(c->policy.opaque_prepare, IG_OPAQUE_REJECT);
	assert_int_equal(c->policy.nrules, 0);
	assert_string_equal(c->audit.path, "/var/log/importgate/audit.jsonl");
	assert_int_equal(c->audit.fsync, IG_FSYNC_ALWAYS);
	assert_int_equal(c->audit.log_statements, IG_LOGSTMT_BULK);
	assert_string_equal(c->obligations.file, "/var/lib/importgate/obligations.log");
	assert_string_equal(c->obligations.service.user, "importgate");
	assert_null(c->obligations.service.password_file);
	assert_int_equal(c->obligations.service.tls.mode, IG_BTLS_OFF);
	assert_null(c->obligations.service.tls.files.ca);
	assert_string_equal(c->obligations.backup_uri, "s3://backup/importgate/{db}/{table}/{job_id}");
	assert_int_equal(c->obligations.downstream.nservers, 0);
	assert_null(c->obligations.downstream.user);
	assert_null(c->obligations.downstream.password_file);
	assert_int_equal(c->obligations.poll_ms, 5000);
	assert_string_equal(c->admin.listen.host, "127.0.0.1");
	assert_int_equal(c->admin.listen.port, 10090);
	assert_null(c->admin.token_file);
	assert_int_equal(c->log.level, IG_LOG_INFO);
	assert_int_equal(c->timeouts.handshake_ms, 10000);
	assert_int_equal(c->timeouts.idle_ms, 0);
	assert_int_equal(c->timeouts.response_ms, 0);
	assert_int_equal(c->timeouts.client_write_ms, 60000);
	assert_int_equal(c->timeouts.kill_hold_ms, 1000);
	assert_int_equal(c->timeouts.tcp_keepalive_s, 60);
	assert_int_equal(c->timeouts.tcp_keepalive_interval_s, 10);
	assert_int_equal(c->timeouts.tcp_keepalive_count, 6);
	assert_int_equal(c->timeouts.tcp_user_timeout_ms, 0);
	assert_int_equal(c->timeouts.shutdown_ms, 30000);
	assert_int_equal(c->limits.max_connections, 0);
	assert_int_equal(c->limits.max_inspect_bytes, 64u << 20);
	assert_int_equal(c->limits.write_queue_bytes, 1u << 20);
}

static void defaults_empty(void **state)
{
	static const char *const empties[] = {"", "\n# only a comment\n", "---\n", "~\n"};

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		ig_config *c = load_ok(empties[i]);
		assert_defaults(c);
		assert_null(c->path);
		ig_config_free(c);
	}
	{
		/* sections present but empty keep their defaults */
		ig_config *c = load_ok("backends:\ncluster:\npolicy:\n  rules:\n");
		assert_defaults(c);
		ig_config_free(c);
	}
}

static const char full[] =
	"listen: \"[::1]:4400\"\n"
	"workers: 3\n"
	"backends:\n"
	"  servers: [tidb-0.tidb:4000, \"10.0.0.2:4001\"]\n"
	"  tidb_version: v8.5.1\n"
	"  tls: {mode: verify, ca: /ca.pem, cert: /c.pem, key: /k.pem}\n"
	"  connect_timeout_ms: 700\n"
	"  health_interval_ms: 0\n"
	"  health_timeout_ms: 900\n"
	"  max_connections: 40\n"
	"client_tls: {cert: /srv.pem, key: /srv.key, ca: /cli-ca.pem, require: true}\n"
	"cluster:\n"
	"  name: prod-east_1\n"
	"  pd: [\"https://pd-0:2379/\", https://pd-1:2379]\n"
	"  tls: {ca: /pdca.pem, cert: /pdc.pem, key: /pdk.pem}\n"
	"  timeout_ms: 1500\n"
	"  state_max_age_ms: 0\n"
	"policy:\n"
	"  mode: dry-run\n"
	"  on_state_unavailable: reject\n"
	"  opaque_prepare: reject\n"
	"  rules:\n"
	"    - name: etl-staging\n"
	"      users: \"etl_.*\"\n"
	"      hosts: \"10\\\\..*\"\n"
	"      tables: [\"staging.*\", \"!staging.keep\"]\n"
	"      action: decide\n"
	"      log_backup: snapshot-after-import\n"
	"      changefeed: reimport-downstream\n"
	"    - name: lock\n"
	"      action: deny\n"
	"    - {name: fwd, action: pass, log_backup: not-needed, changefeed: not-needed}\n"
	"    - {name: logi, log_backup: logical, changefeed: logical}\n"
	"audit: {path: /tmp/a.jsonl, fsync: interval, log_statements: all}\n"
	"obligations:\n"
	"  file: /tmp/obl.log\n"
	"  service:\n"
	"    user: svc\n"
	"    password_file: /run/secrets/svc\n"
	"    tls: {mode: insecure, ca: /sca.pem, cert: /sc.pem, key: /sk.pem}\n"
	"  backup_uri: \"gcs://b/{db}.{table}-{job_id}\"\n"
	"  downstream: {servers: [\"dr-tidb:4000\"], user: dr, password_file: /run/secrets/dr}\n"
	"  poll_ms: 250\n"
	"admin: {listen: \"0.0.0.0:0\", token_file: /run/secrets/admin}\n"
	"log: {level: debug}\n"
	"timeouts: {handshake_ms: 3000, idle_ms: 600000, shutdown_ms: 0, tcp_keepalive_s: 0, response_ms: 7000,\n"
	"           client_write_ms: 0, kill_hold_ms: 0,\n"
	"           tcp_keepalive_interval_s: 3, tcp_keepalive_count: 2, tcp_user_timeout_ms: 4000}\n"
	"limits: {max_connections: 900, max_inspect_bytes: 2048, write_queue_bytes: 65536}\n";

static void every_key(void **state)
{
	ig_config *c = load_ok(full);
	const ig_rule *r;

	(void)state;
	assert_string_equal(c->listen.host, "::1");
	assert_int_equal(c->listen.port, 4400);
	assert_int_equal(c->workers, 3);
	assert_int_equal(c->backends.nservers, 2);
	assert_string_equal(c->backends.servers[0].host, "tidb-0.tidb");
	assert_int_equal(c->backends.servers[1].port, 4001);
	assert_string_equal(c->backends.tidb_version, "v8.5.1");
	assert_int_equal(c->backends.tls.mode, IG_BTLS_VERIFY);
	assert_string_equal(c->backends.tls.files.ca, "/ca.pem");
	assert_string_equal(c->backends.tls.files.cert, "/c.pem");
	assert_string_equal(c->backends.tls.files.key, "/k.pem");
	assert_int_equal(c->backends.connect_timeout_ms, 700);
	assert_int_equal(c->backends.health_interval_ms, 0);
	assert_int_equal(c->backends.health_timeout_ms, 900);
	assert_int_equal(c->backends.max_connections, 40);
	assert_string_equal(c->client_tls.files.cert, "/srv.pem");
	assert_string_equal(c->client_tls.files.key, "/srv.key");
	assert_string_equal(c->client_tls.files.ca, "/cli-ca.pem");
	assert_true(c->client_tls.require);
	assert_string_equal(c->cluster.name, "prod-east_1");
	assert_int_equal(c->cluster.npd, 2);
	assert_string_equal(c->cluster.pd[0], "https://pd-0:2379"); /* trailing / dropped */
	assert_string_equal(c->cluster.pd[1], "https://pd-1:2379"); /* http:// with tls: refused */
	assert_string_equal(c->cluster.tls.ca, "/pdca.pem");
	assert_string_equal(c->cluster.tls.cert, "/pdc.pem");
	assert_string_equal(c->cluster.tls.key, "/pdk.pem");
	assert_int_equal(c->cluster.timeout_ms, 1500);
	assert_int_equal(c->cluster.state_max_age_ms, 0);
	assert_int_equal(c->policy.mode, IG_MODE_DRY_RUN);
	assert_int_equal(c->policy.on_state_unavailable, IG_UNAVAIL_REJECT);
	assert_int_equal(c->policy.opaque_prepare, IG_OPAQUE_REJECT);
	assert_int_equal(c->policy.nrules, 4);
	r = &c->policy.rules[0];
	assert_string_equal(r->name, "etl-staging");
	assert_int_equal(r->line, 23);
	assert_string_equal(r->users, "etl_.*");
	assert_string_equal(r->hosts, "10\\..*");
	assert_non_null(r->users_re);
	assert_non_null(r->hosts_re);
	assert_int_equal(r->ntables, 2);
	assert_string_equal(r->tables[1], "!staging.keep");
	assert_true(ig_tablefilter_match(r->filter, "STAGING", "t"));
	assert_false(ig_tablefilter_match(r->filter, "staging", "keep"));
	assert_int_equal(r->action, IG_ACTION_DECIDE);
	assert_int_equal(r->log_backup, IG_LB_SNAPSHOT_AFTER_IMPORT);
	assert_int_equal(r->changefeed, IG_CF_REIMPORT_DOWNSTREAM);
	r = &c->policy.rules[1]; /* rule defaults */
	assert_string_equal(r->name, "lock");
	assert_string_equal(r->users, ".*");
	assert_string_equal(r->hosts, ".*");
	assert_int_equal(r->ntables, 1);
	assert_string_equal(r->tables[0], "*.*");
	assert_int_equal(r->action, IG_ACTION_DENY);
	assert_int_equal(r->log_backup, IG_LB_REQUIRED);
	assert_int_equal(r->changefeed, IG_CF_REQUIRED);
	assert_int_equal(c->policy.rules[2].action, IG_ACTION_PASS);
	assert_int_equal(c->policy.rules[2].log_backup, IG_LB_NOT_NEEDED);
	assert_int_equal(c->policy.rules[2].changefeed, IG_CF_NOT_NEEDED);
	assert_int_equal(c->policy.rules[3].log_backup, IG_LB_LOGICAL);
	assert_int_equal(c->policy.rules[3].changefeed, IG_CF_LOGICAL);
	assert_string_equal(c->audit.path, "/tmp/a.jsonl");
	assert_int_equal(c->audit.fsync, IG_FSYNC_INTERVAL);
	assert_int_equal(c->audit.log_statements, IG_LOGSTMT_ALL);
	assert_string_equal(c->obligations.file, "/tmp/obl.log");
	assert_string_equal(c->obligations.service.user, "svc");
	assert_string_equal(c->obligations.service.password_file, "/run/secrets/svc");
	assert_int_equal(c->obligations.service.tls.mode, IG_BTLS_INSECURE);
	assert_string_equal(c->obligations.service.tls.files.ca, "/sca.pem");
	assert_string_equal(c->obligations.service.tls.files.cert, "/sc.pem");
	assert_string_equal(c->obligations.service.tls.files.key, "/sk.pem");
	assert_string_equal(c->obligations.backup_uri, "gcs://b/{db}.{table}-{job_id}");
	assert_int_equal(c->obligations.downstream.nservers, 1);
	assert_string_equal(c->obligations.downstream.servers[0].host, "dr-tidb");
	assert_string_equal(c->obligations.downstream.user, "dr");
	assert_string_equal(c->obligations.downstream.password_file, "/run/secrets/dr");
	assert_int_equal(c->obligations.poll_ms, 250);
	assert_string_equal(c->admin.listen.host, "0.0.0.0");
	assert_int_equal(c->admin.listen.port, 0);
	assert_string_equal(c->admin.token_file, "/run/secrets/admin");
	assert_int_equal(c->log.level, IG_LOG_DEBUG);
	assert_string_equal(ig_log_level_name(c->log.level), "debug");
	assert_int_equal(c->timeouts.handshake_ms, 3000);
	assert_int_equal(c->timeouts.idle_ms, 600000);
	assert_int_equal(c->timeouts.tcp_keepalive_s, 0);
	assert_int_equal(c->timeouts.response_ms, 7000);
	assert_int_equal(c->timeouts.client_write_ms, 0);
	assert_int_equal(c->timeouts.kill_hold_ms, 0);
	assert_int_equal(c->timeouts.tcp_keepalive_interval_s, 3);
	assert_int_equal(c->timeouts.tcp_keepalive_count, 2);
	assert_int_equal(c->timeouts.tcp_user_timeout_ms, 4000);
	assert_int_equal(c->timeouts.shutdown_ms, 0);
	assert_int_equal(c->limits.max_connections, 900);
	assert_int_equal(c->limits.max_inspect_bytes, 2048);
	assert_int_equal(c->limits.write_queue_bytes, 65536);
	ig_config_free(c);
}

/* One error per key type, each with the line of the offending node. */
static void errors_by_type(void **state)
{
	(void)state;
	/* int */
	load_err("listen: 127.0.0.1:4000\nworkers: many\n", "t.yaml:2: workers: expected an integer, got \"many\"");
	load_err("workers: \"4\"\n", "t.yaml:1: workers: expected an integer, got a quoted string");
	load_err("workers: 5000\n", "t.yaml:1: workers: 5000 is out of range (0 to 1024)");
	load_err("workers: -1\n", "out of range");
	load_err("workers: 99999999999999999999999\n", "out of range");
	load_err("cluster:\n  timeout_ms: 0\n", "t.yaml:2: cluster.timeout_ms: 0 is out of range");
	load_err("cluster:\n  state_max_age_ms: 3600001\n", "t.yaml:2: cluster.state_max_age_ms: 3600001 is out of range");
	load_err("timeouts: {handshake_ms: [1]}\n", "t.yaml:1: timeouts.handshake_ms: expected an integer, got a list");
	load_err("timeouts: {tcp_keepalive_count: 0}\n", "t.yaml:1: timeouts.tcp_keepalive_count");
	load_err("timeouts: {tcp_user_timeout_ms: -1}\n", "t.yaml:1: timeouts.tcp_user_timeout_ms");
	load_err("timeouts:\n  shutdown_ms: -5\n", "t.yaml:2: timeouts.shutdown_ms: -5 is out of range (0 to 3600000)");
	load_err("backends:\n  health_timeout_ms: 0\n", "t.yaml:2: backends.health_timeout_ms: 0 is out of range");
	load_err("backends:\n  max_connections: lots\n", "t.yaml:2: backends.max_connections: expected an integer");
	/* size */
	load_err("limits:\n  max_inspect_bytes: 10\n", "t.yaml:2: limits.max_inspect_bytes: 10 is out of range");
	load_err("limits:\n  write_queue_bytes: 1MiB\n", "t.yaml:2: limits.write_queue_bytes: expected an integer");
	/* bool */
	load_err("client_tls:\n  require: yes\n", "t.yaml:2: client_tls.require: expected true or false, got \"yes\"");
	/* enum */
	load_err("policy:\n  mode: enforcing\n", "t.yaml:2: policy.mode: bad value \"enforcing\" (expected enforce or dry-run)");
	load_err("backends:\n  tls:\n    mode: strict\n", "t.yaml:3: backends.tls.mode: bad value \"strict\" (expected off, verify or insecure)");
	load_err("audit: {fsync: sometimes}\n", "audit.fsync: bad value \"sometimes\"");
	load_err("log: {level: trace}\n", "log.level: bad value \"trace\"");
	load_err("log: {format: xml}\n", "log.format: bad value \"xml\"");
	load_err("timeouts: {graceful_wait_ms: -1}\n", "timeouts.graceful_wait_ms");
	load_err("policy:\n  rules:\n    - name: a\n      log_backup: optional\n",
	         "t.yaml:4: policy.rules[0].log_backup: bad value \"optional\" (expected required, not-needed, snapshot-after-import or logical)");
	load_err("policy:\n  rules:\n    - name: a\n      changefeed: snapshot-after-import\n",
	         "t.yaml:4: policy.rules[0].changefeed: bad value \"snapshot-after-import\"");
	load_err("policy:\n  rules:\n    - name: a\n      action: allow\n", "policy.rules[0].action: bad value \"allow\"");
	load_err("policy: {on_state_unavailable: pass}\n", "policy.on_state_unavailable: bad value \"pass\"");
	load_err("policy: {opaque_prepare: deny}\n", "policy.opaque_prepare: bad value \"deny\"");
	/* host:port */
	load_err("listen: localhost\n", "t.yaml:1: listen: bad host:port \"localhost\": missing :port");
	load_err("listen: ::1:4000\n", "an IPv6 address must be in brackets");
	load_err("listen: h:99999\n", "port must be a number from 0 to 65535");
	load_err("listen: 127.0.0.1:0\n", "port 0 is not allowed here");
	load_err("listen: :4000\n", "missing host");
	load_err("listen: \"a b:1\"\n", "bad character in host name");
	load_err("admin: {listen: [a]}\n", "admin.listen: expected host:port, got a list");
	/* host:port list */
	load_err("backends:\n  servers: 127.0.0.1:4001\n", "t.yaml:2: backends.servers: expected a list, got a scalar");
	load_err("backends:\n  servers: []\n", "t.yaml:2: backends.servers: must list at least one entry");
	load_err("backends:\n  servers:\n    - a:1\n    - b\n", "t.yaml:4: backends.servers[1]: bad host:port \"b\"");
	/* string list */
	load_err("cluster:\n  pd: http://a:2379\n", "t.yaml:2: cluster.pd: expected a list");
	load_err("cluster:\n  pd:\n    - http://a:1\n    - 127.0.0.1:2379\n", "t.yaml:4: cluster.pd[1]: bad PD URL \"127.0.0.1:2379\"");
	load_err("cluster:\n  pd: [\"http://\"]\n", "bad PD URL");
	/* user information is refused, and not echoed (it would be a credential) */
	load_err("cluster:\n  pd: [\"http://root:PLANTEDPW@pd-0:2379\"]\n",
	         "t.yaml:2: cluster.pd[0]: a PD URL with user information (user:password@) is refused");
	load_err("cluster:\n  pd: [\"https://PLANTEDPW @pd-0:2379\"]\n", "user information");
	/* attack17: user information is not echoed whatever else is wrong with the URL */
	load_err("cluster:\n  pd: [\"root:PLANTEDPW@pd-0:2379\"]\n", "user information");
	load_err("cluster:\n  pd: [\"etcd://root:PLANTEDPW@pd-0:2379\"]\n", "user information");
	load_err("cluster:\n  pd: [\"http:/root:PLANTEDPW@pd-0:2379\"]\n", "user information");
	load_err("backends:\n  servers: [\"root:PLANTEDPW@tidb-0:4000\"]\n", "backends.servers[0]: bad host:port");
	load_err("obligations:\n  downstream:\n    servers: [\"u:PLANTEDPW@tidb-9:4000\"]\n", "bad host:port");
	load_err("obligations: {backup_uri: \"s3://b/{job_id}?secret-access-key={PLANTEDSK}\"}\n",
	         "obligations.backup_uri: the URI holds a credential");
	load_err("policy:\n  rules:\n    - name: a\n      tables: []\n", "t.yaml:4: policy.rules[0].tables: must list at least one entry");
	load_err("policy:\n  rules:\n    - name: a\n      tables: [[x]]\n", "policy.rules[0].tables[0]: expected a string, got a list");
	/* mapping */
	load_err("cluster: [a]\n", "t.yaml:1: cluster: expected a mapping, got a list");
	load_err("backends:\n  tls: off\n", "t.yaml:2: backends.tls: expected a mapping, got a scalar");
	/* string, optional string */
	load_err("obligations:\n  service:\n    user: [a]\n", "t.yaml:3: obligations.service.user: expected a string, got a list");
	load_err("obligations:\n  service:\n    user: \"\"\n", "obligations.service.user: must not be empty");
	load_err("audit:\n  path: {a: b}\n", "t.yaml:2: audit.path: expected a string, got a mapping");
	load_err("cluster: {name: \"a\\0b\"}\n", "cluster.name: contains a NUL byte");
	/* rule list */
	load_err("policy:\n  rules: {name: a}\n", "t.yaml:2: policy.rules: expected a list, got a mapping");
}

static void errors_by_rule(void **state)
{
	(void)state;
	load_err("policy:\n  rules:\n    - name: a\n      users: \"etl_(\"\n",
	         "t.yaml:4: policy.rules[0].users: bad regular expression \"etl_(\": missing closing parenthesis");
	load_err("policy:\n  rules:\n    - name: a\n      hosts: \"[10\"\n", "t.yaml:4: policy.rules[0].hosts: bad regular expression");
	load_err("policy:\n  rules:\n    - name: a\n      tables:\n        - x.y\n        - a.b.c\n",
	         "t.yaml:6: policy.rules[0].tables: bad table filter: rule 2 \"a.b.c\": syntax error: stray characters");
	load_err("policy:\n  rules:\n    - name: a\n      tables: [\"@/etc/f\"]\n", "(@file) is not supported");
	load_err("policy:\n  rules:\n    - name: r1\n    - name: r2\n    - name: r1\n",
	         "t.yaml:5: policy.rules[2]: duplicate rule name \"r1\" (first used at line 3)");
	load_err("policy:\n  rules:\n    - users: x\n", "t.yaml:3: policy.rules[0]: a rule needs a name");
	load_err("policy:\n  rules:\n    - foo\n", "t.yaml:3: policy.rules[0]: expected a mapping");
	load_err("policy:\n  rules:\n    - name: a\n      user: x\n",
	         "t.yaml:4: policy.rules[0]: unknown key \"user\" (expected one of: name, users, hosts, tables, action, log_backup, changefeed)");
	load_err("policy:\n  rules:\n    - name: \"a\\tb\"\n", "control characters are not allowed");
	/* obligations a rule creates must have somewhere to go */
	load_err("obligations: {backup_uri: \"\"}\npolicy:\n  rules:\n    - name: snap\n      log_backup: snapshot-after-import\n",
	         "t.yaml:4: policy.rules[0] (\"snap\"): log_backup: snapshot-after-import needs obligations.backup_uri");
	load_err("policy:\n  rules:\n    - name: re\n      changefeed: reimport-downstream\n",
	         "t.yaml:3: policy.rules[0] (\"re\"): changefeed: reimport-downstream needs obligations.downstream.servers");
}

static void errors_structure(void **state)
{
	(void)state;
	load_err("listen: 127.0.0.1:4000\nbogus: 1\n", "t.yaml:2: unknown key \"bogus\" (expected one of: listen, workers,");
	load_err("backends:\n  servers: [a:1]\n  serverz: []\n", "t.yaml:3: backends: unknown key \"serverz\"");
	load_err("workers: 1\nworkers: 2\n", "t.yaml:2: duplicate key \"workers\"");
	load_err("obligations:\n  service:\n    password: hunter2\n",
	         "t.yaml:3: obligations.service: unknown key \"password\": secrets are never written in the config, use password_file");
	load_err("admin: {token: abc}\n", "use token_file");
	load_err("backends: &b {servers: [a:1]}\n", "t.yaml:1: YAML anchors (&b) are not supported");
	load_err("workers: 1\nlisten: *x\n", "t.yaml:2: YAML aliases (*x) are not supported");
	load_err("workers: !!int 3\n", "t.yaml:1: YAML tags (tag:yaml.org,2002:int) are not supported");
	load_err("workers: 1\n---\nworkers: 2\n", "t.yaml:2: more than one YAML document");
	load_err("listen: [\n", "t.yaml:2: YAML syntax error");
	load_err("a: b: c\n", "t.yaml:1: YAML syntax error");
	load_err("- a\n- b\n", "t.yaml:1: the config must be a mapping");
	load_err("? {a: 1}\n: 2\n", "t.yaml:1: a key must be a plain string");
	load_err("client_tls:\n  cert: /a.pem\n", "t.yaml:2: client_tls: cert is set without key: give both or neither");
	load_err("cluster:\n  tls: {key: /k.pem}\n", "t.yaml:2: cluster.tls: key is set without cert");
	/* cluster.tls with an http:// PD URL: that PD would be read in clear (attack22) */
	load_err("cluster:\n  pd: [https://pd-0:2379, http://pd-1:2379]\n  tls: {ca: /ca.pem}\n",
	         "t.yaml:2: cluster.pd[1]: \"http://pd-1:2379\" is http:// while cluster.tls is set");
	load_err("cluster:\n  tls: {cert: /c.pem, key: /k.pem}\n  pd:\n    - http://pd-0:2379\n",
	         "t.yaml:4: cluster.pd[0]");
	load_err("cluster:\n  tls: {ca: /ca.pem}\n", "cluster.pd[0]: \"http://127.0.0.1:2379\" is http://");
	load_err("backends: {tls: {mode: verify, cert: /c}}\n", "backends.tls: cert is set without key");
	load_err("obligations: {service: {tls: {key: /k}}}\n", "obligations.service.tls: key is set without cert");
	load_err("client_tls: {require: true}\n", "t.yaml:1: client_tls: require: true needs cert and key");
	load_err("backends: {tidb_version: 8.x}\n", "t.yaml:1: backends.tidb_version: bad TiDB version \"8.x\" (expected auto or e.g. v8.5.0)");
	load_err("backends: {tidb_version: latest}\n", "bad TiDB version");
	load_err("cluster: {name: \"a/b\"}\n", "t.yaml:1: cluster.name: \"a/b\": only letters");
	load_err("obligations: {backup_uri: \"s3://b/{tbl}\"}\n", "obligations.backup_uri: unknown placeholder at \"{tbl}\"");
	/* a credential in the backup URI would be in every record, the status and the audit */
	load_err("obligations: {backup_uri: \"s3://b/{job_id}?access-key=AK&secret-access-key=SK\"}\n",
	         "obligations.backup_uri: the URI holds a credential (s3://b/{job_id}?access-key=redacted");
	load_err("obligations: {backup_uri: \"s3://AKID:wJal/rXUt@b/{job_id}\"}\n",
	         "obligations.backup_uri: the URI holds a credential (s3://AKID:redacted@b/{job_id})");
}

/* issue 16: a reload names the keys read only at start that it changed, and only those. */
static void restart_changes(void **state)
{
	(void)state;
	const char *base = "listen: 127.0.0.1:4000\nadmin: {listen: 127.0.0.1:10090, token_file: \"\"}\n"
	                   "obligations: {poll_ms: 5000}\nlog: {level: info}\n";
	const char *next = "listen: 127.0.0.1:4001\nadmin: {listen: 127.0.0.1:10090}\n"
	                   "obligations: {poll_ms: 5000, executors: 8}\nlog: {level: debug}\n";
	ig_config *a = load_ok(base), *b = load_ok(base), *c = load_ok(next);
	const char *keys[8];
	assert_int_equal(ig_config_restart_changes(a, b, keys, 8), 0);
	assert_int_equal(ig_config_restart_changes(a, c, keys, 8), 2); /* token "" = none; log is live */
	assert_string_equal(keys[0], "listen");
	assert_string_equal(keys[1], "obligations.executors");
	assert_int_equal(ig_config_restart_changes(a, c, keys, 1), 2); /* counted beyond max */
	ig_config_free(a);
	ig_config_free(b);
	ig_config_free(c);
}

static void hostile_input(void **state)
{
	char *deep = malloc(400), *wide;
	size_t n = 0;

	(void)state;
	n += (size_t)sprintf(deep, "a: ");
	for (int i = 0; i < 100; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	load_err(deep, "nesting deeper than 64 levels");
	free(deep);
	/* more nodes than the limit */
	wide = malloc(3 * 110000 + 32);
	n = (size_t)sprintf(wide, "listen: [");
	for (int i = 0; i < 110000; i++)
		n += (size_t)sprintf(wide + n, "1,");
	strcpy(wide + n, "1]\n");
	load_err(wide, "document too large");
	free(wide);
	{
		char err[128];
		ig_config *c;
		/* NUL bytes in the input are a syntax error, never a crash */
		assert_int_equal(ig_config_load_string("t.yaml", "workers: 1\0junk", 16, &c, err, sizeof(err)), -1);
		assert_int_equal(ig_config_load_string(NULL, NULL, 0, &c, err, sizeof(err)), 0);
		assert_defaults(c);
		ig_config_free(c);
	}
}

static void hostport(void **state)
{
	ig_hostport hp;
	char err[200];
	static const char *const bad[] = {"", "host", "[::1]", "[]:1", "[::1]x:1", "[zz::1]:1", "a:", "a:-1",
	                                  "a:1x", "a:123456", "[::1%e/0]:1", "a::1"};

	(void)state;
	assert_int_equal(ig_hostport_parse("[::1]:4000", &hp, err, sizeof(err)), 0);
	assert_string_equal(hp.host, "::1");
	assert_int_equal(hp.port, 4000);
	free(hp.host);
	assert_int_equal(ig_hostport_parse("[fe80::1%eth0]:65535", &hp, err, sizeof(err)), 0);
	assert_string_equal(hp.host, "fe80::1%eth0");
	assert_int_equal(hp.port, 65535);
	free(hp.host);
	assert_int_equal(ig_hostport_parse("tidb_0.tidb-svc:0", &hp, err, sizeof(err)), 0);
	assert_string_equal(hp.host, "tidb_0.tidb-svc");
	assert_int_equal(hp.port, 0);
	free(hp.host);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ig_hostport_parse(bad[i], &hp, err, sizeof(err)) == 0)
			fail_msg("\"%s\" parsed", bad[i]);
		assert_null(hp.host);
		assert_non_null(strstr(err, "bad host:port"));
	}
	assert_int_equal(ig_hostport_parse(NULL, &hp, err, sizeof(err)), -1);
}

static void example_file(void **state)
{
	char err[512] = "";
	ig_config *c = NULL;

	(void)state;
	if (!example_path)
		fail_msg("the example config path is not given (argv[1])");
	if (ig_config_load(example_path, &c, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_defaults(c);
	assert_string_equal(c->path, example_path);
	ig_config_free(c);
}

static void file_load_and_refs(void **state)
{
	char path[] = "/tmp/igcfgXXXXXX", err[512];
	int fd = mkstemp(path);
	ig_config *c;
	static const char text[] = "workers: 2\npolicy:\n  mode: fast\n";

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (int)sizeof(text) - 1);
	close(fd);
	assert_int_equal(ig_config_load(path, &c, err, sizeof(err)), -1);
	assert_null(c);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ":3: policy.mode: bad value \"fast\""));
	unlink(path);
	assert_int_equal(ig_config_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
	assert_int_equal(ig_config_load("/tmp", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));

	c = load_ok("workers: 1\n");
	assert_int_equal(c->refs, 1);
	assert_ptr_equal(ig_config_ref(c), c);
	assert_int_equal(c->refs, 2);
	ig_config_unref(c);
	assert_int_equal(c->refs, 1);
	ig_config_unref(c); /* frees: ASan reports a leak or double free otherwise */
	ig_config_unref(NULL);
	assert_string_equal(ig_action_name(IG_ACTION_PASS), "pass");
	assert_string_equal(ig_logbackup_req_name(IG_LB_SNAPSHOT_AFTER_IMPORT), "snapshot-after-import");
	assert_string_equal(ig_changefeed_req_name(IG_CF_REIMPORT_DOWNSTREAM), "reimport-downstream");
}

/* client_proxy_protocol and backends.proxy_protocol: the networks parsed and matched, every
 * bad value refused with its place (policy/cidr.c). */
static void proxy_protocol_keys(void **state)
{
	(void)state;
	ig_config *c = load_ok("backends: {proxy_protocol: v2}\n"
	                       "client_proxy_protocol:\n"
	                       "  networks: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\", \"::ffff:198.51.100.0/120\"]\n"
	                       "  header_timeout_ms: 250\n"
	                       "  fallbackable: true\n");
	assert_int_equal(c->backends.proxy_protocol, IG_PP_SEND_V2);
	assert_int_equal(c->client_proxy_protocol.nnetworks, 4);
	assert_int_equal(c->client_proxy_protocol.header_timeout_ms, 250);
	assert_true(c->client_proxy_protocol.fallbackable);
	const ig_cidr *v = c->client_proxy_protocol.networks;
	size_t n = c->client_proxy_protocol.nnetworks;
	const uint8_t in8[4] = {10, 200, 3, 4}, out8[4] = {11, 0, 0, 1}, host[4] = {192, 0, 2, 7},
	              host_next[4] = {192, 0, 2, 8}, lb[4] = {198, 51, 100, 9};
	const uint8_t mapped_in8[16] = {[10] = 0xFF, [11] = 0xFF, [12] = 10, [13] = 1, [14] = 2, [15] = 3};
	const uint8_t v6_in[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, [15] = 1}, v6_out[16] = {0x20, 0x01, 0x0d, 0xb9};
	assert_true(ig_cidr_contains(v, n, false, in8));
	assert_false(ig_cidr_contains(v, n, false, out8));
	assert_true(ig_cidr_contains(v, n, false, host));
	assert_false(ig_cidr_contains(v, n, false, host_next));
	assert_true(ig_cidr_contains(v, n, false, lb)); /* ::ffff:198.51.100.0/120 is 198.51.100.0/24 */
	assert_true(ig_cidr_contains(v, n, true, mapped_in8));
	assert_true(ig_cidr_contains(v, n, true, v6_in));
	assert_false(ig_cidr_contains(v, n, true, v6_out));
	ig_config_free(c);

	load_err("backends: {proxy_protocol: v1}\n", "t.yaml:1: backends.proxy_protocol: bad value \"v1\" (expected off or v2)");
	load_err("client_proxy_protocol: {networks: [\"*\"]}\n", "client_proxy_protocol.networks[0]: \"*\" is not accepted");
	load_err("client_proxy_protocol: {networks: [10.0.0.1/8]}\n", "networks[0]: \"10.0.0.1/8\": host bits set");
	load_err("client_proxy_protocol: {networks: [10.0.0.0/33]}\n", "networks[0]: \"10.0.0.0/33\" is not an IPv4");
	load_err("client_proxy_protocol: {networks: [lb.example]}\n", "is not an IPv4 or IPv6 address");
	load_err("client_proxy_protocol: {networks: [10.0.0.0/08]}\n", "is not an IPv4");
	load_err("client_proxy_protocol: {networks: 10.0.0.0/8}\n", "client_proxy_protocol.networks: expected a list");
	load_err("client_proxy_protocol: {networks: [[1]]}\n", "networks[0]: expected a network (CIDR), got a list");
	load_err("client_proxy_protocol: {header_timeout_ms: 0}\n", "client_proxy_protocol.header_timeout_ms: 0 is out of range");
	load_err("client_proxy_protocol: {fallbackable: maybe}\n", "client_proxy_protocol.fallbackable: expected true or false");
}

/* backends.compression and backends.zstd_level. */
static void backend_compression_keys(void **state)
{
	(void)state;
	ig_config *c = load_ok("backends: {compression: zstd, zstd_level: 2}\n");
	assert_int_equal(c->backends.compression, IG_BZ_ZSTD);
	assert_int_equal(c->backends.zstd_level, 2);
	ig_config_free(c);
	c = load_ok("backends: {compression: zlib}\n");
	assert_int_equal(c->backends.compression, IG_BZ_ZLIB);
	ig_config_free(c);
	load_err("backends: {compression: lz4}\n", "backends.compression: bad value \"lz4\" (expected off, zlib or zstd)");
	load_err("backends: {zstd_level: 23}\n", "backends.zstd_level: 23 is out of range");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_empty),
		cmocka_unit_test(every_key),
		cmocka_unit_test(errors_by_type),
		cmocka_unit_test(errors_by_rule),
		cmocka_unit_test(errors_structure),
		cmocka_unit_test(restart_changes),
		cmocka_unit_test(hostile_input),
		cmocka_unit_test(hostport),
		cmocka_unit_test(proxy_protocol_keys),
		cmocka_unit_test(backend_compression_keys),
		cmocka_unit_test(example_file),
		cmocka_unit_test(file_load_and_refs),
	};
	example_path = argc > 1 ? argv[1] : NULL;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
