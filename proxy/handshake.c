/*
 * handshake.c - from the backend's greeting to the end of authentication: the greeting is
 * masked and relayed, the client's HandshakeResponse rewritten for the backend, TLS started
 * on either leg, and the authentication exchange relayed with sequence ids renumbered when
 * the legs differ in TLS (caching_sha2_password full authentication is bridged); with the
 * authentication's OK, compression starts on both legs when it was negotiated. Its state
 * is one object, freed when the command phase starts.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "proxy/auth.h"
#include "proxy/log.h"
#include "proxy/mysql_proto.h"
#include "proxy/runtime.h"
#include "proxy/session_int.h"

#define CACHING_SHA2 "caching_sha2_password"

/* caching_sha2_password full authentication across legs that differ in TLS. */
typedef enum ig_auth_bridge {
	AB_NONE,
	AB_WANT_CLEAR_PW,    /* TLS client will send its password in clear */
	AB_WANT_BACKEND_KEY, /* we asked the plain backend for its RSA key */
	AB_WANT_CLIENT_RSA,  /* plain client will ask for a key / send RSA-encrypted password */
} ig_auth_bridge;

struct ig_handshake {
	my_greeting greeting;
	ig_buf hs_out;          /* the client's HandshakeResponse, rewritten for the backend */
	uint8_t seq_c, seq_b;   /* last sequence id on each leg */
	char auth_plugin[64];
	uint8_t scramble[32];
	size_t scramble_len;
	ig_auth_bridge ab;
	ig_buf secret;          /* a password in flight in the bridge; cleansed after */
	int zstd_level;         /* the zstd level the client asked for */
	ig_zalg zclient, zbackend; /* the compression of each leg, from the command phase on */
};

#define IG_CAPS_COMPRESSION (CLIENT_COMPRESS | CLIENT_ZSTD_COMPRESSION_ALGORITHM)

ig_handshake *ig_hs_new(void)
{
	return calloc(1, sizeof(ig_handshake));
}

static void clear_secret(ig_handshake *hs)
{
	if (hs->secret.data)
		OPENSSL_cleanse(hs->secret.data, hs->secret.cap);
	ig_buf_reset(&hs->secret);
}

void ig_hs_free(ig_handshake *hs)
{
	if (!hs)
		return;
	clear_secret(hs);
	ig_buf_reset(&hs->hs_out);
	free(hs);
}

/* The sequence id of the next packet to the client (0 until the greeting has been sent). */
uint8_t ig_hs_next_client_seq(const ig_session *s)
{
	return s->state <= SS_BACKEND_GREETING || !s->hs ? 0 : (uint8_t)(s->hs->seq_c + 1);
}

/* ------------------------------------------------------------------ greeting */

/* The greeting is usable: protocol 4.1, and TLS when the backend must be reached over it. */
static bool greeting_usable(ig_session *s, const uint8_t *p, uint32_t n)
{
	char err[256];
	my_greeting *g = &s->hs->greeting;
	int r = my_greeting_parse(p, n, g, err, sizeof(err));
	if (r < 0 || !(g->caps & CLIENT_PROTOCOL_41) || !(g->caps & CLIENT_SECURE_CONNECTION)) {
		/* err is not shown: the message has always named the protocol (kept as it was). */
		ig_sess_fail(s, 0, ER_UNKNOWN_ERROR, "importgate: backend %s: unusable greeting: %s", s->be->addr,
		             "protocol 4.1 required");
		return false;
	}
	if (s->bctx && !(g->caps & CLIENT_SSL)) {
		ig_sess_fail(s, 0, ER_UNKNOWN_ERROR,
		             "importgate: backend %s does not offer TLS, but backends.tls.mode requires it", s->be->addr);
		return false;
	}
	return true;
}

