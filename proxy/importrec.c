/*
 * importrec.c - the import record (importrec.h): one forwarded IMPORT INTO, its captured
 * answer, and its one ending, where the import.result audit event is written and the
 * obligations are told.
 */
#include "proxy/importrec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/auditev.h"
#include "proxy/importresult.h"
#include "proxy/log.h"
#include "proxy/mysql_proto.h"
#include "proxy/obligations.h"
#include "sqlparse/sqlparse.h"

ig_import_rec *ig_import_rec_new(uint64_t conn, const char *target, unsigned result_index, bool secret,
                                 bool answers_ok, ig_verdict verdict)
{
	ig_import_rec *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->conn = conn;
	snprintf(r->target, sizeof(r->target), "%s", target);
	r->result_index = result_index;
	r->secret = secret;
	r->answers_ok = answers_ok;
	r->verdict = verdict;
	return r;
}

void ig_import_rec_sent(ig_import_rec *r, const char *user, const char *client, const char *backend,
                        uint32_t caps, uint64_t now_ms)
{
	snprintf(r->user, sizeof(r->user), "%s", user);
	snprintf(r->client, sizeof(r->client), "%s", client);
	snprintf(r->backend, sizeof(r->backend), "%s", backend);
	r->caps = caps;
	r->start_ms = now_ms;
	ig_buf_reset(&r->answer);
	r->answer_full = false;
}

bool ig_import_rec_capture(ig_import_rec *r, const ig_packet *pk)
{
	size_t have = ig_buf_avail(&r->answer);
	if (r->answer_full || have >= IG_IMPORT_CAPTURE_MAX)
		return true;
	size_t room = IG_IMPORT_CAPTURE_MAX - have, whole = 4 + (size_t)pk->len;
	if (whole <= room && !ig_packet_whole(pk))
		return false;
	size_t k = 4 + (size_t)pk->have < room ? 4 + (size_t)pk->have : room;
	ig_buf_append(&r->answer, pk->data - 4, k); /* the header precedes the payload */
	r->answer_full = whole > room;
	return true;
}

/* TiDB's answer, in the log. */
static void log_result(const ig_import_rec *r, const ig_import_result *res, uint64_t ms)
{
	if (res->kind == IR_UNKNOWN) {
		LOG_INFO(r->conn, "import.result: %s: answer not readable (%zu bytes captured), %llu ms", r->target,
		         ig_buf_avail(&r->answer), (unsigned long long)ms);
	} else if (res->kind == IR_ERR) {
		LOG_INFO(r->conn, "import.result: %s: error %u %s, %llu ms", r->target, res->err_code, res->message,
		         (unsigned long long)ms);
	} else {
		LOG_INFO(r->conn, "import.result: %s: job %s, status %s, rows %s, %llu ms%s%s", r->target,
		         res->job_id[0] ? res->job_id : "-", res->status[0] ? res->status : "-",
		         res->rows[0] ? res->rows : "-", (unsigned long long)ms, res->message[0] ? ": " : "",
		         res->message);
	}
}

/*
 * Is this the import's own answer? IMPORT INTO from a file answers with its job's row (Job_ID
 * set, DETACHED too: Status "pending"), FROM SELECT with an OK ("Records: N, ID: ..."), as does
 * the LOAD DATA of a logical import.
 * Anything else is the answer of a statement wrapped around the import: EXPLAIN ANALYZE (or
 * DESC ANALYZE) runs it and answers with the plan's rows (TiDB pkg/executor/explain.go
 * executeAnalyzeExec, at 02021075 of master), and a DETACHED import under it goes on after
 * that answer (pkg/executor/import_into.go). Read as the import's, a row without a job said
 * "finished, nothing to follow", and the owed BACKUP ran while the job was still importing
 * (attack6: test_attack6_wrapped_import_answer.py). Such an answer is not readable: the
 * obligation looks for the job itself.
 */
static bool own_answer(const ig_import_rec *r, const ig_import_result *res)
{
	switch (res->kind) {
	case IR_ROWS: return !r->answers_ok && res->job_id[0];
	case IR_OK: return r->answers_ok;
	case IR_ERR: return true;
	case IR_UNKNOWN: break;
	}
	return false;
}

/* TiDB's answer, read from the captured bytes: logged, audited, and told to the obligations. */
static void answered(ig_import_rec *r, uint64_t now_ms)
{
	ig_import_result res;
	uint64_t ms = now_ms - r->start_ms;
	if (ig_import_result_parse(ig_buf_head(&r->answer), ig_buf_avail(&r->answer), r->caps, r->result_index,
	                           &res) < 0 || !own_answer(r, &res))
		res.kind = IR_UNKNOWN;
	/* TiDB's messages may quote the statement (1064 "near '...'", a location in 8xxx): only
	 * a redacted copy is logged or audited. */
	char *red = res.message[0] && !r->secret ? sql_redact_text(res.message, strlen(res.message)) : NULL;
	snprintf(res.message, sizeof(res.message), "%s",
	         red ? red : !res.message[0] ? "" : r->secret ? "(withheld: the statement carried a credential)"
	                                                       : "(withheld: out of memory)");
	free(red);
	log_result(r, &res, ms);
	ig_auditev_who who = {.conn = r->conn, .user = r->user, .client = r->client, .backend = r->backend};
	ig_auditev_import_result(&who, r->target, ms, &res);
	if (!r->obl_id[0])
		return;
	if (res.kind == IR_UNKNOWN)
		ig_obl_unanswered(r->obl_id);
	else if (res.kind == IR_ERR)
		ig_obl_answered(r->obl_id, "", "", res.err_code ? res.err_code : ER_UNKNOWN_ERROR, res.message);
	else
		ig_obl_answered(r->obl_id, res.job_id, res.status, 0, res.message);
}

void ig_import_rec_end(ig_import_rec *r, ig_import_end how, uint64_t now_ms)
{
	if (r->ended)
		return;
	r->ended = true;
	LOG_DEBUG(r->conn, "import into %s (%s) ended: %s", r->target, ig_verdict_name(r->verdict),
	          how == IMPORT_END_ANSWERED ? "answered" : how == IMPORT_END_UNANSWERED ? "unanswered" :
	          how == IMPORT_END_NOT_SENT ? "not sent" : how == IMPORT_END_CLIENT_LEFT ? "client left" : "refused");
	switch (how) {
	case IMPORT_END_ANSWERED:
		answered(r, now_ms);
		break;
	case IMPORT_END_UNANSWERED: /* the thread looks for the job itself */
		if (r->obl_id[0])
			ig_obl_unanswered(r->obl_id);
		break;
	case IMPORT_END_NOT_SENT:
		if (r->obl_id[0])
			ig_obl_answered(r->obl_id, "", "", ER_UNKNOWN_ERROR, "the import could not be sent");
		break;
	case IMPORT_END_CLIENT_LEFT:
		if (r->obl_id[0])
			ig_obl_answered(r->obl_id, "", "", ER_UNKNOWN_ERROR, "the client went away before the import was sent");
		break;
	case IMPORT_END_REFUSED: /* nothing will be owed */
		if (r->obl_id[0])
			ig_obl_answered(r->obl_id, "", "", ER_UNKNOWN_ERROR, "refused by the gateway");
		break;
	}
}

void ig_import_rec_free(ig_import_rec *r)
{
	if (!r)
		return;
	ig_import_rec_end(r, IMPORT_END_UNANSWERED, 0);
	ig_buf_reset(&r->answer);
	free(r);
}
