/*
 * ctl_http.c - one request of `importgate ctl` to the admin server (libcurl). The bearer
 * token goes in a header only; no error message names it. The request goes straight to the
 * admin server, never through a proxy the environment names (attack21).
 */
#include "proxy/ctl.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define MAX_ANSWER (64u * 1024 * 1024) /* status with many obligations stays far below */

typedef struct answer {
	char *p;
	size_t n;
	bool too_big, oom;
} answer;

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	answer *a = arg;
	size_t len = size * nmemb;
	char *np;

	if (len > MAX_ANSWER - a->n) {
		a->too_big = true;
		return 0;
	}
	if (!(np = realloc(a->p, a->n + len + 1))) {
		a->oom = true;
		return 0;
	}
	a->p = np;
	memcpy(a->p + a->n, data, len);
	a->n += len;
	a->p[a->n] = '\0';
	return len;
}

char *ig_ctl_urlencode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* The headers: Authorization when a token is set, Content-Type for a body. */
static struct curl_slist *headers(const ig_ctl_target *t, bool body, char *err, size_t errlen)
{
	struct curl_slist *h = NULL, *n;
	char *auth = NULL;

	if (t->token && asprintf(&auth, "Authorization: Bearer %s", t->token) < 0)
		auth = NULL;
	if (t->token && !auth) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
	if (n && auth)
		n = curl_slist_append(h = n, auth);
	if (n && body)
		n = curl_slist_append(h = n, "Content-Type: application/json");
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (!n) {
		curl_slist_free_all(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return n;
}

int ig_ctl_request(const ig_ctl_target *t, const char *path, const char *body, long *status, char **out,
                   char *err, size_t errlen)
{
	char url[4096], cerr[CURL_ERROR_SIZE] = "";
	answer a = {0};
	CURL *c = curl_easy_init();
	struct curl_slist *h = c ? headers(t, body != NULL, err, errlen) : NULL;
	CURLcode rc;

	*out = NULL;
	*status = 0;
	if (!c || !h) {
		if (!c)
			snprintf(err, errlen, "cannot initialise libcurl");
		curl_easy_cleanup(c);
		return -1;
	}
	snprintf(url, sizeof(url), "%s%s", t->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, t->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	/* libcurl otherwise takes a proxy from http_proxy / all_proxy / ALL_PROXY: the bearer
	 * token would reach it in clear text, and its answer would be shown as the gateway's.
	 * "" disables every proxy, the environment's too (CURLOPT_PROXY(3)). */
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	if (body) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK || a.oom || a.too_big) {
		snprintf(err, errlen, "%s: %s", t->base,
		         a.oom ? "out of memory" : a.too_big ? "answer larger than 64 MiB"
		                                             : cerr[0] ? cerr : curl_easy_strerror(rc));
		free(a.p);
		return -1;
	}
	*out = a.p ? a.p : strdup("");
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}
