/*
 * test_lightning.c - lightning/task.c, lightning/targets.c, lightning/route.c, and the
 * obligation life of records whose origin is a guarded Lightning run (policy/obllife.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lightning/pdaddr.h"
#include "lightning/targets.h"
#include "lightning/task.h"
#include "policy/decide.h"
#include "policy/obllife.h"

static char err[1024];

static int parse(const char *toml, ig_ltn_task *t)
{
	return ig_ltn_task_parse("task.toml", toml, strlen(toml), t, err, sizeof(err));
}

#define MIN "[tikv-importer]\nbackend = \"local\"\n[mydumper]\ndata-source-dir = \"/data\"\n"

static void expect_error(const char *toml, const char *needle);

static void task_defaults(void **s)
{
	ig_ltn_task t;
	(void)s;
	assert_int_equal(parse(MIN, &t), 0);
	assert_int_equal(t.backend, IG_LTN_BACKEND_LOCAL);
	assert_true(t.check_requirements);
	assert_true(t.filter_default);
	assert_int_equal(t.nfilter, 7);
	assert_string_equal(t.filter[1], "!mysql.*");
	assert_string_equal(t.source_path, "/data");
	assert_string_equal(t.tidb_user, "root");
	assert_false(t.case_sensitive);
	assert_null(t.pd_addr);              /* Lightning then asks TiDB (CheckAndAdjustTiDBPort) */
	assert_string_equal(t.tidb_host, "127.0.0.1");
	assert_int_equal(t.tidb_status_port, 10080);
	assert_int_equal(t.tidb_port, 0);    /* unset: Lightning asks TiDB's /settings */
	ig_ltn_task_free(&t);
	assert_int_equal(parse(MIN "[tidb]\npd-addr = \"\"\nhost = \"tidb-0\"\nstatus-port = 10081\nport = 4001\n", &t), 0);
	assert_null(t.pd_addr);              /* len(PdAddr) == 0 is "not set" */
	assert_string_equal(t.tidb_host, "tidb-0");
	assert_int_equal(t.tidb_status_port, 10081);
	assert_int_equal(t.tidb_port, 4001);
	ig_ltn_task_free(&t);
	expect_error(MIN "[tidb]\nstatus-port = \"x\"\n", "tidb.status-port must be an integer");
	expect_error(MIN "[tidb]\nport = \"4000\"\n", "tidb.port must be an integer");
}

/* pd-addr against cluster.pd: the same address (scheme, case of the host, a trailing path
 * aside) is the same cluster; anything else, or nothing, is not. */
static void pd_address_match(void **s)
{
	char *pd[] = {"http://pd-0.example:2379", "https://10.0.0.2:2379/"};
	char why[600], n[64];
	(void)s;
	assert_int_equal(ig_ltn_pd_same("pd-0.example:2379", pd, 2, why, sizeof(why)), 1);
	assert_int_equal(ig_ltn_pd_same("HTTP://PD-0.Example:2379/", pd, 2, why, sizeof(why)), 1);
	assert_int_equal(ig_ltn_pd_same("10.0.0.2:2379, pd-0.example:2379", pd, 2, why, sizeof(why)), 1);
	assert_int_equal(ig_ltn_pd_same("10.0.0.2:2380", pd, 2, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "\"10.0.0.2:2380\" is not one of the gateway's cluster.pd"));
	assert_int_equal(ig_ltn_pd_same("10.0.0.2:2379,10.0.0.3:2379", pd, 2, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "10.0.0.3:2379"));
	assert_int_equal(ig_ltn_pd_same("10.0.0.2:2379,", pd, 2, why, sizeof(why)), 0); /* an empty address */
	assert_int_equal(ig_ltn_pd_same(NULL, pd, 2, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "pd-addr is not set"));
	assert_int_equal(ig_ltn_pd_same("pd-0.example:2379", pd, 0, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "no cluster.pd"));
	assert_true(ig_ltn_pd_norm(" https://h:1/x ", 15, n, sizeof(n)));
	assert_string_equal(n, "h:1");
	assert_false(ig_ltn_pd_norm("http://", 7, n, sizeof(n)));
}

