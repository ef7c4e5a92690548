/*
 * test_decide_versions.c - the verdict of every scenario of TiDB's compatibility guide, and
 * of the changefeed states whose counting changed across TiDB versions, per modelled version
 * (v7.5, v8.1, v8.5, and a master-like v9.0 newer than the newest modelled release):
 * what TiDB's own precheck counts decides whether DISABLE_PRECHECK is added, the import is
 * forwarded as sent, or (before v8.0, where the precheck cannot be skipped) refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/decide.h"
#include "state_helpers.h"

static const char rules_yaml[] =
	"obligations: {downstream: {servers: [\"dr:4000\"]}}\n"
	"policy:\n"
	"  log_backup_filters: by-name\n" /* the rules of a filtered task against the names (see filtered_task_default) */
	"  rules:\n"
	"    - {name: nobackup, tables: [\"scratch.*\"], log_backup: not-needed, changefeed: not-needed}\n"
	"    - {name: snap, tables: [\"archive.*\"], log_backup: snapshot-after-import}\n"
	"    - {name: reimport, tables: [\"dw.*\"], changefeed: reimport-downstream}\n";

enum { V75, V81, V85, V90, NV };
static const ig_tidb_version versions[NV] = {{7, 5, 1}, {8, 1, 0}, {8, 5, 0}, {9, 0, 0}};
static const char *const vnames[NV] = {"v7.5.1", "v8.1.0", "v8.5.0", "v9.0.0"};

static void task_all(ig_cluster_state *st, const char *filter)
{
	const char *const f[] = {filter};
	th_task(st, "pitr", f, 1);
}

static void s_nothing(ig_cluster_state *st) { (void)st; }
static void s_task_scratch(ig_cluster_state *st) { task_all(st, "scratch.*"); }
static void s_task_archive(ig_cluster_state *st) { task_all(st, "archive.*"); }
static void s_task_shop(ig_cluster_state *st) { task_all(st, "shop.*"); }
static void s_task_elsewhere(ig_cluster_state *st) { task_all(st, "other.*"); }
static void s_cf_scratch(ig_cluster_state *st) { th_cf(st, "cf", "normal", "[\"scratch.*\"]", -1); }
static void s_cf_dw(ig_cluster_state *st) { th_cf(st, "cf", "normal", "[\"dw.*\"]", -1); }
static void s_cf_shop(ig_cluster_state *st) { th_cf(st, "cf", "normal", "[\"shop.*\"]", -1); }
static void s_failed_elsewhere(ig_cluster_state *st) { th_cf(st, "cf", "failed", "[\"other.*\"]", -1); }
static void s_failed_dw(ig_cluster_state *st) { th_cf(st, "cf", "failed", "[\"dw.*\"]", -1); }
static void s_warning_elsewhere(ig_cluster_state *st) { th_cf(st, "cf", "warning", "[\"other.*\"]", -1); }
static void s_error_elsewhere(ig_cluster_state *st) { th_cf(st, "cf", "error", "[\"other.*\"]", -1); }
static void s_running_elsewhere(ig_cluster_state *st) { th_cf(st, "cf", "running", "[\"other.*\"]", -1); }
static void s_pending_elsewhere(ig_cluster_state *st) { th_cf(st, "cf", "pending", "[\"other.*\"]", -1); }
static void s_cf_everything(ig_cluster_state *st) { th_cf(st, "cf", "normal", "[\"*.*\"]", -1); }
static void s_task_everything(ig_cluster_state *st) { task_all(st, "*.*"); }
static void s_finished_shop(ig_cluster_state *st) { th_cf(st, "cf", "finished", "[\"shop.*\"]", -1); }

static void s_legacy_normal_elsewhere(ig_cluster_state *st)
{
	th_adds(st, "/tidb/cdc/changefeed/info/old",
	        "{\"state\":\"normal\",\"config\":{\"filter\":{\"rules\":[\"other.*\"]}}}");
}

static void s_legacy_warning_elsewhere(ig_cluster_state *st)
{
	th_adds(st, "/tidb/cdc/changefeed/info/old",
	        "{\"state\":\"warning\",\"config\":{\"filter\":{\"rules\":[\"other.*\"]}}}");
}

/* a numeric TiCDC cluster id: every variant of br/pkg/utils/cdc.go counts it for certain */
static void s_error_numeric_elsewhere(ig_cluster_state *st)
{
	th_adds(st, "/tidb/cdc/7345/default/changefeed/info/cf",
	        "{\"state\":\"error\",\"config\":{\"filter\":{\"rules\":[\"other.*\"]}}}");
}

/* TiDB cannot read its state; it covers every table (importgate), scratch allows it */
static void s_undecodable(ig_cluster_state *st)
{
	th_adds(st, "/tidb/cdc/default/default/changefeed/info/junk", "{\"state\":");
}

/* P pass (as sent), A DISABLE_PRECHECK added, R 8173 refused */
typedef struct scenario {
	const char *name;
	void (*setup)(ig_cluster_state *);
	const char *db;
	char want[NV + 1]; /* per version: v7.5 v8.1 v8.5 v9.0 */
	unsigned obligations;
} scenario;

