/*
 * mysql_proto.c - parse and build the MySQL protocol packets the gateway reads or writes
 * itself (see mysql_proto.h). Every reader checks lengths before it reads: these
 * functions see bytes straight from clients and backends, and are fuzzed.
 */
#include "proxy/mysql_proto.h"

#include <stdio.h>
#include <string.h>

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int my_lenenc_read(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
	if (*pos >= len)
		return -1;
	uint8_t c = p[*pos];
	size_t n;
	if (c < 0xfb) {
		*out = c;
		*pos += 1;
		return 0;
	}
	switch (c) {
	case 0xfc: n = 2; break;
	case 0xfd: n = 3; break;
	case 0xfe: n = 8; break;
	default: return -1; /* 0xfb is NULL, 0xff an error marker: not integers */
	}
	if (len - *pos - 1 < n)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[*pos + 1 + i] << (8 * i);
	*out = v;
	*pos += 1 + n;
	return 0;
}

int my_lenenc_put(ig_buf *b, uint64_t v)
{
	uint8_t t[9];
	size_t n;
	if (v < 0xfb) {
		t[0] = (uint8_t)v;
		n = 1;
	} else if (v <= 0xffff) {
		t[0] = 0xfc;
		my_put_u16(t + 1, (uint16_t)v);
		n = 3;
	} else if (v <= 0xffffff) {
		t[0] = 0xfd;
		my_put_u24(t + 1, (uint32_t)v);
		n = 4;
	} else {
		t[0] = 0xfe;
		for (int i = 0; i < 8; i++)
			t[1 + i] = (uint8_t)(v >> (8 * i));
		n = 9;
	}
	return ig_buf_append(b, t, n);
}

/* Copies a NUL-terminated string at *pos into out; a missing NUL ends at len. */
static int read_cstr(const uint8_t *p, size_t len, size_t *pos, char *out, size_t outlen)
{
	const uint8_t *nul = memchr(p + *pos, 0, len - *pos);
	size_t n = nul ? (size_t)(nul - (p + *pos)) : len - *pos;
	if (n >= outlen)
		return -1;
	memcpy(out, p + *pos, n);
	out[n] = '\0';
	*pos += n + (nul ? 1 : 0);
	return 0;
}

int my_greeting_parse(const uint8_t *p, size_t len, my_greeting *g, char *err, size_t errlen)
{
	size_t pos = 0;
	memset(g, 0, sizeof(*g));
	if (len < 1)
		FAIL("empty greeting");
	g->protocol = p[pos++];
	if (g->protocol != 10)
		FAIL("unsupported protocol version %u in greeting", g->protocol);
	if (read_cstr(p, len, &pos, g->server_version, sizeof(g->server_version)) < 0)
		FAIL("server version too long");
	if (len - pos < 4 + 8 + 1 + 2)
		FAIL("greeting truncated");
	g->conn_id = my_u32(p + pos);
	pos += 4;
	memcpy(g->scramble, p + pos, 8);
	g->scramble_len = 8;
	pos += 8 + 1;
	g->off_caps_lo = pos;
	g->caps = my_u16(p + pos);
	pos += 2;
	if (pos == len)
		return 0; /* pre-4.1 minimal greeting */
	if (len - pos < 1 + 2 + 2 + 1 + 10)
		FAIL("greeting truncated");
	g->charset = p[pos++];
	g->status = my_u16(p + pos);
	pos += 2;
	g->off_caps_hi = pos;
	g->caps |= (uint32_t)my_u16(p + pos) << 16;
	pos += 2;
	uint8_t auth_len = p[pos++];
	g->off_mariadb_caps = pos + 6;
	if (!(g->caps & CLIENT_LONG_PASSWORD))
		g->mariadb_caps = my_u32(p + pos + 6);
	pos += 10;
	if (g->caps & CLIENT_SECURE_CONNECTION) {
		size_t n = auth_len > 8 ? (size_t)auth_len - 8 : 13;
		if (n < 13)
			n = 13;
		if (len - pos < n)
			FAIL("greeting truncated in scramble");
		/* The last byte of part 2 is a NUL terminator, not scramble. */
		size_t take = n - 1;
		if (take > sizeof(g->scramble) - 8)
			take = sizeof(g->scramble) - 8;
		memcpy(g->scramble + 8, p + pos, take);
		g->scramble_len = 8 + take;
		pos += n;
	}
	if ((g->caps & CLIENT_PLUGIN_AUTH) && pos < len) {
		if (read_cstr(p, len, &pos, g->auth_plugin, sizeof(g->auth_plugin)) < 0)
			FAIL("auth plugin name too long");
	}
	return 0;
}

void my_greeting_set_caps(uint8_t *p, const my_greeting *g, uint32_t caps, uint32_t mariadb_caps)
{
	my_put_u16(p + g->off_caps_lo, caps & 0xffff);
	if (g->off_caps_hi)
		my_put_u16(p + g->off_caps_hi, caps >> 16);
	if (g->off_mariadb_caps && !(g->caps & CLIENT_LONG_PASSWORD))
		my_put_u32(p + g->off_mariadb_caps, mariadb_caps);
}

