/*
 * fuzz_config.c - YAML config text through the loader; a config that loads is then used
 * for rule matching and a decision against an empty cluster state.
 */
#include <stddef.h>
#include <stdint.h>

#include "policy/config.h"
#include "policy/decide.h"
#include "policy/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ig_config *cfg;
	char err[512];
	ig_cluster_state *st;
	ig_decide_input in = {.user = "etl_a", .host = "10.0.0.1", .db = "staging", .table = "t",
	                      .version = {8, 5, 0, false}};
	ig_decision d;

	if (ig_config_load_string("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof(err)) < 0)
		return 0;
	(void)ig_rule_match(cfg, "root", "::1", "db", "t");
	st = ig_cluster_state_new();
	in.cfg = cfg;
	in.state = st;
	if (st && ig_decide(&in, &d, err, sizeof(err)) == 0)
		ig_decision_free(&d);
	in.state = NULL;
	in.disable_precheck = true;
	if (ig_decide(&in, &d, err, sizeof(err)) == 0)
		ig_decision_free(&d);
	/* what a v7.5 TiDB does not know, and an import the gateway could not parse */
	{
		static const char names[2][32] = {"THREAD", "GROUP_KEY"};
		ig_import_usage u = {.options = names[0], .option_stride = sizeof(names[0]), .noptions = 2,
		                     .from_select = true};
		in.usage = &u;
		in.version = (ig_tidb_version){7, 5, 1, false};
		in.state = st;
		if (st && ig_decide(&in, &d, err, sizeof(err)) == 0)
			ig_decision_free(&d);
		u.unparsed = "fuzz";
		in.table = NULL;
		if (st && ig_decide(&in, &d, err, sizeof(err)) == 0)
			ig_decision_free(&d);
	}
	ig_cluster_state_free(st);
	ig_config_free(cfg);
	return 0;
}