static void backend_greeting(ig_session *s, const uint8_t *p, uint32_t n, uint8_t seq)
{
	ig_handshake *hs = s->hs;
	if (n > 0 && p[0] == 0xff) {
		/* The backend refuses us (too many connections, host blocked): say so verbatim. */
		ig_conn_send_packet(&s->client, 0, p, n);
		LOG_INFO(s->id, "backend %s refused the connection", s->be->addr);
		ig_sess_close_when_flushed(s);
		return;
	}
	/* A greeting is what a health probe counts as up: a backend marked down that greets a
	 * client serves the next ones at once rather than after the next probe. */
	if (s->be_marked_down)
		ig_backend_set_health(s->be, true, "a client connection got its greeting");
	if (!greeting_usable(s, p, n))
		return;
	snprintf(s->server_version, sizeof(s->server_version), "%s", hs->greeting.server_version);
	s->backend_conn_id = hs->greeting.conn_id;
	ig_backend_note_version(s->server_version);
	memcpy(hs->scramble, hs->greeting.scramble, hs->greeting.scramble_len);
	hs->scramble_len = hs->greeting.scramble_len;
	snprintf(hs->auth_plugin, sizeof(hs->auth_plugin), "%s", hs->greeting.auth_plugin);

	/* The client sees the backend's greeting, less what the gateway cannot relay. */
	uint8_t *copy = malloc(n);
	if (!copy) {
		ig_sess_close(s, "out of memory");
		return;
	}
	memcpy(copy, p, n);
	/* Compression is offered whatever the backend offers: the client's leg is the gateway's. */
	uint32_t caps = (hs->greeting.caps & ~IG_CAPS_MASKED) | IG_CAPS_COMPRESSION | (s->cctx ? CLIENT_SSL : 0);
	my_greeting_set_caps(copy, &hs->greeting, caps, hs->greeting.mariadb_caps & IG_MARIADB_CAPS_RELAYED);
	hs->seq_b = seq;
	hs->seq_c = 0;
	int rc = ig_conn_send_packet(&s->client, 0, copy, n);
	free(copy);
	if (rc < 0) {
		ig_sess_close(s, "out of memory");
		return;
	}
	ig_conn_flush(&s->client);
	LOG_DEBUG(s->id, "backend %s greeting: %s, plugin %s", s->be->addr, s->server_version, hs->auth_plugin);
	s->state = SS_CLIENT_HELLO;
	ig_sess_update_reading(s);
}

/* ------------------------------------------------------------------ client hello */

static void send_handshake_response(ig_session *s)
{
	if (ig_conn_send_packet(&s->backend, ++s->hs->seq_b, s->hs->hs_out.data, s->hs->hs_out.len) < 0) {
		ig_sess_close(s, "out of memory");
		return;
	}
	ig_buf_reset(&s->hs->hs_out);
	ig_conn_flush(&s->backend);
	s->state = SS_AUTH;
}

static void client_ssl_request(ig_session *s, uint8_t seq)
{
	if (!s->cctx || s->client.tls) {
		ig_sess_fail(s, (uint8_t)(seq + 1), ER_HANDSHAKE_ERROR, "importgate: TLS is not offered on this port");
		return;
	}
	if (ig_conn_start_tls(&s->client, s->cctx, true, NULL) < 0) {
		ig_sess_close(s, "cannot start TLS");
		return;
	}
	/* Bytes after the SSLRequest are already the TLS ClientHello (conn.c hands them to TLS). */
	s->state = SS_CLIENT_TLS;
}

/* A leg's compression from its flags: zlib when both are set (TiDB does the same). */
static ig_zalg compression_of(uint32_t caps)
{
	return caps & CLIENT_COMPRESS ? IG_Z_ZLIB : caps & CLIENT_ZSTD_COMPRESSION_ALGORITHM ? IG_Z_ZSTD : IG_Z_NONE;
}

/*
 * Each leg compresses independently. The client's leg: what the client asked for (the
 * gateway offers both). The backend's leg: backends.compression, when the backend offers
 * that algorithm (MariaDB offers CLIENT_COMPRESS only: zlib; TiDB both, pkg/server/conn.go
 * and pkg/server/internal/parse/parse.go HandshakeResponseBody, pingcap/tidb at 000172f4,
 * the v8.5 line: the zstd level is the response's last byte, after the attributes); else
 * uncompressed, said once per process at WARN (a backend set may mix versions; refusing
 * the session would make a setting about transport cost refuse clients). Under compression
 * a server's packet ids no longer follow its packets, so on that leg the gateway follows
 * the answers by their structure and numbers them itself (proxy/command.c
 * answer_in_sequence). Returns the flag the response passed on carries.
 */
