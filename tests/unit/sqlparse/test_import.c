/*
 * test_import.c - the IMPORT INTO parser: target, columns, SET, sources, FORMAT, every
 * option, TiDB's option errors (8163/8164/8165/8166), FROM SELECT with WITH ROLLUP and
 * CTEs, spans, trailing comments, syntax errors.
 */
#include "helpers.h"

static const char *const all_opts[] = {
	"CHARACTER_SET='utf8mb4'", "FIELDS_TERMINATED_BY=','", "FIELDS_ENCLOSED_BY='\"'",
	"FIELDS_ESCAPED_BY='\\\\'", "FIELDS_DEFINED_NULL_BY='NULL'", "LINES_TERMINATED_BY='\\n'",
	"SKIP_ROWS=1", "SPLIT_FILE", "DISK_QUOTA='10GiB'", "THREAD=16", "MAX_WRITE_SPEED='1MiB'",
	"CHECKSUM_TABLE='required'", "RECORD_ERRORS=-1", "DETACHED", "DISABLE_TIKV_IMPORT_MODE",
	"CLOUD_STORAGE_URI='s3://b/sort'", "DISABLE_PRECHECK",
};

static void test_basic_file(void **st)
{
	const char *s = "IMPORT INTO db1.`t 1` (a, @b, `c`) SET d = @b * 2, e = UPPER(@b) "
	                "FROM 's3://bucket/x.csv?access-key=a' FORMAT 'CSV' WITH THREAD=8, DETACHED -- tail";
	sql_import imp;
	(void)st;
	parse_ok(s, &imp);
	assert_string_equal(imp.db, "db1");
	assert_string_equal(imp.table, "t 1");
	assert_span_text(s, imp.target_span, "db1.`t 1`");
	assert_int_equal(imp.ncols, 3);
	assert_string_equal(imp.cols[0].name, "a");
	assert_false(imp.cols[0].is_var);
	assert_string_equal(imp.cols[1].name, "b");
	assert_true(imp.cols[1].is_var);
	assert_string_equal(imp.cols[2].name, "c");
	assert_span_text(s, imp.set_span, "d = @b * 2, e = UPPER(@b)");
	assert_int_equal(imp.src, SQL_SRC_FILE);
	assert_string_equal(imp.location, "s3://bucket/x.csv?access-key=a");
	assert_span_text(s, imp.location_span, "'s3://bucket/x.csv?access-key=a'");
	assert_string_equal(imp.format, "CSV");
	assert_true(imp.has_with);
	assert_span_text(s, imp.with_span, "WITH THREAD=8, DETACHED");
	assert_int_equal(imp.nopts, 2);
	assert_string_equal(imp.opts[0].name, "THREAD");
	assert_true(imp.opts[0].has_value);
	assert_string_equal(imp.opts[0].value, "8");
	assert_int_equal(imp.opts[0].value_kind, SQL_OPTV_NUMBER);
	assert_span_text(s, imp.opts[0].span, "THREAD=8");
	assert_span_text(s, imp.opts[0].name_span, "THREAD");
	assert_span_text(s, imp.opts[0].value_span, "8");
	assert_false(imp.opts[1].has_value);
	assert_null(imp.opts[1].value);
	assert_int_equal(imp.end, strlen(s) - strlen(" -- tail"));
	assert_int_equal(imp.tidb_errcode, 0);
	assert_non_null(sql_import_find_opt(&imp, "detached"));
	assert_null(sql_import_find_opt(&imp, "DISABLE_PRECHECK"));
	sql_import_free(&imp);
	sql_import_free(NULL);
}

static void test_targets(void **st)
{
	static const struct {
		const char *sql, *db, *table;
	} c[] = {
		{"IMPORT INTO t FROM 'x'", NULL, "t"},
		{"IMPORT INTO `a``b`.`c.d` FROM 'x'", "a`b", "c.d"},
		{"IMPORT INTO \"db\".\"tb\" FROM 'x'", "db", "tb"},
		{"IMPORT INTO 数据库.表 FROM 'x'", "数据库", "表"},
		{"IMPORT INTO db . t FROM 'x'", "db", "t"},
		{"IMPORT INTO 1abc FROM 'x'", NULL, "1abc"},
		{"IMPORT /*x*/ INTO /*!db.*/t FROM 'x'", "db", "t"},
		{"EXPLAIN ANALYZE IMPORT INTO d.t FROM 'x'", "d", "t"},
	};
	size_t i;
	(void)st;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		sql_import imp;
		parse_ok(c[i].sql, &imp);
		if (c[i].db)
			assert_string_equal(imp.db, c[i].db);
		else
			assert_null(imp.db);
		assert_string_equal(imp.table, c[i].table);
		sql_import_free(&imp);
	}
}

