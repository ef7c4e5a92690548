/*
 * test_obllife.c - the obligation's transition function (policy/obllife.c): the table
 * (each state with the events that move it, and the ones that must not), terminal records
 * never reopened by any event, job identity after a lost answer; and every interleaving of
 * a live holder with a second replica that read a copy earlier, on a model of the store's
 * compare-and-swap (the contract of store/oblstore.h, which both backends implement), plus
 * the same on the real file store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/decide.h"
#include "policy/obllife.h"
#include "store/oblstore.h"

#define T0 1700000000000LL

static void mk(ig_obl_record *r, ig_obl_state st, unsigned kinds)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%032x", 7);
	r->state = st;
	r->kinds = kinds;
	r->db = strdup("shop");
	r->table = strdup("t");
	r->statement = strdup("IMPORT INTO t FROM 's3://b/t.csv'");
	r->user = strdup("etl");
	r->source = strdup("s3://b/t.csv");
	r->created_ms = T0;
	r->backup.state = kinds & IG_OBL_SNAPSHOT_AFTER_IMPORT ? IG_STEP_PENDING : IG_STEP_NONE;
	r->reimport.state = kinds & IG_OBL_REIMPORT_DOWNSTREAM ? IG_STEP_PENDING : IG_STEP_NONE;
}

static ig_obl_event ev(ig_obl_ev_kind k)
{
	return (ig_obl_event){.kind = k, .now_ms = T0 + 1000, .poll_ms = 200};
}

static ig_obl_effect go(ig_obl_record *r, ig_obl_event e)
{
	ig_obl_effect fx;

	assert_int_equal(ig_obl_transition(r, &e, &fx), 0);
	return fx;
}

#define BOTH (IG_OBL_SNAPSHOT_AFTER_IMPORT | IG_OBL_REIMPORT_DOWNSTREAM)

/* ---- the table ---- */

static void test_answers(void **state)
{
	ig_obl_record r;
	ig_obl_event e;
	ig_obl_effect fx;

	(void)state;
	mk(&r, IG_OBLS_AWAITING_ANSWER, BOTH);
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_WAIT);
	e = ev(IG_OEV_ANSWER_JOB);
	e.job_id = "17";
	e.status = "running";
	fx = go(&r, e);
	assert_true(fx.applied);
	assert_int_equal(r.state, IG_OBLS_FOLLOWING);
	assert_string_equal(r.job_id, "17");
	assert_string_equal(fx.step, "following-job");
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_FOLLOW_JOB);
	/* a repeated answer does not apply any more */
	assert_false(go(&r, e).applied);
	e = ev(IG_OEV_JOB_STATUS);
	e.status = "finished";
	fx = go(&r, e);
	assert_int_equal(r.state, IG_OBLS_DUE);
	assert_string_equal(fx.step, "import-finished");
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_BACKUP);
	ig_obl_record_free(&r);

	mk(&r, IG_OBLS_AWAITING_ANSWER, BOTH);
	e = ev(IG_OEV_ANSWER_ERROR);
	e.err_code = 1105;
	e.message = "boom";
	fx = go(&r, e);
	assert_int_equal(r.state, IG_OBLS_NOT_OWED);
	assert_string_equal(fx.audit, "obligation.not_owed");
	assert_non_null(strstr(r.note, "1105 boom"));
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_RELEASE);
	ig_obl_record_free(&r);

	mk(&r, IG_OBLS_AWAITING_ANSWER, BOTH);
	e = ev(IG_OEV_ANSWER_JOB);
	e.job_id = "3";
	e.status = "failed";
	e.message = "bad file";
	go(&r, e);
	assert_int_equal(r.state, IG_OBLS_NOT_OWED);
	assert_string_equal(r.note, "job 3 failed: bad file");
	ig_obl_record_free(&r);

	mk(&r, IG_OBLS_AWAITING_ANSWER, BOTH); /* FROM SELECT: an OK without a job */
	e = ev(IG_OEV_ANSWER_JOB);
	e.job_id = "";
	go(&r, e);
	assert_int_equal(r.state, IG_OBLS_DUE);
	ig_obl_record_free(&r);
}

