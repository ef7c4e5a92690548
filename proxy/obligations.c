/*
 * obligations.c - the obligations thread: owns the records this replica has claimed and
 * moves each through its life (policy/obllife.h), one step at a time: the action a record
 * calls for is carried out (proxy/oblexec.c), what happened becomes an event, the
 * transition function gives the record's next version, and the store takes it only by a
 * compare-and-swap on the revision this copy was read at (store/oblstore.h). A step on a
 * stale copy writes nothing: the record is dropped and re-read (a terminal record is never
 * reopened). Other threads talk to this one through a queue of events (created, answered,
 * unanswered, dismiss) and read a published snapshot for the admin API.
 *
 * Statements run on executor threads (proxy/oblpool.c): a record whose action runs
 * statements is handed over as a copy and sits out until its outcome comes back; the outcome
 * is applied only at the revision handed over (claimed back there if the record was dropped
 * meanwhile) and kept until then while the store does not answer, so a statement that ran is
 * not sent again by this replica. A step is recorded started only when an executor can send
 * it at once. A record's own steps are one at a time; job searches one at a time per
 * direction (one SHOW IMPORT JOBS answers every record searching; a job found by one record
 * is then excluded from the next record's search). The published view is proxy/oblview.c.
 *
 * Leases: a second thread keeps this replica's lease alive, whatever the executors are
 * running (a BACKUP can take minutes). Before each step, and again right before
 * a statement that acts is sent, the lease must be known alive for LEASE_GUARD_MS more;
 * when it is not, every record is dropped from memory (nothing written) until the lease is
 * healthy again, so no step starts after the point where another replica could claim.
 */
#include "proxy/obligations.h"

#include <errno.h>
#include <jansson.h>
#include <mysql.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "policy/decide.h"
#include "policy/grow.h"
#include "policy/obllife.h"
#include "store/oblstore.h"
#include "proxy/auditev.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/oblexec.h"
#include "proxy/oblpool.h"
#include "proxy/oblview.h"
#include "sqlparse/sqlparse.h"

#define LEASE_TTL_S 10
#define LEASE_GUARD_MS (LEASE_TTL_S * 1000 / 2) /* stop acting when less of the lease is left */
#define KEEPALIVE_MS (LEASE_TTL_S * 1000 / 4)
#define RETENTION_MS (7 * 86400000LL) /* terminal records kept this long for the status */
#define NEVER INT64_MAX
#define DISMISS_WAIT_MS 30000

typedef enum { EV_CREATED, EV_ANSWERED, EV_UNANSWERED, EV_DISMISS } ev_kind;

/* Shared by the admin thread waiting and the obligations thread answering: the last of
 * the two to let go frees it (the waiter may give up first). Fields under g.mu. */
typedef struct dismiss_wait {
	int refs;
	bool done;
	int rc;
	char err[256];
} dismiss_wait;

typedef struct obl_event {
	struct obl_event *next;
	ev_kind kind;
	char id[IG_OBL_ID_LEN + 1];
	ig_obl_record rec;     /* EV_CREATED */
	char *job_id, *status, *message;
	int err_code;
	bool redacted;         /* message already redacted (a deferred answer) */
	bool deferred_once;    /* said so in the log already */
	dismiss_wait *wait;    /* EV_DISMISS */
} obl_event;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* events for the thread */
	pthread_cond_t done_cv; /* dismissals answered */
	pthread_cond_t lease_cv;/* wakes the lease thread (stop) */
	bool running, stopping;
	bool lease_stopping;    /* the lease thread's own: it outlives the executors at a stop */
	pthread_t thread, lease_thread;
	ig_config *cfg;
	ig_oblstore *st;        /* NULL: file store not opened yet (see ig_obl_start) */
	pthread_mutex_t open_mu;
	char replica[160];
	obl_event *head, *tail;
	ig_obljob *results, *results_tail; /* outcomes from the executors */
	ig_oblview *view;       /* published snapshot (its own lock) */
	ig_oblpool *pool;
	/* the thread's own */
	ig_obl_record *owned;
	size_t nowned;
	struct inflight { /* handed to an executor; the job is the executor's until its outcome is back */
		char id[IG_OBL_ID_LEN + 1];
		ig_obl_action action;
		ig_obljob *job;
	} *inflight;
	size_t ninflight;
	ig_obljob *parked;      /* outcomes not applied yet (store unreachable): applied at the
	                         * revision they were handed over at, or dropped once it moved on */
	int64_t parked_at;      /* when to try them again */
	unsigned nacting;       /* handed-over statements that act (BACKUP, downstream import) */
	unsigned epoch;         /* the lease epoch our owned records were claimed in */
	bool rescan;            /* a step met a stale copy: re-read the store soon */
	obl_event *deferred;    /* answers the store did not take yet: handled again at deferred_at */
	int64_t deferred_at;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .open_mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
       .done_cv = PTHREAD_COND_INITIALIZER, .lease_cv = PTHREAD_COND_INITIALIZER};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int poll_ms(void)
{
	return g.cfg->obligations.poll_ms > 0 ? g.cfg->obligations.poll_ms : 5000;
}

/* ---- audit ---- */

/*
 * Durable (ig_audit_write: one write, fdatasync with audit.fsync: always), on the thread
 * that takes the step, after the store took the transition and before the action that
 * follows it runs. A failed write is logged and counted; it does not hold the obligation
 * back (an owed backup is not withheld because the audit disk is full).
 */
static void audit(const char *event, const ig_obl_record *r, const char *step, const char *error)
{
	char err[512];
	if (ig_auditev_obligation(event, r, step, error, g.replica, err, sizeof(err)) < 0)
		LOG_ERROR(r->conn_id, "obligation %s: %s not audited: %s", r->id, event, err);
}

/* ---- the published snapshot (proxy/oblview.c) ---- */

static void view_set(const ig_obl_record *r)
{
	if (g.view)
		ig_oblview_set(g.view, r);
}

/* After a scan: the store's list becomes the view, our own versions over it (at least as new). */
static void view_replace(ig_obl_record *recs, size_t n)
{
	ig_oblview_replace(g.view, recs, n);
	for (size_t i = 0; i < g.nowned; i++)
		view_set(&g.owned[i]);
}

/* ---- owned records ---- */

