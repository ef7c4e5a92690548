/*
 * test_import_grammar.c - IMPORT INTO's options and forms per TiDB version
 * (policy/import_grammar.c, docs/TIDB_VERSIONS.md) and what the decision does with an
 * import the backend's version does not know or the gateway could not parse: refused with
 * 8173 naming it and the version while any log backup task or changefeed exists (or the
 * state cannot be read), forwarded when nothing exists (TiDB answers it itself).
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
#include "policy/import_grammar.h"
#include "state_helpers.h"

enum { V73, V75, V81, V85, V90, VUNK, NV };
static const ig_tidb_version versions[NV] = {{7, 3, 0}, {7, 5, 1}, {8, 1, 0}, {8, 5, 0}, {9, 0, 0}, {-1, -1, -1}};
static const char *const vnames[NV] = {"v7.3.0", "v7.5.1", "v8.1.0", "v8.5.0", "v9.0.0", "unknown"};

/* K known, - unknown; per version v7.3 v7.5 v8.1 v8.5 v9.0 unknown */
static const struct {
	const char *option;
	const char *want;
} matrix[] = {
	{"character_set", "KKKKKK"},
	{"FIELDS_TERMINATED_BY", "KKKKKK"},
	{"fields_enclosed_by", "KKKKKK"},
	{"fields_escaped_by", "KKKKKK"},
	{"fields_defined_null_by", "KKKKKK"},
	{"lines_terminated_by", "KKKKKK"},
	{"skip_rows", "KKKKKK"},
	{"split_file", "KKKKKK"},
	{"disk_quota", "KKKKKK"},
	{"Thread", "KKKKKK"},
	{"max_write_speed", "KKKKKK"},
	{"checksum_table", "KKKKKK"},
	{"record_errors", "KKKKKK"},
	{"detached", "KKKKKK"},
	{"disable_tikv_import_mode", "KKKKKK"},
	{"__max_engine_size", "KKKKKK"},
	{"cloud_storage_uri", "-KKKKK"},
	{"DISABLE_PRECHECK", "--KKKK"},
	{"group_key", "----KK"},
	{"__force_merge_step", "----KK"},
	{"__manual_recovery", "----KK"},
	{"ON_DUPLICATE_KEY", "----KK"},
	/* names no TiDB version has */
	{"import_mode", "------"},
	{"add_index", "------"},
	{"nosuch", "------"},
	{"", "------"},
};

static void options_per_version(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++)
		for (int v = 0; v < NV; v++) {
			const ig_import_grammar *g = ig_import_grammar_for(&versions[v]);
			char got = ig_import_grammar_knows(g, matrix[i].option) ? 'K' : '-';
			if (got != matrix[i].want[v])
				fail_msg("%s on %s (%s): %c, want %c", matrix[i].option, vnames[v], g->name, got,
				         matrix[i].want[v]);
		}
}

static void forms_per_version(void **state)
{
	static const char from_select[NV + 1] = "--KKKK", format_auto[NV + 1] = "----KK";

	(void)state;
	for (int v = 0; v < NV; v++) {
		const ig_import_grammar *g = ig_import_grammar_for(&versions[v]);
		assert_int_equal(g->from_select, from_select[v] == 'K');
		assert_int_equal(g->format_auto, format_auto[v] == 'K');
	}
	/* the row boundaries: v7.4.0, v8.0.0, v9.0.0; newer versions get the newest row */
	const ig_tidb_version v74 = {7, 4, 0}, v76 = {7, 6, 0}, v80 = {8, 0, 0}, v86 = {8, 6, 0},
	                      v2603 = {26, 3, 0};
	assert_string_equal(ig_import_grammar_for(&v74)->name, "v7.4 to v7.6");
	assert_string_equal(ig_import_grammar_for(&v76)->name, "v7.4 to v7.6");
	assert_string_equal(ig_import_grammar_for(&v80)->name, "v8.0 to v8.5");
	assert_string_equal(ig_import_grammar_for(&v86)->name, "v8.0 to v8.5");
	assert_string_equal(ig_import_grammar_for(&v2603)->name, "v9.0 and later (master)");
	assert_ptr_equal(ig_import_grammar_for(NULL), ig_import_grammar_for(&versions[VUNK]));
}

