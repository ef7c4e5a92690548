/*
 * test_rewrite.c - adding/removing DISABLE_PRECHECK: exact expected texts, byte-exact
 * round trips, re-parse agreement, no-op copies, mismatched inputs.
 */
#include "helpers.h"

static char *add_dp(const char *s)
{
	sql_import imp;
	char *out = NULL, err[128];
	size_t outlen = 0;
	parse_ok(s, &imp);
	assert_int_equal(sql_import_add_disable_precheck(s, strlen(s), &imp, &out, &outlen, err, sizeof(err)), 0);
	assert_int_equal(outlen, strlen(out));
	sql_import_free(&imp);
	return out;
}

static char *rm_dp(const char *s)
{
	sql_import imp;
	char *out = NULL, err[128];
	size_t outlen = 0;
	parse_ok(s, &imp);
	assert_int_equal(sql_import_remove_disable_precheck(s, strlen(s), &imp, &out, &outlen, err, sizeof(err)), 0);
	assert_int_equal(outlen, strlen(out));
	sql_import_free(&imp);
	return out;
}

static void expect_add(const char *in, const char *want)
{
	char *o = add_dp(in);
	assert_string_equal(o, want);
	free(o);
}

static void expect_rm(const char *in, const char *want)
{
	char *o = rm_dp(in);
	assert_string_equal(o, want);
	free(o);
}

static void test_add(void **st)
{
	(void)st;
	expect_add("IMPORT INTO t FROM 'x'", "IMPORT INTO t FROM 'x' WITH DISABLE_PRECHECK");
	expect_add("IMPORT INTO t FROM 'x';", "IMPORT INTO t FROM 'x' WITH DISABLE_PRECHECK;");
	expect_add("IMPORT INTO t FROM 'x' -- c\n", "IMPORT INTO t FROM 'x' WITH DISABLE_PRECHECK -- c\n");
	expect_add("IMPORT INTO t FROM 'x' /* c */ ; ", "IMPORT INTO t FROM 'x' WITH DISABLE_PRECHECK /* c */ ; ");
	expect_add("IMPORT INTO t FROM 'x' FORMAT 'csv'", "IMPORT INTO t FROM 'x' FORMAT 'csv' WITH DISABLE_PRECHECK");
	expect_add("IMPORT INTO t FROM 'x' WITH thread=1", "IMPORT INTO t FROM 'x' WITH thread=1, DISABLE_PRECHECK");
	expect_add("IMPORT INTO t FROM 'x' WITH detached  # c", "IMPORT INTO t FROM 'x' WITH detached, DISABLE_PRECHECK  # c");
	expect_add("IMPORT INTO t FROM 'x' WITH disable_precheck", "IMPORT INTO t FROM 'x' WITH disable_precheck");
	expect_add("IMPORT INTO t FROM 'x' /*!WITH detached*/", "IMPORT INTO t FROM 'x' /*!WITH detached, DISABLE_PRECHECK*/");
	expect_add("IMPORT INTO t FROM SELECT a FROM s GROUP BY a WITH ROLLUP",
	           "IMPORT INTO t FROM SELECT a FROM s GROUP BY a WITH ROLLUP WITH DISABLE_PRECHECK");
	expect_add("IMPORT INTO t FROM (SELECT 1)", "IMPORT INTO t FROM (SELECT 1) WITH DISABLE_PRECHECK");
}

static void test_remove(void **st)
{
	(void)st;
	expect_rm("IMPORT INTO t FROM 'x' WITH DISABLE_PRECHECK", "IMPORT INTO t FROM 'x'");
	expect_rm("IMPORT INTO t FROM 'x'\n  WITH disable_precheck; -- c", "IMPORT INTO t FROM 'x'; -- c");
	expect_rm("IMPORT INTO t FROM 'x' WITH DISABLE_PRECHECK, thread=1", "IMPORT INTO t FROM 'x' WITH thread=1");
	expect_rm("IMPORT INTO t FROM 'x' WITH thread=1, DISABLE_PRECHECK", "IMPORT INTO t FROM 'x' WITH thread=1");
	expect_rm("IMPORT INTO t FROM 'x' WITH thread=1 , DISABLE_PRECHECK ,detached",
	          "IMPORT INTO t FROM 'x' WITH thread=1 , detached");
	expect_rm("IMPORT INTO t FROM 'x' WITH DISABLE_PRECHECK, detached, DISABLE_PRECHECK",
	          "IMPORT INTO t FROM 'x' WITH detached");
	expect_rm("IMPORT INTO t FROM 'x' WITH thread=1, DISABLE_PRECHECK, disable_precheck",
	          "IMPORT INTO t FROM 'x' WITH thread=1");
	expect_rm("IMPORT INTO t FROM 'x' WITH DISABLE_PRECHECK=1", "IMPORT INTO t FROM 'x'");
	expect_rm("IMPORT INTO t FROM 'x' WITH thread=2", "IMPORT INTO t FROM 'x' WITH thread=2");
	expect_rm("IMPORT INTO t FROM SELECT a FROM s GROUP BY a WITH ROLLUP WITH DISABLE_PRECHECK",
	          "IMPORT INTO t FROM SELECT a FROM s GROUP BY a WITH ROLLUP");
}

/* remove(add(s)) == s, and the rewritten text re-parses to the same statement plus the
 * option, every other field unchanged. */
