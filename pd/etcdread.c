/*
 * etcdread.c - the cluster-state reader: range requests over etcd's JSON gateway with
 * libcurl, pagination, one revision for the whole read, endpoint failover, TLS. Changefeed
 * keys are listed keys-only and their info fetched one by one (as TiDB's cdcutil does), so
 * the large per-table status values under /tidb/cdc/ are never transferred.
 */
#include "pd/etcdread.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/base64.h"
#include "policy/etcdjson.h"
#include "policy/grow.h"
#include "pd/pdhttp.h"

#define PAGE_LIMIT 1000
#define MAX_RESPONSE_BYTES (64u << 20)

/* ---- request bodies and answers (pure) ---- */

static char *b64(const char *s, size_t n)
{
	char *out = malloc(ig_b64_encoded_len(n) + 1);

	if (out)
		ig_b64_encode((const unsigned char *)s, n, out);
	return out;
}

char *ig_etcd_range_body(const char *key, size_t klen, const char *end, size_t elen, long limit,
                         int64_t revision, bool keys_only)
{
	json_t *o = json_object();
	char *k = b64(key, klen), *e = end ? b64(end, elen) : NULL, *body = NULL;

	if (o && k && (!end || e) && json_object_set_new(o, "key", json_string(k)) == 0 &&
	    (!end || json_object_set_new(o, "range_end", json_string(e)) == 0) &&
	    (limit <= 0 || json_object_set_new(o, "limit", json_integer(limit)) == 0) &&
	    (revision <= 0 || json_object_set_new(o, "revision", json_integer(revision)) == 0) &&
	    (!keys_only || json_object_set_new(o, "keys_only", json_true()) == 0))
		body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(k);
	free(e);
	return body;
}

size_t ig_etcd_prefix_end(const char *prefix, size_t n, char *end)
{
	for (size_t i = n; i-- > 0;)
		if ((unsigned char)prefix[i] < 0xff) {
			memcpy(end, prefix, i);
			end[i] = (char)((unsigned char)prefix[i] + 1);
			return i + 1;
		}
	end[0] = '\0';
	return 1;
}

int ig_etcd_prefix_fetch(const ig_config *cfg, const char *endpoint, const char *prefix,
                         size_t max_answer, char **body, size_t *len, char *err, size_t errlen)
{
	size_t n = strlen(prefix), elen;
	char end[512], *json;
	ig_pdhttp h;
	int rc;

	*body = NULL;
	*len = 0;
	if (n == 0 || n >= sizeof(end) || prefix[n - 1] != '/') {
		snprintf(err, errlen, "pd %.200s: bad key prefix", endpoint);
		return -1;
	}
	elen = ig_etcd_prefix_end(prefix, n, end);
	if (ig_pdhttp_init(&h, endpoint, cfg->cluster.timeout_ms, "cluster.timeout_ms", max_answer,
	                   &cfg->cluster.tls, err, errlen) < 0)
		return -1;
	if (!(json = ig_etcd_range_body(prefix, n, end, elen, 0, 0, false))) {
		ig_pdhttp_free(&h);
		snprintf(err, errlen, "pd %.200s: out of memory", endpoint);
		return -1;
	}
	rc = ig_pdhttp_post(&h, "/v3/kv/range", json, body, len, err, errlen);
	free(json);
	ig_pdhttp_free(&h);
	return rc;
}

static int perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* grpc-gateway writes int64 as a JSON string; accept a number too. */
static int int64_field(const json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		char *end;
		long long x = strtoll(json_string_value(v), &end, 10);
		if (*json_string_value(v) && !*end) {
			*out = x;
			return 0;
		}
	}
	return -1;
}

static long decode_field(const json_t *v, unsigned char **out)
{
	const char *s;
	size_t n;
	long got;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	n = json_string_length(v);
	*out = malloc(n / 4 * 3 + 4);
	if (!*out)
		return -2;
	got = ig_b64_decode(s, n, *out);
	if (got < 0) {
		free(*out);
		*out = NULL;
	}
	return got;
}

