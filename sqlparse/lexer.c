/*
 * lexer.c - the MySQL/TiDB tokenizer. Owns the lexical rules: comments (--, #, C-style,
 * executable and hint comments), quoting (strings, backtick and ANSI identifiers,
 * introducers), literals and variables. Every read is bounds-checked against len.
 */
#include "sqlparse/lexer.h"
#include "sqlparse/sqlparse.h"

#include <stdlib.h>
#include <string.h>

static bool is_ascii_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Blanks between tokens. TiDB's lexer applies unicode.IsSpace to single bytes, so 0x85
 * and 0xA0 separate tokens too (but inside a word they are word bytes, as in MySQL). */
static bool is_space(const struct sql_lexer *lx, unsigned char c)
{
	return is_ascii_space(c) || (!(lx->flags & SQL_F_NBSP_IS_WORD) && (c == 0x85 || c == 0xa0));
}

static bool is_ident_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '$' || c >= 0x80;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned char at(const sql_lexer *lx, size_t i)
{
	return i < lx->len ? (unsigned char)lx->s[i] : 0;
}

/* GBK lead byte followed by a trail byte: one character (SQL_F_MB_PAIRS). TiDB lexes the
 * client's bytes as sent, in character_set_client: session GetParseParams passes
 * parser.CharsetClient(character_set_client) and the scanner, inside '...', "..." and
 * `...` only, skips whole characters with client.MbLen (pkg/parser/lexer.go scanString,
 * scanQuotedIdent, reader.skipRune; bytes < 0x80 are never skipped). MbLen is 0 (byte by
 * byte) for utf8/latin1/ascii/binary (utf8 skips only valid sequences, whose bytes are all
 * >= 0x80); for gbk (pkg/parser/charset/encoding_gbk.go) it is 2 for 0x81-0xFE followed
 * by 0x40-0x7E or 0x80-0xFE, which swallows a '\\' (0x5C), '`' (0x60) or quote-free ASCII
 * byte; gb18030 (encoding_gb18030.go, newer TiDB) adds 4-byte 0x81-0xFE 0x30-0x39
 * 0x81-0xFE 0x30-0x39 characters, whose 2nd and 4th bytes are digits that are never a
 * pair's trail byte here either, so this 2-byte model reads gb18030 the same way. */
static bool mb_pair(const sql_lexer *lx, size_t i)
{
	unsigned char c = at(lx, i), d;
	if (!(lx->flags & SQL_F_MB_PAIRS) || c < 0x81 || c > 0xfe || i + 1 >= lx->len)
		return false;
	d = at(lx, i + 1);
	return d >= 0x40 && d <= 0xfe && d != 0x7f;
}

bool sql_ieq(const char *a, size_t alen, const char *b)
{
	size_t i;
	for (i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (y == 0)
			return false;
		if (x >= 'a' && x <= 'z')
			x = (unsigned char)(x - 32);
		if (y >= 'a' && y <= 'z')
			y = (unsigned char)(y - 32);
		if (x != y)
			return false;
	}
	return b[alen] == 0;
}

bool sql_tok_is(const char *s, const sql_token *t, const char *kw)
{
	return t->type == SQL_TOK_IDENT && sql_ieq(s + t->off, t->len, kw);
}

void sql_lex_init(sql_lexer *lx, const char *s, size_t len, unsigned flags)
{
	memset(lx, 0, sizeof(*lx));
	lx->s = s;
	lx->len = s ? len : 0;
	lx->flags = flags;
	lx->in_exec = (flags & SQL_F_IN_EXEC_COMMENT) ? 1 : 0;
}

/* Skip a quoted run starting at the opening quote q; returns the index after the closing
 * quote, or len+1 when unterminated. Backslash escapes apply to strings only. */
static size_t skip_quoted(sql_lexer *lx, size_t i, unsigned char q, bool backslash)
{
	i++;
	while (i < lx->len) {
		unsigned char c = at(lx, i);
		if (mb_pair(lx, i)) {
			i += 2;
			continue;
		}
		if (c == '\\' && q != '`') {
			lx->saw_bslash = true;
			if (backslash) {
				i += 2;
				continue;
			}
		}
		if (c == q) {
			if (at(lx, i + 1) == q && i + 1 < lx->len) {
				i += 2;
				continue;
			}
			return i + 1;
		}
		i++;
	}
	return lx->len + 1;
}

