/*
 * pdhttp.c - the blocking HTTP client for PD's etcd v3 JSON gateway (see pdhttp.h). libcurl
 * does the HTTP and TLS; this file owns the settings every PD request shares (no signals,
 * no redirects, http/https only, bounded time and size) and the error messages.
 */
#include "pd/pdhttp.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct answer {
	char *p;
	size_t len, cap, max;
	bool too_big;
} answer;

static int perr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
	answer *a = ud;
	size_t n = size * nmemb;
	char *q;

	if (a->len + n > a->max) {
		a->too_big = true;
		return 0;
	}
	if (a->len + n + 1 > a->cap) { /* doubling: a large answer comes in many small pieces */
		size_t cap = a->cap ? a->cap : 4096;
		while (cap < a->len + n + 1)
			cap *= 2;
		if (!(q = realloc(a->p, cap)))
			return 0;
		a->p = q;
		a->cap = cap;
	}
	memcpy(a->p + a->len, data, n);
	a->len += n;
	a->p[a->len] = '\0';
	return n;
}

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int ig_pdhttp_init(ig_pdhttp *h, const char *endpoint, long timeout_ms, const char *timeout_key,
                   size_t max_answer, const ig_tls_files *tls, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	CURLcode c = CURLE_OK;
	CURL *curl;

	pthread_once(&once, global_init);
	memset(h, 0, sizeof(*h));
	snprintf(h->endpoint, sizeof(h->endpoint), "%s", endpoint);
	h->timeout_ms = timeout_ms;
	h->timeout_key = timeout_key;
	h->max_answer = max_answer;
	h->curl = curl = curl_easy_init();
	h->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (!curl || !h->headers) {
		ig_pdhttp_free(h);
		return perr(err, errlen, "pd %.200s: out of memory", endpoint);
	}
	c |= curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h->headers);
	c |= curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS */
	c |= curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	c |= curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	c |= curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	c |= curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	/* PD directly, never through a proxy http_proxy / all_proxy would name: the records put
	 * here hold imports' credentials, and a proxy would answer for the cluster state
	 * (attack21). "" disables the environment's proxies too (CURLOPT_PROXY(3)). */
	c |= curl_easy_setopt(curl, CURLOPT_PROXY, "");
	/* TLS 1.2 at least, as on the gateway's own legs (proxy/tls.c), whatever the OpenSSL
	 * configuration in force allows (OPENSSL_CONF can lower the system's floor) */
	c |= curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	c |= curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	if (tls && tls->ca)
		c |= curl_easy_setopt(curl, CURLOPT_CAINFO, tls->ca);
	if (tls && tls->cert)
		c |= curl_easy_setopt(curl, CURLOPT_SSLCERT, tls->cert);
	if (tls && tls->key)
		c |= curl_easy_setopt(curl, CURLOPT_SSLKEY, tls->key);
	if (c != CURLE_OK) {
		ig_pdhttp_free(h);
		return perr(err, errlen, "pd %.200s: cannot set up the HTTP client", endpoint);
	}
	return 0;
}

int ig_pdhttp_post(ig_pdhttp *h, const char *path, const char *json, char **body, size_t *len,
                   char *err, size_t errlen)
{
	char url[1024], cerr[CURL_ERROR_SIZE] = "";
	answer a = {.max = h->max_answer};
	long status = 0;
	CURLcode c = CURLE_OK;

	*body = NULL;
	*len = 0;
	if (!h->curl)
		return perr(err, errlen, "pd %.200s: no HTTP client", h->endpoint);
	snprintf(url, sizeof(url), "%s%s", h->endpoint, path);
	c |= curl_easy_setopt(h->curl, CURLOPT_URL, url);
	c |= curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, cerr);
	c |= curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, json);
	c |= curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &a);
	if (c == CURLE_OK)
		c = curl_easy_perform(h->curl);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, NULL); /* cerr is about to go */
	if (c != CURLE_OK) {
		free(a.p);
		if (a.too_big)
			return perr(err, errlen, "pd %.200s: answer larger than %zu bytes", h->endpoint, h->max_answer);
		if (c == CURLE_OPERATION_TIMEDOUT)
			return perr(err, errlen, "pd %.200s: timed out after %ld ms (%s)", h->endpoint,
			            h->timeout_ms, h->timeout_key);
		return perr(err, errlen, "pd %.200s: %s", h->endpoint, cerr[0] ? cerr : curl_easy_strerror(c));
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		while (a.p && a.len > 0 && (a.p[a.len - 1] == '\n' || a.p[a.len - 1] == '\r'))
			a.p[--a.len] = '\0';
		perr(err, errlen, "pd %.200s: HTTP %ld from %s: %.200s", h->endpoint, status, path,
		     a.p ? a.p : "");
		free(a.p);
		return -1;
	}
	if (!a.p && !(a.p = calloc(1, 1)))
		return perr(err, errlen, "pd %.200s: out of memory", h->endpoint);
	*body = a.p;
	*len = a.len;
	return 0;
}

void ig_pdhttp_free(ig_pdhttp *h)
{
	if (h->curl)
		curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->headers);
	h->curl = NULL;
	h->headers = NULL;
}
