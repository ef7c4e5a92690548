/*
 * session.c - one client and its backend (see session.h): the two connections (proxy/conn.h),
 * the session's states, timers and lifetime. The states, and where each is handled:
 *   SS_PROXY_HEADER      a load balancer's PROXY protocol header, before anything (proxyproto.c)
 *   SS_BACKEND_CONNECT   TCP connect to the chosen backend (here)
 *   SS_BACKEND_GREETING  the backend's HandshakeV10, masked and sent on (handshake.c)
 *   SS_CLIENT_HELLO      the client's SSLRequest or HandshakeResponse (handshake.c)
 *   SS_CLIENT_TLS        TLS handshake with the client, after its SSLRequest (conn.c)
 *   SS_BACKEND_TLS       TLS handshake with the backend, after our SSLRequest (conn.c)
 *   SS_AUTH              the authentication exchange, relayed (handshake.c)
 *   SS_COMMAND           commands: inspected, forwarded; answers relayed (command.c)
 * The gateway keeps no user table: the backend authenticates the client.
 *
 * Memory: bytes are kept only while a packet is incomplete or a write is pending; an
 * idle session owns no buffers (reads go through the worker's shared buffer), and its
 * handshake state is freed once the command phase starts.
 */
#include "proxy/session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/mysql_proto.h"
#include "proxy/proxyproto.h"
#include "proxy/runtime.h"
#include "proxy/session_int.h"
#include "proxy/tcpopts.h"

static const char *const state_names[] = {
	"proxy-header", "backend-connect", "backend-greeting", "client-hello", "client-tls",
	"backend-tls", "auth", "command",
};

static void on_timer(uv_timer_t *t);
static void drive(ig_session *s);

/* ------------------------------------------------------------------ closing */

static void session_free(ig_session *s)
{
	ig_worker *w = s->w;
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	atomic_fetch_sub(&w->slot->sessions, 1);
	atomic_fetch_sub(&ig_rt.conns, 1);
	ig_metric_gauge_add(IG_M_CONNECTIONS_ACTIVE, -1);
	ig_connids_remove(&s->connid); /* off the list already (ig_sess_close): before its backend goes */
	if (s->be)
		ig_backend_release(s->be);
	ig_backends_release(s->bset);
	ig_conn_free(&s->client);
	ig_conn_free(&s->backend);
	ig_cmd_free(s);
	ig_hs_free(s->hs);
	ig_pp_free(s);
	LOG_DEBUG(s->id, "session freed");
	ig_cfg_release(s->cfg);
	SSL_CTX_free(s->cctx);
	SSL_CTX_free(s->bctx);
	free(s);
}

/* Freed when its handles are closed and nothing of it is in the thread pool. */
void ig_sess_maybe_free(ig_session *s)
{
	if (s->handles == 0 && !ig_cmd_in_pool(s))
		session_free(s);
}

static void on_close(uv_handle_t *h)
{
	ig_session *s = h->type == UV_TCP ? ((ig_conn *)h->data)->owner : h->data;
	s->handles--;
	ig_sess_maybe_free(s);
}

void ig_sess_close(ig_session *s, const char *why)
{
	if (s->closing)
		return;
	s->closing = true;
	if (why)
		LOG_INFO(s->id, "closing in %s: %s", state_names[s->state], why);
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, on_close);
	ig_conn_close(&s->client, on_close);
	ig_conn_close(&s->backend, on_close);
	/* Only now: uv_close has closed the client's socket, and a KILL's OK held for this
	 * session (command.c) may go once it is off the list. */
	ig_connids_remove(&s->connid);
}

void ig_sess_send_error(ig_session *s, uint8_t seq, uint16_t code, const char *state, const char *msg)
{
	ig_buf b = {0};
	if (my_write_err(&b, seq, code, state, msg) == 0)
		ig_conn_send(&s->client, b.data, b.len);
	ig_buf_reset(&b);
	ig_conn_flush(&s->client);
}

