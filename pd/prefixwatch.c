/*
 * prefixwatch.c - a watch stream on one key prefix that wakes its user up (see
 * prefixwatch.h). Each stream line is parsed with etcdwatch.c's parser; a line with events
 * calls the user's function. When the stream ends (etcd gone, canceled, compacted), it is
 * reopened from the current revision a second later: what happened in between is found by
 * the user's own read, so nothing is resumed from a revision.
 */
#include "pd/prefixwatch.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/base64.h"
#include "pd/etcdread.h"
#include "pd/etcdwatch.h"
#include "pd/pdstream.h"

#define RETRY_MS 1000
#define MAX_LINE_BYTES (1u << 20) /* a response on a prefix of a few leased keys is small */

struct ig_prefix_watch {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool stop, streaming;
	atomic_uint_fast64_t events;
	ig_pd_stream pd;    /* endpoint and TLS files, copied */
	char *body;
	ig_prefix_watch_fn fn;
	void *ud;
	ig_pd_lines lines;  /* the incomplete line being received */
};

char *ig_prefix_watch_body(const char *prefix)
{
	size_t n = strlen(prefix), elen;
	char *end = malloc(n + 1), *k = malloc(ig_b64_encoded_len(n) + 1);
	char *e = malloc(ig_b64_encoded_len(n) + 1), *out = NULL;

	if (end && k && e && n > 0) {
		elen = ig_etcd_prefix_end(prefix, n, end);
		ig_b64_encode((const unsigned char *)prefix, n, k);
		ig_b64_encode((const unsigned char *)end, elen, e);
		size_t cap = strlen(k) + strlen(e) + 80;
		if ((out = malloc(cap)))
			snprintf(out, cap, "{\"create_request\":{\"key\":\"%s\",\"range_end\":\"%s\"}}", k, e);
	}
	free(end);
	free(k);
	free(e);
	return out;
}

/* One complete line: created -> streaming; events -> the user's function. -1 ends the
 * stream (an error object, canceled, compacted, or a line that is not a watch response). */
static int apply_line(void *ud, const char *p, size_t n)
{
	ig_prefix_watch *w = ud;
	ig_watch_msg m;
	char e[200];

	if (n == 0)
		return 0;
	if (ig_etcd_watch_parse(p, n, &m, e, sizeof(e)) < 0 || m.canceled || m.compact_revision > 0)
		return -1;
	if (m.created)
		atomic_store(&w->streaming, true);
	if (m.nevents > 0) {
		atomic_fetch_add(&w->events, 1);
		w->fn(w->ud);
	}
	return 0;
}

static size_t on_stream(char *data, size_t size, size_t nmemb, void *ud)
{
	ig_prefix_watch *w = ud;
	const char *why;

	if (ig_pd_lines_feed(&w->lines, data, size * nmemb, MAX_LINE_BYTES, apply_line, w, &why) < 0)
		return 0; /* ends the transfer: reopened later */
	return size * nmemb;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	ig_prefix_watch *w = ud;
	(void)a, (void)b, (void)c, (void)d;
	return atomic_load(&w->stop) ? 1 : 0;
}

/* One stream, until it ends or stop is set. */
static void stream_once(ig_prefix_watch *w)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");

	ig_pd_lines_free(&w->lines); /* a new stream starts clean */
	if (c && h) {
		CURLcode s = ig_pd_stream_setup(c, &w->pd, h, w->body, on_stream, on_progress, w, NULL);
		if (s == CURLE_OK)
			(void)curl_easy_perform(c); /* returns when the stream ends */
	}
	atomic_store(&w->streaming, false);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static void *run(void *arg)
{
	pthread_setname_np(pthread_self(), "ig-pd-prefix"); /* its name in top -H, ps -L, perf */
	ig_prefix_watch *w = arg;

	while (!atomic_load(&w->stop)) {
		struct timespec ts;
		stream_once(w);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += RETRY_MS / 1000;
		pthread_mutex_lock(&w->lock);
		if (!atomic_load(&w->stop))
			pthread_cond_timedwait(&w->cond, &w->lock, &ts);
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

static void free_watch(ig_prefix_watch *w)
{
	ig_pd_stream_free(&w->pd);
	free(w->body);
	ig_pd_lines_free(&w->lines);
	free(w);
}

ig_prefix_watch *ig_prefix_watch_start(const ig_config *cfg, const char *endpoint,
                                       const char *prefix, ig_prefix_watch_fn fn, void *ud,
                                       char *err, size_t errlen)
{
	ig_prefix_watch *w = calloc(1, sizeof(*w));

	if (!w || ig_pd_stream_init(&w->pd, cfg, endpoint) < 0) {
		free(w);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->body = ig_prefix_watch_body(prefix);
	w->fn = fn;
	w->ud = ud;
	atomic_init(&w->stop, false);
	atomic_init(&w->streaming, false);
	atomic_init(&w->events, 0);
	if (!w->body) {
		free_watch(w);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, run, w) != 0) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free_watch(w);
		snprintf(err, errlen, "cannot start the watch thread");
		return NULL;
	}
	return w;
}

bool ig_prefix_watch_streaming(ig_prefix_watch *w)
{
	return w && atomic_load(&w->streaming);
}

uint64_t ig_prefix_watch_events(ig_prefix_watch *w)
{
	return w ? atomic_load(&w->events) : 0;
}

const char *ig_prefix_watch_endpoint(const ig_prefix_watch *w)
{
	return w ? w->pd.endpoint : NULL;
}

void ig_prefix_watch_stop(ig_prefix_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->stop, true);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free_watch(w);
}