static void test_columns(void **st)
{
	sql_import imp;
	(void)st;
	parse_ok("IMPORT INTO t () FROM 'x'", &imp);
	assert_int_equal(imp.ncols, 0);
	sql_import_free(&imp);
	parse_ok("IMPORT INTO t (t.a, @`v 1`, @'w') FROM 'x'", &imp);
	assert_int_equal(imp.ncols, 3);
	assert_string_equal(imp.cols[0].name, "a");
	assert_string_equal(imp.cols[1].name, "v 1");
	assert_true(imp.cols[1].is_var);
	assert_string_equal(imp.cols[2].name, "w");
	sql_import_free(&imp);
}

static void test_set_with_from_inside(void **st)
{
	const char *s = "IMPORT INTO t (@a) SET c = TRIM(LEADING 'x' FROM @a), d = (SELECT 1 FROM dual) FROM 'f'";
	sql_import imp;
	(void)st;
	parse_ok(s, &imp);
	assert_span_text(s, imp.set_span, "c = TRIM(LEADING 'x' FROM @a), d = (SELECT 1 FROM dual)");
	assert_string_equal(imp.location, "f");
	sql_import_free(&imp);
}

static void test_locations(void **st)
{
	sql_import imp;
	(void)st;
	parse_ok("IMPORT INTO t FROM \"s3://b/x\" FORMAT \"parquet\"", &imp);
	assert_string_equal(imp.location, "s3://b/x");
	assert_string_equal(imp.format, "parquet");
	sql_import_free(&imp);
	parse_ok("IMPORT INTO t FROM 's3://b/' 'x.csv'", &imp); /* adjacent literals concatenate */
	assert_string_equal(imp.location, "s3://b/x.csv");
	sql_import_free(&imp);
	parse_ok("IMPORT INTO t FROM 'it''s\\tx'", &imp);
	assert_string_equal(imp.location, "it's\tx");
	sql_import_free(&imp);
	{
		char err[128];
		const char *s = "IMPORT INTO t FROM 'a\\tb'";
		assert_int_equal(sql_import_parse(s, strlen(s), SQL_F_NO_BACKSLASH_ESCAPES, &imp, err, sizeof(err)), 0);
		assert_string_equal(imp.location, "a\\tb");
		sql_import_free(&imp);
	}
}

static void test_every_option(void **st)
{
	char sql[2048];
	size_t i, k = 0;
	sql_import imp;
	(void)st;
	k += (size_t)snprintf(sql + k, sizeof(sql) - k, "IMPORT INTO t FROM 's3://b/x' WITH ");
	for (i = 0; i < sizeof(all_opts) / sizeof(all_opts[0]); i++)
		k += (size_t)snprintf(sql + k, sizeof(sql) - k, "%s%s", i ? ", " : "", all_opts[i]);
	parse_ok(sql, &imp);
	assert_int_equal(imp.nopts, sizeof(all_opts) / sizeof(all_opts[0]));
	assert_int_equal(imp.tidb_errcode, 0);
	assert_string_equal(sql_import_find_opt(&imp, "fields_escaped_by")->value, "\\");
	assert_string_equal(sql_import_find_opt(&imp, "LINES_TERMINATED_BY")->value, "\n");
	assert_string_equal(sql_import_find_opt(&imp, "RECORD_ERRORS")->value, "-1");
	assert_string_equal(sql_import_find_opt(&imp, "CLOUD_STORAGE_URI")->value, "s3://b/sort");
	sql_import_free(&imp);
	/* each option alone is accepted too, in any case */
	for (i = 0; i < sizeof(all_opts) / sizeof(all_opts[0]); i++) {
		char one[256], lower[128];
		size_t j;
		for (j = 0; all_opts[i][j] && j < sizeof(lower) - 1; j++)
			lower[j] = (all_opts[i][j] >= 'A' && all_opts[i][j] <= 'Z') ? (char)(all_opts[i][j] + 32) : all_opts[i][j];
		lower[j] = 0;
		/* SPLIT_FILE needs an explicit LINES_TERMINATED_BY (see test_option_errors) */
		snprintf(one, sizeof(one), "IMPORT INTO t FROM 'x' WITH %s%s", lower,
		         strcmp(lower, "split_file") == 0 ? ", lines_terminated_by='\\n'" : "");
		parse_ok(one, &imp);
		if (imp.tidb_errcode)
			fail_msg("<%s>: %d %s", one, imp.tidb_errcode, imp.tidb_errmsg);
		sql_import_free(&imp);
	}
}

