/*
 * version.c - parses TiDB version strings (config value and greeting server version).
 */
#include "policy/version.h"

#include <string.h>

static int num(const char *s, size_t len, size_t *i, int *out)
{
	long v = 0;
	size_t start = *i;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (s[*i] - '0');
		if (v > 100000)
			return -1;
		(*i)++;
	}
	if (*i == start)
		return -1;
	*out = (int)v;
	return 0;
}

static bool suffix_ok(const char *s, size_t len, size_t i)
{
	if (i == len)
		return true;
	if (s[i] != '-' || i + 1 == len)
		return false;
	for (i++; i < len; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '.' || c == '-' || c == '_' || c == '+'))
			return false;
	}
	return true;
}

int ig_tidb_version_parse(const char *s, size_t len, ig_tidb_version *out)
{
	size_t i = 0;
	ig_tidb_version v;

	out->major = out->minor = out->patch = -1;
	if (!s)
		return -1;
	if (i < len && (s[i] == 'v' || s[i] == 'V'))
		i++;
	if (num(s, len, &i, &v.major) < 0 || i >= len || s[i++] != '.' ||
	    num(s, len, &i, &v.minor) < 0 || i >= len || s[i++] != '.' ||
	    num(s, len, &i, &v.patch) < 0 || !suffix_ok(s, len, i))
		return -1;
	*out = v;
	return 0;
}

/*
 * TiDB X, the next-gen kernel, names itself "<mysql>-TiDB-CLOUD.YYYYMM.P[-pre]" from its
 * release vYY.MM.P (pingcap/tidb pkg/parser/mysql BuildTiDBXServerVersion, whose stored tests
 * expect "8.0.11-TiDB-CLOUD.202603.0": year 2025-2099, month 1-12; cmd/tidb-server
 * initVersions refuses a configured server-version on that kernel); TiDB Cloud's docs call
 * the kernel "TiDB-X-CLOUD.YYYYMM.x", so that spelling is taken too. The index after the
 * marker, 0 when s has none.
 */
static size_t tidbx_marker(const char *s, size_t len)
{
	static const char *const markers[] = {"-TiDB-X-CLOUD.", "-TiDB-CLOUD."};

	for (size_t m = 0; m < 2; m++) {
		const char *p = memmem(s, len, markers[m], strlen(markers[m]));
		if (p)
			return (size_t)(p - s) + strlen(markers[m]);
	}
	return 0;
}

bool ig_tidb_server_nextgen(const char *s, size_t len)
{
	return s && tidbx_marker(s, len) > 0;
}

/* "YYYYMM.P[-pre]" from s[i] on, read back as vYY.MM.P; out unchanged when not of that form. */
static void tidbx_version(const char *s, size_t len, size_t i, ig_tidb_version *out)
{
	int ym = 0, patch = 0;

	for (size_t k = 0; k < 6; k++, i++) {
		if (i >= len || s[i] < '0' || s[i] > '9')
			return;
		ym = ym * 10 + (s[i] - '0');
	}
	if (i >= len || s[i++] != '.' || num(s, len, &i, &patch) < 0 || !suffix_ok(s, len, i) ||
	    ym / 100 < 2025 || ym / 100 > 2099 || ym % 100 < 1 || ym % 100 > 12)
		return;
	out->major = ym / 100 - 2000;
	out->minor = ym % 100;
	out->patch = patch;
}

/* A release as TiDB writes it after "-TiDB-" or "Release Version: ": vX.Y.Z, cut at the first
 * '-' after major.minor.patch (v8.5.0-alpha-123-gabc is read as v8.5.0). */
static int release(const char *s, size_t len, ig_tidb_version *out)
{
	size_t end = len;
	int dots = 0;

	for (size_t j = 0; j < len; j++) {
		if (s[j] == '.')
			dots++;
		if (s[j] == '-' && dots >= 2) {
			end = j;
			break;
		}
	}
	return ig_tidb_version_parse(s, end, out);
}

