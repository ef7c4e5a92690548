/*
 * test_decide.c - every row of the verdict table (README.md, "Why") and the content of
 * each rejection message: no database, deny, pass, state unavailable (x DISABLE_PRECHECK x
 * on_state_unavailable), required -> reject (naming each), logical, exists -> add
 * DISABLE_PRECHECK / keep / old TiDB -> reject, obligations, a TiDB X backend -> reject,
 * dry-run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "policy/decide.h"
#include "state_helpers.h"

static const char rules_yaml[] =
	"obligations: {downstream: {servers: [\"dr:4000\"]}}\n"
	"policy:\n"
	"  log_backup_filters: by-name\n" /* the rules of a filtered task against the names (see filtered_task_default) */
	"  rules:\n"
	"    - {name: denied, users: \"intern\", action: deny}\n"
	"    - {name: raw, users: \"dba\", action: pass}\n"
	"    - {name: scratch, tables: [\"scratch.*\"], log_backup: not-needed, changefeed: not-needed}\n"
	"    - {name: snap, tables: [\"warehouse.*\"], log_backup: snapshot-after-import, changefeed: reimport-downstream}\n"
	"    - {name: lb-only, tables: [\"lbonly.*\"], log_backup: required, changefeed: not-needed}\n"
	"    - {name: logi, tables: [\"logi.*\"], log_backup: logical, changefeed: logical}\n"
	"    - {name: logi-lb, tables: [\"logilb.*\"], log_backup: logical, changefeed: required}\n"
	"    - {name: cf-logical, tables: [\"cflogi.*\"], log_backup: not-needed, changefeed: logical}\n";

typedef struct fx {
	ig_config *cfg;
	ig_cluster_state *st;
	ig_decide_input in;
	ig_decision d;
} fx;

static ig_config *cfg_from(const char *yaml)
{
	char err[512];
	ig_config *c;

	if (ig_config_load_string("d.yaml", yaml, strlen(yaml), &c, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return c;
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	f->cfg = cfg_from(rules_yaml);
	f->st = ig_cluster_state_new();
	f->in = (ig_decide_input){.user = "app", .host = "10.0.0.9", .db = "shop", .table = "orders",
	                          .version = {8, 5, 0}, .state = f->st, .cfg = f->cfg};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;

	ig_decision_free(&f->d);
	ig_cluster_state_free(f->st);
	ig_config_free(f->cfg);
	free(f);
	return 0;
}

static void run(fx *f)
{
	char err[128];

	ig_decision_free(&f->d);
	ig_cluster_state_finish(f->st);
	if (ig_decide(&f->in, &f->d, err, sizeof(err)) < 0)
		fail_msg("ig_decide: %s", err);
	assert_non_null(f->d.reason);
}

static void has(const char *text, const char *needle)
{
	if (!text || !strstr(text, needle))
		fail_msg("\"%s\" lacks \"%s\"", text ? text : "(null)", needle);
}

static void lacks(const char *text, const char *needle)
{
	if (text && strstr(text, needle))
		fail_msg("\"%s\" has \"%s\"", text, needle);
}

static void expect_reject(fx *f)
{
	assert_int_equal(f->d.verdict, IG_VERDICT_REJECT);
	assert_int_equal(f->d.err_code, 8173);
	assert_string_equal(f->d.sqlstate, "HY000");
	has(f->d.message, "PreCheck failed: importgate: ");
	assert_int_equal(f->d.obligations, 0);
}

static void add_pitr(fx *f)
{
	static const char *const all[] = {"*.*"};
	th_task(f->st, "pitr", all, 1);
}

/* ---- rows before the cluster state ---- */

static void no_database(void **state)
{
	fx *f = *state;

	f->in.db = NULL;
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_REJECT);
	assert_int_equal(f->d.err_code, 1046);
	assert_string_equal(f->d.sqlstate, "3D000");
	assert_string_equal(f->d.message, "No database selected");
	f->in.db = "";
	run(f);
	assert_int_equal(f->d.err_code, 1046);
}

static void action_deny(void **state)
{
	fx *f = *state;

	f->in.user = "intern"; /* no task at all: deny still rejects */
	run(f);
	expect_reject(f);
	assert_string_equal(f->d.rule->name, "denied");
	has(f->d.message, "IMPORT INTO shop.orders is not allowed for 'intern'@'10.0.0.9', policy rule "
	                  "\"denied\" (action: deny); use a logical import (LOAD DATA) or ask the DBA");
}

static void action_pass(void **state)
{
	fx *f = *state;

	add_pitr(f);
	f->in.user = "dba";
	f->in.version = (ig_tidb_version){7, 5, 0};
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_PASS);
	assert_string_equal(f->d.rule->name, "raw");
	assert_null(f->d.message);
	has(f->d.reason, "action: pass");
	/* pass does not even need the cluster state */
	f->in.state = NULL;
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_PASS);
	assert_false(f->d.state_unavailable);
}

