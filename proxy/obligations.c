/*
 * obligations.c - the obligations thread: owns the records this replica has claimed and
 * moves each through its state machine (policy/oblstore.h), running SHOW IMPORT JOB(S),
 * BACKUP TABLE and the downstream re-import on libmariadb service connections, never on
 * an event loop. Other threads talk to it through a queue of events (created, answered,
 * unanswered, dismiss) and read a published snapshot for the admin API.
 *
 * Exactly once: a step's state is written to the store (guarded by our claim) before the
 * step runs and after it ends; a record whose claim is lost is dropped at once. A step
 * found "started" after a crash is re-checked, not blindly re-run (see docs/OBLIGATIONS.md).
 */
#include "proxy/obligations.h"
#include "proxy/backupuri.h"
#include "sqlparse/sqlparse.h"
#include "proxy/metrics.h"

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
#include "policy/oblstore.h"
#include "proxy/audit.h"
#include "proxy/log.h"

#define LEASE_TTL_S 10
#define BACKOFF_MAX_MS 60000
#define SEARCH_WINDOW_MS 30000    /* a lost answer: how long to look for its job */
#define CLOCK_SLACK_MS 5000       /* job Create_Time vs our clock */
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
	dismiss_wait *wait;    /* EV_DISMISS */
} obl_event;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* events for the thread */
	pthread_cond_t done_cv; /* dismissals answered */
	bool running, stopping;
	pthread_t thread;
	ig_config *cfg;
	ig_oblstore *st;        /* NULL: file store not opened yet (see ig_obl_start) */
	pthread_mutex_t open_mu;
	char replica[160];
	obl_event *head, *tail;
	ig_obl_record *view;    /* published snapshot (under mu) */
	size_t nview;
	/* the thread's own */
	ig_obl_record *owned;
	size_t nowned;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .open_mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
       .done_cv = PTHREAD_COND_INITIALIZER};

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

static int64_t backoff_ms(unsigned attempts)
{
	int64_t ms = 1000;

	for (unsigned i = 1; i < attempts && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* ---- audit ---- */

static void audit(const char *event, const ig_obl_record *r, const char *step, const char *error)
{
	json_t *ev = ig_audit_event(event), *k = json_array();
	char table[600];

	if (!ev || !k) {
		json_decref(ev);
		json_decref(k);
		return;
	}
	json_object_set_new(ev, "obligation", json_string(r->id));
	if (r->kinds & IG_OBL_SNAPSHOT_AFTER_IMPORT)
		json_array_append_new(k, json_string("snapshot-after-import"));
	if (r->kinds & IG_OBL_REIMPORT_DOWNSTREAM)
		json_array_append_new(k, json_string("reimport-downstream"));
	json_object_set_new(ev, "kinds", k);
	snprintf(table, sizeof(table), "%s.%s", r->db ? r->db : "", r->table ? r->table : "");
	ig_audit_set_string(ev, "table", table, strlen(table));
	json_object_set_new(ev, "state", json_string(ig_obl_state_name(r->state)));
	if (r->job_id)
		json_object_set_new(ev, "job_id", json_string(r->job_id));
	if (r->conn_id)
		json_object_set_new(ev, "conn", json_integer((json_int_t)r->conn_id));
	if (step)
		json_object_set_new(ev, "step", json_string(step));
	if (r->note)
		ig_audit_set_string(ev, "note", r->note, strlen(r->note));
	if (error)
		ig_audit_set_error(ev, 0, error);
	ig_audit_set_string(ev, "replica", g.replica, strlen(g.replica));
	ig_audit_post(ev);
}

/* ---- the published snapshot ---- */

/* Gauges importgate_obligations{state}: waiting for the import, owed now, finished, and
 * failing (an error on the last attempt, or an outcome only an operator can settle).
 * Called with g.mu held. */
static void publish_metrics(void)
{
	int64_t pending = 0, running = 0, done = 0, failed = 0;
	for (size_t i = 0; i < g.nview; i++) {
		const ig_obl_record *r = &g.view[i];
		switch (r->state) {
		case IG_OBLS_DONE:
		case IG_OBLS_NOT_OWED:
		case IG_OBLS_DISMISSED:
			done++;
			break;
		case IG_OBLS_OUTCOME_UNKNOWN:
			failed++;
			break;
		default:
			if (r->last_error || r->backup.last_error || r->reimport.last_error)
				failed++;
			else if (r->state == IG_OBLS_DUE)
				running++;
			else
				pending++;
		}
	}
	ig_metric_gauge_set(IG_M_OBLIGATIONS_PENDING, pending);
	ig_metric_gauge_set(IG_M_OBLIGATIONS_RUNNING, running);
	ig_metric_gauge_set(IG_M_OBLIGATIONS_DONE, done);
	ig_metric_gauge_set(IG_M_OBLIGATIONS_FAILED, failed);
}

static void view_set(const ig_obl_record *r)
{
	ig_obl_record c;

	if (ig_obl_record_copy(&c, r) < 0)
		return;
	pthread_mutex_lock(&g.mu);
	for (size_t i = 0; i < g.nview; i++) {
		if (strcmp(g.view[i].id, r->id) == 0) {
			ig_obl_record_free(&g.view[i]);
			g.view[i] = c;
			publish_metrics();
			pthread_mutex_unlock(&g.mu);
			return;
		}
	}
	ig_obl_record *grown = realloc(g.view, (g.nview + 1) * sizeof(*grown));
	if (grown) {
		g.view = grown;
		g.view[g.nview++] = c;
	} else {
		ig_obl_record_free(&c);
	}
	publish_metrics();
	pthread_mutex_unlock(&g.mu);
}

/* After a scan: the store's list becomes the snapshot (our own versions are at least as new). */
static void view_replace(ig_obl_record *recs, size_t n)
{
	pthread_mutex_lock(&g.mu);
	for (size_t i = 0; i < g.nview; i++)
		ig_obl_record_free(&g.view[i]);
	free(g.view);
	g.view = recs;
	g.nview = n;
	publish_metrics();
	pthread_mutex_unlock(&g.mu);
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
	ig_obl_record *grown = realloc(g.owned, (g.nowned + 1) * sizeof(*grown));

	if (!grown) {
		ig_obl_record_free(r);
		return NULL;
	}
	g.owned = grown;
	g.owned[g.nowned] = *r;
	return &g.owned[g.nowned++];
}

static void disown(ig_obl_record *r)
{
	size_t i = (size_t)(r - g.owned);

	ig_obl_record_free(r);
	g.owned[i] = g.owned[--g.nowned];
}

/*
 * Writes the record's new version. Returns 0; -1 when it could not be written (retry
 * later: the in-memory version is kept and written again); 1 when our claim is gone: the
 * record is dropped (another replica has it now).
 */
static int save(ig_obl_record *r)
{
	char err[512];
	int rc;

	r->updated_ms = now_ms();
	if (ig_obl_set_str(&r->replica, g.replica) < 0)
		return -1;
	rc = ig_oblstore_update(g.st, r, err, sizeof(err));
	if (rc < 0) {
		LOG_WARN(r->conn_id, "obligation %s: cannot write its state (%s); retrying", r->id, err);
		return -1;
	}
	if (rc == 1) {
		LOG_WARN(r->conn_id, "obligation %s: our claim is gone (lease expired?): another replica "
		         "carries it on", r->id);
		return 1;
	}
	view_set(r);
	return 0;
}

static void finish(ig_obl_record *r)
{
	char err[256];

	if (ig_oblstore_release(g.st, r->id, err, sizeof(err)) < 0)
		LOG_WARN(r->conn_id, "obligation %s: claim not released (%s); it expires with the lease",
		         r->id, err);
	disown(r);
}

/* ---- service connections ---- */

static int read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	FILE *f;
	size_t n;

	out[0] = '\0';
	if (!path || !*path)
		return 0;
	f = fopen(path, "re");
	if (!f)
		return perr(err, errlen, "password file %s: %s", path, strerror(errno));
	n = fread(out, 1, outlen - 1, f);
	fclose(f);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return 0;
}

static void set_tls(MYSQL *m, const ig_config *cfg)
{
	my_bool on = 1, off = 0;
	int mode = cfg->obligations.service.tls.mode;
	const ig_tls_files *f = &cfg->obligations.service.tls.files;

	if (mode == IG_BTLS_OFF) {
		mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
		return;
	}
	mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
	mysql_optionsv(m, MARIADB_OPT_TLS_VERSION, "TLSv1.2,TLSv1.3");
	if (f->ca)
		mysql_optionsv(m, MYSQL_OPT_SSL_CA, f->ca);
	if (f->cert)
		mysql_optionsv(m, MYSQL_OPT_SSL_CERT, f->cert);
	if (f->key)
		mysql_optionsv(m, MYSQL_OPT_SSL_KEY, f->key);
	mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, mode == IG_BTLS_VERIFY ? &on : &off);
}

