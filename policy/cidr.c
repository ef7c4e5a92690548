/*
 * cidr.c - networks as CIDRs, parsed and matched (see cidr.h).
 */
#include "policy/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* Whether the first bits of a and b agree. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;
	if (memcmp(a, b, (size_t)whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xFF << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

static int parse_bits(const char *s, int max, int *out)
{
	int v = 0;
	if (!*s || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || (v = v * 10 + (*s - '0')) > max)
			return -1;
	}
	*out = v;
	return 0;
}

int ig_cidr_parse(const char *s, ig_cidr *out, char *err, size_t errlen)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t al = slash ? (size_t)(slash - s) : strlen(s);

	memset(out, 0, sizeof(*out));
	if (al == 0 || al >= sizeof(buf))
		goto bad;
	memcpy(buf, s, al);
	buf[al] = '\0';
	out->v6 = strchr(buf, ':') != NULL;
	if (inet_pton(out->v6 ? AF_INET6 : AF_INET, buf, out->addr) != 1)
		goto bad;
	int max = out->v6 ? 128 : 32;
	out->bits = max;
	if (slash && parse_bits(slash + 1, max, &out->bits) < 0)
		goto bad;
	/* Host bits set: every bit after the prefix must be zero. */
	for (int b = out->bits; b < max; b++)
		if (out->addr[b / 8] & (0x80 >> (b % 8))) {
			snprintf(err, errlen, "\"%.60s\": host bits set after the /%d prefix", s, out->bits);
			return -1;
		}
	/* ::ffff:a.b.c.d/n is the IPv4 network it maps, as addresses are matched. */
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
	if (out->v6 && out->bits >= 96 && memcmp(out->addr, mapped, sizeof(mapped)) == 0) {
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->v6 = false;
		out->bits -= 96;
	}
	return 0;
bad:
	snprintf(err, errlen, "\"%.60s\" is not an IPv4 or IPv6 address or network (a.b.c.d/n, x:y::z/n)", s);
	return -1;
}

bool ig_cidr_contains(const ig_cidr *v, size_t n, bool v6, const uint8_t *addr)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
	if (v6 && memcmp(addr, mapped, sizeof(mapped)) == 0) {
		v6 = false;
		addr += 12;
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].v6 == v6 && prefix_equal(v[i].addr, addr, v[i].bits))
			return true;
	return false;
}