static uint32_t backend_compression(ig_session *s, uint32_t client_caps)
{
	static atomic_flag told = ATOMIC_FLAG_INIT;
	ig_handshake *hs = s->hs;
	ig_backend_compression want = s->cfg->backends.compression;
	uint32_t flag = want == IG_BZ_ZLIB ? CLIENT_COMPRESS : want == IG_BZ_ZSTD ? CLIENT_ZSTD_COMPRESSION_ALGORITHM : 0;
	hs->zclient = compression_of(client_caps);
	hs->zbackend = IG_Z_NONE;
	if (flag && !(hs->greeting.caps & flag)) {
		if (!atomic_flag_test_and_set(&told))
			LOG_WARN(s->id, "backends.compression: backend %s does not offer %s; its sessions' backend leg "
			         "is uncompressed (said once)", s->be->addr, want == IG_BZ_ZLIB ? "zlib" : "zstd");
		return 0;
	}
	hs->zbackend = want == IG_BZ_ZLIB ? IG_Z_ZLIB : want == IG_BZ_ZSTD ? IG_Z_ZSTD : IG_Z_NONE;
	return flag;
}

/* The backend leg's zstd level: the configured one, capped as a client's is. */
static int backend_zstd_level(const ig_session *s)
{
	int l = s->cfg->backends.zstd_level;
	return l > IG_Z_ZSTD_LEVEL_MAX ? IG_Z_ZSTD_LEVEL_MAX : l < 1 ? 1 : l;
}

/* The client's identity, and its HandshakeResponse rewritten for the backend. */
static int client_identity(ig_session *s, const uint8_t *p, uint32_t n, const my_hs_response *r, uint32_t bcaps)
{
	ig_handshake *hs = s->hs;
	snprintf(s->user, sizeof(s->user), "%s", r->user);
	if (r->has_db) {
		snprintf(s->db, sizeof(s->db), "%s", r->db);
		s->has_db = true;
	}
	if (r->auth_plugin[0])
		snprintf(hs->auth_plugin, sizeof(hs->auth_plugin), "%s", r->auth_plugin);
	s->caps = r->caps & hs->greeting.caps & ~IG_CAPS_MASKED & ~IG_CAPS_COMPRESSION;
	/* MariaDB's extended capabilities: what both sides have, of those the gateway follows. */
	s->mariadb_caps = r->mariadb_caps & hs->greeting.mariadb_caps & IG_MARIADB_CAPS_RELAYED;
	hs->zstd_level = ig_zstd_level_of_response(p, n, r->caps);
	if (my_hs_response_rewrite(p, n, bcaps, s->mariadb_caps, &hs->hs_out) < 0)
		return -1;
	/* The zstd level goes only with the zstd flag, as the response's last byte. */
	bool had = r->caps & CLIENT_ZSTD_COMPRESSION_ALGORITHM, has = bcaps & CLIENT_ZSTD_COMPRESSION_ALGORITHM;
	if (had && hs->hs_out.len > 32)
		hs->hs_out.len--;
	if (has) {
		uint8_t level = (uint8_t)backend_zstd_level(s);
		if (ig_buf_append(&hs->hs_out, &level, 1) < 0)
			return -1;
	}
	return 0;
}

