/*
 * admin.h - the admin HTTP server (docs/OPERATIONS.md): /metrics, /healthz and the
 * /api/v1 endpoints, on its own thread with its own libuv loop, so it keeps answering
 * whatever the workers do. Optional bearer token (admin.token_file).
 */
#ifndef IMPORTGATE_ADMIN_H
#define IMPORTGATE_ADMIN_H

#include <stddef.h>

#include "policy/config.h"

#define IG_ADMIN_MAX_BODY (1024 * 1024)  /* larger request bodies get 413 */
#define IG_ADMIN_REQUEST_MS 10000        /* a request not received within this is cut */
#define IG_ADMIN_MAX_CONNS 64            /* one more: the oldest idle one is closed (admin.c evict_oldest) */
#define IG_ADMIN_MAX_WAITING 8           /* hooks waiting for their turn; more get 503 (admin.c run_hook) */

typedef struct ig_admin_hooks {
	/*
	 * healthy() runs on the admin loop thread and must not block. The others run on
	 * libuv thread-pool threads (so a slow cluster read never delays /metrics or /healthz),
	 * possibly several at once: the gateway side must be thread-safe. Any hook may be NULL
	 * (the endpoint then answers 503). A returned string is malloc'd JSON the server frees;
	 * NULL means failure (500). *http_status starts at 200; a hook may change it.
	 */
	int (*healthy)(void);                 /* 1 serving, 0 not (shutting down) */
	char *(*status_json)(void);           /* GET /api/v1/status */
	/* POST /api/v1/explain: body {"user":..,"host":..,"db":..,"statement":..} -> verdict */
	char *(*explain_json)(const char *body, size_t len, int *http_status);
	char *(*reload)(int *http_status);    /* POST /api/v1/reload -> {"ok":bool,"error":..} */
	/* POST /api/v1/obligations/dismiss: body {"id": ..} -> {"ok":bool,"error":..} */
	char *(*dismiss_json)(const char *body, size_t len, int *http_status);
	/* GET /api/v1/coverage?query: query is the raw (still percent-encoded) query string */
	char *(*coverage_json)(const char *query, size_t len, int *http_status);
} ig_admin_hooks;

typedef struct ig_admin ig_admin; /* one server: its loop, thread, listener, connections */

/*
 * Binds `listen` (port 0: the server is off, returns 0 with *out NULL), reads the token file
 * when one is given (its content, trailing whitespace removed, is the token), and starts the
 * thread. Returns 0 and *out, or -1 with a message (bad address, bind failure, unreadable or
 * empty token).
 */
int ig_admin_start(ig_admin **out, const ig_hostport *listen, const char *token_file,
                   const ig_admin_hooks *hooks, char *err, size_t errlen);
/* Closes the listener and every connection, waits for the thread, frees s. NULL is a no-op. */
void ig_admin_stop(ig_admin *s);

#endif
