/*
 * pdaddr.c - compares the PD address and the TiDB address of a Lightning task with the
 * gateway's cluster.pd and backends.servers (pdaddr.h).
 */
#include "lightning/pdaddr.h"

#include <arpa/inet.h>
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

/* A host as compared: "4:"/"6:" + the address bytes in hex (IP literals), or "n:" + the
 * lowered name without one trailing dot. false: not a host (empty, a blank or a control
 * character inside, too long). */
static bool host_norm(const char *h, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	char buf[256];
	unsigned char a[16];
	size_t n = strlen(h);
	int alen = 0;

	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(buf) || n + 3 > outlen || outlen < 35)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] <= ' ' || h[i] == 0x7f)
			return false;
	memcpy(buf, h, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, a) == 1)
		alen = 4;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		alen = 16;
	if (alen) {
		out[0] = alen == 4 ? '4' : '6';
		out[1] = ':';
		for (int i = 0; i < alen; i++) {
			out[2 + 2 * i] = hex[a[i] >> 4];
			out[3 + 2 * i] = hex[a[i] & 15];
		}
		out[2 + 2 * alen] = '\0';
		return true;
	}
	if (n > 1 && buf[n - 1] == '.')
		buf[--n] = '\0';
	out[0] = 'n';
	out[1] = ':';
	for (size_t i = 0; i <= n; i++)
		out[2 + i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] + 32 : buf[i]);
	return true;
}

int ig_ltn_tidb_same(const char *host, long port, const char *const *servers, const int *ports, size_t n,
                     char *why, size_t whylen)
{
	char h[300], c[300];

	if (!host || !host_norm(host, h, sizeof(h))) {
		snprintf(why, whylen, "[tidb] host \"%.100s\" is not a host name or address: write the address of one "
		         "of the gateway's TiDB servers (backends.servers)", host ? host : "");
		return 0;
	}
	if (port <= 0 || port > 65535) {
		snprintf(why, whylen, "[tidb] port is %s: Lightning would ask TiDB (its status port) for the port, "
		         "which the gateway cannot check; set [tidb] port to the port of one of the gateway's "
		         "backends.servers", port == 0 ? "not set" : "out of range");
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (ports[i] == port && host_norm(servers[i], c, sizeof(c)) && strcmp(h, c) == 0) {
			snprintf(why, whylen, "[tidb] host %.100s port %ld is one of the gateway's TiDB servers "
			         "(backends.servers)", host, port);
			return 1;
		}
	snprintf(why, whylen, "[tidb] host \"%.100s\" port %ld is not one of the gateway's TiDB servers "
	         "(backends.servers): Lightning would take the schema and table IDs from another TiDB than the "
	         "cluster whose log backup tasks and changefeeds were checked (an unset host is Lightning's "
	         "default 127.0.0.1; write the address exactly as in backends.servers)", host, port);
	return 0;
}
