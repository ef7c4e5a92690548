/*
 * test_corpus.c - the bypass corpus (tests/corpus/import_{positive,negative}.txt; format
 * in their headers). Every positive must yield an IMPORT INTO with the expected target
 * (directly or inside a PREPARE text) under every caller flag combination; every negative
 * must yield none. Also generated cases: very long statements and comment floods.
 * argv[1] = the corpus directory.
 */
#include "helpers.h"

static const char *corpus_dir = "tests/corpus";

typedef struct record {
	char *head; /* text after "=> " */
	char *sql;
	size_t len;
	int line;
} record;

typedef struct records {
	record *v;
	size_t n;
} records;

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* "\x{HH}" -> byte HH; everything else verbatim. */
static size_t unescape(char *s, size_t n)
{
	size_t i, k = 0;
	for (i = 0; i < n; i++) {
		if (i + 6 <= n && s[i] == '\\' && s[i + 1] == 'x' && s[i + 2] == '{' && s[i + 5] == '}' &&
		    hexv(s[i + 3]) >= 0 && hexv(s[i + 4]) >= 0) {
			s[k++] = (char)(hexv(s[i + 3]) * 16 + hexv(s[i + 4]));
			i += 5;
			continue;
		}
		s[k++] = s[i];
	}
	return k;
}

static char *slurp(const char *name, size_t *len)
{
	char path[1024];
	FILE *f;
	char *buf;
	long sz;
	snprintf(path, sizeof(path), "%s/%s", corpus_dir, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)sz + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
	buf[sz] = 0;
	fclose(f);
	*len = (size_t)sz;
	return buf;
}

static records load(const char *name)
{
	static const char sep[] = "-- ----\n";
	records r = {NULL, 0};
	size_t len, pos;
	char *buf = slurp(name, &len), *p;
	int line = 1;
	p = strstr(buf, sep);
	assert_non_null(p);
	for (char *q = buf; q < p; q++)
		line += *q == '\n';
	pos = (size_t)(p - buf);
	while (pos < len) {
		char *start = buf + pos + strlen(sep), *next = strstr(start, "\n-- ----\n"), *nl;
		char *end = next ? next + 1 : buf + len;
		record rec;
		line++;
		nl = memchr(start, '\n', (size_t)(end - start));
		assert_non_null(nl);
		assert_true(strncmp(start, "=> ", 3) == 0);
		rec.head = strndup(start + 3, (size_t)(nl - start - 3));
		rec.len = (size_t)(end - nl - 1);
		if (rec.len && nl[rec.len] == '\n')
			rec.len--; /* the record's final newline */
		rec.sql = malloc(rec.len + 1);
		assert_non_null(rec.sql);
		memcpy(rec.sql, nl + 1, rec.len);
		rec.len = unescape(rec.sql, rec.len);
		rec.sql[rec.len] = 0;
		rec.line = line;
		for (char *q = start; q < end; q++)
			line += *q == '\n';
		r.v = realloc(r.v, (r.n + 1) * sizeof(*r.v));
		assert_non_null(r.v);
		r.v[r.n++] = rec;
		pos = (size_t)(end - buf);
	}
	free(buf);
	return r;
}

static void free_records(records *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].head);
		free(r->v[i].sql);
	}
	free(r->v);
}

static bool same(const char *a, const char *b)
{
	return (a == NULL && (b == NULL || *b == 0)) || (a && b && strcmp(a, b) == 0);
}

/* Does text (under caller flags) reach an IMPORT INTO of db.table? depth bounds PREPARE. */
static bool finds_import(const char *sql, size_t len, unsigned flags, const char *db, const char *table, int depth)
{
	sql_batch b;
	char err[256];
	bool found = false;
	assert_int_equal(sql_classify(sql, len, flags, &b, err, sizeof(err)), 0);
	for (size_t i = 0; i < b.n && !found; i++) {
		sql_stmt *st = &b.stmts[i];
		if (st->kind == SQL_IMPORT_INTO) {
			sql_import imp;
			if (st->import_span.off < st->span.off ||
			    st->import_span.off + st->import_span.len > st->span.off + st->span.len)
				fail_msg("import_span outside the statement in <%s>", sql);
			if (sql_import_parse(sql + st->import_span.off, st->import_span.len, st->import_flags, &imp, err,
			                     sizeof(err)) == 0) {
				found = same(imp.db, db) && same(imp.table, table);
				sql_import_free(&imp);
			}
		} else if (st->kind == SQL_PREPARE_TEXT && st->prepare_inner == SQL_IMPORT_INTO && depth < 5) {
			found = finds_import(st->prepare_text, st->prepare_text_len,
			                     st->flags & (SQL_F_NO_BACKSLASH_ESCAPES | SQL_F_ANSI_QUOTES | SQL_F_MB_PAIRS), db,
			                     table, depth + 1);
		}
	}
	sql_batch_free(&b);
	return found;
}