/*
 * Ends the session once what is queued for the client has been written, or after
 * timeouts.handshake_ms (10 s if unset) if the client does not take it: a session on its way
 * out holds two fds and must not wait for ever on a client that stopped reading.
 */
void ig_sess_close_when_flushed(ig_session *s)
{
	s->close_after_flush = true;
	ig_conn_flush(&s->client);
	if (!s->closing && ig_conn_queued(&s->client) == 0) {
		ig_sess_close(s, NULL);
		return;
	}
	int hs = s->cfg->timeouts.handshake_ms;
	uv_timer_start(&s->timer, on_timer, hs > 0 ? (uint64_t)hs : 10000, 0);
	ig_sess_update_reading(s);
}

/* Tells the client what went wrong (when the protocol allows it) and ends the session. */
void ig_sess_fail(ig_session *s, uint8_t seq, uint16_t code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	LOG_INFO(s->id, "closing in %s: %s", state_names[s->state], msg);
	ig_metric_inc(code == ER_CON_COUNT_ERROR ? IG_M_ERRORS_1040 : code == CR_SERVER_LOST ? IG_M_ERRORS_2013 :
	              IG_M_ERRORS_OTHER);
	ig_sess_send_error(s, seq, code, code == ER_SECURE_TRANSPORT_REQUIRED ? "HY000" : "08S01", msg);
	ig_sess_close_when_flushed(s);
}

/*
 * Backpressure: a side is read only while the other side's write queue is under the
 * bound, so a slow reader never makes the gateway buffer without limit.
 */
void ig_sess_update_reading(ig_session *s)
{
	if (s->closing || s->state == SS_PROXY_HEADER) /* proxyproto.c reads the client then */
		return;
	size_t limit = s->cfg->limits.write_queue_bytes;
	bool client_on = !s->close_after_flush && ig_cmd_takes_input(s) && ig_conn_queued(&s->backend) < limit &&
	                 s->cmd.pq_len < PQ_MAX && !ig_conn_kept_full(&s->client);
	bool backend_on = !s->close_after_flush && s->state != SS_BACKEND_CONNECT &&
	                  ig_conn_queued(&s->client) < limit && !(s->state == SS_COMMAND && ig_cmd_backend_held(s));
	ig_conn_read(&s->client, client_on);
	ig_conn_read(&s->backend, backend_on);
}

/* ------------------------------------------------------------------ connection events */

static ig_pkt_verdict on_packet(void *owner, ig_conn *c, const ig_packet *pk)
{
	ig_session *s = owner;
	bool client = c == &s->client;
	if (s->state == SS_COMMAND)
		return client ? ig_cmd_client_packet(s, pk) : ig_cmd_backend_packet(s, pk);
	if (client && !pk->cont && ig_pp_refuse_in_handshake(s, pk->data - 4, 4 + (size_t)pk->have))
		return IG_PKT_DISCARD;
	return client ? ig_hs_client_packet(s, pk) : ig_hs_backend_packet(s, pk);
}

static void on_input_done(void *owner, ig_conn *c)
{
	ig_session *s = owner;
	/* a packet too short yet to be handed over: kept from its start */
	if (s->state != SS_COMMAND && c == &s->client && c->in.relay_left == 0 &&
	    ig_pp_refuse_in_handshake(s, ig_buf_head(&c->in.carry), ig_conn_kept(c)))
		return;
	if (s->state != SS_COMMAND)
		drive(s);
	else if (c == &s->client)
		ig_cmd_client_input_done(s);
	else
		ig_cmd_backend_input_done(s);
}

static void on_lost(void *owner, ig_conn *c, int status)
{
	ig_session *s = owner;
	bool client = c == &s->client;
	if (status == IG_CONN_TLS_CLOSED) {
		if (!client && s->state == SS_COMMAND)
			ig_cmd_backend_lost(s, "closed the TLS connection");
		else
			ig_sess_close(s, client ? "client closed TLS" : "backend closed TLS");
	} else if (client) {
		LOG_DEBUG(s->id, "client closed (%s)", uv_strerror(status));
		ig_sess_close(s, NULL);
	} else if (s->state == SS_COMMAND) {
		ig_cmd_backend_lost(s, status == UV_EOF ? "closed the connection" : uv_strerror(status));
	} else {
		ig_sess_fail(s, ig_hs_next_client_seq(s), ER_UNKNOWN_ERROR,
		             "importgate: backend %s closed the connection during the handshake", s->be->addr);
	}
}

