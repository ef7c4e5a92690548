/*
 * test_tablefilter.c - TiDB table-filter semantics: the cases of pingcap/tidb
 * pkg/util/table-filter/table_filter_test.go (TestMatchTables, TestParseFailures2), the
 * README examples, and importgate's own edges (@file refused, RE2-only regex syntax,
 * Unicode case folding, DFA matching).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "policy/tablefilter.h"

typedef struct tcase {
	const char *db, *tbl;
	int cs, ci; /* expected match, case-sensitive and -insensitive */
} tcase;

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void check(const char *const *rules, size_t n, const tcase *cases, size_t nc)
{
	char err[256] = "";
	ig_tablefilter *fcs = ig_tablefilter_parse(rules, n, true, err, sizeof(err));
	ig_tablefilter *fci;

	if (!fcs)
		fail_msg("parse failed: %s", err);
	fci = ig_tablefilter_parse(rules, n, false, err, sizeof(err));
	assert_non_null(fci);
	for (size_t i = 0; i < nc; i++) {
		int cs = ig_tablefilter_match_ex(fcs, cases[i].db, cases[i].tbl);
		int ci = ig_tablefilter_match_ex(fci, cases[i].db, cases[i].tbl);
		if (cs != cases[i].cs || ci != cases[i].ci)
			fail_msg("rules[0]=\"%s\" table %s.%s: cs %d (want %d), ci %d (want %d)",
			         n ? rules[0] : "", cases[i].db, cases[i].tbl, cs, cases[i].cs, ci, cases[i].ci);
	}
	ig_tablefilter_free(fcs);
	ig_tablefilter_free(fci);
}

static void tidb_basic(void **state)
{
	(void)state;
	{
		static const tcase c[] = {{"foo", "bar", 0, 0}};
		check(NULL, 0, c, N(c));
	}
	{
		static const char *r[] = {"*.*"};
		static const tcase c[] = {{"foo", "bar", 1, 1}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"foo.*"};
		static const tcase c[] = {{"foo", "bar", 1, 1}, {"foo1", "bar", 0, 0}, {"foo2", "bar", 0, 0}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"*.*", "!foo1.*"};
		static const tcase c[] = {{"foo", "bar", 1, 1}, {"foo1", "bar", 0, 0}, {"foo2", "bar", 1, 1}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"foo.bar1"};
		static const tcase c[] = {{"foo", "bar", 0, 0}, {"foo", "bar1", 1, 1}, {"fff", "bar1", 0, 0}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"*.*", "!foo.bar"};
		static const tcase c[] = {{"foo", "bar", 0, 0}, {"foo", "bar1", 1, 1}, {"fff", "bar1", 1, 1}};
		check(r, N(r), c, N(c));
	}
}

static void tidb_regex_and_wildcards(void **state)
{
	(void)state;
	{
		static const char *r[] = {"/^foo/.*", "!/^foo/./^sbtest-\\d/"};
		static const tcase c[] = {{"foo", "sbtest", 1, 1}, {"foo1", "sbtest-1", 0, 0}, {"fff", "bar", 0, 0}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"*.*", "!foo[bar].*", "!bar?.*", "!special\\\\.*"};
		static const tcase c[] = {
			{"foor", "a", 0, 0},      {"foo[bar]", "b", 1, 1}, {"ba", "c", 1, 1},
			{"bar?", "d", 0, 0},      {"special\\", "e", 0, 0}, {"special\\\\", "f", 1, 1},
			{"bazzz", "g", 1, 1},     {"special\\$", "h", 1, 1}, {"afooa", "i", 1, 1},
		};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"*.*", "!/^FOO/.*", "!*./FoO$/"};
		static const tcase c[] = {{"FOO1", "a", 0, 0}, {"foo2", "b", 1, 0}, {"BoO3", "cFoO", 0, 0},
		                          {"Foo4", "dfoo", 1, 0}, {"5", "5", 1, 1}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"*.*", "!a?b?./f[0-9]/"};
		static const tcase c[] = {{"abbd", "f1", 0, 0}, {"aaaa", "f2", 1, 1}, {"5", "5", 1, 1}, {"abbc", "fa", 1, 1}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"*.*", "!/t[0-8]/.a??"};
		static const tcase c[] = {{"t1", "a01", 0, 0}, {"t9", "a02", 1, 1}, {"5", "5", 1, 1}, {"t8", "a001", 1, 1}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"*.*", "!a*.A*"};
		static const tcase c[] = {{"aB", "Ab", 0, 0}, {"AaB", "aab", 1, 0}, {"acB", "Afb", 0, 0}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"BAR.*"};
		static const tcase c[] = {{"bar", "a", 0, 1}, {"BAR", "a", 1, 1}};
		check(r, N(r), c, N(c));
	}
}