/* [tidb] host/port against backends.servers: the same address (IP literals by value, names by
 * name, case and one trailing dot aside) is the gateway's TiDB; another address, an unset
 * port, a host that is no host are not. */
static void tidb_address_match(void **s)
{
	const char *hosts[] = {"10.0.0.5", "TiDB-0.Example", "::1"};
	const int ports[] = {4000, 4000, 4001};
	char why[600];
	(void)s;
	assert_int_equal(ig_ltn_tidb_same("10.0.0.5", 4000, hosts, ports, 3, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "is one of the gateway's TiDB servers"));
	assert_int_equal(ig_ltn_tidb_same("tidb-0.example.", 4000, hosts, ports, 3, why, sizeof(why)), 1);
	assert_int_equal(ig_ltn_tidb_same("TIDB-0.EXAMPLE", 4000, hosts, ports, 3, why, sizeof(why)), 1);
	assert_int_equal(ig_ltn_tidb_same("0:0:0:0:0:0:0:1", 4001, hosts, ports, 3, why, sizeof(why)), 1);
	assert_int_equal(ig_ltn_tidb_same("[::1]", 4001, hosts, ports, 3, why, sizeof(why)), 1);
	/* another port, another host, an alias (nothing proves it is the same server) */
	assert_int_equal(ig_ltn_tidb_same("10.0.0.5", 4001, hosts, ports, 3, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "\"10.0.0.5\" port 4001 is not one of the gateway's TiDB servers"));
	assert_int_equal(ig_ltn_tidb_same("::1", 4000, hosts, ports, 3, why, sizeof(why)), 0);
	assert_int_equal(ig_ltn_tidb_same("10.0.0.6", 4000, hosts, ports, 3, why, sizeof(why)), 0);
	assert_int_equal(ig_ltn_tidb_same("localhost", 4001, hosts, ports, 3, why, sizeof(why)), 0);
	assert_int_equal(ig_ltn_tidb_same("tidb-0.example..", 4000, hosts, ports, 3, why, sizeof(why)), 0);
	/* Lightning's default host is 127.0.0.1: not a backend here */
	assert_int_equal(ig_ltn_tidb_same("127.0.0.1", 4000, hosts, ports, 3, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "an unset host is Lightning's default 127.0.0.1"));
	/* port unset: Lightning would ask TiDB for it */
	assert_int_equal(ig_ltn_tidb_same("10.0.0.5", 0, hosts, ports, 3, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "[tidb] port is not set"));
	assert_int_equal(ig_ltn_tidb_same("10.0.0.5", 70000, hosts, ports, 3, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "out of range"));
	/* not a host: blanks, control characters, empty */
	const char *bad[] = {" 10.0.0.5", "10.0.0.5 ", "tidb 0", "10.0.0.5\t", "", "[]", "tidb\x7f"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ig_ltn_tidb_same(bad[i], 4000, hosts, ports, 3, why, sizeof(why)), 0);
		assert_non_null(strstr(why, "is not a host name or address"));
	}
	assert_int_equal(ig_ltn_tidb_same(NULL, 4000, hosts, ports, 3, why, sizeof(why)), 0);
	/* no backends: nothing matches */
	assert_int_equal(ig_ltn_tidb_same("10.0.0.5", 4000, hosts, ports, 0, why, sizeof(why)), 0);
}

static void task_values(void **s)
{
	ig_ltn_task t;
	(void)s;
	assert_int_equal(parse("[lightning]\ncheck-requirements = false\n[tikv-importer]\nbackend = \"TiDB\"\n"
	                       "[mydumper]\ndata-source-dir = \"file:///srv/dump\"\nfilter = ['shop.*', '!shop.tmp']\n"
	                       "case-sensitive = true\n[tidb]\nuser = \"etl\"\n[[routes]]\nschema-pattern = \"a*\"\n"
	                       "table-pattern = \"t?\"\ntarget-schema = \"b\"\ntarget-table = \"u\"\n", &t), 0);
	assert_int_equal(t.backend, IG_LTN_BACKEND_TIDB);
	assert_false(t.check_requirements);
	assert_false(t.filter_default);
	assert_int_equal(t.nfilter, 2);
	assert_string_equal(t.source_path, "/srv/dump");
	assert_true(t.case_sensitive);
	assert_string_equal(t.tidb_user, "etl");
	assert_int_equal(t.nroutes, 1);
	assert_string_equal(t.routes[0].table_pattern, "t?");
	ig_ltn_task_free(&t);
}

