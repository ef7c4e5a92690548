/*
 * fuzz_proxyhdr.c - libFuzzer target for the PROXY protocol header reader (proxy/proxyhdr.c),
 * the bytes a load balancer (or anyone on a trusted network) sends before the MySQL
 * handshake. Checks what the reader promises: a header found lies inside the input and the
 * same bytes read again give the same header; a reader that asks for `need` more bytes is
 * never told to read past a header that the input then completes; a header whose addresses
 * are taken writes back (ig_pp_build_v2) into one that reads the same addresses.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxyhdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_found(const char *p, const ig_pp_header *h)
{
	ig_pp_header again, back;
	size_t need;
	uint8_t out[64];
	if (ig_pp_parse(p, h->len, &again, &need, NULL) != IG_PP_OK || again.len != h->len)
		abort(); /* the header alone reads the same */
	if (h->len > 0 && ig_pp_parse(p, h->len - 1, &again, &need, NULL) == IG_PP_OK)
		abort(); /* one byte short is never a header */
	if (!h->proxied)
		return;
	size_t n = ig_pp_build_v2(out, sizeof(out), &h->src, &h->dst);
	if (n == 0 || ig_pp_parse((const char *)out, n, &back, &need, NULL) != IG_PP_OK || !back.proxied ||
	    back.src.port != h->src.port || back.dst.port != h->dst.port ||
	    (back.src.family == h->src.family && memcmp(back.src.addr, h->src.addr, 16) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	ig_pp_header h;
	size_t need = 0, have = 0;
	const char *why = NULL;
	ig_pp_status st = ig_pp_parse(p, size, &h, &need, &why);
	if (st == IG_PP_OK) {
		if (h.len == 0 || h.len > size || h.len > IG_PP_MAX)
			abort();
		check_found(p, &h);
	}
	if (st == IG_PP_BAD && !why)
		abort();
	/* Read as the gateway reads: never past where the reader said it may go. */
	for (;;) {
		st = ig_pp_parse(p, have, &h, &need, NULL);
		if (st != IG_PP_MORE)
			break;
		if (need == 0)
			abort();
		if (have + need > size)
			break;
		have += need;
	}
	if (st == IG_PP_OK && h.len != have)
		abort(); /* it stopped exactly at the header's end */
	return 0;
}

#ifndef IG_LIBFUZZER
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "rb");
		if (!fp) {
			perror(argv[i]);
			return 1;
		}
		static uint8_t buf[1 << 16];
		size_t n = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, n);
	}
	return 0;
}
#endif
