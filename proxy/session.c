/*
 * session.c - one client and its backend (see session.h).
 *
 * States, one function each:
 *   SS_BACKEND_CONNECT   TCP connect to the chosen backend
 *   SS_BACKEND_GREETING  the backend's HandshakeV10 is read, masked and sent to the client
 *   SS_CLIENT_HELLO      the client's SSLRequest or HandshakeResponse
 *   SS_CLIENT_TLS        TLS handshake with the client (after its SSLRequest)
 *   SS_BACKEND_TLS       TLS handshake with the backend (after our SSLRequest)
 *   SS_AUTH              the authentication exchange, relayed (sequence ids renumbered
 *                        when the legs differ in TLS; caching_sha2 full auth bridged)
 *   SS_COMMAND           commands: inspected, forwarded; responses relayed unbuffered
 * The gateway keeps no user table: the backend authenticates the client.
 *
 * Memory: bytes are kept only while a packet is incomplete or a write is pending; an
 * idle session owns no buffers (reads go through the worker's shared buffer).
 */
#include "proxy/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "proxy/audit.h"
#include "proxy/auth.h"
#include "proxy/buf.h"
#include "proxy/framer.h"
#include "proxy/importresult.h"
#include "proxy/inspect.h"
#include "proxy/obligations.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/mysql_proto.h"
#include "policy/decide.h"
#include "proxy/probe.h"
#include "proxy/response.h"
#include "proxy/runtime.h"
#include "proxy/tcpopts.h"
#include "proxy/tls.h"
#include "sqlparse/sqlparse.h"

#define HANDSHAKE_PKT_MAX (64 * 1024)  /* no handshake packet is larger */
#define AUTH_PKT_MAX (64 * 1024)
#define PQ_MAX 16                      /* pipelined commands followed at once */
#define CACHING_SHA2 "caching_sha2_password"
#define CAPTURE_MAX (64 * 1024)            /* enough for any IMPORT INTO answer */
#define IG_PROBE_TIMEOUT_MS 30000          /* the probe's bound when timeouts.response_ms is 0 */
/* Statements longer than this are classified in the thread pool, so that no statement (a
 * 16 MiB batch of tiny statements, say) holds a worker's loop and its other sessions. */
#define IG_INSPECT_INLINE_MAX (64 * 1024)
/*
 * Classifying holds about 100 bytes per statement of a batch (a 16 MiB batch of "DO 1;" is
 * ~330 MB), so the bytes of large statements under classification at once, in the whole
 * process, are bounded by twice limits.max_inspect_bytes: past that a large statement is
 * refused (1105, retry) rather than let several clients multiply the gateway's memory.
 */
#define IG_INSPECT_BIG (1024 * 1024)
static _Atomic size_t inspect_big_bytes;

typedef enum ig_sess_state {
	SS_BACKEND_CONNECT,
	SS_BACKEND_GREETING,
	SS_CLIENT_HELLO,
	SS_CLIENT_TLS,
	SS_BACKEND_TLS,
	SS_AUTH,
	SS_COMMAND,
} ig_sess_state;

static const char *const state_names[] = {
	"backend-connect", "backend-greeting", "client-hello", "client-tls",
	"backend-tls", "auth", "command",
};

/* Where the client's bytes stand in the command phase. */
typedef enum ig_cin_mode {
	CIN_COMMAND, /* packets with sequence id 0 start commands */
	CIN_INFILE,  /* LOCAL INFILE contents until an empty packet */
	CIN_DISCARD, /* the rest of a statement too large to inspect */
} ig_cin_mode;

/* caching_sha2_password full authentication across legs that differ in TLS. */
typedef enum ig_auth_bridge {
	AB_NONE,
	AB_WANT_CLEAR_PW,    /* TLS client will send its password in clear */
	AB_WANT_BACKEND_KEY, /* we asked the plain backend for its RSA key */
	AB_WANT_CLIENT_RSA,  /* plain client will ask for a key / send RSA-encrypted password */
} ig_auth_bridge;

/*
 * Client input waits: for earlier responses (a statement to inspect goes alone), for the
 * classification of a large statement in the thread pool, for the answer to the gateway's
 * own probe of the session's state (proxy/probe.h), or for a decision made in the pool.
 */
typedef enum ig_hold { HOLD_NONE, HOLD_DRAIN, HOLD_CLASSIFY, HOLD_PROBE, HOLD_DECISION } ig_hold;

/* What became of a statement handed to the hook. */
typedef enum ig_stmt_result { STMT_DONE, STMT_WAIT, STMT_ASYNC } ig_stmt_result;

/* A command forwarded whose response has not ended yet. */
typedef struct ig_pending {
	uint8_t cmd;
	char *db;                 /* COM_INIT_DB / COM_CHANGE_USER: db on success */
	char *user;               /* COM_CHANGE_USER: user on success */
	char *use_db[IG_MAX_USE]; /* COM_QUERY batch: USE by result index */
	unsigned nuse;
	bool capture;             /* an import: its answer is captured and read */
	uint8_t resp_seq;         /* sequence id the answer starts with; 0 = not known */
	char obl_id[40];          /* that import owes obligations: told its answer, or that none came */
} ig_pending;

struct ig_session;

typedef struct ig_leg {
	uv_tcp_t tcp;
	struct ig_session *s;
	ig_tls *tls;       /* NULL for plain text */
	ig_buf wq;         /* bytes waiting to be written (ciphertext under TLS) */
	ig_buf inflight;   /* bytes handed to uv_write */
	uv_write_t wreq;
	bool writing;
	bool reading;
	bool open;         /* handle initialised and not closed */
	bool is_client;
} ig_leg;

typedef struct ig_session {
	uint64_t id;
	ig_config *cfg;         /* the configuration this session started with (a reference) */
	SSL_CTX *cctx, *bctx;   /* the TLS contexts it started with (references; NULL = plain) */
	ig_worker *w;
	struct ig_session *prev, *next;
	ig_sess_state state;
	ig_leg client, backend;
	uv_timer_t timer;
	uv_connect_t creq;
	int handles;            /* libuv handles still open */
	bool closing;
	bool close_after_flush;
	ig_backend *be;
	ig_backend_set *bset;   /* the backend set `be` was picked from (a reference) */
	char client_addr[64];

	ig_buf cin;             /* client plaintext not yet processed */
	ig_buf bin;             /* backend plaintext not yet processed (handshake) */

	/* Handshake and authentication. */
	my_greeting greeting;
	char server_version[128];
	uint32_t caps;          /* negotiated on both legs (CLIENT_SSL aside) */
	ig_buf hs_out;          /* the client's HandshakeResponse, rewritten for the backend */
	uint8_t seq_c, seq_b;   /* last sequence id on each leg */
	char auth_plugin[64];
	uint8_t scramble[32];
	size_t scramble_len;
	ig_auth_bridge ab;
	ig_buf secret;          /* a password in flight in the bridge; cleansed after */
	char user[256];
	char db[256];
	bool has_db;

	/* Command phase. */
	ig_cin_mode cin_mode;
	uint32_t cpass;         /* bytes of the current client packet still to stream */
	bool c_prev_full;       /* last client packet had a 16 MiB - 1 payload */
	ig_buf big;             /* a statement of several packets being assembled */
	uint8_t big_seq;        /* the sequence id its next packet must carry */
	ig_hold hold;           /* why client input is not being processed */
	ig_inspection *plan;    /* the statement being probed for, or decided off the loop */
	ig_buf probe_in;        /* HOLD_PROBE: the backend's answer to the probe so far */
	size_t probe_scan;      /* HOLD_PROBE: packets of probe_in already walked */
	char probe_nonce[IG_PROBE_NONCE_LEN + 1]; /* HOLD_PROBE: in the probe's column aliases */
	uint64_t probe_since;   /* HOLD_PROBE: loop time the probe was sent */
	uint8_t plan_seq;       /* the sequence id that answers the held statement */
	size_t big_charge;      /* HOLD_CLASSIFY: bytes counted in inspect_big_bytes */
	ig_session_facts facts; /* HOLD_CLASSIFY after a probe: its answer, for the pool */
	bool have_facts;
	uv_work_t work;
	bool working;           /* plan is in the thread pool: the session outlives its handles */
	uint8_t plan_cmd;
	ig_buf plan_text;       /* the statement as the client sent it */
	ig_inspect_out plan_out; /* the decision, made in the thread pool */
	uint64_t last_io_ms;    /* loop time of the last byte read or written, either leg */
	uint64_t out_since_ms;  /* since when the client has taken nothing queued for it */
	int out_unsent;         /* the client socket's unsent bytes (SIOCOUTQ) at the last look */
	ig_framer bframe;
	ig_resp resp;
	ig_buf capture;         /* the backend's answer to a forwarded import, from its start */
	unsigned capture_index; /* which result of the batch is the import's */
	char capture_target[520];
	bool capture_secret;    /* the import held a credential: TiDB's free text is withheld */
	uint64_t capture_start; /* uv_now at forwarding */
	ig_pending pq[PQ_MAX];
	unsigned pq_head, pq_len;
} ig_session;

static void session_close(ig_session *s, const char *why);
static void drive(ig_session *s);
static void command_client_input(ig_session *s);
static void leg_flush(ig_leg *l);
static void update_reading(ig_session *s);
static void on_timer(uv_timer_t *t);
static void backend_lost(ig_session *s, const char *why);
static void resume_input(ig_session *s);

/* ------------------------------------------------------------------ leg I/O */

static size_t leg_queued(const ig_leg *l) { return ig_buf_avail(&l->wq) + ig_buf_avail(&l->inflight); }

static int leg_send(ig_leg *l, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (l->tls) {
		if (ig_tls_write(l->tls, p, n) < 0 || ig_tls_drain(l->tls, &l->wq) < 0)
			return -1;
		return 0;
	}
	return ig_buf_append(&l->wq, p, n);
}

/* Sends a whole packet (splitting payloads of 16 MiB and more). */
static int leg_send_packet(ig_leg *l, uint8_t seq, const void *payload, size_t len)
{
	ig_buf b = {0};
	int rc = my_write_packet(&b, seq, payload, len);
	if (rc == 0)
		rc = leg_send(l, b.data, b.len);
	ig_buf_reset(&b);
	return rc;
}

