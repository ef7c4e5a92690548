/*
 * conn.c - a session's connection: socket, TLS, write queue, the compressed protocol and
 * packet framing (see conn.h).
 */
#include "proxy/conn.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/metrics.h"
#include "proxy/mysql_proto.h"

static void conn_on_write(uv_write_t *req, int status);

void ig_conn_init(ig_conn *c, ig_worker *w, const ig_conn_ops *ops, void *owner, int metric, ig_conn_leg leg)
{
	uv_tcp_init(&w->loop, &c->tcp);
	c->tcp.data = c;
	c->w = w;
	c->ops = ops;
	c->owner = owner;
	c->metric = metric;
	c->leg = leg;
	c->open = true;
}

static void pass_leave(ig_conn *c);
static int span_send(ig_conn *c);
static int send_queued(ig_conn *c);
static bool span_direct(const ig_conn *c);

/*
 * Before a close: what a connection waiting for the pass's end holds goes now, as far as the
 * socket takes it, as it would have at the end of its read (a COM_QUIT relayed just before
 * the session closes still reaches the server). Its queue first - bytes a later run copied
 * there out of the reads - then the span. No callbacks: the owner is closing it.
 */
static void send_before_close(ig_conn *c)
{
	if (c->pass != IG_PASS_WAITING || !c->open || c->writing)
		return;
	if (ig_buf_avail(&c->wq) > 0)
		send_queued(c);
	if (ig_buf_avail(&c->wq) == 0)
		span_send(c);
}

void ig_conn_close(ig_conn *c, uv_close_cb cb)
{
	send_before_close(c);
	pass_leave(c);
	if (c->open && !uv_is_closing((uv_handle_t *)&c->tcp)) {
		c->open = false;
		uv_close((uv_handle_t *)&c->tcp, cb);
	}
}

void ig_conn_free(ig_conn *c)
{
	pass_leave(c);
	c->span = NULL;
	c->span_len = 0;
	if (c->tls) {
		ig_tls_free(c->tls);
		free(c->tls);
		c->tls = NULL;
	}
	ig_buf_reset(&c->wq);
	ig_buf_reset(&c->inflight);
	ig_framer_reset(&c->in);
	ig_zleg_free(&c->z);
	ig_buf_reset(&c->zwait);
	ig_buf_reset(&c->held);
}

/* ------------------------------------------------------------------ writing */

static int conn_queue(ig_conn *c, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (ig_zleg_on(&c->z)) {
		/* Packets to frames; then to TLS, or straight into the queue. */
		if (!c->tls)
			return ig_zleg_write(&c->z, p, n, &c->wq);
		ig_buf f = {0};
		int rc = ig_zleg_write(&c->z, p, n, &f) < 0 || ig_tls_write(c->tls, f.data, f.len) < 0 ||
		         ig_tls_drain(c->tls, &c->wq) < 0 ? -1 : 0;
		ig_buf_reset(&f);
		return rc;
	}
	if (c->tls) {
		if (ig_tls_write(c->tls, p, n) < 0 || ig_tls_drain(c->tls, &c->wq) < 0)
			return -1;
		return 0;
	}
	return ig_buf_append(&c->wq, p, n);
}

/*
 * What the socket takes now, without waiting. With nothing of libuv's in flight (the caller
 * checks c->writing) this is uv_try_write's job; send() does it through the socket layer
 * where libuv's write() goes through the VFS first (fdget_pos, vfs_write): the profile of
 * docs/BENCHMARKS.md 1.17 put libuv's read/write at 2.1 us per relayed query against 1.3 for
 * HAProxy's recv/send. MSG_NOSIGNAL: a closed peer is an error here, not a signal.
 */
static int try_send(ig_conn *c, const uint8_t *p, size_t n)
{
	uv_os_fd_t fd;
	if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0) {
		uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
		return uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	}
	for (;;) {
		ssize_t k = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k >= 0)
			return (int)k;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? UV_EAGAIN : uv_translate_sys_error(errno);
	}
}

