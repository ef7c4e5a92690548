/*
 * proxyproto.h - the PROXY protocol on a session's two legs (the header itself:
 * proxy/proxyhdr.h). On the client leg, a connection from client_proxy_protocol.networks
 * must start with a header, read before the backend is even chosen (so before any greeting
 * reaches the client); its source address becomes the session's client address. On the
 * backend leg, with backends.proxy_protocol: v2, a v2 header carrying that address is the
 * first thing written. Called from proxy/session.c at four points of its state machine:
 * accept, the header timeout, backend connected, a handshake packet from the client.
 */
#ifndef IMPORTGATE_PROXYPROTO_H
#define IMPORTGATE_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


typedef struct ig_session ig_session;
typedef struct ig_pp_read ig_pp_read;

/* Accept: when the client's address is in client_proxy_protocol.networks, starts reading its
 * header (SS_PROXY_HEADER) and returns true; the session goes on with ig_sess_start_backend
 * once the header is read, or is closed. False: nothing to read, go on now. */
bool ig_pp_accept(ig_session *s);
/* The session's timer fired in SS_PROXY_HEADER (client_proxy_protocol.header_timeout_ms). */
void ig_pp_timeout(ig_session *s);
/* The header reader's memory (the session is freed). */
void ig_pp_free(ig_session *s);

/* The backend connection is up: with backends.proxy_protocol v2, queues the header first.
 * -1: out of memory. */
int ig_pp_send(ig_session *s);

/* During the handshake, p[0..n) the start of a client packet (its header included): a
 * PROXY protocol header where a MySQL packet belongs (from an address that is not trusted,
 * or a second one) is logged and the session closed; true then, drop the input. */
bool ig_pp_refuse_in_handshake(ig_session *s, const uint8_t *p, size_t n);

/* The LOCAL header the gateway's own connections to a backend start with (health checks,
 * service connections) when backends.proxy_protocol is v2: TiDB then takes the
 * connection's own address, the gateway's. */
extern const uint8_t ig_pp_local_header[16];

#endif
