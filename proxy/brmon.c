/*
 * brmon.c - the running-import monitor (see brmon.h). One thread; each round reads
 * /tidb/brie/import/ (pd/brieread.c), compares it with what it saw before (started,
 * ended), and while anything runs, takes the current cluster state from the state cache
 * and lists the log backup tasks and changefeeds each import conflicts with
 * (policy/brieimport.c). Only keys with a lease count, as for BR and TiCDC
 * (br/pkg/utils/register.go GetImportTasksFrom skips a key whose lease has no TTL left; a
 * key without a lease has none). A failed read keeps the last known set: an import is never
 * said to have ended because PD did not answer. An etcd watch on the prefix
 * (pd/prefixwatch.c) starts a round as soon as a key changes; the reads every
 * IG_BRMON_INTERVAL_MS are what is trusted (and what sees a new log backup task or
 * changefeed while an import runs). Every IG_STATE_CHECK_MS, or every round while imports
 * run, the cluster state is taken (counted in importgate_cluster_state_reads_total; a
 * success resets importgate_cluster_state_age_seconds): a cheap revision check while the
 * state cache's watch is current, and what tells an operator, before any import, that PD
 * cannot be read.
 * A Lightning registration is also judged against the guard records of guarded runs
 * (policy/ltnguard.h, pd/ltnguardread.h): one that no guarded run bound is reported once
 * (brie.import.unguarded, a counter, an ERROR line when any log backup task or changefeed
 * exists). What was reported is remembered in this process only.
 */
#include "proxy/brmon.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pd/brieread.h"
#include "pd/ltnguardread.h"
#include "pd/prefixwatch.h"
#include "pd/statecache.h"
#include "proxy/auditev.h"
#include "proxy/auditfield.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/runtime.h"

typedef struct tracked {
	ig_brie_import reg;   /* a copy of the registration */
	int64_t since_ms;     /* CLOCK_REALTIME when first seen */
	bool at_start;        /* already there at the gateway's first read: started earlier */
	bool conflicted;      /* a conflict was reported while it ran */
	char *sig;            /* what it conflicts with now ("" none, NULL unknown) */
	json_t *conflict;     /* the same for the status (NULL when unknown) */
	bool guard_known;     /* Lightning: guard (below) was judged at least once */
	ig_ltn_guard_verdict guard;
	char *guard_run;      /* the guarded run that bound it (or may: pending), NULL none */
	int64_t pending_since_ms; /* CLOCK_REALTIME when judged pending since (0: not pending) */
	bool unguarded_reported;
} tracked;

