/*
 * fuzz_classify.c - libFuzzer target for the lexer, splitter, quick reject and classifier.
 * The first byte selects the caller flags (its bit 5 adds SQL_F_EXACT_MODES, bits 6-7 the
 * version/feature readings); the rest is the SQL text. Checks: no crash or leak, spans
 * inside the input, import_span inside its statement and starting with IMPORT (or a
 * PLAN REPLAYER literal), no SQL_F_EXACT_MODES in a statement's flags, and the fast-path
 * safety property: a text that sql_quick_reject() dismisses has no statement of any
 * interesting kind (only OTHER, or a lexical error the server would refuse as a syntax
 * error).
 */
#include "fuzz_common.h"
#include "sqlparse/lexer.h"
#include "sqlparse/split.h"
#include "sqlparse/sqlparse.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sql_batch b;
	sql_piece *pieces = NULL;
	size_t n = 0, i;
	char err[128];
	unsigned flags;
	const char *sql;
	int rejected;
	if (size < 1)
		return 0;
	flags = (data[0] & 31u) | ((data[0] & 32u) ? SQL_F_EXACT_MODES : 0) | ((data[0] & 64u) ? SQL_F_VERSION6 : 0) |
	        ((data[0] & 128u) ? SQL_F_TIDB_FEATURES_ON : 0);
	sql = (const char *)data + 1;
	size--;
	rejected = sql_quick_reject(sql, size);
	if (sql_split(sql, size, flags, &pieces, &n, err, sizeof(err)) == 0) {
		for (i = 0; i < n; i++)
			FUZZ_CHECK(pieces[i].span.off + pieces[i].span.len <= size);
		free(pieces);
	}
	if (sql_classify(sql, size, flags, &b, err, sizeof(err)) != 0)
		return 0;
	for (i = 0; i < b.n; i++) {
		const sql_stmt *st = &b.stmts[i];
		FUZZ_CHECK(st->span.off + st->span.len <= size);
		FUZZ_CHECK(st->kind != SQL_USE || st->use_db);
		FUZZ_CHECK(st->kind != SQL_PREPARE_TEXT || st->prepare_text);
		FUZZ_CHECK(!(st->flags & SQL_F_EXACT_MODES));
		if (st->kind == SQL_IMPORT_INTO) {
			FUZZ_CHECK(st->import_span.off >= st->span.off && st->import_span.len > 0);
			FUZZ_CHECK(st->import_span.off + st->import_span.len <= st->span.off + st->span.len);
			FUZZ_CHECK(sql[st->import_span.off] == 'i' || sql[st->import_span.off] == 'I' ||
			           sql[st->import_span.off] == '\'' || sql[st->import_span.off] == '"' ||
			           sql[st->import_span.off] == '_' || sql[st->import_span.off] == 'n' ||
			           sql[st->import_span.off] == 'N');
		} else {
			FUZZ_CHECK(st->import_span.len == 0);
		}
		/* a lexical error is a syntax error at the server: nothing runs */
		if (rejected)
			FUZZ_CHECK(st->kind == SQL_OTHER || st->kind == SQL_LEX_ERROR);
	}
	sql_batch_free(&b);
	return 0;
}
