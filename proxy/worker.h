/*
 * worker.h - one event-loop thread: its own libuv loop, its own SO_REUSEPORT listener
 * (the kernel spreads new connections over the workers), its sessions.
 */
#ifndef IMPORTGATE_WORKER_H
#define IMPORTGATE_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#define IG_RBUF_SIZE (64 * 1024)

struct ig_session;

typedef struct ig_worker {
	int idx;
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_async_t wakeup;      /* shutdown requests from the main thread */
	uv_timer_t drain_timer; /* bound on graceful shutdown */
	uint64_t stop_started;
	uint64_t shutdown_ms;    /* set by ig_worker_stop before the wakeup */
	uint64_t graceful_wait_ms; /* likewise: accepting still, before the drain starts */
	pthread_t thread;
	bool listening;
	bool stopping;
	bool draining;          /* past the graceful wait: sessions are closed between transactions */
	struct ig_session *sessions; /* doubly linked, for shutdown */
	int nsessions;
	/* Shared read buffers: a read is processed before the next one starts, so one per loop. */
	uint8_t rbuf[IG_RBUF_SIZE];
	uint8_t pbuf[IG_RBUF_SIZE]; /* plaintext out of TLS */
} ig_worker;

int ig_worker_start(ig_worker *w, int idx, char *err, size_t errlen);
void ig_worker_stop(ig_worker *w, int shutdown_ms); /* from another thread: graceful wait, stop accepting, drain */
void ig_worker_join(ig_worker *w);

#endif
