/*
 * proxyhdr.h - the PROXY protocol header (HAProxy's proxy-protocol.txt: version 1, one text
 * line; version 2, binary): read from the front of a connection, and written as the first
 * bytes of a backend connection. Pure: bytes in, a structure out, no I/O (proxy/proxyproto.c
 * does the reading and writing; the unit tests and tests/fuzz/proxy run this same code).
 *
 * A header is read a little at a time: ig_pp_parse says how many more bytes may be read
 * without reading past the header's end, so the bytes after it (the client's own) are never
 * taken by mistake.
 */
#ifndef IMPORTGATE_PROXYHDR_H
#define IMPORTGATE_PROXYHDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IG_PP_V1_MAX 107     /* the longest version 1 line, CRLF included (the spec's bound) */
#define IG_PP_V1_MIN 15      /* "PROXY UNKNOWN\r\n" */
#define IG_PP_V2_FIXED 16    /* signature 12, version and command 1, family 1, length 2 */
#define IG_PP_MAX 4096       /* a longer version 2 header (its TLVs) is refused */
#define IG_PP_ADDRSTR 64     /* "ffff:...:ffff" and more, with room */

/* Address families of a header (the spec's; a version 1 line has TCP4, TCP6, UNKNOWN). */
typedef enum ig_pp_family {
	IG_PP_UNSPEC,
	IG_PP_INET,
	IG_PP_INET6,
	IG_PP_UNIX,
} ig_pp_family;

/* One endpoint: an IPv4 address is addr[0..3]. */
typedef struct ig_pp_addr {
	ig_pp_family family;
	uint8_t addr[16];
	uint16_t port;
} ig_pp_addr;

typedef struct ig_pp_header {
	int version;        /* 1 or 2 */
	size_t len;         /* bytes of the header, the whole of it */
	/* The addresses are the connection's own to use: false for LOCAL (v2), UNKNOWN (v1), a
	 * family or transport other than TCP over IPv4/IPv6 (the connection keeps its own
	 * address, as the spec lets a receiver do and as TiDB and MariaDB do). */
	bool proxied;
	bool local;         /* the LOCAL command (v2) or UNKNOWN (v1): the sender's own connection */
	ig_pp_family family; /* as the header says (v2: its family nibble) */
	uint8_t transport;  /* v2: 0 unspec, 1 stream, 2 dgram; v1: 1 */
	ig_pp_addr src, dst; /* when proxied */
	unsigned ntlv;      /* v2: TLVs after the addresses, each checked to fit */
} ig_pp_header;

typedef enum ig_pp_status {
	IG_PP_OK,    /* a whole header is at the front; h->len is its length */
	IG_PP_MORE,  /* the front can still become a header: *need more bytes may be read */
	IG_PP_NONE,  /* the bytes do not start a PROXY header at all */
	IG_PP_BAD,   /* a header's signature, then something malformed or too large (*why) */
} ig_pp_status;

/*
 * Reads the header at the front of p[0..n). On IG_PP_MORE, *need (at least 1) is how many
 * further bytes can be read without passing the end of any header these bytes can still
 * become. On IG_PP_BAD, *why is a static description.
 */
ig_pp_status ig_pp_parse(const char *p, size_t n, ig_pp_header *h, size_t *need, const char **why);

/*
 * A version 2 header with the PROXY command for a TCP connection from src to dst (IPv4 or
 * IPv6; when the two differ, both are written as IPv6, an IPv4 one as ::ffff:a.b.c.d), no
 * TLVs. Returns its length (28 or 52), 0 when out is too small or a family is not IP.
 */
size_t ig_pp_build_v2(uint8_t *out, size_t outlen, const ig_pp_addr *src, const ig_pp_addr *dst);
/* A version 2 header with the LOCAL command (16 bytes): "use the connection's own address". */
size_t ig_pp_build_v2_local(uint8_t *out, size_t outlen);

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) made the IPv4 address it is, as the
 * gateway names a socket peer and as TiDB does (Go's net.IP.String writes a v4-in-v6
 * address as a.b.c.d): a dual-stack load balancer names an IPv4 client that way, and
 * rules' hosts and the audit must see one name per client. Others are left as they are. */
void ig_pp_addr_unmap(ig_pp_addr *a);

/* "192.0.2.1" or "2001:db8::1" (no port), "" for another family. */
void ig_pp_addr_str(const ig_pp_addr *a, char *out, size_t outlen);

#endif
