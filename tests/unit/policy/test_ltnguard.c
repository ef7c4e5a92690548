/*
 * test_ltnguard.c - guarded Lightning runs' guard records (policy/ltnguard.h): the record's
 * round trip, the judgement of a registration (guarded only when a guard names its key,
 * create_revision and lease; pending while an unbound guard that started before it may still
 * bind it; unguarded otherwise, a copied name included), the binder's pick (one new
 * candidate, none, or ambiguous), the bind key's name, and the binder's state machine (a
 * binding whose key goes while Lightning runs on is reported; a bound key that outlives
 * Lightning is held until it goes or the TTL passes).
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

static void pick_skips_unbindable_keys(void **s)
{
	static char long_key[IG_LTN_KEY_MAX + 2];
	memset(long_key, 'k', sizeof(long_key) - 1);
	memcpy(long_key, "/tidb/brie/import/lightning/", 28);
	ig_brie_import v[4] = {reg("/tidb/brie/import/lightning/lightning-\xff\xfe", 120, 77), reg(long_key, 121, 78),
	                       reg("/tidb/brie/import/lightning/lightning-\xc0\xaf", 122, 79), reg(KEY_B, 130, 80)};
	ig_brie_list l = {.v = v, .n = 4};
	ig_ltn_guard self = {.run = "me", .after_rev = 100};
	(void)s;
	assert_false(ig_ltn_bindable(&v[0]));  /* not UTF-8 */
	assert_false(ig_ltn_bindable(&v[1]));  /* longer than IG_LTN_KEY_MAX */
	assert_false(ig_ltn_bindable(&v[2]));  /* an overlong encoding of '/' */
	assert_true(ig_ltn_bindable(&v[3]));
	/* the three odd keys are never candidates (the gateways report them): B is the one */
	assert_int_equal(ig_ltn_guard_pick(&l, &self, NULL, 0), 3);
	l.n = 3;
	assert_int_equal(ig_ltn_guard_pick(&l, &self, NULL, 0), -1);
}

/* A key of n bytes: the Lightning prefix, then 'k's, then tail (its last bytes). */
static char *key_of_len(size_t n, const char *tail)
{
	char *k = malloc(n + 1);
	size_t tl = strlen(tail);
	assert_non_null(k);
	memset(k, 'k', n);
	memcpy(k, "/tidb/brie/import/lightning/", 28);
	memcpy(k + n - tl, tail, tl);
	k[n] = '\0';
	return k;
}

/* attack14: the edges of what a guard record can name, byte-exact. */
static void bindable_edges(void **s)
{
	char *k1024 = key_of_len(IG_LTN_KEY_MAX, "z"), *k1025 = key_of_len(IG_LTN_KEY_MAX + 1, "z");
	/* a 4-byte character ending exactly at byte 1024, and one straddling it */
	char *emoji_end = key_of_len(IG_LTN_KEY_MAX, "\xf0\x9f\x98\x80");
	char *emoji_over = key_of_len(IG_LTN_KEY_MAX + 2, "\xf0\x9f\x98\x80");
	char *cut = key_of_len(IG_LTN_KEY_MAX, "\xf0\x9f\x98"); /* a 4-byte character cut short at 1024 */
	ig_brie_import r;
	(void)s;
	r = reg(k1024, 120, 1);
	assert_true(ig_ltn_bindable(&r));
	r = reg(k1025, 120, 1);
	assert_false(ig_ltn_bindable(&r));
	r = reg(emoji_end, 120, 1);
	assert_true(ig_ltn_bindable(&r));
	r = reg(emoji_over, 120, 1);
	assert_false(ig_ltn_bindable(&r));
	r = reg(cut, 120, 1);
	assert_false(ig_ltn_bindable(&r));
	static const char *const bad[] = {
		"/tidb/brie/import/lightning/lightning-\xed\xa0\x80",     /* a UTF-16 surrogate, UTF-8 encoded */
		"/tidb/brie/import/lightning/lightning-\xe0\x80\xaf",     /* an overlong '/' in 3 bytes */
		"/tidb/brie/import/lightning/lightning-\xf4\x90\x80\x80", /* past U+10FFFF */
		"/tidb/brie/import/lightning/lightning-\x80",             /* a lone continuation byte */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = reg(bad[i], 120, 1);
		assert_false(ig_ltn_bindable(&r));
	}
	static const char *const good[] = {
		"/tidb/brie/import/lightning/lightning-\xef\xbf\xbf",     /* U+FFFF: a noncharacter, still UTF-8 */
		"/tidb/brie/import/lightning/lightning-\xf4\x8f\xbf\xbf", /* U+10FFFF */
		"/tidb/brie/import/lightning/lightning-5d0c3a3e-7f5b-4f0e-9a55-0e0b0c9d7f11", /* Lightning's own */
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		r = reg(good[i], 120, 1);
		assert_true(ig_ltn_bindable(&r));
	}
	/* the bind key's name of the longest bindable key fits the guarded run's buffer (ltn_run.c) */
	char name[2 * 1024 + 32];
	r = reg(k1024, INT64_MAX, 1);
	assert_true(ig_ltn_bind_name(&r, name, sizeof(name)));
	assert_int_equal(strlen(name), 19 + 1 + 2 * IG_LTN_KEY_MAX);
	free(k1024);
	free(k1025);
	free(emoji_end);
	free(emoji_over);
	free(cut);
}

