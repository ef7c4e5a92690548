/*
 * test_lexer.c - tokenizer rules: comments, executable comments, quoting, literals,
 * variables, operators, errors and bounds.
 */
#include "helpers.h"
#include "sqlparse/lexer.h"

#define MAXT 64

typedef struct toks {
	sql_token t[MAXT];
	size_t n;
} toks;

static toks lex_all(const char *s, size_t len, unsigned flags)
{
	toks r;
	sql_lexer lx;
	memset(&r, 0, sizeof(r));
	sql_lex_init(&lx, s, len, flags);
	while (r.n < MAXT) {
		sql_tok_type ty = sql_lex_next(&lx, &r.t[r.n]);
		if (ty == SQL_TOK_EOF)
			break;
		r.n++;
		if (ty == SQL_TOK_ERROR)
			break;
	}
	return r;
}

static toks lex(const char *s, unsigned flags)
{
	return lex_all(s, strlen(s), flags);
}

static void assert_tok(const char *s, const sql_token *t, sql_tok_type ty, const char *text)
{
	assert_int_equal(t->type, ty);
	assert_int_equal(t->len, strlen(text));
	assert_memory_equal(s + t->off, text, t->len);
}

static void test_words_and_punct(void **st)
{
	const char *s = "SELECT a.b, `c``d` FROM t WHERE x<=>1 AND y:=2;";
	toks r = lex(s, 0);
	(void)st;
	assert_int_equal(r.n, 17);
	assert_tok(s, &r.t[0], SQL_TOK_IDENT, "SELECT");
	assert_true(sql_tok_is(s, &r.t[0], "SELECT"));
	assert_false(sql_tok_is(s, &r.t[0], "SELEC"));
	assert_tok(s, &r.t[2], SQL_TOK_DOT, ".");
	assert_tok(s, &r.t[4], SQL_TOK_COMMA, ",");
	assert_tok(s, &r.t[5], SQL_TOK_QIDENT, "`c``d`");
	assert_tok(s, &r.t[10], SQL_TOK_OP, "<=>");
	assert_tok(s, &r.t[14], SQL_TOK_EQ, ":=");
	assert_tok(s, &r.t[16], SQL_TOK_SEMI, ";");
	{
		char *d = sql_tok_decode(s, &r.t[5], 0, NULL);
		assert_string_equal(d, "c`d");
		free(d);
	}
}

static void test_comments(void **st)
{
	const char *s = "a -- c1\nb #c2\nc /* c3 */ d --\tx\ne --";
	toks r = lex(s, 0);
	(void)st;
	assert_int_equal(r.n, 5);
	assert_tok(s, &r.t[0], SQL_TOK_IDENT, "a");
	assert_tok(s, &r.t[1], SQL_TOK_IDENT, "b");
	assert_tok(s, &r.t[2], SQL_TOK_IDENT, "c");
	assert_tok(s, &r.t[3], SQL_TOK_IDENT, "d");
	assert_tok(s, &r.t[4], SQL_TOK_IDENT, "e");
	/* "--" not followed by a blank is two minus signs */
	r = lex("1--2", 0);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.t[1].type, SQL_TOK_OP);
	assert_int_equal(r.t[2].type, SQL_TOK_OP);
	/* TiDB: "--" needs a following blank (0x85/0xA0 count, other control bytes do not);
	 * MySQL: any byte <= ' ' */
	r = lex("1 --\xa0 x\n2 --\x01 y", 0);
	assert_int_equal(r.n, 6); /* 1 2 - - \x01 y */
	r = lex("1 --\xa0 x\n2 --\x01 y", SQL_F_NBSP_IS_WORD);
	assert_int_equal(r.n, 6); /* 1 - - \xa0 x 2, then a comment */
	/* 0xA0 / 0x85 separate tokens for TiDB, inside a word they are word bytes */
	s = "IMPORT \xa0INTO\x85t a\xa0" "b";
	r = lex(s, 0);
	assert_int_equal(r.n, 3);
	assert_tok(s, &r.t[1], SQL_TOK_IDENT, "INTO\x85t");
	assert_tok(s, &r.t[2], SQL_TOK_IDENT, "a\xa0" "b");
	r = lex(s, SQL_F_NBSP_IS_WORD);
	assert_int_equal(r.n, 3);
	assert_tok(s, &r.t[1], SQL_TOK_IDENT, "\xa0INTO\x85t");
	/* optimizer hints are comments */
	s = "SELECT /*+ HINT(x) */ 1";
	r = lex(s, 0);
	assert_int_equal(r.n, 2);
}

