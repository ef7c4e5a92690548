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
	/* Bytes the framer made (the header of a re-framed packet, ig_framer_relay_as), to go out
	 * between the relayed bytes around them: copied now. Needed only by owners that re-frame. */
	int (*inject)(void *arg, const uint8_t *p, size_t n);
} ig_framer_ops;

/* A packet relayed re-framed (ig_framer_relay_as): its payload in pieces, numbered anew. */
typedef struct ig_reframe {
	bool asked;          /* during packet(): the owner asked for this packet */
	bool on;             /* the packet being relayed is re-framed */
	uint8_t seq;         /* the sequence id of the next piece */
	uint32_t piece_max;  /* payload bytes per piece, at most */
	uint32_t left;       /* payload bytes of the packet not yet relayed */
	uint32_t piece_left; /* ... of them in the piece under way */
} ig_reframe;

typedef struct ig_framer {
	ig_buf carry;        /* input kept: a packet not yet whole, or not wanted yet */
	uint32_t relay_left; /* payload bytes of the relayed packet still to come */
	size_t run_left;     /* during packet(): bytes after the packet in the input at hand */
	bool prev_full;      /* the last packet had a 16 MiB - 1 payload */
	bool framing;
	ig_reframe rf;
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
/*
 * During packet(), before an IG_PKT_RELAY verdict: the packet goes out re-framed - its payload
 * in pieces of at most piece_max bytes (0: one piece, the packet's own length), the first
 * carrying sequence id `seq`, the next ones seq + 1, ... (an empty packet is one empty
 * piece). The pieces' headers go through ops->inject. Another verdict drops the request.
 */
void ig_framer_relay_as(ig_framer *f, uint8_t seq, uint32_t piece_max);
/* How many pieces ig_framer_relay_as makes of a payload of len bytes. */
uint32_t ig_framer_pieces(uint32_t len, uint32_t piece_max);

/* Frames the kept input again (after a hold ends). */
ig_frame_end ig_framer_resume(ig_framer *f, const ig_framer_ops *ops, void *arg, ig_buf *rest);
/* Nothing of a packet is pending or kept, and none continues. */
bool ig_framer_at_boundary(const ig_framer *f);
void ig_framer_reset(ig_framer *f);

#endif
