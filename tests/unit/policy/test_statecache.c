/*
 * test_statecache.c - the pure parts of the watch-fed state cache: the watch stream's lines
 * as etcd 3.4's JSON gateway writes them (created, PUT with the type omitted, DELETE,
 * several events, compaction, cancel, error object, malformed), which keys count for a
 * decision, and the watch request body; and the watcher thread against a fake streaming
 * HTTP server in this process (what "seen up to revision N" means, partial lines, a catch-up
 * batch whose header runs ahead, compaction, an unreachable endpoint, stopping an idle
 * stream).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "policy/base64.h"
#include "pd/etcdwatch.h"

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
		/* a keyspace's tasks under its etcd namespace; nothing else its TiDB keeps there */
		{"", "/keyspaces/tidb/42/tidb/br-stream/info/t1", 1},
		{"\"type\":\"DELETE\",", "/keyspaces/tidb/42/tidb/br-stream/info/t1", 1},
		{"", "/keyspaces/tidb/42/tidb/br-stream/pause/t1", 1},
		{"", "/keyspaces/tidb/42/tidb/br-stream/last-error/t1/store1", 1},
		{"", "/keyspaces/tidb/42/tidb/br-stream/checkpoint/t1/central_global", 0},
		{"", "/keyspaces/tidb/42/topology/tidb/10.0.0.1:4000/ttl", 0},
		{"", "/keyspaces/tidb/42/tidb/cdc/default/default/changefeed/info/cf1", 0},
		{"", "/keyspaces/tidb/x/tidb/br-stream/info/t1", 0},
		{"", "/keyspaces/tidb/42tidb/autoid/leader/1", 0},
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

/* ---- the watcher thread against a fake etcd ---- */

static int listen_any(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Accepts the watcher's connection, checks its request, answers with a streaming 200. */
static int accept_watch(int lfd, const char *expect_body)
{
	char req[4096] = "";
	size_t n = 0;
	int fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	while (!strstr(req, expect_body)) {
		ssize_t r = read(fd, req + n, sizeof(req) - 1 - n);
		assert_true(r > 0);
		n += (size_t)r;
		req[n] = '\0';
	}
	assert_non_null(strstr(req, "POST /v3/watch HTTP/1.1"));
	send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n");
	return fd;
}

static ig_config *test_config(void)
{
	ig_config *cfg = calloc(1, sizeof(*cfg));
	assert_non_null(cfg);
	cfg->cluster.timeout_ms = 1000;
	return cfg;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void watcher_stream(void **state)
{
	ig_config *cfg = test_config();
	char url[64], err[200], *line;
	int port, lfd = listen_any(&port), fd;
	int64_t rel = -1;
	ig_watcher *w;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	w = ig_watcher_start(cfg, url, 10, err, sizeof(err));
	assert_non_null(w);
	assert_true(ig_watcher_matches(w, cfg, url));
	assert_false(ig_watcher_matches(w, cfg, "http://127.0.0.1:1"));
	/* the read's own revision is seen from the start */
	assert_int_equal(ig_watcher_wait(w, 10, 0, &rel), 0);
	assert_int_equal(rel, 0);
	fd = accept_watch(lfd, "\"start_revision\":\"11\"}}");
	/* nothing after 10 yet: waiting for 11 times out, the watcher is not broken */
	assert_int_equal(ig_watcher_wait(w, 11, 100, &rel), -1);
	assert_false(ig_watcher_broken(w));
	send_str(fd, "{\"result\":{\"header\":{\"revision\":\"10\"},\"created\":true}}\n");
	line = event_line("", "/pd/1/timestamp", 11);
	send_str(fd, line);
	send_str(fd, "\n");
	free(line);
	assert_int_equal(ig_watcher_wait(w, 11, 2000, &rel), 0);
	assert_int_equal(rel, 0); /* an unrelated key moves the revision only */
	/* a relevant DELETE at 12, its line split across two writes */
	line = event_line("\"type\":\"DELETE\",", "/tidb/br-stream/info/t1", 12);
	{
		size_t half = strlen(line) / 2;
		assert_int_equal(write(fd, line, half), (ssize_t)half);
		assert_int_equal(ig_watcher_wait(w, 12, 100, &rel), -1);
		send_str(fd, line + half);
		send_str(fd, "\n");
	}
	free(line);
	assert_int_equal(ig_watcher_wait(w, 12, 2000, &rel), 0);
	assert_int_equal(rel, 12);
	/* a catch-up batch: header says 20, events only up to 15: 16 is not seen */
	send_str(fd, "{\"result\":{\"header\":{\"revision\":\"20\"},\"events\":[{\"kv\":"
	             "{\"key\":\"L3g=\",\"mod_revision\":\"15\"}}]}}\n");
	assert_int_equal(ig_watcher_wait(w, 15, 2000, &rel), 0);
	assert_int_equal(ig_watcher_wait(w, 16, 100, &rel), -1);
	assert_false(ig_watcher_broken(w));
	/* compaction ends the watcher: waits fail at once */
	send_str(fd, "{\"result\":{\"header\":{\"revision\":\"30\"},\"compact_revision\":\"25\","
	             "\"canceled\":true}}\n");
	{
		double t0 = mono();
		assert_int_equal(ig_watcher_wait(w, 100, 5000, &rel), -1);
		assert_true(mono() - t0 < 2.0);
	}
	assert_true(ig_watcher_broken(w));
	assert_int_equal(rel, 12);
	ig_watcher_stop(w);
	close(fd);
	close(lfd);
	free(cfg);
}

static void watcher_unreachable(void **state)
{
	ig_config *cfg = test_config();
	char url[64], err[200];
	int port, lfd = listen_any(&port);
	int64_t rel;
	ig_watcher *w;

	(void)state;
	close(lfd); /* nobody listens there any more */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	w = ig_watcher_start(cfg, url, 5, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(ig_watcher_wait(w, 6, 3000, &rel), -1);
	assert_true(ig_watcher_broken(w));
	ig_watcher_stop(w);
	free(cfg);
}

static void watcher_stops_idle_stream(void **state)
{
	ig_config *cfg = test_config();
	char url[64], err[200];
	int port, lfd = listen_any(&port), fd;
	int64_t rel;
	ig_watcher *w;
	double t0;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	w = ig_watcher_start(cfg, url, 7, err, sizeof(err));
	assert_non_null(w);
	fd = accept_watch(lfd, "\"start_revision\":\"8\"}}");
	send_str(fd, "{\"result\":{\"header\":{\"revision\":\"7\"},\"created\":true}}\n");
	assert_int_equal(ig_watcher_wait(w, 7, 0, &rel), 0);
	t0 = mono();
	ig_watcher_stop(w); /* the stream is open and silent */
	assert_true(mono() - t0 < 3.0);
	close(fd);
	close(lfd);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(watcher_stream), cmocka_unit_test(watcher_unreachable),
		cmocka_unit_test(watcher_stops_idle_stream),
		cmocka_unit_test(created), cmocka_unit_test(events), cmocka_unit_test(several),
		cmocka_unit_test(ends), cmocka_unit_test(malformed), cmocka_unit_test(body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