static void on_written(void *owner, ig_conn *c, int status)
{
	ig_session *s = owner;
	if (status < 0) {
		if (c == &s->backend && s->state == SS_COMMAND && !s->closing)
			ig_cmd_backend_lost(s, uv_strerror(status)); /* e.g. TCP_USER_TIMEOUT during an upload */
		else
			ig_sess_close(s, uv_strerror(status));
		return;
	}
	s->last_io_ms = uv_now(&s->w->loop); /* a slow reader is progress, not a silent backend */
	if (c == &s->client)
		s->cmd.out_since_ms = s->last_io_ms;
	if (s->close_after_flush && !s->closing && ig_conn_queued(&s->client) == 0) {
		ig_sess_close(s, NULL);
		return;
	}
	ig_sess_update_reading(s);
}

static void on_broken(void *owner, ig_conn *c, int status)
{
	(void)c;
	ig_sess_close(owner, status == UV_ENOMEM ? "out of memory" : uv_strerror(status));
}

static void on_tls_done(void *owner, ig_conn *c, int rc, const char *err)
{
	ig_session *s = owner;
	bool client = c == &s->client;
	if (rc < 0) {
		if (client) {
			LOG_INFO(s->id, "client %s", err);
			ig_sess_close(s, NULL);
		} else {
			ig_sess_fail(s, ig_hs_next_client_seq(s), ER_UNKNOWN_ERROR, "importgate: backend %s: %s",
			             s->be->addr, err);
		}
		return;
	}
	LOG_DEBUG(s->id, "%s TLS established (%s)", client ? "client" : "backend", ig_tls_version(c->tls));
	ig_hs_tls_done(s, c);
}

static void on_overflow(void *owner, ig_conn *c)
{
	ig_session *s = owner;
	(void)c;
	ig_sess_fail(s, ig_hs_next_client_seq(s), ER_HANDSHAKE_ERROR, "importgate: too much data during the handshake");
}

static const ig_conn_ops conn_ops = {
	.packet = on_packet, .input_done = on_input_done, .lost = on_lost, .written = on_written,
	.broken = on_broken, .tls_done = on_tls_done, .overflow = on_overflow,
};

/* Handshake input is taken as state allows: after a change, what either side sent waits no more. */
static void drive(ig_session *s)
{
	ig_sess_state before;
	do {
		before = s->state;
		if (s->closing)
			return;
		if (s->state == SS_COMMAND) {
			ig_conn_resume(&s->client);
			ig_cmd_client_input_done(s);
			return;
		}
		ig_conn_resume(&s->backend);
		ig_conn_resume(&s->client);
	} while (s->state != before);
	ig_conn_flush(&s->backend);
	ig_conn_flush(&s->client);
	ig_sess_update_reading(s);
}

/* ------------------------------------------------------------------ the command phase starts */

void ig_sess_enter_command_phase(ig_session *s)
{
	s->state = SS_COMMAND;
	if (!s->closing)
		ig_connids_add(&s->connid, s->be->server, s->backend_conn_id);
	ig_hs_free(s->hs);
	s->hs = NULL;
	s->client.carry_max = 0;
	s->backend.carry_max = 0;
	uv_timer_stop(&s->timer);
	ig_metric_observe_ns(IG_M_HANDSHAKE_SECONDS, uv_hrtime() - s->accepted_ns);
	s->last_io_ms = uv_now(&s->w->loop);
	ig_cmd_start(s);
	ig_sess_tick_every(s, 0);
	LOG_DEBUG(s->id, "session established: user '%s' from %s to %s, db '%s', client TLS %s, "
	         "backend TLS %s", s->user, s->client_addr, s->be->addr, s->has_db ? s->db : "",
	         s->client.tls ? ig_tls_version(s->client.tls) : "off",
	         s->backend.tls ? ig_tls_version(s->backend.tls) : "off");
}

