/*
 * tablefilter.c - compiles TiDB table-filter rules into matchers (literal, match-all, or a
 * pcre2 regex) and evaluates them last-rule-first, as pingcap/tidb pkg/util/table-filter
 * does. Wildcards are translated to an anchored regex the way TiDB builds its Go regexp;
 * /regex/ patterns are searched unanchored.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "policy/tablefilter.h"

#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds the work of a hostile or careless regex (a name is at most 64 chars in TiDB, so
 * honest patterns stay far below). */
#define MATCH_LIMIT 1000000
#define DFA_WORKSPACE 2048 /* ints, on the stack of the matching thread */

typedef enum { M_ALL, M_LITERAL, M_REGEX } mkind;

typedef struct matcher {
	mkind kind;
	char *lit;           /* M_LITERAL */
	size_t litlen;
	pcre2_code *re;      /* M_REGEX; or M_LITERAL compared caselessly */
} matcher;

typedef struct rule {
	matcher schema, table;
	bool positive;
	size_t source;  /* index of the rule as given (blank and comment lines count) */
} rule;

struct ig_tablefilter {
	rule *rules;
	size_t n;
	bool case_sensitive;
	pcre2_match_context *mctx;
};

typedef struct parser {
	const char *s;    /* the trimmed rule */
	size_t len, pos;
	bool cs;
	size_t index;     /* 1-based rule number, for messages */
	const char *text; /* the rule as given */
	char *err;
	size_t errlen;
} parser;

static bool is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int perr(parser *p, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->errlen)
		snprintf(p->err, p->errlen, "rule %zu \"%.80s\": %s", p->index, p->text, msg);
	return -1;
}

static const char *show_char(unsigned char c, char buf[8])
{
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, 8, "%c", c);
	else
		snprintf(buf, 8, "\\x%02x", c);
	return buf;
}

static void matcher_free(matcher *m)
{
	free(m->lit);
	pcre2_code_free(m->re);
	memset(m, 0, sizeof(*m));
}

/* A growable byte buffer for building regex sources. */
typedef struct buf {
	char *p;
	size_t len, cap;
} buf;

static int buf_put(buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int compile(parser *p, const char *src, size_t len, uint32_t opts, pcre2_code **out)
{
	int code;
	PCRE2_SIZE off;

	/* No PCRE2_MATCH_INVALID_UTF: DFA matching does not support it. A name that is not valid
	 * UTF-8 (TiDB's never are) makes the match fail with -1, which callers count as a match. */
	opts |= PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C;
	if (!p->cs)
		opts |= PCRE2_CASELESS;
	*out = pcre2_compile((PCRE2_SPTR)src, len, opts, &code, &off, NULL);
	if (!*out) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(code, msg, sizeof(msg));
		return perr(p, "invalid pattern: %s at offset %zu", (char *)msg, (size_t)off);
	}
	return 0;
}

/* Go's strings.ToLower maps U+0130 (I with dot above) to 'i' and U+212A (Kelvin) to 'k'
 * (unicode.ToLower, CaseRanges); pcre2's caseless matching has no U+0130 -> i. TiDB lowers
 * a literal pattern with it (matchers.go stringMatcher.toLower), so the literal is folded
 * so too before the caseless compile; the names a decision compares are folded alike
 * (proxy/inspect.c go_ascii_fold). Folds in place; returns the new length. */
static size_t go_fold_specials(char *s, size_t n)
{
	size_t w = 0;

	for (size_t r = 0; r < n;) {
		if (n - r >= 2 && (unsigned char)s[r] == 0xc4 && (unsigned char)s[r + 1] == 0xb0) {
			s[w++] = 'i';
			r += 2;
		} else if (n - r >= 3 && (unsigned char)s[r] == 0xe2 && (unsigned char)s[r + 1] == 0x84 &&
		           (unsigned char)s[r + 2] == 0xaa) {
			s[w++] = 'k';
			r += 3;
		} else {
			s[w++] = s[r++];
		}
	}
	s[w] = '\0';
	return w;
}

