/*
 * ltnguard.c - guard records of guarded Lightning runs and the judgement of Lightning
 * registrations against them (ltnguard.h).
 */
#include "policy/ltnguard.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/etcdjson.h"

static int dup_str(json_t *o, const char *k, char **out)
{
	json_t *v = json_object_get(o, k);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	return (*out = strdup(json_string_value(v))) ? 0 : -2;
}

static int get_i64(json_t *o, const char *k, int64_t *out)
{
	json_t *v = json_object_get(o, k);
	*out = 0;
	return !v || json_is_null(v) ? 0 : ig_etcd_json_i64(v, out);
}

int ig_ltn_guard_decode(const char *json, size_t len, ig_ltn_guard *out, char *err, size_t errlen)
{
	json_t *o = json_loadb(json, len, 0, NULL), *reg;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(o)) {
		json_decref(o);
		snprintf(err, errlen, "a lightning-run record is not a JSON object");
		return -1;
	}
	reg = json_object_get(o, "registration");
	rc |= dup_str(o, "run", &out->run) | dup_str(o, "replica", &out->replica) | dup_str(o, "task", &out->task);
	rc |= get_i64(o, "started_ms", &out->started_ms) | get_i64(o, "after_revision", &out->after_rev);
	out->ambiguous = json_is_true(json_object_get(o, "ambiguous"));
	if (json_is_object(reg))
		rc |= dup_str(reg, "key", &out->reg_key) | get_i64(reg, "create_revision", &out->reg_create_rev) |
		      get_i64(reg, "lease", &out->reg_lease);
	else if (reg && !json_is_null(reg))
		rc = -1;
	json_decref(o);
	if (rc != 0 || !out->run || out->after_rev <= 0 || (out->reg_key && (!out->reg_create_rev || !out->reg_lease))) {
		ig_ltn_guard_clear(out);
		snprintf(err, errlen, "a lightning-run record lacks or mistypes run, after_revision or registration");
		return -1;
	}
	return 0;
}

