/*
 * pdaddr.h - whether a Lightning task imports into the gateway's cluster: the PD address
 * Lightning uses ([tidb] pd-addr) against the gateway's cluster.pd. PURE.
 * The comparison is by address (host:port, the scheme and a trailing path ignored, the host
 * case-insensitive): the same address is the same PD, so the same cluster; any other address
 * is refused, even an alias of the same cluster, because nothing here can prove it is one
 * (docs/LIGHTNING.md "Which cluster").
 */
#ifndef IMPORTGATE_LTN_PDADDR_H
#define IMPORTGATE_LTN_PDADDR_H

#include <stdbool.h>
#include <stddef.h>

/* 1 when every address of pd_addr (comma-separated) is one of cluster_pd's, 0 when not or
 * when pd_addr is NULL/empty (why: one line saying which address, or that Lightning would ask
 * TiDB). */
int ig_ltn_pd_same(const char *pd_addr, char *const *cluster_pd, size_t npd, char *why, size_t whylen);

/* host:port of an address (scheme, path and surrounding blanks dropped, host lowered) in out;
 * false when it is empty or longer than out. */
bool ig_ltn_pd_norm(const char *addr, size_t len, char *out, size_t outlen);

/* 1 when [tidb] host:port (port 0: unset) is one of the gateway's backends.servers, 0 when
 * not (why: one line). Hosts compare as addresses when they are IP literals (inet_pton: "::1"
 * is "0:0::1", brackets dropped), else as names (case and one trailing dot aside); a host that
 * is empty or holds a blank or a control character is refused (no server is named so).
 * Port unset: refused (Lightning
 * asks TiDB's status port for it, config.go CheckAndAdjustTiDBPort). An alias of a backend
 * (another name or address of the same server) is refused: nothing here can prove it is one. */
int ig_ltn_tidb_same(const char *host, long port, const char *const *servers, const int *ports, size_t n,
                     char *why, size_t whylen);

#endif
