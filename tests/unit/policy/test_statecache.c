/*
 * test_statecache.c - the pure parts of the watch-fed state cache: the watch stream's lines
 * as etcd 3.4's JSON gateway writes them (created, PUT with the type omitted, DELETE,
 * several events, compaction, cancel, error object, malformed), which keys count for a
 * decision, and the watch request body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/base64.h"
#include "policy/etcdwatch.h"

static int parse(const char *s, ig_watch_msg *m, char *err, size_t errlen)
{
	return ig_etcd_watch_parse(s, strlen(s), m, err, errlen);
}

/* One event line for key k at revision rev, as etcd writes it. */
static char *event_line(const char *type, const char *k, long rev)
{
	char kb[256], *out = malloc(1024);
	assert_non_null(out);
	ig_b64_encode((const unsigned char *)k, strlen(k), kb);
	snprintf(out, 1024,
	         "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\",\"revision\":\"%ld\","
	         "\"raft_term\":\"2\"},\"events\":[{%s\"kv\":{\"key\":\"%s\",\"mod_revision\":\"%ld\","
	         "\"value\":\"MQ==\"}}]}}",
	         rev, type, kb, rev);
	return out;
}

static void created(void **state)
{
	ig_watch_msg m;
	char err[200];
	(void)state;
	assert_int_equal(parse("{\"result\":{\"header\":{\"cluster_id\":\"151\",\"member_id\":\"136\","
	                       "\"revision\":\"1\",\"raft_term\":\"2\"},\"created\":true}}",
	                       &m, err, sizeof(err)), 0);
	assert_true(m.created);
	assert_false(m.canceled);
	assert_int_equal(m.header_revision, 1);
	assert_int_equal(m.nevents, 0);
	assert_int_equal(m.max_event_revision, 0); /* a header alone proves nothing seen */
	assert_int_equal(m.max_relevant_revision, 0);
}

static void events(void **state)
{
	static const struct {
		const char *type, *key;
		int relevant;
	} v[] = {
		{"", "/x", 0},
		{"", "/tidb/br-stream/info/t1", 1},
		{"\"type\":\"DELETE\",", "/tidb/br-stream/info/t1", 1},
		{"", "/tidb/br-stream/pause/t1", 1},
		{"\"type\":\"DELETE\",", "/tidb/br-stream/pause/t1", 1},
		{"", "/tidb/br-stream/last-error/t1/store1", 1},
		{"", "/tidb/br-stream/checkpoint/t1/store/1", 0},
		{"", "/tidb/cdc/default/default/changefeed/info/cf1", 1},
		{"\"type\":\"DELETE\",", "/tidb/cdc/default/default/changefeed/info/cf1", 1},
		{"", "/tidb/cdc/default/default/changefeed/status/cf1", 0},
		{"", "/tidb/cdc/changefeed/info/old", 1},
		{"", "/tidb/cdc/default/__cdc_meta__/capture/abc", 0},
		{"", "/pd/123/timestamp", 0},
	};
	ig_watch_msg m;
	char err[200];
	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *line = event_line(v[i].type, v[i].key, 10 + (long)i);
		assert_int_equal(parse(line, &m, err, sizeof(err)), 0);
		assert_int_equal(m.nevents, 1);
		assert_int_equal(m.max_event_revision, 10 + (long)i);
		assert_int_equal(m.max_relevant_revision, v[i].relevant ? 10 + (long)i : 0);
		assert_int_equal(ig_etcd_key_relevant(v[i].key, strlen(v[i].key)), v[i].relevant);
		free(line);
	}
}

static void several(void **state)
{
	ig_watch_msg m;
	char err[200];
	(void)state;
	/* catch-up batch: header at the current revision 9, events up to 7 only */
	assert_int_equal(parse("{\"result\":{\"header\":{\"revision\":\"9\"},\"events\":["
	                       "{\"kv\":{\"key\":\"L3RpZGIvYnItc3RyZWFtL2luZm8vdA==\",\"mod_revision\":\"5\"}},"
	                       "{\"type\":\"DELETE\",\"kv\":{\"key\":\"L3g=\",\"mod_revision\":\"7\"}}]}}",
	                       &m, err, sizeof(err)), 0);
	assert_int_equal(m.header_revision, 9);
	assert_int_equal(m.nevents, 2);
	assert_int_equal(m.max_event_revision, 7);
	assert_int_equal(m.max_relevant_revision, 5);
}

static void ends(void **state)
{
	ig_watch_msg m;
	char err[200];
	(void)state;
	assert_int_equal(parse("{\"result\":{\"header\":{\"revision\":\"30\"},\"compact_revision\":\"20\","
	                       "\"canceled\":true}}", &m, err, sizeof(err)), 0);
	assert_true(m.canceled);
	assert_int_equal(m.compact_revision, 20);
	assert_int_equal(parse("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"unavailable\"}}",
	                       &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unavailable"));
}

static void malformed(void **state)
{
	static const char *const bad[] = {
		"", "{", "[]", "{\"result\":1}", "{\"result\":{}}",
		"{\"result\":{\"header\":{\"revision\":\"x\"}}}",
		"{\"result\":{\"header\":{\"revision\":\"1\"},\"events\":{}}}",
		"{\"result\":{\"header\":{\"revision\":\"1\"},\"events\":[{}]}}",
		"{\"result\":{\"header\":{\"revision\":\"1\"},\"events\":[{\"kv\":{\"key\":\"L3g=\"}}]}}",
		"{\"result\":{\"header\":{\"revision\":\"1\"},\"events\":[{\"kv\":{\"key\":\"!!\",\"mod_revision\":\"2\"}}]}}",
		"{\"result\":{\"header\":{\"revision\":\"1\"},\"events\":[{\"kv\":{\"mod_revision\":\"2\"}}]}}",
		"{\"result\":{\"header\":{\"revision\":\"1\"},\"compact_revision\":true}}",
	};
	ig_watch_msg m;
	char err[200];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(bad[i], &m, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
}

static void body(void **state)
{
	char *b = ig_etcd_watch_body(42);
	(void)state;
	assert_non_null(b);
	assert_string_equal(b, "{\"create_request\":{\"key\":\"AA==\",\"range_end\":\"AA==\","
	                       "\"start_revision\":\"42\"}}");
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(created), cmocka_unit_test(events), cmocka_unit_test(several),
		cmocka_unit_test(ends), cmocka_unit_test(malformed), cmocka_unit_test(body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
