/*
 * taskinfo.c - decodes the protobuf value of a PiTR log backup task
 * (backuppb.StreamBackupTaskInfo, pingcap/kvproto proto/brpb.proto): only name (field 4,
 * string) and table_filter (field 5, repeated string) are kept; every other field is skipped
 * by its wire type. Bounds-checked everywhere: malformed input is an error, never an over-read.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/clusterstate.h"

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_SGROUP = 3, WIRE_EGROUP = 4, WIRE_I32 = 5 };
enum { FIELD_NAME = 4, FIELD_TABLE_FILTER = 5 };

typedef struct reader {
	const unsigned char *p;
	size_t len, pos;
	char *err;
	size_t errlen;
} reader;

static int rfail(reader *r, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->errlen)
		snprintf(r->err, r->errlen, "StreamBackupTaskInfo at byte %zu: %s", r->pos, msg);
	return -1;
}

static int varint(reader *r, uint64_t *out)
{
	uint64_t v = 0;

	for (int i = 0; i < 10; i++) {
		unsigned char b;
		if (r->pos >= r->len)
			return rfail(r, "truncated varint");
		b = r->p[r->pos++];
		if (i == 9 && b > 1)
			return rfail(r, "varint overflows 64 bits");
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return rfail(r, "varint longer than 10 bytes");
}

static int skip(reader *r, size_t n, const char *what)
{
	if (r->len - r->pos < n)
		return rfail(r, "truncated %s", what);
	r->pos += n;
	return 0;
}

/* A length-delimited field: sets *s and *n to its bytes. */
static int bytes_field(reader *r, const unsigned char **s, size_t *n)
{
	uint64_t l;

	if (varint(r, &l) < 0)
		return -1;
	if (l > r->len - r->pos)
		return rfail(r, "length %llu runs past the end", (unsigned long long)l);
	*s = r->p + r->pos;
	*n = (size_t)l;
	r->pos += (size_t)l;
	return 0;
}

static char *string_field(reader *r, const unsigned char *s, size_t n)
{
	char *out;

	if (memchr(s, '\0', n)) {
		rfail(r, "a string holds a NUL byte");
		return NULL;
	}
	out = malloc(n + 1);
	if (!out) {
		rfail(r, "out of memory");
		return NULL;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return out;
}

static int add_filter(reader *r, ig_lbtask *t, char *s)
{
	char **v = realloc(t->filters, (t->nfilters + 1) * sizeof(*v));

	if (!v) {
		free(s);
		return rfail(r, "out of memory");
	}
	t->filters = v;
	t->filters[t->nfilters++] = s;
	return 0;
}

static int field(reader *r, ig_lbtask *t)
{
	uint64_t tag, v;
	uint64_t num;
	unsigned wire;
	const unsigned char *s = NULL;
	size_t n = 0;
	char *str;

	if (varint(r, &tag) < 0)
		return -1;
	num = tag >> 3;
	wire = (unsigned)(tag & 7);
	if (num == 0 || num > 536870911)
		return rfail(r, "bad field number %llu", (unsigned long long)num);
	if ((num == FIELD_NAME || num == FIELD_TABLE_FILTER) && wire != WIRE_LEN)
		return rfail(r, "field %llu has wire type %u, expected 2 (string)", (unsigned long long)num, wire);
	switch (wire) {
	case WIRE_VARINT:
		return varint(r, &v);
	case WIRE_I64:
		return skip(r, 8, "64-bit field");
	case WIRE_I32:
		return skip(r, 4, "32-bit field");
	case WIRE_LEN:
		if (bytes_field(r, &s, &n) < 0)
			return -1;
		if (num != FIELD_NAME && num != FIELD_TABLE_FILTER)
			return 0;
		if (!(str = string_field(r, s, n)))
			return -1;
		if (num == FIELD_TABLE_FILTER)
			return add_filter(r, t, str);
		free(t->pb_name); /* proto3: the last occurrence wins */
		t->pb_name = str;
		return 0;
	case WIRE_SGROUP:
	case WIRE_EGROUP:
		return rfail(r, "groups (wire type %u) are not used by this message", wire);
	default:
		return rfail(r, "invalid wire type %u", wire);
	}
}

int ig_taskinfo_decode(const unsigned char *buf, size_t len, ig_lbtask *t, char *err, size_t errlen)
{
	reader r = {.p = buf, .len = buf ? len : 0, .err = err, .errlen = errlen};

	while (r.pos < r.len)
		if (field(&r, t) < 0)
			return -1;
	return 0;
}