static bool any_import(const char *sql, size_t len, unsigned flags, sql_kind *first)
{
	sql_batch b;
	char err[256];
	bool found = false;
	assert_int_equal(sql_classify(sql, len, flags, &b, err, sizeof(err)), 0);
	for (size_t i = 0; i < b.n; i++)
		if (b.stmts[i].kind == SQL_IMPORT_INTO ||
		    (b.stmts[i].kind == SQL_PREPARE_TEXT && b.stmts[i].prepare_inner == SQL_IMPORT_INTO))
			found = true;
	if (first)
		*first = b.n ? b.stmts[0].kind : SQL_OTHER;
	sql_batch_free(&b);
	return found;
}

static void test_positive(void **st)
{
	records r = load("import_positive.txt");
	size_t failures = 0;
	(void)st;
	assert_true(r.n >= 60);
	for (size_t i = 0; i < r.n; i++) {
		char *bar = strchr(r.v[i].head, '|');
		assert_non_null(bar);
		*bar = 0;
		for (unsigned f = 0; f < 4; f++)
			if (!finds_import(r.v[i].sql, r.v[i].len, f, r.v[i].head, bar + 1, 0)) {
				print_error("line %d flags %u: no IMPORT INTO %s.%s in <%s>\n", r.v[i].line, f, r.v[i].head, bar + 1,
				            r.v[i].sql);
				failures++;
			}
		if (sql_quick_reject(r.v[i].sql, r.v[i].len)) {
			print_error("line %d: quick-rejected <%s>\n", r.v[i].line, r.v[i].sql);
			failures++;
		}
	}
	free_records(&r);
	assert_int_equal(failures, 0);
}

static void test_negative(void **st)
{
	records r = load("import_negative.txt");
	size_t failures = 0;
	(void)st;
	assert_true(r.n >= 60);
	for (size_t i = 0; i < r.n; i++) {
		for (unsigned f = 0; f < 4; f++) {
			sql_kind first;
			if (any_import(r.v[i].sql, r.v[i].len, f, &first)) {
				print_error("line %d flags %u: import found in <%s>\n", r.v[i].line, f, r.v[i].sql);
				failures++;
			}
			if (f == 0 && strcmp(r.v[i].head, "any") != 0 && strcmp(r.v[i].head, sql_kind_name(first)) != 0) {
				print_error("line %d: first kind %s, expected %s in <%s>\n", r.v[i].line, sql_kind_name(first),
				            r.v[i].head, r.v[i].sql);
				failures++;
			}
		}
	}
	free_records(&r);
	assert_int_equal(failures, 0);
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
	size_t ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(ul * times + tl + 1);
	assert_non_null(s);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * ul, unit, ul);
	memcpy(s + ul * times, tail, tl + 1);
	return s;
}

static void test_generated_long(void **st)
{
	char *s;
	(void)st;
	/* 1 MiB of comments before the keyword */
	s = repeat("/* padding padding padding padding padding padding */ ", 20000, "IMPORT INTO t FROM 'x'");
	assert_true(finds_import(s, strlen(s), 0, NULL, "t", 0));
	free(s);
	/* 10k statements before it */
	s = repeat("SELECT 'x;y', `a;b`, \"c;d\";", 10000, "IMPORT INTO db.t FROM 'x'");
	assert_true(finds_import(s, strlen(s), 0, "db", "t", 0));
	free(s);
	/* a huge string before it, with backslashes (explores the backslash modes) */
	s = repeat("a\\\\b", 100000, "'; IMPORT INTO t FROM 'x'");
	{
		char *t = malloc(strlen(s) + 16);
		assert_non_null(t);
		strcpy(t, "SELECT '");
		strcat(t, s);
		assert_true(finds_import(t, strlen(t), 0, NULL, "t", 0));
		free(t);
	}
	free(s);
	/* a long import statement inside PREPARE */
	s = repeat("a, ", 20000, "b) FROM ''x'''");
	{
		const char *pre = "PREPARE s FROM 'IMPORT INTO t (";
		char *t = malloc(strlen(pre) + strlen(s) + 1);
		assert_non_null(t);
		strcpy(t, pre);
		strcat(t, s);
		assert_true(finds_import(t, strlen(t), 0, NULL, "t", 0));
		free(t);
	}
	free(s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positive),
		cmocka_unit_test(test_negative),
		cmocka_unit_test(test_generated_long),
	};
	if (argc > 1)
		corpus_dir = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