static void test_lost_answer_search(void **state)
{
	ig_obl_record r;
	ig_obl_event e;
	ig_obl_effect fx;

	(void)state;
	mk(&r, IG_OBLS_AWAITING_ANSWER, IG_OBL_SNAPSHOT_AFTER_IMPORT);
	fx = go(&r, ev(IG_OEV_ANSWER_LOST));
	assert_int_equal(r.state, IG_OBLS_SEARCHING);
	assert_string_equal(fx.step, "answer-lost");
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_SEARCH_JOB);
	e = ev(IG_OEV_SEARCH); /* nothing yet, window open: look again */
	fx = go(&r, e);
	assert_true(fx.applied);
	assert_null(fx.audit);
	assert_int_equal(r.state, IG_OBLS_SEARCHING);
	assert_int_equal(r.next_try_ms, e.now_ms + 200);
	e = ev(IG_OEV_ATTEMPT_FAILED);
	e.message = "refused";
	fx = go(&r, e);
	assert_int_equal(r.attempts, 1);
	assert_string_equal(fx.audit, "obligation.failed");
	e = ev(IG_OEV_SEARCH);
	e.matches = 1;
	e.job_id = "9";
	fx = go(&r, e);
	assert_int_equal(r.state, IG_OBLS_FOLLOWING);
	assert_string_equal(r.job_id, "9");
	assert_string_equal(fx.step, "job-found");
	ig_obl_record_free(&r);

	/* several match: failed and visible, never one picked */
	mk(&r, IG_OBLS_SEARCHING, IG_OBL_SNAPSHOT_AFTER_IMPORT);
	e = ev(IG_OEV_SEARCH);
	e.matches = 2;
	e.job_id = "9";
	fx = go(&r, e);
	assert_int_equal(r.state, IG_OBLS_OUTCOME_UNKNOWN);
	assert_string_equal(r.reason, IG_OBL_R_JOB_AMBIGUOUS);
	assert_null(r.job_id);
	assert_string_equal(fx.audit, "obligation.failed");
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_RELEASE);
	ig_obl_record_free(&r);

	/* none when the window is over */
	mk(&r, IG_OBLS_SEARCHING, IG_OBL_SNAPSHOT_AFTER_IMPORT);
	e = ev(IG_OEV_SEARCH);
	e.window_over = true;
	go(&r, e);
	assert_int_equal(r.state, IG_OBLS_OUTCOME_UNKNOWN);
	assert_string_equal(r.reason, IG_OBL_R_JOB_NOT_FOUND);
	ig_obl_record_free(&r);

	/* FROM SELECT has no job to look for */
	mk(&r, IG_OBLS_AWAITING_ANSWER, IG_OBL_SNAPSHOT_AFTER_IMPORT);
	r.from_select = true;
	go(&r, ev(IG_OEV_ANSWER_LOST));
	assert_int_equal(r.state, IG_OBLS_OUTCOME_UNKNOWN);
	assert_string_equal(r.reason, IG_OBL_R_SELECT_LOST);
	ig_obl_record_free(&r);

	/* the followed job vanished */
	mk(&r, IG_OBLS_FOLLOWING, IG_OBL_SNAPSHOT_AFTER_IMPORT);
	e = ev(IG_OEV_JOB_GONE);
	e.message = "Job ID 9 doesn't exist";
	go(&r, e);
	assert_int_equal(r.state, IG_OBLS_OUTCOME_UNKNOWN);
	assert_string_equal(r.reason, IG_OBL_R_JOB_VANISHED);
	ig_obl_record_free(&r);
}

