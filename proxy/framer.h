/*
 * framer.h - splits a byte stream into MySQL packets without buffering them: for each
 * packet it hands over the header and the first bytes of the payload, then skips the
 * rest. Used on the backend->client stream, which is relayed verbatim alongside.
 */
#ifndef IMPORTGATE_FRAMER_H
#define IMPORTGATE_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/response.h"

typedef struct ig_framer {
	uint8_t head[4 + IG_RESP_PEEK];
	uint32_t have;      /* bytes of head collected */
	uint32_t skip;      /* payload bytes still to skip */
	bool prev_full;     /* previous packet had a 16 MiB - 1 payload: this one continues it */
} ig_framer;

/* cont: the packet continues the previous one (not a packet of its own). */
typedef void (*ig_packet_cb)(void *arg, const uint8_t *head, size_t headlen, uint32_t plen,
                             uint8_t seq, bool cont);

void ig_framer_feed(ig_framer *f, const uint8_t *p, size_t n, ig_packet_cb cb, void *arg);

#endif
