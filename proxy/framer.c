/*
 * framer.c - packet boundaries in a relayed stream (see framer.h).
 */
#include "proxy/framer.h"

#include <string.h>

#include "proxy/mysql_proto.h"

void ig_framer_feed(ig_framer *f, const uint8_t *p, size_t n, ig_packet_cb cb, void *arg)
{
	while (n > 0) {
		if (f->skip > 0) {
			size_t k = n < f->skip ? n : f->skip;
			f->skip -= (uint32_t)k;
			p += k;
			n -= k;
			continue;
		}
		uint32_t want = 4;
		if (f->have >= 4) {
			uint32_t plen = my_u24(f->head);
			want = 4 + (plen < IG_RESP_PEEK ? plen : IG_RESP_PEEK);
		}
		size_t k = want - f->have;
		if (k > n)
			k = n;
		memcpy(f->head + f->have, p, k);
		f->have += (uint32_t)k;
		p += k;
		n -= k;
		if (f->have < 4)
			continue;
		uint32_t plen = my_u24(f->head);
		uint32_t peek = plen < IG_RESP_PEEK ? plen : IG_RESP_PEEK;
		if (f->have < 4 + peek)
			continue;
		bool cont = f->prev_full;
		f->prev_full = plen == MY_MAX_PAYLOAD;
		f->skip = plen - peek;
		f->have = 0;
		cb(arg, f->head + 4, peek, plen, f->head[3], cont);
	}
}
