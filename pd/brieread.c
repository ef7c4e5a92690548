/*
 * brieread.c - one range request over /tidb/brie/import/ per PD endpoint until one
 * answers (see brieread.h). A registration is a few dozen bytes and only running imports
 * have one, so the whole prefix comes in one unpaged answer, values and leases included.
 */
#include "pd/brieread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd/etcdread.h"

#define MAX_ANSWER_BYTES (4u << 20)

static int read_one(const ig_config *cfg, const char *endpoint, ig_brie_list *out, char *err,
                    size_t errlen)
{
	char e[300], *body = NULL;
	size_t blen = 0;
	bool more = false;
	int rc = ig_etcd_prefix_fetch(cfg, endpoint, IG_KEY_BRIE_IMPORT, MAX_ANSWER_BYTES, &body, &blen, err, errlen);

	if (rc == 0 && ig_brie_range_parse(body, blen, out, &more, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "pd %.200s: %s", endpoint, e);
		rc = -1;
	}
	if (rc == 0 && more) {
		snprintf(err, errlen, "pd %.200s: the answer says more keys follow an unlimited range", endpoint);
		rc = -1;
	}
	free(body);
	if (rc < 0)
		ig_brie_list_clear(out);
	return rc;
}

int ig_brie_read(const ig_config *cfg, ig_brie_list *out, const char **source, char *err,
                 size_t errlen)
{
	char all[1024] = "", e[512];

	memset(out, 0, sizeof(*out));
	*source = NULL;
	if (!cfg || cfg->cluster.npd == 0) {
		snprintf(err, errlen, "no PD endpoints configured (cluster.pd is empty)");
		return -1;
	}
	for (size_t i = 0; i < cfg->cluster.npd; i++) {
		size_t l = strlen(all);
		if (read_one(cfg, cfg->cluster.pd[i], out, e, sizeof(e)) == 0) {
			*source = cfg->cluster.pd[i];
			return 0;
		}
		snprintf(all + l, sizeof(all) - l, "%s%s", l ? "; " : "", e);
	}
	snprintf(err, errlen, "cannot read the running-import registrations: %s", all);
	return -1;
}