typedef enum { SVC_UPSTREAM, SVC_DOWNSTREAM } svc_target;

/*
 * A service connection to the first server that answers: backends.servers (upstream) or
 * obligations.downstream.servers. read_s bounds each answer (0: none, for statements that
 * run as long as the import or backup does). `where` gets "host:port".
 */
static MYSQL *svc_connect(svc_target t, const char *db, unsigned read_s, char *where, size_t wlen,
                          char *err, size_t errlen)
{
	const ig_config *cfg = g.cfg;
	const ig_hostport *sv = t == SVC_UPSTREAM ? cfg->backends.servers : cfg->obligations.downstream.servers;
	size_t n = t == SVC_UPSTREAM ? cfg->backends.nservers : cfg->obligations.downstream.nservers;
	const char *user = cfg->obligations.service.user, *pwf = cfg->obligations.service.password_file;
	char pw[512];
	unsigned ct = 5, wt = 30;

	if (t == SVC_DOWNSTREAM && cfg->obligations.downstream.user && *cfg->obligations.downstream.user) {
		user = cfg->obligations.downstream.user;
		pwf = cfg->obligations.downstream.password_file;
	}
	if (n == 0)
		return perr(err, errlen, "no %s servers configured", t == SVC_UPSTREAM ? "backend" : "downstream"), NULL;
	if (read_password(pwf, pw, sizeof(pw), err, errlen) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		MYSQL *m = mysql_init(NULL);
		if (!m)
			return perr(err, errlen, "out of memory"), NULL;
		mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
		mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &wt);
		if (read_s)
			mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &read_s);
		set_tls(m, cfg);
		snprintf(where, wlen, "%s:%d", sv[i].host, sv[i].port);
		if (mysql_real_connect(m, sv[i].host, user ? user : "", pw, db, (unsigned)sv[i].port, NULL, 0)) {
			memset(pw, 0, sizeof(pw));
			return m;
		}
		perr(err, errlen, "%s: %s", where, mysql_error(m));
		mysql_close(m);
	}
	memset(pw, 0, sizeof(pw));
	return NULL;
}

