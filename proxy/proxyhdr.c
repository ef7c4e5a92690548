/*
 * proxyhdr.c - the PROXY protocol header, versions 1 and 2 (see proxyhdr.h). The format is
 * HAProxy's public specification (doc/proxy-protocol.txt); the code is this project's.
 */
#include "proxy/proxyhdr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[] = "PROXY ";

#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_STREAM 0x1

static ig_pp_status bad(const char **why, const char *msg)
{
	if (why)
		*why = msg;
	return IG_PP_BAD;
}

static ig_pp_status more(size_t *need, size_t k)
{
	*need = k > 0 ? k : 1;
	return IG_PP_MORE;
}

/* ------------------------------------------------------------------ version 1 */

/* A port: decimal 0..65535, no sign, no leading zero. */
static bool v1_port(const char *s, size_t n, uint16_t *out)
{
	unsigned v = 0;
	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

static bool v1_addr(const char *s, size_t n, ig_pp_family fam, ig_pp_addr *a)
{
	char buf[IG_PP_ADDRSTR];
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	a->family = fam;
	return inet_pton(fam == IG_PP_INET ? AF_INET : AF_INET6, buf, a->addr) == 1;
}

/* Splits "a b c d" (single spaces) into exactly four fields. */
static bool v1_fields(const char *s, size_t n, const char *f[4], size_t fl[4])
{
	size_t k = 0, start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != ' ')
			continue;
		if (k == 4 || i == start)
			return false;
		f[k] = s + start;
		fl[k++] = i - start;
		start = i + 1;
	}
	return k == 4;
}

/* The line p[0..n), CRLF included. */
static ig_pp_status v1_line(const char *p, size_t n, ig_pp_header *h, const char **why)
{
	const char *s = p + 6, *f[4];
	size_t len = n - 2 - 6, fl[4];

	h->version = 1;
	h->len = n;
	h->transport = V2_STREAM;
	for (size_t i = 0; i < n - 2; i++)
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
			return bad(why, "v1: a control character inside the line");
	if (len >= 7 && memcmp(s, "UNKNOWN", 7) == 0 && (len == 7 || s[7] == ' ')) {
		h->local = true; /* the spec: the rest of the line is ignored */
		return IG_PP_OK;
	}
	if (len < 5 || (memcmp(s, "TCP4 ", 5) != 0 && memcmp(s, "TCP6 ", 5) != 0))
		return bad(why, "v1: the protocol is not TCP4, TCP6 or UNKNOWN");
	h->family = s[3] == '4' ? IG_PP_INET : IG_PP_INET6;
	if (!v1_fields(s + 5, len - 5, f, fl))
		return bad(why, "v1: not four fields after the protocol");
	if (!v1_addr(f[0], fl[0], h->family, &h->src) || !v1_addr(f[1], fl[1], h->family, &h->dst))
		return bad(why, "v1: an address is not one of the protocol's family");
	if (!v1_port(f[2], fl[2], &h->src.port) || !v1_port(f[3], fl[3], &h->dst.port))
		return bad(why, "v1: a port is not a number from 0 to 65535");
	h->proxied = true;
	return IG_PP_OK;
}

static ig_pp_status parse_v1(const char *p, size_t n, ig_pp_header *h, size_t *need, const char **why)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			return bad(why, "v1: a line feed without its carriage return");
		if (p[i] != '\r')
			continue;
		if (i + 1 == n)
			return n < IG_PP_V1_MAX ? more(need, 1) : bad(why, "v1: no CRLF within 107 bytes");
		if (p[i + 1] != '\n')
			return bad(why, "v1: a carriage return not followed by a line feed");
		return v1_line(p, i + 2, h, why);
	}
	if (n >= IG_PP_V1_MAX)
		return bad(why, "v1: no CRLF within 107 bytes");
	/* CRLF still to come: two bytes at least, the shortest line at least IG_PP_V1_MIN. */
	size_t k = n < IG_PP_V1_MIN ? IG_PP_V1_MIN - n : 2;
	return more(need, k < IG_PP_V1_MAX - n ? k : IG_PP_V1_MAX - n);
}

/* ------------------------------------------------------------------ version 2 */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* The TLVs of b[0..n): each type, 2-byte length, value, all inside. */
static bool v2_tlvs(const uint8_t *b, size_t n, unsigned *count)
{
	size_t i = 0;
	*count = 0;
	while (i < n) {
		if (n - i < 3 || be16(b + i + 1) > n - i - 3)
			return false;
		i += 3 + be16(b + i + 1);
		(*count)++;
	}
	return true;
}

/* The addresses of an IPv4 or IPv6 block; b has the block's size. */
static void v2_ip(const uint8_t *b, ig_pp_family fam, ig_pp_header *h)
{
	size_t al = fam == IG_PP_INET ? 4 : 16;
	h->src.family = h->dst.family = fam;
	memcpy(h->src.addr, b, al);
	memcpy(h->dst.addr, b + al, al);
	h->src.port = be16(b + 2 * al);
	h->dst.port = be16(b + 2 * al + 2);
}