static void test_steps(void **state)
{
	ig_obl_record r;
	ig_obl_event e;
	ig_obl_effect fx;

	(void)state;
	mk(&r, IG_OBLS_DUE, BOTH);
	/* a step is never done before it was recorded as started */
	assert_false(go(&r, ev(IG_OEV_STEP_OK)).applied);
	e = ev(IG_OEV_STEP_BEGIN);
	e.target = "s3://bk/shop/t/17";
	fx = go(&r, e);
	assert_true(fx.applied);
	assert_string_equal(fx.step, "backup-started"); /* audited before the BACKUP is sent */
	assert_int_equal(r.backup.state, IG_STEP_STARTED);
	assert_string_equal(r.backup.target, "s3://bk/shop/t/17");
	assert_int_equal(r.backup.started_ms, e.now_ms);
	assert_false(go(&r, e).applied); /* begun once */
	e = ev(IG_OEV_STEP_FAILED);
	e.message = "BR failed";
	e.reset = true; /* a backup is never reset: its next run is a rerun to the same URI */
	fx = go(&r, e);
	assert_int_equal(r.backup.state, IG_STEP_STARTED);
	assert_int_equal(r.backup.attempts, 1);
	assert_int_equal(r.next_try_ms, e.now_ms + 1000);
	assert_string_equal(fx.step, "backup");
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_BACKUP);
	fx = go(&r, ev(IG_OEV_STEP_OK));
	assert_int_equal(r.backup.state, IG_STEP_DONE);
	assert_null(r.backup.last_error);
	assert_string_equal(fx.step, "backup");
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_REIMPORT_SEND);

	e = ev(IG_OEV_STEP_BEGIN);
	e.target = "down:4000";
	go(&r, e);
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_REIMPORT_SEARCH); /* started, no job id */
	e = ev(IG_OEV_STEP_FAILED); /* nothing was sent */
	e.reset = true;
	e.message = "refused";
	go(&r, e);
	assert_int_equal(r.reimport.state, IG_STEP_PENDING);
	e = ev(IG_OEV_STEP_BEGIN);
	e.target = "down:4000";
	go(&r, e);
	e = ev(IG_OEV_REIMPORT_JOB);
	e.job_id = "501";
	e.status = "pending";
	fx = go(&r, e);
	assert_int_equal(r.reimport.state, IG_STEP_FOLLOWING);
	assert_string_equal(fx.step, "reimport-sent");
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_REIMPORT_FOLLOW);
	e.status = "running";
	fx = go(&r, e);
	assert_null(fx.audit);
	e.status = "failed"; /* the downstream job failed: owed again from scratch */
	e.message = "x";
	go(&r, e);
	assert_int_equal(r.reimport.state, IG_STEP_PENDING);
	assert_null(r.reimport.job_id);
	e = ev(IG_OEV_STEP_BEGIN);
	e.target = "down:4000";
	go(&r, e);
	e = ev(IG_OEV_REIMPORT_SEARCH); /* found started after a crash: its job was found */
	e.matches = 1;
	e.job_id = "502";
	fx = go(&r, e);
	assert_string_equal(fx.step, "reimport-found");
	e = ev(IG_OEV_REIMPORT_JOB);
	e.job_id = "502";
	e.status = "finished";
	go(&r, e);
	assert_int_equal(r.reimport.state, IG_STEP_DONE);
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_COMPLETE);
	fx = go(&r, ev(IG_OEV_COMPLETE));
	assert_int_equal(r.state, IG_OBLS_DONE);
	assert_string_equal(fx.audit, "obligation.done");
	ig_obl_record_free(&r);

	/* a re-import found started with several candidate jobs downstream: parked */
	mk(&r, IG_OBLS_DUE, IG_OBL_REIMPORT_DOWNSTREAM);
	r.reimport.state = IG_STEP_STARTED;
	e = ev(IG_OEV_REIMPORT_SEARCH);
	e.matches = 2;
	go(&r, e);
	assert_int_equal(r.state, IG_OBLS_OUTCOME_UNKNOWN);
	assert_string_equal(r.reason, IG_OBL_R_REIMPORT_AMBIGUOUS);
	ig_obl_record_free(&r);
	/* ... none: sent again */
	mk(&r, IG_OBLS_DUE, IG_OBL_REIMPORT_DOWNSTREAM);
	r.reimport.state = IG_STEP_STARTED;
	go(&r, ev(IG_OEV_REIMPORT_SEARCH));
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_REIMPORT_SEND);
	ig_obl_record_free(&r);
	/* ... FROM SELECT: cannot be confirmed */
	mk(&r, IG_OBLS_DUE, IG_OBL_REIMPORT_DOWNSTREAM);
	r.reimport.state = IG_STEP_STARTED;
	r.from_select = true;
	go(&r, ev(IG_OEV_REIMPORT_SEARCH));
	assert_string_equal(r.reason, IG_OBL_R_REIMPORT_UNCONFIRMABLE);
	ig_obl_record_free(&r);
}

static void test_dismiss(void **state)
{
	ig_obl_record r;
	ig_obl_event e = ev(IG_OEV_DISMISS);

	(void)state;
	e.message = "dismissed by an operator";
	mk(&r, IG_OBLS_AWAITING_ANSWER, BOTH);
	assert_false(go(&r, e).applied); /* the session still waits for the answer */
	ig_obl_record_free(&r);
	mk(&r, IG_OBLS_OUTCOME_UNKNOWN, BOTH);
	assert_string_equal(go(&r, e).audit, "obligation.dismissed");
	assert_int_equal(r.state, IG_OBLS_DISMISSED);
	ig_obl_record_free(&r);
}

