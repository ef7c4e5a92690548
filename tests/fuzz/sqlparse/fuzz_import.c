/*
 * fuzz_import.c - libFuzzer target for the IMPORT INTO parser and the rewriter. The first
 * byte selects the lexical flags. When the text parses, adding DISABLE_PRECHECK and
 * removing it must agree with a re-parse: the added text parses with the option and one
 * more option (or is unchanged if it had it), removal gives a text without it, and
 * remove(add(s)) == s byte for byte when s lacked it; a logical rewrite (LOAD DATA) is one
 * LOAD DATA statement. Any disagreement aborts.
 */
#include "fuzz_common.h"
#include "sqlparse/logical.h"
#include "sqlparse/sqlparse.h"

#include <string.h>

static void check_added(const char *sql, size_t len, unsigned flags, const sql_import *imp)
{
	char *added = NULL, *back = NULL, err[256];
	size_t alen = 0, blen = 0;
	sql_import a, r;
	bool had = sql_import_find_opt(imp, "DISABLE_PRECHECK") != NULL;
	if (sql_import_add_disable_precheck(sql, len, imp, &added, &alen, err, sizeof(err)) != 0)
		return; /* allocation failure only */
	if (had) {
		FUZZ_CHECK(alen == len && memcmp(added, sql, len) == 0);
		free(added);
		return;
	}
	FUZZ_CHECK(sql_import_parse(added, alen, flags, &a, err, sizeof(err)) == 0);
	FUZZ_CHECK(sql_import_find_opt(&a, "DISABLE_PRECHECK") != NULL);
	FUZZ_CHECK(a.nopts == imp->nopts + 1);
	FUZZ_CHECK(a.src == imp->src);
	FUZZ_CHECK((a.db == NULL) == (imp->db == NULL));
	FUZZ_CHECK(strcmp(a.table, imp->table) == 0);
	if (sql_import_remove_disable_precheck(added, alen, &a, &back, &blen, err, sizeof(err)) == 0) {
		FUZZ_CHECK(blen == len && memcmp(back, sql, len) == 0);
		FUZZ_CHECK(sql_import_parse(back, blen, flags, &r, err, sizeof(err)) == 0);
		FUZZ_CHECK(sql_import_find_opt(&r, "DISABLE_PRECHECK") == NULL);
		sql_import_free(&r);
		free(back);
	}
	sql_import_free(&a);
	free(added);
}

static void check_removed(const char *sql, size_t len, unsigned flags, const sql_import *imp)
{
	char *out = NULL, err[256];
	size_t olen = 0;
	sql_import r;
	if (!sql_import_find_opt(imp, "DISABLE_PRECHECK"))
		return;
	if (sql_import_remove_disable_precheck(sql, len, imp, &out, &olen, err, sizeof(err)) != 0)
		return;
	FUZZ_CHECK(olen < len);
	FUZZ_CHECK(sql_import_parse(out, olen, flags, &r, err, sizeof(err)) == 0);
	FUZZ_CHECK(sql_import_find_opt(&r, "DISABLE_PRECHECK") == NULL);
	FUZZ_CHECK(strcmp(r.table, imp->table) == 0);
	sql_import_free(&r);
	free(out);
}

/*
 * The logical rewrite (sqlparse/logical.c) must never smuggle anything in: when it succeeds,
 * its text, read under the same flags, is exactly one statement and that is a LOAD DATA.
 */
static void check_logical(const char *sql, size_t len, unsigned flags, const sql_import *imp)
{
	char *out = NULL, err[256];
	size_t olen = 0, mine = 0;
	sql_batch b;
	if (sql_import_to_load_data(sql, len, imp, &out, &olen, err, sizeof(err)) != 0) {
		FUZZ_CHECK(err[0] != 0);
		return;
	}
	FUZZ_CHECK(out != NULL && strlen(out) == olen);
	if (sql_classify(out, olen, flags, &b, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < b.n; i++)
			mine += b.stmts[i].flags == flags;
		FUZZ_CHECK(b.n >= 1 && b.stmts[0].kind == SQL_LOAD_DATA);
		FUZZ_CHECK(mine == 1);
		sql_batch_free(&b);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sql_import imp;
	char err[256];
	unsigned flags;
	const char *sql;
	if (size < 1)
		return 0;
	flags = data[0] & 31u;
	sql = (const char *)data + 1;
	size--;
	if (sql_import_parse(sql, size, flags, &imp, err, sizeof(err)) != 0) {
		FUZZ_CHECK(err[0] != 0);
		return 0;
	}
	FUZZ_CHECK(imp.table != NULL);
	FUZZ_CHECK(imp.end <= size);
	FUZZ_CHECK(imp.target_span.off + imp.target_span.len <= imp.end);
	FUZZ_CHECK(imp.src != SQL_SRC_FILE || imp.location != NULL);
	check_added(sql, size, flags, &imp);
	check_removed(sql, size, flags, &imp);
	check_logical(sql, size, flags, &imp);
	sql_import_free(&imp);
	return 0;
}
