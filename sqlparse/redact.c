/*
 * redact.c - credential redaction for the audit log and the gateway log.
 *
 * sql_redact_uri parses a storage URI the way BR does and replaces secrets with
 * "redacted": the password of user:password@, and the value of every query parameter whose
 * name, folded exactly as BR folds it, is a credential (or is named like one).
 * sql_redact_statement redacts the string literals of a statement, joined as the server
 * joins adjacent literals, and fails closed: when the server's possible readings of the
 * text (sql_mode quoting, client charset, executable comments) disagree about where the
 * literals are, or a literal does not end, everything from there on is withheld; it also
 * withholds the passwords of account statements and redacts comments as free text.
 * sql_redact_text redacts free text (backend error messages that may echo a statement).
 *
 * How BR reads a location (pingcap/tidb br/pkg/storage/parse.go, v7.5.0 .. master):
 * ParseRawURL replaces every '+' by "%2B" and calls Go's url.Parse (the fragment is cut
 * at the first '#', the query at the first '?'); ExtractQueryParameters reads u.Query()
 * (net/url ParseQuery: pairs split on '&', name and value QueryUnescape'd; Go < 1.17
 * also split on ';', later Go drops a pair holding ';') and normalises each name with
 * strings.ToLower(strings.ReplaceAll(name, "_", "-")) before looking it up among the
 * option structs' json tags. Go's ToLower maps runes by unicode.ToLower (simple case
 * mapping, unicode/tables.go _CaseRanges): besides A-Z exactly two runes lower-case to
 * ASCII, U+0130 (-> 'i', delta -199) and U+212A KELVIN SIGN (-> 'k', delta -8383).
 */
#include "sqlparse/b64digit.h"
#include "sqlparse/hexdigit.h"
#include "sqlparse/lexer.h"
#include "sqlparse/sqlparse.h"
#include "sqlparse/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDACTED "redacted"
/* A literal group longer than this (raw bytes) is withheld whole instead of decoded: no
 * location is that long, and it bounds the memory one record can take. */
#define MAX_GROUP_BYTES 65536

/* ---- names ---- */

/* Percent-decodes name bytes (a bad escape is kept as it is: Go would drop the pair, and
 * keeping it cannot make a credential look harmless). plus_space: '+' reads as ' ' (Go's
 * QueryUnescape; BR itself turns '+' into "%2B" first, so both readings are checked). */
static size_t pct_decode(const char *s, size_t n, char *out, size_t cap, bool plus_space)
{
	size_t i, k = 0;
	for (i = 0; i < n && k < cap; i++) {
		char c = s[i];
		if (c == '%' && i + 2 < n && sql_hex_digit(s[i + 1]) >= 0 && sql_hex_digit(s[i + 2]) >= 0) {
			c = (char)(sql_hex_digit(s[i + 1]) * 16 + sql_hex_digit(s[i + 2]));
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		out[k++] = c;
	}
	return k;
}

/* strings.ToLower(strings.ReplaceAll(name, "_", "-")) for the runes that matter: ASCII,
 * U+0130 (C4 B0) and U+212A (E2 84 AA); other bytes are kept (they never fold to ASCII). */
static void go_fold(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, k = 0;
	for (i = 0; i < n && k + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0xc4 && i + 1 < n && (unsigned char)s[i + 1] == 0xb0) {
			out[k++] = 'i';
			i++;
		} else if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x84 && (unsigned char)s[i + 2] == 0xaa) {
			out[k++] = 'k';
			i += 2;
		} else if (c == '_') {
			out[k++] = '-';
		} else {
			out[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
	}
	out[k] = 0;
}

/* Folded names of every parameter that carries a credential in BR's option structs
 * (br/pkg/storage s3.go S3BackendOptions, gcs.go GCSBackendOptions, azblob.go
 * AzblobBackendOptions; ks3 reads the s3 options), and name fragments that mark one. */
static bool folded_is_secret(const char *name)
{
	static const char *const exact[] = {"access-key", "secret-access-key", "session-token", "external-id",
	                                    "credentials-file", "account-key", "sas-token", "encryption-key",
	                                    "sse-kms-key-id", "sse-customer-key", "credentials-blob", NULL};
	static const char *const parts[] = {"key", "token", "secret", "password", "passwd", "pwd",
	                                    "credential", "signature", "sig", "auth", NULL};
	size_t i;
	for (i = 0; exact[i]; i++)
		if (strcmp(name, exact[i]) == 0)
			return true;
	for (i = 0; parts[i]; i++)
		if (strstr(name, parts[i]))
			return true;
	return false;
}

bool sql_redact_is_secret_name(const char *name, size_t len)
{
	char dec[256], fold[256];
	int plus;
	if (!name)
		return false;
	for (plus = 0; plus < 2; plus++) {
		size_t k = pct_decode(name, len, dec, sizeof(dec), plus == 1);
		go_fold(dec, k, fold, sizeof(fold));
		if (folded_is_secret(fold))
			return true;
		/* a name longer than the buffer: judge its start too (fail closed on the tail) */
	}
	return false;
}

/* ---- free text: name=value pairs anywhere ---- */

static bool name_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '%' || c == '+' || c == '.' || c >= 0x80;
}

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_quote(unsigned char c)
{
	return c == '\'' || c == '"' || c == '`';
}

/* The closing quote of the quoted run that starts at q - with a backslash escaping the next
 * byte when `escapes`, else the first matching quote - or n when it is not closed. Free text
 * does not say which reading holds (JSON escapes, SQL under NO_BACKSLASH_ESCAPES, a Windows
 * path 'C:\'), so callers compare both. */
static size_t closing_quote(const char *s, size_t n, size_t q, bool escapes)
{
	size_t e = q + 1;
	while (e < n && s[e] != s[q])
		e += escapes && s[e] == '\\' && e + 1 < n ? 2 : 1;
	return e < n ? e : n;
}

/* End of a value starting at v: up to '&', a blank, a quote or the end; a value that opens
 * with a quote runs to its closing quote (or the end) under whichever reading (backslash
 * escapes or not) ends later: withheld, the longer is safe (attack20: "ab\" PLANTED"). */
static size_t value_end(const char *s, size_t n, size_t v)
{
	if (v < n && is_quote((unsigned char)s[v])) {
		size_t a = closing_quote(s, n, v, false), b = closing_quote(s, n, v, true);
		size_t e = a > b ? a : b;
		return e < n ? e + 1 : n;
	}
	while (v < n && s[v] != '&' && !is_blank((unsigned char)s[v]) && !is_quote((unsigned char)s[v]))
		v++;
	return v;
}

/* An HTTP authorization scheme word ("Authorization: Bearer <token>"): the credential is the
 * word after it, so the value runs on to the end of that word. */
static size_t auth_scheme_end(const char *s, size_t n, size_t v, size_t e)
{
	static const char *const schemes[] = {"BEARER", "BASIC", "DIGEST", "TOKEN", "NEGOTIATE", "AWS4-HMAC-SHA256",
	                                      NULL};
	for (size_t k = 0; schemes[k]; k++)
		if (sql_ieq(s + v, e - v, schemes[k]) && e < n && (s[e] == ' ' || s[e] == '\t')) {
			while (e < n && (s[e] == ' ' || s[e] == '\t'))
				e++;
			return value_end(s, n, e);
		}
	return e;
}

/* Copies s to b with the value of every credential name=value (and, when colon, i.e. in free
 * text: name:value, name: value as protobuf text and logs print them, and name = value with
 * blanks around the mark; a quoted name as JSON and Python print one, "name": "value", and
 * Ruby's/Perl's name => value) replaced by "redacted". */
