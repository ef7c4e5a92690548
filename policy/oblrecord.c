/*
 * oblrecord.c - the obligation record: names of its states, its JSON encoding (strings that
 * are not UTF-8 as base64) and the file store's CRC-framed lines. See oblrecord.h.
 */
#include "policy/oblrecord.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/base64.h"
#include "policy/decide.h"

static int perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- names ---- */

static const char *const state_names[] = {
	[IG_OBLS_AWAITING_ANSWER] = "awaiting-answer", [IG_OBLS_SEARCHING] = "searching",
	[IG_OBLS_FOLLOWING] = "following-job",         [IG_OBLS_DUE] = "due",
	[IG_OBLS_DONE] = "done",                       [IG_OBLS_NOT_OWED] = "not-owed",
	[IG_OBLS_OUTCOME_UNKNOWN] = "outcome-unknown", [IG_OBLS_DISMISSED] = "dismissed",
};
static const char *const step_names[] = {
	[IG_STEP_NONE] = "none",         [IG_STEP_PENDING] = "pending", [IG_STEP_STARTED] = "started",
	[IG_STEP_FOLLOWING] = "following", [IG_STEP_DONE] = "done",
};

const char *ig_obl_state_name(ig_obl_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(*state_names) ? state_names[s] : "?";
}

int ig_obl_state_parse(const char *s, ig_obl_state *out)
{
	for (size_t i = 0; s && i < sizeof(state_names) / sizeof(*state_names); i++) {
		if (strcmp(s, state_names[i]) == 0) {
			*out = (ig_obl_state)i;
			return 0;
		}
	}
	return -1;
}

const char *ig_obl_step_name(ig_obl_step_state s)
{
	return (unsigned)s < sizeof(step_names) / sizeof(*step_names) ? step_names[s] : "?";
}

static int step_parse(const char *s, ig_obl_step_state *out)
{
	for (size_t i = 0; s && i < sizeof(step_names) / sizeof(*step_names); i++) {
		if (strcmp(s, step_names[i]) == 0) {
			*out = (ig_obl_step_state)i;
			return 0;
		}
	}
	return -1;
}

bool ig_obl_state_terminal(ig_obl_state s)
{
	return s == IG_OBLS_DONE || s == IG_OBLS_NOT_OWED || s == IG_OBLS_DISMISSED;
}

/* ---- the record ---- */

int ig_obl_set_str(char **field, const char *s)
{
	char *c = NULL;

	if (s && !(c = strdup(s)))
		return -1;
	free(*field);
	*field = c;
	return 0;
}

static void step_free(ig_obl_step *s)
{
	free(s->job_id);
	free(s->target);
	free(s->last_error);
	memset(s, 0, sizeof(*s));
}

void ig_obl_record_free(ig_obl_record *r)
{
	if (!r)
		return;
	free(r->db);
	free(r->table);
	free(r->statement);
	free(r->user);
	free(r->client);
	free(r->backend);
	free(r->job_id);
	free(r->note);
	free(r->last_error);
	free(r->replica);
	free(r->source);
	free(r->reason);
	free(r->origin);
	step_free(&r->backup);
	step_free(&r->reimport);
	memset(r, 0, sizeof(*r));
}

static int dup_field(char **dst, const char *src)
{
	*dst = NULL;
	return src && !(*dst = strdup(src)) ? -1 : 0;
}

static int step_copy(ig_obl_step *d, const ig_obl_step *s)
{
	*d = *s;
	d->job_id = d->target = d->last_error = NULL;
	return dup_field(&d->job_id, s->job_id) | dup_field(&d->target, s->target) |
	       dup_field(&d->last_error, s->last_error);
}

int ig_obl_record_copy(ig_obl_record *d, const ig_obl_record *s)
{
	int rc = 0;

	*d = *s;
	d->db = d->table = d->statement = d->user = d->client = d->backend = NULL;
	d->job_id = d->note = d->last_error = d->replica = d->source = d->reason = d->origin = NULL;
	memset(&d->backup, 0, sizeof(d->backup));
	memset(&d->reimport, 0, sizeof(d->reimport));
	rc |= dup_field(&d->db, s->db) | dup_field(&d->table, s->table);
	rc |= dup_field(&d->statement, s->statement) | dup_field(&d->user, s->user);
	rc |= dup_field(&d->client, s->client) | dup_field(&d->backend, s->backend);
	rc |= dup_field(&d->job_id, s->job_id) | dup_field(&d->note, s->note);
	rc |= dup_field(&d->last_error, s->last_error) | dup_field(&d->replica, s->replica);
	rc |= dup_field(&d->source, s->source) | dup_field(&d->reason, s->reason) | dup_field(&d->origin, s->origin);
	rc |= step_copy(&d->backup, &s->backup) | step_copy(&d->reimport, &s->reimport);
	if (rc) {
		ig_obl_record_free(d);
		return -1;
	}
	return 0;
}

