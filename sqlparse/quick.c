/*
 * quick.c - the fast path: sql_quick_reject() tells, from the first keyword and the
 * absence of ';', that a text is a single statement of a kind the gateway never acts on.
 * Why it is safe: a statement's kind is fixed by its first token; when the text begins
 * (after whitespace) with a plain keyword followed by a byte that cannot continue a word,
 * that keyword is the first token under every lexical mode, and without a ';' byte there
 * is no second statement anywhere (strings, comments or executable comments included).
 * The classifier calls any statement with an IMPORT INTO keyword pair an import, whatever
 * its first keyword (none of these can run one, but the rule is fail-closed), so a text
 * holding the letters "import" anywhere takes the full path too.
 */
#include "sqlparse/sqlparse.h"

#include <stdint.h>
#include <string.h>

enum qr_kw { QR_NONE, QR_PLAIN, QR_SET, QR_SHOW };

static int is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '$' || c >= 0x80;
}

static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Upper-case word [p, p+n) compared with kw (upper case, length n). */
static int word_is(const char *p, size_t n, const char *kw)
{
	size_t i;
	for (i = 0; i < n; i++)
		if ((unsigned char)(p[i] & ~0x20) != (unsigned char)kw[i])
			return 0;
	return kw[n] == 0;
}

static enum qr_kw classify_word(const char *p, size_t n)
{
	switch (p[0] & ~0x20) {
	case 'S':
		if (n == 6 && word_is(p, n, "SELECT"))
			return QR_PLAIN;
		if (n == 5 && word_is(p, n, "START"))
			return QR_PLAIN;
		if (n == 9 && word_is(p, n, "SAVEPOINT"))
			return QR_PLAIN;
		if (n == 3 && word_is(p, n, "SET"))
			return QR_SET;
		if (n == 4 && word_is(p, n, "SHOW"))
			return QR_SHOW;
		return QR_NONE;
	case 'I':
		return (n == 6 && word_is(p, n, "INSERT")) ? QR_PLAIN : QR_NONE;
	case 'U':
		return (n == 6 && word_is(p, n, "UPDATE")) ? QR_PLAIN : QR_NONE;
	case 'D':
		if (n == 6 && word_is(p, n, "DELETE"))
			return QR_PLAIN;
		return (n == 2 && word_is(p, n, "DO")) ? QR_PLAIN : QR_NONE;
	case 'R':
		if (n == 7 && word_is(p, n, "REPLACE"))
			return QR_PLAIN;
		if (n == 8 && word_is(p, n, "ROLLBACK"))
			return QR_PLAIN;
		return (n == 7 && word_is(p, n, "RELEASE")) ? QR_PLAIN : QR_NONE;
	case 'B':
		return (n == 5 && word_is(p, n, "BEGIN")) ? QR_PLAIN : QR_NONE;
	case 'C':
		if (n == 6 && word_is(p, n, "COMMIT"))
			return QR_PLAIN;
		return (n == 4 && word_is(p, n, "CALL")) ? QR_PLAIN : QR_NONE;
	case 'E':
		/* EXECUTE runs a statement already decided at PREPARE time */
		return (n == 7 && word_is(p, n, "EXECUTE")) ? QR_PLAIN : QR_NONE;
	default:
		return QR_NONE;
	}
}

/* Case-insensitive search for "sql_mode" (the only way a SET can change lexing), driven by
 * memchr on its '_'. */
static int has_sql_mode(const char *s, size_t len)
{
	const char *p = s, *e = s + len;
	while ((p = memchr(p, '_', (size_t)(e - p))) != NULL) {
		if (p - s >= 3 && e - p >= 5 && (p[-3] | 0x20) == 's' && (p[-2] | 0x20) == 'q' && (p[-1] | 0x20) == 'l' &&
		    (p[1] | 0x20) == 'm' && (p[2] | 0x20) == 'o' && (p[3] | 0x20) == 'd' && (p[4] | 0x20) == 'e')
			return 1;
		p++;
	}
	return 0;
}

/* Case-insensitive "session_states" (TiDB's SET SESSION_STATES restores prepared statements
 * and the current database: never plain), driven by memchr on its '_'. */
static int has_session_states(const char *s, size_t len)
{
	const char *p = s, *e = s + len;
	while ((p = memchr(p, '_', (size_t)(e - p))) != NULL) {
		if (p - s >= 7 && e - p >= 7 && word_is(p - 7, 7, "SESSION") && word_is(p + 1, 6, "STATES"))
			return 1;
		p++;
	}
	return 0;
}

/* SHOW is plain unless its next word is IMPORT (or anything we cannot read cheaply). */
static int show_is_plain(const char *s, size_t len, size_t i)
{
	size_t w;
	while (i < len && is_blank((unsigned char)s[i]))
		i++;
	/* a comment or quote after SHOW, or a byte >= 0x80 (0x85/0xA0 are blanks to TiDB):
	 * take the full path */
	if (i >= len || !is_word_byte((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80)
		return i >= len;
	for (w = i; w < len && is_word_byte((unsigned char)s[w]); w++)
		;
	return !(w - i == 6 && word_is(s + i, 6, "IMPORT"));
}

/* "mport" (any case) after an 'i'/'I', with its 'p' at s[i]. */
static int import_at(const char *s, size_t len, size_t i)
{
	return i >= 2 && i + 3 < len && (s[i - 2] | 0x20) == 'i' && (s[i - 1] | 0x20) == 'm' && (s[i + 1] | 0x20) == 'o' &&
	       (s[i + 2] | 0x20) == 'r' && (s[i + 3] | 0x20) == 't';
}

/* Case-insensitive "import" anywhere, driven by memchr on 'p' and on 'P' (rare letters
 * in OLTP text, and memchr is vectorised). */
static int has_import(const char *s, size_t len)
{
	static const char ps[2] = {'p', 'P'};
	size_t k;
	for (k = 0; k < 2; k++) {
		const char *p = s, *e = s + len;
		while (p < e && (p = memchr(p, ps[k], (size_t)(e - p))) != NULL) {
			if (import_at(s, len, (size_t)(p - s)))
				return 1;
			p++;
		}
	}
	return 0;
}

int sql_quick_reject(const char *sql, size_t len)
{
	size_t i = 0, w;
	enum qr_kw k;
	if (!sql)
		return 0;
	while (i < len && is_blank((unsigned char)sql[i]))
		i++;
	for (w = i; w < len && w - i < 10 && is_word_byte((unsigned char)sql[w]); w++)
		;
	if (w == i || (w < len && is_word_byte((unsigned char)sql[w])))
		return 0;
	k = classify_word(sql + i, w - i);
	if (k == QR_NONE)
		return 0;
	if (memchr(sql + w, ';', len - w) != NULL)
		return 0;
	if (k == QR_SET && (has_sql_mode(sql + w, len - w) || has_session_states(sql + w, len - w)))
		return 0;
	if (has_import(sql + w, len - w))
		return 0;
	if (k == QR_SHOW && !show_is_plain(sql, len, w))
		return 0;
	return 1;
}
