/*
 * oblview.c - the obligations as last seen (see oblview.h): an array of record copies under
 * one mutex, the gauges recomputed on every change, and the status JSON.
 */
#include "proxy/oblview.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/grow.h"
#include "proxy/auditfield.h"
#include "proxy/metrics.h"

struct ig_oblview {
	pthread_mutex_t mu;
	ig_obl_record *recs;
	size_t n;
};

ig_oblview *ig_oblview_new(void)
{
	ig_oblview *v = calloc(1, sizeof(*v));

	if (v)
		pthread_mutex_init(&v->mu, NULL);
	return v;
}

static void free_recs(ig_obl_record *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ig_obl_record_free(&recs[i]);
	free(recs);
}

void ig_oblview_free(ig_oblview *v)
{
	if (!v)
		return;
	free_recs(v->recs, v->n);
	pthread_mutex_destroy(&v->mu);
	free(v);
}

/* Gauges importgate_obligations{state}: waiting for the import, owed now, finished, and
 * failing (an error on the last attempt, or an outcome only an operator can settle); and the
 * creation time of the oldest record not finished, from which the age is rendered.
 * The view holds every record of the store, which every replica shares: the gauges are
 * store-wide, the same on every replica (docs/OPERATIONS.md: aggregate with max).
 * Called with v->mu held. */
static void publish_metrics(const ig_oblview *v)
{
	int64_t pending = 0, running = 0, done = 0, failed = 0, oldest = 0;

	for (size_t i = 0; i < v->n; i++) {
		const ig_obl_record *r = &v->recs[i];
		if (!ig_obl_state_terminal(r->state) && r->created_ms > 0 && (oldest == 0 || r->created_ms < oldest))
			oldest = r->created_ms;
		switch (r->state) {
		case IG_OBLS_DONE:
		case IG_OBLS_NOT_OWED:
		case IG_OBLS_DISMISSED:
			done++;
			break;
		case IG_OBLS_OUTCOME_UNKNOWN:
			failed++;
			break;
		default:
			if (r->last_error || r->backup.last_error || r->reimport.last_error)
				failed++;
			else if (r->state == IG_OBLS_DUE)
				running++;
			else
				pending++;
		}
	}
	ig_metric_gauge_set(IG_M_OBLIGATIONS_PENDING, pending);
	ig_metric_gauge_set(IG_M_OBLIGATIONS_RUNNING, running);
	ig_metric_gauge_set(IG_M_OBLIGATIONS_DONE, done);
	ig_metric_gauge_set(IG_M_OBLIGATIONS_FAILED, failed);
	ig_metric_stamp(IG_M_OBLIGATIONS_OLDEST, oldest);
}

/* Called with v->mu held; c is taken. */
static void put(ig_oblview *v, ig_obl_record *c)
{
	for (size_t i = 0; i < v->n; i++) {
		if (strcmp(v->recs[i].id, c->id) == 0) {
			ig_obl_record_free(&v->recs[i]);
			v->recs[i] = *c;
			return;
		}
	}
	if (ig_grow(&v->recs, v->n, sizeof(*v->recs)) < 0) {
		ig_obl_record_free(c);
		return;
	}
	v->recs[v->n++] = *c;
}

void ig_oblview_set(ig_oblview *v, const ig_obl_record *r)
{
	ig_obl_record c;

	if (ig_obl_record_copy(&c, r) < 0)
		return;
	pthread_mutex_lock(&v->mu);
	put(v, &c);
	publish_metrics(v);
	pthread_mutex_unlock(&v->mu);
}

/* Records seen before and absent from the list that are not finished were created after the
 * list was read (the store deletes only finished records): they stay, or the job and rival
 * checks would not see them until the next scan. */
void ig_oblview_replace(ig_oblview *v, ig_obl_record *recs, size_t n)
{
	pthread_mutex_lock(&v->mu);
	ig_obl_record *old = v->recs;
	size_t nold = v->n;
	v->recs = recs;
	v->n = n;
	for (size_t i = 0; i < nold; i++) {
		bool listed = false;
		for (size_t k = 0; k < n && !listed; k++)
			listed = strcmp(recs[k].id, old[i].id) == 0;
		if (!listed && !ig_obl_state_terminal(old[i].state)) {
			ig_obl_record keep = old[i];
			memset(&old[i], 0, sizeof(old[i]));
			put(v, &keep);
		}
	}
	free_recs(old, nold);
	publish_metrics(v);
	pthread_mutex_unlock(&v->mu);
}

