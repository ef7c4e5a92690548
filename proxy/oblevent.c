/*
 * oblevent.c - news from outside the obligations thread, handled on it: a record created by a
 * session, the import's answer (or its loss), an operator's dismissal. An event for a record
 * not in our hands claims it first; an answer the store cannot take now is kept (deferred)
 * and delivered again every second, so it is never lost while its record waits for it.
 */
#include "proxy/obligations_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/audit.h"
#include "proxy/log.h"
#include "sqlparse/sqlparse.h"

/* A record not in our hands: read it afresh and claim it at that revision. 1 *out ours,
 * 0 absent, terminal or held by another replica, -1 the store did not answer. */
static int claim_one(ig_obligations *ob, const char *id, ig_obl_record **out)
{
	char err[512];
	ig_obl_record r;
	int got = ig_oblstore_get(ob->st, id, &r, err, sizeof(err)), rc;

	*out = NULL;
	if (got != 1)
		return got < 0 ? -1 : 0;
	if (ig_obl_state_terminal(r.state)) {
		ig_obl_record_free(&r);
		return 0;
	}
	if ((rc = ig_oblstore_claim(ob->st, &r, err, sizeof(err))) != 0) {
		ig_obl_record_free(&r);
		return rc < 0 ? -1 : 0;
	}
	*out = obl_own(ob, &r);
	return *out ? 1 : -1;
}

/*
 * Applies an event from outside (an answer, a dismissal) to record id, claiming it first
 * when it is not ours; a stale copy is re-read and the event applied to the fresh one (once).
 * Returns the step's result (STEP_ERROR: the store did not answer, try again later); *gone:
 * the record could not be had (absent, ended, or another replica's).
 */
static step_rc deliver(ig_obligations *ob, const char *id, const ig_obl_event *e, bool *gone)
{
	*gone = false;
	for (int attempt = 0; attempt < 2; attempt++) {
		ig_obl_record *r = obl_owned_find(ob, id);
		if (!r) {
			if (!obl_lease_ok(ob))
				return STEP_ERROR;
			int got = claim_one(ob, id, &r);
			if (got < 0)
				return STEP_ERROR;
			if (got == 0) {
				*gone = true;
				return STEP_IGNORED;
			}
		}
		step_rc rc = obl_apply(ob, r, e);
		if (rc != STEP_STALE) {
			obl_settle(ob, r, rc);
			return rc;
		}
		obl_disown(ob, r);
	}
	return STEP_ERROR; /* stale twice: the store is moving under us; try again later */
}

/* Answers a waiting dismissal; caller holds ob->mu. */
void obl_dismiss_complete(ig_obligations *ob, dismiss_wait *w, int rc, const char *msg)
{
	w->rc = rc;
	snprintf(w->err, sizeof(w->err), "%s", msg);
	w->done = true;
	pthread_cond_broadcast(&ob->done_cv);
	if (--w->refs == 0)
		free(w);
}

static void on_dismiss(ig_obligations *ob, obl_event *e)
{
	ig_obl_event ev = obl_event_now(ob, IG_OEV_DISMISS);
	char msg[256] = "";
	bool gone;
	step_rc rc;

	ev.message = "dismissed by an operator";
	struct inflight *f = obl_inflight_find(ob, e->id);
	if (f && !ig_obljob_withdraw(f->job) && ig_oblpool_acts(f->action)) {
		/* its statement may be on its way and cannot be recalled */
		snprintf(msg, sizeof(msg), "obligation %s: its %s is running now; dismiss it when it has ended", e->id,
		         f->action == IG_OACT_BACKUP ? "BACKUP" : "downstream import");
		pthread_mutex_lock(&ob->mu);
		obl_dismiss_complete(ob, e->wait, -1, msg);
		e->wait = NULL;
		pthread_mutex_unlock(&ob->mu);
		return;
	}
	rc = deliver(ob, e->id, &ev, &gone);
	if (gone)
		snprintf(msg, sizeof(msg), "obligation %s: not found, finished, or held by another replica "
		         "(try again there or when it is idle)", e->id);
	else if (rc == STEP_IGNORED)
		snprintf(msg, sizeof(msg), "obligation %s: nothing to dismiss (it waits for the import's answer)", e->id);
	else if (rc != STEP_TAKEN)
		snprintf(msg, sizeof(msg), "obligation %s: the store did not take the dismissal", e->id);
	pthread_mutex_lock(&ob->mu);
	obl_dismiss_complete(ob, e->wait, rc == STEP_TAKEN ? 0 : -1, msg);
	e->wait = NULL;
	pthread_mutex_unlock(&ob->mu);
}

void obl_event_free(obl_event *e)
{
	ig_obl_record_free(&e->rec);
	free(e->job_id);
	free(e->status);
	free(e->message);
	free(e);
}

/* The session's news about the import, as an event of the record's life. */
static ig_obl_event answer_event(ig_obligations *ob, const obl_event *e)
{
	ig_obl_event ev = obl_event_now(ob, IG_OEV_ANSWER_LOST);

	if (e->kind == EV_UNANSWERED)
		return ev;
	ev.kind = e->err_code ? IG_OEV_ANSWER_ERROR : IG_OEV_ANSWER_JOB;
	ev.err_code = e->err_code;
	ev.job_id = e->job_id;
	ev.status = e->status;
	ev.message = e->message;
	return ev;
}

/* An answer the store could not take now (unreachable): kept and delivered again in a
 * second, so the answer is not lost while the record waits for it. */
static void defer(ig_obligations *ob, obl_event *e)
{
	e->next = ob->deferred;
	ob->deferred = e;
	ob->deferred_at = obl_now_ms() + 1000;
}

/* Handles one event; false when it kept it (deferred), else the caller frees it. */
bool obl_handle(ig_obligations *ob, obl_event *e)
{
	if (e->kind == EV_DISMISS) {
		on_dismiss(ob, e);
		return false;
	}
	if (e->kind == EV_CREATED) {
		obl_view_set(ob, &e->rec); /* a scan since its creation may have replaced the view */
		if (!obl_owned_find(ob, e->rec.id) && obl_own(ob, &e->rec))
			memset(&e->rec, 0, sizeof(e->rec));
		return false;
	}
	if (!e->redacted) { /* the message may quote a location with its credentials */
		char *red = e->message ? sql_redact_text(e->message, strlen(e->message)) : NULL;
		free(e->message);
		e->message = red;
		e->redacted = true;
	}
	ig_obl_event ev = answer_event(ob, e);
	bool gone;
	if (deliver(ob, e->id, &ev, &gone) == STEP_ERROR) {
		if (!e->deferred_once)
			LOG_WARN(0, "obligation %s: the import's answer arrived while the store cannot take it; "
			         "kept and tried again every second", e->id);
		e->deferred_once = true;
		defer(ob, e);
		return true;
	}
	if (gone)
		LOG_WARN(0, "obligation %s: the import's answer arrived but the record is held elsewhere or "
		         "finished; its holder looks for the job", e->id);
	return false;
}

/* The deferred answers, when their time has come, before the new events. */
obl_event *obl_take_deferred(ig_obligations *ob, obl_event *ev)
{
	obl_event *d = ob->deferred, *last;

	if (!d || obl_now_ms() < ob->deferred_at)
		return ev;
	ob->deferred = NULL;
	for (last = d; last->next; last = last->next)
		;
	last->next = ev;
	return d;
}
