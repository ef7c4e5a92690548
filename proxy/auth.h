/*
 * auth.h - the part of authentication the gateway must do itself: caching_sha2_password
 * full authentication when the client leg and the backend leg differ in TLS. A client
 * sends its password in clear only over TLS, and a server accepts it in clear only over
 * TLS; otherwise the password travels RSA-OAEP encrypted (XORed with the scramble) under
 * the server's public key. The gateway bridges the two forms; it never logs or keeps
 * the password beyond the exchange.
 */
#ifndef IMPORTGATE_AUTH_H
#define IMPORTGATE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "proxy/buf.h"

/* The gateway's own RSA key, offered to plain-text clients of a TLS backend. */
EVP_PKEY *ig_auth_keygen(char *err, size_t errlen);
/* PEM of the public half, malloc'd. */
char *ig_auth_pubkey_pem(EVP_PKEY *key, size_t *len);

/* out = RSA-OAEP(pem, (password || NUL) XOR scramble). pw excludes the NUL. */
int ig_auth_rsa_encrypt(const char *pem, size_t pemlen, const uint8_t *pw, size_t pwlen,
                        const uint8_t *scramble, size_t slen, ig_buf *out, char *err, size_t errlen);
/* Inverse, with the gateway's key: out = password with its NUL. */
int ig_auth_rsa_decrypt(EVP_PKEY *key, const uint8_t *data, size_t len, const uint8_t *scramble,
                        size_t slen, ig_buf *out, char *err, size_t errlen);

#endif
