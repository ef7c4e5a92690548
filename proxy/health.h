/*
 * health.h - backend health checks: every backends.health_interval_ms, a TCP connect to
 * each backend and a read of its MySQL greeting, within backends.health_timeout_ms. New
 * connections avoid backends whose last check failed. Runs on the main thread's loop.
 */
#ifndef IMPORTGATE_HEALTH_H
#define IMPORTGATE_HEALTH_H

#include <uv.h>

#include <stddef.h>

typedef struct ig_health ig_health; /* the checks' timer on one loop */

/* Checks every interval_ms (<= 0: no checks, 0 with *out NULL) on loop's thread. 0, or -1 +
 * err. */
int ig_health_start(ig_health **out, uv_loop_t *loop, int interval_ms, int timeout_ms, char *err, size_t errlen);
/* No probe starts after it (those running end on their own); h is freed once the loop has
 * closed its timer. On the loop's thread. NULL is a no-op. */
void ig_health_stop(ig_health *h);

#endif
