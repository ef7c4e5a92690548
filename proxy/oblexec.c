/*
 * oblexec.c - the obligations' executor: service connections (libmariadb), the statements
 * an obligation runs, and what their answers mean as events (see oblexec.h). Messages from
 * TiDB can quote a location with its credentials: they are redacted before they leave here.
 */
#include "proxy/oblexec.h"

#include <errno.h>
#include <mysql.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <strings.h>
#include <time.h>

#include "proxy/backupuri.h"
#include "proxy/svcconn.h"
#include "sqlparse/sqlparse.h"

#define ER_IMPORT_JOB_NOT_FOUND 8170 /* "Job ID %d doesn't exist" (pkg/errno, TiDB) */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* out = text redacted (it may quote a location or a statement with credentials) */
static void set_message(ig_oblexec_out *o, const char *text)
{
	char *red = sql_redact_text(text ? text : "", text ? strlen(text) : 0);

	snprintf(o->message, sizeof(o->message), "%s", red ? red : "(message withheld: out of memory)");
	free(red);
	o->ev.message = o->message;
}

static void begin(const ig_oblexec_ctx *c, ig_oblexec_out *o, ig_obl_ev_kind k)
{
	memset(o, 0, sizeof(*o));
	o->acted = true;
	o->ev.kind = k;
	o->ev.now_ms = now_ms();
	o->ev.poll_ms = c->cfg->obligations.poll_ms > 0 ? c->cfg->obligations.poll_ms : 5000;
}

static void fail(const ig_oblexec_ctx *c, ig_oblexec_out *o, ig_obl_ev_kind k, bool reset, const char *msg)
{
	begin(c, o, k);
	o->ev.reset = reset;
	set_message(o, msg);
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

/*
 * What a service connection reads is bounded whatever the server sends (attack30, after the
 * preflight's login): no packet over SVC_MAX_PACKET (a statement's answer row is a few hundred
 * bytes; the statements sent are the records', far below it), results read row by row
 * (mysql_use_result) and only as far as needed, SHOW IMPORT JOBS up to JOBS_MAX_ROWS rows
 * and JOBS_MAX_BYTES of values. A server that sends rows without end would otherwise grow the
 * gateway until it is killed.
 */
#define SVC_MAX_PACKET (16ul << 20)
#define JOBS_MAX_ROWS 100000u
#define JOBS_MAX_BYTES (64u << 20)

/* Done with a result read row by row, and with its connection, which is closed right after:
 * the socket is shut first, so the rows not read are not read now either (freeing a
 * row-by-row result reads the rest, without end from a server that never stops). */
static void drop_result(MYSQL *m, MYSQL_RES *res)
{
	shutdown(mysql_get_socket(m), SHUT_RDWR);
	mysql_free_result(res);
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
	res = mysql_use_result(m);
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
	} else if (mysql_errno(m)) { /* the first row never came whole */
		a->err_code = mysql_errno(m);
		a->lost = true;
		snprintf(a->message, sizeof(a->message), "%s", mysql_error(m));
	}
	/* the first row is all an answer is read for; the rest, and any further result, is not */
	drop_result(m, res);
}

/* Connects, checks may_act when the statement acts, runs it. false: nothing was sent (o
 * says why: a failure event - reset: the step is owed from scratch -, or acted = false
 * when may_act said no). */
static bool run_on(const ig_oblexec_ctx *c, ig_svc_target t, const char *db, unsigned read_s, bool acts,
                   const char *sql, answer *a, ig_oblexec_out *o, ig_obl_ev_kind fail_kind, bool reset)
{
	char where[300], err[512];
	MYSQL *m = ig_svc_connect(c->cfg, t, db, read_s, SVC_MAX_PACKET, where, sizeof(where), err, sizeof(err));

	if (!m) {
		fail(c, o, fail_kind, reset, err);
		return false;
	}
	if (acts && c->may_act && !c->may_act(c)) {
		mysql_close(m);
		memset(o, 0, sizeof(*o)); /* acted = false */
		return false;
	}
	snprintf(o->target, sizeof(o->target), "%s", where);
	run(m, sql, a);
	mysql_close(m);
	return true;
}

