/*
 * brieread.h - reads the running-import registrations (/tidb/brie/import/, see
 * brieimport.h) from PD's etcd through its v3 JSON gateway, keys with their values and
 * leases, in one range request. Blocking (libcurl): the running-import monitor
 * (proxy/brmon.c) calls it from its own thread.
 */
#ifndef IMPORTGATE_BRIEREAD_H
#define IMPORTGATE_BRIEREAD_H

#include <stddef.h>

#include "policy/brieimport.h"
#include "policy/config.h"

/* Tries cluster.pd in turn (cluster.timeout_ms and cluster.tls as the state reader). 0 with
 * *out filled (the caller clears it) and *source set to the endpoint that answered (a
 * pointer into cfg), or -1 with a message naming each endpoint. */
int ig_brie_read(const ig_config *cfg, ig_brie_list *out, const char **source, char *err,
                 size_t errlen);

#endif