static bool string_backslash(const sql_lexer *lx, unsigned char q)
{
	(void)q;
	return !(lx->flags & SQL_F_NO_BACKSLASH_ESCAPES);
}

static bool dq_is_ident(const sql_lexer *lx)
{
	return (lx->flags & SQL_F_ANSI_QUOTES) != 0;
}

/* Feature IDs of /\*T![...] comments. TiDB runs the comment's content only when its build
 * knows EVERY listed id (pkg/parser/tidb/features.go, CanParseFeature loops over all ids
 * and fails on the first unknown one; names are case-sensitive); otherwise the whole
 * comment is a plain comment. A malformed list (pkg/parser/lexer.go, scanFeatureIDs: no
 * '[', an empty id, a blank or any byte other than an identifier byte, ',' or ']', or
 * the end of the text) is no list: CanParseFeature() of nothing is true, so the content
 * is code from right after "/\*T!" (the bracket text included).
 * Ids in features.go of every TiDB with IMPORT INTO (v7.2+; ttl since v6.5): */
static const char *const tidb_features[] = {"auto_rand", "auto_id_cache", "auto_rand_base", "clustered_index",
                                            "force_inc", "placement", "ttl", NULL};
/* Ids only some builds know: global_index (in the map of the stored v8 features.go),
 * pre_split (added later, master). resource_group is declared there but absent from the
 * map, so TiDB reads it as a comment. The default reading treats global_index and
 * pre_split as known, any other id as unknown; SQL_F_TIDB_FEATURES_OFF reads every id of
 * this list as unknown and SQL_F_TIDB_FEATURES_ON reads every id as known (a build the
 * gateway does not know): the classifier explores both when a list has such an id. */
static const char *const tidb_features_newer[] = {"global_index", "pre_split", NULL};

static bool in_list(const char *const *l, const char *p, size_t n)
{
	size_t k;
	for (k = 0; l[k]; k++)
		if (strlen(l[k]) == n && memcmp(l[k], p, n) == 0)
			return true;
	return false;
}

/* 0 known to every build, 1 known to some, 2 unknown to the gateway. */
static int feature_class(const char *p, size_t n)
{
	if (in_list(tidb_features, p, n))
		return 0;
	return in_list(tidb_features_newer, p, n) ? 1 : 2;
}

/* TiDB's isIdentChar: letters, digits, '_', '$' and every byte >= 0x80. */
static bool feature_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
	       c >= 0x80;
}

/* After "/\*T!" at d: TiDB's scanFeatureIDs. Sets *end past "]" and returns true when the
 * content is code; a malformed list is no list (code from d), as in TiDB. */
static bool tidb_comment_is_code(const sql_lexer *lx, size_t d, size_t *end)
{
	size_t i = d + 1, start;
	bool code = true;
	*end = d;
	if (d >= lx->len || at(lx, d) != '[')
		return true;
	for (;;) {
		start = i;
		while (i < lx->len && feature_byte(at(lx, i)))
			i++;
		if (i == start || i >= lx->len)
			return true; /* malformed: no feature list */
		switch (feature_class(lx->s + start, i - start)) {
		case 1:
			code = code && !(lx->flags & SQL_F_TIDB_FEATURES_OFF);
			break;
		case 2:
			code = code && (lx->flags & SQL_F_TIDB_FEATURES_ON);
			break;
		default:
			break;
		}
		if (lx->s[i] == ']') {
			*end = i + 1;
			return code;
		}
		if (lx->s[i] != ',')
			return true;
		i++;
	}
}

/* Version digits after "/\*!" (or "/\*M!" under SQL_F_MARIADB_EXEC). TiDB
 * (pkg/parser/lexer.go, startWithSlash: scanVersionDigits(5, 5)) consumes exactly five
 * digits when five are there and none otherwise: "/\*!123456" is version 12345 then the
 * number 6, "/\*!1234" is the number 1234. SQL_F_VERSION6 is the other servers' reading
 * (MySQL 8.0.34+ and MariaDB accept a six-digit version): six digits when six are there,
 * else five, else none. */
