/*
 * auditfield.c - the fields of an audit record (auditfield.h): the event's head (time,
 * name), texts made valid UTF-8 and bounded by audit.max_statement_bytes of JSON output,
 * and the redacted fields (statement, rewrite, location, options, error). How a record is
 * shaped is auditev.c's; how it is written, audit.c's.
 */
#include "proxy/auditfield.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "proxy/audit.h"
#include "sqlparse/sqlparse.h"
#include "sqlparse/utf8.h"

static _Atomic size_t max_field = IG_AUDIT_MAX_FIELD_DEFAULT; /* audit.max_statement_bytes */

void ig_audit_field_limit(size_t max_statement_bytes)
{
	atomic_store(&max_field, max_statement_bytes ? max_statement_bytes : IG_AUDIT_MAX_FIELD_DEFAULT);
}

json_t *ig_audit_event(const char *event)
{
	char ts[40];
	struct timespec now;
	struct tm tm;
	json_t *ev;

	clock_gettime(CLOCK_REALTIME, &now);
	if (!gmtime_r(&now.tv_sec, &tm))
		return NULL;
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), sizeof ts - strlen(ts), ".%06ldZ", now.tv_nsec / 1000);
	ev = json_object();
	if (!ev)
		return NULL;
	if (json_object_set_new(ev, "ts", json_string(ts)) < 0 ||
	    json_object_set_new(ev, "event", json_string(event ? event : "")) < 0) {
		json_decref(ev);
		return NULL;
	}
	return ev;
}

/* A json string of s with each invalid byte replaced by U+FFFD. */
static json_t *json_sanitized(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char *buf;
	size_t o = 0;
	json_t *v;

	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	buf = malloc(len * 3 + 1);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t k = sql_utf8_seq(u + i, len - i);
		if (k == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(buf + o, s + i, k);
			o += k;
			i += k;
		}
	}
	v = json_stringn(buf, o);
	free(buf);
	return v;
}

/* ---- bounded fields ----
 * Every text field is kept up to audit.max_statement_bytes bytes of JSON output: a byte
 * is counted as what it can cost once escaped (a control byte 6, '"' and '\' 2, a byte
 * >= 0x80 3, as U+FFFD if it is not valid UTF-8), so no input can multiply the record. The
 * text arrives in pieces (the redactor streams); only the kept prefix is held in memory,
 * the rest is counted and hashed. */

#define TRUNC_MARK "...[truncated]"

typedef struct bounded {
	char *buf;
	size_t n, cost, max;
	uint64_t total;    /* bytes offered */
	bool truncated, oom;
	EVP_MD_CTX *md;    /* SHA-256 of everything offered, or NULL */
} bounded;

static size_t esc_cost(unsigned char c)
{
	if (c < 0x20)
		return 6;
	if (c == '"' || c == '\\')
		return 2;
	return c >= 0x80 ? 3 : 1;
}

static int bounded_init(bounded *b, bool hash)
{
	size_t max = atomic_load(&max_field);

	memset(b, 0, sizeof *b);
	b->max = max > sizeof TRUNC_MARK + 8 ? max - sizeof TRUNC_MARK - 8 : 16;
	b->buf = malloc(b->max + 1);
	if (!b->buf)
		return -1;
	if (hash) {
		b->md = EVP_MD_CTX_new();
		if (!b->md || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
			EVP_MD_CTX_free(b->md);
			free(b->buf);
			return -1;
		}
	}
	return 0;
}

static void bounded_put(void *ctx, const char *p, size_t n)
{
	bounded *b = ctx;

	b->total += n;
	if (b->md && EVP_DigestUpdate(b->md, p, n) != 1)
		b->oom = true;
	for (size_t i = 0; i < n && !b->truncated; i++) {
		size_t c = esc_cost((unsigned char)p[i]);
		if (b->cost + c > b->max) {
			b->truncated = true;
			break;
		}
		b->cost += c;
		b->buf[b->n++] = p[i];
	}
}

/* The kept text as a json string (with the truncation mark when cut); NULL on OOM. */
static json_t *bounded_json(bounded *b)
{
	if (b->truncated) {
		/* do not end inside a UTF-8 sequence: it would become U+FFFD */
		size_t k = b->n, back = 0;
		while (k > 0 && back < 3 && ((unsigned char)b->buf[k - 1] & 0xc0) == 0x80)
			k--, back++;
		if (k > 0 && (unsigned char)b->buf[k - 1] >= 0xc0)
			b->n = k - 1;
		char *g = realloc(b->buf, b->n + sizeof TRUNC_MARK);
		if (!g)
			return NULL;
		b->buf = g;
		memcpy(b->buf + b->n, TRUNC_MARK, sizeof TRUNC_MARK - 1);
		b->n += sizeof TRUNC_MARK - 1;
	}
	return json_sanitized(b->buf, b->n);
}

static void bounded_free(bounded *b)
{
	free(b->buf);
	EVP_MD_CTX_free(b->md);
	b->buf = NULL;
	b->md = NULL;
}

json_t *ig_audit_string(const char *s, size_t len)
{
	bounded b;
	json_t *v;

	if ((!s && len) || bounded_init(&b, false) < 0)
		return NULL;
	bounded_put(&b, s ? s : "", len);
	v = bounded_json(&b);
	bounded_free(&b);
	return v;
}

static int set_bounded(json_t *ev, const char *key, const char *s, size_t len)
{
	json_t *v = ig_audit_string(s, len);

	if (!v)
		return -1;
	return json_object_set_new(ev, key, v);
}

int ig_audit_set_string(json_t *ev, const char *key, const char *s, size_t len)
{
	if (!ev || !key || (!s && len))
		return -1;
	return set_bounded(ev, key, s ? s : "", len);
}

