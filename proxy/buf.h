/*
 * buf.h - a growable byte buffer with a read offset. Used for the bytes a connection
 * must keep between reads (a partial packet, a held statement) and for write queues.
 * An empty buffer owns no memory, so an idle connection costs nothing here.
 */
#ifndef IMPORTGATE_BUF_H
#define IMPORTGATE_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct ig_buf {
	uint8_t *data;
	size_t off;  /* first unread byte */
	size_t len;  /* end of valid bytes */
	size_t cap;
} ig_buf;

static inline size_t ig_buf_avail(const ig_buf *b) { return b->len - b->off; }
static inline const uint8_t *ig_buf_head(const ig_buf *b) { return b->data + b->off; }

int ig_buf_reserve(ig_buf *b, size_t extra);           /* -1 on allocation failure */
int ig_buf_append(ig_buf *b, const void *p, size_t n);  /* -1 on allocation failure */
void ig_buf_consume(ig_buf *b, size_t n);              /* frees the memory when emptied */
void ig_buf_reset(ig_buf *b);                          /* empties and frees */
void ig_buf_swap(ig_buf *a, ig_buf *b);

#endif
