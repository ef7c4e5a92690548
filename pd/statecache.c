/*
 * statecache.c - the cluster state a decision uses, current as of the moment it asks.
 *
 * Design (measured on etcd 3.4, docs/BENCHMARKS.md 4.4): a full read (ig_cluster_read, at
 * revision R) is kept; a watcher thread (etcdwatch.c) streams every event after R. It
 * watches the WHOLE keyspace, not /tidb/ only: etcd sends no response when nothing under a
 * watched prefix changes (progress_notify comes every ~10 minutes), so a prefix watch cannot
 * say "nothing happened up to revision C". Every etcd revision is a write of at least one
 * key, so with every key watched the events themselves tell the watcher that it has seen
 * everything up to the last event's revision. At decision time: one linearizable single-key
 * range gives PD's current revision C (kept-alive connection, ~0.3 ms); wait until the
 * watcher has seen C; the kept state is current when no key a decision reads (task info,
 * pause, last-error, changefeed info: deletions included) changed after R. Otherwise a full
 * read, which is itself current. No decision is taken on state older than its arrival.
 * When the watch is unusable (not started, stream broken, or not at C within half of
 * cluster.timeout_ms): a broken/missing watcher means a full read (which starts a new one);
 * a stalled one is dropped and that decision uses the older verified check
 * (ig_cluster_changed_since: no task/changefeed key modified since R, and the read younger
 * than cluster.state_max_age_ms, which bounds how long a deletion can be missed - a missed
 * deletion only makes a decision stricter). When PD does not answer the revision request and
 * it is the only endpoint, the decision fails at once (on_state_unavailable) instead of
 * waiting a second timeout for a full read.
 *
 * Entries are reference-counted: the current one holds a reference of its own; a decision
 * holds one while it uses the state; a replaced entry is freed with its last reference.
 */
#include "pd/statecache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pd/etcdread.h"
#include "pd/etcdwatch.h"

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

const ig_cluster_state *ig_state_last(void)
{
	entry *e = take_current();
	return e ? e->st : NULL;
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

/* ---- the watch that makes a reuse safe (see the top of this file) ---- */

typedef struct watch_slot {
	ig_watcher *w;
	int64_t from;   /* the revision of the full read it started after */
	int refs;
} watch_slot;

static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
static watch_slot *watch; /* the current watcher, NULL when none runs */

static watch_slot *watch_take(void)
{
	pthread_mutex_lock(&wlock);
	watch_slot *s = watch;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&wlock);
	return s;
}

/* Drops a reference; the last one stops the watcher, waiting for its thread only at
 * shutdown (a decision must not wait up to a second for it). */
static void watch_release(watch_slot *s, bool wait)
{
	pthread_mutex_lock(&wlock);
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&wlock);
	if (last) {
		if (wait)
			ig_watcher_stop(s->w);
		else
			ig_watcher_abandon(s->w);
		free(s);
	}
}

static void watch_put(watch_slot *s)
{
	watch_release(s, false);
}

/* Makes n (may be NULL) the current watcher if `expect` still is; the old one goes. */
static void watch_swap(watch_slot *expect, watch_slot *n)
{
	watch_slot *old = NULL;
	pthread_mutex_lock(&wlock);
	if (watch == expect) {
		old = watch;
		watch = n;
		n = NULL;
	}
	pthread_mutex_unlock(&wlock);
	if (old)
		watch_put(old);
	if (n)
		watch_put(n); /* lost a race with another thread's new watcher */
}

/* After a full read: keeps a healthy watcher that covers st, or starts one from st. */
static void watch_ensure(const ig_config *cfg, const ig_cluster_state *st)
{
	watch_slot *s = watch_take(), *n;
	char e[300];

	if (s && !ig_watcher_broken(s->w) && ig_watcher_matches(s->w, cfg, st->source) &&
	    s->from <= st->revision) {
		watch_put(s);
		return;
	}
	n = calloc(1, sizeof(*n));
	if (n && (n->w = ig_watcher_start(cfg, st->source, st->revision, e, sizeof(e)))) {
		n->from = st->revision;
		n->refs = 1;
	} else {
		free(n);
		n = NULL; /* no watcher: decisions use the verified path until the next full read */
	}
	watch_swap(s, n);
	if (s)
		watch_put(s);
}

enum watched { W_FRESH, W_STALE, W_NO_WATCH, W_STALLED, W_PD_FAILED };

/* Is e current as of now? Asks PD for its revision C and waits for the watch to have seen
 * every event up to C; e is current when no key a decision reads changed after e's read. */
static enum watched watched_check(const ig_config *cfg, const entry *e, char *err, size_t errlen)
{
	watch_slot *s = watch_take();
	int64_t c, relevant;
	enum watched r;

	if (!s)
		return W_NO_WATCH;
	if (ig_watcher_broken(s->w) || !ig_watcher_matches(s->w, cfg, e->st->source) ||
	    s->from > e->st->revision) {
		watch_put(s);
		return W_NO_WATCH;
	}
	if (ig_cluster_revision(cfg, e->st->source, &c, err, errlen) < 0) {
		watch_put(s);
		return W_PD_FAILED;
	}
	if (ig_watcher_wait(s->w, c, cfg->cluster.timeout_ms / 2 + 1, &relevant) < 0) {
		watch_swap(s, NULL); /* stalled or broken: the next full read starts a new one */
		r = W_STALLED;
	} else {
		r = relevant > e->st->revision ? W_STALE : W_FRESH;
	}
	watch_put(s);
	return r;
}

/* The fallback without a usable watch: PD's min_mod_revision check, bounded by max age. */
static bool verified(const ig_config *cfg, const entry *e, char *err, size_t errlen)
{
	bool young = cfg->cluster.state_max_age_ms > 0 &&
	             now_ms() - e->born_ms < cfg->cluster.state_max_age_ms;
	return young && ig_cluster_changed_since(cfg, e->st->source, e->st->revision, err, errlen) == 0;
}

int ig_state_acquire(const ig_config *cfg, const ig_cluster_state **out, char *err, size_t errlen)
{
	*out = NULL;
	entry *e = take_current();
	if (e) {
		if (e->st->revision > 0 && endpoint_configured(cfg, e->st->source)) {
			enum watched w = watched_check(cfg, e, err, errlen);
			if (w == W_FRESH || (w == W_STALLED && verified(cfg, e, err, errlen))) {
				atomic_fetch_add(&hits, 1);
				*out = e->st;
				return 0;
			}
			if (w == W_PD_FAILED && cfg->cluster.npd == 1) {
				drop(e); /* the only endpoint just failed within timeout_ms: do not wait twice */
				return -1;
			}
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
	if (st->revision > 0 && st->source)
		watch_ensure(cfg, st);
	*out = e->st;
	return 0;
}

void ig_state_cache_shutdown(void)
{
	entry *gone = NULL;
	pthread_mutex_lock(&wlock);
	watch_slot *s = watch;
	watch = NULL;
	pthread_mutex_unlock(&wlock);
	if (s)
		watch_release(s, true); /* stops the thread unless a decision still waits on it */
	pthread_mutex_lock(&lock);
	/* Free the last read when nothing else holds it; decisions still running keep theirs
	 * (the process is exiting: what they hold is left to the exit). */
	if (entries && !entries->next && entries->refs == 1) {
		gone = entries;
		entries = NULL;
	}
	pthread_mutex_unlock(&lock);
	if (gone) {
		ig_cluster_state_free(gone->st);
		free(gone);
	}
}

void ig_state_cache_stats(unsigned long long *h, unsigned long long *f)
{
	*h = atomic_load(&hits);
	*f = atomic_load(&full_reads);
}
