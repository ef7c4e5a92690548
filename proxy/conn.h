/*
 * conn.h - one TCP connection of a session (the client's or the backend's): reading with
 * backpressure, a write queue, TLS behind it (proxy/tls.c), the compressed protocol once
 * negotiated (proxy/zproto.c: frames below the packets, above TLS), and MySQL packet framing.
 *
 * Input is framed once (proxy/framer.h): the owner is handed each packet and answers what
 * becomes of it: taken whole, relayed verbatim to the relay connection as its bytes arrive,
 * or kept until later. Bytes are copied only when a packet must wait; everything else is
 * read from the worker's read buffer. Consecutive relayed packets go out together: on a
 * plain connection with nothing queued ahead of them, from that buffer at the end of the
 * event-loop pass (with every other connection's, after all of the pass's reads); else
 * queued on the relay connection in one copy at the end of the read's packets.
 */
#ifndef IMPORTGATE_CONN_H
#define IMPORTGATE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proxy/buf.h"
#include "proxy/framer.h"
#include "proxy/tls.h"
#include "proxy/worker.h"
#include "proxy/zproto.h"

#define IG_CONN_TLS_CLOSED 1 /* lost(): the peer closed TLS, or TLS failed after its handshake */

typedef struct ig_conn ig_conn;

/* Where a connection stands in its worker's end-of-pass sending (conn.c). */
typedef enum ig_conn_pass {
	IG_PASS_NONE,    /* on no list */
	IG_PASS_WAITING, /* relayed bytes in the worker's reads, to be sent at the end of the pass */
	IG_PASS_OWED,    /* sent during the pass: written() is due at its end */
} ig_conn_pass;

/* Which peer a connection talks to: a server leg's relayed bytes (statements) leave first at
 * the end of a pass (conn.c). */
typedef enum ig_conn_leg {
	IG_LEG_CLIENT,
	IG_LEG_SERVER,
} ig_conn_leg;

typedef struct ig_conn_ops {
	ig_pkt_verdict (*packet)(void *owner, ig_conn *c, const ig_packet *pk);
	void (*input_done)(void *owner, ig_conn *c);          /* after the packets of one read */
	void (*lost)(void *owner, ig_conn *c, int status);    /* EOF/error reading; or IG_CONN_TLS_CLOSED */
	void (*written)(void *owner, ig_conn *c, int status); /* an asynchronous write ended */
	void (*broken)(void *owner, ig_conn *c, int status);  /* a write could not be started */
	/* The TLS handshake: rc 1 done, -1 failed (err says why). */
	void (*tls_done)(void *owner, ig_conn *c, int rc, const char *err);
	void (*overflow)(void *owner, ig_conn *c);            /* more kept input than carry_max */
} ig_conn_ops;

struct ig_conn {
	uv_tcp_t tcp;
	ig_worker *w;
	const ig_conn_ops *ops;
	void *owner;
	ig_tls *tls;         /* NULL for plain text */
	ig_buf wq;           /* bytes waiting to be written (ciphertext under TLS) */
	ig_buf inflight;     /* bytes handed to uv_write */
	uv_write_t wreq;
	ig_framer in;        /* plaintext input, framed */
	ig_zleg z;           /* the compressed protocol: input decompressed before framing, output framed */
	bool z_fresh;        /* compression started while this input was being framed: the rest is frames */
	ig_buf zwait;        /* frames not yet decompressed: the framer holds IG_CONN_KEPT_MAX already */
	size_t carry_max;    /* 0: unbounded; else overflow() when kept input would pass it */
	ig_conn *relay;      /* where IG_PKT_RELAY sends */
	const uint8_t *span; /* relayed bytes not yet copied to this connection's queue */
	size_t span_len;
	ig_buf held;         /* compressed leg: a re-framed packet's header and payload, kept to leave as one frame */
	ig_conn_pass pass;   /* end-of-pass sending: on which of the worker's lists */
	ig_conn *pass_prev, *pass_next;
	int metric;          /* counter of bytes read */
	ig_conn_leg leg;
	bool plain_in;       /* the input being framed is not from TLS */
	bool writing;
	bool reading;
	bool open;           /* handle initialised and not closed */
};

void ig_conn_init(ig_conn *c, ig_worker *w, const ig_conn_ops *ops, void *owner, int metric, ig_conn_leg leg);
void ig_conn_close(ig_conn *c, uv_close_cb cb);
void ig_conn_free(ig_conn *c); /* buffers and TLS, once the handle is closed */

size_t ig_conn_queued(ig_conn *c);
int ig_conn_send(ig_conn *c, const void *p, size_t n);
/* A whole packet (payloads of 16 MiB and more are split). */
int ig_conn_send_packet(ig_conn *c, uint8_t seq, const void *payload, size_t len);
/* A command packet, sequence id 0: its command byte, then text. */
int ig_conn_send_command(ig_conn *c, uint8_t cmd, const void *text, size_t len);
/* Sends what is queued; relayed bytes waiting for the end of the loop pass stay for it. */
void ig_conn_flush(ig_conn *c);
void ig_conn_read(ig_conn *c, bool on);
/* The end of a loop pass (the worker's check handle): the waiting relayed bytes are sent,
 * then written() is called on each connection that has nothing left queued. */
void ig_conn_pass_end(ig_worker *w);

/* During packet(), before IG_PKT_RELAY: the packet goes to the relay connection re-framed
 * (ig_framer_relay_as: pieces of at most piece_max payload bytes, numbered from seq). */
void ig_conn_relay_as(ig_conn *c, uint8_t seq, uint32_t piece_max);
/* Frames the kept input again (after a hold ends). */
void ig_conn_resume(ig_conn *c);
/* Plaintext input kept, not yet handed over or not yet taken. */
static inline size_t ig_conn_kept(const ig_conn *c) { return ig_buf_avail(&c->in.carry); }
/*
 * Kept input past this holds a whole packet of the largest size (header and 16 MiB - 1
 * bytes) at its head: what the owner waits for is then not more input, and none is taken -
 * the owner stops reading (proxy/session.c ig_sess_update_reading) and frames are left
 * compressed (zwait) until a resume. Without it a client whose packet waits behind a
 * pending query was read without end, and compressed frames made each 64 KiB read up to
 * a GiB kept (attack 7: tests/integration/test_attack7_kept_input.py).
 */
#define IG_CONN_KEPT_MAX ((size_t)4 + 0xffffffu)
static inline bool ig_conn_kept_full(const ig_conn *c) { return ig_conn_kept(c) > IG_CONN_KEPT_MAX; }
/* The input stands between packets (nothing of one is pending or kept). */
static inline bool ig_conn_at_boundary(const ig_conn *c) { return ig_framer_at_boundary(&c->in); }
/* During packet(): bytes after the packet in the input at hand. */
static inline size_t ig_conn_input_after(const ig_conn *c) { return c->in.run_left; }

/* The compressed protocol from the next byte on, both directions (after the OK that ends
 * authentication): what was queued before goes out as it was. client_side: the gateway is
 * the client on this connection (the backend's). 0, or -1 for an unknown algorithm. */
int ig_conn_start_compression(ig_conn *c, ig_zalg alg, int zstd_level, bool client_side);

/* TLS from now on: server side for a client, client side (peer_host) for a backend. */
int ig_conn_start_tls(ig_conn *c, SSL_CTX *ctx, bool server, const char *peer_host);

#endif
