/*
 * policy_state_dump.c - a driver for integration tests and operators: reads the cluster
 * state from PD/etcd with ig_cluster_read and prints it as one JSON object; optionally the
 * coverage of a table and the verdict of an import.
 *
 * usage: policy_state_dump [-c config.yaml] [--pd URL]... [--timeout-ms N]
 *                          [--cover DB TABLE]
 *                          [--decide USER HOST DB TABLE [--disable-precheck] [--tidb-version V]]
 * --pd replaces cluster.pd of the config (defaults when no -c). Exit: 0 printed, 1 the state
 * or config could not be read ({"error": ...} printed), 2 usage.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/clusterstate.h"
#include "policy/config.h"
#include "policy/decide.h"
#include "pd/etcdread.h"
#include "policy/precheck_model.h"

typedef struct opts {
	const char *config;
	const char *pd[16];
	int npd;
	int timeout_ms;
	const char *cover_db, *cover_tbl;
	const char *user, *host, *db, *tbl;
	bool disable_precheck;
	const char *version;
} opts;

static int usage(void)
{
	fprintf(stderr, "usage: policy_state_dump [-c config.yaml] [--pd URL]... [--timeout-ms N]\n"
	                "         [--cover DB TABLE]\n"
	                "         [--decide USER HOST DB TABLE [--disable-precheck] [--tidb-version V]]\n");
	return 2;
}

static int parse_args(int argc, char **argv, opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int left = argc - i - 1;
		if (strcmp(a, "-c") == 0 && left >= 1)
			o->config = argv[++i];
		else if (strcmp(a, "--pd") == 0 && left >= 1 && o->npd < 16)
			o->pd[o->npd++] = argv[++i];
		else if (strcmp(a, "--timeout-ms") == 0 && left >= 1)
			o->timeout_ms = atoi(argv[++i]);
		else if (strcmp(a, "--cover") == 0 && left >= 2) {
			o->cover_db = argv[++i];
			o->cover_tbl = argv[++i];
		} else if (strcmp(a, "--decide") == 0 && left >= 4) {
			o->user = argv[++i];
			o->host = argv[++i];
			o->db = argv[++i];
			o->tbl = argv[++i];
		} else if (strcmp(a, "--disable-precheck") == 0)
			o->disable_precheck = true;
		else if (strcmp(a, "--tidb-version") == 0 && left >= 1)
			o->version = argv[++i];
		else
			return -1;
	}
	return 0;
}

static json_t *strv(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* Whether TiDB's precheck counts cf, per modelled release (policy/precheck_model.c). */
static json_t *tidb_counts(const ig_changefeed *cf)
{
	static const char *const names[] = {"not_counted", "maybe", "counted"};
	static const struct {
		const char *label;
		ig_tidb_version v;
	} rel[] = {{"v7.5", {7, 5, 0}}, {"v8.1", {8, 1, 0}}, {"v8.5", {8, 5, 0}}};
	json_t *o = json_object();

	for (size_t i = 0; o && i < sizeof(rel) / sizeof(rel[0]); i++) {
		ig_pc_count c = ig_precheck_model_counts(ig_precheck_model_for(&rel[i].v, NULL), cf);
		json_object_set_new(o, rel[i].label, json_string(names[c]));
	}
	return o;
}

static json_t *state_json(const ig_cluster_state *st)
{
	json_t *o = json_object(), *tasks = json_array(), *cfs = json_array();

	for (size_t i = 0; i < st->ntasks; i++) {
		const ig_lbtask *t = &st->tasks[i];
		json_array_append_new(tasks, json_pack("{s:s, s:s?, s:o, s:b, s:b, s:b}", "name", t->name,
		                                       "pb_name", t->pb_name, "filters", strv(t->filters, t->nfilters),
		                                       "paused", t->paused, "has_error", t->has_error,
		                                       "undecodable", t->undecodable));
	}
	for (size_t i = 0; i < st->ncfs; i++) {
		const ig_changefeed *c = &st->cfs[i];
		json_array_append_new(cfs, json_pack("{s:s?, s:s?, s:s, s:s, s:s, s:s?, s:o, s:o, s:b, s:b}",
		                                     "cluster", c->cluster, "namespace", c->ns, "id", c->id,
		                                     "display", c->display, "state", ig_cfstate_name(c->state),
		                                     "state_text", c->state_text, "rules", strv(c->rules, c->nrules),
		                                     "case_sensitive", c->case_sensitive < 0 ? json_null() : json_boolean(c->case_sensitive),
		                                     "undecodable", c->undecodable, "tidb_counts", tidb_counts(c)));
	}
	json_object_set_new(o, "source", json_string(st->source));
	json_object_set_new(o, "revision", json_integer(st->revision));
	json_object_set_new(o, "read_at_ms", json_integer(st->read_at_ms));
	json_object_set_new(o, "tasks", tasks);
	json_object_set_new(o, "changefeeds", cfs);
	json_object_set_new(o, "problems", strv(st->problems, st->nproblems));
	return o;
}

