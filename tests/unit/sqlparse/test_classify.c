/*
 * test_classify.c - statement kinds, decoded USE/PREPARE data, recursion into PREPARE
 * texts, sql_mode changes, and the union over lexical modes (mode_dependent).
 */
#include "helpers.h"

static void test_kinds(void **st)
{
	static const struct {
		const char *sql;
		sql_kind kind;
	} cases[] = {
		{"IMPORT INTO t FROM 'x'", SQL_IMPORT_INTO},
		{"import /* c */ into t from 'x'", SQL_IMPORT_INTO},
		{"SHOW IMPORT JOBS", SQL_SHOW_IMPORT_JOB},
		{"SHOW IMPORT JOB 12", SQL_SHOW_IMPORT_JOB},
		{"show -- c\n import job 1", SQL_SHOW_IMPORT_JOB},
		{"SHOW IMPORTS", SQL_OTHER},
		{"CANCEL IMPORT JOB 3", SQL_CANCEL_IMPORT_JOB},
		{"PREPARE s FROM 'SELECT 1'", SQL_PREPARE_TEXT},
		{"PREPARE s FROM @q", SQL_PREPARE_VAR},
		{"PREPARE s FROM CONCAT('a')", SQL_PREPARE_VAR},
		{"USE db1", SQL_USE},
		{"LOAD DATA LOCAL INFILE 'f' INTO TABLE t", SQL_LOAD_DATA},
		{"LOAD STATS 'x'", SQL_OTHER},
		{"BACKUP DATABASE * TO 's3://b'", SQL_BACKUP},
		{"RESTORE DATABASE * FROM 's3://b'", SQL_RESTORE},
		{"SET sql_mode = ''", SQL_SET_SQL_MODE},
		{"SET SESSION sql_mode = 'ANSI_QUOTES'", SQL_SET_SQL_MODE},
		{"SET LOCAL sql_mode='x'", SQL_SET_SQL_MODE},
		{"SET @@sql_mode := 'x'", SQL_SET_SQL_MODE},
		{"SET @@SESSION.SQL_MODE='x'", SQL_SET_SQL_MODE},
		{"SET @@session . sql_mode = 'x'", SQL_SET_SQL_MODE},
		{"SET @@local.sql_mode='x'", SQL_SET_SQL_MODE},
		{"SET GLOBAL sql_mode='x'", SQL_SET_SQL_MODE},
		{"SET autocommit=1, `sql_mode`='x'", SQL_SET_SQL_MODE},
		{"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */", SQL_SET_SQL_MODE},
		{"SET NAMES utf8mb4", SQL_OTHER},
		{"SET @x = @@sql_mode", SQL_OTHER},
		{"SET @sql_mode_backup = 1", SQL_OTHER},
		{"SELECT @@sql_mode", SQL_OTHER},
		{"EXECUTE s", SQL_OTHER},
		{"EXPLAIN ANALYZE IMPORT INTO t FROM 'x'", SQL_IMPORT_INTO},
		{"EXPLAIN SELECT 1", SQL_OTHER},
		{"SELECT import INTO @v FROM t", SQL_OTHER},
		{"'abc", SQL_LEX_ERROR},
		{"SELECT `x", SQL_LEX_ERROR},
		{"SELECT 1 /* x", SQL_LEX_ERROR},
	};
	size_t i;
	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sql_kind k = kind1(cases[i].sql, 0);
		if (k != cases[i].kind)
			fail_msg("<%s>: %s, expected %s", cases[i].sql, sql_kind_name(k), sql_kind_name(cases[i].kind));
	}
}

static void test_kind_names(void **st)
{
	(void)st;
	assert_string_equal(sql_kind_name(SQL_OTHER), "other");
	assert_string_equal(sql_kind_name(SQL_IMPORT_INTO), "import_into");
	assert_string_equal(sql_kind_name(SQL_LEX_ERROR), "lex_error");
	assert_string_equal(sql_kind_name((sql_kind)999), "unknown");
}

static void test_use(void **st)
{
	sql_batch b = classify_str("USE `my``db`; use plain; USE \"dq\"", 0);
	(void)st;
	assert_int_equal(b.n, 3);
	assert_string_equal(b.stmts[0].use_db, "my`db");
	assert_string_equal(b.stmts[1].use_db, "plain");
	assert_string_equal(b.stmts[2].use_db, "dq");
	sql_batch_free(&b);
}