static ig_obl_record *owned_find(const char *id)
{
	for (size_t i = 0; i < g.nowned; i++)
		if (strcmp(g.owned[i].id, id) == 0)
			return &g.owned[i];
	return NULL;
}

/* Takes ownership of *r. */
static ig_obl_record *own(ig_obl_record *r)
{
	if (ig_grow(&g.owned, g.nowned, sizeof(*g.owned)) < 0) {
		ig_obl_record_free(r);
		return NULL;
	}
	g.owned[g.nowned] = *r;
	return &g.owned[g.nowned++];
}

/* Forgets a record (its claim, if any, stays until released or its lease ends). */
static void disown(ig_obl_record *r)
{
	size_t i = (size_t)(r - g.owned);

	ig_obl_record_free(r);
	g.owned[i] = g.owned[--g.nowned];
}

/* Our lease may be gone: forget every record, write nothing. The claims are still ours if
 * the lease lives; the next scan claims them back (at their current revision). */
static void drop_all(const char *why)
{
	if (g.nowned)
		LOG_WARN(0, "obligations: %s; stopping work on %zu record(s) until the lease is healthy", why,
		         g.nowned);
	while (g.nowned)
		disown(&g.owned[0]);
}

/* The lease is known alive for LEASE_GUARD_MS more, under the epoch the record was
 * claimed in. What an executor asks right before a statement that acts; no side effects. */
static bool may_act(const ig_oblexec_ctx *c)
{
	int64_t left;
	unsigned epoch;

	ig_oblstore_lease(g.st, &left, &epoch);
	return left > LEASE_GUARD_MS && (epoch == c->epoch || c->epoch == 0);
}

/* Before each step: when the lease is not fresh, every record is dropped. */
static bool lease_ok(void)
{
	int64_t left;
	unsigned epoch;

	ig_oblstore_lease(g.st, &left, &epoch);
	if (epoch != g.epoch) {
		if (g.epoch != 0) /* a new lease: whatever was claimed under the old one is gone */
			drop_all("the lease was lost and granted again");
		g.epoch = epoch;
	}
	if (left > LEASE_GUARD_MS)
		return true;
	drop_all("the lease is not known to be alive long enough (keepalive failing?)");
	return false;
}

static bool job_taken(const char *job_id, const char *self_id, bool downstream)
{
	return ig_oblview_job_taken(g.view, job_id, self_id, downstream);
}

/* ---- records handed to the executors ---- */

static struct inflight *inflight_find(const char *id)
{
	for (size_t i = 0; i < g.ninflight; i++)
		if (strcmp(g.inflight[i].id, id) == 0)
			return &g.inflight[i];
	return NULL;
}

static bool is_search(ig_obl_action a)
{
	return a == IG_OACT_SEARCH_JOB || a == IG_OACT_REIMPORT_SEARCH;
}

/* A search of the same direction is running: the next waits for its outcome. */
static bool search_running(ig_obl_action a)
{
	for (size_t i = 0; i < g.ninflight; i++)
		if (g.inflight[i].action == a)
			return true;
	return false;
}


/* Hands o's action to an executor (o sits out until the outcome is back). 0, or -1 (out of
 * memory: o is tried again in a second). */
static int dispatch(ig_obl_record *o, ig_obl_action action, bool rerun)
{
	bool room = ig_grow(&g.inflight, g.ninflight, sizeof(*g.inflight)) == 0;
	ig_obljob *j = calloc(1, sizeof(*j));

	if (!room || !j || ig_obl_record_copy(&j->rec, o) < 0) {
		free(j);
		o->next_try_ms = now_ms() + 1000;
		LOG_ERROR(o->conn_id, "obligation %s: out of memory handing it to an executor", o->id);
		return -1;
	}
	j->action = action;
	j->rerun = rerun;
	j->epoch = g.epoch;
	snprintf(g.inflight[g.ninflight].id, sizeof(g.inflight[0].id), "%s", o->id);
	g.inflight[g.ninflight].job = j;
	g.inflight[g.ninflight++].action = action;
	if (ig_oblpool_acts(action))
		g.nacting++;
	o->next_try_ms = NEVER;
	ig_oblpool_submit(g.pool, j);
	return 0;
}

/* Executor side: the outcome goes back to the obligations thread. */
static void job_done(ig_obljob *j)
{
	pthread_mutex_lock(&g.mu);
	j->next = NULL;
	if (g.results_tail)
		g.results_tail->next = j;
	else
		g.results = j;
	g.results_tail = j;
	pthread_cond_signal(&g.cv);
	pthread_mutex_unlock(&g.mu);
}

/* ---- one step: the transition, then a compare-and-swap ---- */

