/*
 * ltn_run.c - `importgate lightning check` and `importgate lightning run` (ltn_run.h,
 * docs/LIGHTNING.md). The guarded run:
 *   1. the preflight; a refused table stops it (nothing runs);
 *   2. `lightning.decision` per table, durable in the gateway's audit log;
 *   3. one obligation record per owed step, in the gateway's store (store/oblstore.h), written
 *      and claimed by this process's lease BEFORE Lightning starts: origin "lightning",
 *      awaiting its answer (Lightning's exit), from_select (no IMPORT job to look for);
 *   4. Lightning, with -check-requirements=false when the preflight says that is safe, on the
 *      checked task bytes (a private copy) and the checked data files (-d: a private directory
 *      of hard links, proxy/ltn_snapshot.h); a task whose pd-addr is not the gateway's
 *      cluster is refused before anything is written; before it starts, a guard record in the
 *      store (policy/ltnguard.h) marks the run, and while it runs a binder thread binds
 *      Lightning's /tidb/brie/import/ registration to it (a compare-and-swap on a bind key:
 *      two guarded runs never bind one registration), so the gateways can tell it from a
 *      Lightning started by hand; the binder keeps checking the binding (a bound key that goes
 *      while Lightning runs on was not, or may not be, its own: reported unguarded) and, after
 *      Lightning exits, checks the bound key went with it (still there after a plain exit: let
 *      go for the gateways to report; after a signal: held until it goes, at most Lightning's
 *      registration TTL + a margin; the answers below wait for it);
 *   5. Lightning's exit applied to each record by the gateway's own transition function
 *      (policy/obllife.c) and written with a compare-and-swap that lets the claim go: a
 *      finished import makes the BACKUP due, and the gateway replicas' obligations engine
 *      (proxy/obligations.c) claims it and carries it out exactly once, as for an IMPORT
 *      INTO; a failure parks it outcome-unknown (lightning-failed), never drops it;
 *   6. waits (--wait) until the records are done or parked, and says which.
 * A crash of this process: before step 5, the records' claims expire with its lease and a
 * replica finds them awaiting an answer from a dead holder: outcome-unknown
 * (lightning-outcome-unknown); after step 5 they are the engine's, as any due record.
 * Test hooks: IG_LTN_CRASH_AT=before-answer|after-due ends the process there (_exit(70));
 * IG_LTN_REG_TTL_S and IG_LTN_CLOSE_GRACE_S replace Lightning's registration TTL and the close
 * grace (below) so a test need not wait minutes; IG_LTN_BIND_DELAY_MS waits between the pick
 * and the bind (two binders then pick the same registration).
 */
#include "proxy/ltn_run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pd/brieread.h"
#include "pd/etcdread.h"
#include "pd/ltnguardread.h"
#include "policy/ltnguard.h"
#include "policy/obllife.h"
#include "proxy/audit.h"
#include "proxy/auditev.h"
#include "proxy/ltn_preflight.h"
#include "store/oblstore.h"

#define LEASE_TTL_S 10
#define KEEPALIVE_MS 2500
#define POLL_MS 500
#define BIND_POLL_MS 300
/* Lightning's registration TTL: br/pkg/utils/register.go defaultTaskRegisterTTL = 3 * 60 (s) */
#define LTN_REG_TTL_S 180
#define LTN_REG_MARGIN_S 10
/* How long Lightning may run on after its key went: register.go Close runs in importTables'
 * deferred undo (lightning/pkg/importer/import.go), and Lightning then still runs its last steps
 * (cleanCheckpoints, the backend's close) before it exits. */
#define LTN_CLOSE_GRACE_S 60

typedef struct owed {
	ig_obl_record rec;
	const ig_ltn_answer *a;
	bool answered;   /* its answer was written (the engine's from then on) */
} owed;

typedef struct run {
	ig_config *cfg;
	const ig_ltn_opts *o;
	ig_ltn_preflight pf;
	ig_oblstore *st;
	char replica[128];
	owed *v;
	size_t n;
	char copy_dir[PATH_MAX], copy_path[PATH_MAX + 16]; /* the checked task bytes Lightning reads */
	ig_ltn_snapshot snap; /* the checked data files Lightning reads (-d) */
	pthread_t ka;
	bool ka_running;
	volatile bool ka_stop;
	/* the guard record (policy/ltnguard.h): marks this run's Lightning as guarded */
	pthread_mutex_t gmu;
	ig_ltn_guard guard;       /* under gmu once the binder runs */
	char run_id[33];
	bool guard_written;
	ig_ltn_binder bs;         /* the binder's state machine (under gmu) */
	ig_brie_import bound;     /* a copy of the bound registration (key NULL: none) */
	ig_brie_import suspect;   /* a released binding that may be reported (key NULL: none) */
	bool ambiguous_stored;    /* the guard record says ambiguous (written, not only meant) */
	int ambiguous_fail;       /* IG_LTN_FAIL_AMBIGUOUS_PUTS: a test hook, puts still to fail */
	pthread_t binder;
	bool binder_running;
	volatile bool binder_stop;
} run;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void crash_at(const char *point)
{
	const char *at = getenv("IG_LTN_CRASH_AT");
	if (at && strcmp(at, point) == 0) {
		fprintf(stderr, "importgate lightning: IG_LTN_CRASH_AT=%s: ending here\n", point);
		_exit(70);
	}
}

