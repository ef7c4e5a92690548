/*
 * test_proxyhdr.c - the PROXY protocol header reader and writer (proxy/proxyhdr.c): version 1
 * lines (TCP4, TCP6, UNKNOWN), version 2 (IPv4, IPv6, UNIX, UNSPEC, LOCAL, TLVs), a header fed
 * a byte at a time never asks for a byte past its end, and every malformed, truncated,
 * oversize or foreign input is refused or told apart, never guessed at.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/proxyhdr.h"

static const uint8_t SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static ig_pp_status parse(const void *p, size_t n, ig_pp_header *h, size_t *need)
{
	const char *why = NULL;
	ig_pp_status st = ig_pp_parse(p, n, h, need, &why);
	if (st == IG_PP_BAD)
		assert_non_null(why);
	return st;
}

/* Feeds p as a reader does, asking each time how much more may be read: it must end exactly
 * at the header's length and never be told to read past it. */
static ig_pp_status feed_exact(const void *p, size_t n, ig_pp_header *h)
{
	size_t have = 0, need = 0;
	for (;;) {
		ig_pp_status st = parse(p, have, h, &need);
		if (st != IG_PP_MORE)
			return st;
		assert_true(need >= 1);
		assert_true(have + need <= n); /* never past the end of the header being fed */
		have += need;
	}
}

static void addr_is(const ig_pp_addr *a, const char *want, uint16_t port)
{
	char s[IG_PP_ADDRSTR];
	ig_pp_addr_str(a, s, sizeof(s));
	assert_string_equal(s, want);
	assert_int_equal(a->port, port);
}

/* ------------------------------------------------------------------ version 1 */

static void v1_tcp4(void **state)
{
	(void)state;
	const char line[] = "PROXY TCP4 192.0.2.10 198.51.100.1 56324 4000\r\n";
	ig_pp_header h;
	assert_int_equal(feed_exact(line, strlen(line), &h), IG_PP_OK);
	assert_int_equal(h.version, 1);
	assert_int_equal(h.len, strlen(line));
	assert_true(h.proxied);
	assert_false(h.local);
	addr_is(&h.src, "192.0.2.10", 56324);
	addr_is(&h.dst, "198.51.100.1", 4000);
}

static void v1_tcp6(void **state)
{
	(void)state;
	const char line[] = "PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n";
	ig_pp_header h;
	assert_int_equal(feed_exact(line, strlen(line), &h), IG_PP_OK);
	assert_int_equal(h.family, IG_PP_INET6);
	addr_is(&h.src, "2001:db8::7", 65535);
	addr_is(&h.dst, "2001:db8::1", 0);
}

static void v1_unknown(void **state)
{
	(void)state;
	ig_pp_header h;
	const char a[] = "PROXY UNKNOWN\r\n", b[] = "PROXY UNKNOWN whatever follows is ignored\r\n";
	assert_int_equal(feed_exact(a, strlen(a), &h), IG_PP_OK);
	assert_true(h.local);
	assert_false(h.proxied);
	assert_int_equal(h.len, 15);
	assert_int_equal(feed_exact(b, strlen(b), &h), IG_PP_OK);
	assert_true(h.local);
	assert_int_equal(h.len, strlen(b));
}

static void v1_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"PROXY TCP4 192.0.2.10 198.51.100.1 56324\r\n",        /* three fields */
		"PROXY TCP4 192.0.2.10 198.51.100.1 56324 4000 9\r\n", /* five */
		"PROXY TCP4 192.0.2.10  198.51.100.1 1 2\r\n",         /* two spaces */
		"PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",         /* IPv6 under TCP4 */
		"PROXY TCP6 192.0.2.10 2001:db8::1 1 2\r\n",           /* IPv4 under TCP6 */
		"PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\n",         /* not an address */
		"PROXY TCP4 192.0.2.1 198.51.100.1 65536 2\r\n",       /* port too large */
		"PROXY TCP4 192.0.2.1 198.51.100.1 -1 2\r\n",          /* signed */
		"PROXY TCP4 192.0.2.1 198.51.100.1 0080 2\r\n",        /* leading zero */
		"PROXY UDP4 192.0.2.1 198.51.100.1 1 2\r\n",           /* protocol */
		"PROXY tcp4 192.0.2.1 198.51.100.1 1 2\r\n",           /* case */
		"PROXY TCP4 192.0.2.1 198.51.100.1 1 2\n",             /* LF alone */
		"PROXY TCP4 192.0.2.1 198.51.100.1 1 2\rX",            /* CR alone */
		"PROXY UNKNOWNX\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ig_pp_header h;
		size_t need;
		if (parse(bad[i], strlen(bad[i]), &h, &need) != IG_PP_BAD)
			fail_msg("accepted: %s", bad[i]);
	}
	/* A NUL inside the line. */
	const char nul[] = "PROXY TCP4 192.0.2.1\0198.51.100.1 1 2\r\n";
	ig_pp_header h;
	assert_int_equal(parse(nul, sizeof(nul) - 1, &h, NULL), IG_PP_BAD);
}