static void on_write(uv_write_t *req, int status)
{
	ig_leg *l = req->data;
	ig_session *s = l->s;
	l->writing = false;
	ig_buf_reset(&l->inflight);
	if (status < 0) {
		if (status == UV_ECANCELED)
			return;
		if (!l->is_client && s->state == SS_COMMAND && !s->closing)
			backend_lost(s, uv_strerror(status)); /* e.g. TCP_USER_TIMEOUT during an upload */
		else
			session_close(s, uv_strerror(status));
		return;
	}
	s->last_io_ms = uv_now(&s->w->loop); /* a slow reader is progress, not a silent backend */
	if (l->is_client)
		s->out_since_ms = s->last_io_ms;
	leg_flush(l);
	if (s->close_after_flush && !s->closing && leg_queued(&s->client) == 0) {
		session_close(s, NULL);
		return;
	}
	update_reading(s);
}

static void leg_flush(ig_leg *l)
{
	if (l->writing || !l->open || ig_buf_avail(&l->wq) == 0)
		return;
	uv_buf_t b = uv_buf_init((char *)ig_buf_head(&l->wq), (unsigned)ig_buf_avail(&l->wq));
	int n = uv_try_write((uv_stream_t *)&l->tcp, &b, 1);
	if (n > 0)
		ig_buf_consume(&l->wq, (size_t)n);
	else if (n < 0 && n != UV_EAGAIN) {
		session_close(l->s, uv_strerror(n));
		return;
	}
	if (ig_buf_avail(&l->wq) == 0)
		return;
	/* The rest goes out asynchronously; new bytes keep queueing in wq meanwhile. */
	ig_buf_swap(&l->wq, &l->inflight);
	b = uv_buf_init((char *)ig_buf_head(&l->inflight), (unsigned)ig_buf_avail(&l->inflight));
	l->wreq.data = l;
	int rc = uv_write(&l->wreq, (uv_stream_t *)&l->tcp, &b, 1, on_write);
	if (rc < 0) {
		session_close(l->s, uv_strerror(rc));
		return;
	}
	l->writing = true;
}

static void send_error(ig_session *s, uint8_t seq, uint16_t code, const char *state, const char *msg)
{
	ig_buf b = {0};
	if (my_write_err(&b, seq, code, state, msg) == 0)
		leg_send(&s->client, b.data, b.len);
	ig_buf_reset(&b);
	leg_flush(&s->client);
}

/* The sequence id of the next packet to the client (0 until the greeting has been sent). */
static uint8_t next_client_seq(const ig_session *s)
{
	return s->state <= SS_BACKEND_GREETING ? 0 : (uint8_t)(s->seq_c + 1);
}

/*
 * Ends the session once what is queued for the client has been written, or after
 * timeouts.handshake_ms (10 s if unset) if the client does not take it: a session on its way
 * out holds two fds and must not wait for ever on a client that stopped reading.
 */
static void close_when_flushed(ig_session *s)
{
	s->close_after_flush = true;
	leg_flush(&s->client);
	if (!s->closing && leg_queued(&s->client) == 0) {
		session_close(s, NULL);
		return;
	}
	int hs = s->cfg->timeouts.handshake_ms;
	uv_timer_start(&s->timer, on_timer, hs > 0 ? (uint64_t)hs : 10000, 0);
	update_reading(s);
}

/* Tells the client what went wrong (when the protocol allows it) and ends the session. */
static void fail_client(ig_session *s, uint8_t seq, uint16_t code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail_client(ig_session *s, uint8_t seq, uint16_t code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	LOG_INFO(s->id, "closing in %s: %s", state_names[s->state], msg);
	send_error(s, seq, code, code == ER_SECURE_TRANSPORT_REQUIRED ? "HY000" : "08S01", msg);
	close_when_flushed(s);
}

/* ------------------------------------------------------------------ reading */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	ig_leg *l = h->data;
	ig_worker *w = l->s->w;
	(void)suggested;
	/* Each read is processed (and what must stay is copied) before libuv reads again. */
	*buf = uv_buf_init((char *)w->rbuf, sizeof(w->rbuf));
}

static void deliver(ig_session *s, ig_leg *l, const uint8_t *p, size_t n);

/* Ciphertext in: advance the handshake, then hand over whatever plaintext there is. */
static void tls_input(ig_session *s, ig_leg *l, const uint8_t *p, size_t n)
{
	char err[256];
	if (ig_tls_feed(l->tls, p, n) < 0) {
		session_close(s, "out of memory in TLS");
		return;
	}
	if (!l->tls->done) {
		int rc = ig_tls_handshake(l->tls, err, sizeof(err));
		ig_tls_drain(l->tls, &l->wq);
		leg_flush(l);
		if (rc < 0) {
			if (l->is_client) {
				LOG_INFO(s->id, "client %s", err);
				session_close(s, NULL);
			} else {
				fail_client(s, next_client_seq(s), ER_UNKNOWN_ERROR,
				            "importgate: backend %s: %s", s->be->addr, err);
			}
			return;
		}
		if (rc == 0)
			return;
		LOG_DEBUG(s->id, "%s TLS established (%s)", l->is_client ? "client" : "backend",
		          ig_tls_version(l->tls));
		if (l->is_client)
			s->state = SS_CLIENT_HELLO;
		else {
			/* Backend TLS up: now the client's handshake response. */
			if (leg_send_packet(&s->backend, ++s->seq_b, s->hs_out.data, s->hs_out.len) < 0) {
				session_close(s, "out of memory");
				return;
			}
			ig_buf_reset(&s->hs_out);
			leg_flush(&s->backend);
			s->state = SS_AUTH;
		}
	}
	for (;;) {
		ssize_t k = ig_tls_read(l->tls, s->w->pbuf, sizeof(s->w->pbuf));
		if (k == 0)
			break;
		if (k < 0) {
			if (!l->is_client && s->state == SS_COMMAND)
				backend_lost(s, "closed the TLS connection");
			else
				session_close(s, l->is_client ? "client closed TLS" : "backend closed TLS");
			return;
		}
		deliver(s, l, s->w->pbuf, (size_t)k);
		if (s->closing)
			return;
	}
	ig_tls_drain(l->tls, &l->wq); /* e.g. TLS 1.3 session tickets, alerts */
	leg_flush(l);
	if (s->state != SS_COMMAND)
		drive(s);
}

/*
 * The sequence id that answers a command whose payload (command byte included) is plen bytes:
 * the client sent it as one packet per 16 MiB - 1 bytes, and an empty one after an exact fit.
 */
static uint8_t answer_seq(size_t plen)
{
	return (uint8_t)(plen / MY_MAX_PAYLOAD + 1);
}

/* Nothing of the head command's answer has reached the client yet (not even part of a packet). */
static bool answer_untouched(const ig_session *s)
{
	return s->pq_len > 0 && s->pq[s->pq_head].resp_seq != 0 && s->cin_mode == CIN_COMMAND &&
	       s->resp.state == RS_FIRST && s->resp.result_index == 0 && s->bframe.have == 0 &&
	       s->bframe.skip == 0 && !s->bframe.prev_full;
}

/*
 * The backend leg is given up in the command phase: it ended (closed, reset, or timed out by
 * TCP keepalive / TCP_USER_TIMEOUT), or stayed silent past timeouts.response_ms. A client
 * waiting for an answer of which nothing has been relayed gets an error that says what
 * happened (2013, as its library would say for a lost server); otherwise what the backend
 * sent last is relayed and the client is closed.
 */
static void backend_lost(ig_session *s, const char *why)
{
	if (s->close_after_flush)
		return; /* already on its way out, the client already told */
	if (s->hold == HOLD_PROBE) {
		/* The client's statement was held, not sent: it is told it did not run. */
		fail_client(s, s->plan_seq, CR_SERVER_LOST,
		            "importgate: lost the backend %s before the statement was sent: %s", s->be->addr, why);
		return;
	}
	if (answer_untouched(s)) {
		fail_client(s, s->pq[s->pq_head].resp_seq, CR_SERVER_LOST,
		            "importgate: lost the backend %s during the command: %s", s->be->addr, why);
		return;
	}
	LOG_INFO(s->id, "backend %s: %s", s->be->addr, why);
	close_when_flushed(s);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	ig_leg *l = st->data;
	ig_session *s = l->s;
	(void)buf;
	if (nread == 0 || s->closing)
		return;
	if (nread < 0) {
		if (l->is_client) {
			LOG_DEBUG(s->id, "client closed (%s)", uv_strerror((int)nread));
			session_close(s, NULL);
		} else if (s->state == SS_COMMAND) {
			backend_lost(s, nread == UV_EOF ? "closed the connection" : uv_strerror((int)nread));
		} else {
			fail_client(s, next_client_seq(s), ER_UNKNOWN_ERROR,
			            "importgate: backend %s closed the connection during the handshake",
			            s->be->addr);
		}
		return;
	}
	ig_metric_add(l->is_client ? IG_M_BYTES_CLIENT_TO_BACKEND : IG_M_BYTES_BACKEND_TO_CLIENT,
	              (uint64_t)nread);
	if (l->tls)
		tls_input(s, l, (const uint8_t *)buf->base, (size_t)nread);
	else
		deliver(s, l, (const uint8_t *)buf->base, (size_t)nread);
}

static void leg_read(ig_leg *l, bool on)
{
	if (!l->open || l->reading == on)
		return;
	if (on) {
		if (uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read) == 0)
			l->reading = true;
	} else {
		uv_read_stop((uv_stream_t *)&l->tcp);
		l->reading = false;
	}
}

/*
 * Backpressure: a side is read only while the other side's write queue is under the
 * bound, so a slow reader never makes the gateway buffer without limit.
 */
static void update_reading(ig_session *s)
{
	if (s->closing)
		return;
	size_t limit = s->cfg->limits.write_queue_bytes;
	bool client_on = !s->close_after_flush && s->hold == HOLD_NONE && leg_queued(&s->backend) < limit &&
	                 s->pq_len < PQ_MAX;
	bool backend_on = !s->close_after_flush && s->state != SS_BACKEND_CONNECT &&
	                  leg_queued(&s->client) < limit;
	leg_read(&s->client, client_on);
	leg_read(&s->backend, backend_on);
}

/* ------------------------------------------------------------------ closing */

