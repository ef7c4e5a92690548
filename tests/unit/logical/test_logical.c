/*
 * test_logical.c - unit tests of the logical-import rewrite (sqlparse/logical.c): every
 * option mapping and default, every refusal, the quoting of odd values in both backslash
 * modes, column lists and SET kept byte for byte, and a round trip through the project's
 * classifier and lexer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlparse/lexer.h"
#include "sqlparse/logical.h"
#include "sqlparse/sqlparse.h"

#define LT " LINES TERMINATED BY '\\n'"
#define DEFAULTS                                                                                                \
	" CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' ENCLOSED BY '\"' ESCAPED BY X'5C' DEFINED NULL BY "    \
	"X'5C4E' OPTIONALLY ENCLOSED"

/* Rewrite sql (parsed under flags); returns rc, *out (caller frees) or err. */
static int rw(const char *sql, unsigned flags, char **out, char *err, size_t errlen)
{
	sql_import imp;
	size_t n;
	int rc;
	*out = NULL;
	rc = sql_import_parse(sql, strlen(sql), flags, &imp, err, errlen);
	if (rc < 0)
		fail_msg("parse failed for <%s>: %s", sql, err);
	rc = sql_import_to_load_data(sql, strlen(sql), &imp, out, &n, err, errlen);
	if (rc == 0)
		assert_int_equal(n, strlen(*out));
	else
		assert_null(*out);
	sql_import_free(&imp);
	return rc;
}

static void expect_out(const char *sql, unsigned flags, const char *want)
{
	char *out, err[512];
	if (rw(sql, flags, &out, err, sizeof(err)) != 0)
		fail_msg("refused <%s>: %s", sql, err);
	if (strcmp(out, want) != 0)
		fail_msg("for <%s>\n got <%s>\nwant <%s>", sql, out, want);
	free(out);
}

static void expect_refused(const char *sql, unsigned flags, const char *why)
{
	char *out, err[512];
	if (rw(sql, flags, &out, err, sizeof(err)) == 0) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "accepted <%s> as <%s>", sql, out);
		free(out);
		fail_msg("%s", msg);
	}
	if (!strstr(err, why))
		fail_msg("refusal of <%s> is <%s>, expected it to mention <%s>", sql, err, why);
	assert_non_null(strstr(err, "no logical import"));
}

static void test_defaults_written_out(void **state)
{
	(void)state;
	expect_out("IMPORT INTO t FROM 's3://b/x.csv' WITH LINES_TERMINATED_BY='\\n'", 0,
	           "LOAD DATA INFILE 's3://b/x.csv' INTO TABLE t" DEFAULTS LT);
	/* FORMAT 'csv' (any case) and a trailing ';' change nothing */
	expect_out("import into `db`.`t` from 's3://b/x.csv' format 'CSV' with lines_terminated_by='\\n';", 0,
	           "LOAD DATA INFILE 's3://b/x.csv' INTO TABLE `db`.`t`" DEFAULTS LT);
}