static size_t skip_version(const sql_lexer *lx, size_t d)
{
	size_t nd = 0;
	while (d + nd < lx->len && nd < 6 && is_digit(at(lx, d + nd)))
		nd++;
	if (nd == 6 && !(lx->flags & SQL_F_VERSION6))
		nd = 5;
	return nd >= 5 ? d + nd : d;
}

unsigned sql_lex_feature_dims(const char *s, size_t len, size_t d)
{
	size_t i = d + 1, start;
	unsigned dims = 0;
	if (d >= len || s[d] != '[')
		return 0;
	for (;;) {
		start = i;
		while (i < len && feature_byte((unsigned char)s[i]))
			i++;
		if (i == start || i >= len)
			return 0; /* malformed: code in every reading */
		switch (feature_class(s + start, i - start)) {
		case 1:
			dims |= SQL_F_TIDB_FEATURES_OFF;
			break;
		case 2:
			dims |= SQL_F_TIDB_FEATURES_ON;
			break;
		default:
			break;
		}
		if (s[i] == ']')
			return dims;
		if (s[i] != ',')
			return 0;
		i++;
	}
}

static size_t enter_exec(sql_lexer *lx, size_t d)
{
	lx->in_exec = 1;
	return d;
}

/* Comment starting at i (known to be a comment opener). Returns the new position, or
 * len+1 for an unterminated C comment. Executable comments are entered, not skipped:
 * "/\*!" always (TiDB ignores the version), "/\*T!" per its features, "/\*M!" only under
 * SQL_F_MARIADB_EXEC (TiDB and MySQL treat it as a comment). */
static size_t skip_comment(sql_lexer *lx, size_t i)
{
	unsigned char c = at(lx, i), c2 = at(lx, i + 2);
	bool bang = c2 == '!' && i + 2 < lx->len;
	bool tbang = c2 == 'T' && at(lx, i + 3) == '!' && i + 3 < lx->len;
	bool mbang = c2 == 'M' && at(lx, i + 3) == '!' && i + 3 < lx->len;
	size_t end;
	if (c == '#' || c == '-') {
		while (i < lx->len && lx->s[i] != '\n')
			i++;
		return i;
	}
	if (bang || tbang || mbang)
		lx->saw_exec = true;
	if (bang && !(lx->flags & SQL_F_EXEC_AS_COMMENT))
		return enter_exec(lx, skip_version(lx, i + 3));
	if (tbang && !(lx->flags & SQL_F_EXEC_AS_COMMENT) && tidb_comment_is_code(lx, i + 4, &end))
		return enter_exec(lx, end > i + 4 ? end : i + 4);
	if (mbang && (lx->flags & SQL_F_MARIADB_EXEC))
		return enter_exec(lx, skip_version(lx, i + 4));
	for (i += 2; i + 1 < lx->len; i++)
		if (lx->s[i] == '*' && lx->s[i + 1] == '/')
			return i + 2;
	return lx->len + 1;
}

/* "--" starts a comment when followed by a blank or the end. TiDB: unicode.IsSpace on the
 * byte (so also 0x85 and 0xA0, not other control bytes); MySQL: any byte <= ' '. */
static bool dash_comment(const sql_lexer *lx, size_t i)
{
	unsigned char n;
	if (!(at(lx, i) == '-' && at(lx, i + 1) == '-' && i + 1 < lx->len))
		return false;
	if (i + 2 >= lx->len)
		return true;
	n = at(lx, i + 2);
	if (lx->flags & SQL_F_NBSP_IS_WORD)
		return n <= ' ';
	return is_space(lx, n);
}

/* Whitespace, comments and the end of an executable comment. Returns false when an
 * unterminated comment was found (position set to its start). */
static bool skip_blank(sql_lexer *lx)
{
	for (;;) {
		size_t i = lx->pos;
		unsigned char c = at(lx, i);
		if (i >= lx->len)
			return true;
		if (is_space(lx, c)) {
			lx->pos++;
			continue;
		}
		if (c == '#' || dash_comment(lx, i)) {
			lx->pos = skip_comment(lx, i);
			continue;
		}
		if (c == '/' && at(lx, i + 1) == '*' && i + 1 < lx->len) {
			size_t n = skip_comment(lx, i);
			if (n > lx->len)
				return false;
			lx->pos = n;
			continue;
		}
		if (lx->in_exec && c == '*' && at(lx, i + 1) == '/' && i + 1 < lx->len) {
			lx->in_exec = 0;
			lx->pos += 2;
			continue;
		}
		return true;
	}
}

