/*
 * statecache.h - the cluster state a decision uses, current as of the moment it asks.
 * A full read of PD's etcd is expensive with many changefeeds; imports are rare but the
 * state must never be stale. So the last full read is kept and a background etcd watch
 * (started by the first acquire) says whether anything a decision reads changed since;
 * each acquire confirms with PD's current revision that the watch is up to date (see
 * statecache.c). States are shared read-only by reference.
 */
#ifndef IMPORTGATE_STATECACHE_H
#define IMPORTGATE_STATECACHE_H

#include <stddef.h>

#include "policy/clusterstate.h"
#include "policy/config.h"

/* 0 with a reference in *out (release it), or -1 + err when PD cannot be read. Blocking. */
int ig_state_acquire(const ig_config *cfg, const ig_cluster_state **out, char *err, size_t errlen);
void ig_state_release(const ig_cluster_state *st);
/* The last full read kept, as it is, not checked against PD (release it); NULL when there
 * is none. For display only (/api/v1/status when a read fails): never decide on it. */
const ig_cluster_state *ig_state_last(void);
/* Counters for metrics and tests: decisions served from the verified cache, full reads. */
void ig_state_cache_stats(unsigned long long *hits, unsigned long long *full_reads);
/* Stops the watch thread and frees the last read (when unused). Call once at process exit,
 * after the last decision; an acquire after it starts over. */
void ig_state_cache_shutdown(void);

#endif