static void free_pending(ig_pending *p)
{
	if (p->obl_id[0]) /* the answer never came (closed first) */
		ig_obl_unanswered(p->obl_id);
	free(p->db);
	free(p->user);
	for (unsigned i = 0; i < p->nuse; i++)
		free(p->use_db[i]);
	memset(p, 0, sizeof(*p));
}

static void session_free(ig_session *s)
{
	ig_worker *w = s->w;
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->nsessions--;
	atomic_fetch_sub(&ig_rt.conns, 1);
	ig_metric_gauge_add(IG_M_CONNECTIONS_ACTIVE, -1);
	if (s->be)
		ig_backend_release(s->be);
	ig_backends_release(s->bset);
	for (ig_leg *l = &s->client; l; l = l == &s->client ? &s->backend : NULL) {
		if (l->tls) {
			ig_tls_free(l->tls);
			free(l->tls);
		}
		ig_buf_reset(&l->wq);
		ig_buf_reset(&l->inflight);
	}
	while (s->pq_len > 0) {
		free_pending(&s->pq[s->pq_head]);
		s->pq_head = (s->pq_head + 1) % PQ_MAX;
		s->pq_len--;
	}
	if (s->secret.data)
		OPENSSL_cleanse(s->secret.data, s->secret.cap);
	ig_buf_reset(&s->secret);
	ig_buf_reset(&s->cin);
	ig_buf_reset(&s->bin);
	ig_buf_reset(&s->hs_out);
	ig_buf_reset(&s->big);
	ig_buf_reset(&s->plan_text);
	ig_buf_reset(&s->probe_in);
	ig_inspection_free(s->plan); /* a probe's plan (a decision's is freed by work_done) */
	ig_session_facts_free(&s->facts);
	ig_buf_reset(&s->capture);
	LOG_DEBUG(s->id, "session freed");
	ig_cfg_release(s->cfg);
	SSL_CTX_free(s->cctx);
	SSL_CTX_free(s->bctx);
	free(s);
}

/* Freed when its handles are closed and no decision is in the thread pool. */
static void session_maybe_free(ig_session *s)
{
	if (s->handles == 0 && !s->working)
		session_free(s);
}

static void on_close(uv_handle_t *h)
{
	ig_session *s = h->type == UV_TCP ? ((ig_leg *)h->data)->s : h->data;
	s->handles--;
	session_maybe_free(s);
}

static void session_close(ig_session *s, const char *why)
{
	if (s->closing)
		return;
	s->closing = true;
	if (why)
		LOG_INFO(s->id, "closing in %s: %s", state_names[s->state], why);
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, on_close);
	for (ig_leg *l = &s->client; l; l = l == &s->client ? &s->backend : NULL) {
		if (l->open && !uv_is_closing((uv_handle_t *)&l->tcp)) {
			l->open = false;
			uv_close((uv_handle_t *)&l->tcp, on_close);
		}
	}
}

/* ------------------------------------------------------------------ handshake phase */

/* A complete packet at the head of b: 1, with its payload; 0 not yet; -1 over max. */
static int take_packet(ig_buf *b, size_t max, const uint8_t **payload, uint32_t *plen, uint8_t *seq)
{
	if (ig_buf_avail(b) < 4)
		return 0;
	const uint8_t *h = ig_buf_head(b);
	uint32_t n = my_u24(h);
	if (n > max)
		return -1;
	if (ig_buf_avail(b) < 4 + (size_t)n)
		return 0;
	*payload = h + 4;
	*plen = n;
	*seq = h[3];
	return 1;
}

static void st_backend_greeting(ig_session *s)
{
	const uint8_t *p;
	uint32_t n;
	uint8_t seq;
	char err[256];
	int r = take_packet(&s->bin, HANDSHAKE_PKT_MAX, &p, &n, &seq);
	if (r == 0)
		return;
	if (r < 0) {
		fail_client(s, 0, ER_UNKNOWN_ERROR, "importgate: backend %s sent an oversized greeting",
		            s->be->addr);
		return;
	}
	if (n > 0 && p[0] == 0xff) {
		/* The backend refuses us (too many connections, host blocked): say so verbatim. */
		leg_send_packet(&s->client, 0, p, n);
		LOG_INFO(s->id, "backend %s refused the connection", s->be->addr);
		close_when_flushed(s);
		return;
	}
	if (my_greeting_parse(p, n, &s->greeting, err, sizeof(err)) < 0 ||
	    !(s->greeting.caps & CLIENT_PROTOCOL_41) || !(s->greeting.caps & CLIENT_SECURE_CONNECTION)) {
		fail_client(s, 0, ER_UNKNOWN_ERROR, "importgate: backend %s: unusable greeting: %s",
		            s->be->addr, r < 0 ? err : "protocol 4.1 required");
		return;
	}
	if (s->bctx && !(s->greeting.caps & CLIENT_SSL)) {
		fail_client(s, 0, ER_UNKNOWN_ERROR,
		            "importgate: backend %s does not offer TLS, but backends.tls.mode requires it",
		            s->be->addr);
		return;
	}
	snprintf(s->server_version, sizeof(s->server_version), "%s", s->greeting.server_version);
	ig_backend_note_version(s->server_version);
	memcpy(s->scramble, s->greeting.scramble, s->greeting.scramble_len);
	s->scramble_len = s->greeting.scramble_len;
	snprintf(s->auth_plugin, sizeof(s->auth_plugin), "%s", s->greeting.auth_plugin);

	/* The client sees the backend's greeting, less what the gateway cannot relay. */
	uint8_t *copy = malloc(n);
	if (!copy) {
		session_close(s, "out of memory");
		return;
	}
	memcpy(copy, p, n);
	uint32_t caps = (s->greeting.caps & ~IG_CAPS_MASKED) | (s->cctx ? CLIENT_SSL : 0);
	my_greeting_set_caps(copy, &s->greeting, caps, 0);
	s->seq_b = seq;
	s->seq_c = 0;
	int rc = leg_send_packet(&s->client, 0, copy, n);
	free(copy);
	ig_buf_consume(&s->bin, 4 + (size_t)n);
	if (rc < 0) {
		session_close(s, "out of memory");
		return;
	}
	leg_flush(&s->client);
	LOG_DEBUG(s->id, "backend %s greeting: %s, plugin %s", s->be->addr, s->server_version,
	          s->auth_plugin);
	s->state = SS_CLIENT_HELLO;
	update_reading(s);
}

static int start_tls(ig_session *s, ig_leg *l, SSL_CTX *ctx, bool server)
{
	l->tls = calloc(1, sizeof(*l->tls));
	if (!l->tls || ig_tls_init(l->tls, ctx, server, server ? NULL : s->be->host) < 0) {
		free(l->tls);
		l->tls = NULL;
		return -1;
	}
	return 0;
}

static void st_client_hello(ig_session *s)
{
	const uint8_t *p;
	uint32_t n;
	uint8_t seq;
	char err[256];
	my_hs_response r;
	int t = take_packet(&s->cin, HANDSHAKE_PKT_MAX, &p, &n, &seq);
	if (t == 0)
		return;
	if (t < 0) {
		fail_client(s, 2, ER_HANDSHAKE_ERROR, "importgate: handshake packet too large");
		return;
	}
	if (seq != (uint8_t)(s->seq_c + 1)) {
		fail_client(s, (uint8_t)(seq + 1), ER_HANDSHAKE_ERROR,
		            "importgate: bad handshake: packets out of order (sequence id %u, expected %u)",
		            seq, (uint8_t)(s->seq_c + 1));
		return;
	}
	if (my_hs_response_parse(p, n, &r, err, sizeof(err)) < 0) {
		fail_client(s, (uint8_t)(seq + 1), ER_HANDSHAKE_ERROR, "importgate: bad handshake: %s", err);
		return;
	}
	s->seq_c = seq;
	if (r.ssl_request) {
		if (!s->cctx || s->client.tls) {
			fail_client(s, (uint8_t)(seq + 1), ER_HANDSHAKE_ERROR,
			            "importgate: TLS is not offered on this port");
			return;
		}
		ig_buf_consume(&s->cin, 4 + (size_t)n);
		if (start_tls(s, &s->client, s->cctx, true) < 0) {
			session_close(s, "cannot start TLS");
			return;
		}
		s->state = SS_CLIENT_TLS;
		/* Bytes after the SSLRequest are already the TLS ClientHello. */
		if (ig_buf_avail(&s->cin) > 0) {
			ig_buf rest = s->cin;
			memset(&s->cin, 0, sizeof(s->cin));
			tls_input(s, &s->client, ig_buf_head(&rest), ig_buf_avail(&rest));
			ig_buf_reset(&rest);
		}
		return;
	}
	if (s->cfg->client_tls.require && !s->client.tls) {
		fail_client(s, (uint8_t)(seq + 1), ER_SECURE_TRANSPORT_REQUIRED,
		            "Connections using insecure transport are prohibited: importgate requires TLS "
		            "(client_tls.require)");
		return;
	}
	snprintf(s->user, sizeof(s->user), "%s", r.user);
	if (r.has_db) {
		snprintf(s->db, sizeof(s->db), "%s", r.db);
		s->has_db = true;
	}
	if (r.auth_plugin[0])
		snprintf(s->auth_plugin, sizeof(s->auth_plugin), "%s", r.auth_plugin);
	s->caps = r.caps & s->greeting.caps & ~IG_CAPS_MASKED;
	uint32_t bcaps = (r.caps & ~IG_CAPS_MASKED) | (s->bctx ? CLIENT_SSL : 0);
	if (my_hs_response_rewrite(p, n, bcaps, &s->hs_out) < 0) {
		session_close(s, "out of memory");
		return;
	}
	ig_buf_consume(&s->cin, 4 + (size_t)n);
	LOG_DEBUG(s->id, "client user '%s' db '%s' plugin %s tls %s", s->user, s->has_db ? s->db : "",
	          s->auth_plugin, s->client.tls ? "yes" : "no");
	if (s->bctx) {
		uint8_t req[32];
		my_ssl_request(req, bcaps, r.max_packet, r.charset);
		if (leg_send_packet(&s->backend, ++s->seq_b, req, sizeof(req)) < 0 ||
		    start_tls(s, &s->backend, s->bctx, false) < 0) {
			session_close(s, "cannot start backend TLS");
			return;
		}
		leg_flush(&s->backend);
		s->state = SS_BACKEND_TLS;
		ig_tls_handshake(s->backend.tls, err, sizeof(err)); /* produces the ClientHello */
		ig_tls_drain(s->backend.tls, &s->backend.wq);
		leg_flush(&s->backend);
		return;
	}
	if (leg_send_packet(&s->backend, ++s->seq_b, s->hs_out.data, s->hs_out.len) < 0) {
		session_close(s, "out of memory");
		return;
	}
	ig_buf_reset(&s->hs_out);
	leg_flush(&s->backend);
	s->state = SS_AUTH;
}

