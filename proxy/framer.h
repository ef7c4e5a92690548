/*
 * framer.h - MySQL packet framing of one direction of a connection, done once, here: each
 * packet is handed to its owner with its header and at least its first IG_FRAME_PEEK payload
 * bytes, and the owner says what becomes of it: taken whole, relayed verbatim as its bytes
 * arrive, kept until later, or dropped with the rest. Input is framed from where it lies;
 * only what must wait is copied. Pure (no I/O): proxy/conn.c runs it on every connection,
 * and the unit tests and fuzz targets run the same code.
 */
#ifndef IMPORTGATE_FRAMER_H
#define IMPORTGATE_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/buf.h"

#define IG_FRAME_PEEK 64 /* payload bytes every packet is handed over with, at least */

/* What becomes of the packet handed over. */
typedef enum ig_pkt_verdict {
	IG_PKT_WAIT,    /* not now: kept, handed over again with more bytes or on resume */
	IG_PKT_TAKEN,   /* used (only a whole packet can be) */
	IG_PKT_RELAY,   /* relayed verbatim, the rest of it as it arrives */
	IG_PKT_DISCARD, /* dropped, with everything after it */
} ig_pkt_verdict;

typedef struct ig_packet {
	const uint8_t *data; /* the payload bytes received so far: have of len (the header precedes) */
	uint32_t len;
	uint32_t have;
	uint8_t seq;
	bool cont; /* continues the previous packet (whose payload was 16 MiB - 1) */
} ig_packet;

static inline bool ig_packet_whole(const ig_packet *pk) { return pk->have == pk->len; }

typedef struct ig_framer_ops {
	ig_pkt_verdict (*packet)(void *arg, const ig_packet *pk);
	/* Relayed bytes, in order; they point into the input until run_end. -1: out of memory. */
	int (*relay)(void *arg, const uint8_t *p, size_t n);
	/* The input framed so far is about to be released: relayed bytes must be copied now. */
	int (*run_end)(void *arg);
	/* Asked after each packet: the rest of the input is not to be framed (e.g. it is TLS). */
	bool (*stop)(void *arg);
} ig_framer_ops;

typedef struct ig_framer {
	ig_buf carry;        /* input kept: a packet not yet whole, or not wanted yet */
	uint32_t relay_left; /* payload bytes of the relayed packet still to come */
	size_t run_left;     /* during packet(): bytes after the packet in the input at hand */
	bool prev_full;      /* the last packet had a 16 MiB - 1 payload */
	bool framing;
} ig_framer;

/* How a feed ended. */
typedef enum ig_frame_end {
	IG_FRAME_OK,      /* all framed or kept */
	IG_FRAME_STOPPED, /* stop() said so: the rest is in *rest (the caller's to free) */
	IG_FRAME_DROPPED, /* a DISCARD verdict: the rest is gone */
	IG_FRAME_FAILED,  /* out of memory */
} ig_frame_end;

ig_frame_end ig_framer_feed(ig_framer *f, const uint8_t *p, size_t n, const ig_framer_ops *ops, void *arg,
                            ig_buf *rest);
/* Frames the kept input again (after a hold ends). */
ig_frame_end ig_framer_resume(ig_framer *f, const ig_framer_ops *ops, void *arg, ig_buf *rest);
/* Nothing of a packet is pending or kept, and none continues. */
bool ig_framer_at_boundary(const ig_framer *f);
void ig_framer_reset(ig_framer *f);

#endif
