/*
 * version.h - TiDB version numbers: the config's backends.tidb_version ("v8.5.0") and the
 * server version a TiDB greeting carries ("8.0.11-TiDB-v8.5.0"). Pure parsing.
 */
#ifndef IMPORTGATE_VERSION_H
#define IMPORTGATE_VERSION_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ig_tidb_version {
	int major, minor, patch; /* major < 0: unknown / not TiDB */
} ig_tidb_version;

/* "v8.5.0" or "8.5.0", optionally followed by "-suffix" (e.g. -alpha, -nightly).
 * Returns 0, or -1 when it is not such a version. */
int ig_tidb_version_parse(const char *s, size_t len, ig_tidb_version *out);
/* A MySQL greeting's server version: "8.0.11-TiDB-v8.5.0[-...]" -> 8.5.0; TiDB X's
 * "8.0.11-TiDB-X-CLOUD.202603.1" -> 26.3.1 (major -1 when its numbers are not of that form,
 * still 0: the server is TiDB). Returns 0, or -1 (out->major = -1) when the server is not TiDB. */
int ig_tidb_version_from_server(const char *s, size_t len, ig_tidb_version *out);
/* Does the greeting's server version name TiDB X, the next-gen kernel (keyspaces only:
 * docs/TIDB_VERSIONS.md, "Keyspace clusters")? */
bool ig_tidb_server_nextgen(const char *s, size_t len);
/*
 * TIDB_VERSION()'s text (pingcap/tidb pkg/util/printer GetTiDBInfo, v7.5 to master):
 * "Release Version: v8.5.1\nEdition: Community\n...[\nKernel Type: Classic]". The release
 * is read as the greeting's is (major -1 when it is not a version, e.g. a build's "None");
 * *nextgen when it names TiDB X ("Release Version: TiDB-X-CLOUD.202603.0") or the kernel
 * type is anything but "Classic". Unlike the greeting and @@version, this text does not
 * change with TiDB's `server-version` setting, and a proxy in between (TiProxy) does not
 * replace it. Returns 0, or -1 (out->major = -1) when s has no "Release Version" line.
 */
int ig_tidb_version_from_info(const char *s, size_t len, ig_tidb_version *out, bool *nextgen);
/* The value of TIDB_VERSION()'s "Release Version: " line (*vlen bytes, up to the line's end),
 * or NULL when s has none. */
const char *ig_tidb_info_release(const char *s, size_t len, size_t *vlen);
/*
 * Does TIDB_VERSION()'s text name a released classic TiDB: a "Release Version" of exactly
 * vX.Y.Z (no pre-release, no build suffix: a next-gen build of master before v26.3 says
 * "v9.0.0-beta.2..." and only later ones add a Kernel Type line) and a Kernel Type, if any,
 * of "Classic"? What the Lightning preflight needs before it calls skipping Lightning's own
 * check safe (proxy/ltn_preflight.c).
 */
bool ig_tidb_info_names_release(const char *s, size_t len);
/*
 * Which TiDB a backend is, from what it said of itself: its greeting and, when a probe asked
 * on the session (version non-NULL), @@version and TIDB_VERSION() (info; NULL when not asked).
 * *nextgen when any of them names TiDB X. *release: with the probe's answer, TIDB_VERSION()'s
 * release, else @@version's (the greeting is then not used: a proxy in between, TiProxy,
 * writes it); without it, the greeting's. Returns 0 when that decides the release (major may
 * still be -1: a TiDB X greeting whose numbers are not of its form), -1 when the caller falls
 * back to its configured version (docs/TIDB_VERSIONS.md, "Which TiDB answers").
 */
int ig_tidb_backend_identify(const char *greeting, const char *version, const char *info, ig_tidb_version *release,
                             bool *nextgen);
/* a >= major.minor.0 */
bool ig_tidb_version_at_least(const ig_tidb_version *v, int major, int minor);

#endif
