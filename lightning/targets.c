/*
 * targets.c - a task's target tables from the file names of its data source (targets.h has
 * the naming rules and their source).
 */
#include "lightning/targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "lightning/route.h"
#include "policy/tablefilter.h"
#include "sqlparse/hexdigit.h"

typedef enum { F_IGNORE, F_SCHEMA_SCHEMA, F_TABLE_SCHEMA, F_VIEW_SCHEMA, F_DATA } ftype;

/* defaultFileRouteRules of router.go, in order (the first that matches wins). Group numbers
 * of schema and table; 0 = none. */
static const struct {
	const char *re;
	ftype type;
	int schema, table;
} file_rules[] = {
	{"(?i).*(-schema-trigger|-schema-post)\\.sql(?:\\.(\\w*?))?$", F_IGNORE, 0, 0},
	{"(?i).*\\.(sql|csv|parquet)(\\.(\\w+))?\\.(bak|BAK)$", F_IGNORE, 0, 0},
	{"(?i)^(?:[^/]*/)*([^/.]+)-schema-create\\.sql(?:\\.(\\w*?))?$", F_SCHEMA_SCHEMA, 1, 0},
	{"(?i)^(?:[^/]*/)*([^/.]+)\\.(.*?)-schema\\.sql(?:\\.(\\w*?))?$", F_TABLE_SCHEMA, 1, 2},
	{"(?i)^(?:[^/]*/)*([^/.]+)\\.(.*?)-schema-view\\.sql(?:\\.(\\w*?))?$", F_VIEW_SCHEMA, 1, 2},
	{"(?i)^(?:[^/]*/)*([^/.]+)\\.(.*)\\.([0-9]+)\\.(snappy|gzip|gz|zstd|zst)\\.parquet$", F_DATA, 1, 2},
	{"(?i)^(?:[^/]*/)*([^/.]+)\\.(.*?)(?:\\.([0-9]+))?\\.(sql|csv|parquet)(?:\\.(\\w+))?$", F_DATA, 1, 2},
};
#define NRULES (sizeof(file_rules) / sizeof(file_rules[0]))

typedef struct finder {
	pcre2_code *re[NRULES];
	pcre2_match_data *md;
	ig_tablefilter *filter;
	ig_ltn_router *router;
	ig_ltn_targets *out;
	size_t cap;
	char *err;
	size_t errlen;
} finder;

static int oom(finder *f)
{
	snprintf(f->err, f->errlen, "out of memory");
	return -1;
}

/* url.PathUnescape: %XX decoded; a malformed escape leaves the name as it is (the router
 * logs a warning and keeps the value). */

static char *path_unescape(const char *s, size_t n)
{
	char *o = malloc(n + 1), *w = o;

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int a, b;
		if (s[i] != '%') {
			*w++ = s[i];
			continue;
		}
		a = i + 2 < n ? sql_hex_digit(s[i + 1]) : -1;
		b = a >= 0 ? sql_hex_digit(s[i + 2]) : -1;
		if (b < 0) { /* malformed: the whole name as it is */
			memcpy(o, s, n);
			o[n] = 0;
			return o;
		}
		*w++ = (char)(a << 4 | b);
		i += 2;
	}
	*w = 0;
	return o;
}

static int compile(finder *f)
{
	for (size_t i = 0; i < NRULES; i++) {
		int ec;
		PCRE2_SIZE off;
		f->re[i] = pcre2_compile((PCRE2_SPTR)file_rules[i].re, PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL);
		if (!f->re[i]) {
			snprintf(f->err, f->errlen, "internal: file rule %zu does not compile", i);
			return -1;
		}
	}
	f->md = pcre2_match_data_create(16, NULL);
	return f->md ? 0 : oom(f);
}

static ig_ltn_table *find_table(finder *f, const char *db, const char *tbl)
{
	for (size_t i = 0; i < f->out->n; i++)
		if (strcmp(f->out->v[i].db, db) == 0 && strcmp(f->out->v[i].table, tbl) == 0)
			return &f->out->v[i];
	return NULL;
}

/* The target of one source table, added when new. NULL + err on failure. */
static ig_ltn_table *target_of(finder *f, const char *sdb, const char *stbl, bool *is_new_source)
{
	char *db, *tbl;
	ig_ltn_table *t;

	*is_new_source = false;
	if (f->router) {
		if (ig_ltn_route_table(f->router, sdb, stbl, &db, &tbl, f->err, f->errlen) < 0)
			return NULL;
	} else if (!(db = strdup(sdb)) || !(tbl = strdup(stbl))) {
		free(db);
		oom(f);
		return NULL;
	}
	if ((t = find_table(f, db, tbl))) {
		free(db);
		free(tbl);
		return t;
	}
	if (f->out->n == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 16;
		ig_ltn_table *nv = realloc(f->out->v, nc * sizeof(*nv));
		if (!nv) {
			free(db);
			free(tbl);
			oom(f);
			return NULL;
		}
		f->out->v = nv;
		f->cap = nc;
	}
	t = &f->out->v[f->out->n];
	memset(t, 0, sizeof(*t));
	t->db = db;
	t->table = tbl;
	t->src_db = strdup(sdb);
	t->src_table = strdup(stbl);
	f->out->n++;
	if (!t->src_db || !t->src_table) {
		oom(f);
		return NULL;
	}
	*is_new_source = true;
	return t;
}

