/*
 * test_auditev.c - the audit events (proxy/auditev.c) against their documentation: every event
 * name the code can write is a row of docs/AUDIT.md's "Events" table and every row there is one
 * the code writes; every field an event carries is documented (docs/AUDIT.md's field tables,
 * docs/OBLIGATIONS.md "Audit events" for obligation.*); the obligation transitions the sources
 * name are events of the list; and a credential handed to a constructor never reaches the file.
 * argv[1]: the source root (meson passes it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "policy/oblrecord.h"
#include "proxy/audit.h"
#include "proxy/auditev.h"

#define MAXN 512

static const char *root = ".";

typedef struct names {
	char *v[MAXN];
	size_t n;
} names;

static void names_add(names *s, const char *p, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->v[i]) == len && memcmp(s->v[i], p, len) == 0)
			return;
	assert_true(s->n < MAXN);
	s->v[s->n++] = strndup(p, len);
}

static bool names_has(const names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return true;
	return false;
}

static void names_free(names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

static char *slurp_abs(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

static char *slurp(const char *rel)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return slurp_abs(path);
}

/* Every `name` in [p, end). */
static void backticked(names *out, const char *p, const char *end)
{
	while (p < end && (p = memchr(p, '`', (size_t)(end - p)))) {
		const char *q = memchr(p + 1, '`', (size_t)(end - p - 1));
		if (!q)
			return;
		names_add(out, p + 1, (size_t)(q - p - 1));
		p = q + 1;
	}
}

/* The backticked names in the first cell of every table row of [from, to) (not the header). */
static void first_cells(names *out, const char *from, const char *to)
{
	for (const char *l = from; l && l < to; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *next = strchr(l, '\n');
		bool header = next && (strncmp(next + 1, "|-", 2) == 0 || strncmp(next + 1, "| -", 3) == 0);
		if (l[0] != '|' || header)
			continue;
		const char *end = strchr(l + 1, '|');
		if (end && end < to)
			backticked(out, l + 1, end);
	}
}

static const char *section(const char *doc, const char *heading)
{
	const char *s = strstr(doc, heading);
	if (!s)
		fail_msg("no \"%s\" in the document", heading);
	return s;
}

/* The events docs/AUDIT.md lists: its "### Events" table. */
static void doc_events(names *out)
{
	char *doc = slurp("docs/AUDIT.md");
	const char *s = section(doc, "\n### Events\n");
	const char *e = strstr(s + 1, "\nExample");
	first_cells(out, s, e ? e : s + strlen(s));
	free(doc);
}

/* The fields documented: the first cells of every table of docs/AUDIT.md, and the fields
 * docs/OBLIGATIONS.md names for obligation.* (its "Audit events" paragraph). */
static void doc_fields(names *out)
{
	char *doc = slurp("docs/AUDIT.md");
	first_cells(out, doc, doc + strlen(doc));
	free(doc);
	doc = slurp("docs/OBLIGATIONS.md");
	const char *s = section(doc, "\n## Audit events\n");
	const char *e = strstr(s, "Never the statement.");
	assert_non_null(e);
	backticked(out, s, e);
	free(doc);
}

static bool code_event(const char *name)
{
	for (size_t i = 0; i < ig_auditev_nnames; i++)
		if (strcmp(ig_auditev_names[i], name) == 0)
			return true;
	return false;
}

static void test_names_match_doc(void **state)
{
	(void)state;
	names doc = {0};
	doc_events(&doc);
	assert_true(doc.n >= 10);
	for (size_t i = 0; i < ig_auditev_nnames; i++)
		if (!names_has(&doc, ig_auditev_names[i]))
			fail_msg("the code writes %s; docs/AUDIT.md's Events table does not list it", ig_auditev_names[i]);
	for (size_t i = 0; i < doc.n; i++)
		if (!code_event(doc.v[i]))
			fail_msg("docs/AUDIT.md lists %s; no constructor of proxy/auditev.c writes it", doc.v[i]);
	names_free(&doc);
}

