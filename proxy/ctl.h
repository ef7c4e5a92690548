/*
 * ctl.h - `importgate ctl`: a command-line client of the admin API (docs/OPERATIONS.md,
 * "importgate ctl"). ctl_main.c reads the command line and where the admin server is,
 * ctl_http.c sends one request (libcurl), ctl_print.c turns an answer into text.
 *
 * Exit status: 0 the request succeeded; 1 the admin server answered with an error (HTTP
 * 4xx/5xx, or "ok": false); 2 a usage or configuration error; 3 the admin server could not
 * be reached or its answer is not JSON.
 */
#ifndef IMPORTGATE_CTL_H
#define IMPORTGATE_CTL_H

#include <stdio.h>

#include <jansson.h>

enum { IG_CTL_OK = 0, IG_CTL_ANSWER_ERROR = 1, IG_CTL_USAGE = 2, IG_CTL_UNREACHABLE = 3 };

typedef struct ig_ctl_target {
	char *base;   /* "http://127.0.0.1:10090" */
	char *token;  /* NULL: no Authorization header */
	long timeout_ms;
} ig_ctl_target;

/* One request. body NULL: GET. 0 with *status and *answer (malloc'd, NUL-terminated), or
 * -1 + err when no HTTP answer came (refused, timed out, ...). */
int ig_ctl_request(const ig_ctl_target *t, const char *path, const char *body, long *status, char **answer,
                   char *err, size_t errlen);
/* "%XX" for every byte but A-Z a-z 0-9 - _ . ~ ; malloc'd, NULL when out of memory. */
char *ig_ctl_urlencode(const char *s);

/* Human-readable output of each command's answer (pure: JSON in, text out). */
void ig_ctl_print_status(FILE *f, const json_t *doc);
void ig_ctl_print_coverage(FILE *f, const json_t *doc);
void ig_ctl_print_explain(FILE *f, const json_t *doc);
void ig_ctl_print_obligations(FILE *f, const json_t *doc);

/* What may reach the operator's terminal (ctl_print.c): text with every control character
 * (C0 but the newline, DEL, C1, a byte that is not UTF-8) as '?', in place, returning the new
 * length; a JSON answer with DEL and C1 characters as \u00XX escapes and raw C0 whitespace as
 * blanks (malloc'd; NULL when out of memory). */
size_t ig_ctl_shown(char *text, size_t len);
char *ig_ctl_json_shown(const char *json);

int ig_ctl_main(int argc, char **argv);

#endif
