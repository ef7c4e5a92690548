/*
 * decision.c - the inspection's imports decided (inspect.h: ig_inspect_read, ig_inspect_finish):
 * each by policy/decide against a fresh read of the cluster state and the backend's version,
 * then forwarded as is, rewritten (DISABLE_PRECHECK, or LOAD DATA for a logical import) or
 * refused; a batch with one refused import is refused whole: nothing of it is sent. Then,
 * unless quiet (explain), the effects: counted and logged, the import record of the import
 * whose answer the session reads (proxy/importrec.h), its obligations recorded, every
 * decision audited, durably before anything is forwarded.
 */
#include "proxy/inspect_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "pd/statecache.h"
#include "policy/version.h"
#include "proxy/importrec.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/mysql_proto.h"
#include "proxy/obligations.h"
#include "sqlparse/logical.h"

void ig_inspect_read(ig_inspection *p)
{
	if (p->cfg->cluster.npd == 0) {
		snprintf(p->state_err, sizeof(p->state_err), "no PD endpoint is configured (cluster.pd)");
		return;
	}
	uint64_t t0 = uv_hrtime();
	int rc = ig_state_acquire(p->cfg, &p->state, p->state_err, sizeof(p->state_err));
	if (!p->quiet) {
		ig_metric_observe_seconds(IG_M_STATE_READ_SECONDS, (double)(uv_hrtime() - t0) / 1e9);
		ig_metric_inc(rc < 0 ? IG_M_STATE_READS_ERROR : IG_M_STATE_READS_OK);
		if (rc == 0)
			ig_metric_stamp_now(IG_M_STATE_AGE);
	}
	if (rc < 0)
		p->state = NULL;
}

/*
 * Which TiDB the decision is for, and whether it is TiDB X (policy/version.c
 * ig_tidb_backend_identify). The live path has the probe's answer, asked on the connection the
 * statement goes to; the greeting is read only without it (explain before any probe: its
 * stand-in facts then have no version). Then backends.tidb_version; else unknown.
 */
static ig_tidb_version backend_version(const ig_inspection *p, bool *nextgen)
{
	ig_tidb_version v;
	bool asked = p->have_facts && p->facts.version; /* the probe always sets facts.version */
	if (ig_tidb_backend_identify(p->server_version, asked ? p->facts.version : NULL,
	                             asked ? p->facts.tidb_info : NULL, &v, nextgen) == 0)
		return v;
	const char *cv = p->cfg->backends.tidb_version;
	if (cv && strcmp(cv, "auto") != 0 && ig_tidb_version_parse(cv, strlen(cv), &v) == 0)
		return v;
	v.major = -1;
	return v;
}

/* The statement with DISABLE_PRECHECK added, as it goes in the text sent to TiDB. */
static int rewrite_item(import_item *it, ig_inspect_out *out)
{
	char err[256], *s = NULL;
	size_t n = 0;
	/* Prepared imports never get here: they are refused rather than rewritten (finish). */
	if (sql_import_add_disable_precheck(it->text, it->len, &it->imp, &s, &n, err, sizeof(err)) < 0) {
		ig_inspect_reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: cannot add DISABLE_PRECHECK: %s", err);
		return -1;
	}
	it->new_text = s;
	it->new_len = n;
	return 0;
}

/*
 * A covered import whose rule says `logical`: the same data through LOAD DATA, which
 * produces change logs (docs/LOGICAL_IMPORT.md). Remote LOAD DATA
 * exists from TiDB v7.0.0; what has no faithful counterpart is refused, never dropped.
 */
static int logical_item(import_item *it, const ig_tidb_version *ver, ig_inspect_out *out)
{
	char err[512];
	if (it->via_prepare) {
		ig_inspect_reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
		       "PreCheck failed: importgate: %s.%s is covered and its rule asks for a logical "
		       "import; a prepared IMPORT INTO is not rewritten, send it as a plain statement",
		       ig_inspect_qual(it->db), it->imp.table);
		return -1;
	}
	if (!ig_tidb_version_at_least(ver, SQL_LOGICAL_MIN_TIDB_MAJOR, SQL_LOGICAL_MIN_TIDB_MINOR)) {
		ig_inspect_reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
		       "PreCheck failed: importgate: %s.%s is covered and its rule asks for a logical "
		       "import, which needs TiDB v%d.%d.0 or later (remote LOAD DATA); the backend's "
		       "version is older or unknown (set backends.tidb_version)",
		       ig_inspect_qual(it->db), it->imp.table, SQL_LOGICAL_MIN_TIDB_MAJOR, SQL_LOGICAL_MIN_TIDB_MINOR);
		return -1;
	}
	if (sql_import_to_load_data(it->text, it->len, &it->imp, &it->new_text, &it->new_len, err,
	                            sizeof(err)) < 0) {
		ig_inspect_reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
		       "PreCheck failed: importgate: %s.%s is covered and its rule asks for a logical "
		       "import, but %s; use LOAD DATA yourself, or ask the DBA for another rule",
		       ig_inspect_qual(it->db), it->imp.table, err);
		return -1;
	}
	return 0;
}