/* attack14: the gateways agree with the binder: a registration the binder never picks is not held
 * pending under a looking guard (before: pending, and never reported when it ended within the
 * pending bound), and a record naming it (written by no binder) does not make it guarded. */
static void judge_unbindable_is_unguarded(void **s)
{
	char *huge = key_of_len(IG_LTN_KEY_MAX + 1, "z");
	ig_ltn_guard looking = {.run = "r1", .after_rev = 100};
	ig_ltn_guard naming = {.run = "r2", .after_rev = 100, .reg_key = huge, .reg_create_rev = 120, .reg_lease = 7};
	ig_brie_import odd = reg("/tidb/brie/import/lightning/lightning-\xff\xfe", 120, 7), big = reg(huge, 120, 7);
	ig_brie_import fine = reg(KEY_A, 120, 7);
	size_t by = 9;
	(void)s;
	assert_int_equal(ig_ltn_guard_judge(&fine, &looking, 1, &by), IG_LTN_PENDING);
	by = 9;
	assert_int_equal(ig_ltn_guard_judge(&odd, &looking, 1, &by), IG_LTN_UNGUARDED);
	assert_int_equal(ig_ltn_guard_judge(&big, &looking, 1, &by), IG_LTN_UNGUARDED);
	assert_int_equal(ig_ltn_guard_judge(&big, &naming, 1, &by), IG_LTN_UNGUARDED);
	assert_int_equal(by, 9); /* untouched */
	free(huge);
}

static void bind_name(void **s)
{
	ig_brie_import a = reg(KEY_A, 120, 77), a2 = reg(KEY_A, 121, 77), b = reg(KEY_B, 120, 77);
	char na[200], na2[200], nb[200], tiny[20];
	(void)s;
	assert_true(ig_ltn_bind_name(&a, na, sizeof(na)));
	assert_true(ig_ltn_bind_name(&a2, na2, sizeof(na2)));
	assert_true(ig_ltn_bind_name(&b, nb, sizeof(nb)));
	assert_string_equal(na, "120-2f746964622f627269652f696d706f72742f6c696768746e696e672f6c696768746e696e672d61616161");
	assert_string_not_equal(na, na2); /* the key created anew is another registration */
	assert_string_not_equal(na, nb);
	assert_null(strchr(na, '/'));
	assert_false(ig_ltn_bind_name(&a, tiny, sizeof(tiny)));
}

#define GRACE 5000
#define DRAIN 190000

static ig_ltn_binder binder_new(void)
{
	ig_ltn_binder b = {.state = IG_LTNB_LOOKING, .close_grace_ms = GRACE, .drain_ms = DRAIN};
	return b;
}

static unsigned round_(ig_ltn_binder *b, int64_t now, long pick, ig_ltnb_reg_seen bound)
{
	ig_ltnb_event e = {.kind = IG_LTNB_EV_ROUND, .now_ms = now, .pick = pick, .bound = bound};
	return ig_ltn_binder_step(b, &e);
}

