/*
 * prefixwatch.h - a background etcd watch of one key prefix (POST {pd}/v3/watch on PD's v3
 * JSON gateway) that only says "something under the prefix changed": it calls a function
 * after each stream response holding events. A wake-up, not a source of truth: its user
 * reads the prefix itself, so a missed or late event only delays what a periodic read finds
 * anyway. The stream is reopened after it ends. The running-import monitor (proxy/brmon.c)
 * uses it on /tidb/brie/import/.
 */
#ifndef IMPORTGATE_PREFIXWATCH_H
#define IMPORTGATE_PREFIXWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/config.h"

typedef struct ig_prefix_watch ig_prefix_watch;
typedef void (*ig_prefix_watch_fn)(void *ud);

/* Starts the thread watching keys under `prefix` at `endpoint` from the current revision;
 * TLS and connect timeout from cfg (copied). fn(ud) runs on the watch thread. NULL + err. */
ig_prefix_watch *ig_prefix_watch_start(const ig_config *cfg, const char *endpoint,
                                       const char *prefix, ig_prefix_watch_fn fn, void *ud,
                                       char *err, size_t errlen);
/* Is a stream open and created by etcd now? */
bool ig_prefix_watch_streaming(ig_prefix_watch *w);
/* Responses with events received so far. */
uint64_t ig_prefix_watch_events(ig_prefix_watch *w);
const char *ig_prefix_watch_endpoint(const ig_prefix_watch *w);
/* Stops the thread (within about a second: libcurl's progress callback) and frees. */
void ig_prefix_watch_stop(ig_prefix_watch *w);

/* The create request body for keys under prefix (pure; exposed for tests). malloc'ed. */
char *ig_prefix_watch_body(const char *prefix);

#endif
