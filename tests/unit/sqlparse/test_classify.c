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
		/* an IMPORT INTO pair anywhere is an import candidate (this case used to be OTHER;
		 * its import_span "import INTO @v FROM t" does not parse: the caller refuses it) */
		{"SELECT import INTO @v FROM t", SQL_IMPORT_INTO},
		{"PLAN REPLAYER DUMP EXPLAIN ANALYZE IMPORT INTO t FROM 'x'", SQL_IMPORT_INTO},
		{"PLAN REPLAYER DUMP EXPLAIN SELECT 1", SQL_OTHER},
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

/* The import part of a statement, whatever wraps it: import_span from the IMPORT keyword
 * to the end, parsable with import_flags. */
static void check_import_span(const char *s, const char *want_span, bool parses)
{
	sql_batch b = classify_str(s, 0);
	size_t i;
	bool found = false;
	for (i = 0; i < b.n; i++) {
		const sql_stmt *st = &b.stmts[i];
		sql_import imp;
		char err[256];
		if (st->kind != SQL_IMPORT_INTO || st->flags != 0)
			continue;
		found = true;
		assert_span_text(s, st->import_span, want_span);
		if ((sql_import_parse(s + st->import_span.off, st->import_span.len, st->import_flags, &imp, err,
		                      sizeof(err)) == 0) != parses)
			fail_msg("<%s>: import_span parse %s (%s)", s, parses ? "failed" : "succeeded", err);
		if (parses) {
			assert_string_equal(imp.table, "t");
			sql_import_free(&imp);
		}
	}
	if (!found)
		fail_msg("no import in <%s>", s);
	sql_batch_free(&b);
}

