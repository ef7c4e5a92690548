/*
 * conn.h - one TCP connection of a session (the client's or the backend's): reading with
 * backpressure, a write queue, TLS behind it (proxy/tls.c), and MySQL packet framing.
 *
 * Input is framed here, once. The owner is handed each packet (its header and at least
 * the first IG_CONN_PEEK bytes of its payload) and answers what becomes of it: taken whole,
 * relayed verbatim to another connection as its bytes arrive, or kept until later. Bytes
 * are copied only when a packet must wait; everything else is read from the worker's shared
 * read buffer, and consecutive relayed packets leave in one copy.
 */
#ifndef IMPORTGATE_CONN_H
#define IMPORTGATE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proxy/buf.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

#define IG_CONN_PEEK 64 /* payload bytes every packet is handed over with, at least */
#define IG_CONN_TLS_CLOSED 1 /* lost(): the peer closed TLS, or TLS failed after its handshake */

typedef struct ig_conn ig_conn;

/* What becomes of the packet handed over. */
typedef enum ig_pkt_verdict {
	IG_PKT_WAIT,    /* not now: kept, handed over again with more bytes or on ig_conn_resume */
	IG_PKT_TAKEN,   /* used (only a whole packet can be) */
	IG_PKT_RELAY,   /* sent verbatim to the relay connection, the rest as it arrives */
	IG_PKT_DISCARD, /* dropped, with everything read after it */
} ig_pkt_verdict;

typedef struct ig_packet {
	const uint8_t *data; /* the payload bytes received so far: have of len */
	uint32_t len;
	uint32_t have;
	uint8_t seq;
	bool cont; /* continues the previous packet (whose payload was 16 MiB - 1) */
} ig_packet;

static inline bool ig_packet_whole(const ig_packet *pk) { return pk->have == pk->len; }

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
	ig_buf carry;        /* plaintext input kept: a packet not yet whole, or held */
	size_t carry_max;    /* 0: unbounded; else overflow() when kept input would pass it */
	ig_conn *relay;      /* where IG_PKT_RELAY sends */
	uint32_t relay_left; /* payload bytes of the relayed packet still to come */
	const uint8_t *span; /* relayed bytes not yet copied to this connection's queue */
	size_t span_len;
	size_t run_left;     /* bytes after the current packet in the input being framed */
	int metric;          /* counter of bytes read */
	bool prev_full;      /* the last packet framed had a 16 MiB - 1 payload */
	bool writing;
	bool reading;
	bool open;           /* handle initialised and not closed */
	bool framing;        /* inside the framing loop (ig_conn_resume waits for it) */
};

void ig_conn_init(ig_conn *c, ig_worker *w, const ig_conn_ops *ops, void *owner, int metric);
void ig_conn_close(ig_conn *c, uv_close_cb cb);
void ig_conn_free(ig_conn *c); /* buffers and TLS, once the handle is closed */

size_t ig_conn_queued(ig_conn *c);
int ig_conn_send(ig_conn *c, const void *p, size_t n);
/* A whole packet (payloads of 16 MiB and more are split). */
int ig_conn_send_packet(ig_conn *c, uint8_t seq, const void *payload, size_t len);
/* A command packet, sequence id 0: its command byte, then text. */
int ig_conn_send_command(ig_conn *c, uint8_t cmd, const void *text, size_t len);
void ig_conn_flush(ig_conn *c);
void ig_conn_read(ig_conn *c, bool on);

/* Frames the kept input again (after a hold ends). */
void ig_conn_resume(ig_conn *c);
/* Plaintext input kept, not yet handed over or not yet taken. */
static inline size_t ig_conn_kept(const ig_conn *c) { return ig_buf_avail(&c->carry); }
/* The input stands between packets (nothing of one is pending or kept). */
bool ig_conn_at_boundary(const ig_conn *c);

/* TLS from now on: server side for a client, client side (peer_host) for a backend. */
int ig_conn_start_tls(ig_conn *c, SSL_CTX *ctx, bool server, const char *peer_host);

#endif