static int one_kv(const json_t *item, size_t i, ig_etcd_kv_fn kv, void *ud, char **last,
                  size_t *last_len, char *err, size_t errlen)
{
	unsigned char *k, *v;
	long kl, vl;
	int rc;

	if (!json_is_object(item))
		return perr(err, errlen, "kvs[%zu] is not an object", i);
	kl = decode_field(json_object_get(item, "key"), &k);
	if (kl <= 0) {
		free(k);
		return perr(err, errlen, kl == -2 ? "out of memory" : "kvs[%zu].key is missing or not base64", i);
	}
	vl = decode_field(json_object_get(item, "value"), &v);
	if (vl < 0) {
		free(k);
		return perr(err, errlen, vl == -2 ? "out of memory" : "kvs[%zu].value is not base64", i);
	}
	rc = kv(ud, (const char *)k, (size_t)kl, v, (size_t)vl);
	free(v);
	if (rc < 0) {
		free(k);
		return perr(err, errlen, "out of memory");
	}
	free(*last);
	*last = (char *)k;
	*last_len = (size_t)kl;
	return 0;
}

int ig_etcd_range_parse(const char *text, size_t len, ig_etcd_kv_fn kv, void *ud, bool *more,
                        int64_t *revision, char **last, size_t *last_len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(text ? text : "", text ? len : 0, 0, &je);
	const json_t *kvs, *m, *e;
	int rc = 0;

	*more = false;
	*last = NULL;
	*last_len = 0;
	if (!root)
		return perr(err, errlen, "bad JSON answer: %s", je.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return perr(err, errlen, "the answer is not a JSON object");
	}
	e = json_object_get(root, "error");
	if (!e)
		e = json_object_get(root, "message");
	if (e && !json_object_get(root, "kvs") && !json_object_get(root, "header")) {
		rc = perr(err, errlen, "etcd error: %.200s", json_is_string(e) ? json_string_value(e) : "(not a string)");
		json_decref(root);
		return rc;
	}
	if (int64_field(json_object_get(json_object_get(root, "header"), "revision"), revision) < 0)
		*revision = 0;
	m = json_object_get(root, "more");
	*more = json_is_true(m);
	kvs = json_object_get(root, "kvs"); /* absent when the range is empty */
	if (kvs && !json_is_array(kvs))
		rc = perr(err, errlen, "kvs is not an array");
	for (size_t i = 0; rc == 0 && i < json_array_size(kvs); i++)
		rc = one_kv(json_array_get(kvs, i), i, kv, ud, last, last_len, err, errlen);
	if (rc == 0 && *more && !*last)
		rc = perr(err, errlen, "the answer says more but holds no key");
	json_decref(root);
	if (rc < 0) {
		free(*last);
		*last = NULL;
	}
	return rc;
}

/* ---- HTTP ---- */

typedef struct body {
	char *p;
	size_t len;
} body;

typedef struct reader {
	const ig_config *cfg;
	const char *endpoint;
	ig_pdhttp http;
	int64_t revision;   /* pinned by the first answer */
	char *err;
	size_t errlen;
} reader;

static int rfail(reader *r, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return perr(r->err, r->errlen, "pd %.200s: %s", r->endpoint, msg);
}

static int setup(reader *r)
{
	return ig_pdhttp_init(&r->http, r->endpoint, r->cfg->cluster.timeout_ms, "cluster.timeout_ms",
	                      MAX_RESPONSE_BYTES, &r->cfg->cluster.tls, r->err, r->errlen);
}

static int post(reader *r, const char *json, body *b)
{
	return ig_pdhttp_post(&r->http, "/v3/kv/range", json, &b->p, &b->len, r->err, r->errlen);
}

/* Ranges over [key, end) (end NULL: the single key), page by page. */
static int range(reader *r, const char *key, size_t klen, const char *end, size_t elen,
                 bool keys_only, ig_etcd_kv_fn kv, void *ud)
{
	char *from = malloc(klen + 1), *last = NULL;
	size_t flen = klen, last_len = 0;
	bool more = true;
	int rc = 0;

	if (!from)
		return rfail(r, "out of memory");
	memcpy(from, key, klen);
	while (rc == 0 && more) {
		char *json = ig_etcd_range_body(from, flen, end, elen, end ? PAGE_LIMIT : 0, r->revision, keys_only);
		char e[300];
		body b;
		int64_t rev = 0;
		if (!json) {
			rc = rfail(r, "out of memory");
			break;
		}
		rc = post(r, json, &b);
		free(json);
		if (rc == 0 && ig_etcd_range_parse(b.p, b.len, kv, ud, &more, &rev, &last, &last_len, e, sizeof(e)) < 0)
			rc = rfail(r, "%s", e);
		free(b.p);
		if (rc == 0 && r->revision == 0)
			r->revision = rev;
		if (rc == 0 && more) { /* go on after the last key: last + "\0" */
			char *next = realloc(last, last_len + 1);
			if (!next) {
				rc = rfail(r, "out of memory");
				break;
			}
			next[last_len] = '\0';
			free(from);
			from = next;
			flen = last_len + 1;
			last = NULL;
		}
		free(last);
		last = NULL;
	}
	free(from);
	return rc;
}