static void test_nesting_forms(void **st)
{
	static const char *const wrappers[] = {
		"",
		"EXPLAIN ",
		"EXPLAIN ANALYZE ",
		"EXPLAIN FORMAT='brief' ",
		"EXPLAIN FORMAT = \"row\" ANALYZE ",
		"DESC ",
		"DESCRIBE ANALYZE ",
		"TRACE ",
		"TRACE FORMAT='json' ",
		"TRACE PLAN ",
		"TRACE PLAN TARGET = 'estimation' ",
		"PLAN REPLAYER DUMP EXPLAIN ",
		"PLAN REPLAYER DUMP EXPLAIN ANALYZE ",
		"plan replayer dump with stats as of timestamp '2024-01-01 00:00:00' explain analyze ",
		"PLAN REPLAYER DUMP WITH STATS AS OF TIMESTAMP NOW() - INTERVAL 1 DAY EXPLAIN ",
		"CREATE BINDING FOR SELECT 1 USING ",
		"CREATE GLOBAL BINDING FOR ",
		"DROP SESSION BINDING FOR ",
		"BATCH ON id LIMIT 100 ",
		"BATCH LIMIT 10 DRY RUN QUERY ",
		"SOMETHING NEW (1, 2) ",
		"/* c */ EXPLAIN /* c */ ANALYZE ",
	};
	static const char *const imports[] = {
		"IMPORT INTO t FROM 'x'",
		"import /*c*/ into t (a, @b) SET a = @b FROM 's3://b/x' WITH thread=2",
	};
	size_t w, k;
	(void)st;
	for (w = 0; w < sizeof(wrappers) / sizeof(wrappers[0]); w++)
		for (k = 0; k < 2; k++) {
			char buf[512];
			snprintf(buf, sizeof(buf), "%s%s", wrappers[w], imports[k]);
			check_import_span(buf, imports[k], true);
			/* in a batch, after USE and SET */
			snprintf(buf, sizeof(buf), "USE d; SET @a = 1; %s%s; SELECT 1", wrappers[w], imports[k]);
			check_import_span(buf, imports[k], true);
		}
	/* the IMPORT keyword inside an executable comment: import_flags says so */
	check_import_span("EXPLAIN ANALYZE /*!IMPORT INTO t FROM 'x'*/", "IMPORT INTO t FROM 'x'", true);
	{
		sql_batch b = classify_str("EXPLAIN ANALYZE /*!IMPORT INTO t FROM 'x' */ ", 0);
		assert_int_equal(b.stmts[0].kind, SQL_IMPORT_INTO);
		assert_false(b.stmts[0].flags & SQL_F_IN_EXEC_COMMENT);
		assert_true(b.stmts[0].import_flags & SQL_F_IN_EXEC_COMMENT);
		sql_batch_free(&b);
	}
	/* shapes that are not an import statement: candidates whose import part does not parse */
	check_import_span("SELECT import INTO @v FROM t", "import INTO @v FROM t", false);
	check_import_span("SELECT a FROM import INTO", "import INTO", false);
	/* PLAN REPLAYER DUMP EXPLAIN ('sql', ...): the literal runs, so it is the span */
	check_import_span("PLAN REPLAYER DUMP EXPLAIN ANALYZE ('SELECT 1', 'IMPORT INTO t FROM ''x''')",
	                  "'IMPORT INTO t FROM ''x'''", false);
	check_import_span("PLAN REPLAYER DUMP EXPLAIN ANALYZE 'imp' 'ort into t from ''x'''", "'imp'", false);
	check_import_span("PLAN REPLAYER DUMP EXPLAIN ANALYZE ('imp' 'ort into t from ''x''')", "'ort into t from ''x'''",
	                  false);
	check_import_span("PLAN REPLAYER DUMP EXPLAIN ('\\x49MPORT INTO t FROM ''x''')", "'\\x49MPORT INTO t FROM ''x'''",
	                  false);
	/* ... EXPLAIN [ANALYZE] 'file': statements the gateway cannot see */
	check_import_span("PLAN REPLAYER DUMP EXPLAIN 'sqls.txt'", "'sqls.txt'", false);
	check_import_span("PLAN REPLAYER DUMP EXPLAIN ANALYZE \"/tmp/s.sql\"", "\"/tmp/s.sql\"", false);
	assert_int_equal(kind1("PLAN REPLAYER DUMP EXPLAIN ('SELECT 1', 'SELECT 2')", 0), SQL_OTHER);
	assert_int_equal(kind1("PLAN REPLAYER DUMP WITH STATS AS OF TIMESTAMP '2024-01-01' EXPLAIN SELECT 1", 0),
	                 SQL_OTHER);
	/* EXPLAIN FOR CONNECTION, PLAN REPLAYER LOAD, string mentions: not imports */
	assert_int_equal(kind1("EXPLAIN FOR CONNECTION 12", 0), SQL_OTHER);
	assert_int_equal(kind1("PLAN REPLAYER LOAD 'import into.zip'", 0), SQL_OTHER);
	assert_int_equal(kind1("PLAN REPLAYER DUMP EXPLAIN SELECT * FROM t WHERE c = 'x'", 0), SQL_OTHER);
	assert_int_equal(kind1("TRACE SELECT 'IMPORT INTO t FROM x'", 0), SQL_OTHER);
	assert_int_equal(kind1("SELECT `import` `into`", 0), SQL_OTHER);
}

static void test_prepare_nested_forms(void **st)
{
	static const char *const texts[] = {
		"PREPARE s FROM 'EXPLAIN ANALYZE IMPORT INTO t FROM ''x'''",
		"PREPARE s FROM 'PLAN REPLAYER DUMP EXPLAIN ANALYZE IMPORT INTO t FROM ''x'''",
		"PREPARE s FROM 'TRACE IMPORT INTO t FROM ''x'''",
		"PREPARE s FROM 'SELECT import INTO @v FROM t'",
		"PREPARE s FROM 'PREPARE s2 FROM ''BATCH LIMIT 1 IMPORT INTO t FROM ''''x'''''''",
	};
	size_t i;
	(void)st;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		sql_batch b = classify_str(texts[i], 0);
		assert_int_equal(b.stmts[0].kind, SQL_PREPARE_TEXT);
		if (b.stmts[0].prepare_inner != SQL_IMPORT_INTO)
			fail_msg("<%s>: inner %s", texts[i], sql_kind_name(b.stmts[0].prepare_inner));
		sql_batch_free(&b);
	}
}

static bool has_import(const sql_batch *b)
{
	size_t i;
	for (i = 0; i < b->n; i++)
		if (b->stmts[i].kind == SQL_IMPORT_INTO ||
		    (b->stmts[i].kind == SQL_PREPARE_TEXT && b->stmts[i].prepare_inner == SQL_IMPORT_INTO))
			return true;
	return false;
}

/* Version comments: the import TiDB runs is found for 0..7 digits and any following
 * literal, under every caller flag. */