/* The source tables seen: a target counts each of its sources once (a merge has several). */
typedef struct seen {
	char **v;
	size_t n, cap;
} seen;

static int seen_add(seen *s, const char *db, const char *tbl, bool *added)
{
	size_t ld = strlen(db), lt = strlen(tbl);
	char *k;

	*added = false;
	for (size_t i = 0; i < s->n; i++)
		if (strncmp(s->v[i], db, ld) == 0 && s->v[i][ld] == 0 && strcmp(s->v[i] + ld + 1, tbl) == 0)
			return 0;
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 16;
		char **nv = realloc(s->v, nc * sizeof(char *));
		if (!nv)
			return -1;
		s->v = nv;
		s->cap = nc;
	}
	if (!(k = malloc(ld + lt + 2)))
		return -1;
	memcpy(k, db, ld + 1);
	memcpy(k + ld + 1, tbl, lt + 1);
	s->v[s->n++] = k;
	*added = true;
	return 0;
}

static int one_file(finder *f, seen *sn, const char *path)
{
	size_t r;
	int rc = -1;
	PCRE2_SIZE *ov;
	char *sdb = NULL, *stbl = NULL;
	ig_ltn_table *t;
	bool added, fresh;

	f->out->files_seen++;
	for (r = 0; r < NRULES; r++) {
		rc = pcre2_match(f->re[r], (PCRE2_SPTR)path, PCRE2_ZERO_TERMINATED, 0, 0, f->md, NULL);
		if (rc >= 0)
			break;
	}
	if (r == NRULES || file_rules[r].type == F_IGNORE || file_rules[r].type == F_SCHEMA_SCHEMA ||
	    file_rules[r].type == F_VIEW_SCHEMA) {
		f->out->files_ignored++; /* a database schema makes no table; views load no data */
		return 0;
	}
	ov = pcre2_get_ovector_pointer(f->md);
	sdb = path_unescape(path + ov[2], ov[3] - ov[2]);
	stbl = path_unescape(path + ov[4], ov[5] - ov[4]);
	if (!sdb || !stbl) {
		free(sdb);
		free(stbl);
		return oom(f);
	}
	rc = 0;
	/* shouldSkip: the filter sees the source names (filter.CaseInsensitive unless case-sensitive) */
	if (!ig_tablefilter_match(f->filter, sdb, stbl)) {
		f->out->files_filtered++;
	} else if (!(t = target_of(f, sdb, stbl, &fresh)) || seen_add(sn, sdb, stbl, &added) < 0) {
		rc = f->err[0] ? -1 : oom(f);
	} else {
		if (added)
			t->sources++;
		if (file_rules[r].type == F_DATA)
			t->data_files++;
		else
			t->schema_file = true;
	}
	free(sdb);
	free(stbl);
	return rc;
}

static int cmp_table(const void *a, const void *b)
{
	const ig_ltn_table *x = a, *y = b;
	int c = strcmp(x->db, y->db);
	return c ? c : strcmp(x->table, y->table);
}

int ig_ltn_targets_find(const ig_ltn_task *task, const char *const *paths, size_t n,
                        ig_ltn_targets *out, char *err, size_t errlen)
{
	finder f = {.out = out, .err = err, .errlen = errlen};
	seen sn = {0};
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (errlen)
		err[0] = 0;
	if (compile(&f) < 0)
		goto done;
	if (!(f.filter = ig_tablefilter_parse((const char *const *)task->filter, task->nfilter,
	                                      task->case_sensitive, err, errlen)))
		goto done;
	if (task->nroutes && !(f.router = ig_ltn_router_new(task->routes, task->nroutes, task->case_sensitive,
	                                                     err, errlen)))
		goto done;
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = one_file(&f, &sn, paths[i]);
	if (rc == 0 && out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_table);
done:
	for (size_t i = 0; i < sn.n; i++)
		free(sn.v[i]);
	free(sn.v);
	for (size_t i = 0; i < NRULES; i++)
		pcre2_code_free(f.re[i]);
	pcre2_match_data_free(f.md);
	ig_tablefilter_free(f.filter);
	ig_ltn_router_free(f.router);
	if (rc < 0)
		ig_ltn_targets_free(out);
	return rc;
}

void ig_ltn_targets_free(ig_ltn_targets *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].db);
		free(t->v[i].table);
		free(t->v[i].src_db);
		free(t->v[i].src_table);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}
