/*
 * tls.c - OpenSSL over memory BIOs (see tls.h). TLS 1.2 is the floor on both legs.
 * SSL_MODE_RELEASE_BUFFERS gives an idle TLS connection's record buffers back.
 */
#include "proxy/tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "proxy/credentials.h"

static void ssl_reason(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "unknown error";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, buf);
	ERR_clear_error();
}

static SSL_CTX *ctx_common(const SSL_METHOD *m, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(m);
	if (!ctx) {
		ssl_reason(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	return ctx;
}

/* f with "credential:NAME" paths resolved (credentials.h) into bufs; -1 + err. */
static int resolve_files(const ig_tls_files *f, ig_tls_files *r, char bufs[3][4096], char *err, size_t errlen)
{
	char *const in[3] = {f->ca, f->cert, f->key};
	char **out[3] = {&r->ca, &r->cert, &r->key};
	for (int i = 0; i < 3; i++) {
		*out[i] = NULL;
		if (in[i] && !(*out[i] = (char *)ig_cred_path(in[i], bufs[i], sizeof(bufs[i]), err, errlen)))
			return -1;
	}
	return 0;
}

static int load_cert_key(SSL_CTX *ctx, const ig_tls_files *f, char *err, size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
		ssl_reason(err, errlen, f->cert);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1) {
		ssl_reason(err, errlen, f->key);
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_reason(err, errlen, "certificate and key do not match");
		return -1;
	}
	return 0;
}

SSL_CTX *ig_tls_server_ctx(const ig_tls_files *configured, char *err, size_t errlen)
{
	char bufs[3][4096];
	ig_tls_files files, *f = &files;
	if (resolve_files(configured, &files, bufs, err, errlen) < 0)
		return NULL;
	SSL_CTX *ctx = ctx_common(TLS_server_method(), err, errlen);
	if (!ctx)
		return NULL;
	if (!f->cert || !f->key) {
		snprintf(err, errlen, "client_tls needs both cert and key");
		goto fail;
	}
	if (load_cert_key(ctx, f, err, errlen) < 0)
		goto fail;
	if (f->ca) {
		if (SSL_CTX_load_verify_locations(ctx, f->ca, NULL) != 1) {
			ssl_reason(err, errlen, f->ca);
			goto fail;
		}
		/* A client certificate is checked when offered; not demanded. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *ig_tls_client_ctx(ig_backend_tls_mode mode, const ig_tls_files *configured, char *err, size_t errlen)
{
	char bufs[3][4096];
	ig_tls_files files, *f = &files;
	if (resolve_files(configured, &files, bufs, err, errlen) < 0)
		return NULL;
	SSL_CTX *ctx = ctx_common(TLS_client_method(), err, errlen);
	if (!ctx)
		return NULL;
	if (mode == IG_BTLS_VERIFY) {
		int ok = f->ca ? SSL_CTX_load_verify_locations(ctx, f->ca, NULL)
		               : SSL_CTX_set_default_verify_paths(ctx);
		if (ok != 1) {
			ssl_reason(err, errlen, f->ca ? f->ca : "system CA store");
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (f->cert || f->key) {
		if (!f->cert || !f->key) {
			snprintf(err, errlen, "backend TLS client certificate needs both cert and key");
			goto fail;
		}
		if (load_cert_key(ctx, f, err, errlen) < 0)
			goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * Name checks: IP address literals against IP SANs, names against DNS SANs (and sent as SNI).
 * A name written with its root dot ("tidb.example.", as Kubernetes configurations do to skip
 * the search domains) is the same name without it: an SNI may not end with one (RFC 6066
 * section 3; Go's crypto/tls, TiDB's, refuses that ClientHello) and OpenSSL's host check
 * would compare it as written, against certificates that name the host without it. A name
 * that cannot be set leaves no check: -1.
 */
static int set_peer(SSL *ssl, const char *peer_host)
{
	char name[256];
	size_t n = strlen(peer_host);

	if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), peer_host) == 1)
		return 0;
	if (n > 1 && peer_host[n - 1] == '.')
		n--;
	if (n >= sizeof(name))
		return -1;
	memcpy(name, peer_host, n);
	name[n] = '\0';
	return SSL_set_tlsext_host_name(ssl, name) == 1 && SSL_set1_host(ssl, name) == 1 ? 0 : -1;
}

int ig_tls_init(ig_tls *t, SSL_CTX *ctx, bool server, const char *peer_host)
{
	memset(t, 0, sizeof(*t));
	t->ssl = SSL_new(ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio) {
		SSL_free(t->ssl);
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		memset(t, 0, sizeof(*t));
		return -1;
	}
	/* An empty memory BIO means "wait for more", not end of file. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	if (server) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (peer_host && *peer_host && set_peer(t->ssl, peer_host) < 0) {
			ig_tls_free(t);
			return -1;
		}
	}
	return 0;
}

void ig_tls_free(ig_tls *t)
{
	if (t->ssl)
		SSL_free(t->ssl); /* frees both BIOs */
	memset(t, 0, sizeof(*t));
}

int ig_tls_feed(ig_tls *t, const uint8_t *p, size_t n)
{
	while (n > 0) {
		int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
		int w = BIO_write(t->rbio, p, chunk);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int ig_tls_handshake(ig_tls *t, char *err, size_t errlen)
{
	int rc = SSL_do_handshake(t->ssl);
	if (rc == 1) {
		t->done = true;
		return 1;
	}
	int e = SSL_get_error(t->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (e == SSL_ERROR_SSL) {
		long v = SSL_get_verify_result(t->ssl);
		if (v != X509_V_OK) {
			snprintf(err, errlen, "TLS handshake failed: certificate verify: %s",
			         X509_verify_cert_error_string(v));
			ERR_clear_error();
			return -1;
		}
	}
	ssl_reason(err, errlen, "TLS handshake failed");
	return -1;
}

ssize_t ig_tls_read(ig_tls *t, uint8_t *out, size_t cap)
{
	int n = SSL_read(t->ssl, out, cap > (1u << 30) ? (1 << 30) : (int)cap);
	if (n > 0)
		return n;
	int e = SSL_get_error(t->ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	ERR_clear_error();
	return -1;
}

int ig_tls_write(ig_tls *t, const void *p, size_t n)
{
	const uint8_t *q = p;
	while (n > 0) {
		int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
		int w = SSL_write(t->ssl, q, chunk);
		if (w <= 0) {
			ERR_clear_error();
			return -1;
		}
		q += w;
		n -= (size_t)w;
	}
	return 0;
}

int ig_tls_drain(ig_tls *t, ig_buf *out)
{
	size_t pending;
	while ((pending = BIO_ctrl_pending(t->wbio)) > 0) {
		if (ig_buf_reserve(out, pending) < 0)
			return -1;
		int r = BIO_read(t->wbio, out->data + out->len, (int)pending);
		if (r <= 0)
			return -1;
		out->len += (size_t)r;
	}
	return 0;
}

const char *ig_tls_version(const ig_tls *t)
{
	return t->ssl ? SSL_get_version(t->ssl) : "none";
}