static json_t *cover_json(const ig_cluster_state *st, const ig_config *cfg, const char *db, const char *tbl)
{
	ig_coverage cov;
	json_t *t = json_array(), *c = json_array();

	if (ig_cluster_covering(st, db, tbl, cfg->policy.log_backup_filters == IG_LBF_BY_NAME, &cov) < 0)
		return json_null();
	for (size_t i = 0; i < cov.ntasks; i++)
		json_array_append_new(t, json_string(st->tasks[cov.tasks[i]].name));
	for (size_t i = 0; i < cov.ncfs; i++)
		json_array_append_new(c, json_string(st->cfs[cov.cfs[i]].display));
	ig_coverage_free(&cov);
	return json_pack("{s:o, s:o}", "tasks", t, "changefeeds", c);
}

static json_t *decide_json(const opts *o, const ig_config *cfg, const ig_cluster_state *st,
                           const char *state_err)
{
	ig_decide_input in = {.user = o->user, .host = o->host, .db = o->db, .table = o->tbl,
	                      .disable_precheck = o->disable_precheck, .version = {-1, -1, -1},
	                      .state = st, .state_error = state_err, .cfg = cfg};
	ig_decision d;
	char err[256];
	json_t *j;

	if (o->version && ig_tidb_version_parse(o->version, strlen(o->version), &in.version) < 0)
		return json_pack("{s:s}", "error", "bad --tidb-version");
	if (ig_decide(&in, &d, err, sizeof(err)) < 0)
		return json_pack("{s:s}", "error", err);
	j = json_pack("{s:s, s:b, s:b, s:b, s:s?, s:o, s:o, s:s?, s:s}", "verdict", ig_verdict_name(d.verdict),
	              "snapshot_after_import", (d.obligations & IG_OBL_SNAPSHOT_AFTER_IMPORT) != 0,
	              "reimport_downstream", (d.obligations & IG_OBL_REIMPORT_DOWNSTREAM) != 0,
	              "dry_run", d.dry_run, "rule", d.rule ? d.rule->name : NULL,
	              "tasks", strv(d.tasks, d.ntasks), "changefeeds", strv(d.changefeeds, d.nchangefeeds),
	              "message", d.message, "reason", d.reason);
	if (d.verdict == IG_VERDICT_REJECT) {
		json_object_set_new(j, "code", json_integer(d.err_code));
		json_object_set_new(j, "sqlstate", json_string(d.sqlstate));
	}
	ig_decision_free(&d);
	return j;
}

static int print(json_t *o, int rc)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);

	puts(s ? s : "{\"error\":\"out of memory\"}");
	free(s);
	json_decref(o);
	return rc;
}

/* Replaces cluster.pd and timeout_ms from the command line. */
static int override(ig_config *cfg, const opts *o)
{
	if (o->timeout_ms > 0)
		cfg->cluster.timeout_ms = o->timeout_ms;
	if (o->npd == 0)
		return 0;
	for (size_t i = 0; i < cfg->cluster.npd; i++)
		free(cfg->cluster.pd[i]);
	free(cfg->cluster.pd);
	cfg->cluster.npd = 0;
	cfg->cluster.pd = calloc((size_t)o->npd, sizeof(char *));
	if (!cfg->cluster.pd)
		return -1;
	for (int i = 0; i < o->npd; i++) {
		if (!(cfg->cluster.pd[i] = strdup(o->pd[i])))
			return -1;
		cfg->cluster.npd++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	opts o = {0};
	ig_config *cfg;
	ig_cluster_state *st = NULL;
	char err[1024];
	json_t *out;
	int rc;

	if (parse_args(argc, argv, &o) < 0)
		return usage();
	rc = o.config ? ig_config_load(o.config, &cfg, err, sizeof(err))
	              : ig_config_load_string("<defaults>", "", 0, &cfg, err, sizeof(err));
	if (rc < 0)
		return print(json_pack("{s:s}", "error", err), 1);
	if (override(cfg, &o) < 0) {
		ig_config_free(cfg);
		return print(json_pack("{s:s}", "error", "out of memory"), 1);
	}
	rc = ig_cluster_read(cfg, &st, err, sizeof(err));
	out = rc == 0 ? state_json(st) : json_pack("{s:s}", "error", err);
	if (rc == 0 && o.cover_db)
		json_object_set_new(out, "cover", cover_json(st, cfg, o.cover_db, o.cover_tbl));
	if (o.tbl)
		json_object_set_new(out, "decision", decide_json(&o, cfg, st, rc == 0 ? NULL : err));
	ig_cluster_state_free(st);
	ig_config_free(cfg);
	return print(out, rc == 0 ? 0 : 1);
}
