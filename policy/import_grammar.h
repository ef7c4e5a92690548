/*
 * import_grammar.h - which IMPORT INTO options and forms each TiDB version knows, so the
 * decision can refuse, while anything covers anything, an import the backend's version
 * would read differently from the gateway. PURE: a table keyed by version (sources per row
 * in docs/TIDB_VERSIONS.md, "IMPORT INTO options and grammar per version"). The gateway's
 * own parser (sqlparse/) accepts the union of every version's grammar; this table says
 * which part of it a given version has.
 */
#ifndef IMPORTGATE_IMPORT_GRAMMAR_H
#define IMPORTGATE_IMPORT_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/version.h"

typedef struct ig_import_grammar {
	const char *name;           /* "v8.0 to v8.5", for messages and logs */
	int from_major, from_minor; /* first version the row applies to */
	bool from_select;           /* IMPORT INTO ... FROM SELECT (v8.0.0, pingcap/tidb#49976) */
	bool format_auto;           /* no FORMAT: detected from the file suffix (else CSV) */
	const char *const *options; /* lower-case names of supportedOptions, NULL-terminated */
} ig_import_grammar;

/* What one statement uses, as the caller's parser read it. The option names are read
 * without copying from the caller's own array of option structures: the first name at
 * `options` (any case, NUL-terminated), the next one option_stride bytes further, e.g.
 * .options = imp.opts[0].name, .option_stride = sizeof(sql_import_opt). */
typedef struct ig_import_usage {
	const char *options;
	size_t option_stride;
	size_t noptions;
	bool from_select;
	const char *unparsed; /* non-NULL: the gateway could not parse the import; why */
} ig_import_usage;

/* The row for v. An unknown version (major < 0) and every version newer than the newest
 * row get the newest row (the gateway cannot say an option is unknown to it). */
const ig_import_grammar *ig_import_grammar_for(const ig_tidb_version *v);
/* Whether g knows the option (any case). */
bool ig_import_grammar_knows(const ig_import_grammar *g, const char *option);
/* The first thing of u that g does not know, in TiDB's order (the form first, then the
 * options in statement order), written to what ("option group_key", "IMPORT INTO ... FROM
 * SELECT"); false when g knows all of it. u->unparsed is not looked at. */
bool ig_import_grammar_unknown(const ig_import_grammar *g, const ig_import_usage *u, char *what,
                               size_t whatlen);

#endif