/* The caller's own option structures, read in place (name first, as sql_import_opt). */
typedef struct fake_opt {
	char name[32];
	void *value;
	int kind;
} fake_opt;

static void first_unknown_in_order(void **state)
{
	fake_opt opts[] = {{"THREAD", NULL, 0}, {"GROUP_KEY", NULL, 0}, {"DISABLE_PRECHECK", NULL, 0}};
	ig_import_usage u = {.options = opts[0].name, .option_stride = sizeof(fake_opt), .noptions = 3};
	char what[64];

	(void)state;
	assert_true(ig_import_grammar_unknown(ig_import_grammar_for(&versions[V75]), &u, what, sizeof(what)));
	assert_string_equal(what, "option group_key"); /* statement order, lower case */
	assert_true(ig_import_grammar_unknown(ig_import_grammar_for(&versions[V85]), &u, what, sizeof(what)));
	assert_string_equal(what, "option group_key");
	assert_false(ig_import_grammar_unknown(ig_import_grammar_for(&versions[V90]), &u, what, sizeof(what)));
	/* the form before any option, as TiDB's parser refuses it first */
	u.from_select = true;
	assert_true(ig_import_grammar_unknown(ig_import_grammar_for(&versions[V75]), &u, what, sizeof(what)));
	assert_string_equal(what, "IMPORT INTO ... FROM SELECT");
	/* a short buffer is cut, still terminated */
	u.from_select = false;
	assert_true(ig_import_grammar_unknown(ig_import_grammar_for(&versions[V81]), &u, what, 12));
	assert_string_equal(what, "option grou");
	assert_false(ig_import_grammar_unknown(ig_import_grammar_for(&versions[V81]), NULL, what, sizeof(what)));
	u.noptions = 0;
	assert_false(ig_import_grammar_unknown(ig_import_grammar_for(&versions[V73]), &u, what, sizeof(what)));
}

/* ---- the decision ---- */

static const char rules_yaml[] =
	"obligations: {downstream: {servers: [\"dr:4000\"]}}\n"
	"policy:\n"
	"  rules:\n"
	"    - {name: nobackup, tables: [\"scratch.*\"], log_backup: not-needed, changefeed: not-needed}\n"
	"    - {name: blocked, tables: [\"secret.*\"], action: deny}\n"
	"    - {name: trusted, tables: [\"trusted.*\"], action: pass}\n";

static void s_nothing(ig_cluster_state *st) { (void)st; }
static void s_cf_elsewhere(ig_cluster_state *st) { th_cf(st, "cf-other", "normal", "[\"other.*\"]", -1); }
static void s_task_elsewhere(ig_cluster_state *st)
{
	const char *const f[] = {"other.*"};
	th_task(st, "pitr_other", f, 1);
}

typedef struct dcase {
	const char *name;
	int v;
	void (*setup)(ig_cluster_state *); /* NULL: the state cannot be read */
	const char *db, *table;
	const char *option;   /* one option, or NULL */
	bool from_select;
	const char *unparsed;
	ig_verdict want;
	const char *needle;   /* in the reason (and message on REJECT) */
} dcase;

