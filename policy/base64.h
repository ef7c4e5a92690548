/*
 * base64.h - standard base64 (RFC 4648) for etcd's JSON gateway, which carries keys and
 * values as base64. Pure, fuzzable.
 */
#ifndef IMPORTGATE_BASE64_H
#define IMPORTGATE_BASE64_H

#include <stddef.h>

/* Encoded length, without the NUL. */
size_t ig_b64_encoded_len(size_t n);
/* Writes ig_b64_encoded_len(n) chars plus a NUL into out. */
void ig_b64_encode(const unsigned char *in, size_t n, char *out);
/* Decodes standard or URL-safe base64, padded or not; out needs (n / 4 + 1) * 3 bytes.
 * Returns the decoded length, or -1 on a bad character or length. */
long ig_b64_decode(const char *in, size_t n, unsigned char *out);

#endif