int ig_tidb_version_from_server(const char *s, size_t len, ig_tidb_version *out)
{
	static const char marker[] = "-TiDB-";
	const char *p;
	size_t i;

	out->major = out->minor = out->patch = -1;
	if (!s)
		return -1;
	if ((i = tidbx_marker(s, len)) > 0) {
		tidbx_version(s, len, i, out);
		return 0;
	}
	p = memmem(s, len, marker, sizeof(marker) - 1);
	if (!p)
		return -1;
	i = (size_t)(p - s) + sizeof(marker) - 1;
	return release(s + i, len - i, out);
}

/* The value of the line "<key>: value" of a TIDB_VERSION() text, or NULL. */
static const char *info_line(const char *s, size_t len, const char *key, size_t *vlen)
{
	size_t kl = strlen(key);

	for (size_t at = 0; at < len;) {
		const char *nl = memchr(s + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - s) : len;
		if (end - at > kl + 1 && memcmp(s + at, key, kl) == 0 && s[at + kl] == ':' && s[at + kl + 1] == ' ') {
			*vlen = end - at - kl - 2;
			return s + at + kl + 2;
		}
		at = end + 1;
	}
	return NULL;
}

int ig_tidb_version_from_info(const char *s, size_t len, ig_tidb_version *out, bool *nextgen)
{
	static const char xrel[] = "CLOUD.";
	size_t rl = 0, kl = 0;
	const char *rel, *kind, *x;

	out->major = out->minor = out->patch = -1;
	*nextgen = false;
	if (!s || !(rel = info_line(s, len, "Release Version", &rl)))
		return -1;
	/*
	 * TiDB X: "Release Version: TiDB-X-CLOUD.202603.0" (BuildTiDBXReleaseVersion) and, on
	 * master since 2025-06, "Kernel Type: Next Generation" (classic: "Classic"). A kernel
	 * type the gateway does not know is taken as not classic.
	 */
	kind = info_line(s, len, "Kernel Type", &kl);
	if (kind && !(kl == 7 && memcmp(kind, "Classic", 7) == 0))
		*nextgen = true;
	x = memmem(rel, rl, xrel, sizeof(xrel) - 1);
	if (x) {
		*nextgen = true;
		tidbx_version(rel, rl, (size_t)(x - rel) + sizeof(xrel) - 1, out);
		return 0;
	}
	if (release(rel, rl, out) < 0)
		out->major = out->minor = out->patch = -1;
	return 0;
}

const char *ig_tidb_info_release(const char *s, size_t len, size_t *vlen)
{
	return s ? info_line(s, len, "Release Version", vlen) : NULL;
}

/* "vX.Y.Z" and nothing else: digits only, no pre-release or build suffix. */
static bool plain_release(const char *s, size_t len)
{
	int parts = 0;
	size_t i = 1;

	if (len < 6 || s[0] != 'v')
		return false;
	while (i < len) {
		size_t d = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d || ++parts > 3)
			return false;
		if (i < len && (s[i] != '.' || ++i == len))
			return false;
	}
	return parts == 3;
}

bool ig_tidb_info_names_release(const char *s, size_t len)
{
	ig_tidb_version v;
	bool nextgen;
	size_t rl = 0;
	const char *rel = ig_tidb_info_release(s, len, &rl);

	if (!rel || ig_tidb_version_from_info(s, len, &v, &nextgen) < 0 || nextgen)
		return false;
	return plain_release(rel, rl);
}

int ig_tidb_backend_identify(const char *greeting, const char *version, const char *info, ig_tidb_version *release,
                             bool *nextgen)
{
	ig_tidb_version iv;
	bool info_nextgen = false;
	int info_rc = info ? ig_tidb_version_from_info(info, strlen(info), &iv, &info_nextgen) : -1;
	const char *g = greeting ? greeting : "";

	*nextgen = ig_tidb_server_nextgen(g, strlen(g)) || (version && ig_tidb_server_nextgen(version, strlen(version))) ||
	           info_nextgen;
	if (!version)
		return ig_tidb_version_from_server(g, strlen(g), release);
	if (info_rc == 0 && iv.major >= 0) {
		*release = iv;
		return 0;
	}
	return ig_tidb_version_from_server(version, strlen(version), release) == 0 && release->major >= 0 ? 0 : -1;
}

bool ig_tidb_version_at_least(const ig_tidb_version *v, int major, int minor)
{
	if (!v || v->major < 0)
		return false;
	return v->major > major || (v->major == major && v->minor >= minor);
}
