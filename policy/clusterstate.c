/*
 * clusterstate.c - the cluster-state model: building it from etcd key/values (tasks,
 * pause and last-error markers, changefeeds), recording what failed to decode (fail safe:
 * covers every table), and answering which tasks and changefeeds cover a table.
 */
#include "policy/clusterstate.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

ig_cluster_state *ig_cluster_state_new(void)
{
	return calloc(1, sizeof(ig_cluster_state));
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void task_free(ig_lbtask *t)
{
	free(t->name);
	free(t->pb_name);
	free_strv(t->filters, t->nfilters);
	ig_tablefilter_free(t->filter);
	free(t->storage);
}

static void cf_free(ig_changefeed *cf)
{
	free(cf->cluster);
	free(cf->ns);
	free(cf->id);
	free(cf->display);
	free(cf->state_text);
	free_strv(cf->rules, cf->nrules);
	ig_tablefilter_free(cf->filter_cs);
	ig_tablefilter_free(cf->filter_ci);
	free(cf->sink_uri);
}

void ig_cluster_state_free(ig_cluster_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->ntasks; i++)
		task_free(&st->tasks[i]);
	free(st->tasks);
	for (size_t i = 0; i < st->ncfs; i++)
		cf_free(&st->cfs[i]);
	free(st->cfs);
	free_strv(st->problems, st->nproblems);
	free_strv(st->pending_pause, st->npending_pause);
	free_strv(st->pending_error, st->npending_error);
	free(st->source);
	free(st);
}

static int push_str(char ***v, size_t *n, char *s)
{
	char **nv;

	if (!s)
		return -1;
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv) {
		free(s);
		return -1;
	}
	*v = nv;
	nv[(*n)++] = s;
	return 0;
}

int ig_cluster_state_problem(ig_cluster_state *st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return push_str(&st->problems, &st->nproblems, strdup(msg));
}

static int oom(char *err, size_t errlen)
{
	if (errlen)
		snprintf(err, errlen, "out of memory while building the cluster state");
	return -1;
}

static bool has_prefix(const char *key, size_t klen, const char *prefix)
{
	size_t pl = strlen(prefix);
	return klen >= pl && memcmp(key, prefix, pl) == 0;
}

static ig_lbtask *find_task(ig_cluster_state *st, const char *name)
{
	for (size_t i = 0; i < st->ntasks; i++)
		if (strcmp(st->tasks[i].name, name) == 0)
			return &st->tasks[i];
	return NULL;
}

/* name: as the state lists it; bare: as the key holds it (and the info names it). */
static int add_task(ig_cluster_state *st, const char *name, const char *bare, const unsigned char *val,
                    size_t vlen, char *err, size_t errlen)
{
	ig_lbtask *v = realloc(st->tasks, (st->ntasks + 1) * sizeof(*v)), *t;
	char e[300];

	if (!v)
		return oom(err, errlen);
	st->tasks = v;
	t = &v[st->ntasks];
	memset(t, 0, sizeof(*t));
	if (!(t->name = strdup(name)))
		return oom(err, errlen);
	st->ntasks++;
	if (ig_taskinfo_decode(val, vlen, t, e, sizeof(e)) < 0) {
		t->undecodable = true;
		return ig_cluster_state_problem(st, "log backup task \"%s\": cannot decode its info (%s); "
		                                "treated as covering every table", name, e) < 0 ? oom(err, errlen) : 0;
	}
	if (t->pb_name && strcmp(t->pb_name, bare) != 0 &&
	    ig_cluster_state_problem(st, "log backup task \"%s\": its info names it \"%.100s\"", name,
	                             t->pb_name) < 0)
		return oom(err, errlen);
	if (t->nfilters == 0)
		return 0; /* no filter: every table */
	/* Compiled case-insensitively: by default BR lowers names and rules; with its hidden
	 * --case-sensitive it does not, and the task info does not say which (ig_task_cover_why). */
	t->filter = ig_tablefilter_parse((const char *const *)t->filters, t->nfilters, false, e, sizeof(e));
	if (!t->filter) {
		t->undecodable = true;
		return ig_cluster_state_problem(st, "log backup task \"%s\": cannot read its table filter "
		                                "(%s); treated as covering every table", name, e) < 0 ? oom(err, errlen) : 0;
	}
	return 0;
}

static int mark(ig_cluster_state *st, const char *name, bool pause)
{
	ig_lbtask *t = find_task(st, name);

	if (t) {
		if (pause)
			t->paused = true;
		else
			t->has_error = true;
		return 0;
	}
	if (pause)
		return push_str(&st->pending_pause, &st->npending_pause, strdup(name));
	return push_str(&st->pending_error, &st->npending_error, strdup(name));
}

