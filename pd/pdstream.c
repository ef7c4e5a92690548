/*
 * pdstream.c - what every watch stream to PD's etcd shares (see pdstream.h): its settings
 * and the cutting of its answer into lines.
 */
#include "pd/pdstream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void curl_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT); /* reference-counted: the readers' calls are fine */
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*oom = true;
	return d;
}

int ig_pd_stream_init(ig_pd_stream *s, const ig_config *cfg, const char *endpoint)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	bool oom = false;

	pthread_once(&once, curl_once);
	memset(s, 0, sizeof(*s));
	s->endpoint = dup_or_null(endpoint, &oom);
	s->tls.ca = dup_or_null(cfg->cluster.tls.ca, &oom);
	s->tls.cert = dup_or_null(cfg->cluster.tls.cert, &oom);
	s->tls.key = dup_or_null(cfg->cluster.tls.key, &oom);
	s->connect_timeout_ms = cfg->cluster.timeout_ms;
	if (oom || !s->endpoint) {
		ig_pd_stream_free(s);
		return -1;
	}
	return 0;
}

void ig_pd_stream_free(ig_pd_stream *s)
{
	free(s->endpoint);
	free(s->tls.ca);
	free(s->tls.cert);
	free(s->tls.key);
	memset(s, 0, sizeof(*s));
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool ig_pd_stream_same(const ig_pd_stream *s, const ig_config *cfg, const char *endpoint)
{
	return same(s->endpoint, endpoint) && same(s->tls.ca, cfg->cluster.tls.ca) &&
	       same(s->tls.cert, cfg->cluster.tls.cert) && same(s->tls.key, cfg->cluster.tls.key);
}

CURLcode ig_pd_stream_setup(CURL *c, const ig_pd_stream *s, struct curl_slist *h, const char *body,
                            curl_write_callback write, curl_xferinfo_callback progress, void *ud,
                            char *errbuf)
{
	char url[1100];
	CURLcode rc = CURLE_OK;

	snprintf(url, sizeof(url), "%s/v3/watch", s->endpoint);
	rc |= curl_easy_setopt(c, CURLOPT_URL, url); /* libcurl keeps its own copy */
	rc |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS */
	rc |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
	rc |= curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L); /* a vanished peer ends the stream */
	rc |= curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 10L);
	rc |= curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 5L);
	rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(c, CURLOPT_PROXY, ""); /* PD directly, as pd/pdhttp.c (attack21) */
	rc |= curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2); /* as pd/pdhttp.c */
	rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, ud);
	rc |= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	rc |= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
	rc |= curl_easy_setopt(c, CURLOPT_XFERINFODATA, ud);
	if (errbuf)
		rc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (s->tls.ca)
		rc |= curl_easy_setopt(c, CURLOPT_CAINFO, s->tls.ca);
	if (s->tls.cert)
		rc |= curl_easy_setopt(c, CURLOPT_SSLCERT, s->tls.cert);
	if (s->tls.key)
		rc |= curl_easy_setopt(c, CURLOPT_SSLKEY, s->tls.key);
	return rc;
}

int ig_pd_lines_feed(ig_pd_lines *l, const char *data, size_t n, size_t max, ig_pd_line_fn fn,
                     void *ud, const char **why)
{
	size_t start = 0, from = l->len; /* bytes before `from` hold no newline */
	char *q, *nl;

	*why = NULL;
	if (n > max || l->len > max - n) {
		*why = "watch response too large";
		return -1;
	}
	if (!(q = realloc(l->buf, l->len + n + 1))) {
		*why = "out of memory";
		return -1;
	}
	l->buf = q;
	memcpy(l->buf + l->len, data, n);
	l->len += n;
	while ((nl = memchr(l->buf + from, '\n', l->len - from))) {
		size_t end = (size_t)(nl - l->buf);
		if (fn(ud, l->buf + start, end - start) < 0)
			return -1;
		start = from = end + 1;
	}
	memmove(l->buf, l->buf + start, l->len - start);
	l->len -= start;
	return 0;
}

void ig_pd_lines_free(ig_pd_lines *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = 0;
}
