/*
 * cidr.h - networks written as CIDRs ("10.0.0.0/8", "2001:db8::/32", a bare address is one
 * host): parsed once (client_proxy_protocol.networks), then asked whether an address is in
 * one of them. Pure. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is matched as the IPv4
 * address it is: a dual-stack listener reports IPv4 peers that way.
 */
#ifndef IMPORTGATE_CIDR_H
#define IMPORTGATE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ig_cidr {
	bool v6;          /* false: addr[0..3] is an IPv4 address */
	uint8_t addr[16]; /* the network's address, host bits cleared */
	int bits;         /* prefix length: 0..32 or 0..128 */
} ig_cidr;

/* "a.b.c.d[/n]" or "v6[/n]"; -1 with a message on anything else (host bits set included:
 * "10.0.0.1/8" is refused, as a likely typo for a host or a narrower network). */
int ig_cidr_parse(const char *s, ig_cidr *out, char *err, size_t errlen);
/* Whether addr (4 bytes when !v6, 16 when v6) is in one of v[0..n). */
bool ig_cidr_contains(const ig_cidr *v, size_t n, bool v6, const uint8_t *addr);

#endif