static void test_exec_comments(void **st)
{
	const char *s = "/*!IMPORT*/ /*!50100 INTO */ /*!800001 t */ /*T! FROM */ /*T![clustered_index,ttl] 'x' */";
	toks r = lex(s, 0);
	(void)st;
	/* TiDB skips exactly five version digits: "800001" is version 80000 then the number 1
	 * (this test used to expect six skipped: that is MySQL 8.0.34+/MariaDB, SQL_F_VERSION6) */
	assert_int_equal(r.n, 6);
	assert_tok(s, &r.t[0], SQL_TOK_IDENT, "IMPORT");
	assert_true(r.t[0].flags & SQL_TOKF_EXEC);
	assert_tok(s, &r.t[1], SQL_TOK_IDENT, "INTO");
	assert_tok(s, &r.t[2], SQL_TOK_NUMBER, "1");
	assert_tok(s, &r.t[3], SQL_TOK_IDENT, "t");
	assert_tok(s, &r.t[4], SQL_TOK_IDENT, "FROM");
	assert_tok(s, &r.t[5], SQL_TOK_STRING, "'x'");
	r = lex(s, SQL_F_VERSION6);
	assert_int_equal(r.n, 5);
	assert_tok(s, &r.t[2], SQL_TOK_IDENT, "t");
	/* as plain comments (a server that ignores them) */
	r = lex(s, SQL_F_EXEC_AS_COMMENT);
	assert_int_equal(r.n, 0);
	/* a string inside an executable comment may contain the closing marker */
	s = "/*! 'a*/b' */ c";
	r = lex(s, 0);
	assert_int_equal(r.n, 2);
	assert_tok(s, &r.t[0], SQL_TOK_STRING, "'a*/b'");
	assert_tok(s, &r.t[1], SQL_TOK_IDENT, "c");
	/* TiDB: a /\*T! comment naming a feature TiDB does not know is a plain comment, a
	 * malformed feature list is no list (code), lower-case t is not TiDB's marker, and
	 * /\*M! is MariaDB's (a comment to TiDB) */
	s = "/*T![nope] a */ /*T![clustered_index,nope] b */ /*T![bad list] c */ /*t! d */ /*M! e */ /*M!100100 f */";
	r = lex(s, 0);
	assert_int_equal(r.n, 5); /* [ bad list ] c */
	assert_tok(s, &r.t[0], SQL_TOK_OP, "[");
	assert_tok(s, &r.t[3], SQL_TOK_OP, "]");
	assert_tok(s, &r.t[4], SQL_TOK_IDENT, "c");
	r = lex(s, SQL_F_MARIADB_EXEC); /* five digits of 100100 skipped: "0 f" */
	assert_int_equal(r.n, 8);
	assert_tok(s, &r.t[5], SQL_TOK_IDENT, "e");
	assert_tok(s, &r.t[6], SQL_TOK_NUMBER, "0");
	assert_tok(s, &r.t[7], SQL_TOK_IDENT, "f");
	r = lex(s, SQL_F_MARIADB_EXEC | SQL_F_VERSION6);
	assert_int_equal(r.n, 7);
	assert_tok(s, &r.t[6], SQL_TOK_IDENT, "f");
	/* features only some supported TiDB versions know (resource_group is declared in
	 * features.go but not in its map: unknown to TiDB, code only for an unknown build) */
	s = "/*T![global_index] g */ /*T![pre_split,ttl] h */ /*T![resource_group,ttl] i */";
	r = lex(s, 0);
	assert_int_equal(r.n, 2);
	r = lex(s, SQL_F_TIDB_FEATURES_OFF);
	assert_int_equal(r.n, 0);
	r = lex(s, SQL_F_TIDB_FEATURES_ON);
	assert_int_equal(r.n, 3);
	assert_tok(s, &r.t[2], SQL_TOK_IDENT, "i");
	/* starting inside an executable comment */
	s = "IMPORT INTO t*/ FROM 'x'";
	r = lex(s, SQL_F_IN_EXEC_COMMENT);
	assert_int_equal(r.n, 5);
	assert_tok(s, &r.t[3], SQL_TOK_IDENT, "FROM");
	/* outside one, "*" then "/" are operators */
	r = lex("2*/3", 0);
	assert_int_equal(r.n, 4);
}