/*
 * Strings are stored as JSON strings when they are UTF-8, else base64 under "<key>_b64":
 * the statement must come back byte for byte to be re-run downstream.
 */
static int put_str(json_t *o, const char *key, const char *s)
{
	json_t *v;
	char k[64];

	if (!s)
		return 0;
	v = json_string(s);
	if (v)
		return json_object_set_new(o, key, v);
	size_t n = strlen(s);
	char *b = malloc(ig_b64_encoded_len(n) + 1);
	if (!b)
		return -1;
	ig_b64_encode((const unsigned char *)s, n, b);
	snprintf(k, sizeof(k), "%s_b64", key);
	int rc = json_object_set_new(o, k, json_string(b));
	free(b);
	return rc;
}

/* 0 absent or read, -1 OOM or malformed. */
static int get_str(const json_t *o, const char *key, char **out)
{
	const json_t *v = json_object_get(o, key);
	char k[64];

	*out = NULL;
	if (v && !json_is_null(v)) {
		if (!json_is_string(v))
			return -1;
		return (*out = strdup(json_string_value(v))) ? 0 : -1;
	}
	snprintf(k, sizeof(k), "%s_b64", key);
	v = json_object_get(o, k);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return -1;
	size_t n = json_string_length(v);
	unsigned char *b = malloc(n / 4 * 3 + 4);
	long got;
	if (!b)
		return -1;
	got = ig_b64_decode(json_string_value(v), n, b);
	if (got < 0 || memchr(b, 0, (size_t)got)) {
		free(b);
		return -1;
	}
	b[got] = '\0';
	*out = (char *)b;
	return 0;
}

static int put_int(json_t *o, const char *key, int64_t v)
{
	return json_object_set_new(o, key, json_integer((json_int_t)v));
}