static int set_literal(parser *p, matcher *m, const char *s, size_t n)
{
	m->kind = M_LITERAL;
	m->lit = malloc(n + 1);
	if (!m->lit)
		return perr(p, "out of memory");
	memcpy(m->lit, s, n);
	m->lit[n] = '\0';
	m->litlen = n;
	if (!p->cs) {
		n = m->litlen = go_fold_specials(m->lit, n);
		s = m->lit;
		/* Caseless comparison with Unicode case folding, as TiDB lowers both sides. A name
		 * that is not valid UTF-8 falls back to ASCII folding (m->re stays NULL). */
		int code;
		PCRE2_SIZE off;
		m->re = pcre2_compile((PCRE2_SPTR)s, n,
		                      PCRE2_LITERAL | PCRE2_CASELESS | PCRE2_UTF | PCRE2_ANCHORED |
		                          PCRE2_ENDANCHORED,
		                      &code, &off, NULL);
	}
	return 0;
}

/* Scans a quoted name ("..." or `...`, the quote doubled inside); TiDB needs one char. */
static int parse_quoted(parser *p, matcher *m)
{
	char q = p->s[p->pos];
	size_t i = p->pos + 1, n = 0;
	char *name = malloc(p->len - p->pos + 1);
	int rc;

	if (!name)
		return perr(p, "out of memory");
	for (;;) {
		if (i >= p->len) {
			free(name);
			return perr(p, "syntax error: incomplete quoted identifier");
		}
		if (p->s[i] == q) {
			if (i + 1 < p->len && p->s[i + 1] == q) {
				name[n++] = q;
				i += 2;
				continue;
			}
			break;
		}
		name[n++] = p->s[i++];
	}
	if (n == 0) {
		free(name);
		return perr(p, "syntax error: incomplete quoted identifier");
	}
	p->pos = i + 1;
	rc = set_literal(p, m, name, n);
	free(name);
	return rc;
}

/* RE2 (TiDB's engine) refuses these; pcre2 would accept them, so refuse them too. */
static const char *re2_incompatible(const char *re, size_t len)
{
	static const char *const groups[] = {"(?=", "(?!", "(?<=", "(?<!", "(?>", "(?|", "(?R",
	                                     "(?&", "(?P=", "(?P>", "(?C", "(*", "(?("};
	bool in_class = false;
	size_t class_body = 0;

	for (size_t i = 0; i < len; i++) {
		char c = re[i];
		if (c == '\\' && i + 1 < len) {
			char d = re[i + 1];
			if (d == 'Q') { /* \Q...\E quotes everything up to \E */
				const char *e = memmem(re + i + 2, len - i - 2, "\\E", 2);
				i = e ? (size_t)(e - re) + 1 : len;
				continue;
			}
			if (!in_class && ((d >= '1' && d <= '9') || d == 'g' || d == 'k'))
				return "backreferences are not supported (TiDB's regexp syntax is RE2)";
			i++;
			continue;
		}
		if (in_class) {
			if (c == ']' && i > class_body)
				in_class = false;
			continue;
		}
		if (c == '[') {
			in_class = true;
			class_body = i + 1 + (i + 1 < len && re[i + 1] == '^');
			continue;
		}
		if (c != '(')
			continue;
		for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
			size_t gl = strlen(groups[g]);
			if (len - i >= gl && memcmp(re + i, groups[g], gl) == 0)
				return "lookaround, atomic, conditional, recursive and verb groups are not supported "
				       "(TiDB's regexp syntax is RE2)";
		}
		if (len - i >= 3 && re[i + 1] == '?' &&
		    ((re[i + 2] >= '0' && re[i + 2] <= '9') || re[i + 2] == '+' || re[i + 2] == '-'))
			if (re[i + 2] != '-' || (len - i >= 4 && re[i + 3] >= '0' && re[i + 3] <= '9'))
				return "recursive groups are not supported (TiDB's regexp syntax is RE2)";
	}
	return NULL;
}

