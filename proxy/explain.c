/*
 * explain.c - POST /api/v1/explain (inspect.h: ig_inspect_explain): the verdict a statement
 * would get, through the live path's steps from the decision on (ig_inspect_begin with the
 * request's session state in place of the probe's answer, ig_inspect_read,
 * ig_inspect_finish), quiet: nothing run, audited or counted.
 */
#include "proxy/inspect_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proxy/mysql_proto.h"
#include "proxy/runtime.h"

static json_t *string_array(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static char *explain_error(int *http_status, const char *msg)
{
	*http_status = 400;
	json_t *doc = json_pack("{s:s}", "error", msg);
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return s;
}

static json_t *explain_imports(const ig_inspection *p)
{
	json_t *a = json_array();
	for (size_t i = 0; p && a && i < p->nitems; i++) {
		const import_item *it = &p->items[i];
		json_t *o = json_object();
		if (!o)
			break;
		char target[520];
		snprintf(target, sizeof(target), "%s.%s", it->db ? it->db : "", it->imp.table);
		json_object_set_new(o, "table", json_string(target));
		if (it->decided) {
			json_object_set_new(o, "verdict", json_string(ig_verdict_name(it->dec.verdict)));
			json_object_set_new(o, "rule", it->dec.rule ? json_string(it->dec.rule->name) : json_null());
			json_object_set_new(o, "tasks", string_array(it->dec.tasks, it->dec.ntasks));
			json_object_set_new(o, "changefeeds", string_array(it->dec.changefeeds, it->dec.nchangefeeds));
			json_object_set_new(o, "dry_run", json_boolean(it->dec.dry_run));
			if (it->dec.reason)
				json_object_set_new(o, "reason", json_string(it->dec.reason));
		}
		json_array_append_new(a, o);
	}
	return a;
}

char *ig_inspect_explain(const char *body, size_t len, int *http_status)
{
	json_error_t jerr;
	json_t *req = json_loadb(body, len, 0, &jerr);
	const char *user = NULL, *host = "", *db = NULL, *sql = NULL, *mode = "", *charset = "utf8mb4";
	if (!req || json_unpack_ex(req, &jerr, 0, "{s:s, s?s, s?s, s:s, s?s, s?s}", "user", &user, "host", &host,
	                           "db", &db, "statement", &sql, "sql_mode", &mode, "charset", &charset) < 0) {
		json_decref(req);
		return explain_error(http_status, "body must be JSON {\"user\": ..., \"host\": ..., "
		                                  "\"db\": ..., \"statement\": ..., \"sql_mode\": ..., "
		                                  "\"charset\": ...} (sql_mode and charset optional)");
	}
	/* The session state the request describes stands in for the probe's answer: explain
	 * then takes exactly the live path's steps. */
	int cs_kind = ig_charset_kind(charset);
	ig_session_facts facts = {
		.db = (char *)db, .user = (char *)user, .sql_mode = (char *)mode, .charset = (char *)charset,
		.lex_flags = ig_sql_mode_lex_flags(mode) | (cs_kind == 1 ? SQL_F_MB_PAIRS : 0),
		.charset_known = cs_kind >= 0,
	};
	char version[128], said_version[128], said_info[2048];
	ig_backend_last_version(version, sizeof(version));
	/* What the last probe's server said of itself, as the live path reads its own probe's
	 * answer; before any probe, the greeting (decision.c backend_version). */
	if (ig_backend_last_said(said_version, sizeof(said_version), said_info, sizeof(said_info))) {
		facts.version = said_version;
		facts.tidb_info = said_info[0] ? said_info : NULL;
	}
	char backend[80] = "";
	ig_backend_set *set = ig_backends_acquire();
	if (set && set->n)
		snprintf(backend, sizeof(backend), "%s", set->v[0]->addr);
	ig_backends_release(set);
	ig_stmt_ctx ctx = {.user = user, .client_host = host, .db = db, .server_version = version,
	                   .backend = backend, .cmd = COM_QUERY, .quiet = true, .facts = &facts};
	ig_inspect_out out;
	ig_inspection *inspection = ig_inspect_begin(&ctx, sql, strlen(sql), &out);
	if (inspection) {
		ig_inspect_out_free(&out);
		ig_inspect_read(inspection);
		ig_inspect_finish(inspection, &out);
	}
	json_t *doc = json_object();
	if (doc) {
		const char *action = out.action == IA_REJECT ? "reject" : out.action == IA_REWRITE ? "rewrite" : "forward";
		const char *verdict = "pass";
		if (out.action == IA_REJECT)
			verdict = "reject";
		else if (inspection && inspection->nitems > 0 && inspection->items[0].decided)
			verdict = ig_verdict_name(inspection->items[0].dec.verdict);
		json_object_set_new(doc, "action", json_string(action));
		json_object_set_new(doc, "verdict", json_string(verdict));
		json_object_set_new(doc, "imports", explain_imports(inspection));
		json_object_set_new(doc, "rule", inspection && inspection->nitems && inspection->items[0].decided &&
		                                         inspection->items[0].dec.rule
		                                     ? json_string(inspection->items[0].dec.rule->name) : json_null());
		if (out.action == IA_REJECT)
			json_object_set_new(doc, "error", json_pack("{s:i, s:s}", "code", (int)out.err_code,
			                                            "message", out.err_msg));
		if (out.action == IA_REJECT)
			json_object_set_new(doc, "message", json_string(out.err_msg));
		if (out.action == IA_REWRITE) {
			char *red = sql_redact_statement((const char *)ig_buf_head(&out.text), ig_buf_avail(&out.text), 0);
			json_object_set_new(doc, "statement", red ? json_string(red) : json_null());
			free(red);
		}
		if (inspection)
			json_object_set_new(doc, "cluster_state", inspection->state
			                        ? json_pack("{s:s, s:I}", "source", inspection->state->source ? inspection->state->source : "",
			                                    "revision", (json_int_t)inspection->state->revision)
			                        : json_pack("{s:s}", "error", inspection->state_err));
	}
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	json_decref(req);
	ig_inspect_out_free(&out);
	ig_inspection_free(inspection);
	return s;
}
