/*
 * logical.c - IMPORT INTO (CSV) -> LOAD DATA INFILE rewrite for the policy action
 * `logical` (docs/LOGICAL_IMPORT.md). Owns the option mapping, the refusals and the quoting
 * of the produced statement.
 *
 * Facts (read in a pingcap/tidb master snapshot; docs.pingcap.com sql-statement-load-data):
 *  - pkg/parser/parser.y LoadDataStmt: LOAD DATA [LOW_PRIORITY] [LOCAL] INFILE stringLit
 *    [FORMAT ..] [IGNORE|REPLACE] INTO TABLE t [CHARACTER SET CharsetName] [FIELDS items]
 *    [LINES [STARTING BY ..] [TERMINATED BY ..]] [IGNORE NUM LINES] [(cols/@vars)] [SET ..].
 *    FIELDS/LINES values are FieldTerminator = stringLit | hexLit | bitLit (so X'5C' is a
 *    valid value); DEFINED NULL BY takes a TextString, optionally followed by OPTIONALLY
 *    ENCLOSED. INFILE takes a plain stringLit only (no hex). ENCLOSED/ESCAPED BY longer than
 *    one byte is a syntax error.
 *  - docs sql-statement-load-data: remote INFILE (S3/GCS, with '*' wildcards, not recursive)
 *    and FIELDS DEFINED NULL BY are new in v7.0.0 (marked experimental). Without LOCAL the
 *    file must be remote: pkg/executor/importer/import.go InitDataFiles returns
 *    ErrLoadDataFromServerDisk for a server path in LOAD DATA (IMPORT INTO accepts one).
 *  - import.go: LOAD DATA and IMPORT INTO share LoadDataController (field mapping, the
 *    glob: IndexAny(path, "*[") with '?' escaped, i.e. literal) and the CSV parser
 *    (pkg/lightning/mydump/csv_parser.go). IMPORT INTO defaults (newDefaultLineFieldsInfo,
 *    defaultFieldNullDef, defaultCharacterSet): FIELDS_TERMINATED_BY ',', ENCLOSED_BY '"',
 *    ESCAPED_BY '\', DEFINED_NULL_BY '\N', LINES_TERMINATED_BY "" = the parser ends a line
 *    at '\r' or '\n' (so also "\r\n"), CHARACTER_SET utf8mb4. An explicit empty
 *    LINES_TERMINATED_BY is error 8164; LOAD DATA refuses an empty LINES TERMINATED BY
 *    ("LINES TERMINATED BY is empty", checkFieldParams) and defaults to '\n': the
 *    automatic line end has no LOAD DATA spelling, so it is refused here.
 *  - NULL: IMPORT INTO's null list is [FIELDS_DEFINED_NULL_BY] (default [\N]); LOAD DATA's
 *    (NewPlanFromLoadDataPlan) is [DEFINED NULL BY] or, without it, ["NULL"] when ENCLOSED BY
 *    is set, plus <escape>N whenever ESCAPED BY is set. GenerateCSVConfig: LOAD DATA reads a
 *    quoted null string as text unless DEFINED NULL BY .. OPTIONALLY ENCLOSED; IMPORT INTO
 *    always treats it as NULL. Hence: DEFINED NULL BY is always written, with OPTIONALLY
 *    ENCLOSED when there is an enclosure, and a null string other than <escape>N with a
 *    non-empty escape is refused (LOAD DATA would also read <escape>N as NULL).
 *  - Without CHARACTER SET, LOAD DATA reads the file in character_set_database; IMPORT INTO
 *    in utf8mb4: the charset is always written.
 *  - IGNORE n LINES and SKIP_ROWS both set Plan.IgnoreLines (same skipping code).
 *  - Not expressible, data dependent (documented, not refused): LOAD DATA keeps empty
 *    lines as rows (AllowEmptyLine) where IMPORT INTO skips empty and blank lines, and
 *    accepts an unescaped quote inside a quoted field (UnescapedQuote) where IMPORT INTO
 *    fails.
 * Options dropped, because they mean nothing for a transactional load: DISABLE_TIKV_IMPORT_MODE,
 * DISABLE_PRECHECK (LOAD DATA has no precheck; the gateway has decided), CHECKSUM_TABLE
 * (verifies KV pairs ingested outside transactions; LOAD DATA writes transactionally and a
 * duplicate key is an error), after checking its value as TiDB would.
 * Refused, as issue 8 and docs/LOGICAL_IMPORT.md ask (the user chose a physical-import knob;
 * the gateway does not quietly ignore it): THREAD, DISK_QUOTA, MAX_WRITE_SPEED, SPLIT_FILE,
 * CLOUD_STORAGE_URI. Also refused: FROM SELECT, FORMAT other than csv (also a csv-less auto-detected format),
 * DETACHED (the client expects a job to follow), RECORD_ERRORS (error tolerance),
 * GROUP_KEY (job grouping), test-only options (__*), '[' globs, EXPLAIN/TRACE forms.
 * Not refused: a server-disk path (TiDB answers ErrLoadDataFromServerDisk itself, loudly).
 */