static sql_tok_type emit(sql_lexer *lx, sql_token *t, sql_tok_type ty, size_t start, size_t end)
{
	t->type = ty;
	t->off = start;
	t->len = end - start;
	if (!t->qoff)
		t->qoff = start;
	if (lx->in_exec)
		t->flags |= SQL_TOKF_EXEC;
	lx->pos = end;
	return ty;
}

static sql_tok_type lex_error(sql_lexer *lx, sql_token *t, size_t start)
{
	t->type = SQL_TOK_ERROR;
	t->off = start;
	t->len = lx->len - start;
	t->qoff = start;
	lx->pos = lx->len;
	lx->len = lx->pos; /* further calls return EOF */
	return SQL_TOK_ERROR;
}

/* A quoted string/identifier whose opening quote is at q (prefix, if any, starts at start). */
static sql_tok_type lex_quoted(sql_lexer *lx, sql_token *t, size_t start, size_t q)
{
	unsigned char qc = at(lx, q);
	bool ident = qc == '`' || (qc == '"' && dq_is_ident(lx));
	bool had = lx->saw_bslash;
	size_t end;
	lx->saw_bslash = false;
	end = skip_quoted(lx, q, qc, !ident && string_backslash(lx, qc));
	if (lx->saw_bslash && qc != '`')
		t->flags |= SQL_TOKF_BSLASH;
	lx->saw_bslash = lx->saw_bslash || had;
	if (qc == '"')
		t->flags |= SQL_TOKF_DQ;
	if (q != start)
		t->flags |= SQL_TOKF_PREFIX;
	t->qoff = q;
	if (end > lx->len)
		return lex_error(lx, t, start);
	return emit(lx, t, ident ? SQL_TOK_QIDENT : SQL_TOK_STRING, start, end);
}

/* Words are bytes; multibyte client charsets matter only inside quotes (TiDB's reader
 * skips whole characters there only). */
static size_t scan_ident(const sql_lexer *lx, size_t i)
{
	while (i < lx->len && is_ident_char(at(lx, i)))
		i++;
	return i;
}

static sql_tok_type lex_word(sql_lexer *lx, sql_token *t, size_t i)
{
	size_t end = scan_ident(lx, i), j;
	unsigned char c0 = at(lx, i), n = at(lx, end);
	if (end == i + 1 && end < lx->len && n == '\'') {
		if (c0 == 'x' || c0 == 'X' || c0 == 'b' || c0 == 'B') {
			size_t e = end + 1;
			while (e < lx->len && lx->s[e] != '\'')
				e++;
			if (e >= lx->len)
				return lex_error(lx, t, i);
			return emit(lx, t, (c0 == 'x' || c0 == 'X') ? SQL_TOK_HEX : SQL_TOK_BIT, i, e + 1);
		}
		if (c0 == 'n' || c0 == 'N')
			return lex_quoted(lx, t, i, end);
	}
	if (c0 == '_' && end > i + 1) {
		/* charset introducer: _utf8mb4'x', _binary 'x' */
		j = end;
		while (j < lx->len && is_space(lx, at(lx, j)))
			j++;
		if (j < lx->len && (at(lx, j) == '\'' || (at(lx, j) == '"' && !dq_is_ident(lx))))
			return lex_quoted(lx, t, i, j);
	}
	return emit(lx, t, SQL_TOK_IDENT, i, end);
}