static void expect_err(const char *sql, int code, const char *msg)
{
	sql_import imp;
	parse_ok(sql, &imp);
	if (imp.tidb_errcode != code || strcmp(imp.tidb_errmsg, msg) != 0)
		fail_msg("<%s>: got %d '%s', expected %d '%s'", sql, imp.tidb_errcode, imp.tidb_errmsg, code, msg);
	sql_import_free(&imp);
}

/* The parser knows every version's options (the union); which version has which is
 * policy/import_grammar.c's. GROUP_KEY's value: 1 to 256 of [A-Za-z0-9_-] (master). */
static void test_option_union_and_group_key(void **st)
{
	static const char *const every[] = {"CLOUD_STORAGE_URI='s3://b/s'", "DISABLE_PRECHECK",
	                                    "GROUP_KEY='g-1_A'", "__MAX_ENGINE_SIZE='1GiB'",
	                                    "__FORCE_MERGE_STEP", "__MANUAL_RECOVERY"};
	char sql[400];
	sql_import imp;

	(void)st;
	for (size_t i = 0; i < sizeof(every) / sizeof(every[0]); i++) {
		snprintf(sql, sizeof(sql), "IMPORT INTO t FROM 'x' WITH %s", every[i]);
		parse_ok(sql, &imp);
		if (imp.tidb_errcode)
			fail_msg("<%s>: %d %s", sql, imp.tidb_errcode, imp.tidb_errmsg);
		sql_import_free(&imp);
	}
	expect_err("IMPORT INTO t FROM 'x' WITH group_key=''", 8164, "Invalid option value for group_key");
	expect_err("IMPORT INTO t FROM 'x' WITH group_key='a b'", 8164, "Invalid option value for group_key");
	expect_err("IMPORT INTO t FROM 'x' WITH group_key='a.b'", 8164, "Invalid option value for group_key");
	expect_err("IMPORT INTO t FROM 'x' WITH group_key=1", 8164, "Invalid option value for group_key");
	snprintf(sql, sizeof(sql), "IMPORT INTO t FROM 'x' WITH group_key='%0256d'", 0);
	parse_ok(sql, &imp);
	assert_int_equal(imp.tidb_errcode, 0);
	sql_import_free(&imp);
	snprintf(sql, sizeof(sql), "IMPORT INTO t FROM 'x' WITH group_key='%0257d'", 0);
	expect_err(sql, 8164, "Invalid option value for group_key");
}

