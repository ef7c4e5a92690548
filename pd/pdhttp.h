/*
 * pdhttp.h - the blocking HTTP client for PD's etcd v3 JSON gateway: POSTs a JSON body to
 * {endpoint}{path}, bounded in time (connect and total) and in answer size, over https with
 * the configured CA and client certificate. A handle keeps its connection open between
 * requests (libcurl easy API). The cluster-state reader and the obligation store use it;
 * the watch (etcdwatch.c) streams and has its own.
 */
#ifndef IMPORTGATE_PDHTTP_H
#define IMPORTGATE_PDHTTP_H

#include <stddef.h>

#include "policy/config.h"

typedef struct ig_pdhttp {
	void *curl;                 /* CURL * */
	struct curl_slist *headers;
	char endpoint[512];
	long timeout_ms;
	const char *timeout_key;    /* the config key named when a request times out */
	size_t max_answer;
} ig_pdhttp;

/*
 * Prepares h for `endpoint` (http[s]://host:port). timeout_ms bounds connect and the whole
 * request; timeout_key names the setting in the timeout message; an answer longer than
 * max_answer bytes is an error. tls may be NULL. 0, or -1 + err.
 */
int ig_pdhttp_init(ig_pdhttp *h, const char *endpoint, long timeout_ms, const char *timeout_key,
                   size_t max_answer, const ig_tls_files *tls, char *err, size_t errlen);

/*
 * POSTs json to the endpoint's `path`. 0 with the answer of an HTTP 200 in *body (malloc'ed,
 * NUL-terminated; the caller frees) and *len; -1 with err starting "pd <endpoint>: " for no
 * answer, a timeout, an answer too large, or another status (whose text is quoted).
 */
int ig_pdhttp_post(ig_pdhttp *h, const char *path, const char *json, char **body, size_t *len,
                   char *err, size_t errlen);

/* Closes the connection and frees the handle's resources (h can be initialised again). */
void ig_pdhttp_free(ig_pdhttp *h);

#endif
