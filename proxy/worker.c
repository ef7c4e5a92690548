/*
 * worker.c - an event-loop thread (see worker.h). Each worker binds its own listening
 * socket with SO_REUSEPORT, so accepting needs no lock; libuv 1.44 (Debian 12) has no
 * UV_TCP_REUSEPORT, hence the socket is made by hand. A connection accepted while another
 * worker has fewer sessions is handed over to it through its inbox.
 */
#include "proxy/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/conn.h"
#include "proxy/log.h"
#include "proxy/mysql_proto.h"
#include "proxy/runtime.h"
#include "proxy/session.h"
#include "proxy/zproto.h"

#define SHUTDOWN_POLL_MS 100

/* The workers started, by index, and their counters (worker.h: static, so status can read
 * them whenever). A worker is a hand-over target only while its slot says accepting. */
static ig_worker *registry[IG_MAX_WORKERS];
static ig_worker_slot slots[IG_MAX_WORKERS];
static atomic_int nstarted;

static int load_of(ig_worker_slot *sl)
{
	return atomic_load(&sl->sessions) + atomic_load(&sl->inbound);
}

/* The worker a new connection should go to: the one with the fewest sessions, this one on
 * a tie (a hand-over costs a dup, a close and a wake-up of the other loop). */
static ig_worker *least_loaded(ig_worker *w)
{
	ig_worker *best = w;
	int best_load = load_of(w->slot), n = atomic_load(&nstarted);
	for (int i = 0; i < n; i++) {
		if (i == w->idx || !atomic_load(&slots[i].accepting))
			continue;
		int l = load_of(&slots[i]);
		if (l < best_load) {
			best = registry[i];
			best_load = l;
		}
	}
	return best;
}

/* Queues a socket for `to`'s loop; -1 when its inbox is closed (it is shutting down). */
static int inbox_push(ig_worker *to, int fd)
{
	int rc = -1;
	pthread_mutex_lock(&to->inbox_lock);
	if (to->inbox_open && to->inbox_len == to->inbox_cap) {
		size_t cap = to->inbox_cap ? 2 * to->inbox_cap : 16;
		int *v = realloc(to->inbox, cap * sizeof(*v));
		if (v) {
			to->inbox = v;
			to->inbox_cap = cap;
		}
	}
	if (to->inbox_open && to->inbox_len < to->inbox_cap) {
		to->inbox[to->inbox_len++] = fd;
		atomic_fetch_add(&to->slot->inbound, 1);
		uv_async_send(&to->inbox_async); /* under the lock: the handle is open */
		rc = 0;
	}
	pthread_mutex_unlock(&to->inbox_lock);
	return rc;
}

/* Takes what the inbox holds; with `close`, also shuts it (before its async is closed). */
static void inbox_take(ig_worker *w, bool close)
{
	pthread_mutex_lock(&w->inbox_lock);
	int *fds = w->inbox;
	size_t n = w->inbox_len;
	w->inbox = NULL;
	w->inbox_len = w->inbox_cap = 0;
	if (close)
		w->inbox_open = false;
	pthread_mutex_unlock(&w->inbox_lock);
	for (size_t i = 0; i < n; i++) {
		ig_session_adopt(w, fds[i]);
		atomic_fetch_sub(&w->slot->inbound, 1);
	}
	free(fds);
}

