/*
 * test_brieimport.c - /tidb/brie/import/<kind>/<task> registrations (br/pkg/utils/
 * register.go): the three kinds, an unknown kind, a task name with '/', keys that are not
 * registrations, and a non-empty value (reported: the stored versions write ""); a range
 * answer of the prefix (leases as the JSON gateway writes them); and the conflicts of a
 * running import with log backup tasks and changefeeds (every one is listed, since the
 * registration names no table, except finished and removed changefeeds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "policy/brieimport.h"
#include "state_helpers.h"

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

/* base64 of the keys used below */
#define K_LIGHTNING "L3RpZGIvYnJpZS9pbXBvcnQvbGlnaHRuaW5nL2xpZ2h0bmluZy0x" /* .../lightning/lightning-1 */
#define K_RESTORE "L3RpZGIvYnJpZS9pbXBvcnQvcmVzdG9yZS9yZXN0b3JlLTI=" /* .../restore/restore-2 */
#define K_OTHER "L3RpZGIvYnJpZS9pbXBvcnR4L2E=" /* /tidb/brie/importx/a */

static void range_answer(void **state)
{
	static const char answer[] =
		"{\"header\":{\"revision\":\"42\"},\"kvs\":["
		"{\"key\":\"" K_LIGHTNING "\",\"create_revision\":\"40\",\"lease\":\"7587869482213520000\"},"
		"{\"key\":\"" K_OTHER "\",\"lease\":\"5\"},"
		"{\"key\":\"" K_RESTORE "\",\"value\":\"eA==\",\"create_revision\":41}],\"count\":\"3\"}";
	ig_brie_list l = {0};
	bool more = true;
	char err[128];

	(void)state;
	assert_int_equal(ig_brie_range_parse(answer, strlen(answer), &l, &more, err, sizeof(err)), 0);
	assert_false(more);
	assert_int_equal(l.revision, 42);
	assert_int_equal(l.n, 2); /* the importx key is not a registration */
	assert_string_equal(l.v[0].key, "/tidb/brie/import/lightning/lightning-1");
	assert_int_equal(l.v[0].kind, IG_BRIE_LIGHTNING);
	assert_string_equal(l.v[0].task, "lightning-1");
	assert_true(l.v[0].lease == 7587869482213520000LL);
	assert_int_equal(l.v[0].create_revision, 40);
	assert_false(l.v[0].has_value);
	assert_int_equal(l.v[1].kind, IG_BRIE_RESTORE);
	assert_int_equal(l.v[1].lease, 0); /* no lease: BR and TiCDC skip it; the caller decides */
	assert_true(l.v[1].has_value);
	assert_int_equal(l.v[1].value_bytes, 1);
	assert_ptr_equal(ig_brie_list_find(&l, "/tidb/brie/import/restore/restore-2"), &l.v[1]);
	assert_null(ig_brie_list_find(&l, "/tidb/brie/import/restore/restore-3"));
	ig_brie_list_clear(&l);
	assert_int_equal(l.n, 0);

	/* an empty range has no kvs at all */
	{
		static const char empty[] = "{\"header\":{\"revision\":\"7\"}}";
		assert_int_equal(ig_brie_range_parse(empty, strlen(empty), &l, &more, err, sizeof(err)), 0);
	}
	assert_int_equal(l.n, 0);
	assert_int_equal(l.revision, 7);
}

static void range_answer_errors(void **state)
{
	static const char *const bad[] = {
		"", "[]", "{\"kvs\":{}}", "{\"error\":\"etcdserver: too many requests\"}",
		"{\"kvs\":[1]}", "{\"kvs\":[{\"key\":\"!!\"}]}",
		"{\"kvs\":[{\"key\":\"" K_RESTORE "\",\"lease\":\"x1\"}]}",
		"{\"kvs\":[{\"key\":\"" K_RESTORE "\",\"value\":\"*\"}]}",
	};
	ig_brie_list l = {0};
	bool more;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(ig_brie_range_parse(bad[i], strlen(bad[i]), &l, &more, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		ig_brie_list_clear(&l);
	}
}

/* "t:name/reach,... c:id/reach,..." for compact assertions */
static const char *conflicts(const ig_cluster_state *st, bool *every)
{
	static char out[512];
	ig_brie_import b;
	ig_brie_conflict c;
	size_t n = 0;

	assert_int_equal(dec("/tidb/brie/import/lightning/lightning-x", "", &b), 1);
	assert_int_equal(ig_brie_conflicts(&b, st, &c), 0);
	n += (size_t)snprintf(out + n, sizeof(out) - n, "t:");
	for (size_t i = 0; i < c.ntasks; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s/%s", i ? "," : "",
		                      st->tasks[c.tasks[i]].name, ig_brie_reach_name(c.task_reach[i]));
	n += (size_t)snprintf(out + n, sizeof(out) - n, " c:");
	for (size_t i = 0; i < c.ncfs; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s/%s", i ? "," : "",
		                      st->cfs[c.cfs[i]].id, ig_brie_reach_name(c.cf_reach[i]));
	*every = c.every;
	ig_brie_conflict_free(&c);
	ig_brie_import_clear(&b);
	return out;
}

static void conflict_lists(void **state)
{
	static const char *const star[] = {"*.*"}, *const shop[] = {"shop.*"};
	static const char *const star_but[] = {"*.*", "!scratch.*"};
	ig_cluster_state *st = ig_cluster_state_new();
	bool every = true;

	(void)state;
	assert_string_equal(conflicts(st, &every), "t: c:");
	assert_false(every);
	th_task(st, "shop_pitr", shop, 1);
	ig_cluster_state_finish(st);
	assert_string_equal(conflicts(st, &every), "t:shop_pitr/some_tables c:");
	assert_false(every); /* may cover: the registration does not say which tables */
	th_task(st, "all_pitr", star, 1);
	th_task(st, "nofilter", NULL, 0);
	th_task(st, "most", star_but, 2);
	th_cf(st, "feed", "normal", NULL, -1);           /* no rules: TiCDC's default *.* */
	th_cf(st, "shopfeed", "failed", "[\"shop.*\"]", -1); /* may be resumed */
	th_cf(st, "stopped", "stopped", "[\"*.*\"]", -1);
	th_cf(st, "done", "finished", NULL, -1);
	th_cf(st, "gone", "removed", NULL, -1);
	th_adds(st, "/tidb/cdc/default/default/changefeed/info/garbage", "{not json");
	assert_string_equal(conflicts(st, &every),
	                    "t:shop_pitr/some_tables,all_pitr/every_table,nofilter/every_table,"
	                    "most/some_tables c:feed/every_table,shopfeed/some_tables,"
	                    "stopped/every_table,garbage/every_table");
	assert_true(every);
	ig_cluster_state_free(st);

	st = ig_cluster_state_new();
	th_cf(st, "shopfeed", "normal", "[\"shop.*\"]", -1);
	assert_string_equal(conflicts(st, &every), "t: c:shopfeed/some_tables");
	assert_false(every);
	ig_cluster_state_free(st);
	{
		ig_brie_conflict c;
		assert_int_equal(ig_brie_conflicts(NULL, NULL, &c), 0);
		assert_int_equal(c.ntasks + c.ncfs, 0);
		ig_brie_conflict_free(&c);
		ig_brie_conflict_free(NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kinds),
		cmocka_unit_test(not_registrations),
		cmocka_unit_test(value_reported),
		cmocka_unit_test(range_answer),
		cmocka_unit_test(range_answer_errors),
		cmocka_unit_test(conflict_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
