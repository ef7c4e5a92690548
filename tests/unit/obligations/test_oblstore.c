/*
 * test_oblstore.c - the obligation record and the file store: JSON round trip (a statement
 * that is not UTF-8 comes back byte for byte), refused records, CRC framing, replay keeping
 * the last version of each record, a last record cut at every byte offset (ignored, the
 * file repaired, nothing duplicated after later writes), a corrupt middle line skipped,
 * deletion, compaction, claims, and the single-process lock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/decide.h"
#include "store/oblstore.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/oblstore-test-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/obligations.log", dir);
	return 0;
}

static int teardown(void **state)
{
	char p[160];
	(void)state;
	unlink(path);
	snprintf(p, sizeof(p), "%s.lock", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s.compact", path);
	unlink(p);
	rmdir(dir);
	return 0;
}

/* A record with every field set; `n` makes its id and contents distinct. */
static void make(ig_obl_record *r, int n, ig_obl_state st)
{
	char buf[128];

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%032x", n + 1);
	r->kinds = IG_OBL_SNAPSHOT_AFTER_IMPORT | IG_OBL_REIMPORT_DOWNSTREAM;
	r->state = st;
	snprintf(buf, sizeof(buf), "db%d", n);
	r->db = strdup(buf);
	snprintf(buf, sizeof(buf), "t%d", n);
	r->table = strdup(buf);
	snprintf(buf, sizeof(buf), "IMPORT INTO t%d FROM 's3://b/k?access-key=A&secret-access-key=S' WITH DETACHED", n);
	r->statement = strdup(buf);
	r->user = strdup("etl");
	r->client = strdup("10.0.0.1");
	r->backend = strdup("127.0.0.1:4001");
	r->conn_id = 40 + (uint64_t)n;
	r->disable_precheck = n % 2;
	r->from_select = false;
	r->created_ms = 1700000000000LL + n;
	r->updated_ms = r->created_ms + 5;
	r->job_id = strdup("17");
	r->backup.state = IG_STEP_STARTED;
	r->backup.target = strdup("s3://backup/db/t/17");
	r->backup.started_ms = 99;
	r->backup.attempts = 2;
	r->backup.last_error = strdup("Backup failed: x");
	r->reimport.state = IG_STEP_FOLLOWING;
	r->reimport.job_id = strdup("3");
	r->reimport.target = strdup("127.0.0.1:4002");
	r->attempts = 1;
	r->source = strdup("s3://b/k?access-key=redacted");
	r->reason = strdup("job-ambiguous");
	r->last_error = strdup("gone");
	r->next_try_ms = 123;
	r->replica = strdup("host:1:abcd");
}

static void assert_same(const ig_obl_record *a, const ig_obl_record *b)
{
	assert_string_equal(a->id, b->id);
	assert_int_equal(a->kinds, b->kinds);
	assert_int_equal(a->state, b->state);
	assert_string_equal(a->db, b->db);
	assert_string_equal(a->table, b->table);
	assert_string_equal(a->statement, b->statement);
	assert_string_equal(a->user, b->user);
	assert_string_equal(a->client, b->client);
	assert_string_equal(a->backend, b->backend);
	assert_int_equal(a->conn_id, b->conn_id);
	assert_int_equal(a->disable_precheck, b->disable_precheck);
	assert_int_equal(a->from_select, b->from_select);
	assert_int_equal(a->created_ms, b->created_ms);
	assert_int_equal(a->updated_ms, b->updated_ms);
	assert_string_equal(a->job_id, b->job_id);
	assert_int_equal(a->backup.state, b->backup.state);
	assert_string_equal(a->backup.target, b->backup.target);
	assert_int_equal(a->backup.started_ms, b->backup.started_ms);
	assert_int_equal(a->backup.attempts, b->backup.attempts);
	assert_string_equal(a->backup.last_error, b->backup.last_error);
	assert_int_equal(a->reimport.state, b->reimport.state);
	assert_string_equal(a->reimport.job_id, b->reimport.job_id);
	assert_int_equal(a->attempts, b->attempts);
	assert_string_equal(a->last_error, b->last_error);
	assert_int_equal(a->next_try_ms, b->next_try_ms);
	assert_string_equal(a->replica, b->replica);
	assert_string_equal(a->source, b->source);
	assert_string_equal(a->reason, b->reason);
}