/* What a statement answered: an error, an OK, or the first row of a result set. */
typedef struct answer {
	unsigned err_code;    /* 0 = no error */
	char message[512];    /* error text or OK info */
	bool lost;            /* the connection broke: the statement may or may not have run */
	bool has_row;
	char job_id[32], status[32], result_msg[256];
} answer;

static int col_index(MYSQL_RES *res, const char *name)
{
	unsigned n = mysql_num_fields(res);
	MYSQL_FIELD *f = mysql_fetch_fields(res);

	for (unsigned i = 0; i < n; i++)
		if (strcasecmp(f[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void copy_col(MYSQL_ROW row, int i, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", i >= 0 && row[i] ? row[i] : "");
}

static void run(MYSQL *m, const char *sql, answer *a)
{
	MYSQL_RES *res;

	memset(a, 0, sizeof(*a));
	if (mysql_real_query(m, sql, strlen(sql)) != 0) {
		unsigned e = mysql_errno(m);
		a->err_code = e;
		a->lost = e == 2006 || e == 2013 || e == 2055; /* CR_SERVER_GONE/LOST, CR_SERVER_LOST_EXTENDED */
		snprintf(a->message, sizeof(a->message), "%s", mysql_error(m));
		return;
	}
	res = mysql_store_result(m);
	if (!res) {
		if (mysql_field_count(m) != 0) {
			a->err_code = mysql_errno(m) ? mysql_errno(m) : 2000;
			a->lost = true;
			snprintf(a->message, sizeof(a->message), "%s", mysql_error(m));
		} else {
			snprintf(a->message, sizeof(a->message), "%s", mysql_info(m) ? mysql_info(m) : "");
		}
		return;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	if (row) {
		a->has_row = true;
		copy_col(row, col_index(res, "Job_ID"), a->job_id, sizeof(a->job_id));
		copy_col(row, col_index(res, "Status"), a->status, sizeof(a->status));
		copy_col(row, col_index(res, "Result_Message"), a->result_msg, sizeof(a->result_msg));
	}
	mysql_free_result(res);
	while (mysql_next_result(m) == 0) { /* drain: the connection is closed right after */
		res = mysql_store_result(m);
		if (res)
			mysql_free_result(res);
	}
}

/* ---- job search (a lost answer, or a re-import that may have been sent) ---- */

static int64_t parse_utc(const char *s)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);

	return end ? (int64_t)timegm(&tm) * 1000 : 0;
}

static bool job_taken(const char *job_id, const char *self_id)
{
	bool taken = false;

	pthread_mutex_lock(&g.mu);
	for (size_t i = 0; i < g.nview && !taken; i++)
		taken = strcmp(g.view[i].id, self_id) != 0 && g.view[i].job_id &&
		        strcmp(g.view[i].job_id, job_id) == 0;
	pthread_mutex_unlock(&g.mu);
	return taken;
}

/*
 * Jobs on `db`.`tbl` created since `since_ms`: 0 none, 1 exactly one (its id in job_id),
 * 2 several, -1 + err when SHOW IMPORT JOBS could not be read. Create_Time is read in UTC
 * (the session's time_zone is set to +00:00).
 */
static int search_job(svc_target t, const ig_obl_record *r, int64_t since_ms, char *job_id, size_t jlen,
                      char *err, size_t errlen)
{
	char where[300], want[600];
	MYSQL *m = svc_connect(t, NULL, 30, where, sizeof(where), err, errlen);
	MYSQL_RES *res;
	MYSQL_ROW row;
	int found = 0;

	if (!m)
		return -1;
	snprintf(want, sizeof(want), "`%s`.`%s`", r->db ? r->db : "", r->table ? r->table : "");
	if (mysql_query(m, "SET time_zone = '+00:00'") != 0 || mysql_query(m, "SHOW IMPORT JOBS") != 0 ||
	    !(res = mysql_store_result(m))) {
		perr(err, errlen, "%s: SHOW IMPORT JOBS: %s", where, mysql_error(m));
		mysql_close(m);
		return -1;
	}
	int ci = col_index(res, "Job_ID"), ct = col_index(res, "Target_Table"), cc = col_index(res, "Create_Time");
	while (ci >= 0 && ct >= 0 && cc >= 0 && (row = mysql_fetch_row(res))) {
		if (!row[ci] || !row[ct] || !row[cc] || strcasecmp(row[ct], want) != 0)
			continue;
		if (parse_utc(row[cc]) < since_ms - CLOCK_SLACK_MS || job_taken(row[ci], r->id))
			continue;
		if (found++ == 0)
			snprintf(job_id, jlen, "%s", row[ci]);
	}
	mysql_free_result(res);
	mysql_close(m);
	return found > 1 ? 2 : found;
}

/* ---- SQL text ---- */

static int append(char **buf, size_t *len, const char *s)
{
	size_t n = strlen(s);
	char *g2 = realloc(*buf, *len + n + 1);

	if (!g2)
		return -1;
	memcpy(g2 + *len, s, n + 1);
	*buf = g2;
	*len += n;
	return 0;
}

/* `name` with backticks doubled. */
static int append_ident(char **buf, size_t *len, const char *name)
{
	int rc = append(buf, len, "`");

	for (const char *p = name; rc == 0 && *p; p++)
		rc = append(buf, len, *p == '`' ? "``" : (char[]){*p, 0});
	return rc ? rc : append(buf, len, "`");
}

/* 'text' with quotes and backslashes escaped. */
static int append_string(char **buf, size_t *len, const char *s)
{
	int rc = append(buf, len, "'");

	for (const char *p = s; rc == 0 && *p; p++)
		rc = append(buf, len, *p == '\'' ? "''" : *p == '\\' ? "\\\\" : (char[]){*p, 0});
	return rc ? rc : append(buf, len, "'");
}

/* obligations.backup_uri with {db} {table} {job_id} {date} {id} filled in. {job_id} is the
 * obligation id for IMPORT INTO ... FROM SELECT (no job). {date}: the import's, UTC. The
 * names are percent-encoded (ig_backup_uri says why: BR's url.Parse would otherwise read
 * '?', '#', '%' in a name as the query, the fragment or an escape, and '/' as a level). */
static char *backup_uri(const ig_obl_record *r)
{
	char date[16];
	time_t secs = (time_t)(r->created_ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y%m%d", &tm);
	return ig_backup_uri(g.cfg->obligations.backup_uri, r->db, r->table,
	                     r->job_id && *r->job_id ? r->job_id : r->id, r->id, date);
}

/* ---- the steps ---- */

/* msg may be TiDB's answer to BACKUP TABLE or to the downstream IMPORT INTO, which can
 * quote the target or the location with its credentials: it is kept, logged and audited
 * only redacted (sql_redact_text). */
static void step_failed(ig_obl_record *r, ig_obl_step *s, const char *name, const char *msg)
{
	char *red = sql_redact_text(msg ? msg : "", msg ? strlen(msg) : 0);
	const char *m = red ? red : "(message withheld: out of memory)";

	s->attempts++;
	ig_obl_set_str(&s->last_error, m);
	r->next_try_ms = now_ms() + backoff_ms(s->attempts);
	LOG_WARN(r->conn_id, "obligation %s: %s failed (attempt %u, next in %lld ms): %s", r->id, name,
	         s->attempts, (long long)backoff_ms(s->attempts), m);
	audit("obligation.failed", r, name, m);
	free(red);
}

static void step_done(ig_obl_record *r, ig_obl_step *s, const char *name)
{
	/* the target (obligations.backup_uri filled in) may carry credentials in its query */
	char *red = s->target ? sql_redact_uri(s->target, strlen(s->target)) : NULL;

	s->state = IG_STEP_DONE;
	ig_obl_set_str(&s->last_error, NULL);
	r->next_try_ms = 0;
	LOG_INFO(r->conn_id, "obligation %s: %s done (%s)", r->id, name, red ? red : "");
	audit("obligation.step", r, name, NULL);
	free(red);
}

/*
 * BACKUP TABLE. "started" is written before it runs. A backup found "started" (the replica
 * died while it ran) is run again to the same URI: BR resumes from its checkpoint, and when
 * the first run had completed BR refuses with "backup meta file exists", which then means
 * done. A first run that meets that error is a failure (another backup is in the way).
 */
static int do_backup(ig_obl_record *r)
{
	ig_obl_step *s = &r->backup;
	bool rerun = s->state == IG_STEP_STARTED;
	char *uri = s->target ? strdup(s->target) : backup_uri(r), *sql = NULL, where[300], err[512];
	size_t len = 0;
	answer a;
	int rc;

	if (!uri || append(&sql, &len, "BACKUP TABLE ") || append_ident(&sql, &len, r->db ? r->db : "") ||
	    append(&sql, &len, ".") || append_ident(&sql, &len, r->table ? r->table : "") ||
	    append(&sql, &len, " TO ") || append_string(&sql, &len, uri)) {
		free(uri);
		free(sql);
		return -1;
	}
	if (!rerun) {
		s->state = IG_STEP_STARTED;
		s->started_ms = now_ms();
		ig_obl_set_str(&s->target, uri);
		if ((rc = save(r)) != 0) {
			free(uri);
			free(sql);
			return rc;
		}
	}
	free(uri);
	MYSQL *m = svc_connect(SVC_UPSTREAM, NULL, 0, where, sizeof(where), err, sizeof(err));
	if (!m) {
		step_failed(r, s, "backup", err);
	} else {
		run(m, sql, &a);
		mysql_close(m);
		if (a.err_code == 0 || (rerun && strstr(a.message, "backup meta file exists")))
			step_done(r, s, "backup");
		else
			step_failed(r, s, "backup", a.message);
	}
	free(sql);
	return save(r);
}

/* The downstream job ended: finished -> done, else the re-import is owed again. */
static void reimport_job_ended(ig_obl_record *r, ig_obl_step *s, const answer *a)
{
	char msg[600];

	if (strcmp(a->status, "finished") == 0) {
		step_done(r, s, "reimport");
		return;
	}
	snprintf(msg, sizeof(msg), "downstream job %s %s: %s", s->job_id ? s->job_id : "?", a->status,
	         a->result_msg);
	s->state = IG_STEP_PENDING;
	ig_obl_set_str(&s->job_id, NULL);
	step_failed(r, s, "reimport", msg);
}

static void reimport_follow(ig_obl_record *r, ig_obl_step *s)
{
	char sql[64], where[300], err[512];
	MYSQL *m = svc_connect(SVC_DOWNSTREAM, NULL, 30, where, sizeof(where), err, sizeof(err));
	answer a;

	if (!m) {
		step_failed(r, s, "reimport", err);
		return;
	}
	snprintf(sql, sizeof(sql), "SHOW IMPORT JOB %lld", atoll(s->job_id ? s->job_id : "0"));
	run(m, sql, &a);
	mysql_close(m);
	if (a.err_code == 8170) { /* the job is gone: it cannot be confirmed, run it again */
		s->state = IG_STEP_PENDING;
		step_failed(r, s, "reimport", a.message);
	} else if (a.err_code || !a.has_row) {
		step_failed(r, s, "reimport", a.err_code ? a.message : "SHOW IMPORT JOB returned no row");
	} else if (strcmp(a.status, "pending") == 0 || strcmp(a.status, "running") == 0) {
		r->next_try_ms = now_ms() + g.cfg->obligations.poll_ms;
	} else {
		reimport_job_ended(r, s, &a);
	}
}

/* Sends the original statement downstream (in the record's database). */
static void reimport_send(ig_obl_record *r, ig_obl_step *s)
{
	char where[300], err[512];
	MYSQL *m = svc_connect(SVC_DOWNSTREAM, r->db, 0, where, sizeof(where), err, sizeof(err));
	answer a;

	if (!m) {
		s->state = IG_STEP_PENDING; /* nothing was sent */
		step_failed(r, s, "reimport", err);
		return;
	}
	ig_obl_set_str(&s->target, where);
	run(m, r->statement ? r->statement : "", &a);
	mysql_close(m);
	if (a.lost) { /* may have run: stays "started", the next attempt looks for its job */
		step_failed(r, s, "reimport", a.message);
	} else if (a.err_code) {
		s->state = IG_STEP_PENDING;
		step_failed(r, s, "reimport", a.message);
	} else if (!a.has_row || !a.job_id[0]) { /* FROM SELECT: OK, done */
		step_done(r, s, "reimport");
	} else if (strcmp(a.status, "pending") == 0 || strcmp(a.status, "running") == 0) {
		s->state = IG_STEP_FOLLOWING;
		ig_obl_set_str(&s->job_id, a.job_id);
		r->next_try_ms = now_ms() + g.cfg->obligations.poll_ms;
		audit("obligation.step", r, "reimport-sent", NULL);
	} else {
		ig_obl_set_str(&s->job_id, a.job_id);
		reimport_job_ended(r, s, &a);
	}
}

/*
 * The downstream re-import. "started" (with its time) is written before the statement is
 * sent; a detached job's id is written as soon as it is known and followed. A re-import
 * found "started" without a job id is looked for by table and time on the downstream
 * before it is sent again.
 */
static int do_reimport(ig_obl_record *r)
{
	ig_obl_step *s = &r->reimport;
	char job[32] = "", err[512];
	int rc;

	if (s->state == IG_STEP_FOLLOWING) {
		reimport_follow(r, s);
		return save(r);
	}
	if (s->state == IG_STEP_STARTED) {
		if (r->from_select) {
			r->state = IG_OBLS_OUTCOME_UNKNOWN;
			ig_obl_set_str(&r->note, "the downstream IMPORT INTO ... FROM SELECT may have run before a "
			               "restart and has no job to look for; check the downstream table, then dismiss");
			audit("obligation.failed", r, "reimport", r->note);
			return save(r);
		}
		rc = search_job(SVC_DOWNSTREAM, r, s->started_ms, job, sizeof(job), err, sizeof(err));
		if (rc < 0) {
			step_failed(r, s, "reimport", err);
			return save(r);
		}
		if (rc >= 1) {
			s->state = IG_STEP_FOLLOWING;
			ig_obl_set_str(&s->job_id, job);
			audit("obligation.step", r, "reimport-found", NULL);
			return save(r);
		}
	}
	s->state = IG_STEP_STARTED;
	s->started_ms = now_ms();
	if ((rc = save(r)) != 0)
		return rc;
	reimport_send(r, s);
	return save(r);
}

/* ---- the upstream job ---- */

/* why may quote TiDB's answer to the import (see step_failed): kept redacted */
static void not_owed(ig_obl_record *r, const char *why)
{
	char *red = sql_redact_text(why ? why : "", why ? strlen(why) : 0);
	const char *w = red ? red : "(reason withheld: out of memory)";

	r->state = IG_OBLS_NOT_OWED;
	ig_obl_set_str(&r->note, w);
	r->next_try_ms = 0;
	LOG_INFO(r->conn_id, "obligation %s: nothing owed: %s", r->id, w);
	audit("obligation.not_owed", r, NULL, NULL);
	free(red);
}

static void due(ig_obl_record *r)
{
	r->state = IG_OBLS_DUE;
	r->next_try_ms = 0;
	r->attempts = 0;
	ig_obl_set_str(&r->last_error, NULL);
	audit("obligation.step", r, "import-finished", NULL);
}

static void unknown(ig_obl_record *r, const char *why)
{
	char *red = sql_redact_text(why ? why : "", why ? strlen(why) : 0);
	const char *w = red ? red : "(reason withheld: out of memory)";

	r->state = IG_OBLS_OUTCOME_UNKNOWN;
	ig_obl_set_str(&r->note, w);
	r->next_try_ms = NEVER;
	LOG_WARN(r->conn_id, "obligation %s: outcome unknown, an operator must decide: %s", r->id, w);
	audit("obligation.failed", r, "outcome", w);
	free(red);
}

static void failed_attempt(ig_obl_record *r, const char *what, const char *msg)
{
	r->attempts++;
	char *red = sql_redact_text(msg ? msg : "", msg ? strlen(msg) : 0);
	const char *m = red ? red : "(message withheld: out of memory)";

	ig_obl_set_str(&r->last_error, m);
	r->next_try_ms = now_ms() + backoff_ms(r->attempts);
	LOG_WARN(r->conn_id, "obligation %s: %s failed (attempt %u): %s", r->id, what, r->attempts, m);
	free(red);
}

/* Applies a job's status; false when the job is still going. */
static bool job_status(ig_obl_record *r, const char *status, const char *msg)
{
	char why[400];

	if (strcmp(status, "finished") == 0) {
		due(r);
		return true;
	}
	if (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0) {
		snprintf(why, sizeof(why), "job %s %s%s%s", r->job_id ? r->job_id : "?", status, msg && *msg ? ": " : "",
		         msg ? msg : "");
		not_owed(r, why);
		return true;
	}
	return false;
}

static int do_follow(ig_obl_record *r)
{
	char sql[64], where[300], err[512];
	MYSQL *m = svc_connect(SVC_UPSTREAM, NULL, 30, where, sizeof(where), err, sizeof(err));
	answer a;

	if (!m) {
		failed_attempt(r, "following the job", err);
		return save(r);
	}
	snprintf(sql, sizeof(sql), "SHOW IMPORT JOB %lld", atoll(r->job_id ? r->job_id : "0"));
	run(m, sql, &a);
	mysql_close(m);
	if (a.err_code == 8170)
		unknown(r, a.message);
	else if (a.err_code || !a.has_row)
		failed_attempt(r, "following the job", a.err_code ? a.message : "SHOW IMPORT JOB returned no row");
	else if (!job_status(r, a.status, a.result_msg)) {
		r->attempts = 0;
		r->next_try_ms = now_ms() + g.cfg->obligations.poll_ms;
	}
	return save(r);
}

static int do_search(ig_obl_record *r)
{
	char job[32] = "", err[512];
	int rc;

	if (r->from_select) {
		unknown(r, "the answer to IMPORT INTO ... FROM SELECT was lost (no job to look for); check "
		        "the table, then dismiss or carry the obligation out by hand");
		return save(r);
	}
	rc = search_job(SVC_UPSTREAM, r, r->created_ms, job, sizeof(job), err, sizeof(err));
	if (rc < 0) {
		failed_attempt(r, "looking for the job", err);
	} else if (rc == 1) {
		r->state = IG_OBLS_FOLLOWING;
		r->next_try_ms = 0;
		ig_obl_set_str(&r->job_id, job);
		audit("obligation.step", r, "job-found", NULL);
	} else if (rc == 2) {
		unknown(r, "the answer was lost and several import jobs on the table started since");
	} else if (now_ms() - r->created_ms > SEARCH_WINDOW_MS) {
		unknown(r, "the answer was lost and no import job on the table was found");
	} else {
		r->next_try_ms = now_ms() + (g.cfg->obligations.poll_ms < 2000 ? g.cfg->obligations.poll_ms : 2000);
	}
	return save(r);
}

/* One step of one owned record. Returns 1 when the record left our hands. */
static int work(ig_obl_record *r)
{
	int rc = 0;

	switch (r->state) {
	case IG_OBLS_AWAITING_ANSWER:
	case IG_OBLS_OUTCOME_UNKNOWN:
		r->next_try_ms = NEVER; /* an event (or an operator) moves it */
		break;
	case IG_OBLS_SEARCHING:
		rc = do_search(r);
		break;
	case IG_OBLS_FOLLOWING:
		rc = do_follow(r);
		break;
	case IG_OBLS_DUE:
		if (r->backup.state != IG_STEP_NONE && r->backup.state != IG_STEP_DONE)
			rc = do_backup(r);
		else if (r->reimport.state != IG_STEP_NONE && r->reimport.state != IG_STEP_DONE)
			rc = do_reimport(r);
		else {
			r->state = IG_OBLS_DONE;
			rc = save(r);
			if (rc == 0) {
				LOG_INFO(r->conn_id, "obligation %s: done", r->id);
				audit("obligation.done", r, NULL, NULL);
			}
		}
		break;
	case IG_OBLS_DONE:
	case IG_OBLS_NOT_OWED:
	case IG_OBLS_DISMISSED:
		break;
	}
	if (rc < 0 && r->next_try_ms < now_ms() + 1000)
		r->next_try_ms = now_ms() + 1000; /* the store did not take it: retry soon */
	if (rc == 1) {
		disown(r);
		return 1;
	}
	/* Terminal, or parked for an operator: nothing more for us; other replicas skip it. */
	if (rc == 0 && (ig_obl_state_terminal(r->state) || r->state == IG_OBLS_OUTCOME_UNKNOWN)) {
		finish(r);
		return 1;
	}
	return 0;
}

/* ---- events ---- */

static void on_answered(ig_obl_record *r, obl_event *e)
{
	char why[700];

	if (r->state != IG_OBLS_AWAITING_ANSWER)
		return;
	ig_obl_set_str(&r->job_id, e->job_id && *e->job_id ? e->job_id : NULL);
	if (e->err_code) {
		snprintf(why, sizeof(why), "the import failed: %d %s", e->err_code, e->message ? e->message : "");
		not_owed(r, why);
	} else if (!r->job_id) {
		due(r); /* IMPORT INTO ... FROM SELECT: finished when the OK arrives */
	} else if (!job_status(r, e->status ? e->status : "", e->message)) {
		r->state = IG_OBLS_FOLLOWING;
		r->next_try_ms = now_ms() + g.cfg->obligations.poll_ms;
		audit("obligation.step", r, "following-job", NULL);
	}
}

static void on_unanswered(ig_obl_record *r)
{
	if (r->state != IG_OBLS_AWAITING_ANSWER)
		return;
	r->state = IG_OBLS_SEARCHING;
	r->next_try_ms = 0;
	audit("obligation.step", r, "answer-lost", NULL);
}

/* A record not in our hands (lease lost, or an operator's dismissal): claim it first. */
static ig_obl_record *claim_one(const char *id)
{
	char err[512];
	ig_obl_record r;
	int rc = ig_oblstore_claim(g.st, id, err, sizeof(err));

	if (rc <= 0)
		return NULL;
	if (ig_oblstore_get(g.st, id, &r, err, sizeof(err)) != 1) {
		ig_oblstore_release(g.st, id, err, sizeof(err));
		return NULL;
	}
	return own(&r);
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
	ig_obl_record *r = owned_find(e->id);
	char msg[256] = "";
	int rc = -1;

	if (!r)
		r = claim_one(e->id);
	if (!r) {
		snprintf(msg, sizeof(msg), "obligation %s: not found, or held by another replica "
		         "(try again there or when it is idle)", e->id);
	} else if (ig_obl_state_terminal(r->state) || r->state == IG_OBLS_AWAITING_ANSWER) {
		snprintf(msg, sizeof(msg), "obligation %s is %s: nothing to dismiss", e->id,
		         ig_obl_state_name(r->state));
		if (ig_obl_state_terminal(r->state))
			finish(r);
	} else {
		ig_obl_state before = r->state;
		r->state = IG_OBLS_DISMISSED;
		ig_obl_set_str(&r->note, "dismissed by an operator");
		if (save(r) == 0) {
			rc = 0;
			audit("obligation.dismissed", r, NULL, NULL);
			finish(r);
		} else {
			r->state = before;
			snprintf(msg, sizeof(msg), "obligation %s: the store did not take the dismissal", e->id);
		}
	}
	pthread_mutex_lock(&g.mu);
	dismiss_complete(e->wait, rc, msg);
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

static void handle(obl_event *e)
{
	ig_obl_record *r;

	if (e->kind == EV_DISMISS) {
		on_dismiss(e);
		return;
	}
	if (e->kind == EV_CREATED) {
		if (!owned_find(e->rec.id) && own(&e->rec))
			memset(&e->rec, 0, sizeof(e->rec));
		return;
	}
	r = owned_find(e->id);
	if (!r)
		r = claim_one(e->id);
	if (!r) {
		LOG_WARN(0, "obligation %s: the import's answer arrived but the record is held elsewhere; "
		         "its holder looks for the job", e->id);
		return;
	}
	if (e->kind == EV_ANSWERED)
		on_answered(r, e);
	else
		on_unanswered(r);
	if (save(r) == 1)
		disown(r);
}

/* ---- the thread ---- */

/* Claims what nobody carries (a dead replica's, or a previous run's), drops old records. */
static void scan(void)
{
	char err[512];
	ig_obl_record *recs;
	size_t n;
	int64_t now = now_ms();

	if (ig_oblstore_list(g.st, &recs, &n, err, sizeof(err)) < 0) {
		LOG_WARN(0, "obligations: cannot list the store: %s", err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		ig_obl_record *r = &recs[i];
		if (ig_obl_state_terminal(r->state)) {
			if (now - r->updated_ms > RETENTION_MS)
				ig_oblstore_delete(g.st, r->id, err, sizeof(err));
			continue;
		}
		if (r->state == IG_OBLS_OUTCOME_UNKNOWN || owned_find(r->id))
			continue;
		if (ig_oblstore_claim(g.st, r->id, err, sizeof(err)) != 1)
			continue;
		ig_obl_record c;
		if (ig_obl_record_copy(&c, r) < 0) {
			ig_oblstore_release(g.st, r->id, err, sizeof(err));
			continue;
		}
		ig_obl_record *o = own(&c);
		if (!o)
			continue;
		/* Ours from this process (its created event is on its way): keep waiting. */
		if (o->state == IG_OBLS_AWAITING_ANSWER && o->replica && strcmp(o->replica, g.replica) == 0)
			continue;
		LOG_INFO(o->conn_id, "obligation %s: claimed (%s, last written by %s)", o->id,
		         ig_obl_state_name(o->state), o->replica ? o->replica : "?");
		audit("obligation.claimed", o, NULL, NULL);
		o->next_try_ms = 0;
		o->attempts = 0;
		if (o->state == IG_OBLS_AWAITING_ANSWER) /* its gateway died before the answer */
			on_unanswered(o);
	}
	view_replace(recs, n);
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void *thread_main(void *arg)
{
	int64_t next_scan = 0, next_keepalive = now_ms() + LEASE_TTL_S * 1000 / 3;
	int poll = g.cfg->obligations.poll_ms > 0 ? g.cfg->obligations.poll_ms : 5000;
	char err[512];

	(void)arg;
	mysql_thread_init();
	for (;;) {
		pthread_mutex_lock(&g.mu);
		obl_event *ev = g.head;
		g.head = g.tail = NULL;
		bool stop = g.stopping, open = g.st != NULL;
		pthread_mutex_unlock(&g.mu);
		if (!open) { /* nothing can be owed before the file store exists (ig_obl_create opens it) */
			for (obl_event *n; ev; ev = n) {
				n = ev->next;
				event_free(ev);
			}
			if (stop)
				break;
			pthread_mutex_lock(&g.mu);
			if (!g.head && !g.stopping && !g.st)
				pthread_cond_wait(&g.cv, &g.mu);
			pthread_mutex_unlock(&g.mu);
			continue;
		}
		while (ev) {
			obl_event *next = ev->next;
			handle(ev);
			event_free(ev);
			ev = next;
		}
		if (stop)
			break;
		int64_t now = now_ms();
		if (now >= next_keepalive) {
			int rc = ig_oblstore_keepalive(g.st, err, sizeof(err));
			if (rc < 0)
				LOG_WARN(0, "obligations: lease keepalive failed: %s", err);
			if (rc == 1) { /* every claim is gone: others may run them now; rescan */
				LOG_WARN(0, "obligations: our lease had expired; claims dropped");
				while (g.nowned)
					disown(&g.owned[0]);
				next_scan = 0;
			}
			next_keepalive = now + (rc < 0 ? 1000 : LEASE_TTL_S * 1000 / 3);
		}
		if (now >= next_scan) {
			scan();
			next_scan = now + poll;
		}
		int64_t wake = min64(next_scan, next_keepalive);
		for (size_t i = 0; i < g.nowned;) {
			if (g.owned[i].next_try_ms <= now_ms()) {
				if (work(&g.owned[i]) == 1)
					continue; /* removed: index i holds another record now */
				pthread_mutex_lock(&g.mu);
				stop = g.stopping || g.head;
				pthread_mutex_unlock(&g.mu);
				if (stop)
					break; /* events first (an answer waits on the loop's side) */
			}
			wake = min64(wake, g.owned[i].next_try_ms);
			i++;
		}
		pthread_mutex_lock(&g.mu);
		if (!g.head && !g.stopping && wake > now_ms()) {
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
	g.cfg = ig_config_ref(cfg);
	g.stopping = false;
	g.running = true;
	if (pthread_create(&g.thread, NULL, thread_main, NULL) != 0) {
		g.running = false;
		ig_config_unref(g.cfg);
		ig_oblstore_close(g.st);
		g.st = NULL;
		return perr(err, errlen, "cannot start the obligations thread");
	}
	LOG_INFO(0, "obligations: store %s%s, replica %s", cfg->cluster.npd ? "etcd (PD)" : cfg->obligations.file,
	         g.st ? "" : " (opened when first needed)", g.replica);
	return 0;
}

void ig_obl_stop(void)
{
	pthread_mutex_lock(&g.mu);
	if (!g.running) {
		pthread_mutex_unlock(&g.mu);
		return;
	}
	g.stopping = true;
	pthread_cond_signal(&g.cv);
	pthread_mutex_unlock(&g.mu);
	pthread_join(g.thread, NULL);
	pthread_mutex_lock(&g.mu);
	g.running = false;
	for (obl_event *e = g.head, *n; e; e = n) {
		n = e->next;
		if (e->wait)
			dismiss_complete(e->wait, -1, "shutting down");
		event_free(e);
	}
	g.head = g.tail = NULL;
	for (size_t i = 0; i < g.nview; i++)
		ig_obl_record_free(&g.view[i]);
	free(g.view);
	g.view = NULL;
	g.nview = 0;
	pthread_mutex_unlock(&g.mu);
	while (g.nowned)
		disown(&g.owned[0]);
	free(g.owned);
	g.owned = NULL;
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

static json_t *step_json(const ig_obl_step *s)
{
	json_t *o = json_object();

	json_object_set_new(o, "state", json_string(ig_obl_step_name(s->state)));
	if (s->target)
		json_object_set_new(o, "target", json_string(s->target));
	if (s->job_id)
		json_object_set_new(o, "job_id", json_string(s->job_id));
	json_object_set_new(o, "attempts", json_integer(s->attempts));
	if (s->last_error)
		json_object_set_new(o, "last_error", json_string(s->last_error));
	return o;
}

static json_t *record_json(const ig_obl_record *r)
{
	json_t *o = json_object();
	char table[600];

	snprintf(table, sizeof(table), "%s.%s", r->db ? r->db : "", r->table ? r->table : "");
	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "state", json_string(ig_obl_state_name(r->state)));
	ig_audit_set_string(o, "table", table, strlen(table));
	if (r->job_id)
		json_object_set_new(o, "job_id", json_string(r->job_id));
	if (r->user)
		ig_audit_set_string(o, "user", r->user, strlen(r->user));
	json_object_set_new(o, "created_ms", json_integer(r->created_ms));
	json_object_set_new(o, "updated_ms", json_integer(r->updated_ms));
	if (r->replica)
		json_object_set_new(o, "replica", json_string(r->replica));
	if (r->note)
		json_object_set_new(o, "note", json_string(r->note));
	if (r->last_error)
		json_object_set_new(o, "last_error", json_string(r->last_error));
	if (r->backup.state != IG_STEP_NONE)
		json_object_set_new(o, "backup", step_json(&r->backup));
	if (r->reimport.state != IG_STEP_NONE)
		json_object_set_new(o, "reimport", step_json(&r->reimport));
	json_object_set_new(o, "failing", json_boolean(r->backup.last_error || r->reimport.last_error ||
	                                                r->last_error || r->state == IG_OBLS_OUTCOME_UNKNOWN));
	return o;
}

char *ig_obl_status_json(void)
{
	json_t *root = json_object(), *counts = json_object(), *recs = json_array();
	char *out = NULL;

	if (!root || !counts || !recs) {
		json_decref(root);
		json_decref(counts);
		json_decref(recs);
		return NULL;
	}
	pthread_mutex_lock(&g.mu);
	json_object_set_new(root, "running", json_boolean(g.running));
	json_object_set_new(root, "replica", json_string(g.replica));
	json_object_set_new(root, "store", json_string(!g.cfg ? "none" : g.cfg->cluster.npd ? "etcd" : "file"));
	for (size_t i = 0; i < g.nview; i++) {
		const char *s = ig_obl_state_name(g.view[i].state);
		json_object_set_new(counts, s, json_integer(json_integer_value(json_object_get(counts, s)) + 1));
		json_array_append_new(recs, record_json(&g.view[i]));
	}
	pthread_mutex_unlock(&g.mu);
	json_object_set_new(root, "counts", counts);
	json_object_set_new(root, "records", recs);
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}
