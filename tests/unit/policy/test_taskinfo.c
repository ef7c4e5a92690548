/*
 * test_taskinfo.c - protobuf decoding of backuppb.StreamBackupTaskInfo from hand-built
 * bytes: name (4) and table_filter (5) kept, unknown fields of every wire type skipped,
 * groups and bad wire types refused, every truncation refused (or accepted exactly at a
 * field boundary), never an over-read (ASan builds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "policy/clusterstate.h"

typedef struct pb {
	unsigned char b[4096];
	size_t n;
	size_t bounds[64]; /* offsets where a field ends */
	size_t nbounds;
} pb;

static void put_varint(pb *p, uint64_t v)
{
	do {
		unsigned char c = v & 0x7f;
		v >>= 7;
		p->b[p->n++] = c | (v ? 0x80 : 0);
	} while (v);
}

static void end_field(pb *p)
{
	p->bounds[p->nbounds++] = p->n;
}

static void put_tag(pb *p, uint64_t field, unsigned wire)
{
	put_varint(p, field << 3 | wire);
}

static void put_bytes(pb *p, uint64_t field, const void *s, size_t n)
{
	put_tag(p, field, 2);
	put_varint(p, n);
	memcpy(p->b + p->n, s, n);
	p->n += n;
	end_field(p);
}

static void put_str(pb *p, uint64_t field, const char *s)
{
	put_bytes(p, field, s, strlen(s));
}

static void put_uint(pb *p, uint64_t field, uint64_t v)
{
	put_tag(p, field, 0);
	put_varint(p, v);
	end_field(p);
}

static void put_fixed(pb *p, uint64_t field, unsigned wire, size_t n)
{
	put_tag(p, field, wire);
	memset(p->b + p->n, 0xab, n);
	p->n += n;
	end_field(p);
}

static void clear(ig_lbtask *t)
{
	free(t->pb_name);
	for (size_t i = 0; i < t->nfilters; i++)
		free(t->filters[i]);
	free(t->filters);
	free(t->storage);
	memset(t, 0, sizeof(*t));
}

/* The message as BR writes it, with every field kind around name and table_filter. */
static void build_full(pb *p)
{
	static const unsigned char storage[] = {0x1a, 0x05, 0x0a, 0x03, 'b', 'k', 't'}; /* S3{bucket} */

	memset(p, 0, sizeof(*p));
	put_bytes(p, 1, storage, sizeof(storage));  /* storage: message */
	put_uint(p, 2, 0xffffffffffffffffull);        /* start_ts: 10-byte varint */
	put_uint(p, 3, 0);                            /* end_ts */
	put_str(p, 4, "pitr_main");
	put_str(p, 5, "db1.*");
	put_fixed(p, 6, 1, 8);                        /* unknown fixed64 */
	put_str(p, 5, "!db1.secret");
	put_fixed(p, 7, 5, 4);                        /* unknown fixed32 */
	put_uint(p, 1000, 7);                         /* unknown high field number */
	put_bytes(p, 99, "\x00\xff", 2);              /* unknown bytes */
}

static void decodes_fields(void **state)
{
	pb p;
	ig_lbtask t = {0};
	char err[200];

	(void)state;
	build_full(&p);
	assert_int_equal(ig_taskinfo_decode(p.b, p.n, &t, err, sizeof(err)), 0);
	assert_string_equal(t.pb_name, "pitr_main");
	assert_int_equal(t.nfilters, 2);
	assert_string_equal(t.filters[0], "db1.*");
	assert_string_equal(t.filters[1], "!db1.secret");
	clear(&t);

	/* empty message: no name, no filter */
	assert_int_equal(ig_taskinfo_decode((const unsigned char *)"", 0, &t, err, sizeof(err)), 0);
	assert_null(t.pb_name);
	assert_int_equal(t.nfilters, 0);
	assert_int_equal(ig_taskinfo_decode(NULL, 5, &t, err, sizeof(err)), 0);

	/* proto3: a repeated scalar field, the last one wins; empty strings are kept */
	memset(&p, 0, sizeof(p));
	put_str(&p, 4, "first");
	put_str(&p, 4, "second");
	put_str(&p, 5, "");
	assert_int_equal(ig_taskinfo_decode(p.b, p.n, &t, err, sizeof(err)), 0);
	assert_string_equal(t.pb_name, "second");
	assert_int_equal(t.nfilters, 1);
	assert_string_equal(t.filters[0], "");
	clear(&t);
}

static void expect_fail(const pb *p, const char *needle)
{
	ig_lbtask t = {0};
	char err[200] = "";

	if (ig_taskinfo_decode(p->b, p->n, &t, err, sizeof(err)) == 0)
		fail_msg("decoded, expected \"%s\"", needle);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	assert_non_null(strstr(err, "StreamBackupTaskInfo at byte"));
	clear(&t);
}

