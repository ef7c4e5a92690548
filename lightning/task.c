/*
 * task.c - reads a TiDB Lightning task file (task.h says which keys, with sources). The
 * TOML is parsed by lightning/toml.cc into a jansson tree; this file walks that tree.
 */
#include "lightning/task.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lightning/toml.h"

/* pkg/lightning/config/config.go defaultFilter (v8.x; DefaultFilter in v7.5). */
const char *const ig_ltn_default_filter[] = {
	"*.*", "!mysql.*", "!sys.*", "!INFORMATION_SCHEMA.*", "!PERFORMANCE_SCHEMA.*",
	"!METRICS_SCHEMA.*", "!INSPECTION_SCHEMA.*",
};
const size_t ig_ltn_default_filter_n = sizeof(ig_ltn_default_filter) / sizeof(ig_ltn_default_filter[0]);

const char *ig_ltn_backend_name(ig_ltn_backend b)
{
	return b == IG_LTN_BACKEND_TIDB ? "tidb" : "local";
}

typedef struct rd {
	const char *name;
	char *err;
	size_t errlen;
} rd;

__attribute__((format(printf, 2, 3))) static int fail(rd *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!r->errlen)
		return -1;
	n = snprintf(r->err, r->errlen, "%s: ", r->name);
	if (n < 0 || (size_t)n >= r->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int oom(rd *r)
{
	return fail(r, "out of memory");
}

/* A table of the document; NULL when absent. -1 when present but not a table. */
static int section(rd *r, json_t *doc, const char *key, json_t **out)
{
	*out = json_object_get(doc, key);
	if (*out && !json_is_object(*out))
		return fail(r, "[%s] must be a table", key);
	return 0;
}

/* An optional string key of a table: *out NULL when absent. */
static int opt_string(rd *r, json_t *tbl, const char *sec, const char *key, char **out)
{
	json_t *v = tbl ? json_object_get(tbl, key) : NULL;

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return fail(r, "%s.%s must be a string", sec, key);
	if (!(*out = strdup(json_string_value(v))))
		return oom(r);
	return 0;
}

static int opt_bool(rd *r, json_t *tbl, const char *sec, const char *key, bool *out)
{
	json_t *v = tbl ? json_object_get(tbl, key) : NULL;

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return fail(r, "%s.%s must be true or false", sec, key);
	*out = json_is_true(v);
	return 0;
}

static int opt_int(rd *r, json_t *tbl, const char *sec, const char *key, long *out)
{
	json_t *v = tbl ? json_object_get(tbl, key) : NULL;

	if (!v)
		return 0;
	if (!json_is_integer(v))
		return fail(r, "%s.%s must be an integer", sec, key);
	*out = (long)json_integer_value(v);
	return 0;
}

static int read_backend(rd *r, json_t *doc, ig_ltn_task *t)
{
	json_t *imp;
	char *b = NULL;
	int rc = -1;

	if (section(r, doc, "tikv-importer", &imp) < 0 || opt_string(r, imp, "tikv-importer", "backend", &b) < 0)
		return -1;
	/* TikvImporter.adjust: empty is refused, the value is lowered */
	if (!b || !*b)
		fail(r, "tikv-importer.backend must not be empty! (\"local\": physical import, \"tidb\": logical import)");
	else {
		for (char *p = b; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		if (strcmp(b, "local") == 0) {
			t->backend = IG_LTN_BACKEND_LOCAL;
			rc = 0;
		} else if (strcmp(b, "tidb") == 0) {
			t->backend = IG_LTN_BACKEND_TIDB;
			rc = 0;
		} else
			fail(r, "unsupported `tikv-importer.backend` (%.64s): Lightning v7.5-v8.5 knows \"local\" and \"tidb\"", b);
	}
	free(b);
	return rc;
}

/* The scheme url.Parse finds (net/url getScheme): letters, then letters, digits, "+-." up to
 * the first ":"; anything else first (a "/", a leading digit) means none. Lowered, as Parse
 * lowers it. 0 when there is none. */
static size_t url_scheme(const char *s, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			continue;
		if (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
			continue;
		if (c == ':' && i > 0 && i < outlen) {
			for (size_t k = 0; k < i; k++)
				out[k] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]);
			out[i] = 0;
			return i;
		}
		return 0;
	}
	return 0;
}

/* data-source-dir: a local path, or a file:// / local:// URL of one; storage URLs are refused
 * (the preflight lists the files itself). Lightning parses it as a URL (config.go
 * adjustFilePath, br/pkg/storage/parse.go parseBackend): a plain path is used as written,
 * a "file"/"local" URL by url.Parse's Path, which decodes %XX, drops ?query and #fragment
 * and the host ("file://data/x" is "/x"). Only "file:///path" without those is read here: a
 * URL the preflight would read differently is refused rather than guessed. */
