/*
 * obllife.h - the life of an obligation as a pure transition system (docs/OBLIGATIONS.md):
 * (record, event) -> (record', effect), and record -> the action it calls for. No I/O, no
 * clock: the event carries the time. proxy/oblstep.c applies each event to its copy of
 * a record and writes the result with a compare-and-swap on the record's revision
 * (store/oblstore.h), so a step taken on a stale copy fails and is re-read; proxy/oblexec.c
 * carries the actions out and turns what TiDB answered into events.
 *
 * Also here, pure: which import job is the record's (job identity after a lost answer).
 */
#ifndef IMPORTGATE_OBLLIFE_H
#define IMPORTGATE_OBLLIFE_H

#include <stdbool.h>
#include <stdint.h>

#include "policy/oblrecord.h"

#define IG_OBL_BACKOFF_MAX_MS 60000
#define IG_OBL_SEARCH_WINDOW_MS 30000 /* a lost answer: how long to look for its job */
#define IG_OBL_CLOCK_SLACK_MS 5000    /* a job's Create_Time against the gateway's clock */

/* Why a record became outcome-unknown (its "reason" field; the note says it in words). */
#define IG_OBL_R_JOB_NOT_FOUND "job-not-found"       /* answer lost, no matching job in the window */
#define IG_OBL_R_JOB_AMBIGUOUS "job-ambiguous"       /* answer lost, several jobs match */
#define IG_OBL_R_JOB_VANISHED "job-vanished"         /* SHOW IMPORT JOB n: the job does not exist */
#define IG_OBL_R_SELECT_LOST "select-answer-lost"    /* FROM SELECT: no job to look for */
#define IG_OBL_R_REIMPORT_UNCONFIRMABLE "reimport-unconfirmable" /* FROM SELECT re-import may have run */
#define IG_OBL_R_REIMPORT_AMBIGUOUS "reimport-ambiguous"         /* several downstream jobs match */
/* Records of a guarded Lightning run (origin "lightning", docs/LIGHTNING.md): */
#define IG_OBL_ORIGIN_LIGHTNING "lightning"
#define IG_OBL_R_LIGHTNING_FAILED "lightning-failed"   /* Lightning exited non-zero: part of the data may be in */
#define IG_OBL_R_LIGHTNING_UNKNOWN "lightning-outcome-unknown" /* the guarded run ended before Lightning's exit was recorded */
#define IG_OBL_R_REIMPORT_BY_OPERATOR "reimport-by-operator"   /* the downstream run of the Lightning task is the operator's */

typedef enum {
	IG_OEV_ANSWER_ERROR,   /* TiDB answered the import with an error (message) */
	IG_OEV_ANSWER_OK,      /* IMPORT INTO ... FROM SELECT answered OK: it has finished */
	IG_OEV_ANSWER_JOB,     /* the import's row: job_id, status, message */
	IG_OEV_ANSWER_LOST,    /* the answer never came (or its gateway died before it) */
	IG_OEV_JOB_STATUS,     /* SHOW IMPORT JOB n upstream: status, message */
	IG_OEV_JOB_GONE,       /* SHOW IMPORT JOB n: no such job (message) */
	IG_OEV_SEARCH,         /* SHOW IMPORT JOBS upstream: matches (0, 1: job_id, 2 = several), window_over */
	IG_OEV_ATTEMPT_FAILED, /* following or searching could not be done (message): back off */
	IG_OEV_STEP_BEGIN,     /* the current step is about to run: target (backup URI, downstream host) */
	IG_OEV_STEP_OK,        /* the current step is done */
	IG_OEV_STEP_FAILED,    /* the current step failed (message); reset: nothing ran, owed again from scratch */
	IG_OEV_REIMPORT_JOB,   /* the downstream import's row, or its job's status: job_id, status, message */
	IG_OEV_REIMPORT_SEARCH,/* SHOW IMPORT JOBS downstream: matches, job_id */
	IG_OEV_COMPLETE,       /* every step done */
	IG_OEV_DISMISS,        /* an operator dismisses it (message: who/why) */
} ig_obl_ev_kind;

typedef struct ig_obl_event {
	ig_obl_ev_kind kind;
	int64_t now_ms;        /* the time of the event (wall clock, ms) */
	int poll_ms;           /* obligations.poll_ms: when to look at a running job again */
	int err_code;          /* ANSWER_ERROR */
	const char *job_id, *status, *message, *target;
	int matches;           /* SEARCH, REIMPORT_SEARCH: 0, 1, 2 (several) */
	bool window_over;      /* SEARCH: the search window has passed */
	bool wait;             /* REIMPORT_SEARCH: the one job found may be another record's re-import
	                        * still running (ig_obl_may_share_downstream_job): look again later */
	bool reset;            /* STEP_FAILED: nothing ran (the step is owed again from scratch) */
} ig_obl_event;