static const dcase dcases[] = {
	{"group_key on v8.5, nothing anywhere", V85, s_nothing, "shop", "t", "GROUP_KEY", false, NULL,
	 IG_VERDICT_PASS, "TiDB v8.5.0 does not know the IMPORT INTO option group_key"},
	{"group_key on v8.5, a changefeed elsewhere", V85, s_cf_elsewhere, "scratch", "t", "GROUP_KEY", false,
	 NULL, IG_VERDICT_REJECT, "TiDB v8.5.0 does not know the IMPORT INTO option group_key (the gateway "
	                          "models the grammar of TiDB v8.0 to v8.5), and changefeed"},
	{"group_key on v9.0, a changefeed elsewhere", V90, s_cf_elsewhere, "scratch", "t", "GROUP_KEY", false,
	 NULL, IG_VERDICT_ADD_DISABLE_PRECHECK, "DISABLE_PRECHECK added"},
	{"group_key on v8.1, the state unreadable", V81, NULL, "scratch", "t", "GROUP_KEY", false, NULL,
	 IG_VERDICT_REJECT, "cannot be read (PD down)"},
	{"disable_precheck on v7.5, a task elsewhere", V75, s_task_elsewhere, "scratch", "t",
	 "DISABLE_PRECHECK", false, NULL, IG_VERDICT_REJECT,
	 "TiDB v7.5.1 does not know the IMPORT INTO option disable_precheck"},
	{"disable_precheck on v7.5, nothing", V75, s_nothing, "scratch", "t", "DISABLE_PRECHECK", false, NULL,
	 IG_VERDICT_PASS, "forwarded and TiDB answers it"},
	{"cloud_storage_uri on v7.3, a changefeed", V73, s_cf_elsewhere, "scratch", "t", "cloud_storage_uri",
	 false, NULL, IG_VERDICT_REJECT, "option cloud_storage_uri"},
	{"cloud_storage_uri on v7.5, a changefeed elsewhere", V75, s_cf_elsewhere, "scratch", "t",
	 "cloud_storage_uri", false, NULL, IG_VERDICT_PASS, "TiDB's own precheck decides"},
	{"FROM SELECT on v7.5, a changefeed elsewhere", V75, s_cf_elsewhere, "scratch", "t", NULL, true, NULL,
	 IG_VERDICT_REJECT, "does not know the IMPORT INTO IMPORT INTO ... FROM SELECT"},
	{"FROM SELECT on v8.1, a changefeed elsewhere", V81, s_cf_elsewhere, "scratch", "t", "THREAD", true,
	 NULL, IG_VERDICT_ADD_DISABLE_PRECHECK, "DISABLE_PRECHECK added"},
	/* an unknown version gets the newest grammar: nothing is unknown to it */
	{"group_key, unknown version, a changefeed elsewhere", VUNK, s_cf_elsewhere, "scratch", "t",
	 "GROUP_KEY", false, NULL, IG_VERDICT_PASS, "TiDB's own precheck decides"},
	/* the rules first: deny is stricter, pass is the DBA's word */
	{"group_key on v8.5, deny rule", V85, s_cf_elsewhere, "secret", "t", "GROUP_KEY", false, NULL,
	 IG_VERDICT_REJECT, "action: deny"},
	{"group_key on v8.5, pass rule", V85, s_cf_elsewhere, "trusted", "t", "GROUP_KEY", false, NULL,
	 IG_VERDICT_PASS, "action: pass"},
	/* what the gateway cannot parse: no table, no rule */
	{"unparsed, nothing anywhere", V85, s_nothing, NULL, NULL, NULL, false, "PARTITION at offset 16",
	 IG_VERDICT_PASS, "the gateway cannot parse this IMPORT INTO (PARTITION at offset 16); no log"},
	{"unparsed, a task elsewhere", V90, s_task_elsewhere, NULL, NULL, NULL, false, "PARTITION at offset 16",
	 IG_VERDICT_REJECT, "the gateway cannot parse this IMPORT INTO (PARTITION at offset 16), and log "
	                    "backup task \"pitr_other\" exists"},
	{"unparsed, the state unreadable", V75, NULL, "shop", "t", NULL, false, "bad SET clause",
	 IG_VERDICT_REJECT, "cannot be read"},
};

