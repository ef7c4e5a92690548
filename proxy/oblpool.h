/*
 * oblpool.h - the obligations' executor threads. Each takes one action of one record (a
 * copy made when it was handed over), runs its statements (proxy/oblexec.c) and hands the
 * outcome back through a callback; the obligations thread alone applies outcomes to records
 * and writes the store. Two lanes: statements that act (BACKUP, the downstream import),
 * which can run for minutes, on `actors` threads; reads (SHOW IMPORT JOB(S)) on threads of
 * their own, so polls and searches never wait behind a long BACKUP.
 *
 * A job is queued, then running or withdrawn, decided by one compare-and-swap: an executor
 * takes a queued job; the obligations thread withdraws one that no executor took (a record
 * dismissed while its job waits), and a withdrawn job runs nothing.
 */
#ifndef IMPORTGATE_OBLPOOL_H
#define IMPORTGATE_OBLPOOL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "policy/obllife.h"
#include "policy/oblrecord.h"
#include "proxy/oblexec.h"

#define IG_OBLPOOL_READERS 2 /* threads for SHOW IMPORT JOB(S) */

typedef enum { IG_OBLJOB_QUEUED, IG_OBLJOB_RUNNING, IG_OBLJOB_WITHDRAWN } ig_objob_state;

typedef struct ig_obljob {
	struct ig_obljob *next;
	ig_obl_record rec;   /* the record as handed over (rec.rev: the version it acts for) */
	ig_obl_action action;
	bool rerun;          /* BACKUP: found started (it may have run) */
	unsigned epoch;      /* the lease epoch rec was claimed in */
	atomic_int state;    /* ig_objob_state */
	ig_oblexec_out out;  /* what happened (filled by the executor; acted false: nothing sent) */
	ig_oblexec_jobs jobs;/* SEARCH_JOB: SHOW IMPORT JOBS as read */
} ig_obljob;

/* Called on an executor thread with a finished (or withdrawn) job and the pool's done_arg;
 * takes the job. */
typedef void (*ig_oblpool_done)(void *done_arg, ig_obljob *job);

typedef struct ig_oblpool ig_oblpool;

/* `actors` threads for statements that act, IG_OBLPOOL_READERS for reads; ctx is copied
 * (its epoch is set per job). 0, or -1 + err. */
int ig_oblpool_start(ig_oblpool **out, unsigned actors, const ig_oblexec_ctx *ctx, ig_oblpool_done done,
                     void *done_arg, char *err, size_t errlen);
/* Queues a job (taken). */
void ig_oblpool_submit(ig_oblpool *p, ig_obljob *job);
/* Withdraws a job no executor has taken yet: true = it will run nothing (its outcome still
 * comes back, acted false); false = it is running (or ran). Obligations thread only. */
bool ig_obljob_withdraw(ig_obljob *job);
/* Does the action send a statement that acts (BACKUP, the downstream import)? */
bool ig_oblpool_acts(ig_obl_action action);
/* Waits for the statements running now (their outcomes still go to `done`); jobs not
 * started are freed unrun. NULL is a no-op. */
void ig_oblpool_stop(ig_oblpool *p);
void ig_obljob_free(ig_obljob *job);

#endif