static unsigned round_ttl(ig_ltn_binder *b, int64_t now, ig_ltnb_reg_seen bound, int64_t ttl_ms)
{
	ig_ltnb_event e = {.kind = IG_LTNB_EV_ROUND, .now_ms = now, .pick = -1, .bound = bound, .bound_ttl_ms = ttl_ms};
	return ig_ltn_binder_step(b, &e);
}

static unsigned exit_(ig_ltn_binder *b, int64_t now, int status)
{
	ig_ltnb_event e = {.kind = IG_LTNB_EV_EXITED, .now_ms = now, .pick = -1, .exit_status = status};
	return ig_ltn_binder_step(b, &e);
}

/* The guarded Lightning's own registration: bound, deleted by Lightning as it ends, then exit. */
static void binder_own_run(void **s)
{
	ig_ltn_binder b = binder_new();
	(void)s;
	assert_int_equal(round_(&b, 0, -1, IG_LTNB_REG_ABSENT), 0);
	assert_int_equal(round_(&b, 100, 0, IG_LTNB_REG_ABSENT), IG_LTNB_DO_BIND);
	assert_int_equal(b.state, IG_LTNB_BOUND);
	assert_int_equal(round_(&b, 200, -1, IG_LTNB_REG_PRESENT), 0);
	/* a keepalive re-put under a new lease is still its key: not released */
	assert_int_equal(round_(&b, 250, -1, IG_LTNB_REG_CHANGED), 0);
	/* exits before the binder saw the key go: draining, then gone */
	assert_int_equal(exit_(&b, 300, 0), 0);
	assert_int_equal(b.state, IG_LTNB_DRAINING);
	assert_int_equal(round_(&b, 400, -1, IG_LTNB_REG_ABSENT), IG_LTNB_DO_END); /* status 0: its own */
	assert_int_equal(b.state, IG_LTNB_DONE);
	assert_int_equal(round_(&b, 500, 0, IG_LTNB_REG_ABSENT), 0); /* done stays done */

	/* the binder saw the key go just before the exit: released, then dropped on exit 0 */
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	assert_int_equal(round_(&b, 100, -1, IG_LTNB_REG_ABSENT), IG_LTNB_DO_RELEASE);
	assert_true(b.suspect);
	assert_int_equal(b.state, IG_LTNB_LOOKING);
	assert_int_equal(round_(&b, 200, -1, IG_LTNB_REG_ABSENT), 0);
	assert_int_equal(exit_(&b, 300, 0), IG_LTNB_DO_END);
	assert_false(b.suspect);
}

/* A Lightning started by hand was bound (the guarded one had not registered yet). */
static void binder_hand_started_bound(void **s)
{
	ig_ltn_binder b = binder_new();
	(void)s;
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	/* it ends; the guarded Lightning runs on */
	assert_int_equal(round_(&b, 1000, -1, IG_LTNB_REG_ABSENT), IG_LTNB_DO_RELEASE);
	/* within the grace: nothing yet */
	assert_int_equal(round_(&b, 1000 + GRACE - 1, -1, IG_LTNB_REG_ABSENT), 0);
	/* past it: reported, and still looking for the child's own */
	assert_int_equal(round_(&b, 1000 + GRACE, -1, IG_LTNB_REG_ABSENT), IG_LTNB_DO_REPORT);
	assert_false(b.suspect);
	assert_int_equal(b.state, IG_LTNB_LOOKING);
	assert_int_equal(round_(&b, 7000, 0, IG_LTNB_REG_ABSENT), IG_LTNB_DO_BIND);

	/* the child's own registration appears within the grace: reported at once, the new one bound */
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	round_(&b, 1000, -1, IG_LTNB_REG_ABSENT);
	assert_int_equal(round_(&b, 1100, 0, IG_LTNB_REG_ABSENT), IG_LTNB_DO_REPORT | IG_LTNB_DO_BIND);
	assert_int_equal(b.state, IG_LTNB_BOUND);
	/* two at once after it: reported, ambiguous */
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	round_(&b, 1000, -1, IG_LTNB_REG_ABSENT);
	assert_int_equal(round_(&b, 1100, -2, IG_LTNB_REG_ABSENT), IG_LTNB_DO_REPORT | IG_LTNB_DO_AMBIGUOUS);
	assert_int_equal(b.state, IG_LTNB_AMBIGUOUS);

	/* the guarded Lightning fails (it may never have registered): reported on its exit */
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	round_(&b, 1000, -1, IG_LTNB_REG_ABSENT);
	assert_int_equal(exit_(&b, 1200, 1), IG_LTNB_DO_REPORT | IG_LTNB_DO_END);
	assert_int_equal(b.state, IG_LTNB_DONE);
}