static char *display_name(const ig_changefeed *cf)
{
	char *s;
	size_t n;

	if (!cf->cluster)
		return strdup(cf->id);
	n = strlen(cf->cluster) + strlen(cf->ns) + strlen(cf->id) + 3;
	s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s/%s", cf->cluster, cf->ns, cf->id);
	return s;
}

static int cf_filters(ig_cluster_state *st, ig_changefeed *cf)
{
	char e[300];
	const char *const *rules = (const char *const *)cf->rules;

	if (cf->case_sensitive != 0)
		cf->filter_cs = ig_tablefilter_parse(rules, cf->nrules, true, e, sizeof(e));
	if (cf->case_sensitive == 0 || cf->filter_cs)
		cf->filter_ci = ig_tablefilter_parse(rules, cf->nrules, false, e, sizeof(e));
	if (cf->filter_ci)
		return 0;
	cf->undecodable = true;
	return ig_cluster_state_problem(st, "changefeed \"%s\": cannot read its filter rules (%s); "
	                                "treated as covering every table", cf->display, e);
}

static int add_changefeed(ig_cluster_state *st, char *cluster, char *ns, char *id,
                          const unsigned char *val, size_t vlen, char *err, size_t errlen)
{
	ig_changefeed *v = realloc(st->cfs, (st->ncfs + 1) * sizeof(*v)), *cf;
	char e[300];

	if (!v) {
		free(cluster);
		free(ns);
		free(id);
		return oom(err, errlen);
	}
	st->cfs = v;
	cf = &v[st->ncfs++];
	memset(cf, 0, sizeof(*cf));
	cf->cluster = cluster;
	cf->ns = ns;
	cf->id = id;
	cf->state = IG_CFSTATE_UNKNOWN;
	if (!(cf->display = display_name(cf)))
		return oom(err, errlen);
	if (ig_changefeed_decode((const char *)val, vlen, cf, e, sizeof(e)) < 0) {
		cf->undecodable = true;
		return ig_cluster_state_problem(st, "changefeed \"%s\": %s; treated as covering every table",
		                                cf->display, e) < 0 ? oom(err, errlen) : 0;
	}
	if (cf->state == IG_CFSTATE_UNKNOWN &&
	    ig_cluster_state_problem(st, "changefeed \"%s\": unknown state \"%.40s\"; treated as covering",
	                             cf->display, cf->state_text) < 0)
		return oom(err, errlen);
	return cf_filters(st, cf) < 0 ? oom(err, errlen) : 0;
}

/* The name part of a br-stream key: up to the end (info, pause) or the next '/' (last-error). */
static char *key_name(const char *key, size_t klen, const char *prefix, bool to_slash)
{
	const char *s = key + strlen(prefix), *e = key + klen, *sl;

	if (to_slash && (sl = memchr(s, '/', (size_t)(e - s))))
		e = sl;
	return strndup(s, (size_t)(e - s));
}

size_t ig_keyspace_ns_len(const char *key, size_t klen)
{
	size_t p = strlen(IG_KEY_KEYSPACES), i = p;

	if (!has_prefix(key, klen, IG_KEY_KEYSPACES))
		return 0;
	while (i < klen && i - p <= 10 && key[i] >= '0' && key[i] <= '9')
		i++;
	return i > p && i - p <= 10 && i < klen && key[i] == '/' ? i : 0; /* ids are uint32 */
}

bool ig_task_key(const char *key, size_t klen)
{
	return has_prefix(key, klen, IG_KEY_TASK_INFO) || has_prefix(key, klen, IG_KEY_TASK_PAUSE) ||
	       has_prefix(key, klen, IG_KEY_TASK_LAST_ERROR);
}

/* A task under a keyspace namespace is another task than a plain one of the same name: its
 * name says which keyspace (key holds the namespace, ns bytes of it). */
static char *listed_name(const char *key, size_t ns, const char *bare)
{
	size_t p = strlen(IG_KEY_KEYSPACES), n;
	char *s;

	if (!ns)
		return strdup(bare);
	n = strlen(bare) + (ns - p) + sizeof(" (keyspace )");
	if ((s = malloc(n)))
		snprintf(s, n, "%s (keyspace %.*s)", bare, (int)(ns - p), key + p);
	return s;
}

