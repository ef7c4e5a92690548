/*
 * test_ltnguard.c - guarded Lightning runs' guard records (policy/ltnguard.h): the record's
 * round trip, the judgement of a registration (guarded only when a guard names its key,
 * create_revision and lease; pending while an unbound guard that started before it may still
 * bind it; unguarded otherwise, a copied name included), and the binder's pick (one new
 * candidate, none, or ambiguous).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "policy/ltnguard.h"

#define KEY_A "/tidb/brie/import/lightning/lightning-aaaa"
#define KEY_B "/tidb/brie/import/lightning/lightning-bbbb"

static ig_brie_import reg(const char *key, int64_t create_rev, int64_t lease)
{
	ig_brie_import b = {.kind = IG_BRIE_LIGHTNING, .kind_text = "lightning", .task = strrchr(key, '/') + 1,
	                    .key = (char *)key, .lease = lease, .create_revision = create_rev};
	return b;
}

static void record_roundtrip(void **s)
{
	ig_ltn_guard g = {.run = "0123456789abcdef0123456789abcdef", .replica = "lightning-run:h:1", .task = "/t.toml",
	                  .started_ms = 5, .after_rev = 100, .reg_key = KEY_A, .reg_create_rev = 120, .reg_lease = 77};
	ig_ltn_guard d;
	char err[128], *j;
	(void)s;
	assert_non_null(j = ig_ltn_guard_encode(&g));
	assert_int_equal(ig_ltn_guard_decode(j, strlen(j), &d, err, sizeof(err)), 0);
	assert_string_equal(d.run, g.run);
	assert_string_equal(d.reg_key, KEY_A);
	assert_int_equal(d.after_rev, 100);
	assert_int_equal(d.reg_create_rev, 120);
	assert_int_equal(d.reg_lease, 77);
	assert_false(d.ambiguous);
	free(j);
	ig_ltn_guard_clear(&d);
	static const char *bad[] = {"[]", "{}", "{\"run\":\"x\"}", "{\"run\":\"x\",\"after_revision\":\"q\"}",
	                            "{\"run\":\"x\",\"after_revision\":3,\"registration\":{\"key\":\"k\"}}",
	                            "{\"run\":\"x\",\"after_revision\":3,\"registration\":7}", "not json"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ig_ltn_guard_decode(bad[i], strlen(bad[i]), &d, err, sizeof(err)), -1);
	const char *ok = "{\"run\":\"x\",\"after_revision\":\"3\",\"registration\":null}";
	assert_int_equal(ig_ltn_guard_decode(ok, strlen(ok), &d, err, sizeof(err)), 0);
	assert_null(d.reg_key);
	assert_int_equal(d.after_rev, 3);
	ig_ltn_guard_clear(&d);
}

static void judge(void **s)
{
	ig_ltn_guard g[2] = {{.run = "r1", .after_rev = 100, .reg_key = KEY_A, .reg_create_rev = 120, .reg_lease = 77},
	                     {.run = "r2", .after_rev = 200}};
	ig_brie_import a = reg(KEY_A, 120, 77);
	size_t by = 9;
	(void)s;
	assert_int_equal(ig_ltn_guard_judge(&a, g, 2, &by), IG_LTN_GUARDED);
	assert_int_equal(by, 0);
	/* the same name put again on the live key by someone else: another lease */
	ig_brie_import copy = reg(KEY_A, 120, 78);
	assert_int_equal(ig_ltn_guard_judge(&copy, g, 1, &by), IG_LTN_UNGUARDED);
	/* the same name created anew (after the first key went): another create_revision */
	ig_brie_import again = reg(KEY_A, 150, 77);
	assert_int_equal(ig_ltn_guard_judge(&again, g, 1, &by), IG_LTN_UNGUARDED);
	/* created after r2 started, r2 bound nothing yet: r2's Lightning may be this one */
	ig_brie_import b = reg(KEY_B, 210, 90);
	assert_int_equal(ig_ltn_guard_judge(&b, g, 2, &by), IG_LTN_PENDING);
	assert_int_equal(by, 1);
	/* created before r2 started: no guard can be its */
	ig_brie_import old = reg(KEY_B, 150, 90);
	assert_int_equal(ig_ltn_guard_judge(&old, g, 2, &by), IG_LTN_UNGUARDED);
	/* r2 saw two candidates and bound none: no longer pending */
	g[1].ambiguous = true;
	assert_int_equal(ig_ltn_guard_judge(&b, g, 2, &by), IG_LTN_UNGUARDED);
	/* no guard at all */
	assert_int_equal(ig_ltn_guard_judge(&a, NULL, 0, &by), IG_LTN_UNGUARDED);
	assert_string_equal(ig_ltn_guard_verdict_name(IG_LTN_PENDING), "pending");
}

static void pick(void **s)
{
	ig_brie_import v[4] = {reg(KEY_A, 120, 77), reg(KEY_B, 130, 78),
	                       reg("/tidb/brie/import/lightning/lightning-old", 90, 79),
	                       reg("/tidb/brie/import/restore/restore-x", 140, 80)};
	v[3].kind = IG_BRIE_RESTORE;
	ig_brie_list l = {.v = v, .n = 4};
	ig_ltn_guard self = {.run = "me", .after_rev = 100};
	ig_ltn_guard others[2] = {{.run = "other", .after_rev = 95, .reg_key = KEY_A, .reg_create_rev = 120,
	                           .reg_lease = 77},
	                          {.run = "me", .after_rev = 100}};
	(void)s;
	/* A and B are new; A is bound by another guard: B is the one */
	assert_int_equal(ig_ltn_guard_pick(&l, &self, others, 2), 1);
	/* nobody bound A: two candidates */
	assert_int_equal(ig_ltn_guard_pick(&l, &self, others + 1, 1), -2);
	/* nothing new yet (only the old one and a restore) */
	l.v = v + 2;
	l.n = 2;
	assert_int_equal(ig_ltn_guard_pick(&l, &self, NULL, 0), -1);
	/* an unleased key does not count (BR and TiCDC skip it) */
	v[1].lease = 0;
	l.v = v + 1;
	l.n = 1;
	assert_int_equal(ig_ltn_guard_pick(&l, &self, NULL, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(record_roundtrip),
		cmocka_unit_test(judge),
		cmocka_unit_test(pick),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
