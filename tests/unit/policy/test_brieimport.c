/*
 * test_brieimport.c - /tidb/brie/import/<kind>/<task> registrations (br/pkg/utils/
 * register.go): the three kinds, an unknown kind, a task name with '/', keys that are not
 * registrations, and a non-empty value (reported: the stored versions write "").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "policy/brieimport.h"

static int dec(const char *key, const char *val, ig_brie_import *b)
{
	char err[128];

	memset(b, 0, sizeof(*b));
	return ig_brie_import_decode(key, strlen(key), (const unsigned char *)val, strlen(val), b,
	                             err, sizeof(err));
}

static void kinds(void **state)
{
	static const struct {
		const char *key;
		ig_brie_kind kind;
		const char *kind_text, *task;
	} cases[] = {
		{"/tidb/brie/import/restore/restore-4f1c", IG_BRIE_RESTORE, "restore", "restore-4f1c"},
		{"/tidb/brie/import/lightning/lightning-task", IG_BRIE_LIGHTNING, "lightning", "lightning-task"},
		{"/tidb/brie/import/import-into/30001", IG_BRIE_IMPORT_INTO, "import-into", "30001"},
		{"/tidb/brie/import/default/x", IG_BRIE_OTHER, "default", "x"},
		{"/tidb/brie/import/restore/a/b", IG_BRIE_RESTORE, "restore", "a/b"},
		{"/tidb/brie/import/restore", IG_BRIE_RESTORE, "restore", ""},
		{"/tidb/brie/import/Restore/x", IG_BRIE_OTHER, "Restore", "x"},
	};
	ig_brie_import b;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(dec(cases[i].key, "", &b), 1);
		assert_int_equal(b.kind, cases[i].kind);
		assert_string_equal(b.kind_text, cases[i].kind_text);
		assert_string_equal(b.task, cases[i].task);
		assert_false(b.has_value);
		ig_brie_import_clear(&b);
	}
	assert_string_equal(ig_brie_kind_name(IG_BRIE_IMPORT_INTO), "import-into");
	assert_string_equal(ig_brie_kind_name(IG_BRIE_OTHER), "other");
}

static void not_registrations(void **state)
{
	static const char *const keys[] = {
		"/tidb/brie/import", "/tidb/brie/importx/restore/a", "/tidb/br-stream/info/t",
		"/tidb/cdc/default/default/changefeed/info/c", "", "/tidb/brie/",
	};
	ig_brie_import b;
	char err[64];

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_int_equal(dec(keys[i], "", &b), 0);
		assert_null(b.task);
	}
	assert_int_equal(ig_brie_import_decode(NULL, 0, NULL, 0, &b, err, sizeof(err)), 0);
}

static void value_reported(void **state)
{
	ig_brie_import b;

	(void)state;
	assert_int_equal(dec("/tidb/brie/import/lightning/t1", "{\"tables\":[]}", &b), 1);
	assert_true(b.has_value);
	ig_brie_import_clear(&b);
	ig_brie_import_clear(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kinds),
		cmocka_unit_test(not_registrations),
		cmocka_unit_test(value_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