/* ---- row 4: state unavailable ---- */

static void unavailable_defer(void **state)
{
	fx *f = *state;

	f->in.state = NULL;
	f->in.state_error = "pd http://pd:2379: timed out after 2000 ms";
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_PASS);
	assert_true(f->d.state_unavailable);
	has(f->d.reason, "deferring to TiDB's own precheck");
	has(f->d.reason, "timed out after 2000 ms");
}

static void unavailable_with_disable_precheck(void **state)
{
	fx *f = *state;

	f->in.state = NULL;
	f->in.state_error = "pd http://pd:2379: HTTP 503";
	f->in.disable_precheck = true;
	run(f);
	expect_reject(f);
	assert_true(f->d.state_unavailable);
	has(f->d.message, "cannot be read (pd http://pd:2379: HTTP 503)");
	has(f->d.message, "nothing confirms that skipping TiDB's precheck with DISABLE_PRECHECK is safe for shop.orders");
	has(f->d.message, "no policy rule matches 'app'@'10.0.0.9'");
	has(f->d.message, "remove DISABLE_PRECHECK to let TiDB's own precheck decide");
}

static void unavailable_reject_mode(void **state)
{
	fx *f = *state;

	ig_config_free(f->cfg);
	f->cfg = cfg_from("policy: {on_state_unavailable: reject}\n");
	f->in.cfg = f->cfg;
	f->in.state = NULL;
	f->in.state_error = NULL;
	run(f);
	expect_reject(f);
	has(f->d.message, "cannot be read (unknown error)");
	has(f->d.message, "policy.on_state_unavailable is reject");
	has(f->d.message, "retry when PD is reachable");
	lacks(f->d.message, "DISABLE_PRECHECK");
}

/* ---- row 1: required ---- */

static void required_task(void **state)
{
	fx *f = *state;

	add_pitr(f);
	th_adds(f->st, "/tidb/br-stream/pause/pitr", "");
	run(f);
	expect_reject(f);
	assert_null(f->d.rule);
	assert_int_equal(f->d.ntasks, 1);
	assert_string_equal(f->d.tasks[0], "pitr");
	has(f->d.message, "PreCheck failed: importgate: shop.orders is covered by log backup task \"pitr\" "
	                  "(paused, still counts), no policy rule matches 'app'@'10.0.0.9', defaults apply "
	                  "(log_backup: required, changefeed: required); use a logical import");
	has(f->d.message, "use a logical import (LOAD DATA), which log backup records, or ask the DBA for a "
	                  "rule with log_backup: snapshot-after-import (or not-needed)");
	lacks(f->d.message, "changefeed \"");
	lacks(f->d.message, "refused");
}

