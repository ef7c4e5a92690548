/*
 * obloutcome.c - statements run on executor threads (proxy/oblpool.c): a record whose action
 * runs statements is handed over as a copy and sits out until its outcome comes back; the
 * outcome is applied only at the revision handed over (claimed back there if the record was
 * dropped meanwhile) and kept (parked) until then while the store does not answer, so a
 * statement that ran is not sent again by this replica. A record's own steps are one at a
 * time; job searches one at a time per direction (one SHOW IMPORT JOBS answers every record
 * searching; a job found by one record is then excluded from the next record's search).
 */
#include "proxy/obligations_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/grow.h"
#include "proxy/audit.h"
#include "proxy/log.h"

/* Executors (a search): is the job some other record's already, as the view shows? */
bool obl_job_taken(const ig_oblexec_ctx *c, const char *job_id, const char *self_id, bool downstream)
{
	const ig_obligations *ob = c->owner;

	return ig_oblview_job_taken(ob->view, job_id, self_id, downstream);
}

/* ---- records handed to the executors ---- */

struct inflight *obl_inflight_find(ig_obligations *ob, const char *id)
{
	for (size_t i = 0; i < ob->ninflight; i++)
		if (strcmp(ob->inflight[i].id, id) == 0)
			return &ob->inflight[i];
	return NULL;
}

bool obl_is_search(ig_obl_action a)
{
	return a == IG_OACT_SEARCH_JOB || a == IG_OACT_REIMPORT_SEARCH;
}

/* A search of the same direction is running: the next waits for its outcome. */
bool obl_search_running(ig_obligations *ob, ig_obl_action a)
{
	for (size_t i = 0; i < ob->ninflight; i++)
		if (ob->inflight[i].action == a)
			return true;
	return false;
}


/* Hands o's action to an executor (o sits out until the outcome is back). 0, or -1 (out of
 * memory: o is tried again in a second). */
int obl_dispatch(ig_obligations *ob, ig_obl_record *o, ig_obl_action action, bool rerun)
{
	bool room = ig_grow(&ob->inflight, ob->ninflight, sizeof(*ob->inflight)) == 0;
	ig_obljob *j = calloc(1, sizeof(*j));

	if (!room || !j || ig_obl_record_copy(&j->rec, o) < 0) {
		free(j);
		o->next_try_ms = obl_now_ms() + 1000;
		LOG_ERROR(o->conn_id, "obligation %s: out of memory handing it to an executor", o->id);
		return -1;
	}
	j->action = action;
	j->rerun = rerun;
	j->epoch = ob->epoch;
	snprintf(ob->inflight[ob->ninflight].id, sizeof(ob->inflight[0].id), "%s", o->id);
	ob->inflight[ob->ninflight].job = j;
	ob->inflight[ob->ninflight++].action = action;
	if (ig_oblpool_acts(action))
		ob->nacting++;
	o->next_try_ms = NEVER;
	ig_oblpool_submit(ob->pool, j);
	return 0;
}

