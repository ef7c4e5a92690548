/*
 * test_etcdparse.c - the pure parts of the etcd reader (base64, range request bodies, range
 * answers as etcd's JSON gateway writes them: int64 as strings, kvs absent when empty,
 * values absent when empty, more/pagination, error answers), the range end of a prefix (etcd
 * clientv3's GetPrefixRangeEnd) and TiDB version parsing.
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
#include "pd/etcdread.h"
#include "policy/version.h"

static void base64(void **state)
{
	static const struct {
		const char *raw, *b64;
	} v[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
	         {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}, {"/tidb/cdc/", "L3RpZGIvY2RjLw=="}};
	char enc[64];
	unsigned char dec[64];
	static const unsigned char bin[] = {0xfb, 0xff, 0x00};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = strlen(v[i].raw);
		assert_int_equal(ig_b64_encoded_len(n), strlen(v[i].b64));
		ig_b64_encode((const unsigned char *)v[i].raw, n, enc);
		assert_string_equal(enc, v[i].b64);
		assert_int_equal(ig_b64_decode(v[i].b64, strlen(v[i].b64), dec), (long)n);
		assert_memory_equal(dec, v[i].raw, n);
	}
	ig_b64_encode(bin, 3, enc);
	assert_string_equal(enc, "+/8A");
	assert_int_equal(ig_b64_decode("-_8A", 4, dec), 3); /* URL-safe alphabet */
	assert_memory_equal(dec, bin, 3);
	assert_int_equal(ig_b64_decode("Zm8", 3, dec), 2); /* unpadded */
	assert_int_equal(ig_b64_decode("Zm9v!A==", 8, dec), -1);
	assert_int_equal(ig_b64_decode("Z", 1, dec), -1);
	assert_int_equal(ig_b64_decode("Zm8==", 5, dec), -1);
	assert_int_equal(ig_b64_decode("Zh==", 4, dec), -1); /* non-zero trailing bits */
	assert_int_equal(ig_b64_decode("Zm 9v", 5, dec), -1);
}

static void range_body(void **state)
{
	char *b;

	(void)state;
	b = ig_etcd_range_body("/tidb/cdc/", 10, "/tidb/cdc0", 10, 1000, 0, true);
	assert_string_equal(b, "{\"key\":\"L3RpZGIvY2RjLw==\",\"range_end\":\"L3RpZGIvY2RjMA==\","
	                       "\"limit\":1000,\"keys_only\":true}");
	free(b);
	b = ig_etcd_range_body("k\0x", 3, NULL, 0, 0, 42, false);
	assert_string_equal(b, "{\"key\":\"awB4\",\"revision\":42}");
	free(b);
}

typedef struct kvs {
	char keys[8][64];
	char vals[8][64];
	size_t vlens[8];
	int n;
	int fail_at;
} kvs;

static int on_kv(void *ud, const char *k, size_t kl, const unsigned char *v, size_t vl)
{
	kvs *c = ud;

	if (c->n == c->fail_at)
		return -1;
	memcpy(c->keys[c->n], k, kl);
	c->keys[c->n][kl] = '\0';
	if (v)
		memcpy(c->vals[c->n], v, vl);
	c->vlens[c->n++] = vl;
	return 0;
}

static int parse(const char *json, kvs *c, bool *more, int64_t *rev, char **last, size_t *ll, char *err)
{
	memset(c, 0, sizeof(*c));
	c->fail_at = -1;
	return ig_etcd_range_parse(json, strlen(json), on_kv, c, more, rev, last, ll, err, 256);
}