int my_hs_response_parse(const uint8_t *p, size_t len, my_hs_response *r, char *err, size_t errlen)
{
	size_t pos;
	memset(r, 0, sizeof(*r));
	if (len < 4)
		FAIL("handshake response truncated");
	r->caps = my_u32(p);
	if (!(r->caps & CLIENT_PROTOCOL_41))
		FAIL("client does not speak protocol 4.1 (pre-4.1 clients are not supported)");
	if (len < 32)
		FAIL("handshake response truncated");
	r->max_packet = my_u32(p + 4);
	r->charset = p[8];
	if (!(r->caps & CLIENT_LONG_PASSWORD))
		r->mariadb_caps = my_u32(p + 28);
	if (len == 32) {
		if (!(r->caps & CLIENT_SSL))
			FAIL("handshake response has no user name");
		r->ssl_request = true;
		return 0;
	}
	pos = 32;
	r->off_rest = pos;
	if (read_cstr(p, len, &pos, r->user, sizeof(r->user)) < 0)
		FAIL("user name too long");
	if (r->caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
		uint64_t n;
		if (my_lenenc_read(p, len, &pos, &n) < 0 || n > len - pos)
			FAIL("auth data truncated");
		r->auth = p + pos;
		r->auth_len = (size_t)n;
		pos += (size_t)n;
	} else if (r->caps & CLIENT_SECURE_CONNECTION) {
		if (pos >= len)
			FAIL("auth data truncated");
		size_t n = p[pos++];
		if (n > len - pos)
			FAIL("auth data truncated");
		r->auth = p + pos;
		r->auth_len = n;
		pos += n;
	} else {
		const uint8_t *nul = memchr(p + pos, 0, len - pos);
		if (!nul)
			FAIL("auth data truncated");
		r->auth = p + pos;
		r->auth_len = (size_t)(nul - (p + pos));
		pos += r->auth_len + 1;
	}
	if ((r->caps & CLIENT_CONNECT_WITH_DB) && pos < len) {
		if (read_cstr(p, len, &pos, r->db, sizeof(r->db)) < 0)
			FAIL("database name too long");
		r->has_db = r->db[0] != '\0';
	}
	if ((r->caps & CLIENT_PLUGIN_AUTH) && pos < len) {
		if (read_cstr(p, len, &pos, r->auth_plugin, sizeof(r->auth_plugin)) < 0)
			FAIL("auth plugin name too long");
	}
	return 0;
}

int my_hs_response_rewrite(const uint8_t *p, size_t len, uint32_t caps, uint32_t mariadb_caps, ig_buf *out)
{
	uint8_t head[32];
	if (len < 32)
		return -1;
	memcpy(head, p, 32);
	my_put_u32(head, caps);
	if (!(caps & CLIENT_LONG_PASSWORD))
		my_put_u32(head + 28, mariadb_caps);
	if (ig_buf_append(out, head, 32) < 0 || ig_buf_append(out, p + 32, len - 32) < 0)
		return -1;
	return 0;
}

void my_ssl_request(uint8_t out[32], uint32_t caps, uint32_t mariadb_caps, uint32_t max_packet, uint8_t charset)
{
	memset(out, 0, 32);
	my_put_u32(out, caps | CLIENT_SSL);
	my_put_u32(out + 4, max_packet);
	out[8] = charset;
	if (!(caps & CLIENT_LONG_PASSWORD))
		my_put_u32(out + 28, mariadb_caps); /* as in the response: MariaDB reads them here */
}

/* TiDB's ParseNullTermString: up to the first NUL and past it; with no NUL an empty string
 * and nothing consumed (the bytes are then read again as the next field). */
static void tidb_nul_term(const uint8_t *p, size_t len, size_t *pos, const uint8_t **s, size_t *n)
{
	const uint8_t *nul = memchr(p + *pos, 0, len - *pos);
	*s = p + *pos;
	*n = 0;
	if (nul) {
		*n = (size_t)(nul - (p + *pos));
		*pos += *n + 1;
	}
}

int my_change_user_read(const uint8_t *p, size_t len, uint32_t caps, my_change_user_view *v)
{
	size_t pos = 1; /* command byte */
	memset(v, 0, sizeof(*v));
	if (len < 1)
		return -1;
	tidb_nul_term(p, len, &pos, &v->user, &v->user_len);
	/* One length byte, whatever CLIENT_SECURE_CONNECTION or LENENC_CLIENT_DATA say. */
	if (pos >= len)
		return -1;
	v->auth_len = p[pos++];
	if (v->auth_len > len - pos)
		return -1;
	v->auth = p + pos;
	pos += v->auth_len;
	tidb_nul_term(p, len, &pos, &v->db, &v->db_len);
	v->plugin = p + pos;
	if (pos < len) {
		if ((caps & CLIENT_PROTOCOL_41) && len - pos >= 2)
			pos += 2; /* character set: skipped, the session keeps the handshake's */
		if ((caps & CLIENT_PLUGIN_AUTH) && pos < len)
			tidb_nul_term(p, len, &pos, &v->plugin, &v->plugin_len);
	}
	return 0;
}

