/*
 * oblstore.h - where post-import obligations live (docs/OBLIGATIONS.md "Where obligations
 * live"), two implementations behind one interface:
 *   - etcd (PD's) through the v3 JSON gateway (oblstore_etcd.c): records under
 *     /importgate/<cluster>/obligations/<id>, claims under /importgate/<cluster>/claims/<id>
 *     bound to this replica's lease; every write is a txn comparing the record's
 *     mod_revision (and the claim's lease);
 *   - a local append-only file (oblstore_file.c, no PD): one line per transition
 *     "<crc32 hex8> <json>\n", fsync per write, replay keeps the last good line per id,
 *     compaction when mostly dead. Single process (flock); claims are in memory; revisions
 *     are a counter checked under the store's lock.
 * Every function is blocking and thread-safe (the store is shared by the thread-pool threads
 * creating records and the obligations thread running them).
 */
#ifndef IMPORTGATE_OBLSTORE_H
#define IMPORTGATE_OBLSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/config.h"
#include "policy/oblrecord.h"

/* ---- the store ---- */

typedef struct ig_oblstore ig_oblstore;

typedef struct ig_oblstore_info {
	bool shared;           /* etcd: several replicas */
	size_t replayed;       /* file: lines read at open */
	size_t skipped;        /* file: corrupt complete lines skipped */
	bool torn_tail;        /* file: an incomplete last line was cut off */
	size_t live, lines;    /* file: records and lines now */
	size_t compactions;
} ig_oblstore_info;

/* Opens (creates, 0600) the file store and replays it. Fails when another process holds it.
 * A torn last line is cut off (warn says so); corrupt complete lines are skipped. */
int ig_oblstore_open_file(const char *path, ig_oblstore **out, char *warn, size_t warnlen,
                          char *err, size_t errlen);
/* The etcd store for cfg (cluster.pd, cluster.name, cluster.tls, cluster.timeout_ms). This
 * replica's lease (ttl seconds) is granted on first use (create, claim, keepalive), so PD
 * may be unreachable at start. `replica` names this process in claims. */
int ig_oblstore_open_etcd(const ig_config *cfg, const char *replica, int ttl_s, ig_oblstore **out,
                          char *err, size_t errlen);
/* Revokes the lease (etcd: our claims vanish at once), closes. Records stay. */
void ig_oblstore_close(ig_oblstore *st);
void ig_oblstore_info_get(ig_oblstore *st, ig_oblstore_info *info);

/*
 * The interface (one implementation per backend behind it; callers never ask which).
 * Every step of a record is a compare-and-swap on its revision (r->rev, as read):
 *   claim   - take a record nobody holds, only if it is still at r->rev;
 *   advance - write a new version of a record we hold, only if it is still at r->rev;
 *   finish  - the same, and let the claim go in the same write (terminal, or parked).
 * A step on a stale copy (the record moved on since it was read) or on a record that is not
 * ours (etcd: the claim key is absent or bound to another lease, e.g. ours expired) writes
 * nothing and returns 1: the caller re-reads. On success r->rev is the new revision.
 */
const char *ig_oblstore_kind(const ig_oblstore *st); /* "etcd", "file" */
/* Creates a new record and claims it for this replica, atomically; durable on return
 * (r->rev set). -1 + err (also when the id exists). */
int ig_oblstore_create(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen);
/* One record: 1 found (out->rev set), 0 absent, -1 + err. */
int ig_oblstore_get(ig_oblstore *st, const char *id, ig_obl_record *out, char *err, size_t errlen);
/* Every record, each with its rev and who held its claim when listed (caller frees each
 * and the array). `held` only spares claims bound to fail: a claim still compares. */
int ig_oblstore_list(ig_oblstore *st, ig_obl_record **recs, size_t *n, char *err, size_t errlen);
/* 0 claimed (or ours already, at that revision), 1 held elsewhere or stale, -1 + err. */
int ig_oblstore_claim(ig_oblstore *st, const ig_obl_record *r, char *err, size_t errlen);
/* 0 written (r->rev updated), 1 stale or not ours (nothing written), -1 + err. */
int ig_oblstore_advance(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen);
int ig_oblstore_finish(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen);
/* Drops our claim without writing the record (we stop). */
int ig_oblstore_release(ig_oblstore *st, const char *id, char *err, size_t errlen);
/* Removes a record still at r->rev (terminal ones past their retention): 0, 1 stale, -1. */
int ig_oblstore_delete(ig_oblstore *st, const ig_obl_record *r, char *err, size_t errlen);
/* Keeps the lease alive (grants the first one). 0 ok; 1 a new lease was granted (the old
 * one had expired: every claim is lost); -1 + err (unreachable: try again soon). */
int ig_oblstore_keepalive(ig_oblstore *st, char *err, size_t errlen);
/* How long the lease is known to live from now (ms; <= 0: possibly expired; INT64_MAX for
 * the file store, whose claims no other process can take) and its epoch (+1 per grant:
 * claims taken under an older epoch are gone). */
void ig_oblstore_lease(ig_oblstore *st, int64_t *left_ms, unsigned *epoch);

/* A guarded Lightning run's guard record (policy/ltnguard.h): /importgate/<cluster>/
 * lightning-runs/<id> = val, bound to this store's lease (it vanishes with the run). etcd only
 * (the file store: -1, nobody else could read it). *rev: the revision of the write. 0, or -1. */
int ig_oblstore_run_put(ig_oblstore *st, const char *id, const char *val, int64_t *rev, char *err, size_t errlen);
int ig_oblstore_run_delete(ig_oblstore *st, const char *id, char *err, size_t errlen);
/* The binding of a registration to guard record `id` (policy/ltnguard.h): take: one txn that
 * creates the bind key lightning-binds/<bind> (value id, this store's lease) only when no such
 * key exists, and puts the guard record val with it: 0 taken, 1 lost (another run holds it;
 * nothing written). !take: one txn that deletes the bind key when it is on this store's lease
 * and puts val (the guard without its binding) either way: 0. -1 + err. */
int ig_oblstore_run_bind(ig_oblstore *st, const char *id, const char *val, const char *bind, bool take, char *err,
                         size_t errlen);

#endif
