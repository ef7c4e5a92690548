/*
 * framer.c - packet boundaries of one direction of a connection (see framer.h).
 */
#include "proxy/framer.h"

#include <string.h>

#include "proxy/mysql_proto.h"

/* Why framing stopped short of the end of its input. */
typedef enum frame_stop { FS_END, FS_HEAD, FS_WAIT, FS_DISCARD, FS_STOP, FS_FAIL } frame_stop;

/* A piece of a re-framed packet starts: its header, made here. */
static int start_piece(ig_reframe *rf, uint32_t n, const ig_framer_ops *ops, void *arg)
{
	uint8_t h[4];
	my_put_u24(h, n);
	h[3] = rf->seq++;
	rf->piece_left = n;
	return ops->inject(arg, h, sizeof(h));
}

/* Payload bytes of the packet being relayed: as they are, or cut into the pieces asked for. */
static int relay_payload(ig_framer *f, const uint8_t *p, size_t n, const ig_framer_ops *ops, void *arg)
{
	ig_reframe *rf = &f->rf;
	if (!rf->on)
		return ops->relay(arg, p, n);
	while (n > 0) {
		if (rf->piece_left == 0 && start_piece(rf, rf->left < rf->piece_max ? rf->left : rf->piece_max, ops, arg) < 0)
			return -1;
		size_t k = n < rf->piece_left ? n : rf->piece_left;
		if (ops->relay(arg, p, k) < 0)
			return -1;
		p += k;
		n -= k;
		rf->piece_left -= (uint32_t)k;
		rf->left -= (uint32_t)k;
	}
	rf->on = rf->left > 0;
	return 0;
}

/* A packet handed over is relayed: its header and the payload bytes at hand. */
static int relay_packet(ig_framer *f, const uint8_t *p, const ig_packet *pk, const ig_framer_ops *ops, void *arg)
{
	ig_reframe *rf = &f->rf;
	if (!rf->asked)
		return ops->relay(arg, p, 4 + (size_t)pk->have);
	rf->asked = false;
	rf->on = true;
	rf->left = pk->len;
	rf->piece_left = 0;
	if (rf->piece_max == 0)
		rf->piece_max = pk->len;
	if (pk->len == 0) {
		rf->on = false;
		return start_piece(rf, 0, ops, arg);
	}
	return relay_payload(f, p + 4, pk->have, ops, arg);
}

void ig_framer_relay_as(ig_framer *f, uint8_t seq, uint32_t piece_max)
{
	f->rf.asked = true;
	f->rf.seq = seq;
	f->rf.piece_max = piece_max;
}

uint32_t ig_framer_pieces(uint32_t len, uint32_t piece_max)
{
	if (len == 0 || piece_max == 0)
		return 1;
	return len / piece_max + (len % piece_max != 0);
}

/* Hands over the packets at the head of p; returns the bytes used, and why it stopped. */
static size_t frame(ig_framer *f, const uint8_t *p, size_t n, const ig_framer_ops *ops, void *arg,
                    frame_stop *stop)
{
	size_t pos = 0;
	*stop = FS_END;
	while (pos < n) {
		if (f->relay_left > 0) {
			size_t k = n - pos < f->relay_left ? n - pos : f->relay_left;
			if (relay_payload(f, p + pos, k, ops, arg) < 0)
				goto fail;
			f->relay_left -= (uint32_t)k;
			pos += k;
			continue;
		}
		size_t avail = n - pos;
		uint32_t len = avail >= 4 ? my_u24(p + pos) : 0;
		uint32_t have = avail - 4 < len ? (uint32_t)(avail - 4) : len;
		if (avail < 4 || have < (len < IG_FRAME_PEEK ? len : IG_FRAME_PEEK)) {
			*stop = FS_HEAD;
			break;
		}
		ig_packet pk = {.data = p + pos + 4, .len = len, .have = have, .seq = p[pos + 3], .cont = f->prev_full};
		f->run_left = avail - 4 - have;
		ig_pkt_verdict v = ops->packet(arg, &pk);
		if (v != IG_PKT_RELAY)
			f->rf.asked = false;
		if (v == IG_PKT_WAIT) {
			*stop = FS_WAIT;
			break;
		}
		if (v == IG_PKT_DISCARD) {
			*stop = FS_DISCARD;
			pos = n;
			break;
		}
		f->prev_full = len == MY_MAX_PAYLOAD;
		if (v == IG_PKT_RELAY) {
			if (relay_packet(f, p + pos, &pk, ops, arg) < 0)
				goto fail;
			f->relay_left = len - have;
		}
		pos += 4 + (size_t)have;
		if (ops->stop(arg)) {
			*stop = FS_STOP;
			break;
		}
	}
	if (ops->run_end(arg) < 0)
		goto fail;
	return pos;
fail:
	*stop = FS_FAIL;
	return n;
}

