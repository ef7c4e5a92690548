/*
 * worker.h - one event-loop thread: its own libuv loop, its own SO_REUSEPORT listener,
 * its sessions. The kernel spreads new connections over the listeners by a hash of the
 * addresses, which with tens of connections often leaves one worker with half again as many
 * as another; a worker that accepts a connection while another has fewer sessions hands the
 * socket over (its inbox), so sessions stay spread within one of each other, as HAProxy's
 * least-loaded thread choice keeps them.
 */
#ifndef IMPORTGATE_WORKER_H
#define IMPORTGATE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#define IG_RBUF_SIZE (64 * 1024)             /* the most one recv() takes */
#define IG_READS_SIZE (4 * IG_RBUF_SIZE)     /* a loop pass's reads, while relayed bytes wait in them */
#define IG_MAX_WORKERS 1024 /* the config's bound on `workers` */

struct ig_session;
struct ig_conn;

/* A worker's counters, in static storage: the other workers compare them to place a new
 * connection, and status reads them, even after the workers have ended. */
typedef struct ig_worker_slot {
	atomic_int sessions;              /* open; changed by the worker's own thread only */
	atomic_int inbound;               /* sockets handed over and not yet taken: load too */
	atomic_uint_fast64_t handed_over; /* connections it accepted and passed on */
	atomic_bool accepting;            /* listening, and its inbox takes sockets */
} ig_worker_slot;

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
	struct ig_worker_slot *slot; /* its counters (below) */
	/* Sockets handed over by other workers (see the top): fds under the lock, then the
	 * async wakes this loop. inbox_open is cleared under the lock before the async is
	 * closed, so no worker sends to a closed handle. */
	uv_async_t inbox_async;
	pthread_mutex_t inbox_lock;
	int *inbox;
	size_t inbox_len, inbox_cap;
	bool inbox_open;
	/*
	 * Relayed bytes wait for the end of the loop pass (proxy/conn.c, "sending at the end of
	 * a pass"): connections whose relayed bytes still lie in `reads`, by leg (ig_conn_leg:
	 * server legs' go first), and those sent since, which are owed a written() call;
	 * `sends` runs after the pass's I/O callbacks.
	 */
	uv_check_t sends;
	struct ig_conn *waiting[2];
	struct ig_conn *owed;
	/* Reads land one after another in `reads` during a pass, and are processed before the
	 * next one starts; reads_used goes back to 0 once no relayed bytes wait in it. */
	size_t reads_used;
	uint8_t reads[IG_READS_SIZE];
	uint8_t pbuf[IG_RBUF_SIZE]; /* plaintext out of TLS */
} ig_worker;

int ig_worker_start(ig_worker *w, int idx, char *err, size_t errlen);
/* Per worker, for status: sessions open and connections handed on; the number of workers. */
int ig_worker_counts(int *sessions, uint64_t *handed_over, int max);
void ig_worker_stop(ig_worker *w, int shutdown_ms); /* from another thread: graceful wait, stop accepting, drain */
void ig_worker_join(ig_worker *w);
void ig_worker_release(ig_worker *w); /* after every worker has been joined */

#endif
