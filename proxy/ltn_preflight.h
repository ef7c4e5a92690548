/*
 * ltn_preflight.h - `importgate lightning check`: the per-table answer for a TiDB Lightning
 * task (docs/LIGHTNING.md). Reads the gateway's config (rules, PD), the task file
 * (lightning/task.h), lists data-source-dir, finds the target tables as Lightning does
 * (lightning/targets.h), reads the cluster state from PD (pd/etcdread.h) and asks the
 * gateway's decision engine (policy/decide.h) per table. The guarded run
 * (proxy/ltn_run.c) starts from the same answer.
 */
#ifndef IMPORTGATE_LTN_PREFLIGHT_H
#define IMPORTGATE_LTN_PREFLIGHT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "lightning/targets.h"
#include "lightning/task.h"
#include "policy/clusterstate.h"
#include "policy/config.h"
#include "policy/decide.h"
#include "policy/version.h"
#include "proxy/ltn_snapshot.h"

typedef enum {
	IG_LTN_ALLOWED, /* physical import allowed (obligations may follow) */
	IG_LTN_REFUSED, /* refused: covered and required, denied, or state unreadable */
	IG_LTN_LOGICAL, /* the rule asks for a logical import: backend = "tidb" for this table */
} ig_ltn_verdict;

typedef struct ig_ltn_answer {
	const ig_ltn_table *t;
	ig_ltn_verdict verdict;
	ig_decision d;          /* the gateway's decision (empty for backend "tidb") */
	bool lightning_stops;   /* Lightning's own CDCPITRCheckItem would stop on the cluster state */
	bool defer;             /* allowed only under Lightning's own check (state unreadable, action pass) */
	char *reason;           /* one line */
} ig_ltn_answer;

typedef struct ig_ltn_preflight {
	char *task_path;
	char *task_text;         /* the task file's bytes as checked (the guarded run hands Lightning these) */
	size_t task_len;
	ig_ltn_task task;
	ig_ltn_targets targets;
	ig_ltn_file *files;      /* every file listed under data-source-dir, sorted, as listed */
	size_t nfiles;
	bool cluster_same;       /* Lightning imports into the gateway's cluster (pd-addr in cluster.pd,
	                          * [tidb] host:port in backends.servers) */
	char cluster_why[600];
	const ig_hostport *tidb_at; /* the backends.servers entry [tidb] host:port names (NULL: none),
	                          * as written there: where the greeting is read and the login goes */
	char tidb_server[128];   /* the server version [tidb] host:port greets with; "" when not read */
	/* What [tidb] says of itself when asked on the gateway's service login (obligations.service):
	 * @@version and TIDB_VERSION()'s Release Version line (printable ASCII), or why not asked. */
	bool tidb_asked;
	char tidb_said_version[128], tidb_said_release[64], tidb_ask_why[400];
	bool tidb_nextgen;          /* TiDB X by the answer, or by the greeting when not asked */
	bool tidb_classic_release;  /* the answer's TIDB_VERSION() names a released classic TiDB */
	ig_tidb_version tidb_version; /* the answer's release (major -1: none, decide with the config's) */
	ig_cluster_state *state; /* NULL: not read (backend tidb) or unreadable */
	char state_error[512];
	ig_ltn_answer *answers;
	size_t nanswers, nrefused;
	bool skip_safe;          /* check-requirements = false is safe for this task */
	bool skip_needed;        /* ... and needed: Lightning's own check would stop */
	char skip_why[1024];
} ig_ltn_preflight;

/* Runs the preflight. 0 (answers filled), or -1 + err (config, task, directory: nothing
 * decided). user/host: what the rules match (NULL user: the task's [tidb] user). */
int ig_ltn_preflight_run(const ig_config *cfg, const char *task_path, const char *user, const char *host,
                         ig_ltn_preflight *out, char *err, size_t errlen);
void ig_ltn_preflight_free(ig_ltn_preflight *p);
void ig_ltn_preflight_print(const ig_ltn_preflight *p, FILE *f);
json_t *ig_ltn_preflight_json(const ig_ltn_preflight *p);
const char *ig_ltn_verdict_name(ig_ltn_verdict v);

/* `importgate lightning ...` (argv[0] = "lightning"): check and run. The exit status. */
int ig_lightning_main(int argc, char **argv);

#endif