static void test_prepare(void **st)
{
	sql_batch b = classify_str("PREPARE `my stmt` FROM 'IMPORT INTO t ' \"FROM 'x'\"", 0);
	(void)st;
	assert_int_equal(b.n, 1);
	assert_int_equal(b.stmts[0].kind, SQL_PREPARE_TEXT);
	assert_string_equal(b.stmts[0].prepare_name, "my stmt");
	assert_string_equal(b.stmts[0].prepare_text, "IMPORT INTO t FROM 'x'");
	assert_int_equal(b.stmts[0].prepare_text_len, strlen("IMPORT INTO t FROM 'x'"));
	assert_int_equal(b.stmts[0].prepare_inner, SQL_IMPORT_INTO);
	sql_batch_free(&b);

	b = classify_str("PREPARE s FROM 'SELECT ?'", 0);
	assert_int_equal(b.stmts[0].prepare_inner, SQL_OTHER);
	sql_batch_free(&b);

	b = classify_str("PREPARE s FROM 'USE x'", 0);
	assert_int_equal(b.stmts[0].prepare_inner, SQL_USE);
	sql_batch_free(&b);

	b = classify_str("PREPARE s FROM @v", 0);
	assert_int_equal(b.stmts[0].kind, SQL_PREPARE_VAR);
	assert_string_equal(b.stmts[0].prepare_name, "s");
	assert_null(b.stmts[0].prepare_text);
	sql_batch_free(&b);

	/* hex literal text, nested PREPARE */
	b = classify_str("PREPARE s FROM 0x494D504F525420494E544F2074", 0);
	assert_int_equal(b.stmts[0].kind, SQL_PREPARE_TEXT);
	assert_string_equal(b.stmts[0].prepare_text, "IMPORT INTO t");
	assert_int_equal(b.stmts[0].prepare_inner, SQL_IMPORT_INTO);
	sql_batch_free(&b);

	b = classify_str("PREPARE a FROM 'PREPARE b FROM ''IMPORT INTO t FROM ''''x'''''''", 0);
	assert_int_equal(b.stmts[0].prepare_inner, SQL_IMPORT_INTO);
	sql_batch_free(&b);
}

/* Nesting deeper than the bound is reported as opaque, not as harmless. */
static void test_prepare_depth_bound(void **st)
{
	char buf[4096] = "IMPORT INTO t FROM x";
	char tmp[4096];
	int d;
	sql_batch b;
	(void)st;
	for (d = 0; d < 6; d++) {
		size_t i, k = 0;
		const char *pre = "PREPARE s FROM '";
		memcpy(tmp, pre, strlen(pre));
		k = strlen(pre);
		for (i = 0; buf[i]; i++) {
			if (buf[i] == '\'')
				tmp[k++] = '\'';
			tmp[k++] = buf[i];
		}
		tmp[k++] = '\'';
		tmp[k] = 0;
		memcpy(buf, tmp, k + 1);
	}
	b = classify_str(buf, 0);
	assert_int_equal(b.stmts[0].kind, SQL_PREPARE_TEXT);
	assert_true(b.stmts[0].prepare_inner == SQL_PREPARE_VAR || b.stmts[0].prepare_inner == SQL_IMPORT_INTO);
	assert_int_not_equal(b.stmts[0].prepare_inner, SQL_OTHER);
	sql_batch_free(&b);
}

static void test_multi(void **st)
{
	const char *s = "SELECT 1; IMPORT INTO t FROM 'x' ; USE d;SHOW IMPORT JOBS";
	sql_batch b = classify_str(s, 0);
	(void)st;
	assert_int_equal(b.n, 4);
	assert_int_equal(b.stmts[0].kind, SQL_OTHER);
	assert_int_equal(b.stmts[1].kind, SQL_IMPORT_INTO);
	assert_span_text(s, b.stmts[1].span, "IMPORT INTO t FROM 'x'");
	assert_int_equal(b.stmts[2].kind, SQL_USE);
	assert_int_equal(b.stmts[3].kind, SQL_SHOW_IMPORT_JOB);
	assert_false(b.mode_dependent);
	sql_batch_free(&b);
}

/* The same text under NO_BACKSLASH_ESCAPES hides or shows an import: both readings are
 * reported whatever the caller claims, and the batch is flagged. */
