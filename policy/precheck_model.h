/*
 * precheck_model.h - what TiDB's own IMPORT INTO precheck (checkCDCPiTRTasks) counts, per
 * TiDB version: which changefeed states, which cluster ids, what an undecodable changefeed
 * info does, and whether WITH DISABLE_PRECHECK exists. PURE: a table keyed by version
 * (sources per row in docs/TIDB_VERSIONS.md). Every version counts every log backup task.
 */
#ifndef IMPORTGATE_PRECHECK_MODEL_H
#define IMPORTGATE_PRECHECK_MODEL_H

#include <stdbool.h>

#include "policy/clusterstate.h"
#include "policy/version.h"

/* Whether the modelled TiDB counts one changefeed. MAYBE: releases inside the model's
 * version range differ (a backported fix, a patch release the sources do not pin). */
typedef enum {
	IG_PC_NOT_COUNTED,
	IG_PC_MAYBE,
	IG_PC_COUNTED,
} ig_pc_count;

/* Which cluster ids the range counts for certain (the others are MAYBE). */
typedef enum {
	IG_PC_CLUSTER_ALL,         /* every changefeed the state holds (TiCDC's own id rule) */
	IG_PC_CLUSTER_NUMERIC,     /* only numeric cluster ids and the legacy layout */
} ig_pc_cluster;

typedef struct ig_precheck_model {
	const char *name;      /* "v8.2 and later", for reasons and logs */
	int from_major, from_minor; /* first version the row applies to */
	unsigned counted;      /* IG_PC_BIT(state): counted by every release of the range */
	unsigned maybe;        /* counted by some releases of the range */
	ig_pc_cluster cluster;
	ig_pc_count undecodable; /* a changefeed info TiDB cannot read as {"state": string} */
	bool disable_precheck; /* WITH DISABLE_PRECHECK exists (v8.0.0, pingcap/tidb#51077) */
} ig_precheck_model;

#define IG_PC_BIT(s) (1u << (unsigned)(s))

/* The model for v; *newer is set when v is newer than the newest modelled release (the
 * newest model is used: the caller says so once). A version below zero (unknown) gets a
 * model that counts no changefeed for certain and has no DISABLE_PRECHECK. */
const ig_precheck_model *ig_precheck_model_for(const ig_tidb_version *v, bool *newer);
/* The newest release the table knows ("v8.5"). */
const char *ig_precheck_model_newest_known(void);
ig_pc_count ig_precheck_model_counts(const ig_precheck_model *m, const ig_changefeed *cf);

#endif
