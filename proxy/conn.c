/*
 * conn.c - a session's connection: socket, TLS, write queue and packet framing (see conn.h).
 */
#include "proxy/conn.h"

#include <string.h>

#include "proxy/metrics.h"
#include "proxy/mysql_proto.h"

static void conn_on_write(uv_write_t *req, int status);

void ig_conn_init(ig_conn *c, ig_worker *w, const ig_conn_ops *ops, void *owner, int metric)
{
	uv_tcp_init(&w->loop, &c->tcp);
	c->tcp.data = c;
	c->w = w;
	c->ops = ops;
	c->owner = owner;
	c->metric = metric;
	c->open = true;
}

void ig_conn_close(ig_conn *c, uv_close_cb cb)
{
	if (c->open && !uv_is_closing((uv_handle_t *)&c->tcp)) {
		c->open = false;
		uv_close((uv_handle_t *)&c->tcp, cb);
	}
}

void ig_conn_free(ig_conn *c)
{
	if (c->tls) {
		ig_tls_free(c->tls);
		free(c->tls);
		c->tls = NULL;
	}
	ig_buf_reset(&c->wq);
	ig_buf_reset(&c->inflight);
	ig_buf_reset(&c->carry);
}

/* ------------------------------------------------------------------ writing */

static int conn_queue(ig_conn *c, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (c->tls) {
		if (ig_tls_write(c->tls, p, n) < 0 || ig_tls_drain(c->tls, &c->wq) < 0)
			return -1;
		return 0;
	}
	return ig_buf_append(&c->wq, p, n);
}

/* Relayed bytes still pointing into the sender's input go to the queue first. */
static int span_out(ig_conn *c)
{
	if (c->span_len == 0)
		return 0;
	int rc = conn_queue(c, c->span, c->span_len);
	c->span = NULL;
	c->span_len = 0;
	return rc;
}

size_t ig_conn_queued(ig_conn *c)
{
	return ig_buf_avail(&c->wq) + ig_buf_avail(&c->inflight) + c->span_len;
}

int ig_conn_send(ig_conn *c, const void *p, size_t n)
{
	if (span_out(c) < 0)
		return -1;
	return conn_queue(c, p, n);
}

int ig_conn_send_packet(ig_conn *c, uint8_t seq, const void *payload, size_t len)
{
	ig_buf b = {0};
	int rc = my_write_packet(&b, seq, payload, len);
	if (rc == 0)
		rc = ig_conn_send(c, b.data, b.len);
	ig_buf_reset(&b);
	return rc;
}

int ig_conn_send_command(ig_conn *c, uint8_t cmd, const void *text, size_t len)
{
	if (c->tls || len + 1 >= MY_MAX_PAYLOAD || span_out(c) < 0) {
		/* One piece for TLS (one record), or split in packets of 16 MiB - 1. */
		ig_buf b = {0};
		int rc = ig_buf_append(&b, &cmd, 1) < 0 || ig_buf_append(&b, text, len) < 0
		         ? -1 : ig_conn_send_packet(c, 0, b.data, b.len);
		ig_buf_reset(&b);
		return rc;
	}
	/* Plain text: straight into the queue, the text copied once. */
	uint8_t hdr[5];
	my_put_u24(hdr, (uint32_t)(len + 1));
	hdr[3] = 0;
	hdr[4] = cmd;
	if (ig_buf_reserve(&c->wq, sizeof(hdr) + len) < 0)
		return -1;
	ig_buf_append(&c->wq, hdr, sizeof(hdr));
	return ig_buf_append(&c->wq, text, len);
}

void ig_conn_flush(ig_conn *c)
{
	if (span_out(c) < 0) {
		c->ops->broken(c->owner, c, UV_ENOMEM);
		return;
	}
	if (c->writing || !c->open || ig_buf_avail(&c->wq) == 0)
		return;
	uv_buf_t b = uv_buf_init((char *)ig_buf_head(&c->wq), (unsigned)ig_buf_avail(&c->wq));
	int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (n > 0)
		ig_buf_consume(&c->wq, (size_t)n);
	else if (n < 0 && n != UV_EAGAIN) {
		c->ops->broken(c->owner, c, n);
		return;
	}
	if (ig_buf_avail(&c->wq) == 0)
		return;
	/* The rest goes out asynchronously; new bytes keep queueing in wq meanwhile. */
	ig_buf_swap(&c->wq, &c->inflight);
	b = uv_buf_init((char *)ig_buf_head(&c->inflight), (unsigned)ig_buf_avail(&c->inflight));
	c->wreq.data = c;
	int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, conn_on_write);
	if (rc < 0) {
		c->ops->broken(c->owner, c, rc);
		return;
	}
	c->writing = true;
}

