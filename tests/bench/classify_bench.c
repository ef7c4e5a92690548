/*
 * classify_bench.c - throughput of the statement inspector: sql_quick_reject() over
 * sysbench-like OLTP statements (the fast path every COM_QUERY takes), the full
 * classifier on texts the fast path passes on, and IMPORT INTO parse + rewrite and
 * redaction (the slow path). Prints ns/op and ops/s. Build with buildtype=release.
 * Also classifies 16 MiB batches of tiny statements once each (the work must be linear in
 * the text: a quadratic classifier took seconds on a few hundred KiB) and prints the time.
 * Usage: classify_bench [seconds-per-case, default 1]
 */
#include "sqlparse/sqlparse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile uint64_t sink;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct stmt {
	const char *sql;
	size_t len;
} stmt;

/* sysbench oltp_read_write statement shapes */
static const char *const oltp[] = {
	"SELECT c FROM sbtest1 WHERE id=5012",
	"SELECT c FROM sbtest7 WHERE id BETWEEN 4950 AND 5049",
	"SELECT SUM(k) FROM sbtest3 WHERE id BETWEEN 100 AND 199",
	"SELECT c FROM sbtest2 WHERE id BETWEEN 8120 AND 8219 ORDER BY c",
	"SELECT DISTINCT c FROM sbtest5 WHERE id BETWEEN 12 AND 111 ORDER BY c",
	"UPDATE sbtest4 SET k=k+1 WHERE id=50212",
	"UPDATE sbtest6 SET c='83868641912-28773972837-60736120486-75162659906-27563526494-20381887404-"
	"41576422241-93426793964-56405065102-33518432330' WHERE id=4999",
	"DELETE FROM sbtest8 WHERE id=5001",
	"INSERT INTO sbtest8 (id, k, c, pad) VALUES (5001, 4992, '67847967377-48000963322-62604785301-91415491898-"
	"96926520291-65342440288-73543839223-87553355437-53574437458-24283519829', "
	"'22195207048-70116052123-74140395089-76317954521-98694025897')",
	"BEGIN",
	"COMMIT",
	"SET autocommit=1",
};

/* texts the fast path hands to the full classifier */
static const char *const slow[] = {
	"/* app=checkout */ SELECT c FROM sbtest1 WHERE id=5012",
	"SELECT 1; SELECT 2",
	"USE sbtest",
	"-- trace 1234\nUPDATE sbtest4 SET k=k+1 WHERE id=50212",
};

static const char *const import_sql =
	"IMPORT INTO sbtest.sbtest1 (id, k, @c, pad) SET c = UPPER(@c) "
	"FROM 's3://bucket/sbtest/sbtest1.*.csv?access-key=AKIA&secret-access-key=SECRET' "
	"FORMAT 'csv' WITH THREAD=16, SKIP_ROWS=1, DETACHED";

static void report(const char *name, double secs, uint64_t ops)
{
	printf("%-44s %10.2f ns/op %14.0f ops/s\n", name, secs * 1e9 / (double)ops, (double)ops / secs);
}

static stmt *mk(const char *const *v, size_t n)
{
	stmt *s = calloc(n, sizeof(*s));
	size_t i;
	if (!s) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (i = 0; i < n; i++) {
		s[i].sql = v[i];
		s[i].len = strlen(v[i]);
	}
	return s;
}

static void bench_quick(const char *name, const stmt *s, size_t n, double budget, int expect)
{
	uint64_t ops = 0, acc = 0;
	double t0 = now_s(), t;
	size_t i;
	for (i = 0; i < n; i++)
		if (sql_quick_reject(s[i].sql, s[i].len) != expect) {
			fprintf(stderr, "unexpected quick-reject result for <%s>\n", s[i].sql);
			exit(1);
		}
	do {
		int r;
		for (r = 0; r < 100000; r++)
			for (i = 0; i < n; i++)
				acc += (uint64_t)sql_quick_reject(s[i].sql, s[i].len);
		ops += 100000ull * n;
		t = now_s() - t0;
	} while (t < budget);
	sink += acc;
	report(name, t, ops);
}

static void bench_classify(const stmt *s, size_t n, double budget)
{
	uint64_t ops = 0;
	double t0 = now_s(), t;
	char err[128];
	do {
		size_t i;
		for (i = 0; i < n; i++) {
			sql_batch b;
			if (sql_classify(s[i].sql, s[i].len, 0, &b, err, sizeof(err)) != 0)
				exit(1);
			sink += b.n;
			sql_batch_free(&b);
		}
		ops += n;
		t = now_s() - t0;
	} while (t < budget);
	report("sql_classify (fast path declined)", t, ops);
}

/* The gateway's path for an import: sql_classify(), then sql_import_parse() on the text
 * with the statement's flags, then the rewrite. Measured whole and in parts; the speed
 * target (issue 3) is parse + rewrite. */
static void bench_import(double budget)
{
	size_t len = strlen(import_sql);
	uint64_t ops = 0;
	double t0 = now_s(), t;
	char err[256];
	do {
		sql_batch b;
		sql_import imp;
		char *out;
		size_t outlen;
		if (sql_classify(import_sql, len, 0, &b, err, sizeof(err)) != 0 || b.n != 1 ||
		    b.stmts[0].kind != SQL_IMPORT_INTO)
			exit(1);
		if (sql_import_parse(import_sql, len, b.stmts[0].flags, &imp, err, sizeof(err)) != 0)
			exit(1);
		if (sql_import_add_disable_precheck(import_sql, len, &imp, &out, &outlen, err, sizeof(err)) != 0)
			exit(1);
		sink += outlen;
		free(out);
		sql_import_free(&imp);
		sql_batch_free(&b);
		ops++;
		t = now_s() - t0;
	} while (t < budget);
	report("IMPORT INTO classify + parse + add option", t, ops);
}

