/*
 * test_zproto.c - the compressed protocol's frames (proxy/zproto.c): packet bytes written
 * as frames and read back whole in every chunking, with zlib and zstd; frames holding
 * several packets and packets spanning frames; frames sent as is; the ids on each side of a
 * leg; and frames that must be refused: truncated (kept, not refused), lengths that lie
 * either way, bytes after the stream, a bomb behind a small declared length, a declared
 * length with no payload, corrupt streams.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>
#include <zstd.h>

#include "pkt.h"
#include "proxy/zproto.h"

/* Reads `in` in chunks of `step`; returns 0 with every packet byte appended to out, or -1
 * at the first refused frame. *frames: whole frames read. */
static int read_all(ig_zleg *z, const uint8_t *in, size_t n, size_t step, ig_buf *out, int *frames)
{
	char err[160];
	*frames = 0;
	for (size_t off = 0; off < n;) {
		size_t k = n - off < step ? n - off : step;
		const uint8_t *p = in + off;
		off += k;
		while (k > 0) {
			const uint8_t *pl;
			size_t used, plen;
			int rc = ig_zleg_read(z, p, k, &used, &pl, &plen, err, sizeof(err));
			if (rc < 0)
				return -1;
			assert_true(used <= k);
			p += used;
			k -= used;
			if (rc == 1) {
				(*frames)++;
				ig_buf_append(out, pl, plen);
			} else {
				assert_int_equal(k, 0); /* 0: everything used */
			}
		}
	}
	return 0;
}

/* A stream of packets: small ones (sent as is), a compressible 3 MiB one (several frames). */
static void packets(ig_buf *b)
{
	uint8_t *big = malloc(3u << 20);
	assert_non_null(big);
	for (size_t i = 0; i < (3u << 20); i++)
		big[i] = (uint8_t)("importgate"[i % 10] + (i / 4096) % 3);
	static const uint8_t q[] = {COM_QUERY, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1'};
	put_pkt(b, 0, q, sizeof(q));
	put_pkt(b, 1, big, 100000);
	put_pkt(b, 2, big, 3u << 20);
	put_pkt(b, 3, q, 0);
	free(big);
}

static void roundtrip(ig_zalg alg)
{
	static const size_t steps[] = {1, 3, 7, 4096, 1u << 24};
	ig_buf in = {0};
	packets(&in);
	ig_zleg w = {0};
	assert_int_equal(ig_zleg_start(&w, alg, 3, true), 0);
	ig_buf frames = {0};
	/* Written in uneven pieces, as relayed bytes arrive. */
	size_t cuts[] = {5, 13, 70000, 2000000, 100};
	size_t off = 0;
	for (size_t i = 0; off < in.len; i++) {
		size_t k = i < 5 && cuts[i] < in.len - off ? cuts[i] : in.len - off;
		assert_int_equal(ig_zleg_write(&w, in.data + off, k, &frames), 0);
		off += k;
	}
	assert_true(frames.len < in.len / 4); /* it compressed */
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		ig_zleg r = {0};
		ig_buf out = {0};
		int nframes;
		assert_int_equal(ig_zleg_start(&r, alg, 3, false), 0);
		assert_int_equal(read_all(&r, frames.data, frames.len, steps[s], &out, &nframes), 0);
		assert_true(nframes >= 4); /* 3 MiB in frames of at most 1 MiB, plus the small ones */
		assert_int_equal(out.len, in.len);
		assert_memory_equal(out.data, in.data, in.len);
		assert_int_equal(ig_zleg_kept(&r), 0);
		ig_buf_reset(&out);
		ig_zleg_free(&r);
	}
	ig_buf_reset(&frames);
	ig_buf_reset(&in);
	ig_zleg_free(&w);
}

static void test_roundtrip_zlib(void **state) { (void)state; roundtrip(IG_Z_ZLIB); }
static void test_roundtrip_zstd(void **state) { (void)state; roundtrip(IG_Z_ZSTD); }

/* A frame by hand: header, then the payload compressed with zlib (or as is). */
static void put_zframe(ig_buf *b, uint8_t seq, const uint8_t *p, size_t n, bool compress, long declared)
{
	uint8_t hdr[7];
	uLongf clen = compressBound((uLong)n);
	uint8_t *c = malloc(clen);
	assert_non_null(c);
	if (compress)
		assert_int_equal(compress2(c, &clen, p, (uLong)n, 6), Z_OK);
	my_put_u24(hdr, compress ? (uint32_t)clen : (uint32_t)n);
	hdr[3] = seq;
	my_put_u24(hdr + 4, declared >= 0 ? (uint32_t)declared : compress ? (uint32_t)n : 0);
	ig_buf_append(b, hdr, 7);
	ig_buf_append(b, compress ? c : p, compress ? clen : n);
	free(c);
}

