/*
 * statecache.c - verified reuse of the last full cluster-state read (see statecache.h).
 * Entries are reference-counted: the current one holds a reference of its own; a decision
 * holds one while it uses the state; a replaced entry is freed with its last reference.
 */
#include "policy/statecache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/etcdread.h"

typedef struct entry {
	ig_cluster_state *st;
	int refs;
	int64_t born_ms;   /* CLOCK_MONOTONIC of the full read */
	struct entry *next;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry *entries; /* the current one first, then replaced ones still in use */
static atomic_ullong hits, full_reads;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The current entry, with a reference taken; NULL when there is none. */
static entry *take_current(void)
{
	pthread_mutex_lock(&lock);
	entry *e = entries;
	if (e)
		e->refs++;
	pthread_mutex_unlock(&lock);
	return e;
}

static void drop(entry *e)
{
	entry **pp, *gone = NULL;
	pthread_mutex_lock(&lock);
	if (--e->refs == 0) {
		for (pp = &entries; *pp; pp = &(*pp)->next)
			if (*pp == e) {
				*pp = e->next;
				gone = e;
				break;
			}
	}
	pthread_mutex_unlock(&lock);
	if (gone) {
		ig_cluster_state_free(gone->st);
		free(gone);
	}
}

void ig_state_release(const ig_cluster_state *st)
{
	entry *e = NULL;
	if (!st)
		return;
	pthread_mutex_lock(&lock);
	for (entry *x = entries; x; x = x->next)
		if (x->st == st) {
			e = x;
			break;
		}
	pthread_mutex_unlock(&lock);
	if (e)
		drop(e);
}

static bool endpoint_configured(const ig_config *cfg, const char *source)
{
	for (size_t i = 0; source && i < cfg->cluster.npd; i++)
		if (strcmp(cfg->cluster.pd[i], source) == 0)
			return true;
	return false;
}

/* Makes a fresh read the current entry; returns it with a reference for the caller. */
static entry *install(ig_cluster_state *st)
{
	entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->st = st;
	e->refs = 2; /* being current, and the caller */
	e->born_ms = now_ms();
	pthread_mutex_lock(&lock);
	entry *old = entries;
	e->next = entries;
	entries = e;
	pthread_mutex_unlock(&lock);
	if (old)
		drop(old); /* its "current" reference */
	return e;
}

int ig_state_acquire(const ig_config *cfg, const ig_cluster_state **out, char *err, size_t errlen)
{
	*out = NULL;
	entry *e = take_current();
	if (e) {
		bool young = cfg->cluster.state_max_age_ms > 0 &&
		             now_ms() - e->born_ms < cfg->cluster.state_max_age_ms;
		if (young && e->st->revision > 0 && endpoint_configured(cfg, e->st->source) &&
		    ig_cluster_changed_since(cfg, e->st->source, e->st->revision, err, errlen) == 0) {
			atomic_fetch_add(&hits, 1);
			*out = e->st;
			return 0;
		}
		drop(e);
	}
	ig_cluster_state *st;
	if (ig_cluster_read(cfg, &st, err, errlen) < 0)
		return -1;
	atomic_fetch_add(&full_reads, 1);
	e = install(st);
	if (!e) {
		ig_cluster_state_free(st);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*out = e->st;
	return 0;
}

void ig_state_cache_stats(unsigned long long *h, unsigned long long *f)
{
	*h = atomic_load(&hits);
	*f = atomic_load(&full_reads);
}
