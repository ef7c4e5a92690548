/*
 * health.h - backend health checks: every backends.health_interval_ms, a TCP connect to
 * each backend and a read of its MySQL greeting, within backends.health_timeout_ms. New
 * connections avoid backends whose last check failed. Runs on the main thread's loop.
 */
#ifndef IMPORTGATE_HEALTH_H
#define IMPORTGATE_HEALTH_H

#include <uv.h>

void ig_health_start(uv_loop_t *loop, int interval_ms, int timeout_ms);
void ig_health_stop(void);

#endif
