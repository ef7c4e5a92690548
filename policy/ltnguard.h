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
 * A binding is taken with a compare-and-swap on a bind key per registration
 * (/importgate/<cluster>/lightning-binds/<name>, ig_ltn_bind_name), written in the same etcd
 * txn as the guard record: two guarded runs never bind the same registration. The gateways
 * judge by the guard records alone (the bind key only decides who may write one).
 * The binder (ig_ltn_binder_step) keeps checking the binding while Lightning runs and after
 * it exits (a binding of a Lightning started by hand is found out and reported).
 * PURE: JSON in and out, no I/O.
 */
#ifndef IMPORTGATE_LTNGUARD_H
#define IMPORTGATE_LTNGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/brieimport.h"

/* Under /importgate/<cluster.name>/: one guard record per running guarded run, and one bind
 * key per bound registration (value: the run's id, on the run's lease). */
#define IG_KEY_LTN_RUNS "lightning-runs/"
#define IG_KEY_LTN_BINDS "lightning-binds/"

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
 * the guard (GUARDED, PENDING) or untouched. A registration that is not ig_ltn_bindable is
 * UNGUARDED whatever the guards say: the binder never picks it. */
ig_ltn_guard_verdict ig_ltn_guard_judge(const ig_brie_import *reg, const ig_ltn_guard *g, size_t n, size_t *by);
const char *ig_ltn_guard_verdict_name(ig_ltn_guard_verdict v);

/* For the guarded run: which registration of l its guard `self` binds. The index of the one
 * candidate (a leased, bindable Lightning registration created after self->after_rev that no
 * guard of others binds), -1 none yet, -2 more than one (ambiguous). */
long ig_ltn_guard_pick(const ig_brie_list *l, const ig_ltn_guard *self, const ig_ltn_guard *others, size_t n);

/* Whether a guard record can name reg: its key at most IG_LTN_KEY_MAX bytes of UTF-8 (the
 * record is JSON). Lightning's own keys are "lightning-<uuid>"; one that is not bindable is
 * never picked, and ig_ltn_guard_judge says it is unguarded at once (attack11: a non-UTF-8 key
 * made the binder fail to write its binding every round). The binder and the gateways ask this
 * one function, so they agree on which keys can be bound. */
#define IG_LTN_KEY_MAX 1024
bool ig_ltn_bindable(const ig_brie_import *reg);

/* The bind key's name for a registration: "<create_revision>-<hex of its key>" (a key
 * created anew is another registration, so another name). false when out is too short. */
bool ig_ltn_bind_name(const ig_brie_import *reg, char *out, size_t outlen);

/* ---- the binder of one guarded run: one state machine, one transition function ---- */

typedef enum {
	IG_LTNB_LOOKING,   /* Lightning runs, nothing bound */
	IG_LTNB_BOUND,     /* Lightning runs, a registration bound */
	IG_LTNB_AMBIGUOUS, /* Lightning runs, more than one candidate was seen at once: none bound */
	IG_LTNB_DRAINING,  /* Lightning exited with a registration bound: checking it went */
	IG_LTNB_DONE,      /* the guard record can go */
} ig_ltnb_state;

typedef enum {
	IG_LTNB_EV_ROUND,     /* one look at /tidb/brie/import/ and the other guards */
	IG_LTNB_EV_BIND_LOST, /* the bind CAS was lost (or not written): nothing is bound */
	IG_LTNB_EV_EXITED,    /* Lightning exited */
} ig_ltnb_event_kind;

typedef enum {
	IG_LTNB_REG_PRESENT, /* the bound registration: same key, create_revision and lease */
	IG_LTNB_REG_CHANGED, /* its key is there under another lease or create_revision */
	IG_LTNB_REG_ABSENT,  /* its key is gone */
} ig_ltnb_reg_seen;

typedef struct ig_ltnb_event {
	ig_ltnb_event_kind kind;
	int64_t now_ms;
	long pick;              /* ROUND: ig_ltn_guard_pick's answer for this guard */
	ig_ltnb_reg_seen bound; /* ROUND in BOUND or DRAINING: the bound registration */
	int64_t bound_ttl_ms;   /* ROUND in DRAINING after a signal: the bound lease's time left, read
	                         * before the look (0: not known) */
	int exit_status;        /* EXITED */
} ig_ltnb_event;

/* What the caller does after a step (bits). */
enum {
	IG_LTNB_DO_BIND = 1,       /* bind candidate `pick` (CAS; a lost CAS is EV_BIND_LOST) */
	IG_LTNB_DO_AMBIGUOUS = 2,  /* write the guard as ambiguous */
	IG_LTNB_DO_RELEASE = 4,    /* the bound key is gone: unbind (guard without binding, bind key
	                            * deleted); the released registration becomes the suspect */
	IG_LTNB_DO_REPORT = 8,     /* after RELEASE: report the suspect unguarded (it was not this
	                            * run's, or may not be) */
	IG_LTNB_DO_END = 16,       /* delete the guard record and the bind key */
	IG_LTNB_DO_OUTLIVED = 32,  /* with END: the bound registration outlived Lightning (let go) */
};

typedef struct ig_ltn_binder {
	ig_ltnb_state state;
	bool suspect;             /* a released binding that may have been a Lightning started by hand */
	int64_t suspect_since_ms;
	int64_t exited_ms;
	int exit_status;          /* DRAINING: Lightning's (128 + signal when killed) */
	bool drain_looked;        /* DRAINING: the first look after the exit was made */
	int64_t close_grace_ms;   /* how long Lightning may run on after its key went (set by caller) */
	int64_t drain_ms;         /* how long a bound key may outlive Lightning (TTL + margin) */
	int64_t drain_ttl_ms;     /* DRAINING after a signal: the bound lease's time left at ... */
	int64_t drain_ttl_at_ms;  /* ... this look (0: not known) */
	bool gone_early;          /* DRAINING: the bound key went with time left on its lease */
} ig_ltn_binder;

/* Applies e to b; returns IG_LTNB_DO_* bits. A bound key that goes while Lightning runs is
 * released and becomes a suspect; a suspect is reported when it cannot be the child's: a new
 * candidate appears (the child registers only once), the child runs on close_grace_ms after
 * the key went, or the child exits with a failure (it may never have registered); dropped
 * when the child exits with status 0 (a successful physical import registered: the key that
 * went was its own, closed before its exit, or its own came while another was bound and the
 * gateways judged it, so the count holds either way). After the exit, see drain() in
 * ltnguard.c: the same for a bound key found gone at the first look; a bound key still there
 * is let go at once after a plain exit (Lightning revokes its own before it exits), held until
 * it goes or drain_ms after a signal (a killed Lightning's key waits for its lease's TTL). */
unsigned ig_ltn_binder_step(ig_ltn_binder *b, const ig_ltnb_event *e);
const char *ig_ltnb_state_name(ig_ltnb_state s);

#endif
