/*
 * test_changefeed.c - TiCDC changefeed info: which etcd keys are changefeed info (both
 * layouts; __backup__, status, capture and other keys skipped, as TiDB's cdcutil does), and
 * the JSON value: states, filter rules, case-sensitive, TiCDC's defaults, malformed values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/clusterstate.h"

static int key(const char *k, char **cl, char **ns, char **id)
{
	return ig_changefeed_key(k, strlen(k), cl, ns, id);
}

static void keys(void **state)
{
	char *cl, *ns, *id;
	static const char *const skipped[] = {
		"/tidb/cdc/__backup__/changefeed/info/cf1", /* migration backup (tiflow#9807) */
		"/tidb/cdc/default/default/changefeed/status/cf1",
		"/tidb/cdc/default/default/task/position/capture-1/cf1",
		"/tidb/cdc/default/__cdc_meta__/capture/1234",
		"/tidb/cdc/default/__cdc_meta__/owner/22",
		"/tidb/cdc/changefeed/status/cf1",
		"/tidb/cdc/my_cluster/default/changefeed/info/cf1", /* bad cluster id */
		"/tidb/cdc/-a/default/changefeed/info/cf1",
		"/tidb/cdc/a--b/default/changefeed/info/cf1",
		"/tidb/cdc/a-/default/changefeed/info/cf1",
		"/tidb/br-stream/info/x",
		"/tidb/cd",
	};

	(void)state;
	assert_int_equal(key("/tidb/cdc/default/default/changefeed/info/cf-1", &cl, &ns, &id), 1);
	assert_string_equal(cl, "default");
	assert_string_equal(ns, "default");
	assert_string_equal(id, "cf-1");
	free(cl), free(ns), free(id);
	assert_int_equal(key("/tidb/cdc/east-1/ns2/changefeed/info/to_kafka", &cl, &ns, &id), 1);
	assert_string_equal(cl, "east-1");
	assert_string_equal(ns, "ns2");
	assert_string_equal(id, "to_kafka");
	free(cl), free(ns), free(id);
	assert_int_equal(key("/tidb/cdc/changefeed/info/old-cf", &cl, &ns, &id), 1);
	assert_null(cl);
	assert_null(ns);
	assert_string_equal(id, "old-cf");
	free(id);
	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
		if (key(skipped[i], &cl, &ns, &id) != 0)
			fail_msg("%s taken as changefeed info", skipped[i]);
		assert_null(cl);
		assert_null(ns);
		assert_null(id);
	}
}

static void cf_clear(ig_changefeed *cf)
{
	free(cf->state_text);
	for (size_t i = 0; i < cf->nrules; i++)
		free(cf->rules[i]);
	free(cf->rules);
	free(cf->sink_uri);
	memset(cf, 0, sizeof(*cf));
}

static void decode_ok(const char *json, ig_changefeed *cf)
{
	char err[256] = "";

	memset(cf, 0, sizeof(*cf));
	if (ig_changefeed_decode(json, strlen(json), cf, err, sizeof(err)) < 0)
		fail_msg("%s: %s", json, err);
}

/* What TiCDC v8.5 writes (abridged). */
static const char real_info[] =
	"{\"upstream-id\":7345,\"namespace\":\"default\",\"changefeed-id\":\"cf-1\","
	"\"sink-uri\":\"mysql://root@127.0.0.1:3306/\",\"create-time\":\"2024-05-01T10:00:00Z\","
	"\"start-ts\":449000000000000000,\"target-ts\":0,\"admin-job-type\":0,\"sort-engine\":\"unified\","
	"\"sort-dir\":\"\",\"config\":{\"memory-quota\":1073741824,\"case-sensitive\":false,"
	"\"force-replicate\":false,\"ignore-ineligible-table\":false,\"check-gc-safe-point\":true,"
	"\"enable-sync-point\":false,\"filter\":{\"rules\":[\"app.*\",\"!app.tmp_*\"],"
	"\"ignore-txn-start-ts\":null,\"event-filters\":null},\"mounter\":{\"worker-num\":16},"
	"\"sink\":{\"protocol\":\"\"}},\"state\":\"normal\",\"error\":null,\"warning\":null,"
	"\"creator-version\":\"v8.5.0\",\"epoch\":449}";