static void redact_pairs(sql_sbuf *b, const char *s, size_t n, bool colon)
{
	size_t i = 0, out = 0;
	while (i < n) {
		size_t ns, ne, v;
		if (!name_byte((unsigned char)s[i])) {
			i++;
			continue;
		}
		ns = i;
		while (i < n && name_byte((unsigned char)s[i]))
			i++;
		ne = i;
		/* a quoted name ("name": ...): the closing quote belongs to the name */
		if (colon && i < n && is_quote((unsigned char)s[i]) && ns > 0 && s[ns - 1] == s[i])
			i++;
		/* free text is written for people too: blanks may stand around the '=' or ':' */
		if (colon)
			while (i < n && (s[i] == ' ' || s[i] == '\t'))
				i++;
		if (i >= n || !(s[i] == '=' || (colon && s[i] == ':' && !(i + 2 < n && s[i + 1] == '/' && s[i + 2] == '/'))))
			continue;
		if (!sql_redact_is_secret_name(s + ns, ne - ns))
			continue;
		v = i + 1;
		if (colon && v < n && s[i] == '=' && s[v] == '>')
			v++; /* name => value */
		if (colon)
			while (v < n && (s[v] == ' ' || s[v] == '\t'))
				v++;
		sql_sb_put(b, s + out, v - out);
		sql_sb_str(b, REDACTED);
		if (colon) {
			i = out = auth_scheme_end(s, n, v, value_end(s, n, v));
		} else { /* in a URI a value runs to the next '&' (blanks and quotes included) */
			for (i = v; i < n && s[i] != '&'; i++)
				;
			out = i;
		}
	}
	sql_sb_put(b, s + out, n - out);
}

/* ---- URIs ---- */

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

/*
 * Where the authority of the URI t[start, end) ends. url.Parse ends it at the first '/',
 * '?' or '#', but a user name or password may hold those bytes ("AKID:wJal/rXUt@bucket";
 * AWS secret keys often hold '/'): when an '@' comes after that cut and a ':' before the
 * '@', the authority is taken to run to the host after the last '@', so that everything
 * from that ':' to the '@' is redacted (fail closed: a port, or a ':' in the path, followed
 * by an '@' further on loses the bytes between them to the redaction).
 */
static size_t authority_end(const char *t, size_t start, size_t end)
{
	size_t ae = start, at = end, colon = start;

	while (ae < end && t[ae] != '/' && t[ae] != '?' && t[ae] != '#')
		ae++;
	for (size_t i = start; i < end; i++)
		if (t[i] == '@')
			at = i;
	if (at == end || at < ae)
		return ae;
	while (colon < at && t[colon] != ':')
		colon++;
	if (colon == at)
		return ae;
	for (ae = at + 1; ae < end && t[ae] != '/' && t[ae] != '?' && t[ae] != '#'; ae++)
		;
	return ae;
}

/* user:password@ -> user:redacted@ (Go's url.Parse: the last '@' of the authority, the
 * first ':' of the userinfo). */
static void redact_authority(sql_sbuf *b, const char *a, size_t n)
{
	size_t at = n, colon;
	while (at > 0 && a[at - 1] != '@')
		at--;
	if (at == 0) {
		sql_sb_put(b, a, n);
		return;
	}
	at--;
	for (colon = 0; colon < at && a[colon] != ':'; colon++)
		;
	if (colon < at) {
		sql_sb_put(b, a, colon + 1);
		sql_sb_str(b, REDACTED);
		sql_sb_put(b, a + at, n - at);
	} else {
		sql_sb_put(b, a, n);
	}
}

/* Every scheme://user:password@ inside s (a location written into a longer text, or given
 * as a parameter of another: ?endpoint=http://user:pw@minio): the password goes. The
 * authority runs as authority_end reads it, within the run up to a blank, a quote, '&' or a
 * control byte. */
static void redact_embedded_userinfo(sql_sbuf *b, const char *s, size_t n)
{
	size_t i = 0, out = 0;
	while (i + 3 <= n) {
		const char *p = memmem(s + i, n - i, "://", 3);
		size_t a, e, ae;
		if (!p)
			break;
		a = (size_t)(p - s) + 3;
		for (e = a; e < n && s[e] != '&' && !is_blank((unsigned char)s[e]) && !is_quote((unsigned char)s[e]) &&
		            (unsigned char)s[e] >= 0x20 && s[e] != 0x7f;
		     e++)
			;
		ae = authority_end(s, a, e);
		sql_sb_put(b, s + out, a - out);
		redact_authority(b, s + a, ae - a);
		i = out = ae;
	}
	sql_sb_put(b, s + out, n - out);
}

/* One '&'-separated pair. Within it, Go < 1.17 also split on ';': when any ';'-piece is
 * named like a credential, everything after that piece's '=' up to the '&' goes (newer Go
 * drops the whole pair, so BR then uses none of it, but the bytes are still a secret). */
static bool redact_pair(sql_sbuf *b, const char *p, size_t n)
{
	size_t i = 0;
	while (i <= n) {
		size_t e = i, eq;
		while (e < n && p[e] != ';')
			e++;
		for (eq = i; eq < e && p[eq] != '='; eq++)
			;
		if (eq < e && sql_redact_is_secret_name(p + i, eq - i)) {
			sql_sb_put(b, p, eq + 1);
			sql_sb_str(b, REDACTED);
			return true;
		}
		i = e + 1;
	}
	sql_sb_put(b, p, n);
	return false;
}

static bool redact_query(sql_sbuf *b, const char *q, size_t n)
{
	size_t i = 0;
	bool any = false;
	while (i <= n) {
		size_t e = i;
		while (e < n && q[e] != '&')
			e++;
		any |= redact_pair(b, q + i, e - i);
		if (e < n)
			sql_sb_put(b, "&", 1);
		i = e + 1;
	}
	return any;
}

static void redact_uri_into(sql_sbuf *out, const char *uri, size_t len)
{
	sql_sbuf b = {0};
	size_t sl, i = 0, q;
	bool any = false;
	char *mid;
	sl = scheme_len(uri, len);
	if (sl) {
		size_t a = sl + 3, ae = authority_end(uri, a, len);
		sql_sb_put(&b, uri, a);
		redact_authority(&b, uri + a, ae - a);
		i = ae;
	}
	for (q = i; q < len && uri[q] != '?' && uri[q] != '#'; q++)
		;
	sql_sb_put(&b, uri + i, q - i);
	if (q < len && uri[q] == '?') {
		size_t f;
		for (f = q + 1; f < len && uri[f] != '#'; f++)
			;
		sql_sb_put(&b, "?", 1);
		any = redact_query(&b, uri + q + 1, f - q - 1);
		q = f;
	}
	if (q < len && any) {
		/* '#' inside a secret cuts it (url.Parse): the fragment may be the secret's tail */
		sql_sb_str(&b, "#" REDACTED);
		q = len;
	}
	sql_sb_put(&b, uri + q, len - q);
	if (b.oom) {
		free(b.p);
		out->oom = true;
		return;
	}
	/* Then name=value anywhere (a credential in the path or the fragment, a query after a
	 * second '?'): not a parameter to BR, but still the credential's bytes. */
	mid = b.p ? b.p : (char *)"";
	{
		sql_sbuf pairs = {0};
		redact_pairs(&pairs, mid, b.n, false);
		free(b.p);
		if (pairs.oom) {
			free(pairs.p);
			out->oom = true;
			return;
		}
		redact_embedded_userinfo(out, pairs.p ? pairs.p : "", pairs.n);
		free(pairs.p);
	}
}

/* Does the text, percent-decoded once more, still show a credential (depth: decodings left)?
 * A query encoded once too often (?region=r%26secret-access-key%3DSK: BR reads one value
 * "r&secret-access-key=SK") keeps the secret's bytes under names that read as none. */