/* Several packets in one frame, one packet across three frames (one of them sent as is). */
static void test_packets_and_frames(void **state)
{
	(void)state;
	ig_buf pk = {0}, f = {0}, out = {0};
	static const uint8_t a[] = {COM_PING}, q[] = {COM_QUERY, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '2'};
	put_pkt(&pk, 0, a, 1);
	put_pkt(&pk, 0, q, sizeof(q));
	put_zframe(&f, 0, pk.data, pk.len, true, -1);
	size_t first = pk.len;
	uint8_t long_q[3000];
	memset(long_q, 'x', sizeof(long_q));
	long_q[0] = COM_QUERY;
	put_pkt(&pk, 0, long_q, sizeof(long_q));
	put_zframe(&f, 0, pk.data + first, 2, true, -1);
	put_zframe(&f, 1, pk.data + first + 2, 1000, false, -1);
	put_zframe(&f, 2, pk.data + first + 1002, pk.len - first - 1002, true, -1);
	for (size_t step = 1; step <= f.len; step = step * 3 + 1) {
		ig_zleg r = {0};
		int n;
		ig_zleg_start(&r, IG_Z_ZLIB, 0, false);
		assert_int_equal(read_all(&r, f.data, f.len, step, &out, &n), 0);
		assert_int_equal(n, 4);
		assert_int_equal(out.len, pk.len);
		assert_memory_equal(out.data, pk.data, pk.len);
		assert_int_equal(r.seq, 3); /* the id after the last frame read */
		ig_buf_reset(&out);
		ig_zleg_free(&r);
	}
	ig_buf_reset(&pk);
	ig_buf_reset(&f);
}

/* The id of each frame written, from a stream of frames. */
static int frame_ids(const ig_buf *f, uint8_t *ids, int max)
{
	int n = 0;
	for (size_t off = 0; off + 7 <= f->len && n < max; off += 7 + my_u24(f->data + off))
		ids[n++] = f->data[off + 3];
	return n;
}

static void test_sequence_ids(void **state)
{
	(void)state;
	ig_buf pk = {0}, f = {0};
	uint8_t ids[8];
	static const uint8_t q[] = {COM_QUERY, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1'};
	static const uint8_t data[] = {'1', ',', '2', '\n'};
	/* The backend's leg (the gateway is the client): every command starts a frame with id 0,
	 * other packets continue from the last frame read. */
	ig_zleg b = {0};
	ig_zleg_start(&b, IG_Z_ZLIB, 0, true);
	put_pkt(&pk, 0, q, sizeof(q));
	put_pkt(&pk, 0, q, sizeof(q));
	assert_int_equal(ig_zleg_write(&b, pk.data, pk.len, &f), 0);
	assert_int_equal(frame_ids(&f, ids, 8), 2);
	assert_int_equal(ids[0], 0);
	assert_int_equal(ids[1], 0);
	ig_buf_reset(&f);
	b.seq = 4; /* as after reading the server's frames 1..3 (a LOCAL INFILE request) */
	ig_buf_reset(&pk);
	put_pkt(&pk, 2, data, sizeof(data));
	put_pkt(&pk, 3, data, 0);
	assert_int_equal(ig_zleg_write(&b, pk.data, pk.len, &f), 0);
	assert_int_equal(frame_ids(&f, ids, 8), 1);
	assert_int_equal(ids[0], 4);
	ig_buf_reset(&f);
	ig_zleg_free(&b);
	/* The client's leg (the gateway is the server): ids follow the client's last frame. */
	ig_zleg c = {0};
	ig_zleg_start(&c, IG_Z_ZSTD, 3, false);
	c.seq = 1; /* read the client's frame 0 */
	ig_buf_reset(&pk);
	put_pkt(&pk, 1, data, sizeof(data));
	assert_int_equal(ig_zleg_write(&c, pk.data, pk.len, &f), 0);
	ig_buf_reset(&pk);
	put_pkt(&pk, 0, data, sizeof(data)); /* never a reset on this side */
	assert_int_equal(ig_zleg_write(&c, pk.data, pk.len, &f), 0);
	assert_int_equal(frame_ids(&f, ids, 8), 2);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 2);
	ig_zleg_free(&c);
	ig_buf_reset(&f);
	ig_buf_reset(&pk);
}

