/*
 * test_backupuri.c - the BACKUP TABLE target URI (proxy/backupuri.c): placeholders, and
 * database and table names with every byte that means something to a URI ('/', '?', '#',
 * '%', '&', '=', ' ', quotes, backslash, non-ASCII), encoded so that BR's url.Parse
 * reads them as one path segment each and distinct names give distinct prefixes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/backupuri.h"

#define T "s3://backup/importgate/{db}/{table}/{job_id}?region=r"

static void expect(const char *db, const char *table, const char *want)
{
	char *u = ig_backup_uri(T, db, table, "42", "obl-1", "20261204");
	assert_non_null(u);
	if (strcmp(u, want) != 0)
		fail_msg("%s.%s: got <%s>, expected <%s>", db, table, u, want);
	free(u);
}

static void test_plain_names(void **st)
{
	char *u;
	(void)st;
	expect("shop", "t", "s3://backup/importgate/shop/t/42?region=r");
	expect("Shop_1", "t-2.x~", "s3://backup/importgate/Shop_1/t-2%252Ex~/42?region=r");
	u = ig_backup_uri("s3://b/{date}/{id}/{db}{table}{x}", "d", "t", "", "obl-1", "20261204");
	assert_string_equal(u, "s3://b/20261204/obl-1/dt{x}");
	free(u);
	u = ig_backup_uri(NULL, "d", "t", NULL, NULL, NULL);
	assert_string_equal(u, "");
	free(u);
	u = ig_backup_uri("s3://b/{db}/{table}/{job_id}", NULL, NULL, NULL, NULL, NULL);
	assert_string_equal(u, "s3://b///");
	free(u);
}

static void test_hostile_names(void **st)
{
	(void)st;
	/* '?': would start the query (and add parameters); '#': the fragment */
	expect("d", "t?access-key=x&secret-access-key=y",
	       "s3://backup/importgate/d/t%253Faccess-key%253Dx%2526secret-access-key%253Dy/42?region=r");
	expect("d#frag", "t", "s3://backup/importgate/d%2523frag/t/42?region=r");
	/* '/': another level; '%': an escape */
	expect("a/b", "c", "s3://backup/importgate/a%252Fb/c/42?region=r");
	expect("a", "b/c", "s3://backup/importgate/a/b%252Fc/42?region=r");
	expect("a%2Fb", "c", "s3://backup/importgate/a%25252Fb/c/42?region=r");
	expect("d", "100%", "s3://backup/importgate/d/100%2525/42?region=r");
	/* blanks, quotes, backslash, backquote */
	expect("my db", "it's \"q\" \\ `b`",
	       "s3://backup/importgate/my%2520db/it%2527s%2520%2522q%2522%2520%255C%2520%2560b%2560/42?region=r");
	/* non-ASCII (UTF-8 bytes), a control byte */
	expect("\xe6\x95\xb0\xe6\x8d\xae", "t\x01", "s3://backup/importgate/%25E6%2595%25B0%25E6%258D%25AE/t%2501/42?region=r");
	expect("..", ".", "s3://backup/importgate/%252E%252E/%252E/42?region=r"); /* never a relative segment */
}

/* Decoding once (what Go's url.Parse does to the path) gives distinct prefixes for
 * distinct (db, table) pairs, and no '?' or '#' is left in the path. */
static void pct_decode(const char *s, char *out)
{
	while (*s) {
		unsigned v;
		if (*s == '%' && sscanf(s + 1, "%2x", &v) == 1) {
			*out++ = (char)v;
			s += 3;
		} else {
			*out++ = *s++;
		}
	}
	*out = 0;
}

static void test_one_to_one(void **st)
{
	static const char *const names[] = {"a", "a/b", "b", "b/c", "a%2Fb", "a%252Fb", "a b", "a+b", "a?b", "a#b", "c"};
	size_t n = sizeof(names) / sizeof(names[0]);
	char seen[200][256];
	size_t k = 0;
	(void)st;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			char *u = ig_backup_uri("s3://b/{db}/{table}", names[i], names[j], "", "", "");
			char dec[256];
			assert_non_null(u);
			assert_null(strchr(u + 5, '?'));
			assert_null(strchr(u, '#'));
			pct_decode(u, dec);
			for (size_t m = 0; m < k; m++)
				if (strcmp(seen[m], dec) == 0)
					fail_msg("%s.%s collides: %s", names[i], names[j], dec);
			snprintf(seen[k++], sizeof seen[0], "%s", dec);
			free(u);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_names),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_one_to_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
