/*
 * obligations.c - the obligations engine's API (proxy/obligations.h): start and stop, and
 * the calls of sessions (create, answered, unanswered) and of the admin API (dismiss,
 * status). Other threads talk to the obligations thread (proxy/oblthread.c) through a queue
 * of events and read a published view (proxy/oblview.c) for the admin API. The engine's
 * files and who touches what: proxy/obligations_int.h.
 */
#include "proxy/obligations_int.h"

#include <errno.h>
#include <jansson.h>
#include <mysql.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "proxy/log.h"
#include "sqlparse/sqlparse.h"

static int perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static void push(ig_obligations *ob, obl_event *e)
{
	pthread_mutex_lock(&ob->mu);
	if (!ob->running) {
		pthread_mutex_unlock(&ob->mu);
		obl_event_free(e);
		return;
	}
	if (ob->tail)
		ob->tail->next = e;
	else
		ob->head = e;
	ob->tail = e;
	pthread_cond_signal(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
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
static int open_lazily(ig_obligations *ob, char *err, size_t errlen)
{
	char warn[512];
	ig_oblstore *st = NULL;
	int rc = 0;

	pthread_mutex_lock(&ob->open_mu);
	pthread_mutex_lock(&ob->mu);
	bool open = ob->st != NULL;
	pthread_mutex_unlock(&ob->mu);
	if (!open) {
		rc = ig_oblstore_open_file(ob->cfg->obligations.file, &st, warn, sizeof(warn), err, errlen);
		if (rc == 0) {
			if (warn[0])
				LOG_WARN(0, "obligations: %s", warn);
			pthread_mutex_lock(&ob->mu);
			ob->st = st;
			pthread_cond_signal(&ob->cv);
			pthread_mutex_unlock(&ob->mu);
		}
	}
	pthread_mutex_unlock(&ob->open_mu);
	return rc;
}

/* The engine the sessions' calls go to: set by a start, cleared by the stop before it frees
 * the engine (sessions run only between the two: the runtime starts the workers after the
 * engine and joins them before stopping it). */
static _Atomic(ig_obligations *) current;

static ig_obligations *engine_new(void)
{
	ig_obligations *ob = calloc(1, sizeof(*ob));

	if (!ob)
		return NULL;
	pthread_mutex_init(&ob->mu, NULL);
	pthread_mutex_init(&ob->open_mu, NULL);
	pthread_cond_init(&ob->cv, NULL);
	pthread_cond_init(&ob->done_cv, NULL);
	pthread_cond_init(&ob->lease_cv, NULL);
	return ob;
}

/* What start set up, undone (the threads are not running). */
static void engine_free(ig_obligations *ob)
{
	ig_oblstore_close(ob->st); /* revokes the lease: our claims vanish now */
	ig_oblview_free(ob->view);
	ig_config_unref(ob->cfg);
	pthread_mutex_destroy(&ob->mu);
	pthread_mutex_destroy(&ob->open_mu);
	pthread_cond_destroy(&ob->cv);
	pthread_cond_destroy(&ob->done_cv);
	pthread_cond_destroy(&ob->lease_cv);
	free(ob);
}

/* The store: etcd when cluster.pd is set, else the file when it exists or may be needed. */
static int open_store(ig_obligations *ob, const ig_config *cfg, char *err, size_t errlen)
{
	char warn[512];
	int rc = 0;

	if (cfg->cluster.npd > 0) {
		rc = ig_oblstore_open_etcd(cfg, ob->replica, LEASE_TTL_S, &ob->st, err, errlen);
	} else if (access(cfg->obligations.file, F_OK) == 0 || rules_owe(cfg)) {
		rc = ig_oblstore_open_file(cfg->obligations.file, &ob->st, warn, sizeof(warn), err, errlen);
		if (rc == 0 && warn[0])
			LOG_WARN(0, "obligations: %s", warn);
	} /* else nothing owed yet and nothing to recover: the file is created when needed */
	return rc;
}

int ig_obl_start(ig_obligations **out, ig_config *cfg, char *err, size_t errlen)
{
	char host[64] = "localhost";
	unsigned char rnd[4] = {0};
	ig_obligations *ob;

	*out = NULL;
	if (atomic_load(&current))
		return perr(err, errlen, "obligations already started");
	if (!(ob = engine_new()))
		return perr(err, errlen, "out of memory");
	gethostname(host, sizeof(host) - 1);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		engine_free(ob);
		return perr(err, errlen, "getrandom: %s", strerror(errno));
	}
	snprintf(ob->replica, sizeof(ob->replica), "%s:%d:%02x%02x%02x%02x", host, (int)getpid(), rnd[0], rnd[1],
	         rnd[2], rnd[3]);
	if (mysql_library_init(0, NULL, NULL) != 0) {
		engine_free(ob);
		return perr(err, errlen, "libmariadb cannot be initialised");
	}
	if (open_store(ob, cfg, err, errlen) < 0) {
		engine_free(ob);
		return -1;
	}
	if (!(ob->view = ig_oblview_new())) {
		engine_free(ob);
		return perr(err, errlen, "out of memory");
	}
	ob->cfg = ig_config_ref(cfg);
	ob->running = true;
	ig_oblexec_ctx ctx = {.cfg = ob->cfg, .may_act = obl_may_act, .job_taken = obl_job_taken, .owner = ob};
	if (ig_oblpool_start(&ob->pool, (unsigned)cfg->obligations.executors, &ctx, obl_job_done, ob, err,
	                     errlen) < 0 ||
	    obl_thread_start(ob) != 0) {
		if (ob->pool)
			snprintf(err, errlen, "cannot start the obligations thread");
		ig_oblpool_stop(ob->pool);
		engine_free(ob);
		return -1;
	}
	if (obl_lease_start(ob) != 0) {
		obl_stop_threads(ob);
		ig_oblpool_stop(ob->pool);
		engine_free(ob);
		return perr(err, errlen, "cannot start the lease thread");
	}
	LOG_INFO(0, "obligations: store %s%s, replica %s, %d executor(s)",
	         cfg->cluster.npd ? "etcd (PD)" : cfg->obligations.file, ob->st ? "" : " (opened when first needed)",
	         ob->replica, cfg->obligations.executors);
	atomic_store(&current, ob);
	*out = ob;
	return 0;
}

void ig_obl_stop(ig_obligations *ob)
{
	if (!ob)
		return;
	atomic_store(&current, NULL);
	obl_stop_threads(ob);
	ig_oblpool_stop(ob->pool); /* after the statements running now, under the lease still kept */
	ob->pool = NULL;
	/* Their outcomes are written now (the obligations thread is gone: this thread owns its
	 * records), so a BACKUP that ended while we waited is not run again by the next holder. */
	pthread_mutex_lock(&ob->mu);
	ig_obljob *res = ob->results;
	ob->results = ob->results_tail = NULL;
	pthread_mutex_unlock(&ob->mu);
	for (ig_obljob *n; res; res = n) {
		n = res->next;
		if (ob->st && !obl_on_result(ob, res))
			ig_obljob_free(res);
		else if (!ob->st)
			ig_obljob_free(res);
	}
	obl_stop_lease_thread(ob);
	pthread_mutex_lock(&ob->mu);
	ob->running = false;
	for (obl_event *e = ob->head, *n; e; e = n) {
		n = e->next;
		if (e->wait)
			obl_dismiss_complete(ob, e->wait, -1, "shutting down");
		obl_event_free(e);
	}
	ob->head = ob->tail = NULL;
	for (obl_event *e = ob->deferred, *n; e; e = n) { /* answers never stored: their records stay awaiting */
		n = e->next;
		obl_event_free(e);
	}
	ob->deferred = NULL;
	ig_oblview *view = ob->view;
	ob->view = NULL;
	pthread_mutex_unlock(&ob->mu);
	while (ob->nowned)
		obl_disown(ob, &ob->owned[0]);
	free(ob->owned);
	ob->owned = NULL;
	free(ob->inflight);
	ob->inflight = NULL;
	ob->ninflight = 0;
	ig_oblview_free(view);
	for (ig_obljob *j = ob->parked, *n; j; j = n) {
		n = j->next;
		ig_obljob_free(j);
	}
	ob->parked = NULL;
	engine_free(ob); /* closing the store revokes the lease: our claims vanish now */
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

static int fill_record(ig_obligations *ob, ig_obl_record *r, const ig_obl_spec *sp)
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
	r->created_ms = r->updated_ms = obl_now_ms();
	r->backup.state = sp->kinds & IG_OBL_SNAPSHOT_AFTER_IMPORT ? IG_STEP_PENDING : IG_STEP_NONE;
	r->reimport.state = sp->kinds & IG_OBL_REIMPORT_DOWNSTREAM ? IG_STEP_PENDING : IG_STEP_NONE;
	r->next_try_ms = NEVER;
	if (!(r->statement = strndup(sp->statement, n)))
		return -1;
	r->source = source_of(sp, n);
	return ig_obl_set_str(&r->db, sp->db) | ig_obl_set_str(&r->table, sp->table) |
	       ig_obl_set_str(&r->user, sp->user) | ig_obl_set_str(&r->client, sp->client) |
	       ig_obl_set_str(&r->backend, sp->backend) | ig_obl_set_str(&r->replica, ob->replica);
}

int ig_obl_create(const ig_obl_spec *sp, char *id, size_t idlen, char *err, size_t errlen)
{
	ig_obligations *ob = atomic_load(&current);
	obl_event *e;

	if (!ob || !ob->running)
		return perr(err, errlen, "obligations are not running");
	const ig_config *cfg = ob->cfg;
	if (!ob->st && open_lazily(ob, err, errlen) < 0)
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
	if (fill_record(ob, &e->rec, sp) < 0) {
		obl_event_free(e);
		return perr(err, errlen, "out of memory");
	}
	if (ig_oblstore_create(ob->st, &e->rec, err, errlen) < 0) {
		obl_event_free(e);
		return -1;
	}
	snprintf(id, idlen, "%s", e->rec.id);
	memcpy(e->id, e->rec.id, sizeof(e->id));
	obl_audit(ob, "obligation.created", &e->rec, NULL, NULL);
	obl_view_set(ob, &e->rec);
	push(ob, e);
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
	ig_obligations *ob = atomic_load(&current);
	obl_event *e = ob ? id_event(EV_ANSWERED, id) : NULL;

	if (!ob)
		return; /* not running: nothing can be owed */
	if (!e) {
		LOG_ERROR(0, "obligation %s: out of memory recording the answer; its record stays awaiting", id);
		return;
	}
	e->err_code = err_code;
	e->job_id = dup_or_null(job_id);
	e->status = dup_or_null(status);
	e->message = dup_or_null(message);
	push(ob, e);
}

void ig_obl_unanswered(const char *id)
{
	ig_obligations *ob = atomic_load(&current);
	obl_event *e = ob ? id_event(EV_UNANSWERED, id) : NULL;

	if (!ob)
		return; /* not running: nothing can be owed */
	if (e)
		push(ob, e);
	else
		LOG_ERROR(0, "obligation %s: out of memory; its record stays awaiting", id);
}

int ig_obl_dismiss(ig_obligations *ob, const char *id, char *err, size_t errlen)
{
	dismiss_wait *w;
	obl_event *e;
	struct timespec ts;
	int rc;

	if (!ob)
		return perr(err, errlen, "obligations are not running");
	w = calloc(1, sizeof(*w));
	e = id_event(EV_DISMISS, id);

	if (!e || !w) {
		free(w);
		free(e);
		return perr(err, errlen, "out of memory");
	}
	if (strlen(e->id) != IG_OBL_ID_LEN) {
		free(w);
		obl_event_free(e);
		return perr(err, errlen, "not an obligation id");
	}
	w->refs = 2;
	e->wait = w;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += DISMISS_WAIT_MS / 1000;
	pthread_mutex_lock(&ob->mu);
	if (!ob->running) {
		pthread_mutex_unlock(&ob->mu);
		free(w);
		obl_event_free(e);
		return perr(err, errlen, "obligations are not running");
	}
	if (ob->tail)
		ob->tail->next = e;
	else
		ob->head = e;
	ob->tail = e;
	pthread_cond_signal(&ob->cv);
	while (!w->done && pthread_cond_timedwait(&ob->done_cv, &ob->mu, &ts) == 0)
		;
	rc = w->done ? w->rc : perr(err, errlen, "timed out waiting for the obligations thread (busy with "
	                             "a long statement); the dismissal is still queued");
	if (w->done && rc < 0)
		perr(err, errlen, "%s", w->err);
	if (--w->refs == 0)
		free(w);
	pthread_mutex_unlock(&ob->mu);
	return rc;
}

char *ig_obl_status_json(ig_obligations *ob)
{
	json_t *root = ob ? json_object() : NULL;
	char *out = NULL;

	if (!root)
		return NULL;
	pthread_mutex_lock(&ob->mu);
	json_object_set_new(root, "running", json_boolean(ob->running));
	json_object_set_new(root, "replica", json_string(ob->replica));
	json_object_set_new(root, "store", json_string(!ob->cfg ? "none" : ob->cfg->cluster.npd ? "etcd" : "file"));
	json_object_set_new(root, "lease_guard_ms", json_integer(LEASE_GUARD_MS));
	if (ob->view) /* under ob->mu: a stop frees the view only after taking it out under ob->mu */
		ig_oblview_status(ob->view, root);
	else
		json_object_set_new(root, "records", json_array());
	pthread_mutex_unlock(&ob->mu);
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}