int ig_cluster_state_add(ig_cluster_state *st, const char *key, size_t klen,
                         const unsigned char *val, size_t vlen, char *err, size_t errlen)
{
	size_t ksl = ig_keyspace_ns_len(key, klen);
	const char *k = key + ksl;
	size_t kl = klen - ksl;
	char *bare, *name, *cluster, *ns, *id;
	int rc;

	if (ig_task_key(k, kl)) {
		bool info = has_prefix(k, kl, IG_KEY_TASK_INFO), pause = has_prefix(k, kl, IG_KEY_TASK_PAUSE);
		bare = key_name(k, kl, info ? IG_KEY_TASK_INFO : pause ? IG_KEY_TASK_PAUSE : IG_KEY_TASK_LAST_ERROR,
		                !info && !pause);
		name = bare ? listed_name(key, ksl, bare) : NULL;
		rc = !name ? -1 : info ? add_task(st, name, bare, val, vlen, err, errlen) : mark(st, name, pause);
		free(bare);
		free(name);
		return rc < 0 ? oom(err, errlen) : 0;
	}
	if (ksl)
		return 0;
	rc = ig_changefeed_key(key, klen, &cluster, &ns, &id);
	if (rc < 0)
		return oom(err, errlen);
	if (rc == 0)
		return 0;
	return add_changefeed(st, cluster, ns, id, val, vlen, err, errlen);
}

void ig_cluster_state_finish(ig_cluster_state *st)
{
	for (size_t i = 0; i < st->npending_pause; i++) {
		ig_lbtask *t = find_task(st, st->pending_pause[i]);
		if (t)
			t->paused = true; /* a pause key without its task is stale: ignored, as BR does */
	}
	for (size_t i = 0; i < st->npending_error; i++) {
		ig_lbtask *t = find_task(st, st->pending_error[i]);
		if (t)
			t->has_error = true;
	}
	free_strv(st->pending_pause, st->npending_pause);
	free_strv(st->pending_error, st->npending_error);
	st->pending_pause = st->pending_error = NULL;
	st->npending_pause = st->npending_error = 0;
}

/*
 * Schemas TiCDC never replicates, whatever a changefeed's filter: tiflow pkg/filter/utils.go
 * isSysSchema (filter.ShouldIgnoreTable), read per release tag:
 *   every version   TiDB's pkg/util/filter IsSystemSchema, any case: mysql, sys, dm_heartbeat,
 *                   information_schema, performance_schema, metrics_schema, inspection_schema
 *   tidb_cdc        v7.1.4+ on 7.1, v7.5.1+ on 7.5, v8.0.0+ (not v7.2-v7.4, v7.6)
 *   lightning_task_info  v8.2.0+ (tiflow#11359)
 *   workload_schema v26.3+ (tiflow v26.3.0; classic TiCDC v8.5.x replicates it)
 * Only the first row is trusted here. The other three depend on TiCDC's release, which is
 * not TiDB's (TiCDC is upgraded on its own, and the greeting names TiDB's), and before v26.3
 * they are compared with the schema's name as stored, whose case a statement does not show
 * (TiDB resolves names in any case): a changefeed is taken to cover them.
 */
bool ig_is_system_schema(const char *db)
{
	static const char *const sys[] = {"mysql", "information_schema", "performance_schema",
	                                  "metrics_schema", "inspection_schema", "sys",
	                                  "dm_heartbeat"};

	for (size_t i = 0; db && i < sizeof(sys) / sizeof(sys[0]); i++)
		if (strcasecmp(db, sys[i]) == 0)
			return true;
	return false;
}



/* Log backup observes what its filter matches, system schemas too: a filter of exactly
 * "*.*" observes the whole table key space, any other the matching tables of every schema
 * but the memory ones (br/pkg/stream BuildObserveDataRanges, util.IsMemDB on the lower-case
 * name). Memory schemas hold no keys either way. */
bool ig_logbackup_ignores_schema(const char *db)
{
	static const char *const mem[] = {"information_schema", "performance_schema", "metrics_schema"};

	for (size_t i = 0; db && i < sizeof(mem) / sizeof(mem[0]); i++)
		if (strcasecmp(db, mem[i]) == 0)
			return true;
	return false;
}

static void why(ig_cover_why *out, bool covers, size_t rule, const char *text)
{
	out->covers = covers;
	out->rule = rule;
	out->why = text;
}

static void filter_why(ig_cover_why *out, int m, size_t rule)
{
	if (m < 0) /* ig_tablefilter_match: an evaluation failure counts as a match */
		why(out, true, SIZE_MAX, "a filter rule could not be evaluated: counted as covering");
	else if (m > 0)
		why(out, true, rule, "a filter rule matches");
	else if (rule != SIZE_MAX)
		why(out, false, rule, "a negated filter rule excludes the table");
	else
		why(out, false, SIZE_MAX, "no filter rule matches");
}

/* `br log start` matches the filter against the names TiDB stores (br/pkg/stream
 * buildObserveTableRanges: MatchTable(dbInfo.Name.O, tableInfo.Name.O)), case-insensitively
 * unless its hidden --case-sensitive flag is set (br/pkg/task/common.go ParseFromFlags), and
 * StreamBackupTaskInfo keeps only the rules: a rule such as `!shop.Orders` under that flag
 * leaves shop.orders observed. So a task is read as a changefeed of unknown case
 * sensitivity: it covers when some spelling of the names would be observed.
 *
 * And the names are matched once, at start: a filter other than exactly "*.*" becomes the
 * record ranges of the tables (or partitions) it matched then, by id (br/pkg/stream
 * BuildObserveDataRanges: only len(filterStr) == 1 && filterStr[0] == "*.*" observes the
 * whole table space; buildObserveTableRanges / buildObserveTableRange otherwise), and TiKV
 * observes those ids whatever the tables are called later. `RENAME TABLE shop.orders TO
 * x.orders` (or an EXCHANGE PARTITION) keeps an observed table under a name the filter does
 * not match. The ids are not known here, so such a task covers every table unless the
 * operator chose to read filters by name (policy.log_backup_filters: by-name). */