/* /regex/: a backslash escapes the next char (not a newline); the body must be non-empty. */
static int parse_regex(parser *p, matcher *m)
{
	size_t i = p->pos + 1, start = i;
	const char *why;

	while (i < p->len && p->s[i] != '/') {
		if (p->s[i] == '\\' && i + 1 < p->len && p->s[i + 1] != '\n')
			i += 2;
		else
			i++;
	}
	if (i >= p->len || i == start)
		return perr(p, "syntax error: incomplete regexp");
	why = re2_incompatible(p->s + start, i - start);
	if (why)
		return perr(p, "invalid pattern: %s", why);
	m->kind = M_REGEX;
	p->pos = i + 1;
	return compile(p, p->s + start, i - start, PCRE2_DOLLAR_ENDONLY, &m->re);
}

/* [a-z], [!a-z] (negated), [^a] (^ is literal in a glob): one or more body units, each a
 * char other than \ and ], or \ and a non-alphanumeric. Returns the index after ']' or 0. */
static size_t class_end(const char *s, size_t len, size_t at)
{
	for (int bang = 1; bang >= 0; bang--) {
		size_t i = at + 1, units = 0;
		if (bang) {
			if (i >= len || s[i] != '!')
				continue;
			i++;
		}
		while (i < len && s[i] != ']') {
			if (s[i] == '\\') {
				if (i + 1 >= len || is_alnum((unsigned char)s[i + 1]))
					break;
				i += 2;
			} else {
				i++;
			}
			units++;
		}
		if (units > 0 && i < len && s[i] == ']')
			return i + 1;
	}
	return 0;
}

static int wildcard_char(parser *p, buf *lit, buf *re, bool *literal)
{
	unsigned char c = (unsigned char)p->s[p->pos];
	char shown[8];

	switch (c) {
	case '\\': {
		unsigned char esc;
		if (p->pos + 1 >= p->len)
			return perr(p, "syntax error: cannot place \\ at end of line");
		esc = (unsigned char)p->s[p->pos + 1];
		if (is_alnum(esc))
			return perr(p, "cannot escape a letter or number (\\%c), it is reserved for "
			               "future extension", esc);
		if (buf_put(lit, (char *)&esc, 1) < 0 || (esc < 0x80 && buf_put(re, "\\", 1) < 0) ||
		    buf_put(re, (char *)&esc, 1) < 0)
			return perr(p, "out of memory");
		p->pos += 2;
		return 0;
	}
	case '*':
	case '?':
		*literal = false;
		p->pos++;
		return buf_put(re, c == '*' ? ".*" : ".", c == '*' ? 2 : 1) < 0 ? perr(p, "out of memory") : 0;
	case '[': {
		size_t end = class_end(p->s, p->len, p->pos);
		int rc;
		*literal = false;
		if (!end)
			return perr(p, "syntax error: failed to parse character class");
		if (p->s[p->pos + 1] == '!')
			rc = buf_put(re, "[^", 2) | buf_put(re, p->s + p->pos + 2, end - p->pos - 2);
		else if (p->s[p->pos + 1] == '^')
			rc = buf_put(re, "[\\^", 3) | buf_put(re, p->s + p->pos + 2, end - p->pos - 2);
		else
			rc = buf_put(re, p->s + p->pos, end - p->pos);
		p->pos = end;
		return rc < 0 ? perr(p, "out of memory") : 0;
	}
	default:
		if (!(c == '$' || c == '_' || is_alnum(c) || c >= 0x80))
			return perr(p, "unexpected special character '%s'", show_char(c, shown));
		if (buf_put(lit, (char *)&c, 1) < 0 || buf_put(re, (char *)&c, 1) < 0)
			return perr(p, "out of memory");
		p->pos++;
		return 0;
	}
}