static void decode_real(void **state)
{
	ig_changefeed cf;

	(void)state;
	decode_ok(real_info, &cf);
	assert_int_equal(cf.state, IG_CFSTATE_NORMAL);
	assert_string_equal(cf.state_text, "normal");
	assert_int_equal(cf.case_sensitive, 0);
	assert_int_equal(cf.nrules, 2);
	assert_string_equal(cf.rules[0], "app.*");
	assert_string_equal(cf.rules[1], "!app.tmp_*");
	/* for operators only: the sink as stored, the start ts */
	assert_string_equal(cf.sink_uri, "mysql://root@127.0.0.1:3306/");
	assert_true(cf.start_ts == 449000000000000000ull);
	cf_clear(&cf);
}

/* sink-uri and start-ts are read leniently: absent or of another type is unknown, never a
 * decoding failure (which would make the changefeed cover every table). */
static void display_fields_lenient(void **state)
{
	static const char *const odd[] = {
		"{\"state\":\"normal\",\"sink-uri\":7,\"start-ts\":\"x\"}",
		"{\"state\":\"normal\",\"sink-uri\":null,\"start-ts\":-5}",
		"{\"state\":\"normal\"}",
	};
	ig_changefeed cf;

	(void)state;
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		decode_ok(odd[i], &cf);
		assert_false(cf.undecodable);
		assert_null(cf.sink_uri);
		assert_true(cf.start_ts == 0);
		cf_clear(&cf);
	}
	decode_ok("{\"state\":\"normal\",\"sink-uri\":\"kafka://u:pw@k:9092/t?sasl-password=s\"}", &cf);
	assert_string_equal(cf.sink_uri, "kafka://u:pw@k:9092/t?sasl-password=s"); /* redacted when shown */
	cf_clear(&cf);
}

/* The decoded state only: which states a TiDB version's precheck counts is per version
 * (policy/precheck_model.c, tests/unit/policy/test_decide_versions.c). */
static void states(void **state)
{
	static const struct {
		const char *name;
		ig_cfstate st;
	} cases[] = {
		{"normal", IG_CFSTATE_NORMAL},     {"warning", IG_CFSTATE_WARNING},
		{"stopped", IG_CFSTATE_STOPPED},   {"running", IG_CFSTATE_RUNNING},
		{"pending", IG_CFSTATE_PENDING},   {"error", IG_CFSTATE_ERROR},
		{"failed", IG_CFSTATE_FAILED},     {"finished", IG_CFSTATE_FINISHED},
		{"removed", IG_CFSTATE_REMOVED},   {"exploded", IG_CFSTATE_UNKNOWN},
		{"Normal", IG_CFSTATE_UNKNOWN},    {"", IG_CFSTATE_UNKNOWN},
	};
	char json[128];
	ig_changefeed cf;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json), "{\"state\":\"%s\"}", cases[i].name);
		decode_ok(json, &cf);
		if (cf.state != cases[i].st)
			fail_msg("state %s: got %d", cases[i].name, cf.state);
		assert_string_equal(cf.state_text, cases[i].name);
		if (cases[i].st != IG_CFSTATE_UNKNOWN)
			assert_string_equal(ig_cfstate_name(cf.state), cases[i].name);
		cf_clear(&cf);
	}
	decode_ok("{}", &cf); /* no state: unknown (TiDB ignores it; importgate: covering) */
	assert_int_equal(cf.state, IG_CFSTATE_UNKNOWN);
	assert_string_equal(cf.state_text, "");
	cf_clear(&cf);
	decode_ok("{\"state\":null}", &cf);
	assert_int_equal(cf.state, IG_CFSTATE_UNKNOWN);
	cf_clear(&cf);
	assert_string_equal(ig_cfstate_name(IG_CFSTATE_UNKNOWN), "unknown");
}

