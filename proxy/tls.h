/*
 * tls.h - TLS on a libuv stream with OpenSSL memory BIOs: ciphertext read from the
 * socket is fed in, plaintext comes out; plaintext written goes in, ciphertext is
 * drained into the connection's write queue. No socket is touched here.
 */
#ifndef IMPORTGATE_TLS_H
#define IMPORTGATE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "policy/config.h"
#include "proxy/buf.h"

typedef struct ig_tls {
	SSL *ssl;
	BIO *rbio; /* ciphertext from the peer */
	BIO *wbio; /* ciphertext for the peer */
	bool done; /* handshake finished */
} ig_tls;

/* Server side, for clients: cert and key required, CA optional (client certs). */
SSL_CTX *ig_tls_server_ctx(const ig_tls_files *f, char *err, size_t errlen);
/* Client side, for backends: verify with CA (or system store) / insecure; cert+key optional. */
SSL_CTX *ig_tls_client_ctx(ig_backend_tls_mode mode, const ig_tls_files *f, char *err, size_t errlen);

int ig_tls_init(ig_tls *t, SSL_CTX *ctx, bool server, const char *peer_host);
void ig_tls_free(ig_tls *t);
int ig_tls_feed(ig_tls *t, const uint8_t *p, size_t n);
/* 1 = handshake done, 0 = needs more from the peer, -1 = failed (reason in err). */
int ig_tls_handshake(ig_tls *t, char *err, size_t errlen);
/* >0 plaintext bytes, 0 = nothing yet, -1 = closed or failed. */
ssize_t ig_tls_read(ig_tls *t, uint8_t *out, size_t cap);
int ig_tls_write(ig_tls *t, const void *p, size_t n);
int ig_tls_drain(ig_tls *t, ig_buf *out);
const char *ig_tls_version(const ig_tls *t);

#endif
