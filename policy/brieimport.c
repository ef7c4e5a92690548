/*
 * brieimport.c - decodes /tidb/brie/import/<kind>/<task> registrations (pingcap/tidb
 * br/pkg/utils/register.go: the key is path.Join(prefix, kind, task), the value "", a lease
 * keeps it alive; kinds "restore", "lightning", and "import-into" in newer releases), a
 * range answer of the prefix, and the conflicts of a running import with the log backup
 * tasks and changefeeds of a cluster state.
 */
#include "policy/brieimport.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/base64.h"
#include "policy/etcdjson.h"

static const struct {
	const char *name;
	ig_brie_kind kind;
} kinds[] = {
	{"restore", IG_BRIE_RESTORE},
	{"lightning", IG_BRIE_LIGHTNING},
	{"import-into", IG_BRIE_IMPORT_INTO},
};

const char *ig_brie_kind_name(ig_brie_kind k)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].kind == k)
			return kinds[i].name;
	return "other";
}

void ig_brie_import_clear(ig_brie_import *b)
{
	if (!b)
		return;
	free(b->kind_text);
	free(b->task);
	free(b->key);
	memset(b, 0, sizeof(*b));
}

static ig_brie_kind kind_of(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].name) == n && memcmp(kinds[i].name, s, n) == 0)
			return kinds[i].kind;
	return IG_BRIE_OTHER;
}

static int fail(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return -1;
}

int ig_brie_import_decode(const char *key, size_t klen, const unsigned char *val, size_t vlen,
                          ig_brie_import *out, char *err, size_t errlen)
{
	const size_t plen = strlen(IG_KEY_BRIE_IMPORT);
	const char *rest, *slash;
	size_t rlen, kl;
	ig_brie_import b = {0};

	(void)val;
	if (!key || klen < plen || memcmp(key, IG_KEY_BRIE_IMPORT, plen) != 0)
		return 0;
	rest = key + plen;
	rlen = klen - plen;
	slash = memchr(rest, '/', rlen);
	kl = slash ? (size_t)(slash - rest) : rlen;
	b.kind = kind_of(rest, kl);
	b.kind_text = strndup(rest, kl);
	b.task = slash ? strndup(slash + 1, rlen - kl - 1) : strdup("");
	b.key = strndup(key, klen);
	b.has_value = vlen > 0;
	b.value_bytes = vlen;
	if (!b.kind_text || !b.task || !b.key) {
		ig_brie_import_clear(&b);
		return fail(err, errlen, "out of memory decoding a /tidb/brie/import/ key");
	}
	*out = b;
	return 1;
}

/* ---- a range answer ---- */

