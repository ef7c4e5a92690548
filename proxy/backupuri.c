/*
 * backupuri.c - fills in obligations.backup_uri for BACKUP TABLE (see backupuri.h for why
 * database and table names are percent-encoded twice).
 */
#include "proxy/backupuri.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
	char *p;
	size_t n, cap;
	bool oom;
} out;

static void put(out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->n + n + 1 > o->cap) {
		size_t c = o->cap ? o->cap : 64;
		char *g;
		while (c < o->n + n + 1)
			c *= 2;
		if (!(g = realloc(o->p, c))) {
			o->oom = true;
			return;
		}
		o->p = g;
		o->cap = c;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = 0;
}

static bool unreserved(unsigned char c)
{
	/* RFC 3986 unreserved minus '.': a name "." or ".." would be a relative path segment
	 * to a local:// or hdfs:// target */
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '~';
}

/* One level of percent-encoding of s into o. */
static void pct(out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c)) {
			put(o, (const char *)&s[i], 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			put(o, e, 3);
		}
	}
}

static void name(out *o, const char *s)
{
	out once = {0};
	if (!s)
		return;
	pct(&once, s, strlen(s));
	if (once.oom)
		o->oom = true;
	else if (once.p)
		pct(o, once.p, once.n);
	free(once.p);
}

char *ig_backup_uri(const char *tmpl, const char *db, const char *table, const char *job_id, const char *id,
                    const char *date)
{
	out o = {0};
	const char *t = tmpl ? tmpl : "";
	put(&o, "", 0);
	if (!o.p && !o.oom) {
		o.p = malloc(1);
		if (o.p)
			o.p[0] = 0;
		else
			o.oom = true;
	}
	while (*t && !o.oom) {
		if (strncmp(t, "{db}", 4) == 0) {
			name(&o, db);
			t += 4;
		} else if (strncmp(t, "{table}", 7) == 0) {
			name(&o, table);
			t += 7;
		} else if (strncmp(t, "{job_id}", 8) == 0) {
			put(&o, job_id ? job_id : "", job_id ? strlen(job_id) : 0);
			t += 8;
		} else if (strncmp(t, "{date}", 6) == 0) {
			put(&o, date ? date : "", date ? strlen(date) : 0);
			t += 6;
		} else if (strncmp(t, "{id}", 4) == 0) {
			put(&o, id ? id : "", id ? strlen(id) : 0);
			t += 4;
		} else {
			put(&o, t++, 1);
		}
	}
	if (o.oom) {
		free(o.p);
		return NULL;
	}
	return o.p;
}