/* The text for the backend: every rewritten statement in place, the rest byte for byte. */
static int assemble(const ig_inspection *p, ig_buf *text)
{
	size_t at = 0;
	for (size_t i = 0; i < p->nitems; i++) {
		const import_item *it = &p->items[i];
		if (!it->new_text)
			continue;
		if (it->span.off < at || ig_buf_append(text, p->sql + at, it->span.off - at) < 0 ||
		    ig_buf_append(text, it->new_text, it->new_len) < 0)
			return -1;
		at = it->span.off + it->span.len;
	}
	return ig_buf_append(text, p->sql + at, p->len - at);
}


/* Counts and logs one decision (not for explain). */
static void note_decision(const ig_inspection *p, const import_item *it)
{
	static atomic_bool newer_said;
	if (it->dec.precheck_model_newer && !atomic_exchange(&newer_said, true))
		LOG_WARN(p->conn_id, "the backend runs %s, newer than every TiDB version the gateway models; "
		         "deciding with the newest model (%s): check docs/TIDB_VERSIONS.md for an update",
		         p->have_facts && p->facts.version ? p->facts.version : p->server_version,
		         it->dec.precheck_model ? it->dec.precheck_model : "?");
	/* In dry-run the verdict counted is the one that would have applied (forwarded unchanged). */
	ig_metric_import(it->dec.dry_run ? "dry-run" : "enforce", ig_verdict_name(it->dec.verdict),
	                 it->dec.rule ? it->dec.rule->name : IG_METRIC_RULE_DEFAULTS);
	LOG_INFO(p->conn_id, "import.decision: '%s'@%s %s.%s: %s%s, rule %s: %s", p->user, p->host,
	         ig_inspect_qual(it->db), it->imp.table, ig_verdict_name(it->dec.verdict),
	         it->dec.dry_run ? " (dry-run: forwarded unchanged)" : "",
	         it->dec.rule ? it->dec.rule->name : "(defaults)", it->dec.reason ? it->dec.reason : "");
}

static bool is_prepared(const ig_inspection *p, const import_item *it)
{
	return it->via_prepare || p->cmd == COM_STMT_PREPARE;
}

