/*
 * ltnguardread.h - reads the guard records of guarded Lightning runs
 * (/importgate/<cluster.name>/lightning-runs/, policy/ltnguard.h) from PD's etcd in one range
 * request. Every key there is bound to a running guarded run's lease: a present key is a
 * live guard. Blocking (libcurl): the running-import monitor (proxy/brmon.c) calls it from
 * its own thread.
 */
#ifndef IMPORTGATE_LTNGUARDREAD_H
#define IMPORTGATE_LTNGUARDREAD_H

#include <stddef.h>

#include "policy/config.h"
#include "policy/ltnguard.h"

/* Tries cluster.pd in turn. 0 with *out (caller frees with ig_ltn_guards_free; a record that
 * does not decode is skipped and counted in *bad), or -1 + err. */
int ig_ltn_guards_read(const ig_config *cfg, ig_ltn_guard **out, size_t *n, size_t *bad, char *err,
                       size_t errlen);
void ig_ltn_guards_free(ig_ltn_guard *g, size_t n);

#endif