static void test_option_mappings(void **state)
{
	static const struct {
		const char *with, *want;
	} cases[] = {
		{"CHARACTER_SET='gbk', LINES_TERMINATED_BY='\\n'",
		 " CHARACTER SET gbk FIELDS TERMINATED BY ',' ENCLOSED BY '\"' ESCAPED BY X'5C' DEFINED NULL BY X'5C4E' "
		 "OPTIONALLY ENCLOSED" LT},
		{"FIELDS_TERMINATED_BY='|', LINES_TERMINATED_BY='\\n'",
		 " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '|' ENCLOSED BY '\"' ESCAPED BY X'5C' DEFINED NULL BY "
		 "X'5C4E' OPTIONALLY ENCLOSED" LT},
		{"FIELDS_ENCLOSED_BY='''', LINES_TERMINATED_BY='\\n'",
		 " CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' ENCLOSED BY '''' ESCAPED BY X'5C' DEFINED NULL BY "
		 "X'5C4E' OPTIONALLY ENCLOSED" LT},
		/* no enclosure: no OPTIONALLY ENCLOSED (TiDB refuses it without an enclosure) */
		{"FIELDS_ENCLOSED_BY='', LINES_TERMINATED_BY='\\n'",
		 " CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' ENCLOSED BY '' ESCAPED BY X'5C' DEFINED NULL BY "
		 "X'5C4E'" LT},
		{"FIELDS_ESCAPED_BY='', FIELDS_DEFINED_NULL_BY='NIL', LINES_TERMINATED_BY='\\r\\n'",
		 " CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' ENCLOSED BY '\"' ESCAPED BY '' DEFINED NULL BY 'NIL' "
		 "OPTIONALLY ENCLOSED LINES TERMINATED BY '\\r\\n'"},
		{"FIELDS_ESCAPED_BY='|', FIELDS_DEFINED_NULL_BY='|N', LINES_TERMINATED_BY='\\n'",
		 " CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' ENCLOSED BY '\"' ESCAPED BY '|' DEFINED NULL BY '|N' "
		 "OPTIONALLY ENCLOSED" LT},
		{"FIELDS_DEFINED_NULL_BY=X'5C4E', LINES_TERMINATED_BY='\\n'",
		 " CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' ENCLOSED BY '\"' ESCAPED BY X'5C' DEFINED NULL BY "
		 "X'5C4E' OPTIONALLY ENCLOSED" LT},
		{"SKIP_ROWS=1, LINES_TERMINATED_BY='\\n'", DEFAULTS LT " IGNORE 1 LINES"},
		{"SKIP_ROWS=+12, LINES_TERMINATED_BY='\\n'", DEFAULTS LT " IGNORE 12 LINES"},
		{"SKIP_ROWS=0, LINES_TERMINATED_BY='\\n'", DEFAULTS LT},
		{"LINES_TERMINATED_BY=X'0D0A'", DEFAULTS " LINES TERMINATED BY X'0D0A'"},
		{"LINES_TERMINATED_BY=0x0a, FIELDS_TERMINATED_BY=b'1001'",
		 " CHARACTER SET utf8mb4 FIELDS TERMINATED BY b'1001' ENCLOSED BY '\"' ESCAPED BY X'5C' DEFINED NULL BY "
		 "X'5C4E' OPTIONALLY ENCLOSED LINES TERMINATED BY 0x0a"},
	};
	size_t i;
	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char sql[512], want[1024];
		snprintf(sql, sizeof(sql), "IMPORT INTO t FROM 's3://b/x.csv' WITH %s", cases[i].with);
		snprintf(want, sizeof(want), "LOAD DATA INFILE 's3://b/x.csv' INTO TABLE t%s", cases[i].want);
		expect_out(sql, 0, want);
	}
}

/* Options meaningless for a transactional load are dropped: the output is the one without. */
static void test_dropped_options(void **state)
{
	static const char *const opts[] = {
		"DISABLE_TIKV_IMPORT_MODE", "DISABLE_PRECHECK", "CHECKSUM_TABLE='off'",
		"CHECKSUM_TABLE='Required'", "CHECKSUM_TABLE='optional'",
	};
	size_t i;
	(void)state;
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char sql[256];
		snprintf(sql, sizeof(sql), "IMPORT INTO t FROM 's3://b/x.csv' WITH %s, LINES_TERMINATED_BY='\\n'", opts[i]);
		expect_out(sql, 0, "LOAD DATA INFILE 's3://b/x.csv' INTO TABLE t" DEFAULTS LT);
	}
}

