/*
 * ltnguardread.c - one range request over /importgate/<cluster>/lightning-runs/ per PD
 * endpoint until one answers (ltnguardread.h).
 */
#include "pd/ltnguardread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd/etcdread.h"

#define MAX_ANSWER_BYTES (4u << 20)

typedef struct acc {
	ig_ltn_guard *v;
	size_t n, bad;
	bool oom;
} acc;

static int one_kv(void *ud, const char *key, size_t klen, const unsigned char *val, size_t vlen)
{
	acc *a = ud;
	ig_ltn_guard g, *nv;
	char e[128];

	(void)key;
	(void)klen;
	if (!val || ig_ltn_guard_decode((const char *)val, vlen, &g, e, sizeof(e)) < 0) {
		a->bad++;
		return 0;
	}
	if (!(nv = realloc(a->v, (a->n + 1) * sizeof(*nv)))) {
		ig_ltn_guard_clear(&g);
		a->oom = true;
		return -1;
	}
	a->v = nv;
	a->v[a->n++] = g;
	return 0;
}

static int read_one(const ig_config *cfg, const char *endpoint, const char *prefix, acc *a, char *err,
                    size_t errlen)
{
	char e[300], *body = NULL, *last = NULL;
	size_t blen = 0, last_len = 0;
	bool more = false;
	int64_t rev = 0;
	int rc = ig_etcd_prefix_fetch(cfg, endpoint, prefix, MAX_ANSWER_BYTES, &body, &blen, err, errlen);

	if (rc == 0 && ig_etcd_range_parse(body, blen, one_kv, a, &more, &rev, &last, &last_len, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "pd %.200s: %s", endpoint, a->oom ? "out of memory" : e);
		rc = -1;
	}
	if (rc == 0 && more) {
		snprintf(err, errlen, "pd %.200s: the answer says more keys follow an unlimited range", endpoint);
		rc = -1;
	}
	free(last);
	free(body);
	return rc;
}

int ig_ltn_guards_read(const ig_config *cfg, ig_ltn_guard **out, size_t *n, size_t *bad, char *err,
                       size_t errlen)
{
	char prefix[300], all[1024] = "", e[512];
	const char *name = cfg && cfg->cluster.name ? cfg->cluster.name : "default";
	int plen;

	*out = NULL;
	*n = *bad = 0;
	if (!cfg || cfg->cluster.npd == 0) {
		snprintf(err, errlen, "no PD endpoints configured (cluster.pd is empty)");
		return -1;
	}
	/* The whole name, as the guarded run's store writes it (store/oblstore_etcd.c run_prefix):
	 * a name cut short here read another prefix, so no guard record was ever seen and every
	 * guarded Lightning was reported unguarded (attack14: cluster.name may be 128 characters). */
	plen = snprintf(prefix, sizeof(prefix), "/importgate/%s/" IG_KEY_LTN_RUNS, name);
	if (plen < 0 || (size_t)plen >= sizeof(prefix)) {
		snprintf(err, errlen, "cluster.name is too long for the guarded runs' key prefix");
		return -1;
	}
	for (size_t i = 0; i < cfg->cluster.npd; i++) {
		acc a = {0};
		size_t l = strlen(all);
		if (read_one(cfg, cfg->cluster.pd[i], prefix, &a, e, sizeof(e)) == 0) {
			*out = a.v;
			*n = a.n;
			*bad = a.bad;
			return 0;
		}
		ig_ltn_guards_free(a.v, a.n);
		snprintf(all + l, sizeof(all) - l, "%s%s", l ? "; " : "", e);
	}
	snprintf(err, errlen, "cannot read the guarded Lightning runs: %s", all);
	return -1;
}

void ig_ltn_guards_free(ig_ltn_guard *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ig_ltn_guard_clear(&g[i]);
	free(g);
}
