/*
 * oblstore.h - where post-import obligations live (DESIGN.md section 6, docs/OBLIGATIONS.md):
 * the record (one JSON object per obligation, encoded and decoded here, pure) and two
 * backends behind one interface:
 *   - etcd (PD's) through the v3 JSON gateway: records under
 *     /importgate/<cluster>/obligations/<id>, claims under /importgate/<cluster>/claims/<id>
 *     bound to this replica's lease; every write is a txn comparing the record's
 *     mod_revision (and the claim's lease);
 *   - a local append-only file (no PD): one line per transition "<crc32 hex8> <json>\n",
 *     fsync per write, replay keeps the last good line per id, compaction when mostly dead.
 *     Single process (flock); claims are in memory; revisions are a counter checked under
 *     the store's lock.
 * Every function is blocking and thread-safe (the store is shared by thread-pool threads
 * creating records and the obligations thread running them).
 */
#ifndef IMPORTGATE_OBLSTORE_H
#define IMPORTGATE_OBLSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/config.h"

#define IG_OBL_ID_LEN 32 /* hex characters of an obligation id (128 random bits) */

/* Who held a record's claim when it was listed (ig_oblstore_list; not part of the JSON). */
typedef enum {
	IG_OBL_HELD_NONE,  /* nobody: it may be claimed */
	IG_OBL_HELD_US,    /* this replica (its lease) */
	IG_OBL_HELD_OTHER, /* another replica's live lease: leave it alone */
} ig_obl_held;

/* The record's state machine (docs/OBLIGATIONS.md has the diagram). */
typedef enum {
	IG_OBLS_AWAITING_ANSWER, /* created before forwarding; TiDB has not answered yet */
	IG_OBLS_SEARCHING,       /* the answer was lost: looking for the job (source, table, time, user) */
	IG_OBLS_FOLLOWING,       /* job pending/running upstream: SHOW IMPORT JOB until it ends */
	IG_OBLS_DUE,             /* the import finished: steps are owed */
	IG_OBLS_DONE,            /* every step done (terminal) */
	IG_OBLS_NOT_OWED,        /* the import failed / was cancelled / refused (terminal) */
	IG_OBLS_OUTCOME_UNKNOWN, /* cannot tell whether the import ran: an operator decides */
	IG_OBLS_DISMISSED,       /* dismissed by an operator (terminal) */
} ig_obl_state;

/* One step (BACKUP TABLE, or the downstream re-import). */
typedef enum {
	IG_STEP_NONE,      /* not owed */
	IG_STEP_PENDING,   /* owed, not started */
	IG_STEP_STARTED,   /* recorded before running it: it may have run (crash) */
	IG_STEP_FOLLOWING, /* re-import: the downstream job id is known, following it */
	IG_STEP_DONE,
} ig_obl_step_state;

typedef struct ig_obl_step {
	ig_obl_step_state state;
	char *job_id;        /* re-import: the downstream job id, once known */
	char *target;        /* backup: the URI used; re-import: "host:port" */
	int64_t started_ms;  /* when STARTED was recorded (re-import job search) */
	unsigned attempts;   /* failed attempts so far */
	char *last_error;    /* of the last failed attempt, NULL if none */
} ig_obl_step;

typedef struct ig_obl_record {
	char id[IG_OBL_ID_LEN + 1];
	unsigned kinds;             /* IG_OBL_* (policy/decide.h) */
	ig_obl_state state;
	char *db, *table;           /* the import's target */
	char *statement;            /* the original text: holds the source location, credentials too */
	char *user, *client, *backend;
	uint64_t conn_id;
	bool disable_precheck;      /* the original carried WITH DISABLE_PRECHECK */
	bool from_select;           /* IMPORT INTO ... FROM SELECT: no job to follow */
	int64_t created_ms, updated_ms;
	char *job_id;               /* upstream job id once known */
	char *note;                 /* why not owed / why unknown / who dismissed */
	ig_obl_step backup, reimport;
	unsigned attempts;          /* failed attempts of the current action (follow/search) */
	char *last_error;
	int64_t next_try_ms;        /* not before (backoff); 0 = now */
	char *replica;              /* the replica that wrote this version */
	char *source;               /* the import's FROM location (SHOW IMPORT JOBS Data_Source), NULL for
	                             * FROM SELECT or a record from an older gateway */
	char *reason;               /* outcome-unknown: why, as a fixed word (policy/obllife.h IG_OBL_R_*) */
	int64_t rev;                /* the store's revision of this version (etcd mod_revision, file:
	                             * a counter); not part of the JSON. Every write compares it. */
	ig_obl_held held;           /* as listed (ig_oblstore_list only; NONE otherwise) */
} ig_obl_record;

const char *ig_obl_state_name(ig_obl_state s);
int ig_obl_state_parse(const char *s, ig_obl_state *out);
const char *ig_obl_step_name(ig_obl_step_state s);
bool ig_obl_state_terminal(ig_obl_state s);

