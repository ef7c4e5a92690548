/*
 * health.c - backend health checks (see health.h). One probe per backend at a time: a
 * probe connects, reads the first packet, and counts a protocol-10 greeting as healthy;
 * a refusal (error packet), a close, a timeout or a connect error as unhealthy. Only
 * changes are logged. The probe closes after the greeting: TiDB takes that quietly; a
 * MySQL or MariaDB backend counts it against max_connect_errors for non-loopback hosts.
 * The main loop's other periodic job starts and stops with them: the systemd watchdog
 * pings (sdnotify.c), which prove that this loop still turns. With backends.proxy_protocol v2
 * a probe starts with the PROXY protocol's LOCAL header (proxy/proxyproto.h): a TiDB that
 * lists the gateway in proxy-protocol.networks refuses a connection without a header.
 */
#include "proxy/health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/buf.h"
#include "proxy/mysql_proto.h"
#include "proxy/proxyproto.h"
#include "proxy/runtime.h"
#include "proxy/sdnotify.h"

typedef struct probe {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t req;
	ig_backend *b;          /* records live for the whole process (backend.c) */
	ig_buf in;
	int handles;
	bool done;
	bool local_header;      /* backends.proxy_protocol v2: the LOCAL header first */
} probe;

struct ig_health {
	uv_timer_t tick;        /* tick.data: this object */
	uv_loop_t *loop;
	int timeout_ms;
	bool stopping;
};

static void probe_closed(uv_handle_t *h)
{
	probe *p = h->data;
	if (--p->handles > 0)
		return;
	atomic_store(&p->b->probing, false);
	ig_buf_reset(&p->in);
	free(p);
}

static void finish(probe *p, bool ok, const char *why)
{
	if (p->done)
		return;
	p->done = true;
	ig_backend_set_health(p->b, ok, ok ? "health check" : why);
	uv_close((uv_handle_t *)&p->tcp, probe_closed);
	uv_close((uv_handle_t *)&p->timer, probe_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char scratch[4096];
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(scratch, sizeof(scratch));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	probe *p = st->data;
	char why[256];
	if (p->done || nread == 0)
		return;
	if (nread < 0) {
		finish(p, false, "closed before its greeting");
		return;
	}
	if (ig_buf_append(&p->in, buf->base, (size_t)nread) < 0 || ig_buf_avail(&p->in) > 65536) {
		finish(p, false, "greeting too large");
		return;
	}
	if (ig_buf_avail(&p->in) < 4)
		return;
	uint32_t plen = my_u24(ig_buf_head(&p->in));
	if (ig_buf_avail(&p->in) < 4 + (size_t)plen)
		return;
	const uint8_t *pl = ig_buf_head(&p->in) + 4;
	my_greeting g;
	if (plen > 0 && pl[0] == 0xff) {
		my_err e;
		if (my_err_parse(pl, plen, &e) == 0)
			snprintf(why, sizeof(why), "it refuses connections: %u %.*s", e.code, (int)e.msg_len, e.msg);
		else
			snprintf(why, sizeof(why), "it refuses connections");
		finish(p, false, why);
	} else if (my_greeting_parse(pl, plen, &g, why, sizeof(why)) < 0) {
		finish(p, false, why);
	} else {
		/* The version explain decides with before any session has connected. */
		ig_backend_note_version(g.server_version);
		finish(p, true, NULL);
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	probe *p = req->data;
	if (p->done)
		return;
	if (status < 0) {
		finish(p, false, uv_strerror(status));
		return;
	}
	uv_buf_t hb = uv_buf_init((char *)ig_pp_local_header, sizeof(ig_pp_local_header));
	if (p->local_header && uv_try_write((uv_stream_t *)&p->tcp, &hb, 1) != (int)sizeof(ig_pp_local_header)) {
		finish(p, false, "cannot send its PROXY protocol header");
		return;
	}
	if (uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read) != 0)
		finish(p, false, "cannot read");
}

static void on_timeout(uv_timer_t *t)
{
	finish(t->data, false, "no greeting within backends.health_timeout_ms");
}

static void probe_start(ig_health *h, ig_backend *b)
{
	struct sockaddr_storage sa;
	if (uv_ip4_addr(b->host, b->port, (struct sockaddr_in *)&sa) != 0 &&
	    uv_ip6_addr(b->host, b->port, (struct sockaddr_in6 *)&sa) != 0)
		return;
	probe *p = calloc(1, sizeof(*p));
	if (!p)
		return;
	p->b = b;
	ig_config *cfg = ig_cfg_acquire();
	p->local_header = cfg && cfg->backends.proxy_protocol == IG_PP_SEND_V2;
	ig_cfg_release(cfg);
	uv_tcp_init(h->loop, &p->tcp);
	uv_timer_init(h->loop, &p->timer);
	p->tcp.data = p->timer.data = p->req.data = p;
	p->handles = 2;
	atomic_store(&b->probing, true);
	uv_timer_start(&p->timer, on_timeout, (uint64_t)h->timeout_ms, 0);
	int rc = uv_tcp_connect(&p->req, &p->tcp, (struct sockaddr *)&sa, on_connect);
	if (rc < 0)
		finish(p, false, uv_strerror(rc));
}

static void on_tick(uv_timer_t *t)
{
	ig_health *h = t->data;
	ig_backend_set *set = ig_backends_acquire(); /* the set in force now (a reload may change it) */
	for (size_t i = 0; set && i < set->n && !h->stopping; i++)
		if (!atomic_load(&set->v[i]->probing))
			probe_start(h, set->v[i]);
	ig_backends_release(set);
}

int ig_health_start(ig_health **out, uv_loop_t *loop, int interval_ms, int tmo_ms, char *err, size_t errlen)
{
	ig_health *h;

	*out = NULL;
	ig_watchdog_start(loop);
	if (interval_ms <= 0)
		return 0;
	if (!(h = calloc(1, sizeof(*h)))) {
		ig_watchdog_stop();
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->loop = loop;
	h->timeout_ms = tmo_ms > 0 ? tmo_ms : 2000;
	uv_timer_init(loop, &h->tick);
	h->tick.data = h;
	uv_timer_start(&h->tick, on_tick, 0, (uint64_t)interval_ms);
	*out = h;
	return 0;
}

static void tick_closed(uv_handle_t *t)
{
	free(t->data);
}

void ig_health_stop(ig_health *h)
{
	ig_watchdog_stop(); /* idempotent: also when the checks are off (h NULL) */
	if (!h)
		return;
	h->stopping = true;
	uv_timer_stop(&h->tick);
	uv_close((uv_handle_t *)&h->tick, tick_closed); /* freed when the loop has closed it */
}

