/*
 * test_split.c - statement splitting (spans, ';' inside strings/comments/identifiers,
 * executable comments, lexical errors) and the sql_quick_reject fast path.
 */
#include "helpers.h"
#include "sqlparse/split.h"

static void split_expect(const char *s, unsigned flags, const char *const *expect, size_t n)
{
	sql_piece *p = NULL;
	size_t cnt = 0, i;
	char err[64];
	assert_int_equal(sql_split(s, strlen(s), flags, &p, &cnt, err, sizeof(err)), 0);
	if (cnt != n)
		fail_msg("<%s>: %zu statements, expected %zu", s, cnt, n);
	for (i = 0; i < n; i++)
		assert_span_text(s, p[i].span, expect[i]);
	free(p);
}

static void test_split_basic(void **st)
{
	static const char *const e1[] = {"SELECT 1", "SELECT 2"};
	static const char *const e2[] = {"SELECT ';'", "SELECT \";\"", "SELECT `;`", "SELECT 1"};
	static const char *const e3[] = {"SELECT 1"};
	static const char *const e4[] = {"SELECT 1", "IMPORT INTO t FROM 'x'"};
	(void)st;
	split_expect("SELECT 1;SELECT 2", 0, e1, 2);
	split_expect("  SELECT 1 ;\n\n SELECT 2 ; ;; ", 0, e1, 2);
	split_expect("SELECT ';'; SELECT \";\"; SELECT `;`; SELECT 1 -- ;x\n", 0, e2, 4);
	split_expect("/* ; */ SELECT 1 # ;\n", 0, e3, 1);
	split_expect("", 0, NULL, 0);
	split_expect(" ;; -- only comments\n", 0, NULL, 0);
	split_expect("SELECT 1; /*!IMPORT INTO t FROM 'x'*/", 0, e4, 2);
	split_expect("/*!SELECT 1; IMPORT INTO t FROM 'x'*/", 0, e4, 2);
}