static void required_changefeed_with_bypass(void **state)
{
	fx *f = *state;

	th_cf(f->st, "to-dr", "stopped", "[\"shop.*\"]", 0);
	f->in.disable_precheck = true;
	run(f);
	expect_reject(f);
	assert_int_equal(f->d.nchangefeeds, 1);
	assert_string_equal(f->d.changefeeds[0], "default/default/to-dr");
	has(f->d.message, "importgate: DISABLE_PRECHECK is refused: shop.orders is covered by changefeed "
	                  "\"default/default/to-dr\" (stopped)");
	has(f->d.message, "which the changefeed replicates, or ask the DBA for a rule with changefeed: "
	                  "reimport-downstream (or not-needed)");
}

static void required_both_named(void **state)
{
	fx *f = *state;

	add_pitr(f);
	th_cf(f->st, "cf1", "normal", NULL, -1);
	th_cf(f->st, "other", "normal", "[\"elsewhere.*\"]", -1);
	run(f);
	expect_reject(f);
	has(f->d.message, "covered by log backup task \"pitr\", changefeed \"default/default/cf1\", no policy rule matches");
	lacks(f->d.message, "other");
	has(f->d.message, "which log backup and changefeeds capture");
	has(f->d.message, "log_backup: snapshot-after-import (or not-needed) and changefeed: reimport-downstream (or not-needed)");
}

static void required_only_the_required_part(void **state)
{
	fx *f = *state;

	add_pitr(f);
	th_cf(f->st, "cf1", "normal", NULL, -1);
	f->in.db = "lbonly";
	run(f);
	expect_reject(f);
	has(f->d.message, "covered by log backup task \"pitr\", policy rule \"lb-only\" (log_backup: required, "
	                  "changefeed: not-needed)");
	lacks(f->d.message, "cf1");
	/* the decision still lists both for the audit */
	assert_int_equal(f->d.ntasks, 1);
	assert_int_equal(f->d.nchangefeeds, 1);
}

static void required_many_names_cut(void **state)
{
	fx *f = *state;
	char name[16];

	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		th_task(f->st, name, NULL, 0);
	}
	run(f);
	expect_reject(f);
	has(f->d.message, "log backup task \"t4\"");
	lacks(f->d.message, "\"t5\"");
	has(f->d.message, " and 3 more");
	assert_int_equal(f->d.ntasks, 8);
}

static void unreadable_covers(void **state)
{
	fx *f = *state;

	th_adds(f->st, "/tidb/cdc/default/default/changefeed/info/junk", "{oops");
	run(f);
	expect_reject(f);
	has(f->d.message, "changefeed \"default/default/junk\" (unreadable, counted as covering every table)");
}

/* ---- logical ---- */

static void logical(void **state)
{
	fx *f = *state;

	add_pitr(f);
	f->in.db = "logi";
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_LOGICAL);
	assert_int_equal(f->d.obligations, 0);
	has(f->d.reason, "asks for a logical import (LOAD DATA)");
	/* a `required` changefeed wins over logical */
	th_cf(f->st, "cf1", "normal", NULL, -1);
	f->in.db = "logilb";
	run(f);
	expect_reject(f);
	has(f->d.message, "changefeed \"default/default/cf1\"");
	/* logical only for what covers: the task is not-needed, the changefeed does not cover */
	ig_cluster_state_free(f->st);
	f->st = ig_cluster_state_new();
	f->in.state = f->st;
	add_pitr(f);
	th_cf(f->st, "cf2", "normal", "[\"x.*\"]", -1);
	f->in.db = "cflogi";
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_ADD_DISABLE_PRECHECK);
}

/* ---- row 2: exists ---- */

static void exists_add_disable_precheck(void **state)
{
	fx *f = *state;

	add_pitr(f);
	f->in.db = "scratch";
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_ADD_DISABLE_PRECHECK);
	assert_string_equal(f->d.rule->name, "scratch");
	assert_int_equal(f->d.obligations, 0);
	assert_null(f->d.message);
	has(f->d.reason, "TiDB's precheck would stop on log backup task \"pitr\"");
	has(f->d.reason, "DISABLE_PRECHECK added");
	/* the user's own DISABLE_PRECHECK is kept */
	f->in.disable_precheck = true;
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_PASS);
	has(f->d.reason, "the statement's own DISABLE_PRECHECK is kept");
	/* v8.0.0 exactly */
	f->in.disable_precheck = false;
	f->in.version = (ig_tidb_version){8, 0, 0};
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_ADD_DISABLE_PRECHECK);
}