static void conn_on_write(uv_write_t *req, int status)
{
	ig_conn *c = req->data;
	c->writing = false;
	ig_buf_reset(&c->inflight);
	if (status == UV_ECANCELED)
		return;
	if (status == 0)
		ig_conn_flush(c);
	c->ops->written(c->owner, c, status);
}

/* ------------------------------------------------------------------ framing */

/* Relayed bytes: appended to the destination's span while they follow on from it. */
static int relay_bytes(ig_conn *c, const uint8_t *p, size_t n)
{
	ig_conn *d = c->relay;
	if (d->span_len > 0 && d->span + d->span_len == p) {
		d->span_len += n;
		return 0;
	}
	if (span_out(d) < 0)
		return -1;
	d->span = p;
	d->span_len = n;
	return 0;
}

/* Why framing stopped short of the end of its input. */
typedef enum frame_stop { FS_END, FS_HEAD, FS_WAIT, FS_DISCARD, FS_TLS, FS_CLOSED } frame_stop;

/* Hands over the packets at the head of p; returns the bytes used, and why it stopped. */
static size_t frame(ig_conn *c, const uint8_t *p, size_t n, frame_stop *stop)
{
	size_t pos = 0;
	bool plain = c->tls == NULL;
	*stop = FS_END;
	while (pos < n) {
		if (c->relay_left > 0) {
			size_t k = n - pos < c->relay_left ? n - pos : c->relay_left;
			if (relay_bytes(c, p + pos, k) < 0)
				goto oom;
			c->relay_left -= (uint32_t)k;
			pos += k;
			continue;
		}
		size_t avail = n - pos;
		uint32_t len = avail >= 4 ? my_u24(p + pos) : 0;
		uint32_t have = avail - 4 < len ? (uint32_t)(avail - 4) : len;
		if (avail < 4 || have < (len < IG_CONN_PEEK ? len : IG_CONN_PEEK)) {
			*stop = FS_HEAD;
			break;
		}
		ig_packet pk = {.data = p + pos + 4, .len = len, .have = have, .seq = p[pos + 3],
		                .cont = c->prev_full};
		c->run_left = avail - 4 - have;
		ig_pkt_verdict v = c->ops->packet(c->owner, c, &pk);
		if (v == IG_PKT_WAIT) {
			*stop = FS_WAIT;
			break;
		}
		if (v == IG_PKT_DISCARD) {
			*stop = FS_DISCARD;
			pos = n;
			break;
		}
		c->prev_full = len == MY_MAX_PAYLOAD;
		if (v == IG_PKT_RELAY) {
			if (relay_bytes(c, p + pos, 4 + (size_t)have) < 0)
				goto oom;
			c->relay_left = len - have;
		}
		pos += 4 + (size_t)have;
		if (!c->open) {
			*stop = FS_CLOSED;
			break;
		}
		if (plain && c->tls) {
			*stop = FS_TLS; /* what follows is ciphertext */
			break;
		}
	}
	if (c->relay && span_out(c->relay) < 0)
		goto oom;
	return pos;
oom:
	*stop = FS_CLOSED;
	c->ops->broken(c->owner, c, UV_ENOMEM);
	return n;
}

static void tls_input(ig_conn *c, const uint8_t *p, size_t n);

/* Frames the kept input; FS_TLS hands the rest of it to TLS. */
static frame_stop frame_carry(ig_conn *c)
{
	frame_stop stop;
	size_t used = frame(c, ig_buf_head(&c->carry), ig_buf_avail(&c->carry), &stop);
	if (stop == FS_DISCARD || stop == FS_CLOSED) {
		ig_buf_reset(&c->carry);
		return stop;
	}
	ig_buf_consume(&c->carry, used);
	if (stop == FS_TLS && ig_buf_avail(&c->carry) > 0) {
		ig_buf rest = c->carry;
		memset(&c->carry, 0, sizeof(c->carry));
		tls_input(c, ig_buf_head(&rest), ig_buf_avail(&rest));
		ig_buf_reset(&rest);
	}
	return stop;
}

/* Copies only what the kept packet's head lacks, so a split header costs a few bytes. */
static void top_up_head(ig_conn *c, const uint8_t **p, size_t *n)
{
	for (;;) {
		size_t avail = ig_buf_avail(&c->carry), want = 4;
		if (avail >= 4) {
			uint32_t len = my_u24(ig_buf_head(&c->carry));
			want = 4 + (len < IG_CONN_PEEK ? len : IG_CONN_PEEK);
		}
		if (avail >= want || *n == 0)
			return;
		size_t k = want - avail < *n ? want - avail : *n;
		if (ig_buf_append(&c->carry, *p, k) < 0)
			return; /* the caller's append fails the same way */
		*p += k;
		*n -= k;
	}
}

