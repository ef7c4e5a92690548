/*
 * etcdwatch.c - the watch stream of PD's etcd (see etcdwatch.h): the parser of one stream
 * line (pure), and the thread that keeps one stream open and publishes what it has seen.
 */
#include "pd/etcdwatch.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/base64.h"
#include "policy/etcdjson.h"
#include "policy/clusterstate.h"
#include "pd/pdstream.h"

#define MAX_LINE_BYTES (64u << 20) /* one response can batch many revisions while catching up */

static int werr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- pure parts ---- */

static bool has_prefix(const char *key, size_t klen, const char *prefix)
{
	size_t n = strlen(prefix);
	return klen >= n && memcmp(key, prefix, n) == 0;
}

bool ig_etcd_key_relevant(const char *key, size_t klen)
{
	char *cl = NULL, *ns = NULL, *id = NULL;
	size_t ksl = ig_keyspace_ns_len(key, klen);
	int rc;

	/* a task key, plain or in a keyspace namespace; nothing else of a keyspace's TiDB */
	if (ig_task_key(key + ksl, klen - ksl))
		return true;
	if (ksl || !has_prefix(key, klen, IG_KEY_CDC))
		return false;
	rc = ig_changefeed_key(key, klen, &cl, &ns, &id);
	free(cl);
	free(ns);
	free(id);
	return rc != 0; /* out of memory (-1) counts as relevant: the safe side */
}

static int one_event(const json_t *ev, size_t i, ig_watch_msg *m, char *err, size_t errlen)
{
	const json_t *kv = json_object_get(ev, "kv"), *k;
	int64_t rev;
	unsigned char *key;
	long klen;

	if (!json_is_object(ev) || !json_is_object(kv))
		return werr(err, errlen, "events[%zu] has no kv object", i);
	if (ig_etcd_json_i64(json_object_get(kv, "mod_revision"), &rev) < 0 || rev <= 0)
		return werr(err, errlen, "events[%zu].kv.mod_revision is missing or not a number", i);
	k = json_object_get(kv, "key");
	if (!json_is_string(k) || json_string_length(k) == 0)
		return werr(err, errlen, "events[%zu].kv.key is missing", i);
	key = malloc(json_string_length(k) / 4 * 3 + 4);
	if (!key)
		return werr(err, errlen, "out of memory");
	klen = ig_b64_decode(json_string_value(k), json_string_length(k), key);
	if (klen <= 0) {
		free(key);
		return werr(err, errlen, "events[%zu].kv.key is not base64", i);
	}
	if (rev > m->max_event_revision)
		m->max_event_revision = rev;
	if (ig_etcd_key_relevant((const char *)key, (size_t)klen) && rev > m->max_relevant_revision)
		m->max_relevant_revision = rev;
	free(key);
	return 0;
}

static int parse_result(const json_t *res, ig_watch_msg *m, char *err, size_t errlen)
{
	const json_t *evs = json_object_get(res, "events");
	const json_t *h = json_object_get(res, "header");

	if (!json_is_object(h) || ig_etcd_json_i64(json_object_get(h, "revision"), &m->header_revision) < 0)
		return werr(err, errlen, "watch response without a header revision");
	m->created = json_is_true(json_object_get(res, "created"));
	m->canceled = json_is_true(json_object_get(res, "canceled"));
	if (ig_etcd_json_i64(json_object_get(res, "compact_revision"), &m->compact_revision) < 0)
		return werr(err, errlen, "compact_revision is not a number");
	if (evs && !json_is_array(evs))
		return werr(err, errlen, "events is not an array");
	m->nevents = evs ? json_array_size(evs) : 0;
	for (size_t i = 0; i < m->nevents; i++)
		if (one_event(json_array_get(evs, i), i, m, err, errlen) < 0)
			return -1;
	return 0;
}

int ig_etcd_watch_parse(const char *text, size_t len, ig_watch_msg *m, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root, *res, *e;
	int rc;

	memset(m, 0, sizeof(*m));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return werr(err, errlen, "watch response is not JSON: %s", je.text);
	res = json_object_get(root, "result");
	e = json_object_get(root, "error");
	if (e) {
		const json_t *msg = json_is_object(e) ? json_object_get(e, "message") : NULL;
		rc = werr(err, errlen, "watch ended by etcd: %.200s",
		          json_is_string(msg) ? json_string_value(msg) : "(no message)");
	} else if (!json_is_object(res)) {
		rc = werr(err, errlen, "watch response without a result object");
	} else {
		rc = parse_result(res, m, err, errlen);
	}
	json_decref(root);
	return rc;
}

char *ig_etcd_watch_body(int64_t start_revision)
{
	/* key "\0" with range_end "\0": every key (etcd's "from key" convention) */
	char *out = malloc(160);
	if (out)
		snprintf(out, 160, "{\"create_request\":{\"key\":\"AA==\",\"range_end\":\"AA==\","
		                   "\"start_revision\":\"%lld\"}}", (long long)start_revision);
	return out;
}

/* ---- the watcher thread ---- */