/* policy.log_backup_filters' default, every-table: a task on other.* may observe shop.orders
 * under its old name (renamed since the task started: BR observes table ids), so it covers
 * shop.orders and the import is refused, with the reason and the way out. */
static void filtered_task_default(void **state)
{
	fx *f = *state;
	static const char *const other[] = {"other.*"};

	ig_config_free(f->cfg);
	f->cfg = cfg_from("policy: {}\n");
	f->in.cfg = f->cfg;
	th_task(f->st, "other_db", other, 1);
	run(f);
	expect_reject(f);
	assert_int_equal(f->d.ntasks, 1);
	has(f->d.message, "other_db");
	has(f->d.message, "counted as covering every table, policy.log_backup_filters");
}

static void exists_elsewhere(void **state)
{
	fx *f = *state;
	static const char *const other[] = {"other.*"};

	/* the table is covered by nothing, but TiDB's precheck counts any task */
	th_task(f->st, "other_db", other, 1);
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_ADD_DISABLE_PRECHECK);
	assert_null(f->d.rule);
	assert_int_equal(f->d.ntasks, 0);
	/* a system schema its filter does not match: not covered, but the task still exists */
	f->in.db = "mysql";
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_ADD_DISABLE_PRECHECK);
}

static void exists_old_tidb(void **state)
{
	fx *f = *state;

	/* legacy layout, normal: every pre-v8.0 variant counts it */
	th_adds(f->st, "/tidb/cdc/changefeed/info/cf1", "{\"state\":\"normal\",\"config\":{\"filter\":"
	        "{\"rules\":[\"x.*\"]}}}");
	f->in.version = (ig_tidb_version){7, 5, 1};
	run(f);
	expect_reject(f);
	has(f->d.message, "TiDB's own precheck refuses IMPORT INTO while changefeed \"cf1\" "
	                  "exist, and the backend runs TiDB v7.5.1, which has no DISABLE_PRECHECK "
	                  "(it came in v8.0.0)");
	has(f->d.message, "(allowed by no policy rule matches");
	has(f->d.message, "upgrade TiDB to v8.0.0 or later, or use a logical import (LOAD DATA)");
	assert_false(f->d.precheck_model_newer);
	has(f->d.precheck_model, "before v8.0");
}

/* v7.5 counts normal, stopped, error only (br/pkg/utils/cdc.go): a warning changefeed
 * elsewhere does not stop TiDB, so the import is forwarded as sent. */
static void warning_changefeed_on_v75(void **state)
{
	fx *f = *state;

	th_cf(f->st, "cf1", "warning", "[\"x.*\"]", -1);
	f->in.version = (ig_tidb_version){7, 5, 1};
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_PASS);
	has(f->d.reason, "no log backup task or changefeed that TiDB's precheck counts exists "
	                 "(before v8.0");
	/* v8.5 counts it: DISABLE_PRECHECK added */
	f->in.version = (ig_tidb_version){8, 5, 0};
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_ADD_DISABLE_PRECHECK);
	has(f->d.reason, "TiDB's precheck would stop on changefeed \"default/default/cf1\" (warning)");
}

/* A "default" cluster changefeed in a counted state: one pre-v8.0 variant (pingcap/tidb
 * #47322) keeps only numeric cluster ids, so TiDB may or may not count it: forwarded
 * unchanged, TiDB's own precheck decides (it cannot be skipped there anyway). */