static bool encoded_secret(const char *t, size_t n, int depth)
{
	char *d;
	size_t k;
	sql_sbuf b = {0};
	bool secret;
	if (depth == 0 || !memchr(t, '%', n))
		return false;
	if (!(d = malloc(n + 1)))
		return true; /* fail closed */
	k = pct_decode(t, n, d, n, false);
	redact_uri_into(&b, d, k);
	secret = b.oom || b.n != k || memcmp(b.p ? b.p : "", d, k) != 0 || encoded_secret(d, k, depth - 1);
	free(b.p);
	free(d);
	return secret;
}

char *sql_redact_uri(const char *uri, size_t len)
{
	sql_sbuf b = {0};
	if (!uri)
		len = 0;
	redact_uri_into(&b, uri ? uri : "", len);
	if (!b.oom && encoded_secret(b.p ? b.p : "", b.n, 2)) {
		/* the credential's place cannot be mapped back to the raw text: from the query on
		 * (or the whole text, without one) it is withheld */
		const char *q = b.p ? memchr(b.p, '?', b.n) : NULL;
		b.n = q ? (size_t)(q - b.p) + 1 : 0;
		sql_sb_str(&b, REDACTED);
	}
	return sql_sb_done(&b);
}

/* ---- free text ---- */

static bool scheme_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
	       c == '.';
}

static bool uri_end_byte(unsigned char c)
{
	return is_blank(c) || is_quote(c) || c < 0x20 || c == 0x7f;
}

/* After a quote at q: blanks and SQL comments, then another quote? Returns the offset of
 * that next opening quote, or 0 (an echoed statement that split a literal: 'a' 'b'). */
static size_t next_adjacent_quote(const char *t, size_t len, size_t q)
{
	size_t i = q + 1;
	for (;;) {
		while (i < len && is_blank((unsigned char)t[i]))
			i++;
		if (i + 1 < len && t[i] == '/' && t[i + 1] == '*') {
			const char *e = memmem(t + i + 2, len - i - 2, "*/", 2);
			if (!e)
				return 0;
			i = (size_t)(e - t) + 2;
		} else if ((i < len && t[i] == '#') || (i + 1 < len && t[i] == '-' && t[i + 1] == '-')) {
			while (i < len && t[i] != '\n')
				i++;
		} else {
			break;
		}
	}
	return i < len && is_quote((unsigned char)t[i]) ? i : 0;
}

/* Copies text with every junction of adjacent quoted pieces removed: a quote, blanks or
 * SQL comments (at least one byte), another quote ('s3:' '//b' reads 's3://b'), as the
 * server joins adjacent literals; an echoed statement may have split a secret that way. */
static void join_adjacent(sql_sbuf *b, const char *t, size_t len)
{
	size_t i = 0, out = 0;
	while (i < len) {
		size_t nq;
		if (!is_quote((unsigned char)t[i]) || i + 1 >= len || is_quote((unsigned char)t[i + 1])) {
			i++;
			continue;
		}
		nq = next_adjacent_quote(t, len, i);
		if (!nq) {
			i++;
			continue;
		}
		sql_sb_put(b, t + out, i - out); /* drop the closing quote, the gap, the opening quote */
		i = out = nq + 1;
	}
	sql_sb_put(b, t + out, len - out);
}

static bool word_contains(const char *w, size_t n, const char *kw);

/* An account statement's word after which a password comes: IDENTIFIED, PASSWORD, PASSWD
 * (and MASTER_PASSWORD, OLD_PASSWORD ...). */
static bool password_word(const char *w, size_t n)
{
	return word_contains(w, n, "IDENTIFIED") || word_contains(w, n, "PASSWORD") || word_contains(w, n, "PASSWD");
}

/* An encryption function whose argument is a key (AES_ENCRYPT(str, key), AES_DECRYPT,
 * DES_ENCRYPT, ENCRYPT(str, salt), ENCODE(str, pass), DECODE(crypt, pass): pingcap/tidb
 * pkg/expression builtin_encryption.go). */
static bool key_word(const char *w, size_t n)
{
	return word_contains(w, n, "ENCRYPT") || word_contains(w, n, "DECRYPT") || sql_ieq(w, n, "ENCODE") ||
	       sql_ieq(w, n, "DECODE");
}

/* A word that makes what follows a secret. */
static bool secret_context_word(const char *w, size_t n)
{
	return password_word(w, n) || key_word(w, n);
}

static bool word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
	       c >= 0x80;
}

/* Emits the text up to `from`, then "redacted" for the rest (its trailing blanks kept). */
static void withhold_rest(sql_sbuf *b, const char *s, size_t n, size_t out, size_t from)
{
	size_t tail = n;
	while (tail > from && is_blank((unsigned char)s[tail - 1]))
		tail--;
	sql_sb_put(b, s + out, from - out);
	sql_sb_str(b, REDACTED);
	sql_sb_put(b, s + tail, n - tail);
}

/*
 * Free text that echoes an account statement (a comment keeping an old CREATE USER, TiDB's
 * 1064 near "... IDENTIFIED BY 'pw'"). After a password_word, a password given unquoted (a
 * comment's `IDENTIFIED BY hunter2`, the word after BY / AS / USING or after '=', ':', '(')
 * has no end the text shows, nor has a quoted one that a word or another quote follows
 * straight after its closing quote (a raw quote inside it: `'ab'cd;ef'`): from there the
 * rest of the text is withheld (attack18 left both). A quoted one that ends cleanly (`'pw'`
 * then a blank, ',' ...) is withheld alone, and the text goes on. After a key_word, up to a
 * ';', each quoted run is withheld.
 */
static void redact_account_text(sql_sbuf *b, const char *s, size_t n)
{
	size_t i = 0, out = 0;
	bool key = false, acct = false, after_by = false;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (word_byte(c)) {
			size_t w = i;
			while (i < n && word_byte((unsigned char)s[i]))
				i++;
			if (acct && after_by) {
				withhold_rest(b, s, n, out, w);
				return;
			}
			after_by = acct && (sql_ieq(s + w, i - w, "BY") || sql_ieq(s + w, i - w, "AS") ||
			                    sql_ieq(s + w, i - w, "USING"));
			acct = acct || password_word(s + w, i - w);
			key = key || key_word(s + w, i - w);
			if (w > 0 && is_quote((unsigned char)s[w - 1]) && i < n && s[i] == s[w - 1])
				i++; /* a quoted word ("password": ...): its closing quote opens nothing */
		} else if ((acct || key) && is_quote(c)) {
			size_t e = closing_quote(s, n, i, true);
			/* where the readings with and without backslash escapes end the run apart, which
			 * holds cannot be told ('C:\', 'PLANTED'): the rest goes (attack20) */
			bool agree = e == closing_quote(s, n, i, false);
			bool clean = agree && e < n &&
			             (e + 1 == n || (!word_byte((unsigned char)s[e + 1]) && !is_quote((unsigned char)s[e + 1])));
			if ((acct && !clean) || !agree) {
				withhold_rest(b, s, n, out, i);
				return;
			}
			sql_sb_put(b, s + out, i + 1 - out);
			sql_sb_str(b, REDACTED);
			out = e; /* its closing quote is kept (none when it is not closed: e == n) */
			i = e < n ? e + 1 : n;
			after_by = false;
		} else if (acct && (c == '=' || c == ':' || c == '(')) {
			size_t v = i + 1;
			while (v < n && is_blank((unsigned char)s[v]))
				v++;
			size_t r = v + strlen(REDACTED);
			if (r <= n && memcmp(s + v, REDACTED, strlen(REDACTED)) == 0 && (r == n || !word_byte((unsigned char)s[r])))
				v = r; /* the pairs pass has withheld this value already (redact_free_text) */
			else if (v < n && !is_quote((unsigned char)s[v])) {
				withhold_rest(b, s, n, out, v);
				return;
			}
			i = v;
		} else {
			key = key && c != ';';
			i++;
		}
	}
	sql_sb_put(b, s + out, n - out);
}