#include "sqlparse/logical.h"
#include "sqlparse/hexdigit.h"
#include "sqlparse/strbuf.h"
#include "sqlparse/lexer.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- output buffer ---- */


static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "no logical import: ");
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- lexical checks on copied text ---- */

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

#define N_READINGS 4
static const unsigned readings[N_READINGS] = {0, SQL_F_NO_BACKSLASH_ESCAPES, SQL_F_ANSI_QUOTES,
                                              SQL_F_ANSI_QUOTES | SQL_F_NO_BACKSLASH_ESCAPES};

/* Token boundaries of s[0..n) under flags, blanks only between tokens (no comments).
 * Fills ends[] (token end offsets, at most max); returns the count, or -1. */
static int lex_plain(const char *s, size_t n, unsigned flags, size_t *ends, int max)
{
	sql_lexer lx;
	sql_token t;
	size_t prev = 0, k;
	int cnt = 0;
	sql_lex_init(&lx, s, n, flags);
	for (;;) {
		sql_tok_type ty = sql_lex_next(&lx, &t);
		if (ty == SQL_TOK_ERROR)
			return -1;
		if (ty == SQL_TOK_EOF)
			break;
		for (k = prev; k < t.off; k++)
			if (!is_blank((unsigned char)s[k]))
				return -1; /* a comment (or an executable one) */
		if (cnt == max)
			return -1;
		ends[cnt++] = t.off + t.len;
		prev = t.off + t.len;
	}
	for (k = prev; k < n; k++)
		if (!is_blank((unsigned char)s[k]))
			return -1;
	return cnt;
}

/* A span can be copied verbatim when it holds no comment and every reading the server
 * could make (backslash escapes, ANSI_QUOTES) cuts it into the same tokens: it then means
 * in the LOAD DATA what it meant in the IMPORT INTO. */
static bool span_copyable(const char *sql, sql_span sp)
{
	enum { MAXT = 4096 };
	size_t *a, *b;
	int na, nb, r;
	bool ok = true;
	if (sp.len == 0)
		return true;
	a = malloc(2 * MAXT * sizeof(*a));
	if (!a)
		return false;
	b = a + MAXT;
	na = lex_plain(sql + sp.off, sp.len, readings[0], a, MAXT);
	if (na <= 0)
		ok = false;
	for (r = 1; ok && r < N_READINGS; r++) {
		nb = lex_plain(sql + sp.off, sp.len, readings[r], b, MAXT);
		ok = nb == na && memcmp(a, b, (size_t)na * sizeof(*a)) == 0;
	}
	free(a);
	return ok;
}

/* ---- literal values under both backslash modes ---- */