static void test_round_trips(void **st)
{
	static const char *const in[] = {
		"IMPORT INTO t FROM 'x'",
		"import into db.`t` (a,@b) set c=@b from 's3://b/x?k=1' format 'csv' -- tail",
		"IMPORT INTO t FROM 'x' WITH thread=1, detached",
		"IMPORT INTO t FROM 'x'\tWITH\tskip_rows=1\t;\t",
		"IMPORT INTO t FROM SELECT * FROM s WITH THREAD=2",
		"IMPORT INTO t FROM SELECT a FROM s GROUP BY a WITH ROLLUP",
		"/* c */IMPORT INTO t FROM 'x'/* d */",
		"IMPORT INTO t FROM 'x' /*!WITH detached*/",
		"IMPORT INTO t FROM WITH c AS (SELECT 1) SELECT * FROM c",
	};
	size_t i, k;
	(void)st;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		sql_import a, b;
		char *added = add_dp(in[i]), *back = rm_dp(added);
		assert_string_equal(back, in[i]);
		parse_ok(in[i], &a);
		parse_ok(added, &b);
		assert_null(sql_import_find_opt(&a, "DISABLE_PRECHECK"));
		assert_non_null(sql_import_find_opt(&b, "DISABLE_PRECHECK"));
		assert_int_equal(b.nopts, a.nopts + 1);
		assert_string_equal(b.table, a.table);
		assert_int_equal(a.src, b.src);
		if (a.location)
			assert_string_equal(a.location, b.location);
		assert_int_equal(a.select_span.len, b.select_span.len);
		for (k = 0; k < a.nopts; k++)
			assert_string_equal(a.opts[k].name, b.opts[k].name);
		/* every byte before the insertion point is the client's */
		assert_memory_equal(added, in[i], a.has_with ? a.with_span.off + a.with_span.len : a.end);
		sql_import_free(&a);
		sql_import_free(&b);
		free(added);
		free(back);
	}
}

/* Found by fuzzing: a query ending in "--" must not turn the inserted blank into a
 * comment start; a removal that would do the same is refused. */
static void test_dash_dash_edges(void **st)
{
	sql_import imp;
	char *out = NULL, err[128] = "";
	const char *s = "IMPORT INTO t FROM SELECT 1--WITH DISABLE_PRECHECK";
	(void)st;
	/* "1----": the last token is the second "-" (the final "--" is a comment at the end) */
	expect_add("IMPORT INTO t FROM SELECT 1----", "IMPORT INTO t FROM SELECT 1--WITH DISABLE_PRECHECK--");
	expect_add("IMPORT INTO t FROM SELECT 1--", "IMPORT INTO t FROM SELECT 1 WITH DISABLE_PRECHECK--");
	parse_ok(s, &imp);
	assert_non_null(sql_import_find_opt(&imp, "DISABLE_PRECHECK"));
	assert_int_equal(sql_import_remove_disable_precheck(s, strlen(s), &imp, &out, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot remove"));
	sql_import_free(&imp);
	/* joins that would open or close a comment are refused too */
	s = "/*! IMPORT INTO t FROM SELECT 1/ WITH DISABLE_PRECHECK*/";
	parse_ok(s, &imp);
	assert_int_equal(sql_import_remove_disable_precheck(s, strlen(s), &imp, &out, NULL, err, sizeof(err)), -1);
	sql_import_free(&imp);
}

/* Found by fuzzing: 0x85/0xA0 after the last token is a blank to TiDB but would glue to
 * an inserted word; the insertion then ends with a space, which removal takes back. */
static void test_nbsp_after_last_token(void **st)
{
	const char *s = "IMPORT INTO t FROM 'x'\xa0;";
	char *added, *back;
	(void)st;
	added = add_dp(s);
	assert_string_equal(added, "IMPORT INTO t FROM 'x'\xa0 WITH DISABLE_PRECHECK;");
	back = rm_dp(added);
	assert_string_equal(back, s);
	free(added);
	free(back);
	expect_add("IMPORT INTO t FROM 'x' WITH character_set='utf8'\x85",
	           "IMPORT INTO t FROM 'x' WITH character_set='utf8'\x85, DISABLE_PRECHECK");
	expect_rm("IMPORT INTO t FROM 'x' WITH character_set='utf8'\x85, DISABLE_PRECHECK",
	          "IMPORT INTO t FROM 'x' WITH character_set='utf8'\x85");
	/* a blank the client sent before 0xA0 is kept */
	added = add_dp("IMPORT INTO t FROM 'x' \xa0#c");
	back = rm_dp(added);
	assert_string_equal(back, "IMPORT INTO t FROM 'x' \xa0#c");
	free(added);
	free(back);
	expect_rm("IMPORT INTO t FROM 'x' WITH thread=1 /* keep, this */ , DISABLE_PRECHECK",
	          "IMPORT INTO t FROM 'x' WITH thread=1 /* keep, this */");
}

static void test_mismatch(void **st)
{
	sql_import imp;
	char *out = NULL, err[128] = "";
	const char *s = "IMPORT INTO t FROM 'x' WITH DISABLE_PRECHECK";
	(void)st;
	parse_ok(s, &imp);
	assert_int_equal(sql_import_add_disable_precheck(s, 10, &imp, &out, NULL, err, sizeof(err)), -1);
	assert_true(err[0] != 0);
	assert_int_equal(sql_import_remove_disable_precheck(s, 10, &imp, &out, NULL, err, sizeof(err)), -1);
	assert_int_equal(sql_import_add_disable_precheck(NULL, 0, &imp, &out, NULL, err, sizeof(err)), -1);
	assert_int_equal(sql_import_remove_disable_precheck(s, strlen(s), NULL, &out, NULL, err, sizeof(err)), -1);
	sql_import_free(&imp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_dash_dash_edges),
		cmocka_unit_test(test_nbsp_after_last_token),
		cmocka_unit_test(test_mismatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