/* ------------------------------------------------------------------ setup */

/* What a client refused at connect time is told when every backend was marked down. */
static const char *down_note(const ig_session *s)
{
	return s->be_marked_down ? " (every backend failed its last health check; this one was tried anyway)" : "";
}

static void on_timer(uv_timer_t *t)
{
	ig_session *s = t->data;
	if (s->close_after_flush)
		ig_sess_close(s, "the client did not take its last bytes in time");
	else if (s->state == SS_PROXY_HEADER)
		ig_pp_timeout(s);
	else if (s->state == SS_BACKEND_CONNECT) {
		ig_metric_inc(IG_M_TIMEOUTS_BACKEND_CONNECT);
		ig_metric_backend_connect_failed(s->be->addr);
		ig_sess_fail(s, 0, ER_UNKNOWN_ERROR, "importgate: backend %s: connect timed out%s", s->be->addr,
		             down_note(s));
	} else if (s->state != SS_COMMAND) {
		ig_metric_inc(IG_M_TIMEOUTS_HANDSHAKE);
		ig_sess_close(s, "handshake timed out");
	} else {
		ig_cmd_tick(s);
	}
}

void ig_sess_arm_timer(ig_session *s, uint64_t ms)
{
	uv_timer_start(&s->timer, on_timer, ms, 0);
}

/* The command phase's repeating tick (ig_cmd_tick). ms 0: one tick at a quarter of the
 * shortest timeout checks them all - cheaper than re-arming a timer on every packet, and a
 * deadline is late by at most a quarter; else every ms (a held KILL's OK, command.c). */
void ig_sess_tick_every(ig_session *s, uint64_t ms)
{
	if (ms == 0) {
		const int t[] = {s->cfg->timeouts.idle_ms, s->cfg->timeouts.response_ms,
		                 s->cfg->timeouts.client_write_ms, IG_PROBE_TIMEOUT_MS};
		int shortest = IG_PROBE_TIMEOUT_MS;
		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
			if (t[i] > 0 && t[i] < shortest)
				shortest = t[i];
		ms = shortest / 4 > 50 ? (uint64_t)shortest / 4 : 50;
	}
	uv_timer_start(&s->timer, on_timer, ms, ms);
}

/* Socket options (proxy/tcpopts.c); a failure costs the probes, not the session. */
static void tune_conn(ig_session *s, ig_conn *c)
{
	char err[160];
	if (ig_tcp_tune(&c->tcp, s->cfg, err, sizeof(err)) < 0)
		LOG_WARN(s->id, "%s leg: %s", c == &s->client ? "client" : "backend", err);
}

static void on_connect(uv_connect_t *req, int status)
{
	ig_session *s = req->data;
	if (s->closing)
		return;
	if (status < 0) {
		LOG_WARN(s->id, "backend %s: %s", s->be->addr, uv_strerror(status));
		ig_metric_backend_connect_failed(s->be->addr);
		ig_sess_fail(s, 0, ER_UNKNOWN_ERROR, "importgate: cannot connect to backend %s: %s%s",
		             s->be->addr, uv_strerror(status), down_note(s));
		return;
	}
	tune_conn(s, &s->backend);
	if (ig_pp_send(s) < 0) {
		ig_sess_close(s, "out of memory");
		return;
	}
	ig_conn_flush(&s->backend);
	s->state = SS_BACKEND_GREETING;
	int hs = s->cfg->timeouts.handshake_ms;
	if (hs > 0)
		uv_timer_start(&s->timer, on_timer, (uint64_t)hs, 0);
	else
		uv_timer_stop(&s->timer);
	ig_sess_update_reading(s);
}