static void test_backslash_union(void **st)
{
	const char *s = "SELECT 'a\\'; IMPORT INTO t FROM 'x'; -- '";
	unsigned f;
	(void)st;
	for (f = 0; f < 4; f++) {
		sql_batch b = classify_str(s, f);
		size_t i, nimp = 0;
		for (i = 0; i < b.n; i++)
			if (b.stmts[i].kind == SQL_IMPORT_INTO) {
				nimp++;
				assert_true(b.stmts[i].flags & SQL_F_NO_BACKSLASH_ESCAPES);
				assert_span_text(s, b.stmts[i].span, "IMPORT INTO t FROM 'x'");
			}
		assert_int_equal(nimp, 1);
		assert_true(b.mode_dependent);
		sql_batch_free(&b);
	}
}

/* Same span, different options by mode: both readings are listed. */
static void test_same_span_different_reading(void **st)
{
	/* backslash escapes: one string; without: 'a\\' then options, '' \\ '' */
	const char *s = "IMPORT INTO t FROM 'a\\' WITH DISABLE_PRECHECK, CHARACTER_SET='' \\''";
	sql_batch b = classify_str(s, 0);
	size_t i, nimp = 0;
	(void)st;
	for (i = 0; i < b.n; i++)
		if (b.stmts[i].kind == SQL_IMPORT_INTO)
			nimp++;
	assert_int_equal(nimp, 2);
	assert_true(b.mode_dependent);
	sql_batch_free(&b);
}

/* TiDB's own reading: mixed executable comments, unknown features, 0xA0 blanks. */
static void test_tidb_reading(void **st)
{
	static const char *const hidden[] = {
		"/*T![unknown] '*/ IMPORT INTO t FROM 'x' /*'*/",
		"/*!IMPORT*/ /*T![unknown] SELECT*/ INTO t FROM 'x'",
		"/*M! '*/ /*! IMPORT INTO t FROM 'x' */ /*M! '*/",
		"SELECT 1; \xa0IMPORT INTO t FROM 'x'",
		"IMPORT \xa0\x85INTO t FROM 'x'",
		"/*T![global_index] '*/ IMPORT INTO t FROM 'x' /*'*/",
	};
	size_t i, k;
	(void)st;
	for (i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		sql_batch b = classify_str(hidden[i], 0);
		bool found = false;
		for (k = 0; k < b.n; k++)
			found = found || b.stmts[k].kind == SQL_IMPORT_INTO;
		if (!found)
			fail_msg("no import in <%s>", hidden[i]);
		sql_batch_free(&b);
	}
}

static void test_exec_comment_union(void **st)
{
	const char *s = "/*!99999 '*/ IMPORT INTO t FROM 'x' /*'*/";
	sql_batch b = classify_str(s, 0);
	size_t i, nimp = 0;
	(void)st;
	for (i = 0; i < b.n; i++)
		if (b.stmts[i].kind == SQL_IMPORT_INTO) {
			nimp++;
			assert_true(b.stmts[i].flags & SQL_F_EXEC_AS_COMMENT);
		}
	assert_int_equal(nimp, 1);
	assert_true(b.mode_dependent);
	sql_batch_free(&b);
}

static void test_not_mode_dependent(void **st)
{
	sql_batch b = classify_str("SELECT 'a\\nb', \"c\\\"\"; IMPORT INTO t FROM 'x'", 0);
	(void)st;
	/* the import reads the same in every mode */
	assert_int_equal(b.stmts[1].kind, SQL_IMPORT_INTO);
	sql_batch_free(&b);
	b = classify_str("/*!40101 SET NAMES utf8 */", 0);
	assert_false(b.mode_dependent);
	sql_batch_free(&b);
}

static void test_empty_and_null(void **st)
{
	sql_batch b;
	char err[64];
	(void)st;
	assert_int_equal(sql_classify("", 0, 0, &b, err, sizeof(err)), 0);
	assert_int_equal(b.n, 0);
	sql_batch_free(&b);
	assert_int_equal(sql_classify(NULL, 10, 0, &b, err, sizeof(err)), 0);
	assert_int_equal(b.n, 0);
	sql_batch_free(&b);
	sql_batch_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),          cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_use),            cmocka_unit_test(test_prepare),
		cmocka_unit_test(test_prepare_depth_bound), cmocka_unit_test(test_multi),
		cmocka_unit_test(test_backslash_union), cmocka_unit_test(test_same_span_different_reading),
		cmocka_unit_test(test_tidb_reading),
		cmocka_unit_test(test_exec_comment_union), cmocka_unit_test(test_not_mode_dependent),
		cmocka_unit_test(test_empty_and_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