static int read_source(rd *r, json_t *my, ig_ltn_task *t)
{
	const char *s;
	char scheme[16];
	size_t n;

	if (opt_string(r, my, "mydumper", "data-source-dir", &t->source_dir) < 0)
		return -1;
	if (!t->source_dir || !*t->source_dir)
		return fail(r, "`mydumper.data-source-dir` is not set");
	s = t->source_dir;
	if ((n = url_scheme(s, scheme, sizeof(scheme))) > 0) {
		if (strcmp(scheme, "file") != 0 && strcmp(scheme, "local") != 0)
			/* the URL is not echoed: its query may hold keys (s3 access-key, secret-access-key) */
			return fail(r, "mydumper.data-source-dir is on external storage (%s://); the preflight reads "
			            "only a local directory (list the tables with a local copy of the export, or run "
			            "Lightning's own check)", scheme);
		if (strncmp(s + n, ":///", 4) != 0 || strpbrk(s + n, "%?#"))
			return fail(r, "mydumper.data-source-dir: write a local directory as a plain path or as %s:///path "
			            "without a host, %%-escapes, '?' or '#' (Lightning reads the URL's decoded path, which "
			            "the preflight does not guess)", scheme);
		s += n + 3;
	}
	if (!*s)
		return fail(r, "`mydumper.data-source-dir` is not set");
	if (!(t->source_path = strdup(s)))
		return oom(r);
	return 0;
}

static int read_filter(rd *r, json_t *my, ig_ltn_task *t)
{
	json_t *f = my ? json_object_get(my, "filter") : NULL;
	const char *const *src = ig_ltn_default_filter;
	size_t n = ig_ltn_default_filter_n;

	t->filter_default = f == NULL;
	if (f) {
		if (!json_is_array(f))
			return fail(r, "mydumper.filter must be an array of table-filter rules");
		n = json_array_size(f);
		for (size_t i = 0; i < n; i++)
			if (!json_is_string(json_array_get(f, i)))
				return fail(r, "mydumper.filter[%zu] must be a string", i);
	}
	if (!(t->filter = calloc(n ? n : 1, sizeof(char *))))
		return oom(r);
	for (size_t i = 0; i < n; i++, t->nfilter++)
		if (!(t->filter[i] = strdup(f ? json_string_value(json_array_get(f, i)) : src[i])))
			return oom(r);
	return 0;
}

static int read_route(rd *r, json_t *o, size_t i, ig_ltn_route *rt)
{
	static const char *const known[] = {"schema-pattern", "table-pattern", "target-schema", "target-table"};
	char **fields[] = {&rt->schema_pattern, &rt->table_pattern, &rt->target_schema, &rt->target_table};
	const char *key;
	json_t *v;
	char sec[32];

	if (!json_is_object(o))
		return fail(r, "routes[%zu] must be a table ([[routes]])", i);
	json_object_foreach(o, key, v) {
		bool ok = false;
		for (size_t k = 0; k < 4; k++)
			ok = ok || strcmp(key, known[k]) == 0;
		if (!ok)
			return fail(r, "routes[%zu].%.40s is not read by the preflight (extractors and other keys "
			            "change no table name it must know)", i, key);
	}
	snprintf(sec, sizeof(sec), "routes[%zu]", i);
	for (size_t k = 0; k < 4; k++) {
		if (opt_string(r, o, sec, known[k], fields[k]) < 0)
			return -1;
		if (!*fields[k] && !(*fields[k] = strdup("")))
			return oom(r);
	}
	/* TableRule.Valid (pkg/util/table-router) */
	if (!*rt->schema_pattern)
		return fail(r, "routes[%zu]: schema pattern of table route rule should not be empty", i);
	if (!*rt->target_schema)
		return fail(r, "routes[%zu]: target schema of table route rule should not be empty", i);
	return 0;
}

static int read_routes(rd *r, json_t *doc, ig_ltn_task *t)
{
	json_t *a = json_object_get(doc, "routes");
	size_t n;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return fail(r, "routes must be an array of tables ([[routes]])");
	n = json_array_size(a);
	if (!(t->routes = calloc(n ? n : 1, sizeof(*t->routes))))
		return oom(r);
	for (size_t i = 0; i < n; i++) {
		t->nroutes++;
		if (read_route(r, json_array_get(a, i), i, &t->routes[i]) < 0)
			return -1;
	}
	return 0;
}

static int refuse_unread(rd *r, json_t *doc, json_t *my)
{
	json_t *files = my ? json_object_get(my, "files") : NULL;

	if (files && (!json_is_array(files) || json_array_size(files) > 0))
		return fail(r, "[[mydumper.files]] custom file rules are not read by the preflight: it finds tables by "
		            "Dumpling's naming only ({schema}.{table}-schema.sql, {schema}.{table}.{n}.csv|sql|parquet)");
	if (json_object_get(doc, "black-white-list"))
		return fail(r, "[black-white-list] (the legacy filter) is not read by the preflight: use "
		            "[mydumper] filter");
	return 0;
}

