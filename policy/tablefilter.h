/*
 * tablefilter.h - TiDB's table-filter syntax and semantics (pingcap/tidb
 * pkg/util/table-filter), as log backup tasks, TiCDC changefeeds and importgate's own
 * policy rules write them:
 *   schema.table patterns; wildcards * ? [a-z] [!a-z]; "quoted" and `quoted` names;
 *   \ escapes of non-alphanumerics; /regex/ (unanchored search); ! negation;
 *   blank lines and # comments ignored; the LAST matching rule wins; no match = not matched.
 * Not supported: @file imports (an error). Regexes run on pcre2's DFA matcher instead of Go's
 * RE2 (no backtracking, so no blow-up); the RE2-incompatible lookarounds, backreferences,
 * atomic, conditional and recursive groups are refused as TiDB refuses them.
 * Case-insensitive unless case_sensitive is set (TiDB lowers names and patterns; a literal
 * pattern is folded as Go's strings.ToLower folds it, U+0130 to i, before the caseless compare).
 */
#ifndef IMPORTGATE_TABLEFILTER_H
#define IMPORTGATE_TABLEFILTER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ig_tablefilter ig_tablefilter;

/* Compiles `n` rules. NULL on error with "rule N "text": what is wrong" in err.
 * n == 0 gives a filter that matches nothing (as TiDB's). */
ig_tablefilter *ig_tablefilter_parse(const char *const *rules, size_t n, bool case_sensitive,
                                     char *err, size_t errlen);
void ig_tablefilter_free(ig_tablefilter *f);

/* 1 = matched, 0 = not matched, -1 = a regex could not be evaluated (DFA workspace or
 * limits, a name that is not valid UTF-8, out of memory). */
int ig_tablefilter_match_ex(const ig_tablefilter *f, const char *db, const char *tbl);
/* As _ex, and which rule decided: *rule_index is the index (into the rules as given to
 * ig_tablefilter_parse) of the last rule whose patterns match - positive (1) or negated
 * (0) - or SIZE_MAX when no rule matched (0) or evaluation failed (-1). For operators
 * (/api/v1/coverage): "which rule made this table covered". */
int ig_tablefilter_decide(const ig_tablefilter *f, const char *db, const char *tbl, size_t *rule_index);
/* As _decide for a CASE-SENSITIVE filter when only some spelling of the names is known: TiDB
 * resolves `IMPORT INTO Db.T` to the table in whatever case it was created, and a
 * case-sensitive filter (TiCDC's case-sensitive: true) compares that stored spelling. 1 when
 * some spelling of db.tbl may be matched by a positive rule that no later negated rule
 * excludes for every spelling. `f` must be the case-INSENSITIVE build of the same rules (a
 * caseless match is "some spelling matches"); a negated rule excludes only when it matches
 * every spelling (its pattern is `*`, or the name has no letter to vary). *rule_index as
 * _decide. -1 as _ex, or when f is a case-sensitive build. */
int ig_tablefilter_decide_any_case(const ig_tablefilter *f, const char *db, const char *tbl,
                                   size_t *rule_index);
/* As _ex, with an evaluation failure counted as a match: callers use it where a match is the
 * safe answer (coverage: "this table may be in the log"). */
bool ig_tablefilter_match(const ig_tablefilter *f, const char *db, const char *tbl);

size_t ig_tablefilter_nrules(const ig_tablefilter *f);

#endif