/* No event of any kind moves a terminal record, and outcome-unknown moves only by dismissal. */
static void test_terminal_never_reopened(void **state)
{
	const ig_obl_state terms[] = {IG_OBLS_DONE, IG_OBLS_NOT_OWED, IG_OBLS_DISMISSED, IG_OBLS_OUTCOME_UNKNOWN};

	(void)state;
	for (size_t t = 0; t < sizeof(terms) / sizeof(*terms); t++) {
		for (int k = IG_OEV_ANSWER_ERROR; k <= IG_OEV_DISMISS; k++) {
			ig_obl_record r;
			ig_obl_event e = ev((ig_obl_ev_kind)k);
			e.job_id = "1";
			e.status = "finished";
			e.matches = 1;
			e.target = "x";
			mk(&r, terms[t], BOTH);
			ig_obl_effect fx = go(&r, e);
			if (terms[t] == IG_OBLS_OUTCOME_UNKNOWN && k == IG_OEV_DISMISS) {
				assert_true(fx.applied);
			} else {
				assert_false(fx.applied);
				assert_int_equal(r.state, terms[t]);
				assert_int_equal(r.backup.state, IG_STEP_PENDING);
			}
			ig_obl_record_free(&r);
		}
	}
}

/* ---- job identity ---- */

static void test_job_matches(void **state)
{
	ig_obl_job_row row = {
		.job_id = "5", .data_source = "s3://b/t.csv?access-key=xxxxxx", .target_table = "`shop`.`t`",
		.create_time = "2023-11-14 22:13:21", .created_by = "etl@%",
	};
	int64_t since = ig_obl_parse_utc_ms("2023-11-14 22:13:20");

	(void)state;
	assert_true(since > 0);
	assert_true(ig_obl_job_matches(&row, "shop", "t", "s3://b/t.csv?access-key=redacted", "etl", since));
	/* percent-encoding and user info do not matter; the path does */
	row.data_source = "s3://ak:xxxxx@b/t%2Ecsv";
	assert_true(ig_obl_job_matches(&row, "shop", "t", "s3://b/t.csv", "etl", since));
	assert_false(ig_obl_job_matches(&row, "shop", "t", "s3://b/u.csv", "etl", since));
	row.data_source = "s3://b/t.csv";
	assert_false(ig_obl_job_matches(&row, "shop", "t", "s3://b/t.csv", "other", since)); /* creator */
	assert_false(ig_obl_job_matches(&row, "shop", "t2", "s3://b/t.csv", "etl", since));  /* table */
	assert_true(ig_obl_job_matches(&row, "SHOP", "T", "s3://b/t.csv", "etl", since));
	assert_false(ig_obl_job_matches(&row, "shop", "t", "s3://b/t.csv", "etl", since + 10000)); /* before */
	assert_false(ig_obl_job_matches(&row, "shop", "t", "s3://b/t.csv", "etl", since - 60000)); /* long after */
	assert_true(ig_obl_job_matches(&row, "shop", "t", NULL, NULL, since)); /* an older record */
	row.target_table = "`sh``op`.`t`";
	assert_true(ig_obl_job_matches(&row, "sh`op", "t", "s3://b/t.csv", "etl", since));
	row.create_time = "garbage";
	assert_false(ig_obl_job_matches(&row, "sh`op", "t", "s3://b/t.csv", "etl", since));
}

/* ---- interleavings on a model of the store's compare-and-swap ---- */

/* One record in the store: its version, revision and the replica holding its claim. */
typedef struct model {
	ig_obl_record rec;
	int64_t rev;
	int holder;       /* 0 none, else replica number */
	int backups_sent; /* BACKUP statements that reached TiDB */
	int reopened;     /* writes that took a terminal record out of its end */
} model;

typedef struct replica {
	int me;
	ig_obl_record copy;
	bool has_copy, owns, done;
	int sent;
} replica;

typedef enum { OP_READ, OP_CLAIM, OP_WORK, OP_EXPIRE } op_kind;

static void m_read(model *m, replica *p)
{
	if (p->has_copy)
		ig_obl_record_free(&p->copy);
	assert_int_equal(ig_obl_record_copy(&p->copy, &m->rec), 0);
	p->copy.rev = m->rev;
	p->has_copy = true;
}

/* The store's contract: claim only an unheld record still at the revision read. */
static void m_claim(model *m, replica *p)
{
	if (!p->has_copy || p->owns || ig_obl_state_terminal(p->copy.state) ||
	    p->copy.state == IG_OBLS_OUTCOME_UNKNOWN)
		return; /* as the scan: finished and parked records are not claimed */
	if (m->holder == 0 && m->rev == p->copy.rev)
		m->holder = p->me, p->owns = true;
	else
		m_read(m, p); /* stale or held: re-read */
}

