/*
 * version.c - parses TiDB version strings (config value and greeting server version).
 */
#include "policy/version.h"

#include <string.h>
#include <strings.h>

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

/* s[i] starts a suffix ("-alpha", "-beta.1", "-rc-3-g1c2d"): whether it names a
 * pre-release. "-nightly" and build metadata do not: a nightly is named after its base. */
static bool prerelease_suffix(const char *s, size_t len, size_t i)
{
	static const char *const tags[] = {"alpha", "beta", "rc"};

	if (i >= len || s[i] != '-')
		return false;
	for (size_t k = 0; k < sizeof(tags) / sizeof(tags[0]); k++) {
		size_t n = strlen(tags[k]);
		if (len - i - 1 >= n && strncasecmp(s + i + 1, tags[k], n) == 0)
			return true;
	}
	return false;
}

int ig_tidb_version_parse(const char *s, size_t len, ig_tidb_version *out)
{
	size_t i = 0;
	ig_tidb_version v = {.prerelease = false};

	out->major = out->minor = out->patch = -1;
	out->prerelease = false;
	if (!s)
		return -1;
	if (i < len && (s[i] == 'v' || s[i] == 'V'))
		i++;
	if (num(s, len, &i, &v.major) < 0 || i >= len || s[i++] != '.' ||
	    num(s, len, &i, &v.minor) < 0 || i >= len || s[i++] != '.' ||
	    num(s, len, &i, &v.patch) < 0 || !suffix_ok(s, len, i))
		return -1;
	v.prerelease = prerelease_suffix(s, len, i);
	*out = v;
	return 0;
}

int ig_tidb_version_from_server(const char *s, size_t len, ig_tidb_version *out)
{
	static const char marker[] = "-TiDB-";
	const char *p;
	size_t i, end;

	out->major = out->minor = out->patch = -1;
	out->prerelease = false;
	if (!s)
		return -1;
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
	if (ig_tidb_version_parse(s + i, end - i, out) < 0)
		return -1;
	out->prerelease = prerelease_suffix(s, len, end);
	return 0;
}

bool ig_tidb_version_at_least(const ig_tidb_version *v, int major, int minor)
{
	if (!v || v->major < 0)
		return false;
	if (v->major == major && v->minor == minor && v->patch == 0 && v->prerelease)
		return false;
	return v->major > major || (v->major == major && v->minor >= minor);
}