static int prefix_range(reader *r, const char *prefix, bool keys_only, ig_etcd_kv_fn kv, void *ud)
{
	size_t n = strlen(prefix);
	char end[256];

	if (n == 0 || n > sizeof(end))
		return rfail(r, "key prefix of %zu bytes", n);
	return range(r, prefix, n, end, ig_etcd_prefix_end(prefix, n, end), keys_only, kv, ud);
}

typedef struct collect {
	ig_cluster_state *st;
	char **keys;
	size_t *lens;
	size_t n;
} collect;

static int add_to_state(void *ud, const char *key, size_t klen, const unsigned char *val, size_t vlen)
{
	return ig_cluster_state_add(ud, key, klen, val, vlen, NULL, 0);
}

static int keep_key(collect *c, const char *key, size_t klen)
{
	if (ig_grow(&c->keys, c->n, sizeof(*c->keys)) < 0 || ig_grow(&c->lens, c->n, sizeof(*c->lens)) < 0 ||
	    !(c->keys[c->n] = malloc(klen)))
		return -1;
	memcpy(c->keys[c->n], key, klen);
	c->lens[c->n++] = klen;
	return 0;
}

static int collect_cf_key(void *ud, const char *key, size_t klen, const unsigned char *val, size_t vlen)
{
	char *cl, *ns, *id;
	int rc = ig_changefeed_key(key, klen, &cl, &ns, &id);

	(void)val;
	(void)vlen;
	free(cl);
	free(ns);
	free(id);
	return rc <= 0 ? rc : keep_key(ud, key, klen);
}

/* Task keys under a keyspace namespace, among every key the keyspaces' TiDBs keep there. */
static int collect_keyspace_task(void *ud, const char *key, size_t klen, const unsigned char *val,
                                 size_t vlen)
{
	size_t ksl = ig_keyspace_ns_len(key, klen);

	(void)val;
	(void)vlen;
	return ksl && ig_task_key(key + ksl, klen - ksl) ? keep_key(ud, key, klen) : 0;
}

/* Says what the failed read of /keyspaces/tidb/ was for (etcd authentication may not allow it). */
static int keyspace_read_failed(reader *r)
{
	size_t l = strnlen(r->err, r->errlen);

	if (l + 1 < r->errlen)
		snprintf(r->err + l, r->errlen - l, " (reading %s, where TiDB keyspace clusters keep "
		         "their log backup tasks)", IG_KEY_KEYSPACES);
	return -1;
}

static int read_endpoint(reader *r, ig_cluster_state *st)
{
	collect c = {.st = st};
	int rc = setup(r);

	if (rc == 0)
		rc = prefix_range(r, IG_KEY_TASK_INFO, false, add_to_state, st);
	if (rc == 0)
		rc = prefix_range(r, IG_KEY_TASK_PAUSE, true, add_to_state, st);
	if (rc == 0)
		rc = prefix_range(r, IG_KEY_TASK_LAST_ERROR, true, add_to_state, st);
	if (rc == 0)
		rc = prefix_range(r, IG_KEY_CDC, true, collect_cf_key, &c);
	/* keys only: a keyspace's TiDB keeps all its etcd keys there; the tasks are read below */
	if (rc == 0 && prefix_range(r, IG_KEY_KEYSPACES, true, collect_keyspace_task, &c) < 0)
		rc = keyspace_read_failed(r);
	for (size_t i = 0; rc == 0 && i < c.n; i++)
		rc = range(r, c.keys[i], c.lens[i], NULL, 0, false, add_to_state, st);
	for (size_t i = 0; i < c.n; i++)
		free(c.keys[i]);
	free(c.keys);
	free(c.lens);
	ig_pdhttp_free(&r->http);
	return rc;
}

