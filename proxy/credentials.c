/*
 * credentials.c - secret files and systemd credentials (see credentials.h).
 */
#include "proxy/credentials.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ig_cred_path(const char *configured, char *buf, size_t cap, char *err, size_t errlen)
{
	size_t plen = strlen(IG_CRED_PREFIX);
	if (!configured || strncmp(configured, IG_CRED_PREFIX, plen) != 0)
		return configured;
	const char *name = configured + plen;
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		snprintf(err, errlen, "%s: a credential name is one file name", configured);
		return NULL;
	}
	if (!dir || !*dir) {
		snprintf(err, errlen, "%s: $CREDENTIALS_DIRECTORY is not set (LoadCredential=%s:... in the unit)",
		         configured, name);
		return NULL;
	}
	int n = snprintf(buf, cap, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, errlen, "%s: path too long", configured);
		return NULL;
	}
	return buf;
}

/* key: one configured path; readable and, for a token or a password, not empty. */
static int check_file(const char *key, const char *configured, bool need_content, char *err, size_t errlen)
{
	char buf[4096], why[512];
	if (!configured || !*configured)
		return 0;
	const char *path = ig_cred_path(configured, buf, sizeof(buf), why, sizeof(why));
	if (!path) {
		snprintf(err, errlen, "%s: %s", key, why);
		return -1;
	}
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: %s: %s", key, path, strerror(errno));
		return -1;
	}
	char c;
	size_t n = fread(&c, 1, 1, f);
	bool bad = ferror(f);
	int e = errno;
	fclose(f);
	if (bad || (need_content && n == 0)) {
		snprintf(err, errlen, "%s: %s: %s", key, path, bad ? strerror(e) : "empty");
		return -1;
	}
	return 0;
}

static int check_tls(const char *key, const ig_tls_files *t, char *err, size_t errlen)
{
	char k[128];
	const char *names[] = {"ca", "cert", "key"};
	const char *paths[] = {t->ca, t->cert, t->key};
	for (int i = 0; i < 3; i++) {
		snprintf(k, sizeof(k), "%s.%s", key, names[i]);
		if (check_file(k, paths[i], true, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int ig_secrets_check(const ig_config *cfg, char *err, size_t errlen)
{
	const ig_tls_files *pd = &cfg->cluster.tls;
	const char *pdf[] = {pd->ca, pd->cert, pd->key};
	for (int i = 0; i < 3; i++) {
		if (pdf[i] && strncmp(pdf[i], IG_CRED_PREFIX, strlen(IG_CRED_PREFIX)) == 0) {
			snprintf(err, errlen, "cluster.tls: %s: a credential: name is not supported here, "
			         "give the file's path", pdf[i]);
			return -1;
		}
	}
	if (check_file("admin.token_file", cfg->admin.token_file, true, err, errlen) < 0 ||
	    check_file("obligations.service.password_file", cfg->obligations.service.password_file, false, err,
	               errlen) < 0 ||
	    check_file("obligations.downstream.password_file", cfg->obligations.downstream.password_file, false,
	               err, errlen) < 0 ||
	    check_tls("client_tls", &cfg->client_tls.files, err, errlen) < 0 ||
	    check_tls("backends.tls", &cfg->backends.tls.files, err, errlen) < 0 ||
	    check_tls("obligations.service.tls", &cfg->obligations.service.tls.files, err, errlen) < 0 ||
	    check_tls("cluster.tls", &cfg->cluster.tls, err, errlen) < 0)
		return -1;
	return 0;
}