static void test_refusals(void **state)
{
	static const struct {
		const char *sql, *why;
	} cases[] = {
		{"IMPORT INTO t FROM 's3://b/x.parquet' FORMAT 'parquet'", "FORMAT 'parquet'"},
		{"IMPORT INTO t FROM 's3://b/x.sql' FORMAT 'sql'", "FORMAT 'sql'"},
		{"IMPORT INTO t FROM SELECT * FROM s", "FROM SELECT"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH THREAD=4, LINES_TERMINATED_BY='\\n'", "THREAD"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH DISK_QUOTA='10GiB', LINES_TERMINATED_BY='\\n'", "DISK_QUOTA"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH MAX_WRITE_SPEED='1MiB', LINES_TERMINATED_BY='\\n'", "MAX_WRITE_SPEED"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH SPLIT_FILE, LINES_TERMINATED_BY='\\n'", "SPLIT_FILE"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH CLOUD_STORAGE_URI='s3://sort/x', LINES_TERMINATED_BY='\\n'",
		 "CLOUD_STORAGE_URI"},
		{"EXPLAIN IMPORT INTO t FROM 's3://b/x.csv' WITH LINES_TERMINATED_BY='\\n'", "EXPLAIN"},
		{"TRACE IMPORT INTO t FROM 's3://b/x.csv' WITH LINES_TERMINATED_BY='\\n'", "EXPLAIN"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH DETACHED, LINES_TERMINATED_BY='\\n'", "DETACHED"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH RECORD_ERRORS=10, LINES_TERMINATED_BY='\\n'", "RECORD_ERRORS"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH GROUP_KEY='g', LINES_TERMINATED_BY='\\n'", "GROUP_KEY"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH __MAX_ENGINE_SIZE='1G', LINES_TERMINATED_BY='\\n'",
		 "__MAX_ENGINE_SIZE"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH CHECKSUM_TABLE='maybe', LINES_TERMINATED_BY='\\n'",
		 "CHECKSUM_TABLE"},
		{"IMPORT INTO t FROM 's3://b/x.csv'", "LINES_TERMINATED_BY is not set"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH FIELDS_DEFINED_NULL_BY='NIL', LINES_TERMINATED_BY='\\n'",
		 "FIELDS_DEFINED_NULL_BY"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH FIELDS_ESCAPED_BY='|', LINES_TERMINATED_BY='\\n'",
		 "FIELDS_DEFINED_NULL_BY"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH FIELDS_DEFINED_NULL_BY='', LINES_TERMINATED_BY='\\n'",
		 "FIELDS_DEFINED_NULL_BY"},
		{"IMPORT INTO t FROM 's3://b/x[0-9].csv' WITH LINES_TERMINATED_BY='\\n'", "'['"},
		{"IMPORT INTO t FROM 's3://b/x.parquet' WITH LINES_TERMINATED_BY='\\n'", "sql or parquet"},
		{"IMPORT INTO t FROM 's3://b/x.sql.gz' WITH LINES_TERMINATED_BY='\\n'", "sql or parquet"},
		/* '\\N' is \N with backslash escapes but \\N without: the second reading differs */
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH FIELDS_DEFINED_NULL_BY='\\\\N', LINES_TERMINATED_BY='\\n'",
		 "FIELDS_DEFINED_NULL_BY"},
		{"IMPORT INTO t FROM 's3://b/data*' WITH LINES_TERMINATED_BY='\\n'", "add FORMAT 'csv'"},
		{"IMPORT INTO t FROM 's3://b/data*.gz' WITH LINES_TERMINATED_BY='\\n'", "add FORMAT 'csv'"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH THREAD=1, THREAD=2, LINES_TERMINATED_BY='\\n'", "8165"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH FIELDS_ENCLOSED_BY='ab', LINES_TERMINATED_BY='\\n'", "8164"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH CHARACTER_SET='utf8 mb4', LINES_TERMINATED_BY='\\n'",
		 "CHARACTER_SET"},
		{"IMPORT INTO t (a, /* c */ b) FROM 's3://b/x.csv' WITH LINES_TERMINATED_BY='\\n'", "comment"},
		{"IMPORT INTO t SET a = 'x\\'y' FROM 's3://b/x.csv' WITH LINES_TERMINATED_BY='\\n'", "sql_mode"},
		{"IMPORT INTO t FROM 's3://b/x.csv' WITH FIELDS_TERMINATED_BY='\\t' '|', LINES_TERMINATED_BY='\\n'",
		 "NO_BACKSLASH_ESCAPES"},
		{"IMPORT INTO t FROM \"s3://b/a\\\\b.csv\" WITH LINES_TERMINATED_BY='\\n'", "backslash"},
	};
	size_t i;
	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_refused(cases[i].sql, 0, cases[i].why);
}

