/*
 * oblstep.c - one step of one record, on the obligations thread: the action a record calls
 * for is taken here (wait, complete, release) or begun and handed to an executor
 * (proxy/obloutcome.c); what happened becomes an event, the transition function
 * (policy/obllife.h) gives the record's next version, and the store takes it only by a
 * compare-and-swap on the revision this copy was read at (store/oblstore.h). A step on a
 * stale copy writes nothing: the record is dropped and re-read (a terminal record is never
 * reopened). Also the records this replica owns, their audit events, and the published view
 * (proxy/oblview.c). A step is recorded started only when an executor can send it at once.
 */
#include "proxy/obligations_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/grow.h"
#include "proxy/auditev.h"
#include "proxy/log.h"

/* ---- audit ---- */

/*
 * Durable (ig_audit_write: one write, fdatasync with audit.fsync: always), on the thread
 * that takes the step, after the store took the transition and before the action that
 * follows it runs. A failed write is logged and counted; it does not hold the obligation
 * back (an owed backup is not withheld because the audit disk is full).
 */
void obl_audit(ig_obligations *ob, const char *event, const ig_obl_record *r, const char *step, const char *error)
{
	char err[512];
	if (ig_auditev_obligation(event, r, step, error, ob->replica, err, sizeof(err)) < 0)
		LOG_ERROR(r->conn_id, "obligation %s: %s not audited: %s", r->id, event, err);
}

/* ---- the published snapshot (proxy/oblview.c) ---- */

void obl_view_set(ig_obligations *ob, const ig_obl_record *r)
{
	if (ob->view)
		ig_oblview_set(ob->view, r);
}

/* After a scan: the store's list becomes the view, our own versions over it (at least as new). */
void obl_view_replace(ig_obligations *ob, ig_obl_record *recs, size_t n)
{
	ig_oblview_replace(ob->view, recs, n);
	for (size_t i = 0; i < ob->nowned; i++)
		obl_view_set(ob, &ob->owned[i]);
}

/* ---- owned records ---- */

ig_obl_record *obl_owned_find(ig_obligations *ob, const char *id)
{
	for (size_t i = 0; i < ob->nowned; i++)
		if (strcmp(ob->owned[i].id, id) == 0)
			return &ob->owned[i];
	return NULL;
}

/* Takes ownership of *r. */
ig_obl_record *obl_own(ig_obligations *ob, ig_obl_record *r)
{
	if (ig_grow(&ob->owned, ob->nowned, sizeof(*ob->owned)) < 0) {
		ig_obl_record_free(r);
		return NULL;
	}
	ob->owned[ob->nowned] = *r;
	return &ob->owned[ob->nowned++];
}

/* Forgets a record (its claim, if any, stays until released or its lease ends). */
void obl_disown(ig_obligations *ob, ig_obl_record *r)
{
	size_t i = (size_t)(r - ob->owned);

	ig_obl_record_free(r);
	ob->owned[i] = ob->owned[--ob->nowned];
}

/* ---- one step: the transition, then a compare-and-swap ---- */

static void log_effect(const ig_obl_record *r, const ig_obl_effect *fx)
{
	if (fx->error)
		LOG_WARN(r->conn_id, "obligation %s: %s %s: %s", r->id, ig_obl_state_name(r->state),
		         fx->step ? fx->step : "", fx->error);
	else if (fx->audit)
		LOG_INFO(r->conn_id, "obligation %s: %s %s", r->id, ig_obl_state_name(r->state), fx->step ? fx->step : "");
}

/*
 * Applies e to our copy *o and writes the result, compared with the revision *o was read
 * at. Terminal or parked results are written with the claim let go (finish). Only when the
 * store took it does *o become the new version, and then its audit event is written.
 */
step_rc obl_apply(ig_obligations *ob, ig_obl_record *o, const ig_obl_event *e)
{
	ig_obl_record next;
	ig_obl_effect fx;
	char err[512];
	int rc;

	if (ig_obl_record_copy(&next, o) < 0)
		return STEP_ERROR;
	if (ig_obl_transition(&next, e, &fx) < 0 || ig_obl_set_str(&next.replica, ob->replica) < 0) {
		ig_obl_record_free(&next);
		return STEP_ERROR;
	}
	if (!fx.applied) {
		ig_obl_record_free(&next);
		return STEP_IGNORED;
	}
	if (fx.quiet) { /* only when to look again: the stored version stays as it is */
		o->next_try_ms = next.next_try_ms;
		ig_obl_record_free(&next);
		return STEP_TAKEN;
	}
	next.updated_ms = obl_now_ms();
	if (ig_obl_action_of(&next) == IG_OACT_RELEASE)
		rc = ig_oblstore_finish(ob->st, &next, err, sizeof(err));
	else
		rc = ig_oblstore_advance(ob->st, &next, err, sizeof(err));
	if (rc != 0) {
		if (rc < 0)
			LOG_WARN(o->conn_id, "obligation %s: cannot write its state (%s); retrying", o->id, err);
		else
			LOG_WARN(o->conn_id, "obligation %s: our copy (revision %lld) is stale or no longer ours; "
			         "re-reading it", o->id, (long long)o->rev);
		ig_obl_record_free(&next);
		return rc < 0 ? STEP_ERROR : STEP_STALE;
	}
	ig_obl_record_free(o);
	*o = next;
	log_effect(o, &fx);
	if (fx.audit)
		obl_audit(ob, fx.audit, o, fx.step, fx.error);
	obl_view_set(ob, o);
	return STEP_TAKEN;
}

