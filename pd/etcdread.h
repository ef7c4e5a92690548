/*
 * etcdread.h - reads the cluster state from PD's embedded etcd through its v3 JSON gateway
 * (POST {pd}/v3/kv/range, keys and values base64). Blocking (libcurl easy API): the gateway
 * calls it from a worker thread, off the event loop.
 */
#ifndef IMPORTGATE_ETCDREAD_H
#define IMPORTGATE_ETCDREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/clusterstate.h"
#include "policy/config.h"

/* Reads log backup tasks (info, pause, last-error), plain and under TiDB keyspace etcd
 * namespaces (/keyspaces/tidb/<id>/tidb/br-stream/..., found by one keys-only read of
 * /keyspaces/tidb/), and changefeed info at one etcd revision. PD endpoints (cluster.pd) are tried in turn; the first that answers every
 * request wins. Each HTTP request is bounded by cluster.timeout_ms (connect and total);
 * https endpoints use cluster.tls (CA, client cert and key).
 * Returns 0 with a new state (caller frees), or -1 with a message naming each endpoint and
 * what went wrong (also when cluster.pd is empty: nothing to read). */
int ig_cluster_read(const ig_config *cfg, ig_cluster_state **out, char *err, size_t errlen);

/* One range answer, parsed (pure; exposed for tests and fuzzing). Calls `kv` for each
 * key/value (value NULL/0 when absent); returns 0, or -1 with a message for an error answer
 * or malformed JSON/base64. *more and *revision are set from the answer; *last and *last_len
 * hold a malloc'ed copy of the last key (caller frees *last), for pagination. */
typedef int (*ig_etcd_kv_fn)(void *ud, const char *key, size_t klen, const unsigned char *val,
                             size_t vlen);
int ig_etcd_range_parse(const char *json, size_t len, ig_etcd_kv_fn kv, void *ud, bool *more,
                        int64_t *revision, char **last, size_t *last_len, char *err, size_t errlen);

/* The JSON body of a range request: {"key":b64(key),"range_end":b64(end)[,"limit":n]
 * [,"revision":r][,"keys_only":true]}. end NULL = the single key. malloc'ed, NULL on OOM. */
char *ig_etcd_range_body(const char *key, size_t klen, const char *end, size_t elen, long limit,
                         int64_t revision, bool keys_only);

/*
 * The range_end that makes a range "every key starting with prefix" (etcd clientv3's
 * GetPrefixRangeEnd): the prefix cut after its last byte below 0xff, that byte plus one; when
 * every byte is 0xff (or n is 0), "\0", etcd's "every key from `key` on". Writes it into end,
 * which has room for max(n, 1) bytes, and returns its length (at least 1).
 */
size_t ig_etcd_prefix_end(const char *prefix, size_t n, char *end);

/*
 * One unpaged range request over every key under `prefix` (which ends in '/') to one PD
 * endpoint, on a connection of its own: the answer's JSON in *body (malloc'ed, the caller
 * frees) and *len, for the caller's parser. For small prefixes read whole (running-import
 * registrations, Lightning guard records); max_answer bounds the answer. 0, or -1 + err.
 */
int ig_etcd_prefix_fetch(const ig_config *cfg, const char *endpoint, const char *prefix,
                         size_t max_answer, char **body, size_t *len, char *err, size_t errlen);

/*
 * Has anything a decision reads been created or modified at `endpoint` since `revision`?
 * Asks for the keys with mod_revision > revision under the task prefixes, /tidb/cdc/ and
 * /keyspaces/tidb/ (keys only: TiCDC rewrites its status keys all the time, so only changefeed
 * info keys count; of a keyspace namespace, only its task keys). 1 = changed, 0 = not changed, -1 + err = no answer. Deletions are not
 * seen (a deleted task or changefeed only makes a stale decision stricter; the cache bounds
 * their age with cluster.state_max_age_ms). Each calling thread keeps its HTTP connection.
 */
int ig_cluster_changed_since(const ig_config *cfg, const char *endpoint, int64_t revision,
                             char *err, size_t errlen);

/* The cluster's current revision, by a linearizable single-key range on a key nobody
 * writes (one small round trip on the calling thread's kept-alive connection). 0, or -1 +
 * err. The state cache compares it with what its watch has seen. */
int ig_cluster_revision(const ig_config *cfg, const char *endpoint, int64_t *revision,
                        char *err, size_t errlen);

/* A lease's remaining time to live in seconds (etcd LeaseTimeToLive; -1 when the lease is gone),
 * on the same kept-alive connection. 0, or -1 + err. */
int ig_lease_ttl(const ig_config *cfg, const char *endpoint, int64_t lease, int64_t *ttl_s, char *err,
                 size_t errlen);

#endif