static void test_roundtrip(void **state)
{
	ig_obl_record r, back;
	char err[256], *json;

	(void)state;
	make(&r, 7, IG_OBLS_DUE);
	json = ig_obl_record_encode(&r);
	assert_non_null(json);
	assert_null(strchr(json, '\n'));
	assert_int_equal(ig_obl_record_decode(json, strlen(json), &back, err, sizeof(err)), 0);
	assert_same(&r, &back);
	free(json);
	ig_obl_record_free(&back);

	/* A statement in another charset (latin1 0xE9) survives byte for byte. */
	free(r.statement);
	r.statement = strdup("IMPORT INTO t FROM 's3://b/caf\xe9.csv'");
	json = ig_obl_record_encode(&r);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"statement_b64\""));
	assert_int_equal(ig_obl_record_decode(json, strlen(json), &back, err, sizeof(err)), 0);
	assert_string_equal(back.statement, r.statement);
	free(json);
	ig_obl_record_free(&back);
	ig_obl_record_free(&r);
}

static void test_decode_refuses(void **state)
{
	static const char *bad[] = {
		"", "nope", "[]", "{\"state\":\"due\"}",
		"{\"id\":\"0123\",\"state\":\"due\"}",
		"{\"id\":\"0000000000000000000000000000000g\",\"state\":\"due\"}",
		"{\"id\":\"00000000000000000000000000000001\"}",
		"{\"id\":\"00000000000000000000000000000001\",\"state\":\"sleeping\"}",
		"{\"id\":\"00000000000000000000000000000001\",\"state\":\"due\",\"db\":5}",
		"{\"id\":\"00000000000000000000000000000001\",\"state\":\"due\",\"backup\":{\"state\":\"x\"}}",
		"{\"id\":\"00000000000000000000000000000001\",\"state\":\"due\",\"db_b64\":\"***\"}",
		"{\"id\":\"00000000000000000000000000000001\",\"state\":\"due\",\"state\":\"done\"}",
	};
	ig_obl_record r;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		assert_int_equal(ig_obl_record_decode(bad[i], strlen(bad[i]), &r, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	/* the minimum */
	const char *ok = "{\"id\":\"00000000000000000000000000000001\",\"state\":\"outcome-unknown\"}";
	assert_int_equal(ig_obl_record_decode(ok, strlen(ok), &r, err, sizeof(err)), 0);
	assert_int_equal(r.state, IG_OBLS_OUTCOME_UNKNOWN);
	assert_int_equal(r.backup.state, IG_STEP_NONE);
	ig_obl_record_free(&r);
}

static void test_names(void **state)
{
	ig_obl_state s;

	(void)state;
	for (int i = IG_OBLS_AWAITING_ANSWER; i <= IG_OBLS_DISMISSED; i++) {
		assert_int_equal(ig_obl_state_parse(ig_obl_state_name((ig_obl_state)i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_true(ig_obl_state_terminal(IG_OBLS_DONE));
	assert_true(ig_obl_state_terminal(IG_OBLS_NOT_OWED));
	assert_true(ig_obl_state_terminal(IG_OBLS_DISMISSED));
	assert_false(ig_obl_state_terminal(IG_OBLS_DUE));
	assert_false(ig_obl_state_terminal(IG_OBLS_OUTCOME_UNKNOWN));
}

static void test_framing(void **state)
{
	const char *json = "{\"a\":1}", *p;
	size_t n, jl;
	char *line;

	(void)state;
	/* CRC-32 (IEEE) check value */
	assert_int_equal(ig_obl_crc32("123456789", 9), 0xCBF43926u);
	line = ig_obl_frame(json, strlen(json), &n);
	assert_non_null(line);
	assert_int_equal(n, strlen(json) + 10);
	assert_int_equal(ig_obl_unframe(line, n, &p, &jl), (long)n);
	assert_int_equal(jl, strlen(json));
	assert_memory_equal(p, json, jl);
	for (size_t cut = 0; cut < n; cut++) /* incomplete: not yet a line */
		assert_int_equal(ig_obl_unframe(line, cut, &p, &jl), 0);
	line[12] ^= 1; /* payload changed: CRC mismatch */
	assert_int_equal(ig_obl_unframe(line, n, &p, &jl), -1);
	line[12] ^= 1;
	line[3] = 'x'; /* not hex */
	assert_int_equal(ig_obl_unframe(line, n, &p, &jl), -1);
	assert_int_equal(ig_obl_unframe("\n", 1, &p, &jl), -1);
	free(line);
}

static ig_oblstore *open_ok(ig_oblstore_info *info)
{
	ig_oblstore *st = NULL;
	char err[256], warn[256];

	if (ig_oblstore_open_file(path, &st, warn, sizeof(warn), err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	if (info)
		ig_oblstore_info_get(st, info);
	return st;
}

static void list_sorted(ig_oblstore *st, ig_obl_record **recs, size_t *n)
{
	char err[256];

	assert_int_equal(ig_oblstore_list(st, recs, n, err, sizeof(err)), 0);
	for (size_t i = 0; i < *n; i++) /* by id: the list's order is not part of the contract */
		for (size_t j = i + 1; j < *n; j++)
			if (strcmp((*recs)[j].id, (*recs)[i].id) < 0) {
				ig_obl_record t = (*recs)[i];
				(*recs)[i] = (*recs)[j];
				(*recs)[j] = t;
			}
}

static void free_list(ig_obl_record *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ig_obl_record_free(&recs[i]);
	free(recs);
}

static void test_file_replay(void **state)
{
	ig_oblstore *st;
	ig_obl_record a, b, *recs;
	size_t n;
	char err[256];
	ig_oblstore_info info;

	(void)state;
	st = open_ok(NULL);
	make(&a, 1, IG_OBLS_AWAITING_ANSWER);
	make(&b, 2, IG_OBLS_AWAITING_ANSWER);
	assert_int_equal(ig_oblstore_create(st, &a, err, sizeof(err)), 0);
	assert_int_equal(ig_oblstore_create(st, &b, err, sizeof(err)), 0);
	assert_int_equal(ig_oblstore_create(st, &a, err, sizeof(err)), -1); /* exists */
	a.state = IG_OBLS_FOLLOWING;
	assert_int_equal(ig_oblstore_advance(st, &a, err, sizeof(err)), 0);
	a.state = IG_OBLS_DUE;
	assert_int_equal(ig_oblstore_advance(st, &a, err, sizeof(err)), 0);
	ig_oblstore_close(st);

	st = open_ok(&info);
	assert_int_equal(info.replayed, 4);
	assert_false(info.torn_tail);
	assert_int_equal(info.skipped, 0);
	list_sorted(st, &recs, &n);
	assert_int_equal(n, 2);
	assert_same(&recs[0], &a);
	assert_same(&recs[1], &b);
	free_list(recs, n);
	/* claims are per process: a new process must claim (at the revision it read) before it
	 * writes */
	ig_obl_record got;
	assert_int_equal(ig_oblstore_get(st, a.id, &got, err, sizeof(err)), 1);
	a.rev = got.rev;
	ig_obl_record_free(&got);
	a.state = IG_OBLS_DONE;
	assert_int_equal(ig_oblstore_advance(st, &a, err, sizeof(err)), 1);
	assert_int_equal(ig_oblstore_claim(st, &a, err, sizeof(err)), 0);
	assert_int_equal(ig_oblstore_claim(st, &a, err, sizeof(err)), 0);
	assert_int_equal(ig_oblstore_advance(st, &a, err, sizeof(err)), 0);
	assert_int_equal(ig_oblstore_release(st, a.id, err, sizeof(err)), 0);
	assert_int_equal(ig_oblstore_advance(st, &a, err, sizeof(err)), 1);
	assert_int_equal(ig_oblstore_get(st, a.id, &got, err, sizeof(err)), 1);
	assert_int_equal(got.state, IG_OBLS_DONE);
	ig_obl_record_free(&got);
	assert_int_equal(ig_oblstore_get(st, b.id, &got, err, sizeof(err)), 1);
	b.rev = got.rev - 1;
	assert_int_equal(ig_oblstore_delete(st, &b, err, sizeof(err)), 1); /* stale: kept */
	b.rev = got.rev;
	ig_obl_record_free(&got);
	assert_int_equal(ig_oblstore_delete(st, &b, err, sizeof(err)), 0);
	assert_int_equal(ig_oblstore_get(st, b.id, &got, err, sizeof(err)), 0);
	ig_oblstore_close(st);

	st = open_ok(NULL);
	list_sorted(st, &recs, &n);
	assert_int_equal(n, 1);
	assert_int_equal(recs[0].state, IG_OBLS_DONE);
	free_list(recs, n);
	ig_oblstore_close(st);
	ig_obl_record_free(&a);
	ig_obl_record_free(&b);
}

static char *slurp(size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void spit(const char *b, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
}

/*
 * The last write (a new record, or a new version of an existing one) cut at every byte:
 * replay gives the state before that write, the torn bytes are cut off, and a later write
 * and replay show each record once with its latest version.
 */
static void torn_tail_case(bool last_is_update)
{
	ig_oblstore *st;
	ig_obl_record a, b, c, *recs;
	size_t full, before, n;
	char err[256], *bytes;

	unlink(path);
	st = open_ok(NULL);
	make(&a, 1, IG_OBLS_AWAITING_ANSWER);
	make(&b, 2, IG_OBLS_FOLLOWING);
	make(&c, 3, IG_OBLS_DUE);
	assert_int_equal(ig_oblstore_create(st, &a, err, sizeof(err)), 0);
	assert_int_equal(ig_oblstore_create(st, &b, err, sizeof(err)), 0);
	free(slurp(&before));
	if (last_is_update) {
		b.state = IG_OBLS_DUE;
		assert_int_equal(ig_oblstore_advance(st, &b, err, sizeof(err)), 0);
	} else {
		assert_int_equal(ig_oblstore_create(st, &c, err, sizeof(err)), 0);
	}
	ig_oblstore_close(st);
	bytes = slurp(&full);
	assert_true(full > before);

	for (size_t cut = before; cut < full; cut++) {
		ig_oblstore_info info;
		spit(bytes, cut);
		st = open_ok(&info);
		assert_int_equal(info.torn_tail, cut > before);
		assert_int_equal(info.skipped, 0);
		list_sorted(st, &recs, &n);
		assert_int_equal(n, 2); /* a and b, b as it was before the torn write */
		assert_string_equal(recs[0].id, a.id);
		assert_string_equal(recs[1].id, b.id);
		assert_int_equal(recs[1].state, IG_OBLS_FOLLOWING);
		free_list(recs, n);
		struct stat sb;
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal((size_t)sb.st_size, before); /* repaired */

		/* A write after the repair, then a replay: each record once, latest version. */
		ig_obl_record cur;
		assert_int_equal(ig_oblstore_get(st, a.id, &cur, err, sizeof(err)), 1);
		a.rev = cur.rev;
		ig_obl_record_free(&cur);
		assert_int_equal(ig_oblstore_claim(st, &a, err, sizeof(err)), 0);
		a.state = IG_OBLS_SEARCHING;
		assert_int_equal(ig_oblstore_advance(st, &a, err, sizeof(err)), 0);
		a.state = IG_OBLS_AWAITING_ANSWER;
		ig_oblstore_close(st);
		st = open_ok(&info);
		assert_false(info.torn_tail);
		list_sorted(st, &recs, &n);
		assert_int_equal(n, 2);
		assert_int_equal(recs[0].state, IG_OBLS_SEARCHING);
		assert_int_equal(recs[1].state, IG_OBLS_FOLLOWING);
		free_list(recs, n);
		ig_oblstore_close(st);
	}
	/* and the whole file: the last write is there */
	spit(bytes, full);
	st = open_ok(NULL);
	list_sorted(st, &recs, &n);
	assert_int_equal(n, last_is_update ? 2 : 3);
	assert_int_equal(recs[1].state, last_is_update ? IG_OBLS_DUE : IG_OBLS_FOLLOWING);
	free_list(recs, n);
	ig_oblstore_close(st);
	free(bytes);
	ig_obl_record_free(&a);
	ig_obl_record_free(&b);
	ig_obl_record_free(&c);
}

static void test_torn_new_record(void **state)
{
	(void)state;
	torn_tail_case(false);
}

static void test_torn_update(void **state)
{
	(void)state;
	torn_tail_case(true);
}

static void test_corrupt_middle(void **state)
{
	ig_oblstore *st;
	ig_obl_record a, b, *recs;
	size_t len, n;
	char err[256], *bytes, *nl;
	ig_oblstore_info info;

	(void)state;
	unlink(path);
	st = open_ok(NULL);
	make(&a, 1, IG_OBLS_DUE);
	make(&b, 2, IG_OBLS_DUE);
	assert_int_equal(ig_oblstore_create(st, &a, err, sizeof(err)), 0);
	assert_int_equal(ig_oblstore_create(st, &b, err, sizeof(err)), 0);
	ig_oblstore_close(st);
	bytes = slurp(&len);
	nl = memchr(bytes, '\n', len);
	assert_non_null(nl);
	bytes[20] ^= 0x20; /* inside the first line's JSON */
	spit(bytes, len);
	st = open_ok(&info);
	assert_int_equal(info.skipped, 1);
	assert_false(info.torn_tail);
	list_sorted(st, &recs, &n);
	assert_int_equal(n, 1);
	assert_string_equal(recs[0].id, b.id);
	free_list(recs, n);
	ig_oblstore_close(st);
	free(bytes);
	ig_obl_record_free(&a);
	ig_obl_record_free(&b);
}

/* A symlink planted at the compaction's temporary path (by whoever can write the store's
 * directory) must not be followed: the records, credentials and all, would be written into
 * its target, the target made 0600 and truncated, and the log itself replaced by the link,
 * every later record appended through it (attack22). */
static void test_compaction_ignores_planted_symlink(void **state)
{
	ig_oblstore *st;
	ig_obl_record a;
	char err[256], victim[160], tmp[160], buf[64] = "";
	ig_oblstore_info info;
	struct stat sb;
	FILE *f;

	(void)state;
	unlink(path);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(tmp, sizeof(tmp), "%s.compact", path);
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs("victim\n", f);
	fclose(f);
	assert_int_equal(chmod(victim, 0644), 0);
	assert_int_equal(symlink(victim, tmp), 0);
	st = open_ok(NULL);
	make(&a, 1, IG_OBLS_DUE);
	assert_int_equal(ig_oblstore_create(st, &a, err, sizeof(err)), 0);
	for (int i = 0; i < 300; i++) {
		a.attempts = (unsigned)i;
		assert_int_equal(ig_oblstore_advance(st, &a, err, sizeof(err)), 0);
	}
	ig_oblstore_info_get(st, &info);
	assert_true(info.compactions >= 1);
	ig_oblstore_close(st);
	f = fopen(victim, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "victim\n");
	assert_int_equal(stat(victim, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	assert_int_equal(sb.st_size, 7);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	unlink(victim);
	ig_obl_record_free(&a);
}

static void test_compaction(void **state)
{
	ig_oblstore *st;
	ig_obl_record a, b, *recs;
	size_t n;
	char err[256];
	ig_oblstore_info info;

	(void)state;
	unlink(path);
	st = open_ok(NULL);
	make(&a, 1, IG_OBLS_DUE);
	make(&b, 2, IG_OBLS_DUE);
	assert_int_equal(ig_oblstore_create(st, &a, err, sizeof(err)), 0);
	assert_int_equal(ig_oblstore_create(st, &b, err, sizeof(err)), 0);
	for (int i = 0; i < 300; i++) {
		a.attempts = (unsigned)i;
		assert_int_equal(ig_oblstore_advance(st, &a, err, sizeof(err)), 0);
	}
	ig_oblstore_info_get(st, &info);
	assert_true(info.compactions >= 1);
	assert_true(info.lines < 64 + 2);
	assert_int_equal(info.live, 2);
	ig_oblstore_close(st);
	st = open_ok(&info);
	assert_true(info.replayed < 66);
	list_sorted(st, &recs, &n);
	assert_int_equal(n, 2);
	assert_int_equal(recs[0].attempts, 299);
	assert_same(&recs[1], &b);
	free_list(recs, n);
	ig_oblstore_close(st);
	ig_obl_record_free(&a);
	ig_obl_record_free(&b);
}

static void test_single_process(void **state)
{
	ig_oblstore *st = open_ok(NULL), *second = NULL;
	char err[256], warn[256];

	(void)state;
	assert_int_equal(ig_oblstore_open_file(path, &second, warn, sizeof(warn), err, sizeof(err)), -1);
	assert_null(second);
	assert_non_null(strstr(err, "another importgate process"));
	ig_oblstore_close(st);
	st = open_ok(NULL); /* released by close */
	ig_oblstore_close(st);
	assert_int_equal(ig_oblstore_open_file("", &second, warn, sizeof(warn), err, sizeof(err)), -1);
}

/* The records hold the imports' statements, credentials and all (docs/OBLIGATIONS.md): a
 * file that already exists with wider permissions (made by hand, restored from a backup) is
 * made 0600 when opened, as a new one is (attack17). */
static void test_file_private(void **state)
{
	ig_oblstore *st;
	struct stat sb;
	int fd;

	(void)state;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	st = open_ok(NULL);
	assert_int_equal(stat(path, &sb), 0);
	if ((sb.st_mode & 0777) != 0600)
		fail_msg("the obligations file is mode %o", (unsigned)(sb.st_mode & 0777));
	ig_oblstore_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_framing),
		cmocka_unit_test_setup_teardown(test_file_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_new_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction_ignores_planted_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_private, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