static sql_tok_type lex_number(sql_lexer *lx, sql_token *t, size_t i)
{
	size_t e = i;
	unsigned char c1 = at(lx, i + 1);
	if (at(lx, i) == '0' && (c1 == 'x' || c1 == 'b') && i + 2 < lx->len) {
		e = i + 2;
		while (e < lx->len && (c1 == 'x' ? is_hex(at(lx, e)) : (at(lx, e) == '0' || at(lx, e) == '1')))
			e++;
		if (e > i + 2 && !(e < lx->len && is_ident_char(at(lx, e))))
			return emit(lx, t, c1 == 'x' ? SQL_TOK_HEX : SQL_TOK_BIT, i, e);
		return emit(lx, t, SQL_TOK_IDENT, i, scan_ident(lx, i));
	}
	while (e < lx->len && is_digit(at(lx, e)))
		e++;
	if (e < lx->len && at(lx, e) == '.') {
		e++;
		while (e < lx->len && is_digit(at(lx, e)))
			e++;
	}
	if ((at(lx, e) == 'e' || at(lx, e) == 'E') && e < lx->len) {
		size_t x = e + 1;
		if (at(lx, x) == '+' || at(lx, x) == '-')
			x++;
		if (x < lx->len && is_digit(at(lx, x))) {
			e = x;
			while (e < lx->len && is_digit(at(lx, e)))
				e++;
		}
	}
	/* MySQL identifiers may start with digits: 1abc */
	if (e < lx->len && is_ident_char(at(lx, e)) && memchr(lx->s + i, '.', e - i) == NULL)
		return emit(lx, t, SQL_TOK_IDENT, i, scan_ident(lx, e));
	return emit(lx, t, SQL_TOK_NUMBER, i, e);
}

static sql_tok_type lex_var(sql_lexer *lx, sql_token *t, size_t i)
{
	size_t e;
	unsigned char c = at(lx, i + 1);
	if (c == '@' && i + 1 < lx->len) {
		e = i + 2;
		while (e < lx->len && (is_ident_char(at(lx, e)) || at(lx, e) == '.'))
			e++;
		if (e < lx->len && at(lx, e) == '`' && (e == i + 2 || at(lx, e - 1) == '.')) {
			/* @@`name` / @@session.`name` */
			size_t q = skip_quoted(lx, e, '`', false);
			if (q > lx->len)
				return lex_error(lx, t, i);
			e = q;
		}
		return emit(lx, t, SQL_TOK_SYSVAR, i, e);
	}
	if (i + 1 < lx->len && (c == '\'' || c == '"' || c == '`')) {
		size_t q = skip_quoted(lx, i + 1, c, c != '`' && string_backslash(lx, c));
		t->qoff = i + 1;
		if (q > lx->len)
			return lex_error(lx, t, i);
		return emit(lx, t, SQL_TOK_VAR, i, q);
	}
	e = i + 1;
	while (e < lx->len && (is_ident_char(at(lx, e)) || at(lx, e) == '.'))
		e++;
	if (e == i + 1)
		return emit(lx, t, SQL_TOK_OP, i, e);
	return emit(lx, t, SQL_TOK_VAR, i, e);
}

static sql_tok_type lex_op(sql_lexer *lx, sql_token *t, size_t i)
{
	static const char *const ops[] = {"<=>", "->>", "<=", ">=", "<>", "!=", "||", "&&", "<<", ">>", "->", NULL};
	unsigned char c = at(lx, i);
	size_t k;
	switch (c) {
	case ';':
		return emit(lx, t, SQL_TOK_SEMI, i, i + 1);
	case '(':
		return emit(lx, t, SQL_TOK_LPAREN, i, i + 1);
	case ')':
		return emit(lx, t, SQL_TOK_RPAREN, i, i + 1);
	case ',':
		return emit(lx, t, SQL_TOK_COMMA, i, i + 1);
	case '.':
		return emit(lx, t, SQL_TOK_DOT, i, i + 1);
	case '=':
		return emit(lx, t, SQL_TOK_EQ, i, i + 1);
	case '?':
		return emit(lx, t, SQL_TOK_PARAM, i, i + 1);
	case ':':
		if (at(lx, i + 1) == '=' && i + 1 < lx->len)
			return emit(lx, t, SQL_TOK_EQ, i, i + 2);
		break;
	default:
		break;
	}
	for (k = 0; ops[k]; k++) {
		size_t n = strlen(ops[k]);
		if (i + n <= lx->len && memcmp(lx->s + i, ops[k], n) == 0)
			return emit(lx, t, SQL_TOK_OP, i, i + n);
	}
	return emit(lx, t, SQL_TOK_OP, i, i + 1);
}