static int relay_to_client(ig_session *s, const uint8_t *p, size_t n)
{
	s->seq_c++;
	return leg_send_packet(&s->client, s->seq_c, p, n);
}

static int relay_to_backend(ig_session *s, const uint8_t *p, size_t n)
{
	s->seq_b++;
	return leg_send_packet(&s->backend, s->seq_b, p, n);
}

static void clear_secret(ig_session *s)
{
	if (s->secret.data)
		OPENSSL_cleanse(s->secret.data, s->secret.cap);
	ig_buf_reset(&s->secret);
}

static void enter_command_phase(ig_session *s);

/* One packet of the authentication exchange from the backend; true once authenticated. */
static bool auth_from_backend(ig_session *s, const uint8_t *p, uint32_t n)
{
	char err[256];
	if (n > 0 && p[0] == 0xfe && n > 1) {
		/* AuthSwitchRequest: plugin name, then the new scramble (NUL-terminated). */
		const uint8_t *nul = memchr(p + 1, 0, n - 1);
		size_t nlen = nul ? (size_t)(nul - (p + 1)) : n - 1;
		if (nlen < sizeof(s->auth_plugin)) {
			memcpy(s->auth_plugin, p + 1, nlen);
			s->auth_plugin[nlen] = '\0';
		}
		if (nul) {
			size_t dlen = n - (size_t)(nul + 1 - p);
			if (dlen > 0 && p[n - 1] == 0)
				dlen--;
			if (dlen > sizeof(s->scramble))
				dlen = sizeof(s->scramble);
			memcpy(s->scramble, nul + 1, dlen);
			s->scramble_len = dlen;
		}
	}
	if (s->ab == AB_WANT_BACKEND_KEY) {
		ig_buf enc = {0};
		if (n < 2 || p[0] != 0x01 ||
		    ig_auth_rsa_encrypt((const char *)p + 1, n - 1, ig_buf_head(&s->secret),
		                        ig_buf_avail(&s->secret), s->scramble, s->scramble_len, &enc, err,
		                        sizeof(err)) < 0) {
			clear_secret(s);
			ig_buf_reset(&enc);
			fail_client(s, next_client_seq(s), ER_ACCESS_DENIED_ERROR,
			            "importgate: caching_sha2_password full authentication with backend %s "
			            "failed: %s",
			            s->be->addr, n < 2 || p[0] != 0x01 ? "no public key received" : err);
			return false;
		}
		clear_secret(s);
		relay_to_backend(s, enc.data, enc.len);
		ig_buf_reset(&enc);
		s->ab = AB_NONE;
		return false;
	}
	if (n == 2 && p[0] == 0x01 && p[1] == 0x04 && strcmp(s->auth_plugin, CACHING_SHA2) == 0) {
		bool ctls = s->client.tls != NULL, btls = s->backend.tls != NULL;
		if (ctls && !btls)
			s->ab = AB_WANT_CLEAR_PW;
		else if (!ctls && btls)
			s->ab = ig_rt.rsa ? AB_WANT_CLIENT_RSA : AB_NONE;
	}
	relay_to_client(s, p, n);
	if (n > 0 && p[0] == 0x00)
		return true;
	if (n > 0 && p[0] == 0xff) {
		my_err e;
		if (my_err_parse(p, n, &e) == 0)
			LOG_INFO(s->id, "authentication of '%s' refused by backend: %u %.*s", s->user, e.code,
			         (int)e.msg_len, e.msg);
		close_when_flushed(s);
	}
	return false;
}

/* One packet of the authentication exchange from the client. */
static void auth_from_client(ig_session *s, const uint8_t *p, uint32_t n)
{
	char err[256];
	switch (s->ab) {
	case AB_WANT_CLEAR_PW: {
		/* Clear password over client TLS; the plain backend needs it RSA-encrypted. */
		size_t len = n > 0 && p[n - 1] == 0 ? n - 1 : n;
		if (ig_buf_append(&s->secret, p, len) < 0) {
			session_close(s, "out of memory");
			return;
		}
		uint8_t want_key = 0x02;
		relay_to_backend(s, &want_key, 1);
		s->ab = AB_WANT_BACKEND_KEY;
		return;
	}
	case AB_WANT_CLIENT_RSA:
		if (n == 1 && p[0] == 0x02) {
			ig_buf k = {0};
			uint8_t one = 0x01;
			if (ig_buf_append(&k, &one, 1) < 0 || ig_buf_append(&k, ig_rt.rsa_pem, ig_rt.rsa_pem_len) < 0) {
				ig_buf_reset(&k);
				session_close(s, "out of memory");
				return;
			}
			relay_to_client(s, k.data, k.len);
			ig_buf_reset(&k);
			return;
		}
		if (ig_auth_rsa_decrypt(ig_rt.rsa, p, n, s->scramble, s->scramble_len, &s->secret, err,
		                        sizeof(err)) < 0) {
			clear_secret(s);
			fail_client(s, next_client_seq(s), ER_ACCESS_DENIED_ERROR,
			            "importgate: %s (the client must use the public key the gateway sends)", err);
			return;
		}
		/* Over the backend's TLS the password goes in clear, NUL-terminated as sent. */
		relay_to_backend(s, ig_buf_head(&s->secret), ig_buf_avail(&s->secret));
		clear_secret(s);
		s->ab = AB_NONE;
		return;
	default:
		relay_to_backend(s, p, n);
	}
}

static void st_auth(ig_session *s)
{
	const uint8_t *p;
	uint32_t n;
	uint8_t seq;
	int r;
	while (!s->closing && s->state == SS_AUTH && (r = take_packet(&s->bin, AUTH_PKT_MAX, &p, &n, &seq)) != 0) {
		if (r < 0) {
			fail_client(s, next_client_seq(s), ER_UNKNOWN_ERROR,
			            "importgate: oversized authentication packet from backend");
			return;
		}
		s->seq_b = seq;
		bool ok = auth_from_backend(s, p, n);
		ig_buf_consume(&s->bin, 4 + (size_t)n);
		if (ok)
			enter_command_phase(s);
	}
	while (!s->closing && s->state == SS_AUTH && !s->close_after_flush &&
	       (r = take_packet(&s->cin, AUTH_PKT_MAX, &p, &n, &seq)) != 0) {
		if (r < 0) {
			fail_client(s, next_client_seq(s), ER_HANDSHAKE_ERROR,
			            "importgate: oversized authentication packet");
			return;
		}
		if (seq != (uint8_t)(s->seq_c + 1)) {
			fail_client(s, (uint8_t)(seq + 1), ER_HANDSHAKE_ERROR,
			            "importgate: authentication packets out of order");
			return;
		}
		s->seq_c = seq;
		auth_from_client(s, p, n);
		ig_buf_consume(&s->cin, 4 + (size_t)n);
	}
	leg_flush(&s->backend);
	leg_flush(&s->client);
}

/* ------------------------------------------------------------------ command phase */

static ig_pending *pq_tail_new(ig_session *s)
{
	ig_pending *p = &s->pq[(s->pq_head + s->pq_len) % PQ_MAX];
	memset(p, 0, sizeof(*p));
	s->pq_len++;
	return p;
}

static void start_tracking(ig_session *s)
{
	if (s->pq_len > 0)
		ig_resp_begin(&s->resp, s->pq[s->pq_head].cmd, s->caps);
}

/* A command was forwarded: follow its response (the record is filled by the caller). */
static ig_pending *expect_response(ig_session *s, uint8_t cmd)
{
	if (!ig_cmd_has_response(cmd))
		return NULL;
	ig_pending *p = pq_tail_new(s);
	p->cmd = cmd;
	p->resp_seq = 1; /* a one-packet command; callers correct it for longer ones */
	if (s->pq_len == 1) {
		s->last_io_ms = uv_now(&s->w->loop); /* the wait for an answer starts now */
		start_tracking(s);
	}
	return p;
}

static void set_db(ig_session *s, const char *db)
{
	snprintf(s->db, sizeof(s->db), "%s", db);
	s->has_db = true;
	LOG_DEBUG(s->id, "current database: %s", s->db);
}

/* One result of the head command ended (OK, rows or error). */
static void result_ended(ig_session *s, unsigned index)
{
	ig_pending *p = &s->pq[s->pq_head];
	if (s->resp.kind == RK_ERR)
		return;
	if (index < p->nuse && p->use_db[index])
		set_db(s, p->use_db[index]);
	if (p->cmd == COM_INIT_DB && p->db)
		set_db(s, p->db);
	if (p->cmd == COM_CHANGE_USER && p->user) {
		snprintf(s->user, sizeof(s->user), "%s", p->user);
		s->has_db = p->db != NULL;
		if (p->db)
			set_db(s, p->db);
		LOG_DEBUG(s->id, "user changed to '%s'", s->user);
	}
}