int ig_cluster_read(const ig_config *cfg, ig_cluster_state **out, char *err, size_t errlen)
{
	char all[1024] = "";

	*out = NULL;
	if (!cfg || cfg->cluster.npd == 0)
		return perr(err, errlen, "no PD endpoints configured (cluster.pd is empty): the cluster "
		            "state cannot be read");
	for (size_t i = 0; i < cfg->cluster.npd; i++) {
		ig_cluster_state *st = ig_cluster_state_new();
		reader r = {.cfg = cfg, .endpoint = cfg->cluster.pd[i]};
		char e[512];
		struct timespec ts;
		r.err = e;
		r.errlen = sizeof(e);
		if (!st)
			return perr(err, errlen, "out of memory");
		if (read_endpoint(&r, st) == 0) {
			ig_cluster_state_finish(st);
			clock_gettime(CLOCK_REALTIME, &ts);
			st->read_at_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
			st->revision = r.revision;
			st->source = strdup(cfg->cluster.pd[i]);
			if (!st->source) {
				ig_cluster_state_free(st);
				return perr(err, errlen, "out of memory");
			}
			*out = st;
			return 0;
		}
		ig_cluster_state_free(st);
		{
			size_t l = strlen(all);
			snprintf(all + l, sizeof(all) - l, "%s%s", l ? "; " : "", e);
		}
	}
	return perr(err, errlen, "cannot read the cluster state: %s", all);
}

/* ---- has anything changed since a revision? ---- */

typedef struct since {
	bool changed;
} since;

static int note_change(void *ud, const char *key, size_t klen, const unsigned char *val, size_t vlen)
{
	since *s = ud;
	char *cl, *ns, *id;
	(void)val;
	(void)vlen;
	if (klen >= strlen(IG_KEY_KEYSPACES) && memcmp(key, IG_KEY_KEYSPACES, strlen(IG_KEY_KEYSPACES)) == 0) {
		size_t ksl = ig_keyspace_ns_len(key, klen);
		if (ksl && ig_task_key(key + ksl, klen - ksl))
			s->changed = true;
		return 0; /* the rest of what a keyspace's TiDB keeps there: not read by a decision */
	}
	if (klen >= strlen(IG_KEY_CDC) && memcmp(key, IG_KEY_CDC, strlen(IG_KEY_CDC)) == 0) {
		int rc = ig_changefeed_key(key, klen, &cl, &ns, &id);
		free(cl);
		free(ns);
		free(id);
		if (rc < 0)
			return -1;
		if (rc == 0)
			return 0; /* status, task positions, captures: not what a decision reads */
	}
	s->changed = true;
	return 0;
}

/* {"key":..,"range_end":..,"keys_only":true,"min_mod_revision":"N"} */
static char *since_body(const char *prefix, int64_t min_mod)
{
	size_t n = strlen(prefix), elen;
	char end[256], *k, *e, *out;
	if (n == 0 || n > sizeof(end))
		return NULL;
	elen = ig_etcd_prefix_end(prefix, n, end);
	k = malloc(ig_b64_encoded_len(n) + 1);
	e = malloc(ig_b64_encoded_len(n) + 1);
	out = malloc(2 * ig_b64_encoded_len(n) + 128);
	if (k && e && out) {
		ig_b64_encode((const unsigned char *)prefix, n, k);
		ig_b64_encode((const unsigned char *)end, elen, e);
		sprintf(out, "{\"key\":\"%s\",\"range_end\":\"%s\",\"keys_only\":true,"
		             "\"min_mod_revision\":\"%lld\"}", k, e, (long long)min_mod);
	} else {
		free(out);
		out = NULL;
	}
	free(k);
	free(e);
	return out;
}

/* One HTTP handle per thread, kept between decisions so the connection to PD stays open. */
static __thread reader tl_reader;
static __thread const ig_config *tl_cfg;
static __thread char tl_endpoint[512];

static void tl_drop(void);

/* The thread pool's threads end at exit (libuv joins them): their handle goes with them. */
static pthread_key_t tl_key;
static pthread_once_t tl_key_once = PTHREAD_ONCE_INIT;

static void tl_key_destroy(void *unused)
{
	(void)unused;
	tl_drop();
}

static void tl_key_init(void)
{
	(void)pthread_key_create(&tl_key, tl_key_destroy);
}

static void tl_drop(void)
{
	ig_pdhttp_free(&tl_reader.http);
	memset(&tl_reader, 0, sizeof(tl_reader));
	tl_cfg = NULL;
	tl_endpoint[0] = '\0';
}