/* The record as compact JSON on one line (no newline); malloc'ed, NULL on OOM. */
char *ig_obl_record_encode(const ig_obl_record *r);
/* Parses a record; 0, or -1 + err (malformed, missing id/state, unknown state). */
int ig_obl_record_decode(const char *json, size_t len, ig_obl_record *out, char *err, size_t errlen);
/* Deep copy; 0 or -1 (OOM, dst then empty). */
int ig_obl_record_copy(ig_obl_record *dst, const ig_obl_record *src);
void ig_obl_record_free(ig_obl_record *r);
/* Replaces *field by a copy of s (NULL clears); 0 or -1 on OOM (field unchanged). */
int ig_obl_set_str(char **field, const char *s);

/* ---- file framing (pure; exposed for tests and fuzzing) ---- */

uint32_t ig_obl_crc32(const void *p, size_t n);
/* One framed line "<crc hex8> <json>\n"; malloc'ed, *outlen set; NULL on OOM. */
char *ig_obl_frame(const char *json, size_t len, size_t *outlen);
/*
 * Reads the framed line starting at p (n bytes available). Returns the length of the line
 * including its '\n' and sets *json and *jlen to its payload; 0 when the line is incomplete
 * (no '\n': a torn last write); -1 when the line is complete but its CRC or form is bad.
 */
long ig_obl_unframe(const char *p, size_t n, const char **json, size_t *jlen);

/* ---- the store ---- */

typedef struct ig_oblstore ig_oblstore;

typedef struct ig_oblstore_info {
	bool shared;           /* etcd: several replicas */
	size_t replayed;       /* file: lines read at open */
	size_t skipped;        /* file: corrupt complete lines skipped */
	bool torn_tail;        /* file: an incomplete last line was cut off */
	size_t live, lines;    /* file: records and lines now */
	size_t compactions;
} ig_oblstore_info;

/* Opens (creates, 0600) the file store and replays it. Fails when another process holds it.
 * A torn last line is cut off (warn says so); corrupt complete lines are skipped. */
int ig_oblstore_open_file(const char *path, ig_oblstore **out, char *warn, size_t warnlen,
                          char *err, size_t errlen);
/* The etcd store for cfg (cluster.pd, cluster.name, cluster.tls, cluster.timeout_ms). This
 * replica's lease (ttl seconds) is granted on first use (create, claim, keepalive), so PD
 * may be unreachable at start. `replica` names this process in claims. */
int ig_oblstore_open_etcd(const ig_config *cfg, const char *replica, int ttl_s, ig_oblstore **out,
                          char *err, size_t errlen);
/* Revokes the lease (etcd: our claims vanish at once), closes. Records stay. */
void ig_oblstore_close(ig_oblstore *st);
void ig_oblstore_info_get(ig_oblstore *st, ig_oblstore_info *info);

/*
 * The interface (one implementation per backend behind it; callers never ask which).
 * Every step of a record is a compare-and-swap on its revision (r->rev, as read):
 *   claim   - take a record nobody holds, only if it is still at r->rev;
 *   advance - write a new version of a record we hold, only if it is still at r->rev;
 *   finish  - the same, and let the claim go in the same write (terminal, or parked).
 * A step on a stale copy (the record moved on since it was read) or on a record that is not
 * ours (etcd: the claim key is absent or bound to another lease, e.g. ours expired) writes
 * nothing and returns 1: the caller re-reads. On success r->rev is the new revision.
 */
const char *ig_oblstore_kind(const ig_oblstore *st); /* "etcd", "file" */
/* Creates a new record and claims it for this replica, atomically; durable on return
 * (r->rev set). -1 + err (also when the id exists). */
int ig_oblstore_create(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen);
/* One record: 1 found (out->rev set), 0 absent, -1 + err. */
int ig_oblstore_get(ig_oblstore *st, const char *id, ig_obl_record *out, char *err, size_t errlen);
/* Every record, each with its rev and who held its claim when listed (caller frees each
 * and the array). `held` only spares claims bound to fail: a claim still compares. */
int ig_oblstore_list(ig_oblstore *st, ig_obl_record **recs, size_t *n, char *err, size_t errlen);
/* 0 claimed (or ours already, at that revision), 1 held elsewhere or stale, -1 + err. */
int ig_oblstore_claim(ig_oblstore *st, const ig_obl_record *r, char *err, size_t errlen);
/* 0 written (r->rev updated), 1 stale or not ours (nothing written), -1 + err. */
int ig_oblstore_advance(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen);
int ig_oblstore_finish(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen);
/* Drops our claim without writing the record (we stop). */
int ig_oblstore_release(ig_oblstore *st, const char *id, char *err, size_t errlen);
/* Removes a record still at r->rev (terminal ones past their retention): 0, 1 stale, -1. */
int ig_oblstore_delete(ig_oblstore *st, const ig_obl_record *r, char *err, size_t errlen);
/* Keeps the lease alive (grants the first one). 0 ok; 1 a new lease was granted (the old
 * one had expired: every claim is lost); -1 + err (unreachable: try again soon). */
int ig_oblstore_keepalive(ig_oblstore *st, char *err, size_t errlen);
/* How long the lease is known to live from now (ms; <= 0: possibly expired; INT64_MAX for
 * the file store, whose claims no other process can take) and its epoch (+1 per grant:
 * claims taken under an older epoch are gone). */
void ig_oblstore_lease(ig_oblstore *st, int64_t *left_ms, unsigned *epoch);

#endif