struct ig_brmon {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping, woken;     /* under lock */
	pthread_t thread;
	json_t *snapshot;         /* the last round's status, under lock */
	/* the monitor thread's own */
	tracked *trk;
	size_t ntrk;
	bool read_once;
	char read_err[1024], state_err[512], guard_err[512];
	char check_err[512];      /* the last background state check's error, "" when it worked */
	int64_t state_taken_ms;   /* CLOCK_MONOTONIC of the last state taken (0: never) */
	ig_prefix_watch *pw;      /* the wake-up watch on the prefix, NULL when none */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Text from etcd in a log line: printable ASCII only, so a key cannot forge a line. */
static const char *clean(const char *s, char *out, size_t n)
{
	size_t i = 0;
	for (; s && *s && i + 1 < n; s++)
		out[i++] = (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\') ? '?' : *s;
	out[i] = '\0';
	return out;
}

static int set_str(json_t *o, const char *k, const char *v)
{
	return v ? ig_audit_set_string(o, k, v, strlen(v)) : json_object_set_new(o, k, json_null());
}

/* Redacted (sql_redact_text): for error texts, which may quote a URL with a password. */
static int set_text(json_t *o, const char *k, const char *v)
{
	return v ? ig_audit_set_text(o, k, v, strlen(v)) : json_object_set_new(o, k, json_null());
}

static json_t *lease_json(int64_t lease)
{
	char hex[24];
	snprintf(hex, sizeof(hex), "%" PRIx64, (uint64_t)lease); /* as BR prints it */
	return json_string(hex);
}

/* The fields every status entry carries beyond kind/task/key (the same as the audit events'). */
static void add_common(json_t *o, const tracked *t)
{
	json_object_set_new(o, "lease", lease_json(t->reg.lease));
	json_object_set_new(o, "value_bytes", json_integer((json_int_t)t->reg.value_bytes));
	json_object_set_new(o, "tables", json_null());
	json_object_set_new(o, "tables_known", json_false());
	json_object_set_new(o, "seen_at_start", json_boolean(t->at_start));
}

/* The registration as the brie.import.* audit events name it. */
static ig_auditev_brie audited(const tracked *t)
{
	ig_auditev_brie b = {.kind = t->reg.kind_text, .task = t->reg.task, .key = t->reg.key,
	                     .lease = t->reg.lease, .value_bytes = t->reg.value_bytes,
	                     .seen_at_start = t->at_start};
	return b;
}

static void tracked_free(tracked *t)
{
	ig_brie_import_clear(&t->reg);
	free(t->guard_run);
	free(t->sig);
	json_decref(t->conflict);
}

static int copy_reg(ig_brie_import *d, const ig_brie_import *s)
{
	*d = *s;
	d->kind_text = strdup(s->kind_text);
	d->task = strdup(s->task);
	d->key = strdup(s->key);
	if (d->kind_text && d->task && d->key)
		return 0;
	ig_brie_import_clear(d);
	return -1;
}

/* ---- started and ended ---- */

static void on_ended(tracked *t)
{
	char k[128], task[128];
	ig_auditev_brie b = audited(t);

	ig_auditev_brie_import_ended(&b, now_ms() - t->since_ms, t->conflicted);
	LOG_INFO(0, "running import ended: %s \"%s\" (its /tidb/brie/import/ key is gone)",
	         clean(t->reg.kind_text, k, sizeof(k)), clean(t->reg.task, task, sizeof(task)));
}

static void on_started(tracked *t, const char *source)
{
	char k[128], task[128];
	ig_auditev_brie b = audited(t);

	ig_auditev_brie_import_started(&b, source);
	LOG_WARN(0, "running import %s: %s \"%s\" (lease %" PRIx64 "); its registration does not "
	         "name the tables it writes", t->at_start ? "found at start" : "started",
	         clean(t->reg.kind_text, k, sizeof(k)), clean(t->reg.task, task, sizeof(task)),
	         (uint64_t)t->reg.lease);
}

static void ended_unbound(tracked *t, const ig_config *cfg);

static void drop_ended(ig_brmon *m, const ig_config *cfg, const ig_brie_list *l)
{
	size_t w = 0;
	for (size_t i = 0; i < m->ntrk; i++) {
		const ig_brie_import *b = ig_brie_list_find(l, m->trk[i].reg.key);
		if (b && b->lease != 0) {
			m->trk[i].reg.lease = b->lease; /* IMPORT INTO's new owner may re-put it */
			m->trk[i].reg.create_revision = b->create_revision; /* what a guard's binding names */
			m->trk[w++] = m->trk[i];
			continue;
		}
		ended_unbound(&m->trk[i], cfg);
		on_ended(&m->trk[i]);
		tracked_free(&m->trk[i]);
	}
	m->ntrk = w;
}

static void add_started(ig_brmon *m, const ig_brie_list *l, const char *source)
{
	for (size_t i = 0; i < l->n; i++) {
		bool known = false;
		tracked *v;
		if (l->v[i].lease == 0)
			continue;
		for (size_t j = 0; j < m->ntrk && !known; j++)
			known = strcmp(m->trk[j].reg.key, l->v[i].key) == 0;
		if (known || !(v = realloc(m->trk, (m->ntrk + 1) * sizeof(*v))))
			continue;
		m->trk = v;
		memset(&m->trk[m->ntrk], 0, sizeof(*m->trk));
		if (copy_reg(&m->trk[m->ntrk].reg, &l->v[i]) < 0)
			continue;
		m->trk[m->ntrk].since_ms = now_ms();
		m->trk[m->ntrk].at_start = !m->read_once;
		on_started(&m->trk[m->ntrk++], source);
	}
}

/* ---- guarded or not (Lightning) ---- */

/* unreadable: the guard records could not be read for longer than the pending bound (below);
 * ended: the registration went while still pending (or unjudged), bound by no guarded run. */
static void report_unguarded(tracked *t, const ig_config *cfg, bool unreadable, bool ended)
{
	const ig_cluster_state *st = NULL;
	int64_t ntasks = -1, ncfs = -1;
	char e[256], task[128], msg[900];
	ig_auditev_brie b = audited(t);

	if (ig_state_acquire(cfg, &st, e, sizeof(e)) == 0) {
		ntasks = (int64_t)st->ntasks;
		ncfs = (int64_t)st->ncfs;
		ig_state_release(st);
	}
	bool loud = ntasks != 0 || ncfs != 0; /* unknown counts as loud */
	const char *how = unreadable && ended
	                          ? "it ended with no guarded run seen to have bound its registration (the guarded runs' "
	                            "records under " IG_KEY_LTN_RUNS " could not be read)"
	                  : unreadable ? "no guarded run can be seen to have bound its registration (the guarded runs' "
	                                 "records under " IG_KEY_LTN_RUNS " cannot be read)"
	                  : ended ? "it ended with no guarded run having bound its registration (a guarded run's record "
	                            "that never bound it held it pending)"
	                          : "no guarded run bound its registration";
	if (ntasks < 0)
		snprintf(msg, sizeof(msg), "a TiDB Lightning physical import (\"%s\") was not started by `importgate "
		         "lightning run`: %s; the cluster state could not be read "
		         "(%s), so log backup tasks or changefeeds may exist that its rows never reach",
		         clean(t->reg.task, task, sizeof(task)), how, e);
	else
		snprintf(msg, sizeof(msg), "a TiDB Lightning physical import (\"%s\") was not started by `importgate "
		         "lightning run`: %s; %lld log backup task(s) and %lld "
		         "changefeed(s) exist%s", clean(t->reg.task, task, sizeof(task)), how, (long long)ntasks,
		         (long long)ncfs, loud ? ": no rule decided its tables and no obligation was recorded" : "");
	/* the counter and the log line first: whoever sees the event sees them too */
	ig_metric_inc(IG_M_BRIE_UNGUARDED_EVENTS);
	if (loud)
		LOG_ERROR(0, "UNGUARDED LIGHTNING: %s", msg);
	else
		LOG_WARN(0, "unguarded Lightning: %s", msg);
	ig_auditev_brie_import_unguarded(&b, ntasks, ncfs, msg);
	t->unguarded_reported = true;
}

/* How long a registration may stay pending (a guard with nothing bound started before it): a
 * guarded run binds its Lightning's registration within one binder round (proxy/ltn_run.c, every
 * 300 ms), so one still pending after this is bound by no guarded run. Without the bound, a guard
 * record that never binds (a guarded run whose child never registers, or a record written by
 * anyone who can write PD's etcd, as Lightning itself does) would keep every later Lightning
 * pending, never reported, for as long as it lives. IG_LTN_PENDING_MAX_S: a test hook. */
#define LTN_PENDING_MAX_S 20

/* Milliseconds: the positive whole seconds in the environment variable `name` (a test hook),
 * else dflt_s. */
static int64_t hook_ms(const char *name, int64_t dflt_s)
{
	const char *v = getenv(name);
	char *end;
	long long n = v ? strtoll(v, &end, 10) : -1;

	return (v && *v && !*end && n > 0 ? n : dflt_s) * 1000;
}

static int64_t pending_max(void) { return hook_ms("IG_LTN_PENDING_MAX_S", LTN_PENDING_MAX_S); }

/* A registration that ends while pending had no guarded run bind it in its whole life; a guarded
 * run binds its own within one binder round, so one pending for LTN_PENDING_ENDED_S before it
 * ended had no binder taking it: a guard record that never binds (a guarded run killed before
 * its Lightning registered, whose record waits out its lease; a binder that cannot write; a
 * record written by hand). Before (attack14), it was dropped unreported: a Lightning started by
 * hand that ran and ended within the 20 s pending bound was never reported. One pending for less
 * is not reported (it may be a guarded run's own, ended before its binder's next round).
 * IG_LTN_PENDING_ENDED_S: a test hook. */
#define LTN_PENDING_ENDED_S 5

static int64_t pending_ended_min(void) { return hook_ms("IG_LTN_PENDING_ENDED_S", LTN_PENDING_ENDED_S); }

static void ended_unbound(tracked *t, const ig_config *cfg)
{
	int64_t since = !t->guard_known ? t->since_ms : t->guard == IG_LTN_PENDING ? t->pending_since_ms : 0;

	if (t->reg.kind != IG_BRIE_LIGHTNING || t->unguarded_reported || !since || now_ms() - since < pending_ended_min())
		return;
	report_unguarded(t, cfg, !t->guard_known, true);
}

/* The guard records cannot be read (etcd answers the registrations but not them: PD down in
 * between, or a prefix stuffed past what one answer may hold by anyone who can write PD's etcd).
 * What was known stays, but a registration never judged, or pending, is not left unreported
 * for longer than the pending bound: that would hide every Lightning for as long as the records
 * stay unreadable. */
static void unreadable_guards(ig_brmon *m, const ig_config *cfg, int64_t now, int64_t pending_max_ms)
{
	for (size_t i = 0; i < m->ntrk; i++) {
		tracked *t = &m->trk[i];
		int64_t since = !t->guard_known ? t->since_ms : t->guard == IG_LTN_PENDING ? t->pending_since_ms : 0;
		bool odd = !ig_ltn_bindable(&t->reg); /* no guard record can name it: unguarded, records or not */
		if (t->reg.kind != IG_BRIE_LIGHTNING || t->unguarded_reported ||
		    (!odd && (!since || now - since < pending_max_ms)))
			continue;
		t->guard = IG_LTN_UNGUARDED;
		t->guard_known = true;
		t->pending_since_ms = 0;
		free(t->guard_run);
		t->guard_run = NULL;
		report_unguarded(t, cfg, !odd, false);
	}
}

/* Judges every tracked Lightning registration against the live guard records; an unreadable
 * store judges nothing (what was known stays), except that unreadable_guards bounds it. */
static void judge_guards(ig_brmon *m, const ig_config *cfg)
{
	ig_ltn_guard *g = NULL;
	size_t n = 0, bad = 0, by = 0;
	bool any = false;
	int64_t now = now_ms(), pending_max_ms = pending_max();
	char e[512];

	for (size_t i = 0; i < m->ntrk && !any; i++)
		any = m->trk[i].reg.kind == IG_BRIE_LIGHTNING;
	if (!any)
		return;
	if (ig_ltn_guards_read(cfg, &g, &n, &bad, e, sizeof(e)) < 0) {
		if (strcmp(e, m->guard_err) != 0)
			LOG_WARN(0, "running imports: %s (Lightning runs are not judged guarded or not until it is read)", e);
		snprintf(m->guard_err, sizeof(m->guard_err), "%s", e);
		unreadable_guards(m, cfg, now, pending_max_ms);
		return;
	}
	if (m->guard_err[0])
		LOG_INFO(0, "running imports: the guarded Lightning runs are readable again");
	m->guard_err[0] = '\0';
	if (bad)
		LOG_WARN(0, "running imports: %zu guarded-run record(s) under %s do not decode (ignored)", bad,
		         IG_KEY_LTN_RUNS);
	for (size_t i = 0; i < m->ntrk; i++) {
		tracked *t = &m->trk[i];
		if (t->reg.kind != IG_BRIE_LIGHTNING)
			continue;
		t->guard = ig_ltn_guard_judge(&t->reg, g, n, &by);
		t->guard_known = true;
		if (t->guard != IG_LTN_PENDING)
			t->pending_since_ms = 0;
		else if (!t->pending_since_ms)
			t->pending_since_ms = now;
		else if (now - t->pending_since_ms >= pending_max_ms) /* no guarded run binds it: see above */
			t->guard = IG_LTN_UNGUARDED;
		free(t->guard_run);
		t->guard_run = t->guard != IG_LTN_UNGUARDED && g[by].run ? strdup(g[by].run) : NULL;
		if (t->guard == IG_LTN_UNGUARDED && !t->unguarded_reported)
			report_unguarded(t, cfg, false, false);
	}
	ig_ltn_guards_free(g, n);
}

/* ---- conflicts ---- */

typedef struct sbuf {
	char *p;
	size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return; /* the signature is then shorter: at worst one event too many */
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

/* The status/audit object for c and its signature (names and reach only, so a state
 * change of a changefeed does not make a new event). */
static json_t *conflict_json(const ig_cluster_state *st, const ig_brie_conflict *c, sbuf *sig)
{
	json_t *o = json_object(), *ts = json_array(), *cs = json_array();

	if (!o || !ts || !cs) {
		json_decref(o);
		json_decref(ts);
		json_decref(cs);
		return NULL;
	}
	for (size_t i = 0; i < c->ntasks; i++) {
		const ig_lbtask *t = &st->tasks[c->tasks[i]];
		json_t *e = json_object();
		set_str(e, "name", t->name);
		json_object_set_new(e, "reach", json_string(ig_brie_reach_name(c->task_reach[i])));
		json_object_set_new(e, "paused", json_boolean(t->paused));
		json_array_append_new(ts, e);
		sb_add(sig, "t:");
		sb_add(sig, t->name);
		sb_add(sig, ig_brie_reach_name(c->task_reach[i]));
		sb_add(sig, "\x1e");
	}
	for (size_t i = 0; i < c->ncfs; i++) {
		const ig_changefeed *cf = &st->cfs[c->cfs[i]];
		json_t *e = json_object();
		set_str(e, "id", cf->display);
		set_str(e, "state", cf->state_text ? cf->state_text : ig_cfstate_name(cf->state));
		json_object_set_new(e, "reach", json_string(ig_brie_reach_name(c->cf_reach[i])));
		json_array_append_new(cs, e);
		sb_add(sig, "c:");
		sb_add(sig, cf->display);
		sb_add(sig, ig_brie_reach_name(c->cf_reach[i]));
		sb_add(sig, "\x1e");
	}
	json_object_set_new(o, "every_table", json_boolean(c->every));
	json_object_set_new(o, "log_backup_tasks", ts);
	json_object_set_new(o, "changefeeds", cs);
	return o;
}

/* "log backup task "a" (every table), changefeed "x/y/z" (some tables)" for the log. */
static void conflict_text(const ig_cluster_state *st, const ig_brie_conflict *c, char *out, size_t n)
{
	size_t l = 0;
	char name[160];

	out[0] = '\0';
	for (size_t i = 0; i < c->ntasks + c->ncfs && l < n; i++) {
		bool task = i < c->ntasks;
		size_t j = task ? i : i - c->ntasks;
		const char *nm = task ? st->tasks[c->tasks[j]].name : st->cfs[c->cfs[j]].display;
		ig_brie_reach r = task ? c->task_reach[j] : c->cf_reach[j];
		int w = snprintf(out + l, n - l, "%s%s \"%s\" (%s)", i ? ", " : "",
		                 task ? "log backup task" : "changefeed", clean(nm, name, sizeof(name)),
		                 r == IG_BRIE_COVERS_EVERY ? "every table" : "some tables");
		if (w < 0)
			break;
		l += (size_t)w;
	}
}

static void report_conflict(tracked *t, const ig_cluster_state *st, const ig_brie_conflict *c)
{
	char what[1024], k[128], task[128], msg[1400];
	ig_auditev_brie b = audited(t);

	conflict_text(st, c, what, sizeof(what));
	snprintf(msg, sizeof(msg), "a physical %s is running (%s \"%s\") while %s: %s. The "
	         "registration does not name the tables it writes; what it writes is in no log backup "
	         "and reaches no changefeed (TiDB's compatibility guide, physical import with log "
	         "backup and TiCDC)",
	         t->reg.kind == IG_BRIE_RESTORE ? "restore" : "import",
	         clean(t->reg.kind_text, k, sizeof(k)), clean(t->reg.task, task, sizeof(task)),
	         c->every ? "a log backup task or changefeed covers every table, so its tables too"
	                  : "log backup tasks or changefeeds cover some tables, possibly its tables",
	         what);
	ig_auditev_brie_import_conflict(&b, t->conflict, msg);
	ig_metric_inc(IG_M_BRIE_CONFLICT_EVENTS);
	LOG_ERROR(0, "CONFLICT: %s", msg);
}

static void check_one(tracked *t, const ig_cluster_state *st)
{
	ig_brie_conflict c;
	sbuf sig = {0};
	json_t *cj;
	char k[128], task[128];
	bool was = t->sig && t->sig[0];

	if (ig_brie_conflicts(&t->reg, st, &c) < 0)
		return;
	sb_add(&sig, "");
	cj = conflict_json(st, &c, &sig);
	if (!cj || !sig.p) {
		json_decref(cj);
		free(sig.p);
		ig_brie_conflict_free(&c);
		return;
	}
	json_decref(t->conflict);
	t->conflict = cj;
	if (sig.p[0] && (!t->sig || strcmp(sig.p, t->sig) != 0)) {
		t->conflicted = true;
		report_conflict(t, st, &c);
	} else if (!sig.p[0] && was) {
		LOG_INFO(0, "running import %s \"%s\": no log backup task or changefeed left to conflict with",
		         clean(t->reg.kind_text, k, sizeof(k)), clean(t->reg.task, task, sizeof(task)));
	}
	free(t->sig);
	t->sig = sig.p;
	ig_brie_conflict_free(&c);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ig_state_acquire, timed and counted as the decisions' reads are; a success stamps the age. */
static int take_state(ig_brmon *m, const ig_config *cfg, const ig_cluster_state **st, char *e, size_t elen)
{
	int64_t t0 = mono_ms();
	int rc = ig_state_acquire(cfg, st, e, elen);
	m->state_taken_ms = mono_ms();
	ig_metric_observe_seconds(IG_M_STATE_READ_SECONDS, (double)(m->state_taken_ms - t0) / 1000.0);
	ig_metric_inc(rc < 0 ? IG_M_STATE_READS_ERROR : IG_M_STATE_READS_OK);
	if (rc == 0)
		ig_metric_stamp_now(IG_M_STATE_AGE);
	return rc;
}

/* The background check when nothing runs (check_conflicts takes the state otherwise). Its
 * failures are logged when they start and end, not every time. */
static void check_state(ig_brmon *m, const ig_config *cfg)
{
	const ig_cluster_state *st = NULL;
	char e[512];

	if (cfg->cluster.npd == 0 || m->ntrk > 0 ||
	    (m->state_taken_ms && mono_ms() - m->state_taken_ms < IG_STATE_CHECK_MS))
		return;
	if (take_state(m, cfg, &st, e, sizeof(e)) < 0) {
		if (strcmp(e, m->check_err) != 0)
			LOG_WARN(0, "cluster state: cannot be read: %s (imports follow policy.on_state_unavailable "
			         "while this lasts)", e);
		snprintf(m->check_err, sizeof(m->check_err), "%s", e);
		return;
	}
	if (m->check_err[0])
		LOG_INFO(0, "cluster state: readable again");
	m->check_err[0] = '\0';
	ig_state_release(st);
}

static void check_conflicts(ig_brmon *m, const ig_config *cfg)
{
	const ig_cluster_state *st = NULL;
	char e[512];

	if (m->ntrk == 0) {
		m->state_err[0] = '\0';
		return;
	}
	if (take_state(m, cfg, &st, e, sizeof(e)) < 0) {
		if (strcmp(e, m->state_err) != 0)
			LOG_WARN(0, "running imports: cannot check them against log backup tasks and "
			         "changefeeds: %s", e);
		snprintf(m->state_err, sizeof(m->state_err), "%s", e);
		return; /* what was known stays (status says state_error) */
	}
	m->state_err[0] = '\0';
	for (size_t i = 0; i < m->ntrk; i++)
		check_one(&m->trk[i], st);
	ig_state_release(st);
}

/* ---- metrics and status ---- */

static void set_gauges(ig_brmon *m)
{
	int64_t per[IG_BRIE_NKINDS] = {0}, conflicts = 0;
	static const ig_metric_id ids[IG_BRIE_NKINDS] = {
		[IG_BRIE_RESTORE] = IG_M_BRIE_RESTORE, [IG_BRIE_LIGHTNING] = IG_M_BRIE_LIGHTNING,
		[IG_BRIE_IMPORT_INTO] = IG_M_BRIE_IMPORT_INTO, [IG_BRIE_OTHER] = IG_M_BRIE_OTHER,
	};
	for (size_t i = 0; i < m->ntrk; i++) {
		per[m->trk[i].reg.kind]++;
		conflicts += m->trk[i].sig && m->trk[i].sig[0];
	}
	for (int k = 0; k < IG_BRIE_NKINDS; k++)
		ig_metric_gauge_set(ids[k], per[k]);
	ig_metric_gauge_set(IG_M_BRIE_CONFLICTS, conflicts);
}

static json_t *import_json(const tracked *t)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	set_str(o, "kind", t->reg.kind_text);
	set_str(o, "task", t->reg.task);
	set_str(o, "key", t->reg.key);
	add_common(o, t);
	json_object_set_new(o, "since_ms", json_integer(t->since_ms));
	json_object_set_new(o, "conflict", t->conflict ? json_deep_copy(t->conflict) : json_null());
	if (t->reg.kind == IG_BRIE_LIGHTNING) {
		json_object_set_new(o, "guard", t->guard_known ? json_string(ig_ltn_guard_verdict_name(t->guard))
		                                               : json_null());
		set_str(o, "guard_run", t->guard_run);
	}
	return o;
}

static void publish(ig_brmon *m, const char *source, const ig_brie_list *l, int64_t read_at)
{
	json_t *o = json_object(), *imps = json_array(), *ign = json_array();

	if (!o || !imps || !ign) {
		json_decref(o);
		json_decref(imps);
		json_decref(ign);
		return;
	}
	/* An endpoint may carry a password (http://user:pw@pd:2379) and curl's errors quote it. */
	if (source)
		ig_audit_set_location(o, "pd", source);
	else
		json_object_set_new(o, "pd", json_null());
	json_object_set_new(o, "read_at_ms", read_at ? json_integer(read_at) : json_null());
	set_text(o, "error", m->read_err[0] ? m->read_err : NULL);
	set_text(o, "state_error", m->state_err[0] ? m->state_err : NULL);
	set_text(o, "guard_error", m->guard_err[0] ? m->guard_err : NULL);
	for (size_t i = 0; i < m->ntrk; i++)
		json_array_append_new(imps, import_json(&m->trk[i]));
	for (size_t i = 0; l && i < l->n; i++) {
		json_t *e = json_object();
		if (l->v[i].lease != 0 || !e) {
			json_decref(e);
			continue;
		}
		set_str(e, "key", l->v[i].key);
		json_object_set_new(e, "reason", json_string("no lease: BR and TiCDC ignore it"));
		json_array_append_new(ign, e);
	}
	json_object_set_new(o, "imports", imps);
	json_object_set_new(o, "ignored", ign);
	json_object_set_new(o, "watch", m->pw ? json_pack("{s:b, s:I}", "streaming", ig_prefix_watch_streaming(m->pw),
	                                               "event_responses", (json_int_t)ig_prefix_watch_events(m->pw))
	                                   : json_null());
	pthread_mutex_lock(&m->lock);
	json_decref(m->snapshot);
	m->snapshot = o;
	pthread_mutex_unlock(&m->lock);
}

json_t *ig_brmon_status(ig_brmon *m)
{
	json_t *o;
	pthread_mutex_lock(&m->lock);
	o = m->snapshot ? json_deep_copy(m->snapshot) : json_pack("{s:n, s:n, s:n, s:n, s:[], s:[], s:n}", "pd",
	    "read_at_ms", "error", "state_error", "imports", "ignored", "watch");
	pthread_mutex_unlock(&m->lock);
	return o;
}

/* ---- the thread ---- */

/* Runs on the watch's thread: a key under the prefix changed, start a round now. */
static void on_watch_event(void *ud)
{
	ig_brmon *m = ud;

	pthread_mutex_lock(&m->lock);
	m->woken = true;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->lock);
}

/* Keeps the watch on the endpoint that answered the last read (NULL: none wanted). */
static void watch_on(ig_brmon *m, const ig_config *cfg, const char *endpoint)
{
	char e[256];

	if (m->pw && endpoint && strcmp(ig_prefix_watch_endpoint(m->pw), endpoint) == 0)
		return;
	ig_prefix_watch_stop(m->pw);
	m->pw = NULL;
	if (endpoint && !(m->pw = ig_prefix_watch_start(cfg, endpoint, IG_KEY_BRIE_IMPORT, on_watch_event,
	                                                m, e, sizeof(e))))
		LOG_WARN(0, "running imports: no watch on /tidb/brie/import/ (%s); read every %d ms only",
		         e, IG_BRMON_INTERVAL_MS);
}

static void one_round(ig_brmon *m, const ig_config *cfg)
{
	ig_brie_list l;
	const char *source = NULL;
	char e[1024];

	if (cfg->cluster.npd == 0) {
		watch_on(m, cfg, NULL);
		publish(m, NULL, NULL, 0);
		return;
	}
	if (ig_brie_read(cfg, &l, &source, e, sizeof(e)) < 0) {
		ig_metric_inc(IG_M_BRIE_READS_ERROR);
		if (strcmp(e, m->read_err) != 0)
			LOG_WARN(0, "running imports: %s (the last known ones are kept)", e);
		snprintf(m->read_err, sizeof(m->read_err), "%s", e);
		publish(m, NULL, NULL, 0);
		return;
	}
	ig_metric_inc(IG_M_BRIE_READS_OK);
	if (m->read_err[0])
		LOG_INFO(0, "running imports: /tidb/brie/import/ readable again");
	m->read_err[0] = '\0';
	watch_on(m, cfg, source);
	drop_ended(m, cfg, &l);
	add_started(m, &l, source);
	m->read_once = true;
	judge_guards(m, cfg);
	check_conflicts(m, cfg);
	set_gauges(m);
	publish(m, source, &l, now_ms());
	ig_brie_list_clear(&l);
}

static void *run(void *arg)
{
	pthread_setname_np(pthread_self(), "ig-brmon"); /* its name in top -H, ps -L, perf */
	ig_brmon *m = arg;

	pthread_mutex_lock(&m->lock);
	while (!m->stopping) {
		struct timespec ts;
		pthread_mutex_unlock(&m->lock);
		ig_config *cfg = ig_cfg_acquire();
		one_round(m, cfg);
		check_state(m, cfg);
		ig_cfg_release(cfg);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += IG_BRMON_INTERVAL_MS / 1000;
		ts.tv_nsec += (IG_BRMON_INTERVAL_MS % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&m->lock);
		while (!m->stopping && !m->woken)
			if (pthread_cond_timedwait(&m->wake, &m->lock, &ts) != 0)
				break; /* the interval is over */
		m->woken = false;
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int ig_brmon_start(ig_brmon **out, char *err, size_t errlen)
{
	ig_brmon *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->wake, NULL);
	if (pthread_create(&m->thread, NULL, run, m) != 0) {
		pthread_mutex_destroy(&m->lock);
		pthread_cond_destroy(&m->wake);
		free(m);
		snprintf(err, errlen, "cannot start the running-import monitor thread");
		return -1;
	}
	*out = m;
	return 0;
}

void ig_brmon_stop(ig_brmon *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);
	ig_prefix_watch_stop(m->pw); /* the monitor thread is gone: nobody else uses it */
	for (size_t i = 0; i < m->ntrk; i++)
		tracked_free(&m->trk[i]);
	free(m->trk);
	json_decref(m->snapshot);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->wake);
	free(m);
}