static ig_frame_end keep(ig_framer *f, const uint8_t *p, size_t n)
{
	return n == 0 || ig_buf_append(&f->carry, p, n) == 0 ? IG_FRAME_OK : IG_FRAME_FAILED;
}

/* Frames the kept input. */
static ig_frame_end frame_carry(ig_framer *f, const ig_framer_ops *ops, void *arg, ig_buf *rest, frame_stop *st)
{
	size_t used = frame(f, ig_buf_head(&f->carry), ig_buf_avail(&f->carry), ops, arg, st);
	if (*st == FS_DISCARD || *st == FS_FAIL) {
		ig_buf_reset(&f->carry);
		return *st == FS_FAIL ? IG_FRAME_FAILED : IG_FRAME_DROPPED;
	}
	ig_buf_consume(&f->carry, used);
	if (*st == FS_STOP) {
		*rest = f->carry;
		memset(&f->carry, 0, sizeof(f->carry));
		return IG_FRAME_STOPPED;
	}
	return IG_FRAME_OK;
}

/* Copies only what the kept packet's head lacks, so a split header costs a few bytes. */
static ig_frame_end top_up_head(ig_framer *f, const uint8_t **p, size_t *n)
{
	for (;;) {
		size_t avail = ig_buf_avail(&f->carry), want = 4;
		if (avail >= 4) {
			uint32_t len = my_u24(ig_buf_head(&f->carry));
			want = 4 + (len < IG_FRAME_PEEK ? len : IG_FRAME_PEEK);
		}
		if (avail >= want || *n == 0)
			return IG_FRAME_OK;
		size_t k = want - avail < *n ? want - avail : *n;
		if (ig_buf_append(&f->carry, *p, k) < 0)
			return IG_FRAME_FAILED;
		*p += k;
		*n -= k;
	}
}

/* With input kept: its head is completed first; a packet waited for gets the whole read. */
static ig_frame_end feed_kept(ig_framer *f, const uint8_t **p, size_t *n, const ig_framer_ops *ops, void *arg,
                              ig_buf *rest)
{
	frame_stop st;
	if (top_up_head(f, p, n) != IG_FRAME_OK)
		return IG_FRAME_FAILED;
	ig_frame_end e = frame_carry(f, ops, arg, rest, &st);
	if (e == IG_FRAME_STOPPED) {
		if (ig_buf_append(rest, *p, *n) < 0)
			return IG_FRAME_FAILED;
		*n = 0;
		return e;
	}
	if (e != IG_FRAME_OK || (st != FS_WAIT && st != FS_HEAD))
		return e; /* the kept input is all framed: the caller goes on with *p */
	if (keep(f, *p, *n) != IG_FRAME_OK)
		return IG_FRAME_FAILED;
	bool more = *n > 0;
	*n = 0;
	return more ? frame_carry(f, ops, arg, rest, &st) : IG_FRAME_OK;
}

ig_frame_end ig_framer_feed(ig_framer *f, const uint8_t *p, size_t n, const ig_framer_ops *ops, void *arg,
                            ig_buf *rest)
{
	frame_stop st;
	ig_frame_end e = IG_FRAME_OK;
	f->framing = true;
	if (ig_buf_avail(&f->carry) > 0) {
		e = feed_kept(f, &p, &n, ops, arg, rest);
		if (e != IG_FRAME_OK || n == 0)
			goto out;
	}
	size_t used = frame(f, p, n, ops, arg, &st);
	if (st == FS_STOP)
		e = ig_buf_append(rest, p + used, n - used) == 0 ? IG_FRAME_STOPPED : IG_FRAME_FAILED;
	else if (st == FS_HEAD || st == FS_WAIT)
		e = keep(f, p + used, n - used);
	else if (st == FS_DISCARD || st == FS_FAIL)
		e = st == FS_FAIL ? IG_FRAME_FAILED : IG_FRAME_DROPPED;
out:
	f->framing = false;
	return e;
}

ig_frame_end ig_framer_resume(ig_framer *f, const ig_framer_ops *ops, void *arg, ig_buf *rest)
{
	frame_stop st;
	if (f->framing || ig_buf_avail(&f->carry) == 0)
		return IG_FRAME_OK;
	f->framing = true;
	ig_frame_end e = frame_carry(f, ops, arg, rest, &st);
	f->framing = false;
	return e;
}

bool ig_framer_at_boundary(const ig_framer *f)
{
	return ig_buf_avail(&f->carry) == 0 && f->relay_left == 0 && !f->prev_full;
}

void ig_framer_reset(ig_framer *f)
{
	ig_buf_reset(&f->carry);
	memset(f, 0, sizeof(*f));
}
