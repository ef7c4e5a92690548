/*
 * fuzz_etcdrange.c - etcd JSON-gateway range answers through the parser, every key/value
 * fed into a cluster state (task protobufs, pause keys, changefeed JSON); the same answer read
 * as /tidb/brie/import/ registrations (brieimport.c: leases, values) and their conflicts
 * with that state.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "policy/brieimport.h"
#include "policy/clusterstate.h"
#include "pd/etcdread.h"

static int feed(void *ud, const char *k, size_t kl, const unsigned char *v, size_t vl)
{
	return ig_cluster_state_add(ud, k, kl, v, vl, NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ig_cluster_state *st = ig_cluster_state_new();
	bool more;
	int64_t rev;
	char *last = NULL, err[256];
	size_t ll;
	ig_coverage cov;
	ig_brie_list regs = {0};

	if (!st)
		return 0;
	if (ig_etcd_range_parse((const char *)data, size, feed, st, &more, &rev, &last, &ll, err, sizeof(err)) == 0)
		free(last);
	ig_cluster_state_finish(st);
	if (ig_cluster_covering(st, "db", "t", false, &cov) == 0)
		ig_coverage_free(&cov);
	if (ig_brie_range_parse((const char *)data, size, &regs, &more, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < regs.n; i++) {
			ig_brie_conflict c;
			if (ig_brie_conflicts(&regs.v[i], st, &c) == 0)
				ig_brie_conflict_free(&c);
		}
	}
	ig_brie_list_clear(&regs);
	ig_cluster_state_free(st);
	return 0;
}
