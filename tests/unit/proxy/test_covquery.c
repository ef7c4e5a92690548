/*
 * test_covquery.c - the query string of GET /api/v1/coverage (proxy/covquery.c): table=
 * required and split into its two names (backquotes for names holding a dot), user= and
 * host= optional, percent-decoding, and every malformed query refused with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/covquery.h"

static void parse_ok(const char *q, const char *db, const char *tbl, const char *user, const char *host)
{
	ig_covquery c;
	char err[200] = "";

	if (ig_covquery_parse(q, strlen(q), &c, err, sizeof(err)) < 0)
		fail_msg("%s: %s", q, err);
	assert_string_equal(c.db, db);
	assert_string_equal(c.table, tbl);
	assert_string_equal(c.user, user);
	assert_string_equal(c.host, host);
	ig_covquery_free(&c);
}

static void parses(void **state)
{
	(void)state;
	parse_ok("table=shop.orders", "shop", "orders", "", "");
	parse_ok("user=etl_loader&table=shop.orders&host=10.0.0.7", "shop", "orders", "etl_loader", "10.0.0.7");
	parse_ok("table=shop.orders&&user=a+b", "shop", "orders", "a b", "");
	parse_ok("table=%60a.b%60.%60t%60%60x%60", "a.b", "t`x", "", "");   /* `a.b`.`t``x` */
	parse_ok("table=d.t&user=%E4%B8%AD", "d", "t", "\xe4\xb8\xad", "");
	parse_ok("table=d.t&user=", "d", "t", "", "");
}

static void refuses(void **state)
{
	static const struct {
		const char *q, *needle;
	} bad[] = {
		{"", "required"},
		{"user=a", "required"},
		{"table=", "DB.TABLE"},
		{"table=shop", "DB.TABLE"},
		{"table=.t", "DB.TABLE"},
		{"table=d.", "DB.TABLE"},
		{"table=%60d.t", "DB.TABLE"},
		{"table=%60%60.t", "DB.TABLE"},
		{"table=%60d%60x.t", "DB.TABLE"},
		{"table=a.b&table=a.b", "given twice"},
		{"table=a.b&colour=red", "known): colour"},
		{"table=a.b&\x01\xff=1", "known): ??"},
		{"table=d.t%2Ex", "DB.TABLE"}, /* decoded first: an encoded dot is a dot */
		{"table=a.%4", "percent-encoding"},
		{"table=a.%zz", "percent-encoding"},
		{"table=a.b%00", "percent-encoding"},
	};
	ig_covquery c;
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (ig_covquery_parse(bad[i].q, strlen(bad[i].q), &c, err, sizeof(err)) == 0)
			fail_msg("accepted: %s", bad[i].q);
		if (!strstr(err, bad[i].needle))
			fail_msg("%s: %s (wanted %s)", bad[i].q, err, bad[i].needle);
		assert_null(c.db);
		assert_null(c.user);
	}
	assert_int_equal(ig_covquery_parse(NULL, 0, &c, err, sizeof(err)), -1);
}

static void split(void **state)
{
	char *db, *t;

	(void)state;
	assert_int_equal(ig_covquery_split_table("a.b", &db, &t), 0);
	assert_string_equal(db, "a");
	assert_string_equal(t, "b");
	free(db), free(t);
	assert_int_equal(ig_covquery_split_table("a.b.c", &db, &t), -1);
	assert_null(db);
	assert_null(t);
	assert_int_equal(ig_covquery_split_table("a.`b.c`", &db, &t), 0);
	assert_string_equal(t, "b.c");
	free(db), free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses),
		cmocka_unit_test(refuses),
		cmocka_unit_test(split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