/* Decode the literal that follows `after` in out, under lexing flags. */
static char *literal_after(const char *out, const char *after, unsigned flags, size_t *n)
{
	const char *p = strstr(out, after);
	sql_lexer lx;
	sql_token t;
	char *v;
	size_t i;
	assert_non_null(p);
	sql_lex_init(&lx, out, strlen(out), flags);
	lx.pos = (size_t)(p - out) + strlen(after);
	sql_lex_next(&lx, &t);
	if (t.type == SQL_TOK_STRING)
		return sql_tok_decode(out, &t, flags, n);
	assert_int_equal(t.type, SQL_TOK_HEX);
	assert_true(out[t.off] == 'X');
	*n = (t.len - 3) / 2;
	v = malloc(*n + 1);
	assert_non_null(v);
	for (i = 0; i < *n; i++) {
		unsigned x;
		assert_int_equal(sscanf(out + t.off + 2 + 2 * i, "%2x", &x), 1);
		v[i] = (char)x;
	}
	v[*n] = 0;
	return v;
}

/* The emitted literal means want_bytes under BOTH backslash modes. */
static void expect_literal(const char *sql, unsigned pflags, const char *after, const char *want, size_t wantlen)
{
	char *out, err[512];
	unsigned m;
	if (rw(sql, pflags, &out, err, sizeof(err)) != 0)
		fail_msg("refused <%s>: %s", sql, err);
	for (m = 0; m < 2; m++) {
		size_t n;
		char *v = literal_after(out, after, m ? SQL_F_NO_BACKSLASH_ESCAPES : 0, &n);
		if (n != wantlen || memcmp(v, want, n) != 0)
			fail_msg("<%s> in <%s> reads %zu bytes <%s> (mode %u)", after, out, n, v, m);
		free(v);
	}
	free(out);
}

static void test_quoting_odd_values(void **state)
{
	(void)state;
	/* written as two literals: re-quoted, as hex when not plain */
	expect_literal("IMPORT INTO t FROM 's3://b/x.csv' WITH FIELDS_TERMINATED_BY='a' '''', LINES_TERMINATED_BY=X'0A'",
	             0, "FIELDS TERMINATED BY ", "a'", 2);
	expect_literal("IMPORT INTO t FROM 's3://b/x.csv' WITH FIELDS_TERMINATED_BY='x' '\t', LINES_TERMINATED_BY=X'0A'",
	             0, "FIELDS TERMINATED BY ", "x\t", 2);
	expect_literal("IMPORT INTO t FROM 's3://b/x.csv' WITH LINES_TERMINATED_BY='\r' '\n'", 0, "LINES TERMINATED BY ",
	             "\r\n", 2);
	expect_literal("IMPORT INTO t FROM 's3://b/x.csv' WITH LINES_TERMINATED_BY='a' 'b'", 0, "LINES TERMINATED BY ",
	             "ab", 2);
	/* defaults with a backslash: hex, same in both modes */
	expect_literal("IMPORT INTO t FROM 's3://b/x.csv' WITH LINES_TERMINATED_BY=X'0A'", 0, "ESCAPED BY ", "\\", 1);
	expect_literal("IMPORT INTO t FROM 's3://b/x.csv' WITH LINES_TERMINATED_BY=X'0A'", 0, "DEFINED NULL BY ", "\\N",
	             2);
	/* a value parsed under NO_BACKSLASH_ESCAPES that the other mode cannot read: hex */
	expect_literal("IMPORT INTO t FROM 's3://b/x.csv' WITH FIELDS_ESCAPED_BY='\\', LINES_TERMINATED_BY=X'0A'",
	             SQL_F_NO_BACKSLASH_ESCAPES, "ESCAPED BY ", "\\", 1);
	/* a location with a quote: doubled when re-quoted */
	expect_literal("IMPORT INTO t FROM \"s3://b/it's.csv\" WITH LINES_TERMINATED_BY=X'0A'", 0, "INFILE ",
	             "s3://b/it's.csv", 15);
}