/* Free text's two passes: name=value / name: value with a credential name, anywhere; then
 * the quoted values of an echoed account statement. NULL on OOM. */
static char *redact_free_text(const char *s, size_t n)
{
	sql_sbuf pairs = {0}, acc = {0};
	redact_pairs(&pairs, s, n, true);
	if (pairs.oom) {
		free(pairs.p);
		return NULL;
	}
	redact_account_text(&acc, pairs.p ? pairs.p : "", pairs.n);
	free(pairs.p);
	return sql_sb_done(&acc);
}

char *sql_redact_text(const char *text, size_t len)
{
	sql_sbuf j = {0}, mid = {0};
	size_t i = 0, out = 0;
	const char *t;
	if (!text)
		len = 0;
	/* 0. adjacent quoted pieces joined (the output shows them joined) */
	join_adjacent(&j, text ? text : "", len);
	if (j.oom) {
		free(j.p);
		return NULL;
	}
	t = j.p ? j.p : "";
	len = j.n;
	/* 1. every scheme://... up to a blank, a quote or a control byte: the password of its
	 *    userinfo and its whole query and fragment go (free text may be cut or escaped, so
	 *    the query is not parsed: fail closed). */
	while (i + 3 <= len) {
		const char *p = memmem(t + i, len - i, "://", 3);
		size_t s, e, sep, ae, qs;
		if (!p)
			break;
		sep = (size_t)(p - t);
		s = sep;
		while (s > out && scheme_byte((unsigned char)t[s - 1]))
			s--;
		for (e = sep + 3; e < len && !uri_end_byte((unsigned char)t[e]); e++)
			;
		sql_sb_put(&mid, t + out, sep + 3 - out);
		ae = authority_end(t, sep + 3, e);
		redact_authority(&mid, t + sep + 3, ae - (sep + 3));
		for (qs = ae; qs < e && t[qs] != '?' && t[qs] != '#'; qs++)
			;
		sql_sb_put(&mid, t + ae, qs - ae);
		if (qs < e) {
			sql_sb_put(&mid, t + qs, 1);
			sql_sb_str(&mid, REDACTED);
		}
		i = out = e;
	}
	sql_sb_put(&mid, t + out, len - out);
	free(j.p);
	if (mid.oom) {
		free(mid.p);
		return NULL;
	}
	/* 2. and 3.: credential pairs and echoed account statements */
	char *r = redact_free_text(mid.p ? mid.p : "", mid.n);
	free(mid.p);
	return r;
}

/* ---- statements ---- */

typedef struct out_t {
	sql_redact_sink fn;
	void *ctx;
	bool oom;
} out_t;

static void emit(out_t *o, const char *p, size_t n)
{
	if (n && !o->oom)
		o->fn(o->ctx, p, n);
}

static void emit_str(out_t *o, const char *s)
{
	emit(o, s, strlen(s));
}

/* Re-quotes a value with the literal's own quote char; '' and \\ read back the same in
 * both backslash modes. */
static void emit_literal(out_t *o, const char *v, size_t n, char q)
{
	size_t i, s = 0;
	emit(o, &q, 1);
	for (i = 0; i < n; i++) {
		if (v[i] == q || v[i] == '\\') {
			emit(o, v + s, i + 1 - s);
			s = i;
		}
	}
	emit(o, v + s, n - s);
	emit(o, &q, 1);
}

/* ---- comments: free text ----
 * The lexer skips comments, but a comment is text a credential can be in (a script that keeps
 * the old location, keys and all, in a comment beside the new one). Every piece of the source
 * copied to the output goes through emit_src, which copies the tokens and redacts each
 * comment's body as free text (sql_redact_text); a body longer than MAX_GROUP_BYTES is
 * withheld whole (memory stays bounded, as for a literal group). */

static void emit_comment_body(out_t *o, const char *p, size_t n)
{
	char *r;
	if (n == 0)
		return;
	if (n > MAX_GROUP_BYTES) {
		char note[80];
		snprintf(note, sizeof(note), " importgate: %zu bytes of comment withheld ", n);
		emit_str(o, note);
		return;
	}
	r = sql_redact_text(p, n);
	if (!r) {
		o->oom = true;
		return;
	}
	emit_str(o, r);
	free(r);
}

/* The text between two tokens: blanks and comments (and the marks of executable comments,
 * whose body is code). Each comment's body is redacted; its marks are kept. */
static void emit_gap(out_t *o, const char *s, size_t n)
{
	size_t i = 0, out = 0;
	while (i < n) {
		size_t b, e, close = 0;
		if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
			const char *c;
			b = i + 2;
			c = memmem(s + b, n - b, "*/", 2);
			e = c ? (size_t)(c - s) : n;
			close = c ? 2 : 0;
		} else if (s[i] == '#' || (s[i] == '-' && i + 1 < n && s[i + 1] == '-')) {
			b = i + (s[i] == '#' ? 1 : 2);
			for (e = b; e < n && s[e] != '\n'; e++)
				;
		} else {
			i++;
			continue;
		}
		emit(o, s + out, b - out);
		emit_comment_body(o, s + b, e - b);
		out = e;
		i = e + close;
	}
	emit(o, s + out, n - out);
}

/* Source text [from, to) copied to the output, comments redacted. A construct the span does
 * not end (it cannot hold a literal: to is a token's start, or where the readings diverge) is
 * redacted as free text, like a comment. */
static void emit_src(out_t *o, const char *sql, size_t from, size_t to, unsigned flags)
{
	sql_lexer lx;
	sql_token t;
	const char *s = sql + from;
	size_t n, at = 0;
	if (to <= from)
		return;
	n = to - from;
	sql_lex_init(&lx, s, n, flags);
	for (;;) {
		sql_tok_type ty = sql_lex_next(&lx, &t);
		if (ty == SQL_TOK_EOF)
			break;
		if (ty == SQL_TOK_ERROR) {
			emit_comment_body(o, s + at, n - at);
			return;
		}
		emit_gap(o, s + at, t.off - at);
		emit(o, s + t.off, t.len);
		at = t.off + t.len;
	}
	emit_gap(o, s + at, n - at);
}

/* Readings the server could make of the text (SQL_F_* bits that move literal bounds). */
static const unsigned dims[] = {SQL_F_NO_BACKSLASH_ESCAPES, SQL_F_ANSI_QUOTES, SQL_F_MB_PAIRS,
                                SQL_F_EXEC_AS_COMMENT, SQL_F_MARIADB_EXEC, SQL_F_NBSP_IS_WORD,
                                SQL_F_VERSION6, SQL_F_TIDB_FEATURES_OFF, SQL_F_TIDB_FEATURES_ON,
                                SQL_F_IN_EXEC_COMMENT};
#define NDIMS (sizeof(dims) / sizeof(dims[0]))
/* the primary reading, each dimension flipped alone, and every combination of the three
 * quoting dimensions (backslashes, ANSI quotes, two-byte charsets) */
#define NREADINGS (1 + NDIMS + 4)

static size_t readings(unsigned flags, unsigned *r)
{
	const unsigned q = SQL_F_NO_BACKSLASH_ESCAPES, a = SQL_F_ANSI_QUOTES, m = SQL_F_MB_PAIRS;
	size_t n = 0, i;
	flags &= ~SQL_F_EXACT_MODES;
	r[n++] = flags;
	for (i = 0; i < NDIMS; i++)
		r[n++] = flags ^ dims[i];
	r[n++] = flags ^ q ^ a;
	r[n++] = flags ^ q ^ m;
	r[n++] = flags ^ a ^ m;
	r[n++] = flags ^ q ^ a ^ m;
	return n;
}

