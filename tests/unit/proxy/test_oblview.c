/*
 * test_oblview.c - the obligations as the status shows them (proxy/oblview.c): a record's
 * texts that are not UTF-8 (a backend's message the store keeps byte for byte) are shown,
 * as the audit log shows them, not silently left out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/oblview.h"

#define FFFD "\xEF\xBF\xBD"

static const char *str_at(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (!s)
		fail_msg("status record has no string \"%s\"", key);
	return s;
}

static void test_texts_not_utf8_shown(void **state)
{
	ig_oblview *v = ig_oblview_new();
	ig_obl_record r;
	json_t *root = json_object(), *rec, *step;
	(void)state;

	assert_non_null(v);
	assert_non_null(root);
	memset(&r, 0, sizeof r);
	memset(r.id, 'a', IG_OBL_ID_LEN);
	r.state = IG_OBLS_DUE;
	r.db = "shop";
	r.table = "t\xE9";
	r.job_id = "42";
	r.note = "dismissed by caf\xE9";
	r.reason = "answer-lost";
	r.last_error = "1105: near 'caf\xE9 \xFF'";
	r.replica = "gw-1";
	r.backup.state = IG_STEP_PENDING;
	r.backup.last_error = "8173: \xC3(";
	ig_oblview_set(v, &r);
	ig_oblview_status(v, root);

	rec = json_array_get(json_object_get(root, "records"), 0);
	assert_non_null(rec);
	assert_string_equal(str_at(rec, "last_error"), "1105: near 'caf" FFFD " " FFFD "'");
	assert_string_equal(str_at(rec, "note"), "dismissed by caf" FFFD);
	assert_string_equal(str_at(rec, "reason"), "answer-lost");
	assert_string_equal(str_at(rec, "job_id"), "42");
	assert_string_equal(str_at(rec, "replica"), "gw-1");
	assert_string_equal(str_at(rec, "table"), "shop.t" FFFD);
	step = json_object_get(rec, "backup");
	assert_non_null(step);
	assert_string_equal(str_at(step, "last_error"), "8173: " FFFD "(");
	assert_true(json_is_true(json_object_get(rec, "failing")));

	json_decref(root);
	ig_oblview_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_texts_not_utf8_shown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