/* The head of the queue, as much as the socket takes now; what try_send returns. */
static int send_queued(ig_conn *c)
{
	size_t len = ig_buf_avail(&c->wq);
	int n = try_send(c, ig_buf_head(&c->wq), len > INT_MAX ? INT_MAX : len);
	if (n > 0)
		ig_buf_consume(&c->wq, (size_t)n);
	return n;
}

/* Relayed bytes still pointing into the sender's input go to the queue first; so does a
 * held re-framed packet (on_inject). */
static int span_out(ig_conn *c)
{
	if (ig_buf_avail(&c->held) > 0) {
		int rc = conn_queue(c, ig_buf_head(&c->held), ig_buf_avail(&c->held));
		ig_buf_reset(&c->held);
		return rc;
	}
	if (c->span_len == 0)
		return 0;
	int rc = conn_queue(c, c->span, c->span_len);
	c->span = NULL;
	c->span_len = 0;
	return rc;
}

size_t ig_conn_queued(ig_conn *c)
{
	return ig_buf_avail(&c->wq) + ig_buf_avail(&c->inflight) + c->span_len + ig_buf_avail(&c->held);
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
	if (c->tls || ig_zleg_on(&c->z) || len + 1 >= MY_MAX_PAYLOAD || span_out(c) < 0) {
		/* One piece for TLS (one record) or compression (one frame), or split in packets of 16 MiB - 1. */
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

static void pass_join(ig_conn *c, ig_conn_pass to);

/* Sends what the socket takes now (relayed bytes straight from the input when nothing is
 * ahead of them); the rest goes out asynchronously. */
static void flush_now(ig_conn *c)
{
	if (span_send(c) < 0) {
		c->ops->broken(c->owner, c, UV_ENOMEM);
		return;
	}
	if (c->writing || !c->open || ig_buf_avail(&c->wq) == 0)
		return;
	int n = send_queued(c);
	if (n < 0 && n != UV_EAGAIN) {
		c->ops->broken(c->owner, c, n);
		return;
	}
	if (ig_buf_avail(&c->wq) == 0)
		return;
	/* The rest goes out asynchronously; new bytes keep queueing in wq meanwhile. */
	ig_buf_swap(&c->wq, &c->inflight);
	uv_buf_t b = uv_buf_init((char *)ig_buf_head(&c->inflight), (unsigned)ig_buf_avail(&c->inflight));
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
		flush_now(c);
	c->ops->written(c->owner, c, status);
}

void ig_conn_flush(ig_conn *c)
{
	if (c->pass == IG_PASS_WAITING) {
		if (span_direct(c))
			return; /* relayed bytes only: they go at the end of the pass */
		pass_join(c, IG_PASS_OWED);
	}
	flush_now(c);
}

/* ------------------------------------------------------------------ sending at the end of a pass */

/*
 * Relayed bytes that could be sent straight from the worker's reads at the end of their
 * read's packets wait instead for the end of the event-loop pass, and every connection's go
 * out then, after all of the pass's reads: measurably faster than a send after each read on
 * a saturated 2-core machine (docs/BENCHMARKS.md 1.21). The bytes still lie in w->reads,
 * which later reads do not overwrite during the pass (reading moves on through it, and
 * empties the waiting lists before going back to its start: read_space). Sending from the
 * list is a write finishing: written() follows, so that backpressure and close-after-flush
 * see it as they see an asynchronous write end.
 */
static ig_conn **pass_list(ig_conn *c, ig_conn_pass p)
{
	return p == IG_PASS_WAITING ? &c->w->waiting[c->leg] : &c->w->owed;
}

static void pass_leave(ig_conn *c)
{
	if (c->pass == IG_PASS_NONE)
		return;
	if (c->pass_prev)
		c->pass_prev->pass_next = c->pass_next;
	else
		*pass_list(c, c->pass) = c->pass_next;
	if (c->pass_next)
		c->pass_next->pass_prev = c->pass_prev;
	c->pass_prev = c->pass_next = NULL;
	c->pass = IG_PASS_NONE;
}

static void pass_join(ig_conn *c, ig_conn_pass to)
{
	pass_leave(c);
	ig_conn **head = pass_list(c, to);
	c->pass_next = *head;
	if (*head)
		(*head)->pass_prev = c;
	*head = c;
	c->pass = to;
}

static bool in_reads(const ig_conn *c)
{
	uintptr_t r = (uintptr_t)c->w->reads, p = (uintptr_t)c->span;
	return c->span_len <= sizeof(c->w->reads) && p >= r && p - r <= sizeof(c->w->reads) - c->span_len;
}

/*
 * The waiting bytes go now: each connection moves to the owed list first, so whatever a
 * failed send closes, the loop only ever takes the head of a waiting list. Statements to the
 * servers go before answers to the clients: the servers' work on them (most of a query's CPU)
 * starts before the worker's sends to the clients rather than after them; 2-6% more QPS on a
 * saturated 2-core machine (docs/BENCHMARKS.md 1.23).
 */
static void send_waiting(ig_worker *w)
{
	static const ig_conn_leg order[] = {IG_LEG_SERVER, IG_LEG_CLIENT};
	ig_conn *c;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		while ((c = w->waiting[order[i]]) != NULL) {
			pass_join(c, IG_PASS_OWED);
			flush_now(c);
		}
	}
	w->reads_used = 0;
}

static bool any_waiting(const ig_worker *w)
{
	return w->waiting[IG_LEG_CLIENT] || w->waiting[IG_LEG_SERVER];
}

void ig_conn_pass_end(ig_worker *w)
{
	ig_conn *c;
	send_waiting(w);
	while ((c = w->owed) != NULL) {
		pass_leave(c);
		if (c->open && !c->writing && ig_conn_queued(c) == 0)
			c->ops->written(c->owner, c, 0);
	}
}

/* ------------------------------------------------------------------ framing */

static ig_pkt_verdict on_packet(void *arg, const ig_packet *pk)
{
	ig_conn *c = arg;
	return c->ops->packet(c->owner, c, pk);
}

/* Relayed bytes: appended to the destination's span while they follow on from it, or to
 * the re-framed packet held for a compressed leg. */
static int on_relay(void *arg, const uint8_t *p, size_t n)
{
	ig_conn *d = ((ig_conn *)arg)->relay;
	if (ig_buf_avail(&d->held) > 0)
		return ig_buf_append(&d->held, p, n);
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

/*
 * A re-framed packet's header: after the relayed bytes before it. On a compressed leg it is
 * held with the payload that follows (on_relay) until the span is written, so header and
 * payload leave in one frame, as a server writes them: a client numbers its next packet
 * from the last frame's id (libmariadb ma_real_read), and a header alone in a frame of its
 * own would put its reply one id ahead (attack 13). Elsewhere it is copied now.
 */
static int on_inject(void *arg, const uint8_t *p, size_t n)
{
	ig_conn *d = ((ig_conn *)arg)->relay;
	if (span_out(d) < 0)
		return -1;
	if (ig_zleg_on(&d->z))
		return ig_buf_append(&d->held, p, n);
	return conn_queue(d, p, n);
}

void ig_conn_relay_as(ig_conn *c, uint8_t seq, uint32_t piece_max)
{
	ig_framer_relay_as(&c->in, seq, piece_max);
}

/* Relayed bytes can leave straight from the sender's input: a plain connection with
 * nothing ahead of them. */
static bool span_direct(const ig_conn *c)
{
	return c->span_len > 0 && c->open && !c->writing && !c->tls && !ig_zleg_on(&c->z) &&
	       ig_buf_avail(&c->wq) == 0 && ig_buf_avail(&c->held) == 0;
}

/*
 * Relayed bytes leave straight from the sender's input when they can - a relayed statement
 * or answer, the common case - so they are neither copied nor allocated for (two of each per
 * query before). What the socket does not take is queued; a failed send is left for the
 * flush to find and report (the other connection may still be being framed).
 */
static int span_send(ig_conn *c)
{
	if (span_direct(c)) {
		int n = try_send(c, c->span, c->span_len > INT_MAX ? INT_MAX : c->span_len);
		if (n > 0) {
			c->span += n;
			c->span_len -= (size_t)n;
		}
		if (c->span_len == 0)
			c->span = NULL;
	}
	return span_out(c);
}

/* The end of a framing run: relayed bytes in the worker's reads wait for the end of the
 * pass; any others (kept input, TLS plaintext, decompressed frames: buffers that change
 * before then) leave or are copied now. */
static int on_run_end(void *arg)
{
	ig_conn *d = ((ig_conn *)arg)->relay;
	if (!d)
		return 0;
	if (span_direct(d) && in_reads(d)) {
		if (d->pass != IG_PASS_WAITING)
			pass_join(d, IG_PASS_WAITING);
		return 0;
	}
	return span_send(d);
}

/* Framing stops when the connection closed, when TLS started under plaintext, or when
 * compression started: what follows is then ciphertext, or frames. */
static bool on_stop(void *arg)
{
	ig_conn *c = arg;
	return !c->open || (c->plain_in && c->tls) || c->z_fresh;
}

static const ig_framer_ops framer_ops = {
	.packet = on_packet, .relay = on_relay, .run_end = on_run_end, .stop = on_stop, .inject = on_inject,
};

static void tls_input(ig_conn *c, const uint8_t *p, size_t n);
static void feed(ig_conn *c, const uint8_t *p, size_t n, bool plain);

/* What ended a feed: input that became ciphertext goes to TLS, input that became frames
 * to decompression. */
static void framed(ig_conn *c, ig_frame_end e, ig_buf *rest)
{
	bool fresh = c->z_fresh;
	c->z_fresh = false;
	if (e == IG_FRAME_FAILED)
		c->ops->broken(c->owner, c, UV_ENOMEM);
	else if (e == IG_FRAME_STOPPED && c->open && fresh && ig_buf_avail(rest) > 0)
		feed(c, ig_buf_head(rest), ig_buf_avail(rest), c->plain_in);
	else if (e == IG_FRAME_STOPPED && c->open && c->tls && ig_buf_avail(rest) > 0)
		tls_input(c, ig_buf_head(rest), ig_buf_avail(rest));
	ig_buf_reset(rest);
}

/* Packet bytes in: framed from where they lie; only what must wait is copied. */
static void feed_packets(ig_conn *c, const uint8_t *p, size_t n, bool plain)
{
	ig_buf rest = {0};
	if (c->carry_max && ig_conn_kept(c) + n > c->carry_max) {
		c->ops->overflow(c->owner, c);
		return;
	}
	c->plain_in = plain;
	framed(c, ig_framer_feed(&c->in, p, n, &framer_ops, c, &rest), &rest);
}

/* Plaintext in: under compression each frame is checked, decompressed and framed before the
 * next is read, so one frame's packet bytes are the most held at once; while the framer
 * keeps a whole packet (ig_conn_kept_full), the frames after it wait as they came, in zwait,
 * behind which any later input goes. A frame that is not acceptable closes the connection
 * (the gateway could no longer tell what the peer sent). */
static void feed(ig_conn *c, const uint8_t *p, size_t n, bool plain)
{
	if (!ig_zleg_on(&c->z)) {
		feed_packets(c, p, n, plain);
		return;
	}
	ig_buf mine = c->zwait;
	memset(&c->zwait, 0, sizeof(c->zwait));
	if (ig_buf_avail(&mine) > 0) {
		if (ig_buf_append(&mine, p, n) < 0) {
			ig_buf_reset(&mine);
			c->ops->broken(c->owner, c, UV_ENOMEM);
			return;
		}
		p = ig_buf_head(&mine);
		n = ig_buf_avail(&mine);
	}
	while (n > 0 && c->open) {
		char err[160];
		const uint8_t *out = NULL;
		size_t used, outlen = 0;
		if (ig_conn_kept_full(c)) {
			if (ig_buf_append(&c->zwait, p, n) < 0)
				c->ops->broken(c->owner, c, UV_ENOMEM);
			break;
		}
		int rc = ig_zleg_read(&c->z, p, n, &used, &out, &outlen, err, sizeof(err));
		if (rc < 0) {
			c->ops->broken(c->owner, c, UV_EPROTO);
			break;
		}
		p += used;
		n -= used;
		if (rc == 1 && outlen > 0)
			feed_packets(c, out, outlen, plain);
	}
	ig_buf_reset(&mine);
	ig_buf_reset(&c->z.out); /* framed: a large frame's bytes are not held while idle */
}

int ig_conn_start_compression(ig_conn *c, ig_zalg alg, int zstd_level, bool client_side)
{
	if (span_out(c) < 0 || ig_zleg_start(&c->z, alg, zstd_level, client_side) < 0)
		return -1;
	c->z_fresh = c->in.framing; /* the rest of the input being framed is frames */
	return 0;
}

void ig_conn_resume(ig_conn *c)
{
	ig_buf rest = {0};
	if (!c->open)
		return;
	c->plain_in = c->tls == NULL;
	framed(c, ig_framer_resume(&c->in, &framer_ops, c, &rest), &rest);
	/* Frames that waited for the kept input to shrink (not from inside a feed). */
	if (c->open && !c->in.framing && ig_buf_avail(&c->zwait) > 0 && !ig_conn_kept_full(c))
		feed(c, NULL, 0, c->tls == NULL);
}

/* ------------------------------------------------------------------ TLS and reading */

int ig_conn_start_tls(ig_conn *c, SSL_CTX *ctx, bool server, const char *peer_host)
{
	char err[256];
	if (span_out(c) < 0) /* relayed bytes before it are plaintext */
		return -1;
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
		feed(c, c->w->pbuf, (size_t)k, false);
		if (!c->open)
			return;
	}
	ig_tls_drain(c->tls, &c->wq); /* e.g. TLS 1.3 session tickets, alerts */
	ig_conn_flush(c);
}

/*
 * libuv tells when the socket is readable and the read is done here, with recv(): given an
 * empty buffer, libuv does not read but calls conn_on_read with UV_ENOBUFS (uv_alloc_cb's
 * documented contract), and its own read() goes through the VFS first (fdget_pos, vfs_read),
 * about 0.6 us more per relayed query than HAProxy's recv() on this VM (docs/BENCHMARKS.md
 * 1.19). try_send does the same for writes.
 */
static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(NULL, 0);
}

