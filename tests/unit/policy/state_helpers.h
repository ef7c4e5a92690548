/*
 * state_helpers.h - builds cluster states for the policy tests from the values BR and TiCDC
 * write to etcd (a StreamBackupTaskInfo protobuf, a changefeed info JSON).
 */
#ifndef IG_TEST_STATE_HELPERS_H
#define IG_TEST_STATE_HELPERS_H

#include <stdio.h>
#include <string.h>

#include "policy/clusterstate.h"

/* StreamBackupTaskInfo{name: name, table_filter: filters...} plus a start_ts field. */
static inline size_t th_task_pb(unsigned char *out, const char *name, const char *const *filters,
                                size_t n)
{
	size_t o = 0, l;

	out[o++] = 0x10; /* start_ts = 5, skipped */
	out[o++] = 0x05;
	l = strlen(name);
	out[o++] = 0x22;
	out[o++] = (unsigned char)l;
	memcpy(out + o, name, l);
	o += l;
	for (size_t i = 0; i < n; i++) {
		l = strlen(filters[i]);
		out[o++] = 0x2a;
		out[o++] = (unsigned char)l;
		memcpy(out + o, filters[i], l);
		o += l;
	}
	return o;
}

static inline void th_add(ig_cluster_state *st, const char *key, const void *val, size_t vlen)
{
	char err[128];

	if (ig_cluster_state_add(st, key, strlen(key), val, vlen, err, sizeof(err)) < 0) {
		fprintf(stderr, "ig_cluster_state_add: %s\n", err);
		abort();
	}
}

static inline void th_adds(ig_cluster_state *st, const char *key, const char *val)
{
	th_add(st, key, val, strlen(val));
}

static inline void th_task(ig_cluster_state *st, const char *name, const char *const *filters,
                           size_t n)
{
	unsigned char pb[1024];
	char key[256];

	snprintf(key, sizeof(key), "/tidb/br-stream/info/%s", name);
	th_add(st, key, pb, th_task_pb(pb, name, filters, n));
}

/* A v6.2+ changefeed default/default/<id>; rules_json e.g. "[\"a.*\"]" or NULL (absent);
 * cs: 1, 0, or -1 (absent). */
static inline void th_cf(ig_cluster_state *st, const char *id, const char *state,
                         const char *rules_json, int cs)
{
	char key[256], val[1024];

	snprintf(key, sizeof(key), "/tidb/cdc/default/default/changefeed/info/%s", id);
	snprintf(val, sizeof(val), "{\"state\":\"%s\",\"config\":{%s%s%s%s%s}}", state,
	         cs < 0 ? "" : "\"case-sensitive\":", cs < 0 ? "" : cs ? "true" : "false",
	         cs >= 0 && rules_json ? "," : "", rules_json ? "\"filter\":{\"rules\":" : "",
	         rules_json ? rules_json : "");
	if (rules_json)
		strcat(val, "}");
	th_add(st, key, val, strlen(val));
}

#endif
