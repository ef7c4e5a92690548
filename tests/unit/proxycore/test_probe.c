/*
 * test_probe.c - the query the gateway asks the server before a decision, and the reading
 * of its answer (proxy/probe.c): well-formed answers in both EOF styles, values that only
 * HEX() keeps intact, NULLs, user variables, and every way an answer can fail to be the
 * one row asked for (each must fail, never guess).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pkt.h"
#include "proxy/probe.h"
#include "sqlparse/sqlparse.h"

static const char NONCE[] = "0123456789abcdef";
static const ig_probe_request NOREQ = {0};

/* The alias the probe gives column i (see probe.c). */
static void alias_of(char *out, size_t cap, size_t i, const char *nonce)
{
	static const char fixed[] = "dmcnurt", per_var[] = "vsl";
	if (i < 7)
		snprintf(out, cap, "ig%s_%c", nonce, fixed[i]);
	else
		snprintf(out, cap, "ig%s_%c%zu", nonce, per_var[(i - 7) % 3], (i - 7) / 3);
}

static void hex_of(const char *s, size_t n, char *out)
{
	static const char d[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[(unsigned char)s[i] >> 4];
		out[2 * i + 1] = d[(unsigned char)s[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A value as the row carries it: NULL (0xfb) or a lenenc string. */
static void put_val(ig_buf *row, const char *v, size_t n, bool hex)
{
	if (!v) {
		uint8_t null = 0xfb;
		ig_buf_append(row, &null, 1);
		return;
	}
	if (!hex) {
		my_lenenc_put(row, n);
		ig_buf_append(row, v, n);
		return;
	}
	char *h = malloc(2 * n + 1);
	hex_of(v, n, h);
	put_lenenc_str(row, h);
	free(h);
}

typedef struct answer {
	const char *db, *mode, *cs, *user;
	const char *version;   /* @@version; NULL: "8.0.11-TiDB-v8.5.0" */
	const char *tidb_info; /* TIDB_VERSION(); NULL: a server that is not TiDB */
	bool null_version;     /* answer NULL for @@version */
	const char *vals[4];
	const char *var_cs[4];
	size_t nvals;
	const char *nonce;   /* NULL: NONCE */
	uint32_t caps;
	int rows;           /* rows to send (1 normally) */
	uint16_t end_status;
} answer;

static void build(ig_buf *out, const answer *a)
{
	uint8_t seq = 1;
	ig_buf p = {0};
	size_t ncols = 7 + 3 * a->nvals;
	char name[64];
	my_lenenc_put(&p, ncols);
	put_pkt(out, seq++, p.data, p.len);
	ig_buf_reset(&p);
	for (size_t i = 0; i < ncols; i++) {
		alias_of(name, sizeof(name), i, a->nonce ? a->nonce : NONCE);
		put_coldef(out, seq++, name);
	}
	if (!(a->caps & CLIENT_DEPRECATE_EOF))
		put_eof(out, seq++, 0);
	for (int r = 0; r < a->rows; r++) {
		put_val(&p, a->db, a->db ? strlen(a->db) : 0, true);
		put_val(&p, a->mode, a->mode ? strlen(a->mode) : 0, false);
		put_val(&p, a->cs, a->cs ? strlen(a->cs) : 0, false);
		put_val(&p, a->cs, a->cs ? strlen(a->cs) : 0, false); /* connection charset */
		put_val(&p, a->user, a->user ? strlen(a->user) : 0, true);
		const char *ver = a->null_version ? NULL : a->version ? a->version : "8.0.11-TiDB-v8.5.0";
		put_val(&p, ver, ver ? strlen(ver) : 0, true);
		put_val(&p, a->tidb_info, a->tidb_info ? strlen(a->tidb_info) : 0, true);
		for (size_t i = 0; i < a->nvals; i++) {
			char len[24];
			const char *vcs = a->var_cs[i] ? a->var_cs[i] : a->vals[i] ? "utf8mb4" : "binary";
			put_val(&p, a->vals[i], a->vals[i] ? strlen(a->vals[i]) : 0, true);
			put_val(&p, vcs, strlen(vcs), false);
			snprintf(len, sizeof(len), "%zu", a->vals[i] ? strlen(a->vals[i]) : 0);
			put_val(&p, a->vals[i] ? len : NULL, strlen(len), false);
		}
		put_pkt(out, seq++, p.data, p.len);
		ig_buf_reset(&p);
	}
	if (a->caps & CLIENT_DEPRECATE_EOF)
		put_ok(out, seq++, 0xfe, 0, a->end_status, NULL);
	else
		put_eof(out, seq++, a->end_status);
}

static int parse(const ig_buf *b, const answer *a, const ig_probe_request *req, ig_session_facts *f, size_t *used)
{
	char err[256];
	return ig_probe_parse(b->data, b->len, a->caps, NONCE, req, f, used, err, sizeof(err));
}

static void test_build_text(void **st)
{
	(void)st;
	ig_buf b = {0};
	/* References are copied as written (never re-spelled), between blanks. */
	ig_probe_request req = {.nvars = 2, .names = {"s", "we`ird"}, .toks = {"@s", "@'we`ird'"}, .tok_lens = {2, 9}};
	assert_int_equal(ig_probe_build(&b, NONCE, &req), 0);
	char *t = strndup((const char *)b.data, b.len);
	assert_non_null(strstr(t, "HEX(DATABASE()) AS ig0123456789abcdef_d"));
	assert_non_null(strstr(t, "@@session.sql_mode AS ig0123456789abcdef_m"));
	assert_non_null(strstr(t, "@@session.character_set_client AS ig0123456789abcdef_c"));
	assert_non_null(strstr(t, "@@session.character_set_connection AS ig0123456789abcdef_n"));
	assert_non_null(strstr(t, "HEX(USER()) AS ig0123456789abcdef_u"));
	assert_non_null(strstr(t, "HEX(@@version) AS ig0123456789abcdef_r"));
	/* A greeting without TiDB: TIDB_VERSION() only inside a TiDB-only comment (MySQL and
	 * MariaDB would fail the whole probe on the function; TiDB runs the comment's body). */
	assert_non_null(strstr(t, ", HEX(COALESCE(/*T! TIDB_VERSION(), */ NULL)) AS ig0123456789abcdef_t"));
	assert_null(strstr(t, "HEX(TIDB_VERSION())"));
	assert_non_null(strstr(t, "HEX(LEFT( @s , 1048576)) AS ig0123456789abcdef_v0"));
	assert_non_null(strstr(t, "CHARSET( @'we`ird' ) AS ig0123456789abcdef_s1"));
	assert_non_null(strstr(t, "LENGTH( @'we`ird' ) AS ig0123456789abcdef_l1"));
	assert_non_null(strstr(t, " LIMIT 1"));       /* sql_select_limit cannot hide the row */
	free(t);
	ig_buf_reset(&b);
}

static void test_answer_both_eof_styles(void **st)
{
	(void)st;
	for (int dep = 0; dep < 2; dep++) {
		answer a = {.db = "shop", .mode = "STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES", .cs = "utf8mb4",
		            .user = "etl@10.0.0.7", .rows = 1, .caps = CLIENT_PROTOCOL_41 | (dep ? CLIENT_DEPRECATE_EOF : 0)};
		ig_buf b = {0};
		build(&b, &a);
		ig_session_facts f;
		size_t used = 0;
		assert_int_equal(parse(&b, &a, &NOREQ, &f, &used), 0);
		assert_int_equal(used, b.len);
		assert_string_equal(f.db, "shop");
		assert_string_equal(f.user, "etl");
		assert_string_equal(f.charset, "utf8mb4");
		assert_int_equal(f.lex_flags, SQL_F_NO_BACKSLASH_ESCAPES);
		assert_true(f.charset_known);
		/* Every strict prefix is "not yet": never a result from half an answer. */
		for (size_t cut = 0; cut < b.len; cut++) {
			ig_session_facts g;
			char err[256];
			assert_int_equal(ig_probe_parse(b.data, cut, a.caps, NONCE, &NOREQ, &g, &used, err, sizeof(err)), 1);
		}
		ig_session_facts_free(&f);
		ig_buf_reset(&b);
	}
}

static void test_values_hex_and_null(void **st)
{
	(void)st;
	/* A database name with a backquote and bytes that are not UTF-8; no database; a user
	 * name holding '@'. */
	answer a = {.db = "sh`o\xf6p#", .mode = "ANSI", .cs = "gbk", .user = "a@b@host", .rows = 1,
	            .caps = CLIENT_PROTOCOL_41};
	ig_buf b = {0};
	build(&b, &a);
	ig_session_facts f;
	size_t used;
	assert_int_equal(parse(&b, &a, &NOREQ, &f, &used), 0);
	assert_string_equal(f.db, "sh`o\xf6p#");
	assert_string_equal(f.user, "a@b");
	assert_int_equal(f.lex_flags, SQL_F_ANSI_QUOTES | SQL_F_MB_PAIRS);
	ig_session_facts_free(&f);
	ig_buf_reset(&b);

	answer n = {.db = NULL, .mode = "", .cs = "big5", .user = "u@h", .rows = 1, .caps = CLIENT_PROTOCOL_41};
	build(&b, &n);
	assert_int_equal(parse(&b, &n, &NOREQ, &f, &used), 0);
	assert_null(f.db);
	assert_false(f.charset_known); /* not modelled: the caller explores every reading */
	ig_session_facts_free(&f);
	ig_buf_reset(&b);
}

static void test_user_variables(void **st)
{
	(void)st;
	ig_probe_request req = {.nvars = 2, .names = {"s", "t"}, .toks = {"@s", "@t"}, .tok_lens = {2, 2}};
	answer a = {.db = "shop", .mode = "", .cs = "utf8mb4", .user = "u@h", .rows = 1, .caps = CLIENT_PROTOCOL_41,
	            .vals = {"IMPORT INTO orders FROM 's3://b/x.csv'", NULL}, .nvals = 2};
	ig_buf b = {0};
	build(&b, &a);
	ig_session_facts f;
	size_t used;
	assert_int_equal(parse(&b, &a, &req, &f, &used), 0);
	assert_string_equal(f.vars[0].charset, "utf8mb4");
	assert_false(f.vars[0].too_long);
	assert_false(f.vars[1].too_long);
	assert_int_equal(f.nvars, 2);
	assert_string_equal(f.vars[0].name, "s");
	assert_string_equal(f.vars[0].value, "IMPORT INTO orders FROM 's3://b/x.csv'");
	assert_string_equal(f.vars[1].name, "t");
	assert_null(f.vars[1].value);
	ig_session_facts copy;
	assert_int_equal(ig_session_facts_copy(&copy, &f), 0);
	assert_string_equal(copy.vars[0].value, f.vars[0].value);
	assert_string_equal(copy.db, "shop");
	ig_session_facts_free(&copy);
	ig_session_facts_free(&f);
	ig_buf_reset(&b);
}

static int expect_fail(const ig_buf *b, uint32_t caps, size_t nvars)
{
	ig_probe_request req = {.nvars = nvars, .names = {"a", "b", "c"}, .toks = {"@a", "@b", "@c"}, .tok_lens = {2, 2, 2}};
	ig_session_facts f;
	size_t used;
	char err[256];
	int rc = ig_probe_parse(b->data, b->len, caps, NONCE, &req, &f, &used, err, sizeof(err));
	if (rc == -1)
		assert_true(err[0] != '\0');
	return rc;
}

static void test_failures(void **st)
{
	(void)st;
	ig_buf b = {0};
	/* An error answer (a killed query, say). */
	my_write_err(&b, 1, 1317, "70100", "Query execution was interrupted");
	assert_int_equal(expect_fail(&b, CLIENT_PROTOCOL_41, 0), -1);
	ig_buf_reset(&b);
	/* An OK instead of a result set. */
	put_ok(&b, 1, 0x00, 0, 0, NULL);
	assert_int_equal(expect_fail(&b, CLIENT_PROTOCOL_41, 0), -1);
	ig_buf_reset(&b);
	/* No row (e.g. what sql_select_limit=0 would do without LIMIT 1). */
	answer none = {.db = "x", .mode = "", .cs = "utf8", .user = "u@h", .rows = 0, .caps = CLIENT_PROTOCOL_41};
	build(&b, &none);
	assert_int_equal(expect_fail(&b, none.caps, 0), -1);
	ig_buf_reset(&b);
	/* Two rows. */
	answer two = none;
	two.rows = 2;
	build(&b, &two);
	assert_int_equal(expect_fail(&b, two.caps, 0), -1);
	ig_buf_reset(&b);
	/* More results announced after it. */
	answer more = none;
	more.rows = 1;
	more.end_status = SERVER_MORE_RESULTS_EXISTS;
	build(&b, &more);
	assert_int_equal(expect_fail(&b, more.caps, 0), -1);
	ig_buf_reset(&b);
	/* Wrong column count: an answer for another probe. */
	answer one = none;
	one.rows = 1;
	build(&b, &one);
	assert_int_equal(expect_fail(&b, one.caps, 1), -1);
	ig_buf_reset(&b);
	/* A database value that is not hex. */
	ig_buf p = {0};
	uint8_t seq = 1;
	char name[64];
	my_lenenc_put(&p, 7);
	put_pkt(&b, seq++, p.data, p.len);
	ig_buf_reset(&p);
	for (size_t i = 0; i < 7; i++) {
		alias_of(name, sizeof(name), i, NONCE);
		put_coldef(&b, seq++, name);
	}
	put_eof(&b, seq++, 0);
	put_lenenc_str(&p, "shop");
	put_lenenc_str(&p, "");
	put_lenenc_str(&p, "utf8");
	put_lenenc_str(&p, "utf8");
	put_lenenc_str(&p, "7540");
	put_lenenc_str(&p, "38");
	put_lenenc_str(&p, "");
	put_pkt(&b, seq++, p.data, p.len);
	put_eof(&b, seq++, 0);
	assert_int_equal(expect_fail(&b, CLIENT_PROTOCOL_41, 0), -1);
	ig_buf_reset(&p);
	ig_buf_reset(&b);
	/* NULL sql_mode. */
	answer nm = one;
	nm.mode = NULL;
	build(&b, &nm);
	assert_int_equal(expect_fail(&b, nm.caps, 0), -1);
	ig_buf_reset(&b);
	/* Columns named by another nonce: the server read a text other than ours (an
	 * injection that forged a row), or an answer to another probe. */
	answer forged = one;
	forged.nonce = "ffffffffffffffff";
	build(&b, &forged);
	assert_int_equal(expect_fail(&b, forged.caps, 0), -1);
	ig_buf_reset(&b);
}

/* Which TiDB answered: @@version always, TIDB_VERSION() plainly or in a TiDB-only comment. */
static void test_server_version(void **st)
{
	(void)st;
	ig_buf b = {0};
	ig_probe_request req = {.tidb_info = true};
	assert_int_equal(ig_probe_build(&b, NONCE, &req), 0);
	char *t = strndup((const char *)b.data, b.len);
	assert_non_null(strstr(t, ", HEX(TIDB_VERSION()) AS ig0123456789abcdef_t"));
	free(t);
	ig_buf_reset(&b);

	const char *info = "Release Version: v8.5.1\nEdition: Community\nGit Commit Hash: None";
	answer a = {.db = "shop", .mode = "", .cs = "utf8mb4", .user = "u@h", .rows = 1, .caps = CLIENT_PROTOCOL_41,
	            .version = "8.0.11-TiDB-v7.5.0", .tidb_info = info};
	build(&b, &a);
	ig_session_facts f, copy;
	size_t used;
	assert_int_equal(parse(&b, &a, &req, &f, &used), 0);
	assert_string_equal(f.version, "8.0.11-TiDB-v7.5.0");
	assert_string_equal(f.tidb_info, info);
	assert_int_equal(ig_session_facts_copy(&copy, &f), 0);
	assert_string_equal(copy.version, f.version);
	assert_string_equal(copy.tidb_info, info);
	ig_session_facts_free(&copy);
	ig_session_facts_free(&f);
	/* Asked in the TiDB-only comment (the greeting does not name TiDB): a TiDB answers it. */
	assert_int_equal(parse(&b, &a, &NOREQ, &f, &used), 0);
	assert_string_equal(f.tidb_info, info);
	ig_session_facts_free(&f);
	ig_buf_reset(&b);
	answer n = a;
	n.tidb_info = NULL;
	build(&b, &n);
	/* Asked plainly but answered NULL: not TiDB's answer. In the comment: MySQL's. */
	assert_int_equal(parse(&b, &n, &req, &f, &used), -1);
	assert_int_equal(parse(&b, &n, &NOREQ, &f, &used), 0);
	assert_null(f.tidb_info);
	ig_session_facts_free(&f);
	ig_buf_reset(&b);
	/* A NULL version is no answer. */
	answer nv = n;
	nv.null_version = true;
	build(&b, &nv);
	assert_int_equal(parse(&b, &nv, &NOREQ, &f, &used), -1);
	ig_buf_reset(&b);
}

static void test_mode_and_charset(void **st)
{
	(void)st;
	assert_int_equal(ig_sql_mode_lex_flags(""), 0);
	assert_int_equal(ig_sql_mode_lex_flags("no_backslash_escapes"), SQL_F_NO_BACKSLASH_ESCAPES);
	assert_int_equal(ig_sql_mode_lex_flags("REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI"),
	                 SQL_F_ANSI_QUOTES);
	/* Names that merely contain the words do not count. */
	assert_int_equal(ig_sql_mode_lex_flags("XNO_BACKSLASH_ESCAPES,ANSI_QUOTESX"), 0);
	assert_int_equal(ig_charset_kind("UTF8MB4"), 0);
	assert_int_equal(ig_charset_kind("latin1"), 0);
	assert_int_equal(ig_charset_kind("gbk"), 1);
	assert_int_equal(ig_charset_kind("gb18030"), 1);
	assert_int_equal(ig_charset_kind("sjis"), -1);
	assert_int_equal(ig_charset_kind(NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_text),
		cmocka_unit_test(test_answer_both_eof_styles),
		cmocka_unit_test(test_values_hex_and_null),
		cmocka_unit_test(test_user_variables),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_server_version),
		cmocka_unit_test(test_mode_and_charset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
