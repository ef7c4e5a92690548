/*
 * decide.c - the verdict table (README.md, "Why") and the rejection messages. Rows:
 *   unparsed import      -> REJECT while anything covers anything (or the state is
 *                           unreadable), else PASS (TiDB answers it)
 *   no database          -> REJECT 1046 (as TiDB)
 *   rule action deny     -> REJECT;  action pass -> PASS
 *   TiDB X backend       -> REJECT: its keyspace's log backup tasks may be in an etcd the
 *                           gateway does not read (reject_nextgen); unparsed imports too
 *   an option or form the backend's version does not know (policy/import_grammar.c)
 *                        -> REJECT while anything covers anything (or the state is
 *                           unreadable), else PASS (TiDB refuses it itself)
 *   state unreadable (4) -> with DISABLE_PRECHECK REJECT; else PASS (defer-to-tidb) or REJECT
 *   (1) a covering task/changefeed whose requirement is `required` -> REJECT naming each
 *       (a covering one under `logical` -> LOGICAL)
 *   (2) else, TiDB's own precheck would refuse (a task, or a changefeed the backend's
 *       version counts: policy/precheck_model.c): TiDB >= v8.0 -> ADD_DISABLE_PRECHECK (PASS
 *       when the user has it), older -> REJECT
 *   (2b) else, it may refuse (the version's releases differ): >= v8.0 -> ADD_DISABLE_PRECHECK
 *       (harmless when TiDB would not have refused), older -> PASS (TiDB's precheck decides)
 *   (3) else PASS. Obligations follow the covering ones' requirements.
 */
#include "policy/decide.h"

#include "policy/rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LISTED 5 /* names in one message; MySQL clients cut messages at 512 bytes */