/* Lightning decodes the task with BurntSushi/toml, whose struct decoding takes a key that
 * names no field exactly by strings.EqualFold (decode.go unifyStruct): [[Routes]],
 * [[mydumper.Files]] or a Unicode fold ("route\u017f") are Lightning's routes and file rules.
 * Every field Lightning reads is spelled in lower-case ASCII, so any other key is refused
 * rather than read as Lightning might read it. [tidb.session-vars] is a map of variable
 * names: its keys are not fields. */
static bool lightning_key(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '-' || *k == '_'))
			return false;
	return true;
}

static int check_keys(rd *r, json_t *v, const char *where, int depth)
{
	const char *key;
	json_t *c;
	size_t i;

	if (depth > 16)
		return fail(r, "[%.80s] is nested too deep for a Lightning task", where);
	if (json_is_array(v)) {
		json_array_foreach(v, i, c)
			if (check_keys(r, c, where, depth + 1) < 0)
				return -1;
		return 0;
	}
	if (!json_is_object(v))
		return 0;
	json_object_foreach(v, key, c) {
		char sub[160];
		if (!lightning_key(key))
			return fail(r, "key \"%.60s\"%s%.80s%s: Lightning matches its task keys case-insensitively, so it "
			            "may read this key as one of its own; write Lightning's keys in lower case", key,
			            *where ? " in [" : "", where, *where ? "]" : "");
		snprintf(sub, sizeof(sub), "%s%s%s", where, *where ? "." : "", key);
		if (strcmp(sub, "tidb.session-vars") != 0 && check_keys(r, c, sub, depth + 1) < 0)
			return -1;
	}
	return 0;
}

static int parse_doc(rd *r, json_t *doc, ig_ltn_task *t)
{
	json_t *app, *my, *tidb;

	if (check_keys(r, doc, "", 0) < 0 || section(r, doc, "lightning", &app) < 0 ||
	    section(r, doc, "mydumper", &my) < 0 ||
	    section(r, doc, "tidb", &tidb) < 0)
		return -1;
	t->check_requirements = true;
	if (opt_bool(r, app, "lightning", "check-requirements", &t->check_requirements) < 0 ||
	    opt_bool(r, my, "mydumper", "case-sensitive", &t->case_sensitive) < 0 ||
	    refuse_unread(r, doc, my) < 0 || read_backend(r, doc, t) < 0 || read_source(r, my, t) < 0 ||
	    read_filter(r, my, t) < 0 || read_routes(r, doc, t) < 0 ||
	    opt_string(r, tidb, "tidb", "user", &t->tidb_user) < 0 ||
	    opt_string(r, tidb, "tidb", "host", &t->tidb_host) < 0 ||
	    opt_string(r, tidb, "tidb", "pd-addr", &t->pd_addr) < 0)
		return -1;
	t->tidb_status_port = 10080; /* NewGlobalConfig */
	if (opt_int(r, tidb, "tidb", "status-port", &t->tidb_status_port) < 0 ||
	    opt_int(r, tidb, "tidb", "port", &t->tidb_port) < 0) /* 0 unset: config.go CheckAndAdjustTiDBPort */
		return -1;
	if (t->pd_addr && !*t->pd_addr) { /* len(PdAddr) == 0: Lightning asks TiDB */
		free(t->pd_addr);
		t->pd_addr = NULL;
	}
	if ((!t->tidb_user && !(t->tidb_user = strdup("root"))) ||
	    (!t->tidb_host && !(t->tidb_host = strdup("127.0.0.1"))))
		return oom(r);
	return 0;
}

int ig_ltn_task_parse(const char *name, const char *text, size_t len, ig_ltn_task *out,
                      char *err, size_t errlen)
{
	rd r = {.name = name ? name : "task", .err = err, .errlen = errlen};
	char terr[256];
	json_t *doc;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!(doc = ig_toml_parse(text, len, terr, sizeof(terr))))
		return fail(&r, "not valid TOML: %s", terr);
	rc = parse_doc(&r, doc, out);
	json_decref(doc);
	if (rc < 0)
		ig_ltn_task_free(out);
	return rc;
}

void ig_ltn_task_free(ig_ltn_task *t)
{
	if (!t)
		return;
	free(t->source_dir);
	free(t->source_path);
	for (size_t i = 0; i < t->nfilter; i++)
		free(t->filter[i]);
	free(t->filter);
	for (size_t i = 0; i < t->nroutes; i++) {
		free(t->routes[i].schema_pattern);
		free(t->routes[i].table_pattern);
		free(t->routes[i].target_schema);
		free(t->routes[i].target_table);
	}
	free(t->routes);
	free(t->tidb_user);
	free(t->tidb_host);
	free(t->pd_addr);
	memset(t, 0, sizeof(*t));
}