sql_tok_type sql_lex_next(sql_lexer *lx, sql_token *t)
{
	size_t i;
	unsigned char c;
	memset(t, 0, sizeof(*t));
	if (!skip_blank(lx))
		return lex_error(lx, t, lx->pos);
	i = lx->pos;
	if (i >= lx->len) {
		t->type = SQL_TOK_EOF;
		t->off = t->qoff = lx->len;
		return SQL_TOK_EOF;
	}
	c = at(lx, i);
	if (c == '\'' || c == '"' || c == '`')
		return lex_quoted(lx, t, i, i);
	if (is_digit(c))
		return lex_number(lx, t, i);
	if (is_ident_char(c))
		return lex_word(lx, t, i);
	if (c == '@')
		return lex_var(lx, t, i);
	return lex_op(lx, t, i);
}

/* ---- decoding ---- */

static char unescape(char c)
{
	switch (c) {
	case '0':
		return '\0';
	case 'b':
		return '\b';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case 'Z':
		return '\032';
	default:
		return c;
	}
}

/* Decode the quoted run [q, end) whose quote char is s[q]. */
static char *decode_quoted(const char *s, size_t q, size_t end, bool backslash, unsigned flags, size_t *outlen)
{
	char qc = s[q];
	size_t i = q + 1, n = 0, stop = end > q + 1 ? end - 1 : q + 1;
	char *out = malloc(end - q + 1);
	sql_lexer probe;
	if (!out)
		return NULL;
	sql_lex_init(&probe, s, end, flags);
	while (i < stop) {
		if (mb_pair(&probe, i)) {
			out[n++] = s[i];
			out[n++] = s[i + 1];
			i += 2;
			continue;
		}
		if (backslash && s[i] == '\\' && i + 1 < stop) {
			char e = s[i + 1];
			if (e == '%' || e == '_')
				out[n++] = '\\'; /* MySQL keeps \% and \_ for LIKE */
			out[n++] = unescape(e);
			i += 2;
			continue;
		}
		if (s[i] == qc && i + 1 < stop && s[i + 1] == qc) {
			out[n++] = qc;
			i += 2;
			continue;
		}
		out[n++] = s[i++];
	}
	out[n] = 0;
	if (outlen)
		*outlen = n;
	return out;
}

static char *copy_raw(const char *p, size_t n, size_t *outlen)
{
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	memcpy(out, p, n);
	out[n] = 0;
	if (outlen)
		*outlen = n;
	return out;
}

char *sql_tok_decode(const char *s, const sql_token *t, unsigned flags, size_t *outlen)
{
	size_t end = t->off + t->len;
	switch (t->type) {
	case SQL_TOK_STRING:
		return decode_quoted(s, t->qoff, end, !(flags & SQL_F_NO_BACKSLASH_ESCAPES), flags, outlen);
	case SQL_TOK_QIDENT:
		return decode_quoted(s, t->qoff, end, false, flags, outlen);
	case SQL_TOK_VAR:
		if (t->qoff > t->off)
			return decode_quoted(s, t->qoff, end,
			                     s[t->qoff] != '`' && !(flags & SQL_F_NO_BACKSLASH_ESCAPES), flags, outlen);
		return copy_raw(s + t->off + 1, t->len - 1, outlen);
	case SQL_TOK_SYSVAR:
		return copy_raw(s + t->off + 2, t->len - 2, outlen);
	default:
		return copy_raw(s + t->off, t->len, outlen);
	}
}

/* Capacity of an accumulator holding n bytes (+ NUL): a power of two, so appends cost
 * amortised O(1) per byte without a capacity field (the buffer is only ever grown here). */
static size_t acc_cap(size_t n)
{
	size_t c = 16;
	while (c < n + 1)
		c *= 2;
	return c;
}

int sql_tok_append_decoded(char **acc, size_t *n, const char *s, const sql_token *t, unsigned flags)
{
	size_t m;
	char *part = sql_tok_decode(s, t, flags, &m), *grown = *acc;
	if (part && (!*acc || *n + m + 1 > acc_cap(*n)))
		grown = realloc(*acc, acc_cap(*n + m));
	if (!part || !grown) {
		free(part);
		free(*acc);
		*acc = NULL;
		return -1;
	}
	*acc = grown;
	memcpy(*acc + *n, part, m + 1);
	*n += m;
	free(part);
	return 0;
}