/* The import would reach TiDB carrying DISABLE_PRECHECK (added, or the user's own kept). */
static bool runs_without_precheck(const import_item *it)
{
	if (it->dec.verdict == IG_VERDICT_ADD_DISABLE_PRECHECK)
		return true;
	return it->dec.verdict == IG_VERDICT_PASS && sql_import_find_opt(&it->imp, "DISABLE_PRECHECK");
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_span(sql_span a, sql_span b)
{
	return a.off == b.off && a.len == b.len;
}

/* Two parses of one text are the same import: target, columns, source, options (names,
 * values, where each lies), and where it ends. */
static bool same_import(const sql_import *a, const sql_import *b)
{
	if (!same_str(a->db, b->db) || !same_str(a->table, b->table) || a->ncols != b->ncols ||
	    !same_span(a->set_span, b->set_span) || a->src != b->src || !same_str(a->location, b->location) ||
	    !same_span(a->location_span, b->location_span) || !same_str(a->format, b->format) ||
	    !same_span(a->select_span, b->select_span) || a->nopts != b->nopts || a->end != b->end ||
	    a->tidb_errcode != b->tidb_errcode)
		return false;
	for (size_t i = 0; i < a->ncols; i++)
		if (!same_str(a->cols[i].name, b->cols[i].name) || a->cols[i].is_var != b->cols[i].is_var)
			return false;
	for (size_t i = 0; i < a->nopts; i++)
		if (strcmp(a->opts[i].name, b->opts[i].name) != 0 || !same_str(a->opts[i].value, b->opts[i].value) ||
		    a->opts[i].value_kind != b->opts[i].value_kind || !same_span(a->opts[i].span, b->opts[i].span))
			return false;
	return true;
}

/*
 * Does the import's text read as the same import under TiDB's default lexing? A downstream
 * re-import runs the recorded text over the obligations' own connection, whose session has
 * the downstream's default sql_mode and the connection's utf8mb4, not the client's session:
 * the decision read it under the client's. A text the two readings split or decode
 * differently (a backslash under the client's NO_BACKSLASH_ESCAPES: 's3://b/dir\x.csv' is
 * s3://b/dirx.csv with escapes on; a GBK trail byte 0x5C before a quote; a double-quoted
 * name under ANSI_QUOTES) would be re-run as another import: another location, other
 * options (attack6: test_attack6_reimport_reading.py). Assumed: the downstream's global
 * sql_mode has TiDB's default quoting (neither NO_BACKSLASH_ESCAPES nor ANSI_QUOTES).
 */
static bool reads_alike(const import_item *it)
{
	static const unsigned quoting = SQL_F_NO_BACKSLASH_ESCAPES | SQL_F_ANSI_QUOTES | SQL_F_MB_PAIRS;
	char err[128];
	sql_import other;
	if (sql_import_parse(it->text, it->len, it->flags & ~quoting, &other, err, sizeof(err)) < 0)
		return false;
	bool same = same_import(&it->imp, &other);
	sql_import_free(&other);
	return same;
}

/*
 * Decides every import and builds the answer: the text to forward or the error. No side
 * effect (no metric, log line, obligation or audit record), so that explain and the live
 * path cannot disagree. *followed: the import whose answer the session reads, or -1;
 * *obl_item: the import whose follow-up must be recorded (the same one), or -1.
 */
static void evaluate(ig_inspection *p, ig_inspect_out *out, int *followed, int *obl_item)
{
	char err[256];
	bool rewrite = false;
	bool nextgen;
	ig_tidb_version ver = backend_version(p, &nextgen);
	int first_plain = -1;
	*followed = *obl_item = -1;
	for (size_t i = 0; i < p->nitems && first_plain < 0; i++)
		if (!p->items[i].via_prepare && p->cmd == COM_QUERY)
			first_plain = (int)i;
	for (size_t i = 0; i < p->nitems; i++) {
		import_item *it = &p->items[i];
		/* What of IMPORT INTO's grammar it uses: the backend's version must know all of it. */
		ig_import_usage usage = {
			.options = it->imp.nopts ? it->imp.opts[0].name : NULL,
			.option_stride = sizeof(sql_import_opt), .noptions = it->imp.nopts,
			.from_select = it->imp.src == SQL_SRC_SELECT,
		};
		ig_decide_input in = {
			.user = p->user, .host = p->host, .db = it->db, .table = it->imp.table,
			.disable_precheck = sql_import_find_opt(&it->imp, "DISABLE_PRECHECK") != NULL,
			.usage = &usage,
			.version = ver, .nextgen = nextgen, .state = p->state, .state_error = p->state_err,
			.cfg = p->cfg,
		};
		if (ig_decide(&in, &it->dec, err, sizeof(err)) < 0) {
			ig_inspect_reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: cannot decide: %s", err);
			return;
		}
		it->decided = true;
		if (it->dec.dry_run)
			continue;
		if (is_prepared(p, it) && runs_without_precheck(it)) {
			/*
			 * A prepared statement runs later, maybe many times, when the cluster state may
			 * have changed: a decision to skip TiDB's precheck cannot be kept that long.
			 */
			ig_inspect_reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
			       "PreCheck failed: importgate: a prepared IMPORT INTO into %s.%s would run "
			       "without TiDB's precheck (DISABLE_PRECHECK), decided now but executed later, "
			       "when log backup tasks or changefeeds may cover the table; send the IMPORT "
			       "INTO as a plain statement instead",
			       ig_inspect_qual(it->db), it->imp.table);
			return;
		}
		if (it->dec.obligations &&
		    (it->dec.verdict == IG_VERDICT_PASS || it->dec.verdict == IG_VERDICT_ADD_DISABLE_PRECHECK)) {
			/* Only the import whose answer the session reads can have its follow-up carried out. */
			if ((int)i != first_plain) {
				ig_inspect_reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
				       "PreCheck failed: importgate: an import into %s.%s owes a follow-up (snapshot backup "
				       "or downstream re-import); send it as a plain statement, first in its batch",
				       ig_inspect_qual(it->db), it->imp.table);
				return;
			}
			if ((it->dec.obligations & IG_OBL_REIMPORT_DOWNSTREAM) && !reads_alike(it)) {
				ig_inspect_reject(out, IG_ER_LOAD_DATA_PRECHECK_FAILED, "HY000",
				       "PreCheck failed: importgate: an import into %s.%s owes the same import on the downstream "
				       "cluster, which runs its text under TiDB's default sql_mode and utf8mb4, and this text "
				       "reads differently there (a backslash under NO_BACKSLASH_ESCAPES, a double-quoted "
				       "name under ANSI_QUOTES, a multi-byte character set's byte before a quote or "
				       "backslash); send it from a session with the default sql_mode and SET NAMES utf8mb4",
				       ig_inspect_qual(it->db), it->imp.table);
				return;
			}
			*obl_item = (int)i;
		}
		switch (it->dec.verdict) {
		case IG_VERDICT_PASS:
			break;
		case IG_VERDICT_ADD_DISABLE_PRECHECK:
			if (rewrite_item(it, out) < 0)
				return;
			rewrite = true;
			break;
		case IG_VERDICT_REJECT:
			ig_inspect_reject(out, (uint16_t)it->dec.err_code, it->dec.sqlstate, "%s",
			       it->dec.message ? it->dec.message : "PreCheck failed: importgate: rejected");
			return;
		case IG_VERDICT_LOGICAL:
			if (logical_item(it, &ver, out) < 0)
				return;
			rewrite = true;
			break;
		}
	}
	if (rewrite) {
		out->action = IA_REWRITE;
		if (assemble(p, &out->text) < 0) {
			ig_inspect_reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: out of memory rewriting the statement");
			return;
		}
	}
	/* The session reads TiDB's answer to the first plain import (PREPAREs run later). */
	*followed = first_plain;
}