char *ig_ltn_guard_encode(const ig_ltn_guard *g)
{
	json_t *o = json_pack("{s:s, s:s?, s:s?, s:I, s:I, s:b}", "run", g->run, "replica", g->replica,
	                      "task", g->task, "started_ms", (json_int_t)g->started_ms,
	                      "after_revision", (json_int_t)g->after_rev, "ambiguous", g->ambiguous);
	char *s;

	if (!o)
		return NULL;
	json_object_set_new(o, "registration", g->reg_key
	        ? json_pack("{s:s, s:I, s:I}", "key", g->reg_key, "create_revision", (json_int_t)g->reg_create_rev,
	                    "lease", (json_int_t)g->reg_lease)
	        : json_null());
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

void ig_ltn_guard_clear(ig_ltn_guard *g)
{
	if (!g)
		return;
	free(g->run);
	free(g->replica);
	free(g->task);
	free(g->reg_key);
	memset(g, 0, sizeof(*g));
}

static bool binds(const ig_ltn_guard *g, const ig_brie_import *reg)
{
	return g->reg_key && strcmp(g->reg_key, reg->key) == 0 && g->reg_create_rev == reg->create_revision &&
	       g->reg_lease == reg->lease;
}

ig_ltn_guard_verdict ig_ltn_guard_judge(const ig_brie_import *reg, const ig_ltn_guard *g, size_t n, size_t *by)
{
	/* A key no guarded run binds (ig_ltn_guard_pick skips it) is no guarded run's: reported at
	 * once, not held pending for a binding that never comes (attack14: one that ended within the
	 * pending bound was never reported); a record naming it was not written by a binder. */
	if (!ig_ltn_bindable(reg))
		return IG_LTN_UNGUARDED;
	for (size_t i = 0; i < n; i++)
		if (binds(&g[i], reg)) {
			*by = i;
			return IG_LTN_GUARDED;
		}
	for (size_t i = 0; i < n; i++)
		if (!g[i].reg_key && !g[i].ambiguous && reg->create_revision > g[i].after_rev) {
			*by = i;
			return IG_LTN_PENDING;
		}
	return IG_LTN_UNGUARDED;
}

const char *ig_ltn_guard_verdict_name(ig_ltn_guard_verdict v)
{
	return v == IG_LTN_GUARDED ? "guarded" : v == IG_LTN_PENDING ? "pending" : "unguarded";
}

bool ig_ltn_bindable(const ig_brie_import *reg)
{
	size_t klen = reg->key ? strlen(reg->key) : 0;
	json_t *s = klen > 0 && klen <= IG_LTN_KEY_MAX ? json_stringn(reg->key, klen) : NULL;
	json_decref(s);
	return s != NULL; /* out of memory: not bound, so reported (the safe side) */
}

long ig_ltn_guard_pick(const ig_brie_list *l, const ig_ltn_guard *self, const ig_ltn_guard *others, size_t n)
{
	long found = -1;

	for (size_t i = 0; l && i < l->n; i++) {
		const ig_brie_import *r = &l->v[i];
		bool taken = false;
		if (r->kind != IG_BRIE_LIGHTNING || r->lease == 0 || r->create_revision <= self->after_rev ||
		    !ig_ltn_bindable(r))
			continue;
		for (size_t j = 0; j < n && !taken; j++)
			taken = (!self->run || !others[j].run || strcmp(others[j].run, self->run) != 0) && binds(&others[j], r);
		if (taken)
			continue;
		if (found >= 0)
			return -2;
		found = (long)i;
	}
	return found;
}

bool ig_ltn_bind_name(const ig_brie_import *reg, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t klen = strlen(reg->key);
	int n = snprintf(out, outlen, "%lld-", (long long)reg->create_revision);

	if (n < 0 || (size_t)n + 2 * klen + 1 > outlen)
		return false;
	for (size_t i = 0; i < klen; i++) {
		out[n + 2 * i] = hex[(unsigned char)reg->key[i] >> 4];
		out[n + 2 * i + 1] = hex[(unsigned char)reg->key[i] & 15];
	}
	out[n + 2 * klen] = '\0';
	return true;
}

const char *ig_ltnb_state_name(ig_ltnb_state s)
{
	static const char *const names[] = {"looking", "bound", "ambiguous", "draining", "done"};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* LOOKING and AMBIGUOUS: what a suspect becomes this round (a new candidate, or the child ran
 * on past the close grace: the key that went was not the child's closing). */
static unsigned judge_suspect(ig_ltn_binder *b, const ig_ltnb_event *e)
{
	if (!b->suspect || e->kind != IG_LTNB_EV_ROUND)
		return 0;
	if (e->pick == -1 && e->now_ms - b->suspect_since_ms < b->close_grace_ms)
		return 0;
	b->suspect = false;
	return IG_LTNB_DO_REPORT;
}

static unsigned exited(ig_ltn_binder *b, const ig_ltnb_event *e)
{
	unsigned fx = b->suspect && e->exit_status != 0 ? IG_LTNB_DO_REPORT : 0;

	b->suspect = false;
	b->exited_ms = e->now_ms;
	b->state = IG_LTNB_DONE;
	return fx | IG_LTNB_DO_END;
}

/* DRAINING: Lightning exited with its binding in place. Lightning revokes its key before it
 * exits, on success and on failure (importTables' deferred undo), so at the first look:
 * gone, and the exit a failure: it may have been another Lightning's that ended just before
 * (reported, as a suspect would be); still there after an exit (not a signal): not its own
 * (or its revoke failed): let go at once for the gateways to judge. After a signal (killed)
 * the key may be its own, left to its lease: held until it goes, or the TTL + margin. */
/* A killed Lightning keeps nothing alive and revokes nothing: its lease only runs down. So after a
 * signal, a bound lease seen renewed (more time left than the last look's, run down to now) has a
 * live keeper, and a bound key gone while its lease still had time left was revoked or deleted by
 * a live process: either way not the killed Lightning's. LEASE_SLACK_MS: etcd gives the TTL in
 * whole seconds, read a moment before the look. */
#define LEASE_SLACK_MS 3000

static unsigned drain(ig_ltn_binder *b, const ig_ltnb_event *e)
{
	bool first = !b->drain_looked, signal = b->exit_status >= 128;
	int64_t left = b->drain_ttl_at_ms ? b->drain_ttl_ms - (e->now_ms - b->drain_ttl_at_ms) : 0;
	bool renewed = signal && e->bound == IG_LTNB_REG_PRESENT && b->drain_ttl_at_ms && e->bound_ttl_ms > 0 &&
	               e->bound_ttl_ms > left + LEASE_SLACK_MS;

	b->gone_early = signal && !first && e->bound == IG_LTNB_REG_ABSENT && left > LEASE_SLACK_MS;
	b->drain_looked = true;
	if (signal && e->bound == IG_LTNB_REG_PRESENT && e->bound_ttl_ms > 0) {
		b->drain_ttl_ms = e->bound_ttl_ms;
		b->drain_ttl_at_ms = e->now_ms;
	}
	if (e->bound == IG_LTNB_REG_PRESENT && !renewed && (signal || !first) && e->now_ms - b->exited_ms < b->drain_ms)
		return 0;
	b->state = IG_LTNB_DONE;
	if (e->bound == IG_LTNB_REG_PRESENT)
		return IG_LTNB_DO_END | IG_LTNB_DO_OUTLIVED;
	if ((first && b->exit_status != 0) || b->gone_early)
		return IG_LTNB_DO_RELEASE | IG_LTNB_DO_REPORT | IG_LTNB_DO_END;
	return IG_LTNB_DO_END;
}

unsigned ig_ltn_binder_step(ig_ltn_binder *b, const ig_ltnb_event *e)
{
	unsigned fx = 0;

	switch (b->state) {
	case IG_LTNB_LOOKING:
		if (e->kind == IG_LTNB_EV_EXITED)
			return exited(b, e);
		fx = judge_suspect(b, e);
		if (e->kind != IG_LTNB_EV_ROUND)
			return fx;
		if (e->pick >= 0) {
			b->state = IG_LTNB_BOUND;
			fx |= IG_LTNB_DO_BIND;
		} else if (e->pick == -2) {
			b->state = IG_LTNB_AMBIGUOUS;
			fx |= IG_LTNB_DO_AMBIGUOUS;
		}
		return fx;
	case IG_LTNB_BOUND:
		if (e->kind == IG_LTNB_EV_BIND_LOST) {
			b->state = IG_LTNB_LOOKING;
		} else if (e->kind == IG_LTNB_EV_EXITED) {
			b->state = IG_LTNB_DRAINING;
			b->exited_ms = e->now_ms;
			b->exit_status = e->exit_status;
			b->drain_looked = false;
			b->drain_ttl_ms = b->drain_ttl_at_ms = 0;
			b->gone_early = false;
		} else if (e->bound == IG_LTNB_REG_ABSENT) {
			/* Lightning deletes its key only as it ends (register.go Close): the child runs on,
			 * so this was its own key closing or another Lightning's */
			b->state = IG_LTNB_LOOKING;
			b->suspect = true;
			b->suspect_since_ms = e->now_ms;
			fx = IG_LTNB_DO_RELEASE;
		}
		return fx;
	case IG_LTNB_AMBIGUOUS:
		if (e->kind == IG_LTNB_EV_EXITED)
			return exited(b, e);
		return judge_suspect(b, e);
	case IG_LTNB_DRAINING:
		return e->kind == IG_LTNB_EV_ROUND ? drain(b, e) : 0;
	case IG_LTNB_DONE:
		break;
	}
	return 0;
}
