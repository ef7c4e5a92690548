/*
 * precheck_model.c - the per-version table of what TiDB's IMPORT INTO precheck counts as an
 * existing changefeed. Rows, oldest first (sources and what is not pinned to a release tag:
 * docs/TIDB_VERSIONS.md):
 *   < v8.0   br/pkg/utils/cdc.go GetCDCChangefeedNameSet: normal, stopped, error. One variant
 *            (pingcap/tidb#47322) keeps only numeric cluster ids, so a "default" cluster's
 *            changefeed is counted for certain only through the legacy layout or a numeric id;
 *            an undecodable info is skipped. No DISABLE_PRECHECK.
 *   v8.0-8.1 the same code and variants, with DISABLE_PRECHECK (pingcap/tidb#51077).
 *            #53121 and #53482 (issue #53131) first ship in v8.2.0: the v8.2.0 release
 *            notes say "starting from v8.2.0", no 8.1.x release note names #53131, and
 *            neither PR carries a cherry-pick label. So warning, running and failed are not
 *            counted, and an undecodable info is skipped.
 *   >= v8.2  pkg/util/cdcutil/cdc.go after #53482 (merged 2024-05-22): failed, running,
 *            warning, normal, stopped, error; finished and unknown states skipped; cluster ids
 *            per TiCDC's rule (policy/changefeed.c drops the others); an undecodable info
 *            fails the statement.
 */
#include "policy/precheck_model.h"

#include <stddef.h>

#define B IG_PC_BIT

static const ig_precheck_model models[] = {
	{
		.name = "before v8.0 (br/pkg/utils/cdc.go)",
		.from_major = 0, .from_minor = 0,
		.counted = B(IG_CFSTATE_NORMAL) | B(IG_CFSTATE_STOPPED) | B(IG_CFSTATE_ERROR),
		.maybe = 0,
		.cluster = IG_PC_CLUSTER_NUMERIC,
		.undecodable = IG_PC_NOT_COUNTED,
		.disable_precheck = false,
	},
	{
		.name = "v8.0-v8.1 (br/pkg/utils/cdc.go)",
		.from_major = 8, .from_minor = 0,
		.counted = B(IG_CFSTATE_NORMAL) | B(IG_CFSTATE_STOPPED) | B(IG_CFSTATE_ERROR),
		.maybe = 0,
		.cluster = IG_PC_CLUSTER_NUMERIC,
		.undecodable = IG_PC_NOT_COUNTED,
		.disable_precheck = true,
	},
	{
		.name = "v8.2 and later (pkg/util/cdcutil/cdc.go)",
		.from_major = 8, .from_minor = 2,
		.counted = B(IG_CFSTATE_FAILED) | B(IG_CFSTATE_RUNNING) | B(IG_CFSTATE_WARNING) |
		           B(IG_CFSTATE_NORMAL) | B(IG_CFSTATE_STOPPED) | B(IG_CFSTATE_ERROR),
		.maybe = 0,
		.cluster = IG_PC_CLUSTER_ALL,
		.undecodable = IG_PC_COUNTED,
		.disable_precheck = true,
	},
};

#define NMODELS (sizeof(models) / sizeof(models[0]))

/* The newest release whose source the table was checked against. */
#define NEWEST_MAJOR 8
#define NEWEST_MINOR 5

/* Unknown version: nothing certain (forwarded, TiDB decides), no DISABLE_PRECHECK. */
static const ig_precheck_model unknown_model = {
	.name = "unknown TiDB version",
	.from_major = -1, .from_minor = -1,
	.counted = 0,
	.maybe = B(IG_CFSTATE_FAILED) | B(IG_CFSTATE_RUNNING) | B(IG_CFSTATE_WARNING) |
	         B(IG_CFSTATE_NORMAL) | B(IG_CFSTATE_STOPPED) | B(IG_CFSTATE_ERROR),
	.cluster = IG_PC_CLUSTER_ALL,
	.undecodable = IG_PC_MAYBE,
	.disable_precheck = false,
};

const char *ig_precheck_model_newest_known(void)
{
	return "v8.5";
}

const ig_precheck_model *ig_precheck_model_for(const ig_tidb_version *v, bool *newer)
{
	const ig_precheck_model *m = &models[0];

	if (newer)
		*newer = false;
	if (!v || v->major < 0)
		return &unknown_model;
	for (size_t i = 0; i < NMODELS; i++)
		if (ig_tidb_version_at_least(v, models[i].from_major, models[i].from_minor))
			m = &models[i];
	if (newer)
		*newer = v->major > NEWEST_MAJOR || (v->major == NEWEST_MAJOR && v->minor > NEWEST_MINOR);
	return m;
}

static bool numeric(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

ig_pc_count ig_precheck_model_counts(const ig_precheck_model *m, const ig_changefeed *cf)
{
	unsigned bit;
	bool certain_cluster;

	if (!cf->state_text)
		return m->undecodable; /* the JSON or its "state" cannot be read */
	if (cf->state == IG_CFSTATE_UNKNOWN)
		return IG_PC_NOT_COUNTED; /* every version skips states it does not know */
	bit = IG_PC_BIT(cf->state);
	certain_cluster = m->cluster == IG_PC_CLUSTER_ALL || !cf->cluster || numeric(cf->cluster);
	if (m->counted & bit)
		return certain_cluster ? IG_PC_COUNTED : IG_PC_MAYBE;
	if (m->maybe & bit)
		return IG_PC_MAYBE;
	return IG_PC_NOT_COUNTED;
}