static void v1_too_long(void **state)
{
	(void)state;
	char line[200];
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	ig_pp_header h;
	size_t need;
	assert_int_equal(parse(line, 106, &h, &need), IG_PP_MORE);
	assert_int_equal(need, 1); /* 107 is the most a line may take */
	assert_int_equal(parse(line, 107, &h, &need), IG_PP_BAD);
	line[105] = '\r';
	line[106] = '\n';
	assert_int_equal(parse(line, 107, &h, &need), IG_PP_OK); /* exactly 107: allowed */
	line[106] = '\r';
	assert_int_equal(parse(line, 107, &h, &need), IG_PP_BAD); /* CR in the last place */
}

/* ------------------------------------------------------------------ version 2 */

static size_t v2(uint8_t *out, uint8_t vercmd, uint8_t famproto, const void *body, size_t blen)
{
	memcpy(out, SIG, 12);
	out[12] = vercmd;
	out[13] = famproto;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	if (blen)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

static void v2_ipv4(void **state)
{
	(void)state;
	const uint8_t body[] = {192, 0, 2, 10, 198, 51, 100, 1, 0xDC, 0x04, 0x0F, 0xA0};
	uint8_t b[64];
	size_t n = v2(b, 0x21, 0x11, body, sizeof(body));
	ig_pp_header h;
	assert_int_equal(feed_exact(b, n, &h), IG_PP_OK);
	assert_int_equal(h.version, 2);
	assert_int_equal(h.len, 28);
	assert_true(h.proxied);
	addr_is(&h.src, "192.0.2.10", 56324);
	addr_is(&h.dst, "198.51.100.1", 4000);
	assert_int_equal(h.ntlv, 0);
}

static void v2_ipv6(void **state)
{
	(void)state;
	uint8_t body[36] = {0x20, 0x01, 0x0d, 0xb8};
	body[15] = 7;
	body[16] = 0x20, body[17] = 0x01, body[18] = 0x0d, body[19] = 0xb8, body[31] = 1;
	body[32] = 0x30, body[33] = 0x39, body[34] = 0x0F, body[35] = 0xA0;
	uint8_t b[64];
	size_t n = v2(b, 0x21, 0x21, body, sizeof(body));
	ig_pp_header h;
	assert_int_equal(feed_exact(b, n, &h), IG_PP_OK);
	assert_int_equal(h.family, IG_PP_INET6);
	addr_is(&h.src, "2001:db8::7", 12345);
	addr_is(&h.dst, "2001:db8::1", 4000);
}

static void v2_unix_local_unspec(void **state)
{
	(void)state;
	uint8_t body[216 + 4] = {0}, b[300];
	memcpy(body, "/run/lb.sock", 12);
	ig_pp_header h;
	/* UNIX stream: well formed, the connection keeps its own address. */
	size_t n = v2(b, 0x21, 0x31, body, 216);
	assert_int_equal(feed_exact(b, n, &h), IG_PP_OK);
	assert_int_equal(h.family, IG_PP_UNIX);
	assert_false(h.proxied);
	/* UNIX with a block too short. */
	n = v2(b, 0x21, 0x31, body, 100);
	assert_int_equal(parse(b, n, &h, NULL), IG_PP_BAD);
	/* LOCAL: no addresses, with or without bytes after (skipped). */
	n = v2(b, 0x20, 0x00, NULL, 0);
	assert_int_equal(feed_exact(b, n, &h), IG_PP_OK);
	assert_true(h.local);
	assert_false(h.proxied);
	assert_int_equal(h.len, 16);
	n = v2(b, 0x20, 0x11, body, 12);
	assert_int_equal(feed_exact(b, n, &h), IG_PP_OK);
	assert_true(h.local);
	assert_false(h.proxied);
	/* PROXY with UNSPEC: accepted, addresses not taken. */
	n = v2(b, 0x21, 0x00, body, 5);
	assert_int_equal(parse(b, n, &h, NULL), IG_PP_OK);
	assert_false(h.proxied);
	/* IPv4 over datagrams: not this connection's kind, addresses not taken. */
	const uint8_t v4[] = {192, 0, 2, 10, 198, 51, 100, 1, 0, 1, 0, 2};
	n = v2(b, 0x21, 0x12, v4, sizeof(v4));
	assert_int_equal(parse(b, n, &h, NULL), IG_PP_OK);
	assert_false(h.proxied);
}

static void v2_tlvs(void **state)
{
	(void)state;
	uint8_t body[64] = {192, 0, 2, 10, 198, 51, 100, 1, 0, 1, 0, 2};
	size_t k = 12;
	/* PP2_TYPE_AUTHORITY "db", PP2_TYPE_NOOP empty, a vendor TLV of 3 bytes. */
	const uint8_t tlvs[] = {0x02, 0, 2, 'd', 'b', 0x04, 0, 0, 0xE0, 0, 3, 1, 2, 3};
	memcpy(body + k, tlvs, sizeof(tlvs));
	uint8_t b[128];
	size_t n = v2(b, 0x21, 0x11, body, k + sizeof(tlvs));
	ig_pp_header h;
	assert_int_equal(feed_exact(b, n, &h), IG_PP_OK);
	assert_int_equal(h.ntlv, 3);
	assert_true(h.proxied);
	/* The last TLV's length runs one byte past the header. */
	n = v2(b, 0x21, 0x11, body, k + sizeof(tlvs) - 1);
	assert_int_equal(parse(b, n, &h, NULL), IG_PP_BAD);
	/* Two stray bytes: not even a TLV's type and length. */
	n = v2(b, 0x21, 0x11, body, k + 2);
	assert_int_equal(parse(b, n, &h, NULL), IG_PP_BAD);
}

static void v2_malformed(void **state)
{
	(void)state;
	const uint8_t v4[] = {192, 0, 2, 10, 198, 51, 100, 1, 0, 1, 0, 2};
	uint8_t b[64];
	ig_pp_header h;
	size_t n = v2(b, 0x11, 0x11, v4, sizeof(v4)); /* version 1 in a v2 header */
	assert_int_equal(parse(b, n, &h, NULL), IG_PP_BAD);
	n = v2(b, 0x22, 0x11, v4, sizeof(v4)); /* command 2 */
	assert_int_equal(parse(b, n, &h, NULL), IG_PP_BAD);
	n = v2(b, 0x21, 0x41, v4, sizeof(v4)); /* family 4 */
	assert_int_equal(parse(b, n, &h, NULL), IG_PP_BAD);
	n = v2(b, 0x21, 0x13, v4, sizeof(v4)); /* transport 3 */
	assert_int_equal(parse(b, n, &h, NULL), IG_PP_BAD);
	n = v2(b, 0x21, 0x11, v4, 8); /* IPv4 block too short */
	assert_int_equal(parse(b, n, &h, NULL), IG_PP_BAD);
	n = v2(b, 0x21, 0x21, v4, sizeof(v4)); /* IPv6 with an IPv4-sized block */
	assert_int_equal(parse(b, n, &h, NULL), IG_PP_BAD);
}

static void v2_oversize_and_truncated(void **state)
{
	(void)state;
	uint8_t b[16];
	ig_pp_header h;
	size_t need;
	v2(b, 0x21, 0x11, NULL, 0);
	b[14] = 0x0F, b[15] = 0xF1; /* 16 + 4081 = 4097 */
	assert_int_equal(parse(b, 16, &h, &need), IG_PP_BAD);
	b[14] = 0x0F, b[15] = 0xF0; /* exactly 4096: a header to read to its end */
	assert_int_equal(parse(b, 16, &h, &need), IG_PP_MORE);
	assert_int_equal(need, 4096 - 16);
	/* Every prefix of a header asks for more, never decides. */
	const uint8_t v4[] = {192, 0, 2, 10, 198, 51, 100, 1, 0, 1, 0, 2};
	uint8_t full[64];
	size_t n = v2(full, 0x21, 0x11, v4, sizeof(v4));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(parse(full, i, &h, &need), IG_PP_MORE);
		assert_true(i + need <= n);
	}
	const char line[] = "PROXY TCP4 192.0.2.10 198.51.100.1 56324 4000\r\n";
	for (size_t i = 0; i < strlen(line); i++) {
		assert_int_equal(parse(line, i, &h, &need), IG_PP_MORE);
		assert_true(i + need <= strlen(line));
	}
}

