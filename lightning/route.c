/*
 * route.c - [[routes]] matching (route.h has the rules and their sources).
 */
#include "lightning/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

typedef struct pat {
	char *text;        /* the wildcard, lowered unless case-sensitive */
	pcre2_code *re;    /* "~regex" */
} pat;

typedef struct rule {
	pat schema, table; /* table.text NULL and no re: a schema rule */
	bool has_table;
	const char *target_schema, *target_table;
} rule;

struct ig_ltn_router {
	rule *v;
	size_t n;
	bool case_sensitive;
};

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
}

/* "*" only last (trie_selector insert: NotValidf after an asterisk). */
static int pat_compile(pat *p, const char *src, bool cs, char *err, size_t errlen, size_t i)
{
	if (src[0] == '~') {
		int ec;
		PCRE2_SIZE off;
		p->re = pcre2_compile((PCRE2_SPTR)(src + 1), PCRE2_ZERO_TERMINATED,
		                      (cs ? 0 : PCRE2_CASELESS) | PCRE2_UTF, &ec, &off, NULL);
		if (!p->re) {
			PCRE2_UCHAR msg[120];
			pcre2_get_error_message(ec, msg, sizeof(msg));
			snprintf(err, errlen, "routes[%zu]: invalid regular expression \"%.100s\": %s", i, src + 1,
			         (const char *)msg);
			return -1;
		}
		return 0;
	}
	const char *star = strchr(src, '*');
	if (star && star[1]) {
		snprintf(err, errlen, "routes[%zu]: pattern \"%.100s\" is not valid: \"*\" must be its last character", i, src);
		return -1;
	}
	if (!(p->text = strdup(src))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!cs)
		lower(p->text);
	return 0;
}

/* "[...]" at p: returns the byte count of the class and whether c is in it; 0 = not a class
 * (no closing "]": the "[" is a literal, as getRangeItem). */
static size_t range_match(const char *p, unsigned char c, bool *in)
{
	const char *close = strchr(p, ']');
	size_t i = 1;
	bool neg = false, hit = false;

	if (!close || close == p + 1)
		return 0;
	if (p[1] == '!') {
		neg = true;
		i = 2;
	}
	size_t end = (size_t)(close - p);
	if (neg && i == end) { /* "[!]" is the byte '!' */
		*in = c == '!';
		return end + 1;
	}
	for (; i < end; i++) {
		unsigned char a = (unsigned char)p[i], b = a;
		if (p[i + 1] == '-' && i + 2 < end) {
			b = (unsigned char)p[i + 2];
			i += 2;
		}
		if (a <= c && c <= b)
			hit = true;
	}
	*in = neg ? !hit : hit;
	return end + 1;
}

static bool wild_match(const char *p, const char *s)
{
	for (;;) {
		bool in;
		size_t n;
		if (*p == '*')
			return true;
		if (!*p)
			return !*s;
		if (!*s)
			return false;
		if (*p == '?') {
			p++, s++;
			continue;
		}
		if (*p == '[' && (n = range_match(p, (unsigned char)*s, &in)) > 0) {
			if (!in)
				return false;
			p += n, s++;
			continue;
		}
		if (*p != *s)
			return false;
		p++, s++;
	}
}

static bool pat_match(const pat *p, const char *name)
{
	if (p->re) {
		pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->re, NULL);
		int rc = md ? pcre2_match(p->re, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) : -1;
		pcre2_match_data_free(md);
		/* an evaluation failure counts as a match: two rules then say so rather than pick one */
		return rc >= 0 || rc != PCRE2_ERROR_NOMATCH;
	}
	return wild_match(p->text, name);
}

void ig_ltn_router_free(ig_ltn_router *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].schema.text);
		free(r->v[i].table.text);
		pcre2_code_free(r->v[i].schema.re);
		pcre2_code_free(r->v[i].table.re);
	}
	free(r->v);
	free(r);
}

ig_ltn_router *ig_ltn_router_new(const ig_ltn_route *rules, size_t n, bool case_sensitive,
                                 char *err, size_t errlen)
{
	ig_ltn_router *r = calloc(1, sizeof(*r));

	if (!r || !(r->v = calloc(n ? n : 1, sizeof(rule)))) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->case_sensitive = case_sensitive;
	for (size_t i = 0; i < n; i++, r->n++) {
		rule *u = &r->v[i];
		u->has_table = rules[i].table_pattern && *rules[i].table_pattern;
		u->target_schema = rules[i].target_schema;
		u->target_table = rules[i].target_table ? rules[i].target_table : "";
		if (pat_compile(&u->schema, rules[i].schema_pattern, case_sensitive, err, errlen, i) < 0 ||
		    (u->has_table && pat_compile(&u->table, rules[i].table_pattern, case_sensitive, err, errlen, i) < 0)) {
			r->n++;
			ig_ltn_router_free(r);
			return NULL;
		}
	}
	return r;
}

static int dup2(const char *a, const char *b, char **oa, char **ob, char *err, size_t errlen)
{
	*oa = strdup(a);
	*ob = strdup(b);
	if (*oa && *ob)
		return 0;
	free(*oa);
	free(*ob);
	*oa = *ob = NULL;
	snprintf(err, errlen, "out of memory");
	return -1;
}

int ig_ltn_route_table(const ig_ltn_router *r, const char *schema, const char *table,
                       char **target_schema, char **target_table, char *err, size_t errlen)
{
	const rule *tbl = NULL, *sch = NULL;
	size_t ntbl = 0, nsch = 0;
	char *s, *t;

	*target_schema = *target_table = NULL;
	if (dup2(schema, table, &s, &t, err, errlen) < 0)
		return -1;
	if (!r->case_sensitive) {
		lower(s);
		lower(t);
	}
	for (size_t i = 0; r && i < r->n; i++) {
		const rule *u = &r->v[i];
		if (!pat_match(&u->schema, s))
			continue;
		if (!u->has_table) {
			sch = u, nsch++;
		} else if (pat_match(&u->table, t)) {
			tbl = u, ntbl++;
		}
	}
	free(s);
	free(t);
	if (ntbl > 1 || (ntbl == 0 && nsch > 1)) {
		snprintf(err, errlen, "table %.64s.%.64s matches more than one rule", schema, table);
		return -1;
	}
	const rule *u = ntbl ? tbl : sch;
	return dup2(u && *u->target_schema ? u->target_schema : schema,
	            u && *u->target_table ? u->target_table : table, target_schema, target_table, err, errlen);
}