static void expect_error(const char *toml, const char *needle)
{
	ig_ltn_task t;
	assert_int_equal(parse(toml, &t), -1);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	assert_non_null(strstr(err, "task.toml: "));
}

static void task_errors(void **s)
{
	(void)s;
	expect_error("[mydumper\n", "not valid TOML: line 1");
	expect_error("[mydumper]\ndata-source-dir = \"/d\"\n", "tikv-importer.backend must not be empty!");
	expect_error("[tikv-importer]\nbackend = \"importer\"\n[mydumper]\ndata-source-dir = \"/d\"\n",
	             "unsupported `tikv-importer.backend` (importer)");
	expect_error("[tikv-importer]\nbackend = \"local\"\n", "`mydumper.data-source-dir` is not set");
	expect_error("[tikv-importer]\nbackend = \"local\"\n[mydumper]\ndata-source-dir = \"s3://b/p\"\n",
	             "external storage");
	expect_error(MIN "[[mydumper.files]]\npattern = 'x'\nschema = '$1'\n", "[[mydumper.files]]");
	expect_error(MIN "[black-white-list]\ndo-dbs = ['a']\n", "[black-white-list]");
	expect_error(MIN "filter = 'shop.*'\n", "mydumper.filter must be an array");
	expect_error(MIN "filter = ['a.*', 3]\n", "mydumper.filter[1] must be a string");
	expect_error(MIN "[[routes]]\nschema-pattern = 'a'\n", "target schema of table route rule should not be empty");
	expect_error(MIN "[[routes]]\ntarget-schema = 'a'\n", "schema pattern of table route rule should not be empty");
	expect_error(MIN "[[routes]]\nschema-pattern = 'a'\ntarget-schema = 'b'\ntable-extractor = {}\n", "routes[0].table-extractor");
	expect_error("[lightning]\ncheck-requirements = 'no'\n" MIN, "lightning.check-requirements must be true or false");
	expect_error("lightning = 1\n" MIN, "[lightning] must be a table");
}

/* Keys Lightning reads though the preflight would not (BurntSushi/toml matches a key to a
 * field by strings.EqualFold), and file:// URLs whose decoded path (what Lightning reads,
 * br/pkg/storage/parse.go) is not the text after "file://": refused, never guessed. */