static void test_strings(void **st)
{
	const char *s = "'it''s' \"a\\\"b\" 'x\\'y' _utf8mb4'u' N'n' _binary 'b'";
	toks r = lex(s, 0);
	char *d;
	(void)st;
	assert_int_equal(r.n, 6);
	d = sql_tok_decode(s, &r.t[0], 0, NULL);
	assert_string_equal(d, "it's");
	free(d);
	assert_true(r.t[1].flags & SQL_TOKF_DQ);
	d = sql_tok_decode(s, &r.t[1], 0, NULL);
	assert_string_equal(d, "a\"b");
	free(d);
	d = sql_tok_decode(s, &r.t[2], 0, NULL);
	assert_string_equal(d, "x'y");
	free(d);
	assert_int_equal(r.t[3].type, SQL_TOK_STRING);
	assert_true(r.t[3].flags & SQL_TOKF_PREFIX);
	d = sql_tok_decode(s, &r.t[3], 0, NULL);
	assert_string_equal(d, "u");
	free(d);
	assert_tok(s, &r.t[4], SQL_TOK_STRING, "N'n'");
	assert_tok(s, &r.t[5], SQL_TOK_STRING, "_binary 'b'");
	/* escapes */
	s = "'\\n\\t\\0\\Z\\\\\\%\\_\\q'";
	r = lex(s, 0);
	d = sql_tok_decode(s, &r.t[0], 0, NULL);
	assert_memory_equal(d, "\n\t\0\032\\\\%\\_q", 11);
	free(d);
}

static void test_no_backslash_escapes(void **st)
{
	const char *s = "'a\\' b '";
	toks r = lex(s, 0);
	char *d;
	(void)st;
	assert_int_equal(r.n, 1); /* one string: a' b */
	r = lex(s, SQL_F_NO_BACKSLASH_ESCAPES);
	assert_int_equal(r.n, 3); /* 'a\'  b  ' (unterminated) */
	assert_tok(s, &r.t[0], SQL_TOK_STRING, "'a\\'");
	d = sql_tok_decode(s, &r.t[0], SQL_F_NO_BACKSLASH_ESCAPES, NULL);
	assert_string_equal(d, "a\\");
	free(d);
	assert_int_equal(r.t[2].type, SQL_TOK_ERROR);
}

static void test_ansi_quotes(void **st)
{
	const char *s = "\"a\"\"b\\\" x";
	toks r = lex(s, SQL_F_ANSI_QUOTES);
	char *d;
	(void)st;
	assert_int_equal(r.n, 2);
	assert_int_equal(r.t[0].type, SQL_TOK_QIDENT); /* no backslash escapes in identifiers */
	d = sql_tok_decode(s, &r.t[0], SQL_F_ANSI_QUOTES, NULL);
	assert_string_equal(d, "a\"b\\");
	free(d);
	r = lex(s, 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.t[0].type, SQL_TOK_ERROR); /* "a""b\" x  is unterminated */
}

static void test_literals_and_vars(void **st)
{
	const char *s = "X'4142' 0x41 b'01' 0b1 12 3.5e-2 1abc @v @'q v' @`b` @@session.sql_mode ? 0xg";
	toks r = lex(s, 0);
	char *d;
	(void)st;
	assert_int_equal(r.n, 13);
	assert_int_equal(r.t[0].type, SQL_TOK_HEX);
	assert_int_equal(r.t[1].type, SQL_TOK_HEX);
	assert_int_equal(r.t[2].type, SQL_TOK_BIT);
	assert_int_equal(r.t[3].type, SQL_TOK_BIT);
	assert_tok(s, &r.t[4], SQL_TOK_NUMBER, "12");
	assert_tok(s, &r.t[5], SQL_TOK_NUMBER, "3.5e-2");
	assert_tok(s, &r.t[6], SQL_TOK_IDENT, "1abc");
	assert_tok(s, &r.t[7], SQL_TOK_VAR, "@v");
	d = sql_tok_decode(s, &r.t[8], 0, NULL);
	assert_string_equal(d, "q v");
	free(d);
	d = sql_tok_decode(s, &r.t[9], 0, NULL);
	assert_string_equal(d, "b");
	free(d);
	assert_tok(s, &r.t[10], SQL_TOK_SYSVAR, "@@session.sql_mode");
	assert_int_equal(r.t[11].type, SQL_TOK_PARAM);
	assert_tok(s, &r.t[12], SQL_TOK_IDENT, "0xg");
}