static bool quoted_tok(sql_tok_type t)
{
	return t == SQL_TOK_STRING || t == SQL_TOK_QIDENT || t == SQL_TOK_VAR || t == SQL_TOK_ERROR ||
	       t == SQL_TOK_EOF;
}

/* Next token that quotes something (or ERROR/EOF); a VAR without quotes is skipped. */
static void next_quoted(sql_lexer *lx, sql_token *t)
{
	for (;;) {
		sql_tok_type ty = sql_lex_next(lx, t);
		if (ty == SQL_TOK_VAR && t->qoff == t->off)
			continue;
		if (quoted_tok(ty))
			return;
	}
}

/* Offset from which the readings disagree about quoted tokens, or where one fails to end
 * a literal/comment (len: none). All readings are lexed in lockstep: linear, no memory. */
static size_t divergence(const char *sql, size_t len, unsigned flags)
{
	unsigned r[NREADINGS];
	sql_lexer lx[NREADINGS];
	sql_token t[NREADINGS];
	size_t n = readings(flags, r), i;
	for (i = 0; i < n; i++)
		sql_lex_init(&lx[i], sql, len, r[i]);
	for (;;) {
		bool same = true, eof = true;
		size_t lo = len;
		for (i = 0; i < n; i++) {
			next_quoted(&lx[i], &t[i]);
			if (t[i].off < lo)
				lo = t[i].off;
			if (t[i].type == SQL_TOK_ERROR)
				same = false;
			if (t[i].type != SQL_TOK_EOF)
				eof = false;
			/* "..." is a string or (ANSI_QUOTES) an identifier: both are redacted alike,
			 * so only where quoting starts and ends matters */
			if ((t[i].type == SQL_TOK_EOF) != (t[0].type == SQL_TOK_EOF) || t[i].off != t[0].off ||
			    t[i].len != t[0].len)
				same = false;
		}
		if (!same)
			return lo;
		if (eof)
			return len;
	}
}

/* The group g[0..ng) written with value v in its first literal and the others emptied. */
static void emit_group(out_t *o, const char *sql, const sql_token *g, size_t ng, const char *v, unsigned flags,
                       size_t *pos)
{
	for (size_t i = 0; i < ng; i++) {
		char q = sql[g[i].qoff];
		emit_src(o, sql, *pos, g[i].qoff, flags); /* up to the quote: keeps _charset / N */
		if (i == 0)
			emit_literal(o, v, strlen(v), q);
		else
			emit_literal(o, "", 0, q);
		*pos = g[i].off + g[i].len;
	}
}

/*
 * Locations built by expressions. A script may build a location from pieces to keep its key
 * apart: CONCAT('s3://b/t.csv?secret-access-key=', 'wJalr...'), or '...' || '...'. Each
 * piece alone shows no credential, so a piece (a literal group) that leaves a query pair
 * open - its name unfinished (no '='), or the name a credential's - and is followed by ','
 * or an operator continues in the next literal group of the statement: the pair is read
 * across the two, and when its name is a credential's, the next group up to its first '&'
 * is withheld. Fail closed: the next group may be no part of the location.
 */
#define TAIL_MAX 256

typedef struct cont_t {
	bool open;           /* the next group continues the pair in tail */
	bool cand;           /* the last group left a pair open (open once ',' or an operator follows) */
	char tail[TAIL_MAX]; /* the open pair's text so far */
	size_t n;
	bool overflow;       /* the pair is longer than tail: its continuation is withheld */
	bool auth_open;      /* the next group continues an unfinished authority (s3://AK:...) */
	bool auth_cand;      /* the last group left an authority open */
	bool auth_colon;     /* that authority has a ':' (a password may have begun) */
} cont_t;

/* Is the pair text p (name[=value]) open: no '=' yet, or a credential's name? */
static bool pair_open(const char *p, size_t n)
{
	const char *eq = memchr(p, '=', n);
	return !eq || sql_redact_is_secret_name(p, (size_t)(eq - p));
}

/* Records the pair the decoded value v leaves open, if any (after its last '&', or after its
 * first '?' when none follows; when continuing, the pair joined so far). */
static void note_tail(cont_t *c, const char *v, size_t n, bool continuing)
{
	const char *amp = NULL, *q = memchr(v, '?', n);
	size_t from;
	for (size_t i = n; i > 0; i--)
		if (v[i - 1] == '&') {
			amp = v + i - 1;
			break;
		}
	c->cand = false;
	if (amp || q) {
		from = (size_t)((amp ? amp : q) - v) + 1;
		c->n = 0;
		c->overflow = false;
	} else if (continuing) {
		from = 0; /* the whole value extends the pair */
	} else {
		return;
	}
	if (n - from > TAIL_MAX - c->n) {
		c->overflow = true;
		c->n = 0;
	} else if (!c->overflow) {
		memcpy(c->tail + c->n, v + from, n - from);
		c->n += n - from;
	}
	c->cand = c->overflow || pair_open(c->tail, c->n);
}

/* The value v (decoded, n bytes) of a group that continues c's open pair: NULL on OOM. */
static char *redact_continued(cont_t *c, const char *v, size_t n)
{
	const char *amp = memchr(v, '&', n);
	size_t a = amp ? (size_t)(amp - v) : n, pn = c->n + a;
	char pair[TAIL_MAX * 2];
	bool secret;
	sql_sbuf b = {0};

	if (c->overflow || pn > sizeof(pair)) {
		secret = true;
	} else {
		const char *eq;
		memcpy(pair, c->tail, c->n);
		memcpy(pair + c->n, v, a);
		eq = memchr(pair, '=', pn);
		secret = eq && sql_redact_is_secret_name(pair, (size_t)(eq - pair));
	}
	if (!secret)
		return sql_redact_uri(v, n);
	if (a > 0) /* the pair's part in this piece */
		sql_sb_str(&b, REDACTED);
	if (amp) { /* the rest is more of the query */
		char *rest = malloc(n - a + 1), *r;
		if (!rest) {
			free(b.p);
			return NULL;
		}
		rest[0] = '?';
		memcpy(rest + 1, v + a + 1, n - a - 1);
		r = sql_redact_uri(rest, n - a);
		free(rest);
		if (!r) {
			free(b.p);
			return NULL;
		}
		sql_sb_put(&b, "&", 1);
		sql_sb_str(&b, r + 1);
		free(r);
	}
	return sql_sb_done(&b);
}

/* An authority left open by a fresh value v (its last "://" followed by none of '/', '?',
 * '#', '@'): the user name, password and host may follow in the next pieces. */
static void note_authority(cont_t *c, const char *v, size_t n)
{
	const char *sep = NULL;
	for (size_t i = 0; i + 3 <= n; i++)
		if (memcmp(v + i, "://", 3) == 0)
			sep = v + i + 3;
	c->auth_cand = false;
	if (!sep)
		return;
	size_t a = (size_t)(sep - v);
	for (size_t i = a; i < n; i++)
		if (v[i] == '/' || v[i] == '?' || v[i] == '#' || v[i] == '@')
			return;
	c->auth_cand = true;
	c->auth_colon = memchr(sep, ':', n - a) != NULL;
}

/* "<v[0..k)>redacted" followed by v[at..) redacted as a location's rest: NULL on OOM. */
static char *secret_until(const char *v, size_t n, size_t k, size_t at)
{
	sql_sbuf b = {0};
	char *rest = sql_redact_uri(v + at, n - at);
	if (!rest)
		return NULL;
	sql_sb_put(&b, v, k);
	sql_sb_str(&b, REDACTED);
	sql_sb_str(&b, rest);
	free(rest);
	return sql_sb_done(&b);
}

/* The value v of a piece that continues an open authority: the password part of the joined
 * authority (from its first ':' up to its last '@') is withheld; without an '@' yet, a
 * password that has begun is withheld whole and the authority stays open (fail closed). */
