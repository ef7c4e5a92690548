/*
 * fuzz_etcdrange.c - etcd JSON-gateway range answers through the parser, every key/value
 * fed into a cluster state (task protobufs, pause keys, changefeed JSON).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "policy/clusterstate.h"
#include "policy/etcdread.h"

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

	if (!st)
		return 0;
	if (ig_etcd_range_parse((const char *)data, size, feed, st, &more, &rev, &last, &ll, err, sizeof(err)) == 0)
		free(last);
	ig_cluster_state_finish(st);
	if (ig_cluster_covering(st, "db", "t", &cov) == 0)
		ig_coverage_free(&cov);
	ig_cluster_state_free(st);
	return 0;
}