/* TiDB's answer to an import, read from the captured bytes, for the log (and the audit). */
static void import_answered(ig_session *s, ig_pending *p)
{
	ig_import_result r;
	uint64_t ms = uv_now(&s->w->loop) - s->capture_start;
	if (ig_import_result_parse(ig_buf_head(&s->capture), ig_buf_avail(&s->capture), s->caps,
	                           s->capture_index, &r) < 0)
		r.kind = IR_UNKNOWN;
	/* TiDB's messages may quote the statement (1064 "near '...'", a location in 8xxx): only
	 * a redacted copy is logged or audited. */
	char *red = r.message[0] && !s->capture_secret ? sql_redact_text(r.message, strlen(r.message)) : NULL;
	snprintf(r.message, sizeof(r.message), "%s",
	         red ? red : !r.message[0] ? "" : s->capture_secret ? "(withheld: the statement carried a credential)"
	                                                             : "(withheld: out of memory)");
	free(red);
	if (r.kind == IR_UNKNOWN) {
		LOG_INFO(s->id, "import.result: %s: answer not readable (%zu bytes captured), %llu ms",
		         s->capture_target, ig_buf_avail(&s->capture), (unsigned long long)ms);
	} else if (r.kind == IR_ERR) {
		LOG_INFO(s->id, "import.result: %s: error %u %s, %llu ms", s->capture_target, r.err_code,
		         r.message, (unsigned long long)ms);
	} else {
		LOG_INFO(s->id, "import.result: %s: job %s, status %s, rows %s, %llu ms%s%s",
		         s->capture_target, r.job_id[0] ? r.job_id : "-", r.status[0] ? r.status : "-",
		         r.rows[0] ? r.rows : "-", (unsigned long long)ms, r.message[0] ? ": " : "", r.message);
	}
	json_t *ev = ig_audit_event("import.result");
	if (ev) {
		json_object_set_new(ev, "conn", json_integer((json_int_t)s->id));
		ig_audit_set_string(ev, "user", s->user, strlen(s->user));
		ig_audit_set_string(ev, "client", s->client_addr, strlen(s->client_addr));
		ig_audit_set_string(ev, "table", s->capture_target, strlen(s->capture_target));
		ig_audit_set_string(ev, "backend", s->be->addr, strlen(s->be->addr));
		json_object_set_new(ev, "latency_ms", json_integer((json_int_t)ms));
		if (r.kind == IR_ERR) {
			ig_audit_set_error(ev, r.err_code, r.message);
		} else if (r.kind != IR_UNKNOWN) {
			if (r.job_id[0])
				json_object_set_new(ev, "job_id", json_string(r.job_id));
			if (r.status[0])
				json_object_set_new(ev, "status", json_string(r.status));
			if (r.rows[0])
				json_object_set_new(ev, "rows", json_string(r.rows));
			if (r.message[0])
				ig_audit_set_string(ev, "message", r.message, strlen(r.message));
		} else {
			json_object_set_new(ev, "status", json_string("unreadable"));
		}
		ig_audit_post(ev);
	}
	if (p->obl_id[0]) {
		if (r.kind == IR_UNKNOWN)
			ig_obl_unanswered(p->obl_id);
		else if (r.kind == IR_ERR)
			ig_obl_answered(p->obl_id, "", "", r.err_code ? r.err_code : 1105, r.message);
		else
			ig_obl_answered(p->obl_id, r.job_id, r.status, 0, r.message);
		p->obl_id[0] = '\0';
	}
	ig_buf_reset(&s->capture);
}

static void response_done(ig_session *s)
{
	if (s->pq[s->pq_head].capture)
		import_answered(s, &s->pq[s->pq_head]);
	free_pending(&s->pq[s->pq_head]);
	s->pq_head = (s->pq_head + 1) % PQ_MAX;
	s->pq_len--;
	start_tracking(s);
}

static void on_server_packet(void *arg, const uint8_t *h, size_t hl, uint32_t plen, uint8_t seq, bool cont)
{
	ig_session *s = arg;
	(void)seq;
	if (cont)
		return;
	if (s->pq_len == 0) {
		LOG_DEBUG(s->id, "unsolicited packet from backend (0x%02x)", hl ? h[0] : 0);
		return;
	}
	unsigned index = s->resp.result_index;
	switch (ig_resp_feed(&s->resp, h, hl, plen)) {
	case RE_NONE:
		break;
	case RE_INFILE:
		s->cin_mode = CIN_INFILE;
		s->pq[s->pq_head].resp_seq = 0; /* the answer's sequence now follows the file's packets */
		break;
	case RE_RESULT:
		result_ended(s, index);
		break;
	case RE_DONE:
		result_ended(s, index);
		response_done(s);
		break;
	case RE_PROTOCOL:
		LOG_WARN(s->id, "cannot follow the backend's answer to command 0x%02x; dropping its tracking",
		         s->pq[s->pq_head].cmd);
		response_done(s);
		break;
	}
}

static void probe_input(ig_session *s, const uint8_t *p, size_t n);

static void backend_command_input(ig_session *s, const uint8_t *p, size_t n)
{
	s->last_io_ms = uv_now(&s->w->loop);
	if (s->hold == HOLD_PROBE) {
		probe_input(s, p, n); /* the gateway's own query: never relayed */
		return;
	}
	if (s->pq_len > 0 && s->pq[s->pq_head].capture && ig_buf_avail(&s->capture) < CAPTURE_MAX) {
		size_t room = CAPTURE_MAX - ig_buf_avail(&s->capture);
		ig_buf_append(&s->capture, p, n < room ? n : room); /* best effort: a note, not the data */
	}
	if (leg_send(&s->client, p, n) < 0) {
		session_close(s, "out of memory");
		return;
	}
	ig_framer_feed(&s->bframe, p, n, on_server_packet, s);
	leg_flush(&s->client);
	/* Earlier answers are in: a held statement (or a full pipeline) can go on. */
	if (s->hold == HOLD_DRAIN && s->pq_len == 0)
		s->hold = HOLD_NONE;
	if (s->hold == HOLD_NONE && !s->closing && ig_buf_avail(&s->cin) > 0)
		command_client_input(s);
	update_reading(s);
}

/* Forwards a statement packet (COM_QUERY / COM_STMT_PREPARE) with the given text. */
static int forward_statement(ig_session *s, uint8_t cmd, const uint8_t *text, size_t len)
{
	uint8_t *payload = malloc(len + 1);
	if (!payload)
		return -1;
	payload[0] = cmd;
	memcpy(payload + 1, text, len);
	int rc = leg_send_packet(&s->backend, 0, payload, len + 1);
	free(payload);
	return rc;
}

/* Carries out the hook's answer for a statement. */
static void apply_inspection(ig_session *s, uint8_t cmd, const uint8_t *text, size_t len, ig_inspect_out *out)
{
	int rc = 0;
	uint8_t resp_seq = answer_seq(len + 1); /* what the client sent, whatever is forwarded */
	switch (out->action) {
	case IA_REJECT:
		if (IG_LOG_INFO <= atomic_load_explicit(&ig_log_threshold, memory_order_relaxed)) {
			char *red = sql_redact_text(out->err_msg, strlen(out->err_msg));
			LOG_INFO(s->id, "statement refused: %u %s", out->err_code, red ? red : "(message withheld)");
			free(red);
		}
		send_error(s, resp_seq, out->err_code, out->sqlstate, out->err_msg);
		break;
	case IA_REWRITE:
		text = ig_buf_head(&out->text);
		len = ig_buf_avail(&out->text);
		/* fall through */
	case IA_FORWARD: {
		rc = forward_statement(s, cmd, text, len);
		ig_pending *p = rc == 0 ? expect_response(s, cmd) : NULL;
		if (p)
			p->resp_seq = resp_seq;
		if (out->obl_id[0]) {
			if (p)
				memcpy(p->obl_id, out->obl_id, sizeof(p->obl_id));
			else if (rc < 0) /* not sent */
				ig_obl_answered(out->obl_id, "", "", 1105, "the import could not be sent");
			else /* not tracked: nobody will read the answer */
				ig_obl_unanswered(out->obl_id);
			out->obl_id[0] = '\0';
		}
		if (p && out->import_index >= 0) {
			p->capture = true;
			ig_buf_reset(&s->capture);
			s->capture_index = (unsigned)out->import_index;
			s->capture_start = uv_now(&s->w->loop);
			snprintf(s->capture_target, sizeof(s->capture_target), "%s", out->import_target);
			s->capture_secret = out->import_secret;
		}
		if (p && cmd == COM_QUERY) {
			/* The pending record takes over the USE list. */
			memcpy(p->use_db, out->use_db, sizeof(out->use_db));
			p->nuse = out->nuse;
			memset(out->use_db, 0, sizeof(out->use_db));
			out->nuse = 0;
		}
		break;
	}
	}
	if (rc < 0)
		session_close(s, "out of memory");
}

static void session_maybe_free(ig_session *s);

/* Thread pool: read the cluster state, decide, and (later) audit: all the blocking parts. */
static void work_decide(uv_work_t *req)
{
	ig_session *s = req->data;
	ig_inspect_read(s->plan);
	ig_inspect_finish(s->plan, &s->plan_out);
}

static ig_stmt_result begun(ig_session *s, uint8_t cmd, const uint8_t *text, size_t len, bool had_facts,
                            ig_inspection *plan, ig_inspect_out *out);

static ig_stmt_ctx stmt_ctx(const ig_session *s, uint8_t cmd, const ig_session_facts *facts)
{
	ig_stmt_ctx ctx = {
		.conn_id = s->id, .user = s->user, .client_host = s->client_addr,
		.db = s->has_db ? s->db : NULL, .server_version = s->server_version,
		.client_tls = s->client.tls != NULL, .backend = s->be->addr, .cmd = cmd, .facts = facts,
	};
	return ctx;
}

/* Thread pool: classify a large statement (the session is held; nothing it reads changes). */
static void work_classify(uv_work_t *req)
{
	ig_session *s = req->data;
	ig_stmt_ctx ctx = stmt_ctx(s, s->plan_cmd, s->have_facts ? &s->facts : NULL);
	s->plan = ig_inspect_begin(&ctx, (const char *)ig_buf_head(&s->plan_text), ig_buf_avail(&s->plan_text),
	                           &s->plan_out);
}

/* The session's share of the large statements under classification, given back. */
static void uncharge(ig_session *s)
{
	if (s->big_charge)
		atomic_fetch_sub(&inspect_big_bytes, s->big_charge);
	s->big_charge = 0;
}

/* Back on the loop after a classification in the pool: go on as inline classification does. */
static void classified(ig_session *s)
{
	uncharge(s);
	ig_inspection *plan = s->plan;
	bool had_facts = s->have_facts;
	s->plan = NULL;
	ig_session_facts_free(&s->facts);
	s->have_facts = false;
	s->hold = HOLD_NONE;
	ig_stmt_result r = begun(s, s->plan_cmd, ig_buf_head(&s->plan_text), ig_buf_avail(&s->plan_text), had_facts,
	                         plan, &s->plan_out);
	if (r == STMT_DONE) {
		resume_input(s);
		return;
	}
	/* Outside the input path nothing else flushes: the probe must go out now. */
	leg_flush(&s->backend);
	update_reading(s);
}

