/*
 * process.h - the runtime of one gateway process: owns the long-lived modules (config,
 * logging, signals, backends and TLS, audit writer, PD state cache, running-import monitor,
 * obligations engine, admin HTTP, workers, health checks), starts them in one order, stops
 * them in the reverse order, undoes a partial start, and runs the main thread's loop
 * (signals: SIGHUP reloads, SIGTERM/SIGINT drain and stop). The order and its reasons:
 * process.c, once. What every thread shares (the config in force, TLS contexts, backends,
 * counters) is proxy/runtime.h.
 */
#ifndef IMPORTGATE_PROCESS_H
#define IMPORTGATE_PROCESS_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "proxy/admin.h"
#include "proxy/brmon.h"
#include "proxy/health.h"
#include "proxy/obligations.h"
#include "proxy/worker.h"

typedef struct ig_process {
	const char *config_path;
	uv_loop_t *loop;          /* the main thread's: signals and health checks */
	uv_signal_t sigs[3];
	ig_brmon *brmon;
	ig_obligations *obl;
	ig_admin *admin;          /* NULL when admin.listen has port 0 */
	ig_worker *workers;
	int nworkers;
	ig_health *health;        /* NULL when checks are off, or once stopped */
	size_t started;           /* modules started, in the order of process.c's table */
	bool ran;                 /* the main loop ran (a stop then says so in the log) */
} ig_process;

/* Starts every module in order from the configuration at config_path. 0, or -1 + err with
 * whatever had started stopped again. */
int ig_process_start(ig_process *p, const char *config_path, char *err, size_t errlen);
/* Says ready (systemd) and runs the main loop until SIGTERM or SIGINT has begun the drain. */
void ig_process_run(ig_process *p);
/* Stops the modules started, in reverse order (the workers' drain is waited for first). */
void ig_process_stop(ig_process *p);

#endif