static void test_version_digit_bypass(void **st)
{
	static const char *const mid[] = {"0x'\\\\' 'a", "x'\\\\' 'a", "0b'\\\\' 'a", "'\\\\' 'a", "b'\\\\' 'a", "a"};
	size_t nd, m;
	unsigned f;
	(void)st;
	for (nd = 0; nd <= 7; nd++)
		for (m = 0; m < sizeof(mid) / sizeof(mid[0]); m++) {
			char buf[256];
			snprintf(buf, sizeof(buf), "SELECT /*!%.*s%s*/ 1; IMPORT INTO t FROM 'x'; -- '", (int)nd, "1234567",
			         mid[m]);
			for (f = 0; f < 4; f++) {
				sql_batch b = classify_str(buf, f);
				if (!has_import(&b))
					fail_msg("no import in <%s> flags %u", buf, f);
				sql_batch_free(&b);
			}
		}
	/* the attacker's text: TiDB reads 12345, then 0x, then a string ending after \' */
	{
		const char *s = "/*!123450x'\\' 'a*/; IMPORT INTO t FROM 'x'; -- '";
		sql_batch b = classify_str(s, SQL_F_EXACT_MODES);
		bool tidb = false;
		size_t i;
		for (i = 0; i < b.n; i++)
			if (b.stmts[i].kind == SQL_IMPORT_INTO && b.stmts[i].flags == 0)
				tidb = true; /* seen by the default (TiDB) reading itself */
		assert_true(tidb);
		sql_batch_free(&b);
	}
}

/* /\*T! ids the gateway does not know are read both ways: an import only one reading sees
 * is reported and the batch is mode dependent. */
static void test_unknown_feature_both_ways(void **st)
{
	static const char *const lists[] = {"[nope]", "[nope1,nope2]", "[ttl,nope]", "[nope,clustered_index]",
	                                    "[global_index]", "[pre_split]", "[resource_group]", "[a$b]"};
	size_t i;
	unsigned f;
	(void)st;
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		char code[128], hidden[128];
		snprintf(code, sizeof(code), "/*T!%s IMPORT INTO t FROM 'x' */", lists[i]);
		snprintf(hidden, sizeof(hidden), "SELECT /*T!%s '*/ 1; IMPORT INTO t FROM 'x'; -- ' */", lists[i]);
		for (f = 0; f < 2; f++) {
			unsigned fl = f ? SQL_F_EXACT_MODES : 0;
			sql_batch b = classify_str(code, fl);
			if (!has_import(&b) || !b.mode_dependent)
				fail_msg("<%s> flags %u: import %d, mode_dependent %d", code, fl, has_import(&b), b.mode_dependent);
			sql_batch_free(&b);
			b = classify_str(hidden, fl);
			if (!has_import(&b) || !b.mode_dependent)
				fail_msg("<%s> flags %u: import %d, mode_dependent %d", hidden, fl, has_import(&b), b.mode_dependent);
			sql_batch_free(&b);
		}
	}
}

/* SQL_F_EXACT_MODES: the caller's sql_mode/charset flags are the server's; they are not
 * explored, unless a statement of the batch may change them. */
static void test_exact_modes(void **st)
{
	const char *hid = "SELECT 'a\\'; IMPORT INTO t FROM 'x'; -- '";
	sql_batch b;
	size_t i;
	(void)st;
	/* backslash escapes on (the server said so): the import is inside a string */
	b = classify_str(hid, SQL_F_EXACT_MODES);
	assert_false(has_import(&b));
	assert_false(b.mode_dependent);
	for (i = 0; i < b.n; i++)
		assert_false(b.stmts[i].flags & SQL_F_EXACT_MODES);
	sql_batch_free(&b);
	/* NO_BACKSLASH_ESCAPES on: it is a statement, and only that reading is made */
	b = classify_str(hid, SQL_F_EXACT_MODES | SQL_F_NO_BACKSLASH_ESCAPES);
	assert_true(has_import(&b));
	assert_false(b.mode_dependent);
	sql_batch_free(&b);
	/* without EXACT_MODES both readings, as before */
	b = classify_str(hid, 0);
	assert_true(has_import(&b));
	assert_true(b.mode_dependent);
	sql_batch_free(&b);
	/* GBK pairs: exact */
	b = classify_str("SELECT '\xbf\\'; IMPORT INTO t FROM 'x'; -- '", SQL_F_EXACT_MODES);
	assert_false(has_import(&b));
	sql_batch_free(&b);
	b = classify_str("SELECT '\xbf\\'; IMPORT INTO t FROM 'x'; -- '", SQL_F_EXACT_MODES | SQL_F_MB_PAIRS);
	assert_true(has_import(&b));
	assert_false(b.mode_dependent);
	sql_batch_free(&b);
	/* ANSI_QUOTES: exact */
	b = classify_str("SELECT \"a\\\"; IMPORT INTO t FROM 'x'; -- \"", SQL_F_EXACT_MODES);
	assert_false(has_import(&b));
	sql_batch_free(&b);
	b = classify_str("SELECT \"a\\\"; IMPORT INTO t FROM 'x'; -- \"", SQL_F_EXACT_MODES | SQL_F_ANSI_QUOTES);
	assert_true(has_import(&b));
	assert_false(b.mode_dependent);
	sql_batch_free(&b);
}