/* The redacted text, streamed and compared with the text as it comes (no copy of a large one). */
typedef struct same_as {
	const char *text;
	size_t len, at;
	bool differs;
} same_as;

static void compare_piece(void *ctx, const char *piece, size_t n)
{
	same_as *c = ctx;
	if (c->differs || n > c->len - c->at || memcmp(c->text + c->at, piece, n) != 0)
		c->differs = true;
	else
		c->at += n;
}

/*
 * Does the text hold something the redactor withholds (a credential, or quoting it cannot
 * be sure of)? The whole statement, not the import's part: TiDB parses a whole batch before
 * running any of it (pkg/server/conn.go handleQuery, v8.5.6), so a syntax error in any
 * statement is the answer read as the import's, and its "near '...'" may quote a lone piece
 * of a split secret, which free-text redaction cannot recognise (attack6:
 * test_attack6_batch_echo.py).
 */
static bool holds_secret(const char *text, size_t len, unsigned flags)
{
	same_as c = {.text = text, .len = len};
	if (sql_redact_statement_to(text, len, flags, compare_piece, &c) < 0)
		return true;
	return c.differs || c.at != len;
}

/* The record of the import whose answer the session reads (proxy/importrec.h). */
static void follow_import(const ig_inspection *p, const import_item *it, ig_inspect_out *out)
{
	char target[520];
	snprintf(target, sizeof(target), "%s.%s", ig_inspect_qual(it->db), it->imp.table);
	/* Free-text redaction of an echo cannot recognise a lone piece of a split secret. */
	bool secret = holds_secret(p->sql, p->len, it->flags);
	/* FROM SELECT, and the LOAD DATA a logical import becomes, answer with an OK */
	bool answers_ok = it->imp.src == SQL_SRC_SELECT || (it->new_text && it->dec.verdict == IG_VERDICT_LOGICAL);
	out->import = ig_import_rec_new(p->conn_id, target, (unsigned)it->stmt_index, secret, answers_ok,
	                                it->dec.verdict);
	if (!out->import)
		ig_inspect_reject(out, ER_UNKNOWN_ERROR, "HY000", "importgate: out of memory following the import");
}

