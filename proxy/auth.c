/*
 * auth.c - RSA legs of caching_sha2_password full authentication (see auth.h).
 */
#include "proxy/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

static int fail(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s%s%s", what, e ? ": " : "", buf);
	ERR_clear_error();
	return -1;
}

EVP_PKEY *ig_auth_keygen(char *err, size_t errlen)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	if (!k)
		fail(err, errlen, "RSA key generation");
	return k;
}

char *ig_auth_pubkey_pem(EVP_PKEY *key, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *p;
	if (!b)
		return NULL;
	if (PEM_write_bio_PUBKEY(b, key) == 1) {
		long n = BIO_get_mem_data(b, &p);
		out = malloc((size_t)n + 1);
		if (out) {
			memcpy(out, p, (size_t)n);
			out[n] = '\0';
			*len = (size_t)n;
		}
	}
	BIO_free(b);
	return out;
}

int ig_auth_rsa_encrypt(const char *pem, size_t pemlen, const uint8_t *pw, size_t pwlen,
                        const uint8_t *scramble, size_t slen, ig_buf *out, char *err, size_t errlen)
{
	int rc = -1;
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t *x = NULL;
	BIO *b = BIO_new_mem_buf(pem, (int)pemlen);
	if (!b || slen == 0)
		return fail(err, errlen, "public key");
	key = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	if (!key) {
		fail(err, errlen, "backend sent an unreadable public key");
		goto out;
	}
	x = malloc(pwlen + 1);
	if (!x) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(x, pw, pwlen);
	x[pwlen] = 0;
	for (size_t i = 0; i <= pwlen; i++)
		x[i] ^= scramble[i % slen];
	ctx = EVP_PKEY_CTX_new(key, NULL);
	size_t olen = 0;
	if (!ctx || EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_encrypt(ctx, NULL, &olen, x, pwlen + 1) <= 0 ||
	    ig_buf_reserve(out, olen) < 0 ||
	    EVP_PKEY_encrypt(ctx, out->data + out->len, &olen, x, pwlen + 1) <= 0) {
		fail(err, errlen, "RSA encryption of the password");
		goto out;
	}
	out->len += olen;
	rc = 0;
out:
	if (x) {
		OPENSSL_cleanse(x, pwlen + 1);
		free(x);
	}
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	BIO_free(b);
	return rc;
}

int ig_auth_rsa_decrypt(EVP_PKEY *key, const uint8_t *data, size_t len, const uint8_t *scramble,
                        size_t slen, ig_buf *out, char *err, size_t errlen)
{
	size_t olen = 0;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	if (slen == 0 || !ctx || EVP_PKEY_decrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_decrypt(ctx, NULL, &olen, data, len) <= 0 || ig_buf_reserve(out, olen) < 0 ||
	    EVP_PKEY_decrypt(ctx, out->data + out->len, &olen, data, len) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		return fail(err, errlen, "client's encrypted password could not be decrypted");
	}
	EVP_PKEY_CTX_free(ctx);
	uint8_t *p = out->data + out->len;
	for (size_t i = 0; i < olen; i++)
		p[i] ^= scramble[i % slen];
	out->len += olen;
	return 0;
}