typedef struct lit {
	bool given;
	char *v[2]; /* decoded: [0] backslash escapes on, [1] NO_BACKSLASH_ESCAPES */
	size_t n[2];
	bool raw_ok; /* a single '..', X'..' or B'..' token: copy it */
	sql_span raw;
} lit;


/* X'..' / 0x.. / B'..' / 0b.. -> bytes (MySQL pads on the left to whole bytes). */
static char *decode_binlit(const char *s, size_t n, bool hex, size_t *outlen)
{
	size_t i = 0, e = n, nd, k, bits = hex ? 4 : 1, nbytes;
	char *out;
	if (n >= 2 && s[0] == '0') {
		i = 2;
	} else {
		i = 2;
		e = n - 1; /* X'..' */
	}
	nd = e > i ? e - i : 0;
	nbytes = (nd * bits + 7) / 8;
	out = calloc(nbytes + 1, 1);
	if (!out)
		return NULL;
	for (k = 0; k < nd; k++) {
		size_t bitpos = (nbytes * 8) - (nd - k) * bits; /* left padding */
		int d = hex ? sql_hex_digit(s[i + k]) : (s[i + k] - '0');
		size_t j;
		if (d < 0) {
			free(out);
			return NULL;
		}
		for (j = 0; j < bits; j++)
			if (d & (1 << (bits - 1 - j)))
				out[(bitpos + j) / 8] |= (char)(0x80 >> ((bitpos + j) % 8));
	}
	*outlen = nbytes;
	return out;
}

/* Decode a value span (string literals, or one hex/bit literal) under one reading. */
static int decode_value(const char *sql, sql_span sp, unsigned flags, char **out, size_t *outlen, int *ntok,
                        bool *single_plain)
{
	sql_lexer lx;
	sql_token t;
	char *acc = NULL;
	size_t n = 0;
	*ntok = 0;
	*single_plain = false;
	sql_lex_init(&lx, sql, sp.off + sp.len, flags);
	lx.pos = sp.off;
	for (;;) {
		sql_tok_type ty = sql_lex_next(&lx, &t);
		char *part, *na;
		size_t m;
		if (ty == SQL_TOK_EOF)
			break;
		if (ty == SQL_TOK_HEX || ty == SQL_TOK_BIT) {
			if (*ntok > 0)
				goto bad;
			part = decode_binlit(sql + t.off, t.len, ty == SQL_TOK_HEX, &m);
			*single_plain = true;
		} else if (ty == SQL_TOK_STRING) {
			part = sql_tok_decode(sql, &t, flags, &m);
			*single_plain = *ntok == 0 && !(t.flags & SQL_TOKF_PREFIX) && sql[t.off] == '\'';
		} else {
			goto bad;
		}
		if (!part)
			goto bad;
		na = realloc(acc, n + m + 1);
		if (!na) {
			free(part);
			goto bad;
		}
		acc = na;
		memcpy(acc + n, part, m);
		n += m;
		acc[n] = 0;
		free(part);
		(*ntok)++;
	}
	if (*ntok != 1)
		*single_plain = false;
	if (!acc)
		goto bad;
	*out = acc;
	*outlen = n;
	return 0;
bad:
	free(acc);
	return -1;
}

static void lit_free(lit *l)
{
	free(l->v[0]);
	free(l->v[1]);
	memset(l, 0, sizeof(*l));
}

static bool lit_same(const lit *l)
{
	return l->n[0] == l->n[1] && memcmp(l->v[0], l->v[1], l->n[0]) == 0;
}

/* Read an option's value under both backslash modes. A reading in which the value is no
 * literal at all reads a different statement; the other reading's value then stands for
 * both and is re-quoted (never copied), so the LOAD DATA means one thing in either mode. */