/* advance / finish: only at the revision read, only by the holder. */
static bool m_write(model *m, replica *p, const ig_obl_event *e)
{
	ig_obl_record next;
	ig_obl_effect fx;

	assert_int_equal(ig_obl_record_copy(&next, &p->copy), 0);
	assert_int_equal(ig_obl_transition(&next, e, &fx), 0);
	if (!fx.applied) {
		ig_obl_record_free(&next);
		return true;
	}
	if (m->rev != p->copy.rev || m->holder != p->me) {
		ig_obl_record_free(&next);
		p->owns = false;
		m_read(m, p);
		return false;
	}
	if (ig_obl_state_terminal(m->rec.state) && !ig_obl_state_terminal(next.state))
		m->reopened++;
	ig_obl_record_free(&m->rec);
	assert_int_equal(ig_obl_record_copy(&m->rec, &next), 0);
	m->rev++;
	if (ig_obl_action_of(&next) == IG_OACT_RELEASE)
		m->holder = 0, p->owns = false;
	ig_obl_record_free(&p->copy);
	p->copy = next;
	p->copy.rev = m->rev;
	return true;
}

/* The action the copy calls for, as proxy/obligations.c work() does it; TiDB answers OK. */
static void m_work(model *m, replica *p)
{
	ig_obl_event e;

	if (!p->owns)
		return;
	switch (ig_obl_action_of(&p->copy)) {
	case IG_OACT_FOLLOW_JOB:
		e = ev(IG_OEV_JOB_STATUS);
		e.status = "finished";
		m_write(m, p, &e);
		return;
	case IG_OACT_SEARCH_JOB:
		e = ev(IG_OEV_SEARCH);
		e.matches = 1;
		e.job_id = "7";
		m_write(m, p, &e);
		return;
	case IG_OACT_BACKUP:
		if (p->copy.backup.state == IG_STEP_PENDING) {
			e = ev(IG_OEV_STEP_BEGIN);
			e.target = "s3://bk/7";
			if (!m_write(m, p, &e))
				return; /* stale: nothing is sent */
		}
		m->backups_sent++;
		p->sent++;
		e = ev(IG_OEV_STEP_OK);
		m_write(m, p, &e);
		return;
	case IG_OACT_COMPLETE:
		e = ev(IG_OEV_COMPLETE);
		m_write(m, p, &e);
		return;
	case IG_OACT_WAIT: /* the creator (1) waits; another claimed it: its gateway died first */
		if (p->me == 1)
			return;
		e = ev(IG_OEV_ANSWER_LOST);
		m_write(m, p, &e);
		return;
	default:
		return;
	}
}

static void m_op(model *m, replica *p, op_kind op)
{
	switch (op) {
	case OP_READ:
		m_read(m, p);
		break;
	case OP_CLAIM:
		m_claim(m, p);
		break;
	case OP_WORK:
		m_work(m, p);
		break;
	case OP_EXPIRE: /* p's lease ends: etcd deletes its claim key */
		if (m->holder == p->me)
			m->holder = 0;
		break;
	}
}

typedef struct scenario {
	const char *name;
	ig_obl_state start;
	const char *job_id;
	ig_obl_step_state backup;
	int backups_before;        /* sent by the holder before the scenario starts */
	op_kind holder[8];
	size_t nholder;
	op_kind other[8];
	size_t nother;
	ig_obl_state end;          /* where the record must end */
	int backups_total;         /* BACKUP statements sent in all */
} scenario;

/* Runs one interleaving (bit i of mask: step i is the holder's), then lets both replicas go
 * on as later scans would (re-read, claim, work) until nothing moves; checks the end. */
static void run_interleaving(const scenario *s, unsigned mask, size_t len)
{
	model m = {0};
	replica h = {.me = 1}, o = {.me = 2};
	size_t hi = 0, oi = 0;

	mk(&m.rec, s->start, IG_OBL_SNAPSHOT_AFTER_IMPORT);
	if (s->job_id)
		m.rec.job_id = strdup(s->job_id);
	m.rec.backup.state = s->backup;
	if (s->backup == IG_STEP_STARTED)
		m.rec.backup.target = strdup("s3://bk/7");
	m.rev = 1;
	m.holder = 1;
	m.backups_sent = s->backups_before;
	m_read(&m, &h);
	h.owns = true;
	for (size_t i = 0; i < len; i++) {
		if (mask & (1u << i))
			m_op(&m, &h, s->holder[hi++]);
		else
			m_op(&m, &o, s->other[oi++]);
	}
	for (int round = 0; round < 12; round++) { /* later scans of both */
		replica *ps[2] = {&o, &h};
		for (int k = 0; k < 2; k++) {
			if (!ps[k]->owns) {
				m_read(&m, ps[k]);
				m_claim(&m, ps[k]);
			}
			m_work(&m, ps[k]);
		}
	}
	if (m.rec.state != s->end || m.backups_sent != s->backups_total || m.reopened) {
		fprintf(stderr, "%s, interleaving %#x: state %s (want %s), backups %d (want %d), reopened %d\n",
		        s->name, mask, ig_obl_state_name(m.rec.state), ig_obl_state_name(s->end), m.backups_sent,
		        s->backups_total, m.reopened);
		fail();
	}
	ig_obl_record_free(&m.rec);
	if (h.has_copy)
		ig_obl_record_free(&h.copy);
	if (o.has_copy)
		ig_obl_record_free(&o.copy);
}