/* The follow-up an allowed import owes, recorded before it is sent (proxy/obligations.h). */
static void record_obligation(const ig_inspection *p, const import_item *it, ig_inspect_out *out)
{
	char err[256];
	ig_obl_spec spec = {
		.kinds = it->dec.obligations, .db = it->db, .table = it->imp.table,
		.statement = it->text, .statement_len = it->len, .user = p->user, .client = p->host,
		.backend = p->backend, .conn_id = p->conn_id,
		.disable_precheck = sql_import_find_opt(&it->imp, "DISABLE_PRECHECK") != NULL,
		.from_select = it->imp.src == SQL_SRC_SELECT,
		/* the FROM location as the session's modes read it, for the job search */
		.source = it->imp.src == SQL_SRC_FILE ? it->imp.location : NULL,
	};
	if (ig_obl_create(&spec, out->import->obl_id, sizeof(out->import->obl_id), err, sizeof(err)) < 0)
		ig_inspect_reject(out, ER_UNKNOWN_ERROR, "HY000",
		       "importgate: the follow-up owed after this import could not be recorded (%s), so "
		       "the import was not sent", err);
}

/* The decision record of one import (docs/AUDIT.md, import.decision). */
static int audit_decision(const ig_inspection *p, const import_item *it, bool durable, char *err, size_t errlen)
{
	char target[520];
	snprintf(target, sizeof(target), "%s.%s", it->db ? it->db : "", it->imp.table);
	ig_auditev_who who = ig_inspection_who(p);
	ig_auditev_decision d = {
		.table = target, .imp = &it->imp, .dec = it->decided ? &it->dec : NULL,
		.state = p->state, .state_error = p->state_err,
		.import_text = it->text, .import_len = it->len, .new_text = it->new_text, .new_len = it->new_len,
	};
	if (it->via_prepare) { /* the text that will be prepared */
		d.statement = it->text;
		d.statement_len = it->len;
		d.prepare = it->prepare_name;
	} else { /* the statement as the client sent it, wrapper included */
		d.statement = p->sql + it->whole.off;
		d.statement_len = it->whole.len;
		d.import_offset = it->span.off - it->whole.off;
	}
	return ig_auditev_import_decision(&who, &d, durable, err, errlen);
}

/*
 * Records every decision of the statement. When imports are about to be forwarded the
 * records must be on disk first: if they cannot be written, nothing is sent.
 */
static void audit_decisions(const ig_inspection *p, ig_inspect_out *out)
{
	char err[256];
	bool gating = out->action != IA_REJECT;
	for (size_t i = 0; i < p->nitems; i++) {
		if (audit_decision(p, &p->items[i], gating, err, sizeof(err)) == 0 || !gating)
			continue;
		LOG_ERROR(p->conn_id, "audit: %s: the import is refused", err);
		ig_inspect_reject(out, ER_UNKNOWN_ERROR, "HY000",
		                  "importgate: the audit record could not be written (%s), so the import was "
		                  "not sent; ask the DBA to check the audit log (audit.path)", err);
		ig_buf_reset(&out->text);
		gating = false;
	}
}

void ig_inspect_finish(ig_inspection *p, ig_inspect_out *out)
{
	int followed, obl_item;
	memset(out, 0, sizeof(*out));
	out->action = IA_FORWARD;
	evaluate(p, out, &followed, &obl_item);
	if (!p->quiet) {
		/* The effects: counted and logged, the import's record made and its follow-up recorded,
		 * then audited (fsynced when the import is about to be forwarded). */
		for (size_t i = 0; i < p->nitems; i++)
			if (p->items[i].decided)
				note_decision(p, &p->items[i]);
		if (followed >= 0 && out->action != IA_REJECT)
			follow_import(p, &p->items[followed], out);
		if (obl_item >= 0 && out->action != IA_REJECT)
			record_obligation(p, &p->items[obl_item], out);
		audit_decisions(p, out);
	}
	if (out->action == IA_REJECT) {
		if (out->import) /* recorded, then refused (audit): nothing will be owed */
			ig_import_rec_end(out->import, IMPORT_END_REFUSED, 0);
		ig_import_rec_free(out->import);
		out->import = NULL;
		ig_buf_reset(&out->text);
		return;
	}
	memcpy(out->use_db, p->use_db, sizeof(p->use_db));
	out->nuse = p->nuse;
	p->nuse = 0;
}