static void test_split_exec_state(void **st)
{
	const char *s = "SELECT 1 /*!; IMPORT INTO t*/ FROM 'x'";
	sql_piece *p = NULL;
	size_t n = 0;
	char err[64];
	(void)st;
	assert_int_equal(sql_split(s, strlen(s), 0, &p, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_span_text(s, p[1].span, "IMPORT INTO t*/ FROM 'x'");
	assert_true(p[1].flags & SQL_F_IN_EXEC_COMMENT);
	assert_false(p[0].flags & SQL_F_IN_EXEC_COMMENT);
	free(p);
	/* as plain comments: one statement */
	assert_int_equal(sql_split(s, strlen(s), SQL_F_EXEC_AS_COMMENT, &p, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_span_text(s, p[0].span, s);
	free(p);
}

static void test_split_backslash_modes(void **st)
{
	static const char *const on[] = {"SELECT 'a\\'; SELECT 2'"};
	static const char *const off[] = {"SELECT 'a\\'", "SELECT 2'"};
	const char *s = "SELECT 'a\\'; SELECT 2'";
	sql_piece *p = NULL;
	size_t n = 0;
	char err[64];
	(void)st;
	split_expect(s, 0, on, 1);
	split_expect(s, SQL_F_NO_BACKSLASH_ESCAPES, off, 2);
	assert_int_equal(sql_split(s, strlen(s), SQL_F_NO_BACKSLASH_ESCAPES, &p, &n, err, sizeof(err)), 0);
	assert_false(p[0].lex_error);
	assert_true(p[1].lex_error); /* unterminated ' */
	free(p);
}

static void test_split_signature(void **st)
{
	const char *a = "SELECT 'x', 1";
	sql_piece *p = NULL, *q = NULL;
	size_t n = 0, m = 0;
	char err[64];
	(void)st;
	assert_int_equal(sql_split(a, strlen(a), 0, &p, &n, err, sizeof(err)), 0);
	assert_int_equal(sql_split(a, strlen(a), SQL_F_ANSI_QUOTES, &q, &m, err, sizeof(err)), 0);
	assert_int_equal(p[0].sig, q[0].sig); /* same token boundaries */
	free(p);
	free(q);
	a = "SELECT 'a\\' b'";
	assert_int_equal(sql_split(a, strlen(a), 0, &p, &n, err, sizeof(err)), 0);
	assert_int_equal(sql_split(a, strlen(a), SQL_F_NO_BACKSLASH_ESCAPES, &q, &m, err, sizeof(err)), 0);
	assert_true(p[0].sig != q[0].sig || p[0].lex_error != q[0].lex_error);
	free(p);
	free(q);
}

/* Splitting from an offset (the classifier's re-reading of a batch's tail): offsets stay
 * relative to the whole text; SQL_F_IN_EXEC_COMMENT says the start is inside /\*! */
static void test_split_from_offset(void **st)
{
	const char *s = "SELECT 1; /*!SET NAMES gbk; SELECT 2*/; SELECT 3";
	sql_splitter sp;
	sql_piece p;
	size_t start = (size_t)(strstr(s, " SELECT 2") - s);
	(void)st;
	sql_splitter_init_at(&sp, s, strlen(s), SQL_F_IN_EXEC_COMMENT, start);
	assert_int_equal(sql_splitter_next(&sp, &p, NULL, NULL), 1);
	assert_span_text(s, p.span, "SELECT 2");
	assert_true(p.flags & SQL_F_IN_EXEC_COMMENT);
	assert_int_equal(sql_splitter_next(&sp, &p, NULL, NULL), 1);
	assert_span_text(s, p.span, "SELECT 3");
	assert_false(p.flags & SQL_F_IN_EXEC_COMMENT);
	assert_int_equal(sql_splitter_next(&sp, &p, NULL, NULL), 0);
	/* past the end: nothing */
	sql_splitter_init_at(&sp, s, strlen(s), 0, strlen(s) + 10);
	assert_int_equal(sql_splitter_next(&sp, &p, NULL, NULL), 0);
}

static void test_quick_reject_plain(void **st)
{
	static const char *const yes[] = {
		"SELECT 1", "  select * from t where id = 5", "\n\tINSERT INTO t VALUES (1, 'a')",
		"UPDATE t SET c = c + 1 WHERE id = 9", "DELETE FROM t WHERE id = 1", "REPLACE INTO t VALUES (1)",
		"BEGIN", "COMMIT", "ROLLBACK", "START TRANSACTION", "SET autocommit = 0", "SET NAMES utf8mb4",
		"SHOW TABLES", "SHOW VARIABLES LIKE 'x'", "CALL p()", "DO 1", "SAVEPOINT a", "RELEASE SAVEPOINT a",
		"SELECT(1)", "SELECT'a'", "EXECUTE s", "SHOW", "SELECT impo, port FROM t",
	};
	size_t i;
	(void)st;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!sql_quick_reject(yes[i], strlen(yes[i])))
			fail_msg("should be rejected: <%s>", yes[i]);
}

static void test_quick_reject_interesting(void **st)
{
	static const char *const no[] = {
		"IMPORT INTO t FROM 'x'", "/* c */ SELECT 1", "-- c\nSELECT 1", "# c\nSELECT 1",
		"SELECT 1; IMPORT INTO t FROM 'x'", "SELECT ';'", "SET sql_mode = ''", "SET SESSION SQL_MODE='ANSI'",
		"SET @@sql_mode = 'x'", "SHOW IMPORT JOBS", "show import job 1", "SHOW/**/IMPORT JOBS",
		"SHOW /*!IMPORT*/ JOBS", "PREPARE s FROM 'x'", "USE db", "LOAD DATA INFILE 'x' INTO TABLE t",
		"BACKUP DATABASE * TO 'x'", "RESTORE DATABASE * FROM 'x'", "EXPLAIN ANALYZE IMPORT INTO t FROM 'x'",
		"SELECTX 1", "SELECT_1", "(SELECT 1)", "", "   ", "SELECT\x80", "CANCEL IMPORT JOB 1",
		"/*!IMPORT INTO t FROM 'x'*/", "SHOW\x80", "SHOW 'x'", "SHOW \xa0IMPORT JOBS", "\xa0IMPORT INTO t FROM 'x'",
		"SET\xa0sql_mode=1", "SET a=1,sql_mode", "SET a='_',Sql_Mode=1", "SET _sql_mode_=1",
		/* "import" anywhere: the classifier calls any IMPORT INTO pair an import (these two
		 * were quick-rejected before the rule became fail-closed) */
		"SELECT 'IMPORT INTO t FROM x'", "SELECT /*!IMPORT INTO t FROM x*/ 1", "SELECT import INTO @v FROM t",
		"DO 1 /*!IMPORT INTO t FROM x*/", "EXECUTE s /*T![nope] IMPORT INTO t */", "CALL p(1) ImPoRt",
	};
	size_t i;
	(void)st;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (sql_quick_reject(no[i], strlen(no[i])))
			fail_msg("must not be rejected: <%s>", no[i]);
	assert_int_equal(sql_quick_reject(NULL, 0), 0);
	/* only the first len bytes count */
	assert_int_equal(sql_quick_reject("SELECT 1; IMPORT", 8), 1);
}

/* Safety cross-check: whatever quick-reject accepts, the full classifier calls OTHER (or a
 * kind that needs no decision) under every lexical mode, for a mix of generated texts. */
static void test_quick_reject_agrees_with_classifier(void **st)
{
	static const char *const heads[] = {"SELECT", "INSERT", "UPDATE", "SET", "SHOW", "DO", "CALL", "BEGIN"};
	static const char *const tails[] = {
		" 1",     " 'a\\'; IMPORT INTO t FROM x'", " /*!IMPORT INTO t*/", " sql_mode='x'", " IMPORT JOBS",
		" @@sql_mode := 1", "\tNAMES gbk", " -- ;\n", " `x` \"y\"", " /*T! ; */", " x'41'",
		" import INTO @v", " /*!123450x'' */ 1", " /*T![nope] IMPORT INTO t FROM 'x' */",
	};
	size_t h, t;
	unsigned f;
	(void)st;
	for (h = 0; h < sizeof(heads) / sizeof(heads[0]); h++)
		for (t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
			char buf[128];
			snprintf(buf, sizeof(buf), "%s%s", heads[h], tails[t]);
			if (!sql_quick_reject(buf, strlen(buf)))
				continue;
			for (f = 0; f < 4; f++) {
				sql_batch b = classify_str(buf, f | (h & 1 ? SQL_F_EXACT_MODES : 0));
				size_t i;
				for (i = 0; i < b.n; i++)
					if (b.stmts[i].kind != SQL_OTHER)
						fail_msg("quick-rejected <%s> has a %s statement", buf, sql_kind_name(b.stmts[i].kind));
				sql_batch_free(&b);
			}
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_basic),
		cmocka_unit_test(test_split_exec_state),
		cmocka_unit_test(test_split_backslash_modes),
		cmocka_unit_test(test_split_signature),
		cmocka_unit_test(test_split_from_offset),
		cmocka_unit_test(test_quick_reject_plain),
		cmocka_unit_test(test_quick_reject_interesting),
		cmocka_unit_test(test_quick_reject_agrees_with_classifier),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