static void garbage_is_none(void **state)
{
	(void)state;
	ig_pp_header h;
	size_t need;
	/* A MySQL packet (an SSLRequest's header), HTTP, a near-miss of either signature. */
	const uint8_t ssl[] = {0x20, 0x00, 0x00, 0x01, 0x05, 0xae};
	assert_int_equal(parse(ssl, sizeof(ssl), &h, &need), IG_PP_NONE);
	assert_int_equal(parse("GET / HTTP/1.1\r\n", 16, &h, &need), IG_PP_NONE);
	assert_int_equal(parse("PROXX", 5, &h, &need), IG_PP_NONE);
	assert_int_equal(parse("PROXYTCP4", 9, &h, &need), IG_PP_NONE);
	uint8_t near[16];
	memcpy(near, SIG, 12);
	near[11] = 0x0B;
	assert_int_equal(parse(near, 12, &h, &need), IG_PP_NONE);
	/* A prefix of a signature is not yet anything. */
	assert_int_equal(parse("PRO", 3, &h, &need), IG_PP_MORE);
	assert_int_equal(need, 12);
	assert_int_equal(parse(SIG, 5, &h, &need), IG_PP_MORE);
	assert_int_equal(parse("", 0, &h, &need), IG_PP_MORE);
	assert_int_equal(need, IG_PP_V1_MIN);
}