int ig_ltn_check(const ig_config *cfg, const ig_ltn_opts *o)
{
	ig_ltn_preflight pf;
	char err[1024];

	if (ig_ltn_preflight_run(cfg, o->task, o->user, o->host, &pf, err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate lightning check: %s\n", err);
		return 2;
	}
	if (o->json) {
		json_t *j = ig_ltn_preflight_json(&pf);
		char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(j);
	} else
		ig_ltn_preflight_print(&pf, stdout);
	int rc = pf.nrefused || !pf.cluster_same ? 1 : 0;
	ig_ltn_preflight_free(&pf);
	return rc;
}

/* ---- audit (the same log and line format as the gateway's) ---- */

static int audit_decision(run *r, const ig_ltn_answer *a)
{
	char tbl[300], err[512];
	snprintf(tbl, sizeof(tbl), "%s.%s", a->t->db, a->t->table);
	ig_auditev_ltn_table t = {.task = r->pf.task_path, .backend = ig_ltn_backend_name(r->pf.task.backend),
	                          .user = r->o->user ? r->o->user : r->pf.task.tidb_user, .db = a->t->db,
	                          .table = tbl, .verdict = ig_ltn_verdict_name(a->verdict), .dec = &a->d,
	                          .reason = a->reason};
	if (ig_auditev_lightning_decision(&t, err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate lightning run: the audit record cannot be written (%s): nothing is run\n", err);
		return -1;
	}
	return 0;
}

/* The record's origin is "lightning": the event says so (proxy/auditev.c). */
static void audit_obl(run *r, const char *event, const ig_obl_record *rec, const char *step, const char *error)
{
	char err[512];
	if (ig_auditev_obligation(event, rec, step, error, r->replica, err, sizeof(err)) < 0)
		fprintf(stderr, "importgate lightning run: %s not audited: %s\n", event, err);
}

static void audit_run(run *r, const char *event, int status, const char *what)
{
	char err[512];
	if (ig_auditev_lightning_run(event, r->pf.task_path, r->o->argv[0], r->pf.nanswers, r->n, status, what, err,
	                             sizeof(err)) < 0)
		fprintf(stderr, "importgate lightning run: %s not audited: %s\n", event, err);
}

/* ---- the store ---- */

static int put_guard_locked(run *r, char *err, size_t errlen)
{
	char *v = ig_ltn_guard_encode(&r->guard);
	int64_t rev;
	int rc;

	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = ig_oblstore_run_put(r->st, r->run_id, v, &rev, err, errlen);
	free(v);
	return rc;
}

static int bind_locked(run *r, const ig_brie_import *reg, bool take, char *err, size_t errlen);

/* After a new store lease: the guard record and its bind key went with the old one. */
static void put_guard(run *r)
{
	char err[512];
	int rc = 0;

	pthread_mutex_lock(&r->gmu);
	if (r->guard_written)
		rc = r->bound.key ? bind_locked(r, &r->bound, true, err, sizeof(err)) : put_guard_locked(r, err, sizeof(err));
	if (rc == 1 && put_guard_locked(r, err, sizeof(err)) < 0) /* the binding was taken: the guard without it */
		rc = -1;
	if (rc != 0)
		fprintf(stderr, "importgate lightning run: the guard record cannot be written again (%s): the gateways "
		        "may report this run's Lightning as unguarded\n", rc < 0 ? err : "its binding was taken");
	pthread_mutex_unlock(&r->gmu);
}

static void *keepalive(void *arg)
{
	run *r = arg;
	char err[256];

	while (!r->ka_stop) {
		int rc = ig_oblstore_keepalive(r->st, err, sizeof(err));
		if (rc == 1) {
			fprintf(stderr, "importgate lightning run: the store lease had expired and was granted anew: "
			        "a gateway replica may have taken the records over (they are then parked)\n");
			put_guard(r); /* the guard record went with the old lease */
		}
		else if (rc < 0)
			fprintf(stderr, "importgate lightning run: lease keepalive: %s\n", err);
		for (int i = 0; i < KEEPALIVE_MS / 100 && !r->ka_stop; i++)
			sleep_ms(rc < 0 ? 40 : 100);
	}
	return NULL;
}

static int open_store(run *r, char *err, size_t errlen)
{
	char warn[256] = "", host[64] = "?";

	if (r->st)
		return 0; /* opened for the guard record already */
	gethostname(host, sizeof(host) - 1);
	snprintf(r->replica, sizeof(r->replica), "lightning-run:%.60s:%ld", host, (long)getpid());
	if (r->cfg->cluster.npd > 0) {
		if (ig_oblstore_open_etcd(r->cfg, r->replica, LEASE_TTL_S, &r->st, err, errlen) < 0)
			return -1;
		if (pthread_create(&r->ka, NULL, keepalive, r) == 0)
			r->ka_running = true;
		return 0;
	}
	if (!r->cfg->obligations.file) {
		snprintf(err, errlen, "obligations are owed but neither cluster.pd nor obligations.file is set");
		return -1;
	}
	if (ig_oblstore_open_file(r->cfg->obligations.file, &r->st, warn, sizeof(warn), err, errlen) < 0) {
		size_t n = strlen(err);
		snprintf(err + n, errlen - n, " (a running gateway holds its obligations file: with obligations owed, "
		         "the guarded run needs the etcd store, cluster.pd)");
		return -1;
	}
	return 0;
}

static void new_id(char *out)
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)rand();
	for (size_t i = 0; i < sizeof(b); i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* One record per owed step (a table owing both has two: the backup is the engine's, the
 * downstream run of the task is parked for the operator once Lightning has finished). */
static int add_record(run *r, const ig_ltn_answer *a, unsigned kind, char *err, size_t errlen)
{
	owed *w = &r->v[r->n];
	ig_obl_record *rec = &w->rec;
	char stmt[PATH_MAX + 400];

	memset(w, 0, sizeof(*w));
	w->a = a;
	new_id(rec->id);
	rec->kinds = kind;
	rec->state = IG_OBLS_AWAITING_ANSWER;
	rec->from_select = true; /* no IMPORT job: nothing to look for in SHOW IMPORT JOBS */
	rec->created_ms = rec->updated_ms = now_ms();
	rec->backup.state = kind == IG_OBL_SNAPSHOT_AFTER_IMPORT ? IG_STEP_PENDING : IG_STEP_NONE;
	rec->reimport.state = kind == IG_OBL_REIMPORT_DOWNSTREAM ? IG_STEP_PENDING : IG_STEP_NONE;
	rec->next_try_ms = INT64_MAX;
	snprintf(stmt, sizeof(stmt), "TiDB Lightning task %s (physical import of %s.%s, importgate lightning run)",
	         r->pf.task_path, a->t->db, a->t->table);
	if (ig_obl_set_str(&rec->statement, stmt) | ig_obl_set_str(&rec->db, a->t->db) |
	    ig_obl_set_str(&rec->table, a->t->table) |
	    ig_obl_set_str(&rec->user, r->o->user ? r->o->user : r->pf.task.tidb_user) |
	    ig_obl_set_str(&rec->client, r->o->host ? r->o->host : "") | ig_obl_set_str(&rec->backend, "tidb-lightning") |
	    ig_obl_set_str(&rec->replica, r->replica) | ig_obl_set_str(&rec->origin, IG_OBL_ORIGIN_LIGHTNING)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (ig_oblstore_create(r->st, rec, err, errlen) < 0)
		return -1;
	r->n++;
	audit_obl(r, "obligation.created", rec, NULL, NULL);
	return 0;
}

static int record_obligations(run *r, char *err, size_t errlen)
{
	size_t need = 0;

	for (size_t i = 0; i < r->pf.nanswers; i++)
		need += !!(r->pf.answers[i].d.obligations & IG_OBL_SNAPSHOT_AFTER_IMPORT) +
		        !!(r->pf.answers[i].d.obligations & IG_OBL_REIMPORT_DOWNSTREAM);
	if (!need)
		return 0;
	for (size_t i = 0; i < r->pf.nanswers; i++)
		if ((r->pf.answers[i].d.obligations & IG_OBL_SNAPSHOT_AFTER_IMPORT) &&
		    !(r->cfg->obligations.backup_uri && *r->cfg->obligations.backup_uri)) {
			snprintf(err, errlen, "a snapshot backup is owed after importing %s.%s but obligations.backup_uri "
			         "is not set", r->pf.answers[i].t->db, r->pf.answers[i].t->table);
			return -1;
		}
	if (!(r->v = calloc(need, sizeof(*r->v)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (open_store(r, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < r->pf.nanswers; i++) {
		const ig_ltn_answer *a = &r->pf.answers[i];
		if (((a->d.obligations & IG_OBL_SNAPSHOT_AFTER_IMPORT) &&
		     add_record(r, a, IG_OBL_SNAPSHOT_AFTER_IMPORT, err, errlen) < 0) ||
		    ((a->d.obligations & IG_OBL_REIMPORT_DOWNSTREAM) &&
		     add_record(r, a, IG_OBL_REIMPORT_DOWNSTREAM, err, errlen) < 0))
			return -1;
	}
	return 0;
}

/* ---- the guard record and the binding of Lightning's registration ---- */

/* The current etcd revision: Lightning's registration will be created after it. */
static int current_revision(run *r, int64_t *rev, char *err, size_t errlen)
{
	for (size_t i = 0; i < r->cfg->cluster.npd; i++)
		if (ig_cluster_revision(r->cfg, r->cfg->cluster.pd[i], rev, err, errlen) == 0 && *rev > 0)
			return 0;
	return -1;
}

/* Written before Lightning starts; a run that cannot mark itself does not start (its Lightning
 * would be reported unguarded). Physical imports only: the tidb backend registers nothing. */
static int write_guard(run *r, char *err, size_t errlen)
{
	int64_t rev = 0;

	if (r->pf.task.backend != IG_LTN_BACKEND_LOCAL || r->cfg->cluster.npd == 0)
		return 0;
	if (open_store(r, err, errlen) < 0 || current_revision(r, &rev, err, errlen) < 0)
		return -1;
	new_id(r->run_id);
	r->guard.run = strdup(r->run_id);
	r->guard.replica = strdup(r->replica);
	r->guard.task = strdup(r->pf.task_path);
	r->guard.started_ms = now_ms();
	r->guard.after_rev = rev;
	if (!r->guard.run || !r->guard.replica || !r->guard.task) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (put_guard_locked(r, err, errlen) < 0)
		return -1;
	r->guard_written = true;
	return 0;
}

static int64_t env_seconds(const char *name, int64_t dflt)
{
	const char *v = getenv(name);
	char *end;
	long long n = v ? strtoll(v, &end, 10) : -1;

	return v && *v && !*end && n >= 0 ? (int64_t)n : dflt;
}

/* Text from etcd on stderr: printable ASCII only, so a key cannot forge a line. */
static const char *printable(const char *s, char *out, size_t n)
{
	size_t i = 0;
	for (; s && *s && i + 1 < n; s++)
		out[i++] = (*s < 0x20 || *s > 0x7e) ? '?' : *s;
	out[i] = '\0';
	return out;
}

static void reg_clear(ig_brie_import *b)
{
	ig_brie_import_clear(b);
	memset(b, 0, sizeof(*b));
}

static int reg_copy(ig_brie_import *dst, const ig_brie_import *src)
{
	*dst = *src;
	dst->kind_text = strdup(src->kind_text ? src->kind_text : "");
	dst->task = strdup(src->task ? src->task : "");
	dst->key = strdup(src->key);
	if (!dst->kind_text || !dst->task || !dst->key) {
		reg_clear(dst);
		return -1;
	}
	return 0;
}

/* Binds reg to the guard (take) or lets the binding go (!take), with the bind key, in one txn.
 * 0 done, 1 lost (take: another run holds it), -1 + err. The guard in memory follows. */
static int bind_locked(run *r, const ig_brie_import *reg, bool take, char *err, size_t errlen)
{
	char name[2 * 1024 + 32], *v;
	int rc;

	if (!ig_ltn_bind_name(reg, name, sizeof(name))) {
		snprintf(err, errlen, "the registration's key is too long to bind");
		return -1;
	}
	free(r->guard.reg_key);
	r->guard.reg_key = take ? strdup(reg->key) : NULL;
	r->guard.reg_create_rev = take ? reg->create_revision : 0;
	r->guard.reg_lease = take ? reg->lease : 0;
	if ((take && !r->guard.reg_key) || !(v = ig_ltn_guard_encode(&r->guard))) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	} else {
		rc = ig_oblstore_run_bind(r->st, r->run_id, v, name, take, err, errlen);
		free(v);
	}
	if (take && rc != 0) {
		free(r->guard.reg_key);
		r->guard.reg_key = NULL;
		r->guard.reg_create_rev = r->guard.reg_lease = 0;
	}
	return rc;
}

/* A registration this run had bound and cannot vouch for: audited as the gateways audit an
 * unguarded Lightning (brie.import.unguarded; the counts are the preflight's), and said here. */
static void report_suspect(run *r)
{
	const ig_brie_import *s = &r->suspect;
	ig_auditev_brie b = {.kind = s->kind_text, .task = s->task, .key = s->key, .lease = s->lease,
	                     .value_bytes = s->value_bytes};
	int64_t ntasks = r->pf.state ? (int64_t)r->pf.state->ntasks : -1;
	int64_t ncfs = r->pf.state ? (int64_t)r->pf.state->ncfs : -1;
	const char *why = r->bs.gone_early
	        ? "went while its lease still had time left after that run's Lightning was killed: a killed Lightning "
	          "revokes nothing, so a live process ended it: it was another Lightning's"
	        : r->bs.state == IG_LTNB_DONE
	        ? "ended as that run's Lightning failed: it was that Lightning's own if it registered before failing "
	          "(it revokes its key as it fails), another Lightning's if it never registered; it cannot be told "
	          "which, so it is counted"
	        : "ended while that run's Lightning ran on: it was another Lightning's";
	char msg[1200], task[201];

	snprintf(msg, sizeof(msg), "a TiDB Lightning physical import (\"%s\") may not have been started by `importgate "
	         "lightning run`: the guarded run %s had bound its registration, which %s; %lld log backup task(s) and "
	         "%lld changefeed(s) existed at the preflight", printable(s->task, task, sizeof(task)), r->run_id, why,
	         (long long)ntasks, (long long)ncfs);
	fprintf(stderr, "importgate lightning run: UNGUARDED LIGHTNING: %s\n", msg);
	ig_auditev_brie_import_unguarded(&b, ntasks, ncfs, msg);
	reg_clear(&r->suspect);
}

/* Carries out a step's effects (gmu held); pick: the candidate of l for IG_LTNB_DO_BIND. */
static void apply_locked(run *r, unsigned fx, const ig_brie_list *l, long pick)
{
	char err[512], k[300];

	if (fx & IG_LTNB_DO_RELEASE) {
		fprintf(stderr, "importgate lightning run: the registration bound to this run (%s) ended %s: the binding "
		        "is let go\n", printable(r->bound.key, k, sizeof(k)),
		        r->bs.state == IG_LTNB_DONE ? "as Lightning failed" : "while Lightning still runs");
		if (bind_locked(r, &r->bound, false, err, sizeof(err)) < 0)
			fprintf(stderr, "importgate lightning run: the binding cannot be let go (%s)\n", err);
		reg_clear(&r->suspect);
		r->suspect = r->bound;
		memset(&r->bound, 0, sizeof(r->bound));
	}
	if (fx & IG_LTNB_DO_REPORT)
		report_suspect(r);
	if (!r->bs.suspect)
		reg_clear(&r->suspect);
	if ((fx & IG_LTNB_DO_BIND) && (!l || pick < 0 || (size_t)pick >= l->n)) { /* never: a pick comes with l */
		ig_ltnb_event lost = {.kind = IG_LTNB_EV_BIND_LOST, .now_ms = now_ms()};
		ig_ltn_binder_step(&r->bs, &lost);
	} else if (fx & IG_LTNB_DO_BIND) {
		int64_t delay = env_seconds("IG_LTN_BIND_DELAY_MS", 0); /* test hook: two binders pick at once */
		if (delay > 0)
			sleep_ms((int)(delay > 60000 ? 60000 : delay));
		int rc = reg_copy(&r->bound, &l->v[pick]) < 0 ? -1 : bind_locked(r, &r->bound, true, err, sizeof(err));
		if (rc == 0)
			fprintf(stderr, "importgate lightning run: Lightning registered %s: bound to this guarded run\n",
			        printable(r->bound.key, k, sizeof(k)));
		else {
			if (rc < 0)
				fprintf(stderr, "importgate lightning run: the binding cannot be written (%s)\n", err);
			else
				fprintf(stderr, "importgate lightning run: %s was bound by another guarded run first: looking "
				        "again\n", printable(r->bound.key, k, sizeof(k)));
			reg_clear(&r->bound);
			ig_ltnb_event lost = {.kind = IG_LTNB_EV_BIND_LOST, .now_ms = now_ms()};
			ig_ltn_binder_step(&r->bs, &lost);
		}
	}
	/* Written until it is: a guard record left "looking" while the binder binds nothing any more
	 * held every later registration pending at the gateways (attack14: one write failing once
	 * did that for the rest of the run, and one ending within the pending bound went unreported). */
	if ((fx & IG_LTNB_DO_AMBIGUOUS) || (r->bs.state == IG_LTNB_AMBIGUOUS && !r->ambiguous_stored)) {
		int rc = -1;
		r->guard.ambiguous = true;
		if (r->ambiguous_fail > 0) {
			r->ambiguous_fail--;
			snprintf(err, sizeof(err), "IG_LTN_FAIL_AMBIGUOUS_PUTS: injected failure");
		} else
			rc = put_guard_locked(r, err, sizeof(err));
		if (rc == 0) {
			r->ambiguous_stored = true;
			fprintf(stderr, "importgate lightning run: more than one new Lightning registration appeared at "
			        "once: none is bound, and the gateways report each as unguarded\n");
		} else if (fx & IG_LTNB_DO_AMBIGUOUS)
			fprintf(stderr, "importgate lightning run: the guard cannot be marked ambiguous (%s): tried again "
			        "each round\n", err);
	}
	if (fx & IG_LTNB_DO_OUTLIVED)
		fprintf(stderr, "importgate lightning run: the registration bound to this run (%s) is still there "
		        "after Lightning exited (status %d): the binding is let go and the gateways report it as "
		        "unguarded\n", printable(r->bound.key, k, sizeof(k)), r->bs.exit_status);
}

static ig_ltnb_reg_seen bound_seen(const run *r, const ig_brie_list *l)
{
	const ig_brie_import *b = r->bound.key ? ig_brie_list_find(l, r->bound.key) : NULL;

	if (!b)
		return IG_LTNB_REG_ABSENT;
	return b->create_revision == r->bound.create_revision && b->lease == r->bound.lease ? IG_LTNB_REG_PRESENT
	                                                                                   : IG_LTNB_REG_CHANGED;
}

/* One look at the registrations and the other guards, fed to the binder's state machine. An
 * unreadable etcd: nothing is learnt, except that a draining binding ends at its deadline
 * (counted as still there: let go for the gateways to judge). */
static void binder_round(run *r)
{
	ig_brie_list l = {0};
	ig_ltn_guard *g = NULL;
	size_t n = 0, bad = 0;
	const char *src;
	char err[1024];

	pthread_mutex_lock(&r->gmu);
	bool after_exit = r->bs.state == IG_LTNB_DRAINING; /* read after Lightning's exit was known */
	int64_t lease = after_exit && r->bs.exit_status >= 128 ? r->bound.lease : 0, ttl_s = -1;
	pthread_mutex_unlock(&r->gmu);
	/* after a kill: the bound lease's time left, read before the look (policy/ltnguard.c drain) */
	for (size_t i = 0; lease && i < r->cfg->cluster.npd; i++)
		if (ig_lease_ttl(r->cfg, r->cfg->cluster.pd[i], lease, &ttl_s, err, sizeof(err)) == 0)
			break;
	bool ok = ig_brie_read(r->cfg, &l, &src, err, sizeof(err)) == 0;

	ok = ok && ig_ltn_guards_read(r->cfg, &g, &n, &bad, err, sizeof(err)) == 0;
	pthread_mutex_lock(&r->gmu);
	if (r->bs.state == IG_LTNB_DRAINING && !after_exit)
		ok = false; /* read before the exit: it may show the key Lightning revoked as it ended */
	ig_ltnb_event e = {.kind = IG_LTNB_EV_ROUND, .now_ms = now_ms(), .pick = -1, .bound = IG_LTNB_REG_PRESENT,
	                   .bound_ttl_ms = ttl_s > 0 ? ttl_s * 1000 : 0};
	if (ok) {
		if (r->bs.state == IG_LTNB_LOOKING || r->bs.state == IG_LTNB_AMBIGUOUS)
			e.pick = ig_ltn_guard_pick(&l, &r->guard, g, n);
		e.bound = bound_seen(r, &l);
	}
	if (ok || (r->bs.state == IG_LTNB_DRAINING && e.now_ms - r->bs.exited_ms >= r->bs.drain_ms))
		apply_locked(r, ig_ltn_binder_step(&r->bs, &e), &l, e.pick);
	pthread_mutex_unlock(&r->gmu);
	ig_ltn_guards_free(g, n);
	ig_brie_list_clear(&l);
}

static void *binder(void *arg)
{
	run *r = arg;

	for (;;) {
		pthread_mutex_lock(&r->gmu);
		bool done = r->bs.state == IG_LTNB_DONE;
		pthread_mutex_unlock(&r->gmu);
		if (done || r->binder_stop)
			break;
		binder_round(r);
		for (int i = 0; i < BIND_POLL_MS / 100 && !r->binder_stop; i++)
			sleep_ms(100);
	}
	return NULL;
}

static void start_binder(run *r)
{
	r->ambiguous_fail = (int)env_seconds("IG_LTN_FAIL_AMBIGUOUS_PUTS", 0);
	r->bs = (ig_ltn_binder){.state = IG_LTNB_LOOKING,
	                        .close_grace_ms = env_seconds("IG_LTN_CLOSE_GRACE_S", LTN_CLOSE_GRACE_S) * 1000,
	                        .drain_ms = (env_seconds("IG_LTN_REG_TTL_S", LTN_REG_TTL_S) + LTN_REG_MARGIN_S) * 1000};
	if (r->guard_written && pthread_create(&r->binder, NULL, binder, r) == 0)
		r->binder_running = true;
}

/* Lightning has exited: the binder learns it (a suspect may be reported now) and keeps the
 * guard until the bound key is gone. */
static void child_exited(run *r, int status)
{
	ig_ltnb_event e = {.kind = IG_LTNB_EV_EXITED, .now_ms = now_ms(), .pick = -1, .exit_status = status};

	pthread_mutex_lock(&r->gmu);
	apply_locked(r, ig_ltn_binder_step(&r->bs, &e), NULL, -1);
	pthread_mutex_unlock(&r->gmu);
}

/* The guard goes, with its bind key (after the binder is done, or stopped). */
static void end_guard(run *r)
{
	char err[512];

	if (r->binder_running) {
		pthread_mutex_lock(&r->gmu);
		if (r->bs.state != IG_LTNB_DRAINING)
			r->binder_stop = true; /* draining: it ends by itself, at the latest at its deadline */
		pthread_mutex_unlock(&r->gmu);
		pthread_join(r->binder, NULL);
		r->binder_running = false;
	}
	pthread_mutex_lock(&r->gmu);
	if (r->guard_written && r->bound.key && bind_locked(r, &r->bound, false, err, sizeof(err)) < 0)
		fprintf(stderr, "importgate lightning run: the bind key stays until this process's lease expires (%s)\n",
		        err);
	if (r->guard_written && ig_oblstore_run_delete(r->st, r->run_id, err, sizeof(err)) < 0)
		fprintf(stderr, "importgate lightning run: the guard record stays until this process's lease "
		        "expires (%s)\n", err);
	r->guard_written = false;
	reg_clear(&r->bound);
	reg_clear(&r->suspect);
	pthread_mutex_unlock(&r->gmu);
}

/* Just before Lightning starts: its registration is created after the revision read now, so a
 * registration made before (a Lightning already running) is never a candidate. Failing, the
 * revision of the guard's first write stays (earlier: also sound, a wider window). */
static void refresh_after_rev(run *r)
{
	int64_t rev = 0, old = r->guard.after_rev;
	char err[512];

	if (!r->guard_written || current_revision(r, &rev, err, sizeof(err)) < 0 || rev <= old)
		return;
	pthread_mutex_lock(&r->gmu);
	r->guard.after_rev = rev;
	if (put_guard_locked(r, err, sizeof(err)) < 0) {
		r->guard.after_rev = old;
		fprintf(stderr, "importgate lightning run: the guard's revision cannot be advanced (%s)\n", err);
	}
	pthread_mutex_unlock(&r->gmu);
}

/* ---- Lightning's command line ---- */

/* Lightning's flags (pingcap/tidb pkg/lightning/config/global.go LoadGlobalConfig, v7.5-v8.5,
 * Go's flag package: -name or --name, -name=value, a value flag also "-name value"; parsing
 * stops at the first non-flag). What a flag would change is what was checked: the task file
 * (-config/-c: the last one wins), the data (-d overrides data-source-dir), the backend, the
 * filter (-f), the cluster and user the decision was made for, tasks taken over HTTP
 * (-server-mode), and Lightning's check, which is the guarded run's to set. Those are refused,
 * as is any flag this list does not know (a newer Lightning's flag may be one of them). */
typedef enum { LF_KEEP, LF_CONFIG, LF_REFUSE } ltn_flag_use;

static const struct {
	const char *name;
	bool value;           /* takes a value (not a bool flag) */
	ltn_flag_use use;
} ltn_flags[] = {
	{"config", true, LF_CONFIG},        {"c", true, LF_CONFIG},
	{"L", true, LF_KEEP},
	{"log-file", true, LF_KEEP},        {"tidb-password", true, LF_KEEP},
	{"sorted-kv-dir", true, LF_KEEP},   {"enable-checkpoint", false, LF_KEEP},
	{"no-schema", false, LF_KEEP},      {"checksum", true, LF_KEEP},
	{"analyze", true, LF_KEEP},         {"ca", true, LF_KEEP},
	{"cert", true, LF_KEEP},            {"key", true, LF_KEEP},
	{"redact-info-log", false, LF_KEEP}, {"status-addr", true, LF_KEEP},
	{"d", true, LF_REFUSE},             {"backend", true, LF_REFUSE},
	{"f", true, LF_REFUSE},             {"remote-addr", true, LF_REFUSE},
	{"tidb-host", true, LF_REFUSE},     {"tidb-port", true, LF_REFUSE},
	{"tidb-status", true, LF_REFUSE},   {"tidb-user", true, LF_REFUSE},
	{"pd-urls", true, LF_REFUSE},       {"server-mode", false, LF_REFUSE},
	{"check-requirements", false, LF_REFUSE},
	/* -V prints the version and exits 0 (global.go: return nil, flag.ErrHelp; config.go Must:
	 * os.Exit(0)) having registered nothing: the binder takes a status-0 exit as a Lightning
	 * that registered (policy/ltnguard.c exited), so a version print is no guarded run */
	{"V", false, LF_REFUSE},
};

/* The checked bytes, in a file only this user can read or replace: Lightning reads the task
 * it is given after the preflight, so a task file changed in between would be run unchecked. */
static int write_copy(run *r, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	int fd;
	bool ok;

	snprintf(r->copy_dir, sizeof(r->copy_dir), "%s/importgate-ltn-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(r->copy_dir)) { /* mode 0700 */
		snprintf(err, errlen, "a private copy of the task cannot be made (%s): %s", r->copy_dir, strerror(errno));
		r->copy_dir[0] = 0;
		return -1;
	}
	snprintf(r->copy_path, sizeof(r->copy_path), "%s/task.toml", r->copy_dir);
	fd = open(r->copy_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ok = fd >= 0;
	for (size_t off = 0; ok && off < r->pf.task_len;) {
		ssize_t w = write(fd, r->pf.task_text + off, r->pf.task_len - off);
		if (w < 0 && errno == EINTR)
			continue;
		ok = w > 0;
		off += ok ? (size_t)w : 0;
	}
	if (fd >= 0 && close(fd) != 0)
		ok = false;
	if (!ok) {
		snprintf(err, errlen, "a private copy of the task cannot be written (%s): %s", r->copy_path, strerror(errno));
		return -1;
	}
	return 0;
}

static void remove_copy(run *r)
{
	if (r->copy_path[0])
		unlink(r->copy_path);
	if (r->copy_dir[0])
		rmdir(r->copy_dir);
	r->copy_path[0] = r->copy_dir[0] = 0;
}

static bool same_file(const char *a, const char *b)
{
	struct stat x, y;
	return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* Lightning's command line as it will run: argv[0], -config <the private copy>, the kept
 * flags, and -check-requirements=false when skipping is safe (before any other argument, so
 * no positional argument can end Go's flag parsing ahead of it). -1 + err: refused. */
static int build_argv(run *r, bool skip_check, char ***out, char *err, size_t errlen)
{
	int argc = r->o->argc, n = 0;
	const char *config = NULL;
	char **v = calloc((size_t)argc + 6, sizeof(char *));

	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	v[n++] = r->o->argv[0];
	v[n++] = "-config";
	v[n++] = r->copy_path;
	if (r->snap.dir[0]) { /* -d overrides data-source-dir (global.go LoadGlobalConfig, config.go LoadFromGlobal) */
		v[n++] = "-d";
		v[n++] = r->snap.dir;
	}
	if (skip_check) /* Lightning's flag (global.go: fs.Bool("check-requirements", true, ...)) */
		v[n++] = "-check-requirements=false";
	for (int i = 1; i < argc; i++) {
		const char *a = r->o->argv[i], *name = a + 1, *eq;
		size_t len, k, nk = sizeof(ltn_flags) / sizeof(ltn_flags[0]);
		if (a[0] != '-' || !a[1] || strcmp(a, "--") == 0) {
			/* not echoed: a stray argument is typically a value that lost its flag
			 * (`-tidb-password= secret`), and this error reaches the audit log */
			snprintf(err, errlen, "Lightning's command line has an argument (number %d) where a flag is "
			         "expected: give the guarded run `tidb-lightning -config TASK.toml [flags]`", i);
			goto refuse;
		}
		if (name[0] == '-')
			name++;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		for (k = 0; k < nk && !(strlen(ltn_flags[k].name) == len && strncmp(ltn_flags[k].name, name, len) == 0); k++)
			;
		if (k == nk) {
			/* not echoed either: an argument that starts with '-' reads as a flag, and a
			 * password that lost its flag may (`-tidb-password= -Pw..`) */
			snprintf(err, errlen, "Lightning's flag (argument number %d) is not known to the guarded run: the "
			         "guarded run runs the task it checked, with the check it decided (put the setting in "
			         "the task file and check it)", i);
			goto refuse;
		}
		if (ltn_flags[k].use == LF_REFUSE) { /* a name of the table above: safe to show */
			snprintf(err, errlen, "Lightning's flag %s would change what was checked: the guarded run runs the "
			         "task it checked, with the check it decided (put the setting in the task file and check it)",
			         ltn_flags[k].name);
			goto refuse;
		}
		const char *val = eq ? eq + 1 : NULL;
		bool next = ltn_flags[k].value && !eq;
		if (next && i + 1 >= argc) {
			snprintf(err, errlen, "Lightning's flag %s has no value", ltn_flags[k].name);
			goto refuse;
		}
		if (next)
			val = r->o->argv[i + 1];
		if (ltn_flags[k].use == LF_CONFIG)
			config = val;
		else {
			v[n++] = (char *)a;
			if (next)
				v[n++] = r->o->argv[i + 1];
		}
		i += next;
	}
	if (!config || !same_file(config, r->pf.task_path)) {
		snprintf(err, errlen, "Lightning's -config (%.200s) is not the task file that was checked (%.200s)",
		         config ? config : "none given", r->pf.task_path);
		goto refuse;
	}
	*out = v;
	return 0;
refuse:
	free(v);
	return -1;
}

/* ---- Lightning ---- */

/* Runs Lightning; its exit status (128 + signal when killed), or -1 when it could not start. */
static int run_lightning(char **argv, char *err, size_t errlen)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "importgate lightning run: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			snprintf(err, errlen, "waitpid: %s", strerror(errno));
			return -1;
		}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Lightning's exit, applied to one record by the gateway's transition function and written
 * with the claim let go (the engine of the gateway replicas carries it on). */
static void answer_one(run *r, owed *w, int status)
{
	ig_obl_event e = {.now_ms = now_ms(), .poll_ms = r->cfg->obligations.poll_ms};
	ig_obl_effect fx = {0};
	char msg[64], err[512];
	int rc;

	if (status == 0)
		e.kind = IG_OEV_ANSWER_OK;
	else {
		e.kind = IG_OEV_ANSWER_ERROR;
		e.err_code = status;
		snprintf(msg, sizeof(msg), "exit status %d", status);
		e.message = msg;
	}
	for (int tries = 0; tries < 5; tries++) {
		ig_obl_record cur;
		if (ig_obl_record_copy(&cur, &w->rec) < 0 || ig_obl_transition(&cur, &e, &fx) < 0) {
			ig_obl_record_free(&cur);
			break;
		}
		if (!fx.applied) { /* no longer awaiting its answer (taken over after a lease loss) */
			ig_obl_record_free(&cur);
			w->answered = true;
			return;
		}
		ig_obl_set_str(&cur.replica, r->replica);
		cur.updated_ms = e.now_ms;
		rc = ig_oblstore_finish(r->st, &cur, err, sizeof(err));
		if (rc == 0) {
			ig_obl_record_free(&w->rec);
			w->rec = cur;
			w->answered = true;
			audit_obl(r, fx.audit ? fx.audit : "obligation.step", &w->rec, fx.step ? fx.step : "import-finished",
			          fx.error);
			return;
		}
		ig_obl_record_free(&cur);
		if (rc == 1) { /* stale: re-read and try on the current version */
			ig_obl_record fresh;
			if (ig_oblstore_get(r->st, w->rec.id, &fresh, err, sizeof(err)) == 1) {
				ig_obl_record_free(&w->rec);
				w->rec = fresh;
				continue;
			}
		}
		fprintf(stderr, "importgate lightning run: obligation %s: Lightning's exit cannot be recorded (%s); "
		        "retrying\n", w->rec.id, rc < 0 ? err : "stale");
		sleep_ms(1000);
	}
	fprintf(stderr, "importgate lightning run: obligation %s (%s.%s) keeps awaiting its answer: a gateway replica "
	        "will park it outcome-unknown (lightning-outcome-unknown) once this process's lease expires\n",
	        w->rec.id, w->rec.db, w->rec.table);
}

/* ---- waiting for the engine ---- */

static bool settled(const ig_obl_record *rec)
{
	return ig_obl_state_terminal(rec->state) || rec->state == IG_OBLS_OUTCOME_UNKNOWN;
}

/* 0 when every backup is done (downstream runs parked for the operator count as recorded). */
static int wait_engine(run *r)
{
	int64_t until = now_ms() + (int64_t)r->o->wait_s * 1000;
	bool all;
	char err[512];

	do {
		all = true;
		for (size_t i = 0; i < r->n; i++) {
			ig_obl_record cur;
			if (settled(&r->v[i].rec))
				continue;
			if (ig_oblstore_get(r->st, r->v[i].rec.id, &cur, err, sizeof(err)) == 1) {
				ig_obl_record_free(&r->v[i].rec);
				r->v[i].rec = cur;
			}
			all = all && settled(&r->v[i].rec);
		}
		if (!all)
			sleep_ms(POLL_MS);
	} while (!all && now_ms() < until);
	int bad = 0;
	for (size_t i = 0; i < r->n; i++) {
		const ig_obl_record *rec = &r->v[i].rec;
		bool parked_reimport = rec->reason && strcmp(rec->reason, IG_OBL_R_REIMPORT_BY_OPERATOR) == 0;
		printf("obligation %s %s.%s %s: %s%s%s%s\n", rec->id, rec->db, rec->table,
		       rec->kinds & IG_OBL_SNAPSHOT_AFTER_IMPORT ? "BACKUP TABLE" : "downstream import",
		       ig_obl_state_name(rec->state), rec->reason ? " (" : "", rec->reason ? rec->reason : "",
		       rec->reason ? ")" : "");
		if (rec->note)
			printf("  %s\n", rec->note);
		if (!settled(rec))
			printf("  not carried out yet: a gateway replica with this store carries it out (see "
			       "/api/v1/status)\n");
		if (!(rec->state == IG_OBLS_DONE || parked_reimport))
			bad = 1;
	}
	return bad;
}

static void run_free(run *r)
{
	end_guard(r);
	ig_ltn_guard_clear(&r->guard);
	pthread_mutex_destroy(&r->gmu);
	if (r->ka_running) {
		r->ka_stop = true;
		pthread_join(r->ka, NULL);
	}
	for (size_t i = 0; i < r->n; i++)
		ig_obl_record_free(&r->v[i].rec);
	free(r->v);
	if (r->st)
		ig_oblstore_close(r->st);
	remove_copy(r);
	ig_ltn_snapshot_remove(&r->snap);
	ig_ltn_preflight_free(&r->pf);
}

static int guarded(run *r)
{
	char err[1024] = "";
	int status;

	for (size_t i = 0; i < r->pf.nanswers; i++)
		if (audit_decision(r, &r->pf.answers[i]) < 0)
			return 2;
	if (r->pf.nrefused) {
		audit_run(r, "lightning.refused", -1, "a table is refused: Lightning not started");
		fprintf(stderr, "importgate lightning run: %zu table(s) refused; Lightning is not started\n", r->pf.nrefused);
		return 1;
	}
	if (!r->pf.cluster_same) {
		audit_run(r, "lightning.refused", -1, r->pf.cluster_why);
		fprintf(stderr, "importgate lightning run: the task does not import into the gateway's cluster: %s; "
		        "Lightning is not started\n", r->pf.cluster_why);
		return 1;
	}
	/* The task's own check-requirements = false is the same skip as the flag: where the
	 * preflight does not call it safe (which TiDB [tidb] is not known, the state unreadable,
	 * a rule deferring to Lightning), Lightning's own check is what decides, so it stays on
	 * (attack30: it ran off, on a TiDB the gateway could not tell from TiDB X) */
	if (r->pf.task.backend == IG_LTN_BACKEND_LOCAL && !r->pf.task.check_requirements && !r->pf.skip_safe) {
		audit_run(r, "lightning.refused", -1, "the task sets check-requirements = false, which is not safe here");
		fprintf(stderr, "importgate lightning run: the task sets check-requirements = false, and check-requirements "
		        "= false is %s; set it to true in the task; Lightning is not started\n", r->pf.skip_why);
		return 1;
	}
	bool skip = r->pf.task.backend == IG_LTN_BACKEND_LOCAL && r->pf.skip_safe;
	char **argv = NULL;
	if (write_copy(r, err, sizeof(err)) < 0 ||
	    (r->pf.task.backend == IG_LTN_BACKEND_LOCAL && /* backend tidb: every table is allowed anyway */
	     ig_ltn_snapshot_make(r->pf.task.source_path, r->pf.files, r->pf.nfiles, r->o->snapshot_dir, &r->snap, err,
	                          sizeof(err)) < 0) ||
	    build_argv(r, skip, &argv, err, sizeof(err)) < 0) {
		audit_run(r, "lightning.refused", -1, err);
		fprintf(stderr, "importgate lightning run: %s; Lightning is not started\n", err);
		return 1;
	}
	if (write_guard(r, err, sizeof(err)) < 0) {
		free(argv);
		audit_run(r, "lightning.refused", -1, err);
		fprintf(stderr, "importgate lightning run: the guard record cannot be written (%s); Lightning is not "
		        "started\n", err);
		return 1;
	}
	if (record_obligations(r, err, sizeof(err)) < 0) {
		free(argv);
		audit_run(r, "lightning.refused", -1, err);
		fprintf(stderr, "importgate lightning run: the obligations cannot be recorded (%s); Lightning is not "
		        "started\n", err);
		return 1;
	}
	refresh_after_rev(r);
	audit_run(r, "lightning.started", -1, skip ? "check-requirements off" : "check-requirements as the task says");
	start_binder(r);
	status = run_lightning(argv, err, sizeof(err));
	child_exited(r, status < 0 ? 127 : status);
	end_guard(r);
	free(argv);
	remove_copy(r);
	ig_ltn_snapshot_remove(&r->snap);
	if (status < 0)
		status = 127;
	audit_run(r, "lightning.result", status, status == 0 ? "finished" : "failed");
	crash_at("before-answer");
	for (size_t i = 0; i < r->n; i++)
		answer_one(r, &r->v[i], status);
	crash_at("after-due");
	printf("TiDB Lightning %s (exit status %d)\n", status == 0 ? "finished" : "FAILED", status);
	if (r->ka_running) { /* every claim is let go: the lease is no longer needed */
		r->ka_stop = true;
		pthread_join(r->ka, NULL);
		r->ka_running = false;
	}
	int bad = r->n ? wait_engine(r) : 0;
	return status != 0 || bad ? 1 : 0;
}

int ig_ltn_run(ig_config *cfg, const ig_ltn_opts *o)
{
	run r = {.cfg = cfg, .o = o, .snap = {.lock_fd = -1}};
	pthread_mutex_init(&r.gmu, NULL);
	char err[1024];
	int rc;

	if (ig_ltn_preflight_run(cfg, o->task, o->user, o->host, &r.pf, err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate lightning run: %s\n", err);
		return 2;
	}
	ig_ltn_preflight_print(&r.pf, stdout);
	if (ig_audit_open(cfg->audit.path, cfg->audit.fsync, err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate lightning run: %s\n", err);
		ig_ltn_preflight_free(&r.pf);
		return 2;
	}
	rc = guarded(&r);
	run_free(&r);
	ig_audit_close();
	return rc;
}