static void old_tidb_maybe_forwards(void **state)
{
	fx *f = *state;

	th_cf(f->st, "cf1", "normal", "[\"x.*\"]", -1);
	f->in.version = (ig_tidb_version){7, 5, 1};
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_PASS);
	has(f->d.reason, "TiDB's precheck (before v8.0 (br/pkg/utils/cdc.go)) may stop on changefeed "
	                 "\"default/default/cf1\" (its releases differ)");
	has(f->d.reason, "forwarded unchanged, TiDB's own precheck decides");
	/* a numeric cluster id is counted by every variant */
	th_adds(f->st, "/tidb/cdc/7345/default/changefeed/info/cf2",
	        "{\"state\":\"stopped\",\"config\":{\"filter\":{\"rules\":[\"x.*\"]}}}");
	run(f);
	expect_reject(f);
	has(f->d.message, "changefeed \"7345/default/cf2\" (stopped) exist");
	lacks(f->d.message, "cf1");
}

static void exists_unknown_version(void **state)
{
	fx *f = *state;

	add_pitr(f);
	f->in.db = "scratch";
	f->in.version = (ig_tidb_version){-1, -1, -1};
	run(f);
	expect_reject(f);
	has(f->d.message, "the backend's TiDB version is unknown (counted as older than v8.0.0; set "
	                  "backends.tidb_version");
	has(f->d.message, "policy rule \"scratch\"");
	/* backends.tidb_version fills in */
	ig_config_free(f->cfg);
	f->cfg = cfg_from("backends: {tidb_version: v8.1.2}\npolicy:\n  rules:\n"
	                              "    - {name: s, tables: [\"scratch.*\"], log_backup: not-needed}\n");
	f->in.cfg = f->cfg;
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_ADD_DISABLE_PRECHECK);
	/* a greeting's version wins over the config's */
	f->in.version = (ig_tidb_version){7, 1, 0};
	run(f);
	expect_reject(f);
	has(f->d.message, "TiDB v7.1.0");
}

static void obligations(void **state)
{
	fx *f = *state;

	add_pitr(f);
	th_cf(f->st, "cf1", "normal", NULL, -1);
	f->in.db = "warehouse";
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_ADD_DISABLE_PRECHECK);
	assert_int_equal(f->d.obligations, IG_OBL_SNAPSHOT_AFTER_IMPORT | IG_OBL_REIMPORT_DOWNSTREAM);
	assert_string_equal(f->d.rule->name, "snap");
	/* only a task covers: only the snapshot is owed */
	ig_cluster_state_free(f->st);
	f->st = ig_cluster_state_new();
	f->in.state = f->st;
	add_pitr(f);
	run(f);
	assert_int_equal(f->d.obligations, IG_OBL_SNAPSHOT_AFTER_IMPORT);
	/* a failed changefeed covers (it may resume); v8.5 counts it too (pingcap/tidb#53482) */
	ig_cluster_state_free(f->st);
	f->st = ig_cluster_state_new();
	f->in.state = f->st;
	th_cf(f->st, "broken", "failed", NULL, -1);
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_ADD_DISABLE_PRECHECK);
	assert_int_equal(f->d.obligations, IG_OBL_REIMPORT_DOWNSTREAM);
	has(f->d.reason, "TiDB's precheck would stop on changefeed \"default/default/broken\" (failed)");
	/* v7.5 does not count a failed changefeed: PASS, still owed */
	f->in.version = (ig_tidb_version){7, 5, 0};
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_PASS);
	assert_int_equal(f->d.obligations, IG_OBL_REIMPORT_DOWNSTREAM);
	has(f->d.reason, "no log backup task or changefeed that TiDB's precheck counts exists");
	has(f->d.reason, "changefeed \"default/default/broken\" (failed)");
	/* the same failed changefeed under the defaults: required -> reject */
	f->in.db = "shop";
	run(f);
	expect_reject(f);
}

/* ---- row 3: nothing ---- */