static void refuses_malformed(void **state)
{
	pb p;

	(void)state;
	memset(&p, 0, sizeof(p));
	put_tag(&p, 9, 3); /* start group */
	expect_fail(&p, "groups (wire type 3)");
	memset(&p, 0, sizeof(p));
	put_tag(&p, 9, 4); /* end group */
	expect_fail(&p, "groups (wire type 4)");
	memset(&p, 0, sizeof(p));
	put_tag(&p, 9, 6);
	expect_fail(&p, "invalid wire type 6");
	memset(&p, 0, sizeof(p));
	put_tag(&p, 9, 7);
	expect_fail(&p, "invalid wire type 7");
	memset(&p, 0, sizeof(p));
	put_tag(&p, 0, 0);
	put_varint(&p, 1);
	expect_fail(&p, "bad field number 0");
	memset(&p, 0, sizeof(p));
	put_uint(&p, 4, 5); /* name as a varint */
	expect_fail(&p, "field 4 has wire type 0, expected 2");
	memset(&p, 0, sizeof(p));
	put_fixed(&p, 5, 5, 4);
	expect_fail(&p, "field 5 has wire type 5");
	memset(&p, 0, sizeof(p));
	put_tag(&p, 2, 0);
	for (int i = 0; i < 10; i++)
		p.b[p.n++] = 0xff; /* 11-byte varint */
	p.b[p.n++] = 0x01;
	expect_fail(&p, "varint overflows 64 bits");
	memset(&p, 0, sizeof(p));
	put_tag(&p, 2, 0);
	for (int i = 0; i < 9; i++)
		p.b[p.n++] = 0x80;
	p.b[p.n++] = 0x02; /* 10th byte > 1 */
	expect_fail(&p, "varint overflows 64 bits");
	memset(&p, 0, sizeof(p));
	put_tag(&p, 4, 2);
	put_varint(&p, 0xffffffffffffull); /* length far past the end */
	expect_fail(&p, "runs past the end");
	memset(&p, 0, sizeof(p));
	put_bytes(&p, 5, "a\0b", 3);
	expect_fail(&p, "NUL byte");
	memset(&p, 0, sizeof(p));
	put_tag(&p, 1ull << 32, 0);
	put_varint(&p, 1);
	expect_fail(&p, "bad field number");
}

/* Every prefix: an error, except exactly at a field boundary. */
static void truncations(void **state)
{
	pb p;
	size_t nb = 0, ok = 0, bad = 0;

	(void)state;
	build_full(&p);
	for (size_t len = 0; len < p.n; len++) {
		ig_lbtask t = {0};
		char err[200];
		/* a copy of exactly len bytes, so ASan sees any read past it */
		unsigned char *copy = malloc(len ? len : 1);
		bool boundary = len == 0 || (nb < p.nbounds && p.bounds[nb] == len);
		int rc;
		memcpy(copy, p.b, len);
		rc = ig_taskinfo_decode(copy, len, &t, err, sizeof(err));
		if (boundary != (rc == 0))
			fail_msg("prefix of %zu bytes: rc %d (boundary %d)", len, rc, boundary);
		if (len && nb < p.nbounds && p.bounds[nb] == len)
			nb++;
		rc == 0 ? ok++ : bad++;
		clear(&t);
		free(copy);
	}
	assert_int_equal(ok, p.nbounds); /* the empty prefix plus every boundary but the last */
	assert_true(bad > 40);
}

/* A StorageBackend holding one kind (field `kind`) whose message is msg. */
static void put_storage(pb *p, unsigned kind, const pb *msg)
{
	pb sb = {0};
	put_bytes(&sb, kind, msg->b, msg->n);
	put_bytes(p, 1, sb.b, sb.n);
}

/* start_ts and storage, for operators: the storage shows the kind, bucket and prefix (or
 * path) and never a credential field (kvproto brpb.proto: S3 access_key 8,
 * secret_access_key 9; GCS credentials_blob 6; Azure shared_key 6). */