/* ---- upstream job ---- */

static void show_job(const ig_oblexec_ctx *c, ig_svc_target t, const char *job_id, answer *a, ig_oblexec_out *o,
                     ig_obl_ev_kind fail_kind)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "SHOW IMPORT JOB %lld", atoll(job_id ? job_id : "0"));
	if (run_on(c, t, NULL, 30, false, sql, a, o, fail_kind, false))
		o->acted = true;
}

void ig_oblexec_follow(const ig_oblexec_ctx *c, const ig_obl_record *r, ig_oblexec_out *o)
{
	answer a;

	memset(&a, 0, sizeof(a)); /* show_job fills it only when it could ask */
	memset(o, 0, sizeof(*o));
	show_job(c, IG_SVC_UPSTREAM, r->job_id, &a, o, IG_OEV_ATTEMPT_FAILED);
	if (!o->acted || o->ev.kind == IG_OEV_ATTEMPT_FAILED)
		return;
	if (a.err_code == ER_IMPORT_JOB_NOT_FOUND) {
		fail(c, o, IG_OEV_JOB_GONE, false, a.message);
	} else if (a.err_code || !a.has_row) {
		fail(c, o, IG_OEV_ATTEMPT_FAILED, false, a.err_code ? a.message : "SHOW IMPORT JOB returned no row");
	} else {
		begin(c, o, IG_OEV_JOB_STATUS);
		snprintf(o->status, sizeof(o->status), "%s", a.status);
		o->ev.status = o->status;
		set_message(o, a.result_msg);
	}
}

/* ---- job searches: SHOW IMPORT JOBS, then the rows matched against records ---- */

void ig_oblexec_jobs_free(ig_oblexec_jobs *j)
{
	for (size_t i = 0; j->rows && i < j->n; i++) {
		free((char *)j->rows[i].job_id);
		free((char *)j->rows[i].data_source);
		free((char *)j->rows[i].target_table);
		free((char *)j->rows[i].create_time);
		free((char *)j->rows[i].created_by);
	}
	free(j->rows);
	j->rows = NULL;
	j->n = 0;
}

static char *col_dup(MYSQL_ROW row, int i, bool *oom)
{
	char *s = i >= 0 && row[i] ? strdup(row[i]) : NULL;

	if (i >= 0 && row[i] && !s)
		*oom = true;
	return s;
}

/* SHOW IMPORT JOBS at t, read in UTC (time_zone +00:00): every row kept. 0, -1 + err. */
/* One more row of jobs: 0, or -1 (no memory). */
static int add_job(ig_oblexec_jobs *out, size_t *cap, MYSQL_ROW row, const int *col, bool *oom)
{
	ig_obl_job_row *jr;

	if (out->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		ig_obl_job_row *nr = realloc(out->rows, ncap * sizeof(*nr));
		if (!nr)
			return -1;
		memset(nr + *cap, 0, (ncap - *cap) * sizeof(*nr));
		out->rows = nr;
		*cap = ncap;
	}
	jr = &out->rows[out->n++];
	jr->job_id = col_dup(row, col[0], oom);
	jr->data_source = col_dup(row, col[1], oom);
	jr->target_table = col_dup(row, col[2], oom);
	jr->create_time = col_dup(row, col[3], oom);
	jr->created_by = col_dup(row, col[4], oom);
	return *oom ? -1 : 0;
}

static size_t row_bytes(MYSQL_RES *res)
{
	unsigned long *len = mysql_fetch_lengths(res);
	size_t n = 0;

	for (unsigned i = 0; len && i < mysql_num_fields(res); i++)
		n += len[i];
	return n;
}