static void task_attack_spellings(void **s)
{
	ig_ltn_task t;
	(void)s;
	expect_error(MIN "[[Routes]]\nschema-pattern = 'a'\ntarget-schema = 'b'\n", "key \"Routes\"");
	expect_error(MIN "[[\"route\\u017f\"]]\nschema-pattern = 'a'\ntarget-schema = 'b'\n", "case-insensitively");
	expect_error(MIN "[[mydumper.Files]]\npattern = 'x'\nschema = 's'\n", "key \"Files\" in [mydumper]");
	expect_error(MIN "Filter = ['a.*']\n", "key \"Filter\" in [mydumper]");
	expect_error("[Tikv-Importer]\nbackend = 'tidb'\n" MIN, "key \"Tikv-Importer\"");
	expect_error(MIN "[[routes]]\nSchema-Pattern = 'a'\ntarget-schema = 'b'\n", "in [routes]");
	/* TOML's \u0000 is a NUL inside the string: Lightning (Go) keeps what follows it, a C
	 * string ends there, so the preflight would read another pd-addr, filter rule or name */
	expect_error(MIN "[tidb]\npd-addr = \"127.0.0.1:2379\\u0000,10.9.9.9:2379\"\n", "NUL");
	expect_error(MIN "filter = ['*.*', '!shop.orders']\n[[routes]]\nschema-pattern = \"s\\U00000000x\"\n"
	             "target-schema = 'b'\n", "NUL");
	expect_error("[tikv-importer]\nbackend = \"local\"\n[mydumper]\ndata-source-dir = \"/data\"\n"
	             "filter = [\"*.*\", \"!shop.orders\\u0000\"]\n", "NUL");
	expect_error(MIN "[tidb]\n\"pd-addr\\u0000x\" = \"10.9.9.9:2379\"\n", "NUL");
	/* session variables are a map, not fields: any name */
	assert_int_equal(parse(MIN "[tidb.session-vars]\nTiDB_Foo = '1'\n", &t), 0);
	ig_ltn_task_free(&t);
	static const char *const urls[] = {"file:///d%61ta", "file:///data?x", "file:///data#x", "file://host/data",
	                                   "file:/data", "FILE://x/data", "local:data", "Local:///data?"};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		char doc[256];
		snprintf(doc, sizeof(doc), "[tikv-importer]\nbackend = \"local\"\n[mydumper]\ndata-source-dir = \"%s\"\n", urls[i]);
		expect_error(doc, "mydumper.data-source-dir");
	}
	/* a storage URL's keys are not echoed into the error (stderr) */
	expect_error("[tikv-importer]\nbackend = \"local\"\n[mydumper]\ndata-source-dir = "
	             "\"s3://b/p?access-key=AKIDSECRET&secret-access-key=TOPSECRET\"\n", "external storage (s3://)");
	assert_null(strstr(err, "SECRET"));
	expect_error("[tikv-importer]\nbackend = \"local\"\n[mydumper]\ndata-source-dir = \"file:///d?k=TOPSECRET\"\n",
	             "mydumper.data-source-dir");
	assert_null(strstr(err, "SECRET"));
	assert_int_equal(parse("[tikv-importer]\nbackend = \"local\"\n[mydumper]\ndata-source-dir = \"LOCAL:///srv/x\"\n", &t), 0);
	assert_string_equal(t.source_path, "/srv/x");
	ig_ltn_task_free(&t);
	/* a plain path is Lightning's as written (adjustFilePath: no scheme, the raw text) */
	assert_int_equal(parse("[tikv-importer]\nbackend = \"local\"\n[mydumper]\ndata-source-dir = \"./a#b?c\"\n", &t), 0);
	assert_string_equal(t.source_path, "./a#b?c");
	ig_ltn_task_free(&t);
}

static int find(const char *toml, const char *const *paths, size_t n, ig_ltn_targets *out)
{
	ig_ltn_task t;
	int rc;
	assert_int_equal(parse(toml, &t), 0);
	rc = ig_ltn_targets_find(&t, paths, n, out, err, sizeof(err));
	ig_ltn_task_free(&t);
	return rc;
}

static const ig_ltn_table *tbl(const ig_ltn_targets *g, const char *db, const char *t)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->v[i].db, db) == 0 && strcmp(g->v[i].table, t) == 0)
			return &g->v[i];
	return NULL;
}

static void targets_dumpling_naming(void **s)
{
	static const char *const p[] = {
		"metadata", "shop-schema-create.sql", "shop.orders-schema.sql", "shop.orders.000000000.csv",
		"shop.orders.000000001.csv", "shop.a.b.sql", "SHOP.Items.0.SQL.GZ", "sub/dir/shop.p.1.snappy.parquet",
		"shop.v-schema-view.sql", "shop.orders-schema-trigger.sql", "shop.orders-schema-post.sql",
		"shop.orders.0.csv.bak", "arch%2Dx.t%20y-schema.sql", "bad%zz.t.csv", "mysql.user.sql",
		"INFORMATION_SCHEMA.x.csv", "readme.txt",
	};
	ig_ltn_targets g;
	const ig_ltn_table *t;
	(void)s;
	assert_int_equal(find(MIN, p, sizeof(p) / sizeof(*p), &g), 0);
	assert_non_null(t = tbl(&g, "shop", "orders"));
	assert_int_equal(t->data_files, 2);
	assert_true(t->schema_file);
	assert_non_null(tbl(&g, "shop", "a.b"));         /* table names are lazy up to the extension */
	assert_non_null(tbl(&g, "SHOP", "Items"));       /* case kept; compression suffix */
	assert_non_null(tbl(&g, "shop", "p"));           /* parquet with internal compression, in a subdirectory */
	assert_non_null(tbl(&g, "arch-x", "t y"));       /* URL-path-unescaped */
	assert_non_null(tbl(&g, "bad%zz", "t"));         /* a malformed escape keeps the name */
	assert_null(tbl(&g, "shop", "v"));               /* views load no data */
	assert_null(tbl(&g, "mysql", "user"));           /* DefaultFilter */
	assert_null(tbl(&g, "INFORMATION_SCHEMA", "x"));
	assert_int_equal(g.n, 6);
	assert_int_equal(g.files_filtered, 2);
	/* sorted by db, table (byte order) */
	assert_string_equal(g.v[0].db, "SHOP");
	ig_ltn_targets_free(&g);
}

