/*
 * etcdwatch.h - a background watch of PD's whole etcd keyspace (POST {pd}/v3/watch on the v3
 * JSON gateway, a stream of one JSON object per line). It tells the state cache two numbers:
 * up to which revision it has seen every event, and the newest revision that changed a key a
 * decision reads. Watching every key (not only /tidb/) is what makes the first number exact:
 * each etcd revision is a write of at least one key, so every revision arrives as an event,
 * and "seen up to C" needs no progress notification (see statecache.c).
 */
#ifndef IMPORTGATE_ETCDWATCH_H
#define IMPORTGATE_ETCDWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/config.h"

/* One watch response, summarized (pure; exposed for tests and fuzzing). */
typedef struct ig_watch_msg {
	int64_t header_revision;
	int64_t max_event_revision;   /* highest mod_revision among its events, 0 without events */
	int64_t max_relevant_revision; /* same, over the events on keys a decision reads */
	size_t nevents;
	bool created;
	bool canceled;
	int64_t compact_revision;     /* set when etcd has compacted past the start revision */
} ig_watch_msg;

/* Parses one line of the stream. 0, or -1 + err for malformed JSON/base64 or an
 * {"error":...} object (the gateway's way of ending a broken stream). */
int ig_etcd_watch_parse(const char *json, size_t len, ig_watch_msg *m, char *err, size_t errlen);

/* Does a decision read this key? Task info, pause and last-error keys, and changefeed info
 * keys (not TiCDC's status, position, capture or owner keys, which it rewrites all the time). */
bool ig_etcd_key_relevant(const char *key, size_t klen);

/* The create request for the whole keyspace from start_revision. malloc'ed, NULL on OOM. */
char *ig_etcd_watch_body(int64_t start_revision);

typedef struct ig_watcher ig_watcher;

/* Starts a thread watching `endpoint` from revision from+1 (the revision of a full read);
 * TLS and connect timeout from cfg (copied: cfg may go away). NULL + err on failure. */
ig_watcher *ig_watcher_start(const ig_config *cfg, const char *endpoint, int64_t from,
                             char *err, size_t errlen);

/* Waits up to timeout_ms until every event up to `revision` has been seen. 0 with the
 * newest relevant revision seen so far in *relevant; -1 when the time ran out or the stream
 * broke (then the watcher is useless: stop it and start another). */
int ig_watcher_wait(ig_watcher *w, int64_t revision, int timeout_ms, int64_t *relevant);

/* Has the stream ended (error, etcd gone, compaction)? */
bool ig_watcher_broken(ig_watcher *w);

/* The endpoint and TLS settings it was started with match cfg's for `endpoint`? */
bool ig_watcher_matches(ig_watcher *w, const ig_config *cfg, const char *endpoint);

/* Stops the thread (within about a second: libcurl's progress callback), waits for it and
 * frees. No ig_watcher_wait may be running. */
void ig_watcher_stop(ig_watcher *w);
/* The same without waiting (for a decision's thread): the watcher thread frees itself. */
void ig_watcher_abandon(ig_watcher *w);

#endif
