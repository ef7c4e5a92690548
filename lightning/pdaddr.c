/*
 * pdaddr.c - compares the PD address of a Lightning task with the gateway's cluster.pd
 * (pdaddr.h).
 */
#include "lightning/pdaddr.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

bool ig_ltn_pd_norm(const char *addr, size_t len, char *out, size_t outlen)
{
	const char *e = addr + len, *slash;
	size_t n;

	while (addr < e && (*addr == ' ' || *addr == '\t'))
		addr++;
	while (e > addr && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if ((size_t)(e - addr) >= 7 && strncasecmp(addr, "http://", 7) == 0)
		addr += 7;
	else if ((size_t)(e - addr) >= 8 && strncasecmp(addr, "https://", 8) == 0)
		addr += 8;
	slash = memchr(addr, '/', (size_t)(e - addr));
	if (slash)
		e = slash;
	n = (size_t)(e - addr);
	if (n == 0 || n >= outlen)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(addr[i] >= 'A' && addr[i] <= 'Z' ? addr[i] + 32 : addr[i]);
	out[n] = 0;
	return true;
}

static bool in_cluster(const char *a, char *const *cluster_pd, size_t npd)
{
	char c[256];

	for (size_t i = 0; i < npd; i++)
		if (ig_ltn_pd_norm(cluster_pd[i], strlen(cluster_pd[i]), c, sizeof(c)) && strcmp(a, c) == 0)
			return true;
	return false;
}

int ig_ltn_pd_same(const char *pd_addr, char *const *cluster_pd, size_t npd, char *why, size_t whylen)
{
	const char *p = pd_addr;
	char a[256];

	if (!pd_addr || !*pd_addr) {
		snprintf(why, whylen, "[tidb] pd-addr is not set: Lightning would ask TiDB ([tidb] host, status-port) "
		         "for PD's address, which the gateway cannot check; set [tidb] pd-addr to one of the gateway's "
		         "cluster.pd addresses");
		return 0;
	}
	if (npd == 0) {
		snprintf(why, whylen, "the gateway has no cluster.pd: the cluster Lightning imports into (pd-addr %.200s) "
		         "cannot be compared with the cluster the decision was made for", pd_addr);
		return 0;
	}
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (!ig_ltn_pd_norm(p, n, a, sizeof(a)) || !in_cluster(a, cluster_pd, npd)) {
			snprintf(why, whylen, "[tidb] pd-addr \"%.*s\" is not one of the gateway's cluster.pd addresses: the "
			         "task imports into another cluster than the one whose log backup tasks and changefeeds were "
			         "checked (write the PD address exactly as in cluster.pd)", (int)(n > 200 ? 200 : n), p);
			return 0;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	snprintf(why, whylen, "[tidb] pd-addr %.200s is the gateway's cluster (cluster.pd)", pd_addr);
	return 1;
}
