/*
 * fuzz_zproto.c - libFuzzer target for the compressed protocol's frame reader
 * (proxy/zproto.c): any byte stream, read in chunks the first input byte chooses, with zlib
 * or zstd. What a frame yields is never more than its header declared, what is kept never
 * more than one frame, and the packet bytes read, written again as frames and read back,
 * come out the same (the gateway re-frames everything it reads).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/buf.h"
#include "proxy/zproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads p[0..n) in chunks; appends the packet bytes to out; -1 at a refused frame. */
static int read_stream(ig_zleg *z, const uint8_t *p, size_t n, size_t step, ig_buf *out)
{
	char err[160];
	while (n > 0) {
		size_t k = n < step ? n : step;
		const uint8_t *c = p;
		p += k;
		n -= k;
		while (k > 0) {
			const uint8_t *pl = NULL;
			size_t used = 0, plen = 0;
			int rc = ig_zleg_read(z, c, k, &used, &pl, &plen, err, sizeof(err));
			if (rc < 0)
				return -1;
			if (used > k || (rc == 0 && used != k) || plen > IG_Z_MAX_LEN ||
			    ig_zleg_kept(z) > IG_Z_HEADER + IG_Z_MAX_LEN)
				abort();
			c += used;
			k -= used;
			if (rc == 1 && ig_buf_append(out, pl, plen) < 0)
				return -1;
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	ig_zalg alg = data[0] & 1 ? IG_Z_ZSTD : IG_Z_ZLIB;
	size_t step = 1 + (data[0] >> 1) * 7;
	ig_zleg r = {0}, w = {0}, back = {0};
	ig_buf out = {0}, frames = {0}, again = {0};
	ig_zleg_start(&r, alg, 1, false);
	if (read_stream(&r, data + 1, size - 1, step, &out) == 0 && out.len > 0) {
		/* Written again (as the gateway's other leg would) and read back: the same bytes. */
		ig_zleg_start(&w, alg, 1, data[0] & 2);
		ig_zleg_start(&back, alg, 1, false);
		if (ig_zleg_write(&w, out.data, out.len, &frames) < 0 ||
		    read_stream(&back, frames.data, frames.len, frames.len, &again) < 0 || again.len != out.len ||
		    memcmp(again.data, out.data, out.len) != 0 || ig_zleg_kept(&back) != 0)
			abort();
	}
	ig_buf_reset(&out);
	ig_buf_reset(&frames);
	ig_buf_reset(&again);
	ig_zleg_free(&r);
	ig_zleg_free(&w);
	ig_zleg_free(&back);
	return 0;
}
