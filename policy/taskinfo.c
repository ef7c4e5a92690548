/*
 * taskinfo.c - decodes the protobuf value of a PiTR log backup task
 * (backuppb.StreamBackupTaskInfo, pingcap/kvproto proto/brpb.proto): name (field 4,
 * string) and table_filter (field 5, repeated string) decide coverage; start_ts (2) and where
 * the task writes (storage, 1) are kept for operators only (/api/v1/status), read leniently:
 * a malformed storage or start_ts is left unknown, never an error, so what a decision sees
 * is as before. Every other field is skipped by its wire type. Bounds-checked everywhere:
 * malformed input is an error, never an over-read.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/clusterstate.h"

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_SGROUP = 3, WIRE_EGROUP = 4, WIRE_I32 = 5 };
enum { FIELD_STORAGE = 1, FIELD_START_TS = 2, FIELD_NAME = 4, FIELD_TABLE_FILTER = 5 };

/* backuppb.StorageBackend's oneof (pingcap/kvproto proto/brpb.proto, read at commit 02c419e1;
 * the field numbers are wire format and do not change between releases): the kinds
 * and, for each, the field numbers of the non-secret fields shown (bucket, prefix, or a
 * path). Credentials (S3 access_key 8 / secret_access_key 9, GCS credentials_blob 6, Azure
 * shared_key 6, ...) and endpoints are never read. */
typedef struct storage_kind {
	unsigned field;       /* in StorageBackend */
	const char *scheme;   /* as BR's storage URLs write it */
	unsigned bucket, prefix; /* field numbers in the kind's message, 0 = none */
	unsigned path;        /* Local.path, HDFS.remote */
} storage_kind;

static const storage_kind storage_kinds[] = {
	{1, "noop", 0, 0, 0},  {2, "local", 0, 0, 1}, {3, "s3", 3, 4, 0},
	{4, "gcs", 2, 3, 0},   {6, "hdfs", 0, 0, 1},  {7, "azure", 2, 3, 0},
};

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

/* One length-delimited string field `num` of a message, or NULL (absent or malformed:
 * *bad set). The last occurrence wins (proto3). *oom set when out of memory. */
static char *sub_string(const unsigned char *p, size_t len, unsigned num, bool *bad, bool *oom)
{
	reader r = {.p = p, .len = len};
	char *out = NULL;

	while (num && r.pos < r.len) {
		uint64_t tag = 0, v = 0; /* initialised for the analyzer: varint sets them on success */
		const unsigned char *s = NULL;
		size_t n = 0;
		if (varint(&r, &tag) < 0) {
			*bad = true;
			break;
		}
		unsigned wire = (unsigned)(tag & 7);
		if (wire == WIRE_LEN) {
			if (bytes_field(&r, &s, &n) < 0) {
				*bad = true;
				break;
			}
			if ((tag >> 3) != num || memchr(s, '\0', n))
				continue;
			free(out);
			if (!(out = strndup((const char *)s, n))) {
				*oom = true;
				return NULL;
			}
		} else if ((wire == WIRE_VARINT && varint(&r, &v) < 0) ||
		           (wire == WIRE_I64 && skip(&r, 8, "") < 0) || (wire == WIRE_I32 && skip(&r, 4, "") < 0) ||
		           wire == WIRE_SGROUP || wire == WIRE_EGROUP || wire > WIRE_I32) {
			*bad = true;
			break;
		}
	}
	return out;
}

/* "scheme://bucket/prefix" or "scheme://path" from a StorageBackend; NULL when unknown
 * (the caller shows it as such). -1 only when out of memory. */
static int storage_text(const unsigned char *p, size_t len, char **out)
{
	reader r = {.p = p, .len = len};
	uint64_t tag = 0;
	const unsigned char *s = NULL, *f = NULL;
	size_t n = 0, fn = 0;
	const storage_kind *k = NULL;
	bool oom = false, bad = false;

	*out = NULL;
	while (r.pos < r.len) { /* the oneof: the last kind present wins */
		if (varint(&r, &tag) < 0 || (tag & 7) != WIRE_LEN || bytes_field(&r, &f, &fn) < 0)
			return 0;
		for (size_t i = 0; i < sizeof(storage_kinds) / sizeof(storage_kinds[0]); i++)
			if (storage_kinds[i].field == (tag >> 3)) {
				k = &storage_kinds[i];
				s = f;
				n = fn;
			}
	}
	if (!k)
		return 0;
	char *a = sub_string(s, n, k->path ? k->path : k->bucket, &bad, &oom);
	char *b = sub_string(s, n, k->prefix, &bad, &oom);
	if (bad && !oom) { /* a malformed message: unknown, not an error */
		free(a);
		free(b);
		return 0;
	}
	if (!oom && k->path && a && strstr(a, "://"))
		*out = strdup(a); /* HDFS.remote is already a URL */
	else if (!oom && asprintf(out, "%s://%s%s%s", k->scheme, a ? a : "", b && *b ? "/" : "", b ? b : "") < 0)
		*out = NULL;
	free(a);
	free(b);
	return *out ? 0 : -1;
}

static int field(reader *r, ig_lbtask *t)
{
	uint64_t tag, v = 0;
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
		if (varint(r, &v) < 0)
			return -1;
		if (num == FIELD_START_TS)
			t->start_ts = v;
		return 0;
	case WIRE_I64:
		return skip(r, 8, "64-bit field");
	case WIRE_I32:
		return skip(r, 4, "32-bit field");
	case WIRE_LEN:
		if (bytes_field(r, &s, &n) < 0)
			return -1;
		if (num == FIELD_STORAGE) {
			free(t->storage);
			return storage_text(s, n, &t->storage) < 0 ? rfail(r, "out of memory") : 0;
		}
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