/* After a statement that may change sql_mode or the client charset, later statements are
 * read under every reading again (mode_dependent when they disagree). */
static void test_exact_modes_after_change(void **st)
{
	static const char *const changers[] = {
		"SET sql_mode = 'NO_BACKSLASH_ESCAPES'",
		"SET @@sql_mode := ''",
		"SET @@session.sql_mode = ''",
		"SET SESSION sql_mode = ''",
		"SET NAMES gbk",
		"SET NAMES 'gbk' COLLATE gbk_bin",
		"SET CHARACTER SET gbk",
		"SET CHARSET gbk",
		"SET character_set_client = gbk",
		"SET @@character_set_client = 'gbk'",
		"SET @@session.character_set_client = gbk",
		"SET @a = 1, `sql_mode` = ''",
		"SET @x = 'y', NAMES utf8",
		"/*!40101 SET NAMES gbk */",
		"SET SESSION_STATES 'x'",
		"EXECUTE s",
		"CALL p()",
		"SELECT 1; SET sql_mode = ''",
		"USE d; SET NAMES gbk; USE e",
	};
	static const char *const tail = "SELECT '\xbf\\'; IMPORT INTO t FROM 'x'; -- '";
	size_t i;
	(void)st;
	for (i = 0; i < sizeof(changers) / sizeof(changers[0]); i++) {
		char buf[256];
		sql_batch b;
		snprintf(buf, sizeof(buf), "%s; %s", changers[i], tail);
		b = classify_str(buf, SQL_F_EXACT_MODES);
		if (!has_import(&b) || !b.mode_dependent)
			fail_msg("<%s>: import %d mode_dependent %d", buf, has_import(&b), b.mode_dependent);
		sql_batch_free(&b);
	}
	/* statements that change nothing keep the exact reading */
	{
		static const char *const plain[] = {"USE d", "SET @a = 1", "SET autocommit = 1", "SELECT 1", "DO 1",
		                                    "SET @x = 'sql'", "SELECT 'SET NAMES gbk'"};
		for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
			char buf[256];
			sql_batch b;
			snprintf(buf, sizeof(buf), "%s; %s", plain[i], tail);
			b = classify_str(buf, SQL_F_EXACT_MODES);
			if (has_import(&b) || b.mode_dependent)
				fail_msg("<%s>: import %d mode_dependent %d", buf, has_import(&b), b.mode_dependent);
			sql_batch_free(&b);
		}
	}
	/* statements before the change stay exact: the first import is read under the
	 * server's modes only (here: one statement whose string holds "; SET NAMES ...") */
	{
		const char *s = "IMPORT INTO t FROM 'a\\'; SET NAMES gbk; IMPORT INTO u FROM 'b'";
		sql_batch b = classify_str(s, SQL_F_EXACT_MODES);
		assert_int_equal(b.n, 1);
		assert_false(b.mode_dependent);
		sql_batch_free(&b);
	}
}

