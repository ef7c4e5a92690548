/*
 * zproto.c - the compressed protocol's frames, read and written (see zproto.h).
 */
#include "proxy/zproto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "proxy/mysql_proto.h"

#define ZSTD_DEFAULT_LEVEL 3

/* The thread's compressors and decompressors (zproto.h): made on first use. */
static _Thread_local z_stream *t_inflate, *t_deflate;
static _Thread_local ZSTD_DCtx *t_dctx;
static _Thread_local ZSTD_CCtx *t_cctx;

void ig_zproto_thread_free(void)
{
	if (t_inflate) {
		inflateEnd(t_inflate);
		free(t_inflate);
		t_inflate = NULL;
	}
	if (t_deflate) {
		deflateEnd(t_deflate);
		free(t_deflate);
		t_deflate = NULL;
	}
	ZSTD_freeDCtx(t_dctx);
	ZSTD_freeCCtx(t_cctx);
	t_dctx = NULL;
	t_cctx = NULL;
}

/* zlib's state is internal to it (deflate's ~256 KiB window and hash at the default level,
 * inflate's 32 KiB window): counted as the z_stream's own size only. */
size_t ig_zproto_thread_bytes(void)
{
	return (t_inflate ? sizeof(*t_inflate) : 0) + (t_deflate ? sizeof(*t_deflate) : 0) +
	       ZSTD_sizeof_DCtx(t_dctx) + ZSTD_sizeof_CCtx(t_cctx);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int ig_zleg_start(ig_zleg *z, ig_zalg alg, int zstd_level, bool client_side)
{
	if (alg != IG_Z_ZLIB && alg != IG_Z_ZSTD)
		return -1;
	z->alg = alg;
	z->level = zstd_level >= 1 && zstd_level <= 22 ? zstd_level : ZSTD_DEFAULT_LEVEL;
	if (z->level > IG_Z_ZSTD_LEVEL_MAX)
		z->level = IG_Z_ZSTD_LEVEL_MAX;
	z->client_side = client_side;
	z->seq = 0;
	return 0;
}

void ig_zleg_free(ig_zleg *z)
{
	ig_buf_reset(&z->carry);
	ig_buf_reset(&z->out);
	memset(z, 0, sizeof(*z));
}

/* ------------------------------------------------------------------ reading */

/* zlib: one whole stream that ends exactly at the end of the payload, exactly ulen long. */
static int inflate_frame(const uint8_t *src, size_t n, uint8_t *dst, size_t ulen, char *err, size_t errlen)
{
	z_stream *zs = t_inflate;
	if (!zs) {
		zs = calloc(1, sizeof(*zs));
		if (!zs || inflateInit(zs) != Z_OK) {
			free(zs);
			return fail(err, errlen, "out of memory");
		}
		t_inflate = zs;
	} else if (inflateReset(zs) != Z_OK) {
		return fail(err, errlen, "zlib reset failed");
	}
	zs->next_in = (Bytef *)src;
	zs->avail_in = (uInt)n;
	zs->next_out = dst;
	zs->avail_out = (uInt)ulen;
	int rc = inflate(zs, Z_FINISH);
	if (rc != Z_STREAM_END)
		return fail(err, errlen, rc == Z_BUF_ERROR && zs->avail_out == 0
		            ? "a zlib frame holds more than its declared length"
		            : "a zlib frame does not decompress (corrupt or truncated)");
	if (zs->total_out != ulen)
		return fail(err, errlen, "a zlib frame holds %lu bytes, not the %zu declared", zs->total_out, ulen);
	if (zs->avail_in != 0)
		return fail(err, errlen, "a zlib frame has bytes after its stream");
	return 0;
}

/* zstd: one or more whole zstd frames, exactly ulen bytes in all. */
static int zstd_frame(const uint8_t *src, size_t n, uint8_t *dst, size_t ulen, char *err, size_t errlen)
{
	if (!t_dctx && !(t_dctx = ZSTD_createDCtx()))
		return fail(err, errlen, "out of memory");
	size_t got = ZSTD_decompressDCtx(t_dctx, dst, ulen, src, n);
	if (ZSTD_isError(got))
		return fail(err, errlen, "a zstd frame does not decompress to its declared length: %s",
		            ZSTD_getErrorName(got));
	if (got != ulen)
		return fail(err, errlen, "a zstd frame holds %zu bytes, not the %zu declared", got, ulen);
	return 0;
}

/* A whole frame at f: its packet bytes into *out. */
static int decode(ig_zleg *z, const uint8_t *f, const uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	uint32_t clen = my_u24(f), ulen = my_u24(f + 4);
	const uint8_t *src = f + IG_Z_HEADER;
	z->seq = (uint8_t)(f[3] + 1);
	if (ulen == 0) {
		/* Sent as is. */
		*out = src;
		*outlen = clen;
		return 0;
	}
	if (clen == 0)
		return fail(err, errlen, "a frame declares %u bytes and carries none", ulen);
	ig_buf_reset(&z->out);
	if (ig_buf_reserve(&z->out, ulen) < 0)
		return fail(err, errlen, "out of memory");
	int rc = z->alg == IG_Z_ZSTD ? zstd_frame(src, clen, z->out.data, ulen, err, errlen)
	                             : inflate_frame(src, clen, z->out.data, ulen, err, errlen);
	if (rc < 0)
		return -1;
	z->out.len = ulen;
	*out = z->out.data;
	*outlen = ulen;
	return 0;
}

int ig_zleg_read(ig_zleg *z, const uint8_t *p, size_t n, size_t *used, const uint8_t **out, size_t *outlen,
                 char *err, size_t errlen)
{
	*used = 0;
	if (ig_buf_avail(&z->carry) == 0 && n >= IG_Z_HEADER && n - IG_Z_HEADER >= my_u24(p)) {
		/* A whole frame where it lies. */
		*used = IG_Z_HEADER + (size_t)my_u24(p);
		return decode(z, p, out, outlen, err, errlen) < 0 ? -1 : 1;
	}
	/* Kept: the header first, then exactly the rest of its frame. */
	size_t have = ig_buf_avail(&z->carry);
	size_t want = IG_Z_HEADER;
	if (have >= IG_Z_HEADER)
		want += my_u24(ig_buf_head(&z->carry));
	if (have < IG_Z_HEADER) {
		size_t k = IG_Z_HEADER - have < n ? IG_Z_HEADER - have : n;
		if (ig_buf_append(&z->carry, p, k) < 0)
			return fail(err, errlen, "out of memory");
		*used = k;
		if (ig_buf_avail(&z->carry) < IG_Z_HEADER)
			return 0;
		have = IG_Z_HEADER;
		want = IG_Z_HEADER + (size_t)my_u24(ig_buf_head(&z->carry));
	}
	size_t k = want - have < n - *used ? want - have : n - *used;
	if (ig_buf_append(&z->carry, p + *used, k) < 0)
		return fail(err, errlen, "out of memory");
	*used += k;
	if (ig_buf_avail(&z->carry) < want)
		return 0;
	/* Whole: decoded into z->out, or (sent as is) handed over from a copy that outlives carry. */
	int rc = decode(z, ig_buf_head(&z->carry), out, outlen, err, errlen);
	if (rc == 0 && my_u24(ig_buf_head(&z->carry) + 4) == 0) {
		ig_buf_reset(&z->out);
		if (ig_buf_append(&z->out, *out, *outlen) < 0)
			rc = fail(err, errlen, "out of memory");
		*out = z->out.data;
	}
	ig_buf_reset(&z->carry);
	return rc < 0 ? -1 : 1;
}

/* ------------------------------------------------------------------ writing */

/* Compresses src to dst (room for `bound` bytes); returns the compressed length, 0 when it
 * does not pay (the frame then goes as is), or -1 out of memory. */
static long compress_to(ig_zleg *z, const uint8_t *src, size_t n, uint8_t *dst, size_t bound)
{
	size_t got;
	if (z->alg == IG_Z_ZSTD) {
		if (!t_cctx && !(t_cctx = ZSTD_createCCtx()))
			return -1;
		got = ZSTD_compressCCtx(t_cctx, dst, bound, src, n, z->level);
		if (ZSTD_isError(got))
			return 0;
	} else {
		z_stream *zs = t_deflate;
		if (!zs) {
			zs = calloc(1, sizeof(*zs));
			if (!zs || deflateInit(zs, Z_DEFAULT_COMPRESSION) != Z_OK) {
				free(zs);
				return -1;
			}
			t_deflate = zs;
		} else if (deflateReset(zs) != Z_OK) {
			return -1;
		}
		zs->next_in = (Bytef *)src;
		zs->avail_in = (uInt)n;
		zs->next_out = dst;
		zs->avail_out = (uInt)bound;
		if (deflate(zs, Z_FINISH) != Z_STREAM_END)
			return 0;
		got = zs->total_out;
	}
	return got < n ? (long)got : 0;
}

/* One frame of n packet bytes, appended to out: compressed in place after its header, or
 * (up to the 50-byte threshold, or when compression does not pay) sent as is. */
static int put_frame(ig_zleg *z, const uint8_t *src, size_t n, ig_buf *out)
{
	long clen = 0;
	if (n > IG_Z_MIN_COMPRESS) {
		size_t bound = z->alg == IG_Z_ZSTD ? ZSTD_compressBound(n) : compressBound((uLong)n);
		if (ig_buf_reserve(out, IG_Z_HEADER + bound) < 0)
			return -1;
		clen = compress_to(z, src, n, out->data + out->len + IG_Z_HEADER, bound);
		if (clen < 0)
			return -1;
	} else if (ig_buf_reserve(out, IG_Z_HEADER + n) < 0) {
		return -1;
	}
	/* Room for the header and n bytes is reserved either way (a bound is at least n). */
	uint8_t *hdr = out->data + out->len;
	my_put_u24(hdr, clen > 0 ? (uint32_t)clen : (uint32_t)n);
	hdr[3] = z->seq++;
	my_put_u24(hdr + 4, clen > 0 ? (uint32_t)n : 0);
	if (clen == 0)
		memcpy(hdr + IG_Z_HEADER, src, n);
	out->len += IG_Z_HEADER + (clen > 0 ? (size_t)clen : n);
	return 0;
}

/*
 * How many of p[0..n) go in the frame that starts at p: up to the frame limit, and on the
 * leg where the gateway is the client, up to the next command (the frame that starts with
 * one goes out with id 0). *command: the frame starts with a command. Packet boundaries are
 * followed across calls, a header split between calls included (it is then not cut at:
 * every writer of proxy/conn.c writes whole headers).
 */
static size_t frame_span(ig_zleg *z, const uint8_t *p, size_t n, bool *command)
{
	size_t pos = 0;
	*command = false;
	while (pos < n && pos < IG_Z_FRAME_MAX) {
		if (z->pkt_left > 0) {
			size_t k = n - pos < z->pkt_left ? n - pos : z->pkt_left;
			if (k > IG_Z_FRAME_MAX - pos)
				k = IG_Z_FRAME_MAX - pos;
			z->pkt_left -= (uint32_t)k;
			pos += k;
			continue;
		}
		bool whole_here = z->hdr_have == 0 && n - pos >= 4;
		if (whole_here && z->client_side && p[pos + 3] == 0 && !z->prev_full && z->data_left == 0) {
			if (pos > 0)
				break; /* the command starts the next frame */
			*command = true;
		}
		while (z->hdr_have < 4 && pos < n)
			z->hdr[z->hdr_have++] = p[pos++];
		if (z->hdr_have < 4)
			break;
		uint32_t len = my_u24(z->hdr);
		z->hdr_have = 0;
		if (z->data_left > 0)
			z->data_left--;
		z->prev_full = len == MY_MAX_PAYLOAD;
		z->pkt_left = len;
	}
	return pos;
}

int ig_zleg_write(ig_zleg *z, const uint8_t *p, size_t n, ig_buf *out)
{
	while (n > 0) {
		bool command;
		size_t k = frame_span(z, p, n, &command);
		if (command)
			z->seq = 0;
		if (put_frame(z, p, k, out) < 0)
			return -1;
		p += k;
		n -= k;
	}
	return 0;
}

int ig_zstd_level_of_response(const uint8_t *p, size_t len, uint32_t caps)
{
	if (!(caps & CLIENT_ZSTD_COMPRESSION_ALGORITHM) || len == 0 || p[len - 1] < 1 || p[len - 1] > 22)
		return ZSTD_DEFAULT_LEVEL;
	return p[len - 1];
}
