/*
 * test_importrec.c - the import record (proxy/importrec.c): every ending of an import tells the
 * obligations what the gateway did before (answered with job and status, answered with an error,
 * unreadable, unanswered, not sent, client left, refused), ends once, reads as the import's
 * answer only what has the import's own shape (not EXPLAIN ANALYZE's plan rows), audits import.result only
 * for an answer, withholds TiDB's text when the statement carried a credential, and a record
 * freed before it ended ends as unanswered. The obligations module is replaced by a recorder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "proxy/audit.h"
#include "proxy/importrec.h"
#include "proxy/mysql_proto.h"
#include "proxy/obligations.h"

/* ---- the obligations, recorded ---- */

static struct {
	int answered, unanswered;
	char id[64], job[64], status[64], message[600];
	int code;
} obl;

void ig_obl_answered(const char *id, const char *job_id, const char *status, int err_code, const char *message)
{
	obl.answered++;
	snprintf(obl.id, sizeof(obl.id), "%s", id);
	snprintf(obl.job, sizeof(obl.job), "%s", job_id);
	snprintf(obl.status, sizeof(obl.status), "%s", status);
	snprintf(obl.message, sizeof(obl.message), "%s", message);
	obl.code = err_code;
}

void ig_obl_unanswered(const char *id)
{
	obl.unanswered++;
	snprintf(obl.id, sizeof(obl.id), "%s", id);
}

/* ---- the audit file ---- */

static char dir[64], path[128];

static int setup(void **state)
{
	char err[256];
	(void)state;
	memset(&obl, 0, sizeof(obl));
	snprintf(dir, sizeof(dir), "/tmp/ig_importrec_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
	return ig_audit_open(path, IG_FSYNC_OFF, err, sizeof(err));
}

static int teardown(void **state)
{
	(void)state;
	ig_audit_close();
	unlink(path);
	rmdir(dir);
	return 0;
}

/* The audit lines written (the log closed first: the queue drained). */
static json_t *audit_lines(void)
{
	ig_audit_close();
	json_t *a = json_array();
	FILE *f = fopen(path, "r");
	char line[8192];
	while (f && fgets(line, sizeof(line), f)) {
		json_t *ev = json_loads(line, 0, NULL);
		assert_non_null(ev);
		json_array_append_new(a, ev);
	}
	if (f)
		fclose(f);
	return a;
}

static ig_import_rec *sent_as(bool secret, bool from_select, const char *obl_id)
{
	ig_import_rec *r = ig_import_rec_new(7, "shop.t", 0, secret, from_select, IG_VERDICT_ADD_DISABLE_PRECHECK);
	assert_non_null(r);
	snprintf(r->obl_id, sizeof(r->obl_id), "%s", obl_id);
	ig_import_rec_sent(r, "etl", "10.0.0.1", "127.0.0.1:4000", CLIENT_PROTOCOL_41, 1000);
	return r;
}

static ig_import_rec *sent(bool secret, const char *obl_id)
{
	return sent_as(secret, false, obl_id);
}

/* One packet of the answer, as the framer hands it (the header before the payload). */
static void capture(ig_import_rec *r, uint8_t seq, const uint8_t *payload, size_t n)
{
	uint8_t buf[1024];
	buf[0] = (uint8_t)n;
	buf[1] = (uint8_t)(n >> 8);
	buf[2] = (uint8_t)(n >> 16);
	buf[3] = seq;
	memcpy(buf + 4, payload, n);
	ig_packet pk = {.data = buf + 4, .len = (uint32_t)n, .have = (uint32_t)n, .seq = seq};
	assert_true(ig_import_rec_capture(r, &pk));
}

static void capture_err(ig_import_rec *r, uint16_t code, const char *msg)
{
	uint8_t p[512];
	size_t n = 0;
	p[n++] = 0xff;
	p[n++] = (uint8_t)code;
	p[n++] = (uint8_t)(code >> 8);
	memcpy(p + n, "#HY000", 6);
	n += 6;
	memcpy(p + n, msg, strlen(msg));
	n += strlen(msg);
	capture(r, 1, p, n);
}

static void test_answered_ok(void **state)
{
	(void)state;
	ig_import_rec *r = sent_as(false, true, "obl-1"); /* FROM SELECT (or LOAD DATA): an OK */
	static const char info[] = "Records: 5, ID: 3b1f";
	uint8_t p[64] = {0x00, 0x05, 0x00, 0x02, 0x00, 0x00, 0x00};
	memcpy(p + 7, info, sizeof(info) - 1);
	capture(r, 1, p, 7 + sizeof(info) - 1);
	ig_import_rec_end(r, IMPORT_END_ANSWERED, 1250);
	ig_import_rec_end(r, IMPORT_END_UNANSWERED, 1300); /* ended once */
	ig_import_rec_free(r);
	assert_int_equal(obl.answered, 1);
	assert_int_equal(obl.unanswered, 0);
	assert_string_equal(obl.id, "obl-1");
	assert_int_equal(obl.code, 0);
	json_t *a = audit_lines();
	assert_int_equal(json_array_size(a), 1);
	json_t *ev = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(ev, "event")), "import.result");
	assert_string_equal(json_string_value(json_object_get(ev, "table")), "shop.t");
	assert_string_equal(json_string_value(json_object_get(ev, "rows")), "5");
	assert_int_equal(json_integer_value(json_object_get(ev, "latency_ms")), 250);
	assert_int_equal(json_integer_value(json_object_get(ev, "conn")), 7);
	json_decref(a);
}