/* A wildcard or plain name, up to the '.' separator. A name without wildcards is a literal. */
static int parse_wildcard(parser *p, matcher *m)
{
	buf lit = {0}, re = {0};
	bool literal = true;
	int rc = 0;

	if (buf_put(&lit, "", 0) < 0 || buf_put(&re, "^", 1) < 0)
		rc = perr(p, "out of memory");
	while (rc == 0 && p->pos < p->len && p->s[p->pos] != '.')
		rc = wildcard_char(p, &lit, &re, &literal);
	if (rc == 0 && literal) {
		rc = set_literal(p, m, lit.p, lit.len);
	} else if (rc == 0 && strcmp(re.p, "^.*") == 0) {
		m->kind = M_ALL;
	} else if (rc == 0) {
		m->kind = M_REGEX;
		/* TiDB: "(?s)^" + body + "$"; its $ only matches at the very end. */
		rc = buf_put(&re, "$", 1) < 0 ? perr(p, "out of memory")
		                                : compile(p, re.p, re.len, PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY, &m->re);
	}
	free(lit.p);
	free(re.p);
	return rc;
}

static int parse_pattern(parser *p, matcher *m)
{
	if (p->pos >= p->len)
		return perr(p, "syntax error: missing pattern");
	switch (p->s[p->pos]) {
	case '/':
		return parse_regex(p, m);
	case '"':
	case '`':
		return parse_quoted(p, m);
	default:
		return parse_wildcard(p, m);
	}
}

/* Returns 1 when a rule was produced, 0 for a blank or comment line, -1 on error. */
static int parse_rule(parser *p, rule *r)
{
	while (p->len > 0 && (p->s[0] == ' ' || p->s[0] == '\t')) {
		p->s++;
		p->len--;
	}
	while (p->len > 0 && (p->s[p->len - 1] == ' ' || p->s[p->len - 1] == '\t'))
		p->len--;
	if (p->len == 0 || p->s[0] == '#')
		return 0;
	r->positive = true;
	if (p->s[0] == '@')
		return perr(p, "importing filter files (@file) is not supported; list the rules instead");
	if (p->s[0] == '!') {
		r->positive = false;
		p->pos = 1;
	}
	if (parse_pattern(p, &r->schema) < 0)
		return -1;
	if (p->pos >= p->len)
		return perr(p, "wrong table pattern (expected schema.table)");
	if (p->s[p->pos] != '.')
		return perr(p, "syntax error: missing '.' between schema and table patterns");
	p->pos++;
	if (parse_pattern(p, &r->table) < 0)
		return -1;
	if (p->pos != p->len)
		return perr(p, "syntax error: stray characters after table pattern");
	return 1;
}

void ig_tablefilter_free(ig_tablefilter *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		matcher_free(&f->rules[i].schema);
		matcher_free(&f->rules[i].table);
	}
	free(f->rules);
	pcre2_match_context_free(f->mctx);
	free(f);
}