/* Back on the loop with a classification or a decision: answer, and go on with the input. */
static void work_done(uv_work_t *req, int status)
{
	ig_session *s = req->data;
	ig_inspection *plan = s->plan;
	s->working = false;
	(void)status;
	if (!s->closing && s->hold == HOLD_CLASSIFY) {
		classified(s);
		return;
	}
	s->plan = NULL;
	uncharge(s);
	if (s->closing) {
		if (s->plan_out.obl_id[0]) /* recorded, never sent: the client went away first */
			ig_obl_answered(s->plan_out.obl_id, "", "", 1105, "the client went away before the import was sent");
		ig_inspect_out_free(&s->plan_out);
		ig_inspection_free(plan);
		session_maybe_free(s);
		return;
	}
	apply_inspection(s, s->plan_cmd, ig_buf_head(&s->plan_text), ig_buf_avail(&s->plan_text),
	                 &s->plan_out);
	ig_inspect_out_free(&s->plan_out);
	ig_inspection_free(plan);
	resume_input(s);
}

/* Hands a plan that has the session's facts to the thread pool: cluster state, decision. */
static ig_stmt_result queue_decision(ig_session *s, ig_inspection *plan)
{
	s->plan = plan;
	s->work.data = s;
	if (uv_queue_work(&s->w->loop, &s->work, work_decide, work_done) != 0) {
		s->plan = NULL;
		ig_inspection_free(plan);
		send_error(s, s->plan_seq, ER_UNKNOWN_ERROR, "HY000", "importgate: cannot schedule the import decision");
		return STMT_DONE;
	}
	s->working = true;
	s->hold = HOLD_DECISION;
	return STMT_ASYNC;
}

/*
 * Sends the gateway's own query for the session's state (proxy/probe.h). Nothing is pending
 * (a statement to inspect waits for earlier answers), so every byte the backend sends until
 * the probe's answer ends belongs to it; the client's input is held meanwhile.
 */
static ig_stmt_result start_probe(ig_session *s, ig_inspection *plan, const ig_probe_request *req)
{
	ig_buf q = {0};
	uint8_t c = COM_QUERY, rnd[IG_PROBE_NONCE_LEN / 2];
	/* Unpredictable per probe: an answer can only carry it if our text produced it. */
	int rc = RAND_bytes(rnd, sizeof(rnd)) == 1 ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < sizeof(rnd); i++)
		snprintf(s->probe_nonce + 2 * i, 3, "%02x", rnd[i]);
	if (rc == 0)
		rc = ig_buf_append(&q, &c, 1);
	if (rc == 0)
		rc = ig_probe_build(&q, s->probe_nonce, req);
	if (rc == 0)
		rc = leg_send_packet(&s->backend, 0, ig_buf_head(&q), ig_buf_avail(&q));
	ig_buf_reset(&q);
	if (rc < 0) {
		ig_inspection_free(plan);
		session_close(s, "out of memory");
		return STMT_DONE;
	}
	ig_metric_inc(IG_M_PROBES);
	s->plan = plan;
	s->hold = HOLD_PROBE;
	s->probe_since = uv_now(&s->w->loop);
	ig_buf_reset(&s->probe_in);
	s->probe_scan = 0;
	return STMT_ASYNC;
}

/* Hands a large statement to the thread pool for classification (its text is in plan_text). */
static ig_stmt_result queue_classify(ig_session *s, const ig_session_facts *facts, size_t cost)
{
	if (cost >= IG_INSPECT_BIG) {
		size_t budget = 2 * s->cfg->limits.max_inspect_bytes;
		size_t now = atomic_fetch_add(&inspect_big_bytes, cost);
		s->big_charge = cost;
		if (now + cost > budget && now > 0) { /* one alone is always allowed */
			uncharge(s);
			send_error(s, s->plan_seq, ER_UNKNOWN_ERROR, "HY000",
			           "importgate: too many large statements are being inspected at once "
			           "(limits.max_inspect_bytes); the statement was not sent, retry it");
			return STMT_DONE;
		}
	}
	if (facts && ig_session_facts_copy(&s->facts, facts) < 0) {
		uncharge(s);
		send_error(s, s->plan_seq, ER_UNKNOWN_ERROR, "HY000", "importgate: out of memory inspecting the statement");
		return STMT_DONE;
	}
	s->have_facts = facts != NULL;
	s->work.data = s;
	if (uv_queue_work(&s->w->loop, &s->work, work_classify, work_done) != 0) {
		uncharge(s);
		ig_session_facts_free(&s->facts);
		s->have_facts = false;
		send_error(s, s->plan_seq, ER_UNKNOWN_ERROR, "HY000", "importgate: cannot schedule the inspection");
		return STMT_DONE;
	}
	s->working = true;
	s->hold = HOLD_CLASSIFY;
	return STMT_ASYNC;
}

/* What follows the classification: the answer, the probe, or the decision. */
static ig_stmt_result begun(ig_session *s, uint8_t cmd, const uint8_t *text, size_t len, bool had_facts,
                            ig_inspection *plan, ig_inspect_out *out)
{
	if (!plan) {
		apply_inspection(s, cmd, text, len, out);
		ig_inspect_out_free(out);
		return STMT_DONE;
	}
	ig_inspect_out_free(out);
	ig_probe_request req;
	if (!ig_inspect_needs_probe(plan, &req))
		return queue_decision(s, plan);
	if (had_facts) { /* begin never asks twice; refuse rather than loop */
		ig_inspection_free(plan);
		send_error(s, s->plan_seq, ER_UNKNOWN_ERROR, "HY000", "importgate: internal error: probe asked twice");
		return STMT_DONE;
	}
	return start_probe(s, plan, &req);
}

/*
 * Through the hook: STMT_DONE when the statement was forwarded, rewritten or answered;
 * STMT_ASYNC when it waits for the pool, the probe or the decision. A statement longer than
 * IG_INSPECT_INLINE_MAX must already be in plan_text (the pool reads it there). facts: the
 * server's answer to the probe, or NULL before it was asked.
 */
static ig_stmt_result inspect_statement(ig_session *s, uint8_t cmd, const uint8_t *text, size_t len,
                                        const ig_session_facts *facts)
{
	size_t cost = len; /* what classification reads: the text and any variable's value */
	for (size_t i = 0; facts && i < facts->nvars; i++)
		cost += facts->vars[i].len;
	if (cost > IG_INSPECT_INLINE_MAX)
		return queue_classify(s, facts, cost);
	ig_stmt_ctx ctx = stmt_ctx(s, cmd, facts);
	ig_inspect_out out;
	ig_inspection *plan = ig_inspect_begin(&ctx, (const char *)text, len, &out);
	return begun(s, cmd, text, len, facts != NULL, plan, &out);
}

/* The statement held for the probe or the decision is done with: take client input again. */
static void resume_input(ig_session *s)
{
	ig_buf_reset(&s->plan_text);
	s->hold = HOLD_NONE;
	if (!s->closing)
		command_client_input(s);
}

/*
 * Bytes of the answer to the probe. A failed probe is never guessed around: the held
 * statement is refused and, since the rest of an answer that could not be read cannot be
 * told apart from what follows it, the session is closed.
 */
static void probe_input(ig_session *s, const uint8_t *p, size_t n)
{
	char err[400];
	ig_session_facts facts;
	ig_probe_request req;
	size_t used = 0;
	/* HEX() doubles a variable's bytes (LEFT() counts characters: up to 4 bytes each). */
	size_t bound = (size_t)IG_PROBE_MAX_VARS * 8 * IG_PROBE_VAR_MAX + 64 * 1024;
	if (ig_buf_avail(&s->probe_in) + n > bound || ig_buf_append(&s->probe_in, p, n) < 0) {
		fail_client(s, s->plan_seq, IG_ER_LOAD_DATA_PRECHECK_FAILED,
		            "PreCheck failed: importgate: the server's answer about the session's state is larger "
		            "than the probe can ask for (user variables are read up to 1 MiB each); the "
		            "statement was not sent");
		return;
	}
	/* Parsed only when a packet that can end the answer has come: linear in its size. */
	if (!ig_probe_may_be_complete(ig_buf_head(&s->probe_in), ig_buf_avail(&s->probe_in), &s->probe_scan))
		return;
	ig_inspect_needs_probe(s->plan, &req);
	int rc = ig_probe_parse(ig_buf_head(&s->probe_in), ig_buf_avail(&s->probe_in), s->caps, s->probe_nonce, &req,
	                        &facts, &used, err, sizeof(err));
	if (rc > 0)
		return;
	if (rc == 0 && used != ig_buf_avail(&s->probe_in)) {
		ig_session_facts_free(&facts);
		rc = -1;
		snprintf(err, sizeof(err), "the server sent more than the answer");
	}
	ig_buf_reset(&s->probe_in);
	ig_inspection_free(s->plan);
	s->plan = NULL;
	if (rc < 0) {
		LOG_WARN(s->id, "probe of the session's state failed: %s", err);
		ig_metric_inc(IG_M_PROBE_FAILURES);
		fail_client(s, s->plan_seq, IG_ER_LOAD_DATA_PRECHECK_FAILED,
		            "PreCheck failed: importgate: could not read the session's state from the server "
		            "(%s), so the statement was not sent", err);
		return;
	}
	LOG_DEBUG(s->id, "probe: db %s, user '%s', sql_mode '%s', charset %s", facts.db ? facts.db : "(none)",
	          facts.user, facts.sql_mode, facts.charset);
	s->hold = HOLD_NONE;
	ig_stmt_result r = inspect_statement(s, s->plan_cmd, ig_buf_head(&s->plan_text), ig_buf_avail(&s->plan_text),
	                                     &facts);
	ig_session_facts_free(&facts);
	if (r == STMT_DONE)
		resume_input(s);
	else
		update_reading(s);
}

/*
 * A whole COM_QUERY / COM_STMT_PREPARE: through the hook, then forwarded, rewritten or
 * answered. STMT_WAIT: it must wait for earlier responses (the probe and the decision see
 * the session as the statement will); STMT_ASYNC: consumed, waiting for the probe or the
 * decision, client input held until then.
 */