static void client_hello(ig_session *s, const uint8_t *p, uint32_t n, uint8_t seq)
{
	ig_handshake *hs = s->hs;
	char err[256];
	my_hs_response r;
	if (seq != (uint8_t)(hs->seq_c + 1)) {
		ig_sess_fail(s, (uint8_t)(seq + 1), ER_HANDSHAKE_ERROR,
		             "importgate: bad handshake: packets out of order (sequence id %u, expected %u)", seq,
		             (uint8_t)(hs->seq_c + 1));
		return;
	}
	if (my_hs_response_parse(p, n, &r, err, sizeof(err)) < 0) {
		ig_sess_fail(s, (uint8_t)(seq + 1), ER_HANDSHAKE_ERROR, "importgate: bad handshake: %s", err);
		return;
	}
	hs->seq_c = seq;
	if (r.ssl_request) {
		client_ssl_request(s, seq);
		return;
	}
	if (s->cfg->client_tls.require && !s->client.tls) {
		ig_sess_fail(s, (uint8_t)(seq + 1), ER_SECURE_TRANSPORT_REQUIRED,
		             "Connections using insecure transport are prohibited: importgate requires TLS "
		             "(client_tls.require)");
		return;
	}
	uint32_t bcaps = (r.caps & ~IG_CAPS_MASKED & ~IG_CAPS_COMPRESSION) | backend_compression(s, r.caps) |
	                 (s->bctx ? CLIENT_SSL : 0);
	if (client_identity(s, p, n, &r, bcaps) < 0) {
		ig_sess_close(s, "out of memory");
		return;
	}
	LOG_DEBUG(s->id, "client user '%s' db '%s' plugin %s tls %s", s->user, s->has_db ? s->db : "",
	          hs->auth_plugin, s->client.tls ? "yes" : "no");
	if (!s->bctx) {
		send_handshake_response(s);
		return;
	}
	uint8_t req[32];
	/* The certificate is checked against the name configured, not the address it resolved
	 * to: that address is what DNS said, the name is what the operator trusts (attack22). */
	my_ssl_request(req, bcaps, s->mariadb_caps, r.max_packet, r.charset);
	if (ig_conn_send_packet(&s->backend, ++hs->seq_b, req, sizeof(req)) < 0 ||
	    ig_conn_start_tls(&s->backend, s->bctx, false, s->be->name) < 0) {
		ig_sess_close(s, "cannot start backend TLS");
		return;
	}
	s->state = SS_BACKEND_TLS;
}

void ig_hs_tls_done(ig_session *s, ig_conn *c)
{
	if (c == &s->client)
		s->state = SS_CLIENT_HELLO;
	else
		send_handshake_response(s); /* backend TLS up: now the client's handshake response */
}

/* ------------------------------------------------------------------ authentication */

static int relay_to_client(ig_session *s, const uint8_t *p, size_t n)
{
	s->hs->seq_c++;
	return ig_conn_send_packet(&s->client, s->hs->seq_c, p, n);
}

static int relay_to_backend(ig_session *s, const uint8_t *p, size_t n)
{
	s->hs->seq_b++;
	return ig_conn_send_packet(&s->backend, s->hs->seq_b, p, n);
}

/* AuthSwitchRequest: plugin name, then the new scramble (NUL-terminated). */
static void auth_switch(ig_handshake *hs, const uint8_t *p, uint32_t n)
{
	const uint8_t *nul = memchr(p + 1, 0, n - 1);
	size_t nlen = nul ? (size_t)(nul - (p + 1)) : n - 1;
	if (nlen < sizeof(hs->auth_plugin)) {
		memcpy(hs->auth_plugin, p + 1, nlen);
		hs->auth_plugin[nlen] = '\0';
	}
	if (nul) {
		size_t dlen = n - (size_t)(nul + 1 - p);
		if (dlen > 0 && p[n - 1] == 0)
			dlen--;
		if (dlen > sizeof(hs->scramble))
			dlen = sizeof(hs->scramble);
		memcpy(hs->scramble, nul + 1, dlen);
		hs->scramble_len = dlen;
	}
}

/* The plain backend's RSA key came: the client's password goes to it encrypted. */
static void backend_key(ig_session *s, const uint8_t *p, uint32_t n)
{
	ig_handshake *hs = s->hs;
	char err[256];
	ig_buf enc = {0};
	if (n < 2 || p[0] != 0x01 ||
	    ig_auth_rsa_encrypt((const char *)p + 1, n - 1, ig_buf_head(&hs->secret), ig_buf_avail(&hs->secret),
	                        hs->scramble, hs->scramble_len, &enc, err, sizeof(err)) < 0) {
		clear_secret(hs);
		ig_buf_reset(&enc);
		ig_sess_fail(s, ig_hs_next_client_seq(s), ER_ACCESS_DENIED_ERROR,
		             "importgate: caching_sha2_password full authentication with backend %s failed: %s",
		             s->be->addr, n < 2 || p[0] != 0x01 ? "no public key received" : err);
		return;
	}
	clear_secret(hs);
	relay_to_backend(s, enc.data, enc.len);
	ig_buf_reset(&enc);
	hs->ab = AB_NONE;
}

