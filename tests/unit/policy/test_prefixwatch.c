/*
 * test_prefixwatch.c - the watch request of pd/prefixwatch.c: a create_request whose key
 * is the prefix and whose range_end is the prefix with its last byte plus one (etcd's prefix
 * range), both base64, and no start_revision (the stream starts at the current revision).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "pd/prefixwatch.h"

static void body(void **state)
{
	char *b = ig_prefix_watch_body("/tidb/brie/import/");

	(void)state;
	assert_non_null(b);
	/* base64("/tidb/brie/import/") and base64("/tidb/brie/import0") */
	assert_string_equal(b, "{\"create_request\":{\"key\":\"L3RpZGIvYnJpZS9pbXBvcnQv\","
	                       "\"range_end\":\"L3RpZGIvYnJpZS9pbXBvcnQw\"}}");
	free(b);
	assert_null(ig_prefix_watch_body("")); /* no prefix: not a prefix watch */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
