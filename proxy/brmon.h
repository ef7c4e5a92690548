/*
 * brmon.h - the running-import monitor: a thread that reads the /tidb/brie/import/
 * registrations of BR restore, TiDB Lightning (physical mode) and IMPORT INTO from PD every
 * IG_BRMON_INTERVAL_MS, audits when one starts and ends (its key appears, or disappears:
 * finished, lease revoked or expired), and, while one runs, checks it against the log backup
 * tasks and changefeeds of the cluster state: a conflict is audited (brie.import.conflict),
 * logged at error level and counted. Metrics: importgate_brie_*. Status: running_imports.
 * Every IG_STATE_CHECK_MS it also takes the cluster state (importgate_cluster_state_*).
 */
#ifndef IMPORTGATE_BRMON_H
#define IMPORTGATE_BRMON_H

#include <stddef.h>

#include <jansson.h>

#define IG_BRMON_INTERVAL_MS 1000
/* The cluster state is also taken from the cache this often when nothing runs, so that
 * importgate_cluster_state_age_seconds says how fresh it is on an idle gateway too. */
#define IG_STATE_CHECK_MS 10000

typedef struct ig_brmon ig_brmon; /* the monitor: its thread, what it tracks, its last status */

/* Starts the thread (it idles while cluster.pd is empty; the config is re-read each round,
 * so a reload takes effect). 0 and *out, or -1 + err. */
int ig_brmon_start(ig_brmon **out, char *err, size_t errlen);
/* Stops and joins the thread (within one PD request's cluster.timeout_ms), frees m. NULL is
 * a no-op. */
void ig_brmon_stop(ig_brmon *m);
/* The running_imports object of /api/v1/status (a new reference), NULL on OOM. Any thread. */
json_t *ig_brmon_status(ig_brmon *m);

#endif
