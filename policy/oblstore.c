/*
 * oblstore.c - the obligation record (JSON encoding) and the store's two backends: PD's
 * etcd through the v3 JSON gateway (records, claims bound to a lease, create-if-absent
 * transactions) and a local append-only file with CRC-framed lines, fsync per write,
 * replay and compaction. See oblstore.h for the contract.
 */
#include "policy/oblstore.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "policy/base64.h"
#include "policy/decide.h"
#include "policy/etcdread.h"
#include "policy/pdhttp.h"

#define MAX_RESPONSE_BYTES (16u << 20)

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
	d->job_id = d->note = d->last_error = d->replica = d->source = d->reason = NULL;
	memset(&d->backup, 0, sizeof(d->backup));
	memset(&d->reimport, 0, sizeof(d->reimport));
	rc |= dup_field(&d->db, s->db) | dup_field(&d->table, s->table);
	rc |= dup_field(&d->statement, s->statement) | dup_field(&d->user, s->user);
	rc |= dup_field(&d->client, s->client) | dup_field(&d->backend, s->backend);
	rc |= dup_field(&d->job_id, s->job_id) | dup_field(&d->note, s->note);
	rc |= dup_field(&d->last_error, s->last_error) | dup_field(&d->replica, s->replica);
	rc |= dup_field(&d->source, s->source) | dup_field(&d->reason, s->reason);
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

static json_t *kinds_encode(unsigned kinds)
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
	rc |= json_object_set_new(o, "kinds", kinds_encode(r->kinds));
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
	rc |= put_str(o, "source", r->source) | put_str(o, "reason", r->reason);
	if (rc == 0)
		out = json_dumps(o, JSON_COMPACT); /* compact JSON never holds a raw newline */
	json_decref(o);
	return out;
}

static bool valid_id(const char *s)
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

	if (!valid_id(id))
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
	    get_str(o, "source", &r->source) | get_str(o, "reason", &r->reason))
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

/* ---- the store object ---- */

/*
 * The store's interface: one table of operations per backend, so callers never ask which
 * one they have. Every write of a record is a compare-and-swap on its revision, fenced by
 * the writer's claim (see oblstore.h).
 */
typedef struct store_ops {
	const char *name;
	int (*create)(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen);
	int (*get)(ig_oblstore *st, const char *id, ig_obl_record *out, char *err, size_t errlen);
	int (*list)(ig_oblstore *st, ig_obl_record **recs, size_t *n, char *err, size_t errlen);
	int (*claim)(ig_oblstore *st, const char *id, int64_t rev, char *err, size_t errlen);
	int (*write)(ig_oblstore *st, ig_obl_record *r, bool release, char *err, size_t errlen);
	int (*release)(ig_oblstore *st, const char *id, char *err, size_t errlen);
	int (*remove)(ig_oblstore *st, const char *id, int64_t rev, char *err, size_t errlen);
	int (*keepalive)(ig_oblstore *st, char *err, size_t errlen);
	int64_t (*lease_left)(ig_oblstore *st); /* mu held */
} store_ops;