static const scenario scenarios[] = {
	{"no task, no changefeed", s_nothing, "shop", "PPPP", 0},
	/* log backup, guide scenario 1: the tables need no backup */
	{"log backup scenario 1 (not-needed)", s_task_scratch, "scratch", "RAAA", 0},
	/* log backup, guide scenario 2: a table-level snapshot after the import */
	{"log backup scenario 2 (snapshot-after-import)", s_task_archive, "archive", "RAAA",
	 IG_OBL_SNAPSHOT_AFTER_IMPORT},
	/* log backup, guide scenario 3 (DML after the import) is unsupported: required */
	{"log backup scenario 3 (required)", s_task_shop, "shop", "RRRR", 0},
	{"task elsewhere", s_task_elsewhere, "shop", "RAAA", 0},
	/* TiCDC, guide scenario 1: the table is not replicated */
	{"TiCDC scenario 1 (not-needed)", s_cf_scratch, "scratch", "PAAA", 0},
	/* TiCDC, guide scenario 2: the same import downstream */
	{"TiCDC scenario 2 (reimport-downstream)", s_cf_dw, "dw", "PAAA", IG_OBL_REIMPORT_DOWNSTREAM},
	{"TiCDC covered, required", s_cf_shop, "shop", "RRRR", 0},
	/* states whose counting changed: before v8.2 normal, stopped, error (br/pkg/utils/cdc.go);
	 * from v8.2 (#53121, #53482) also failed, warning, running */
	{"failed changefeed, not covering", s_failed_elsewhere, "shop", "PPAA", 0},
	{"failed changefeed, covering, allowed", s_failed_dw, "dw", "PPAA", IG_OBL_REIMPORT_DOWNSTREAM},
	{"warning changefeed elsewhere", s_warning_elsewhere, "shop", "PPAA", 0},
	{"running changefeed elsewhere", s_running_elsewhere, "shop", "PPAA", 0},
	{"error changefeed elsewhere (default cluster)", s_error_elsewhere, "shop", "PAAA", 0},
	{"error changefeed elsewhere (numeric cluster)", s_error_numeric_elsewhere, "shop", "RAAA", 0},
	{"pending changefeed elsewhere", s_pending_elsewhere, "shop", "PPPP", 0},
	{"finished changefeed on the table", s_finished_shop, "shop", "PPPP", 0},
	{"legacy normal changefeed elsewhere", s_legacy_normal_elsewhere, "shop", "RAAA", 0},
	{"legacy warning changefeed elsewhere", s_legacy_warning_elsewhere, "shop", "PPAA", 0},
	{"undecodable changefeed, allowed", s_undecodable, "scratch", "PPAA", 0},
	/* system schemas: TiCDC skips some whatever its filter, log backup with *.* observes
	 * them. Those only some TiCDC releases skip, compared as stored (tidb_cdc,
	 * lightning_task_info, workload_schema) count as covered: TiCDC's release is not TiDB's,
	 * and the stored case is not the statement's (attack3) */
	{"*.* changefeed, lightning_task_info (skipped by some TiCDC releases)", s_cf_everything,
	 "lightning_task_info", "RRRR", 0},
	{"*.* changefeed, tidb_cdc (skipped by some TiCDC releases)", s_cf_everything, "tidb_cdc",
	 "RRRR", 0},
	{"*.* changefeed, workload_schema (skipped by some TiCDC releases)", s_cf_everything,
	 "workload_schema", "RRRR", 0},
	{"*.* changefeed, dm_heartbeat (skipped by every TiCDC)", s_cf_everything, "dm_heartbeat",
	 "PAAA", 0},
	{"*.* log backup, mysql table", s_task_everything, "mysql", "RRRR", 0},
};

static ig_verdict verdict_of(char c)
{
	return c == 'A' ? IG_VERDICT_ADD_DISABLE_PRECHECK : c == 'R' ? IG_VERDICT_REJECT : IG_VERDICT_PASS;
}

static void one(const ig_config *cfg, const scenario *s, int vi)
{
	ig_cluster_state *st = ig_cluster_state_new();
	ig_decide_input in = {.user = "app", .host = "10.0.0.9", .db = s->db, .table = "t",
	                      .version = versions[vi], .state = st, .cfg = cfg};
	ig_decision d;
	char err[128];

	s->setup(st);
	ig_cluster_state_finish(st);
	if (ig_decide(&in, &d, err, sizeof(err)) < 0)
		fail_msg("%s on %s: %s", s->name, vnames[vi], err);
	if (d.verdict != verdict_of(s->want[vi]))
		fail_msg("%s on %s: got %s, want %c (%s)", s->name, vnames[vi], ig_verdict_name(d.verdict),
		         s->want[vi], d.reason ? d.reason : "");
	if (d.verdict != IG_VERDICT_REJECT && d.obligations != s->obligations)
		fail_msg("%s on %s: obligations %u, want %u", s->name, vnames[vi], d.obligations,
		         s->obligations);
	if (d.precheck_model_newer != (vi == V90))
		fail_msg("%s on %s: newer-than-known flag %d", s->name, vnames[vi], d.precheck_model_newer);
	assert_non_null(d.precheck_model);
	ig_decision_free(&d);
	ig_cluster_state_free(st);
}

