/*
 * oblview.h - the obligations as last seen: the store's list at the last scan with this
 * replica's own newer versions over it. Published for the admin API (/api/v1/status) and
 * the importgate_obligations gauges, and read by the executors (is a job some other
 * record's already?). An object with its own lock: the obligations thread writes it, the
 * admin and executor threads read it.
 */
#ifndef IMPORTGATE_OBLVIEW_H
#define IMPORTGATE_OBLVIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "policy/oblrecord.h"

typedef struct ig_oblview ig_oblview;

ig_oblview *ig_oblview_new(void); /* NULL on OOM */
void ig_oblview_free(ig_oblview *v);
/* One record's newer version (added when absent). */
void ig_oblview_set(ig_oblview *v, const ig_obl_record *r);
/* The store's list (taken, freed with the view) replaces what was seen. */
void ig_oblview_replace(ig_oblview *v, ig_obl_record *recs, size_t n);
/* Is this job (upstream, or a re-import's downstream job) a record's other than self_id? */
bool ig_oblview_job_taken(ig_oblview *v, const char *job_id, const char *self_id, bool downstream);
/* Does any record seen stand in pred's relation to r (other, r)? E.g. policy/obllife.h
 * ig_obl_may_share_job: a record still awaiting its answer may own the job r found. */
bool ig_oblview_any(ig_oblview *v, bool (*pred)(const ig_obl_record *other, const ig_obl_record *r),
                    const ig_obl_record *r);
/* Adds "counts" and "records" (each record as the status shows it) to root. */
void ig_oblview_status(ig_oblview *v, json_t *root);

#endif