static void tidb_literals_and_classes(void **state)
{
	(void)state;
	{
		static const char *r[] = {"# comment", "x.y", "   \t"};
		static const tcase c[] = {{"x", "y", 1, 1}, {"y", "y", 0, 0}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"p_123$.45", "中文.表名"};
		static const tcase c[] = {{"p_123", "45", 0, 0}, {"p_123$", "45", 1, 1}, {"英文", "表名", 0, 0},
		                          {"中文", "表名", 1, 1}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"\\\\\\..*"};
		static const tcase c[] = {{"\\.", "a", 1, 1}, {"\\\\\\.", "b", 0, 0}, {"\\a", "c", 0, 0}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"[!a-z].[^a-z]"};
		static const tcase c[] = {{"!", "z", 1, 1}, {"!", "^", 1, 1}, {"!", "9", 0, 0},
		                          {"a", "z", 0, 0}, {"a", "^", 0, 0}, {"a", "9", 0, 0},
		                          {"1", "z", 1, 1}, {"1", "^", 1, 1}, {"1", "9", 0, 0}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"\"some \"\"quoted\"\"\".`identifiers?`"};
		static const tcase c[] = {{"some \"quoted\"", "identifiers?", 1, 1},
		                          {"some \"quoted\"", "identifiers!", 0, 0},
		                          {"some \"\"quoted\"\"", "identifiers?", 0, 0},
		                          {"SOME \"QUOTED\"", "IDENTIFIERS?", 0, 1},
		                          {"some\t\"quoted\"", "identifiers?", 0, 0}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"db*.*", "!*.cfg*", "*.cfgsample"};
		static const tcase c[] = {{"irrelevant", "table", 0, 0}, {"db1", "tbl1", 1, 1},
		                          {"db1", "cfg1", 0, 0}, {"db1", "cfgsample", 1, 1},
		                          {"else", "cfgsample", 1, 1}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"*.*", "!S.D[!a-d]"};
		static const tcase c[] = {{"S", "D1", 0, 0}, {"S", "Da", 1, 1}, {"S", "Db", 1, 1}, {"S", "Daa", 1, 1}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"*.*", "!S.D[a-d]"};
		static const tcase c[] = {{"S", "D1", 1, 1}, {"S", "Da", 0, 0}, {"S", "Db", 0, 0}, {"S", "Daa", 1, 1}};
		check(r, N(r), c, N(c));
	}
}

/* The table-filter README (docs.pingcap.com/tidb/stable/table-filter) examples. */
static void readme_examples(void **state)
{
	(void)state;
	{
		static const char *r[] = {"employees.*", "*.WorkOrder"};
		static const tcase c[] = {{"employees", "x", 1, 1}, {"erp", "WorkOrder", 1, 1},
		                          {"erp", "workorder", 0, 1}, {"hr", "x", 0, 0}};
		check(r, N(r), c, N(c));
	}
	{
		/* "exclusion": keep everything except the accounting db but its Financial table */
		static const char *r[] = {"*.*", "!accounting.*", "accounting.Financial"};
		static const tcase c[] = {{"hr", "x", 1, 1}, {"accounting", "x", 0, 0},
		                          {"accounting", "Financial", 1, 1}};
		check(r, N(r), c, N(c));
	}
	{
		static const char *r[] = {"db.tbl?", "/^db\\d+$/.*"};
		static const tcase c[] = {{"db", "tbl1", 1, 1}, {"db", "tbl12", 0, 0}, {"db42", "x", 1, 1},
		                          {"db42a", "x", 0, 0}};
		check(r, N(r), c, N(c));
	}
}