static void test_option_errors(void **st)
{
	(void)st;
	expect_err("IMPORT INTO t FROM 'x' WITH foo", 8163, "Unknown option foo");
	expect_err("IMPORT INTO t FROM 'x' WITH Foo_Bar=1", 8163, "Unknown option foo_bar");
	expect_err("IMPORT INTO t FROM 'x' WITH `Thread`=1, bogus", 8163, "Unknown option bogus");
	expect_err("IMPORT INTO t FROM 'x' WITH DISABLE_PRECHECK=1", 8164, "Invalid option value for disable_precheck");
	expect_err("IMPORT INTO t FROM 'x' WITH detached=true", 8164, "Invalid option value for detached");
	expect_err("IMPORT INTO t FROM 'x' WITH SPLIT_FILE='x'", 8164, "Invalid option value for split_file");
	expect_err("IMPORT INTO t FROM 'x' WITH thread", 8164, "Invalid option value for thread");
	expect_err("IMPORT INTO t FROM 'x' WITH CLOUD_STORAGE_URI", 8164, "Invalid option value for cloud_storage_uri");
	expect_err("IMPORT INTO t FROM 'x' WITH detached, DETACHED", 8165, "Option detached specified more than once");
	expect_err("IMPORT INTO t FROM 'x' WITH THREAD=1, skip_rows=1, thread=2", 8165,
	           "Option thread specified more than once");
	/* first failing option wins, in statement order */
	expect_err("IMPORT INTO t FROM 'x' WITH detached=1, nope", 8164, "Invalid option value for detached");
	expect_err("IMPORT INTO t FROM 'x' WITH nope, detached=1", 8163, "Unknown option nope");
	/* value types and ranges */
	expect_err("IMPORT INTO t FROM 'x' WITH THREAD='8'", 8164, "Invalid option value for thread");
	expect_err("IMPORT INTO t FROM 'x' WITH THREAD=0", 8164, "Invalid option value for thread");
	expect_err("IMPORT INTO t FROM 'x' WITH SKIP_ROWS=-1", 8164, "Invalid option value for skip_rows");
	expect_err("IMPORT INTO t FROM 'x' WITH RECORD_ERRORS=-2", 8164, "Invalid option value for record_errors");
	expect_err("IMPORT INTO t FROM 'x' WITH FIELDS_TERMINATED_BY=''", 8164,
	           "Invalid option value for fields_terminated_by");
	expect_err("IMPORT INTO t FROM 'x' WITH FIELDS_ENCLOSED_BY='ab'", 8164,
	           "Invalid option value for fields_enclosed_by");
	expect_err("IMPORT INTO t FROM 'x' WITH CHARACTER_SET=utf8", 8164, "Invalid option value for character_set");
	expect_err("IMPORT INTO t FROM 'x' WITH SPLIT_FILE, SKIP_ROWS=2, LINES_TERMINATED_BY='\\n'", 8164,
	           "Invalid option value for skip_rows, should be <= 1 when split-file is enabled");
	expect_err("IMPORT INTO t FROM 'x' WITH SPLIT_FILE", 8164,
	           "Invalid option value for lines_terminated_by, should not be empty when use split_file");
	/* context */
	expect_err("IMPORT INTO t FROM 'x' FORMAT 'parquet' WITH SKIP_ROWS=1", 8166,
	           "Unsupported option skip_rows for non-CSV format");
	expect_err("IMPORT INTO t FROM SELECT 1 WITH DETACHED", 8166, "Unsupported option detached for import from query");
	expect_err("IMPORT INTO t FROM SELECT 1 WITH THREAD=2, DISABLE_PRECHECK", 0, "");
	expect_err("IMPORT INTO t FROM 'x' FORMAT 'csv' WITH SKIP_ROWS=1", 0, "");
}

static void test_from_select(void **st)
{
	static const struct {
		const char *sql, *select;
		size_t nopts;
	} c[] = {
		{"IMPORT INTO t FROM SELECT * FROM s", "SELECT * FROM s", 0},
		{"IMPORT INTO t FROM (SELECT * FROM s WHERE a IN (SELECT 1)) WITH THREAD=2",
		 "(SELECT * FROM s WHERE a IN (SELECT 1))", 1},
		{"IMPORT INTO t FROM WITH c AS (SELECT 1) SELECT * FROM c WITH DISABLE_PRECHECK",
		 "WITH c AS (SELECT 1) SELECT * FROM c", 1},
		{"IMPORT INTO t FROM WITH RECURSIVE c AS (SELECT 1 UNION SELECT 2) SELECT * FROM c",
		 "WITH RECURSIVE c AS (SELECT 1 UNION SELECT 2) SELECT * FROM c", 0},
		{"IMPORT INTO t FROM SELECT a, COUNT(*) FROM s GROUP BY a WITH ROLLUP",
		 "SELECT a, COUNT(*) FROM s GROUP BY a WITH ROLLUP", 0},
		{"IMPORT INTO t FROM SELECT a FROM s GROUP BY a WITH ROLLUP WITH DISABLE_PRECHECK",
		 "SELECT a FROM s GROUP BY a WITH ROLLUP", 1},
		{"IMPORT INTO t FROM SELECT a FROM s GROUP BY a WITH ROLLUP WITH THREAD=1, DISABLE_PRECHECK",
		 "SELECT a FROM s GROUP BY a WITH ROLLUP", 2},
		{"IMPORT INTO t (a, b) FROM SELECT * FROM s AS OF TIMESTAMP '2024-01-01' WITH thread = 4",
		 "SELECT * FROM s AS OF TIMESTAMP '2024-01-01'", 1},
		{"IMPORT INTO t FROM TABLE s", "TABLE s", 0},
	};
	size_t i;
	(void)st;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		sql_import imp;
		parse_ok(c[i].sql, &imp);
		assert_int_equal(imp.src, SQL_SRC_SELECT);
		assert_null(imp.location);
		assert_span_text(c[i].sql, imp.select_span, c[i].select);
		assert_int_equal(imp.nopts, c[i].nopts);
		assert_int_equal(imp.has_with, c[i].nopts > 0);
		sql_import_free(&imp);
	}
}

