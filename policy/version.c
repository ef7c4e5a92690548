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

int ig_tidb_version_from_server(const char *s, size_t len, ig_tidb_version *out)
{
	static const char marker[] = "-TiDB-";
	const char *p;
	size_t i, end;

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
	/* the version runs to the next '-' after major.minor.patch, e.g. v8.5.0-alpha-123 */
	end = len;
	{
		int dots = 0;
		for (size_t j = i; j < len; j++) {
			if (s[j] == '.')
				dots++;
			if (s[j] == '-' && dots >= 2) {
				end = j;
				break;
			}
		}
	}
	return ig_tidb_version_parse(s + i, end - i, out);
}

bool ig_tidb_version_at_least(const ig_tidb_version *v, int major, int minor)
{
	if (!v || v->major < 0)
		return false;
	return v->major > major || (v->major == major && v->minor >= minor);
}