static char *continue_authority(cont_t *c, const char *v, size_t n)
{
	size_t at = n, t = n, k;
	for (size_t i = n; i > 0; i--)
		if (v[i - 1] == '@') {
			at = i - 1;
			break;
		}
	for (k = 0; k < n && v[k] != '/' && v[k] != '?' && v[k] != '#'; k++)
		;
	t = k;
	c->auth_cand = false;
	if (at < n) { /* the userinfo ends here */
		if (c->auth_colon)
			return secret_until(v, n, 0, at);
		for (k = 0; k < at && v[k] != ':'; k++)
			;
		return k < at ? secret_until(v, n, k + 1, at) : sql_redact_uri(v, n);
	}
	if (c->auth_colon) { /* a password without its end yet */
		c->auth_cand = t == n;
		return strdup(REDACTED);
	}
	for (k = 0; k < t && v[k] != ':'; k++)
		;
	if (t < n) /* host[:port] ended: the rest is path or query */
		return sql_redact_uri(v, n);
	c->auth_cand = true;
	if (k < t) {
		c->auth_colon = true;
		return secret_until(v, n, k + 1, n);
	}
	return sql_redact_uri(v, n);
}

static bool json_escaped_secret(const char *v, size_t n);

/* The bytes a literal spells when the server decodes it for the statement: all hex digits
 * (UNHEX('7333..')) or base64 (FROM_BASE64('czM6..')). NULL when it is neither (or OOM:
 * *oom set). At least 8 characters: shorter ones hide no location. */
static char *encoded_view(const char *v, size_t n, size_t *out, bool hex, bool *oom)
{
	size_t i, k = 0, bits = 0;
	unsigned acc = 0;
	char *d;
	if (n < 8 || (hex && n % 2))
		return NULL;
	for (i = 0; i < n; i++)
		if (hex ? sql_hex_digit(v[i]) < 0 : sql_b64_digit(v[i]) < 0 && !(v[i] == '=' && i + 2 >= n))
			return NULL;
	if (!(d = malloc(n + 1))) {
		*oom = true;
		return NULL;
	}
	for (i = 0; i < n; i++) {
		int x = hex ? sql_hex_digit(v[i]) : sql_b64_digit(v[i]);
		if (x < 0)
			break; /* base64 padding */
		acc = (acc << (hex ? 4 : 6)) | (unsigned)x;
		bits += hex ? 4 : 6;
		if (bits >= 8) {
			bits -= 8;
			d[k] = (char)((acc >> bits) & 0xff);
			k += d[k] != 0; /* a NUL would end the C string the redactor reads */
		}
	}
	*out = k;
	return d;
}

/* Does a hex or base64 view of v hold a credential? Fails closed on OOM. */
static bool encoded_view_secret(const char *v, size_t n)
{
	for (int hex = 1; hex >= 0; hex--) {
		bool oom = false, secret;
		size_t k = 0;
		char *d = encoded_view(v, n, &k, hex, &oom), *r;
		if (oom)
			return true;
		if (!d)
			continue;
		r = sql_redact_uri(d, k);
		secret = !r || strlen(r) != k || memcmp(r, d, k) != 0;
		free(r);
		free(d);
		if (secret)
			return true;
	}
	return false;
}

/* A literal's value read as free text too: it may hold a statement (PREPARE s FROM 'CREATE
 * USER u IDENTIFIED BY ''pw''', SET @q = '...' for PREPARE FROM @q) or a document (a JSON
 * "password": "pw"). Takes r (the location-redacted value); NULL on OOM. */
static char *redact_literal_text(char *r)
{
	if (!r)
		return NULL;
	char *t = redact_free_text(r, strlen(r));
	free(r);
	return t;
}

/* The redacted text of a piece's decoded value v: continuing an open authority or pair, or
 * fresh; the continuation state then moves past it. NULL on OOM. */
static char *redact_piece(cont_t *c, const char *v, size_t n)
{
	char *r;
	if (json_escaped_secret(v, n) || encoded_view_secret(v, n))
		r = strdup(REDACTED);
	else if (c && c->auth_open)
		r = continue_authority(c, v, n);
	else
		r = c && c->open ? redact_continued(c, v, n) : sql_redact_uri(v, n);
	if (c) {
		bool was_auth = c->auth_open;
		note_tail(c, v, n, c->open);
		if (!was_auth)
			note_authority(c, v, n);
	}
	return redact_literal_text(r);
}

/*
 * JSON inside a literal. TiDB JSON-decodes some literals (SET SESSION_STATES: the prepared
 * statements' text; pkg/sessionctx/sessionstates), and Go's encoder writes '&', '<', '>' as
 * \u0026 ...: a credential's name or separator spelled with \u escapes reads as none. When a
 * value holds "\u" or "\/", its JSON-decoded view (ASCII escapes only; others kept) is
 * redacted too; if that finds a credential, the literal is withheld whole.
 */
static bool json_escaped_secret(const char *v, size_t n)
{
	char *d, *r;
	size_t k = 0;
	bool secret;
	if (!memmem(v, n, "\\u", 2) && !memmem(v, n, "\\/", 2))
		return false;
	if (!(d = malloc(n + 1)))
		return true; /* fail closed */
	for (size_t i = 0; i < n; i++) {
		int h[4] = {-1, -1, -1, -1};
		if (v[i] == '\\' && i + 1 < n && v[i + 1] == '/') {
			d[k++] = '/';
			i++;
			continue;
		}
		if (v[i] == '\\' && i + 5 < n && v[i + 1] == 'u')
			for (int j = 0; j < 4; j++)
				h[j] = sql_hex_digit(v[i + 2 + j]);
		if (h[0] == 0 && h[1] == 0 && h[2] >= 0 && h[3] >= 0 && h[2] < 8) {
			d[k++] = (char)(h[2] * 16 + h[3]);
			i += 5;
		} else {
			d[k++] = v[i];
		}
	}
	r = sql_redact_uri(d, k);
	secret = !r || strlen(r) != k || memcmp(r, d, k) != 0;
	free(r);
	free(d);
	return secret;
}

/* Does the group's value under another reading of its backslashes hold a credential? The
 * gateway may not know the session's sql_mode or charset: under NO_BACKSLASH_ESCAPES
 * '..\u006bey..' keeps its backslash, and a JSON decode (SET SESSION_STATES) then reads
 * "key"; under a GBK client a backslash after a lead byte escapes nothing. Fails closed on
 * OOM. */
static bool other_reading_secret(const char *sql, const sql_token *g, size_t ng, unsigned flags)
{
	static const unsigned flips[] = {SQL_F_NO_BACKSLASH_ESCAPES, SQL_F_MB_PAIRS,
	                                 SQL_F_NO_BACKSLASH_ESCAPES | SQL_F_MB_PAIRS};
	size_t i;
	for (i = 0; i < ng && !(g[i].flags & SQL_TOKF_BSLASH); i++)
		;
	if (i == ng)
		return false; /* no backslash: every reading decodes alike */
	for (size_t f = 0; f < sizeof(flips) / sizeof(flips[0]); f++) {
		char *alt = NULL, *r;
		size_t n = 0;
		bool secret;
		for (i = 0; i < ng; i++)
			if (sql_tok_append_decoded(&alt, &n, sql, &g[i], flags ^ flips[f]) < 0)
				return true;
		r = redact_piece(NULL, alt ? alt : "", n);
		secret = !r || strlen(r) != n || memcmp(r, alt ? alt : "", n) != 0;
		free(r);
		free(alt);
		if (secret)
			return true;
	}
	return false;
}

/* A run of adjacent literals [first..last]: redacted on the joined value (what the server
 * sees), the result in the first literal, the others emptied. c: the continuation state of
 * the statement (NULL for a quoted name). 0, or -1 out of memory. */
