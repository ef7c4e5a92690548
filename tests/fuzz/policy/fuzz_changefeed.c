/*
 * fuzz_changefeed.c - input = "<etcd key>\n<changefeed info JSON>": the key splitter, the
 * JSON decoder, filter compilation (both case modes), coverage and what v8.5's precheck counts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/clusterstate.h"
#include "policy/precheck_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t klen = nl ? (size_t)(nl - data) : 0;
	const uint8_t *val = nl ? nl + 1 : data;
	size_t vlen = size - (size_t)(val - data);
	char *cl, *ns, *id, err[256];
	const ig_tidb_version v85 = {8, 5, 0};
	ig_cluster_state *st;
	ig_coverage cov;

	if (ig_changefeed_key((const char *)data, klen, &cl, &ns, &id) > 0) {
		free(cl);
		free(ns);
		free(id);
	}
	st = ig_cluster_state_new();
	if (!st)
		return 0;
	ig_cluster_state_add(st, (const char *)data, klen, val, vlen, err, sizeof(err));
	/* the same value under a valid key, so the decoder always runs */
	ig_cluster_state_add(st, "/tidb/cdc/default/default/changefeed/info/f", 43, val, vlen, err, sizeof(err));
	ig_cluster_state_finish(st);
	if (ig_cluster_covering(st, "Shop", "orders", false, &cov) == 0)
		ig_coverage_free(&cov);
	for (size_t i = 0; i < st->ncfs; i++)
		(void)ig_precheck_model_counts(ig_precheck_model_for(&v85, NULL), &st->cfs[i]);
	ig_cluster_state_free(st);
	return 0;
}
