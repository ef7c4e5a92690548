/*
 * test_rules.c - policy rule selection: first match wins; users and hosts regexes are
 * anchored at both ends and case-sensitive; tables use table-filter syntax
 * (case-insensitive); no match = NULL (the defaults).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "policy/config.h"
#include "policy/rules.h"

static const char yaml[] =
	"obligations: {downstream: {servers: [\"dr:4000\"]}}\n"
	"policy:\n"
	"  rules:\n"
	"    - name: etl-staging\n"
	"      users: \"etl_.*\"\n"
	"      hosts: \"10\\\\.0\\\\..*\"\n"
	"      tables: [\"staging.*\", \"!staging.keep\"]\n"
	"      log_backup: not-needed\n"
	"    - name: ops\n"
	"      users: \"root|admin\"\n"
	"      action: pass\n"
	"    - name: no-prod\n"
	"      tables: [\"prod.*\"]\n"
	"      action: deny\n"
	"    - name: rest-of-staging\n"
	"      tables: [\"staging.*\"]\n"
	"      changefeed: reimport-downstream\n";

static const char *rule(const ig_config *c, const char *u, const char *h, const char *db, const char *t)
{
	const ig_rule *r = ig_rule_match(c, u, h, db, t);
	return r ? r->name : "(none)";
}

static void first_match(void **state)
{
	char err[256];
	ig_config *c;

	(void)state;
	assert_int_equal(ig_config_load_string("r.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	assert_string_equal(rule(c, "etl_loader", "10.0.3.4", "staging", "orders"), "etl-staging");
	assert_string_equal(rule(c, "etl_loader", "10.0.3.4", "STAGING", "Orders"), "etl-staging");
	/* negation inside the rule's tables: falls through to a later rule */
	assert_string_equal(rule(c, "etl_loader", "10.0.3.4", "staging", "keep"), "rest-of-staging");
	/* users anchored at both ends, case-sensitive */
	assert_string_equal(rule(c, "xetl_loader", "10.0.3.4", "staging", "orders"), "rest-of-staging");
	assert_string_equal(rule(c, "ETL_loader", "10.0.3.4", "staging", "orders"), "rest-of-staging");
	assert_string_equal(rule(c, "etl_", "10.0.3.4", "staging", "orders"), "etl-staging");
	/* hosts anchored: 110.0.x does not match 10\.0\..* */
	assert_string_equal(rule(c, "etl_loader", "110.0.3.4", "staging", "orders"), "rest-of-staging");
	/* alternation is anchored as a whole */
	assert_string_equal(rule(c, "root", "::1", "prod", "t"), "ops");
	assert_string_equal(rule(c, "admin", "::1", "prod", "t"), "ops");
	assert_string_equal(rule(c, "rootx", "::1", "prod", "t"), "no-prod");
	assert_string_equal(rule(c, "xadmin", "::1", "prod", "t"), "no-prod");
	/* nothing matches */
	assert_string_equal(rule(c, "app", "10.1.1.1", "shop", "orders"), "(none)");
	/* NULL user/host match as "" */
	assert_string_equal(rule(c, NULL, NULL, "prod", "x"), "no-prod");
	assert_string_equal(rule(c, NULL, NULL, "staging", "x"), "rest-of-staging");
	assert_null(ig_rule_match(NULL, "a", "b", "c", "d"));
	ig_config_free(c);
}

/* A catastrophic users regex on a long name ends quickly (match limit) and does not match. */
static void match_limit(void **state)
{
	static const char y[] = "policy:\n  rules:\n    - {name: slow, users: \"(a|aa)+\", action: deny}\n";
	char err[256], user[80];
	ig_config *c;

	(void)state;
	memset(user, 'a', 60);
	strcpy(user + 60, "b");
	assert_int_equal(ig_config_load_string("r.yaml", y, strlen(y), &c, err, sizeof(err)), 0);
	assert_string_equal(rule(c, user, "h", "d", "t"), "(none)");
	assert_string_equal(rule(c, "aaaa", "h", "d", "t"), "slow");
	ig_config_free(c);
}

static void no_rules(void **state)
{
	char err[256];
	ig_config *c;

	(void)state;
	assert_int_equal(ig_config_load_string("r.yaml", "", 0, &c, err, sizeof(err)), 0);
	assert_null(ig_rule_match(c, "root", "127.0.0.1", "db", "t"));
	ig_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_match),
		cmocka_unit_test(match_limit),
		cmocka_unit_test(no_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
