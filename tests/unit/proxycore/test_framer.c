/*
 * test_framer.c - re-framed relaying (ig_framer_relay_as): a packet relayed in pieces of at
 * most N payload bytes, numbered anew, whatever the chunking of the input; an empty packet
 * renumbered; a packet renumbered whole; a request dropped by a WAIT verdict; packets not
 * asked for relayed verbatim around re-framed ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pkt.h"
#include "proxy/framer.h"

/* What the owner does with the i-th packet handed over. */
typedef struct plan {
	bool ask;          /* ig_framer_relay_as first */
	uint8_t seq;
	uint32_t piece_max;
	int waits;         /* WAIT this many times first (asking each time) */
} plan;

typedef struct run {
	ig_framer *f;
	const plan *plans;
	int npackets;      /* packets relayed so far */
	int waited;
	ig_buf out;        /* what went to the relay connection, in order */
} run;

static ig_pkt_verdict on_packet(void *arg, const ig_packet *pk)
{
	run *x = arg;
	const plan *p = &x->plans[x->npackets];
	(void)pk;
	if (p->ask)
		ig_framer_relay_as(x->f, p->seq, p->piece_max);
	if (x->waited < p->waits) {
		x->waited++;
		return IG_PKT_WAIT;
	}
	x->waited = 0;
	x->npackets++;
	return IG_PKT_RELAY;
}

static int on_bytes(void *arg, const uint8_t *p, size_t n)
{
	run *x = arg;
	return ig_buf_append(&x->out, p, n);
}

static int on_run_end(void *arg) { (void)arg; return 0; }
static bool on_stop(void *arg) { (void)arg; return false; }

static const ig_framer_ops ops = {
	.packet = on_packet, .relay = on_bytes, .run_end = on_run_end, .stop = on_stop, .inject = on_bytes,
};

/* Feeds `in` in chunks of `step` bytes (resuming after a WAIT); the output must be `want`. */
static void expect_out(const ig_buf *in, const plan *plans, const ig_buf *want, size_t step)
{
	ig_framer f = {0};
	run x = {.f = &f, .plans = plans};
	ig_buf rest = {0};
	for (size_t off = 0; off < in->len; off += step) {
		size_t n = in->len - off < step ? in->len - off : step;
		assert_int_equal(ig_framer_feed(&f, in->data + off, n, &ops, &x, &rest), IG_FRAME_OK);
		while (ig_buf_avail(&f.carry) > 0 && x.waited > 0)
			assert_int_equal(ig_framer_resume(&f, &ops, &x, &rest), IG_FRAME_OK);
	}
	assert_int_equal(x.out.len, want->len);
	assert_memory_equal(x.out.data, want->data, want->len);
	ig_buf_reset(&x.out);
	ig_framer_reset(&f);
}

static void expect_every_chunking(const ig_buf *in, const plan *plans, const ig_buf *want)
{
	for (size_t step = 1; step <= in->len; step += step < 64 ? 1 : 97)
		expect_out(in, plans, want, step);
	expect_out(in, plans, want, in->len);
}

static uint8_t *pattern(size_t n)
{
	uint8_t *p = malloc(n);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	return p;
}

static void test_pieces(void **state)
{
	(void)state;
	assert_int_equal(ig_framer_pieces(0, 1020), 1);
	assert_int_equal(ig_framer_pieces(1, 1020), 1);
	assert_int_equal(ig_framer_pieces(1020, 1020), 1);
	assert_int_equal(ig_framer_pieces(1021, 1020), 2);
	assert_int_equal(ig_framer_pieces(2040, 1020), 2);
	assert_int_equal(ig_framer_pieces(5000, 0), 1);
}

/* 2500 bytes at id 2 -> 1020 + 1020 + 460 at ids 9, 10, 11; then a verbatim packet, then an
 * empty one renumbered to 12. */
static void test_split_and_renumber(void **state)
{
	(void)state;
	uint8_t *d = pattern(2500);
	ig_buf in = {0}, want = {0};
	put_pkt(&in, 2, d, 2500);
	put_pkt(&in, 3, d, 10);
	put_pkt(&in, 4, NULL, 0);
	plan plans[] = {{.ask = true, .seq = 9, .piece_max = 1020}, {0}, {.ask = true, .seq = 12}};
	put_pkt(&want, 9, d, 1020);
	put_pkt(&want, 10, d + 1020, 1020);
	put_pkt(&want, 11, d + 2040, 460);
	put_pkt(&want, 3, d, 10);
	put_pkt(&want, 12, NULL, 0);
	expect_every_chunking(&in, plans, &want);
	ig_buf_reset(&in);
	ig_buf_reset(&want);
	free(d);
}

/* An exact multiple makes no empty piece (an empty packet would end the file). */
static void test_exact_multiple(void **state)
{
	(void)state;
	uint8_t *d = pattern(2040);
	ig_buf in = {0}, want = {0};
	put_pkt(&in, 1, d, 2040);
	plan plans[] = {{.ask = true, .seq = 1, .piece_max = 1020}};
	put_pkt(&want, 1, d, 1020);
	put_pkt(&want, 2, d + 1020, 1020);
	expect_every_chunking(&in, plans, &want);
	ig_buf_reset(&in);
	ig_buf_reset(&want);
	free(d);
}

/* piece_max 0: the packet whole, only its id changed (the answer renumbered to the client). */
static void test_renumber_whole(void **state)
{
	(void)state;
	uint8_t *d = pattern(300);
	ig_buf in = {0}, want = {0};
	put_pkt(&in, 7, d, 300);
	put_pkt(&in, 8, d, 5);
	plan plans[] = {{.ask = true, .seq = 4}, {.ask = true, .seq = 5}};
	put_pkt(&want, 4, d, 300);
	put_pkt(&want, 5, d, 5);
	expect_every_chunking(&in, plans, &want);
	ig_buf_reset(&in);
	ig_buf_reset(&want);
	free(d);
}

/* A WAIT verdict drops the request: handed over again, the packet goes as the owner says then. */
static void test_wait_drops_request(void **state)
{
	(void)state;
	uint8_t *d = pattern(100);
	ig_buf in = {0}, want = {0};
	put_pkt(&in, 1, d, 100);
	put_pkt(&in, 2, d, 100);
	plan plans[] = {{.ask = true, .seq = 5, .piece_max = 30, .waits = 1}, {.waits = 1}};
	put_pkt(&want, 5, d, 30);
	put_pkt(&want, 6, d + 30, 30);
	put_pkt(&want, 7, d + 60, 30);
	put_pkt(&want, 8, d + 90, 10);
	put_pkt(&want, 2, d, 100); /* not asked for: verbatim */
	expect_every_chunking(&in, plans, &want);
	ig_buf_reset(&in);
	ig_buf_reset(&want);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_split_and_renumber),
		cmocka_unit_test(test_exact_multiple),
		cmocka_unit_test(test_renumber_whole),
		cmocka_unit_test(test_wait_drops_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