/* Points this thread's kept-alive handle at cfg/endpoint (a new handle when they changed). */
static int tl_use(const ig_config *cfg, const char *endpoint, char *err, size_t errlen)
{
	if (tl_cfg != cfg || strcmp(tl_endpoint, endpoint) != 0) {
		tl_drop();
		tl_reader.cfg = cfg;
		tl_reader.endpoint = endpoint;
		tl_reader.err = err;
		tl_reader.errlen = errlen;
		pthread_once(&tl_key_once, tl_key_init);
		(void)pthread_setspecific(tl_key, &tl_reader); /* non-NULL: the destructor runs */
		if (setup(&tl_reader) < 0) {
			tl_drop();
			return -1;
		}
		tl_cfg = cfg;
		snprintf(tl_endpoint, sizeof(tl_endpoint), "%s", endpoint);
	}
	tl_reader.endpoint = tl_endpoint;
	tl_reader.err = err;
	tl_reader.errlen = errlen;
	return 0;
}

static int ignore_kv(void *ud, const char *key, size_t klen, const unsigned char *val, size_t vlen)
{
	(void)ud, (void)key, (void)klen, (void)val, (void)vlen;
	return 0;
}

int ig_cluster_revision(const ig_config *cfg, const char *endpoint, int64_t *revision,
                        char *err, size_t errlen)
{
	/* A key nobody writes: the answer is a header alone. Ranges are linearizable. */
	static const char probe[] = "/tidb/importgate/revision-probe";
	char *json, *last = NULL, e[300];
	size_t last_len = 0;
	bool more = false;
	body b;
	int rc;

	*revision = 0;
	if (tl_use(cfg, endpoint, err, errlen) < 0)
		return -1;
	json = ig_etcd_range_body(probe, sizeof(probe) - 1, NULL, 0, 0, 0, true);
	if (!json)
		return perr(err, errlen, "out of memory");
	rc = post(&tl_reader, json, &b);
	free(json);
	if (rc == 0 && ig_etcd_range_parse(b.p, b.len, ignore_kv, NULL, &more, revision, &last,
	                                   &last_len, e, sizeof(e)) < 0)
		rc = rfail(&tl_reader, "%s", e);
	if (rc == 0 && *revision <= 0)
		rc = rfail(&tl_reader, "answer without a revision");
	free(b.p);
	free(last);
	if (rc < 0)
		tl_drop();
	return rc;
}

int ig_cluster_changed_since(const ig_config *cfg, const char *endpoint, int64_t revision,
                             char *err, size_t errlen)
{
	static const char *const prefixes[] = {IG_KEY_TASK_INFO, IG_KEY_TASK_PAUSE, IG_KEY_CDC, IG_KEY_KEYSPACES};
	since s = {0};
	if (tl_use(cfg, endpoint, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]) && !s.changed; i++) {
		char *json = since_body(prefixes[i], revision + 1);
		body b;
		bool more = false;
		int64_t rev = 0;
		char *last = NULL, e[300];
		size_t last_len = 0;
		if (!json)
			return perr(err, errlen, "out of memory");
		int rc = post(&tl_reader, json, &b);
		free(json);
		if (rc == 0 && ig_etcd_range_parse(b.p, b.len, note_change, &s, &more, &rev, &last, &last_len,
		                                   e, sizeof(e)) < 0)
			rc = rfail(&tl_reader, "%s", e);
		free(b.p);
		free(last);
		if (rc < 0) {
			tl_drop(); /* a broken connection is not kept */
			return -1;
		}
		if (more)
			s.changed = true; /* more changed keys than one page: changed, whatever they are */
	}
	return s.changed ? 1 : 0;
}

int ig_lease_ttl(const ig_config *cfg, const char *endpoint, int64_t lease, int64_t *ttl_s, char *err,
                 size_t errlen)
{
	char json[64];
	body b = {0};
	json_t *o;
	int rc;

	*ttl_s = -1;
	if (tl_use(cfg, endpoint, err, errlen) < 0)
		return -1;
	snprintf(json, sizeof(json), "{\"ID\":\"%lld\"}", (long long)lease);
	rc = ig_pdhttp_post(&tl_reader.http, "/v3/lease/timetolive", json, &b.p, &b.len, err, errlen);
	o = rc == 0 ? json_loadb(b.p, b.len, 0, NULL) : NULL;
	if (rc == 0 && (!json_is_object(o) || ig_etcd_json_i64(json_object_get(o, "TTL"), ttl_s) != 0))
		rc = rfail(&tl_reader, "a lease time-to-live answer without a TTL");
	json_decref(o);
	free(b.p);
	if (rc < 0)
		tl_drop();
	return rc;
}