/* LOCAL INFILE data of more than 254 pieces: a piece's id wraps to 0. Announced as data
 * (ig_zleg_expect_data), none of them starts a frame with id 0; the next command does. Not
 * announced, the wrapped piece would be cut as a command (the frame MariaDB refused, 1156). */
static void test_file_data_ids_wrap(void **state)
{
	(void)state;
	static const uint8_t q[] = {COM_QUERY, 'L', 'O', 'A', 'D'};
	static const uint8_t data[] = {'1', ',', '2', '\n'};
	for (int announced = 0; announced < 2; announced++) {
		ig_zleg b = {0};
		ig_buf pk = {0}, f = {0};
		uint8_t ids[8];
		ig_zleg_start(&b, IG_Z_ZLIB, 0, true);
		b.seq = 2; /* after the server's request in frame 1 */
		if (announced)
			ig_zleg_expect_data(&b, 300);
		for (int i = 0; i < 300; i++)
			put_pkt(&pk, (uint8_t)(2 + i), data, i == 299 ? 0 : sizeof(data));
		put_pkt(&pk, 0, q, sizeof(q)); /* the next command */
		assert_int_equal(ig_zleg_write(&b, pk.data, pk.len, &f), 0);
		int n = frame_ids(&f, ids, 8);
		if (announced) {
			assert_int_equal(n, 2);
			assert_int_equal(ids[0], 2);
			assert_int_equal(ids[1], 0);
			assert_int_equal(b.data_left, 0);
		} else {
			assert_int_equal(n, 3); /* piece 254 (id 0) cut as a command */
			assert_int_equal(ids[1], 0);
		}
		ig_buf_reset(&f);
		ig_buf_reset(&pk);
		ig_zleg_free(&b);
	}
}

/* A 16 MiB - 1 packet is followed by its continuation with sequence id 0 after 255 wraps:
 * the writer knows it continues and does not cut it as a command. */
static void test_continuation_not_a_command(void **state)
{
	(void)state;
	ig_zleg b = {0};
	ig_buf f = {0};
	uint8_t hdr[4];
	ig_zleg_start(&b, IG_Z_ZLIB, 0, true);
	uint8_t *chunk = calloc(1, 1u << 20);
	assert_non_null(chunk);
	my_put_u24(hdr, MY_MAX_PAYLOAD);
	hdr[3] = 255;
	b.seq = 9;
	assert_int_equal(ig_zleg_write(&b, hdr, 4, &f), 0);
	size_t left = MY_MAX_PAYLOAD;
	while (left > 0) {
		size_t k = left < (1u << 20) ? left : (1u << 20);
		assert_int_equal(ig_zleg_write(&b, chunk, k, &f), 0);
		left -= k;
	}
	uint8_t ids[64];
	int n = frame_ids(&f, ids, 64);
	uint8_t last = ids[n - 1];
	ig_buf_reset(&f);
	my_put_u24(hdr, 1);
	hdr[3] = 0; /* id 255 + 1 */
	assert_int_equal(ig_zleg_write(&b, hdr, 4, &f), 0);
	assert_int_equal(ig_zleg_write(&b, chunk, 1, &f), 0);
	assert_int_equal(frame_ids(&f, ids, 64), 2);
	assert_int_equal(ids[0], (uint8_t)(last + 1)); /* continued, not reset */
	free(chunk);
	ig_buf_reset(&f);
	ig_zleg_free(&b);
}

static int read_one(ig_zalg alg, const ig_buf *f)
{
	ig_zleg r = {0};
	ig_buf out = {0};
	int n, rc;
	ig_zleg_start(&r, alg, 0, false);
	rc = read_all(&r, f->data, f->len, f->len, &out, &n);
	if (rc == 0 && n == 0)
		rc = 1; /* kept, waiting for more */
	ig_buf_reset(&out);
	ig_zleg_free(&r);
	return rc;
}