/* Executor side: the outcome goes back to the obligations thread. */
void obl_job_done(void *engine, ig_obljob *j)
{
	ig_obligations *ob = engine;

	pthread_mutex_lock(&ob->mu);
	j->next = NULL;
	if (ob->results_tail)
		ob->results_tail->next = j;
	else
		ob->results = j;
	ob->results_tail = j;
	pthread_cond_signal(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
}

/* ---- outcomes: kept until applied or proven stale ---- */

/* Kept to try again (the store did not answer): by the retry timer, or when a scan claims
 * the record back at that revision. */
static bool park(ig_obligations *ob, ig_obljob *j)
{
	j->next = ob->parked;
	ob->parked = j;
	if (ob->parked_at == 0)
		ob->parked_at = obl_now_ms() + 1000;
	return true;
}

ig_obljob *obl_parked_find(ig_obligations *ob, const char *id)
{
	for (ig_obljob *j = ob->parked; j; j = j->next)
		if (strcmp(j->rec.id, id) == 0)
			return j;
	return NULL;
}

/* A record not in our hands (dropped by a lease wobble, or our claim lost) claimed back at
 * the revision its outcome was handed over at: 1 ours, 0 it moved on or another replica
 * holds it, -1 the store did not answer. Only a BACKUP re-run can have been sent by another
 * holder without a write; applying our outcome on top is still right (done is done; a failed
 * one is run again). */
static int claim_back(ig_obligations *ob, ig_obljob *j, ig_obl_record **out)
{
	char err[512];
	ig_obl_record c;
	int rc = obl_lease_ok(ob) ? ig_oblstore_claim(ob->st, &j->rec, err, sizeof(err)) : -1;

	*out = NULL;
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (ig_obl_record_copy(&c, &j->rec) < 0 || !(*out = obl_own(ob, &c)))
		return -1;
	LOG_INFO((*out)->conn_id, "obligation %s: claimed back at revision %lld for the outcome of its %s",
	         (*out)->id, (long long)(*out)->rev, ig_obl_action_name(j->action));
	obl_audit(ob, "obligation.claimed", *out, NULL, NULL);
	return 1;
}

/*
 * Applies an executor's outcome to its record at the revision it was handed over at, or
 * keeps it until that can be done: a statement that ran is never forgotten while its record
 * is unchanged (else the same replica would send it again). true: kept (parked).
 *   - ours at that revision: applied; the store did not answer: kept; our claim is gone or
 *     the write met a newer version: claimed back at that revision, else it moved on;
 *   - ours at another revision: it moved on (the outcome is older than the record);
 *   - not ours: claimed back at that revision, else it moved on;
 *   - a search's outcome is never kept: a search is simply done again.
 */
static bool deliver_outcome(ig_obligations *ob, ig_obljob *j)
{
	ig_obl_record *o = obl_owned_find(ob, j->rec.id);

	for (int attempt = 0; attempt < 2; attempt++) {
		if (o && o->rev != j->rec.rev) {
			LOG_DEBUG(j->rec.conn_id, "obligation %s: an outcome for an older version (%s) is dropped",
			          j->rec.id, ig_obl_action_name(j->action));
			o->next_try_ms = 0;
			return false;
		}
		if (!o) {
			if (obl_is_search(j->action))
				return false;
			int got = claim_back(ob, j, &o);
			if (got < 0)
				return park(ob, j);
			if (got == 0)
				return false;
		}
		step_rc rc = obl_apply(ob, o, &j->out.ev);
		switch (rc) {
		case STEP_TAKEN:
			obl_settle(ob, o, rc);
			return false;
		case STEP_IGNORED:
			o->next_try_ms = obl_now_ms() + obl_poll_ms(ob); /* it did not apply: look again later */
			return false;
		case STEP_ERROR:
			if (obl_is_search(j->action)) {
				obl_settle(ob, o, rc);
				return false;
			}
			o->next_try_ms = NEVER; /* the outcome is retried, not the statement */
			return park(ob, j);
		case STEP_STALE:
			obl_disown(ob, o); /* claim lost, or a newer version: claim back at our revision, once */
			ob->rescan = true;
			o = NULL;
			break;
		}
	}
	return false;
}

/* The parked outcomes, again (every second while there are any). */
void obl_retry_parked(ig_obligations *ob)
{
	ig_obljob *list = ob->parked;

	ob->parked = NULL;
	ob->parked_at = 0;
	for (ig_obljob *j = list, *n; j; j = n) {
		n = j->next;
		if (!deliver_outcome(ob, j))
			ig_obljob_free(j);
	}
}

/* A parked outcome of a record just claimed by a scan. */
void obl_apply_parked(ig_obligations *ob, ig_obl_record *o)
{
	for (ig_obljob **pp = &ob->parked; *pp; pp = &(*pp)->next) {
		ig_obljob *j = *pp;
		if (strcmp(j->rec.id, o->id) != 0)
			continue;
		*pp = j->next;
		if (!deliver_outcome(ob, j))
			ig_obljob_free(j);
		return;
	}
}

/* Parked outcomes whose record the scan shows moved on, ended or gone are dropped. */
void obl_prune_parked(ig_obligations *ob, const ig_obl_record *recs, size_t n)
{
	for (ig_obljob **pp = &ob->parked; *pp;) {
		ig_obljob *j = *pp;
		bool keep = false;
		for (size_t i = 0; i < n && !keep; i++)
			keep = strcmp(recs[i].id, j->rec.id) == 0 && recs[i].rev == j->rec.rev &&
			       !ig_obl_state_terminal(recs[i].state);
		if (keep) {
			pp = &j->next;
		} else {
			ig_obl_record *o = obl_owned_find(ob, j->rec.id);
			if (o) /* it waited for this outcome (NEVER): it looks at itself again */
				o->next_try_ms = 0;
			*pp = j->next;
			ig_obljob_free(j);
		}
	}
}

/* A job of action `ended` came back: the records sitting out (NEVER) for it may go - after
 * a search, those waiting to search that way; after a statement that acts, those waiting for
 * a free executor. */
static void wake_waiting(ig_obligations *ob, ig_obl_action ended)
{
	bool acting = ig_oblpool_acts(ended);

	for (size_t i = 0; i < ob->nowned; i++) {
		ig_obl_record *r = &ob->owned[i];
		ig_obl_action a = ig_obl_action_of(r);
		if (r->next_try_ms == NEVER && (acting ? ig_oblpool_acts(a) : a == ended) && !obl_inflight_find(ob, r->id) &&
		    !obl_parked_find(ob, r->id))
			r->next_try_ms = 0;
	}
}

/* An executor's outcome (deliver_outcome). A withdrawn job, or one whose statement the lease
 * guard stopped, sent nothing: the record looks again. Returns true when it kept j. */
bool obl_on_result(ig_obligations *ob, ig_obljob *j)
{
	struct inflight *f = obl_inflight_find(ob, j->rec.id);
	ig_obl_record *o;

	if (f) {
		if (ig_oblpool_acts(f->action))
			ob->nacting--;
		*f = ob->inflight[--ob->ninflight];
	}
	if (ig_oblpool_acts(j->action))
		wake_waiting(ob, j->action);
	if (j->action == IG_OACT_SEARCH_JOB && j->out.acted && j->out.ev.kind == IG_OEV_SEARCH) {
		obl_search_all(ob, j); /* the list is news for every record that searches, whatever its version */
		wake_waiting(ob, j->action);
		return false;
	}
	if (obl_is_search(j->action))
		wake_waiting(ob, j->action);
	if (!j->out.acted) { /* withdrawn, or the lease guard stopped it: nothing was sent */
		if (atomic_load(&j->state) != IG_OBLJOB_WITHDRAWN && !obl_lease_ok(ob))
			return false; /* every record dropped: the scan claims them back */
		if ((o = obl_owned_find(ob, j->rec.id)))
			o->next_try_ms = 0;
		return false;
	}
	/* a single downstream job found may be an older record's re-import still running */
	if (j->action == IG_OACT_REIMPORT_SEARCH && j->out.ev.kind == IG_OEV_REIMPORT_SEARCH &&
	    j->out.ev.matches == 1 && ig_oblview_any(ob->view, ig_obl_may_share_downstream_job, &j->rec))
		j->out.ev.wait = true;
	return deliver_outcome(ob, j);
}
