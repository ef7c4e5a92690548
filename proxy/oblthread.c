/*
 * oblthread.c - the obligations thread: owns the records this replica has claimed and
 * moves each through its life (policy/obllife.h), one step at a time (proxy/oblstep.c).
 * Each turn: the executors' outcomes first (their records wait for them, proxy/obloutcome.c),
 * then the parked outcomes and deferred answers whose time has come, then the events from
 * sessions and operators (proxy/oblevent.c), a scan of the store every obligations.poll_ms
 * (or at once after a step met a stale copy), then every owned record that is due.
 * The scan claims what nobody carries (a dead replica's, a previous run's, ours after the
 * lease wobbled), each at the revision listed.
 */
#include "proxy/obligations_int.h"

#include <jansson.h>
#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/audit.h"
#include "proxy/log.h"

/* A record we just claimed from the store (its copy is current at its revision). */
static void adopt(ig_obligations *ob, ig_obl_record *o)
{
	/* Ours from this process (its created event or answer is on its way): keep waiting. */
	if (o->state == IG_OBLS_AWAITING_ANSWER && o->replica && strcmp(o->replica, ob->replica) == 0)
		return;
	LOG_INFO(o->conn_id, "obligation %s: claimed (%s, revision %lld, last written by %s)", o->id,
	         ig_obl_state_name(o->state), (long long)o->rev, o->replica ? o->replica : "?");
	obl_audit(ob, "obligation.claimed", o, NULL, NULL);
	o->next_try_ms = 0;
	o->attempts = 0;
	if (o->state == IG_OBLS_AWAITING_ANSWER) { /* its gateway died before the answer */
		ig_obl_event e = obl_event_now(ob, IG_OEV_ANSWER_LOST);
		obl_settle(ob, o, obl_apply(ob, o, &e));
		return;
	}
	obl_apply_parked(ob, o); /* an outcome that came back while it was out of our hands */
}

/* Claims what nobody carries (a dead replica's, a previous run's, or ours after the lease
 * wobbled), each at the revision listed: one that moved on since is not claimed. */
