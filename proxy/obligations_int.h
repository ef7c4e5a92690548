/*
 * obligations_int.h - the obligations engine's own object and the functions its files share
 * (not for the rest of the gateway: proxy/obligations.h is the API). One engine per process,
 * started and stopped by the runtime (proxy/process.c). Who touches what:
 *   - under mu: the event queue (head, tail), the executors' outcomes (results), running,
 *     stopping, lease_stopping, st (set once by the lazy file open), view (taken out at stop);
 *   - the obligations thread alone (proxy/oblthread.c and what it calls): owned, inflight,
 *     parked, deferred, nacting, epoch, rescan; at a stop, the stopping thread once the
 *     obligations thread is joined;
 *   - read-only after start: cfg, replica, pool.
 * Files: obligations.c (the API, start and stop), oblthread.c (the thread: scan, due work),
 * oblstep.c (one step of one record: transition + compare-and-swap; the owned records),
 * obloutcome.c (handing an action to an executor, and what comes back), oblevent.c (news from
 * sessions and operators), obllease.c (the lease: keepalive thread and the guard).
 */
#ifndef IMPORTGATE_OBLIGATIONS_INT_H
#define IMPORTGATE_OBLIGATIONS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "policy/config.h"
#include "policy/decide.h"
#include "policy/obllife.h"
#include "policy/oblrecord.h"
#include "proxy/obligations.h"
#include "proxy/oblexec.h"
#include "proxy/oblpool.h"
#include "proxy/oblview.h"
#include "store/oblstore.h"

#define LEASE_TTL_S 10
#define LEASE_GUARD_MS (LEASE_TTL_S * 1000 / 2) /* stop acting when less of the lease is left */
#define KEEPALIVE_MS (LEASE_TTL_S * 1000 / 4)
#define RETENTION_MS (7 * 86400000LL) /* terminal records kept this long for the status */
#define NEVER INT64_MAX
#define DISMISS_WAIT_MS 30000

typedef enum { EV_CREATED, EV_ANSWERED, EV_UNANSWERED, EV_DISMISS } ev_kind;

/* Shared by the admin thread waiting and the obligations thread answering: the last of
 * the two to let go frees it (the waiter may give up first). Fields under ob->mu. */
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

struct ig_obligations {
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
};

typedef enum { STEP_TAKEN, STEP_IGNORED, STEP_STALE, STEP_ERROR } step_rc;

static inline int64_t obl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int obl_poll_ms(const ig_obligations *ob)
{
	return ob->cfg->obligations.poll_ms > 0 ? ob->cfg->obligations.poll_ms : 5000;
}

/* oblthread.c: the obligations thread. */
int obl_thread_start(ig_obligations *ob);
void obl_stop_threads(ig_obligations *ob); /* no new step starts; joins it */

/* obllease.c: the lease. */
int obl_lease_start(ig_obligations *ob);
void obl_stop_lease_thread(ig_obligations *ob);
bool obl_lease_ok(ig_obligations *ob);                /* before each step; false: all dropped */
bool obl_may_act(const ig_oblexec_ctx *c);            /* executors, before a statement that acts */

/* oblstep.c: the owned records and one step of one record. */
void obl_audit(ig_obligations *ob, const char *event, const ig_obl_record *r, const char *step, const char *error);
void obl_view_set(ig_obligations *ob, const ig_obl_record *r);
void obl_view_replace(ig_obligations *ob, ig_obl_record *recs, size_t n);
ig_obl_record *obl_owned_find(ig_obligations *ob, const char *id);
ig_obl_record *obl_own(ig_obligations *ob, ig_obl_record *r);
void obl_disown(ig_obligations *ob, ig_obl_record *r);
step_rc obl_apply(ig_obligations *ob, ig_obl_record *o, const ig_obl_event *e);
int obl_settle(ig_obligations *ob, ig_obl_record *o, step_rc rc);
ig_obl_event obl_event_now(ig_obligations *ob, ig_obl_ev_kind k);
int obl_work(ig_obligations *ob, ig_obl_record *o);
void obl_search_all(ig_obligations *ob, const ig_obljob *j);

/* obloutcome.c: records handed to the executors, and their outcomes. */
struct inflight *obl_inflight_find(ig_obligations *ob, const char *id);
bool obl_is_search(ig_obl_action a);
bool obl_search_running(ig_obligations *ob, ig_obl_action a);
int obl_dispatch(ig_obligations *ob, ig_obl_record *o, ig_obl_action action, bool rerun);
void obl_job_done(void *engine, ig_obljob *j);        /* executors: the pool's callback */
bool obl_job_taken(const ig_oblexec_ctx *c, const char *job_id, const char *self_id, bool downstream);
ig_obljob *obl_parked_find(ig_obligations *ob, const char *id);
void obl_retry_parked(ig_obligations *ob);
void obl_apply_parked(ig_obligations *ob, ig_obl_record *o);
void obl_prune_parked(ig_obligations *ob, const ig_obl_record *recs, size_t n);
bool obl_on_result(ig_obligations *ob, ig_obljob *j);

/* oblevent.c: events from sessions and operators. */
void obl_dismiss_complete(ig_obligations *ob, dismiss_wait *w, int rc, const char *msg);
void obl_event_free(obl_event *e);
bool obl_handle(ig_obligations *ob, obl_event *e);
obl_event *obl_take_deferred(ig_obligations *ob, obl_event *ev);

#endif