static int keep(ig_conn *c, const uint8_t *p, size_t n)
{
	if (n > 0 && ig_buf_append(&c->carry, p, n) < 0) {
		c->ops->broken(c->owner, c, UV_ENOMEM);
		return -1;
	}
	return 0;
}

/* Plaintext in: framed from where it lies; only what must wait is copied. */
static void feed(ig_conn *c, const uint8_t *p, size_t n)
{
	frame_stop stop;
	if (c->carry_max && ig_buf_avail(&c->carry) + n > c->carry_max) {
		c->ops->overflow(c->owner, c);
		return;
	}
	c->framing = true;
	if (ig_buf_avail(&c->carry) > 0) {
		/* A split head is completed first; a packet waited for gets the whole read. */
		top_up_head(c, &p, &n);
		stop = frame_carry(c);
		if (stop == FS_WAIT || stop == FS_HEAD) {
			if (keep(c, p, n) == 0 && n > 0)
				frame_carry(c); /* the packet waited for, with this read's bytes */
			goto out;
		}
		if (stop == FS_TLS) {
			if (n > 0)
				tls_input(c, p, n);
			goto out;
		}
		if (stop != FS_END)
			goto out;
	}
	size_t used = frame(c, p, n, &stop);
	if (stop == FS_TLS)
		tls_input(c, p + used, n - used);
	else if (stop == FS_HEAD || stop == FS_WAIT)
		keep(c, p + used, n - used);
out:
	c->framing = false;
}

void ig_conn_resume(ig_conn *c)
{
	if (c->framing || !c->open || ig_buf_avail(&c->carry) == 0)
		return;
	c->framing = true;
	frame_carry(c);
	c->framing = false;
}

bool ig_conn_at_boundary(const ig_conn *c)
{
	return ig_buf_avail(&c->carry) == 0 && c->relay_left == 0 && !c->prev_full;
}

/* ------------------------------------------------------------------ TLS and reading */

int ig_conn_start_tls(ig_conn *c, SSL_CTX *ctx, bool server, const char *peer_host)
{
	char err[256];
	c->tls = calloc(1, sizeof(*c->tls));
	if (!c->tls || ig_tls_init(c->tls, ctx, server, peer_host) < 0) {
		free(c->tls);
		c->tls = NULL;
		return -1;
	}
	if (!server) {
		ig_tls_handshake(c->tls, err, sizeof(err)); /* produces the ClientHello */
		ig_tls_drain(c->tls, &c->wq);
		ig_conn_flush(c);
	}
	return 0;
}

/* Ciphertext in: advance the handshake, then frame whatever plaintext there is. */
static void tls_input(ig_conn *c, const uint8_t *p, size_t n)
{
	char err[256];
	if (ig_tls_feed(c->tls, p, n) < 0) {
		c->ops->broken(c->owner, c, UV_ENOMEM);
		return;
	}
	if (!c->tls->done) {
		int rc = ig_tls_handshake(c->tls, err, sizeof(err));
		ig_tls_drain(c->tls, &c->wq);
		ig_conn_flush(c);
		if (rc == 0)
			return;
		c->ops->tls_done(c->owner, c, rc < 0 ? -1 : 1, err);
		if (rc < 0 || !c->open)
			return;
	}
	for (;;) {
		ssize_t k = ig_tls_read(c->tls, c->w->pbuf, sizeof(c->w->pbuf));
		if (k == 0)
			break;
		if (k < 0) {
			c->ops->lost(c->owner, c, IG_CONN_TLS_CLOSED);
			return;
		}
		feed(c, c->w->pbuf, (size_t)k);
		if (!c->open)
			return;
	}
	ig_tls_drain(c->tls, &c->wq); /* e.g. TLS 1.3 session tickets, alerts */
	ig_conn_flush(c);
}

static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	ig_conn *c = h->data;
	(void)suggested;
	/* Each read is framed (and what must stay is copied) before libuv reads again. */
	*buf = uv_buf_init((char *)c->w->rbuf, sizeof(c->w->rbuf));
}

static void conn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	ig_conn *c = st->data;
	if (nread == 0 || !c->open)
		return;
	if (nread < 0) {
		c->ops->lost(c->owner, c, (int)nread);
		return;
	}
	ig_metric_add(c->metric, (uint64_t)nread);
	if (c->tls)
		tls_input(c, (const uint8_t *)buf->base, (size_t)nread);
	else
		feed(c, (const uint8_t *)buf->base, (size_t)nread);
	if (c->open)
		c->ops->input_done(c->owner, c);
}

void ig_conn_read(ig_conn *c, bool on)
{
	if (!c->open || c->reading == on)
		return;
	if (on) {
		if (uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read) == 0)
			c->reading = true;
	} else {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}