struct ig_watcher {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int64_t seen;       /* every event up to this revision has been seen */
	int64_t relevant;   /* newest revision that changed a key a decision reads */
	bool broken;
	atomic_bool stop;
	atomic_int holders; /* the thread and the owner: the last one frees */
	ig_pd_stream pd;    /* endpoint and TLS files, copied */
	int64_t from;
	ig_pd_lines lines;  /* the incomplete line being received */
	char reason[300];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_broken(ig_watcher *w, const char *why)
{
	pthread_mutex_lock(&w->lock);
	if (!w->broken)
		snprintf(w->reason, sizeof(w->reason), "%s", why);
	w->broken = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Applies one complete line; -1 when the stream cannot be trusted any more. */
static int apply_line(void *ud, const char *p, size_t n)
{
	ig_watcher *w = ud;
	ig_watch_msg m;
	char e[300];

	if (n == 0)
		return 0;
	if (ig_etcd_watch_parse(p, n, &m, e, sizeof(e)) < 0) {
		set_broken(w, e);
		return -1;
	}
	if (m.canceled || m.compact_revision > 0) {
		set_broken(w, m.compact_revision > 0 ? "etcd compacted past the watch's start revision"
		                                     : "watch canceled by etcd");
		return -1;
	}
	pthread_mutex_lock(&w->lock);
	/* Only event revisions count as "seen": while catching up, etcd may put its current
	 * revision in the header of a batch that does not yet hold every event up to it. */
	if (m.max_event_revision > w->seen)
		w->seen = m.max_event_revision;
	if (m.max_relevant_revision > w->relevant)
		w->relevant = m.max_relevant_revision;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static size_t on_stream(char *data, size_t size, size_t nmemb, void *ud)
{
	ig_watcher *w = ud;
	const char *why;

	if (ig_pd_lines_feed(&w->lines, data, size * nmemb, MAX_LINE_BYTES, apply_line, w, &why) < 0) {
		if (why)
			set_broken(w, why);
		return 0;
	}
	return size * nmemb;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	ig_watcher *w = ud;
	(void)a, (void)b, (void)c, (void)d;
	return atomic_load(&w->stop) ? 1 : 0;
}

static void free_watcher(ig_watcher *w);

static void release(ig_watcher *w)
{
	if (atomic_fetch_sub(&w->holders, 1) == 1) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free_watcher(w);
	}
}

static void *run(void *arg)
{
	pthread_setname_np(pthread_self(), "ig-pd-watch"); /* its name in top -H, ps -L, perf */
	ig_watcher *w = arg;
	char cerr[CURL_ERROR_SIZE] = "", why[256];
	char *body = ig_etcd_watch_body(w->from + 1);
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	CURLcode rc = CURLE_OUT_OF_MEMORY;

	if (body && c && h) {
		CURLcode s = ig_pd_stream_setup(c, &w->pd, h, body, on_stream, on_progress, w, cerr);
		rc = s == CURLE_OK ? curl_easy_perform(c) : CURLE_FAILED_INIT;
	}
	snprintf(why, sizeof(why), "watch stream ended: %.200s",
	         cerr[0] ? cerr : rc == CURLE_OK ? "closed by etcd" : curl_easy_strerror(rc));
	set_broken(w, why);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(body);
	release(w);
	return NULL;
}

static void free_watcher(ig_watcher *w)
{
	ig_pd_stream_free(&w->pd);
	ig_pd_lines_free(&w->lines);
	free(w);
}

ig_watcher *ig_watcher_start(const ig_config *cfg, const char *endpoint, int64_t from,
                             char *err, size_t errlen)
{
	ig_watcher *w = calloc(1, sizeof(*w));

	if (!w || ig_pd_stream_init(&w->pd, cfg, endpoint) < 0) {
		free(w);
		werr(err, errlen, "out of memory");
		return NULL;
	}
	w->from = w->seen = from;
	atomic_init(&w->stop, false);
	atomic_init(&w->holders, 2);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, run, w) != 0) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free_watcher(w);
		werr(err, errlen, "cannot start the watch thread");
		return NULL;
	}
	return w;
}

int ig_watcher_wait(ig_watcher *w, int64_t revision, int timeout_ms, int64_t *relevant)
{
	int64_t deadline = now_ms() + timeout_ms;
	int rc = 0;

	pthread_mutex_lock(&w->lock);
	while (!w->broken && w->seen < revision) {
		int64_t left = deadline - now_ms();
		struct timespec ts;
		if (left <= 0) {
			rc = -1;
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	}
	if (w->broken)
		rc = -1;
	*relevant = w->relevant;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

bool ig_watcher_broken(ig_watcher *w)
{
	pthread_mutex_lock(&w->lock);
	bool b = w->broken;
	pthread_mutex_unlock(&w->lock);
	return b;
}

bool ig_watcher_matches(ig_watcher *w, const ig_config *cfg, const char *endpoint)
{
	return ig_pd_stream_same(&w->pd, cfg, endpoint);
}

void ig_watcher_stop(ig_watcher *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	release(w);
}

void ig_watcher_abandon(ig_watcher *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	pthread_detach(w->thread);
	release(w); /* the thread frees it when it ends, within about a second */
}
