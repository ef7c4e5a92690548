/*
 * import_grammar.c - the per-version table of IMPORT INTO's options and forms. Rows, oldest
 * first (sources and what is not pinned to a release tag: docs/TIDB_VERSIONS.md):
 *   v7.2-v7.3  importer/import.go (executor/, pkg/executor/ after the pkg/ move) supportedOptions
 *              as read in the stored master copy: the CSV options, split_file,
 *              disk_quota, thread, max_write_speed, checksum_table, record_errors, detached,
 *              disable_tikv_import_mode, __max_engine_size (a test option); FROM 'file' only.
 *   v7.4-v7.6  + cloud_storage_uri (global sort: pingcap/tidb#46998, pingcap/docs#14920).
 *   v8.0-v8.5  + disable_precheck (pingcap/tidb#51077), FROM SELECT (pingcap/tidb#49976,
 *              issue #49883; only thread and disable_precheck with it).
 *   v9.0 on    the stored master import.go: + group_key (pingcap/tidb#62369, 2025-07, after
 *   (master)   v8.5.0), __manual_recovery (#59640, 2025), __force_merge_step (test options,
 *              first release not pinned), on_duplicate_key (pingcap/tidb#66701, 2026-03,
 *              error | capture, global sort only; read from the PR by a research helper,
 *              session 19); FORMAT omitted is detected from the file suffix (DataFormatAuto;
 *              v8.5.7's release note lists it too, pingcap/tidb#59540: informational here,
 *              no decision reads format_auto). The parser.y of the stored master has no
 *              PARTITION clause in ImportIntoStmt.
 * An unknown version and versions newer than every row get the newest row.
 */
#include "policy/import_grammar.h"

#include <stdio.h>
#include <strings.h>

#define BASE_OPTIONS                                                                             \
	"character_set", "fields_terminated_by", "fields_enclosed_by", "fields_escaped_by",          \
	    "fields_defined_null_by", "lines_terminated_by", "skip_rows", "split_file", "disk_quota", \
	    "thread", "max_write_speed", "checksum_table", "record_errors", "detached",               \
	    "disable_tikv_import_mode", "__max_engine_size"

static const char *const opts_v72[] = {BASE_OPTIONS, NULL};
static const char *const opts_v74[] = {BASE_OPTIONS, "cloud_storage_uri", NULL};
static const char *const opts_v80[] = {BASE_OPTIONS, "cloud_storage_uri", "disable_precheck", NULL};
static const char *const opts_master[] = {BASE_OPTIONS,        "cloud_storage_uri",  "disable_precheck",
                                          "group_key",         "__force_merge_step", "__manual_recovery",
                                          "on_duplicate_key",  NULL};

static const ig_import_grammar rows[] = {
	{.name = "v7.2 to v7.3", .from_major = 0, .from_minor = 0, .options = opts_v72},
	{.name = "v7.4 to v7.6", .from_major = 7, .from_minor = 4, .options = opts_v74},
	{.name = "v8.0 to v8.5", .from_major = 8, .from_minor = 0, .from_select = true, .options = opts_v80},
	{.name = "v9.0 and later (master)", .from_major = 9, .from_minor = 0, .from_select = true,
	 .format_auto = true, .options = opts_master},
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

const ig_import_grammar *ig_import_grammar_for(const ig_tidb_version *v)
{
	const ig_import_grammar *g = &rows[NROWS - 1];

	if (!v || v->major < 0)
		return g;
	for (size_t i = 0; i < NROWS; i++)
		if (ig_tidb_version_at_least(v, rows[i].from_major, rows[i].from_minor))
			g = &rows[i];
	return g;
}

bool ig_import_grammar_knows(const ig_import_grammar *g, const char *option)
{
	for (size_t i = 0; option && g->options[i]; i++)
		if (strcasecmp(g->options[i], option) == 0)
			return true;
	return false;
}

bool ig_import_grammar_unknown(const ig_import_grammar *g, const ig_import_usage *u, char *what,
                               size_t whatlen)
{
	if (!u)
		return false;
	/* TiDB's parser refuses the form before its planner looks at any option */
	if (u->from_select && !g->from_select) {
		snprintf(what, whatlen, "IMPORT INTO ... FROM SELECT");
		return true;
	}
	for (size_t i = 0; u->options && i < u->noptions; i++) {
		const char *name = u->options + i * u->option_stride;

		if (ig_import_grammar_knows(g, name))
			continue;
		/* lower-cased, as TiDB names it in "Unknown option %s" */
		size_t k = (size_t)snprintf(what, whatlen, "option ");
		for (; k + 1 < whatlen && *name; k++, name++)
			what[k] = (char)(*name >= 'A' && *name <= 'Z' ? *name + 32 : *name);
		if (k < whatlen)
			what[k] = 0;
		return true;
	}
	return false;
}