/* The bound registration outlives the guarded Lightning (a hand-started one still running, or a
 * killed Lightning whose lease runs out): held until it goes, let go after the TTL + margin. */
static void binder_outlived(void **s)
{
	ig_ltn_binder b = binder_new();
	(void)s;
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	assert_int_equal(exit_(&b, 1000, 137), 0);
	assert_int_equal(round_(&b, 1000 + DRAIN - 1, -1, IG_LTNB_REG_PRESENT), 0);
	assert_int_equal(round_(&b, 1000 + DRAIN, -1, IG_LTNB_REG_PRESENT), IG_LTNB_DO_END | IG_LTNB_DO_OUTLIVED);
	/* its key changed hands after the exit: not held */
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	exit_(&b, 1000, 0);
	assert_int_equal(round_(&b, 2000, -1, IG_LTNB_REG_CHANGED), IG_LTNB_DO_END);
}

/* After the exit, the first look decides, except after a signal (a killed Lightning's key waits
 * for its lease). */
/* attack11: after the guarded Lightning is killed, the bound key (a Lightning started by hand,
 * bound while the killed one had not registered) was held until it went and then let go quietly:
 * the hand-started one, ending normally (it revokes its lease) within the TTL + margin, was never
 * reported. A killed Lightning's lease only runs down: a bound lease renewed, or a bound key gone
 * with time left on its lease, has a live keeper. */
static void binder_drain_killed_lease(void **s)
{
	ig_ltn_binder b = binder_new();
	(void)s;
	/* gone with 170 s left: revoked by a live process: reported */
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	exit_(&b, 100, 137);
	assert_int_equal(round_ttl(&b, 200, IG_LTNB_REG_PRESENT, 175000), 0);
	assert_int_equal(round_ttl(&b, 5200, IG_LTNB_REG_PRESENT, 170000), 0);
	assert_int_equal(round_ttl(&b, 5500, IG_LTNB_REG_ABSENT, 0), IG_LTNB_DO_RELEASE | IG_LTNB_DO_REPORT | IG_LTNB_DO_END);
	assert_true(b.gone_early);
	/* renewed after the kill (170 s -> 179 s): a live keeper: let go at once for the gateways */
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	exit_(&b, 100, 137);
	assert_int_equal(round_ttl(&b, 200, IG_LTNB_REG_PRESENT, 170000), 0);
	assert_int_equal(round_ttl(&b, 1200, IG_LTNB_REG_PRESENT, 179000), IG_LTNB_DO_END | IG_LTNB_DO_OUTLIVED);
	/* the killed Lightning's own: runs down, goes when it runs out: quiet */
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	exit_(&b, 100, 137);
	assert_int_equal(round_ttl(&b, 200, IG_LTNB_REG_PRESENT, 4000), 0);
	assert_int_equal(round_ttl(&b, 2200, IG_LTNB_REG_PRESENT, 2000), 0);
	assert_int_equal(round_ttl(&b, 4500, IG_LTNB_REG_ABSENT, 0), IG_LTNB_DO_END);
	assert_false(b.gone_early);
	/* TTL not known (0): as before, held and quiet */
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	exit_(&b, 100, 137);
	assert_int_equal(round_ttl(&b, 200, IG_LTNB_REG_PRESENT, 0), 0);
	assert_int_equal(round_ttl(&b, 900, IG_LTNB_REG_ABSENT, 0), IG_LTNB_DO_END);
	/* a plain exit is not judged by the lease (the first look decides) */
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	exit_(&b, 100, 0);
	assert_int_equal(round_ttl(&b, 200, IG_LTNB_REG_ABSENT, 0), IG_LTNB_DO_END);
}