static void expect_error(const char *rule, const char *needle)
{
	char err[256] = "";
	const char *r[] = {rule};
	ig_tablefilter *f = ig_tablefilter_parse(r, 1, false, err, sizeof(err));

	if (f)
		fail_msg("\"%s\" parsed, expected an error with \"%s\"", rule, needle);
	if (!strstr(err, needle))
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", rule, err, needle);
	if (!strstr(err, "rule 1"))
		fail_msg("\"%s\": error \"%s\" does not name the rule", rule, err);
}

static void tidb_parse_failures(void **state)
{
	(void)state;
	expect_error("/^t[0-9]+((?!_copy).)*$/.*", "invalid pattern");
	expect_error("/^t[0-9]+sp(?=copy).*/.*", "invalid pattern");
	expect_error("a.b.c", "stray characters after table pattern");
	expect_error("a%b.c", "unexpected special character '%'");
	expect_error("a\\tb.c", "cannot escape a letter or number (\\t)");
	expect_error("[].*", "failed to parse character class");
	expect_error("[!].*", "invalid pattern");
	expect_error("[.*", "failed to parse character class");
	expect_error("[\\d\\D].*", "failed to parse character class");
	expect_error("db", "wrong table pattern");
	expect_error("db.", "missing pattern");
	expect_error("`db`*.*", "missing '.' between schema and table patterns");
	expect_error("/db.*", "incomplete regexp");
	expect_error("`db.*", "incomplete quoted identifier");
	expect_error("\"db.*", "incomplete quoted identifier");
	expect_error("db\\", "cannot place \\ at end of line");
	expect_error("db.tbl#not comment", "unexpected special character '#'");
}

static void importgate_edges(void **state)
{
	(void)state;
	expect_error("@/etc/filters.txt", "(@file) is not supported");
	expect_error("/(a)\\1/.*", "backreferences are not supported");
	expect_error("/(?>a)/.*", "not supported");
	expect_error("/(*LIMIT_MATCH=1)a/.*", "not supported");
	expect_error("//.*", "incomplete regexp");
	expect_error("\"\".t", "incomplete quoted identifier");
	expect_error("/[/.t", "invalid pattern");
	expect_error("! a.b", "unexpected special character ' '");
	expect_error("a.b\x01", "unexpected special character '\\x01'");
	{
		/* an escaped slash in a regex; an unanchored search; ".t" = schema "" (as TiDB) */
		static const char *r[] = {"/a\\/b/.*", "/foo/.x", ".t"};
		static const tcase c[] = {{"xa/by", "q", 1, 1}, {"afoob", "x", 1, 1}, {"afoob", "y", 0, 0},
		                          {"", "t", 1, 1}, {"a", "t", 0, 0}};
		check(r, N(r), c, N(c));
	}
	{
		/* Unicode case folding in literals and wildcards; a lone \ before a multibyte char */
		static const char *r[] = {"ÄBC.*", "Ö*.x", "\\é.y"};
		static const tcase c[] = {{"äbc", "t", 0, 1}, {"ÄBC", "t", 1, 1}, {"öl", "x", 0, 1},
		                          {"é", "y", 1, 1}, {"É", "y", 0, 1}};
		check(r, N(r), c, N(c));
	}
	{
		/* a literal that is not valid UTF-8 still matches itself, ASCII-folded */
		static const char *r[] = {"`A\xff`.t"};
		static const tcase c[] = {{"A\xff", "t", 1, 1}, {"a\xff", "t", 0, 1}, {"A\xfe", "t", 0, 0}};
		check(r, N(r), c, N(c));
	}
	{
		/* wildcard: `?` is one character (not one byte); `*` crosses newlines as (?s) */
		static const char *r[] = {"?.a*b"};
		static const tcase c[] = {{"表", "a\nb", 1, 1}, {"ab", "ab", 0, 0}};
		check(r, N(r), c, N(c));
	}
	{
		/* blank and comment lines make no rules; NULL entries are blank */
		const char *r[] = {"", "# only a comment", NULL};
		ig_tablefilter *f = ig_tablefilter_parse(r, 3, false, NULL, 0);
		assert_non_null(f);
		assert_int_equal(ig_tablefilter_nrules(f), 0);
		assert_false(ig_tablefilter_match(f, "a", "b"));
		ig_tablefilter_free(f);
	}
	assert_int_equal(ig_tablefilter_match_ex(NULL, "a", "b"), 0);
}

