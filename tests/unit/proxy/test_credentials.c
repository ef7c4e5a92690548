/*
 * test_credentials.c - "credential:NAME" paths and the secrets check before listening
 * (proxy/credentials.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy/credentials.h"

static char dir[] = "/tmp/test_cred_XXXXXX";

static void put(const char *name, const char *content, mode_t mode)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	chmod(p, mode);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	put("admin-token", "s3cret\n", 0600);
	put("empty", "", 0600);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void paths(void **state)
{
	(void)state;
	char buf[512], err[256], want[512];
	assert_string_equal(ig_cred_path("/etc/x", buf, sizeof(buf), err, sizeof(err)), "/etc/x");
	assert_null(ig_cred_path(NULL, buf, sizeof(buf), err, sizeof(err)));
	snprintf(want, sizeof(want), "%s/admin-token", dir);
	assert_string_equal(ig_cred_path("credential:admin-token", buf, sizeof(buf), err, sizeof(err)), want);
	assert_null(ig_cred_path("credential:../etc/shadow", buf, sizeof(buf), err, sizeof(err)));
	assert_non_null(strstr(err, "one file name"));
	assert_null(ig_cred_path("credential:", buf, sizeof(buf), err, sizeof(err)));
	assert_null(ig_cred_path("credential:..", buf, sizeof(buf), err, sizeof(err)));
	assert_null(ig_cred_path("credential:admin-token", buf, 8, err, sizeof(err)));
	assert_non_null(strstr(err, "too long"));
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_null(ig_cred_path("credential:admin-token", buf, sizeof(buf), err, sizeof(err)));
	assert_non_null(strstr(err, "LoadCredential=admin-token"));
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
}

static void secrets(void **state)
{
	(void)state;
	char err[512];
	ig_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(ig_secrets_check(&cfg, err, sizeof(err)), 0);

	cfg.admin.token_file = "credential:admin-token";
	assert_int_equal(ig_secrets_check(&cfg, err, sizeof(err)), 0);
	cfg.admin.token_file = "credential:missing";
	assert_int_equal(ig_secrets_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "admin.token_file: "));
	assert_non_null(strstr(err, "No such file"));
	cfg.admin.token_file = "credential:empty";
	assert_int_equal(ig_secrets_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty"));
	cfg.admin.token_file = NULL;

	/* an empty password is a password; a missing file is not */
	cfg.obligations.service.password_file = "credential:empty";
	assert_int_equal(ig_secrets_check(&cfg, err, sizeof(err)), 0);
	cfg.obligations.downstream.password_file = "/nonexistent/pw";
	assert_int_equal(ig_secrets_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "obligations.downstream.password_file: /nonexistent/pw"));
	cfg.obligations.downstream.password_file = NULL;

	cfg.client_tls.files.key = "credential:nokey";
	assert_int_equal(ig_secrets_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "client_tls.key: "));
	cfg.client_tls.files.key = NULL;

	cfg.cluster.tls.ca = "credential:admin-token";
	assert_int_equal(ig_secrets_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cluster.tls"));
	cfg.cluster.tls.ca = NULL;

	/* unreadable for this user (root reads everything: only checked when not root) */
	if (geteuid() != 0) {
		put("locked", "x", 0000);
		cfg.admin.token_file = "credential:locked";
		assert_int_equal(ig_secrets_check(&cfg, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "Permission denied"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(paths), cmocka_unit_test(secrets)};
	return cmocka_run_group_tests(tests, setup, teardown);
}