static void operator_fields(void **state)
{
	static const struct {
		unsigned kind;
		const char *want;
	} kinds[] = {{3, "s3://bkt/log/pitr"}, {4, "gcs://bkt/log/pitr"}, {7, "azure://bkt/log/pitr"}};
	pb p, m;
	ig_lbtask t = {0};
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		memset(&m, 0, sizeof(m));
		put_str(&m, 1, "http://minio:9000");
		if (kinds[i].kind == 3) {
			put_str(&m, 2, "us-east-1");
			put_str(&m, 3, "bkt");
			put_str(&m, 4, "log/pitr");
			put_str(&m, 8, "AKIAKEY");
			put_str(&m, 9, "SECRETKEY");
		} else {
			put_str(&m, 2, "bkt");
			put_str(&m, 3, "log/pitr");
			put_str(&m, 6, "SECRETKEY");
		}
		memset(&p, 0, sizeof(p));
		put_storage(&p, kinds[i].kind, &m);
		put_uint(&p, 2, 455000000000000000ull);
		put_str(&p, 4, "pitr");
		assert_int_equal(ig_taskinfo_decode(p.b, p.n, &t, err, sizeof(err)), 0);
		assert_string_equal(t.storage, kinds[i].want);
		assert_null(strstr(t.storage, "SECRET"));
		assert_true(t.start_ts == 455000000000000000ull);
		clear(&t);
	}
	memset(&m, 0, sizeof(m));
	put_str(&m, 1, "/mnt/backup");
	memset(&p, 0, sizeof(p));
	put_storage(&p, 2, &m);
	assert_int_equal(ig_taskinfo_decode(p.b, p.n, &t, err, sizeof(err)), 0);
	assert_string_equal(t.storage, "local:///mnt/backup");
	clear(&t);
	memset(&m, 0, sizeof(m));
	put_str(&m, 1, "hdfs://nn:8020/backup");
	memset(&p, 0, sizeof(p));
	put_storage(&p, 6, &m);
	assert_int_equal(ig_taskinfo_decode(p.b, p.n, &t, err, sizeof(err)), 0);
	assert_string_equal(t.storage, "hdfs://nn:8020/backup");
	clear(&t);
}

/* A storage or start_ts that does not read is unknown, never an error: before these fields
 * were kept, such a task decoded, and what a decision sees must not change. */
static void operator_fields_lenient(void **state)
{
	static const unsigned char bad_storage[][6] = {
		{0x1a, 0x04, 0x1a, 0x09, 'b', 'k'}, /* s3 whose bucket runs past its message */
		{0x08, 0x05, 0x00, 0x00, 0x00, 0x00}, /* a varint where a kind is */
		{0x2a, 0x01, 0x00, 0x00, 0x00, 0x00}, /* cloud_dynamic (5): a kind not shown */
	};
	pb p;
	ig_lbtask t = {0};
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_storage) / sizeof(bad_storage[0]); i++) {
		memset(&p, 0, sizeof(p));
		put_bytes(&p, 1, bad_storage[i], i == 0 ? 6 : i == 1 ? 2 : 3);
		put_str(&p, 5, "db.*");
		assert_int_equal(ig_taskinfo_decode(p.b, p.n, &t, err, sizeof(err)), 0);
		assert_null(t.storage);
		assert_int_equal(t.nfilters, 1);
		clear(&t);
	}
	memset(&p, 0, sizeof(p));
	put_str(&p, 2, "not a number"); /* start_ts with a length-delimited wire type: skipped */
	put_uint(&p, 1, 7);             /* storage as a varint: skipped */
	assert_int_equal(ig_taskinfo_decode(p.b, p.n, &t, err, sizeof(err)), 0);
	assert_true(t.start_ts == 0);
	assert_null(t.storage);
	clear(&t);
}

/* Through the cluster state: decoded, compiled, undecodable = covers everything. */
static void into_state(void **state)
{
	pb p;
	ig_cluster_state *st = ig_cluster_state_new();
	ig_coverage cov;
	char err[200];
	static const char k1[] = "/tidb/br-stream/info/pitr_main", k2[] = "/tidb/br-stream/info/broken";

	(void)state;
	build_full(&p);
	assert_int_equal(ig_cluster_state_add(st, k1, strlen(k1), p.b, p.n, err, sizeof(err)), 0);
	assert_int_equal(ig_cluster_state_add(st, k2, strlen(k2), (const unsigned char *)"\x22\x09" "ab", 4, err, sizeof(err)), 0);
	ig_cluster_state_finish(st);
	assert_int_equal(st->ntasks, 2);
	assert_false(st->tasks[0].undecodable);
	assert_true(st->tasks[1].undecodable);
	assert_int_equal(st->nproblems, 1);
	assert_non_null(strstr(st->problems[0], "log backup task \"broken\": cannot decode its info"));
	assert_non_null(strstr(st->problems[0], "treated as covering every table"));
	assert_int_equal(ig_cluster_covering(st, "DB1", "t", true, &cov), 0);
	assert_int_equal(cov.ntasks, 2); /* case-insensitive, as BR */
	ig_coverage_free(&cov);
	/* !db1.secret: BR may have run with its hidden --case-sensitive, which the info does
	 * not record, and then a table stored as db1.Secret is observed (attack23) */
	assert_int_equal(ig_cluster_covering(st, "db1", "secret", true, &cov), 0);
	assert_int_equal(cov.ntasks, 2);
	ig_coverage_free(&cov);
	assert_int_equal(ig_cluster_covering(st, "db2", "t", true, &cov), 0);
	assert_int_equal(cov.ntasks, 1);
	assert_int_equal(cov.tasks[0], 1); /* only the undecodable one */
	ig_coverage_free(&cov);
	/* why, as /api/v1/coverage reports it: the rule that decided, by its index */
	ig_cover_why w;
	ig_task_cover_why(&st->tasks[0], "db1", "t", true, &w);
	assert_true(w.covers);
	assert_int_equal(w.rule, 0);
	ig_task_cover_why(&st->tasks[0], "db1", "secret", true, &w);
	assert_true(w.covers);
	assert_int_equal(w.rule, 0);
	ig_task_cover_why(&st->tasks[0], "db2", "t", true, &w);
	assert_false(w.covers);
	assert_true(w.rule == SIZE_MAX);
	ig_task_cover_why(&st->tasks[1], "db2", "t", true, &w);
	assert_true(w.covers);
	assert_non_null(strstr(w.why, "could not be read"));
	ig_task_cover_why(&st->tasks[1], "INFORMATION_SCHEMA", "t", true, &w);
	assert_false(w.covers);
	assert_string_equal(ig_lbtask_state_name(&st->tasks[0]), "normal");
	assert_string_equal(ig_lbtask_state_name(&st->tasks[1]), "undecodable");
	ig_cluster_state_free(st);
}