static int redact_group(out_t *o, const char *sql, const sql_token *g, size_t ng, unsigned flags, cont_t *c,
                        size_t *pos)
{
	size_t raw = g[ng - 1].off + g[ng - 1].len - g[0].off, n = 0, i;
	char *joined = NULL, *r;
	bool changed;
	if (raw > MAX_GROUP_BYTES) {
		emit_src(o, sql, *pos, g[0].qoff, flags);
		emit_str(o, "'<redacted: long literal>'");
		*pos = g[ng - 1].off + g[ng - 1].len;
		if (c) { /* whatever follows may be its tail */
			c->overflow = c->cand = true;
			c->n = 0;
		}
		return 0;
	}
	for (i = 0; i < ng; i++)
		if (sql_tok_append_decoded(&joined, &n, sql, &g[i], flags) < 0)
			return -1;
	const char *jv = joined ? joined : ""; /* n is 0 when nothing was decoded */
	r = redact_piece(c, jv, n);
	if (!r) {
		free(joined);
		return -1;
	}
	changed = strlen(r) != n || memcmp(r, jv, n) != 0;
	if (!changed && other_reading_secret(sql, g, ng, flags)) {
		free(r);
		if (!(r = strdup(REDACTED))) {
			free(joined);
			return -1;
		}
		changed = true;
	}
	if (changed)
		emit_group(o, sql, g, ng, r, flags, pos);
	free(r);
	free(joined);
	return 0;
}

/* Literals the server joins: strings; "..." too when read as an identifier (ANSI_QUOTES),
 * since the gateway's idea of sql_mode may be wrong. */
static bool groupable(const char *sql, const sql_token *t)
{
	return t->type == SQL_TOK_STRING || (t->type == SQL_TOK_QIDENT && sql[t->qoff] == '"');
}

/* A run of more adjacent literals than redact_group takes: withheld whole (the server joins
 * them all; redacting a part could leave a secret's tail in the rest). */
static void withhold_group(out_t *o, const char *sql, const sql_token *first, const sql_token *last,
                           unsigned flags, size_t *pos)
{
	emit_src(o, sql, *pos, first->qoff, flags);
	emit_str(o, "'<redacted: too many adjacent literals>'");
	*pos = last->off + last->len;
}

/*
 * Account passwords. SQL carries a password as a bare literal, which reads as no location:
 * pingcap/tidb pkg/parser/parser.y (v7.5 .. master) AuthOption `IDENTIFIED BY 'pw'`,
 * `IDENTIFIED BY PASSWORD 'hash'`, `IDENTIFIED WITH plugin BY 'pw'` / `AS 'hash'` (a hash is
 * a stringLit or hexLit), SetPwdStmt `SET PASSWORD [FOR u] = 'pw'` / `= PASSWORD('pw')`;
 * MySQL's `ALTER USER .. REPLACE 'old'`, `CHANGE MASTER/REPLICATION SOURCE TO
 * MASTER_PASSWORD|SOURCE_PASSWORD = 'pw'`, `START REPLICA PASSWORD='pw'`; MariaDB's
 * `IDENTIFIED VIA plugin USING 'hash'` and `CREATE SERVER .. OPTIONS (PASSWORD 'pw')`. TiDB
 * redacts these in its own logs (pkg/parser/ast misc.go SecureText).
 * The model, per statement (reset at ';'): once a word holding IDENTIFIED, PASSWORD or PASSWD
 * was seen, a literal right after BY, AS, USING, REPLACE, a PASSWORD word, '=' / ':=', '(',
 * ',' or an operator is withheld whole, whatever it holds (an expression such as
 * PASSWORD(CONCAT('a', 'b')) has every piece withheld). Words are matched by what they contain or end with,
 * so a word glued to a blank only one reading sees (U+00A0, a GBK lead byte) still counts.
 * Fail closed: it may withhold a literal that is no password (MASTER_HOST='h' after
 * MASTER_PASSWORD, `WHERE password = 'x'`), never the reverse.
 */
typedef struct auth_ctx {
	bool on;     /* this statement is about a password: every value after the word is withheld */
	bool armed;  /* the next literal is one (a literal not armed, followed by @'host', is a user) */
	bool strong; /* right after BY/AS/USING/REPLACE/=: even a bare word or number is the password */
} auth_ctx;

static bool word_contains(const char *w, size_t n, const char *kw)
{
	size_t k = strlen(kw);
	for (size_t i = 0; i + k <= n; i++)
		if (sql_ieq(w + i, k, kw))
			return true;
	return false;
}

/* Does the word's last run of ASCII letters spell kw? */
static bool word_ends_with(const char *w, size_t n, const char *kw)
{
	size_t e = n, b;
	while (e > 0 && !(((unsigned char)w[e - 1] | 0x20) >= 'a' && ((unsigned char)w[e - 1] | 0x20) <= 'z'))
		e--;
	for (b = e; b > 0 && ((unsigned char)w[b - 1] | 0x20) >= 'a' && ((unsigned char)w[b - 1] | 0x20) <= 'z'; b--)
		;
	return sql_ieq(w + b, e - b, kw);
}

/* Moves the context past one token that is not a literal. */
static void auth_step(auth_ctx *a, const char *sql, const sql_token *t)
{
	const char *w = sql + t->off;
	bool pw;

	a->strong = false;
	switch (t->type) {
	case SQL_TOK_SEMI:
		a->on = a->armed = false;
		break;
	case SQL_TOK_EQ:
		a->armed = a->strong = a->on;
		break;
	case SQL_TOK_LPAREN:
	case SQL_TOK_COMMA: /* PASSWORD(CONCAT('a', 'b')) */
	case SQL_TOK_OP:    /* PASSWORD('a' || 'b') */
		a->armed = a->on;
		break;
	case SQL_TOK_IDENT:
		pw = word_contains(w, t->len, "PASSWORD") || word_contains(w, t->len, "PASSWD");
		if (secret_context_word(w, t->len))
			a->on = true;
		a->strong = a->on && (word_ends_with(w, t->len, "BY") || word_ends_with(w, t->len, "AS") ||
		                      word_ends_with(w, t->len, "USING") || word_ends_with(w, t->len, "REPLACE"));
		a->armed = a->strong || (a->on && pw);
		break;
	default:
		a->armed = false;
		break;
	}
}

/* A bare word right after BY/AS/=... that is still grammar, not a password: PASSWORD,
 * RANDOM, DEFAULT, an introducer (_binary X'..'), or a function name (followed by '('). */
static bool word_is_grammar(const char *sql, size_t end, const sql_token *t)
{
	const char *w = sql + t->off;
	size_t i = t->off + t->len;
	if (sql_ieq(w, t->len, "PASSWORD") || sql_ieq(w, t->len, "RANDOM") || sql_ieq(w, t->len, "DEFAULT") ||
	    w[0] == '_')
		return true;
	while (i < end && is_blank((unsigned char)sql[i]))
		i++;
	return i < end && sql[i] == '(';
}

/* The bytes a hex (X'..', 0x..) or bit (B'..', 0b..) literal spells: the server reads it as
 * a string wherever one is wanted (SET GLOBAL tidb_cloud_storage_uri = 0x..). Digits are
 * taken from the right, as the server pads on the left. NULL on OOM. */