int ig_audit_set_text(json_t *ev, const char *key, const char *s, size_t len)
{
	char *r;
	int rc;

	if (!ev || !key || (!s && len))
		return -1;
	r = sql_redact_text(s ? s : "", len);
	if (!r)
		return -1;
	rc = set_bounded(ev, key, r, strlen(r));
	free(r);
	return rc;
}

/* The redacted statement streamed into a bounded field: key (kept prefix), key_bytes
 * (original length), key_sha256 (SHA-256 of the whole redacted text: a hash of the raw
 * text would let whoever reads the log confirm a guessed credential) and key_truncated. */
static int set_statement_field(json_t *ev, const char *key, const char *sql, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1], k2[64];
	bounded b;
	json_t *v;
	int rc = -1;

	if (bounded_init(&b, true) < 0)
		return -1;
	if (sql_redact_statement_to(sql, len, 0, bounded_put, &b) < 0 || b.oom ||
	    EVP_DigestFinal_ex(b.md, md, &mdlen) != 1)
		goto out;
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[2 * mdlen] = 0;
	if (!(v = bounded_json(&b)) || json_object_set_new(ev, key, v) < 0)
		goto out;
	snprintf(k2, sizeof k2, "%s_bytes", key);
	if (json_object_set_new(ev, k2, json_integer((json_int_t)len)) < 0)
		goto out;
	snprintf(k2, sizeof k2, "%s_sha256", key);
	if (json_object_set_new(ev, k2, json_string(hex)) < 0)
		goto out;
	snprintf(k2, sizeof k2, "%s_truncated", key);
	if (b.truncated && json_object_set_new(ev, k2, json_true()) < 0)
		goto out;
	rc = 0;
out:
	bounded_free(&b);
	return rc;
}

int ig_audit_set_statement(json_t *ev, const char *sql, size_t len)
{
	if (!ev || (!sql && len))
		return -1;
	return set_statement_field(ev, "statement", sql ? sql : "", len);
}

int ig_audit_set_rewrite(json_t *ev, const char *orig, size_t olen, const char *text, size_t tlen)
{
	size_t p = 0, sfx = 0;
	json_t *rw;
	bounded b;
	json_t *v;

	if (!ev || (!orig && olen) || (!text && tlen))
		return -1;
	while (p < olen && p < tlen && orig[p] == text[p])
		p++;
	while (sfx < olen - p && sfx < tlen - p && orig[olen - 1 - sfx] == text[tlen - 1 - sfx])
		sfx++;
	if (bounded_init(&b, false) < 0)
		return -1;
	/* the inserted bytes may hold literals of the original (a logical rewrite): redacted as
	 * a statement, which withholds a piece that starts or ends inside a literal */
	if (sql_redact_statement_to(text + p, tlen - p - sfx, 0, bounded_put, &b) < 0 || !(v = bounded_json(&b))) {
		bounded_free(&b);
		return -1;
	}
	rw = json_object();
	if (!rw || json_object_set_new(rw, "offset", json_integer((json_int_t)p)) < 0 ||
	    json_object_set_new(rw, "removed", json_integer((json_int_t)(olen - p - sfx))) < 0 ||
	    json_object_set_new(rw, "inserted", v) < 0 ||
	    json_object_set_new(rw, "new_bytes", json_integer((json_int_t)tlen)) < 0) {
		if (!rw)
			json_decref(v);
		json_decref(rw);
		bounded_free(&b);
		return -1;
	}
	if (b.truncated)
		json_object_set_new(rw, "inserted_truncated", json_true());
	bounded_free(&b);
	return json_object_set_new(ev, "rewrite", rw);
}

int ig_audit_set_location(json_t *ev, const char *key, const char *uri)
{
	char *r;
	int rc;

	if (!ev || !key || !uri)
		return -1;
	r = sql_redact_uri(uri, strlen(uri));
	if (!r)
		return -1;
	rc = set_bounded(ev, key, r, strlen(r));
	free(r);
	return rc;
}

int ig_audit_set_option(json_t *ev, const char *name, const char *value, size_t len)
{
	json_t *opts, *v;
	char *r = NULL;
	bounded b;

	if (!ev || !name)
		return -1;
	opts = json_object_get(ev, "options");
	if (!opts) {
		opts = json_object();
		if (!opts || json_object_set_new(ev, "options", opts) < 0)
			return -1;
	}
	if (!value) {
		v = json_true();
	} else {
		/* a URI option is parsed as BR parses it; any other value is redacted as free text
		 * (a credential name=value or scheme:// anywhere in it) */
		r = strcasecmp(name, "CLOUD_STORAGE_URI") == 0 ? sql_redact_uri(value, len) : sql_redact_text(value, len);
		if (!r || bounded_init(&b, false) < 0) {
			free(r);
			return -1;
		}
		bounded_put(&b, r, strlen(r));
		v = bounded_json(&b);
		bounded_free(&b);
		free(r);
	}
	if (!v)
		return -1;
	return json_object_set_new(opts, name, v);
}

int ig_audit_set_error(json_t *ev, int code, const char *message)
{
	json_t *e = json_object();

	if (!ev || !e) {
		json_decref(e);
		return -1;
	}
	/* a backend's message may echo the statement (1064 "near '...'", 8xxx quoting the
	 * location): redacted as free text, and bounded */
	if (json_object_set_new(e, "code", json_integer(code)) < 0 ||
	    ig_audit_set_text(e, "message", message ? message : "", message ? strlen(message) : 0) < 0) {
		json_decref(e);
		return -1;
	}
	return json_object_set_new(ev, "error", e);
}
