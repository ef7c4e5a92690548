/*
 * oblpool.h - the obligations' executor threads. Each takes one action of one record (a
 * copy made when it was handed over), runs its statements (proxy/oblexec.c) and hands the
 * outcome back through a callback; the obligations thread alone applies outcomes to records
 * and writes the store. So one BACKUP that runs for minutes holds one executor, not every
 * record behind it, and the lease is kept by its own thread (proxy/obligations.c).
 */
#ifndef IMPORTGATE_OBLPOOL_H
#define IMPORTGATE_OBLPOOL_H

#include <stdbool.h>

#include "policy/obllife.h"
#include "policy/oblrecord.h"
#include "proxy/oblexec.h"

typedef struct ig_obljob {
	struct ig_obljob *next;
	ig_obl_record rec;   /* the record as handed over (rec.rev: the version it acts for) */
	ig_obl_action action;
	bool rerun;          /* BACKUP: found started (it may have run) */
	unsigned epoch;      /* the lease epoch rec was claimed in */
	ig_oblexec_out out;  /* what happened (filled by the executor) */
	ig_oblexec_jobs jobs;/* SEARCH_JOB: SHOW IMPORT JOBS as read */
} ig_obljob;

/* Called on an executor thread with a finished job; takes it (free with ig_obljob_free). */
typedef void (*ig_oblpool_done)(ig_obljob *job);

typedef struct ig_oblpool ig_oblpool;

/* n threads; ctx is copied (its epoch is set per job). 0, or -1 + err. */
int ig_oblpool_start(ig_oblpool **out, unsigned n, const ig_oblexec_ctx *ctx, ig_oblpool_done done,
                     char *err, size_t errlen);
/* Queues a job (taken). */
void ig_oblpool_submit(ig_oblpool *p, ig_obljob *job);
/* Waits for the statements running now (their outcomes still go to `done`); jobs not
 * started are freed unrun. NULL is a no-op. */
void ig_oblpool_stop(ig_oblpool *p);
void ig_obljob_free(ig_obljob *job);

#endif