static char *decode_hexbit(const char *sql, const sql_token *t, size_t *n)
{
	const char *p = sql + t->off;
	size_t len = t->len, per = t->type == SQL_TOK_HEX ? 4 : 1, nd, nb;
	char *out;
	if (len >= 3 && p[1] == '\'') { /* X'..' */
		p += 2;
		len -= 3;
	} else { /* 0x.. */
		p += 2;
		len -= 2;
	}
	nd = len;
	nb = (nd * per + 7) / 8;
	if (!(out = calloc(nb + 1, 1)))
		return NULL;
	for (size_t i = 0; i < nd; i++) {
		int d = per == 4 ? sql_hex_digit(p[nd - 1 - i]) : p[nd - 1 - i] == '1';
		size_t bit = i * per;
		if (d < 0)
			d = 0;
		out[nb - 1 - bit / 8] = (char)(out[nb - 1 - bit / 8] | (d << (bit % 8)));
	}
	for (size_t i = 0; i < nb; i++) /* the redactor reads C strings: a NUL reads as a control byte */
		if (!out[i])
			out[i] = 1;
	*n = nb;
	return out;
}

/* One token that is a password (a backquoted name, a hex or bit literal) written as 'redacted'. */
static void withhold_token(out_t *o, const char *sql, const sql_token *t, unsigned flags, size_t *pos)
{
	emit_src(o, sql, *pos, t->off, flags);
	emit_str(o, "'" REDACTED "'");
	*pos = t->off + t->len;
}

/* A hex or bit literal read as the string it spells: withheld whole when that string holds a
 * credential or continues one. 0, or -1 out of memory. */
static int redact_hexbit(out_t *o, const char *sql, const sql_token *t, unsigned flags, cont_t *c, size_t *pos)
{
	size_t n = 0;
	char *v = decode_hexbit(sql, t, &n), *r;
	bool changed;
	if (!v)
		return -1;
	r = redact_piece(c, v, n);
	if (!r) {
		free(v);
		return -1;
	}
	changed = strlen(r) != n || memcmp(r, v, n) != 0;
	free(r);
	free(v);
	if (changed)
		withhold_token(o, sql, t, flags, pos);
	return 0;
}

/* Redacts [0, end) (a text every reading lexes alike) under the primary reading. */
static int redact_agreed(out_t *o, const char *sql, size_t end, unsigned flags)
{
	sql_lexer lx;
	sql_token tok, last, g[64];
	size_t ng = 0, total = 0, pos = 0;
	auth_ctx auth = {false, false, false};
	cont_t cont;
	bool password = false;   /* the group being collected is in a password statement */
	bool group_armed = false; /* ... and right where a password goes */
	bool piece = false;      /* the last token was a piece of a possible location */
	bool user = false;       /* the last group was a user name: its @'host' is kept */
	size_t glued = (size_t)-1; /* the end of the last value withheld in a password statement */
	bool start = true;         /* the next token starts a statement */
	memset(&cont, 0, sizeof(cont));
	memset(&last, 0, sizeof(last));
	sql_lex_init(&lx, sql, end, flags);
	for (;;) {
		sql_tok_type ty = sql_lex_next(&lx, &tok);
		bool quoted_var = ty == SQL_TOK_VAR && tok.qoff > tok.off;
		user = false;
		if (total > 0 && !groupable(sql, &tok)) {
			/* 'u'@'h' in an account statement names the account, unless it stands where the
			 * password goes */
			user = password && quoted_var && !group_armed;
			if (total > ng)
				withhold_group(o, sql, &g[0], &last, flags, &pos);
			else if (password && !user)
				emit_group(o, sql, g, ng, REDACTED, flags, &pos);
			else if (redact_group(o, sql, g, ng, flags, &cont, &pos) < 0)
				return -1;
			if (password && !user)
				glued = last.off + last.len;
			ng = total = 0;
			piece = true;
		}
		if (piece) {
			/* an open pair or authority continues after ',' or an operator: CONCAT('..=', 'SK') */
			bool join = ty == SQL_TOK_COMMA || ty == SQL_TOK_OP;
			cont.open = cont.cand && join;
			cont.auth_open = cont.auth_cand && join;
			cont.cand = cont.auth_cand = false;
			piece = false;
		}
		if (ty == SQL_TOK_SEMI)
			memset(&cont, 0, sizeof(cont));
		if (ty == SQL_TOK_EQ) /* an assignment (WITH .., THREAD=1) starts a new value */
			cont.open = cont.auth_open = false;
		if (ty == SQL_TOK_EOF || ty == SQL_TOK_ERROR)
			break;
		/* No statement starts with a value: one that does is the tail of another, cut off by a
		 * ';' the writer did not mean (IDENTIFIED BY 'a';'b', a quote inside a password,
		 * IDENTIFIED BY /\*!;*\/ 'pw') - the batch is audited statement by statement, so
		 * the word that said "password" may be in the previous one. Its values are withheld. */
		if (start && ty != SQL_TOK_SEMI)
			auth.on = auth.on || !(ty == SQL_TOK_IDENT || ty == SQL_TOK_LPAREN);
		start = ty == SQL_TOK_SEMI;
		if (groupable(sql, &tok)) {
			if (total == 0) {
				password = auth.on;
				group_armed = auth.armed;
			}
			if (ng < sizeof(g) / sizeof(g[0]))
				g[ng++] = tok;
			last = tok;
			total++;
			auth.armed = auth.strong = false;
			continue;
		}
		if (auth.on && !user && (ty == SQL_TOK_QIDENT || ty == SQL_TOK_HEX || ty == SQL_TOK_BIT || quoted_var)) {
			withhold_token(o, sql, &tok, flags, &pos);
			glued = pos;
		} else if ((auth.strong && (ty == SQL_TOK_NUMBER || (ty == SQL_TOK_IDENT && !word_is_grammar(sql, end, &tok)))) ||
		           (auth.on && tok.off == glued && (ty == SQL_TOK_NUMBER || ty == SQL_TOK_IDENT)) ||
		           ((cont.open || cont.auth_open) && ty == SQL_TOK_NUMBER)) {
			/* a bare password (IDENTIFIED BY hunter2), a word glued to a withheld value
			 * ('''pw' reads as '' then pw), or digits building a secret (CHAR(80, 76)) */
			withhold_token(o, sql, &tok, flags, &pos); /* an open location stays open */
			glued = pos;
		} else if (ty == SQL_TOK_HEX || ty == SQL_TOK_BIT) {
			if (redact_hexbit(o, sql, &tok, flags, &cont, &pos) < 0)
				return -1;
			piece = true;
		} else if (ty == SQL_TOK_QIDENT) {
			if (redact_group(o, sql, &tok, 1, flags, &cont, &pos) < 0)
				return -1;
			piece = true;
		} else if (quoted_var) {
			if (redact_group(o, sql, &tok, 1, flags, NULL, &pos) < 0)
				return -1;
		}
		if (!(ty == SQL_TOK_IDENT && sql[tok.off] == '_' && auth.strong)) /* _binary keeps BY's arm */
			auth_step(&auth, sql, &tok);
	}
	emit_src(o, sql, pos, end, flags);
	return o->oom ? -1 : 0;
}

int sql_redact_statement_to(const char *sql, size_t len, unsigned flags, sql_redact_sink fn, void *ctx)
{
	out_t o = {fn, ctx, false};
	size_t d;
	if (!sql)
		len = 0;
	d = divergence(sql ? sql : "", len, flags);
	if (redact_agreed(&o, sql ? sql : "", d, flags) < 0)
		return -1;
	if (d < len) {
		char note[96];
		snprintf(note, sizeof(note), "/* importgate: %zu bytes redacted (quoting ambiguous or unterminated) */",
		         len - d);
		emit_str(&o, note);
	}
	return 0;
}

static void sb_sink(void *ctx, const char *p, size_t n)
{
	sql_sb_put(ctx, p, n);
}

char *sql_redact_statement(const char *sql, size_t len, unsigned flags)
{
	sql_sbuf b = {0};
	if (sql_redact_statement_to(sql, len, flags, sb_sink, &b) < 0) {
		free(b.p);
		return NULL;
	}
	return sql_sb_done(&b);
}
