/*
 * fuzz_taskinfo.c - StreamBackupTaskInfo protobuf values through the decoder and into a
 * cluster state (filter compilation, coverage, the operator fields start_ts and storage).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/clusterstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char key[] = "/tidb/br-stream/info/fuzz";
	ig_lbtask t = {0};
	ig_cluster_state *st;
	ig_coverage cov;
	char err[256];

	if (ig_taskinfo_decode(data, size, &t, err, sizeof(err)) == 0 && t.pb_name)
		(void)strlen(t.pb_name);
	free(t.pb_name);
	free(t.storage);
	for (size_t i = 0; i < t.nfilters; i++)
		free(t.filters[i]);
	free(t.filters);

	st = ig_cluster_state_new();
	if (!st)
		return 0;
	ig_cluster_state_add(st, key, sizeof(key) - 1, data, size, err, sizeof(err));
	ig_cluster_state_finish(st);
	if (ig_cluster_covering(st, "shop", "orders", true, &cov) == 0)
		ig_coverage_free(&cov);
	for (size_t i = 0; i < st->ntasks; i++) { /* what /api/v1/coverage and status read */
		ig_cover_why w;
		ig_task_cover_why(&st->tasks[i], "shop", "orders", i % 2 == 0, &w);
		(void)ig_lbtask_state_name(&st->tasks[i]);
		if (st->tasks[i].storage)
			(void)strlen(st->tasks[i].storage);
	}
	ig_cluster_state_free(st);
	return 0;
}