static void defaults(void **state)
{
	static const char *const star[] = {
		"{\"state\":\"normal\"}",
		"{\"state\":\"normal\",\"config\":null}",
		"{\"state\":\"normal\",\"config\":{}}",
		"{\"state\":\"normal\",\"config\":{\"filter\":null}}",
		"{\"state\":\"normal\",\"config\":{\"filter\":{}}}",
		"{\"state\":\"normal\",\"config\":{\"filter\":{\"rules\":null}}}",
		"{\"state\":\"normal\",\"config\":{\"filter\":{\"rules\":[]}}}",
	};
	ig_changefeed cf;

	(void)state;
	for (size_t i = 0; i < sizeof(star) / sizeof(star[0]); i++) {
		decode_ok(star[i], &cf);
		assert_int_equal(cf.nrules, 1);
		assert_string_equal(cf.rules[0], "*.*"); /* tiflow VerifyTableRules */
		assert_int_equal(cf.case_sensitive, -1); /* absent: the default changed across versions */
		cf_clear(&cf);
	}
	decode_ok("{\"config\":{\"case-sensitive\":true}}", &cf);
	assert_int_equal(cf.case_sensitive, 1);
	cf_clear(&cf);
	decode_ok("{\"config\":{\"case-sensitive\":null}}", &cf);
	assert_int_equal(cf.case_sensitive, -1);
	cf_clear(&cf);
	/* duplicate keys: the last wins, as Go's encoding/json */
	decode_ok("{\"state\":\"removed\",\"state\":\"normal\"}", &cf);
	assert_int_equal(cf.state, IG_CFSTATE_NORMAL);
	cf_clear(&cf);
}

static void malformed(void **state)
{
	static const struct {
		const char *json, *needle;
	} cases[] = {
		{"{\"state\":", "bad JSON"},
		{"", "bad JSON"},
		{"[1,2]", "not a JSON object"},
		{"{\"state\":3}", "state is not a string"},
		{"{\"config\":[]}", "config is not an object"},
		{"{\"config\":{\"case-sensitive\":\"yes\"}}", "case-sensitive is not a boolean"},
		{"{\"config\":{\"filter\":[]}}", "config.filter is not an object"},
		{"{\"config\":{\"filter\":{\"rules\":\"*.*\"}}}", "rules is not an array"},
		{"{\"config\":{\"filter\":{\"rules\":[\"a.b\",1]}}}", "holds a non-string"},
		{"{\"config\":{\"filter\":{\"mysql-replication-rules\":{\"do-dbs\":[\"a\"]}}}}",
		 "mysql-replication-rules, which importgate does not read"},
		{"{\"config\":{\"filter\":{\"rules\":[\"a\\u0000b.c\"]}}}", "bad JSON"},
	};
	ig_changefeed cf;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&cf, 0, sizeof(cf));
		err[0] = '\0';
		if (ig_changefeed_decode(cases[i].json, strlen(cases[i].json), &cf, err, sizeof(err)) == 0)
			fail_msg("%s decoded", cases[i].json);
		if (!strstr(err, cases[i].needle))
			fail_msg("%s: error \"%s\" lacks \"%s\"", cases[i].json, err, cases[i].needle);
		cf_clear(&cf);
	}
	/* rules with mysql-replication-rules beside them: rules apply */
	memset(&cf, 0, sizeof(cf));
	{
		static const char both[] = "{\"config\":{\"filter\":{\"rules\":[\"a.*\"],"
		                           "\"mysql-replication-rules\":{}}}}";
		assert_int_equal(ig_changefeed_decode(both, sizeof(both) - 1, &cf, err, sizeof(err)), 0);
	}
	assert_string_equal(cf.rules[0], "a.*");
	cf_clear(&cf);
	assert_int_equal(ig_changefeed_decode(NULL, 0, &cf, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keys),
		cmocka_unit_test(decode_real),
		cmocka_unit_test(display_fields_lenient),
		cmocka_unit_test(states),
		cmocka_unit_test(defaults),
		cmocka_unit_test(malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