void ig_brie_list_clear(ig_brie_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		ig_brie_import_clear(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

const ig_brie_import *ig_brie_list_find(const ig_brie_list *l, const char *key)
{
	for (size_t i = 0; l && key && i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return &l->v[i];
	return NULL;
}

/* Decodes a base64 field; -1 bad, -2 out of memory, else the length (0 when absent). */
static long b64_field(const json_t *v, unsigned char **out)
{
	size_t n;
	long got;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	n = json_string_length(v);
	if (!(*out = malloc(n / 4 * 3 + 4)))
		return -2;
	got = ig_b64_decode(json_string_value(v), n, *out);
	if (got < 0) {
		free(*out);
		*out = NULL;
	}
	return got;
}

static int push(ig_brie_list *l, const ig_brie_import *b)
{
	ig_brie_import *v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -1;
	l->v = v;
	v[l->n++] = *b;
	return 0;
}

static int one_kv(const json_t *item, size_t i, ig_brie_list *out, char *err, size_t errlen)
{
	unsigned char *k, *v;
	long kl, vl;
	ig_brie_import b = {0};
	int rc;
	char msg[96];

	if (!json_is_object(item)) {
		snprintf(msg, sizeof(msg), "kvs[%zu] is not an object", i);
		return fail(err, errlen, msg);
	}
	kl = b64_field(json_object_get(item, "key"), &k);
	vl = kl > 0 ? b64_field(json_object_get(item, "value"), &v) : (v = NULL, 0);
	if (kl <= 0 || vl < 0) {
		free(k);
		free(v);
		if (kl == -2 || vl == -2)
			return fail(err, errlen, "out of memory");
		snprintf(msg, sizeof(msg), "kvs[%zu] has no base64 key or a bad value", i);
		return fail(err, errlen, msg);
	}
	rc = ig_brie_import_decode((const char *)k, (size_t)kl, v, (size_t)vl, &b, err, errlen);
	free(k);
	free(v);
	if (rc <= 0)
		return rc; /* 0: another key under a prefix range that is not exactly ours */
	if (ig_etcd_json_i64(json_object_get(item, "lease"), &b.lease) < 0 ||
	    ig_etcd_json_i64(json_object_get(item, "create_revision"), &b.create_revision) < 0) {
		ig_brie_import_clear(&b);
		snprintf(msg, sizeof(msg), "kvs[%zu].lease or create_revision is not a number", i);
		return fail(err, errlen, msg);
	}
	if (push(out, &b) < 0) {
		ig_brie_import_clear(&b);
		return fail(err, errlen, "out of memory");
	}
	return 0;
}

int ig_brie_range_parse(const char *text, size_t len, ig_brie_list *out, bool *more,
                        char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(text ? text : "", text ? len : 0, 0, &je);
	const json_t *kvs, *e;
	int rc = 0;

	*more = false;
	if (!root)
		return fail(err, errlen, "bad JSON answer");
	e = json_object_get(root, "error");
	if (!json_is_object(root) || (e && !json_object_get(root, "header"))) {
		json_decref(root);
		return fail(err, errlen, "etcd answered an error, not a range");
	}
	if (ig_etcd_json_i64(json_object_get(json_object_get(root, "header"), "revision"), &out->revision) < 0)
		out->revision = 0;
	*more = json_is_true(json_object_get(root, "more"));
	kvs = json_object_get(root, "kvs"); /* absent when the range is empty */
	if (kvs && !json_is_array(kvs))
		rc = fail(err, errlen, "kvs is not an array");
	for (size_t i = 0; rc == 0 && i < json_array_size(kvs); i++)
		rc = one_kv(json_array_get(kvs, i), i, out, err, errlen);
	json_decref(root);
	return rc;
}

/* ---- conflicts ---- */

const char *ig_brie_reach_name(ig_brie_reach r)
{
	return r == IG_BRIE_COVERS_EVERY ? "every_table" : "some_tables";
}

void ig_brie_conflict_free(ig_brie_conflict *c)
{
	if (!c)
		return;
	free(c->tasks);
	free(c->task_reach);
	free(c->cfs);
	free(c->cf_reach);
	memset(c, 0, sizeof(*c));
}

/* A rule list that covers every table for certain: "*.*" and no exclusion ("!...") after
 * which a table could fall out. Anything else covers some tables as far as known here. */
static ig_brie_reach rules_reach(char *const *rules, size_t n)
{
	bool all = false;

	for (size_t i = 0; i < n; i++) {
		const char *r = rules[i];
		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == '!')
			return IG_BRIE_COVERS_SOME;
		if (strcmp(r, "*.*") == 0)
			all = true;
	}
	return all ? IG_BRIE_COVERS_EVERY : IG_BRIE_COVERS_SOME;
}

static ig_brie_reach task_reach(const ig_lbtask *t)
{
	if (t->undecodable || t->nfilters == 0)
		return IG_BRIE_COVERS_EVERY; /* no filter: BR logs every table */
	return rules_reach(t->filters, t->nfilters);
}

static ig_brie_reach cf_reach(const ig_changefeed *cf)
{
	if (cf->undecodable)
		return IG_BRIE_COVERS_EVERY;
	return rules_reach(cf->rules, cf->nrules);
}

int ig_brie_conflicts(const ig_brie_import *b, const ig_cluster_state *st, ig_brie_conflict *out)
{
	memset(out, 0, sizeof(*out));
	if (!b || !st)
		return 0;
	out->tasks = calloc(st->ntasks ? st->ntasks : 1, sizeof(*out->tasks));
	out->task_reach = calloc(st->ntasks ? st->ntasks : 1, sizeof(*out->task_reach));
	out->cfs = calloc(st->ncfs ? st->ncfs : 1, sizeof(*out->cfs));
	out->cf_reach = calloc(st->ncfs ? st->ncfs : 1, sizeof(*out->cf_reach));
	if (!out->tasks || !out->task_reach || !out->cfs || !out->cf_reach) {
		ig_brie_conflict_free(out);
		return -1;
	}
	/* The registration names no table (b->has_value is never interpreted: no stored
	 * version writes one), so no task or changefeed can be ruled out by its filter. */
	for (size_t i = 0; i < st->ntasks; i++) {
		out->tasks[out->ntasks] = i;
		out->task_reach[out->ntasks] = task_reach(&st->tasks[i]);
		out->every |= out->task_reach[out->ntasks++] == IG_BRIE_COVERS_EVERY;
	}
	for (size_t i = 0; i < st->ncfs; i++) {
		const ig_changefeed *cf = &st->cfs[i];
		if (cf->state == IG_CFSTATE_FINISHED || cf->state == IG_CFSTATE_REMOVED)
			continue; /* it will not replicate again */
		out->cfs[out->ncfs] = i;
		out->cf_reach[out->ncfs] = cf_reach(cf);
		out->every |= out->cf_reach[out->ncfs++] == IG_BRIE_COVERS_EVERY;
	}
	return 0;
}