bool ig_lbtask_filtered(const ig_lbtask *t)
{
	return !t->undecodable && t->nfilters > 0 && !(t->nfilters == 1 && strcmp(t->filters[0], "*.*") == 0);
}

void ig_task_cover_why(const ig_lbtask *t, const char *db, const char *tbl, bool filters_by_name,
                       ig_cover_why *out)
{
	size_t rule;

	if (ig_logbackup_ignores_schema(db))
		why(out, false, SIZE_MAX, "log backup never observes the memory schemas");
	else if (t->undecodable)
		why(out, true, SIZE_MAX, "its info or filter could not be read: counted as covering every table");
	else if (t->nfilters == 0)
		why(out, true, SIZE_MAX, "no table filter: every table");
	else if (!filters_by_name && ig_lbtask_filtered(t))
		why(out, true, SIZE_MAX,
		    "its filter is not \"*.*\": log backup observes the tables it matched at the task's start by "
		    "table id, under any name they have since; counted as covering every table "
		    "(policy.log_backup_filters: every-table)");
	else {
		int m = ig_tablefilter_decide_any_case(t->filter, db, tbl, &rule); /* sets rule */
		filter_why(out, m, rule);
	}
}

/* A case-sensitive changefeed compares the names as stored in TiDB (tiflow pkg/filter
 * filter.go NewFilter: CaseInsensitive only when case-sensitive is false; ShouldIgnoreTable
 * gets the TableInfo's stored schema and table names), while a statement may spell them in
 * any case (TiDB resolves them case-insensitively). The stored spelling is not known here,
 * so the changefeed covers the table when SOME spelling would be replicated: reading the
 * statement's spelling alone, `!db.T` excluded `IMPORT INTO db.T` although the table was
 * created as db.t, which TiCDC replicates. case-sensitive absent (-1) is read the same way. */
void ig_cf_cover_why(const ig_changefeed *cf, const char *db, const char *tbl, ig_cover_why *out)
{
	size_t rule = SIZE_MAX;
	int m;

	if (ig_is_system_schema(db)) {
		why(out, false, SIZE_MAX, "TiCDC never replicates the system schemas");
		return;
	}
	if (cf->state == IG_CFSTATE_FINISHED || cf->state == IG_CFSTATE_REMOVED) {
		why(out, false, SIZE_MAX, "finished or removed: replicates nothing");
		return;
	}
	if (cf->undecodable) {
		why(out, true, SIZE_MAX, "its info or filter could not be read: counted as covering every table");
		return;
	}
	if (cf->case_sensitive == 0)
		m = ig_tablefilter_decide(cf->filter_ci, db, tbl, &rule);
	else
		m = ig_tablefilter_decide_any_case(cf->filter_ci, db, tbl, &rule);
	filter_why(out, m, rule);
}

const char *ig_lbtask_state_name(const ig_lbtask *t)
{
	return t->undecodable ? "undecodable" : t->has_error ? "error" : t->paused ? "paused" : "normal";
}

void ig_coverage_free(ig_coverage *c)
{
	if (!c)
		return;
	free(c->tasks);
	free(c->cfs);
	memset(c, 0, sizeof(*c));
}

int ig_cluster_covering(const ig_cluster_state *st, const char *db, const char *tbl, bool filters_by_name,
                        ig_coverage *out)
{
	ig_cover_why w;

	memset(out, 0, sizeof(*out));
	if (!st || !db || !tbl)
		return 0;
	out->tasks = calloc(st->ntasks ? st->ntasks : 1, sizeof(size_t));
	out->cfs = calloc(st->ncfs ? st->ncfs : 1, sizeof(size_t));
	if (!out->tasks || !out->cfs) {
		ig_coverage_free(out);
		return -1;
	}
	for (size_t i = 0; i < st->ntasks; i++) {
		ig_task_cover_why(&st->tasks[i], db, tbl, filters_by_name, &w);
		if (w.covers)
			out->tasks[out->ntasks++] = i;
	}
	for (size_t i = 0; i < st->ncfs; i++) {
		ig_cf_cover_why(&st->cfs[i], db, tbl, &w);
		if (w.covers)
			out->cfs[out->ncfs++] = i;
	}
	return 0;
}