const char *ig_verdict_name(ig_verdict v)
{
	switch (v) {
	case IG_VERDICT_PASS:
		return "pass";
	case IG_VERDICT_ADD_DISABLE_PRECHECK:
		return "add-disable-precheck";
	case IG_VERDICT_REJECT:
		return "reject";
	case IG_VERDICT_LOGICAL:
		return "logical";
	}
	return "unknown";
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void ig_decision_free(ig_decision *d)
{
	if (!d)
		return;
	free_strv(d->tasks, d->ntasks);
	free_strv(d->changefeeds, d->nchangefeeds);
	free(d->message);
	free(d->reason);
	memset(d, 0, sizeof(*d));
}

/* A message under construction (open_memstream); any failure is remembered. */
typedef struct msg {
	FILE *f;
	char *buf;
	size_t len;
	bool bad;
} msg;

static void m_open(msg *m)
{
	memset(m, 0, sizeof(*m));
	m->f = open_memstream(&m->buf, &m->len);
	m->bad = m->f == NULL;
}

__attribute__((format(printf, 2, 3))) static void m_add(msg *m, const char *fmt, ...)
{
	va_list ap;

	if (m->bad)
		return;
	va_start(ap, fmt);
	if (vfprintf(m->f, fmt, ap) < 0)
		m->bad = true;
	va_end(ap);
}

/* Closes the stream; returns the text (caller frees) or NULL. */
static char *m_close(msg *m)
{
	if (m->f && fclose(m->f) != 0)
		m->bad = true;
	if (m->bad) {
		free(m->buf);
		return NULL;
	}
	return m->buf;
}

typedef struct dctx {
	const ig_decide_input *in;
	ig_decision *out;
	ig_coverage cov;
	ig_logbackup_req lb;
	ig_changefeed_req cf;
	ig_tidb_version version;         /* the backend's, config's when the greeting has none */
	const ig_precheck_model *model;  /* what that version's precheck counts */
	const ig_import_grammar *grammar; /* what that version's IMPORT INTO accepts */
	char *err;
	size_t errlen;
} dctx;

static void rule_text(dctx *d, msg *m)
{
	const ig_rule *r = d->out->rule;

	if (r)
		m_add(m, "policy rule \"%.64s\" (log_backup: %s, changefeed: %s)", r->name,
		      ig_logbackup_req_name(r->log_backup), ig_changefeed_req_name(r->changefeed));
	else
		m_add(m, "no policy rule matches '%.64s'@'%.64s', defaults apply (log_backup: required, "
		      "changefeed: required)", d->in->user ? d->in->user : "",
		      d->in->host ? d->in->host : "");
}

static void task_text(msg *m, const ig_lbtask *t)
{
	m_add(m, "log backup task \"%.64s\"", t->name);
	if (t->undecodable)
		m_add(m, " (unreadable, counted as covering every table)");
	else if (t->paused)
		m_add(m, " (paused, still counts)");
}

static void cf_text(msg *m, const ig_changefeed *cf)
{
	m_add(m, "changefeed \"%.100s\"", cf->display);
	if (cf->undecodable)
		m_add(m, " (unreadable, counted as covering every table)");
	else if (cf->state != IG_CFSTATE_NORMAL)
		m_add(m, " (%s%s%.20s)", ig_cfstate_name(cf->state), cf->state == IG_CFSTATE_UNKNOWN ? " " : "",
		      cf->state == IG_CFSTATE_UNKNOWN ? cf->state_text : "");
}

/* Lists the covering tasks (with_tasks) and changefeeds (with_cfs), at most MAX_LISTED. */
static void cover_text(dctx *d, msg *m, bool with_tasks, bool with_cfs)
{
	const ig_cluster_state *st = d->in->state;
	size_t shown = 0, total = (with_tasks ? d->cov.ntasks : 0) + (with_cfs ? d->cov.ncfs : 0);

	for (size_t i = 0; with_tasks && i < d->cov.ntasks && shown < MAX_LISTED; i++, shown++) {
		m_add(m, "%s", shown ? ", " : "");
		const ig_lbtask *t = &st->tasks[d->cov.tasks[i]];
		task_text(m, t);
		if (ig_lbtask_filtered(t) && d->in->cfg->policy.log_backup_filters == IG_LBF_EVERY_TABLE)
			m_add(m, " (a filtered task observes the tables its filter matched at its start, by id, "
			      "under any name since: counted as covering every table, policy.log_backup_filters)");
	}
	for (size_t i = 0; with_cfs && i < d->cov.ncfs && shown < MAX_LISTED; i++, shown++) {
		m_add(m, "%s", shown ? ", " : "");
		cf_text(m, &st->cfs[d->cov.cfs[i]]);
	}
	if (total > shown)
		m_add(m, " and %zu more", total - shown);
}

/* What TiDB's own precheck counts: every task, and the changefeeds the backend's version
 * counts `at_least` (COUNTED, or MAYBE too). */
static void blocker_text(dctx *d, msg *m, ig_pc_count at_least)
{
	const ig_cluster_state *st = d->in->state;
	size_t shown = 0, total = 0;

	for (size_t i = 0; i < st->ntasks; i++, total++)
		if (shown < MAX_LISTED) {
			m_add(m, "%s", shown++ ? ", " : "");
			task_text(m, &st->tasks[i]);
		}
	for (size_t i = 0; i < st->ncfs; i++) {
		if (ig_precheck_model_counts(d->model, &st->cfs[i]) < at_least)
			continue;
		total++;
		if (shown < MAX_LISTED) {
			m_add(m, "%s", shown++ ? ", " : "");
			cf_text(m, &st->cfs[i]);
		}
	}
	if (total > shown)
		m_add(m, " and %zu more", total - shown);
}

static int oom(dctx *d)
{
	if (d->errlen)
		snprintf(d->err, d->errlen, "out of memory while deciding");
	return -1;
}

static int finish(dctx *d, ig_verdict v, msg *why)
{
	d->out->verdict = v;
	d->out->reason = m_close(why);
	return d->out->reason ? 0 : oom(d);
}

/* REJECT: `text` holds "<what covers>, <which rule>, <what to do>". */
static int reject(dctx *d, unsigned code, const char *sqlstate, msg *text)
{
	char *t = m_close(text);
	size_t n;

	if (!t)
		return oom(d);
	d->out->verdict = IG_VERDICT_REJECT;
	d->out->err_code = code;
	snprintf(d->out->sqlstate, sizeof(d->out->sqlstate), "%s", sqlstate);
	if (code == IG_ER_NO_DB_ERROR) {
		d->out->reason = strdup(t);
		d->out->message = t;
		t = NULL;
	} else {
		n = strlen(t) + 64;
		d->out->message = malloc(n);
		if (d->out->message)
			snprintf(d->out->message, n, "PreCheck failed: importgate: %s", t);
		d->out->reason = t;
		t = NULL;
	}
	free(t);
	return d->out->message && d->out->reason ? 0 : oom(d);
}

static int reject_deny(dctx *d)
{
	msg m;

	m_open(&m);
	m_add(&m, "IMPORT INTO %.64s.%.64s is not allowed for '%.64s'@'%.64s', policy rule \"%.64s\" "
	      "(action: deny); use a logical import (LOAD DATA) or ask the DBA to change that rule",
	      d->in->db, d->in->table, d->in->user ? d->in->user : "", d->in->host ? d->in->host : "",
	      d->out->rule->name);
	return reject(d, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000", &m);
}

static int unavailable(dctx *d)
{
	const char *why = d->in->state_error ? d->in->state_error : "unknown error";
	msg m;

	d->out->state_unavailable = true;
	m_open(&m);
	if (!d->in->disable_precheck && d->in->cfg->policy.on_state_unavailable == IG_UNAVAIL_DEFER_TO_TIDB) {
		m_add(&m, "cluster state unavailable (%.200s): deferring to TiDB's own precheck", why);
		return finish(d, IG_VERDICT_PASS, &m);
	}
	m_add(&m, "the cluster state (log backup tasks, changefeeds) cannot be read (%.200s), so ", why);
	if (d->in->disable_precheck)
		m_add(&m, "nothing confirms that skipping TiDB's precheck with DISABLE_PRECHECK is safe for "
		      "%.64s.%.64s, ", d->in->db, d->in->table);
	else
		m_add(&m, "%.64s.%.64s cannot be checked and policy.on_state_unavailable is reject, ",
		      d->in->db, d->in->table);
	rule_text(d, &m);
	if (d->in->disable_precheck)
		m_add(&m, "; remove DISABLE_PRECHECK to let TiDB's own precheck decide, or retry when PD is reachable");
	else
		m_add(&m, "; retry when PD is reachable");
	return reject(d, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000", &m);
}

static int reject_required(dctx *d, bool tasks, bool cfs)
{
	msg m;

	m_open(&m);
	if (d->in->disable_precheck)
		m_add(&m, "DISABLE_PRECHECK is refused: ");
	m_add(&m, "%.64s.%.64s is covered by ", d->in->db, d->in->table);
	cover_text(d, &m, tasks, cfs);
	m_add(&m, ", ");
	rule_text(d, &m);
	m_add(&m, "; use a logical import (LOAD DATA), which %s, or ask the DBA for a rule with ",
	      tasks && cfs ? "log backup and changefeeds capture" : tasks ? "log backup records"
	                                                              : "the changefeed replicates");
	if (tasks)
		m_add(&m, "log_backup: snapshot-after-import (or not-needed)");
	if (tasks && cfs)
		m_add(&m, " and ");
	if (cfs)
		m_add(&m, "changefeed: reimport-downstream (or not-needed)");
	return reject(d, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000", &m);
}

/*
 * TiDB X (the next-gen kernel) serves keyspaces. BR and TiDB keep a keyspace's log backup
 * tasks under its etcd namespace (/keyspaces/tidb/<id>/tidb/br-stream/), which the gateway
 * reads in PD's etcd; but a keyspace whose config names a meta service group keeps that
 * namespace in the group's own etcd (pingcap/tidb pkg/metaservice DialEtcdClient), which the
 * gateway does not read, and TiDB's own precheck reads neither. Nothing read shows that no
 * task covers the table: refuse (docs/TIDB_VERSIONS.md, "Keyspace clusters").
 */
static void nextgen_text(msg *m)
{
	m_add(m, "the backend is TiDB X (next-gen kernel), whose keyspace may keep its log backup tasks "
	      "in an etcd of its own that the gateway does not read");
}

static int reject_nextgen(dctx *d)
{
	msg m;

	m_open(&m);
	nextgen_text(&m);
	m_add(&m, ", so nothing shows that no log backup task covers %.64s.%.64s; ", d->in->db, d->in->table);
	rule_text(d, &m);
	m_add(&m, "; use a logical import (LOAD DATA), or ask the DBA for a rule with action: pass");
	return reject(d, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000", &m);
}

static void version_text(msg *m, const ig_tidb_version *v)
{
	if (v->major < 0)
		m_add(m, "the backend's TiDB version is unknown (counted as older than v8.0.0; set "
		      "backends.tidb_version if the server greeting does not say it)");
	else
		m_add(m, "the backend runs TiDB v%d.%d.%d, which has no DISABLE_PRECHECK (it came in v8.0.0)",
		      v->major, v->minor, v->patch);
}

static int reject_old_tidb(dctx *d, const ig_tidb_version *v)
{
	msg m;

	m_open(&m);
	m_add(&m, "TiDB's own precheck refuses IMPORT INTO while ");
	blocker_text(d, &m, IG_PC_COUNTED);
	m_add(&m, " exist, and ");
	version_text(&m, v);
	m_add(&m, " to skip it for %.64s.%.64s (allowed by ", d->in->db, d->in->table);
	rule_text(d, &m);
	m_add(&m, "); upgrade TiDB to v8.0.0 or later, or use a logical import (LOAD DATA)");
	return reject(d, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000", &m);
}

/* Every task and changefeed of the cluster: what "anything covers anything" found. */
static void anything_text(dctx *d, msg *m)
{
	const ig_cluster_state *st = d->in->state;
	size_t shown = 0, total = st->ntasks + st->ncfs;

	for (size_t i = 0; i < st->ntasks && shown < MAX_LISTED; i++, shown++) {
		m_add(m, "%s", shown ? ", " : "");
		task_text(m, &st->tasks[i]);
	}
	for (size_t i = 0; i < st->ncfs && shown < MAX_LISTED; i++, shown++) {
		m_add(m, "%s", shown ? ", " : "");
		cf_text(m, &st->cfs[i]);
	}
	if (total > shown)
		m_add(m, " and %zu more", total - shown);
}

static void backend_text(msg *m, const ig_tidb_version *v)
{
	if (v->major < 0)
		m_add(m, "the backend (TiDB version unknown)");
	else
		m_add(m, "TiDB v%d.%d.%d", v->major, v->minor, v->patch);
}

/*
 * An import the gateway cannot read as the backend reads it (`what`: it could not parse
 * it, or the backend's version does not know a part of it). Forwarding it is safe only
 * when nothing could be covered: no task, no changefeed anywhere. Otherwise refuse and say
 * why, rather than forward what was not decided.
 */
static int undecidable(dctx *d, bool unparsed, const char *what)
{
	const ig_cluster_state *st = d->in->state;
	msg m;

	m_open(&m);
	if (unparsed)
		m_add(&m, "the gateway cannot parse this IMPORT INTO (%.200s)", what);
	else {
		backend_text(&m, &d->version);
		m_add(&m, " does not know the IMPORT INTO %.80s (the gateway models the grammar of TiDB %s)",
		      what, d->grammar->name);
	}
	if (st && st->ntasks + st->ncfs == 0 && !d->in->nextgen) {
		m_add(&m, "; no log backup task or changefeed exists, so it is forwarded and TiDB answers it");
		return finish(d, IG_VERDICT_PASS, &m);
	}
	if (d->in->nextgen) {
		m_add(&m, ", and ");
		nextgen_text(&m);
	} else if (!st) {
		d->out->state_unavailable = true;
		m_add(&m, ", and the cluster state (log backup tasks, changefeeds) cannot be read (%.200s)",
		      d->in->state_error ? d->in->state_error : "unknown error");
	} else {
		m_add(&m, ", and ");
		anything_text(d, &m);
		m_add(&m, " exist%s", st->ntasks + st->ncfs == 1 ? "s" : "");
	}
	m_add(&m, "; the gateway forwards only imports it can decide while log backup or changefeeds "
	      "may cover a table: ");
	if (unparsed)
		m_add(&m, "write the statement in the IMPORT INTO grammar of the TiDB behind the gateway");
	else
		m_add(&m, "remove the %.80s, which this TiDB version does not have", what);
	return reject(d, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000", &m);
}

static ig_tidb_version backend_version(const ig_decide_input *in)
{
	ig_tidb_version v = in->version;
	const char *cv = in->cfg->backends.tidb_version;

	if (v.major < 0 && cv && strcmp(cv, "auto") != 0)
		ig_tidb_version_parse(cv, strlen(cv), &v);
	return v;
}

static int list_names(dctx *d)
{
	const ig_cluster_state *st = d->in->state;

	d->out->tasks = calloc(d->cov.ntasks ? d->cov.ntasks : 1, sizeof(char *));
	d->out->changefeeds = calloc(d->cov.ncfs ? d->cov.ncfs : 1, sizeof(char *));
	if (!d->out->tasks || !d->out->changefeeds)
		return oom(d);
	for (size_t i = 0; i < d->cov.ntasks; i++, d->out->ntasks++)
		if (!(d->out->tasks[i] = strdup(st->tasks[d->cov.tasks[i]].name)))
			return oom(d);
	for (size_t i = 0; i < d->cov.ncfs; i++, d->out->nchangefeeds++)
		if (!(d->out->changefeeds[i] = strdup(st->cfs[d->cov.cfs[i]].display)))
			return oom(d);
	return 0;
}

/* Would TiDB's own precheck refuse: COUNTED (a task, or a changefeed the version counts),
 * MAYBE (only changefeeds the version's releases count differently), NOT_COUNTED. */
static ig_pc_count precheck_outcome(const dctx *d)
{
	const ig_cluster_state *st = d->in->state;
	ig_pc_count worst = IG_PC_NOT_COUNTED, c;

	if (st->ntasks > 0)
		return IG_PC_COUNTED; /* GetAllTasks: every task, paused too, on every version */
	for (size_t i = 0; i < st->ncfs; i++)
		if ((c = ig_precheck_model_counts(d->model, &st->cfs[i])) > worst)
			worst = c;
	return worst;
}

/* Rows (1)-(3), with the cluster state in hand. */
static int decide_state(dctx *d)
{
	bool req_tasks = d->cov.ntasks && d->lb == IG_LB_REQUIRED;
	bool req_cfs = d->cov.ncfs && d->cf == IG_CF_REQUIRED;
	msg m;

	if (req_tasks || req_cfs)
		return reject_required(d, req_tasks, req_cfs);
	m_open(&m);
	if ((d->cov.ntasks && d->lb == IG_LB_LOGICAL) || (d->cov.ncfs && d->cf == IG_CF_LOGICAL)) {
		m_add(&m, "covered by ");
		cover_text(d, &m, true, true);
		m_add(&m, "; ");
		rule_text(d, &m);
		m_add(&m, " asks for a logical import (LOAD DATA)");
		return finish(d, IG_VERDICT_LOGICAL, &m);
	}
	if (d->cov.ntasks && d->lb == IG_LB_SNAPSHOT_AFTER_IMPORT)
		d->out->obligations |= IG_OBL_SNAPSHOT_AFTER_IMPORT;
	if (d->cov.ncfs && d->cf == IG_CF_REIMPORT_DOWNSTREAM)
		d->out->obligations |= IG_OBL_REIMPORT_DOWNSTREAM;
	ig_pc_count outcome = precheck_outcome(d);

	switch (outcome) {
	case IG_PC_NOT_COUNTED:
		m_add(&m, "no log backup task or changefeed that TiDB's precheck counts exists (%s)",
		      d->model->name);
		if (d->cov.ntasks + d->cov.ncfs) {
			m_add(&m, "; covered by ");
			cover_text(d, &m, true, true);
			m_add(&m, ", allowed by ");
			rule_text(d, &m);
		}
		return finish(d, IG_VERDICT_PASS, &m);
	case IG_PC_MAYBE:
		if (d->model->disable_precheck)
			break;
		m_add(&m, "TiDB's precheck (%s) may stop on ", d->model->name);
		blocker_text(d, &m, IG_PC_MAYBE);
		m_add(&m, " (its releases differ); %.64s.%.64s is allowed by ", d->in->db, d->in->table);
		rule_text(d, &m);
		m_add(&m, "; forwarded unchanged, TiDB's own precheck decides");
		return finish(d, IG_VERDICT_PASS, &m);
	case IG_PC_COUNTED:
		if (d->model->disable_precheck)
			break;
		free(m_close(&m));
		return reject_old_tidb(d, &d->version);
	}
	m_add(&m, "TiDB's precheck %s stop on ", outcome == IG_PC_MAYBE ? "may" : "would");
	blocker_text(d, &m, IG_PC_MAYBE);
	m_add(&m, "; %.64s.%.64s is allowed by ", d->in->db, d->in->table);
	rule_text(d, &m);
	m_add(&m, d->in->disable_precheck ? "; the statement's own DISABLE_PRECHECK is kept"
	                                  : "; DISABLE_PRECHECK added");
	return finish(d, d->in->disable_precheck ? IG_VERDICT_PASS : IG_VERDICT_ADD_DISABLE_PRECHECK, &m);
}

static int decide(dctx *d)
{
	const ig_decide_input *in = d->in;
	msg m;

	char what[128];

	d->version = backend_version(in);
	d->model = ig_precheck_model_for(&d->version, &d->out->precheck_model_newer);
	d->out->precheck_model = d->model->name;
	d->grammar = ig_import_grammar_for(&d->version);
	d->out->import_grammar = d->grammar->name;
	if (in->usage && in->usage->unparsed)
		return undecidable(d, true, in->usage->unparsed); /* no table: no rule applies */
	if (!in->db || !*in->db) {
		m_open(&m);
		m_add(&m, "No database selected");
		return reject(d, IG_ER_NO_DB_ERROR, "3D000", &m);
	}
	d->out->rule = ig_rule_match(in->cfg, in->user, in->host, in->db, in->table);
	d->lb = d->out->rule ? d->out->rule->log_backup : IG_LB_REQUIRED;
	d->cf = d->out->rule ? d->out->rule->changefeed : IG_CF_REQUIRED;
	if (d->out->rule && d->out->rule->action == IG_ACTION_DENY)
		return reject_deny(d);
	if (d->out->rule && d->out->rule->action == IG_ACTION_PASS) {
		m_open(&m);
		m_add(&m, "policy rule \"%.64s\" (action: pass) forwards the statement as is", d->out->rule->name);
		return finish(d, IG_VERDICT_PASS, &m);
	}
	if (d->in->nextgen)
		return reject_nextgen(d);
	if (ig_import_grammar_unknown(d->grammar, in->usage, what, sizeof(what)))
		return undecidable(d, false, what);
	if (!in->state)
		return unavailable(d);
	if (ig_cluster_covering(in->state, in->db, in->table, in->cfg->policy.log_backup_filters == IG_LBF_BY_NAME,
	                        &d->cov) < 0 ||
	    list_names(d) < 0)
		return oom(d);
	return decide_state(d);
}

int ig_decide(const ig_decide_input *in, ig_decision *out, char *err, size_t errlen)
{
	dctx d = {.in = in, .out = out, .err = err, .errlen = errlen};
	int rc;

	memset(out, 0, sizeof(*out));
	if (!in || !in->cfg || (!in->table && !(in->usage && in->usage->unparsed))) {
		if (errlen)
			snprintf(err, errlen, "ig_decide: missing config or table");
		return -1;
	}
	out->dry_run = in->cfg->policy.mode == IG_MODE_DRY_RUN;
	rc = decide(&d);
	ig_coverage_free(&d.cov);
	if (rc < 0)
		ig_decision_free(out);
	return rc;
}
