/*
 * covquery.c - parses the query string of GET /api/v1/coverage (see covquery.h).
 */
#include "proxy/covquery.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlparse/hexdigit.h"

/* Percent-decodes s[0..n) ('+' is a blank) into *out. -1 on a bad escape or a NUL byte
 * (*out NULL), -2 out of memory. */
static int decode(const char *s, size_t n, char **out)
{
	char *d = malloc(n + 1), *o = d;

	*out = NULL;
	if (!d)
		return -2;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] != '%') {
			*o++ = s[i];
		} else if (n - i >= 3 && sql_hex_digit(s[i + 1]) >= 0 && sql_hex_digit(s[i + 2]) >= 0 &&
		           (sql_hex_digit(s[i + 1]) | sql_hex_digit(s[i + 2])) != 0) {
			*o++ = (char)(sql_hex_digit(s[i + 1]) * 16 + sql_hex_digit(s[i + 2]));
			i += 2;
		} else {
			free(d);
			return -1;
		}
	}
	*o = '\0';
	*out = d;
	return 0;
}

/* One name at *p: `quoted` (`` is a backquote) or up to the next '.' or the end. */
static char *name_at(const char **p)
{
	const char *s = *p;
	size_t n = 0;
	char *out;

	if (*s != '`') {
		size_t len = strcspn(s, ".");
		*p = s + len;
		return len ? strndup(s, len) : NULL;
	}
	if (!(out = malloc(strlen(s) + 1)))
		return NULL;
	for (s++; *s; s++) {
		if (*s == '`' && s[1] != '`')
			break;
		if (*s == '`')
			s++;
		out[n++] = *s;
	}
	if (*s != '`' || n == 0) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	*p = s + 1;
	return out;
}

int ig_covquery_split_table(const char *s, char **db, char **table)
{
	const char *p = s;

	*db = *table = NULL;
	if (!(*db = name_at(&p)) || *p != '.' || (p++, !(*table = name_at(&p))) || *p) {
		free(*db);
		free(*table);
		*db = *table = NULL;
		return -1;
	}
	return 0;
}

void ig_covquery_free(ig_covquery *q)
{
	free(q->db);
	free(q->table);
	free(q->user);
	free(q->host);
	memset(q, 0, sizeof(*q));
}

/* The message names the parameter as sent, non-printable and non-ASCII bytes as '?'. */
static int fail(ig_covquery *q, char *err, size_t errlen, const char *msg, const char *name, size_t nlen)
{
	char shown[41];
	size_t n = nlen > 40 ? 40 : nlen;

	for (size_t i = 0; name && i < n; i++)
		shown[i] = name[i] > ' ' && name[i] < 0x7f ? name[i] : '?';
	shown[name ? n : 0] = '\0';
	ig_covquery_free(q);
	snprintf(err, errlen, "%s%s%s", msg, name ? ": " : "", shown);
	return -1;
}

/* Stores one parameter's decoded value into its slot. */
static int param(ig_covquery *q, const char *k, size_t kn, const char *v, size_t vn, char **table_text,
                 char *err, size_t errlen)
{
	char **slot = NULL, *d;
	int rc;

	if (kn == 5 && memcmp(k, "table", 5) == 0)
		slot = table_text;
	else if (kn == 4 && memcmp(k, "user", 4) == 0)
		slot = &q->user;
	else if (kn == 4 && memcmp(k, "host", 4) == 0)
		slot = &q->host;
	else
		return fail(q, err, errlen, "unknown parameter (table, user and host are known)", k, kn);
	if (*slot)
		return fail(q, err, errlen, "parameter given twice", k, kn);
	rc = decode(v, vn, &d);
	if (rc == -2)
		return fail(q, err, errlen, "out of memory", NULL, 0);
	if (rc < 0)
		return fail(q, err, errlen, "bad percent-encoding or a NUL byte in parameter", k, kn);
	*slot = d;
	return 0;
}

int ig_covquery_parse(const char *q, size_t len, ig_covquery *out, char *err, size_t errlen)
{
	char *table = NULL;
	const char *p = q ? q : "", *end = p + (q ? len : 0);

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		if (e > p) {
			const char *v = eq ? eq + 1 : e;
			if (param(out, p, (size_t)((eq ? eq : e) - p), v, (size_t)(e - v), &table, err, errlen) < 0) {
				free(table);
				return -1;
			}
		}
		p = e + (amp ? 1 : 0);
	}
	if (!table)
		return fail(out, err, errlen, "the table parameter is required (table=DB.TABLE)", NULL, 0);
	int rc = ig_covquery_split_table(table, &out->db, &out->table);
	free(table);
	if (rc < 0)
		return fail(out, err, errlen, "table must be DB.TABLE (backquote a name holding a dot)", NULL, 0);
	if ((!out->user && !(out->user = strdup(""))) || (!out->host && !(out->host = strdup(""))))
		return fail(out, err, errlen, "out of memory", NULL, 0);
	return 0;
}