static int list_jobs(const ig_oblexec_ctx *c, ig_svc_target t, ig_oblexec_jobs *out, char *err, size_t errlen)
{
	char where[300];
	MYSQL *m = ig_svc_connect(c->cfg, t, NULL, 30, SVC_MAX_PACKET, where, sizeof(where), err, errlen);
	MYSQL_RES *res;
	MYSQL_ROW row;
	bool oom = false;
	size_t cap = 0, bytes = 0;
	int col[5];

	memset(out, 0, sizeof(*out));
	if (!m)
		return -1;
	if (mysql_query(m, "SET time_zone = '+00:00'") != 0 || mysql_query(m, "SHOW IMPORT JOBS") != 0 ||
	    !(res = mysql_use_result(m))) {
		perr(err, errlen, "%s: SHOW IMPORT JOBS: %s", where, mysql_error(m));
		mysql_close(m);
		return -1;
	}
	col[0] = col_index(res, "Job_ID"), col[1] = col_index(res, "Data_Source");
	col[2] = col_index(res, "Target_Table"), col[3] = col_index(res, "Create_Time");
	col[4] = col_index(res, "Created_By");
	while (!oom && col[0] >= 0 && col[2] >= 0 && col[3] >= 0 && out->n < JOBS_MAX_ROWS && bytes <= JOBS_MAX_BYTES &&
	       (row = mysql_fetch_row(res))) {
		bytes += row_bytes(res);
		oom = add_job(out, &cap, row, col, &oom) < 0;
	}
	if (!oom && (out->n >= JOBS_MAX_ROWS || bytes > JOBS_MAX_BYTES))
		perr(err, errlen, "%s: SHOW IMPORT JOBS answered %u rows or %u MiB or more: not read", where,
		     JOBS_MAX_ROWS, JOBS_MAX_BYTES >> 20);
	else if (!oom && mysql_errno(m))
		perr(err, errlen, "%s: SHOW IMPORT JOBS: %s", where, mysql_error(m));
	else if (oom)
		perr(err, errlen, "out of memory reading SHOW IMPORT JOBS");
	else
		err[0] = '\0';
	drop_result(m, res);
	mysql_close(m);
	if (err[0]) {
		ig_oblexec_jobs_free(out);
		return -1;
	}
	return 0;
}

/* The rows that are r's import by everything SHOW IMPORT JOBS gives (policy/obllife.h
 * ig_obl_job_matches), jobs other records hold (upstream, or downstream) left out: 0, 1 (its
 * id in job_id), 2 several. */
static int match_jobs(const ig_oblexec_ctx *c, const ig_oblexec_jobs *jobs, const ig_obl_record *r,
                      const char *user, int64_t since_ms, bool downstream, char *job_id, size_t jlen)
{
	int found = 0;

	for (size_t i = 0; i < jobs->n; i++) {
		const ig_obl_job_row *jr = &jobs->rows[i];
		/* downstream: the job is created when the re-import is sent, maybe long after it began */
		int64_t until = downstream ? INT64_MAX : since_ms + IG_OBL_SEARCH_WINDOW_MS + IG_OBL_CLOCK_SLACK_MS;
		if (!ig_obl_job_matches_until(jr, r->db, r->table, r->source, user, since_ms, until))
			continue;
		if (c->job_taken && c->job_taken(c, jr->job_id, r->id, downstream))
			continue;
		if (found++ == 0)
			snprintf(job_id, jlen, "%s", jr->job_id);
	}
	return found > 1 ? 2 : found;
}

void ig_oblexec_search_in(const ig_oblexec_ctx *c, const ig_oblexec_jobs *jobs, int64_t listed_ms,
                          const ig_obl_record *r, ig_oblexec_out *o)
{
	char job[32] = "";
	int n = match_jobs(c, jobs, r, r->user, r->created_ms, false, job, sizeof(job));

	begin(c, o, IG_OEV_SEARCH);
	o->ev.now_ms = listed_ms;
	o->ev.matches = n;
	snprintf(o->job_id, sizeof(o->job_id), "%s", job);
	o->ev.job_id = o->job_id;
	o->ev.window_over = o->ev.now_ms - r->created_ms > IG_OBL_SEARCH_WINDOW_MS;
}