static void test_trailing_and_exec(void **st)
{
	const char *s = "IMPORT INTO t FROM 'x' /*!WITH DETACHED*/ ; -- done\n";
	sql_import imp;
	(void)st;
	parse_ok(s, &imp);
	assert_int_equal(imp.nopts, 1);
	assert_int_equal(imp.end, (size_t)(strstr(s, "DETACHED") - s) + strlen("DETACHED"));
	sql_import_free(&imp);
	/* a statement that starts inside an executable comment (as the classifier hands it) */
	s = "IMPORT INTO t*/ FROM 'x'";
	{
		char err[128];
		assert_int_equal(sql_import_parse(s, strlen(s), SQL_F_IN_EXEC_COMMENT, &imp, err, sizeof(err)), 0);
		assert_string_equal(imp.table, "t");
		sql_import_free(&imp);
	}
}

static void test_syntax_errors(void **st)
{
	static const char *const bad[] = {
		"", "SELECT 1", "IMPORT t FROM 'x'", "IMPORT INTO FROM 'x'", "IMPORT INTO t 'x'",
		"IMPORT INTO t FROM", "IMPORT INTO t FROM 'x' WITH", "IMPORT INTO t FROM 'x' WITH THREAD=",
		"IMPORT INTO t FROM 'x' WITH 'a'", "IMPORT INTO t FROM 'x' FORMAT", "IMPORT INTO t FROM 'x' FORMAT csv",
		"IMPORT INTO t (a FROM 'x'", "IMPORT INTO t (a,) FROM 'x'", "IMPORT INTO t SET FROM 'x'",
		"IMPORT INTO t SET a = 1", "IMPORT INTO t FROM 'x' extra", "IMPORT INTO t FROM 'x'; SELECT 1",
		"IMPORT INTO t FROM 'unterminated", "IMPORT INTO t FROM (SELECT 1", "IMPORT INTO t FROM SELECT 1)",
		"IMPORT INTO t FROM 12", "IMPORT INTO t. FROM 'x'", "EXPLAIN SELECT 1", "IMPORT INTO t FROM 'x' WITH a,",
	};
	size_t i;
	(void)st;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sql_import imp;
		char err[128] = "";
		if (sql_import_parse(bad[i], strlen(bad[i]), 0, &imp, err, sizeof(err)) == 0)
			fail_msg("should not parse: <%s>", bad[i]);
		assert_true(err[0] != 0);
		assert_null(imp.table);
		assert_int_equal(imp.nopts, 0);
	}
}

/* A large statement: thousands of columns and options spans stay exact. */
static void test_long_statement(void **st)
{
	size_t cap = 200000, k = 0, i;
	char *s = malloc(cap);
	sql_import imp;
	(void)st;
	assert_non_null(s);
	k += (size_t)snprintf(s + k, cap - k, "IMPORT INTO big (");
	for (i = 0; i < 5000; i++)
		k += (size_t)snprintf(s + k, cap - k, "%sc%zu", i ? "," : "", i);
	k += (size_t)snprintf(s + k, cap - k, ") FROM 's3://b/x' WITH THREAD=3");
	parse_ok(s, &imp);
	assert_int_equal(imp.ncols, 5000);
	assert_string_equal(imp.cols[4999].name, "c4999");
	assert_int_equal(imp.end, k);
	sql_import_free(&imp);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_file),      cmocka_unit_test(test_targets),
		cmocka_unit_test(test_columns),         cmocka_unit_test(test_set_with_from_inside),
		cmocka_unit_test(test_locations),       cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_option_union_and_group_key),
		cmocka_unit_test(test_option_errors),   cmocka_unit_test(test_from_select),
		cmocka_unit_test(test_trailing_and_exec), cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_long_statement),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