/* Regexes run on pcre2's DFA matcher: no backtracking blow-up (a catastrophic pattern for a
 * backtracking engine answers at once, as RE2 would); what cannot be evaluated (DFA
 * workspace, a name that is not UTF-8) is -1, and match() counts it as a match. */
static void dfa_matching(void **state)
{
	static const char *r1[] = {"/^(a|aa)+$/.*"}, *r2[] = {"/^((a?){100}){10}$/.*"}, *r3[] = {"/^x/.*"};
	char name[80];
	ig_tablefilter *f;

	(void)state;
	memset(name, 'a', 60);
	strcpy(name + 60, "b");
	f = ig_tablefilter_parse(r1, 1, true, NULL, 0);
	assert_non_null(f);
	assert_int_equal(ig_tablefilter_match_ex(f, name, "t"), 0);
	assert_int_equal(ig_tablefilter_match_ex(f, "aaaa", "t"), 1);
	ig_tablefilter_free(f);
	f = ig_tablefilter_parse(r2, 1, true, NULL, 0);
	assert_non_null(f);
	assert_int_equal(ig_tablefilter_match_ex(f, name, "t"), -1);
	assert_true(ig_tablefilter_match(f, name, "t"));
	ig_tablefilter_free(f);
	f = ig_tablefilter_parse(r3, 1, true, NULL, 0);
	assert_non_null(f);
	assert_int_equal(ig_tablefilter_match_ex(f, "x\xff", "t"), -1);
	assert_true(ig_tablefilter_match(f, "x\xff", "t"));
	assert_int_equal(ig_tablefilter_match_ex(f, "xy", "t"), 1);
	assert_int_equal(ig_tablefilter_match_ex(f, "yx", "t"), 0);
	ig_tablefilter_free(f);
	expect_error("/(a)(?(1)b|c)/.*", "conditional");
}

/* Which rule decided, by its index among the rules as given (comments and blank lines
 * count): the last match, positive or negated; SIZE_MAX when none matched. */
static void decide_rule_index(void **state)
{
	static const char *const r[] = {"# scratch is excluded", "shop.*", "", "!shop.scratch", "/^x/.t"};
	ig_tablefilter *f = ig_tablefilter_parse(r, 5, false, NULL, 0);
	size_t i = 0;

	(void)state;
	assert_non_null(f);
	assert_int_equal(ig_tablefilter_decide(f, "shop", "orders", &i), 1);
	assert_int_equal(i, 1);
	assert_int_equal(ig_tablefilter_decide(f, "SHOP", "Scratch", &i), 0);
	assert_int_equal(i, 3);
	assert_int_equal(ig_tablefilter_decide(f, "xa", "t", &i), 1);
	assert_int_equal(i, 4);
	assert_int_equal(ig_tablefilter_decide(f, "other", "t", &i), 0);
	assert_true(i == SIZE_MAX);
	assert_int_equal(ig_tablefilter_decide(f, "shop", "orders", NULL), 1);
	assert_int_equal(ig_tablefilter_decide(NULL, "shop", "orders", &i), 0);
	assert_true(i == SIZE_MAX);
	ig_tablefilter_free(f);
}

/* A case-sensitive filter (TiCDC case-sensitive: true) compares the names as TiDB stores
 * them, which a statement may spell in another case: a negated rule excludes only when it
 * excludes every spelling (attack23). */