static int copy_name(char *out, size_t outlen, const uint8_t *s, size_t n)
{
	if (n >= outlen)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

int my_change_user_parse(const uint8_t *p, size_t len, uint32_t caps, my_change_user *c)
{
	memset(c, 0, sizeof(*c));
	if (my_change_user_read(p, len, caps, &c->v) < 0)
		return -1;
	if (copy_name(c->user, sizeof(c->user), c->v.user, c->v.user_len) < 0 ||
	    copy_name(c->db, sizeof(c->db), c->v.db, c->v.db_len) < 0)
		return -2;
	c->has_db = c->v.db_len > 0;
	return 0;
}

int my_ok_parse(const uint8_t *p, size_t len, uint32_t caps, my_ok *ok)
{
	size_t pos = 1;
	memset(ok, 0, sizeof(*ok));
	if (len < 1 || (p[0] != 0x00 && p[0] != 0xfe))
		return -1;
	if (my_lenenc_read(p, len, &pos, &ok->affected_rows) < 0 ||
	    my_lenenc_read(p, len, &pos, &ok->last_insert_id) < 0)
		return -1;
	if (len - pos < 4)
		return -1;
	ok->status = my_u16(p + pos);
	ok->warnings = my_u16(p + pos + 2);
	pos += 4;
	if (pos < len) {
		if (caps & CLIENT_SESSION_TRACK) {
			uint64_t n;
			if (my_lenenc_read(p, len, &pos, &n) < 0 || n > len - pos)
				return 0; /* info is optional; keep what was read */
			ok->info = (const char *)p + pos;
			ok->info_len = (size_t)n;
		} else {
			ok->info = (const char *)p + pos;
			ok->info_len = len - pos;
		}
	}
	return 0;
}

int my_err_parse(const uint8_t *p, size_t len, my_err *e)
{
	memset(e, 0, sizeof(*e));
	if (len < 3 || p[0] != 0xff)
		return -1;
	e->code = my_u16(p + 1);
	size_t pos = 3;
	if (len - pos >= 6 && p[pos] == '#') {
		memcpy(e->sqlstate, p + pos + 1, 5);
		pos += 6;
	} else {
		memcpy(e->sqlstate, "HY000", 5);
	}
	e->msg = (const char *)p + pos;
	e->msg_len = len - pos;
	return 0;
}

int my_write_packet(ig_buf *b, uint8_t seq, const void *payload, size_t len)
{
	const uint8_t *q = payload;
	uint8_t hdr[4];
	for (;;) {
		size_t n = len > MY_MAX_PAYLOAD ? MY_MAX_PAYLOAD : len;
		my_put_u24(hdr, (uint32_t)n);
		hdr[3] = seq++;
		if (ig_buf_append(b, hdr, 4) < 0 || ig_buf_append(b, q, n) < 0)
			return -1;
		q += n;
		len -= n;
		/* A payload of exactly 16 MiB - 1 is followed by an empty packet. */
		if (n < MY_MAX_PAYLOAD)
			return 0;
	}
}

int my_write_err(ig_buf *b, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg)
{
	uint8_t head[9];
	size_t mlen = strlen(msg);
	/* Keep error packets well-formed and bounded whatever the message. */
	if (mlen > 4000)
		mlen = 4000;
	size_t plen = sizeof(head) + mlen;
	uint8_t hdr[4];
	head[0] = 0xff;
	my_put_u16(head + 1, code);
	head[3] = '#';
	memcpy(head + 4, sqlstate && strlen(sqlstate) == 5 ? sqlstate : "HY000", 5);
	my_put_u24(hdr, (uint32_t)plen);
	hdr[3] = seq;
	if (ig_buf_append(b, hdr, 4) < 0 || ig_buf_append(b, head, sizeof(head)) < 0 ||
	    ig_buf_append(b, msg, mlen) < 0)
		return -1;
	return 0;
}

int my_write_ok(ig_buf *b, uint8_t seq, uint32_t caps, uint64_t affected, uint16_t status,
                const char *info)
{
	ig_buf p = {0};
	uint8_t zero = 0, sw[4];
	int rc = -1;
	my_put_u16(sw, status);
	my_put_u16(sw + 2, 0);
	if (ig_buf_append(&p, &zero, 1) < 0 || my_lenenc_put(&p, affected) < 0 ||
	    my_lenenc_put(&p, 0) < 0 || ig_buf_append(&p, sw, 4) < 0)
		goto out;
	if (info && *info) {
		if (caps & CLIENT_SESSION_TRACK) {
			if (my_lenenc_put(&p, strlen(info)) < 0)
				goto out;
		}
		if (ig_buf_append(&p, info, strlen(info)) < 0)
			goto out;
	}
	rc = my_write_packet(b, seq, p.data, p.len);
out:
	ig_buf_reset(&p);
	return rc;
}
