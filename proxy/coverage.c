/*
 * coverage.c - the cluster state as operators see it (see coverage.h). What covers a table
 * comes from policy/clusterstate.c's ig_task_cover_why / ig_cf_cover_why (the functions the
 * decisions' ig_cluster_covering uses) and what the policy would do from ig_decide itself:
 * nothing here decides anything on its own.
 */
#include "proxy/coverage.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pd/statecache.h"
#include "policy/decide.h"
#include "proxy/auditfield.h"
#include "proxy/covquery.h"
#include "proxy/runtime.h"

/* A string from etcd or a client as a JSON string (invalid UTF-8 made valid, bounded). */
static json_t *text_json(const char *s)
{
	json_t *tmp = json_object(), *v;

	if (!tmp || !s || ig_audit_set_string(tmp, "v", s, strlen(s)) < 0) {
		json_decref(tmp);
		return json_null();
	}
	v = json_incref(json_object_get(tmp, "v"));
	json_decref(tmp);
	return v ? v : json_null();
}

static json_t *strings_json(char **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, text_json(v[i]));
	return a;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "kafka" of "kafka://...": the scheme when it is one (letters, digits, + - .), else NULL. */
static json_t *sink_type(const char *uri)
{
	const char *e = uri ? strstr(uri, "://") : NULL;
	char scheme[32];
	size_t n;

	if (!e || (n = (size_t)(e - uri)) == 0 || n >= sizeof(scheme) || strspn(uri,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.") != n)
		return json_null();
	for (size_t i = 0; i < n; i++)
		scheme[i] = (char)(uri[i] >= 'A' && uri[i] <= 'Z' ? uri[i] + 32 : uri[i]);
	scheme[n] = '\0';
	return json_string(scheme);
}

static json_t *ts_json(uint64_t ts)
{
	return ts ? json_integer((json_int_t)ts) : json_null();
}

static json_t *task_json(const ig_lbtask *t)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "name", text_json(t->name));
	json_object_set_new(o, "state", json_string(ig_lbtask_state_name(t)));
	json_object_set_new(o, "paused", json_boolean(t->paused));
	json_object_set_new(o, "has_error", json_boolean(t->has_error));
	/* null: no filter, every table (BR's default is "*.*") */
	json_object_set_new(o, "table_filter", t->nfilters ? strings_json(t->filters, t->nfilters) : json_null());
	json_object_set_new(o, "start_ts", ts_json(t->start_ts));
	if (t->storage)
		ig_audit_set_location(o, "storage", t->storage);
	else
		json_object_set_new(o, "storage", json_null());
	return o;
}

static json_t *cf_json(const ig_changefeed *cf)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "id", text_json(cf->display));
	json_object_set_new(o, "cluster", cf->cluster ? text_json(cf->cluster) : json_null());
	json_object_set_new(o, "namespace", cf->ns ? text_json(cf->ns) : json_null());
	json_object_set_new(o, "changefeed_id", text_json(cf->id));
	json_object_set_new(o, "state", json_string(ig_cfstate_name(cf->state)));
	json_object_set_new(o, "state_stored", cf->state_text ? text_json(cf->state_text) : json_null());
	json_object_set_new(o, "undecodable", json_boolean(cf->undecodable));
	json_object_set_new(o, "filter_rules", strings_json(cf->rules, cf->nrules));
	json_object_set_new(o, "case_sensitive", cf->case_sensitive < 0 ? json_null() : json_boolean(cf->case_sensitive));
	json_object_set_new(o, "start_ts", ts_json(cf->start_ts));
	json_object_set_new(o, "sink_type", sink_type(cf->sink_uri));
	if (cf->sink_uri)
		ig_audit_set_location(o, "sink_uri", cf->sink_uri);
	else
		json_object_set_new(o, "sink_uri", json_null());
	return o;
}

/* What every answer says about the read: revision, age, where from, whether it failed. */
static void read_fields(json_t *o, const ig_cluster_state *st, const char *error, bool stale)
{
	json_object_set_new(o, "read_ok", json_boolean(error == NULL));
	if (error)
		ig_audit_set_text(o, "error", error, strlen(error));
	else
		json_object_set_new(o, "error", json_null());
	json_object_set_new(o, "stale", json_boolean(stale));
	if (!st) {
		json_object_set_new(o, "revision", json_null());
		json_object_set_new(o, "read_at_ms", json_null());
		json_object_set_new(o, "age_ms", json_null());
		json_object_set_new(o, "source", json_null());
		return;
	}
	json_object_set_new(o, "revision", json_integer((json_int_t)st->revision));
	json_object_set_new(o, "read_at_ms", json_integer((json_int_t)st->read_at_ms));
	json_object_set_new(o, "age_ms", json_integer((json_int_t)(now_ms() - st->read_at_ms)));
	if (st->source)
		ig_audit_set_location(o, "source", st->source);
	else
		json_object_set_new(o, "source", json_null());
}