bool ig_oblview_job_taken(ig_oblview *v, const char *job_id, const char *self_id, bool downstream)
{
	bool taken = false;

	pthread_mutex_lock(&v->mu);
	for (size_t i = 0; i < v->n && !taken; i++) {
		const char *held = downstream ? v->recs[i].reimport.job_id : v->recs[i].job_id;
		taken = strcmp(v->recs[i].id, self_id) != 0 && held && strcmp(held, job_id) == 0;
	}
	pthread_mutex_unlock(&v->mu);
	return taken;
}

bool ig_oblview_any(ig_oblview *v, bool (*pred)(const ig_obl_record *other, const ig_obl_record *r),
                    const ig_obl_record *r)
{
	bool found = false;

	pthread_mutex_lock(&v->mu);
	for (size_t i = 0; i < v->n && !found; i++)
		found = pred(&v->recs[i], r);
	pthread_mutex_unlock(&v->mu);
	return found;
}

/* A record's texts may hold any bytes (a backend's message, kept byte for byte by the store:
 * policy/oblrecord.c put_str), and jansson takes UTF-8 only (json_string gives NULL, and the
 * field would be silently missing): shown as the audit log shows them, invalid bytes as
 * U+FFFD, bounded. Already redacted where they may quote a credential (proxy/oblexec.c). */
static void set_text(json_t *o, const char *key, const char *s)
{
	ig_audit_set_string(o, key, s, strlen(s));
}

static json_t *step_json(const ig_obl_step *s)
{
	json_t *o = json_object();

	json_object_set_new(o, "state", json_string(ig_obl_step_name(s->state)));
	if (s->target) /* the config refuses a backup URI with a credential; shown redacted anyway */
		ig_audit_set_location(o, "target", s->target);
	if (s->job_id)
		set_text(o, "job_id", s->job_id);
	json_object_set_new(o, "attempts", json_integer(s->attempts));
	if (s->last_error)
		set_text(o, "last_error", s->last_error);
	return o;
}

static json_t *record_json(const ig_obl_record *r)
{
	json_t *o = json_object();
	char table[600];

	snprintf(table, sizeof(table), "%s.%s", r->db ? r->db : "", r->table ? r->table : "");
	set_text(o, "id", r->id);
	json_object_set_new(o, "state", json_string(ig_obl_state_name(r->state)));
	ig_audit_set_string(o, "table", table, strlen(table));
	if (r->job_id)
		set_text(o, "job_id", r->job_id);
	if (r->user)
		ig_audit_set_string(o, "user", r->user, strlen(r->user));
	json_object_set_new(o, "created_ms", json_integer(r->created_ms));
	json_object_set_new(o, "updated_ms", json_integer(r->updated_ms));
	if (r->replica)
		set_text(o, "replica", r->replica);
	if (r->note)
		set_text(o, "note", r->note);
	if (r->reason)
		set_text(o, "reason", r->reason);
	if (r->source)
		ig_audit_set_string(o, "source", r->source, strlen(r->source));
	json_object_set_new(o, "rev", json_integer((json_int_t)r->rev));
	if (r->last_error)
		set_text(o, "last_error", r->last_error);
	if (r->backup.state != IG_STEP_NONE)
		json_object_set_new(o, "backup", step_json(&r->backup));
	if (r->reimport.state != IG_STEP_NONE)
		json_object_set_new(o, "reimport", step_json(&r->reimport));
	json_object_set_new(o, "failing", json_boolean(r->backup.last_error || r->reimport.last_error ||
	                                                r->last_error || r->state == IG_OBLS_OUTCOME_UNKNOWN));
	return o;
}

void ig_oblview_status(ig_oblview *v, json_t *root)
{
	json_t *counts = json_object(), *recs = json_array();

	if (!counts || !recs) {
		json_decref(counts);
		json_decref(recs);
		return;
	}
	pthread_mutex_lock(&v->mu);
	for (size_t i = 0; i < v->n; i++) {
		const char *s = ig_obl_state_name(v->recs[i].state);
		json_object_set_new(counts, s, json_integer(json_integer_value(json_object_get(counts, s)) + 1));
		json_array_append_new(recs, record_json(&v->recs[i]));
	}
	pthread_mutex_unlock(&v->mu);
	json_object_set_new(root, "counts", counts);
	json_object_set_new(root, "records", recs);
}