static void decide_one(const ig_config *cfg, const dcase *c)
{
	ig_cluster_state *st = c->setup ? ig_cluster_state_new() : NULL;
	fake_opt opt = {.name = ""};
	ig_import_usage u = {.option_stride = sizeof(fake_opt), .from_select = c->from_select,
	                     .unparsed = c->unparsed};
	ig_decide_input in = {.user = "app", .host = "10.0.0.9", .db = c->db, .table = c->table,
	                      .version = versions[c->v], .state = st, .state_error = "PD down", .cfg = cfg,
	                      .usage = &u};
	ig_decision d;
	char err[128];

	if (c->option) {
		snprintf(opt.name, sizeof(opt.name), "%s", c->option);
		u.options = opt.name;
		u.noptions = 1;
		in.disable_precheck = strcmp(c->option, "DISABLE_PRECHECK") == 0;
	}
	if (st) {
		c->setup(st);
		ig_cluster_state_finish(st);
	}
	if (ig_decide(&in, &d, err, sizeof(err)) < 0)
		fail_msg("%s: %s", c->name, err);
	if (d.verdict != c->want)
		fail_msg("%s: got %s, want %s (%s)", c->name, ig_verdict_name(d.verdict), ig_verdict_name(c->want),
		         d.reason ? d.reason : "");
	if (!d.reason || !strstr(d.reason, c->needle))
		fail_msg("%s: reason \"%s\" lacks \"%s\"", c->name, d.reason ? d.reason : "", c->needle);
	if (d.verdict == IG_VERDICT_REJECT) {
		assert_int_equal(d.err_code, 8173);
		assert_string_equal(d.sqlstate, "HY000");
		assert_non_null(strstr(d.message, "PreCheck failed: importgate: "));
		assert_non_null(strstr(d.message, c->needle));
	}
	assert_non_null(d.import_grammar);
	assert_int_equal(d.state_unavailable, st == NULL);
	ig_decision_free(&d);
	ig_cluster_state_free(st);
}

static void decisions(void **state)
{
	ig_config *cfg;
	char err[512];

	(void)state;
	if (ig_config_load_string("d.yaml", rules_yaml, strlen(rules_yaml), &cfg, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++)
		decide_one(cfg, &dcases[i]);
	ig_config_free(cfg);
}

/* The remedy is named: remove the option; write the statement in the backend's grammar. */
static void messages_say_what_to_do(void **state)
{
	ig_config *cfg;
	ig_cluster_state *st = ig_cluster_state_new();
	fake_opt opt = {.name = "GROUP_KEY"};
	ig_import_usage u = {.options = opt.name, .option_stride = sizeof(opt), .noptions = 1};
	ig_decide_input in = {.user = "app", .host = "h", .db = "shop", .table = "t", .version = versions[V85],
	                      .state = st, .usage = &u};
	ig_decision d;
	char err[512];

	(void)state;
	if (ig_config_load_string("d.yaml", rules_yaml, strlen(rules_yaml), &cfg, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	in.cfg = cfg;
	s_cf_elsewhere(st);
	ig_cluster_state_finish(st);
	assert_int_equal(ig_decide(&in, &d, err, sizeof(err)), 0);
	assert_int_equal(d.verdict, IG_VERDICT_REJECT);
	assert_non_null(strstr(d.message, "remove the option group_key, which this TiDB version does not have"));
	assert_true(strlen(d.message) < 512); /* MySQL clients cut messages at 512 bytes */
	ig_decision_free(&d);
	u.unparsed = "expected FROM at offset 20";
	in.table = NULL;
	assert_int_equal(ig_decide(&in, &d, err, sizeof(err)), 0);
	assert_int_equal(d.verdict, IG_VERDICT_REJECT);
	assert_non_null(strstr(d.message, "write the statement in the IMPORT INTO grammar of the TiDB"));
	ig_decision_free(&d);
	/* a missing table without an unparsed reason is still a caller error */
	u.unparsed = NULL;
	assert_int_equal(ig_decide(&in, &d, err, sizeof(err)), -1);
	ig_cluster_state_free(st);
	ig_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(options_per_version),
		cmocka_unit_test(forms_per_version),
		cmocka_unit_test(first_unknown_in_order),
		cmocka_unit_test(decisions),
		cmocka_unit_test(messages_say_what_to_do),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
