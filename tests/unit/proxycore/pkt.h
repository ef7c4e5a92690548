/*
 * pkt.h - builds MySQL packets and packet streams for the proxy core tests.
 */
#ifndef IG_TEST_PKT_H
#define IG_TEST_PKT_H

#include <stdint.h>
#include <string.h>

#include "proxy/buf.h"
#include "proxy/mysql_proto.h"

static inline void put_pkt(ig_buf *b, uint8_t seq, const void *p, size_t n)
{
	uint8_t h[4];
	my_put_u24(h, (uint32_t)n);
	h[3] = seq;
	ig_buf_append(b, h, 4);
	ig_buf_append(b, p, n);
}

static inline void put_lenenc_str(ig_buf *b, const char *s)
{
	my_lenenc_put(b, strlen(s));
	ig_buf_append(b, s, strlen(s));
}

/* A column definition packet payload named `name`. */
static inline void coldef(ig_buf *b, const char *name)
{
	static const uint8_t tail[] = {0x0c, 0x21, 0x00, 0x00, 0x01, 0x00, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00};
	put_lenenc_str(b, "def");
	put_lenenc_str(b, "");
	put_lenenc_str(b, "");
	put_lenenc_str(b, "");
	put_lenenc_str(b, name);
	put_lenenc_str(b, name);
	ig_buf_append(b, tail, sizeof(tail));
}

static inline void put_coldef(ig_buf *out, uint8_t seq, const char *name)
{
	ig_buf c = {0};
	coldef(&c, name);
	put_pkt(out, seq, c.data, c.len);
	ig_buf_reset(&c);
}

/* Classic EOF (5 bytes) with status. */
static inline void put_eof(ig_buf *out, uint8_t seq, uint16_t status)
{
	uint8_t e[5] = {0xfe, 0, 0, 0, 0};
	my_put_u16(e + 3, status);
	put_pkt(out, seq, e, 5);
}

/* OK packet with 0x00 (or 0xfe under DEPRECATE_EOF) header. */
static inline void put_ok(ig_buf *out, uint8_t seq, uint8_t hdr, uint64_t affected, uint16_t status, const char *info)
{
	ig_buf p = {0};
	uint8_t sw[4];
	ig_buf_append(&p, &hdr, 1);
	my_lenenc_put(&p, affected);
	my_lenenc_put(&p, 0);
	my_put_u16(sw, status);
	my_put_u16(sw + 2, 0);
	ig_buf_append(&p, sw, 4);
	if (info)
		ig_buf_append(&p, info, strlen(info));
	put_pkt(out, seq, p.data, p.len);
	ig_buf_reset(&p);
}

#endif
