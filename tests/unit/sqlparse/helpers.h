/*
 * helpers.h - small helpers shared by the sqlparse unit tests (cmocka).
 */
#ifndef IG_TEST_SQLPARSE_HELPERS_H
#define IG_TEST_SQLPARSE_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlparse/sqlparse.h"

/* Classify s (NUL-terminated) and return the batch; fails the test on error. */
static inline sql_batch classify_str(const char *s, unsigned flags)
{
	sql_batch b;
	char err[128];
	int rc = sql_classify(s, strlen(s), flags, &b, err, sizeof(err));
	assert_int_equal(rc, 0);
	return b;
}

/* Kind of the only statement of s. */
static inline sql_kind kind1(const char *s, unsigned flags)
{
	sql_batch b = classify_str(s, flags);
	sql_kind k;
	if (b.n != 1)
		fail_msg("expected 1 statement in <%s>, got %zu", s, b.n);
	k = b.stmts[0].kind;
	sql_batch_free(&b);
	return k;
}

/* The statement text of stmt i as a new string. */
static inline char *span_str(const char *s, sql_span sp)
{
	char *o = malloc(sp.len + 1);
	assert_non_null(o);
	memcpy(o, s + sp.off, sp.len);
	o[sp.len] = 0;
	return o;
}

/* Parse s (must succeed) into imp. */
static inline void parse_ok(const char *s, sql_import *imp)
{
	char err[256];
	if (sql_import_parse(s, strlen(s), 0, imp, err, sizeof(err)) != 0)
		fail_msg("parse failed for <%s>: %s", s, err);
}

static inline void assert_span_text(const char *s, sql_span sp, const char *expect)
{
	char *t = span_str(s, sp);
	assert_string_equal(t, expect);
	free(t);
}

#endif