struct ig_oblstore {
	const store_ops *ops;
	pthread_mutex_t mu;
	ig_oblstore_info info;
	/* file */
	char *path;
	int fd, lockfd;
	ig_obl_record *recs; /* latest version of each live record */
	size_t nrecs;
	char **claims;       /* in memory: one process */
	size_t nclaims;
	off_t size;
	int64_t revision;    /* file: the last revision given (a counter, like etcd's) */
	/* etcd */
	char **eps;
	size_t neps, cur;
	ig_tls_files tls;
	long timeout_ms;
	char *obl_prefix, *claim_prefix, *replica;
	int ttl_s;
	int64_t lease;          /* 0 until granted (PD may be down at start) */
	int64_t lease_until;    /* CLOCK_MONOTONIC ms: the lease cannot have expired before this */
	unsigned lease_epoch;   /* +1 per grant: claims of an older lease are gone */
	pthread_mutex_t grant_mu; /* one grant at a time: a second lease would orphan claims */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ig_oblstore_info_get(ig_oblstore *st, ig_oblstore_info *info)
{
	pthread_mutex_lock(&st->mu);
	*info = st->info;
	info->live = st->nrecs;
	pthread_mutex_unlock(&st->mu);
}

/* ---- file backend ---- */

static ig_obl_record *file_find(ig_oblstore *st, const char *id)
{
	for (size_t i = 0; i < st->nrecs; i++)
		if (strcmp(st->recs[i].id, id) == 0)
			return &st->recs[i];
	return NULL;
}

/* Replaces (or adds) the in-memory version; takes ownership of *r. */
static int file_remember(ig_oblstore *st, ig_obl_record *r)
{
	ig_obl_record *old = file_find(st, r->id), *grown;

	if (old) {
		ig_obl_record_free(old);
		*old = *r;
		return 0;
	}
	grown = realloc(st->recs, (st->nrecs + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	st->recs = grown;
	st->recs[st->nrecs++] = *r;
	return 0;
}

static void file_forget(ig_oblstore *st, const char *id)
{
	ig_obl_record *r = file_find(st, id);

	if (!r)
		return;
	ig_obl_record_free(r);
	*r = st->recs[--st->nrecs];
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fsync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (!copy)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

/* Appends one framed line and syncs it. A failed write is cut off: no torn line stays. */
static int file_append(ig_oblstore *st, const char *json, char *err, size_t errlen)
{
	size_t n;
	char *line = ig_obl_frame(json, strlen(json), &n);
	int rc = 0;

	if (!line)
		return perr(err, errlen, "out of memory");
	if (write_all(st->fd, line, n) < 0) {
		rc = perr(err, errlen, "%s: write: %s", st->path, strerror(errno));
		if (ftruncate(st->fd, st->size) < 0) { /* the torn line goes; replay would cut it too */
		}
	} else if (fdatasync(st->fd) < 0) {
		rc = perr(err, errlen, "%s: fdatasync: %s", st->path, strerror(errno));
	} else {
		st->size += (off_t)n;
		st->info.lines++;
	}
	free(line);
	return rc;
}

/* Rewrites the file with one line per live record (tmp file, fsync, rename, fsync dir). */
static int file_compact(ig_oblstore *st, char *err, size_t errlen)
{
	size_t plen = strlen(st->path) + 10;
	char *tmp = malloc(plen);
	int fd;
	off_t size = 0;

	if (!tmp)
		return perr(err, errlen, "out of memory");
	snprintf(tmp, plen, "%s.compact", st->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perr(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	for (size_t i = 0; i < st->nrecs; i++) {
		char *json = ig_obl_record_encode(&st->recs[i]), *line = NULL;
		size_t n = 0;
		if (json)
			line = ig_obl_frame(json, strlen(json), &n);
		free(json);
		if (!line || write_all(fd, line, n) < 0) {
			free(line);
			goto fail;
		}
		free(line);
		size += (off_t)n;
	}
	if (fsync(fd) < 0 || rename(tmp, st->path) < 0)
		goto fail;
	fsync_dir(st->path);
	close(st->fd);
	st->fd = open(st->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (st->fd < 0) { /* the renamed file is complete; only appends are lost until restart */
		close(fd);
		free(tmp);
		return perr(err, errlen, "%s: reopen after compaction: %s", st->path, strerror(errno));
	}
	close(fd);
	free(tmp);
	st->size = size;
	st->info.lines = st->nrecs;
	st->info.compactions++;
	return 0;
fail:
	perr(err, errlen, "compaction of %s failed: %s", st->path, strerror(errno));
	close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

/* Mostly dead: several lines per live record. Compaction failure is not fatal. */
static void file_maybe_compact(ig_oblstore *st)
{
	char e[256];

	if (st->info.lines >= 64 && st->info.lines > 4 * st->nrecs)
		file_compact(st, e, sizeof(e));
}

static int replay_line(ig_oblstore *st, const char *json, size_t jlen)
{
	ig_obl_record r;
	json_t *o = json_loadb(json, jlen, 0, NULL);
	const char *id = json_string_value(json_object_get(o, "id"));

	if (o && json_is_true(json_object_get(o, "deleted")) && valid_id(id)) {
		file_forget(st, id);
		json_decref(o);
		return 0;
	}
	json_decref(o);
	if (ig_obl_record_decode(json, jlen, &r, NULL, 0) < 0)
		return 1; /* framed correctly but not a record: skipped */
	r.rev = ++st->revision;
	if (file_remember(st, &r) < 0) {
		ig_obl_record_free(&r);
		return -1;
	}
	return 0;
}

static int read_file(int fd, char **buf, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *b = malloc(cap);

	if (!b)
		return -1;
	for (;;) {
		ssize_t r;
		if (n == cap) {
			char *g = realloc(b, cap *= 2);
			if (!g) {
				free(b);
				return -1;
			}
			b = g;
		}
		r = pread(fd, b + n, cap - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(b);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*buf = b;
	*len = n;
	return 0;
}

static int file_replay(ig_oblstore *st, char *warn, size_t warnlen, char *err, size_t errlen)
{
	char *buf;
	size_t len, at = 0;

	if (read_file(st->fd, &buf, &len) < 0)
		return perr(err, errlen, "%s: read: %s", st->path, strerror(errno));
	while (at < len) {
		const char *json;
		size_t jlen;
		long n = ig_obl_unframe(buf + at, len - at, &json, &jlen);
		if (n == 0)
			break; /* torn last write */
		if (n < 0) {
			const char *nl = memchr(buf + at, '\n', len - at);
			st->info.skipped++;
			at = (size_t)(nl - buf) + 1;
			continue;
		}
		int rc = replay_line(st, json, jlen);
		if (rc < 0) {
			free(buf);
			return perr(err, errlen, "out of memory replaying %s", st->path);
		}
		st->info.skipped += (size_t)rc;
		st->info.replayed++;
		at += (size_t)n;
	}
	free(buf);
	st->info.lines = st->info.replayed;
	if (at < len) {
		st->info.torn_tail = true;
		if (ftruncate(st->fd, (off_t)at) < 0 || fsync(st->fd) < 0)
			return perr(err, errlen, "%s: cannot cut off the torn last record: %s", st->path, strerror(errno));
	}
	st->size = (off_t)at;
	if (warn && warnlen) {
		warn[0] = '\0';
		if (st->info.torn_tail || st->info.skipped)
			snprintf(warn, warnlen, "%s: %zu bytes of a torn last record ignored, %zu corrupt records skipped",
			         st->path, len - at, st->info.skipped);
	}
	return 0;
}

static const store_ops file_ops, etcd_ops;

static ig_oblstore *store_new(const store_ops *ops)
{
	ig_oblstore *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->ops = ops;
	st->fd = st->lockfd = -1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_mutex_init(&st->grant_mu, NULL);
	st->info.shared = ops == &etcd_ops;
	return st;
}

int ig_oblstore_open_file(const char *path, ig_oblstore **out, char *warn, size_t warnlen, char *err,
                          size_t errlen)
{
	ig_oblstore *st;
	size_t plen;
	char *lock;

	*out = NULL;
	if (warn && warnlen)
		warn[0] = '\0';
	if (!path || !*path)
		return perr(err, errlen, "obligations.file is not set (and cluster.pd is empty)");
	if (!(st = store_new(&file_ops)) || !(st->path = strdup(path))) {
		ig_oblstore_close(st);
		return perr(err, errlen, "out of memory");
	}
	plen = strlen(path) + 6;
	lock = malloc(plen);
	if (!lock) {
		ig_oblstore_close(st);
		return perr(err, errlen, "out of memory");
	}
	snprintf(lock, plen, "%s.lock", path);
	/* A separate lock file: compaction replaces the log's inode, the lock's stays. */
	st->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lockfd < 0 || flock(st->lockfd, LOCK_EX | LOCK_NB) < 0) {
		perr(err, errlen, st->lockfd < 0 ? "%s: %s" : "%s is held by another importgate process (%s); "
		     "the file store serves one process only",
		     lock, strerror(errno));
		free(lock);
		ig_oblstore_close(st);
		return -1;
	}
	free(lock);
	st->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (st->fd < 0) {
		perr(err, errlen, "%s: %s", path, strerror(errno));
		ig_oblstore_close(st);
		return -1;
	}
	fsync_dir(path);
	if (file_replay(st, warn, warnlen, err, errlen) < 0) {
		ig_oblstore_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

/* Appends r as the next version (revision st->revision + 1) and remembers it. mu held. */
static int file_put(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen)
{
	ig_obl_record copy;
	char *json;
	int rc;

	if (!(json = ig_obl_record_encode(r)) || ig_obl_record_copy(&copy, r) < 0) {
		free(json);
		return perr(err, errlen, "out of memory");
	}
	rc = file_append(st, json, err, errlen);
	free(json);
	if (rc == 0) {
		copy.rev = ++st->revision;
		if (file_remember(st, &copy) == 0) {
			r->rev = st->revision;
			file_maybe_compact(st);
			return 0;
		}
	}
	ig_obl_record_free(&copy);
	return rc < 0 ? -1 : perr(err, errlen, "out of memory");
}

static bool file_claimed(ig_oblstore *st, const char *id, size_t *at)
{
	for (size_t i = 0; i < st->nclaims; i++) {
		if (strcmp(st->claims[i], id) == 0) {
			if (at)
				*at = i;
			return true;
		}
	}
	return false;
}

static int file_add_claim(ig_oblstore *st, const char *id, char *err, size_t errlen)
{
	char **g;

	if (file_claimed(st, id, NULL))
		return 0;
	g = realloc(st->claims, (st->nclaims + 1) * sizeof(*g));
	if (!g || !(g[st->nclaims] = strdup(id))) {
		if (g)
			st->claims = g;
		return perr(err, errlen, "out of memory");
	}
	st->claims = g;
	st->nclaims++;
	return 0;
}

static void file_drop_claim(ig_oblstore *st, const char *id)
{
	size_t at;

	if (file_claimed(st, id, &at)) {
		free(st->claims[at]);
		st->claims[at] = st->claims[--st->nclaims];
	}
}

/* The compare of every write: the stored version is still rev. mu held. */
static bool file_at(ig_oblstore *st, const char *id, int64_t rev)
{
	const ig_obl_record *cur = file_find(st, id);

	return cur && cur->rev == rev;
}

static int file_create(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	if (file_find(st, r->id))
		rc = perr(err, errlen, "obligation %s exists already", r->id);
	else if ((rc = file_add_claim(st, r->id, err, errlen)) == 0 && (rc = file_put(st, r, err, errlen)) < 0)
		file_drop_claim(st, r->id);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int file_get(ig_oblstore *st, const char *id, ig_obl_record *out, char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	const ig_obl_record *r = file_find(st, id);
	if (r)
		rc = ig_obl_record_copy(out, r) < 0 ? perr(err, errlen, "out of memory") : 1;
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int file_list(ig_oblstore *st, ig_obl_record **recs, size_t *n, char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	ig_obl_record *out = calloc(st->nrecs ? st->nrecs : 1, sizeof(*out));
	for (size_t i = 0; out && i < st->nrecs; i++) {
		if (ig_obl_record_copy(&out[i], &st->recs[i]) < 0) {
			for (size_t j = 0; j < i; j++)
				ig_obl_record_free(&out[j]);
			free(out);
			out = NULL;
		} else {
			out[i].held = file_claimed(st, out[i].id, NULL) ? IG_OBL_HELD_US : IG_OBL_HELD_NONE;
		}
	}
	if (out) {
		*recs = out;
		*n = st->nrecs;
	} else {
		rc = perr(err, errlen, "out of memory");
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* One process: a claim is ours or absent. It needs the record still at rev. */
static int file_claim(ig_oblstore *st, const char *id, int64_t rev, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = file_at(st, id, rev) ? file_add_claim(st, id, err, errlen) : 1;
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int file_write(ig_oblstore *st, ig_obl_record *r, bool release, char *err, size_t errlen)
{
	int rc = 1;

	pthread_mutex_lock(&st->mu);
	if (file_at(st, r->id, r->rev) && file_claimed(st, r->id, NULL)) {
		rc = file_put(st, r, err, errlen);
		if (rc == 0 && release)
			file_drop_claim(st, r->id);
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int file_release(ig_oblstore *st, const char *id, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	pthread_mutex_lock(&st->mu);
	file_drop_claim(st, id);
	pthread_mutex_unlock(&st->mu);
	return 0;
}

static int file_remove(ig_oblstore *st, const char *id, int64_t rev, char *err, size_t errlen)
{
	char json[96];
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	if (!file_find(st, id)) {
		rc = 0;
	} else if (!file_at(st, id, rev)) {
		rc = 1;
	} else {
		snprintf(json, sizeof(json), "{\"id\":\"%s\",\"deleted\":true}", id);
		rc = file_append(st, json, err, errlen);
		if (rc == 0) {
			st->revision++;
			file_forget(st, id);
			file_drop_claim(st, id);
			file_maybe_compact(st);
		}
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int file_keepalive(ig_oblstore *st, char *err, size_t errlen)
{
	(void)st;
	(void)err;
	(void)errlen;
	return 0;
}

/* One process: its claims cannot be taken by anyone. */
static int64_t file_lease_left(ig_oblstore *st)
{
	(void)st;
	return INT64_MAX;
}

static const store_ops file_ops = {
	.name = "file", .create = file_create, .get = file_get, .list = file_list, .claim = file_claim,
	.write = file_write, .release = file_release, .remove = file_remove, .keepalive = file_keepalive,
	.lease_left = file_lease_left,
};

/* ---- etcd backend: HTTP ---- */

/* One request on its own connection: the store is used from several threads, and rarely. */
static int post_one(ig_oblstore *st, const char *ep, const char *path, const char *json, json_t **out,
                    char *err, size_t errlen)
{
	ig_pdhttp h;
	char *body;
	size_t len;
	int rc;

	*out = NULL;
	if (ig_pdhttp_init(&h, ep, st->timeout_ms, "cluster.timeout_ms", MAX_RESPONSE_BYTES, &st->tls,
	                   err, errlen) < 0)
		return -1;
	rc = ig_pdhttp_post(&h, path, json, &body, &len, err, errlen);
	ig_pdhttp_free(&h);
	if (rc < 0)
		return -1;
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
static int range_kv(range_acc *a, const json_t *kv)
{
	const char *v = json_string_value(json_object_get(kv, "value"));
	size_t n = v ? strlen(v) : 0;
	unsigned char *buf = malloc(n / 4 * 3 + 4);
	long got;
	ig_obl_record r, *g;

	if (!buf)
		return -1;
	got = v ? ig_b64_decode(v, n, buf) : -1;
	if (got < 0 || ig_obl_record_decode((const char *)buf, (size_t)got, &r, NULL, 0) < 0) {
		free(buf);
		return 0; /* not a record of ours */
	}
	free(buf);
	r.rev = int64_of(json_object_get(kv, "mod_revision"));
	g = realloc(a->recs, (a->n + 1) * sizeof(*g));
	if (!g) {
		ig_obl_record_free(&r);
		return -1;
	}
	a->recs = g;
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

/* The records at key (or under the prefix key), each with its mod_revision. */
static int etcd_range(ig_oblstore *st, const char *key, bool prefix, range_acc *acc, char *err, size_t errlen)
{
	size_t n = strlen(key), i;
	char *end = NULL, *json;
	json_t *req, *out, *kv;

	if (prefix) {
		if (!(end = strdup(key)))
			return perr(err, errlen, "out of memory");
		end[n - 1]++; /* prefixes end in '/': no carry */
	}
	json = ig_etcd_range_body(key, n, end, end ? n : 0, 0, 0, false);
	free(end);
	if (!json || !(req = json_loads(json, 0, NULL))) {
		free(json);
		return perr(err, errlen, "out of memory");
	}
	free(json);
	if (post(st, "/v3/kv/range", req, &out, err, errlen) < 0)
		return -1;
	json_array_foreach(json_object_get(out, "kvs"), i, kv) {
		if (range_kv(acc, kv) < 0) {
			json_decref(out);
			range_free(acc);
			return perr(err, errlen, "out of memory");
		}
	}
	json_decref(out);
	return 0;
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

static int etcd_claims(ig_oblstore *st, claim_ent **out, size_t *n, char *err, size_t errlen)
{
	size_t plen = strlen(st->claim_prefix), i;
	char *end = strdup(st->claim_prefix), *body;
	json_t *req = NULL, *ans, *kv;

	*out = NULL;
	*n = 0;
	if (!end)
		return perr(err, errlen, "out of memory");
	end[plen - 1]++; /* prefixes end in '/': no carry */
	body = ig_etcd_range_body(st->claim_prefix, plen, end, plen, 0, 0, true);
	free(end);
	if (!body || !(req = json_loads(body, 0, NULL))) {
		free(body);
		return perr(err, errlen, "out of memory");
	}
	free(body);
	if (post(st, "/v3/kv/range", req, &ans, err, errlen) < 0)
		return -1;
	json_t *kvs = json_object_get(ans, "kvs");
	claim_ent *c = calloc(json_array_size(kvs) + 1, sizeof(*c));
	if (!c) {
		json_decref(ans);
		return perr(err, errlen, "out of memory");
	}
	json_array_foreach(kvs, i, kv) {
		const char *k = json_string_value(json_object_get(kv, "key"));
		unsigned char key[512];
		long kl = k && strlen(k) < 600 ? ig_b64_decode(k, strlen(k), key) : -1;
		if (kl <= (long)plen || kl - (long)plen > IG_OBL_ID_LEN)
			continue;
		memcpy(c[*n].id, key + plen, (size_t)kl - plen);
		c[*n].id[kl - (long)plen] = '\0';
		c[*n].lease = int64_of(json_object_get(kv, "lease"));
		(*n)++;
	}
	json_decref(ans);
	qsort(c, *n, sizeof(*c), claim_cmp);
	*out = c;
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
		claim_ent key, *c;
		snprintf(key.id, sizeof(key.id), "%s", a.recs[i].id);
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

static int64_t etcd_lease_left(ig_oblstore *st)
{
	return st->lease ? st->lease_until - mono_ms() : 0;
}

static const store_ops etcd_ops = {
	.name = "etcd", .create = etcd_create, .get = etcd_get, .list = etcd_list, .claim = etcd_claim,
	.write = etcd_write, .release = etcd_release, .remove = etcd_remove, .keepalive = etcd_keepalive,
	.lease_left = etcd_lease_left,
};

int ig_oblstore_open_etcd(const ig_config *cfg, const char *replica, int ttl_s, ig_oblstore **out,
                          char *err, size_t errlen)
{
	ig_oblstore *st = store_new(&etcd_ops);
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
	bad |= !st->eps || !st->obl_prefix || !st->claim_prefix;
	for (size_t i = 0; !bad && i < cfg->cluster.npd; i++) {
		bad |= !(st->eps[i] = strdup(cfg->cluster.pd[i]));
		st->neps = i + 1;
		size_t n = st->eps[i] ? strlen(st->eps[i]) : 0;
		while (n > 0 && st->eps[i][n - 1] == '/') /* "http://pd:2379/" */
			st->eps[i][--n] = '\0';
	}
	bad |= dup_field(&st->tls.ca, cfg->cluster.tls.ca) | dup_field(&st->tls.cert, cfg->cluster.tls.cert) |
	       dup_field(&st->tls.key, cfg->cluster.tls.key) | dup_field(&st->replica, replica);
	if (bad) {
		ig_oblstore_close(st);
		return perr(err, errlen, "out of memory");
	}
	snprintf(st->obl_prefix, plen, "/importgate/%s/obligations/", name);
	snprintf(st->claim_prefix, plen, "/importgate/%s/claims/", name);
	st->timeout_ms = cfg->cluster.timeout_ms > 0 ? cfg->cluster.timeout_ms : 2000;
	st->ttl_s = ttl_s > 0 ? ttl_s : 10;
	*out = st; /* the lease is granted on first use: PD may be unreachable now */
	return 0;
}

/* ---- the interface ---- */

void ig_oblstore_close(ig_oblstore *st)
{
	char e[256];
	json_t *out;

	if (!st)
		return;
	if (st->ops == &etcd_ops && st->lease &&
	    post(st, "/v3/lease/revoke", json_pack("{s:o}", "ID", lease_json(st->lease)), &out, e, sizeof(e)) == 0)
		json_decref(out);
	for (size_t i = 0; i < st->nrecs; i++)
		ig_obl_record_free(&st->recs[i]);
	free(st->recs);
	for (size_t i = 0; i < st->nclaims; i++)
		free(st->claims[i]);
	free(st->claims);
	if (st->fd >= 0)
		close(st->fd);
	if (st->lockfd >= 0)
		close(st->lockfd); /* drops the flock */
	free(st->path);
	for (size_t i = 0; i < st->neps; i++)
		free(st->eps[i]);
	free(st->eps);
	free(st->tls.ca);
	free(st->tls.cert);
	free(st->tls.key);
	free(st->obl_prefix);
	free(st->claim_prefix);
	free(st->replica);
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->grant_mu);
	free(st);
}

const char *ig_oblstore_kind(const ig_oblstore *st)
{
	return st ? st->ops->name : "none";
}

int ig_oblstore_create(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen)
{
	if (!valid_id(r->id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->create(st, r, err, errlen);
}

int ig_oblstore_get(ig_oblstore *st, const char *id, ig_obl_record *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!valid_id(id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->get(st, id, out, err, errlen);
}

int ig_oblstore_list(ig_oblstore *st, ig_obl_record **recs, size_t *n, char *err, size_t errlen)
{
	*recs = NULL;
	*n = 0;
	return st->ops->list(st, recs, n, err, errlen);
}

int ig_oblstore_claim(ig_oblstore *st, const ig_obl_record *r, char *err, size_t errlen)
{
	if (!valid_id(r->id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->claim(st, r->id, r->rev, err, errlen);
}

int ig_oblstore_advance(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen)
{
	if (!valid_id(r->id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->write(st, r, false, err, errlen);
}

int ig_oblstore_finish(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen)
{
	if (!valid_id(r->id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->write(st, r, true, err, errlen);
}

int ig_oblstore_release(ig_oblstore *st, const char *id, char *err, size_t errlen)
{
	if (!valid_id(id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->release(st, id, err, errlen);
}

int ig_oblstore_delete(ig_oblstore *st, const ig_obl_record *r, char *err, size_t errlen)
{
	if (!valid_id(r->id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->remove(st, r->id, r->rev, err, errlen);
}

int ig_oblstore_keepalive(ig_oblstore *st, char *err, size_t errlen)
{
	return st->ops->keepalive(st, err, errlen);
}

void ig_oblstore_lease(ig_oblstore *st, int64_t *left_ms, unsigned *epoch)
{
	pthread_mutex_lock(&st->mu);
	*left_ms = st->ops->lease_left(st);
	*epoch = st->lease_epoch;
	pthread_mutex_unlock(&st->mu);
}