static void test_answered_error_secret_withheld(void **state)
{
	(void)state;
	ig_import_rec *r = sent(true, "obl-2");
	capture_err(r, 1064, "near 's3://b/x?secret-access-key=PLANTED'");
	ig_import_rec_free(r); /* freed unended: it ends as unanswered, not as answered */
	assert_int_equal(obl.unanswered, 1);
	assert_int_equal(obl.answered, 0);
	json_t *a = audit_lines();
	assert_int_equal(json_array_size(a), 0); /* no answer was read: no import.result */
	json_decref(a);

	teardown(NULL);
	assert_int_equal(setup(NULL), 0);
	r = sent(true, "obl-3");
	capture_err(r, 1064, "near 's3://b/x?secret-access-key=PLANTED'");
	ig_import_rec_end(r, IMPORT_END_ANSWERED, 1001);
	ig_import_rec_free(r);
	assert_int_equal(obl.answered, 1);
	assert_int_equal(obl.code, 1064);
	assert_null(strstr(obl.message, "PLANTED"));
	a = audit_lines();
	assert_int_equal(json_array_size(a), 1);
	char *s = json_dumps(a, 0);
	assert_null(strstr(s, "PLANTED"));
	assert_non_null(strstr(s, "withheld"));
	free(s);
	json_decref(a);
}

static void test_unreadable_is_unanswered(void **state)
{
	(void)state;
	ig_import_rec *r = sent(false, "obl-4");
	ig_import_rec_end(r, IMPORT_END_ANSWERED, 1001); /* nothing captured */
	ig_import_rec_free(r);
	assert_int_equal(obl.unanswered, 1);
	assert_int_equal(obl.answered, 0);
	json_t *a = audit_lines();
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "status")), "unreadable");
	json_decref(a);
}

/* A result set of one row, from seq 1: a column per name, the row's values (text protocol,
 * EOF packets: no CLIENT_DEPRECATE_EOF). */
static void capture_rows(ig_import_rec *r, const char *const *names, const char *const *values, size_t n)
{
	uint8_t p[512], seq = 1;
	size_t k;
	p[0] = (uint8_t)n;
	capture(r, seq++, p, 1);
	for (size_t i = 0; i < n; i++) {
		static const char *const pre[] = {"def", "shop", "t", "t"};
		k = 0;
		for (size_t f = 0; f < 4; f++) {
			p[k++] = (uint8_t)strlen(pre[f]);
			memcpy(p + k, pre[f], strlen(pre[f]));
			k += strlen(pre[f]);
		}
		for (int f = 0; f < 2; f++) { /* name, org_name */
			p[k++] = (uint8_t)strlen(names[i]);
			memcpy(p + k, names[i], strlen(names[i]));
			k += strlen(names[i]);
		}
		static const uint8_t tail[] = {0x0c, 0x21, 0x00, 0x00, 0x01, 0x00, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00};
		memcpy(p + k, tail, sizeof(tail));
		k += sizeof(tail);
		capture(r, seq++, p, k);
	}
	static const uint8_t eof[] = {0xfe, 0x00, 0x00, 0x02, 0x00};
	capture(r, seq++, eof, sizeof(eof));
	k = 0;
	for (size_t i = 0; i < n; i++) {
		p[k++] = (uint8_t)strlen(values[i]);
		memcpy(p + k, values[i], strlen(values[i]));
		k += strlen(values[i]);
	}
	capture(r, seq++, p, k);
	capture(r, seq++, eof, sizeof(eof));
}