static int lit_read(const char *sql, const sql_import_opt *o, lit *l, char *err, size_t errlen)
{
	int nt[2] = {0, 0}, m, ok[2];
	bool pl[2] = {false, false};
	memset(l, 0, sizeof(*l));
	l->given = true;
	for (m = 0; m < 2; m++)
		ok[m] = decode_value(sql, o->value_span, m ? SQL_F_NO_BACKSLASH_ESCAPES : 0, &l->v[m], &l->n[m], &nt[m],
		                     &pl[m]) == 0;
	if (!ok[0] && !ok[1]) {
		lit_free(l);
		return fail(err, errlen, "the value of %s is not a string literal LOAD DATA can take", o->name);
	}
	for (m = 0; m < 2; m++)
		if (!ok[m]) {
			l->v[m] = malloc(l->n[!m] + 1);
			if (!l->v[m]) {
				lit_free(l);
				return fail(err, errlen, "out of memory");
			}
			memcpy(l->v[m], l->v[!m], l->n[!m] + 1);
			l->n[m] = l->n[!m];
		}
	l->raw = o->value_span;
	l->raw_ok = ok[0] && ok[1] && pl[0] && pl[1] && span_copyable(sql, o->value_span);
	if (!l->raw_ok && !lit_same(l)) {
		lit_free(l);
		return fail(err, errlen,
		            "the value of %s is written so that its meaning depends on NO_BACKSLASH_ESCAPES; "
		            "write it as one literal (e.g. X'5C' for a backslash)",
		            o->name);
	}
	return 0;
}

/* ---- the plan: what the IMPORT INTO means ---- */

typedef struct plan {
	lit charset, term, encl, esc, null, lines;
	const char *skip; /* digits */
	size_t skiplen;
	sql_span cols; /* "( ... )" or len 0 */
} plan;

static void plan_free(plan *p)
{
	lit_free(&p->charset);
	lit_free(&p->term);
	lit_free(&p->encl);
	lit_free(&p->esc);
	lit_free(&p->null);
	lit_free(&p->lines);
}

static const char *const dropped_opts[] = {"DISABLE_TIKV_IMPORT_MODE", "DISABLE_PRECHECK", NULL};
/* Physical-import knobs: no LOAD DATA counterpart, and not silently dropped. */
static const char *const physical_opts[] = {"THREAD", "DISK_QUOTA", "MAX_WRITE_SPEED", "SPLIT_FILE",
                                            "CLOUD_STORAGE_URI", NULL};

