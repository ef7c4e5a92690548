/*
 * test_pdlines.c - pd/pdstream.c's cutting of a watch stream into lines: a line split over
 * any number of pieces comes out whole, several lines in one piece come out in order, the
 * tail waits for its newline, a line longer than the limit and a callback's -1 end the
 * stream, and a fresh buffer starts clean.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd/pdstream.h"

typedef struct seen {
	char all[4096]; /* the lines seen, each followed by '|' */
	int calls, fail_at;
} seen;

static int on_line(void *ud, const char *p, size_t n)
{
	seen *s = ud;
	size_t at = strlen(s->all);

	if (++s->calls == s->fail_at)
		return -1;
	assert_true(at + n + 2 < sizeof(s->all));
	memcpy(s->all + at, p, n);
	s->all[at + n] = '|';
	s->all[at + n + 1] = '\0';
	return 0;
}

static int feed(ig_pd_lines *l, const char *p, size_t max, seen *s, const char **why)
{
	return ig_pd_lines_feed(l, p, strlen(p), max, on_line, s, why);
}

/* The same stream cut at every possible pair of points gives the same lines. */
static void any_cut(void **state)
{
	const char *stream = "{\"a\":1}\n\n{\"b\":22}\n{\"c\":333}\ntail";
	size_t n = strlen(stream);
	const char *why;

	(void)state;
	for (size_t i = 0; i <= n; i++)
		for (size_t j = i; j <= n; j++) {
			ig_pd_lines l = {0};
			seen s = {.fail_at = 0};
			assert_int_equal(ig_pd_lines_feed(&l, stream, i, 1024, on_line, &s, &why), 0);
			assert_int_equal(ig_pd_lines_feed(&l, stream + i, j - i, 1024, on_line, &s, &why), 0);
			assert_int_equal(ig_pd_lines_feed(&l, stream + j, n - j, 1024, on_line, &s, &why), 0);
			assert_string_equal(s.all, "{\"a\":1}||{\"b\":22}|{\"c\":333}|");
			assert_int_equal(l.len, 4); /* "tail" waits for its newline */
			assert_memory_equal(l.buf, "tail", 4);
			ig_pd_lines_free(&l);
		}
}

/* A line that grows past the limit over several pieces ends the stream with a reason. */
static void too_long(void **state)
{
	ig_pd_lines l = {0};
	seen s = {.fail_at = 0};
	const char *why = "unset";

	(void)state;
	assert_int_equal(feed(&l, "0123456789", 16, &s, &why), 0);
	assert_null(why);
	assert_int_equal(feed(&l, "abcdef", 16, &s, &why), 0); /* exactly the limit */
	assert_int_equal(feed(&l, "g", 16, &s, &why), -1);
	assert_non_null(why);
	assert_string_equal(why, "watch response too large");
	assert_int_equal(s.calls, 0);
	ig_pd_lines_free(&l);
	assert_null(l.buf);
	assert_int_equal(l.len, 0);
}

/* The callback's -1 stops at that line; no reason of the cutter's own. */
static void callback_ends(void **state)
{
	ig_pd_lines l = {0};
	seen s = {.fail_at = 2};
	const char *why = "unset";

	(void)state;
	assert_int_equal(feed(&l, "one\ntwo\nthree\n", 64, &s, &why), -1);
	assert_null(why);
	assert_string_equal(s.all, "one|");
	assert_int_equal(s.calls, 2);
	ig_pd_lines_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(any_cut),
		cmocka_unit_test(too_long),
		cmocka_unit_test(callback_ends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
