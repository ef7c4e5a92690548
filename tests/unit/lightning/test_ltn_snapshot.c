/*
 * test_ltn_snapshot.c - the guarded run's snapshot of the checked data files
 * (proxy/ltn_snapshot.h): exactly the listed files, each the file that was listed; a file
 * added or replaced after the listing is not imported; one guarded run per data directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy/ltn_snapshot.h"

static char root[PATH_MAX], src[PATH_MAX + 8], err[1024];

static void put(const char *rel, const char *text)
{
	char p[PATH_MAX * 2];
	FILE *f;
	snprintf(p, sizeof(p), "%s/%s", src, rel);
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	fclose(f);
}

/* What the preflight records for rel (stat through a symlink). */
static ig_ltn_file listed(const char *rel)
{
	char p[PATH_MAX * 2];
	struct stat st;
	ig_ltn_file f = {.rel = (char *)rel};
	snprintf(p, sizeof(p), "%s/%s", src, rel);
	f.opened = stat(p, &st) == 0;
	f.dev = st.st_dev;
	f.ino = st.st_ino;
	f.size = st.st_size;
	return f;
}

static bool in_snap(const ig_ltn_snapshot *s, const char *rel)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", s->dir, rel);
	return access(p, F_OK) == 0;
}

static int setup(void **s)
{
	char cmd[PATH_MAX + 32];
	(void)s;
	snprintf(root, sizeof(root), "%s/igsnapXXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(root));
	snprintf(src, sizeof(src), "%s/dump", root);
	assert_int_equal(mkdir(src, 0700), 0);
	snprintf(cmd, sizeof(cmd), "%s/dump/sub", root);
	assert_int_equal(mkdir(cmd, 0700), 0);
	put("staging.a.000000001.csv", "1,a\n");
	put("sub/staging.b.000000001.csv", "2,b\n");
	return 0;
}

static int teardown(void **s)
{
	char cmd[PATH_MAX + 32];
	(void)s;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void exactly_the_listed_files(void **st)
{
	ig_ltn_snapshot s;
	char out[PATH_MAX * 2], link[PATH_MAX * 2];
	(void)st;
	snprintf(out, sizeof(out), "%s/outside.csv", root);
	FILE *f = fopen(out, "w");
	assert_non_null(f);
	fputs("3,c\n", f);
	fclose(f);
	snprintf(link, sizeof(link), "%s/staging.c.000000001.csv", src);
	assert_int_equal(symlink(out, link), 0);
	ig_ltn_file files[] = {listed("staging.a.000000001.csv"), listed("staging.c.000000001.csv"),
	                       listed("sub/staging.b.000000001.csv")};
	put("shop.orders.000000001.csv", "9,x\n"); /* added after the check */
	assert_int_equal(ig_ltn_snapshot_make(src, files, 3, NULL, &s, err, sizeof(err)), 0);
	assert_string_equal(strrchr(s.dir, '/') + 1 + strlen(".importgate-ltn-dump-") + 16, "");
	assert_true(in_snap(&s, "staging.a.000000001.csv") && in_snap(&s, "sub/staging.b.000000001.csv"));
	assert_true(in_snap(&s, "staging.c.000000001.csv"));
	assert_false(in_snap(&s, "shop.orders.000000001.csv"));
	struct stat a, b;
	snprintf(link, sizeof(link), "%s/staging.c.000000001.csv", s.dir);
	assert_int_equal(lstat(link, &a), 0);
	assert_true(S_ISREG(a.st_mode));            /* the file the symlink named, not the symlink */
	assert_int_equal(stat(out, &b), 0);
	assert_true(a.st_ino == b.st_ino);
	/* a second guarded run of the same data directory waits for none: it is refused */
	ig_ltn_snapshot s2;
	assert_int_equal(ig_ltn_snapshot_make(src, files, 3, NULL, &s2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "another guarded run of this data directory is running"));
	char dir[PATH_MAX * 2];
	snprintf(dir, sizeof(dir), "%s", s.dir);
	ig_ltn_snapshot_remove(&s);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(access(out, F_OK), 0);   /* the data is untouched */
	snprintf(link, sizeof(link), "%s/staging.a.000000001.csv", src);
	assert_int_equal(access(link, F_OK), 0);
}

static void replaced_after_listing_is_refused(void **st)
{
	ig_ltn_snapshot s;
	char from[PATH_MAX * 2], to[PATH_MAX * 2];
	(void)st;
	ig_ltn_file files[] = {listed("staging.a.000000001.csv"), listed("sub/staging.b.000000001.csv")};
	put("new.tmp", "7,covered\n"); /* another file renamed over a checked name */
	snprintf(from, sizeof(from), "%s/new.tmp", src);
	snprintf(to, sizeof(to), "%s/sub/staging.b.000000001.csv", src);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(ig_ltn_snapshot_make(src, files, 2, NULL, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "changed between the check and the run"));
	assert_string_equal(s.dir, "");
	assert_int_equal(s.lock_fd, -1);
	/* grown in place: refused too (the size listed is the size imported) */
	ig_ltn_file again[] = {listed("sub/staging.b.000000001.csv")};
	put("sub/staging.b.000000001.csv", "7,covered\n8,more\n");
	assert_int_equal(ig_ltn_snapshot_make(src, again, 1, NULL, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "changed between the check and the run"));
}

static void leftover_of_a_crash_is_replaced(void **st)
{
	ig_ltn_snapshot s;
	char junk[PATH_MAX * 2], base[PATH_MAX];
	(void)st;
	ig_ltn_file files[] = {listed("staging.a.000000001.csv")};
	snprintf(base, sizeof(base), "%s", root);
	assert_int_equal(ig_ltn_snapshot_make(src, files, 1, base, &s, err, sizeof(err)), 0);
	snprintf(junk, sizeof(junk), "%s/shop.orders.000000001.csv", s.dir);
	FILE *f = fopen(junk, "w");
	assert_non_null(f);
	fclose(f);
	close(s.lock_fd); /* the run dies: its lock goes, its directory stays */
	s.lock_fd = -1;
	assert_int_equal(ig_ltn_snapshot_make(src, files, 1, base, &s, err, sizeof(err)), 0);
	assert_false(in_snap(&s, "shop.orders.000000001.csv"));
	assert_true(in_snap(&s, "staging.a.000000001.csv"));
	ig_ltn_snapshot_remove(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(exactly_the_listed_files, setup, teardown),
		cmocka_unit_test_setup_teardown(replaced_after_listing_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(leftover_of_a_crash_is_replaced, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