static ig_pp_status v2_body(const uint8_t *u, size_t total, ig_pp_header *h, const char **why)
{
	static const size_t block[] = {0, 12, 36, 216}; /* by family: UNSPEC, INET, INET6, UNIX */
	uint8_t cmd = u[12] & 0x0F, fam = u[13] >> 4;
	size_t plen = total - IG_PP_V2_FIXED;

	h->version = 2;
	h->len = total;
	h->transport = u[13] & 0x0F;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return bad(why, "v2: the command is neither LOCAL nor PROXY");
	if (fam > 3 || h->transport > 2)
		return bad(why, "v2: an unknown address family or transport");
	h->family = (ig_pp_family)fam;
	h->local = cmd == V2_CMD_LOCAL;
	if (h->local || fam == 0)
		return IG_PP_OK; /* the spec: the address block (and anything after it) is skipped */
	if (plen < block[fam])
		return bad(why, "v2: the length is shorter than the family's addresses");
	if (!v2_tlvs(u + IG_PP_V2_FIXED + block[fam], plen - block[fam], &h->ntlv))
		return bad(why, "v2: a TLV runs past the header's end");
	if ((fam == IG_PP_INET || fam == IG_PP_INET6) && h->transport == V2_STREAM) {
		v2_ip(u + IG_PP_V2_FIXED, h->family, h);
		h->proxied = true;
	}
	return IG_PP_OK;
}

static ig_pp_status parse_v2(const char *p, size_t n, ig_pp_header *h, size_t *need, const char **why)
{
	const uint8_t *u = (const uint8_t *)p;
	if (n < IG_PP_V2_FIXED)
		return more(need, IG_PP_V2_FIXED - n);
	if ((u[12] >> 4) != 2)
		return bad(why, "v2: the version is not 2");
	size_t total = IG_PP_V2_FIXED + (size_t)be16(u + 14);
	if (total > IG_PP_MAX)
		return bad(why, "v2: longer than 4096 bytes");
	if (n < total)
		return more(need, total - n);
	return v2_body(u, total, h, why);
}

/* ------------------------------------------------------------------ interface */

ig_pp_status ig_pp_parse(const char *p, size_t n, ig_pp_header *h, size_t *need, const char **why)
{
	size_t dummy;
	memset(h, 0, sizeof(*h));
	if (!need)
		need = &dummy;
	*need = 0;
	if (n == 0)
		return more(need, IG_PP_V1_MIN); /* the shortest header of either version */
	size_t k1 = n < 6 ? n : 6, k2 = n < 12 ? n : 12;
	if (memcmp(p, v1_sig, k1) == 0)
		return n < 6 ? more(need, IG_PP_V1_MIN - n) : parse_v1(p, n, h, need, why);
	if (memcmp(p, v2_sig, k2) == 0)
		return parse_v2(p, n, h, need, why);
	return IG_PP_NONE;
}

/* The address as IPv6: an IPv4 one mapped (::ffff:a.b.c.d). */
static void as_v6(const ig_pp_addr *a, uint8_t out[16])
{
	if (a->family == IG_PP_INET6) {
		memcpy(out, a->addr, 16);
		return;
	}
	memset(out, 0, 10);
	out[10] = out[11] = 0xFF;
	memcpy(out + 12, a->addr, 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t ig_pp_build_v2(uint8_t *out, size_t outlen, const ig_pp_addr *src, const ig_pp_addr *dst)
{
	bool ip4 = src->family == IG_PP_INET && dst->family == IG_PP_INET;
	size_t al = ip4 ? 4 : 16, total = IG_PP_V2_FIXED + 2 * al + 4;

	if ((src->family != IG_PP_INET && src->family != IG_PP_INET6) ||
	    (dst->family != IG_PP_INET && dst->family != IG_PP_INET6) || outlen < total)
		return 0;
	memcpy(out, v2_sig, sizeof(v2_sig));
	out[12] = 0x20 | V2_CMD_PROXY;
	out[13] = (uint8_t)((ip4 ? IG_PP_INET : IG_PP_INET6) << 4 | V2_STREAM);
	put16(out + 14, (uint16_t)(2 * al + 4));
	if (ip4) {
		memcpy(out + 16, src->addr, 4);
		memcpy(out + 20, dst->addr, 4);
	} else {
		as_v6(src, out + 16);
		as_v6(dst, out + 32);
	}
	put16(out + 16 + 2 * al, src->port);
	put16(out + 18 + 2 * al, dst->port);
	return total;
}

size_t ig_pp_build_v2_local(uint8_t *out, size_t outlen)
{
	if (outlen < IG_PP_V2_FIXED)
		return 0;
	memcpy(out, v2_sig, sizeof(v2_sig));
	out[12] = 0x20 | V2_CMD_LOCAL;
	out[13] = 0;
	put16(out + 14, 0);
	return IG_PP_V2_FIXED;
}

void ig_pp_addr_unmap(ig_pp_addr *a)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
	if (a->family != IG_PP_INET6 || memcmp(a->addr, mapped, sizeof(mapped)) != 0)
		return;
	a->family = IG_PP_INET;
	memmove(a->addr, a->addr + 12, 4);
	memset(a->addr + 4, 0, 12);
}

void ig_pp_addr_str(const ig_pp_addr *a, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	out[0] = '\0';
	if (a->family == IG_PP_INET || a->family == IG_PP_INET6)
		if (!inet_ntop(a->family == IG_PP_INET ? AF_INET : AF_INET6, a->addr, out, (socklen_t)outlen))
			out[0] = '\0';
}
