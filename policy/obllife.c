/*
 * obllife.c - the obligation's transition function and job identity (see obllife.h). Pure:
 * the record and the event in, the new record and what to audit out.
 */
#include "policy/obllife.h"

#include "policy/decide.h" /* IG_OBL_* */
#include "sqlparse/hexdigit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t ig_obl_backoff_ms(unsigned attempts)
{
	int64_t ms = 1000;

	for (unsigned i = 1; i < attempts && ms < IG_OBL_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < IG_OBL_BACKOFF_MAX_MS ? ms : IG_OBL_BACKOFF_MAX_MS;
}

static const char *const action_names[] = {
	[IG_OACT_WAIT] = "wait", [IG_OACT_SEARCH_JOB] = "search-job", [IG_OACT_FOLLOW_JOB] = "follow-job",
	[IG_OACT_BACKUP] = "backup", [IG_OACT_REIMPORT_SEND] = "reimport-send",
	[IG_OACT_REIMPORT_SEARCH] = "reimport-search", [IG_OACT_REIMPORT_FOLLOW] = "reimport-follow",
	[IG_OACT_COMPLETE] = "complete", [IG_OACT_RELEASE] = "release",
};

const char *ig_obl_action_name(ig_obl_action a)
{
	return (unsigned)a < sizeof(action_names) / sizeof(*action_names) ? action_names[a] : "?";
}

static bool step_open(const ig_obl_step *s)
{
	return s->state != IG_STEP_NONE && s->state != IG_STEP_DONE;
}

/* The step a due record is on: the backup first, then the re-import. NULL: none left. */
static ig_obl_step *current_step(ig_obl_record *r, const char **name)
{
	if (step_open(&r->backup)) {
		*name = "backup";
		return &r->backup;
	}
	if (step_open(&r->reimport)) {
		*name = "reimport";
		return &r->reimport;
	}
	return NULL;
}

ig_obl_action ig_obl_action_of(const ig_obl_record *r)
{
	switch (r->state) {
	case IG_OBLS_AWAITING_ANSWER:
		return IG_OACT_WAIT;
	case IG_OBLS_SEARCHING:
		return IG_OACT_SEARCH_JOB;
	case IG_OBLS_FOLLOWING:
		return IG_OACT_FOLLOW_JOB;
	case IG_OBLS_DUE:
		if (step_open(&r->backup))
			return IG_OACT_BACKUP;
		switch (r->reimport.state) {
		case IG_STEP_PENDING:
			return IG_OACT_REIMPORT_SEND;
		case IG_STEP_STARTED:
			return IG_OACT_REIMPORT_SEARCH;
		case IG_STEP_FOLLOWING:
			return IG_OACT_REIMPORT_FOLLOW;
		default:
			return IG_OACT_COMPLETE;
		}
	default: /* terminal, or outcome-unknown: an operator's */
		return IG_OACT_RELEASE;
	}
}

/* ---- building blocks (each returns 0, or -1 on allocation failure) ---- */

static int set(char **field, const char *s)
{
	return ig_obl_set_str(field, s);
}

static int audit_as(ig_obl_effect *fx, const char *event, const char *step, const char *error)
{
	fx->audit = event;
	fx->step = step;
	fx->error = error;
	return 0;
}

static int not_owed(ig_obl_record *r, const char *why, ig_obl_effect *fx)
{
	r->state = IG_OBLS_NOT_OWED;
	r->next_try_ms = 0;
	if (set(&r->note, why) < 0)
		return -1;
	return audit_as(fx, "obligation.not_owed", NULL, NULL);
}

static int due(ig_obl_record *r, ig_obl_effect *fx)
{
	r->state = IG_OBLS_DUE;
	r->next_try_ms = 0;
	r->attempts = 0;
	if (set(&r->last_error, NULL) < 0)
		return -1;
	return audit_as(fx, "obligation.step", "import-finished", NULL);
}

/* Parked for an operator, visible with its reason until dismissed. */
static int unknown(ig_obl_record *r, const char *reason, const char *why, const char *step, ig_obl_effect *fx)
{
	r->state = IG_OBLS_OUTCOME_UNKNOWN;
	r->next_try_ms = INT64_MAX;
	if (set(&r->reason, reason) < 0 || set(&r->note, why) < 0)
		return -1;
	return audit_as(fx, "obligation.failed", step, r->note);
}

static int following(ig_obl_record *r, const ig_obl_event *e)
{
	r->state = IG_OBLS_FOLLOWING;
	r->attempts = 0;
	r->next_try_ms = e->now_ms + e->poll_ms;
	return set(&r->last_error, NULL);
}

static bool ended(const char *status)
{
	return strcmp(status, "finished") == 0 || strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0;
}

/* A job's end (finished / failed / cancelled): due or nothing owed. */
static int job_ended(ig_obl_record *r, const ig_obl_event *e, ig_obl_effect *fx)
{
	char why[600];

	if (strcmp(e->status, "finished") == 0)
		return due(r, fx);
	snprintf(why, sizeof(why), "job %s %s%s%s", r->job_id ? r->job_id : "?", e->status,
	         e->message && *e->message ? ": " : "", e->message ? e->message : "");
	return not_owed(r, why, fx);
}

/* ---- awaiting-answer ---- */

static bool from_lightning(const ig_obl_record *r)
{
	return r->origin && strcmp(r->origin, IG_OBL_ORIGIN_LIGHTNING) == 0;
}

/*
 * A guarded Lightning run's record (docs/LIGHTNING.md): its answer is Lightning's exit.
 * Success makes the backup due, like an import that finished; the downstream run of the task
 * is parked for the operator (the engine runs SQL, not Lightning). A failure or a lost exit
 * is parked too, never "not owed": a physical import that failed half way may have ingested
 * part of its data, which no log backup holds.
 */
static int on_lightning_answer(ig_obl_record *r, const ig_obl_event *e, ig_obl_effect *fx)
{
	char why[700];

	switch (e->kind) {
	case IG_OEV_ANSWER_ERROR:
		snprintf(why, sizeof(why), "TiDB Lightning failed (%d %s): the table may hold part of the data, which "
		         "log backup did not record; rerun the guarded run (Lightning resumes from its checkpoint), or "
		         "take the backup by hand, then dismiss", e->err_code, e->message ? e->message : "");
		return unknown(r, IG_OBL_R_LIGHTNING_FAILED, why, "outcome", fx);
	case IG_OEV_ANSWER_LOST:
		return unknown(r, IG_OBL_R_LIGHTNING_UNKNOWN, "the guarded Lightning run ended before Lightning's exit was "
		               "recorded; check Lightning's log and checkpoint, carry the obligation out by hand, then "
		               "dismiss", "outcome", fx);
	case IG_OEV_ANSWER_OK:
	case IG_OEV_ANSWER_JOB:
		if (r->kinds & IG_OBL_REIMPORT_DOWNSTREAM) {
			snprintf(why, sizeof(why), "TiDB Lightning finished; run the same task against the downstream "
			         "cluster for %s.%s (%s), then dismiss", r->db ? r->db : "", r->table ? r->table : "",
			         r->statement ? r->statement : "");
			return unknown(r, IG_OBL_R_REIMPORT_BY_OPERATOR, why, "reimport", fx);
		}
		return due(r, fx);
	default:
		fx->applied = false;
		return 0;
	}
}

static int on_answer(ig_obl_record *r, const ig_obl_event *e, ig_obl_effect *fx)
{
	char why[700];
	const char *status = e->status ? e->status : "";

	if (from_lightning(r))
		return on_lightning_answer(r, e, fx);
	switch (e->kind) {
	case IG_OEV_ANSWER_ERROR:
		snprintf(why, sizeof(why), "the import failed: %d %s", e->err_code, e->message ? e->message : "");
		return not_owed(r, why, fx);
	case IG_OEV_ANSWER_OK:
		return due(r, fx);
	case IG_OEV_ANSWER_JOB:
		if (set(&r->job_id, e->job_id && *e->job_id ? e->job_id : NULL) < 0)
			return -1;
		if (!r->job_id) /* no job: an OK without a row is FROM SELECT's finish */
			return due(r, fx);
		if (ended(status)) {
			ig_obl_event x = *e;
			x.status = status;
			return job_ended(r, &x, fx);
		}
		if (following(r, e) < 0)
			return -1;
		return audit_as(fx, "obligation.step", "following-job", NULL);
	case IG_OEV_ANSWER_LOST:
		if (r->from_select)
			return unknown(r, IG_OBL_R_SELECT_LOST, "the answer to IMPORT INTO ... FROM SELECT was lost (no job "
			               "to look for); check the table, then dismiss or carry the obligation out by hand",
			               "outcome", fx);
		r->state = IG_OBLS_SEARCHING;
		r->next_try_ms = 0;
		return audit_as(fx, "obligation.step", "answer-lost", NULL);
	default:
		fx->applied = false;
		return 0;
	}
}

/* ---- searching / following (upstream) ---- */

static int failed_attempt(ig_obl_record *r, const ig_obl_event *e, const char *what, ig_obl_effect *fx)
{
	r->attempts++;
	r->next_try_ms = e->now_ms + ig_obl_backoff_ms(r->attempts);
	if (set(&r->last_error, e->message ? e->message : "?") < 0)
		return -1;
	return audit_as(fx, "obligation.failed", what, r->last_error);
}

static int on_search(ig_obl_record *r, const ig_obl_event *e, ig_obl_effect *fx)
{
	if (e->kind == IG_OEV_ATTEMPT_FAILED)
		return failed_attempt(r, e, "job-search", fx);
	if (e->kind != IG_OEV_SEARCH) {
		fx->applied = false;
		return 0;
	}
	if (e->matches == 1) {
		if (set(&r->job_id, e->job_id) < 0 || following(r, e) < 0)
			return -1;
		r->next_try_ms = 0;
		return audit_as(fx, "obligation.step", "job-found", NULL);
	}
	if (e->matches > 1)
		return unknown(r, IG_OBL_R_JOB_AMBIGUOUS, "the answer was lost and several import jobs match its "
		               "source, table, creator and time; check SHOW IMPORT JOBS, then dismiss or carry the "
		               "obligation out by hand", "job-search", fx);
	if (e->window_over)
		return unknown(r, IG_OBL_R_JOB_NOT_FOUND, "the answer was lost and no import job matching its "
		               "source, table, creator and time was found", "job-search", fx);
	r->next_try_ms = e->now_ms + (e->poll_ms < 2000 ? e->poll_ms : 2000);
	fx->quiet = true; /* looked, nothing yet: only when to look again changed */
	return 0;
}

static int on_follow(ig_obl_record *r, const ig_obl_event *e, ig_obl_effect *fx)
{
	switch (e->kind) {
	case IG_OEV_ATTEMPT_FAILED:
		return failed_attempt(r, e, "job-follow", fx);
	case IG_OEV_JOB_GONE:
		return unknown(r, IG_OBL_R_JOB_VANISHED, e->message ? e->message : "the job does not exist",
		               "job-follow", fx);
	case IG_OEV_JOB_STATUS:
		if (e->status && ended(e->status))
			return job_ended(r, e, fx);
		fx->quiet = r->attempts == 0 && !r->last_error; /* still running, nothing to clear */
		return following(r, e);
	default:
		fx->applied = false;
		return 0;
	}
}

/* ---- due: the steps ---- */

static int step_failed(ig_obl_record *r, ig_obl_step *s, const char *name, const ig_obl_event *e,
                       bool reset, ig_obl_effect *fx)
{
	s->attempts++;
	if (reset) { /* nothing ran (or the downstream job failed): owed again from scratch */
		s->state = IG_STEP_PENDING;
		if (set(&s->job_id, NULL) < 0)
			return -1;
	}
	r->next_try_ms = e->now_ms + ig_obl_backoff_ms(s->attempts);
	if (set(&s->last_error, e->message ? e->message : "?") < 0)
		return -1;
	return audit_as(fx, "obligation.failed", name, s->last_error);
}

static int step_done(ig_obl_record *r, ig_obl_step *s, const char *name, ig_obl_effect *fx)
{
	s->state = IG_STEP_DONE;
	r->next_try_ms = 0;
	if (set(&s->last_error, NULL) < 0)
		return -1;
	return audit_as(fx, "obligation.step", name, NULL);
}

/* The downstream job's row or status. */
static int reimport_job(ig_obl_record *r, ig_obl_step *s, const ig_obl_event *e, ig_obl_effect *fx)
{
	char msg[700];
	const char *status = e->status ? e->status : "";

	if (!e->job_id || !*e->job_id) /* FROM SELECT downstream: the OK is its end */
		return step_done(r, s, "reimport", fx);
	if (strcmp(status, "finished") == 0)
		return step_done(r, s, "reimport", fx);
	if (ended(status)) {
		ig_obl_event x = *e;
		snprintf(msg, sizeof(msg), "downstream job %s %s: %s", e->job_id, status, e->message ? e->message : "");
		x.message = msg;
		return step_failed(r, s, "reimport", &x, true, fx);
	}
	bool first = s->state != IG_STEP_FOLLOWING;
	fx->quiet = !first && s->job_id && strcmp(s->job_id, e->job_id) == 0; /* still running */
	s->state = IG_STEP_FOLLOWING;
	r->next_try_ms = e->now_ms + e->poll_ms;
	if (set(&s->job_id, e->job_id) < 0)
		return -1;
	return first ? audit_as(fx, "obligation.step", "reimport-sent", NULL) : 0;
}

static int reimport_search(ig_obl_record *r, ig_obl_step *s, const ig_obl_event *e, ig_obl_effect *fx)
{
	if (r->from_select)
		return unknown(r, IG_OBL_R_REIMPORT_UNCONFIRMABLE, "the downstream IMPORT INTO ... FROM SELECT may "
		               "have run before a restart and has no job to look for; check the downstream table, then "
		               "dismiss", "reimport", fx);
	if (e->wait) { /* the job may be another record's re-import: look again */
		r->next_try_ms = e->now_ms + e->poll_ms;
		fx->quiet = true;
		return 0;
	}
	if (e->matches > 1)
		return unknown(r, IG_OBL_R_REIMPORT_AMBIGUOUS, "the downstream re-import may have been sent and "
		               "several downstream jobs match it; check SHOW IMPORT JOBS there, then dismiss",
		               "reimport", fx);
	if (e->matches == 1) {
		s->state = IG_STEP_FOLLOWING;
		r->next_try_ms = 0;
		if (set(&s->job_id, e->job_id) < 0)
			return -1;
		return audit_as(fx, "obligation.step", "reimport-found", NULL);
	}
	s->state = IG_STEP_PENDING; /* it was not sent: send it (again) */
	r->next_try_ms = 0;
	return 0;
}

static int on_due(ig_obl_record *r, const ig_obl_event *e, ig_obl_effect *fx)
{
	const char *name = NULL;
	ig_obl_step *s = current_step(r, &name);

	if (!s) {
		if (e->kind != IG_OEV_COMPLETE) {
			fx->applied = false;
			return 0;
		}
		r->state = IG_OBLS_DONE;
		r->next_try_ms = 0;
		return audit_as(fx, "obligation.done", NULL, NULL);
	}
	switch (e->kind) {
	case IG_OEV_STEP_BEGIN:
		if (s->state != IG_STEP_PENDING)
			break;
		s->state = IG_STEP_STARTED;
		s->started_ms = e->now_ms;
		if (set(&s->target, e->target) < 0)
			return -1;
		/* audited before the statement is sent: a BACKUP that ran shows in the log even if
		 * the gateway dies before it can say it is done */
		return audit_as(fx, "obligation.step", s == &r->backup ? "backup-started" : "reimport-started", NULL);
	case IG_OEV_STEP_OK:
		if (s->state == IG_STEP_PENDING)
			break; /* a step is done only after it was recorded as started */
		return step_done(r, s, name, fx);
	case IG_OEV_STEP_FAILED:
		/* a backup is never reset: once begun, its next run is a rerun to the same URI */
		return step_failed(r, s, name, e, e->reset && s == &r->reimport, fx);
	case IG_OEV_REIMPORT_JOB:
		if (s != &r->reimport || s->state == IG_STEP_PENDING)
			break;
		return reimport_job(r, s, e, fx);
	case IG_OEV_REIMPORT_SEARCH:
		if (s != &r->reimport || s->state != IG_STEP_STARTED)
			break;
		return reimport_search(r, s, e, fx);
	default:
		break;
	}
	fx->applied = false;
	return 0;
}

int ig_obl_transition(ig_obl_record *r, const ig_obl_event *e, ig_obl_effect *fx)
{
	memset(fx, 0, sizeof(*fx));
	if (ig_obl_state_terminal(r->state))
		return 0; /* never reopened: every event is stale for it */
	fx->applied = true;
	if (e->kind == IG_OEV_DISMISS) {
		if (r->state == IG_OBLS_AWAITING_ANSWER) { /* the session still waits for TiDB's answer */
			fx->applied = false;
			return 0;
		}
		r->state = IG_OBLS_DISMISSED;
		r->next_try_ms = 0;
		if (set(&r->note, e->message ? e->message : "dismissed by an operator") < 0)
			return -1;
		return audit_as(fx, "obligation.dismissed", NULL, NULL);
	}
	switch (r->state) {
	case IG_OBLS_AWAITING_ANSWER:
		return on_answer(r, e, fx);
	case IG_OBLS_SEARCHING:
		return on_search(r, e, fx);
	case IG_OBLS_FOLLOWING:
		return on_follow(r, e, fx);
	case IG_OBLS_DUE:
		return on_due(r, e, fx);
	default: /* outcome-unknown: only an operator moves it */
		fx->applied = false;
		return 0;
	}
}

/* ---- job identity ---- */

int64_t ig_obl_parse_utc_ms(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!s || !strptime(s, "%Y-%m-%d %H:%M:%S", &tm))
		return 0;
	return (int64_t)timegm(&tm) * 1000;
}