/* What a record calls for next. */
typedef enum {
	IG_OACT_WAIT,            /* awaiting-answer: an event moves it */
	IG_OACT_SEARCH_JOB,      /* SHOW IMPORT JOBS upstream */
	IG_OACT_FOLLOW_JOB,      /* SHOW IMPORT JOB n upstream */
	IG_OACT_BACKUP,          /* BACKUP TABLE (begin it first when pending; a rerun when started) */
	IG_OACT_REIMPORT_SEND,   /* the original statement downstream (begin it first) */
	IG_OACT_REIMPORT_SEARCH, /* started without a job id: look for it downstream */
	IG_OACT_REIMPORT_FOLLOW, /* SHOW IMPORT JOB n downstream */
	IG_OACT_COMPLETE,        /* every step done: record it */
	IG_OACT_RELEASE,         /* terminal, or parked for an operator: nothing more to do here */
} ig_obl_action;

/* What a transition did: applied false = the event does not apply to the record as it is
 * (a terminal record, a stale or repeated event): nothing changed, nothing to write. A poll
 * that learns nothing new is quiet: writing it would cost a store write per record per poll.
 * audit/step: the audit event to write once the new version is stored (NULL: none). */
typedef struct ig_obl_effect {
	bool applied;
	bool quiet;         /* applied, but only when to look again changed (a running job polled,
	                     * a search that found nothing yet): kept in memory, nothing to write */
	const char *audit;  /* "obligation.step", ".not_owed", ".failed", ".done", ".dismissed" */
	const char *step;   /* its "step" field */
	const char *error;  /* its "error" (points into the record or the event) */
} ig_obl_effect;

/* The transition function. r is changed in place (allocation failure: -1, r may be half
 * changed: discard it). 0 otherwise, fx filled. Terminal records never change. */
int ig_obl_transition(ig_obl_record *r, const ig_obl_event *e, ig_obl_effect *fx);
ig_obl_action ig_obl_action_of(const ig_obl_record *r);
const char *ig_obl_action_name(ig_obl_action a);
int64_t ig_obl_backoff_ms(unsigned attempts);

/* One row of SHOW IMPORT JOBS (NULL columns as NULL). */
typedef struct ig_obl_job_row {
	const char *job_id, *data_source, *target_table, *create_time, *created_by;
} ig_obl_job_row;

/* Is this job the import of db.table from `source` by `user`, created in
 * [since_ms - slack, since_ms + window + slack]? create_time is "YYYY-MM-DD HH:MM:SS" UTC.
 * source NULL (unknown: a record from an older gateway) or user NULL are not compared.
 * Data_Source is TiDB's redacted location: compared up to the query ('?'), percent-decoded. */
bool ig_obl_job_matches(const ig_obl_job_row *row, const char *db, const char *table, const char *source,
                        const char *user, int64_t since_ms);
/* The same with Create_Time in [since_ms - slack, until_ms] (until_ms INT64_MAX: no bound). A
 * downstream re-import's job is created when it is sent, which can be long after the step was
 * recorded started (TiDB lists the files and runs its checks before it creates the job). */
bool ig_obl_job_matches_until(const ig_obl_job_row *row, const char *db, const char *table, const char *source,
                              const char *user, int64_t since_ms, int64_t until_ms);
/* Could `other`, still awaiting its answer, be the import of the job `r` looks for: can one
 * SHOW IMPORT JOBS row match both by ig_obl_job_matches (same table, user, location as the
 * search compares it, and windows that overlap: created up to window + 2 x slack apart)?
 * Then r must not take a matching job before other's answer tells whose it is. */
bool ig_obl_may_share_job(const ig_obl_record *other, const ig_obl_record *r);
/* Could the one downstream job r's re-import search found be `other`'s re-import, sent and
 * still running (its step started without a job id yet, same table and location), when
 * `other` began before r (ties broken by id)? Then r waits: other takes it, or its answer
 * names it. The younger waits, so two such records never wait for each other. */
bool ig_obl_may_share_downstream_job(const ig_obl_record *other, const ig_obl_record *r);
/* "YYYY-MM-DD HH:MM:SS[.frac]" as UTC ms; 0 when malformed. */
int64_t ig_obl_parse_utc_ms(const char *s);

#endif