/*
 * Only the import's own answer is read as its answer: a job row for a file source, an OK for
 * FROM SELECT. EXPLAIN ANALYZE's plan rows (the import ran under it, DETACHED maybe still
 * running), an OK to a file import, a job row to FROM SELECT, a row whose Job_ID is empty: the
 * obligations are told the answer was lost (they look for the job), never "finished".
 */
static void test_only_the_imports_own_answer(void **state)
{
	(void)state;
	static const char *const job_cols[] = {"Job_ID", "Status", "Imported_Rows", "Result_Message"};
	static const char *const job_row[] = {"42", "pending", "0", ""};
	static const char *const no_job[] = {"", "pending", "0", ""};
	static const char *const plan_cols[] = {"id", "estRows", "actRows", "task", "access object",
	                                        "execution info", "operator info", "memory", "disk"};
	static const char *const plan_row[] = {"ImportInto_1", "N/A", "1", "root", "", "time:1ms", "N/A", "N/A", "N/A"};
	static const char info[] = "Records: 5, ID: 3b1f";
	uint8_t okp[64] = {0x00, 0x05, 0x00, 0x02, 0x00, 0x00, 0x00};
	memcpy(okp + 7, info, sizeof(info) - 1);

	for (int c = 0; c < 4; c++) {
		memset(&obl, 0, sizeof(obl));
		ig_import_rec *r = sent_as(false, c == 2, "obl-w"); /* 2: FROM SELECT or a logical import */
		if (c == 0)
			capture_rows(r, plan_cols, plan_row, 9);     /* EXPLAIN ANALYZE IMPORT INTO ... */
		else if (c == 1)
			capture(r, 1, okp, 7 + sizeof(info) - 1); /* an OK to a file import */
		else if (c == 2)
			capture_rows(r, job_cols, job_row, 4);       /* a job row to FROM SELECT */
		else
			capture_rows(r, job_cols, no_job, 4);        /* no job id */
		ig_import_rec_end(r, IMPORT_END_ANSWERED, 1001);
		ig_import_rec_free(r);
		assert_int_equal(obl.unanswered, 1);
		assert_int_equal(obl.answered, 0);
	}
	/* The import's own answers, for contrast: read, job and status told. */
	memset(&obl, 0, sizeof(obl));
	ig_import_rec *r = sent_as(false, false, "obl-j");
	capture_rows(r, job_cols, job_row, 4);
	ig_import_rec_end(r, IMPORT_END_ANSWERED, 1001);
	ig_import_rec_free(r);
	assert_int_equal(obl.answered, 1);
	assert_string_equal(obl.job, "42");
	assert_string_equal(obl.status, "pending");
	json_t *a = audit_lines();
	assert_int_equal(json_array_size(a), 5);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(a, i), "status")), "unreadable");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 4), "job_id")), "42");
	json_decref(a);
}

/* The endings before an answer: the obligations are told, nothing is audited. */
static void test_endings_before_an_answer(void **state)
{
	(void)state;
	static const struct {
		ig_import_end how;
		const char *message;
	} cases[] = {
		{IMPORT_END_NOT_SENT, "the import could not be sent"},
		{IMPORT_END_CLIENT_LEFT, "the client went away before the import was sent"},
		{IMPORT_END_REFUSED, "refused by the gateway"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&obl, 0, sizeof(obl));
		ig_import_rec *r = ig_import_rec_new(7, "shop.t", 0, false, false, IG_VERDICT_PASS);
		snprintf(r->obl_id, sizeof(r->obl_id), "obl-x");
		ig_import_rec_end(r, cases[i].how, 0);
		ig_import_rec_free(r);
		assert_int_equal(obl.answered, 1);
		assert_int_equal(obl.unanswered, 0);
		assert_int_equal(obl.code, ER_UNKNOWN_ERROR);
		assert_string_equal(obl.message, cases[i].message);
	}
	memset(&obl, 0, sizeof(obl));
	ig_import_rec *r = ig_import_rec_new(7, "shop.t", 0, false, false, IG_VERDICT_PASS); /* owes nothing */
	ig_import_rec_end(r, IMPORT_END_NOT_SENT, 0);
	ig_import_rec_free(r);
	assert_int_equal(obl.answered + obl.unanswered, 0);
	json_t *a = audit_lines();
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answered_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answered_error_secret_withheld, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_is_unanswered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endings_before_an_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_the_imports_own_answer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
