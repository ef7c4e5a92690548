/*
 * oblstore_etcd.c - the obligation store in PD's etcd, through the v3 JSON gateway: records
 * and claims under /importgate/<cluster>/, every write a txn comparing the record's
 * mod_revision and the claim's lease, claims bound to this replica's lease (granted on first
 * use, kept alive by the caller's keepalive, revoked at close).
 */
#include "store/oblstore_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/base64.h"
#include "policy/grow.h"
#include "policy/ltnguard.h"
#include "pd/etcdread.h"
#include "pd/pdhttp.h"

#define perr ig_oblstore_perr
#define mono_ms ig_oblstore_mono_ms
#define MAX_RESPONSE_BYTES (16u << 20)

/* ---- etcd backend: HTTP ---- */

/*
 * An HTTP client for endpoint ep: one kept from an earlier request (its connection still
 * open, so a request to PD over TLS does not pay a handshake each time), else a new one.
 * Several threads use the store at once (the obligations thread, the lease keepalive, the
 * executors): each takes its own client and gives it back.
 */
static ig_pdhttp *take_client(ig_oblstore *st, const char *ep, char *err, size_t errlen)
{
	ig_pdhttp *h = NULL;
	pthread_mutex_lock(&st->mu);
	for (size_t i = 0; i < st->nidle; i++)
		if (strcmp(st->idle[i]->endpoint, ep) == 0) {
			h = st->idle[i];
			st->idle[i] = st->idle[--st->nidle];
			break;
		}
	pthread_mutex_unlock(&st->mu);
	if (h)
		return h;
	if (!(h = malloc(sizeof(*h)))) {
		perr(err, errlen, "out of memory");
		return NULL;
	}
	if (ig_pdhttp_init(h, ep, st->timeout_ms, "cluster.timeout_ms", MAX_RESPONSE_BYTES, &st->tls, err,
	                   errlen) < 0) {
		free(h);
		return NULL;
	}
	return h;
}

static void drop_client(ig_pdhttp *h)
{
	ig_pdhttp_free(h);
	free(h);
}