/* A state for an answer: a fresh one, or (fresh failed, keep_last) the last kept, stale. */
static const ig_cluster_state *state_for(const ig_config *cfg, bool keep_last, char *err, size_t errlen,
                                         bool *failed, bool *stale)
{
	const ig_cluster_state *st = NULL;

	*failed = *stale = false;
	if (cfg->cluster.npd == 0) {
		snprintf(err, errlen, "no PD endpoint is configured (cluster.pd)");
		*failed = true;
		return NULL;
	}
	if (ig_state_acquire(cfg, &st, err, errlen) == 0)
		return st;
	*failed = true;
	if (keep_last && (st = ig_state_last()))
		*stale = true;
	return st;
}

/*
 * One status answer at a time reads PD: the libuv thread pool it runs on is the one the
 * decisions and statement classification use, and a monitor polling status while PD hangs
 * must not hold several of its threads for cluster.timeout_ms each. Answers that come
 * meanwhile show the last read kept (stale: true) and how the last status read ended.
 */
static atomic_bool status_reading;
static pthread_mutex_t last_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_err[512]; /* "" when the last status read succeeded */

static const ig_cluster_state *status_state(char *err, size_t errlen, bool *failed, bool *stale)
{
	const ig_cluster_state *st;

	if (atomic_exchange(&status_reading, true)) {
		pthread_mutex_lock(&last_mu);
		snprintf(err, errlen, "%s", last_err);
		pthread_mutex_unlock(&last_mu);
		*failed = err[0] != '\0';
		st = ig_state_last();
		*stale = st != NULL;
		return st;
	}
	ig_config *cfg = ig_cfg_acquire();
	st = state_for(cfg, true, err, errlen, failed, stale);
	ig_cfg_release(cfg);
	pthread_mutex_lock(&last_mu);
	snprintf(last_err, sizeof(last_err), "%s", *failed ? err : "");
	pthread_mutex_unlock(&last_mu);
	atomic_store(&status_reading, false);
	return st;
}

json_t *ig_cluster_status_json(void)
{
	char err[512];
	bool failed, stale;
	const ig_cluster_state *st = status_state(err, sizeof(err), &failed, &stale);
	json_t *o = json_object(), *tasks = json_array(), *cfs = json_array(), *problems = json_array();

	if (o && tasks && cfs && problems) {
		read_fields(o, st, failed ? err : NULL, stale);
		for (size_t i = 0; st && i < st->ntasks; i++)
			json_array_append_new(tasks, task_json(&st->tasks[i]));
		for (size_t i = 0; st && i < st->ncfs; i++)
			json_array_append_new(cfs, cf_json(&st->cfs[i]));
		for (size_t i = 0; st && i < st->nproblems; i++) {
			json_t *tmp = json_object();
			if (tmp && ig_audit_set_text(tmp, "v", st->problems[i], strlen(st->problems[i])) == 0)
				json_array_append(problems, json_object_get(tmp, "v"));
			json_decref(tmp);
		}
		json_object_set(o, "log_backup_tasks", tasks);
		json_object_set(o, "changefeeds", cfs);
		json_object_set(o, "problems", problems);
	} else {
		json_decref(o);
		o = NULL;
	}
	json_decref(tasks);
	json_decref(cfs);
	json_decref(problems);
	ig_state_release(st);
	return o;
}

/* ---- coverage ---- */

static json_t *why_json(const char *name, const char *state, const ig_cover_why *w, char **rules, size_t nrules)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "name", text_json(name));
	json_object_set_new(o, "state", json_string(state));
	json_object_set_new(o, "covers", json_boolean(w->covers));
	json_object_set_new(o, "why", json_string(w->why));
	bool have = w->rule != SIZE_MAX && w->rule < nrules;
	json_object_set_new(o, "rule", have ? text_json(rules[w->rule]) : json_null());
	json_object_set_new(o, "rule_index", have ? json_integer((json_int_t)w->rule) : json_null());
	return o;
}

/*
 * As the live path takes it (proxy/decision.c): what the last probe's server said of itself,
 * else before any probe the last greeting (policy/version.c ig_tidb_backend_identify); then
 * backends.tidb_version.
 */
static ig_tidb_version backend_version(const ig_config *cfg, bool *nextgen)
{
	char gv[128], sv[128], info[2048];
	ig_tidb_version v;
	const char *cv = cfg->backends.tidb_version;
	bool said = ig_backend_last_said(sv, sizeof(sv), info, sizeof(info));

	ig_backend_last_version(gv, sizeof(gv));
	if (ig_tidb_backend_identify(gv, said ? sv : NULL, said && info[0] ? info : NULL, &v, nextgen) == 0)
		return v;
	if (cv && strcmp(cv, "auto") != 0 && ig_tidb_version_parse(cv, strlen(cv), &v) == 0)
		return v;
	v.major = -1;
	return v;
}