/* A single literal is copied as written: the server reads it as it read the IMPORT INTO. */
static void test_literal_copied_verbatim(void **state)
{
	char *out, err[512];
	(void)state;
	assert_int_equal(rw("IMPORT INTO t FROM 's3://b/x.csv' WITH FIELDS_TERMINATED_BY='\\t', "
	                    "FIELDS_ESCAPED_BY='\\\\', LINES_TERMINATED_BY='\\r\\n'",
	                    0, &out, err, sizeof(err)),
	                 0);
	assert_non_null(strstr(out, " FIELDS TERMINATED BY '\\t' "));
	assert_non_null(strstr(out, " ESCAPED BY '\\\\' "));
	assert_non_null(strstr(out, " LINES TERMINATED BY '\\r\\n'"));
	free(out);
}

static void test_columns_and_set_verbatim(void **state)
{
	const char *cols = "(a, @v2 ,`c``x`,  @`w w`)";
	const char *set = "b = UPPER(@v2), d=CONCAT('x', \"y\",(1+2)),e = DEFAULT";
	char sql[512], *out, err[512], want[1024];
	(void)state;
	snprintf(sql, sizeof(sql), "IMPORT INTO db.t %s SET %s FROM 's3://b/x.csv' WITH SKIP_ROWS=1, LINES_TERMINATED_BY='\\n'",
	         cols, set);
	assert_int_equal(rw(sql, 0, &out, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "LOAD DATA INFILE 's3://b/x.csv' INTO TABLE db.t" DEFAULTS LT " IGNORE 1 LINES %s SET %s",
	         cols, set);
	assert_string_equal(out, want);
	free(out);
	/* an empty column list means every column in both statements */
	expect_out("IMPORT INTO t () FROM 's3://b/x.csv' WITH LINES_TERMINATED_BY='\\n'", 0,
	           "LOAD DATA INFILE 's3://b/x.csv' INTO TABLE t" DEFAULTS LT " ()");
}

/* Round trip: the output is one LOAD DATA statement in every reading, naming the same table,
 * columns and location. */
static void test_round_trip(void **state)
{
	const char *sql = "IMPORT INTO `my db`.`t``1` (x, @y, `z z`) SET w = @y * 2 FROM 's3://bkt/dir/f*.csv?region=x' "
	                  "WITH LINES_TERMINATED_BY='\\n', FIELDS_TERMINATED_BY='\\t'";
	sql_import in, back;
	char *out, err[512];
	size_t n, i;
	unsigned m;
	(void)state;
	assert_int_equal(sql_import_parse(sql, strlen(sql), 0, &in, err, sizeof(err)), 0);
	assert_int_equal(sql_import_to_load_data(sql, strlen(sql), &in, &out, &n, err, sizeof(err)), 0);
	for (m = 0; m < 4; m++) {
		unsigned fl = (m & 1 ? SQL_F_NO_BACKSLASH_ESCAPES : 0) | (m & 2 ? SQL_F_ANSI_QUOTES : 0);
		sql_batch b;
		assert_int_equal(sql_classify(out, n, fl, &b, err, sizeof(err)), 0);
		for (i = 0; i < b.n; i++)
			assert_int_equal(b.stmts[i].kind, SQL_LOAD_DATA);
		assert_true(b.n >= 1);
		sql_batch_free(&b);
	}
	/* the same pieces, read back with the IMPORT INTO parser on an equivalent statement
	 * assembled from the LOAD DATA's parts */
	{
		const char *loc = strstr(out, "INFILE ") + 7, *tbl = strstr(out, "INTO TABLE ") + 11;
		const char *tend = strstr(tbl, " CHARACTER SET"), *cols = strstr(out, " (") + 1;
		const char *lend = strstr(loc, " INTO TABLE");
		char re[1024];
		snprintf(re, sizeof(re), "IMPORT INTO %.*s %s FROM %.*s", (int)(tend - tbl), tbl, cols, (int)(lend - loc), loc);
		/* "cols" runs to the end: "(x, @y, `z z`) SET w = @y * 2" */
		assert_int_equal(sql_import_parse(re, strlen(re), 0, &back, err, sizeof(err)), 0);
		assert_string_equal(back.db, in.db);
		assert_string_equal(back.table, in.table);
		assert_string_equal(back.location, in.location);
		assert_int_equal(back.ncols, in.ncols);
		for (i = 0; i < in.ncols; i++) {
			assert_string_equal(back.cols[i].name, in.cols[i].name);
			assert_int_equal(back.cols[i].is_var, in.cols[i].is_var);
		}
		assert_int_equal(back.set_span.len, in.set_span.len);
		assert_memory_equal(re + back.set_span.off, sql + in.set_span.off, in.set_span.len);
		sql_import_free(&back);
	}
	free(out);
	sql_import_free(&in);
}

/* Every prefix and every one-byte corruption of a rich statement: whatever parses is either
 * refused with a message or becomes text the classifier reads as one LOAD DATA only. */
static void check_any(const char *sql, size_t len)
{
	sql_import imp;
	char *out, err[512];
	size_t n, i;
	sql_batch b;
	if (sql_import_parse(sql, len, 0, &imp, err, sizeof(err)) < 0)
		return;
	err[0] = 0;
	if (sql_import_to_load_data(sql, len, &imp, &out, &n, err, sizeof(err)) == 0) {
		assert_int_equal(sql_classify(out, n, 0, &b, err, sizeof(err)), 0);
		for (i = 0; i < b.n; i++)
			if (b.stmts[i].kind != SQL_LOAD_DATA)
				fail_msg("<%.*s> became <%s>", (int)len, sql, out);
		assert_true(b.n >= 1);
		sql_batch_free(&b);
		free(out);
	} else {
		assert_non_null(strstr(err, "no logical import"));
	}
	sql_import_free(&imp);
}

static void test_prefixes_and_corruptions(void **state)
{
	const char *sql = "IMPORT INTO `d`.t (a, @b) SET c = CONCAT(@b, 'x''y') FROM 's3://b/p*.csv' FORMAT 'csv' "
	                  "WITH FIELDS_TERMINATED_BY='|', FIELDS_ENCLOSED_BY='''', SKIP_ROWS=2, "
	                  "LINES_TERMINATED_BY='\\r\\n', CHECKSUM_TABLE='off'";
	static const char subst[] = "'\"`\\;,()@*/-# ";
	size_t len = strlen(sql), i, k;
	char *buf = malloc(len + 1);
	(void)state;
	assert_non_null(buf);
	for (i = 0; i <= len; i++)
		check_any(sql, i);
	for (i = 0; i < len; i++)
		for (k = 0; k < sizeof(subst) - 1; k++) {
			memcpy(buf, sql, len + 1);
			buf[i] = subst[k];
			check_any(buf, len);
		}
	free(buf);
}

static void test_bad_arguments(void **state)
{
	const char *sql = "IMPORT INTO t FROM 's3://b/x.csv' WITH LINES_TERMINATED_BY='\\n'";
	sql_import imp;
	char *out = (char *)1, err[256];
	size_t n;
	(void)state;
	assert_int_equal(sql_import_parse(sql, strlen(sql), 0, &imp, err, sizeof(err)), 0);
	/* a parse of a longer text than the one given */
	assert_int_equal(sql_import_to_load_data(sql, 10, &imp, &out, &n, err, sizeof(err)), -1);
	assert_null(out);
	assert_non_null(strstr(err, "does not belong"));
	sql_import_free(&imp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_written_out),    cmocka_unit_test(test_option_mappings),
		cmocka_unit_test(test_dropped_options),         cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_quoting_odd_values),      cmocka_unit_test(test_literal_copied_verbatim),
		cmocka_unit_test(test_columns_and_set_verbatim), cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_arguments),           cmocka_unit_test(test_prefixes_and_corruptions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