/*
 * A location reduced to what both sides keep: TiDB shows ast.RedactURL(path) (Go's
 * url.String: the query's credentials masked, the path re-escaped), the record keeps our
 * own redaction. Both are cut at the query and the user info, then percent-decoded.
 */
static void location_key(const char *s, char *out, size_t outlen)
{
	const char *scheme = strstr(s, "://"), *p = s;
	size_t n = 0;

	if (scheme) {
		const char *auth = scheme + 3, *slash = strchr(auth, '/'), *at = strchr(auth, '@');
		if (at && (!slash || at < slash)) { /* scheme://user:pw@host/...: the user info goes */
			size_t k = (size_t)(auth - s);
			if (k >= outlen)
				k = outlen - 1;
			memcpy(out, s, k);
			n = k;
			p = at + 1;
		}
	}
	for (; *p && *p != '?' && n + 1 < outlen; p++) {
		if (*p == '%' && sql_hex_digit(p[1]) >= 0 && sql_hex_digit(p[2]) >= 0) {
			out[n++] = (char)(sql_hex_digit(p[1]) * 16 + sql_hex_digit(p[2]));
			p += 2;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
}

/* `db`.`tbl` with backticks doubled, as TiDB's utils.EncloseDBAndTable writes Target_Table. */
static void enclose(const char *db, const char *tbl, char *out, size_t outlen)
{
	size_t n = 0;
	const char *parts[2] = {db ? db : "", tbl ? tbl : ""};

	for (int i = 0; i < 2; i++) {
		if (i && n + 1 < outlen)
			out[n++] = '.';
		if (n + 1 < outlen)
			out[n++] = '`';
		for (const char *p = parts[i]; *p && n + 2 < outlen; p++) {
			if (*p == '`')
				out[n++] = '`';
			out[n++] = *p;
		}
		if (n + 1 < outlen)
			out[n++] = '`';
	}
	out[n] = '\0';
}

/* Created_By is the session's user as TiDB prints it, "name@host": the name is compared. */
static bool same_user(const char *created_by, const char *user)
{
	const char *at = strrchr(created_by, '@');
	size_t n = at ? (size_t)(at - created_by) : strlen(created_by);

	return strlen(user) == n && strncmp(created_by, user, n) == 0;
}

bool ig_obl_job_matches_until(const ig_obl_job_row *row, const char *db, const char *table, const char *source,
                              const char *user, int64_t since_ms, int64_t until_ms)
{
	char want[1200], a[4096], b[4096];
	int64_t t;

	if (!row->job_id || !row->target_table || !row->create_time)
		return false;
	enclose(db, table, want, sizeof(want));
	if (strcasecmp(row->target_table, want) != 0) /* names compare case-insensitively in TiDB */
		return false;
	t = ig_obl_parse_utc_ms(row->create_time);
	if (t == 0 || t < since_ms - IG_OBL_CLOCK_SLACK_MS || t > until_ms)
		return false;
	if (user && (!row->created_by || !same_user(row->created_by, user)))
		return false;
	if (source) {
		if (!row->data_source)
			return false;
		location_key(row->data_source, a, sizeof(a));
		location_key(source, b, sizeof(b));
		if (strcmp(a, b) != 0)
			return false;
	}
	return true;
}

bool ig_obl_job_matches(const ig_obl_job_row *row, const char *db, const char *table, const char *source,
                        const char *user, int64_t since_ms)
{
	return ig_obl_job_matches_until(row, db, table, source, user, since_ms,
	                                since_ms + IG_OBL_SEARCH_WINDOW_MS + IG_OBL_CLOCK_SLACK_MS);
}

static bool same_name(const char *a, const char *b)
{
	return a && b ? strcasecmp(a, b) == 0 : a == b; /* names compare case-insensitively in TiDB */
}

/* Locations as the search compares them (cut at the query and the user info, decoded); a
 * record without a source (an older gateway's) may be anything's. */
static bool same_location(const char *a, const char *b)
{
	char ka[4096], kb[4096];

	if (!a || !b)
		return true;
	location_key(a, ka, sizeof(ka));
	location_key(b, kb, sizeof(kb));
	return strcmp(ka, kb) == 0;
}

/* Two search windows [c - slack, c + window + slack] overlap. */
static bool windows_overlap(int64_t c1, int64_t c2)
{
	int64_t d = c1 - c2;

	return d >= -(IG_OBL_SEARCH_WINDOW_MS + 2 * IG_OBL_CLOCK_SLACK_MS) &&
	       d <= IG_OBL_SEARCH_WINDOW_MS + 2 * IG_OBL_CLOCK_SLACK_MS;
}

bool ig_obl_may_share_job(const ig_obl_record *other, const ig_obl_record *r)
{
	if (other->state != IG_OBLS_AWAITING_ANSWER || strcmp(other->id, r->id) == 0 || other->from_select)
		return false;
	if (!windows_overlap(other->created_ms, r->created_ms))
		return false;
	if (!same_name(other->db, r->db) || !same_name(other->table, r->table))
		return false;
	return same_location(other->source, r->source) && (!other->user || !r->user || strcmp(other->user, r->user) == 0);
}

bool ig_obl_may_share_downstream_job(const ig_obl_record *other, const ig_obl_record *r)
{
	const ig_obl_step *o = &other->reimport, *s = &r->reimport;

	if (strcmp(other->id, r->id) == 0 || other->state != IG_OBLS_DUE || o->state != IG_STEP_STARTED ||
	    o->job_id || other->from_select)
		return false;
	if (o->started_ms > s->started_ms || (o->started_ms == s->started_ms && strcmp(other->id, r->id) > 0))
		return false; /* the younger waits for the older, never the reverse */
	return same_name(other->db, r->db) && same_name(other->table, r->table) &&
	       same_location(other->source, r->source);
}