static ig_stmt_result on_statement(ig_session *s, const uint8_t *payload, size_t plen)
{
	uint8_t cmd = payload[0];
	const char *sql = (const char *)payload + 1;
	size_t len = plen - 1;
	if (ig_inspect_quick(sql, len)) {
		ig_metric_inc(IG_M_STATEMENTS_QUICK);
		if (s->cfg->audit.log_statements == IG_LOGSTMT_ALL) {
			ig_stmt_ctx c = {.conn_id = s->id, .user = s->user, .client_host = s->client_addr,
			                 .db = s->has_db ? s->db : NULL, .cmd = cmd};
			ig_inspect_audit_statement(&c, sql, len, "other");
		}
		if (forward_statement(s, cmd, payload + 1, len) < 0) {
			session_close(s, "out of memory");
		} else {
			ig_pending *p = expect_response(s, cmd);
			if (p)
				p->resp_seq = answer_seq(plen);
		}
		return STMT_DONE;
	}
	if (s->pq_len > 0)
		return STMT_WAIT;
	ig_metric_inc(IG_M_STATEMENTS_INSPECTED);
	s->plan_cmd = cmd;
	s->plan_seq = answer_seq(plen);
	/* The text stays in the client's read buffer unless it must outlive this call. */
	bool kept = len > IG_INSPECT_INLINE_MAX;
	if (kept && ig_buf_append(&s->plan_text, payload + 1, len) < 0) {
		session_close(s, "out of memory");
		return STMT_DONE;
	}
	const uint8_t *text = kept ? ig_buf_head(&s->plan_text) : payload + 1;
	ig_stmt_result r = inspect_statement(s, cmd, text, len, NULL);
	if (r == STMT_DONE && kept)
		ig_buf_reset(&s->plan_text);
	if (r == STMT_ASYNC && !kept && ig_buf_append(&s->plan_text, payload + 1, len) < 0)
		session_close(s, "out of memory"); /* a plan in the pool is freed by work_done */
	return r;
}

/* A small command the session must understand before forwarding it. */
static ig_stmt_result on_small_command(ig_session *s, const uint8_t *payload, size_t plen)
{
	uint8_t cmd = payload[0];
	ig_pending *p;
	if (cmd == COM_QUERY || cmd == COM_STMT_PREPARE)
		return on_statement(s, payload, plen);
	if (leg_send_packet(&s->backend, 0, payload, plen) < 0) {
		session_close(s, "out of memory");
		return STMT_DONE;
	}
	p = expect_response(s, cmd);
	if (p)
		p->resp_seq = answer_seq(plen);
	if (cmd == COM_INIT_DB && p)
		p->db = strndup((const char *)payload + 1, plen - 1);
	if (cmd == COM_CHANGE_USER && p) {
		my_change_user cu;
		if (my_change_user_parse(payload, plen, s->caps, &cu) == 0) {
			p->user = strdup(cu.user);
			if (cu.has_db)
				p->db = strdup(cu.db);
		}
	}
	return STMT_DONE;
}

static bool is_small_command(uint8_t cmd)
{
	return cmd == COM_QUERY || cmd == COM_STMT_PREPARE || cmd == COM_INIT_DB || cmd == COM_CHANGE_USER;
}

/*
 * Statement of several packets (16 MiB and more): assembled up to limits.max_inspect_bytes,
 * then treated as one; a larger one is refused with an error and discarded.
 */
/* The client has sent the last packet of a statement too large to inspect: its answer. */
static void refuse_oversized(ig_session *s)
{
	s->cin_mode = CIN_COMMAND;
	send_error(s, s->big_seq, ER_NET_PACKET_TOO_LARGE, "08S01",
	           "importgate: statement larger than limits.max_inspect_bytes; it cannot be "
	           "inspected and was not sent");
}

/* s->big_seq is the sequence id after this fragment: the answer's when it is the last. */
static void on_big_fragment(ig_session *s, const uint8_t *frag, uint32_t n, bool last)
{
	if (s->cin_mode == CIN_DISCARD) {
		if (last)
			refuse_oversized(s);
		return;
	}
	if (ig_buf_avail(&s->big) + n > s->cfg->limits.max_inspect_bytes ||
	    ig_buf_append(&s->big, frag, n) < 0) {
		ig_buf_reset(&s->big);
		LOG_WARN(s->id, "statement over limits.max_inspect_bytes (%zu): refused",
		         s->cfg->limits.max_inspect_bytes);
		if (last)
			refuse_oversized(s);
		else
			s->cin_mode = CIN_DISCARD; /* the rest is read and dropped, then answered */
		return;
	}
	if (!last)
		return;
	ig_buf whole = s->big;
	memset(&s->big, 0, sizeof(s->big));
	/* The queue was drained before assembly began, so this never has to wait. Dispatched by
	 * its command byte: a COM_CHANGE_USER of 16 MiB or more is a session command, not SQL. */
	on_small_command(s, ig_buf_head(&whole), ig_buf_avail(&whole));
	ig_buf_reset(&whole);
}

/*
 * Client bytes in the command phase. Packets that start commands (sequence id 0, not a
 * continuation, not LOCAL INFILE data) are looked at; statements are held whole until
 * inspected; everything else streams through. Returns bytes consumed; stops early when a
 * statement must wait (s->hold) or the pending queue is full.
 */
static size_t command_bytes(ig_session *s, const uint8_t *p, size_t n)
{
	size_t pos = 0;
	while (pos < n && !s->closing && s->hold == HOLD_NONE) {
		if (s->cpass > 0) {
			size_t k = n - pos < s->cpass ? n - pos : s->cpass;
			if (leg_send(&s->backend, p + pos, k) < 0) {
				session_close(s, "out of memory");
				return n;
			}
			s->cpass -= (uint32_t)k;
			pos += k;
			continue;
		}
		if (n - pos < 4)
			break;
		uint32_t plen = my_u24(p + pos);
		uint8_t seq = p[pos + 3];
		bool cont = s->c_prev_full;
		bool full = plen == MY_MAX_PAYLOAD;
		size_t whole = 4 + (size_t)plen;

		if (s->big.len > 0 || s->cin_mode == CIN_DISCARD) {
			/* The next fragment of a statement of several packets. */
			if (n - pos < whole)
				break;
			if (seq != s->big_seq++) {
				/* What a server answers; the reassembled statement would hide the fault. */
				ig_buf_reset(&s->big);
				fail_client(s, seq, ER_NET_PACKETS_OUT_OF_ORDER, "Got packets out of order");
				return n;
			}
			s->c_prev_full = full;
			on_big_fragment(s, p + pos + 4, plen, !full);
			pos += whole;
			continue;
		}
		if (plen == 0) {
			/* An empty packet: ends LOCAL INFILE data, or a 16 MiB - 1 payload. */
			if (s->cin_mode == CIN_INFILE && !cont)
				s->cin_mode = CIN_COMMAND;
			s->c_prev_full = false;
			if (leg_send(&s->backend, p + pos, 4) < 0) {
				session_close(s, "out of memory");
				return n;
			}
			pos += 4;
			continue;
		}
		if (n - pos < 5)
			break; /* a header and a command byte */
		uint8_t cmd = p[pos + 4];
		bool is_cmd = !cont && s->cin_mode == CIN_COMMAND && seq == 0;

		if (is_cmd && full && is_small_command(cmd)) {
			/* A statement of several packets: wait for earlier answers, then assemble it. */
			if (s->pq_len > 0) {
				s->hold = HOLD_DRAIN;
				break;
			}
			if (n - pos < whole)
				break;
			s->c_prev_full = true;
			s->big_seq = 1;
			on_big_fragment(s, p + pos + 4, plen, false);
			pos += whole;
			continue;
		}
		if (is_cmd && is_small_command(cmd)) {
			if (n - pos < whole || s->pq_len >= PQ_MAX)
				break;
			ig_stmt_result r = on_small_command(s, p + pos + 4, plen);
			if (r == STMT_WAIT) {
				s->hold = HOLD_DRAIN; /* waits for earlier responses */
				break;
			}
			s->c_prev_full = false;
			pos += whole;
			if (r == STMT_ASYNC)
				break; /* s->hold is HOLD_DECISION */
			continue;
		}
		if (is_cmd) {
			if (s->pq_len >= PQ_MAX && ig_cmd_has_response(cmd))
				break;
			ig_pending *pend = expect_response(s, cmd);
			if (pend && full)
				pend->resp_seq = 0; /* continued in packets not counted here */
		}
		s->c_prev_full = full;
		if (leg_send(&s->backend, p + pos, 4) < 0) {
			session_close(s, "out of memory");
			return n;
		}
		s->cpass = plen;
		pos += 4;
	}
	return pos;
}

static void command_client_input(ig_session *s)
{
	size_t used = command_bytes(s, ig_buf_head(&s->cin), ig_buf_avail(&s->cin));
	ig_buf_consume(&s->cin, used);
	leg_flush(&s->backend);
	leg_flush(&s->client);
	update_reading(s);
}

static void client_command_data(ig_session *s, const uint8_t *p, size_t n)
{
	s->last_io_ms = uv_now(&s->w->loop);
	if (ig_buf_avail(&s->cin) == 0) {
		/* Fast path: straight from the read buffer; only leftovers are copied. */
		size_t used = command_bytes(s, p, n);
		if (used < n && !s->closing && ig_buf_append(&s->cin, p + used, n - used) < 0) {
			session_close(s, "out of memory");
			return;
		}
		leg_flush(&s->backend);
		leg_flush(&s->client);
		update_reading(s);
		return;
	}
	if (ig_buf_append(&s->cin, p, n) < 0) {
		session_close(s, "out of memory");
		return;
	}
	command_client_input(s);
}

