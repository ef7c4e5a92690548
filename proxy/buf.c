/*
 * buf.c - growable byte buffer (see buf.h). Memory is released as soon as a buffer is
 * drained: most connections are idle most of the time and should hold no buffers.
 */
#include "proxy/buf.h"

#include <stdlib.h>
#include <string.h>

int ig_buf_reserve(ig_buf *b, size_t extra)
{
	if (b->off > 0 && b->off == b->len) {
		b->off = b->len = 0;
	}
	if (b->cap - b->len >= extra)
		return 0;
	/* Move unread bytes to the front before growing. */
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= extra)
			return 0;
	}
	size_t need = b->len + extra;
	if (need < b->len)
		return -1;
	size_t cap = b->cap ? b->cap : 512;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int ig_buf_append(ig_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (ig_buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void ig_buf_consume(ig_buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		ig_buf_reset(b);
}

void ig_buf_reset(ig_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

void ig_buf_swap(ig_buf *a, ig_buf *b)
{
	ig_buf t = *a;
	*a = *b;
	*b = t;
}
