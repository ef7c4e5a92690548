/*
 * test_tls.c - the identity a client TLS leg is started with (proxy/tls.c ig_tls_init): what
 * it sends as SNI and what the certificate will be checked against.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proxy/tls.h"

static SSL_CTX *ctx;

static int setup(void **st)
{
	(void)st;
	ctx = SSL_CTX_new(TLS_client_method());
	return ctx ? 0 : -1;
}

static int teardown(void **st)
{
	(void)st;
	SSL_CTX_free(ctx);
	return 0;
}

static void test_name_is_sni_and_checked(void **st)
{
	(void)st;
	ig_tls t;
	assert_int_equal(ig_tls_init(&t, ctx, false, "tidb.example"), 0);
	assert_string_equal(SSL_get_servername(t.ssl, TLSEXT_NAMETYPE_host_name), "tidb.example");
	assert_string_equal(X509_VERIFY_PARAM_get0_host(SSL_get0_param(t.ssl), 0), "tidb.example");
	ig_tls_free(&t);
}

/* An IP literal is no SNI (RFC 6066 section 3) and is checked against IP addresses. */
static void test_ip_literal_no_sni(void **st)
{
	(void)st;
	const char *ips[] = {"127.0.0.1", "::1"};
	for (size_t i = 0; i < 2; i++) {
		ig_tls t;
		assert_int_equal(ig_tls_init(&t, ctx, false, ips[i]), 0);
		assert_null(SSL_get_servername(t.ssl, TLSEXT_NAMETYPE_host_name));
		assert_null(X509_VERIFY_PARAM_get0_host(SSL_get0_param(t.ssl), 0));
		ig_tls_free(&t);
	}
}

/*
 * A fully qualified name written with its root dot ("tidb.example.", common in Kubernetes to
 * skip the search domains) is the same name: no SNI may end with a dot (RFC 6066 section 3;
 * Go's crypto/tls, so TiDB, refuses such a ClientHello), and a certificate names it without
 * the dot (OpenSSL's host check does not drop it).
 */
static void test_root_dot_dropped(void **st)
{
	(void)st;
	ig_tls t;
	assert_int_equal(ig_tls_init(&t, ctx, false, "tidb.example."), 0);
	assert_string_equal(SSL_get_servername(t.ssl, TLSEXT_NAMETYPE_host_name), "tidb.example");
	assert_string_equal(X509_VERIFY_PARAM_get0_host(SSL_get0_param(t.ssl), 0), "tidb.example");
	ig_tls_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_is_sni_and_checked),
		cmocka_unit_test(test_ip_literal_no_sni),
		cmocka_unit_test(test_root_dot_dropped),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