static void prefix_end(void **state)
{
	char end[8];

	(void)state;
	assert_int_equal(ig_etcd_prefix_end("/tidb/", 6, end), 6);
	assert_memory_equal(end, "/tidb0", 6); /* '/' + 1 */
	assert_int_equal(ig_etcd_prefix_end("a\xff\xff", 3, end), 1); /* 0xff carries: cut */
	assert_memory_equal(end, "b", 1);
	assert_int_equal(ig_etcd_prefix_end("a\xfe\xff", 3, end), 2);
	assert_memory_equal(end, "a\xff", 2);
	assert_int_equal(ig_etcd_prefix_end("\xff\xff", 2, end), 1); /* no end: from key on */
	assert_int_equal(end[0], '\0');
	assert_int_equal(ig_etcd_prefix_end("", 0, end), 1);
	assert_int_equal(end[0], '\0');
}

static void range_answers(void **state)
{
	kvs c;
	bool more;
	int64_t rev;
	char *last, err[256];
	size_t ll;

	(void)state;
	/* etcd 3.4 gateway: int64 as strings; the empty value omitted */
	assert_int_equal(parse("{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\",\"revision\":\"77\","
	                       "\"raft_term\":\"3\"},\"kvs\":[{\"key\":\"YQ==\",\"create_revision\":\"5\","
	                       "\"mod_revision\":\"5\",\"version\":\"1\",\"value\":\"eHl6\"},{\"key\":\"Yg==\","
	                       "\"create_revision\":\"6\"}],\"more\":true,\"count\":\"9\"}",
	                       &c, &more, &rev, &last, &ll, err), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.keys[0], "a");
	assert_int_equal(c.vlens[0], 3);
	assert_memory_equal(c.vals[0], "xyz", 3);
	assert_string_equal(c.keys[1], "b");
	assert_int_equal(c.vlens[1], 0);
	assert_true(more);
	assert_int_equal(rev, 77);
	assert_int_equal(ll, 1);
	assert_memory_equal(last, "b", 1);
	free(last);
	/* an empty range: no kvs at all; revision as a number */
	assert_int_equal(parse("{\"header\":{\"revision\":12}}", &c, &more, &rev, &last, &ll, err), 0);
	assert_int_equal(c.n, 0);
	assert_false(more);
	assert_int_equal(rev, 12);
	assert_null(last);
	/* errors */
	static const struct {
		const char *json, *needle;
	} bad[] = {
		{"{\"error\":\"etcdserver: mvcc: required revision has been compacted\",\"code\":11}",
		 "etcd error: etcdserver: mvcc: required revision has been compacted"},
		{"{\"code\":3,\"message\":\"invalid character\"}", "etcd error: invalid character"},
		{"<html>404</html>", "bad JSON answer"},
		{"[]", "not a JSON object"},
		{"{\"kvs\":{}}", "kvs is not an array"},
		{"{\"kvs\":[1]}", "kvs[0] is not an object"},
		{"{\"kvs\":[{\"value\":\"YQ==\"}]}", "kvs[0].key is missing or not base64"},
		{"{\"kvs\":[{\"key\":\"***\"}]}", "kvs[0].key is missing or not base64"},
		{"{\"kvs\":[{\"key\":\"YQ==\",\"value\":7}]}", "kvs[0].value is not base64"},
		{"{\"more\":true}", "says more but holds no key"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse(bad[i].json, &c, &more, &rev, &last, &ll, err) == 0)
			fail_msg("%s parsed", bad[i].json);
		assert_null(last);
		if (!strstr(err, bad[i].needle))
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].json, err, bad[i].needle);
	}
	/* the callback's failure (out of memory) stops the parse */
	memset(&c, 0, sizeof(c));
	c.fail_at = 0;
	{
		static const char one[] = "{\"kvs\":[{\"key\":\"YQ==\"}]}";
		assert_int_equal(ig_etcd_range_parse(one, strlen(one), on_kv, &c, &more, &rev, &last, &ll,
		                                     err, sizeof(err)), -1);
	}
	assert_null(last);
}

static int load(const char *yaml, ig_config **cfg, char *err)
{
	return ig_config_load_string("t", yaml, strlen(yaml), cfg, err, 256);
}