static void test_refused_frames(void **state)
{
	(void)state;
	ig_buf pk = {0}, f = {0};
	uint8_t q[300];
	memset(q, 'q', sizeof(q));
	q[0] = COM_QUERY;
	put_pkt(&pk, 0, q, sizeof(q));
	/* Declares less than it holds, and more. */
	put_zframe(&f, 0, pk.data, pk.len, true, (long)pk.len - 1);
	assert_int_equal(read_one(IG_Z_ZLIB, &f), -1);
	ig_buf_reset(&f);
	put_zframe(&f, 0, pk.data, pk.len, true, (long)pk.len + 1);
	assert_int_equal(read_one(IG_Z_ZLIB, &f), -1);
	ig_buf_reset(&f);
	/* Bytes after the stream, inside the frame. */
	{
		uLongf clen = compressBound((uLong)pk.len);
		uint8_t c[1024], hdr[7];
		assert_int_equal(compress2(c, &clen, pk.data, (uLong)pk.len, 6), Z_OK);
		memcpy(c + clen, "\x03SELECT 1", 9);
		my_put_u24(hdr, (uint32_t)clen + 9);
		hdr[3] = 0;
		my_put_u24(hdr + 4, (uint32_t)pk.len);
		ig_buf_append(&f, hdr, 7);
		ig_buf_append(&f, c, clen + 9);
		assert_int_equal(read_one(IG_Z_ZLIB, &f), -1);
		ig_buf_reset(&f);
	}
	/* A bomb: 64 MiB of zeros behind a declared 100 bytes; refused after 100 bytes of output. */
	{
		size_t big = 64u << 20;
		uint8_t *zeros = calloc(1, big);
		assert_non_null(zeros);
		put_zframe(&f, 0, zeros, big, true, 100);
		free(zeros);
		assert_true(f.len < 0xffffff);
		assert_int_equal(read_one(IG_Z_ZLIB, &f), -1);
		ig_buf_reset(&f);
	}
	/* A declared length with no payload; garbage that is no zlib stream. */
	static const uint8_t empty_declared[] = {0, 0, 0, 0, 100, 0, 0};
	ig_buf_append(&f, empty_declared, sizeof(empty_declared));
	assert_int_equal(read_one(IG_Z_ZLIB, &f), -1);
	ig_buf_reset(&f);
	put_zframe(&f, 0, pk.data, pk.len, false, (long)pk.len); /* raw bytes said to be compressed */
	assert_int_equal(read_one(IG_Z_ZLIB, &f), -1);
	assert_int_equal(read_one(IG_Z_ZSTD, &f), -1);
	ig_buf_reset(&f);
	/* zstd: the right stream with a lying length, both ways. */
	{
		uint8_t c[1024], hdr[7];
		size_t clen = ZSTD_compress(c, sizeof(c), pk.data, pk.len, 3);
		assert_false(ZSTD_isError(clen));
		for (int d = -1; d <= 1; d += 2) {
			my_put_u24(hdr, (uint32_t)clen);
			hdr[3] = 0;
			my_put_u24(hdr + 4, (uint32_t)((long)pk.len + d));
			ig_buf_append(&f, hdr, 7);
			ig_buf_append(&f, c, clen);
			assert_int_equal(read_one(IG_Z_ZSTD, &f), -1);
			ig_buf_reset(&f);
		}
	}
	/* Truncated: kept, not refused; an empty frame sent as is gives nothing. */
	put_zframe(&f, 0, pk.data, pk.len, true, -1);
	f.len -= 3;
	assert_int_equal(read_one(IG_Z_ZLIB, &f), 1);
	ig_buf_reset(&f);
	static const uint8_t empty[] = {0, 0, 0, 0, 0, 0, 0};
	ig_buf_append(&f, empty, sizeof(empty));
	assert_int_equal(read_one(IG_Z_ZLIB, &f), 0);
	ig_buf_reset(&f);
	ig_buf_reset(&pk);
}

static void test_zstd_level_of_response(void **state)
{
	(void)state;
	uint8_t r[40] = {0};
	r[39] = 7;
	assert_int_equal(ig_zstd_level_of_response(r, sizeof(r), CLIENT_ZSTD_COMPRESSION_ALGORITHM), 7);
	assert_int_equal(ig_zstd_level_of_response(r, sizeof(r), CLIENT_COMPRESS), 3);
	r[39] = 0;
	assert_int_equal(ig_zstd_level_of_response(r, sizeof(r), CLIENT_ZSTD_COMPRESSION_ALGORITHM), 3);
	r[39] = 23;
	assert_int_equal(ig_zstd_level_of_response(r, sizeof(r), CLIENT_ZSTD_COMPRESSION_ALGORITHM), 3);
}