/* Every interleaving of the holder's steps with the other replica's. */
static void run_all(const scenario *s)
{
	size_t len = s->nholder + s->nother;
	int runs = 0;

	for (unsigned mask = 0; mask < (1u << len); mask++) {
		if ((size_t)__builtin_popcount(mask) != s->nholder)
			continue;
		run_interleaving(s, mask, len);
		runs++;
	}
	assert_true(runs > 1);
}

static void test_interleavings(void **state)
{
	const scenario sc[] = {
		/* The case: the other replica lists while the holder follows the job, backs
		 * it up and finishes (releasing its claim); the other's claim on its old copy must
		 * fail, and it must not run the backup again. */
		{"following, holder finishes", IG_OBLS_FOLLOWING, "7", IG_STEP_PENDING, 0,
		 {OP_WORK, OP_WORK, OP_WORK}, 3, {OP_READ, OP_CLAIM, OP_WORK, OP_WORK, OP_WORK}, 5, IG_OBLS_DONE, 1},
		/* a record listed as due (backup done) and completed in between: not redone */
		{"due, holder completes", IG_OBLS_DUE, "7", IG_STEP_DONE, 0,
		 {OP_WORK}, 1, {OP_READ, OP_CLAIM, OP_WORK, OP_WORK}, 4, IG_OBLS_DONE, 0},
		/* the holder's lease expires after it followed the job: the other takes over; the
		 * holder's later writes (begin the backup) fail, so it sends nothing; one backup */
		{"holder's lease expires", IG_OBLS_FOLLOWING, "7", IG_STEP_PENDING, 0,
		 {OP_WORK, OP_EXPIRE, OP_WORK, OP_WORK}, 4, {OP_READ, OP_CLAIM, OP_WORK, OP_WORK, OP_WORK}, 5,
		 IG_OBLS_DONE, 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(sc) / sizeof(*sc); i++)
		run_all(&sc[i]);
}

/* The answer-error case above never finishes by itself (the holder waits for its answer);
 * this one delivers the answer as the holder's step and checks the end is not-owed, in
 * every order with the other replica's read / claim / work. */
static void test_interleaving_not_owed(void **state)
{
	(void)state;
	for (unsigned pos = 0; pos <= 3; pos++) {
		model m = {0};
		replica h = {.me = 1}, o = {.me = 2};
		op_kind other[3] = {OP_READ, OP_CLAIM, OP_WORK};
		mk(&m.rec, IG_OBLS_AWAITING_ANSWER, IG_OBL_SNAPSHOT_AFTER_IMPORT);
		m.rev = 1;
		m.holder = 1;
		m_read(&m, &h);
		h.owns = true;
		for (unsigned i = 0; i <= 3; i++) {
			if (i == pos) {
				ig_obl_event e = ev(IG_OEV_ANSWER_ERROR);
				e.err_code = 1105;
				e.message = "refused by TiDB";
				assert_true(m_write(&m, &h, &e));
			}
			if (i < 3)
				m_op(&m, &o, other[i]);
		}
		m_read(&m, &o);
		m_claim(&m, &o);
		m_work(&m, &o);
		assert_int_equal(m.rec.state, IG_OBLS_NOT_OWED);
		assert_int_equal(m.reopened, 0);
		assert_int_equal(m.holder, 0);
		ig_obl_record_free(&m.rec);
		ig_obl_record_free(&h.copy);
		ig_obl_record_free(&o.copy);
	}
}

/* ---- the same contract on the file store ---- */

/* A poll that learns nothing new is quiet (nothing written); one that clears an error, finds
 * a job or sees a change is not. Quiet results still say when to look again. */
static void test_quiet_polls(void **state)
{
	ig_obl_record r;
	ig_obl_event e;
	ig_obl_effect fx;

	(void)state;
	mk(&r, IG_OBLS_AWAITING_ANSWER, BOTH);
	fx = go(&r, ev(IG_OEV_ANSWER_LOST));
	assert_false(fx.quiet);
	e = ev(IG_OEV_SEARCH); /* nothing yet */
	fx = go(&r, e);
	assert_true(fx.applied);
	assert_true(fx.quiet);
	assert_int_equal(r.next_try_ms, e.now_ms + 200);
	e = ev(IG_OEV_SEARCH);
	e.matches = 1;
	e.job_id = "4";
	fx = go(&r, e);
	assert_false(fx.quiet); /* found: written */
	e = ev(IG_OEV_JOB_STATUS);
	e.status = "running";
	e.now_ms += 5000;
	fx = go(&r, e);
	assert_true(fx.applied);
	assert_true(fx.quiet);
	assert_int_equal(r.next_try_ms, e.now_ms + 200);
	e = ev(IG_OEV_ATTEMPT_FAILED);
	e.message = "refused";
	fx = go(&r, e);
	assert_false(fx.quiet); /* a failure is kept */
	e = ev(IG_OEV_JOB_STATUS);
	e.status = "running";
	fx = go(&r, e);
	assert_false(fx.quiet); /* clears the failure: written */
	assert_null(r.last_error);
	e = ev(IG_OEV_JOB_STATUS);
	e.status = "finished";
	fx = go(&r, e);
	assert_false(fx.quiet);
	assert_int_equal(r.state, IG_OBLS_DUE);
	/* the backup, then the downstream job followed */
	e = ev(IG_OEV_STEP_BEGIN);
	e.target = "s3://b/x";
	assert_false(go(&r, e).quiet);
	assert_false(go(&r, ev(IG_OEV_STEP_OK)).quiet);
	e = ev(IG_OEV_STEP_BEGIN);
	e.target = "down:4000";
	assert_false(go(&r, e).quiet);
	e = ev(IG_OEV_REIMPORT_JOB);
	e.job_id = "30";
	e.status = "running";
	assert_false(go(&r, e).quiet); /* the job id is news */
	fx = go(&r, e);
	assert_true(fx.applied);
	assert_true(fx.quiet);
	e.job_id = "31"; /* a different job is news */
	assert_false(go(&r, e).quiet);
	ig_obl_record_free(&r);
}

/* A record awaiting its answer may own the job a lost answer's record finds: same table
 * (names fold case), source and user, created within the search window. */
static void test_may_share_job(void **state)
{
	ig_obl_record a, r;

	(void)state;
	mk(&r, IG_OBLS_SEARCHING, IG_OBL_SNAPSHOT_AFTER_IMPORT);
	mk(&a, IG_OBLS_AWAITING_ANSWER, IG_OBL_SNAPSHOT_AFTER_IMPORT);
	snprintf(a.id, sizeof(a.id), "%032x", 8);
	assert_true(ig_obl_may_share_job(&a, &r));
	assert_false(ig_obl_may_share_job(&r, &r)); /* itself */
	free(a.table);
	a.table = strdup("T");
	assert_true(ig_obl_may_share_job(&a, &r));
	a.created_ms = r.created_ms + IG_OBL_SEARCH_WINDOW_MS + 2 * IG_OBL_CLOCK_SLACK_MS;
	assert_true(ig_obl_may_share_job(&a, &r)); /* the two windows still overlap */
	a.created_ms = r.created_ms + IG_OBL_SEARCH_WINDOW_MS + 2 * IG_OBL_CLOCK_SLACK_MS + 1;
	assert_false(ig_obl_may_share_job(&a, &r)); /* outside the window */
	a.created_ms = r.created_ms - 1000;
	assert_true(ig_obl_may_share_job(&a, &r));
	free(a.source);
	a.source = strdup("s3://b/other.csv");
	assert_false(ig_obl_may_share_job(&a, &r)); /* another file */
	free(a.source);
	a.source = NULL; /* an older gateway's record: it may be anything's */
	assert_true(ig_obl_may_share_job(&a, &r));
	free(a.user);
	a.user = strdup("other");
	assert_false(ig_obl_may_share_job(&a, &r));
	free(a.user);
	a.user = strdup("etl");
	a.state = IG_OBLS_FOLLOWING; /* it has its answer: its job id says whose the job is */
	assert_false(ig_obl_may_share_job(&a, &r));
	a.state = IG_OBLS_AWAITING_ANSWER;
	free(a.db);
	a.db = strdup("other");
	assert_false(ig_obl_may_share_job(&a, &r));
	ig_obl_record_free(&a);
	ig_obl_record_free(&r);
}

/* A downstream job found by a re-import search may be an older record's re-import still
 * running (started, no job id yet): the younger waits (a quiet poll), never the older. */
static void test_may_share_downstream_job(void **state)
{
	ig_obl_record a, r;
	ig_obl_event e;
	ig_obl_effect fx;

	(void)state;
	mk(&r, IG_OBLS_DUE, IG_OBL_REIMPORT_DOWNSTREAM);
	mk(&a, IG_OBLS_DUE, IG_OBL_REIMPORT_DOWNSTREAM);
	snprintf(a.id, sizeof(a.id), "%032x", 8);
	a.reimport.state = r.reimport.state = IG_STEP_STARTED;
	a.reimport.started_ms = T0 + 1000;
	r.reimport.started_ms = T0 + 2000;
	assert_true(ig_obl_may_share_downstream_job(&a, &r));  /* a is older: r waits */
	assert_false(ig_obl_may_share_downstream_job(&r, &a)); /* never both ways */
	r.reimport.started_ms = a.reimport.started_ms;          /* a tie: the smaller id is older */
	assert_true(ig_obl_may_share_downstream_job(&a, &r) != ig_obl_may_share_downstream_job(&r, &a));
	a.reimport.job_id = strdup("501"); /* its job is known: the view's taken check applies */
	assert_false(ig_obl_may_share_downstream_job(&a, &r));
	free(a.reimport.job_id);
	a.reimport.job_id = NULL;
	free(a.source);
	a.source = strdup("s3://b/other.csv");
	assert_false(ig_obl_may_share_downstream_job(&a, &r));
	free(a.source);
	a.source = strdup("s3://user:pw@b/t.csv?x=1"); /* the same location as the search compares it */
	assert_true(ig_obl_may_share_downstream_job(&a, &r) || ig_obl_may_share_downstream_job(&r, &a));
	/* the transition: a wait is a quiet look-again, not a resend */
	e = ev(IG_OEV_REIMPORT_SEARCH);
	e.matches = 1;
	e.job_id = "501";
	e.wait = true;
	fx = go(&r, e);
	assert_true(fx.applied);
	assert_true(fx.quiet);
	assert_int_equal(r.reimport.state, IG_STEP_STARTED);
	assert_int_equal(r.next_try_ms, e.now_ms + e.poll_ms);
	ig_obl_record_free(&a);
	ig_obl_record_free(&r);
}

static void test_file_store_cas(void **state)
{
	char dir[64] = "/tmp/obllife-test-XXXXXX", path[128], p2[160], err[256];
	ig_oblstore *st;
	ig_obl_record r, listed, cur;
	ig_obl_effect fx;
	ig_obl_event e;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/o.log", dir);
	assert_int_equal(ig_oblstore_open_file(path, &st, NULL, 0, err, sizeof(err)), 0);
	mk(&r, IG_OBLS_FOLLOWING, IG_OBL_SNAPSHOT_AFTER_IMPORT);
	r.job_id = strdup("7");
	assert_int_equal(ig_oblstore_create(st, &r, err, sizeof(err)), 0);
	assert_int_equal(ig_oblstore_get(st, r.id, &listed, err, sizeof(err)), 1); /* a scan's copy */
	assert_int_equal(listed.rev, r.rev);
	/* the holder moves on and finishes: due, then not owed (job failed), claim let go */
	e = ev(IG_OEV_JOB_STATUS);
	e.status = "failed";
	assert_int_equal(ig_obl_transition(&r, &e, &fx), 0);
	assert_int_equal(ig_oblstore_finish(st, &r, err, sizeof(err)), 0);
	assert_true(r.rev > listed.rev);
	/* the stale copy can neither be claimed nor written */
	assert_int_equal(ig_oblstore_claim(st, &listed, err, sizeof(err)), 1);
	assert_int_equal(ig_oblstore_advance(st, &listed, err, sizeof(err)), 1);
	assert_int_equal(ig_oblstore_finish(st, &listed, err, sizeof(err)), 1);
	assert_int_equal(ig_oblstore_delete(st, &listed, err, sizeof(err)), 1);
	assert_int_equal(ig_oblstore_get(st, r.id, &cur, err, sizeof(err)), 1);
	assert_int_equal(cur.state, IG_OBLS_NOT_OWED);
	assert_int_equal(cur.rev, r.rev);
	/* a finished record's claim is gone: the holder cannot write it either */
	assert_int_equal(ig_oblstore_advance(st, &r, err, sizeof(err)), 1);
	ig_obl_record_free(&cur);
	ig_obl_record_free(&listed);
	ig_obl_record_free(&r);
	ig_oblstore_close(st);
	unlink(path);
	snprintf(p2, sizeof(p2), "%s.lock", path);
	unlink(p2);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_lost_answer_search),
		cmocka_unit_test(test_quiet_polls),
		cmocka_unit_test(test_may_share_job),
		cmocka_unit_test(test_may_share_downstream_job),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_dismiss),
		cmocka_unit_test(test_terminal_never_reopened),
		cmocka_unit_test(test_job_matches),
		cmocka_unit_test(test_interleavings),
		cmocka_unit_test(test_interleaving_not_owed),
		cmocka_unit_test(test_file_store_cas),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
