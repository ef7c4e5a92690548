/*
 * proxyproto.c - the PROXY protocol on a session's legs (see proxyproto.h).
 *
 * Reading the client's header: the connection's own reads are taken over (the conn's
 * framer is not started yet), and each read asks libuv for no more bytes than
 * ig_pp_parse says may still belong to the header, so nothing of what follows it is read
 * here. The MySQL client speaks second: a trusted connection that sends nothing is only
 * known by its silence, hence header_timeout_ms.
 */
#include "proxy/proxyproto.h"

#include <stdlib.h>
#include <string.h>

#include "policy/cidr.h"
#include "proxy/log.h"
#include "proxy/proxyhdr.h"
#include "proxy/session_int.h"

/* signature, version 2 + LOCAL, family UNSPEC, length 0 (ig_pp_build_v2_local writes the same) */
const uint8_t ig_pp_local_header[16] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51,
                                        0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00};

struct ig_pp_read {
	char buf[IG_PP_MAX];
	size_t have;
	size_t need;       /* bytes the next read may take */
	char from[IG_PP_ADDRSTR]; /* the sender's (the load balancer's) address, for the log */
};

/* ------------------------------------------------------------------ addresses */

/* A socket address as the header's kind; an IPv4-mapped IPv6 one as the IPv4 it is. */
static bool from_sockaddr(const struct sockaddr_storage *sa, ig_pp_addr *a)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
	memset(a, 0, sizeof(*a));
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		a->family = IG_PP_INET;
		memcpy(a->addr, &in->sin_addr, 4);
		a->port = ntohs(in->sin_port);
		return true;
	}
	if (sa->ss_family != AF_INET6)
		return false;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	a->port = ntohs(in6->sin6_port);
	if (memcmp(in6->sin6_addr.s6_addr, mapped, sizeof(mapped)) == 0) {
		a->family = IG_PP_INET;
		memcpy(a->addr, in6->sin6_addr.s6_addr + 12, 4);
	} else {
		a->family = IG_PP_INET6;
		memcpy(a->addr, in6->sin6_addr.s6_addr, 16);
	}
	return true;
}

/* The client connection's two ends: its peer and the address it reached. */
static bool conn_ends(ig_session *s, ig_pp_addr *peer, ig_pp_addr *local)
{
	struct sockaddr_storage a, b;
	int al = sizeof(a), bl = sizeof(b);
	return uv_tcp_getpeername(&s->client.tcp, (struct sockaddr *)&a, &al) == 0 &&
	       uv_tcp_getsockname(&s->client.tcp, (struct sockaddr *)&b, &bl) == 0 &&
	       from_sockaddr(&a, peer) && from_sockaddr(&b, local);
}

/* ------------------------------------------------------------------ the client's header */

static void pp_done(ig_session *s)
{
	uv_read_stop((uv_stream_t *)&s->client.tcp);
	uv_timer_stop(&s->timer);
	free(s->pp);
	s->pp = NULL;
}

static void refuse(ig_session *s, const char *what)
{
	LOG_WARN(s->id, "PROXY protocol: connection from %s closed: %s", s->pp ? s->pp->from : s->client_addr, what);
	if (s->pp)
		pp_done(s);
	ig_sess_close(s, NULL);
}

/* A whole header: its source is the client from now on (when it names one). */
static void accepted(ig_session *s, const ig_pp_header *h)
{
	if (h->proxied) {
		s->pp_src = h->src;
		s->pp_dst = h->dst;
		ig_pp_addr_unmap(&s->pp_src); /* one name per client: rules' hosts match it */
		ig_pp_addr_unmap(&s->pp_dst);
		s->pp_proxied = true;
		ig_pp_addr_str(&s->pp_src, s->client_addr, sizeof(s->client_addr));
		LOG_DEBUG(s->id, "PROXY protocol v%d header from %s: client %s port %u", h->version, s->pp->from,
		          s->client_addr, h->src.port);
	} else {
		LOG_DEBUG(s->id, "PROXY protocol v%d header from %s without a client address (%s): its own address "
		          "is the client's", h->version, s->pp->from, h->local ? "LOCAL" : "not TCP over IP");
	}
	pp_done(s);
	ig_sess_start_backend(s);
}

static void pp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	ig_session *s = ((ig_conn *)h->data)->owner;
	(void)suggested;
	*buf = uv_buf_init(s->pp->buf + s->pp->have, (unsigned)s->pp->need);
}

