/*
 * runtime.h - what every worker thread shares: the loaded config, TLS contexts, the
 * backends with their connection counts, and process-wide counters. Read-mostly; the
 * counters are atomics.
 */
#ifndef IMPORTGATE_RUNTIME_H
#define IMPORTGATE_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "policy/config.h"

typedef struct ig_backend {
	char *host;             /* resolved address */
	char *name;             /* host as configured: the identity its TLS certificate must name */
	int port;
	char addr[80];          /* "name:port" as configured, for messages and metrics */
	char server[80];        /* "host:port" resolved: the server itself, whatever name reached
	                         * it (the key its connection ids are listed under: connids.c) */
	atomic_int conns;       /* open connections to it */
	atomic_bool healthy;
	atomic_bool probing;    /* a health probe is in flight */
} ig_backend;

/* The backends in force: a reference-counted set (see backend.c). */
typedef struct ig_backend_set {
	ig_backend **v;
	size_t n;
	atomic_int refs;
} ig_backend_set;

/* The gateway's RSA key pair, for caching_sha2 full authentication of plain-text clients of
 * TLS backends (the client encrypts its password with the public key; handshake.c). */
typedef struct ig_rsa_key {
	EVP_PKEY *key;
	char *pem;              /* the public key, PEM, as sent to clients */
	size_t pem_len;
} ig_rsa_key;

typedef struct ig_runtime {
	ig_config *cfg;
	SSL_CTX *client_ctx;    /* TLS offered to clients (NULL = none): read under the TLS lock */
	SSL_CTX *backend_ctx;   /* TLS to backends (NULL = plain): read under the TLS lock */
	_Atomic(ig_rsa_key *) rsa; /* NULL until backend TLS is first configured (ig_rsa_key_ensure) */
	atomic_uint_fast64_t next_conn_id;
	atomic_int conns;       /* client connections open, all workers */
	atomic_bool stopping;
} ig_runtime;

extern ig_runtime ig_rt;

/* The configuration in force: install at start; acquire/release around any use that may
 * outlive a reload (a session, a decision); reload from the same file (0, or -1 + reason:
 * the running configuration is kept). ig_rt.cfg is the current one, for the main thread. */
void ig_cfg_install(ig_config *cfg);
ig_config *ig_cfg_acquire(void);
void ig_cfg_release(ig_config *cfg);
/* restart gets the keys read only at start that the new file changes ("" when none). */
int ig_cfg_reload(char *restart, size_t restartlen, char *err, size_t errlen);

/*
 * TLS contexts in force. A reload builds new ones from the new config (bad certificates
 * refuse the reload) and installs them with it; a session takes a reference to both when
 * it starts and keeps them (OpenSSL's own reference counts) whatever reloads happen.
 */
int ig_tls_contexts_build(const ig_config *cfg, SSL_CTX **client, SSL_CTX **backend, char *err,
                          size_t errlen);
void ig_tls_contexts_install(SSL_CTX *client, SSL_CTX *backend); /* takes them; frees the old */
void ig_tls_contexts_get(SSL_CTX **client, SSL_CTX **backend);   /* references: SSL_CTX_free */

/*
 * The RSA key is made the first time a configuration with backend TLS is loaded, at start or
 * by a reload (before the backend TLS context is installed, so any session on a TLS backend
 * finds it), and kept until ig_rsa_key_free at the stop. A gateway whose backends are plain
 * never makes one: a 2048-bit key costs about 0.1 s of CPU, several times that under ASan,
 * and every start paid it. 0, or -1 + err (the start or the reload fails). Called from one
 * thread at a time (the start, then reloads under the reload lock).
 */
int ig_rsa_key_ensure(const ig_config *cfg, char *err, size_t errlen);
void ig_rsa_key_free(void);

/* The server version of the last backend greeting seen ("" before any): for explain. */
void ig_backend_note_version(const char *v);
void ig_backend_last_version(char *out, size_t cap);
/* What the last probe's server said of itself (@@version, TIDB_VERSION() or NULL): explain
 * and coverage read it as the live path reads its probe's answer (docs/TIDB_VERSIONS.md,
 * "Which TiDB answers"). ig_backend_last_said: false before any probe, and then out strings
 * are ""; info "" when the probe did not ask TIDB_VERSION() or its text did not fit. */
void ig_backend_note_said(const char *version, const char *info);
bool ig_backend_last_said(char *version, size_t vcap, char *info, size_t icap);

/* Resolves cfg's backends into a new set (blocking: names are looked up); -1 + err. */
int ig_backends_build(const ig_config *cfg, ig_backend_set **out, char *err, size_t errlen);
void ig_backends_install(ig_backend_set *s);  /* takes it; the old set goes with its last user */
ig_backend_set *ig_backends_acquire(void);    /* the current set, with a reference */
void ig_backends_release(ig_backend_set *s);
void ig_backends_free_all(void);              /* at exit */
/* Least connections among s's healthy backends; when every backend is marked down, least
 * connections among all of them (*down set): a health check that has not yet seen a backend
 * come back must not refuse clients it would serve. max_per_backend 0 = no limit; *full says a
 * backend was skipped for its limit. NULL when none can take it. Counts the new connection. */
ig_backend *ig_backend_pick(const ig_backend_set *s, int max_per_backend, bool *full, bool *down);
void ig_backend_release(ig_backend *b);
/* Records what a health probe or a real connection learnt of b (logs the change, sets
 * importgate_backend_up). Any thread. */
void ig_backend_set_health(ig_backend *b, bool ok, const char *why);

#endif