static bool in_list(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

static bool ieq_n(const char *a, size_t n, const char *b)
{
	return sql_ieq(a, n, b);
}

/* CHECKSUM_TABLE levels TiDB accepts (lightning config PostOpLevel.FromStringValue). */
static bool checksum_level_ok(const lit *l)
{
	static const char *const lv[] = {"off", "false", "optional", "required", "true", NULL};
	int m, i;
	for (m = 0; m < 2; m++) {
		bool ok = false;
		for (i = 0; lv[i]; i++)
			ok = ok || ieq_n(l->v[m], l->n[m], lv[i]);
		if (!ok)
			return false;
	}
	return true;
}

static lit *plan_slot(plan *p, const char *name)
{
	if (strcmp(name, "CHARACTER_SET") == 0)
		return &p->charset;
	if (strcmp(name, "FIELDS_TERMINATED_BY") == 0)
		return &p->term;
	if (strcmp(name, "FIELDS_ENCLOSED_BY") == 0)
		return &p->encl;
	if (strcmp(name, "FIELDS_ESCAPED_BY") == 0)
		return &p->esc;
	if (strcmp(name, "FIELDS_DEFINED_NULL_BY") == 0)
		return &p->null;
	if (strcmp(name, "LINES_TERMINATED_BY") == 0)
		return &p->lines;
	return NULL;
}

static int take_option(const char *sql, const sql_import_opt *o, plan *p, char *err, size_t errlen)
{
	lit *slot = plan_slot(p, o->name), tmp;
	if (slot)
		return lit_read(sql, o, slot, err, errlen);
	if (strcmp(o->name, "SKIP_ROWS") == 0) {
		p->skip = o->value;
		p->skiplen = strlen(o->value);
		if (p->skiplen && p->skip[0] == '+') {
			p->skip++;
			p->skiplen--;
		}
		if (p->skiplen == 0 || strspn(p->skip, "0123456789") != p->skiplen)
			return fail(err, errlen, "SKIP_ROWS is not a plain number");
		return 0;
	}
	if (strcmp(o->name, "CHECKSUM_TABLE") == 0) {
		bool ok;
		if (lit_read(sql, o, &tmp, err, errlen) < 0)
			return -1;
		ok = checksum_level_ok(&tmp);
		lit_free(&tmp);
		return ok ? 0 : fail(err, errlen, "CHECKSUM_TABLE value is not one TiDB accepts");
	}
	if (in_list(o->name, dropped_opts))
		return 0;
	if (in_list(o->name, physical_opts))
		return fail(err, errlen, "%s tunes the physical import and has no LOAD DATA counterpart; "
		            "remove it to allow the logical import", o->name);
	if (strcmp(o->name, "DETACHED") == 0)
		return fail(err, errlen, "DETACHED: the client expects a background job to follow, LOAD DATA runs in "
		                         "the session");
	if (strcmp(o->name, "RECORD_ERRORS") == 0)
		return fail(err, errlen, "RECORD_ERRORS changes how bad rows are tolerated, LOAD DATA has no "
		                         "counterpart");
	if (strcmp(o->name, "GROUP_KEY") == 0)
		return fail(err, errlen, "GROUP_KEY names an import job group, LOAD DATA creates no job");
	return fail(err, errlen, "option %s has no LOAD DATA counterpart", o->name);
}

/* ---- checks on the meaning ---- */

static bool charset_name_ok(const lit *l)
{
	size_t i;
	int m;
	for (m = 0; m < 2; m++) {
		if (l->n[m] == 0)
			return false;
		for (i = 0; i < l->n[m]; i++) {
			char c = l->v[m][i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
				return false;
		}
	}
	return lit_same(l);
}

/* A backslash reading under which TiDB itself refuses the IMPORT INTO (a two-byte escape
 * or enclosure, an empty terminator) cannot load anything either way: skip its checks. */
static bool reading_valid(const plan *p, int m)
{
	if ((p->esc.given && p->esc.n[m] > 1) || (p->encl.given && p->encl.n[m] > 1))
		return false;
	if ((p->term.given && p->term.n[m] == 0) || (p->lines.given && p->lines.n[m] == 0))
		return false;
	return true;
}

/* NULL strings: IMPORT INTO [null]; LOAD DATA [null] + <esc>N when esc is set. Equal sets
 * only when esc is empty or null == <esc>N. Checked for both backslash readings. */
static int check_null(const plan *p, char *err, size_t errlen)
{
	int m;
	for (m = 0; m < 2; m++) {
		if (!reading_valid(p, m))
			continue;
		const char *esc = p->esc.given ? p->esc.v[m] : "\\";
		size_t elen = p->esc.given ? p->esc.n[m] : 1;
		const char *nul = p->null.given ? p->null.v[m] : "\\N";
		size_t nlen = p->null.given ? p->null.n[m] : 2;
		if (elen == 0)
			continue;
		if (!(nlen == elen + 1 && memcmp(nul, esc, elen) == 0 && nul[elen] == 'N'))
			return fail(err, errlen,
			            "FIELDS_DEFINED_NULL_BY differs from FIELDS_ESCAPED_BY followed by N: LOAD DATA "
			            "would also read <escape>N as NULL; set FIELDS_ESCAPED_BY='' or make the null "
			            "string <escape>N");
	}
	return 0;
}

static bool has_byte(const char *s, size_t n, char c)
{
	return memchr(s, c, n) != NULL;
}

/* The path part of a location (a URL's query string is not part of the file name). */
static size_t path_len(const char *loc, size_t n)
{
	const char *q;
	if (!strstr(loc, "://"))
		return n;
	q = memchr(loc, '?', n);
	return q ? (size_t)(q - loc) : n;
}

static const char *ext_of(const char *s, size_t n, size_t *elen)
{
	size_t i = n;
	while (i > 0 && s[i - 1] != '.' && s[i - 1] != '/')
		i--;
	if (i == 0 || s[i - 1] != '.') {
		*elen = 0;
		return s + n;
	}
	*elen = n - (i - 1);
	return s + i - 1;
}

/* File name without a compression suffix (parseFileType in import.go). */
static size_t strip_compression(const char *s, size_t n)
{
	static const char *const comp[] = {".gz", ".gzip", ".zstd", ".zst", ".snappy", NULL};
	size_t el;
	const char *e = ext_of(s, n, &el);
	int i;
	for (i = 0; comp[i]; i++)
		if (el && ieq_n(e, el, comp[i]))
			return n - el;
	return n;
}

static bool non_csv_ext(const char *s, size_t n)
{
	size_t el;
	const char *e = ext_of(s, strip_compression(s, n), &el);
	return el && (ieq_n(e, el, ".sql") || ieq_n(e, el, ".parquet"));
}

static int check_location(const char *loc, size_t n, bool format_given, char *err, size_t errlen)
{
	size_t pl = path_len(loc, n);
	const char *star;
	if (pl == 0)
		return fail(err, errlen, "empty file location");
	if (has_byte(loc, pl, '['))
		return fail(err, errlen, "'[' pattern in the file location: LOAD DATA documents only '*' patterns");
	if (format_given)
		return 0;
	if (non_csv_ext(loc, pl))
		return fail(err, errlen, "the file name selects the sql or parquet format (FORMAT not given)");
	star = memrchr(loc, '*', pl);
	if (star) {
		const char *tail = star + 1;
		size_t tl = pl - (size_t)(tail - loc), el;
		size_t base = strip_compression(tail, tl);
		ext_of(tail, base, &el);
		if (el == 0)
			return fail(err, errlen, "the '*' pattern may match .sql or .parquet files, whose format IMPORT "
			                         "INTO detects; add FORMAT 'csv'");
	}
	return 0;
}

/* ---- emitting literals ---- */

static bool plain_ok(const char *s, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || c == '\'' || c == '\\')
			return false;
	}
	return true;
}