static void pp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	ig_session *s = ((ig_conn *)st->data)->owner;
	ig_pp_header h;
	const char *why = "";
	(void)buf;
	if (nread == 0 || s->closing || !s->pp)
		return;
	if (nread == UV_EOF && s->pp->have == 0) {
		/* connected and closed without a byte: a load balancer's TCP health check */
		LOG_DEBUG(s->id, "PROXY protocol: %s closed without sending anything", s->pp->from);
		pp_done(s);
		ig_sess_close(s, NULL);
		return;
	}
	if (nread < 0) {
		refuse(s, nread == UV_EOF ? "closed before its PROXY header ended" : uv_strerror((int)nread));
		return;
	}
	s->pp->have += (size_t)nread;
	switch (ig_pp_parse(s->pp->buf, s->pp->have, &h, &s->pp->need, &why)) {
	case IG_PP_OK:
		accepted(s, &h);
		break;
	case IG_PP_MORE:
		break;
	case IG_PP_NONE:
		refuse(s, "its first bytes are not a PROXY protocol header (client_proxy_protocol.networks lists it)");
		break;
	case IG_PP_BAD:
		refuse(s, why);
		break;
	}
}

bool ig_pp_accept(ig_session *s)
{
	const ig_config *cfg = s->cfg;
	ig_pp_addr peer, local;
	if (cfg->client_proxy_protocol.nnetworks == 0 || !conn_ends(s, &peer, &local) ||
	    !ig_cidr_contains(cfg->client_proxy_protocol.networks, cfg->client_proxy_protocol.nnetworks,
	                      peer.family == IG_PP_INET6, peer.addr))
		return false;
	s->pp = calloc(1, sizeof(*s->pp));
	if (!s->pp) {
		LOG_ERROR(s->id, "out of memory reading a PROXY protocol header");
		ig_sess_close(s, NULL);
		return true;
	}
	ig_pp_addr_str(&peer, s->pp->from, sizeof(s->pp->from));
	ig_pp_parse(s->pp->buf, 0, &(ig_pp_header){0}, &s->pp->need, NULL);
	s->state = SS_PROXY_HEADER;
	ig_sess_arm_timer(s, (uint64_t)cfg->client_proxy_protocol.header_timeout_ms);
	if (uv_read_start((uv_stream_t *)&s->client.tcp, pp_alloc, pp_read) != 0)
		refuse(s, "cannot read");
	return true;
}

void ig_pp_timeout(ig_session *s)
{
	int ms = s->cfg->client_proxy_protocol.header_timeout_ms;
	if (s->pp && s->pp->have == 0 && s->cfg->client_proxy_protocol.fallbackable) {
		LOG_DEBUG(s->id, "PROXY protocol: no header from %s within %d ms: served with its own address "
		          "(client_proxy_protocol.fallbackable)", s->pp->from, ms);
		pp_done(s);
		ig_sess_start_backend(s);
		return;
	}
	refuse(s, s->pp && s->pp->have > 0 ? "its PROXY header did not end within client_proxy_protocol.header_timeout_ms"
	                                   : "no PROXY header within client_proxy_protocol.header_timeout_ms");
}

void ig_pp_free(ig_session *s)
{
	free(s->pp);
	s->pp = NULL;
}

/* ------------------------------------------------------------------ the backend's header */

int ig_pp_send(ig_session *s)
{
	uint8_t hdr[64];
	ig_pp_addr src, dst;
	size_t n;
	if (s->cfg->backends.proxy_protocol != IG_PP_SEND_V2)
		return 0;
	if (s->pp_proxied) {
		src = s->pp_src;
		dst = s->pp_dst;
	}
	if ((s->pp_proxied || conn_ends(s, &src, &dst)) && (n = ig_pp_build_v2(hdr, sizeof(hdr), &src, &dst)) > 0)
		return ig_conn_send(&s->backend, hdr, n);
	/* No address to give (the client left already): the backend is told to use its own. */
	return ig_conn_send(&s->backend, ig_pp_local_header, sizeof(ig_pp_local_header));
}

/* ------------------------------------------------------------------ a header out of place */

bool ig_pp_refuse_in_handshake(ig_session *s, const uint8_t *p, size_t n)
{
	/* The bytes of a packet's start, its 4-byte header included: no client packet of the
	 * handshake begins with either signature (as a header, "PROX" is a 5 MiB packet with
	 * sequence id 'X'; "\r\n\r\n" one of 0xD0A0D bytes with sequence id 10). */
	static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
	bool v1 = n >= 5 && memcmp(p, "PROXY", 5) == 0;
	bool v2 = n >= sizeof(v2_sig) && memcmp(p, v2_sig, sizeof(v2_sig)) == 0;
	if (!v1 && !v2)
		return false;
	LOG_WARN(s->id, "PROXY protocol: connection from %s closed: it sent a PROXY protocol header, and %s",
	         s->client_addr, s->pp_proxied || s->cfg->client_proxy_protocol.nnetworks == 0
	         ? "none is accepted here (a second one, or client_proxy_protocol.networks is empty)"
	         : "its address is not in client_proxy_protocol.networks");
	ig_sess_close(s, NULL);
	return true;
}
