/*
 * statecache.h - the cluster state a decision uses, verified current at decision time.
 * A full read of PD's etcd is expensive with many changefeeds; imports are rare but the
 * state must never be stale. So a decision takes the last full read only after PD has
 * said, at that moment, that no task or changefeed key was created or modified since
 * that read's revision (ig_cluster_changed_since); otherwise, and at least every
 * cluster.state_max_age_ms, it reads in full. States are shared read-only by reference.
 */
#ifndef IMPORTGATE_STATECACHE_H
#define IMPORTGATE_STATECACHE_H

#include <stddef.h>

#include "policy/clusterstate.h"
#include "policy/config.h"

/* 0 with a reference in *out (release it), or -1 + err when PD cannot be read. Blocking. */
int ig_state_acquire(const ig_config *cfg, const ig_cluster_state **out, char *err, size_t errlen);
void ig_state_release(const ig_cluster_state *st);
/* Counters for metrics and tests: decisions served from the verified cache, full reads. */
void ig_state_cache_stats(unsigned long long *hits, unsigned long long *full_reads);

#endif
