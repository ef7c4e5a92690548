/*
 * test_clusterstate.c - the cluster-state model: which tasks and changefeeds cover a table
 * (empty task filter = every table, system schemas per filter for log backup and never for
 * changefeeds, per TiCDC version, finished/removed changefeeds never, unreadable =
 * everything, case sensitivity), pause and error markers, and what
 * TiDB's own precheck counts of such a state per version (policy/precheck_model.c: the
 * fixed-state ig_changefeed_tidb_counts it replaced was right for one version range only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "policy/precheck_model.h"
#include "state_helpers.h"

/* "t:<names> c:<ids>" of what covers db.tbl, for compact assertions */
static const char *covering(const ig_cluster_state *st, const char *db, const char *tbl)
{
	static char out[512];
	ig_coverage cov;
	size_t n = 0;

	assert_int_equal(ig_cluster_covering(st, db, tbl, true, &cov), 0);
	n += (size_t)snprintf(out + n, sizeof(out) - n, "t:");
	for (size_t i = 0; i < cov.ntasks; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", i ? "," : "", st->tasks[cov.tasks[i]].name);
	n += (size_t)snprintf(out + n, sizeof(out) - n, " c:");
	for (size_t i = 0; i < cov.ncfs; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", i ? "," : "", st->cfs[cov.cfs[i]].id);
	ig_coverage_free(&cov);
	return out;
}

static void tasks(void **state)
{
	static const char *const app[] = {"app.*", "!app.scratch"};
	static const char *const most[] = {"*.*", "!2024.*"};
	ig_cluster_state *st = ig_cluster_state_new();

	(void)state;
	th_task(st, "all", NULL, 0); /* no filter: every table */
	th_task(st, "apps", app, 2);
	th_task(st, "most", most, 2);
	ig_cluster_state_finish(st);
	assert_string_equal(covering(st, "app", "orders"), "t:all,apps,most c:");
	assert_string_equal(covering(st, "APP", "Orders"), "t:all,apps,most c:");
	/* the task info does not say whether BR ran with --case-sensitive: under it,
	 * !app.scratch leaves a table stored as app.Scratch observed (attack23) */
	assert_string_equal(covering(st, "app", "scratch"), "t:all,apps,most c:");
	/* a rule excludes every spelling: a schema name without letters, `*` for the table */
	assert_string_equal(covering(st, "2024", "Orders"), "t:all c:");
	assert_string_equal(covering(st, "other", "x"), "t:all,most c:");
	/* log backup observes system schemas its filter matches (br/pkg/stream
	 * BuildObserveDataRanges), the memory schemas never, any case */
	assert_string_equal(covering(st, "mysql", "user"), "t:all,most c:");
	assert_string_equal(covering(st, "SYS", "x"), "t:all,most c:");
	assert_string_equal(covering(st, "inspection_schema", "x"), "t:all,most c:");
	assert_string_equal(covering(st, "Information_Schema", "tables"), "t: c:");
	assert_string_equal(covering(st, "PERFORMANCE_SCHEMA", "x"), "t: c:");
	assert_string_equal(covering(st, "metrics_schema", "x"), "t: c:");
	assert_true(ig_logbackup_ignores_schema("Metrics_Schema"));
	assert_false(ig_logbackup_ignores_schema("mysql"));
	assert_false(ig_logbackup_ignores_schema(NULL));
	assert_true(ig_is_system_schema("Mysql"));
	assert_true(ig_is_system_schema("DM_HEARTBEAT"));
	assert_false(ig_is_system_schema("mysql2"));
	assert_false(ig_is_system_schema(NULL));
	assert_int_equal(st->ntasks, 3); /* every task counts for TiDB, on every version */
	ig_cluster_state_free(st);
}

/* "c:<ids>" of the changefeeds covering db.t */
static const char *cf_covering(const ig_cluster_state *st, const char *db)
{
	static char out[256];
	ig_coverage cov;
	size_t n = 0;

	assert_int_equal(ig_cluster_covering(st, db, "t", true, &cov), 0);
	n += (size_t)snprintf(out + n, sizeof(out) - n, "c:");
	for (size_t i = 0; i < cov.ncfs; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", i ? "," : "", st->cfs[cov.cfs[i]].id);
	ig_coverage_free(&cov);
	return out;
}

/* Schemas a *.* changefeed never covers: only those TiCDC of every release ignores, in any
 * case. tidb_cdc, lightning_task_info and workload_schema are skipped by some TiCDC releases
 * only, compared as stored before v26.3: the gateway knows neither TiCDC's release nor the
 * stored case, so they count as covered (attack3: test_attack3_cdc_sysschema.py). */
static void cdc_system_schemas(void **state)
{
	static const struct {
		const char *db;
		bool covered;
	} cases[] = {
		{"mysql", false}, {"Mysql", false}, {"information_schema", false},
		{"PERFORMANCE_SCHEMA", false}, {"metrics_schema", false}, {"inspection_schema", false},
		{"sys", false}, {"dm_heartbeat", false}, {"DM_HEARTBEAT", false},
		{"tidb_cdc", true}, {"TIDB_CDC", true}, {"lightning_task_info", true},
		{"Lightning_Task_Info", true}, {"workload_schema", true}, {"WORKLOAD_SCHEMA", true},
		{"shop", true}, {"mysql2", true},
	};
	ig_cluster_state *st = ig_cluster_state_new();

	(void)state;
	th_cf(st, "all", "normal", "[\"*.*\"]", -1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = cf_covering(st, cases[i].db);
		if ((strcmp(got, "c:all") == 0) != cases[i].covered)
			fail_msg("%s: %s, want %s", cases[i].db, got, cases[i].covered ? "covered" : "ignored");
		assert_int_equal(ig_is_system_schema(cases[i].db), !cases[i].covered);
	}
	ig_cluster_state_free(st);
}

static void pause_and_errors(void **state)
{
	static const char *const f[] = {"*.*"};
	ig_cluster_state *st = ig_cluster_state_new();

	(void)state;
	th_adds(st, "/tidb/br-stream/pause/early", ""); /* before its task */
	th_task(st, "early", f, 1);
	th_task(st, "late", f, 1);
	th_task(st, "plain", f, 1);
	th_adds(st, "/tidb/br-stream/pause/late", "{\"severity\":\"ERROR\"}");
	th_adds(st, "/tidb/br-stream/last-error/plain/7", "x");
	th_adds(st, "/tidb/br-stream/pause/gone", ""); /* no task: stale, ignored */
	th_adds(st, "/tidb/br-stream/checkpoint/plain/store/1", "12345678");
	ig_cluster_state_finish(st);
	assert_int_equal(st->ntasks, 3);
	assert_true(st->tasks[0].paused);
	assert_true(st->tasks[1].paused);
	assert_false(st->tasks[2].paused);
	assert_true(st->tasks[2].has_error);
	assert_false(st->tasks[0].has_error);
	/* paused tasks still cover: what is imported while paused never reaches the log */
	assert_string_equal(covering(st, "a", "b"), "t:early,late,plain c:");
	assert_int_equal(st->nproblems, 0);
	ig_cluster_state_free(st);
}

/* A keyspace cluster's tasks, under /keyspaces/tidb/<id>: tasks of their own, with markers. */
static void keyspace_tasks(void **state)
{
	static const char *const shop[] = {"shop.*"};
	unsigned char pb[256];
	ig_cluster_state *st = ig_cluster_state_new();

	(void)state;
	th_task(st, "t1", shop, 1); /* a plain one of the same name */
	th_add(st, "/keyspaces/tidb/42/tidb/br-stream/info/t1", pb, th_task_pb(pb, "t1", NULL, 0));
	th_adds(st, "/keyspaces/tidb/42/tidb/br-stream/pause/t1", "");
	th_add(st, "/keyspaces/tidb/7/tidb/br-stream/info/t2", pb, th_task_pb(pb, "t2", shop, 1));
	th_adds(st, "/keyspaces/tidb/7/tidb/br-stream/last-error/t2/store1", "x");
	th_adds(st, "/keyspaces/tidb/7/tidb/br-stream/checkpoint/t2/central_global", "12345678");
	th_adds(st, "/keyspaces/tidb/7/tidb/cdc/default/default/changefeed/info/cf", "{\"state\":\"normal\"}");
	th_adds(st, "/keyspaces/tidb/x/tidb/br-stream/info/t3", "");
	ig_cluster_state_finish(st);
	assert_int_equal(st->ntasks, 3);
	assert_int_equal(st->ncfs, 0);
	assert_string_equal(st->tasks[1].name, "t1 (keyspace 42)");
	assert_false(st->tasks[0].paused);
	assert_true(st->tasks[1].paused);
	assert_true(st->tasks[2].has_error);
	assert_int_equal(st->nproblems, 0); /* the info names the task as the key does */
	assert_string_equal(covering(st, "app", "x"), "t:t1 (keyspace 42) c:");
	assert_string_equal(covering(st, "shop", "x"), "t:t1,t1 (keyspace 42),t2 (keyspace 7) c:");
	assert_int_equal(ig_keyspace_ns_len("/keyspaces/tidb/42/tidb/x", 25), 18);
	assert_int_equal(ig_keyspace_ns_len("/keyspaces/tidb/42", 18), 0);
	assert_int_equal(ig_keyspace_ns_len("/keyspaces/tidb/12345678901/tidb/x", 34), 0);
	ig_cluster_state_free(st);
}

static void task_filter_errors(void **state)
{
	static const char *const bad[] = {"app.*", "a.b.c"};
	ig_cluster_state *st = ig_cluster_state_new();
	unsigned char pb[256];

	(void)state;
	th_task(st, "bad", bad, 2);
	/* the key names the task; the protobuf's own name differing is noted */
	{
		static const char *const f[] = {"x.*"};
		size_t n = th_task_pb(pb, "other_name", f, 1);
		th_add(st, "/tidb/br-stream/info/renamed", pb, n);
	}
	ig_cluster_state_finish(st);
	assert_true(st->tasks[0].undecodable);
	assert_string_equal(covering(st, "zzz", "t"), "t:bad c:");
	assert_string_equal(covering(st, "x", "t"), "t:bad,renamed c:");
	assert_int_equal(st->nproblems, 2);
	assert_non_null(strstr(st->problems[0], "log backup task \"bad\": cannot read its table filter"));
	assert_non_null(strstr(st->problems[1], "its info names it \"other_name\""));
	ig_cluster_state_free(st);
}

static void changefeeds(void **state)
{
	ig_cluster_state *st = ig_cluster_state_new();

	(void)state;
	th_cf(st, "normal", "normal", "[\"app.*\"]", 0);
	th_cf(st, "stopped", "stopped", "[\"app.*\"]", 0);
	th_cf(st, "failed", "failed", "[\"app.*\"]", 0);
	th_cf(st, "error", "error", "[\"app.*\"]", 0);
	th_cf(st, "pending", "pending", "[\"app.*\"]", 0);
	th_cf(st, "warning", "warning", "[\"app.*\"]", 0);
	th_cf(st, "odd", "exploded", "[\"app.*\"]", 0);
	th_cf(st, "finished", "finished", "[\"app.*\"]", 0);
	th_cf(st, "removed", "removed", "[\"app.*\"]", 0);
	th_cf(st, "dflt", "normal", NULL, -1); /* no rules: *.* */
	th_adds(st, "/tidb/cdc/default/default/changefeed/status/normal", "{\"checkpoint-ts\":1}");
	th_adds(st, "/tidb/cdc/changefeed/info/legacy", "{\"state\":\"normal\",\"config\":{\"filter\":"
	       "{\"rules\":[\"old.*\"]}}}");
	ig_cluster_state_finish(st);
	assert_int_equal(st->ncfs, 11);
	assert_string_equal(covering(st, "app", "t"), "t: c:normal,stopped,failed,error,pending,warning,odd,dflt");
	assert_string_equal(covering(st, "old", "t"), "t: c:dflt,legacy");
	assert_string_equal(st->cfs[10].display, "legacy");
	assert_string_equal(st->cfs[0].display, "default/default/normal");
	assert_string_equal(covering(st, "mysql", "t"), "t: c:");
	/* the unknown state is reported */
	assert_int_equal(st->nproblems, 1);
	assert_non_null(strstr(st->problems[0], "changefeed \"default/default/odd\": unknown state \"exploded\""));
	ig_cluster_state_free(st);
}

static void case_sensitivity(void **state)
{
	ig_cluster_state *st = ig_cluster_state_new();

	(void)state;
	th_cf(st, "ci", "normal", "[\"*.*\",\"!Test.*\"]", 0);
	th_cf(st, "cs", "normal", "[\"*.*\",\"!Test.*\"]", 1);
	th_cf(st, "cs_only", "normal", "[\"Shop.*\"]", 1);
	th_cf(st, "absent", "normal", "[\"app.*\",\"!app.Orders\"]", -1);
	ig_cluster_state_finish(st);
	/* case-sensitive absent: read as case-sensitive too; app.Orders may be app.orders */
	assert_string_equal(covering(st, "app", "Orders"), "t: c:ci,cs,absent");
	/* case-insensitive: Test excludes test, in any spelling */
	assert_string_equal(covering(st, "test", "t"), "t: c:cs");
	/* case-sensitive: the rule excludes only a schema stored as "Test"; the statement's
	 * "Test" may name one created as "test" (TiDB resolves names case-insensitively), which
	 * TiCDC replicates: covered (attack23; it was judged excluded) */
	assert_string_equal(covering(st, "Test", "t"), "t: c:cs");
	assert_string_equal(covering(st, "shop", "t"), "t: c:ci,cs,cs_only");
	assert_string_equal(covering(st, "SHOP", "t"), "t: c:ci,cs,cs_only");
	ig_cluster_state_free(st);
}

static void unreadable_changefeeds(void **state)
{
	ig_cluster_state *st = ig_cluster_state_new();

	(void)state;
	th_adds(st, "/tidb/cdc/default/default/changefeed/info/garbage", "{not json");
	th_adds(st, "/tidb/cdc/default/default/changefeed/info/badrule", "{\"state\":\"failed\",\"config\":"
	       "{\"filter\":{\"rules\":[\"a%b.c\"]}}}");
	th_adds(st, "/tidb/cdc/default/default/changefeed/info/mysqlrules", "{\"state\":\"stopped\","
	       "\"config\":{\"filter\":{\"mysql-replication-rules\":{\"do-dbs\":[\"x\"]}}}}");
	ig_cluster_state_finish(st);
	assert_int_equal(st->ncfs, 3);
	for (size_t i = 0; i < 3; i++)
		assert_true(st->cfs[i].undecodable);
	assert_string_equal(covering(st, "anything", "t"), "t: c:garbage,badrule,mysqlrules");
	assert_int_equal(st->nproblems, 3);
	assert_non_null(strstr(st->problems[0], "\"default/default/garbage\": changefeed info: bad JSON"));
	assert_non_null(strstr(st->problems[1], "cannot read its filter rules"));
	assert_non_null(strstr(st->problems[2], "mysql-replication-rules"));
	/* v8.5: undecodable JSON fails TiDB's precheck; failed and stopped count (#53482).
	 * v7.5: undecodable info is skipped, failed does not count, stopped does. */
	{
		ig_tidb_version v85 = {8, 5, 0}, v75 = {7, 5, 1};
		const ig_precheck_model *m85 = ig_precheck_model_for(&v85, NULL);
		const ig_precheck_model *m75 = ig_precheck_model_for(&v75, NULL);
		assert_int_equal(ig_precheck_model_counts(m85, &st->cfs[0]), IG_PC_COUNTED);
		assert_int_equal(ig_precheck_model_counts(m85, &st->cfs[1]), IG_PC_COUNTED);
		assert_int_equal(ig_precheck_model_counts(m85, &st->cfs[2]), IG_PC_COUNTED);
		assert_int_equal(ig_precheck_model_counts(m75, &st->cfs[0]), IG_PC_NOT_COUNTED);
		assert_int_equal(ig_precheck_model_counts(m75, &st->cfs[1]), IG_PC_NOT_COUNTED);
		assert_int_equal(ig_precheck_model_counts(m75, &st->cfs[2]), IG_PC_MAYBE); /* "default" cluster */
	}
	ig_cluster_state_free(st);
}

static void precheck_counts(void **state)
{
	ig_cluster_state *st = ig_cluster_state_new();

	ig_tidb_version v85 = {8, 5, 0}, v75 = {7, 5, 1};
	const ig_precheck_model *m85 = ig_precheck_model_for(&v85, NULL);
	const ig_precheck_model *m75 = ig_precheck_model_for(&v75, NULL);
	/* name, state, counted by v8.5, by v7.5 (legacy layout: no cluster-id question) */
	static const struct {
		const char *id, *state;
		ig_pc_count v85, v75;
	} cases[] = {
		{"f", "failed", IG_PC_COUNTED, IG_PC_NOT_COUNTED},
		{"e", "error", IG_PC_COUNTED, IG_PC_COUNTED},
		{"w", "warning", IG_PC_COUNTED, IG_PC_NOT_COUNTED},
		{"p", "pending", IG_PC_NOT_COUNTED, IG_PC_NOT_COUNTED},
		{"d", "finished", IG_PC_NOT_COUNTED, IG_PC_NOT_COUNTED},
		{"r", "removed", IG_PC_NOT_COUNTED, IG_PC_NOT_COUNTED},
		{"s", "stopped", IG_PC_COUNTED, IG_PC_COUNTED},
		{"n", "normal", IG_PC_COUNTED, IG_PC_COUNTED},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char key[64], val[64];
		snprintf(key, sizeof(key), "/tidb/cdc/changefeed/info/%s", cases[i].id);
		snprintf(val, sizeof(val), "{\"state\":\"%s\"}", cases[i].state);
		th_adds(st, key, val);
		assert_int_equal(st->ncfs, i + 1);
		assert_int_equal(ig_precheck_model_counts(m85, &st->cfs[i]), cases[i].v85);
		assert_int_equal(ig_precheck_model_counts(m75, &st->cfs[i]), cases[i].v75);
	}
	ig_cluster_state_free(st);
	st = ig_cluster_state_new();
	th_adds(st, "/tidb/br-stream/pause/x", "");
	ig_cluster_state_finish(st);
	assert_int_equal(st->ntasks, 0); /* a stale pause key is no task */
	th_task(st, "x", NULL, 0);
	assert_int_equal(st->ntasks, 1);
	ig_cluster_state_free(st);
	ig_cluster_state_free(NULL);
	{
		ig_coverage cov;
		assert_int_equal(ig_cluster_covering(NULL, "a", "b", true, &cov), 0);
		assert_int_equal(cov.ntasks + cov.ncfs, 0);
		ig_coverage_free(&cov);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tasks),
		cmocka_unit_test(cdc_system_schemas),
		cmocka_unit_test(pause_and_errors),
		cmocka_unit_test(keyspace_tasks),
		cmocka_unit_test(task_filter_errors),
		cmocka_unit_test(changefeeds),
		cmocka_unit_test(case_sensitivity),
		cmocka_unit_test(unreadable_changefeeds),
		cmocka_unit_test(precheck_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