/* ------------------------------------------------------------------ writing */

/* attack8: a dual-stack load balancer's ::ffff:a.b.c.d is the IPv4 client a.b.c.d (rules'
 * hosts match one name per client); other IPv6 addresses, ::a.b.c.d included, stay. */
static void unmap_v4_mapped(void **state)
{
	(void)state;
	ig_pp_addr a = {.family = IG_PP_INET6, .port = 7};
	assert_int_equal(inet_pton(AF_INET6, "::ffff:203.0.113.7", a.addr), 1);
	ig_pp_addr_unmap(&a);
	assert_int_equal(a.family, IG_PP_INET);
	addr_is(&a, "203.0.113.7", 7);
	ig_pp_addr_unmap(&a); /* an IPv4 address stays */
	addr_is(&a, "203.0.113.7", 7);
	ig_pp_addr b = {.family = IG_PP_INET6, .port = 8};
	assert_int_equal(inet_pton(AF_INET6, "::203.0.113.7", b.addr), 1);
	ig_pp_addr_unmap(&b);
	assert_int_equal(b.family, IG_PP_INET6);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::ffff:1:2", b.addr), 1);
	ig_pp_addr_unmap(&b);
	addr_is(&b, "2001:db8::ffff:1:2", 8);
}

static void build_round_trip(void **state)
{
	(void)state;
	ig_pp_addr s4 = {.family = IG_PP_INET, .addr = {203, 0, 113, 5}, .port = 40000};
	ig_pp_addr d4 = {.family = IG_PP_INET, .addr = {10, 0, 0, 1}, .port = 4000};
	ig_pp_addr d6 = {.family = IG_PP_INET6, .addr = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, .port = 4000};
	uint8_t b[64];
	ig_pp_header h;
	size_t n = ig_pp_build_v2(b, sizeof(b), &s4, &d4);
	assert_int_equal(n, 28);
	assert_int_equal(feed_exact(b, n, &h), IG_PP_OK);
	addr_is(&h.src, "203.0.113.5", 40000);
	addr_is(&h.dst, "10.0.0.1", 4000);
	/* Mixed families: both as IPv6, the IPv4 one mapped. */
	n = ig_pp_build_v2(b, sizeof(b), &s4, &d6);
	assert_int_equal(n, 52);
	assert_int_equal(feed_exact(b, n, &h), IG_PP_OK);
	addr_is(&h.src, "::ffff:203.0.113.5", 40000);
	addr_is(&h.dst, "2001:db8::1", 4000);
	/* Too small a buffer, a family that is not IP. */
	assert_int_equal(ig_pp_build_v2(b, 27, &s4, &d4), 0);
	ig_pp_addr u = {.family = IG_PP_UNIX};
	assert_int_equal(ig_pp_build_v2(b, sizeof(b), &u, &d4), 0);
	/* LOCAL. */
	n = ig_pp_build_v2_local(b, sizeof(b));
	assert_int_equal(n, 16);
	assert_int_equal(feed_exact(b, n, &h), IG_PP_OK);
	assert_true(h.local);
	assert_int_equal(ig_pp_build_v2_local(b, 15), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(v1_tcp4),
		cmocka_unit_test(v1_tcp6),
		cmocka_unit_test(v1_unknown),
		cmocka_unit_test(v1_malformed),
		cmocka_unit_test(v1_too_long),
		cmocka_unit_test(v2_ipv4),
		cmocka_unit_test(v2_ipv6),
		cmocka_unit_test(v2_unix_local_unspec),
		cmocka_unit_test(v2_tlvs),
		cmocka_unit_test(v2_malformed),
		cmocka_unit_test(v2_oversize_and_truncated),
		cmocka_unit_test(garbage_is_none),
		cmocka_unit_test(build_round_trip),
		cmocka_unit_test(unmap_v4_mapped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