static int64_t get_int(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static json_t *step_encode(const ig_obl_step *s)
{
	json_t *o = json_object();
	int rc;

	if (!o)
		return NULL;
	rc = json_object_set_new(o, "state", json_string(ig_obl_step_name(s->state)));
	rc |= put_str(o, "job_id", s->job_id) | put_str(o, "target", s->target);
	rc |= put_str(o, "last_error", s->last_error);
	rc |= put_int(o, "started_ms", s->started_ms) | put_int(o, "attempts", s->attempts);
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int step_decode(const json_t *o, ig_obl_step *s)
{
	memset(s, 0, sizeof(*s));
	if (!o)
		return 0;
	if (!json_is_object(o) || step_parse(json_string_value(json_object_get(o, "state")), &s->state) < 0)
		return -1;
	if (get_str(o, "job_id", &s->job_id) | get_str(o, "target", &s->target) |
	    get_str(o, "last_error", &s->last_error))
		return -1;
	s->started_ms = get_int(o, "started_ms");
	s->attempts = (unsigned)get_int(o, "attempts");
	return 0;
}

json_t *ig_obl_kinds_json(unsigned kinds)
{
	json_t *a = json_array();

	if (a && (kinds & IG_OBL_SNAPSHOT_AFTER_IMPORT))
		json_array_append_new(a, json_string("snapshot-after-import"));
	if (a && (kinds & IG_OBL_REIMPORT_DOWNSTREAM))
		json_array_append_new(a, json_string("reimport-downstream"));
	return a;
}

static unsigned kinds_decode(const json_t *a)
{
	unsigned k = 0;
	size_t i;
	const json_t *v;

	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		if (s && strcmp(s, "snapshot-after-import") == 0)
			k |= IG_OBL_SNAPSHOT_AFTER_IMPORT;
		else if (s && strcmp(s, "reimport-downstream") == 0)
			k |= IG_OBL_REIMPORT_DOWNSTREAM;
	}
	return k;
}

char *ig_obl_record_encode(const ig_obl_record *r)
{
	json_t *o = json_object();
	char *out = NULL;
	int rc;

	if (!o)
		return NULL;
	rc = put_int(o, "v", 1) | put_str(o, "id", r->id);
	rc |= json_object_set_new(o, "kinds", ig_obl_kinds_json(r->kinds));
	rc |= json_object_set_new(o, "state", json_string(ig_obl_state_name(r->state)));
	rc |= put_str(o, "db", r->db) | put_str(o, "table", r->table);
	rc |= put_str(o, "statement", r->statement) | put_str(o, "user", r->user);
	rc |= put_str(o, "client", r->client) | put_str(o, "backend", r->backend);
	rc |= put_int(o, "conn_id", (int64_t)r->conn_id);
	rc |= json_object_set_new(o, "disable_precheck", json_boolean(r->disable_precheck));
	rc |= json_object_set_new(o, "from_select", json_boolean(r->from_select));
	rc |= put_int(o, "created_ms", r->created_ms) | put_int(o, "updated_ms", r->updated_ms);
	rc |= put_str(o, "job_id", r->job_id) | put_str(o, "note", r->note);
	if (r->backup.state != IG_STEP_NONE)
		rc |= json_object_set_new(o, "backup", step_encode(&r->backup));
	if (r->reimport.state != IG_STEP_NONE)
		rc |= json_object_set_new(o, "reimport", step_encode(&r->reimport));
	rc |= put_int(o, "attempts", r->attempts) | put_str(o, "last_error", r->last_error);
	rc |= put_int(o, "next_try_ms", r->next_try_ms) | put_str(o, "replica", r->replica);
	rc |= put_str(o, "source", r->source) | put_str(o, "reason", r->reason) | put_str(o, "origin", r->origin);
	if (rc == 0)
		out = json_dumps(o, JSON_COMPACT); /* compact JSON never holds a raw newline */
	json_decref(o);
	return out;
}

bool ig_obl_id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n != IG_OBL_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int decode_fields(const json_t *o, ig_obl_record *r, char *err, size_t errlen)
{
	const char *id = json_string_value(json_object_get(o, "id"));
	const json_t *v;

	if (!ig_obl_id_valid(id))
		return perr(err, errlen, "record without a valid id");
	memcpy(r->id, id, IG_OBL_ID_LEN + 1);
	if (ig_obl_state_parse(json_string_value(json_object_get(o, "state")), &r->state) < 0)
		return perr(err, errlen, "record %s: missing or unknown state", id);
	r->kinds = kinds_decode(json_object_get(o, "kinds"));
	if (get_str(o, "db", &r->db) | get_str(o, "table", &r->table) |
	    get_str(o, "statement", &r->statement) | get_str(o, "user", &r->user) |
	    get_str(o, "client", &r->client) | get_str(o, "backend", &r->backend) |
	    get_str(o, "job_id", &r->job_id) | get_str(o, "note", &r->note) |
	    get_str(o, "last_error", &r->last_error) | get_str(o, "replica", &r->replica) |
	    get_str(o, "source", &r->source) | get_str(o, "reason", &r->reason) | get_str(o, "origin", &r->origin))
		return perr(err, errlen, "record %s: a string field is malformed (or out of memory)", id);
	r->conn_id = (uint64_t)get_int(o, "conn_id");
	v = json_object_get(o, "disable_precheck");
	r->disable_precheck = json_is_true(v);
	r->from_select = json_is_true(json_object_get(o, "from_select"));
	r->created_ms = get_int(o, "created_ms");
	r->updated_ms = get_int(o, "updated_ms");
	r->attempts = (unsigned)get_int(o, "attempts");
	r->next_try_ms = get_int(o, "next_try_ms");
	if (step_decode(json_object_get(o, "backup"), &r->backup) < 0 ||
	    step_decode(json_object_get(o, "reimport"), &r->reimport) < 0)
		return perr(err, errlen, "record %s: malformed step", id);
	return 0;
}

int ig_obl_record_decode(const char *text, size_t len, ig_obl_record *r, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loadb(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES, &je);
	int rc;

	memset(r, 0, sizeof(*r));
	if (!o)
		return perr(err, errlen, "bad JSON: %s", je.text);
	if (!json_is_object(o))
		rc = perr(err, errlen, "the record is not a JSON object");
	else
		rc = decode_fields(o, r, err, errlen);
	json_decref(o);
	if (rc < 0)
		ig_obl_record_free(r);
	return rc;
}

/* ---- file framing ---- */

uint32_t ig_obl_crc32(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t c = 0xFFFFFFFFu;

	/* bitwise CRC-32 (IEEE, reflected): writes are rare, no table needed */
	for (size_t i = 0; i < n; i++) {
		c ^= b[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
	}
	return ~c;
}

char *ig_obl_frame(const char *json, size_t len, size_t *outlen)
{
	char *out = malloc(len + 11);

	if (!out)
		return NULL;
	snprintf(out, 10, "%08x ", ig_obl_crc32(json, len));
	memcpy(out + 9, json, len);
	out[9 + len] = '\n';
	out[10 + len] = '\0';
	*outlen = len + 10;
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

long ig_obl_unframe(const char *p, size_t n, const char **json, size_t *jlen)
{
	const char *nl = memchr(p, '\n', n);
	uint32_t want = 0;
	size_t line;

	if (!nl)
		return 0;
	line = (size_t)(nl - p) + 1;
	if (line < 10 || p[8] != ' ') /* "crc8 " + payload + "\n"; ig_obl_frame makes empty payloads too */
		return -1;
	for (int i = 0; i < 8; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		want = want << 4 | (uint32_t)h;
	}
	*json = p + 9;
	*jlen = line - 10;
	if (ig_obl_crc32(*json, *jlen) != want)
		return -1;
	return (long)line;
}