/* One read's bytes: through TLS or straight to the framer, then the owner's input_done. */
static void conn_input(ig_conn *c, const uint8_t *p, size_t n)
{
	ig_metric_add(c->metric, (uint64_t)n);
	if (c->tls)
		tls_input(c, p, n);
	else
		feed(c, p, n, true);
	if (c->open)
		c->ops->input_done(c->owner, c);
}

/* EOF or an error: reads stop, as libuv stops them (a level-triggered EOF would fire again). */
static void conn_read_ended(ig_conn *c, int status)
{
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->ops->lost(c->owner, c, status);
}

/* Where the next read lands: after the reads whose relayed bytes wait for the end of the
 * pass, or at the start when none do; when the rest is too short for a whole read, the
 * waiting bytes are sent now. */
static uint8_t *read_space(ig_worker *w)
{
	if (!any_waiting(w))
		w->reads_used = 0;
	else if (sizeof(w->reads) - w->reads_used < IG_RBUF_SIZE)
		send_waiting(w);
	return w->reads + w->reads_used;
}

/* Each read is framed (and what must stay is copied) before the next one. As libuv, up to
 * 32 reads while each fills its IG_RBUF_SIZE (more is waiting). */
static void conn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	ig_conn *c = st->data;
	uv_os_fd_t fd;
	(void)buf;
	if (!c->open)
		return;
	if (nread != UV_ENOBUFS || uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0) {
		conn_read_ended(c, nread < 0 && nread != UV_ENOBUFS ? (int)nread : UV_EBADF);
		return;
	}
	for (int i = 0; i < 32 && c->open && c->reading; i++) {
		uint8_t *at = read_space(c->w);
		if (!c->open)
			return; /* sending the waiting bytes closed this session */
		ssize_t k = recv(fd, at, IG_RBUF_SIZE, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (k <= 0) {
			conn_read_ended(c, k == 0 ? UV_EOF : uv_translate_sys_error(errno));
			return;
		}
		c->w->reads_used += (size_t)k;
		conn_input(c, at, (size_t)k);
		if (k < IG_RBUF_SIZE)
			return;
	}
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