/* One packet of the authentication exchange from the backend; true once authenticated. */
static bool auth_from_backend(ig_session *s, const uint8_t *p, uint32_t n)
{
	ig_handshake *hs = s->hs;
	if (n > 0 && p[0] == 0xfe && n > 1)
		auth_switch(hs, p, n);
	if (hs->ab == AB_WANT_BACKEND_KEY) {
		backend_key(s, p, n);
		return false;
	}
	if (n == 2 && p[0] == 0x01 && p[1] == 0x04 && strcmp(hs->auth_plugin, CACHING_SHA2) == 0) {
		bool ctls = s->client.tls != NULL, btls = s->backend.tls != NULL;
		if (ctls && !btls)
			hs->ab = AB_WANT_CLEAR_PW;
		else if (!ctls && btls)
			hs->ab = atomic_load(&ig_rt.rsa) ? AB_WANT_CLIENT_RSA : AB_NONE;
	}
	relay_to_client(s, p, n);
	if (n > 0 && p[0] == 0x00)
		return true;
	if (n > 0 && p[0] == 0xff) {
		my_err e;
		if (my_err_parse(p, n, &e) == 0)
			LOG_INFO(s->id, "authentication of '%s' refused by backend: %u %.*s", s->user, e.code,
			         (int)e.msg_len, e.msg);
		ig_sess_close_when_flushed(s);
	}
	return false;
}

/* The plain client asks for the gateway's key, or sends its password encrypted with it. */
static void client_rsa(ig_session *s, const uint8_t *p, uint32_t n)
{
	ig_handshake *hs = s->hs;
	const ig_rsa_key *key = atomic_load(&ig_rt.rsa); /* set: AB_WANT_CLIENT_RSA needs it */
	char err[256];
	if (n == 1 && p[0] == 0x02) {
		ig_buf k = {0};
		uint8_t one = 0x01;
		if (ig_buf_append(&k, &one, 1) < 0 || ig_buf_append(&k, key->pem, key->pem_len) < 0) {
			ig_buf_reset(&k);
			ig_sess_close(s, "out of memory");
			return;
		}
		relay_to_client(s, k.data, k.len);
		ig_buf_reset(&k);
		return;
	}
	if (ig_auth_rsa_decrypt(key->key, p, n, hs->scramble, hs->scramble_len, &hs->secret, err, sizeof(err)) < 0) {
		clear_secret(hs);
		ig_sess_fail(s, ig_hs_next_client_seq(s), ER_ACCESS_DENIED_ERROR,
		             "importgate: %s (the client must use the public key the gateway sends)", err);
		return;
	}
	/* Over the backend's TLS the password goes in clear, NUL-terminated as sent. */
	relay_to_backend(s, ig_buf_head(&hs->secret), ig_buf_avail(&hs->secret));
	clear_secret(hs);
	hs->ab = AB_NONE;
}

/* One packet of the authentication exchange from the client. */
static void auth_from_client(ig_session *s, const uint8_t *p, uint32_t n)
{
	ig_handshake *hs = s->hs;
	if (hs->ab == AB_WANT_CLEAR_PW) {
		/* Clear password over client TLS; the plain backend needs it RSA-encrypted. */
		size_t len = n > 0 && p[n - 1] == 0 ? n - 1 : n;
		if (ig_buf_append(&hs->secret, p, len) < 0) {
			ig_sess_close(s, "out of memory");
			return;
		}
		uint8_t want_key = 0x02;
		relay_to_backend(s, &want_key, 1);
		hs->ab = AB_WANT_BACKEND_KEY;
	} else if (hs->ab == AB_WANT_CLIENT_RSA) {
		client_rsa(s, p, n);
	} else {
		relay_to_backend(s, p, n);
	}
}