static void binder_drain(void **s)
{
	ig_ltn_binder b = binder_new();
	(void)s;
	/* a plain failure, key gone: it may have been another's that ended just before: reported */
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	exit_(&b, 100, 1);
	assert_int_equal(round_(&b, 200, -1, IG_LTNB_REG_ABSENT),
	                 IG_LTNB_DO_RELEASE | IG_LTNB_DO_REPORT | IG_LTNB_DO_END);
	/* a plain exit, key still there: not its own (Lightning revokes first): let go at once */
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	exit_(&b, 100, 1);
	assert_int_equal(round_(&b, 200, -1, IG_LTNB_REG_PRESENT), IG_LTNB_DO_END | IG_LTNB_DO_OUTLIVED);
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	exit_(&b, 100, 0);
	assert_int_equal(round_(&b, 200, -1, IG_LTNB_REG_PRESENT), IG_LTNB_DO_END | IG_LTNB_DO_OUTLIVED);
	/* killed: held while there, ends quietly when its lease runs out */
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	exit_(&b, 100, 137);
	assert_int_equal(round_(&b, 200, -1, IG_LTNB_REG_PRESENT), 0);
	assert_int_equal(round_(&b, 3000, -1, IG_LTNB_REG_PRESENT), 0);
	assert_int_equal(round_(&b, 4000, -1, IG_LTNB_REG_ABSENT), IG_LTNB_DO_END);
	/* killed, key already gone at the first look: as a plain failure */
	b = binder_new();
	round_(&b, 0, 0, IG_LTNB_REG_ABSENT);
	exit_(&b, 100, 137);
	assert_int_equal(round_(&b, 200, -1, IG_LTNB_REG_ABSENT),
	                 IG_LTNB_DO_RELEASE | IG_LTNB_DO_REPORT | IG_LTNB_DO_END);
	assert_int_equal(b.state, IG_LTNB_DONE);
}

/* A lost bind CAS: back to looking, the next candidate is tried. Exit while looking or ambiguous
 * ends at once. */
static void binder_lost_and_early_exit(void **s)
{
	ig_ltn_binder b = binder_new();
	ig_ltnb_event lost = {.kind = IG_LTNB_EV_BIND_LOST, .now_ms = 10, .pick = -1};
	(void)s;
	assert_int_equal(round_(&b, 0, 3, IG_LTNB_REG_ABSENT), IG_LTNB_DO_BIND);
	assert_int_equal(ig_ltn_binder_step(&b, &lost), 0);
	assert_int_equal(b.state, IG_LTNB_LOOKING);
	assert_int_equal(round_(&b, 300, 1, IG_LTNB_REG_ABSENT), IG_LTNB_DO_BIND);
	b = binder_new();
	assert_int_equal(exit_(&b, 5, 1), IG_LTNB_DO_END); /* exited before registering: nothing bound */
	b = binder_new();
	round_(&b, 0, -2, IG_LTNB_REG_ABSENT);
	assert_int_equal(round_(&b, 10, 0, IG_LTNB_REG_ABSENT), 0); /* ambiguous binds nothing later */
	assert_int_equal(exit_(&b, 20, 0), IG_LTNB_DO_END);
	assert_string_equal(ig_ltnb_state_name(IG_LTNB_DRAINING), "draining");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(record_roundtrip),
		cmocka_unit_test(judge),
		cmocka_unit_test(pick),
		cmocka_unit_test(pick_skips_unbindable_keys),
		cmocka_unit_test(bindable_edges),
		cmocka_unit_test(judge_unbindable_is_unguarded),
		cmocka_unit_test(bind_name),
		cmocka_unit_test(binder_own_run),
		cmocka_unit_test(binder_hand_started_bound),
		cmocka_unit_test(binder_outlived),
		cmocka_unit_test(binder_drain),
		cmocka_unit_test(binder_drain_killed_lease),
		cmocka_unit_test(binder_lost_and_early_exit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
