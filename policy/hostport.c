/*
 * hostport.c - "host:port" and "[ipv6]:port" values of the config (listen addresses,
 * backends), validated strictly: host names of letters, digits, '.', '-', '_'; IPv6 in
 * brackets with an optional %zone; port 0-65535 (callers refuse 0 where it makes no sense).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/config.h"

static bool host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-' || ch == '_';
}

static bool v6_char(char ch)
{
	return (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') || (ch >= '0' && ch <= '9') ||
	       ch == ':' || ch == '.';
}

static int hp_fail(const char *s, char *err, size_t errlen, const char *why)
{
	/* "user:password@host:port" (a DSN habit) is not echoed: the error reaches the log, the
	 * audit log (admin.reload_refused) and the reload API's answer */
	if (errlen && s && strchr(s, '@'))
		snprintf(err, errlen, "bad host:port (not shown: it holds an '@', user information is never "
		         "written in the config): %s", why);
	else if (errlen)
		snprintf(err, errlen, "bad host:port \"%.100s\": %s", s ? s : "", why);
	return -1;
}

static int parse_port(const char *p, int *port)
{
	long v = 0;
	size_t n = 0;

	for (; p[n]; n++) {
		if (p[n] < '0' || p[n] > '9' || n >= 5)
			return -1;
		v = v * 10 + (p[n] - '0');
	}
	if (n == 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

int ig_hostport_parse(const char *s, ig_hostport *out, char *err, size_t errlen)
{
	const char *hs, *he, *colon;

	out->host = NULL;
	out->port = 0;
	if (!s || !*s)
		return hp_fail(s, err, errlen, "empty");
	if (s[0] == '[') {
		const char *zone;
		hs = s + 1;
		he = strchr(hs, ']');
		if (!he || he == hs || he[1] != ':')
			return hp_fail(s, err, errlen, "expected [ipv6]:port");
		colon = he + 1;
		zone = memchr(hs, '%', (size_t)(he - hs));
		for (const char *q = hs; q < (zone ? zone : he); q++)
			if (!v6_char(*q))
				return hp_fail(s, err, errlen, "bad character in IPv6 address");
		for (const char *q = zone ? zone + 1 : he; q < he; q++)
			if (!host_char(*q))
				return hp_fail(s, err, errlen, "bad character in IPv6 zone");
	} else {
		hs = s;
		colon = strrchr(s, ':');
		if (!colon)
			return hp_fail(s, err, errlen, "missing :port");
		if (memchr(s, ':', (size_t)(colon - s)))
			return hp_fail(s, err, errlen, "an IPv6 address must be in brackets, e.g. [::1]:4000");
		he = colon;
		if (he == hs)
			return hp_fail(s, err, errlen, "missing host (use 0.0.0.0 or [::] for all addresses)");
		for (const char *q = hs; q < he; q++)
			if (!host_char(*q))
				return hp_fail(s, err, errlen, "bad character in host name");
	}
	if (parse_port(colon + 1, &out->port) < 0)
		return hp_fail(s, err, errlen, "port must be a number from 0 to 65535");
	out->host = strndup(hs, (size_t)(he - hs));
	if (!out->host)
		return hp_fail(s, err, errlen, "out of memory");
	return 0;
}
