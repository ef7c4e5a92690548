/*
 * runtime.c - the process-wide state (see runtime.h) and the configuration in force.
 * A configuration is immutable and reference-counted (ig_config_ref/unref). Sessions,
 * decisions and the obligations thread hold a reference to the one they started with; a
 * reload swaps in a new one and the old is freed with its last reference, so a reload
 * never changes the rules under a decision already being made.
 */
#include "proxy/runtime.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/auth.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/tls.h"

ig_runtime ig_rt;

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;

int ig_tls_contexts_build(const ig_config *cfg, SSL_CTX **client, SSL_CTX **backend, char *err,
                          size_t errlen)
{
	*client = *backend = NULL;
	if (cfg->client_tls.files.cert || cfg->client_tls.files.key) {
		if (!(*client = ig_tls_server_ctx(&cfg->client_tls.files, err, errlen)))
			return -1;
	} else if (cfg->client_tls.require) {
		snprintf(err, errlen, "client_tls.require is set but client_tls has no cert and key");
		return -1;
	}
	if (cfg->backends.tls.mode != IG_BTLS_OFF &&
	    !(*backend = ig_tls_client_ctx(cfg->backends.tls.mode, &cfg->backends.tls.files, err, errlen))) {
		SSL_CTX_free(*client);
		*client = NULL;
		return -1;
	}
	return 0;
}

void ig_tls_contexts_install(SSL_CTX *client, SSL_CTX *backend)
{
	pthread_mutex_lock(&tls_lock);
	SSL_CTX *oc = ig_rt.client_ctx, *ob = ig_rt.backend_ctx;
	ig_rt.client_ctx = client;
	ig_rt.backend_ctx = backend;
	pthread_mutex_unlock(&tls_lock);
	SSL_CTX_free(oc); /* sessions still using them hold their own references */
	SSL_CTX_free(ob);
}

int ig_rsa_key_ensure(const ig_config *cfg, char *err, size_t errlen)
{
	if (cfg->backends.tls.mode == IG_BTLS_OFF || atomic_load(&ig_rt.rsa))
		return 0;
	ig_rsa_key *k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!(k->key = ig_auth_keygen(err, errlen)) || !(k->pem = ig_auth_pubkey_pem(k->key, &k->pem_len))) {
		if (k->key && !k->pem)
			snprintf(err, errlen, "RSA public key: out of memory");
		EVP_PKEY_free(k->key);
		free(k);
		return -1;
	}
	atomic_store(&ig_rt.rsa, k);
	return 0;
}

void ig_rsa_key_free(void)
{
	ig_rsa_key *k = atomic_exchange(&ig_rt.rsa, NULL);
	if (!k)
		return;
	EVP_PKEY_free(k->key);
	free(k->pem);
	free(k);
}

void ig_tls_contexts_get(SSL_CTX **client, SSL_CTX **backend)
{
	pthread_mutex_lock(&tls_lock);
	*client = ig_rt.client_ctx;
	*backend = ig_rt.backend_ctx;
	if (*client)
		SSL_CTX_up_ref(*client);
	if (*backend)
		SSL_CTX_up_ref(*backend);
	pthread_mutex_unlock(&tls_lock);
}

/* The new configuration becomes current; it comes with the reference that "current" holds.
 * Its log level and format apply from here on (at start and at each reload). */
void ig_cfg_install(ig_config *cfg)
{
	ig_log_configure(cfg);
	pthread_mutex_lock(&cfg_lock);
	ig_config *old = ig_rt.cfg;
	ig_rt.cfg = cfg;
	pthread_mutex_unlock(&cfg_lock);
	ig_config_unref(old);
}

ig_config *ig_cfg_acquire(void)
{
	pthread_mutex_lock(&cfg_lock);
	ig_config *cfg = ig_config_ref(ig_rt.cfg);
	pthread_mutex_unlock(&cfg_lock);
	return cfg;
}

/* A configuration no longer current and no longer used is freed with its last reference. */
void ig_cfg_release(ig_config *cfg)
{
	ig_config_unref(cfg);
}

/* New connections go to the new set; sessions keep theirs. backend_up follows the set. */
static void install_backends(ig_backend_set *set)
{
	char err[256];
	const char **addrs = calloc(set->n ? set->n : 1, sizeof(char *));
	for (size_t i = 0; addrs && i < set->n; i++)
		addrs[i] = set->v[i]->addr;
	if (!addrs || ig_metrics_backends_replace(addrs, set->n, err, sizeof(err)) < 0)
		LOG_WARN(0, "reload: backend_up metrics not updated (%s)", addrs ? err : "out of memory");
	free(addrs);
	for (size_t i = 0; i < set->n; i++)
		ig_metric_backend_up_addr(set->v[i]->addr, atomic_load(&set->v[i]->healthy));
	ig_backends_install(set);
}

/* Keys read once at start that the reload changed: listed in `restart` ("" when none) and
 * logged, since they keep their old values until a restart. */
static void note_restart_keys(const ig_config *o, const ig_config *n, char *restart, size_t restartlen)
{
	const char *keys[32];
	size_t k = ig_config_restart_changes(o, n, keys, sizeof(keys) / sizeof(keys[0])), used = 0;
	restart[0] = '\0';
	for (size_t i = 0; i < k && i < sizeof(keys) / sizeof(keys[0]); i++) {
		int w = snprintf(restart + used, restartlen - used, "%s%s", i ? ", " : "", keys[i]);
		if (w < 0 || (size_t)w >= restartlen - used)
			break;
		used += (size_t)w;
	}
	if (k)
		LOG_WARN(0, "reload: %s changed; the running values stay until a restart", restart);
}

int ig_cfg_reload(char *restart, size_t restartlen, char *err, size_t errlen)
{
	restart[0] = '\0';
	ig_config *fresh;
	ig_config *old = ig_cfg_acquire();
	SSL_CTX *client, *backend;
	int rc = ig_config_load(old->path, &fresh, err, errlen);
	if (rc < 0) {
		ig_cfg_release(old);
		return -1;
	}
	/* Certificates and backend names are read now: a bad one refuses the whole reload. */
	ig_backend_set *set = NULL;
	if (ig_rsa_key_ensure(fresh, err, errlen) < 0 ||
	    ig_tls_contexts_build(fresh, &client, &backend, err, errlen) < 0) {
		ig_config_unref(fresh);
		ig_cfg_release(old);
		return -1;
	}
	if (ig_backends_build(fresh, &set, err, errlen) < 0) {
		SSL_CTX_free(client);
		SSL_CTX_free(backend);
		ig_config_unref(fresh);
		ig_cfg_release(old);
		return -1;
	}
	note_restart_keys(old, fresh, restart, restartlen);
	ig_tls_contexts_install(client, backend);
	install_backends(set);
	ig_cfg_install(fresh); /* drops the "current" reference of the old one */
	ig_cfg_release(old);   /* ours */
	return 0;
}