typedef enum { STEP_TAKEN, STEP_IGNORED, STEP_STALE, STEP_ERROR } step_rc;

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
static step_rc apply(ig_obl_record *o, const ig_obl_event *e)
{
	ig_obl_record next;
	ig_obl_effect fx;
	char err[512];
	int rc;

	if (ig_obl_record_copy(&next, o) < 0)
		return STEP_ERROR;
	if (ig_obl_transition(&next, e, &fx) < 0 || ig_obl_set_str(&next.replica, g.replica) < 0) {
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
	next.updated_ms = now_ms();
	if (ig_obl_action_of(&next) == IG_OACT_RELEASE)
		rc = ig_oblstore_finish(g.st, &next, err, sizeof(err));
	else
		rc = ig_oblstore_advance(g.st, &next, err, sizeof(err));
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
		audit(fx.audit, o, fx.step, fx.error);
	view_set(o);
	return STEP_TAKEN;
}

/* After apply: 1 when the record left our hands (done, parked, or stale: re-read). */
static int settle(ig_obl_record *o, step_rc rc)
{
	switch (rc) {
	case STEP_TAKEN:
		if (ig_obl_action_of(o) != IG_OACT_RELEASE)
			return 0;
		disown(o); /* written with its claim let go */
		return 1;
	case STEP_STALE:
		disown(o);
		g.rescan = true;
		return 1;
	case STEP_ERROR:
		o->next_try_ms = now_ms() + 1000; /* the store did not take it: retry soon */
		return 0;
	case STEP_IGNORED:
		return 0;
	}
	return 0;
}

static ig_obl_event event_now(ig_obl_ev_kind k)
{
	return (ig_obl_event){.kind = k, .now_ms = now_ms(), .poll_ms = poll_ms()};
}

/* ---- the work of one record ---- */

/* Records the current step as started (with its target) before it runs. */
static step_rc begin_step(ig_obl_record *o, const char *target)
{
	ig_obl_event e = event_now(IG_OEV_STEP_BEGIN);

	e.target = target;
	return apply(o, &e);
}

/* The action o calls for: taken here (wait, complete, release) or begun and handed to an
 * executor. 0 kept, 1 o left our hands, 2 every record dropped. */
static int work(ig_obl_record *o)
{
	ig_obl_action action = ig_obl_action_of(o);
	bool rerun = false;
	step_rc rc;
	char name[300];

	if (!lease_ok())
		return 2;
	switch (action) {
	case IG_OACT_WAIT:
		o->next_try_ms = NEVER; /* an event moves it */
		return 0;
	case IG_OACT_RELEASE: /* not expected here: terminal and parked records are let go when written */
		ig_oblstore_release(g.st, o->id, name, sizeof(name));
		disown(o);
		return 1;
	case IG_OACT_COMPLETE: {
		ig_obl_event e = event_now(IG_OEV_COMPLETE);
		return settle(o, apply(o, &e));
	}
	default:
		break;
	}
	if (is_search(action) && search_running(action)) {
		o->next_try_ms = NEVER; /* woken when the running search's outcome is in */
		return 0;
	}
	/* A step is recorded started only when an executor can send it at once: a re-import's
	 * downstream job is looked for from that time after a crash, so it must not wait in a
	 * queue first. Woken when a statement that acts ends. */
	if (ig_oblpool_acts(action) && g.nacting >= (unsigned)g.cfg->obligations.executors) {
		o->next_try_ms = NEVER;
		return 0;
	}
	if (action == IG_OACT_BACKUP) {
		rerun = o->backup.state == IG_STEP_STARTED; /* found started: it may have run */
		if (!rerun) {
			char *uri = ig_oblexec_backup_uri(g.cfg, o);
			rc = uri ? begin_step(o, uri) : STEP_ERROR;
			free(uri);
			if (rc != STEP_TAKEN)
				return settle(o, rc);
		}
	} else if (action == IG_OACT_REIMPORT_SEND) {
		ig_oblexec_downstream_name(g.cfg, name, sizeof(name));
		if ((rc = begin_step(o, name)) != STEP_TAKEN)
			return settle(o, rc);
	}
	dispatch(o, action, rerun);
	return 0;
}

/* A record that searches, by its id (settling one may move the others in g.owned). */
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
static void search_all(const ig_obljob *j)
{
	ig_oblexec_ctx c = {.cfg = g.cfg, .may_act = may_act, .job_taken = job_taken};
	searcher *due = calloc(g.nowned ? g.nowned : 1, sizeof(*due));
	size_t n = 0;

	if (!due)
		return; /* the records searching stay due: the next search is theirs */
	for (size_t i = 0; i < g.nowned; i++) {
		const ig_obl_record *r = &g.owned[i];
		if (ig_obl_action_of(r) == IG_OACT_SEARCH_JOB && !inflight_find(r->id)) {
			due[n].created_ms = r->created_ms;
			snprintf(due[n++].id, sizeof(due[0].id), "%s", r->id);
		}
	}
	qsort(due, n, sizeof(*due), by_created);
	for (size_t i = 0; i < n; i++) {
		ig_obl_record *r = owned_find(due[i].id);
		ig_oblexec_out x;
		if (!r)
			continue;
		ig_oblexec_search_in(&c, &j->jobs, j->out.ev.now_ms, r, &x);
		if (x.ev.matches == 1 && ig_oblview_any(g.view, ig_obl_may_share_job, r))
			x.ev.matches = x.ev.window_over ? 2 : 0;
		step_rc rc = apply(r, &x.ev);
		settle(r, rc);
		if (x.ev.matches == 1 && rc != STEP_TAKEN)
			break;
	}
	free(due);
}

/* ---- outcomes: kept until applied or proven stale ---- */

/* Kept to try again (the store did not answer): by the retry timer, or when a scan claims
 * the record back at that revision. */
static bool park(ig_obljob *j)
{
	j->next = g.parked;
	g.parked = j;
	if (g.parked_at == 0)
		g.parked_at = now_ms() + 1000;
	return true;
}

static ig_obljob *parked_find(const char *id)
{
	for (ig_obljob *j = g.parked; j; j = j->next)
		if (strcmp(j->rec.id, id) == 0)
			return j;
	return NULL;
}

/* A record not in our hands (dropped by a lease wobble, or our claim lost) claimed back at
 * the revision its outcome was handed over at: 1 ours, 0 it moved on or another replica
 * holds it, -1 the store did not answer. Only a BACKUP re-run can have been sent by another
 * holder without a write; applying our outcome on top is still right (done is done; a failed
 * one is run again). */
static int claim_back(ig_obljob *j, ig_obl_record **out)
{
	char err[512];
	ig_obl_record c;
	int rc = lease_ok() ? ig_oblstore_claim(g.st, &j->rec, err, sizeof(err)) : -1;

	*out = NULL;
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (ig_obl_record_copy(&c, &j->rec) < 0 || !(*out = own(&c)))
		return -1;
	LOG_INFO((*out)->conn_id, "obligation %s: claimed back at revision %lld for the outcome of its %s",
	         (*out)->id, (long long)(*out)->rev, ig_obl_action_name(j->action));
	audit("obligation.claimed", *out, NULL, NULL);
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
static bool deliver_outcome(ig_obljob *j)
{
	ig_obl_record *o = owned_find(j->rec.id);

	for (int attempt = 0; attempt < 2; attempt++) {
		if (o && o->rev != j->rec.rev) {
			LOG_DEBUG(j->rec.conn_id, "obligation %s: an outcome for an older version (%s) is dropped",
			          j->rec.id, ig_obl_action_name(j->action));
			o->next_try_ms = 0;
			return false;
		}
		if (!o) {
			if (is_search(j->action))
				return false;
			int got = claim_back(j, &o);
			if (got < 0)
				return park(j);
			if (got == 0)
				return false;
		}
		step_rc rc = apply(o, &j->out.ev);
		switch (rc) {
		case STEP_TAKEN:
			settle(o, rc);
			return false;
		case STEP_IGNORED:
			o->next_try_ms = now_ms() + poll_ms(); /* it did not apply: look again later */
			return false;
		case STEP_ERROR:
			if (is_search(j->action)) {
				settle(o, rc);
				return false;
			}
			o->next_try_ms = NEVER; /* the outcome is retried, not the statement */
			return park(j);
		case STEP_STALE:
			disown(o); /* claim lost, or a newer version: claim back at our revision, once */
			g.rescan = true;
			o = NULL;
			break;
		}
	}
	return false;
}

/* The parked outcomes, again (every second while there are any). */
static void retry_parked(void)
{
	ig_obljob *list = g.parked;

	g.parked = NULL;
	g.parked_at = 0;
	for (ig_obljob *j = list, *n; j; j = n) {
		n = j->next;
		if (!deliver_outcome(j))
			ig_obljob_free(j);
	}
}

/* A parked outcome of a record just claimed by a scan. */
static void apply_parked(ig_obl_record *o)
{
	for (ig_obljob **pp = &g.parked; *pp; pp = &(*pp)->next) {
		ig_obljob *j = *pp;
		if (strcmp(j->rec.id, o->id) != 0)
			continue;
		*pp = j->next;
		if (!deliver_outcome(j))
			ig_obljob_free(j);
		return;
	}
}

/* Parked outcomes whose record the scan shows moved on, ended or gone are dropped. */
static void prune_parked(const ig_obl_record *recs, size_t n)
{
	for (ig_obljob **pp = &g.parked; *pp;) {
		ig_obljob *j = *pp;
		bool keep = false;
		for (size_t i = 0; i < n && !keep; i++)
			keep = strcmp(recs[i].id, j->rec.id) == 0 && recs[i].rev == j->rec.rev &&
			       !ig_obl_state_terminal(recs[i].state);
		if (keep) {
			pp = &j->next;
		} else {
			ig_obl_record *o = owned_find(j->rec.id);
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
static void wake_waiting(ig_obl_action ended)
{
	bool acting = ig_oblpool_acts(ended);

	for (size_t i = 0; i < g.nowned; i++) {
		ig_obl_record *r = &g.owned[i];
		ig_obl_action a = ig_obl_action_of(r);
		if (r->next_try_ms == NEVER && (acting ? ig_oblpool_acts(a) : a == ended) && !inflight_find(r->id) &&
		    !parked_find(r->id))
			r->next_try_ms = 0;
	}
}

/* An executor's outcome (deliver_outcome). A withdrawn job, or one whose statement the lease
 * guard stopped, sent nothing: the record looks again. Returns true when it kept j. */
static bool on_result(ig_obljob *j)
{
	struct inflight *f = inflight_find(j->rec.id);
	ig_obl_record *o;

	if (f) {
		if (ig_oblpool_acts(f->action))
			g.nacting--;
		*f = g.inflight[--g.ninflight];
	}
	if (ig_oblpool_acts(j->action))
		wake_waiting(j->action);
	if (j->action == IG_OACT_SEARCH_JOB && j->out.acted && j->out.ev.kind == IG_OEV_SEARCH) {
		search_all(j); /* the list is news for every record that searches, whatever its version */
		wake_waiting(j->action);
		return false;
	}
	if (is_search(j->action))
		wake_waiting(j->action);
	if (!j->out.acted) { /* withdrawn, or the lease guard stopped it: nothing was sent */
		if (atomic_load(&j->state) != IG_OBLJOB_WITHDRAWN && !lease_ok())
			return false; /* every record dropped: the scan claims them back */
		if ((o = owned_find(j->rec.id)))
			o->next_try_ms = 0;
		return false;
	}
	/* a single downstream job found may be an older record's re-import still running */
	if (j->action == IG_OACT_REIMPORT_SEARCH && j->out.ev.kind == IG_OEV_REIMPORT_SEARCH &&
	    j->out.ev.matches == 1 && ig_oblview_any(g.view, ig_obl_may_share_downstream_job, &j->rec))
		j->out.ev.wait = true;
	return deliver_outcome(j);
}

/* ---- events ---- */

/* A record not in our hands: read it afresh and claim it at that revision. 1 *out ours,
 * 0 absent, terminal or held by another replica, -1 the store did not answer. */
static int claim_one(const char *id, ig_obl_record **out)
{
	char err[512];
	ig_obl_record r;
	int got = ig_oblstore_get(g.st, id, &r, err, sizeof(err)), rc;

	*out = NULL;
	if (got != 1)
		return got < 0 ? -1 : 0;
	if (ig_obl_state_terminal(r.state)) {
		ig_obl_record_free(&r);
		return 0;
	}
	if ((rc = ig_oblstore_claim(g.st, &r, err, sizeof(err))) != 0) {
		ig_obl_record_free(&r);
		return rc < 0 ? -1 : 0;
	}
	*out = own(&r);
	return *out ? 1 : -1;
}

/*
 * Applies an event from outside (an answer, a dismissal) to record id, claiming it first
 * when it is not ours; a stale copy is re-read and the event applied to the fresh one (once).
 * Returns the step's result (STEP_ERROR: the store did not answer, try again later); *gone:
 * the record could not be had (absent, ended, or another replica's).
 */
static step_rc deliver(const char *id, const ig_obl_event *e, bool *gone)
{
	*gone = false;
	for (int attempt = 0; attempt < 2; attempt++) {
		ig_obl_record *r = owned_find(id);
		if (!r) {
			if (!lease_ok())
				return STEP_ERROR;
			int got = claim_one(id, &r);
			if (got < 0)
				return STEP_ERROR;
			if (got == 0) {
				*gone = true;
				return STEP_IGNORED;
			}
		}
		step_rc rc = apply(r, e);
		if (rc != STEP_STALE) {
			settle(r, rc);
			return rc;
		}
		disown(r);
	}
	return STEP_ERROR; /* stale twice: the store is moving under us; try again later */
}

/* Answers a waiting dismissal; caller holds g.mu. */
static void dismiss_complete(dismiss_wait *w, int rc, const char *msg)
{
	w->rc = rc;
	snprintf(w->err, sizeof(w->err), "%s", msg);
	w->done = true;
	pthread_cond_broadcast(&g.done_cv);
	if (--w->refs == 0)
		free(w);
}

static void on_dismiss(obl_event *e)
{
	ig_obl_event ev = event_now(IG_OEV_DISMISS);
	char msg[256] = "";
	bool gone;
	step_rc rc;

	ev.message = "dismissed by an operator";
	struct inflight *f = inflight_find(e->id);
	if (f && !ig_obljob_withdraw(f->job) && ig_oblpool_acts(f->action)) {
		/* its statement may be on its way and cannot be recalled */
		snprintf(msg, sizeof(msg), "obligation %s: its %s is running now; dismiss it when it has ended", e->id,
		         f->action == IG_OACT_BACKUP ? "BACKUP" : "downstream import");
		pthread_mutex_lock(&g.mu);
		dismiss_complete(e->wait, -1, msg);
		e->wait = NULL;
		pthread_mutex_unlock(&g.mu);
		return;
	}
	rc = deliver(e->id, &ev, &gone);
	if (gone)
		snprintf(msg, sizeof(msg), "obligation %s: not found, finished, or held by another replica "
		         "(try again there or when it is idle)", e->id);
	else if (rc == STEP_IGNORED)
		snprintf(msg, sizeof(msg), "obligation %s: nothing to dismiss (it waits for the import's answer)", e->id);
	else if (rc != STEP_TAKEN)
		snprintf(msg, sizeof(msg), "obligation %s: the store did not take the dismissal", e->id);
	pthread_mutex_lock(&g.mu);
	dismiss_complete(e->wait, rc == STEP_TAKEN ? 0 : -1, msg);
	e->wait = NULL;
	pthread_mutex_unlock(&g.mu);
}

static void event_free(obl_event *e)
{
	ig_obl_record_free(&e->rec);
	free(e->job_id);
	free(e->status);
	free(e->message);
	free(e);
}

/* The session's news about the import, as an event of the record's life. */
static ig_obl_event answer_event(const obl_event *e)
{
	ig_obl_event ev = event_now(IG_OEV_ANSWER_LOST);

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
static void defer(obl_event *e)
{
	e->next = g.deferred;
	g.deferred = e;
	g.deferred_at = now_ms() + 1000;
}

/* Handles one event; false when it kept it (deferred), else the caller frees it. */
static bool handle(obl_event *e)
{
	if (e->kind == EV_DISMISS) {
		on_dismiss(e);
		return false;
	}
	if (e->kind == EV_CREATED) {
		view_set(&e->rec); /* a scan since its creation may have replaced the view */
		if (!owned_find(e->rec.id) && own(&e->rec))
			memset(&e->rec, 0, sizeof(e->rec));
		return false;
	}
	if (!e->redacted) { /* the message may quote a location with its credentials */
		char *red = e->message ? sql_redact_text(e->message, strlen(e->message)) : NULL;
		free(e->message);
		e->message = red;
		e->redacted = true;
	}
	ig_obl_event ev = answer_event(e);
	bool gone;
	if (deliver(e->id, &ev, &gone) == STEP_ERROR) {
		if (!e->deferred_once)
			LOG_WARN(0, "obligation %s: the import's answer arrived while the store cannot take it; "
			         "kept and tried again every second", e->id);
		e->deferred_once = true;
		defer(e);
		return true;
	}
	if (gone)
		LOG_WARN(0, "obligation %s: the import's answer arrived but the record is held elsewhere or "
		         "finished; its holder looks for the job", e->id);
	return false;
}

/* The deferred answers, when their time has come, before the new events. */
static obl_event *take_deferred(obl_event *ev)
{
	obl_event *d = g.deferred, *last;

	if (!d || now_ms() < g.deferred_at)
		return ev;
	g.deferred = NULL;
	for (last = d; last->next; last = last->next)
		;
	last->next = ev;
	return d;
}

/* ---- the threads ---- */

/* A record we just claimed from the store (its copy is current at its revision). */
static void adopt(ig_obl_record *o)
{
	/* Ours from this process (its created event or answer is on its way): keep waiting. */
	if (o->state == IG_OBLS_AWAITING_ANSWER && o->replica && strcmp(o->replica, g.replica) == 0)
		return;
	LOG_INFO(o->conn_id, "obligation %s: claimed (%s, revision %lld, last written by %s)", o->id,
	         ig_obl_state_name(o->state), (long long)o->rev, o->replica ? o->replica : "?");
	audit("obligation.claimed", o, NULL, NULL);
	o->next_try_ms = 0;
	o->attempts = 0;
	if (o->state == IG_OBLS_AWAITING_ANSWER) { /* its gateway died before the answer */
		ig_obl_event e = event_now(IG_OEV_ANSWER_LOST);
		settle(o, apply(o, &e));
		return;
	}
	apply_parked(o); /* an outcome that came back while it was out of our hands */
}

/* Claims what nobody carries (a dead replica's, a previous run's, or ours after the lease
 * wobbled), each at the revision listed: one that moved on since is not claimed. */
static void scan(void)
{
	char err[512];
	ig_obl_record *recs;
	size_t n;
	int64_t now = now_ms();

	g.rescan = false;
	if (ig_oblstore_list(g.st, &recs, &n, err, sizeof(err)) < 0) {
		LOG_WARN(0, "obligations: cannot list the store: %s", err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		ig_obl_record *r = &recs[i], c;
		if (ig_obl_state_terminal(r->state)) {
			if (now - r->updated_ms > RETENTION_MS)
				ig_oblstore_delete(g.st, r, err, sizeof(err));
			continue;
		}
		/* another replica's: a claim would only cost two round trips to fail */
		if (r->state == IG_OBLS_OUTCOME_UNKNOWN || r->held == IG_OBL_HELD_OTHER || owned_find(r->id))
			continue;
		if (!lease_ok())
			break;
		if (ig_oblstore_claim(g.st, r, err, sizeof(err)) != 0 || ig_obl_record_copy(&c, r) < 0)
			continue;
		ig_obl_record *o = own(&c);
		if (o)
			adopt(o);
	}
	prune_parked(recs, n);
	view_replace(recs, n);
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Keeps the lease alive, on its own: the obligations thread may be in a BACKUP for minutes. */
static void *lease_main(void *arg)
{
	char err[512];

	(void)arg;
	pthread_mutex_lock(&g.mu);
	while (!g.lease_stopping) {
		ig_oblstore *st = g.st;
		int rc = 0;
		pthread_mutex_unlock(&g.mu);
		if (st && (rc = ig_oblstore_keepalive(st, err, sizeof(err))) < 0)
			LOG_WARN(0, "obligations: lease keepalive failed: %s", err);
		if (rc == 1)
			LOG_WARN(0, "obligations: our lease had expired; a new one was granted (claims dropped)");
		int64_t wake = now_ms() + (rc < 0 ? 1000 : KEEPALIVE_MS);
		struct timespec ts = {.tv_sec = (time_t)(wake / 1000), .tv_nsec = (long)(wake % 1000) * 1000000};
		pthread_mutex_lock(&g.mu);
		if (!g.lease_stopping)
			pthread_cond_timedwait(&g.lease_cv, &g.mu, &ts);
	}
	pthread_mutex_unlock(&g.mu);
	return NULL;
}

/* Runs the owned records that are due; stops early for queued events. */
static int64_t work_due(int64_t wake)
{
	for (size_t i = 0; i < g.nowned;) {
		if (inflight_find(g.owned[i].id) || parked_find(g.owned[i].id)) { /* its outcome moves it */
			i++;
			continue;
		}
		if (g.owned[i].next_try_ms <= now_ms()) {
			int rc = work(&g.owned[i]);
			if (rc == 2)
				return now_ms() + 1000; /* everything dropped: look at the lease again soon */
			if (rc == 1)
				continue; /* removed: index i holds another record now */
			pthread_mutex_lock(&g.mu);
			bool stop = g.stopping || g.head || g.results;
			pthread_mutex_unlock(&g.mu);
			if (stop)
				return now_ms(); /* events first (an answer waits on the loop's side) */
		}
		wake = min64(wake, g.owned[i].next_try_ms);
		i++;
	}
	return wake;
}

static void *thread_main(void *arg)
{
	int64_t next_scan = 0;

	(void)arg;
	mysql_thread_init();
	for (;;) {
		pthread_mutex_lock(&g.mu);
		obl_event *ev = g.head;
		ig_obljob *res = g.results;
		g.head = g.tail = NULL;
		g.results = g.results_tail = NULL;
		bool stop = g.stopping, open = g.st != NULL;
		pthread_mutex_unlock(&g.mu);
		for (ig_obljob *n; res; res = n) { /* outcomes first: their records wait for them */
			n = res->next;
			if (!on_result(res))
				ig_obljob_free(res);
		}
		if (!open) { /* nothing can be owed before the file store exists (ig_obl_create opens it) */
			for (obl_event *n; ev; ev = n) {
				n = ev->next;
				event_free(ev);
			}
			if (stop)
				break;
			pthread_mutex_lock(&g.mu);
			if (!g.head && !g.results && !g.stopping && !g.st)
				pthread_cond_wait(&g.cv, &g.mu);
			pthread_mutex_unlock(&g.mu);
			continue;
		}
		if (g.parked && now_ms() >= g.parked_at)
			retry_parked();
		ev = take_deferred(ev);
		for (obl_event *n; ev; ev = n) {
			n = ev->next;
			if (!handle(ev))
				event_free(ev);
		}
		if (stop)
			break;
		if (now_ms() >= next_scan || g.rescan) {
			scan();
			next_scan = now_ms() + poll_ms();
		}
		int64_t wake = work_due(next_scan);
		if (g.rescan)
			wake = now_ms();
		if (g.deferred)
			wake = min64(wake, g.deferred_at);
		if (g.parked)
			wake = min64(wake, g.parked_at);
		pthread_mutex_lock(&g.mu);
		if (!g.head && !g.results && !g.stopping && wake > now_ms()) {
			struct timespec ts = {.tv_sec = (time_t)(wake / 1000), .tv_nsec = (long)(wake % 1000) * 1000000};
			pthread_cond_timedwait(&g.cv, &g.mu, &ts);
		}
		pthread_mutex_unlock(&g.mu);
	}
	mysql_thread_end();
	return NULL;
}

static void push(obl_event *e)
{
	pthread_mutex_lock(&g.mu);
	if (!g.running) {
		pthread_mutex_unlock(&g.mu);
		event_free(e);
		return;
	}
	if (g.tail)
		g.tail->next = e;
	else
		g.head = e;
	g.tail = e;
	pthread_cond_signal(&g.cv);
	pthread_mutex_unlock(&g.mu);
}

/* ---- public API ---- */

/* Some rule may owe obligations (a reload may add one later: the file is opened then). */
static bool rules_owe(const ig_config *cfg)
{
	for (size_t i = 0; i < cfg->policy.nrules; i++)
		if (cfg->policy.rules[i].log_backup == IG_LB_SNAPSHOT_AFTER_IMPORT ||
		    cfg->policy.rules[i].changefeed == IG_CF_REIMPORT_DOWNSTREAM)
			return true;
	return false;
}

/* The file store, opened on the first import that owes something. */
static int open_lazily(char *err, size_t errlen)
{
	char warn[512];
	ig_oblstore *st = NULL;
	int rc = 0;

	pthread_mutex_lock(&g.open_mu);
	pthread_mutex_lock(&g.mu);
	bool open = g.st != NULL;
	pthread_mutex_unlock(&g.mu);
	if (!open) {
		rc = ig_oblstore_open_file(g.cfg->obligations.file, &st, warn, sizeof(warn), err, errlen);
		if (rc == 0) {
			if (warn[0])
				LOG_WARN(0, "obligations: %s", warn);
			pthread_mutex_lock(&g.mu);
			g.st = st;
			pthread_cond_signal(&g.cv);
			pthread_mutex_unlock(&g.mu);
		}
	}
	pthread_mutex_unlock(&g.open_mu);
	return rc;
}

/* Stops the obligations thread (no new step starts). The lease thread is stopped apart, after
 * the executors: a statement still running keeps the lease it was sent under. */
static void stop_threads(void)
{
	pthread_mutex_lock(&g.mu);
	g.stopping = true;
	pthread_cond_signal(&g.cv);
	pthread_mutex_unlock(&g.mu);
	pthread_join(g.thread, NULL);
}

static void stop_lease_thread(void)
{
	pthread_mutex_lock(&g.mu);
	g.lease_stopping = true;
	pthread_cond_signal(&g.lease_cv);
	pthread_mutex_unlock(&g.mu);
	pthread_join(g.lease_thread, NULL);
}

int ig_obl_start(ig_config *cfg, char *err, size_t errlen)
{
	char host[64] = "localhost", warn[512];
	unsigned char rnd[4] = {0};
	int rc;

	if (g.running)
		return perr(err, errlen, "obligations already started");
	gethostname(host, sizeof(host) - 1);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return perr(err, errlen, "getrandom: %s", strerror(errno));
	snprintf(g.replica, sizeof(g.replica), "%s:%d:%02x%02x%02x%02x", host, (int)getpid(), rnd[0], rnd[1],
	         rnd[2], rnd[3]);
	if (mysql_library_init(0, NULL, NULL) != 0)
		return perr(err, errlen, "libmariadb cannot be initialised");
	if (cfg->cluster.npd > 0) {
		rc = ig_oblstore_open_etcd(cfg, g.replica, LEASE_TTL_S, &g.st, err, errlen);
	} else if (access(cfg->obligations.file, F_OK) == 0 || rules_owe(cfg)) {
		rc = ig_oblstore_open_file(cfg->obligations.file, &g.st, warn, sizeof(warn), err, errlen);
		if (rc == 0 && warn[0])
			LOG_WARN(0, "obligations: %s", warn);
	} else {
		rc = 0; /* nothing owed yet and nothing to recover: the file is created when needed */
	}
	if (rc < 0)
		return -1;
	if (!(g.view = ig_oblview_new())) {
		ig_oblstore_close(g.st);
		g.st = NULL;
		return perr(err, errlen, "out of memory");
	}
	g.cfg = ig_config_ref(cfg);
	g.stopping = false;
	g.lease_stopping = false;
	g.running = true;
	g.epoch = 0;
	ig_oblexec_ctx ctx = {.cfg = g.cfg, .may_act = may_act, .job_taken = job_taken};
	if (ig_oblpool_start(&g.pool, (unsigned)cfg->obligations.executors, &ctx, job_done, err, errlen) < 0 ||
	    pthread_create(&g.thread, NULL, thread_main, NULL) != 0) {
		if (g.pool)
			snprintf(err, errlen, "cannot start the obligations thread");
		ig_oblpool_stop(g.pool);
		g.pool = NULL;
		g.running = false;
		ig_config_unref(g.cfg);
		ig_oblstore_close(g.st);
		g.st = NULL;
		ig_oblview_free(g.view);
		g.view = NULL;
		return -1;
	}
	if (pthread_create(&g.lease_thread, NULL, lease_main, NULL) != 0) {
		stop_threads();
		ig_oblpool_stop(g.pool);
		g.pool = NULL;
		g.running = false;
		ig_config_unref(g.cfg);
		ig_oblstore_close(g.st);
		g.st = NULL;
		ig_oblview_free(g.view);
		g.view = NULL;
		return perr(err, errlen, "cannot start the lease thread");
	}
	LOG_INFO(0, "obligations: store %s%s, replica %s, %d executor(s)",
	         cfg->cluster.npd ? "etcd (PD)" : cfg->obligations.file, g.st ? "" : " (opened when first needed)",
	         g.replica, cfg->obligations.executors);
	return 0;
}

void ig_obl_stop(void)
{
	pthread_mutex_lock(&g.mu);
	if (!g.running) {
		pthread_mutex_unlock(&g.mu);
		return;
	}
	pthread_mutex_unlock(&g.mu);
	stop_threads();
	ig_oblpool_stop(g.pool); /* after the statements running now, under the lease still kept */
	g.pool = NULL;
	/* Their outcomes are written now (the obligations thread is gone: this thread owns its
	 * records), so a BACKUP that ended while we waited is not run again by the next holder. */
	pthread_mutex_lock(&g.mu);
	ig_obljob *res = g.results;
	g.results = g.results_tail = NULL;
	pthread_mutex_unlock(&g.mu);
	for (ig_obljob *n; res; res = n) {
		n = res->next;
		if (g.st && !on_result(res))
			ig_obljob_free(res);
		else if (!g.st)
			ig_obljob_free(res);
	}
	stop_lease_thread();
	pthread_mutex_lock(&g.mu);
	g.running = false;
	for (obl_event *e = g.head, *n; e; e = n) {
		n = e->next;
		if (e->wait)
			dismiss_complete(e->wait, -1, "shutting down");
		event_free(e);
	}
	g.head = g.tail = NULL;
	for (obl_event *e = g.deferred, *n; e; e = n) { /* answers never stored: their records stay awaiting */
		n = e->next;
		event_free(e);
	}
	g.deferred = NULL;
	ig_oblview *view = g.view;
	g.view = NULL;
	pthread_mutex_unlock(&g.mu);
	while (g.nowned)
		disown(&g.owned[0]);
	free(g.owned);
	g.owned = NULL;
	free(g.inflight);
	g.inflight = NULL;
	g.ninflight = 0;
	g.nacting = 0;
	g.parked_at = 0;
	ig_oblview_free(view);
	for (ig_obljob *j = g.parked, *n; j; j = n) {
		n = j->next;
		ig_obljob_free(j);
	}
	g.parked = NULL;
	ig_oblstore_close(g.st); /* revokes the lease: our claims vanish now */
	g.st = NULL;
	ig_config_unref(g.cfg);
	g.cfg = NULL;
}

static int new_id(char *out)
{
	unsigned char b[IG_OBL_ID_LEN / 2];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -1;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

/*
 * The import's data source as SHOW IMPORT JOBS will show it (Data_Source): the FROM
 * location, kept redacted (the record is shown by the status API; the statement, which the
 * re-import needs whole, is not). NULL for FROM SELECT, or when the text cannot be read
 * under TiDB's default lexing (then the job search does not compare the source).
 */
static char *source_of(const ig_obl_spec *sp, size_t n)
{
	sql_import imp;
	char err[128], *out = NULL;

	if (sp->from_select)
		return NULL;
	if (sp->source)
		return sql_redact_uri(sp->source, strlen(sp->source));
	if (sql_import_parse(sp->statement, n, 0, &imp, err, sizeof(err)) < 0)
		return NULL;
	if (imp.src == SQL_SRC_FILE && imp.location)
		out = sql_redact_uri(imp.location, strlen(imp.location));
	sql_import_free(&imp);
	return out;
}

static int fill_record(ig_obl_record *r, const ig_obl_spec *sp)
{
	size_t n = sp->statement_len ? sp->statement_len : strlen(sp->statement);

	memset(r, 0, sizeof(*r));
	if (new_id(r->id) < 0)
		return -1;
	r->kinds = sp->kinds;
	r->state = IG_OBLS_AWAITING_ANSWER;
	r->conn_id = sp->conn_id;
	r->disable_precheck = sp->disable_precheck;
	r->from_select = sp->from_select;
	r->created_ms = r->updated_ms = now_ms();
	r->backup.state = sp->kinds & IG_OBL_SNAPSHOT_AFTER_IMPORT ? IG_STEP_PENDING : IG_STEP_NONE;
	r->reimport.state = sp->kinds & IG_OBL_REIMPORT_DOWNSTREAM ? IG_STEP_PENDING : IG_STEP_NONE;
	r->next_try_ms = NEVER;
	if (!(r->statement = strndup(sp->statement, n)))
		return -1;
	r->source = source_of(sp, n);
	return ig_obl_set_str(&r->db, sp->db) | ig_obl_set_str(&r->table, sp->table) |
	       ig_obl_set_str(&r->user, sp->user) | ig_obl_set_str(&r->client, sp->client) |
	       ig_obl_set_str(&r->backend, sp->backend) | ig_obl_set_str(&r->replica, g.replica);
}

int ig_obl_create(const ig_obl_spec *sp, char *id, size_t idlen, char *err, size_t errlen)
{
	obl_event *e;
	const ig_config *cfg = g.cfg;

	if (!g.running)
		return perr(err, errlen, "obligations are not running");
	if (!g.st && open_lazily(err, errlen) < 0)
		return -1;
	if (idlen < IG_OBL_ID_LEN + 1 || !sp->statement || !sp->db || !sp->table)
		return perr(err, errlen, "bad obligation request");
	if ((sp->kinds & IG_OBL_SNAPSHOT_AFTER_IMPORT) && !(cfg->obligations.backup_uri && *cfg->obligations.backup_uri))
		return perr(err, errlen, "a snapshot backup is owed after this import but obligations.backup_uri is not set");
	if ((sp->kinds & IG_OBL_REIMPORT_DOWNSTREAM) && cfg->obligations.downstream.nservers == 0)
		return perr(err, errlen, "a downstream re-import is owed after this import but "
		            "obligations.downstream.servers is empty");
	if (!(e = calloc(1, sizeof(*e))))
		return perr(err, errlen, "out of memory");
	e->kind = EV_CREATED;
	if (fill_record(&e->rec, sp) < 0) {
		event_free(e);
		return perr(err, errlen, "out of memory");
	}
	if (ig_oblstore_create(g.st, &e->rec, err, errlen) < 0) {
		event_free(e);
		return -1;
	}
	snprintf(id, idlen, "%s", e->rec.id);
	memcpy(e->id, e->rec.id, sizeof(e->id));
	audit("obligation.created", &e->rec, NULL, NULL);
	view_set(&e->rec);
	push(e);
	return 0;
}

static obl_event *id_event(ev_kind k, const char *id)
{
	obl_event *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->kind = k;
	snprintf(e->id, sizeof(e->id), "%s", id ? id : "");
	return e;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void ig_obl_answered(const char *id, const char *job_id, const char *status, int err_code, const char *message)
{
	obl_event *e = id_event(EV_ANSWERED, id);

	if (!e) {
		LOG_ERROR(0, "obligation %s: out of memory recording the answer; its record stays awaiting", id);
		return;
	}
	e->err_code = err_code;
	e->job_id = dup_or_null(job_id);
	e->status = dup_or_null(status);
	e->message = dup_or_null(message);
	push(e);
}

void ig_obl_unanswered(const char *id)
{
	obl_event *e = id_event(EV_UNANSWERED, id);

	if (e)
		push(e);
	else
		LOG_ERROR(0, "obligation %s: out of memory; its record stays awaiting", id);
}

int ig_obl_dismiss(const char *id, char *err, size_t errlen)
{
	dismiss_wait *w = calloc(1, sizeof(*w));
	obl_event *e = id_event(EV_DISMISS, id);
	struct timespec ts;
	int rc;

	if (!e || !w) {
		free(w);
		free(e);
		return perr(err, errlen, "out of memory");
	}
	if (strlen(e->id) != IG_OBL_ID_LEN) {
		free(w);
		event_free(e);
		return perr(err, errlen, "not an obligation id");
	}
	w->refs = 2;
	e->wait = w;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += DISMISS_WAIT_MS / 1000;
	pthread_mutex_lock(&g.mu);
	if (!g.running) {
		pthread_mutex_unlock(&g.mu);
		free(w);
		event_free(e);
		return perr(err, errlen, "obligations are not running");
	}
	if (g.tail)
		g.tail->next = e;
	else
		g.head = e;
	g.tail = e;
	pthread_cond_signal(&g.cv);
	while (!w->done && pthread_cond_timedwait(&g.done_cv, &g.mu, &ts) == 0)
		;
	rc = w->done ? w->rc : perr(err, errlen, "timed out waiting for the obligations thread (busy with "
	                             "a long statement); the dismissal is still queued");
	if (w->done && rc < 0)
		perr(err, errlen, "%s", w->err);
	if (--w->refs == 0)
		free(w);
	pthread_mutex_unlock(&g.mu);
	return rc;
}

char *ig_obl_status_json(void)
{
	json_t *root = json_object();
	char *out = NULL;

	if (!root)
		return NULL;
	pthread_mutex_lock(&g.mu);
	json_object_set_new(root, "running", json_boolean(g.running));
	json_object_set_new(root, "replica", json_string(g.replica));
	json_object_set_new(root, "store", json_string(!g.cfg ? "none" : g.cfg->cluster.npd ? "etcd" : "file"));
	json_object_set_new(root, "lease_guard_ms", json_integer(LEASE_GUARD_MS));
	if (g.view) /* under g.mu: a stop frees the view only after taking it out under g.mu */
		ig_oblview_status(g.view, root);
	else
		json_object_set_new(root, "records", json_array());
	pthread_mutex_unlock(&g.mu);
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}