static void guide_scenarios_per_version(void **state)
{
	ig_config *cfg;
	char err[512];

	(void)state;
	if (ig_config_load_string("d.yaml", rules_yaml, strlen(rules_yaml), &cfg, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		for (int v = 0; v < NV; v++)
			one(cfg, &scenarios[i], v);
	ig_config_free(cfg);
}

/* A newer-than-known TiDB decides with the newest model and says so. */
static void newer_version_uses_newest_model(void **state)
{
	const ig_tidb_version v85 = {8, 5, 3}, v86 = {8, 6, 0}, v2603 = {26, 3, 0};
	bool newer = true;
	const ig_precheck_model *m85 = ig_precheck_model_for(&v85, &newer);

	(void)state;
	assert_false(newer);
	assert_ptr_equal(ig_precheck_model_for(&v86, &newer), m85);
	assert_true(newer);
	assert_ptr_equal(ig_precheck_model_for(&v2603, &newer), m85);
	assert_true(newer);
	assert_string_equal(ig_precheck_model_newest_known(), "v8.5");
}

/* The model itself: each state, per version, for a "default" cluster, a numeric cluster and
 * the legacy layout. N not counted, M maybe, C counted. */
static void states_per_version(void **state)
{
	static const struct {
		const char *state;
		const char *want[NV]; /* per version: default, numeric, legacy */
	} cases[] = {
		{"normal", {"MCC", "MCC", "CCC", "CCC"}},
		{"stopped", {"MCC", "MCC", "CCC", "CCC"}},
		{"error", {"MCC", "MCC", "CCC", "CCC"}},
		{"failed", {"NNN", "NNN", "CCC", "CCC"}},
		{"warning", {"NNN", "NNN", "CCC", "CCC"}},
		{"running", {"NNN", "NNN", "CCC", "CCC"}},
		{"pending", {"NNN", "NNN", "NNN", "NNN"}},
		{"finished", {"NNN", "NNN", "NNN", "NNN"}},
		{"removed", {"NNN", "NNN", "NNN", "NNN"}},
		{"Normal", {"NNN", "NNN", "NNN", "NNN"}},
	};
	static const char *const clusters[] = {"default", "7345", NULL};
	static const char code[] = {'N', 'M', 'C'};
	ig_changefeed cf;
	char json[64], err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&cf, 0, sizeof(cf));
		snprintf(json, sizeof(json), "{\"state\":\"%s\"}", cases[i].state);
		if (ig_changefeed_decode(json, strlen(json), &cf, err, sizeof(err)) < 0)
			fail_msg("%s", err);
		for (int v = 0; v < NV; v++)
			for (int c = 0; c < 3; c++) {
				const ig_precheck_model *m = ig_precheck_model_for(&versions[v], NULL);
				char got;
				cf.cluster = (char *)clusters[c];
				got = code[ig_precheck_model_counts(m, &cf)];
				if (got != cases[i].want[v][c])
					fail_msg("%s on %s, cluster %s: %c, want %c", cases[i].state, vnames[v],
					         clusters[c] ? clusters[c] : "(legacy)", got, cases[i].want[v][c]);
			}
		cf.cluster = NULL;
		free(cf.state_text);
		for (size_t r = 0; r < cf.nrules; r++)
			free(cf.rules[r]);
		free(cf.rules);
	}
	/* an info TiDB cannot decode: skipped before v8.2, fails the statement from v8.2 */
	memset(&cf, 0, sizeof(cf));
	assert_int_equal(ig_precheck_model_counts(ig_precheck_model_for(&versions[V75], NULL), &cf),
	                 IG_PC_NOT_COUNTED);
	assert_int_equal(ig_precheck_model_counts(ig_precheck_model_for(&versions[V81], NULL), &cf),
	                 IG_PC_NOT_COUNTED);
	assert_int_equal(ig_precheck_model_counts(ig_precheck_model_for(&versions[V85], NULL), &cf),
	                 IG_PC_COUNTED);
}

/* DISABLE_PRECHECK from v8.0.0; an unknown version has none and counts nothing for certain */
static void disable_precheck_availability(void **state)
{
	const ig_tidb_version v74 = {7, 6, 0}, v80 = {8, 0, 0}, unknown = {-1, -1, -1};
	bool newer = true;
	const ig_precheck_model *m;

	(void)state;
	assert_false(ig_precheck_model_for(&v74, NULL)->disable_precheck);
	assert_true(ig_precheck_model_for(&v80, NULL)->disable_precheck);
	m = ig_precheck_model_for(&unknown, &newer);
	assert_false(newer);
	assert_false(m->disable_precheck);
	assert_int_equal(m->counted, 0);
	assert_string_equal(m->name, "unknown TiDB version");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(guide_scenarios_per_version),
		cmocka_unit_test(newer_version_uses_newest_model),
		cmocka_unit_test(states_per_version),
		cmocka_unit_test(disable_precheck_availability),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
