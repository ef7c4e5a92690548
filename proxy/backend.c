/*
 * backend.c - choosing a backend for a new connection: least connections among the
 * healthy ones, ties broken round-robin so equal backends share the load.
 */
#include "proxy/runtime.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

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

ig_backend *ig_backend_pick(int max_per_backend, bool *full)
{
	static atomic_uint rr;
	ig_backend *best = NULL;
	int best_conns = INT_MAX;
	size_t n = ig_rt.nbackends;
	*full = false;
	if (n == 0)
		return NULL;
	unsigned start = atomic_fetch_add(&rr, 1);
	for (size_t i = 0; i < n; i++) {
		ig_backend *b = &ig_rt.backends[(start + i) % n];
		if (!atomic_load(&b->healthy))
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
	if (best)
		atomic_fetch_add(&best->conns, 1);
	return best;
}

void ig_backend_release(ig_backend *b)
{
	atomic_fetch_sub(&b->conns, 1);
}