static void bench_import_classify(double budget)
{
	size_t len = strlen(import_sql);
	uint64_t ops = 0;
	double t0 = now_s(), t;
	char err[256];
	do {
		sql_batch b;
		if (sql_classify(import_sql, len, 0, &b, err, sizeof(err)) != 0 || b.n != 1 ||
		    b.stmts[0].kind != SQL_IMPORT_INTO)
			exit(1);
		sink += b.stmts[0].flags;
		sql_batch_free(&b);
		ops++;
		t = now_s() - t0;
	} while (t < budget);
	report("IMPORT INTO classify", t, ops);
}

static void bench_import_parse_rewrite(const char *name, const char *sql, double budget)
{
	size_t len = strlen(sql);
	uint64_t ops = 0;
	double t0 = now_s(), t;
	char err[256];
	do {
		sql_import imp;
		char *out;
		size_t outlen;
		if (sql_import_parse(sql, len, 0, &imp, err, sizeof(err)) != 0)
			exit(1);
		if (sql_import_add_disable_precheck(sql, len, &imp, &out, &outlen, err, sizeof(err)) != 0)
			exit(1);
		sink += outlen;
		free(out);
		sql_import_free(&imp);
		ops++;
		t = now_s() - t0;
	} while (t < budget);
	report(name, t, ops);
}

static void bench_redact(double budget)
{
	size_t len = strlen(import_sql);
	uint64_t ops = 0;
	double t0 = now_s(), t;
	do {
		char *r = sql_redact_statement(import_sql, len, 0);
		if (!r)
			exit(1);
		sink += r[0];
		free(r);
		ops++;
		t = now_s() - t0;
	} while (t < budget);
	report("sql_redact_statement (IMPORT INTO)", t, ops);
}

/* A text of `size` bytes made of `unit` repeated, then an import at the end. */
static char *big_batch(const char *unit, size_t size, size_t *len)
{
	const char *tail = "IMPORT INTO t FROM 'x'";
	size_t ul = strlen(unit), n = size / ul, i;
	char *s = malloc(n * ul + strlen(tail) + 1);
	if (!s) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	strcpy(s + n * ul, tail);
	*len = n * ul + strlen(tail);
	return s;
}

/* One sql_classify call on a 16 MiB batch; prints seconds and MiB/s. */
static void bench_big(const char *name, const char *unit, unsigned flags)
{
	size_t len, nimp = 0, i;
	char *s = big_batch(unit, 16u << 20, &len), err[128];
	sql_batch b;
	double t0 = now_s(), t;
	if (sql_classify(s, len, flags, &b, err, sizeof(err)) != 0) {
		fprintf(stderr, "classify failed: %s\n", err);
		exit(1);
	}
	t = now_s() - t0;
	for (i = 0; i < b.n; i++)
		nimp += b.stmts[i].kind == SQL_IMPORT_INTO;
	if (nimp == 0) {
		fprintf(stderr, "%s: the import at the end was not found\n", name);
		exit(1);
	}
	printf("%-44s %10.3f s     %8.1f MiB/s (%zu statements)\n", name, t, (double)len / (1 << 20) / t, b.n);
	sql_batch_free(&b);
	free(s);
}

int main(int argc, char **argv)
{
	double budget = argc > 1 ? atof(argv[1]) : 1.0;
	size_t no = sizeof(oltp) / sizeof(oltp[0]), ns = sizeof(slow) / sizeof(slow[0]);
	stmt *o = mk(oltp, no), *sl = mk(slow, ns);
	if (budget <= 0)
		budget = 1.0;
	printf("sqlparse classifier benchmark (%.1f s per case, one core)\n", budget);
	bench_quick("sql_quick_reject, sysbench OLTP mix (12)", o, no, budget, 1);
	bench_quick("sql_quick_reject, point select", o, 1, budget, 1);
	bench_quick("sql_quick_reject, BEGIN/COMMIT", o + 9, 2, budget, 1);
	bench_quick("sql_quick_reject, declined (comment, ';', USE)", sl, ns, budget, 0);
	bench_classify(sl, ns, budget);
	bench_import(budget);
	bench_import_classify(budget);
	bench_import_parse_rewrite("IMPORT INTO parse + add option (193 bytes)", import_sql, budget);
	bench_import_parse_rewrite("IMPORT INTO parse + add option (minimal)",
	                           "IMPORT INTO t FROM '/d/t.csv'", budget);
	bench_redact(budget);
	bench_big("16 MiB batch: SELECT 1;", "SELECT 1;", 0);
	bench_big("16 MiB batch: DO 1;", "DO 1;", 0);
	bench_big("16 MiB batch: USE x; + comments", "USE x; /* c */ SELECT 1; -- c\n", 0);
	bench_big("16 MiB batch: USE/SET/comments, exact modes", "USE x; SET @a = 1; /* c */ DO 1;",
	          SQL_F_EXACT_MODES);
	bench_big("16 MiB batch: SET NAMES gbk; USE x; (exact)", "SET NAMES gbk; USE x;", SQL_F_EXACT_MODES);
	bench_big("16 MiB batch: /*!40101 USE x*/; 'a\\\\';", "/*!40101 USE x*/; SELECT 'a\\\\';", 0);
	bench_big("16 MiB batch: PREPARE s FROM 'SELECT 1';", "PREPARE s FROM 'SELECT 1';", 0);
	free(o);
	free(sl);
	return sink == 42 ? 1 : 0;
}
