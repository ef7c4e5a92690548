/*
 * rules.h - picks the policy rule (config policy.rules) that applies to an import: the
 * first rule whose users and hosts regexes (anchored) and table filter all match.
 */
#ifndef IMPORTGATE_RULES_H
#define IMPORTGATE_RULES_H

#include "policy/config.h"

/* NULL = no rule matches: the defaults apply (action decide, log_backup and changefeed
 * required). A NULL user or host is matched as "". A regex that cannot be evaluated (pcre2
 * match limit) counts as not matching for users/hosts and as matching for tables, so the
 * rule order the DBA chose still decides. */
const ig_rule *ig_rule_match(const ig_config *cfg, const char *user, const char *host,
                             const char *db, const char *tbl);

#endif