/* A value both backslash modes read the same: '' / 'plain' / X'hex'. */
static void emit_bytes(sql_sbuf *b, const char *s, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t i;
	if (plain_ok(s, n)) {
		sql_sb_str(b, "'");
		sql_sb_put(b, s, n);
		sql_sb_str(b, "'");
		return;
	}
	sql_sb_str(b, "X'");
	for (i = 0; i < n; i++) {
		char d[2] = {hx[(unsigned char)s[i] >> 4], hx[(unsigned char)s[i] & 15]};
		sql_sb_put(b, d, 2);
	}
	sql_sb_str(b, "'");
}

static void emit_lit(sql_sbuf *b, const char *sql, const lit *l, const char *dflt, size_t dlen)
{
	if (!l->given)
		emit_bytes(b, dflt, dlen);
	else if (l->raw_ok)
		sql_sb_put(b, sql + l->raw.off, l->raw.len);
	else
		emit_bytes(b, l->v[0], l->n[0]);
}

/* INFILE takes a plain string literal only (no hex): copy it, or quote it by doubling
 * quotes when it has no backslash. */
static int emit_location(sql_sbuf *b, const char *sql, const sql_import *imp, char *err, size_t errlen)
{
	const char *v = imp->location;
	size_t i, n = strlen(v);
	if (imp->location_span.len && sql[imp->location_span.off] == '\'' && span_copyable(sql, imp->location_span)) {
		sql_lexer lx;
		sql_token t;
		sql_lex_init(&lx, sql, imp->location_span.off + imp->location_span.len, 0);
		lx.pos = imp->location_span.off;
		if (sql_lex_next(&lx, &t) == SQL_TOK_STRING && t.off + t.len == imp->location_span.off + imp->location_span.len) {
			sql_sb_put(b, sql + t.off, t.len);
			return 0;
		}
	}
	if (has_byte(v, n, '\\'))
		return fail(err, errlen, "the file location has a backslash and is not one plain '...' literal");
	sql_sb_str(b, "'");
	for (i = 0; i < n; i++)
		sql_sb_put(b, v[i] == '\'' ? "''" : v + i, v[i] == '\'' ? 2 : 1);
	sql_sb_str(b, "'");
	return 0;
}