/*
 * Compression starts after the OK that ends authentication, in both directions (TiDB
 * pkg/server/conn.go handshake at 000172f4: the OK is written and flushed, then the
 * compressed reader and writer are set; zlib when the client set both flags). Each leg has
 * its own algorithm (backend_compression), frames and ids. The OK itself was queued before,
 * uncompressed.
 */
static const char *zalg_name(ig_zalg a) { return a == IG_Z_ZLIB ? "zlib" : a == IG_Z_ZSTD ? "zstd" : "none"; }

static int start_compression(ig_session *s)
{
	ig_handshake *hs = s->hs;
	if (hs->zclient == IG_Z_NONE && hs->zbackend == IG_Z_NONE)
		return 0;
	LOG_DEBUG(s->id, "compressed protocol: client leg %s, backend leg %s", zalg_name(hs->zclient),
	          zalg_name(hs->zbackend));
	if (hs->zclient != IG_Z_NONE && ig_conn_start_compression(&s->client, hs->zclient, hs->zstd_level, false) < 0)
		return -1;
	if (hs->zbackend != IG_Z_NONE &&
	    ig_conn_start_compression(&s->backend, hs->zbackend, backend_zstd_level(s), true) < 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ packets */

ig_pkt_verdict ig_hs_backend_packet(ig_session *s, const ig_packet *pk)
{
	if (s->closing || (s->state != SS_BACKEND_GREETING && s->state != SS_AUTH) ||
	    (s->state == SS_BACKEND_GREETING && s->close_after_flush))
		return IG_PKT_WAIT;
	if (pk->len > IG_HS_PKT_MAX) {
		if (s->state == SS_BACKEND_GREETING)
			ig_sess_fail(s, 0, ER_UNKNOWN_ERROR, "importgate: backend %s sent an oversized greeting", s->be->addr);
		else
			ig_sess_fail(s, ig_hs_next_client_seq(s), ER_UNKNOWN_ERROR,
			             "importgate: oversized authentication packet from backend");
		return IG_PKT_DISCARD;
	}
	if (!ig_packet_whole(pk))
		return IG_PKT_WAIT;
	if (s->state == SS_BACKEND_GREETING) {
		backend_greeting(s, pk->data, pk->len, pk->seq);
		return IG_PKT_TAKEN;
	}
	s->hs->seq_b = pk->seq;
	if (auth_from_backend(s, pk->data, pk->len)) {
		if (start_compression(s) < 0) {
			ig_sess_close(s, "cannot start compression");
			return IG_PKT_TAKEN;
		}
		ig_sess_enter_command_phase(s);
	}
	return IG_PKT_TAKEN;
}

ig_pkt_verdict ig_hs_client_packet(ig_session *s, const ig_packet *pk)
{
	bool auth = s->state == SS_AUTH;
	if (s->closing || (s->state != SS_CLIENT_HELLO && !auth) || s->close_after_flush)
		return IG_PKT_WAIT;
	if (pk->len > IG_HS_PKT_MAX) {
		if (auth)
			ig_sess_fail(s, ig_hs_next_client_seq(s), ER_HANDSHAKE_ERROR, "importgate: oversized authentication packet");
		else
			ig_sess_fail(s, 2, ER_HANDSHAKE_ERROR, "importgate: handshake packet too large");
		return IG_PKT_DISCARD;
	}
	if (!ig_packet_whole(pk))
		return IG_PKT_WAIT;
	if (!auth) {
		client_hello(s, pk->data, pk->len, pk->seq);
		return IG_PKT_TAKEN;
	}
	if (pk->seq != (uint8_t)(s->hs->seq_c + 1)) {
		ig_sess_fail(s, (uint8_t)(pk->seq + 1), ER_HANDSHAKE_ERROR, "importgate: authentication packets out of order");
		return IG_PKT_DISCARD;
	}
	s->hs->seq_c = pk->seq;
	auth_from_client(s, pk->data, pk->len);
	return IG_PKT_TAKEN;
}