/* Batches of many tiny statements: linear time (the suite's timeout bounds it). */
static void test_large_batches(void **st)
{
	static const char *const units[] = {"DO 1;", "USE x;", "SET @a=1; /* c */ USE y;", "SELECT 'a\\\\';",
	                                    "PREPARE s FROM 'SELECT 1';", "/*!40101 USE z*/;", "/*T![nope] USE w */;",
	                                    "SET NAMES gbk; USE v;"};
	size_t u;
	(void)st;
	for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		size_t ul = strlen(units[u]), target = u == 0 ? 2u << 20 : 256u << 10, n = target / ul, i;
		const char *tail = "IMPORT INTO t FROM 'x'";
		char *s = malloc(n * ul + strlen(tail) + 1);
		sql_batch b;
		char err[64];
		assert_non_null(s);
		for (i = 0; i < n; i++)
			memcpy(s + i * ul, units[u], ul);
		strcpy(s + n * ul, tail);
		assert_int_equal(sql_classify(s, strlen(s), 0, &b, err, sizeof(err)), 0);
		assert_true(b.n >= n);
		assert_true(has_import(&b));
		sql_batch_free(&b);
		assert_int_equal(sql_classify(s, strlen(s), SQL_F_EXACT_MODES, &b, err, sizeof(err)), 0);
		assert_true(has_import(&b));
		sql_batch_free(&b);
		free(s);
	}
	/* 16 MiB of tiny statements with USE, SET and comments, exact modes (a quadratic
	 * classifier takes hours here) */
	{
		const char *unit = "USE x; /* c */ SET @a = 1; -- c\n";
		size_t ul = strlen(unit), n = (16u << 20) / ul, i;
		char *s = malloc(n * ul + 32);
		sql_batch b;
		char err[64];
		assert_non_null(s);
		for (i = 0; i < n; i++)
			memcpy(s + i * ul, unit, ul);
		strcpy(s + n * ul, "IMPORT INTO t FROM 'x'");
		assert_int_equal(sql_classify(s, strlen(s), SQL_F_EXACT_MODES, &b, err, sizeof(err)), 0);
		assert_int_equal(b.n, 2 * n + 1);
		assert_int_equal(b.stmts[2 * n].kind, SQL_IMPORT_INTO);
		assert_false(b.mode_dependent);
		sql_batch_free(&b);
		free(s);
	}
}

/* Many adjacent literals in a PREPARE text: joined in linear time. */
static void test_many_adjacent_literals(void **st)
{
	size_t n = 200000, i, pl;
	const char *pre = "PREPARE s FROM 'IMPORT INTO t FROM ''x''' ";
	char *s;
	sql_batch b;
	(void)st;
	pl = strlen(pre);
	s = malloc(pl + n * 4 + 1);
	assert_non_null(s);
	memcpy(s, pre, pl);
	for (i = 0; i < n; i++)
		memcpy(s + pl + i * 4, "' ' ", 4);
	s[pl + n * 4] = 0;
	b = classify_str(s, 0);
	assert_int_equal(b.stmts[0].kind, SQL_PREPARE_TEXT);
	assert_int_equal(b.stmts[0].prepare_text_len, strlen("IMPORT INTO t FROM 'x'") + n);
	assert_int_equal(b.stmts[0].prepare_inner, SQL_IMPORT_INTO);
	sql_batch_free(&b);
	free(s);
}

/* More PREPARE statements than the old budget of 256 passes: still read, not opaque. */
static void test_many_prepares(void **st)
{
	size_t n = 2000, i, ul;
	const char *unit = "PREPARE s FROM 'SELECT 1';";
	char *s;
	sql_batch b;
	(void)st;
	ul = strlen(unit);
	s = malloc(n * ul + 64);
	assert_non_null(s);
	for (i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	strcpy(s + n * ul, "PREPARE s FROM 'IMPORT INTO t FROM ''x'''");
	b = classify_str(s, 0);
	assert_int_equal(b.n, n + 1);
	for (i = 0; i < n; i++)
		assert_int_equal(b.stmts[i].prepare_inner, SQL_OTHER);
	assert_int_equal(b.stmts[n].prepare_inner, SQL_IMPORT_INTO);
	sql_batch_free(&b);
	free(s);
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
		cmocka_unit_test(test_nesting_forms), cmocka_unit_test(test_prepare_nested_forms),
		cmocka_unit_test(test_version_digit_bypass), cmocka_unit_test(test_unknown_feature_both_ways),
		cmocka_unit_test(test_exact_modes), cmocka_unit_test(test_exact_modes_after_change),
		cmocka_unit_test(test_large_batches), cmocka_unit_test(test_many_adjacent_literals),
		cmocka_unit_test(test_many_prepares),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
