/*
 * rules.c - first-match evaluation of the policy rules against user, client host and table.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "policy/rules.h"

#include <pcre2.h>
#include <string.h>

#include "policy/tablefilter.h"

/* Bounds a careless regex's backtracking: a user name or address is short. */
#define MATCH_LIMIT 1000000

static bool re_match(const void *code, const char *s)
{
	pcre2_match_data *md;
	pcre2_match_context *mc;
	int rc = -1;

	if (!code)
		return true;
	md = pcre2_match_data_create(1, NULL);
	mc = pcre2_match_context_create(NULL);
	if (md && mc) {
		pcre2_set_match_limit(mc, MATCH_LIMIT);
		rc = pcre2_match(code, (PCRE2_SPTR)s, strlen(s), 0, 0, md, mc);
	}
	pcre2_match_context_free(mc);
	pcre2_match_data_free(md);
	return rc >= 0;
}

const ig_rule *ig_rule_match(const ig_config *cfg, const char *user, const char *host,
                             const char *db, const char *tbl)
{
	if (!cfg)
		return NULL;
	for (size_t i = 0; i < cfg->policy.nrules; i++) {
		const ig_rule *r = &cfg->policy.rules[i];
		if (!re_match(r->users_re, user ? user : "") || !re_match(r->hosts_re, host ? host : ""))
			continue;
		if (ig_tablefilter_match(r->filter, db ? db : "", tbl ? tbl : ""))
			return r;
	}
	return NULL;
}