static int backend_connect(ig_session *s)
{
	struct sockaddr_storage sa;
	if (uv_ip4_addr(s->be->host, s->be->port, (struct sockaddr_in *)&sa) != 0 &&
	    uv_ip6_addr(s->be->host, s->be->port, (struct sockaddr_in6 *)&sa) != 0) {
		/* Names are resolved at start (runtime); a literal address is expected here. */
		return UV_EINVAL;
	}
	s->creq.data = s;
	return uv_tcp_connect(&s->creq, &s->backend.tcp, (struct sockaddr *)&sa, on_connect);
}

/* The client's address, for the log, the audit and the rules' hosts. An IPv4 client of a
 * dual-stack listener ([::]) is an IPv4-mapped peer: named a.b.c.d, as an IPv4 listener
 * names it and as TiDB does (Go's net.IP.String), so a rule on its address matches it. */
static void name_peer(ig_session *s)
{
	struct sockaddr_storage peer;
	int plen = sizeof(peer);
	if (uv_tcp_getpeername(&s->client.tcp, (struct sockaddr *)&peer, &plen) != 0)
		return;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&peer;
	if (peer.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = in6->sin6_port};
		memcpy(&in4.sin_addr, in6->sin6_addr.s6_addr + 12, 4);
		uv_ip4_name(&in4, s->client_addr, sizeof(s->client_addr));
	} else if (peer.ss_family == AF_INET) {
		uv_ip4_name((struct sockaddr_in *)&peer, s->client_addr, sizeof(s->client_addr));
	} else {
		uv_ip6_name((struct sockaddr_in6 *)&peer, s->client_addr, sizeof(s->client_addr));
	}
}

static ig_session *session_new(ig_worker *w)
{
	ig_session *s = calloc(1, sizeof(*s));
	ig_handshake *hs = ig_hs_new();
	if (!s || !hs) {
		free(s);
		ig_hs_free(hs);
		LOG_ERROR(0, "out of memory accepting a connection");
		return NULL;
	}
	s->hs = hs;
	s->w = w;
	s->id = atomic_fetch_add(&ig_rt.next_conn_id, 1);
	s->accepted_ns = uv_hrtime();
	s->cfg = ig_cfg_acquire();
	s->state = SS_BACKEND_CONNECT;
	ig_tls_contexts_get(&s->cctx, &s->bctx);
	ig_conn_init(&s->client, w, &conn_ops, s, IG_M_BYTES_CLIENT_TO_BACKEND, IG_LEG_CLIENT);
	s->client.relay = &s->backend;
	s->client.carry_max = IG_HS_INPUT_MAX;
	s->handles++;
	uv_timer_init(&w->loop, &s->timer);
	s->timer.data = s;
	s->handles++;
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	atomic_fetch_add(&w->slot->sessions, 1);
	atomic_fetch_add(&ig_rt.conns, 1);
	ig_metric_inc(IG_M_CONNECTIONS_TOTAL);
	ig_metric_gauge_add(IG_M_CONNECTIONS_ACTIVE, 1);
	return s;
}

/* The backend for this session; false when there is none (the client has been told). */
static bool pick_backend(ig_session *s)
{
	bool full, down;
	s->bset = ig_backends_acquire();
	s->be = ig_backend_pick(s->bset, s->cfg->backends.max_connections, &full, &down);
	if (s->be) {
		s->be_marked_down = down;
		return true;
	}
	if (full)
		ig_sess_fail(s, 0, ER_CON_COUNT_ERROR, "Too many connections (importgate backends.max_connections)");
	else
		ig_sess_fail(s, 0, ER_UNKNOWN_ERROR, "importgate: no backend configured");
	return false;
}

static void session_begin(ig_session *s);

void ig_session_accept(ig_worker *w)
{
	ig_session *s = session_new(w);
	if (!s)
		return;
	if (uv_accept((uv_stream_t *)&w->listener, (uv_stream_t *)&s->client.tcp) != 0) {
		ig_sess_close(s, NULL);
		return;
	}
	session_begin(s);
}

