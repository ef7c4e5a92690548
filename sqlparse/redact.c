/*
 * redact.c - credential redaction for the audit log. sql_redact_uri parses a storage URI
 * (scheme://[user[:password]@]host/path?query#fragment) and replaces secrets with
 * "redacted": the password of the userinfo and the value of every query parameter whose
 * (percent-decoded, case-folded) name is a known credential or looks like one.
 * sql_redact_statement applies it to every string literal of a statement that looks like
 * a URI. Parsing, not pattern guessing: the query is split on '&' and '=' as a URI is.
 */
#include "sqlparse/lexer.h"
#include "sqlparse/sqlparse.h"
#include "sqlparse/strbuf.h"

#include <stdlib.h>
#include <string.h>

#define REDACTED "redacted"


static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Percent-decode and lower-case a parameter name into buf (truncated to bufsize-1). */
static void decode_name(const char *s, size_t n, char *buf, size_t bufsize)
{
	size_t i, k = 0;
	for (i = 0; i < n && k + 1 < bufsize; i++) {
		char c = s[i];
		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		buf[k++] = c;
	}
	buf[k] = 0;
}

/* Credential parameter names (exact) and name fragments that mark one. */
static bool is_secret_name(const char *name)
{
	static const char *const exact[] = {"access-key", "access_key", "secret-access-key", "secret_access_key",
	                                    "session-token", "sas-token", "account-key", "credentials-file", NULL};
	static const char *const parts[] = {"key", "token", "secret", "password", "passwd", "pwd",
	                                    "credential", "signature", "sig", NULL};
	size_t i;
	for (i = 0; exact[i]; i++)
		if (strcmp(name, exact[i]) == 0)
			return true;
	for (i = 0; parts[i]; i++)
		if (strstr(name, parts[i]))
			return true;
	return false;
}

static void redact_query(sql_sbuf *b, const char *q, size_t n)
{
	size_t i = 0;
	while (i <= n) {
		size_t e = i, eq;
		char name[128];
		while (e < n && q[e] != '&')
			e++;
		for (eq = i; eq < e && q[eq] != '='; eq++)
			;
		decode_name(q + i, eq - i, name, sizeof(name));
		if (eq < e && is_secret_name(name)) {
			sql_sb_put(b, q + i, eq + 1 - i);
			sql_sb_str(b, REDACTED);
		} else {
			sql_sb_put(b, q + i, e - i);
		}
		if (e < n)
			sql_sb_put(b, "&", 1);
		i = e + 1;
	}
}

/* Scheme per RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) followed by "://". */
static size_t scheme_len(const char *u, size_t len)
{
	size_t i = 0;
	if (len == 0 || !((u[0] | 0x20) >= 'a' && (u[0] | 0x20) <= 'z'))
		return 0;
	for (i = 1; i < len; i++) {
		char c = u[i];
		if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
		      c == '.'))
			break;
	}
	if (i + 3 <= len && memcmp(u + i, "://", 3) == 0)
		return i;
	return 0;
}

static void redact_authority(sql_sbuf *b, const char *a, size_t n)
{
	size_t at = n, colon;
	while (at > 0 && a[at - 1] != '@')
		at--;
	if (at == 0) {
		sql_sb_put(b, a, n);
		return;
	}
	at--; /* index of the last '@' */
	for (colon = 0; colon < at && a[colon] != ':'; colon++)
		;
	if (colon < at) {
		sql_sb_put(b, a, colon + 1); /* keep the user */
		sql_sb_str(b, REDACTED);
		sql_sb_put(b, a + at, n - at);
	} else {
		sql_sb_put(b, a, n);
	}
}

char *sql_redact_uri(const char *uri, size_t len)
{
	sql_sbuf b = {0};
	size_t sl, i, q, f;
	if (!uri)
		len = 0;
	sl = scheme_len(uri, len);
	i = 0;
	if (sl) {
		size_t a = sl + 3, ae = a;
		while (ae < len && uri[ae] != '/' && uri[ae] != '?' && uri[ae] != '#')
			ae++;
		sql_sb_put(&b, uri, a);
		redact_authority(&b, uri + a, ae - a);
		i = ae;
	}
	for (q = i; q < len && uri[q] != '?' && uri[q] != '#'; q++)
		;
	sql_sb_put(&b, uri + i, q - i);
	if (q < len && uri[q] == '?') {
		for (f = q + 1; f < len && uri[f] != '#'; f++)
			;
		sql_sb_put(&b, "?", 1);
		redact_query(&b, uri + q + 1, f - q - 1);
		q = f;
	}
	sql_sb_put(&b, uri + q, len - q);
	return sql_sb_done(&b);
}

static bool looks_like_uri(const char *s, size_t n)
{
	const char *qm;
	if (n >= 3 && memmem(s, n, "://", 3))
		return true;
	qm = memchr(s, '?', n);
	return qm && memchr(qm, '=', n - (size_t)(qm - s)) != NULL;
}

/* Re-quote a redacted value with the literal's own quote char. */
static void put_literal(sql_sbuf *b, const char *v, size_t n, char q)
{
	size_t i;
	sql_sb_put(b, &q, 1);
	for (i = 0; i < n; i++) {
		if (v[i] == q || v[i] == '\\')
			sql_sb_put(b, &v[i], 1); /* '' and \\ read back the same in both backslash modes for q */
		sql_sb_put(b, &v[i], 1);
	}
	sql_sb_put(b, &q, 1);
}

static void redact_tokens(sql_sbuf *b, const char *sql, size_t len, unsigned flags)
{
	sql_lexer lx;
	sql_token t;
	size_t pos = 0;
	sql_lex_init(&lx, sql, len, flags);
	while (!b->oom) {
		sql_tok_type ty = sql_lex_next(&lx, &t);
		size_t n;
		char *v, *r;
		if (ty == SQL_TOK_EOF || ty == SQL_TOK_ERROR)
			break;
		if (ty != SQL_TOK_STRING)
			continue;
		v = sql_tok_decode(sql, &t, flags, &n);
		if (!v) {
			b->oom = true;
			break;
		}
		r = looks_like_uri(v, n) ? sql_redact_uri(v, n) : NULL;
		if (r && (strlen(r) != n || memcmp(r, v, n) != 0)) {
			sql_sb_put(b, sql + pos, t.qoff - pos); /* up to the quote (keeps _charset / N) */
			put_literal(b, r, strlen(r), sql[t.qoff]);
			pos = t.off + t.len;
		}
		free(r);
		free(v);
	}
	sql_sb_put(b, sql + pos, len - pos);
}

char *sql_redact_statement(const char *sql, size_t len, unsigned flags)
{
	sql_sbuf b = {0};
	if (!sql)
		len = 0;
	redact_tokens(&b, sql, len, flags);
	/* A secret in a literal whose end depends on the server's backslash mode must not
	 * survive either reading: redact the result again under the other mode. */
	if (!b.oom && len && memchr(sql, '\\', len)) {
		sql_sbuf b2 = {0};
		size_t n1 = b.n;
		char *first = sql_sb_done(&b);
		if (!first)
			return NULL;
		redact_tokens(&b2, first, n1, flags ^ SQL_F_NO_BACKSLASH_ESCAPES);
		free(first);
		return sql_sb_done(&b2);
	}
	return sql_sb_done(&b);
}