/* Every "obligation.x" literal of the sources that name transitions is an event of the list. */
static void test_obligation_transitions_listed(void **state)
{
	(void)state;
	const char *files[] = {"policy/obllife.c", "proxy/obligations.c"};
	size_t found = 0;
	for (size_t f = 0; f < 2; f++) {
		char *src = slurp(files[f]);
		for (const char *p = src; (p = strstr(p, "\"obligation.")); p++) {
			const char *q = strchr(p + 1, '"');
			assert_non_null(q);
			char *name = strndup(p + 1, (size_t)(q - p - 1));
			if (!code_event(name))
				fail_msg("%s names %s, which is not an event of proxy/auditev.c", files[f], name);
			free(name);
			found++;
		}
		free(src);
	}
	assert_true(found >= 7);
}

/* ---- every constructor, written and read back ---- */

#define SECRET "PLANTEDSECRET42"

typedef struct fixture {
	char dir[256], path[300];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ig_auditev_XXXXXX");
	if (!f || !mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/audit.jsonl", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	ig_audit_close();
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_every_event(void)
{
	char err[256];
	const char *stmt = "IMPORT INTO shop.t FROM 's3://b/t.csv?secret-access-key=" SECRET "' WITH THREAD=2, "
	                   "CLOUD_STORAGE_URI='s3://s/x?access-key=" SECRET "'";
	sql_import imp;
	assert_int_equal(sql_import_parse(stmt, strlen(stmt), 0, &imp, err, sizeof(err)), 0);
	char *tasks[] = {"pitr"}, *cfs[] = {"default/default/cf"};
	char reason[] = "covered by pitr", message[] = "PreCheck failed: s3://b/t.csv?secret-access-key=" SECRET;
	ig_rule rule = {.name = "stage"};
	ig_decision dec = {.verdict = IG_VERDICT_REJECT, .obligations = IG_OBL_SNAPSHOT_AFTER_IMPORT, .rule = &rule,
	                   .tasks = tasks, .ntasks = 1, .changefeeds = cfs, .nchangefeeds = 1, .err_code = 8173,
	                   .message = message, .reason = reason};
	ig_cluster_state st = {.source = "127.0.0.1:2379", .revision = 7};
	ig_auditev_who who = {.conn = 3, .user = "etl", .client = "10.0.0.1", .tls = true, .db = "shop",
	                      .backend = "127.0.0.1:4000"};
	const char *nt = "IMPORT INTO shop.t FROM 'x' WITH DISABLE_PRECHECK";
	ig_auditev_decision d = {.table = "shop.t", .statement = stmt, .statement_len = strlen(stmt), .prepare = "s",
	                         .imp = &imp, .dec = &dec, .state = &st, .import_text = stmt,
	                         .import_len = strlen(stmt), .new_text = nt, .new_len = strlen(nt)};
	d.imp = &imp;
	imp.format = strdup("csv");
	assert_int_equal(ig_auditev_import_decision(&who, &d, true, err, sizeof(err)), 0);
	d.state = NULL;
	d.state_error = "PD unreachable";
	assert_int_equal(ig_auditev_import_decision(&who, &d, false, err, sizeof(err)), 0);
	ig_auditev_error e = {.code = 8164, .message = message};
	ig_auditev_import_rejected(&who, stmt, strlen(stmt), &e);
	ig_import_result r = {.kind = IR_ROWS, .job_id = "12", .status = "finished", .rows = "10", .message = "ok"};
	ig_auditev_import_result(&who, "shop.t", 5, &r);
	ig_import_result re = {.kind = IR_ERR, .err_code = 1064, .message = "near 's3://b?secret-access-key=" SECRET "'"};
	ig_auditev_import_result(&who, "shop.t", 5, &re);
	ig_import_result ru = {.kind = IR_UNKNOWN};
	ig_auditev_import_result(&who, "shop.t", 5, &ru);
	ig_obl_record o = {.id = "0123456789abcdef0123456789abcdef", .kinds = 3, .state = IG_OBLS_DUE, .db = "shop",
	                   .table = "t", .conn_id = 3, .job_id = "12", .note = "n", .reason = "r", .rev = 9};
	for (size_t i = 0; i < ig_auditev_nnames; i++)
		if (strncmp(ig_auditev_names[i], "obligation.", 11) == 0)
			assert_int_equal(ig_auditev_obligation(ig_auditev_names[i], &o, "backup", "failed: x", "replica-1",
			                                       err, sizeof(err)), 0);
	ig_auditev_bypass_suspect(&who, stmt, strlen(stmt), &e, NULL);
	ig_auditev_bypass_suspect(&who, stmt, strlen(stmt), NULL, "opaque");
	ig_auditev_admin_reload();
	ig_auditev_admin_reload_refused("bad yaml");
	ig_auditev_statement(&who, stmt, strlen(stmt), "backup");
	ig_auditev_brie b = {.kind = "restore", .task = "restore-1", .key = "/tidb/brie/import/restore/restore-1",
	                     .lease = 0x61b2, .value_bytes = 0};
	ig_auditev_brie_import_started(&b, "127.0.0.1:2379");
	ig_auditev_brie_import_ended(&b, 10, true);
	json_t *c = json_pack("{s:b, s:[], s:[]}", "every_table", 1, "log_backup_tasks", "changefeeds");
	ig_auditev_brie_import_conflict(&b, c, "a physical restore is running");
	json_decref(c);
	ig_auditev_brie_import_unguarded(&b, 1, 0, "a TiDB Lightning physical import was not started guarded");
	ig_auditev_brie_import_unguarded(&b, -1, -1, "the cluster state could not be read");
	ig_auditev_ltn_table lt = {.task = "/etc/t.toml", .backend = "local", .user = "etl", .db = "shop",
	                           .table = "shop.t", .verdict = "allowed", .dec = &dec, .reason = "uncovered"};
	assert_int_equal(ig_auditev_lightning_decision(&lt, err, sizeof(err)), 0);
	const char *runs[] = {"lightning.refused", "lightning.started", "lightning.result"};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(ig_auditev_lightning_run(runs[i], "/etc/t.toml", "tidb-lightning", 2, 1, i == 2 ? 0 : -1,
		                                          "finished", err, sizeof(err)), 0);
	assert_int_equal(ig_auditev_lightning_run("lightning.other", "t", "p", 0, 0, -1, NULL, err, sizeof(err)), -1);
	o.origin = "lightning";
	assert_int_equal(ig_auditev_obligation("obligation.created", &o, NULL, NULL, "run-1", err, sizeof(err)), 0);
	sql_import_free(&imp);
}

static void test_every_event_documented(void **state)
{
	fixture *f = *state;
	char err[256];
	names fields = {0}, seen = {0};
	assert_int_equal(ig_audit_open(f->path, IG_FSYNC_OFF, err, sizeof(err)), 0);
	write_every_event();
	ig_audit_close(); /* writes every queued event */
	doc_fields(&fields);
	char *text = slurp_abs(f->path);
	assert_null(strstr(text, SECRET));
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		json_error_t je;
		json_t *ev = json_loads(line, 0, &je);
		assert_non_null(ev);
		const char *name = json_string_value(json_object_get(ev, "event"));
		assert_non_null(name);
		if (!code_event(name))
			fail_msg("written event %s is not in ig_auditev_names", name);
		names_add(&seen, name, strlen(name));
		const char *key;
		json_t *v;
		json_object_foreach(ev, key, v) {
			if (!names_has(&fields, key))
				fail_msg("%s carries field \"%s\", which docs/AUDIT.md (or docs/OBLIGATIONS.md) does not describe",
				         name, key);
		}
		json_decref(ev);
	}
	for (size_t i = 0; i < ig_auditev_nnames; i++)
		if (!names_has(&seen, ig_auditev_names[i]))
			fail_msg("the test wrote no %s: call its constructor in write_every_event", ig_auditev_names[i]);
	free(text);
	names_free(&fields);
	names_free(&seen);
}

static void test_unknown_obligation_event_refused(void **state)
{
	(void)state;
	char err[256] = "";
	ig_obl_record o = {.id = "x", .state = IG_OBLS_DONE};
	assert_int_equal(ig_auditev_obligation("obligation.made_up", &o, NULL, NULL, "r", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "docs/AUDIT.md"));
}

int main(int argc, char **argv)
{
	if (argc > 1)
		root = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_match_doc),
		cmocka_unit_test(test_obligation_transitions_listed),
		cmocka_unit_test_setup_teardown(test_every_event_documented, setup, teardown),
		cmocka_unit_test(test_unknown_obligation_event_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