static void targets_filter_and_routes(void **s)
{
	static const char *const p[] = {
		"shop.orders.1.csv", "shop.tmp_1.csv", "shop_0.users.sql", "shop_1.users.sql", "Shop_2.Users.sql",
		"logs.a.csv",
	};
	ig_ltn_targets g;
	const ig_ltn_table *t;
	(void)s;
	/* the filter sees source names; routes rename what passed (the route's target would not pass) */
	assert_int_equal(find(MIN "filter = ['shop*.*', '!shop.tmp*', 'logs.*']\n"
	                      "[[routes]]\nschema-pattern = 'shop_*'\ntable-pattern = 'users'\n"
	                      "target-schema = 'shop_all'\ntarget-table = 'users'\n"
	                      "[[routes]]\nschema-pattern = '~^lo'\ntarget-schema = 'archive'\n",
	                      p, sizeof(p) / sizeof(*p), &g), 0);
	assert_null(tbl(&g, "shop", "tmp_1"));
	assert_non_null(t = tbl(&g, "shop_all", "users"));
	assert_int_equal(t->sources, 3);                 /* case-insensitive: Shop_2.Users too */
	assert_int_equal(t->data_files, 3);
	assert_non_null(t = tbl(&g, "archive", "a"));    /* a schema rule keeps the table name */
	assert_string_equal(t->src_db, "logs");
	assert_non_null(tbl(&g, "shop", "orders"));
	assert_int_equal(g.n, 3);
	ig_ltn_targets_free(&g);
}

static void targets_route_errors(void **s)
{
	static const char *const p[] = {"a.t.csv"};
	ig_ltn_targets g;
	(void)s;
	assert_int_equal(find(MIN "[[routes]]\nschema-pattern = 'a'\ntarget-schema = 'x'\n"
	                      "[[routes]]\nschema-pattern = 'a*'\ntarget-schema = 'y'\n", p, 1, &g), -1);
	assert_non_null(strstr(err, "matches more than one rule"));
	assert_int_equal(find(MIN "[[routes]]\nschema-pattern = 'a*b'\ntarget-schema = 'x'\n", p, 1, &g), -1);
	assert_non_null(strstr(err, "must be its last character"));
	/* a table rule wins over a schema rule that also matches */
	assert_int_equal(find(MIN "[[routes]]\nschema-pattern = 'a'\ntarget-schema = 'x'\n"
	                      "[[routes]]\nschema-pattern = 'a'\ntable-pattern = '[a-u]'\ntarget-schema = 'y'\n", p, 1, &g), 0);
	assert_non_null(tbl(&g, "y", "t"));
	ig_ltn_targets_free(&g);
	assert_int_equal(find(MIN "filter = ['a.[']\n", p, 1, &g), -1); /* the table-filter's own error */
}

/* ---- the obligation life of a guarded run's records ---- */

static void rec_init(ig_obl_record *r, unsigned kinds)
{
	memset(r, 0, sizeof(*r));
	strcpy(r->id, "0123456789abcdef0123456789abcdef");
	r->kinds = kinds;
	r->state = IG_OBLS_AWAITING_ANSWER;
	r->from_select = true;
	r->backup.state = kinds & IG_OBL_SNAPSHOT_AFTER_IMPORT ? IG_STEP_PENDING : IG_STEP_NONE;
	r->reimport.state = kinds & IG_OBL_REIMPORT_DOWNSTREAM ? IG_STEP_PENDING : IG_STEP_NONE;
	assert_int_equal(ig_obl_set_str(&r->db, "shop") | ig_obl_set_str(&r->table, "t") |
	                 ig_obl_set_str(&r->statement, "TiDB Lightning task /x/task.toml") |
	                 ig_obl_set_str(&r->origin, IG_OBL_ORIGIN_LIGHTNING), 0);
}

