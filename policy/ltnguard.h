/*
 * ltnguard.h - telling a guarded TiDB Lightning run's registration from an unguarded one.
 * Lightning registers /tidb/brie/import/lightning/lightning-<uuid> with an empty value and a
 * lease of its own while a physical import runs (pingcap/tidb lightning/pkg/importer/
 * import.go registerTaskToPD: fmt.Sprintf("lightning-%s", uuid.New()); br/pkg/utils/
 * register.go: path.Join(prefix, kind, taskName), value "", a lease granted by Lightning's
 * own etcd client; the same in v7.5 br/pkg/lightning/importer). Nothing in it names who
 * started Lightning, so the guarded run marks its runs itself: before Lightning starts it
 * writes a guard record in the gateway's store (/importgate/<cluster>/lightning-runs/<run>,
 * bound to its lease) with the etcd revision it was written at, and once it sees exactly one
 * new Lightning registration created after that revision and bound by no other guard, it
 * binds it: key, create_revision and lease. A registration counts as guarded only when a
 * live guard names all three: an unguarded run cannot make its registration guarded by
 * copying a name (a put on the same live key changes its lease; a new key has a new
 * create_revision). Two candidates at once: the guard binds none (ambiguous) and both are
 * reported. Each guard binds at most one registration, so the registrations reported
 * unguarded are never fewer than the unguarded runs (docs/LIGHTNING.md "Unguarded runs").
 * PURE: JSON in and out, no I/O.
 */
#ifndef IMPORTGATE_LTNGUARD_H
#define IMPORTGATE_LTNGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/brieimport.h"

/* Under /importgate/<cluster.name>/: one guard record per running guarded run. */
#define IG_KEY_LTN_RUNS "lightning-runs/"

typedef struct ig_ltn_guard {
	char *run;              /* the guarded run's id */
	char *replica;          /* "lightning-run:<host>:<pid>" */
	char *task;             /* the task file */
	int64_t started_ms;
	int64_t after_rev;      /* its Lightning's registration is created after this revision */
	char *reg_key;          /* the registration it bound, NULL while none */
	int64_t reg_create_rev;
	int64_t reg_lease;
	bool ambiguous;         /* it saw more than one candidate and bound none */
} ig_ltn_guard;

/* The record as stored (JSON). 0, or -1 + err. */
int ig_ltn_guard_decode(const char *json, size_t len, ig_ltn_guard *out, char *err, size_t errlen);
/* A new string (NULL when out of memory). */
char *ig_ltn_guard_encode(const ig_ltn_guard *g);
void ig_ltn_guard_clear(ig_ltn_guard *g);

typedef enum {
	IG_LTN_GUARDED,    /* a live guard bound exactly this registration */
	IG_LTN_PENDING,    /* not yet: a guard that started before it has bound nothing yet */
	IG_LTN_UNGUARDED,  /* no guarded run can be its: report it */
} ig_ltn_guard_verdict;

/* What a Lightning registration (reg: kind lightning) is, against the live guards. *by:
 * the guard (GUARDED, PENDING) or untouched. */
ig_ltn_guard_verdict ig_ltn_guard_judge(const ig_brie_import *reg, const ig_ltn_guard *g, size_t n, size_t *by);
const char *ig_ltn_guard_verdict_name(ig_ltn_guard_verdict v);

/* For the guarded run: which registration of l its guard `self` binds. The index of the one
 * candidate (a leased Lightning registration created after self->after_rev that no guard of
 * others binds), -1 none yet, -2 more than one (ambiguous). */
long ig_ltn_guard_pick(const ig_brie_list *l, const ig_ltn_guard *self, const ig_ltn_guard *others, size_t n);

#endif