static void test_unicode_identifiers(void **st)
{
	const char *s = "数据库.表 ünï";
	toks r = lex(s, 0);
	(void)st;
	assert_int_equal(r.n, 4);
	assert_tok(s, &r.t[0], SQL_TOK_IDENT, "数据库");
	assert_tok(s, &r.t[2], SQL_TOK_IDENT, "表");
	assert_tok(s, &r.t[3], SQL_TOK_IDENT, "ünï");
}

static void test_unterminated(void **st)
{
	static const char *const bad[] = {"'abc", "\"abc", "`abc", "/* abc", "X'41", "@'x", "'a\\'"};
	size_t i;
	(void)st;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		toks r = lex(bad[i], 0);
		assert_true(r.n >= 1);
		assert_int_equal(r.t[r.n - 1].type, SQL_TOK_ERROR);
	}
}

/* The lexer never reads past len: lex a prefix of a buffer whose rest would change the
 * result, and lex every prefix of a tricky text under ASan. */
static void test_bounds(void **st)
{
	const char *s = "'abc' rest";
	const char *tricky = "/*!50100 'a\\'b' `c``d` X'41' @@x.y -- z\n#w\n/*T![f] 1 */ _utf8'q' ;";
	size_t n, k;
	toks r = lex_all(s, 3, 0);
	(void)st;
	assert_int_equal(r.n, 1);
	assert_int_equal(r.t[0].type, SQL_TOK_ERROR);
	for (n = 0; n <= strlen(tricky); n++)
		for (k = 0; k < 32; k++) {
			char *copy = malloc(n ? n : 1);
			assert_non_null(copy);
			memcpy(copy, tricky, n);
			r = lex_all(copy, n, (unsigned)k);
			for (size_t i = 0; i < r.n; i++)
				assert_true(r.t[i].off + r.t[i].len <= n);
			free(copy);
		}
}

static void test_mb_pairs(void **st)
{
	/* GBK: 0xBF 0x5C is one character, so the backslash does not escape the quote */
	const char *s = "'\xbf\\' x";
	toks r = lex(s, SQL_F_MB_PAIRS);
	(void)st;
	assert_int_equal(r.n, 2);
	assert_tok(s, &r.t[0], SQL_TOK_STRING, "'\xbf\\'");
	r = lex(s, 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.t[0].type, SQL_TOK_ERROR);
}

/* TiDB's scanVersionDigits(5, 5): five digits are skipped when five follow "/\*!", none
 * otherwise; SQL_F_VERSION6: six when six follow, else five, else none. For 0..7 digits,
 * followed by a word, a hex literal start, a bit literal start, a quote. */
static void test_version_digits(void **st)
{
	static const char *const tails[] = {"x", " y", "0x'41'", "0b'1'", "'q'", "x'41'"};
	size_t nd, k;
	(void)st;
	for (nd = 0; nd <= 7; nd++)
		for (k = 0; k < sizeof(tails) / sizeof(tails[0]); k++) {
			char buf[64];
			const char *digits = "1234567";
			size_t d = 0, skip_tidb, skip6;
			unsigned f;
			snprintf(buf, sizeof(buf), "/*!%.*s%s */", (int)nd, digits, tails[k]);
			while (buf[3 + d] >= '0' && buf[3 + d] <= '9')
				d++; /* "0x.." tails extend the digit run */
			skip_tidb = d >= 5 ? 5 : 0;
			skip6 = d >= 6 ? 6 : skip_tidb;
			for (f = 0; f < 2; f++) {
				size_t skip = f ? skip6 : skip_tidb;
				toks r = lex(buf, f ? SQL_F_VERSION6 : 0);
				size_t want = 3 + skip;
				while (buf[want] == ' ')
					want++;
				if (r.n < 1 || r.t[0].off != want)
					fail_msg("<%s> flags %u: first token at %zu, expected %zu", buf, f, r.n ? r.t[0].off : 0, want);
			}
		}
}