/* After apply: 1 when the record left our hands (done, parked, or stale: re-read). */
int obl_settle(ig_obligations *ob, ig_obl_record *o, step_rc rc)
{
	switch (rc) {
	case STEP_TAKEN:
		if (ig_obl_action_of(o) != IG_OACT_RELEASE)
			return 0;
		obl_disown(ob, o); /* written with its claim let go */
		return 1;
	case STEP_STALE:
		obl_disown(ob, o);
		ob->rescan = true;
		return 1;
	case STEP_ERROR:
		o->next_try_ms = obl_now_ms() + 1000; /* the store did not take it: retry soon */
		return 0;
	case STEP_IGNORED:
		return 0;
	}
	return 0;
}

ig_obl_event obl_event_now(ig_obligations *ob, ig_obl_ev_kind k)
{
	return (ig_obl_event){.kind = k, .now_ms = obl_now_ms(), .poll_ms = obl_poll_ms(ob)};
}

/* ---- the work of one record ---- */

/* Records the current step as started (with its target) before it runs. */
static step_rc begin_step(ig_obligations *ob, ig_obl_record *o, const char *target)
{
	ig_obl_event e = obl_event_now(ob, IG_OEV_STEP_BEGIN);

	e.target = target;
	return obl_apply(ob, o, &e);
}

/* The action o calls for: taken here (wait, complete, release) or begun and handed to an
 * executor. 0 kept, 1 o left our hands, 2 every record dropped. */
int obl_work(ig_obligations *ob, ig_obl_record *o)
{
	ig_obl_action action = ig_obl_action_of(o);
	bool rerun = false;
	step_rc rc;
	char name[300];

	if (!obl_lease_ok(ob))
		return 2;
	switch (action) {
	case IG_OACT_WAIT:
		o->next_try_ms = NEVER; /* an event moves it */
		return 0;
	case IG_OACT_RELEASE: /* not expected here: terminal and parked records are let go when written */
		ig_oblstore_release(ob->st, o->id, name, sizeof(name));
		obl_disown(ob, o);
		return 1;
	case IG_OACT_COMPLETE: {
		ig_obl_event e = obl_event_now(ob, IG_OEV_COMPLETE);
		return obl_settle(ob, o, obl_apply(ob, o, &e));
	}
	default:
		break;
	}
	if (obl_is_search(action) && obl_search_running(ob, action)) {
		o->next_try_ms = NEVER; /* woken when the running search's outcome is in */
		return 0;
	}
	/* A step is recorded started only when an executor can send it at once: a re-import's
	 * downstream job is looked for from that time after a crash, so it must not wait in a
	 * queue first. Woken when a statement that acts ends. */
	if (ig_oblpool_acts(action) && ob->nacting >= (unsigned)ob->cfg->obligations.executors) {
		o->next_try_ms = NEVER;
		return 0;
	}
	if (action == IG_OACT_BACKUP) {
		rerun = o->backup.state == IG_STEP_STARTED; /* found started: it may have run */
		if (!rerun) {
			char *uri = ig_oblexec_backup_uri(ob->cfg, o);
			rc = uri ? begin_step(ob, o, uri) : STEP_ERROR;
			free(uri);
			if (rc != STEP_TAKEN)
				return obl_settle(ob, o, rc);
		}
	} else if (action == IG_OACT_REIMPORT_SEND) {
		ig_oblexec_downstream_name(ob->cfg, name, sizeof(name));
		if ((rc = begin_step(ob, o, name)) != STEP_TAKEN)
			return obl_settle(ob, o, rc);
	}
	obl_dispatch(ob, o, action, rerun);
	return 0;
}

/* A record that searches, by its id (settling one may move the others in ob->owned). */
typedef struct searcher {
	int64_t created_ms;
	char id[IG_OBL_ID_LEN + 1];
} searcher;

static int by_created(const void *a, const void *b)
{
	const searcher *x = a, *y = b;

	return x->created_ms < y->created_ms ? -1 : x->created_ms > y->created_ms;
}

/* One SHOW IMPORT JOBS answers every record that looks for its job (oldest first, as one
 * search after another would: a job found by one is left out of the next one's). A job that
 * a record still awaiting its answer may own is not taken (ambiguous once the window is
 * over). A found job whose record could not be written ends the batch: the next records
 * must not count it free. */
void obl_search_all(ig_obligations *ob, const ig_obljob *j)
{
	ig_oblexec_ctx c = {.cfg = ob->cfg, .may_act = obl_may_act, .job_taken = obl_job_taken, .owner = ob};
	searcher *due = calloc(ob->nowned ? ob->nowned : 1, sizeof(*due));
	size_t n = 0;

	if (!due)
		return; /* the records searching stay due: the next search is theirs */
	for (size_t i = 0; i < ob->nowned; i++) {
		const ig_obl_record *r = &ob->owned[i];
		if (ig_obl_action_of(r) == IG_OACT_SEARCH_JOB && !obl_inflight_find(ob, r->id)) {
			due[n].created_ms = r->created_ms;
			snprintf(due[n++].id, sizeof(due[0].id), "%s", r->id);
		}
	}
	qsort(due, n, sizeof(*due), by_created);
	for (size_t i = 0; i < n; i++) {
		ig_obl_record *r = obl_owned_find(ob, due[i].id);
		ig_oblexec_out x;
		if (!r)
			continue;
		ig_oblexec_search_in(&c, &j->jobs, j->out.ev.now_ms, r, &x);
		if (x.ev.matches == 1 && ig_oblview_any(ob->view, ig_obl_may_share_job, r))
			x.ev.matches = x.ev.window_over ? 2 : 0;
		step_rc rc = obl_apply(ob, r, &x.ev);
		obl_settle(ob, r, rc);
		if (x.ev.matches == 1 && rc != STEP_TAKEN)
			break;
	}
	free(due);
}