static void life_lightning(void **s)
{
	ig_obl_record r;
	ig_obl_effect fx;
	ig_obl_event ok = {.kind = IG_OEV_ANSWER_OK, .now_ms = 1000, .poll_ms = 100};
	ig_obl_event bad = {.kind = IG_OEV_ANSWER_ERROR, .now_ms = 1000, .err_code = 1, .message = "exit status 1"};
	ig_obl_event lost = {.kind = IG_OEV_ANSWER_LOST, .now_ms = 1000};
	(void)s;

	rec_init(&r, IG_OBL_SNAPSHOT_AFTER_IMPORT); /* finished: the backup is the engine's */
	assert_int_equal(ig_obl_transition(&r, &ok, &fx), 0);
	assert_true(fx.applied);
	assert_int_equal(r.state, IG_OBLS_DUE);
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_BACKUP);
	ig_obl_record_free(&r);

	rec_init(&r, IG_OBL_SNAPSHOT_AFTER_IMPORT); /* failed: parked, never "not owed" */
	assert_int_equal(ig_obl_transition(&r, &bad, &fx), 0);
	assert_int_equal(r.state, IG_OBLS_OUTCOME_UNKNOWN);
	assert_string_equal(r.reason, IG_OBL_R_LIGHTNING_FAILED);
	assert_string_equal(fx.audit, "obligation.failed");
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_RELEASE);
	ig_obl_record_free(&r);

	rec_init(&r, IG_OBL_SNAPSHOT_AFTER_IMPORT); /* the guarded run died first */
	assert_int_equal(ig_obl_transition(&r, &lost, &fx), 0);
	assert_int_equal(r.state, IG_OBLS_OUTCOME_UNKNOWN);
	assert_string_equal(r.reason, IG_OBL_R_LIGHTNING_UNKNOWN);
	ig_obl_record_free(&r);

	rec_init(&r, IG_OBL_REIMPORT_DOWNSTREAM); /* the downstream run is the operator's, with the task named */
	assert_int_equal(ig_obl_transition(&r, &ok, &fx), 0);
	assert_int_equal(r.state, IG_OBLS_OUTCOME_UNKNOWN);
	assert_string_equal(r.reason, IG_OBL_R_REIMPORT_BY_OPERATOR);
	assert_non_null(strstr(r.note, "/x/task.toml"));
	assert_int_equal(ig_obl_action_of(&r), IG_OACT_RELEASE);
	ig_obl_record_free(&r);

	/* the same events on an IMPORT INTO record keep their old meaning */
	rec_init(&r, IG_OBL_SNAPSHOT_AFTER_IMPORT);
	ig_obl_set_str(&r.origin, NULL);
	assert_int_equal(ig_obl_transition(&r, &bad, &fx), 0);
	assert_int_equal(r.state, IG_OBLS_NOT_OWED);
	ig_obl_record_free(&r);
}

static void record_origin_roundtrip(void **s)
{
	ig_obl_record r, d;
	char *j;
	(void)s;
	rec_init(&r, IG_OBL_SNAPSHOT_AFTER_IMPORT);
	assert_non_null(j = ig_obl_record_encode(&r));
	assert_non_null(strstr(j, "\"origin\":\"lightning\""));
	assert_int_equal(ig_obl_record_decode(j, strlen(j), &d, err, sizeof(err)), 0);
	assert_string_equal(d.origin, "lightning");
	free(j);
	ig_obl_record_free(&d);
	ig_obl_set_str(&r.origin, NULL);
	assert_non_null(j = ig_obl_record_encode(&r)); /* an IMPORT INTO record has no origin key */
	assert_null(strstr(j, "origin"));
	free(j);
	ig_obl_record_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(task_defaults),         cmocka_unit_test(task_values),
		cmocka_unit_test(task_errors),           cmocka_unit_test(task_attack_spellings),           cmocka_unit_test(targets_dumpling_naming),
		cmocka_unit_test(targets_filter_and_routes), cmocka_unit_test(targets_route_errors),
		cmocka_unit_test(life_lightning),        cmocka_unit_test(record_origin_roundtrip),
		cmocka_unit_test(pd_address_match),      cmocka_unit_test(tidb_address_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
