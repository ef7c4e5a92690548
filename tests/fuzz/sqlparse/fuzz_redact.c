/*
 * fuzz_redact.c - libFuzzer target for the redactor. The first two bytes select the
 * reading (every SQL_F_* combination) and how a planted secret is built; the rest is both
 * raw input and the material of a location. Checks:
 * - sql_redact_uri, sql_redact_statement (under the selected flags) and sql_redact_text
 *   produce results; URI redaction is idempotent;
 * - a planted secret never survives: an IMPORT INTO statement is built around a random
 *   location that holds MARKER as the value of a credential parameter (every BR name, in a
 *   random spelling BR folds to it: case, '_', percent-encoding, U+212A/U+0130), quoted in
 *   a random style (', ", N'', _utf8mb4'', adjacent literals split at random points with
 *   comments and newlines between); MARKER must be absent from the statement's redaction
 *   under the selected flags, from sql_redact_text of the statement, and from
 *   sql_redact_uri of the location.
 */
#include "fuzz_common.h"
#include "sqlparse/sqlparse.h"

#include <string.h>

#define MARKER "ZQXJMARKERZQXJ"

static const char *const names[] = {"access-key", "secret-access-key", "session-token", "external-id",
                                    "credentials-file", "account-key", "sas-token", "encryption-key"};

typedef struct buf {
	char b[8192];
	size_t n;
} buf;

static void put(buf *o, const char *s, size_t n)
{
	if (o->n + n < sizeof o->b) {
		memcpy(o->b + o->n, s, n);
		o->n += n;
	}
}

static void puts_(buf *o, const char *s)
{
	put(o, s, strlen(s));
}

/* name in a spelling BR folds to it (sel picks it) */
static void spell(buf *o, const char *name, unsigned sel)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; name[i]; i++) {
		unsigned char c = (unsigned char)name[i];
		unsigned m = (sel >> (i % 8)) & 1u;
		switch (sel % 5) {
		case 1: /* upper-case some */
			c = m && c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c;
			put(o, (char *)&c, 1);
			break;
		case 2: /* '_' for '-' */
			put(o, c == '-' ? "_" : (char *)&c, 1);
			break;
		case 3: /* percent-encode some */
			if (m) {
				char e[3] = {'%', hex[c >> 4], hex[c & 15]};
				put(o, e, 3);
			} else {
				put(o, (char *)&c, 1);
			}
			break;
		case 4: /* Go's non-ASCII folds */
			if (c == 'k')
				puts_(o, m ? "\xe2\x84\xaa" : "%E2%84%AA");
			else if (c == 'i')
				puts_(o, "\xc4\xb0");
			else
				put(o, (char *)&c, 1);
			break;
		default:
			put(o, (char *)&c, 1);
		}
	}
}

/* The location's bytes as one or more adjacent literals in the chosen style. */
static void quote(buf *o, const char *v, size_t n, unsigned style, const uint8_t *cuts, size_t ncuts)
{
	static const char *const seps[] = {" ", "\n", " /* c */ ", " -- c\n", "#c\n", "\t\r\n"};
	char q = (style & 1) ? '"' : '\'';
	size_t start = 0;
	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? start + cuts[k] % 8 : n;
		if (end > n)
			end = n;
		if (k > 0)
			puts_(o, seps[cuts[k - 1] % 6]);
		if (k == 0 && (style & 6) == 2)
			puts_(o, "N");
		else if (k == 0 && (style & 6) == 4)
			puts_(o, "_utf8mb4");
		put(o, &q, 1);
		for (size_t i = start; i < end; i++) {
			if (v[i] == q || v[i] == '\\')
				put(o, &v[i], 1);
			put(o, &v[i], 1);
		}
		put(o, &q, 1);
		start = end;
		if (start >= n)
			break;
	}
}

static void planted(const uint8_t *d, size_t n, unsigned sel, unsigned flags)
{
	buf loc = {.n = 0}, st = {.n = 0};
	size_t half = n / 2, ncuts = (sel >> 8) % 4;
	char *r;
	if (n > 512)
		n = 512, half = 256;
	if (memmem(d, n, "MARKER", 6)) /* the input spells the marker itself: not a planted secret */
		return;
	puts_(&loc, "s3://b/");
	put(&loc, (const char *)d, half);
	puts_(&loc, "?");
	spell(&loc, names[sel % (sizeof names / sizeof names[0])], sel >> 3);
	puts_(&loc, "=" MARKER "&");
	put(&loc, (const char *)d + half, n - half);

	puts_(&st, "IMPORT INTO t FROM ");
	quote(&st, loc.b, loc.n, sel >> 4, d, ncuts < n ? ncuts : 0);
	puts_(&st, " WITH THREAD=1");

	r = sql_redact_statement(st.b, st.n, flags);
	FUZZ_CHECK(r != NULL);
	FUZZ_CHECK(strstr(r, MARKER) == NULL);
	free(r);
	r = sql_redact_text(st.b, st.n);
	FUZZ_CHECK(r != NULL);
	/* free text is not lexed as SQL: an escaped quote ('' or \') inside a split literal
	 * cannot be told from a literal's end there, so the property is checked for locations
	 * without quote or backslash bytes (the statement redactor above covers the rest) */
	if (!memchr(loc.b, '\'', loc.n) && !memchr(loc.b, '"', loc.n) && !memchr(loc.b, '`', loc.n) &&
	    !memchr(loc.b, '\\', loc.n) && !memchr(loc.b, 0, loc.n))
		FUZZ_CHECK(memmem(r, strlen(r), MARKER, strlen(MARKER)) == NULL);
	free(r);
	r = sql_redact_uri(loc.b, loc.n);
	FUZZ_CHECK(r != NULL);
	FUZZ_CHECK(strstr(r, MARKER) == NULL);
	free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s;
	char *u, *u2, *st;
	unsigned flags, sel;
	if (size < 3)
		return 0;
	flags = (data[0] | (unsigned)data[1] << 8) & 2047u;
	sel = data[2] | (unsigned)(size > 3 ? data[3] : 0) << 8;
	s = (const char *)data + 3;
	size -= 3;
	u = sql_redact_uri(s, size);
	FUZZ_CHECK(u != NULL);
	if (memchr(s, 0, size) == NULL) {
		u2 = sql_redact_uri(u, strlen(u));
		FUZZ_CHECK(u2 != NULL);
		FUZZ_CHECK(strcmp(u, u2) == 0);
		free(u2);
	}
	free(u);
	st = sql_redact_statement(s, size, flags);
	FUZZ_CHECK(st != NULL);
	free(st);
	st = sql_redact_text(s, size);
	FUZZ_CHECK(st != NULL);
	free(st);
	planted((const uint8_t *)s, size, sel, flags);
	return 0;
}