/* Keeps h for the next request, or lets it go when enough are kept. */
static void give_back_client(ig_oblstore *st, ig_pdhttp *h)
{
	size_t max = sizeof(st->idle) / sizeof(st->idle[0]);
	pthread_mutex_lock(&st->mu);
	if (st->nidle < max) {
		st->idle[st->nidle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&st->mu);
	if (h)
		drop_client(h);
}

static int post_one(ig_oblstore *st, const char *ep, const char *path, const char *json, json_t **out,
                    char *err, size_t errlen)
{
	ig_pdhttp *h = take_client(st, ep, err, errlen);
	char *body;
	size_t len;

	*out = NULL;
	if (!h)
		return -1;
	if (ig_pdhttp_post(h, path, json, &body, &len, err, errlen) < 0) {
		drop_client(h); /* its connection may be in any state: the next request starts afresh */
		return -1;
	}
	give_back_client(st, h);
	json_t *o = json_loadb(body, len, 0, NULL);
	if (!json_is_object(o)) {
		perr(err, errlen, "pd %s%s: not a JSON object: %.200s", ep, path, body);
		json_decref(o);
		free(body);
		return -1;
	}
	free(body);
	*out = o;
	return 0;
}

/*
 * POSTs to the endpoint that answered last, then the others. An answer with an etcd error
 * ("error" field, HTTP 200 is not used for those by the gateway, but be safe) is an error.
 */
static int post(ig_oblstore *st, const char *path, json_t *req, json_t **out, char *err, size_t errlen)
{
	char *json = json_dumps(req, JSON_COMPACT);
	size_t first;
	int rc = -1;

	json_decref(req);
	if (!json)
		return perr(err, errlen, "out of memory");
	pthread_mutex_lock(&st->mu);
	first = st->cur;
	pthread_mutex_unlock(&st->mu);
	for (size_t i = 0; i < st->neps && rc < 0; i++) {
		size_t k = (first + i) % st->neps;
		rc = post_one(st, st->eps[k], path, json, out, err, errlen);
		if (rc == 0) {
			pthread_mutex_lock(&st->mu);
			st->cur = k;
			pthread_mutex_unlock(&st->mu);
		}
	}
	free(json);
	return rc;
}

static json_t *b64s(const char *s, size_t n)
{
	char *b = malloc(ig_b64_encoded_len(n) + 1);
	json_t *v;

	if (!b)
		return NULL;
	ig_b64_encode((const unsigned char *)s, n, b);
	v = json_string(b);
	free(b);
	return v;
}

static json_t *lease_json(int64_t lease)
{
	char s[32];

	snprintf(s, sizeof(s), "%lld", (long long)lease);
	return json_string(s);
}

static int64_t int64_of(const json_t *v)
{
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

static char *key_of(const char *prefix, const char *id)
{
	size_t n = strlen(prefix) + strlen(id) + 1;
	char *k = malloc(n);

	if (k)
		snprintf(k, n, "%s%s", prefix, id);
	return k;
}

static int64_t lease_now(ig_oblstore *st)
{
	int64_t l;

	pthread_mutex_lock(&st->mu);
	l = st->lease;
	pthread_mutex_unlock(&st->mu);
	return l;
}

/* {"key", "value"[, "lease"]}: the body of a put, alone or inside a txn */
static json_t *put_body(const char *key, const char *val, int64_t lease)
{
	json_t *p = json_pack("{s:o,s:o}", "key", b64s(key, strlen(key)), "value", b64s(val, strlen(val)));

	if (p && lease && json_object_set_new(p, "lease", lease_json(lease)) < 0) {
		json_decref(p);
		return NULL;
	}
	return p;
}

static json_t *op_put(const char *key, const char *val, int64_t lease)
{
	json_t *p = put_body(key, val, lease);

	return p ? json_pack("{s:o}", "request_put", p) : NULL;
}

static json_t *op_delete(const char *key)
{
	return json_pack("{s:{s:o}}", "request_delete_range", "key", b64s(key, strlen(key)));
}

static json_t *cmp_absent(const char *key)
{
	return json_pack("{s:o,s:s,s:s,s:s}", "key", b64s(key, strlen(key)), "result", "EQUAL", "target",
	                 "CREATE", "create_revision", "0");
}

static json_t *cmp_lease(const char *key, int64_t lease)
{
	return json_pack("{s:o,s:s,s:s,s:o}", "key", b64s(key, strlen(key)), "result", "EQUAL", "target",
	                 "LEASE", "lease", lease_json(lease));
}

static json_t *cmp_mod(const char *key, int64_t rev)
{
	return json_pack("{s:o,s:s,s:s,s:o}", "key", b64s(key, strlen(key)), "result", "EQUAL", "target",
	                 "MOD", "mod_revision", lease_json(rev));
}

/* One transaction: *ok = every comparison held, *rev = its revision (the new mod_revision of
 * what it put). Steals cmps (an array) and ops. */
static int txn(ig_oblstore *st, json_t *cmps, json_t *ops, bool *ok, int64_t *rev, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:o,s:o}", "compare", cmps, "success", ops), *out;

	if (!req)
		return perr(err, errlen, "out of memory");
	if (post(st, "/v3/kv/txn", req, &out, err, errlen) < 0)
		return -1;
	*ok = json_is_true(json_object_get(out, "succeeded"));
	if (rev)
		*rev = int64_of(json_object_get(json_object_get(out, "header"), "revision"));
	json_decref(out);
	return 0;
}

static char *claim_value(ig_oblstore *st)
{
	json_t *o = json_pack("{s:s,s:I}", "replica", st->replica, "lease", (json_int_t)lease_now(st));
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

/* ---- etcd backend: operations ---- */

typedef struct range_acc {
	ig_obl_record *recs;
	size_t n;
} range_acc;

/* One kv of a range answer: a record with its mod_revision; other values are skipped. */
static int range_kv(void *ctx, const json_t *kv)
{
	range_acc *a = ctx;
	const char *v = json_string_value(json_object_get(kv, "value"));
	size_t n = v ? strlen(v) : 0;
	unsigned char *buf = malloc(n / 4 * 3 + 4);
	long got;
	ig_obl_record r;

	if (!buf)
		return -1;
	got = v ? ig_b64_decode(v, n, buf) : -1;
	if (got < 0 || ig_obl_record_decode((const char *)buf, (size_t)got, &r, NULL, 0) < 0) {
		free(buf);
		return 0; /* not a record of ours */
	}
	free(buf);
	r.rev = int64_of(json_object_get(kv, "mod_revision"));
	if (ig_grow(&a->recs, a->n, sizeof(*a->recs)) < 0) {
		ig_obl_record_free(&r);
		return -1;
	}
	a->recs[a->n++] = r;
	return 0;
}

static void range_free(range_acc *a)
{
	for (size_t i = 0; i < a->n; i++)
		ig_obl_record_free(&a->recs[i]);
	free(a->recs);
	a->recs = NULL;
	a->n = 0;
}

#define LIST_PAGE 256 /* keys per range request: an answer stays far below MAX_RESPONSE_BYTES */

/* What a range reads, and what becomes of each key-value of its answer (-1: out of memory). */
typedef struct range_req {
	bool keys_only;
	int (*kv)(void *ctx, const json_t *kv);
	void *ctx;
} range_req;

/* One page: each kv in it handed to rq->kv; *next gets the key after the last one (malloc'd,
 * NULL when there is no more), *rev the revision the first page was read at. */
static int range_page(ig_oblstore *st, const char *from, size_t flen, const char *end, size_t elen,
                      int64_t *rev, const range_req *rq, char **next, size_t *nlen, char *err, size_t errlen)
{
	char *json = ig_etcd_range_body(from, flen, end, elen, end ? LIST_PAGE : 0, *rev, rq->keys_only);
	json_t *req, *out, *kv, *kvs;
	size_t i;

	*next = NULL;
	if (!json || !(req = json_loads(json, 0, NULL))) {
		free(json);
		return perr(err, errlen, "out of memory");
	}
	free(json);
	if (post(st, "/v3/kv/range", req, &out, err, errlen) < 0)
		return -1;
	if (*rev == 0) /* every later page at the same revision: one consistent list */
		*rev = int64_of(json_object_get(json_object_get(out, "header"), "revision"));
	kvs = json_object_get(out, "kvs");
	json_array_foreach(kvs, i, kv) {
		if (rq->kv(rq->ctx, kv) < 0) {
			json_decref(out);
			return perr(err, errlen, "out of memory");
		}
	}
	const char *last = json_string_value(json_object_get(json_array_get(kvs, json_array_size(kvs) - 1), "key"));
	if (end && json_is_true(json_object_get(out, "more")) && last) {
		size_t ln = strlen(last);
		unsigned char *k = malloc(ln / 4 * 3 + 5);
		long kl = k ? ig_b64_decode(last, ln, k) : -1;
		if (kl < 0) {
			free(k);
			json_decref(out);
			return perr(err, errlen, "a range answer with a malformed key");
		}
		k[kl] = '\0'; /* the next page starts right after it: key + "\0" */
		*next = (char *)k;
		*nlen = (size_t)kl + 1;
	}
	json_decref(out);
	return 0;
}

/* The key, or every key under the prefix `key` page by page at one revision, through rq. */
static int range_pages(ig_oblstore *st, const char *key, bool prefix, const range_req *rq, char *err,
                       size_t errlen)
{
	size_t n = strlen(key), flen = n, elen = 0;
	char *end = NULL, *from = NULL, *next;
	int64_t rev = 0;
	int rc;

	if (prefix) {
		if (!(end = malloc(n + 1)))
			return perr(err, errlen, "out of memory");
		elen = ig_etcd_prefix_end(key, n, end);
	}
	rc = range_page(st, key, n, end, elen, &rev, rq, &next, &flen, err, errlen);
	while (rc == 0 && next) {
		free(from);
		from = next;
		rc = range_page(st, from, flen, end, elen, &rev, rq, &next, &flen, err, errlen);
	}
	free(from);
	free(end);
	return rc;
}

/* The records at key (or under the prefix key), each with its mod_revision. */
static int etcd_range(ig_oblstore *st, const char *key, bool prefix, range_acc *acc, char *err, size_t errlen)
{
	range_req rq = {.keys_only = false, .kv = range_kv, .ctx = acc};
	int rc = range_pages(st, key, prefix, &rq, err, errlen);
	if (rc < 0)
		range_free(acc);
	return rc;
}

static int etcd_get(ig_oblstore *st, const char *id, ig_obl_record *out, char *err, size_t errlen)
{
	range_acc a = {0};
	char *rk = key_of(st->obl_prefix, id);
	int rc;

	if (!rk)
		return perr(err, errlen, "out of memory");
	rc = etcd_range(st, rk, false, &a, err, errlen);
	free(rk);
	if (rc == 0 && a.n == 1) {
		*out = a.recs[0];
		a.n = 0;
		rc = 1;
	}
	range_free(&a);
	return rc;
}

/* The claims under the claim prefix: id -> the lease each is bound to (a sorted array). */
typedef struct claim_ent {
	char id[IG_OBL_ID_LEN + 1];
	int64_t lease;
} claim_ent;

static int claim_cmp(const void *a, const void *b)
{
	return strcmp(((const claim_ent *)a)->id, ((const claim_ent *)b)->id);
}

typedef struct claim_acc {
	claim_ent *v;
	size_t n;
	size_t plen; /* the claim prefix's length */
} claim_acc;

/* One claim key: the record id after the prefix and the lease it is bound to. */
static int claim_kv(void *ctx, const json_t *kv)
{
	claim_acc *a = ctx;
	const char *k = json_string_value(json_object_get(kv, "key"));
	unsigned char key[512];
	long kl = k && strlen(k) < 600 ? ig_b64_decode(k, strlen(k), key) : -1;
	if (kl <= (long)a->plen || kl - (long)a->plen > IG_OBL_ID_LEN)
		return 0; /* not a claim of ours */
	if (ig_grow(&a->v, a->n, sizeof(*a->v)) < 0)
		return -1;
	claim_ent *c = &a->v[a->n++];
	memcpy(c->id, key + a->plen, (size_t)kl - a->plen);
	c->id[kl - (long)a->plen] = '\0';
	c->lease = int64_of(json_object_get(kv, "lease"));
	return 0;
}

static int etcd_claims(ig_oblstore *st, claim_ent **out, size_t *n, char *err, size_t errlen)
{
	claim_acc a = {.plen = strlen(st->claim_prefix)};
	range_req rq = {.keys_only = true, .kv = claim_kv, .ctx = &a};

	*out = NULL;
	*n = 0;
	if (range_pages(st, st->claim_prefix, true, &rq, err, errlen) < 0) {
		free(a.v);
		return -1;
	}
	if (a.n)
		qsort(a.v, a.n, sizeof(*a.v), claim_cmp);
	*out = a.v;
	*n = a.n;
	return 0;
}

/* Claims first, then records: a claim taken after the first read only makes a claim fail;
 * one let go after it makes a record look held until the next scan. */
static int etcd_list(ig_oblstore *st, ig_obl_record **recs, size_t *n, char *err, size_t errlen)
{
	range_acc a = {0};
	claim_ent *claims;
	size_t nclaims;
	int64_t ours = lease_now(st);

	if (etcd_claims(st, &claims, &nclaims, err, errlen) < 0)
		return -1;
	if (etcd_range(st, st->obl_prefix, true, &a, err, errlen) < 0) {
		free(claims);
		return -1;
	}
	for (size_t i = 0; i < a.n; i++) {
		claim_ent key = {.lease = 0}, *c = NULL;
		snprintf(key.id, sizeof(key.id), "%s", a.recs[i].id);
		if (claims && nclaims)
			c = bsearch(&key, claims, nclaims, sizeof(*claims), claim_cmp);
		a.recs[i].held = !c ? IG_OBL_HELD_NONE : ours != 0 && c->lease == ours ? IG_OBL_HELD_US : IG_OBL_HELD_OTHER;
	}
	free(claims);
	*recs = a.recs;
	*n = a.n;
	return 0;
}

/* A lease when there is none yet: 0 already had one, 1 granted now, -1 + err. */
static int ensure_lease(ig_oblstore *st, char *err, size_t errlen);

static int etcd_create(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen)
{
	char *rk = key_of(st->obl_prefix, r->id), *ck = key_of(st->claim_prefix, r->id);
	char *val = ig_obl_record_encode(r), *cv = NULL;
	json_t *ops = json_array();
	bool ok = false;
	int64_t rev = 0;
	int rc = ensure_lease(st, err, errlen);

	if (rc < 0)
		goto done;
	rc = -1;
	if (!rk || !ck || !val || !(cv = claim_value(st)) || !ops) {
		perr(err, errlen, "out of memory");
		goto done;
	}
	json_array_append_new(ops, op_put(rk, val, 0));
	json_array_append_new(ops, op_put(ck, cv, lease_now(st)));
	rc = txn(st, json_pack("[o]", cmp_absent(rk)), ops, &ok, &rev, err, errlen);
	ops = NULL;
	if (rc == 0 && ok) {
		r->rev = rev;
	} else if (rc == 0) {
		/* A retry on another endpoint may find our own first write: the same record. */
		ig_obl_record cur;
		int got = etcd_get(st, r->id, &cur, err, errlen);
		bool ours = got == 1 && cur.created_ms == r->created_ms && cur.conn_id == r->conn_id;
		if (ours)
			r->rev = cur.rev;
		if (got == 1)
			ig_obl_record_free(&cur);
		rc = ours ? 0 : perr(err, errlen, "obligation %s exists already", r->id);
	}
done:
	json_decref(ops);
	free(rk);
	free(ck);
	free(val);
	free(cv);
	return rc;
}

/*
 * Claims a record still at rev: the claim key is created (bound to our lease) only if it is
 * absent and the record has not changed since it was read. A claim that is ours already
 * counts (same compare on the record). 0 ours, 1 held elsewhere or the record moved on.
 */
static int etcd_claim(ig_oblstore *st, const char *id, int64_t rev, char *err, size_t errlen)
{
	char *rk = key_of(st->obl_prefix, id), *ck = key_of(st->claim_prefix, id), *cv = NULL;
	json_t *ops = json_array();
	bool ok = false;
	int rc = ensure_lease(st, err, errlen);

	if (rc < 0)
		goto done;
	rc = -1;
	if (!rk || !ck || !ops || !(cv = claim_value(st))) {
		perr(err, errlen, "out of memory");
		goto done;
	}
	json_array_append_new(ops, op_put(ck, cv, lease_now(st)));
	rc = txn(st, json_pack("[o,o]", cmp_absent(ck), cmp_mod(rk, rev)), ops, &ok, NULL, err, errlen);
	ops = NULL;
	if (rc == 0 && !ok) /* held: by us already? */
		rc = txn(st, json_pack("[o,o]", cmp_lease(ck, lease_now(st)), cmp_mod(rk, rev)), json_array(), &ok,
		         NULL, err, errlen);
	if (rc == 0)
		rc = ok ? 0 : 1;
done:
	json_decref(ops);
	free(rk);
	free(ck);
	free(cv);
	return rc;
}

/* Writes r if the stored record is still at r->rev and the claim is ours (bound to our
 * lease: a replica whose lease expired cannot write); with release, drops the claim in the
 * same transaction. 0 written (r->rev updated), 1 not (stale copy, or not ours). */
static int etcd_write(ig_oblstore *st, ig_obl_record *r, bool release, char *err, size_t errlen)
{
	char *rk = key_of(st->obl_prefix, r->id), *ck = key_of(st->claim_prefix, r->id);
	char *val = ig_obl_record_encode(r);
	json_t *ops = json_array();
	bool ok = false;
	int64_t rev = 0;
	int rc = -1;

	if (lease_now(st) == 0) { /* no lease, no claim (and LEASE == 0 would match an absent key) */
		rc = 1;
	} else if (rk && ck && val && ops) {
		json_array_append_new(ops, op_put(rk, val, 0));
		if (release)
			json_array_append_new(ops, op_delete(ck));
		rc = txn(st, json_pack("[o,o]", cmp_mod(rk, r->rev), cmp_lease(ck, lease_now(st))), ops, &ok, &rev,
		         err, errlen);
		ops = NULL;
		if (rc == 0 && ok)
			r->rev = rev;
		else if (rc == 0)
			rc = 1;
	} else {
		perr(err, errlen, "out of memory");
	}
	json_decref(ops);
	free(rk);
	free(ck);
	free(val);
	return rc;
}

static int etcd_remove(ig_oblstore *st, const char *id, int64_t rev, char *err, size_t errlen)
{
	char *rk = key_of(st->obl_prefix, id), *ck = key_of(st->claim_prefix, id);
	json_t *ops = json_array();
	bool ok = false;
	int rc = -1;

	if (rk && ck && ops) {
		json_array_append_new(ops, op_delete(rk));
		json_array_append_new(ops, op_delete(ck));
		rc = txn(st, json_pack("[o]", cmp_mod(rk, rev)), ops, &ok, NULL, err, errlen);
		ops = NULL;
		if (rc == 0 && !ok)
			rc = 1;
	} else {
		perr(err, errlen, "out of memory");
	}
	json_decref(ops);
	free(rk);
	free(ck);
	return rc;
}

static int etcd_release(ig_oblstore *st, const char *id, char *err, size_t errlen)
{
	char *ck = key_of(st->claim_prefix, id);
	json_t *ops = json_array();
	bool ok;
	int rc;

	if (!ck || !ops) {
		free(ck);
		json_decref(ops);
		return perr(err, errlen, "out of memory");
	}
	json_array_append_new(ops, op_delete(ck));
	rc = txn(st, json_pack("[o]", cmp_lease(ck, lease_now(st))), ops, &ok, NULL, err, errlen);
	free(ck);
	return rc;
}

/* The lease is known alive until sent + TTL: etcd counts the TTL from when it received
 * the request, which is not before we sent it. */
static void lease_alive(ig_oblstore *st, int64_t sent_ms, int64_t ttl_s, int64_t id)
{
	pthread_mutex_lock(&st->mu);
	if (id && id != st->lease) {
		st->lease = id;
		st->lease_epoch++;
	}
	st->lease_until = sent_ms + ttl_s * 1000;
	pthread_mutex_unlock(&st->mu);
}

static int etcd_grant(ig_oblstore *st, char *err, size_t errlen)
{
	char ttl[16];
	json_t *out;
	int64_t id, granted, sent = mono_ms();

	snprintf(ttl, sizeof(ttl), "%d", st->ttl_s);
	if (post(st, "/v3/lease/grant", json_pack("{s:s}", "TTL", ttl), &out, err, errlen) < 0)
		return -1;
	id = int64_of(json_object_get(out, "ID"));
	granted = int64_of(json_object_get(out, "TTL"));
	json_decref(out);
	if (id == 0)
		return perr(err, errlen, "pd: lease grant answered no lease id");
	lease_alive(st, sent, granted > 0 ? granted : st->ttl_s, id);
	return 0;
}

static int ensure_lease(ig_oblstore *st, char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&st->grant_mu);
	if (lease_now(st) == 0)
		rc = etcd_grant(st, err, errlen) < 0 ? -1 : 1;
	pthread_mutex_unlock(&st->grant_mu);
	return rc;
}

static int etcd_keepalive(ig_oblstore *st, char *err, size_t errlen)
{
	json_t *out;
	int64_t ttl, sent = mono_ms();
	int rc = ensure_lease(st, err, errlen);

	if (rc < 0)
		return -1;
	if (rc == 1)
		return 0; /* first lease, granted just now: there were no claims to lose */
	if (post(st, "/v3/lease/keepalive", json_pack("{s:o}", "ID", lease_json(lease_now(st))), &out, err,
	         errlen) < 0)
		return -1;
	ttl = int64_of(json_object_get(json_object_get(out, "result"), "TTL"));
	json_decref(out);
	if (ttl > 0) {
		lease_alive(st, sent, ttl, 0);
		return 0;
	}
	/* expired: every claim made under it is gone; start over with a new lease */
	pthread_mutex_lock(&st->grant_mu);
	rc = etcd_grant(st, err, errlen) < 0 ? -1 : 1;
	pthread_mutex_unlock(&st->grant_mu);
	return rc;
}

/* The guard record: a plain put under our lease (only this run writes its key). */
static int etcd_run_put(ig_oblstore *st, const char *id, const char *val, int64_t *rev, char *err, size_t errlen)
{
	char *k = key_of(st->run_prefix, id);
	json_t *ops = json_array();
	bool ok = false;
	int rc = ensure_lease(st, err, errlen);

	if (rc >= 0 && (!k || !ops))
		rc = perr(err, errlen, "out of memory");
	if (rc >= 0) {
		json_array_append_new(ops, op_put(k, val, lease_now(st)));
		rc = txn(st, json_array(), ops, &ok, rev, err, errlen);
		ops = NULL;
		if (rc == 0 && !ok)
			rc = perr(err, errlen, "the lightning-run record was not written");
	}
	json_decref(ops);
	free(k);
	return rc < 0 ? -1 : 0;
}

static int etcd_run_delete(ig_oblstore *st, const char *id, char *err, size_t errlen)
{
	char *k = key_of(st->run_prefix, id);
	json_t *ops = json_array();
	bool ok = false;
	int rc;

	if (!k || !ops) {
		free(k);
		json_decref(ops);
		return perr(err, errlen, "out of memory");
	}
	json_array_append_new(ops, op_delete(k));
	rc = txn(st, json_array(), ops, &ok, NULL, err, errlen);
	free(k);
	return rc;
}

/* The binding CAS (oblstore.h ig_oblstore_run_bind): the bind key and the guard record move
 * together, so no two guard records can name one registration. */
static int etcd_run_bind(ig_oblstore *st, const char *id, const char *val, const char *bind, bool take, char *err,
                         size_t errlen)
{
	char *rk = key_of(st->run_prefix, id), *bk = key_of(st->bind_prefix, bind);
	json_t *req = NULL, *out = NULL;
	int64_t lease;
	int rc = ensure_lease(st, err, errlen);

	lease = lease_now(st);
	if (rc >= 0 && (!rk || !bk))
		rc = perr(err, errlen, "out of memory");
	if (rc >= 0 && take)
		req = json_pack("{s:[o],s:[o,o]}", "compare", cmp_absent(bk), "success", op_put(bk, id, lease),
		                op_put(rk, val, lease));
	else if (rc >= 0)
		req = json_pack("{s:[o],s:[o,o],s:[o]}", "compare", cmp_lease(bk, lease), "success", op_delete(bk),
		                op_put(rk, val, lease), "failure", op_put(rk, val, lease));
	if (rc >= 0 && !req)
		rc = perr(err, errlen, "out of memory");
	if (rc >= 0 && post(st, "/v3/kv/txn", req, &out, err, errlen) < 0)
		rc = -1;
	else if (rc >= 0)
		rc = take && !json_is_true(json_object_get(out, "succeeded")) ? 1 : 0;
	else
		json_decref(req); /* post steals it; not posted */
	json_decref(out);
	free(rk);
	free(bk);
	return rc < 0 ? -1 : rc;
}

static int64_t etcd_lease_left(ig_oblstore *st)
{
	return st->lease ? st->lease_until - mono_ms() : 0;
}

static void etcd_close(ig_oblstore *st)
{
	char e[256];
	json_t *out;

	if (st->lease &&
	    post(st, "/v3/lease/revoke", json_pack("{s:o}", "ID", lease_json(st->lease)), &out, e, sizeof(e)) == 0)
		json_decref(out); /* our claims vanish now, not a TTL later */
	for (size_t i = 0; i < st->nidle; i++)
		drop_client(st->idle[i]);
	st->nidle = 0;
	for (size_t i = 0; i < st->neps; i++)
		free(st->eps[i]);
	free(st->eps);
	free(st->tls.ca);
	free(st->tls.cert);
	free(st->tls.key);
	free(st->obl_prefix);
	free(st->claim_prefix);
	free(st->run_prefix);
	free(st->bind_prefix);
	free(st->replica);
}

static const store_ops etcd_ops = {
	.name = "etcd", .shared = true, .close = etcd_close, .create = etcd_create, .get = etcd_get, .list = etcd_list, .claim = etcd_claim,
	.write = etcd_write, .release = etcd_release, .remove = etcd_remove, .keepalive = etcd_keepalive,
	.lease_left = etcd_lease_left, .run_put = etcd_run_put, .run_delete = etcd_run_delete,
	.run_bind = etcd_run_bind,
};

int ig_oblstore_open_etcd(const ig_config *cfg, const char *replica, int ttl_s, ig_oblstore **out,
                          char *err, size_t errlen)
{
	ig_oblstore *st = ig_oblstore_new(&etcd_ops);
	const char *name = cfg->cluster.name ? cfg->cluster.name : "default";
	size_t plen = strlen(name) + 40;
	int bad = 0;

	*out = NULL;
	if (!st)
		return perr(err, errlen, "out of memory");
	if (cfg->cluster.npd == 0) {
		ig_oblstore_close(st);
		return perr(err, errlen, "cluster.pd is empty");
	}
	st->eps = calloc(cfg->cluster.npd, sizeof(*st->eps));
	st->obl_prefix = malloc(plen);
	st->claim_prefix = malloc(plen);
	st->run_prefix = malloc(plen);
	st->bind_prefix = malloc(plen);
	bad |= !st->eps || !st->obl_prefix || !st->claim_prefix || !st->run_prefix || !st->bind_prefix;
	for (size_t i = 0; !bad && i < cfg->cluster.npd; i++) {
		bad |= !(st->eps[i] = strdup(cfg->cluster.pd[i]));
		st->neps = i + 1;
		size_t n = st->eps[i] ? strlen(st->eps[i]) : 0;
		while (n > 0 && st->eps[i][n - 1] == '/') /* "http://pd:2379/" */
			st->eps[i][--n] = '\0';
	}
	bad |= ig_obl_set_str(&st->tls.ca, cfg->cluster.tls.ca) | ig_obl_set_str(&st->tls.cert, cfg->cluster.tls.cert) |
	       ig_obl_set_str(&st->tls.key, cfg->cluster.tls.key) | ig_obl_set_str(&st->replica, replica);
	if (bad) {
		ig_oblstore_close(st);
		return perr(err, errlen, "out of memory");
	}
	snprintf(st->obl_prefix, plen, "/importgate/%s/obligations/", name);
	snprintf(st->claim_prefix, plen, "/importgate/%s/claims/", name);
	snprintf(st->run_prefix, plen, "/importgate/%s/" IG_KEY_LTN_RUNS, name);
	snprintf(st->bind_prefix, plen, "/importgate/%s/" IG_KEY_LTN_BINDS, name);
	st->timeout_ms = cfg->cluster.timeout_ms > 0 ? cfg->cluster.timeout_ms : 2000;
	st->ttl_s = ttl_s > 0 ? ttl_s : 10;
	*out = st; /* the lease is granted on first use: PD may be unreachable now */
	return 0;
}
