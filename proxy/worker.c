/*
 * worker.c - an event-loop thread (see worker.h). Each worker binds its own listening
 * socket with SO_REUSEPORT, so accepting needs no lock and no hand-off between threads.
 * libuv 1.44 (Debian 12) has no UV_TCP_REUSEPORT, hence the socket is made by hand.
 */
#include "proxy/worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/log.h"
#include "proxy/runtime.h"
#include "proxy/session.h"
#include "proxy/zproto.h"

#define SHUTDOWN_POLL_MS 100

static void on_connection(uv_stream_t *server, int status)
{
	ig_worker *w = server->data;
	if (status < 0) {
		LOG_WARN(0, "accept: %s", uv_strerror(status));
		return;
	}
	ig_session_accept(w);
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
	if (w->nsessions == 0) {
		uv_close((uv_handle_t *)&w->drain_timer, NULL);
		uv_close((uv_handle_t *)&w->wakeup, NULL);
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
	w->idx = idx;
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
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		snprintf(err, errlen, "cannot start worker thread");
		return -1;
	}
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