static json_t *policy_json(const ig_config *cfg, const ig_covquery *q, const ig_cluster_state *st,
                           const char *state_err, char *err, size_t errlen)
{
	bool nextgen;
	ig_tidb_version version = backend_version(cfg, &nextgen);
	ig_decide_input in = {
		.user = q->user, .host = q->host, .db = q->db, .table = q->table,
		.version = version, .nextgen = nextgen, .state = st,
		.state_error = st ? NULL : state_err, .cfg = cfg,
	};
	ig_decision d;
	json_t *o, *obl;

	if (ig_decide(&in, &d, err, errlen) < 0)
		return NULL;
	o = json_object();
	obl = json_array();
	if (o && obl) {
		if (d.obligations & IG_OBL_SNAPSHOT_AFTER_IMPORT)
			json_array_append_new(obl, json_string("snapshot-after-import"));
		if (d.obligations & IG_OBL_REIMPORT_DOWNSTREAM)
			json_array_append_new(obl, json_string("reimport-downstream"));
		json_object_set_new(o, "verdict", json_string(ig_verdict_name(d.verdict)));
		json_object_set_new(o, "rule", d.rule ? text_json(d.rule->name) : json_null());
		json_object_set(o, "obligations", obl);
		json_object_set_new(o, "dry_run", json_boolean(d.dry_run));
		json_object_set_new(o, "state_unavailable", json_boolean(d.state_unavailable));
		json_object_set_new(o, "covering_tasks", strings_json(d.tasks, d.ntasks));
		json_object_set_new(o, "covering_changefeeds", strings_json(d.changefeeds, d.nchangefeeds));
		if (d.reason)
			ig_audit_set_text(o, "reason", d.reason, strlen(d.reason));
		if (d.verdict == IG_VERDICT_REJECT && d.message)
			ig_audit_set_text(o, "message", d.message, strlen(d.message));
	} else {
		json_decref(o);
		o = NULL;
	}
	json_decref(obl);
	ig_decision_free(&d);
	return o;
}

static char *dump(json_t *doc)
{
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return s;
}

static json_t *coverage_doc(const ig_config *cfg, const ig_covquery *q, char *err, size_t errlen)
{
	char serr[512];
	bool failed, stale;
	const ig_cluster_state *st = state_for(cfg, false, serr, sizeof(serr), &failed, &stale);
	json_t *o = json_object(), *rd = json_object(), *tasks = json_array(), *cfs = json_array(), *pol;
	ig_cover_why w;

	pol = policy_json(cfg, q, st, serr, err, errlen);
	if (!o || !rd || !tasks || !cfs || !pol) {
		json_decref(o);
		o = NULL;
		goto out;
	}
	char table[600];
	snprintf(table, sizeof(table), "%s.%s", q->db, q->table);
	json_object_set_new(o, "table", text_json(table));
	json_object_set_new(o, "db", text_json(q->db));
	json_object_set_new(o, "table_name", text_json(q->table));
	json_object_set_new(o, "user", text_json(q->user));
	json_object_set_new(o, "host", text_json(q->host));
	read_fields(rd, st, failed ? serr : NULL, false);
	json_object_set(o, "cluster", rd);
	for (size_t i = 0; st && i < st->ntasks; i++) {
		ig_task_cover_why(&st->tasks[i], q->db, q->table, cfg->policy.log_backup_filters == IG_LBF_BY_NAME, &w);
		json_array_append_new(tasks, why_json(st->tasks[i].name, ig_lbtask_state_name(&st->tasks[i]), &w,
		                                      st->tasks[i].filters, st->tasks[i].nfilters));
	}
	for (size_t i = 0; st && i < st->ncfs; i++) {
		ig_cf_cover_why(&st->cfs[i], q->db, q->table, &w);
		json_array_append_new(cfs, why_json(st->cfs[i].display, ig_cfstate_name(st->cfs[i].state), &w,
		                                    st->cfs[i].rules, st->cfs[i].nrules));
	}
	json_object_set(o, "log_backup_tasks", tasks);
	json_object_set(o, "changefeeds", cfs);
	json_object_set(o, "policy", pol);
out:
	json_decref(rd);
	json_decref(tasks);
	json_decref(cfs);
	json_decref(pol);
	ig_state_release(st);
	return o;
}

char *ig_coverage_json(const char *query, size_t len, int *http_status)
{
	char err[256];
	ig_covquery q;
	json_t *doc;

	if (ig_covquery_parse(query, len, &q, err, sizeof(err)) < 0) {
		*http_status = 400;
		return dump(json_pack("{s:s}", "error", err));
	}
	ig_config *cfg = ig_cfg_acquire();
	doc = coverage_doc(cfg, &q, err, sizeof(err));
	ig_cfg_release(cfg);
	ig_covquery_free(&q);
	return dump(doc);
}