/* A task info with these filters (field 5), named name. */
static void build_filters(pb *p, const char *name, const char *const *filters, size_t n)
{
	memset(p, 0, sizeof(*p));
	put_str(p, 4, name);
	for (size_t i = 0; i < n; i++)
		put_str(p, 5, filters[i]);
}

static void add_task(ig_cluster_state *st, const char *name, const char *const *filters, size_t n)
{
	pb p;
	char key[128], err[200];

	build_filters(&p, name, filters, n);
	snprintf(key, sizeof(key), "/tidb/br-stream/info/%s", name);
	assert_int_equal(ig_cluster_state_add(st, key, strlen(key), p.b, p.n, err, sizeof(err)), 0);
}

/* policy.log_backup_filters: every-table (the default, filters_by_name false). BR observes
 * the whole table space only for the one filter "*.*" (br/pkg/stream BuildObserveDataRanges);
 * any other filter becomes the ids of the tables it matched at start, which a RENAME keeps
 * observed under any name (attack23): such a task covers every table, whatever its rules
 * say, and says why. by-name reads the rules against the names. */
static void filtered_task_every_table(void **state)
{
	static const char *const shop[] = {"shop.*"};
	static const char *const all[] = {"*.*"};
	static const char *const all_but[] = {"*.*", "!shop.scratch"};
	ig_cluster_state *st = ig_cluster_state_new();
	ig_coverage cov;
	ig_cover_why w;

	(void)state;
	add_task(st, "shop_only", shop, 1);
	add_task(st, "whole", all, 1);
	add_task(st, "all_but", all_but, 2);
	ig_cluster_state_finish(st);
	assert_int_equal(st->ntasks, 3);

	/* every-table: archive.orders may be shop.orders renamed since the task started */
	assert_int_equal(ig_cluster_covering(st, "archive", "orders", false, &cov), 0);
	assert_int_equal(cov.ntasks, 3);
	ig_coverage_free(&cov);
	ig_task_cover_why(&st->tasks[0], "archive", "orders", false, &w);
	assert_true(w.covers);
	assert_true(w.rule == SIZE_MAX);
	assert_non_null(strstr(w.why, "by table id"));
	assert_non_null(strstr(w.why, "policy.log_backup_filters"));
	/* "*.*" alone is read as its rules (it matches everything anyway), with the rule index */
	ig_task_cover_why(&st->tasks[1], "archive", "orders", false, &w);
	assert_true(w.covers);
	assert_int_equal(w.rule, 0);
	/* "*.*" with an exclusion is a filtered task: its `!` no longer excludes */
	ig_task_cover_why(&st->tasks[2], "shop", "scratch", false, &w);
	assert_true(w.covers);
	assert_non_null(strstr(w.why, "by table id"));
	/* memory schemas are never observed, either way */
	ig_task_cover_why(&st->tasks[0], "information_schema", "t", false, &w);
	assert_false(w.covers);

	/* by-name: the rules against the statement's names */
	assert_int_equal(ig_cluster_covering(st, "archive", "orders", true, &cov), 0);
	assert_int_equal(cov.ntasks, 2); /* whole and all_but */
	ig_coverage_free(&cov);
	ig_task_cover_why(&st->tasks[0], "archive", "orders", true, &w);
	assert_false(w.covers);
	ig_cluster_state_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decodes_fields),
		cmocka_unit_test(refuses_malformed),
		cmocka_unit_test(truncations),
		cmocka_unit_test(into_state),
		cmocka_unit_test(filtered_task_every_table),
		cmocka_unit_test(operator_fields),
		cmocka_unit_test(operator_fields_lenient),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