static int append(char **buf, size_t *len, const char *s)
{
	size_t n = strlen(s);
	char *g = realloc(*buf, *len + n + 1);

	if (!g)
		return -1;
	memcpy(g + *len, s, n + 1);
	*buf = g;
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

char *ig_oblexec_backup_uri(const ig_config *cfg, const ig_obl_record *r)
{
	char date[16];
	time_t secs = (time_t)(r->created_ms / 1000);
	struct tm tm;

	/* {job_id} is the obligation id for FROM SELECT (no job); {date}: the import's, UTC. */
	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y%m%d", &tm);
	return ig_backup_uri(cfg->obligations.backup_uri, r->db, r->table,
	                     r->job_id && *r->job_id ? r->job_id : r->id, r->id, date);
}

void ig_oblexec_downstream_name(const ig_config *cfg, char *out, size_t outlen)
{
	const ig_hostport *sv = cfg->obligations.downstream.servers;

	if (cfg->obligations.downstream.nservers)
		snprintf(out, outlen, "%s:%d", sv[0].host, sv[0].port);
	else
		snprintf(out, outlen, "?");
}

/* ---- the steps ---- */

void ig_oblexec_backup(const ig_oblexec_ctx *c, const ig_obl_record *r, bool rerun, ig_oblexec_out *o)
{
	char *sql = NULL;
	size_t len = 0;
	answer a;

	memset(o, 0, sizeof(*o));
	if (!r->backup.target || append(&sql, &len, "BACKUP TABLE ") || append_ident(&sql, &len, r->db ? r->db : "") ||
	    append(&sql, &len, ".") || append_ident(&sql, &len, r->table ? r->table : "") ||
	    append(&sql, &len, " TO ") || append_string(&sql, &len, r->backup.target)) {
		free(sql);
		fail(c, o, IG_OEV_STEP_FAILED, false, r->backup.target ? "out of memory" : "no backup target recorded");
		return;
	}
	if (run_on(c, IG_SVC_UPSTREAM, NULL, 0, true, sql, &a, o, IG_OEV_STEP_FAILED, false)) {
		/* BR writes backupmeta last: a completed earlier run makes it refuse with "backup
		 * meta file exists" (br/pkg/backup client.go), which is done only for our own rerun. */
		if (a.err_code == 0 || (rerun && strstr(a.message, "backup meta file exists")))
			begin(c, o, IG_OEV_STEP_OK);
		else
			fail(c, o, IG_OEV_STEP_FAILED, false, a.message);
	}
	free(sql);
}

void ig_oblexec_reimport_send(const ig_oblexec_ctx *c, const ig_obl_record *r, ig_oblexec_out *o)
{
	answer a;

	memset(o, 0, sizeof(*o));
	if (!run_on(c, IG_SVC_DOWNSTREAM, r->db, 0, true, r->statement ? r->statement : "", &a, o, IG_OEV_STEP_FAILED,
	            true))
		return; /* nothing was sent: the failure resets the step (reset = true) */
	if (a.lost) { /* may have run: stays started, the next attempt looks for its job */
		fail(c, o, IG_OEV_STEP_FAILED, false, a.message);
	} else if (a.err_code) {
		fail(c, o, IG_OEV_STEP_FAILED, true, a.message);
	} else {
		begin(c, o, IG_OEV_REIMPORT_JOB);
		snprintf(o->job_id, sizeof(o->job_id), "%s", a.has_row ? a.job_id : "");
		snprintf(o->status, sizeof(o->status), "%s", a.status);
		o->ev.job_id = o->job_id;
		o->ev.status = o->status;
		set_message(o, a.result_msg);
	}
}

void ig_oblexec_reimport_follow(const ig_oblexec_ctx *c, const ig_obl_record *r, ig_oblexec_out *o)
{
	answer a;

	memset(&a, 0, sizeof(a)); /* show_job fills it only when it could ask */
	memset(o, 0, sizeof(*o));
	show_job(c, IG_SVC_DOWNSTREAM, r->reimport.job_id, &a, o, IG_OEV_STEP_FAILED);
	if (!o->acted || o->ev.kind == IG_OEV_STEP_FAILED)
		return; /* could not look: still following */
	if (a.err_code == ER_IMPORT_JOB_NOT_FOUND) { /* gone: it cannot be confirmed, run it again */
		fail(c, o, IG_OEV_STEP_FAILED, true, a.message);
	} else if (a.err_code || !a.has_row) {
		fail(c, o, IG_OEV_STEP_FAILED, false, a.err_code ? a.message : "SHOW IMPORT JOB returned no row");
	} else {
		begin(c, o, IG_OEV_REIMPORT_JOB);
		snprintf(o->job_id, sizeof(o->job_id), "%s", r->reimport.job_id ? r->reimport.job_id : "");
		snprintf(o->status, sizeof(o->status), "%s", a.status);
		o->ev.job_id = o->job_id;
		o->ev.status = o->status;
		set_message(o, a.result_msg);
	}
}

void ig_oblexec_reimport_search(const ig_oblexec_ctx *c, const ig_obl_record *r, ig_oblexec_out *o)
{
	char job[32] = "", err[512];
	const char *pwf, *user = ig_svc_user(c->cfg, IG_SVC_DOWNSTREAM, &pwf);
	int n = 0;

	if (!r->from_select) { /* a FROM SELECT re-import has no job: the transition parks it */
		ig_oblexec_jobs jobs;
		if (list_jobs(c, IG_SVC_DOWNSTREAM, &jobs, err, sizeof(err)) < 0) {
			fail(c, o, IG_OEV_STEP_FAILED, false, err);
			return;
		}
		n = match_jobs(c, &jobs, r, user, r->reimport.started_ms, true, job, sizeof(job));
		ig_oblexec_jobs_free(&jobs);
	}
	begin(c, o, IG_OEV_REIMPORT_SEARCH);
	o->ev.matches = n;
	snprintf(o->job_id, sizeof(o->job_id), "%s", job);
	o->ev.job_id = o->job_id;
}

void ig_oblexec_run(const ig_oblexec_ctx *c, const ig_obl_record *r, ig_obl_action action, bool rerun,
                    ig_oblexec_out *o, ig_oblexec_jobs *jobs)
{
	char err[512];

	switch (action) {
	case IG_OACT_SEARCH_JOB: { /* the list only: the caller matches every searching record */
		int64_t asked = now_ms(); /* the window is judged as of the request: no later job is in it */
		if (list_jobs(c, IG_SVC_UPSTREAM, jobs, err, sizeof(err)) < 0) {
			fail(c, o, IG_OEV_ATTEMPT_FAILED, false, err);
		} else {
			begin(c, o, IG_OEV_SEARCH);
			o->ev.now_ms = asked;
		}
		break;
	}
	case IG_OACT_FOLLOW_JOB:
		ig_oblexec_follow(c, r, o);
		break;
	case IG_OACT_BACKUP:
		ig_oblexec_backup(c, r, rerun, o);
		break;
	case IG_OACT_REIMPORT_SEND:
		ig_oblexec_reimport_send(c, r, o);
		break;
	case IG_OACT_REIMPORT_SEARCH:
		ig_oblexec_reimport_search(c, r, o);
		break;
	case IG_OACT_REIMPORT_FOLLOW:
		ig_oblexec_reimport_follow(c, r, o);
		break;
	default:
		memset(o, 0, sizeof(*o));
		break;
	}
}
