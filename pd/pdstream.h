/*
 * pdstream.h - what every long-lived watch stream to PD's etcd (etcdwatch.c, prefixwatch.c)
 * shares: a private copy of the endpoint and TLS files (the config may be reloaded while a
 * stream runs) and the libcurl settings of a `/v3/watch` POST that stays open (no signals,
 * http/https only, bounded connect, TCP keepalive so a vanished peer ends it, a progress
 * callback that lets the owner stop it).
 */
#ifndef IMPORTGATE_PDSTREAM_H
#define IMPORTGATE_PDSTREAM_H

#include <curl/curl.h>
#include <stdbool.h>

#include "policy/config.h"

typedef struct ig_pd_stream {
	char *endpoint;      /* http[s]://host:port */
	ig_tls_files tls;    /* copies; NULL members when not set */
	long connect_timeout_ms;
} ig_pd_stream;

/* Copies endpoint and cfg's cluster TLS files and timeout into s. 0, or -1 (out of memory,
 * s freed). Also initialises libcurl once per process. */
int ig_pd_stream_init(ig_pd_stream *s, const ig_config *cfg, const char *endpoint);

void ig_pd_stream_free(ig_pd_stream *s);

/* Whether s was made from this endpoint and cfg's TLS files (a reload needs a new stream
 * when not). */
bool ig_pd_stream_same(const ig_pd_stream *s, const ig_config *cfg, const char *endpoint);

/*
 * Sets c up to POST body to s's /v3/watch with headers h: each piece of the answer goes to
 * write(ud), and progress(ud) returning non-zero ends the transfer. body, h and errbuf
 * (CURL_ERROR_SIZE bytes, may be NULL) must outlive the transfer (libcurl does not copy
 * them). CURLE_OK, or a failed setting's code.
 */
CURLcode ig_pd_stream_setup(CURL *c, const ig_pd_stream *s, struct curl_slist *h, const char *body,
                            curl_write_callback write, curl_xferinfo_callback progress, void *ud,
                            char *errbuf);

/* A watch stream's answer is one JSON object per line, arriving in pieces of any size: the
 * part after the last newline is kept until the rest of its line comes. */
typedef struct ig_pd_lines {
	char *buf;
	size_t len;
} ig_pd_lines;

typedef int (*ig_pd_line_fn)(void *ud, const char *line, size_t len);

/*
 * Appends a piece of the stream and calls fn(ud, line, len) for every line it completes (the
 * newline not included). Each byte is scanned once however the lines are cut. 0, or -1 with
 * *why set when a line would grow past max bytes, memory ran out or fn returned -1 (then
 * *why is NULL: fn said why).
 */
int ig_pd_lines_feed(ig_pd_lines *l, const char *data, size_t n, size_t max, ig_pd_line_fn fn,
                     void *ud, const char **why);

/* Forgets a partial line (a new stream starts clean) and frees the buffer. */
void ig_pd_lines_free(ig_pd_lines *l);

#endif