/* ---- the statement's own clauses ---- */

/* "(cols)" right after the target, as written. */
static int find_cols(const char *sql, const sql_import *imp, sql_span *cols)
{
	sql_lexer lx;
	sql_token t;
	size_t start;
	cols->off = cols->len = 0;
	sql_lex_init(&lx, sql, imp->end, 0);
	lx.pos = imp->target_span.off + imp->target_span.len;
	if (sql_lex_next(&lx, &t) != SQL_TOK_LPAREN)
		return 0;
	start = t.off;
	for (;;) {
		sql_tok_type ty = sql_lex_next(&lx, &t);
		if (ty == SQL_TOK_RPAREN)
			break;
		if (ty == SQL_TOK_EOF || ty == SQL_TOK_ERROR || ty == SQL_TOK_LPAREN)
			return -1;
	}
	cols->off = start;
	cols->len = t.off + t.len - start;
	return 0;
}

/* EXPLAIN / DESC / TRACE IMPORT INTO load nothing: their rewrite would load the file. */
static bool starts_with_import(const char *sql, size_t len)
{
	sql_lexer lx;
	sql_token t;
	sql_lex_init(&lx, sql, len, 0);
	return sql_lex_next(&lx, &t) == SQL_TOK_IDENT && sql_tok_is(sql, &t, "IMPORT");
}

static int check_shape(const char *sql, size_t len, const sql_import *imp, char *err, size_t errlen)
{
	if (!sql || !imp || imp->end > len || !imp->table)
		return fail(err, errlen, "the parse does not belong to this text");
	if (!starts_with_import(sql, len))
		return fail(err, errlen, "the statement does not start with IMPORT (EXPLAIN/DESC/TRACE load nothing)");
	if (imp->tidb_errcode)
		return fail(err, errlen, "TiDB would refuse the IMPORT INTO itself (%d: %s)", imp->tidb_errcode,
		            imp->tidb_errmsg);
	if (imp->src == SQL_SRC_SELECT)
		return fail(err, errlen, "IMPORT INTO ... FROM SELECT has no LOAD DATA counterpart");
	if (!imp->location)
		return fail(err, errlen, "no file location");
	if (imp->format && !ieq_n(imp->format, strlen(imp->format), "csv"))
		return fail(err, errlen, "FORMAT '%s': LOAD DATA reads delimited text only", imp->format);
	return 0;
}

static int build_plan(const char *sql, const sql_import *imp, plan *p, char *err, size_t errlen)
{
	size_t i;
	for (i = 0; i < imp->nopts; i++)
		if (take_option(sql, &imp->opts[i], p, err, errlen) < 0)
			return -1;
	if (!p->lines.given)
		return fail(err, errlen,
		            "LINES_TERMINATED_BY is not set: IMPORT INTO then ends lines at \\n, \\r\\n or \\r, "
		            "which LOAD DATA cannot express; add LINES_TERMINATED_BY='\\n' (or '\\r\\n')");
	if (p->charset.given && !charset_name_ok(&p->charset))
		return fail(err, errlen, "CHARACTER_SET is not a plain charset name");
	if (check_null(p, err, errlen) < 0)
		return -1;
	if (find_cols(sql, imp, &p->cols) < 0)
		return fail(err, errlen, "cannot find the column list");
	if (!span_copyable(sql, imp->target_span) || !span_copyable(sql, p->cols) || !span_copyable(sql, imp->set_span))
		return fail(err, errlen, "the table name, column list or SET clause holds a comment or text whose "
		                         "reading depends on sql_mode; it cannot be copied");
	return 0;
}