ig_tablefilter *ig_tablefilter_parse(const char *const *rules, size_t n, bool case_sensitive,
                                     char *err, size_t errlen)
{
	ig_tablefilter *f = calloc(1, sizeof(*f));

	if (!f || (n && !(f->rules = calloc(n, sizeof(*f->rules)))) ||
	    !(f->mctx = pcre2_match_context_create(NULL))) {
		ig_tablefilter_free(f);
		if (errlen)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pcre2_set_match_limit(f->mctx, MATCH_LIMIT);
	f->case_sensitive = case_sensitive;
	for (size_t i = 0; i < n; i++) {
		parser p = {.s = rules[i] ? rules[i] : "", .cs = case_sensitive, .index = i + 1,
		            .err = err, .errlen = errlen};
		int rc;
		p.text = p.s;
		p.len = strlen(p.s);
		f->rules[f->n].source = i;
		rc = parse_rule(&p, &f->rules[f->n]);
		if (rc < 0) {
			matcher_free(&f->rules[f->n].schema);
			matcher_free(&f->rules[f->n].table);
			ig_tablefilter_free(f);
			return NULL;
		}
		f->n += (size_t)rc;
	}
	return f;
}

static bool ascii_caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/* DFA matching (pcre2_dfa_match) never backtracks, so it is polynomial like TiDB's RE2 and a
 * pattern such as /^(a+)+$/ cannot blow up; everything it cannot evaluate (workspace, limits,
 * memory) is reported as -1. */
static int run_re(const ig_tablefilter *f, const pcre2_code *re, const char *s, size_t n)
{
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	int ws[DFA_WORKSPACE];
	int rc;

	if (!md)
		return -1;
	rc = pcre2_dfa_match(re, (PCRE2_SPTR)s, n, 0, 0, md, f->mctx, ws, DFA_WORKSPACE);
	pcre2_match_data_free(md);
	if (rc >= 0)
		return 1;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

static int match_one(const ig_tablefilter *f, const matcher *m, const char *s)
{
	size_t n = strlen(s);

	switch (m->kind) {
	case M_ALL:
		return 1;
	case M_REGEX:
		return run_re(f, m->re, s, n);
	case M_LITERAL:
		if (m->re)
			return run_re(f, m->re, s, n);
		if (n != m->litlen)
			return 0;
		return f->case_sensitive ? memcmp(s, m->lit, n) == 0 : ascii_caseeq(s, m->lit, n);
	}
	return -1;
}

/* Does rule r name db.tbl? 1 yes, 0 no, -1 a matcher failed. */
static int rule_matches(const ig_tablefilter *f, const rule *r, const char *db, const char *tbl)
{
	int s = match_one(f, &r->schema, db);
	return s <= 0 ? s : match_one(f, &r->table, tbl);
}

int ig_tablefilter_decide(const ig_tablefilter *f, const char *db, const char *tbl, size_t *rule_index)
{
	if (rule_index)
		*rule_index = SIZE_MAX;
	if (!f || !db || !tbl)
		return 0;
	for (size_t i = f->n; i-- > 0;) {
		const rule *r = &f->rules[i];
		int m = rule_matches(f, r, db, tbl);
		if (m < 0)
			return -1;
		if (m) {
			if (rule_index)
				*rule_index = r->source;
			return r->positive ? 1 : 0;
		}
	}
	return 0;
}

/* A name another spelling of which differs: an ASCII letter, or any non-ASCII byte (which
 * may belong to a cased letter; counted so without decoding, the safe side). */
static bool has_case(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80)
			return true;
	}
	return false;
}

/* Does m (already seen to match s caselessly) match every spelling of s? */
static bool every_spelling(const matcher *m, const char *s)
{
	return m->kind == M_ALL || !has_case(s);
}

int ig_tablefilter_decide_any_case(const ig_tablefilter *f, const char *db, const char *tbl,
                                   size_t *rule_index)
{
	size_t skipped = SIZE_MAX; /* the last negated rule that excludes only some spellings */

	if (rule_index)
		*rule_index = SIZE_MAX;
	if (!f || !db || !tbl)
		return 0;
	if (f->case_sensitive)
		return -1;
	for (size_t i = f->n; i-- > 0;) {
		const rule *r = &f->rules[i];
		int m = rule_matches(f, r, db, tbl);
		if (m < 0)
			return -1;
		if (!m)
			continue;
		if (r->positive || (every_spelling(&r->schema, db) && every_spelling(&r->table, tbl))) {
			if (rule_index)
				*rule_index = r->source;
			return r->positive ? 1 : 0;
		}
		if (skipped == SIZE_MAX)
			skipped = r->source;
	}
	if (rule_index)
		*rule_index = skipped;
	return 0;
}

int ig_tablefilter_match_ex(const ig_tablefilter *f, const char *db, const char *tbl)
{
	return ig_tablefilter_decide(f, db, tbl, NULL);
}

bool ig_tablefilter_match(const ig_tablefilter *f, const char *db, const char *tbl)
{
	return ig_tablefilter_match_ex(f, db, tbl) != 0;
}

size_t ig_tablefilter_nrules(const ig_tablefilter *f)
{
	return f ? f->n : 0;
}