static void nothing_exists(void **state)
{
	fx *f = *state;

	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_PASS);
	assert_int_equal(f->d.obligations, 0);
	assert_false(f->d.dry_run);
	assert_false(f->d.state_unavailable);
	/* finished and removed changefeeds neither cover nor count */
	th_cf(f->st, "done", "finished", NULL, -1);
	th_cf(f->st, "gone", "removed", NULL, -1);
	f->in.version = (ig_tidb_version){6, 5, 0};
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_PASS);
	assert_int_equal(f->d.nchangefeeds, 0);
	/* DISABLE_PRECHECK with nothing there: passes as sent */
	f->in.disable_precheck = true;
	f->in.version = (ig_tidb_version){8, 5, 0};
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_PASS);
}

/* ---- TiDB X: its keyspace's tasks may be in an etcd the gateway does not read ---- */

static void tidbx_backend(void **state)
{
	fx *f = *state;
	ig_import_usage unparsed = {.unparsed = "PARTITION at offset 16"};

	f->in.nextgen = true;
	f->in.version = (ig_tidb_version){26, 3, 1};
	run(f); /* nothing read covers anything: refused all the same */
	expect_reject(f);
	has(f->d.message, "the backend is TiDB X (next-gen kernel)");
	has(f->d.message, "no log backup task covers shop.orders");
	has(f->d.message, "no policy rule matches 'app'@'10.0.0.9'");
	lacks(f->d.reason, "DISABLE_PRECHECK added");
	/* a rule's not-needed cannot say where the tasks are either */
	f->in.db = "scratch";
	run(f);
	expect_reject(f);
	/* the DBA's pass rule forwards, deny refuses, as on every backend */
	f->in.db = "shop";
	f->in.user = "dba";
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_PASS);
	f->in.user = "intern";
	run(f);
	has(f->d.message, "(action: deny)");
	/* an import the gateway cannot parse: not forwarded on "nothing exists" */
	f->in.user = "app";
	f->in.usage = &unparsed;
	run(f);
	expect_reject(f);
	has(f->d.message, "and the backend is TiDB X");
	/* the same on a classic TiDB: nothing exists, forwarded, TiDB answers it */
	f->in.nextgen = false;
	run(f);
	assert_int_equal(f->d.verdict, IG_VERDICT_PASS);
}

static void dry_run(void **state)
{
	fx *f = *state;

	ig_config_free(f->cfg);
	f->cfg = cfg_from("policy: {mode: dry-run}\n");
	f->in.cfg = f->cfg;
	add_pitr(f);
	run(f);
	assert_true(f->d.dry_run);
	expect_reject(f); /* computed all the same; the gateway forwards unchanged */
}

static void bad_input(void **state)
{
	fx *f = *state;
	char err[128];

	(void)state;
	f->in.cfg = NULL;
	assert_int_equal(ig_decide(&f->in, &f->d, err, sizeof(err)), -1);
	has(err, "missing config or table");
	assert_int_equal(ig_decide(NULL, &f->d, err, sizeof(err)), -1);
	assert_string_equal(ig_verdict_name(IG_VERDICT_PASS), "pass");
	assert_string_equal(ig_verdict_name(IG_VERDICT_ADD_DISABLE_PRECHECK), "add-disable-precheck");
	assert_string_equal(ig_verdict_name(IG_VERDICT_REJECT), "reject");
	assert_string_equal(ig_verdict_name(IG_VERDICT_LOGICAL), "logical");
	ig_decision_free(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(no_database), T(action_deny), T(action_pass),
		T(unavailable_defer), T(unavailable_with_disable_precheck), T(unavailable_reject_mode),
		T(required_task), T(required_changefeed_with_bypass), T(required_both_named),
		T(required_only_the_required_part), T(required_many_names_cut), T(unreadable_covers),
		T(logical),
		T(exists_add_disable_precheck), T(exists_elsewhere), T(filtered_task_default), T(exists_old_tidb),
		T(warning_changefeed_on_v75), T(old_tidb_maybe_forwards),
		T(exists_unknown_version), T(obligations),
		T(nothing_exists), T(tidbx_backend), T(dry_run), T(bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