static int check_locations(const char *sql, const sql_import *imp, char *err, size_t errlen)
{
	int m;
	if (imp->location_span.len == 0 || sql[imp->location_span.off] == '"')
		return check_location(imp->location, strlen(imp->location), imp->format != NULL, err, errlen);
	for (m = 0; m < 2; m++) {
		char *v = NULL;
		size_t n;
		int nt, rc;
		bool pl;
		/* a reading that sees no literal here reads another statement: the parse's own
		 * reading (imp->location) is checked below in any case */
		if (decode_value(sql, imp->location_span, m ? SQL_F_NO_BACKSLASH_ESCAPES : 0, &v, &n, &nt, &pl) < 0)
			continue;
		rc = n == strlen(v) ? check_location(v, n, imp->format != NULL, err, errlen)
		                    : fail(err, errlen, "NUL byte in the file location");
		free(v);
		if (rc < 0)
			return -1;
	}
	return check_location(imp->location, strlen(imp->location), imp->format != NULL, err, errlen);
}

static void emit_all(sql_sbuf *b, const char *sql, const sql_import *imp, const plan *p)
{
	sql_sb_str(b, " INTO TABLE ");
	sql_sb_put(b, sql + imp->target_span.off, imp->target_span.len);
	sql_sb_str(b, " CHARACTER SET ");
	if (p->charset.given)
		sql_sb_put(b, p->charset.v[0], p->charset.n[0]);
	else
		sql_sb_str(b, "utf8mb4");
	sql_sb_str(b, " FIELDS TERMINATED BY ");
	emit_lit(b, sql, &p->term, ",", 1);
	sql_sb_str(b, " ENCLOSED BY ");
	emit_lit(b, sql, &p->encl, "\"", 1);
	sql_sb_str(b, " ESCAPED BY ");
	emit_lit(b, sql, &p->esc, "\\", 1);
	sql_sb_str(b, " DEFINED NULL BY ");
	emit_lit(b, sql, &p->null, "\\N", 2);
	if (!p->encl.given || p->encl.n[0] > 0)
		sql_sb_str(b, " OPTIONALLY ENCLOSED");
	sql_sb_str(b, " LINES TERMINATED BY ");
	emit_lit(b, sql, &p->lines, "", 0);
	if (p->skip && strspn(p->skip, "0") != p->skiplen) {
		sql_sb_str(b, " IGNORE ");
		sql_sb_put(b, p->skip, p->skiplen);
		sql_sb_str(b, " LINES");
	}
	if (p->cols.len) {
		sql_sb_str(b, " ");
		sql_sb_put(b, sql + p->cols.off, p->cols.len);
	}
	if (imp->set_span.len) {
		sql_sb_str(b, " SET ");
		sql_sb_put(b, sql + imp->set_span.off, imp->set_span.len);
	}
}

int sql_import_to_load_data(const char *sql, size_t len, const sql_import *imp, char **out, size_t *outlen,
                            char *err, size_t errlen)
{
	plan p;
	sql_sbuf b = {0};
	int rc = -1;
	memset(&p, 0, sizeof(p));
	*out = NULL;
	*outlen = 0;
	if (check_shape(sql, len, imp, err, errlen) < 0)
		return -1;
	if (build_plan(sql, imp, &p, err, errlen) < 0 || check_locations(sql, imp, err, errlen) < 0)
		goto done;
	sql_sb_str(&b, "LOAD DATA INFILE ");
	if (emit_location(&b, sql, imp, err, errlen) < 0)
		goto done;
	emit_all(&b, sql, imp, &p);
	if (b.oom) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	*out = b.p;
	*outlen = b.n;
	b.p = NULL;
	rc = 0;
done:
	free(b.p);
	plan_free(&p);
	return rc;
}