static void no_pd(void **state)
{
	char err[256];
	ig_config *cfg;
	ig_cluster_state *st = (ig_cluster_state *)1;

	(void)state;
	assert_int_equal(load("cluster: {pd: []}\n", &cfg, err), 0);
	assert_int_equal(ig_cluster_read(cfg, &st, err, sizeof(err)), -1);
	assert_null(st);
	assert_non_null(strstr(err, "cluster.pd is empty"));
	ig_config_free(cfg);
	/* nothing listens on port 1: the error names the endpoint */
	assert_int_equal(load("cluster: {pd: [\"http://127.0.0.1:1\"], timeout_ms: 500}\n", &cfg, err), 0);
	assert_int_equal(ig_cluster_read(cfg, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot read the cluster state: pd http://127.0.0.1:1: "));
	ig_config_free(cfg);
}

/* TIDB_VERSION()'s text (printer.GetTiDBInfo): the release and the kernel, not the greeting's. */
static void version_info(void **state)
{
	ig_tidb_version v;
	bool ng;
	const char *classic = "Release Version: v8.5.1\nEdition: Community\nGit Commit Hash: abc\nStore: tikv";
	const char *master = "Release Version: v9.0.0-beta.2-12-gdeadbeef\nEdition: Community\nStore: tikv\n"
	                     "Kernel Type: Classic";
	const char *x = "Release Version: TiDB-X-CLOUD.202603.1\nEdition: Community\nKernel Type: Next Generation";
	const char *xlater = "Release Version: v26.3.1\nEdition: Community\nKernel Type: Next Generation";
	const char *odd = "Release Version: v9.1.0\nKernel Type: Serverless";
	const char *none = "Release Version: None\nEdition: Community";

	(void)state;
	assert_int_equal(ig_tidb_version_from_info(classic, strlen(classic), &v, &ng), 0);
	assert_true(v.major == 8 && v.minor == 5 && v.patch == 1 && !ng);
	assert_int_equal(ig_tidb_version_from_info(master, strlen(master), &v, &ng), 0);
	assert_true(v.major == 9 && v.minor == 0 && v.patch == 0 && !ng);
	assert_int_equal(ig_tidb_version_from_info(x, strlen(x), &v, &ng), 0);
	assert_true(v.major == 26 && v.minor == 3 && v.patch == 1 && ng);
	/* the kernel line alone says TiDB X; a kernel the gateway does not know is not classic */
	assert_int_equal(ig_tidb_version_from_info(xlater, strlen(xlater), &v, &ng), 0);
	assert_true(v.major == 26 && ng);
	assert_int_equal(ig_tidb_version_from_info(odd, strlen(odd), &v, &ng), 0);
	assert_true(ng);
	/* a build without a release (tidb-release-version unset): TiDB, version unknown */
	assert_int_equal(ig_tidb_version_from_info(none, strlen(none), &v, &ng), 0);
	assert_true(v.major == -1 && !ng);
	/* not TIDB_VERSION()'s text; a key only as a prefix of a line's value does not count */
	assert_int_equal(ig_tidb_version_from_info("10.11.6-MariaDB", 15, &v, &ng), -1);
	assert_int_equal(ig_tidb_version_from_info("Edition: Release Version: v8.5.1", 32, &v, &ng), -1);
	assert_int_equal(ig_tidb_version_from_info(NULL, 0, &v, &ng), -1);
	assert_int_equal(v.major, -1);
}

/* The one reading of what a backend said of itself (decision.c and coverage.c call it). */
static void backend_identify(void **state)
{
	ig_tidb_version v;
	bool ng;
	const char *x_info = "Release Version: CLOUD.202603.0\nKernel Type: Next Generation";

	(void)state;
	/* no probe: the greeting; a TiDB X greeting decides even with numbers not of its form */
	assert_int_equal(ig_tidb_backend_identify("8.0.11-TiDB-v8.1.0", NULL, NULL, &v, &ng), 0);
	assert_true(v.major == 8 && v.minor == 1 && !ng);
	assert_int_equal(ig_tidb_backend_identify("8.0.11-TiDB-X-CLOUD.latest", NULL, NULL, &v, &ng), 0);
	assert_true(v.major == -1 && ng);
	assert_int_equal(ig_tidb_backend_identify("10.11.6-MariaDB", NULL, NULL, &v, &ng), -1);
	assert_int_equal(ig_tidb_backend_identify(NULL, NULL, NULL, &v, &ng), -1);
	/* probed: TIDB_VERSION() first, then @@version, never the greeting (a TiProxy's) */
	assert_int_equal(ig_tidb_backend_identify("8.0.11-TiDB-v8.5.0", "8.0.11-TiDB-v6.5.0",
	                                          "Release Version: v7.5.1\nEdition: Community", &v, &ng), 0);
	assert_true(v.major == 7 && v.minor == 5 && !ng);
	assert_int_equal(ig_tidb_backend_identify("8.0.11-TiDB-v8.5.0", "8.0.11-TiDB-v8.1.0", NULL, &v, &ng), 0);
	assert_true(v.major == 8 && v.minor == 1 && !ng);
	assert_int_equal(ig_tidb_backend_identify("8.0.11-TiDB-v8.5.0", "8.0.36", "Release Version: None", &v, &ng), -1);
	assert_false(ng);
	/* TiDB X by any one of the three */
	assert_int_equal(ig_tidb_backend_identify("5.7.25-TiDB-None", "8.0.11-TiDB-v8.5.0", x_info, &v, &ng), 0);
	assert_true(v.major == 26 && ng);
	ig_tidb_backend_identify("8.0.11-TiDB-CLOUD.202603.0", "8.0.11-TiDB-v8.5.0", NULL, &v, &ng);
	assert_true(ng);
	ig_tidb_backend_identify("8.0.11-TiDB-v8.5.0", "8.0.11-TiDB-X-CLOUD.202603.1", NULL, &v, &ng);
	assert_true(ng);
}

/* What the Lightning preflight needs before skipping Lightning's own check: a released classic. */
static void info_names_release(void **state)
{
	static const char *const yes[] = {
		"Release Version: v8.5.1\nEdition: Community\nGit Commit Hash: abc",
		"Release Version: v7.5.10\nEdition: Enterprise\nKernel Type: Classic",
		"Edition: Community\nRelease Version: v8.1.2",
	};
	static const char *const no[] = {
		"Release Version: v9.0.0-beta.2-12-gdeadbeef\nKernel Type: Classic", /* pre-release */
		"Release Version: v9.0.0-beta.2\nEdition: Community",               /* next-gen before the kernel line */
		"Release Version: v26.3.1\nKernel Type: Next Generation",
		"Release Version: v8.5.1\nKernel Type: Serverless",                 /* a kernel not known */
		"Release Version: TiDB-X-CLOUD.202603.1\nEdition: Community",
		"Release Version: CLOUD.202603.0",
		"Release Version: None\nEdition: Community",
		"Release Version: v8.5.1\r\nEdition: Community",                    /* anything after Z */
		"Release Version: v8.5.1 \nEdition: Community",
		"Release Version: v8.5\nEdition: Community",
		"Release Version: v8.5.1.2",
		"Release Version: 8.5.1",
		"Release Version: v8..1",
		"Release Version: v8.5.",
		"Release Version: vx.5.1",
		"Edition: Release Version: v8.5.1",
		"8.0.11-TiDB-v8.5.1",
		"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(ig_tidb_info_names_release(yes[i], strlen(yes[i])));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (ig_tidb_info_names_release(no[i], strlen(no[i])))
			fail_msg("read as a released classic TiDB: %s", no[i]);
	}
	assert_false(ig_tidb_info_names_release(NULL, 0));
}

static void versions(void **state)
{
	ig_tidb_version v;

	(void)state;
	assert_int_equal(ig_tidb_version_parse("v8.5.0", 6, &v), 0);
	assert_true(v.major == 8 && v.minor == 5 && v.patch == 0);
	assert_int_equal(ig_tidb_version_parse("7.1.3-alpha", 11, &v), 0);
	assert_true(v.major == 7 && v.minor == 1 && v.patch == 3);
	assert_int_equal(ig_tidb_version_parse("v8.5", 4, &v), -1);
	assert_int_equal(v.major, -1);
	assert_int_equal(ig_tidb_version_parse("v8.5.0 ", 7, &v), -1);
	assert_int_equal(ig_tidb_version_parse("v8.x.0", 6, &v), -1);
	assert_int_equal(ig_tidb_version_parse("v8.5.0-", 7, &v), -1);
	assert_int_equal(ig_tidb_version_parse(NULL, 0, &v), -1);
	assert_int_equal(ig_tidb_version_from_server("8.0.11-TiDB-v8.5.0", 18, &v), 0);
	assert_true(v.major == 8 && v.minor == 5 && v.patch == 0);
	assert_int_equal(ig_tidb_version_from_server("5.7.25-TiDB-v7.5.1-alpha-12-gabc", 32, &v), 0);
	assert_true(v.major == 7 && v.minor == 5 && v.patch == 1);
	assert_int_equal(ig_tidb_version_from_server("10.11.6-MariaDB-0+deb12u1", 25, &v), -1);
	assert_int_equal(v.major, -1);
	assert_int_equal(ig_tidb_version_from_server("8.0.36", 6, &v), -1);
	assert_false(ig_tidb_server_nextgen("8.0.11-TiDB-v8.5.0", 18));
	assert_false(ig_tidb_server_nextgen(NULL, 0));
	/* TiDB X: "-TiDB-X-CLOUD.YYYYMM.P" (and the earlier "-TiDB-CLOUD."), release vYY.MM.P */
	assert_int_equal(ig_tidb_version_from_server("8.0.11-TiDB-X-CLOUD.202603.1", 28, &v), 0);
	assert_true(v.major == 26 && v.minor == 3 && v.patch == 1);
	assert_true(ig_tidb_server_nextgen("8.0.11-TiDB-X-CLOUD.202603.1", 28));
	assert_int_equal(ig_tidb_version_from_server("8.0.11-TiDB-CLOUD.202510.0-xxx", 30, &v), 0);
	assert_true(v.major == 25 && v.minor == 10 && v.patch == 0);
	assert_true(ig_tidb_server_nextgen("8.0.11-TiDB-CLOUD.202510.0-xxx", 30));
	/* named TiDB X, numbers not of its form: TiDB X, version unknown */
	assert_int_equal(ig_tidb_version_from_server("8.0.11-TiDB-X-CLOUD.202613.1", 28, &v), 0);
	assert_int_equal(v.major, -1);
	assert_int_equal(ig_tidb_version_from_server("8.0.11-TiDB-X-CLOUD.latest", 26, &v), 0);
	assert_int_equal(v.major, -1);
	assert_true(ig_tidb_server_nextgen("8.0.11-TiDB-X-CLOUD.latest", 26));
	v = (ig_tidb_version){8, 0, 0};
	assert_true(ig_tidb_version_at_least(&v, 8, 0));
	v = (ig_tidb_version){7, 6, 9};
	assert_false(ig_tidb_version_at_least(&v, 8, 0));
	v = (ig_tidb_version){9, 0, 0};
	assert_true(ig_tidb_version_at_least(&v, 8, 0));
	v = (ig_tidb_version){-1, 0, 0};
	assert_false(ig_tidb_version_at_least(&v, 8, 0));
	assert_false(ig_tidb_version_at_least(NULL, 8, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(version_info),
		cmocka_unit_test(backend_identify),
		cmocka_unit_test(info_names_release),
		cmocka_unit_test(base64),
		cmocka_unit_test(range_body),
		cmocka_unit_test(prefix_end),
		cmocka_unit_test(range_answers),
		cmocka_unit_test(no_pd),
		cmocka_unit_test(versions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