/* The attacker's case: "/\*!123450x'" - TiDB reads 0x (a word) then a string that hides
 * what follows; skipping six digits would read x'..' (a hex literal) instead. */
static void test_version_digits_hex_bypass(void **st)
{
	const char *s = "/*!123450x'\\' IMPORT INTO t FROM 'x' -- ' */";
	toks r = lex(s, 0);
	(void)st;
	assert_tok(s, &r.t[0], SQL_TOK_IDENT, "0x");
	assert_int_equal(r.t[1].type, SQL_TOK_STRING);
	r = lex(s, SQL_F_VERSION6);
	assert_int_equal(r.t[0].type, SQL_TOK_HEX);
	/* /\*M! (MariaDB) follows the same digit rule */
	s = "/*M!1000001 a */";
	r = lex(s, SQL_F_MARIADB_EXEC);
	assert_tok(s, &r.t[0], SQL_TOK_NUMBER, "01");
	r = lex(s, SQL_F_MARIADB_EXEC | SQL_F_VERSION6);
	assert_tok(s, &r.t[0], SQL_TOK_NUMBER, "1");
	r = lex(s, 0);
	assert_int_equal(r.n, 0);
}

/* /\*T! feature lists: all ids must be known; malformed lists are no list (code). */
static void test_feature_lists(void **st)
{
	static const struct {
		const char *s;
		size_t n0, n_off, n_on; /* tokens: default, FEATURES_OFF, FEATURES_ON */
	} cases[] = {
		{"/*T![ttl] a */", 1, 1, 1},
		{"/*T![nope] a */", 0, 0, 1},
		{"/*T![nope,other] a */", 0, 0, 1},
		{"/*T![ttl,nope] a */", 0, 0, 1},
		{"/*T![nope,ttl] a */", 0, 0, 1},
		{"/*T![global_index,ttl] a */", 1, 0, 1},
		{"/*T![TTL] a */", 0, 0, 1},          /* case-sensitive */
		{"/*T![ttl, nope] a */", 6, 6, 6},     /* blank: malformed, "[ ttl , nope ] a" is code */
		{"/*T![] a */", 3, 3, 3},              /* empty list: malformed */
		{"/*T![ttl,] a */", 5, 5, 5},          /* [ ttl , ] a */
		{"/*T![ttl a */", 3, 3, 3},            /* unterminated list: [ttl a */
		{"/*T!ttl a */", 2, 2, 2},             /* no '[' */
		{"/*T![$x\xc3\xa9] a */", 0, 0, 1},  /* identifier bytes, unknown id */
	};
	size_t i;
	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		toks r0 = lex(cases[i].s, 0), r1 = lex(cases[i].s, SQL_F_TIDB_FEATURES_OFF),
		     r2 = lex(cases[i].s, SQL_F_TIDB_FEATURES_ON);
		if (r0.n != cases[i].n0 || r1.n != cases[i].n_off || r2.n != cases[i].n_on)
			fail_msg("<%s>: %zu/%zu/%zu tokens, expected %zu/%zu/%zu", cases[i].s, r0.n, r1.n, r2.n, cases[i].n0,
			         cases[i].n_off, cases[i].n_on);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_words_and_punct),  cmocka_unit_test(test_comments),
		cmocka_unit_test(test_exec_comments),    cmocka_unit_test(test_strings),
		cmocka_unit_test(test_no_backslash_escapes), cmocka_unit_test(test_ansi_quotes),
		cmocka_unit_test(test_literals_and_vars), cmocka_unit_test(test_unicode_identifiers),
		cmocka_unit_test(test_unterminated),     cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_mb_pairs),         cmocka_unit_test(test_version_digits),
		cmocka_unit_test(test_version_digits_hex_bypass), cmocka_unit_test(test_feature_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
