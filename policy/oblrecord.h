/*
 * oblrecord.h - the obligation record (docs/OBLIGATIONS.md "The record"): its states, its
 * JSON encoding and the CRC framing of the file store's lines. Pure: no I/O. The store that
 * keeps records is store/oblstore.h; the record's life is policy/obllife.h.
 */
#ifndef IMPORTGATE_OBLRECORD_H
#define IMPORTGATE_OBLRECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

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
	char *origin;               /* NULL: an IMPORT INTO through the gateway; "lightning": a TiDB
	                             * Lightning physical import of `importgate lightning run`
	                             * (docs/LIGHTNING.md), whose "answer" is Lightning's exit */
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

/* A well-formed obligation id: IG_OBL_ID_LEN lowercase hex characters. */
bool ig_obl_id_valid(const char *s);

/* IG_OBL_* kinds as their names, a JSON array ("snapshot-after-import", "reimport-downstream"):
 * the record, the audit events and the Lightning preflight write them so. NULL on OOM. */
json_t *ig_obl_kinds_json(unsigned kinds);

#endif