static void enter_command_phase(ig_session *s)
{
	s->state = SS_COMMAND;
	s->cin_mode = CIN_COMMAND;
	uv_timer_stop(&s->timer);
	/* One repeating tick at a quarter of the shortest timeout checks them all: cheaper than
	 * re-arming a timer on every packet, and a deadline is late by at most a quarter. */
	const int t[] = {s->cfg->timeouts.idle_ms, s->cfg->timeouts.response_ms,
	                 s->cfg->timeouts.client_write_ms, IG_PROBE_TIMEOUT_MS};
	int shortest = 0;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i] > 0 && (shortest == 0 || t[i] < shortest))
			shortest = t[i];
	s->last_io_ms = s->out_since_ms = uv_now(&s->w->loop);
	s->out_unsent = -1;
	if (shortest > 0) {
		uint64_t tick = shortest / 4 > 50 ? (uint64_t)shortest / 4 : 50;
		uv_timer_start(&s->timer, on_timer, tick, tick);
	}
	LOG_INFO(s->id, "session established: user '%s' from %s to %s, db '%s', client TLS %s, "
	         "backend TLS %s", s->user, s->client_addr, s->be->addr, s->has_db ? s->db : "",
	         s->client.tls ? ig_tls_version(s->client.tls) : "off",
	         s->backend.tls ? ig_tls_version(s->backend.tls) : "off");
	/* Anything the client pipelined after its handshake is a command. */
	if (ig_buf_avail(&s->bin) > 0) {
		ig_buf rest = s->bin;
		memset(&s->bin, 0, sizeof(s->bin));
		backend_command_input(s, ig_buf_head(&rest), ig_buf_avail(&rest));
		ig_buf_reset(&rest);
	}
}

/* ------------------------------------------------------------------ dispatch */

static void deliver(ig_session *s, ig_leg *l, const uint8_t *p, size_t n)
{
	if (s->state == SS_COMMAND) {
		if (l->is_client)
			client_command_data(s, p, n);
		else
			backend_command_input(s, p, n);
		return;
	}
	ig_buf *b = l->is_client ? &s->cin : &s->bin;
	if (ig_buf_avail(b) + n > 4 * HANDSHAKE_PKT_MAX) {
		fail_client(s, next_client_seq(s), ER_HANDSHAKE_ERROR,
		            "importgate: too much data during the handshake");
		return;
	}
	if (ig_buf_append(b, p, n) < 0) {
		session_close(s, "out of memory");
		return;
	}
	if (!l->tls)
		drive(s);
}

static void drive(ig_session *s)
{
	ig_sess_state before;
	do {
		before = s->state;
		if (s->closing)
			return;
		switch (s->state) {
		case SS_BACKEND_CONNECT:
		case SS_CLIENT_TLS:
		case SS_BACKEND_TLS:
			break; /* progress comes from connect / TLS callbacks */
		case SS_BACKEND_GREETING:
			st_backend_greeting(s);
			break;
		case SS_CLIENT_HELLO:
			st_client_hello(s);
			break;
		case SS_AUTH:
			st_auth(s);
			break;
		case SS_COMMAND:
			if (ig_buf_avail(&s->cin) > 0)
				command_client_input(s);
			return;
		}
	} while (s->state != before);
	update_reading(s);
}

/* ------------------------------------------------------------------ setup */

/*
 * The command phase's deadlines. idle_ms: no command in flight, none being decided, and no
 * byte either way for that long. response_ms: a command waits for its answer and nothing
 * has moved either way for that long (a stopped or hung backend whose kernel still
 * acknowledges); imports are exempt, since TiDB says nothing until a synchronous import ends.
 */
/*
 * Has the client taken nothing queued for it for timeouts.client_write_ms? Progress is a
 * write completed, or fewer bytes waiting in the socket's send queue than at the last look
 * (a slow reader takes some; libuv reports a queued write only when all of it is written).
 */
static bool client_stalled(ig_session *s, uint64_t now)
{
	int unsent = -1;
	uv_os_fd_t fd;

	if (leg_queued(&s->client) == 0) {
		s->out_since_ms = now;
		return false;
	}
	if (uv_fileno((const uv_handle_t *)&s->client.tcp, &fd) == 0)
		(void)ioctl(fd, SIOCOUTQ, &unsent);
	if (unsent != s->out_unsent) {
		s->out_unsent = unsent;
		s->out_since_ms = now;
		return false;
	}
	return now - s->out_since_ms >= (uint64_t)s->cfg->timeouts.client_write_ms;
}

static void command_tick(ig_session *s)
{
	const ig_config *c = s->cfg;
	uint64_t now = uv_now(&s->w->loop), quiet = now - s->last_io_ms;

	if (s->closing)
		return;
	if (s->hold == HOLD_PROBE) {
		/* The gateway's own query: bounded even where no response timeout is set. */
		uint64_t bound = c->timeouts.response_ms > 0 ? (uint64_t)c->timeouts.response_ms : IG_PROBE_TIMEOUT_MS;
		if (now - s->probe_since >= bound)
			backend_lost(s, "no answer to the gateway's query of the session's state");
		return;
	}
	if (c->timeouts.client_write_ms > 0 && client_stalled(s, now)) {
		session_close(s, "the client took nothing of its answer for timeouts.client_write_ms");
		return;
	}
	if (s->pq_len == 0) {
		if (c->timeouts.idle_ms > 0 && s->hold == HOLD_NONE && quiet >= (uint64_t)c->timeouts.idle_ms)
			session_close(s, "idle timeout");
		return;
	}
	/* Not while the client holds things up: bytes for it not yet taken (backpressure has
	 * stopped reading the backend), or LOCAL INFILE data still to come from it. */
	if (c->timeouts.response_ms > 0 && quiet >= (uint64_t)c->timeouts.response_ms &&
	    !s->pq[s->pq_head].capture && leg_queued(&s->client) == 0 && s->cin_mode == CIN_COMMAND) {
		char why[120];
		snprintf(why, sizeof(why), "no answer for %d ms (timeouts.response_ms)", c->timeouts.response_ms);
		backend_lost(s, why);
	}
}

static void on_timer(uv_timer_t *t)
{
	ig_session *s = t->data;
	if (s->close_after_flush)
		session_close(s, "the client did not take its last bytes in time");
	else if (s->state == SS_BACKEND_CONNECT)
		fail_client(s, 0, ER_UNKNOWN_ERROR, "importgate: backend %s: connect timed out", s->be->addr);
	else if (s->state != SS_COMMAND)
		session_close(s, "handshake timed out");
	else
		command_tick(s);
}

/* Socket options (proxy/tcpopts.c); a failure costs the probes, not the session. */
static void tune_leg(ig_session *s, ig_leg *l)
{
	char err[160];
	if (ig_tcp_tune(&l->tcp, s->cfg, err, sizeof(err)) < 0)
		LOG_WARN(s->id, "%s leg: %s", l->is_client ? "client" : "backend", err);
}

static void on_connect(uv_connect_t *req, int status)
{
	ig_session *s = req->data;
	if (s->closing)
		return;
	if (status < 0) {
		LOG_WARN(s->id, "backend %s: %s", s->be->addr, uv_strerror(status));
		fail_client(s, 0, ER_UNKNOWN_ERROR, "importgate: cannot connect to backend %s: %s",
		            s->be->addr, uv_strerror(status));
		return;
	}
	tune_leg(s, &s->backend);
	s->state = SS_BACKEND_GREETING;
	int hs = s->cfg->timeouts.handshake_ms;
	if (hs > 0)
		uv_timer_start(&s->timer, on_timer, (uint64_t)hs, 0);
	else
		uv_timer_stop(&s->timer);
	update_reading(s);
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

static void leg_init(ig_session *s, ig_leg *l, bool is_client)
{
	l->s = s;
	l->is_client = is_client;
	l->tcp.data = l;
	l->open = true;
	s->handles++;
}

void ig_session_accept(ig_worker *w)
{
	ig_session *s = calloc(1, sizeof(*s));
	if (!s) {
		LOG_ERROR(0, "out of memory accepting a connection");
		return;
	}
	s->w = w;
	s->id = atomic_fetch_add(&ig_rt.next_conn_id, 1);
	s->cfg = ig_cfg_acquire();
	ig_tls_contexts_get(&s->cctx, &s->bctx);
	uv_tcp_init(&w->loop, &s->client.tcp);
	leg_init(s, &s->client, true);
	uv_timer_init(&w->loop, &s->timer);
	s->timer.data = s;
	s->handles++;
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	w->nsessions++;
	atomic_fetch_add(&ig_rt.conns, 1);
	ig_metric_inc(IG_M_CONNECTIONS_TOTAL);
	ig_metric_gauge_add(IG_M_CONNECTIONS_ACTIVE, 1);

	if (uv_accept((uv_stream_t *)&w->listener, (uv_stream_t *)&s->client.tcp) != 0) {
		session_close(s, NULL);
		return;
	}
	struct sockaddr_storage peer;
	int plen = sizeof(peer);
	if (uv_tcp_getpeername(&s->client.tcp, (struct sockaddr *)&peer, &plen) == 0) {
		if (peer.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&peer, s->client_addr, sizeof(s->client_addr));
		else
			uv_ip6_name((struct sockaddr_in6 *)&peer, s->client_addr, sizeof(s->client_addr));
	}
	tune_leg(s, &s->client);
	int maxc = s->cfg->limits.max_connections;
	if (maxc > 0 && atomic_load(&ig_rt.conns) > maxc) {
		fail_client(s, 0, ER_CON_COUNT_ERROR, "Too many connections (importgate limits.max_connections)");
		return;
	}
	bool full;
	s->bset = ig_backends_acquire();
	s->be = ig_backend_pick(s->bset, s->cfg->backends.max_connections, &full);
	if (!s->be) {
		if (full)
			fail_client(s, 0, ER_CON_COUNT_ERROR,
			            "Too many connections (importgate backends.max_connections)");
		else
			fail_client(s, 0, ER_UNKNOWN_ERROR,
			            "importgate: no healthy backend (every backend failed its last health check)");
		return;
	}
	uv_tcp_init(&w->loop, &s->backend.tcp);
	leg_init(s, &s->backend, false);
	s->state = SS_BACKEND_CONNECT;
	LOG_DEBUG(s->id, "accepted %s, backend %s", s->client_addr, s->be->addr);
	int rc = backend_connect(s);
	if (rc < 0) {
		fail_client(s, 0, ER_UNKNOWN_ERROR, "importgate: cannot connect to backend %s: %s",
		            s->be->addr, uv_strerror(rc));
		return;
	}
	/* The connect has its own bound; the handshake's starts once connected. */
	int ct = s->cfg->backends.connect_timeout_ms;
	int hs = s->cfg->timeouts.handshake_ms;
	int first = ct > 0 && (hs <= 0 || ct < hs) ? ct : hs;
	if (first > 0)
		uv_timer_start(&s->timer, on_timer, (uint64_t)first, 0);
	update_reading(s);
}

void ig_session_close_all(ig_worker *w, const char *why)
{
	for (ig_session *s = w->sessions; s; s = s->next)
		session_close(s, why);
}
