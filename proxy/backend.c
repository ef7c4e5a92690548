/*
 * backend.c - the backends (TiDB servers) and the choice of one for a new connection:
 * least connections among the healthy ones, ties broken round-robin; when all are marked
 * down, among all of them (a real connection that gets a greeting marks its backend up).
 *
 * The list is a reference-counted set: a reload installs a new set, and a session keeps the
 * set it picked from until it ends, so a reload never pulls a backend from under a
 * connection. Connection counts and health belong to the address (one record per
 * host:port for the life of the process), so they carry over from one set to the next.
 */
#include "proxy/runtime.h"

#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/log.h"
#include "proxy/metrics.h"

static pthread_mutex_t version_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_version[128];

void ig_backend_note_version(const char *v)
{
	pthread_mutex_lock(&version_lock);
	if (strcmp(last_version, v) != 0)
		snprintf(last_version, sizeof(last_version), "%s", v);
	pthread_mutex_unlock(&version_lock);
}

void ig_backend_last_version(char *out, size_t cap)
{
	pthread_mutex_lock(&version_lock);
	snprintf(out, cap, "%s", last_version);
	pthread_mutex_unlock(&version_lock);
}

/* TIDB_VERSION()'s text is about 400 bytes; a longer one is not kept (cut, it could lose its
 * last line, "Kernel Type"), and the readers then have @@version alone. */
static char said_version[128], said_info[2048];
static bool have_said;

void ig_backend_note_said(const char *version, const char *info)
{
	pthread_mutex_lock(&version_lock);
	snprintf(said_version, sizeof(said_version), "%s", version ? version : "");
	if (info && strlen(info) < sizeof(said_info))
		snprintf(said_info, sizeof(said_info), "%s", info);
	else
		said_info[0] = '\0';
	have_said = true;
	pthread_mutex_unlock(&version_lock);
}

bool ig_backend_last_said(char *version, size_t vcap, char *info, size_t icap)
{
	pthread_mutex_lock(&version_lock);
	bool have = have_said;
	snprintf(version, vcap, "%s", have ? said_version : "");
	snprintf(info, icap, "%s", have ? said_info : "");
	pthread_mutex_unlock(&version_lock);
	return have;
}

/* ---- per-address records, kept for the life of the process ---- */

static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;
static ig_backend **known;  /* every backend address ever configured */
static size_t nknown;
static ig_backend_set *current;

/*
 * The record of name:port at its resolved host, created healthy on first sight. The name is
 * part of the key: it is what the backend's TLS certificate is checked against (attack22: the
 * resolved address was, so a name steered to another address passed with any certificate
 * for that address, and a certificate naming the server was refused).
 */
static ig_backend *record(const char *name, const char *host, int port)
{
	for (size_t i = 0; i < nknown; i++)
		if (known[i]->port == port && strcmp(known[i]->host, host) == 0 && strcmp(known[i]->name, name) == 0)
			return known[i];
	ig_backend **grown = realloc(known, (nknown + 1) * sizeof(*grown));
	ig_backend *b = calloc(1, sizeof(*b));
	if (grown)
		known = grown;
	if (!grown || !b || !(b->host = strdup(host)) || !(b->name = strdup(name))) {
		if (b)
			free(b->host);
		free(b);
		return NULL;
	}
	b->port = port;
	snprintf(b->addr, sizeof(b->addr), "%s:%d", name, port);
	snprintf(b->server, sizeof(b->server), "%s:%d", host, port);
	atomic_store(&b->healthy, true);
	known[nknown++] = b;
	return b;
}

int ig_backends_build(const ig_config *cfg, ig_backend_set **out, char *err, size_t errlen)
{
	ig_backend_set *s = calloc(1, sizeof(*s));
	size_t n = cfg->backends.nservers;
	if (!s || !(s->v = calloc(n ? n : 1, sizeof(*s->v)))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	atomic_store(&s->refs, 1);
	for (size_t i = 0; i < n; i++) {
		const ig_hostport *hp = &cfg->backends.servers[i];
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
		char host[64];
		/* Names are resolved here, at start and at each reload: never on the event loop. */
		int rc = getaddrinfo(hp->host, NULL, &hints, &res);
		if (rc == 0)
			rc = getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
		if (res)
			freeaddrinfo(res);
		if (rc != 0) {
			snprintf(err, errlen, "backend %s: %s", hp->host, gai_strerror(rc));
			goto fail;
		}
		pthread_mutex_lock(&set_lock);
		s->v[i] = record(hp->host, host, hp->port);
		pthread_mutex_unlock(&set_lock);
		if (!s->v[i]) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		s->n++;
	}
	*out = s;
	return 0;
fail:
	free(s->v);
	free(s);
	return -1;
}

void ig_backends_install(ig_backend_set *s)
{
	pthread_mutex_lock(&set_lock);
	ig_backend_set *old = current;
	current = s;
	pthread_mutex_unlock(&set_lock);
	ig_backends_release(old);
}

ig_backend_set *ig_backends_acquire(void)
{
	pthread_mutex_lock(&set_lock);
	ig_backend_set *s = current;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&set_lock);
	return s;
}

void ig_backends_release(ig_backend_set *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
		free(s->v);
		free(s);
	}
}

void ig_backends_free_all(void)
{
	ig_backends_install(NULL);
	for (size_t i = 0; i < nknown; i++) {
		free(known[i]->host);
		free(known[i]->name);
		free(known[i]);
	}
	free(known);
	known = NULL;
	nknown = 0;
}

/* Least connections among s's backends whose health is `healthy`, under the per-backend limit. */
static ig_backend *least_loaded(const ig_backend_set *s, unsigned start, bool healthy, int max_per_backend,
                                bool *full)
{
	ig_backend *best = NULL;
	int best_conns = INT_MAX;
	for (size_t i = 0; i < s->n; i++) {
		ig_backend *b = s->v[(start + i) % s->n];
		if (atomic_load(&b->healthy) != healthy)
			continue;
		int c = atomic_load(&b->conns);
		if (max_per_backend > 0 && c >= max_per_backend) {
			*full = true;
			continue;
		}
		if (c < best_conns) {
			best = b;
			best_conns = c;
		}
	}
	return best;
}

ig_backend *ig_backend_pick(const ig_backend_set *s, int max_per_backend, bool *full, bool *down)
{
	static atomic_uint rr;
	*full = *down = false;
	if (!s || s->n == 0)
		return NULL;
	unsigned start = atomic_fetch_add(&rr, 1);
	ig_backend *best = least_loaded(s, start, true, max_per_backend, full);
	if (!best && !*full) {
		/* Every backend is marked down. The mark is only as fresh as the last probe (up to
		 * health_interval_ms old); a backend that came back serves this client at once, and
		 * one that did not costs it a connect error instead of a refusal. */
		best = least_loaded(s, start, false, max_per_backend, full);
		*down = best != NULL;
	}
	if (best)
		atomic_fetch_add(&best->conns, 1);
	return best;
}

void ig_backend_set_health(ig_backend *b, bool ok, const char *why)
{
	bool was = atomic_exchange(&b->healthy, ok);
	ig_metric_backend_up_addr(b->addr, ok);
	if (was == ok)
		return;
	if (ok)
		LOG_INFO(0, "backend %s is healthy again (%s)", b->addr, why);
	else
		LOG_WARN(0, "backend %s is unhealthy: %s; new connections avoid it", b->addr, why);
}

void ig_backend_release(ig_backend *b)
{
	atomic_fetch_sub(&b->conns, 1);
}
