/*
 * oblexec.h - the obligations' executor (docs/OBLIGATIONS.md): carries out one action of a
 * record (policy/obllife.h) on a libmariadb service connection - SHOW IMPORT JOB(S), BACKUP
 * TABLE, the downstream re-import - and says what happened as an event for the transition
 * function. Never touches the store; blocking (the obligations thread only).
 */
#ifndef IMPORTGATE_OBLEXEC_H
#define IMPORTGATE_OBLEXEC_H

#include <stdbool.h>

#include "policy/config.h"
#include "policy/obllife.h"
#include "policy/oblrecord.h"

typedef struct ig_oblexec_ctx {
	const ig_config *cfg;
	unsigned epoch; /* the lease epoch the record was claimed in (for may_act) */
	/* Asked right before a statement that acts (BACKUP, the downstream IMPORT INTO) is sent,
	 * after the connection is up: false = our lease may be gone, send nothing. */
	bool (*may_act)(const struct ig_oblexec_ctx *c);
	/* Is this job some other record's already (upstream: a job found for a lost answer;
	 * downstream: a re-import's job)? */
	bool (*job_taken)(const struct ig_oblexec_ctx *c, const char *job_id, const char *self_id, bool downstream);
	void *owner; /* the obligations engine the two callbacks ask */
} ig_oblexec_ctx;

/* What an action led to: ev (its strings point into this struct). acted false: nothing
 * was done (may_act said no): there is no event to apply. */
typedef struct ig_oblexec_out {
	bool acted;
	ig_obl_event ev;
	char job_id[32], status[32], message[600], target[300];
} ig_oblexec_out;

/* SHOW IMPORT JOBS upstream as read (strings owned): one read answers every record that
 * looks for its job. */
typedef struct ig_oblexec_jobs {
	ig_obl_job_row *rows;
	size_t n;
} ig_oblexec_jobs;

void ig_oblexec_jobs_free(ig_oblexec_jobs *j);
/* r's search against jobs read at listed_ms (no I/O): a SEARCH event (matches, job_id,
 * window_over judged at listed_ms: a job created after the list was read is not in it). */
void ig_oblexec_search_in(const ig_oblexec_ctx *c, const ig_oblexec_jobs *jobs, int64_t listed_ms,
                          const ig_obl_record *r, ig_oblexec_out *o);

void ig_oblexec_follow(const ig_oblexec_ctx *c, const ig_obl_record *r, ig_oblexec_out *o);
/* BACKUP TABLE to r->backup.target; a rerun (the step was found started, not begun by this
 * owner just now) takes BR's
 * "backup meta file exists" as done. */
void ig_oblexec_backup(const ig_oblexec_ctx *c, const ig_obl_record *r, bool rerun, ig_oblexec_out *o);
void ig_oblexec_reimport_send(const ig_oblexec_ctx *c, const ig_obl_record *r, ig_oblexec_out *o);
void ig_oblexec_reimport_follow(const ig_oblexec_ctx *c, const ig_obl_record *r, ig_oblexec_out *o);
void ig_oblexec_reimport_search(const ig_oblexec_ctx *c, const ig_obl_record *r, ig_oblexec_out *o);

/* The statement(s) `action` calls for (SEARCH_JOB .. REIMPORT_FOLLOW; rerun: BACKUP only).
 * SEARCH_JOB only lists the jobs into *jobs (o: a SEARCH event without matches, or
 * ATTEMPT_FAILED): the caller matches every record that searches (ig_oblexec_search_in).
 * Any other action: acted = false. */
void ig_oblexec_run(const ig_oblexec_ctx *c, const ig_obl_record *r, ig_obl_action action, bool rerun,
                    ig_oblexec_out *o, ig_oblexec_jobs *jobs);

/* obligations.backup_uri filled in for r (malloc'd, NULL on OOM). */
char *ig_oblexec_backup_uri(const ig_config *cfg, const ig_obl_record *r);
/* The first downstream server, "host:port" (the target a re-import is begun with). */
void ig_oblexec_downstream_name(const ig_config *cfg, char *out, size_t outlen);

#endif
