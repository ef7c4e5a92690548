/*
 * route.h - TiDB Lightning's [[routes]] (pingcap/tidb pkg/util/regexpr-router, v7.5-v8.5):
 * a rule whose schema-pattern (and table-pattern, if set) match a source table renames it to
 * target-schema (and target-table, if set). PURE.
 * Patterns (pkg/util/table-rule-selector trie_selector.go, pkg/util/filter): "~" starts a
 * regular expression (unanchored search, as Go's MatchString); otherwise a wildcard: "?" one
 * byte, "[a-z]" / "[!a-z]" a byte range, "*" any rest and only as the last character (else
 * the rule is invalid). Unless mydumper.case-sensitive, patterns (Routes.adjust: ToLower) and
 * names are compared lowered; targets are kept as written.
 * Route(schema, table): the table rules matching it, else the schema rules; more than one at
 * the same level is an error ("table s.t matches more than one rule").
 */
#ifndef IMPORTGATE_LTN_ROUTE_H
#define IMPORTGATE_LTN_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "lightning/task.h"

typedef struct ig_ltn_router ig_ltn_router;

/* NULL with "routes[i]: what is wrong" in err (an invalid pattern, out of memory). */
ig_ltn_router *ig_ltn_router_new(const ig_ltn_route *rules, size_t n, bool case_sensitive,
                                 char *err, size_t errlen);
void ig_ltn_router_free(ig_ltn_router *r);
/* 0 with the target names (malloc'ed; the source names when no rule applies), or -1 + err
 * (more than one rule, out of memory). */
int ig_ltn_route_table(const ig_ltn_router *r, const char *schema, const char *table,
                       char **target_schema, char **target_table, char *err, size_t errlen);

#endif