/* A client's level 22 does not make the gateway hold a ~17 MiB context, or spend ~0.5 s of
 * the worker's loop per 1 MiB frame: the level is capped (attack 7). */
static void test_zstd_level_capped(void **state)
{
	(void)state;
	ig_zleg z = {0};
	assert_int_equal(ig_zleg_start(&z, IG_Z_ZSTD, 22, false), 0);
	assert_true(z.level <= IG_Z_ZSTD_LEVEL_MAX);
	size_t n = IG_Z_FRAME_MAX;
	uint8_t *pk = malloc(4 + n);
	assert_non_null(pk);
	pk[0] = 0xff; pk[1] = 0xff; pk[2] = 0x0f; pk[3] = 0; /* one packet of 1 MiB - 1 */
	for (size_t i = 4; i < 4 + n; i++)
		pk[i] = (uint8_t)("abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7919u) % 36]);
	ig_buf out = {0};
	assert_int_equal(ig_zleg_write(&z, pk, 4 + n, &out), 0);
	assert_true(ig_zproto_thread_bytes() > 0);
	assert_true(ig_zproto_thread_bytes() < 4u * 1024 * 1024);
	ig_buf_reset(&out);
	ig_zleg_free(&z);
	assert_int_equal(ig_zleg_start(&z, IG_Z_ZSTD, 2, false), 0);
	assert_int_equal(z.level, 2); /* levels under the cap are the client's */
	ig_zleg_free(&z);
	free(pk);
}

/* Two connections of one thread use the thread's one set of contexts: a second leg adds
 * nothing, freeing a leg frees none, the thread's end frees them all; and both legs' frames
 * still read back. */
static void test_contexts_per_thread(void **state)
{
	(void)state;
	ig_zproto_thread_free();
	assert_int_equal(ig_zproto_thread_bytes(), 0);
	size_t n = 4096;
	uint8_t *pk = malloc(4 + n);
	assert_non_null(pk);
	my_put_u24(pk, (uint32_t)n);
	pk[3] = 0;
	for (size_t i = 4; i < 4 + n; i++)
		pk[i] = (uint8_t)("select 1 from t where a = "[(i * 13u) % 26]);
	for (int alg = IG_Z_ZLIB; alg <= IG_Z_ZSTD; alg++) {
		ig_zleg a = {0}, b = {0}, r = {0};
		assert_int_equal(ig_zleg_start(&a, (ig_zalg)alg, 3, false), 0);
		assert_int_equal(ig_zleg_start(&b, (ig_zalg)alg, 3, true), 0);
		assert_int_equal(ig_zleg_start(&r, (ig_zalg)alg, 3, false), 0);
		ig_buf fa = {0}, fb = {0};
		assert_int_equal(ig_zleg_write(&a, pk, 4 + n, &fa), 0);
		size_t one = ig_zproto_thread_bytes();
		assert_true(one > 0);
		assert_true(fa.len < n); /* compressed */
		assert_int_equal(ig_zleg_write(&b, pk, 4 + n, &fb), 0);
		assert_int_equal(ig_zproto_thread_bytes(), one);
		ig_zleg_free(&a);
		ig_zleg_free(&b);
		assert_int_equal(ig_zproto_thread_bytes(), one);
		ig_buf *fs[2] = {&fa, &fb};
		for (int k = 0; k < 2; k++) {
			size_t used;
			const uint8_t *out;
			size_t outlen;
			char err[128];
			assert_int_equal(ig_zleg_read(&r, fs[k]->data, fs[k]->len, &used, &out, &outlen, err, sizeof(err)), 1);
			assert_int_equal(used, fs[k]->len);
			assert_int_equal(outlen, 4 + n);
			assert_memory_equal(out, pk, 4 + n);
			ig_buf_reset(fs[k]);
		}
		ig_zleg_free(&r);
	}
	ig_zproto_thread_free();
	assert_int_equal(ig_zproto_thread_bytes(), 0);
	free(pk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_zlib),
		cmocka_unit_test(test_roundtrip_zstd),
		cmocka_unit_test(test_packets_and_frames),
		cmocka_unit_test(test_sequence_ids),
		cmocka_unit_test(test_continuation_not_a_command),
		cmocka_unit_test(test_refused_frames),
		cmocka_unit_test(test_zstd_level_of_response),
		cmocka_unit_test(test_zstd_level_capped),
		cmocka_unit_test(test_contexts_per_thread),
		cmocka_unit_test(test_file_data_ids_wrap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
