/*
 * sdnotify.h - systemd's service watchdog (WatchdogSec=, sd_watchdog_enabled(3)). When the
 * service manager asks for keep-alive pings (WATCHDOG_USEC, and WATCHDOG_PID is unset or
 * ours), a timer on the main thread's event loop sends WATCHDOG=1 every half interval: a
 * main loop that stops turning (the loop that handles signals, reloads and backend health
 * checks) stops the pings, and systemd restarts the service. Without libsystemd: no-ops.
 */
#ifndef IMPORTGATE_SDNOTIFY_H
#define IMPORTGATE_SDNOTIFY_H

#include <stdint.h>

#include <uv.h>

/* Starts the pings on loop when the watchdog is on; returns the ping interval in ms (0: off). */
uint64_t ig_watchdog_start(uv_loop_t *loop);
void ig_watchdog_stop(void);
/* The ping interval for a watchdog timeout (half of it, at least 1 ms): pure, for tests. */
uint64_t ig_watchdog_interval_ms(uint64_t watchdog_usec);

#endif