static void scan(ig_obligations *ob)
{
	char err[512];
	ig_obl_record *recs;
	size_t n;
	int64_t now = obl_now_ms();

	ob->rescan = false;
	if (ig_oblstore_list(ob->st, &recs, &n, err, sizeof(err)) < 0) {
		LOG_WARN(0, "obligations: cannot list the store: %s", err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		ig_obl_record *r = &recs[i], c;
		if (ig_obl_state_terminal(r->state)) {
			if (now - r->updated_ms > RETENTION_MS)
				ig_oblstore_delete(ob->st, r, err, sizeof(err));
			continue;
		}
		/* another replica's: a claim would only cost two round trips to fail */
		if (r->state == IG_OBLS_OUTCOME_UNKNOWN || r->held == IG_OBL_HELD_OTHER || obl_owned_find(ob, r->id))
			continue;
		if (!obl_lease_ok(ob))
			break;
		if (ig_oblstore_claim(ob->st, r, err, sizeof(err)) != 0 || ig_obl_record_copy(&c, r) < 0)
			continue;
		ig_obl_record *o = obl_own(ob, &c);
		if (o)
			adopt(ob, o);
	}
	obl_prune_parked(ob, recs, n);
	obl_view_replace(ob, recs, n);
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Runs the owned records that are due; stops early for queued events. */
static int64_t work_due(ig_obligations *ob, int64_t wake)
{
	for (size_t i = 0; i < ob->nowned;) {
		if (obl_inflight_find(ob, ob->owned[i].id) || obl_parked_find(ob, ob->owned[i].id)) { /* its outcome moves it */
			i++;
			continue;
		}
		if (ob->owned[i].next_try_ms <= obl_now_ms()) {
			int rc = obl_work(ob, &ob->owned[i]);
			if (rc == 2)
				return obl_now_ms() + 1000; /* everything dropped: look at the lease again soon */
			if (rc == 1)
				continue; /* removed: index i holds another record now */
			pthread_mutex_lock(&ob->mu);
			bool stop = ob->stopping || ob->head || ob->results;
			pthread_mutex_unlock(&ob->mu);
			if (stop)
				return obl_now_ms(); /* events first (an answer waits on the loop's side) */
		}
		wake = min64(wake, ob->owned[i].next_try_ms);
		i++;
	}
	return wake;
}

/* Before the file store exists no record does: a dismissal is answered so, at once. Dropped
 * unanswered, its admin request waited DISMISS_WAIT_MS on a thread of the pool that decides
 * imports, and its wait record leaked (attack24). */
static void not_found(ig_obligations *ob, obl_event *e)
{
	char msg[256];

	if (e->kind != EV_DISMISS || !e->wait)
		return;
	snprintf(msg, sizeof(msg), "obligation %s: not found (no obligation has been recorded)", e->id);
	pthread_mutex_lock(&ob->mu);
	obl_dismiss_complete(ob, e->wait, -1, msg);
	e->wait = NULL;
	pthread_mutex_unlock(&ob->mu);
}

static void *thread_main(void *arg)
{
	pthread_setname_np(pthread_self(), "ig-obligations"); /* its name in top -H, ps -L, perf */
	ig_obligations *ob = arg;
	int64_t next_scan = 0;

	mysql_thread_init();
	for (;;) {
		pthread_mutex_lock(&ob->mu);
		obl_event *ev = ob->head;
		ig_obljob *res = ob->results;
		ob->head = ob->tail = NULL;
		ob->results = ob->results_tail = NULL;
		bool stop = ob->stopping, open = ob->st != NULL;
		pthread_mutex_unlock(&ob->mu);
		for (ig_obljob *n; res; res = n) { /* outcomes first: their records wait for them */
			n = res->next;
			if (!obl_on_result(ob, res))
				ig_obljob_free(res);
		}
		if (!open) { /* nothing can be owed before the file store exists (ig_obl_create opens it) */
			for (obl_event *n; ev; ev = n) {
				n = ev->next;
				not_found(ob, ev);
				obl_event_free(ev);
			}
			if (stop)
				break;
			pthread_mutex_lock(&ob->mu);
			if (!ob->head && !ob->results && !ob->stopping && !ob->st)
				pthread_cond_wait(&ob->cv, &ob->mu);
			pthread_mutex_unlock(&ob->mu);
			continue;
		}
		if (ob->parked && obl_now_ms() >= ob->parked_at)
			obl_retry_parked(ob);
		ev = obl_take_deferred(ob, ev);
		for (obl_event *n; ev; ev = n) {
			n = ev->next;
			if (!obl_handle(ob, ev))
				obl_event_free(ev);
		}
		if (stop)
			break;
		if (obl_now_ms() >= next_scan || ob->rescan) {
			scan(ob);
			next_scan = obl_now_ms() + obl_poll_ms(ob);
		}
		int64_t wake = work_due(ob, next_scan);
		if (ob->rescan)
			wake = obl_now_ms();
		if (ob->deferred)
			wake = min64(wake, ob->deferred_at);
		if (ob->parked)
			wake = min64(wake, ob->parked_at);
		pthread_mutex_lock(&ob->mu);
		if (!ob->head && !ob->results && !ob->stopping && wake > obl_now_ms()) {
			struct timespec ts = {.tv_sec = (time_t)(wake / 1000), .tv_nsec = (long)(wake % 1000) * 1000000};
			pthread_cond_timedwait(&ob->cv, &ob->mu, &ts);
		}
		pthread_mutex_unlock(&ob->mu);
	}
	mysql_thread_end();
	return NULL;
}

int obl_thread_start(ig_obligations *ob)
{
	return pthread_create(&ob->thread, NULL, thread_main, ob);
}

/* Stops the obligations thread (no new step starts). The lease thread is stopped apart, after
 * the executors: a statement still running keeps the lease it was sent under. */
void obl_stop_threads(ig_obligations *ob)
{
	pthread_mutex_lock(&ob->mu);
	ob->stopping = true;
	pthread_cond_signal(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
	pthread_join(ob->thread, NULL);
}
