/*
 * rewrite.c - adds or removes the DISABLE_PRECHECK option of a parsed IMPORT INTO
 * statement. Only the bytes of the option (with its separator) change; everything else,
 * comments and spacing included, is kept as the client sent it, so that
 * remove(add(s)) == s byte for byte when s had no DISABLE_PRECHECK.
 */
#include "sqlparse/sqlparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cut {
	size_t off, end; /* bytes [off, end) are dropped */
} cut;

static bool spans_ok(size_t len, const sql_import *imp)
{
	size_t i;
	if (imp->end > len || imp->with_span.off + imp->with_span.len > len)
		return false;
	for (i = 0; i < imp->nopts; i++)
		if (imp->opts[i].span.off + imp->opts[i].span.len > len)
			return false;
	return true;
}

static int finish(char *buf, size_t n, char **out, size_t *outlen)
{
	buf[n] = 0;
	*out = buf;
	if (outlen)
		*outlen = n;
	return 0;
}

/* Bytes 0x85/0xA0 right after the last token are blanks to TiDB but would become part of
 * an inserted word: insert after them instead (removal keeps them, as they precede the
 * inserted separator). */
static size_t past_high_blanks(const char *sql, size_t len, size_t at)
{
	while (at < len && ((unsigned char)sql[at] == 0x85 || (unsigned char)sql[at] == 0xa0))
		at++;
	return at;
}

static int copy_with_insert(const char *sql, size_t len, size_t at, const char *ins, char **out, size_t *outlen,
                            char *err, size_t errlen)
{
	size_t il = strlen(ins);
	char *buf = malloc(len + il + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(buf, sql, at);
	memcpy(buf + at, ins, il);
	memcpy(buf + at + il, sql + at, len - at);
	return finish(buf, len + il, out, outlen);
}

int sql_import_add_disable_precheck(const char *sql, size_t len, const sql_import *imp, char **out, size_t *outlen,
                                    char *err, size_t errlen)
{
	if (!sql || !imp || !spans_ok(len, imp)) {
		snprintf(err, errlen, "statement and parse result do not match");
		return -1;
	}
	if (sql_import_find_opt(imp, "DISABLE_PRECHECK"))
		return copy_with_insert(sql, len, len, "", out, outlen, err, errlen);
	if (imp->has_with && imp->nopts > 0)
		return copy_with_insert(sql, len, past_high_blanks(sql, len, imp->with_span.off + imp->with_span.len),
		                        ", DISABLE_PRECHECK", out, outlen, err, errlen);
	/* "--" followed by a blank would turn into a comment: do not add the blank there */
	if (imp->end >= 2 && sql[imp->end - 1] == '-' && sql[imp->end - 2] == '-')
		return copy_with_insert(sql, len, imp->end, "WITH DISABLE_PRECHECK", out, outlen, err, errlen);
	return copy_with_insert(sql, len, past_high_blanks(sql, len, imp->end), " WITH DISABLE_PRECHECK", out, outlen,
	                        err, errlen);
}

static bool is_dp(const sql_import_opt *o)
{
	return !o->name_truncated && strcmp(o->name, "DISABLE_PRECHECK") == 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
	       c >= 0x80;
}

/* Would joining kept output buf[0..n) with sql[pos..] create a token that was not there:
 * "--" + blank (comment), "/" + "*" (comment), "*" + "/" (end of an executable comment),
 * or two word bytes (one longer word)? */
static bool bad_join(const char *buf, size_t n, const char *sql, size_t len, size_t pos)
{
	unsigned char p = n ? (unsigned char)buf[n - 1] : 0, q = pos < len ? (unsigned char)sql[pos] : 0;
	if (n == 0)
		return false;
	if (p == '-' && n >= 2 && buf[n - 2] == '-' && (pos >= len || q <= ' ' || q == 0x85 || q == 0xa0))
		return true;
	if (pos >= len)
		return false;
	return (p == '/' && q == '*') || (p == '*' && q == '/') || (word_byte(p) && word_byte(q));
}

/* The byte ranges to drop, in increasing order (they may touch or overlap). */
static size_t plan_cuts(const char *sql, const sql_import *imp, cut *cuts)
{
	size_t i, n = 0, last_kept = imp->nopts, wend = imp->with_span.off + imp->with_span.len;
	for (i = 0; i < imp->nopts; i++)
		if (!is_dp(&imp->opts[i]))
			last_kept = i;
	if (last_kept == imp->nopts) {
		/* nothing left: drop the whole WITH clause and the blanks before it */
		size_t off = imp->with_span.off;
		while (off > 0 && is_blank(sql[off - 1]))
			off--;
		cuts[n].off = off;
		cuts[n++].end = wend;
		return n;
	}
	for (i = 0; i < last_kept; i++)
		if (is_dp(&imp->opts[i])) {
			cuts[n].off = imp->opts[i].span.off; /* the option, its comma, up to the next option */
			cuts[n++].end = imp->opts[i + 1].span.off;
		}
	if (last_kept + 1 < imp->nopts) {
		/* from the ',' after the last kept option (and the blanks before it) to the end */
		size_t off = imp->opts[last_kept + 1].comma_off;
		while (off > imp->opts[last_kept].span.off + imp->opts[last_kept].span.len && is_blank(sql[off - 1]))
			off--;
		cuts[n].off = off;
		cuts[n++].end = wend;
	}
	return n;
}

int sql_import_remove_disable_precheck(const char *sql, size_t len, const sql_import *imp, char **out,
                                       size_t *outlen, char *err, size_t errlen)
{
	cut *cuts;
	size_t ncuts, i, pos = 0, n = 0;
	char *buf;
	if (!sql || !imp || !spans_ok(len, imp)) {
		snprintf(err, errlen, "statement and parse result do not match");
		return -1;
	}
	if (!sql_import_find_opt(imp, "DISABLE_PRECHECK"))
		return copy_with_insert(sql, len, len, "", out, outlen, err, errlen);
	cuts = calloc(imp->nopts + 1, sizeof(*cuts));
	buf = malloc(len + 1);
	if (!cuts || !buf) {
		free(cuts);
		free(buf);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ncuts = plan_cuts(sql, imp, cuts);
	for (i = 0; i < ncuts; i++) {
		if (cuts[i].off > pos) {
			memcpy(buf + n, sql + pos, cuts[i].off - pos);
			n += cuts[i].off - pos;
			pos = cuts[i].off;
		}
		if (cuts[i].end > pos)
			pos = cuts[i].end;
		if (bad_join(buf, n, sql, len, pos)) {
			/* the join would make new tokens: no byte-preserving removal exists */
			free(cuts);
			free(buf);
			snprintf(err, errlen, "cannot remove DISABLE_PRECHECK without changing other tokens");
			return -1;
		}
	}
	memcpy(buf + n, sql + pos, len - pos);
	n += len - pos;
	free(cuts);
	return finish(buf, n, out, outlen);
}