void ig_session_adopt(ig_worker *w, int fd)
{
	ig_session *s = session_new(w);
	if (!s) {
		close(fd);
		return;
	}
	int rc = uv_tcp_open(&s->client.tcp, fd);
	if (rc != 0) {
		LOG_WARN(s->id, "cannot take over a client socket: %s", uv_strerror(rc));
		close(fd); /* not the handle's: uv_tcp_open failed */
		ig_sess_close(s, NULL);
		return;
	}
	session_begin(s);
}

/* The client's socket is the session's: the PROXY header or the backend comes next. */
static void session_begin(ig_session *s)
{
	name_peer(s);
	tune_conn(s, &s->client);
	int maxc = s->cfg->limits.max_connections;
	if (maxc > 0 && atomic_load(&ig_rt.conns) > maxc) {
		ig_sess_fail(s, 0, ER_CON_COUNT_ERROR, "Too many connections (importgate limits.max_connections)");
		return;
	}
	if (!ig_pp_accept(s))
		ig_sess_start_backend(s);
}

/* The client is known (its address final): a backend is picked and connected. */
void ig_sess_start_backend(ig_session *s)
{
	ig_worker *w = s->w;
	s->state = SS_BACKEND_CONNECT;
	if (!pick_backend(s))
		return;
	ig_conn_init(&s->backend, w, &conn_ops, s, IG_M_BYTES_BACKEND_TO_CLIENT, IG_LEG_SERVER);
	s->backend.relay = &s->client;
	s->backend.carry_max = IG_HS_INPUT_MAX;
	s->handles++;
	LOG_DEBUG(s->id, "accepted %s, backend %s", s->client_addr, s->be->addr);
	int rc = backend_connect(s);
	if (rc < 0) {
		ig_metric_backend_connect_failed(s->be->addr);
		ig_sess_fail(s, 0, ER_UNKNOWN_ERROR, "importgate: cannot connect to backend %s: %s%s",
		             s->be->addr, uv_strerror(rc), down_note(s));
		return;
	}
	/* The connect has its own bound; the handshake's starts once connected. */
	int ct = s->cfg->backends.connect_timeout_ms;
	int hs = s->cfg->timeouts.handshake_ms;
	int first = ct > 0 && (hs <= 0 || ct < hs) ? ct : hs;
	if (first > 0)
		uv_timer_start(&s->timer, on_timer, (uint64_t)first, 0);
	ig_sess_update_reading(s);
}

void ig_session_close_all(ig_worker *w, const char *why)
{
	for (ig_session *s = w->sessions; s; s = s->next)
		ig_sess_close(s, why);
}

/* Between transactions with nothing in flight: closing now costs the client nothing but a
 * reconnect, which it must make anyway once the gateway stops. */
static bool at_rest(const ig_session *s)
{
	return s->state == SS_COMMAND && !s->closing && !s->close_after_flush &&
	       s->cmd.input == IN_COMMAND && s->cmd.pq_len == 0 && ig_conn_kept(&s->client) == 0 &&
	       !(s->cmd.srv_status & SERVER_STATUS_IN_TRANS);
}

/*
 * The drain's start: sessions at rest are closed at once (their last answer flushed first);
 * the others when their transaction ends (command.c, after each answer), or at the bound.
 * As TiProxy's graceful-close-conn-timeout: a pooled client reconnects, to a replica still
 * in rotation, at a clean point instead of having a statement cut off at the bound.
 */
void ig_session_close_at_rest(ig_worker *w)
{
	ig_session *next;
	for (ig_session *s = w->sessions; s; s = next) {
		next = s->next; /* closing unlinks only once its handles are closed; be safe anyway */
		ig_sess_close_if_at_rest(s);
	}
}

bool ig_sess_close_if_at_rest(ig_session *s)
{
	if (!at_rest(s))
		return false;
	LOG_DEBUG(s->id, "gateway shutting down: closing the session between transactions");
	ig_sess_close_when_flushed(s);
	return true;
}
