/*
 * fuzz_oblrecord.c - obligation records as the store reads them back from PD's etcd or from
 * the local file: the framed line reader (CRC, torn tails) and the JSON record decoder. A
 * record that decodes must survive encode -> decode unchanged in what it says, and a frame
 * made from any payload must unframe to exactly that payload.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/oblrecord.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                  \
	do {                                                                          \
		if (!(c)) {                                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                              \
		}                                                                         \
	} while (0)

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void roundtrip(const char *json, size_t len)
{
	ig_obl_record r, back;
	char err[256];
	char *enc;

	if (ig_obl_record_decode(json, len, &r, err, sizeof(err)) != 0) {
		CHECK(err[0] != 0);
		return;
	}
	enc = ig_obl_record_encode(&r);
	if (enc) {
		CHECK(ig_obl_record_decode(enc, strlen(enc), &back, err, sizeof(err)) == 0);
		CHECK(strcmp(back.id, r.id) == 0 && back.state == r.state && back.kinds == r.kinds);
		CHECK(same_str(back.db, r.db) && same_str(back.table, r.table));
		CHECK(same_str(back.statement, r.statement) && same_str(back.job_id, r.job_id));
		CHECK(back.backup.state == r.backup.state && back.reimport.state == r.reimport.state);
		ig_obl_record_free(&back);
		free(enc);
	}
	ig_obl_record_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *json;
	size_t jlen, at = 0, flen;
	char *frame;

	/* the input as a file: framed lines until a torn or bad one */
	while (at < size) {
		long n = ig_obl_unframe(p + at, size - at, &json, &jlen);
		if (n <= 0)
			break;
		CHECK((size_t)n <= size - at && json >= p + at && json + jlen <= p + at + n);
		roundtrip(json, jlen);
		at += (size_t)n;
	}
	/* the input as one record, and as the payload of a frame of our own */
	roundtrip(p, size);
	if (!memchr(p, '\n', size) && (frame = ig_obl_frame(p, size, &flen)) != NULL) {
		CHECK(ig_obl_unframe(frame, flen, &json, &jlen) == (long)flen);
		CHECK(jlen == size && memcmp(json, p, size) == 0);
		CHECK(ig_obl_unframe(frame, flen - 1, &json, &jlen) == 0); /* torn */
		free(frame);
	}
	return 0;
}