static void decide_any_case(void **state)
{
	static const char *const r[] = {"*.*", "!db.T", "!*.tmp_*", "!123.*", "!x.*", "/^keep$/.T"};
	ig_tablefilter *ci = ig_tablefilter_parse(r, 6, false, NULL, 0);
	ig_tablefilter *cs = ig_tablefilter_parse(r, 6, true, NULL, 0);
	size_t i = 0;

	(void)state;
	assert_non_null(ci);
	assert_non_null(cs);
	/* db.T read as written is excluded; created as db.t it is replicated: covered */
	assert_int_equal(ig_tablefilter_decide(cs, "db", "T", &i), 0);
	assert_int_equal(ig_tablefilter_decide_any_case(ci, "db", "T", &i), 1);
	assert_int_equal(i, 0);
	assert_int_equal(ig_tablefilter_decide_any_case(ci, "DB", "t", &i), 1);
	/* a table pattern with letters: Tmp_1 may be stored so, which !*.tmp_* does not exclude */
	assert_int_equal(ig_tablefilter_decide_any_case(ci, "shop", "tmp_1", &i), 1);
	/* no letter to vary in the schema, and `*` for the table: excluded whatever the spelling */
	assert_int_equal(ig_tablefilter_decide_any_case(ci, "123", "Orders", &i), 0);
	assert_int_equal(i, 3);
	/* the schema has a letter: X.t is not excluded by !x.* */
	assert_int_equal(ig_tablefilter_decide_any_case(ci, "x", "t", &i), 1);
	/* a positive rule that some spelling matches covers */
	assert_int_equal(ig_tablefilter_decide_any_case(ci, "KEEP", "t", &i), 1);
	assert_int_equal(i, 5);
	/* only a case-insensitive build reads spellings */
	assert_int_equal(ig_tablefilter_decide_any_case(cs, "db", "t", &i), -1);
	assert_int_equal(ig_tablefilter_decide_any_case(NULL, "db", "t", &i), 0);
	ig_tablefilter_free(ci);
	ig_tablefilter_free(cs);
	{
		static const char *const neg[] = {"db.*", "!db.*", "!*.*"};
		ig_tablefilter *f = ig_tablefilter_parse(neg, 2, false, NULL, 0);
		assert_non_null(f);
		/* !db.* excludes only the spelling db: DB.t may be stored so, and db.* matches it */
		assert_int_equal(ig_tablefilter_decide_any_case(f, "db", "t", &i), 1);
		assert_int_equal(i, 0);
		ig_tablefilter_free(f);
		f = ig_tablefilter_parse(neg, 3, false, NULL, 0);
		assert_non_null(f);
		assert_int_equal(ig_tablefilter_decide_any_case(f, "db", "t", &i), 0);
		assert_int_equal(i, 2);
		ig_tablefilter_free(f);
	}
}

/* TiDB lowers a literal pattern with Go's strings.ToLower, which maps U+0130 to 'i':
 * `İnventory.*` matches inventory.t case-insensitively (attack23). Wildcards and /regex/
 * are matched with (?i) instead, whose folding has no U+0130 -> i: not lowered. */
static void go_lowered_literal(void **state)
{
	static const char *const lit[] = {"\xc4\xb0nventory.*"}, *const q[] = {"`\xc4\xb0nv`.t"};
	static const char *const kelvin[] = {"\xe2\x84\xaa" "eep.t"};
	ig_tablefilter *f = ig_tablefilter_parse(lit, 1, false, NULL, 0);
	ig_tablefilter *g = ig_tablefilter_parse(q, 1, false, NULL, 0);
	ig_tablefilter *k = ig_tablefilter_parse(kelvin, 1, false, NULL, 0);
	ig_tablefilter *cs = ig_tablefilter_parse(lit, 1, true, NULL, 0);

	(void)state;
	assert_non_null(f);
	assert_non_null(g);
	assert_non_null(k);
	assert_non_null(cs);
	assert_int_equal(ig_tablefilter_match_ex(f, "inventory", "t"), 1);
	assert_int_equal(ig_tablefilter_match_ex(f, "INVENTORY", "t"), 1);
	assert_int_equal(ig_tablefilter_decide_any_case(f, "inventory", "t", NULL), 1);
	assert_int_equal(ig_tablefilter_match_ex(g, "inv", "T"), 1);
	assert_int_equal(ig_tablefilter_match_ex(k, "keep", "t"), 1);
	/* case-sensitive: compared as stored */
	assert_int_equal(ig_tablefilter_match_ex(cs, "inventory", "t"), 0);
	assert_int_equal(ig_tablefilter_match_ex(cs, "\xc4\xb0nventory", "t"), 1);
	ig_tablefilter_free(f);
	ig_tablefilter_free(g);
	ig_tablefilter_free(k);
	ig_tablefilter_free(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tidb_basic),
		cmocka_unit_test(tidb_regex_and_wildcards),
		cmocka_unit_test(tidb_literals_and_classes),
		cmocka_unit_test(readme_examples),
		cmocka_unit_test(tidb_parse_failures),
		cmocka_unit_test(importgate_edges),
		cmocka_unit_test(dfa_matching),
		cmocka_unit_test(decide_rule_index),
		cmocka_unit_test(decide_any_case),
		cmocka_unit_test(go_lowered_literal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
