/*
 * decide.h - the verdict for one IMPORT INTO (README.md, "Why"), PURE: no I/O. The
 * gateway fills the input from the parsed statement, the session, the backend greeting and
 * a fresh cluster-state read; the output says what to do, what is owed afterwards, and the
 * MySQL error to send on a rejection.
 */
#ifndef IMPORTGATE_DECIDE_H
#define IMPORTGATE_DECIDE_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/clusterstate.h"
#include "policy/config.h"
#include "policy/import_grammar.h"
#include "policy/precheck_model.h"
#include "policy/version.h"

typedef enum {
	IG_VERDICT_PASS,                 /* forward unchanged (a user's DISABLE_PRECHECK kept) */
	IG_VERDICT_ADD_DISABLE_PRECHECK, /* forward with WITH DISABLE_PRECHECK added */
	IG_VERDICT_REJECT,               /* send the error below */
	IG_VERDICT_LOGICAL,              /* rewrite into LOAD DATA (docs/LOGICAL_IMPORT.md) */
} ig_verdict;

/* obligations owed once the import has finished */
#define IG_OBL_SNAPSHOT_AFTER_IMPORT 0x1u /* BACKUP TABLE db.tbl (covering log backup task) */
#define IG_OBL_REIMPORT_DOWNSTREAM 0x2u   /* same import on the downstream (covering changefeed) */

#define IG_ER_LOAD_DATA_PRECHECK_FAILED 8173 /* TiDB's ErrLoadDataPreCheckFailed */
#define IG_ER_NO_DB_ERROR 1046               /* MySQL's ER_NO_DB_ERROR */

typedef struct ig_decide_input {
	const char *user;              /* the authenticated user */
	const char *host;              /* the client address */
	const char *db;                /* resolved database; NULL: unqualified and none selected */
	const char *table;             /* may be NULL only when usage->unparsed */
	bool disable_precheck;         /* the statement carries WITH DISABLE_PRECHECK */
	/* What the statement uses of IMPORT INTO's grammar (policy/import_grammar.h), or that
	 * the gateway could not parse it. NULL: not checked. */
	const ig_import_usage *usage;
	ig_tidb_version version;       /* the backend's; major < 0 = unknown or not TiDB */
	bool nextgen;                  /* the backend is TiDB X (policy/version.h ig_tidb_backend_identify) */
	const ig_cluster_state *state; /* NULL = could not be read */
	const char *state_error;       /* why not (for messages) */
	const ig_config *cfg;
} ig_decide_input;

typedef struct ig_decision {
	ig_verdict verdict;
	unsigned obligations;  /* IG_OBL_* */
	const ig_rule *rule;   /* the matched rule (points into cfg), NULL = defaults */
	char **tasks;          /* log backup tasks covering the table */
	size_t ntasks;
	char **changefeeds;    /* changefeeds covering the table ("cluster/namespace/id") */
	size_t nchangefeeds;
	bool dry_run;          /* policy.mode dry-run: log the verdict, forward unchanged */
	/* the precheck model used (policy/precheck_model.h; static text), and whether the
	 * backend is newer than the newest modelled release: the caller logs that once */
	const char *precheck_model;
	bool precheck_model_newer;
	const char *import_grammar; /* the grammar row used (static text) */
	bool state_unavailable;
	/* on REJECT: the MySQL error (8173/HY000, or 1046/3D000 when no database) */
	unsigned err_code;
	char sqlstate[6];
	char *message;
	char *reason;          /* every verdict: one line for the audit log and /api/v1/explain */
} ig_decision;

/* Returns 0, or -1 (out of memory, or no cfg/table) with err set; out is then empty. */
int ig_decide(const ig_decide_input *in, ig_decision *out, char *err, size_t errlen);
void ig_decision_free(ig_decision *d);
const char *ig_verdict_name(ig_verdict v);

#endif