static void on_inbox(uv_async_t *a)
{
	inbox_take(a->data, false);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

/*
 * Accepts the connection waiting on w's listener and passes its socket to `to`: libuv
 * only gives an accepted socket out inside a handle of this loop, so the socket is
 * duplicated and that handle closed. -1 when nothing was accepted (the caller accepts).
 */
static int hand_over(ig_worker *w, ig_worker *to)
{
	uv_tcp_t *t = malloc(sizeof(*t));
	if (!t)
		return -1;
	uv_tcp_init(&w->loop, t);
	uv_os_fd_t fd = -1;
	int rc = uv_accept((uv_stream_t *)&w->listener, (uv_stream_t *)t);
	if (rc == 0)
		rc = uv_fileno((uv_handle_t *)t, &fd);
	int moved = rc == 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	int dup_errno = errno;
	if (rc == 0 && moved < 0) {
		/* out of descriptors: the client is told, as a session would tell it */
		char msg[128];
		ig_buf b = {0};
		snprintf(msg, sizeof(msg), "Too many connections (importgate: %s)", strerror(dup_errno));
		if (my_write_err(&b, 0, ER_CON_COUNT_ERROR, "08004", msg) == 0) {
			uv_buf_t ub = uv_buf_init((char *)b.data, (unsigned)b.len);
			uv_try_write((uv_stream_t *)t, &ub, 1);
		}
		ig_buf_reset(&b);
		LOG_WARN(0, "accept: cannot hand the connection to worker %d: %s", to->idx, strerror(dup_errno));
	}
	uv_close((uv_handle_t *)t, free_handle);
	if (moved < 0)
		return rc == 0 ? 0 : -1;
	atomic_fetch_add(&w->slot->handed_over, 1);
	if (inbox_push(to, moved) < 0)
		ig_session_adopt(w, moved); /* it is shutting down: served here */
	return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	ig_worker *w = server->data;
	if (status < 0) {
		LOG_WARN(0, "accept: %s", uv_strerror(status));
		return;
	}
	ig_worker *to = least_loaded(w);
	if (to == w || hand_over(w, to) < 0)
		ig_session_accept(w);
}

int ig_worker_counts(int *sessions, uint64_t *handed_over, int max)
{
	int n = atomic_load(&nstarted);
	for (int i = 0; i < n && i < max; i++) {
		sessions[i] = atomic_load(&slots[i].sessions);
		handed_over[i] = atomic_load(&slots[i].handed_over);
	}
	return n < max ? n : max;
}

static int listen_socket(const ig_hostport *hp, char *err, size_t errlen)
{
	struct sockaddr_storage sa;
	int one = 1;
	if (uv_ip4_addr(hp->host, hp->port, (struct sockaddr_in *)&sa) != 0 &&
	    uv_ip6_addr(hp->host, hp->port, (struct sockaddr_in6 *)&sa) != 0) {
		snprintf(err, errlen, "listen: '%s' is not an IP address", hp->host);
		return -1;
	}
	int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa,
	         sa.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) < 0) {
		snprintf(err, errlen, "listen on %s:%d: %s", hp->host, hp->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Shutdown: stop accepting; sessions finish on their own until the bound, then close. */
static void on_drain_tick(uv_timer_t *t)
{
	ig_worker *w = t->data;
	if (atomic_load(&w->slot->sessions) == 0) {
		uv_close((uv_handle_t *)&w->drain_timer, NULL);
		uv_close((uv_handle_t *)&w->wakeup, NULL);
		uv_close((uv_handle_t *)&w->sends, NULL);
		return;
	}
	uint64_t bound = w->shutdown_ms;
	if (uv_now(&w->loop) - w->stop_started >= bound)
		ig_session_close_all(w, "gateway shutting down");
}

/* Shutdown, after the graceful wait: stop accepting; sessions finish on their own until
 * the bound (timeouts.shutdown_ms), then the rest are closed. */
static void begin_drain(ig_worker *w)
{
	if (w->listening) {
		uv_close((uv_handle_t *)&w->listener, NULL);
		w->listening = false;
	}
	/* no more hand-overs to this worker; those already queued become sessions, drained with
	 * the rest */
	atomic_store(&w->slot->accepting, false);
	inbox_take(w, true);
	uv_close((uv_handle_t *)&w->inbox_async, NULL);
	w->stop_started = uv_now(&w->loop);
	w->draining = true;
	ig_session_close_at_rest(w);
	uv_timer_start(&w->drain_timer, on_drain_tick, 0, SHUTDOWN_POLL_MS);
}

static void on_graceful_wait_end(uv_timer_t *t)
{
	begin_drain(t->data);
}

/*
 * Shutdown starts with the graceful wait (timeouts.graceful_wait_ms, as TiProxy's
 * graceful-wait-before-shutdown): /healthz already answers 503, so load balancers and
 * Kubernetes take the gateway out of rotation, but new connections are still accepted
 * and served until they have; then the drain.
 */
static void on_wakeup(uv_async_t *a)
{
	ig_worker *w = a->data;
	if (!atomic_load(&ig_rt.stopping) || w->stopping)
		return;
	w->stopping = true;
	uv_timer_init(&w->loop, &w->drain_timer);
	w->drain_timer.data = w;
	if (w->graceful_wait_ms > 0)
		uv_timer_start(&w->drain_timer, on_graceful_wait_end, w->graceful_wait_ms, 0);
	else
		begin_drain(w);
}

/* After each pass's I/O callbacks: the relayed bytes that waited for it (proxy/conn.c). */
static void on_pass_end(uv_check_t *h)
{
	ig_conn_pass_end(h->data);
}

static void *worker_main(void *arg)
{
	ig_worker *w = arg;
	char name[16];
	snprintf(name, sizeof(name), "ig-worker%d", w->idx);
	pthread_setname_np(pthread_self(), name); /* its name in top -H, ps -L, perf */
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_loop_close(&w->loop);
	ig_zproto_thread_free(); /* the loop's compressors (proxy/zproto.h) */
	return NULL;
}

int ig_worker_start(ig_worker *w, int idx, char *err, size_t errlen)
{
	if (idx < 0 || idx >= IG_MAX_WORKERS) {
		snprintf(err, errlen, "at most %d workers", IG_MAX_WORKERS);
		return -1;
	}
	w->idx = idx;
	w->slot = &slots[idx];
	atomic_store(&w->slot->sessions, 0);
	atomic_store(&w->slot->inbound, 0);
	atomic_store(&w->slot->handed_over, 0);
	atomic_store(&w->slot->accepting, false);
	if (uv_loop_init(&w->loop) != 0) {
		snprintf(err, errlen, "uv_loop_init failed");
		return -1;
	}
	int fd = listen_socket(&ig_rt.cfg->listen, err, errlen);
	if (fd < 0)
		return -1;
	uv_tcp_init(&w->loop, &w->listener);
	w->listener.data = w;
	int rc = uv_tcp_open(&w->listener, fd);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&w->listener, 1024, on_connection);
	if (rc != 0) {
		snprintf(err, errlen, "listen on %s:%d: %s", ig_rt.cfg->listen.host, ig_rt.cfg->listen.port,
		         uv_strerror(rc));
		return -1;
	}
	w->listening = true;
	uv_async_init(&w->loop, &w->wakeup, on_wakeup);
	w->wakeup.data = w;
	uv_check_init(&w->loop, &w->sends);
	w->sends.data = w;
	uv_check_start(&w->sends, on_pass_end);
	if (pthread_mutex_init(&w->inbox_lock, NULL) != 0) {
		snprintf(err, errlen, "cannot create the worker's inbox lock");
		return -1;
	}
	uv_async_init(&w->loop, &w->inbox_async, on_inbox);
	w->inbox_async.data = w;
	w->inbox_open = true;
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		snprintf(err, errlen, "cannot start worker thread");
		return -1;
	}
	registry[idx] = w;
	if (atomic_load(&nstarted) < idx + 1)
		atomic_store(&nstarted, idx + 1);
	atomic_store(&w->slot->accepting, true);
	return 0;
}

void ig_worker_stop(ig_worker *w, int shutdown_ms)
{
	ig_config *cfg = ig_cfg_acquire();
	int wait = cfg->timeouts.graceful_wait_ms;
	ig_cfg_release(cfg);
	w->graceful_wait_ms = wait > 0 ? (uint64_t)wait : 0;
	w->shutdown_ms = shutdown_ms > 0 ? (uint64_t)shutdown_ms : 0;
	if (w->idx == 0 && wait > 0)
		LOG_INFO(0, "graceful wait: new connections accepted for %d ms more while /healthz answers 503",
		         wait);
	uv_async_send(&w->wakeup);
}

void ig_worker_join(ig_worker *w)
{
	pthread_join(w->thread, NULL);
}

void ig_worker_release(ig_worker *w)
{
	pthread_mutex_destroy(&w->inbox_lock);
	free(w->inbox); /* empty: taken when the drain began */
	w->inbox = NULL;
}
