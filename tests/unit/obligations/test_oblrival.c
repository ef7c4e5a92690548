/*
 * test_oblrival.c - review of 296bbe4 (a lost answer's search must not take a job that a
 * record still awaiting its answer may own): ig_obl_may_share_job (policy/obllife.c) must say
 * "may share" whenever one SHOW IMPORT JOBS row can match both records by the very rule the
 * search uses (ig_obl_job_matches). Where it does not, the searching record takes the job and
 * the awaiting record's answer names the same job later: one import, two obligations (two
 * downstream re-imports). These tests state that property; they fail on 296bbe4, which
 * compares the sources byte for byte (the search compares them cut at the query, without user
 * info, percent-decoded) and uses a window of +-35 s (a job can match both records when they
 * were created up to 40 s apart: each accepts Create_Time in [created - 5 s, created + 35 s]).
 * Registered in tests/unit/obligations/meson.build since the fix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/decide.h"
#include "policy/obllife.h"

#define T0 1700000000000LL /* 2023-11-14 22:13:20 UTC */

static void rec(ig_obl_record *r, int id, ig_obl_state st, const char *source, int64_t created_ms)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%032x", id);
	r->state = st;
	r->kinds = IG_OBL_SNAPSHOT_AFTER_IMPORT | IG_OBL_REIMPORT_DOWNSTREAM;
	r->db = strdup("shop");
	r->table = strdup("t");
	r->user = strdup("etl");
	r->source = source ? strdup(source) : NULL;
	r->created_ms = created_ms;
	assert_non_null(r->db);
	assert_non_null(r->table);
	assert_non_null(r->user);
}

static void utc(int64_t ms, char *out, size_t n)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

/* The search's own rule: does this row match record r? */
static bool matches(const ig_obl_job_row *row, const ig_obl_record *r)
{
	return ig_obl_job_matches(row, r->db, r->table, r->source, r->user, r->created_ms);
}

/* The property: a job that matches both the searching record and one still awaiting its
 * answer is one the awaiting record may own. Frees both records (before asserting). */
static void check_rival(ig_obl_record *awaiting, ig_obl_record *searching, const ig_obl_job_row *row)
{
	bool m1 = matches(row, searching), m2 = matches(row, awaiting);
	bool rival = ig_obl_may_share_job(awaiting, searching);

	ig_obl_record_free(awaiting);
	ig_obl_record_free(searching);
	assert_true(m1);
	assert_true(m2);
	assert_true(rival);
}

/* The same file, one import with its credentials in the statement (redacted in the record),
 * one without (an instance role): TiDB's Data_Source and the search compare the location up
 * to the query, so one job matches both; the rival check compares the whole strings. */
static void test_rival_source_query(void **state)
{
	ig_obl_record awaiting, searching;
	char ct[32];
	ig_obl_job_row row = {.job_id = "7", .data_source = "s3://bucket/t.csv", .target_table = "`shop`.`t`",
	                      .created_by = "etl@%"};

	(void)state;
	rec(&searching, 1, IG_OBLS_SEARCHING, "s3://bucket/t.csv", T0);
	rec(&awaiting, 2, IG_OBLS_AWAITING_ANSWER,
	    "s3://bucket/t.csv?access-key=redacted&secret-access-key=redacted", T0 + 2000);
	utc(T0 + 3000, ct, sizeof(ct));
	row.create_time = ct;
	check_rival(&awaiting, &searching, &row);
}

/* A non-credential parameter (region) spelled in one statement only. */
static void test_rival_source_param(void **state)
{
	ig_obl_record awaiting, searching;
	char ct[32];
	ig_obl_job_row row = {.job_id = "7", .data_source = "s3://bucket/t.csv?region=us-west-2",
	                      .target_table = "`shop`.`t`", .created_by = "etl@%"};

	(void)state;
	rec(&searching, 1, IG_OBLS_SEARCHING, "s3://bucket/t.csv", T0);
	rec(&awaiting, 2, IG_OBLS_AWAITING_ANSWER, "s3://bucket/t.csv?region=us-west-2", T0 + 2000);
	utc(T0 + 3000, ct, sizeof(ct));
	row.create_time = ct;
	check_rival(&awaiting, &searching, &row);
}

/* Created 38 s apart: a job created (by TiDB's clock) 33 s after the older record is inside
 * both records' windows ([created - 5 s, created + 35 s]); the rival check stops at 35 s. */
static void test_rival_window(void **state)
{
	ig_obl_record awaiting, searching;
	char ct[32];
	ig_obl_job_row row = {.job_id = "7", .data_source = "s3://bucket/t.csv", .target_table = "`shop`.`t`",
	                      .created_by = "etl@%"};

	(void)state;
	rec(&awaiting, 2, IG_OBLS_AWAITING_ANSWER, "s3://bucket/t.csv", T0);
	rec(&searching, 1, IG_OBLS_SEARCHING, "s3://bucket/t.csv", T0 + 38000);
	utc(T0 + 33000, ct, sizeof(ct));
	row.create_time = ct;
	check_rival(&awaiting, &searching, &row);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rival_source_query),
		cmocka_unit_test(test_rival_source_param),
		cmocka_unit_test(test_rival_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
