/*
 * statement.c - a COM_QUERY / COM_STMT_PREPARE through the inspection hook (proxy/inspect.h):
 * classified on the loop, or in the thread pool when large; the session's state asked of the
 * backend first when the classification needs it (proxy/probe.h); the import decision made
 * in the thread pool; then forwarded, rewritten or answered. Client input is held (IN_CLASSIFY,
 * IN_PROBE, IN_DECISION) until the statement is done with.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "policy/decide.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/mysql_proto.h"
#include "proxy/importrec.h"
#include "proxy/session_int.h"
#include "sqlparse/sqlparse.h"

/* Statements longer than this are classified in the thread pool, so that no statement (a
 * 16 MiB batch of tiny statements, say) holds a worker's loop and its other sessions. */
#define IG_INSPECT_INLINE_MAX (64 * 1024)
/*
 * Classifying holds about 100 bytes per statement of a batch (a 16 MiB batch of "DO 1;" is
 * ~330 MB), so the bytes of large statements under classification at once, in the whole
 * process, are bounded by twice limits.max_inspect_bytes: past that a large statement is
 * refused (1105, retry) rather than let several clients multiply the gateway's memory.
 */
#define IG_INSPECT_BIG (1024 * 1024)
static _Atomic size_t inspect_big_bytes;

/*
 * The sequence id that answers a command whose payload (command byte included) is plen bytes:
 * the client sent it as one packet per 16 MiB - 1 bytes, and an empty one after an exact fit.
 */
uint8_t ig_stmt_answer_seq(size_t plen)
{
	return (uint8_t)(plen / MY_MAX_PAYLOAD + 1);
}

void ig_stmt_free(ig_session *s)
{
	ig_held *h = &s->cmd.held;
	ig_buf_reset(&h->text);
	ig_buf_reset(&s->cmd.probe.in);
	ig_inspection_free(h->inspection); /* a probe's (a decision's is freed by pool_done) */
	h->inspection = NULL;
	ig_session_facts_free(&h->facts);
}

/*
 * The import the inspection decided to forward, once it is known what became of the
 * statement: its record moves into the pending command that carries it (whose answer it
 * then captures), or it ends here: not sent, or not followed (nobody will read the answer).
 */
static void hand_over_import(ig_session *s, ig_inspect_out *out, ig_pending *p, int rc)
{
	ig_import_rec *r = out->import;
	if (!r)
		return;
	out->import = NULL;
	if (p) {
		ig_import_rec_sent(r, s->user, s->client_addr, s->be->addr, s->caps, uv_now(&s->w->loop));
		p->import = r;
		return;
	}
	ig_import_rec_end(r, rc < 0 ? IMPORT_END_NOT_SENT : IMPORT_END_UNANSWERED, 0);
	ig_import_rec_free(r);
}

/* The forwarded statement's USE list goes with it: remembered when each result is OK. */
static void follow_uses(uint8_t cmd, ig_inspect_out *out, ig_pending *p)
{
	if (p && cmd == COM_QUERY) {
		memcpy(p->use_db, out->use_db, sizeof(out->use_db));
		p->nuse = out->nuse;
		memset(out->use_db, 0, sizeof(out->use_db));
		out->nuse = 0;
	}
}

/* Carries out the hook's answer for a statement. */
static void apply_inspection(ig_session *s, uint8_t cmd, const uint8_t *text, size_t len, ig_inspect_out *out)
{
	uint8_t resp_seq = ig_stmt_answer_seq(len + 1); /* what the client sent, whatever is forwarded */
	if (out->action == IA_REJECT) {
		if (IG_LOG_INFO <= atomic_load_explicit(&ig_log_threshold, memory_order_relaxed)) {
			char *red = sql_redact_text(out->err_msg, strlen(out->err_msg));
			LOG_INFO(s->id, "statement refused: %u %s", out->err_code, red ? red : "(message withheld)");
			free(red);
		}
		ig_sess_send_error(s, resp_seq, out->err_code, out->sqlstate, out->err_msg);
		return;
	}
	if (out->action == IA_REWRITE) {
		text = ig_buf_head(&out->text);
		len = ig_buf_avail(&out->text);
	}
	int rc = ig_conn_send_command(&s->backend, cmd, text, len);
	ig_pending *p = rc == 0 ? ig_cmd_expect(s, cmd) : NULL;
	if (p) {
		p->resp_seq = resp_seq;
		p->backend_seq = ig_stmt_answer_seq(len + 1);
		if (cmd == COM_QUERY)
			p->kill = sql_kill_connection((const char *)text, len, &p->kill_id) == 1;
	}
	hand_over_import(s, out, p, rc);
	follow_uses(cmd, out, p);
	if (rc < 0)
		ig_sess_close(s, "out of memory");
}

static ig_stmt_ctx stmt_ctx(const ig_session *s, uint8_t cmd, const ig_session_facts *facts)
{
	ig_stmt_ctx ctx = {
		.conn_id = s->id, .user = s->user, .client_host = s->client_addr,
		.db = s->has_db ? s->db : NULL, .server_version = s->server_version,
		.client_tls = s->client.tls != NULL, .backend = s->be->addr, .cmd = cmd, .facts = facts,
	};
	return ctx;
}

/* Thread pool: read the cluster state, decide, and (later) audit: all the blocking parts. */
static void pool_decide(uv_work_t *req)
{
	ig_session *s = req->data;
	ig_inspect_read(s->cmd.held.inspection);
	ig_inspect_finish(s->cmd.held.inspection, &s->cmd.held.out);
}

/* Thread pool: classify a large statement (the session is held; nothing it reads changes). */
static void pool_classify(uv_work_t *req)
{
	ig_session *s = req->data;
	ig_held *h = &s->cmd.held;
	ig_stmt_ctx ctx = stmt_ctx(s, h->cmd, h->have_facts ? &h->facts : NULL);
	h->inspection = ig_inspect_begin(&ctx, (const char *)ig_buf_head(&h->text), ig_buf_avail(&h->text), &h->out);
}

/* The session's share of the large statements under classification, given back. */
static void uncharge(ig_held *h)
{
	if (h->big_charge)
		atomic_fetch_sub(&inspect_big_bytes, h->big_charge);
	h->big_charge = 0;
}

/* The statement held for the probe or the decision is done with: take client input again. */
static void resume_input(ig_session *s)
{
	ig_buf_reset(&s->cmd.held.text);
	ig_cmd_input_event(s, EV_RESUME);
	if (!s->closing)
		ig_cmd_resume(s);
}

static ig_stmt_result begun(ig_session *s, uint8_t cmd, const uint8_t *text, size_t len, bool had_facts,
                            ig_inspection *inspection, ig_inspect_out *out);

/* Back on the loop after a classification in the pool: go on as inline classification does. */
static void classified(ig_session *s)
{
	ig_held *h = &s->cmd.held;
	uncharge(h);
	ig_inspection *inspection = h->inspection;
	bool had_facts = h->have_facts;
	h->inspection = NULL;
	ig_session_facts_free(&h->facts);
	h->have_facts = false;
	ig_cmd_input_event(s, EV_RESUME);
	ig_stmt_result r = begun(s, h->cmd, ig_buf_head(&h->text), ig_buf_avail(&h->text), had_facts, inspection, &h->out);
	if (r == STMT_DONE) {
		resume_input(s);
		return;
	}
	/* Outside the input path nothing else flushes: the probe must go out now. */
	ig_conn_flush(&s->backend);
	ig_sess_update_reading(s);
}

/* Back on the loop with a classification or a decision: answer, and go on with the input. */
static void pool_done(uv_work_t *req, int status)
{
	ig_session *s = req->data;
	ig_held *h = &s->cmd.held;
	ig_inspection *inspection = h->inspection;
	bool was_classify = s->cmd.input == IN_CLASSIFY;
	(void)status;
	if (!s->closing && was_classify) {
		classified(s);
		return;
	}
	ig_cmd_input_event(s, EV_RESUME); /* out of the pool */
	/* The pool's queue included: under load that wait is part of what the import is held. */
	if (!was_classify)
		ig_metric_observe_ns(IG_M_DECISION_SECONDS, uv_hrtime() - h->decide_ns);
	h->inspection = NULL;
	uncharge(h);
	if (s->closing) {
		if (h->out.import) /* decided, never sent: the client went away first */
			ig_import_rec_end(h->out.import, IMPORT_END_CLIENT_LEFT, 0);
		ig_inspect_out_free(&h->out);
		ig_inspection_free(inspection);
		ig_sess_maybe_free(s);
		return;
	}
	apply_inspection(s, h->cmd, ig_buf_head(&h->text), ig_buf_avail(&h->text), &h->out);
	ig_inspect_out_free(&h->out);
	ig_inspection_free(inspection);
	resume_input(s);
}

/* Hands an inspection that has the session's facts to the thread pool: cluster state, decision. */
static ig_stmt_result queue_decision(ig_session *s, ig_inspection *inspection)
{
	ig_held *h = &s->cmd.held;
	h->inspection = inspection;
	h->pool.data = s;
	h->decide_ns = uv_hrtime();
	if (uv_queue_work(&s->w->loop, &h->pool, pool_decide, pool_done) != 0) {
		h->inspection = NULL;
		ig_inspection_free(inspection);
		ig_sess_send_error(s, h->answer_seq, ER_UNKNOWN_ERROR, "HY000", "importgate: cannot schedule the import decision");
		return STMT_DONE;
	}
	ig_cmd_input_event(s, EV_DECIDE);
	return STMT_ASYNC;
}

/*
 * Sends the gateway's own query for the session's state (proxy/probe.h). Nothing is pending
 * (a statement to inspect waits for earlier answers), so every byte the backend sends until
 * the probe's answer ends belongs to it; the client's input is held meanwhile.
 */
static ig_stmt_result start_probe(ig_session *s, ig_inspection *inspection, const ig_probe_request *req)
{
	ig_probe_wait *pw = &s->cmd.probe;
	ig_buf q = {0};
	uint8_t c = COM_QUERY, rnd[IG_PROBE_NONCE_LEN / 2];
	/* Unpredictable per probe: an answer can only carry it if our text produced it. */
	int rc = RAND_bytes(rnd, sizeof(rnd)) == 1 ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < sizeof(rnd); i++)
		snprintf(pw->nonce + 2 * i, 3, "%02x", rnd[i]);
	if (rc == 0)
		rc = ig_buf_append(&q, &c, 1);
	if (rc == 0)
		rc = ig_probe_build(&q, pw->nonce, req);
	if (rc == 0)
		rc = ig_conn_send_packet(&s->backend, 0, ig_buf_head(&q), ig_buf_avail(&q));
	ig_buf_reset(&q);
	if (rc < 0) {
		ig_inspection_free(inspection);
		ig_sess_close(s, "out of memory");
		return STMT_DONE;
	}
	ig_metric_inc(IG_M_PROBES);
	s->cmd.held.inspection = inspection;
	ig_cmd_input_event(s, EV_PROBE);
	pw->since = uv_now(&s->w->loop);
	ig_buf_reset(&pw->in);
	pw->scan = 0;
	return STMT_ASYNC;
}

/* Counts a large statement against the process-wide bound; false when refused. */
static bool charge(ig_session *s, size_t cost)
{
	ig_held *h = &s->cmd.held;
	if (cost < IG_INSPECT_BIG)
		return true;
	size_t budget = 2 * s->cfg->limits.max_inspect_bytes;
	size_t now = atomic_fetch_add(&inspect_big_bytes, cost);
	h->big_charge = cost;
	if (now + cost > budget && now > 0) { /* one alone is always allowed */
		uncharge(h);
		ig_sess_send_error(s, h->answer_seq, ER_UNKNOWN_ERROR, "HY000",
		                   "importgate: too many large statements are being inspected at once "
		                   "(limits.max_inspect_bytes); the statement was not sent, retry it");
		return false;
	}
	return true;
}

/* Hands a large statement to the thread pool for classification (its text is in held.text). */
static ig_stmt_result queue_classify(ig_session *s, const ig_session_facts *facts, size_t cost)
{
	ig_held *h = &s->cmd.held;
	if (!charge(s, cost))
		return STMT_DONE;
	if (facts && ig_session_facts_copy(&h->facts, facts) < 0) {
		uncharge(h);
		ig_sess_send_error(s, h->answer_seq, ER_UNKNOWN_ERROR, "HY000", "importgate: out of memory inspecting the statement");
		return STMT_DONE;
	}
	h->have_facts = facts != NULL;
	h->pool.data = s;
	if (uv_queue_work(&s->w->loop, &h->pool, pool_classify, pool_done) != 0) {
		uncharge(h);
		ig_session_facts_free(&h->facts);
		h->have_facts = false;
		ig_sess_send_error(s, h->answer_seq, ER_UNKNOWN_ERROR, "HY000", "importgate: cannot schedule the inspection");
		return STMT_DONE;
	}
	ig_cmd_input_event(s, EV_CLASSIFY);
	return STMT_ASYNC;
}

/* What follows the classification: the answer, the probe, or the decision. */
static ig_stmt_result begun(ig_session *s, uint8_t cmd, const uint8_t *text, size_t len, bool had_facts,
                            ig_inspection *inspection, ig_inspect_out *out)
{
	if (!inspection) {
		apply_inspection(s, cmd, text, len, out);
		ig_inspect_out_free(out);
		return STMT_DONE;
	}
	ig_inspect_out_free(out);
	ig_probe_request req;
	if (!ig_inspect_needs_probe(inspection, &req))
		return queue_decision(s, inspection);
	if (had_facts) { /* begin never asks twice; refuse rather than loop */
		ig_inspection_free(inspection);
		ig_sess_send_error(s, s->cmd.held.answer_seq, ER_UNKNOWN_ERROR, "HY000",
		                   "importgate: internal error: probe asked twice");
		return STMT_DONE;
	}
	return start_probe(s, inspection, &req);
}

/*
 * Through the hook: STMT_DONE when the statement was forwarded, rewritten or answered;
 * STMT_ASYNC when it waits for the pool, the probe or the decision. A statement longer than
 * IG_INSPECT_INLINE_MAX must already be in held.text (the pool reads it there). facts: the
 * server's answer to the probe, or NULL before it was asked.
 */
static ig_stmt_result inspect_statement(ig_session *s, uint8_t cmd, const uint8_t *text, size_t len,
                                        const ig_session_facts *facts)
{
	size_t cost = len; /* what classification reads: the text and any variable's value */
	for (size_t i = 0; facts && i < facts->nvars; i++)
		cost += facts->vars[i].len;
	if (cost > IG_INSPECT_INLINE_MAX)
		return queue_classify(s, facts, cost);
	ig_stmt_ctx ctx = stmt_ctx(s, cmd, facts);
	ig_inspect_out out;
	ig_inspection *inspection = ig_inspect_begin(&ctx, (const char *)text, len, &out);
	return begun(s, cmd, text, len, facts != NULL, inspection, &out);
}

/* A failed probe is never guessed around: the held statement is refused, the session closed. */
static void probe_failed(ig_session *s, const char *err)
{
	LOG_WARN(s->id, "probe of the session's state failed: %s", err);
	ig_metric_inc(IG_M_PROBE_FAILURES);
	ig_sess_fail(s, s->cmd.held.answer_seq, IG_ER_LOAD_DATA_PRECHECK_FAILED,
	             "PreCheck failed: importgate: could not read the session's state from the server "
	             "(%s), so the statement was not sent", err);
}

/* The probe's answer is whole: the held statement goes on with the facts it gave. */
static void probe_answered(ig_session *s, ig_session_facts *facts)
{
	ig_held *h = &s->cmd.held;
	LOG_DEBUG(s->id, "probe: db %s, user '%s', sql_mode '%s', charset %s", facts->db ? facts->db : "(none)",
	          facts->user, facts->sql_mode, facts->charset);
	ig_cmd_input_event(s, EV_RESUME);
	ig_stmt_result r = inspect_statement(s, h->cmd, ig_buf_head(&h->text), ig_buf_avail(&h->text), facts);
	ig_session_facts_free(facts);
	if (r == STMT_DONE)
		resume_input(s);
	else
		ig_sess_update_reading(s);
}

/*
 * A packet of the answer to the probe (IN_PROBE); after: bytes the backend sent after it. Since
 * the rest of an answer that could not be read cannot be told apart from what follows it, a
 * failed probe closes the session.
 */
ig_pkt_verdict ig_stmt_probe_packet(ig_session *s, const ig_packet *pk, size_t after)
{
	ig_probe_wait *pw = &s->cmd.probe;
	char err[400];
	ig_session_facts facts;
	ig_probe_request req;
	size_t used = 0;
	/* HEX() doubles a variable's bytes (LEFT() counts characters: up to 4 bytes each). */
	size_t bound = (size_t)IG_PROBE_MAX_VARS * 8 * IG_PROBE_VAR_MAX + 64 * 1024;
	bool fits = ig_buf_avail(&pw->in) + 4 + pk->len <= bound;
	if (!fits || (ig_packet_whole(pk) && ig_buf_append(&pw->in, pk->data - 4, 4 + (size_t)pk->len) < 0)) {
		ig_sess_fail(s, s->cmd.held.answer_seq, IG_ER_LOAD_DATA_PRECHECK_FAILED,
		             "PreCheck failed: importgate: the server's answer about the session's state is larger "
		             "than the probe can ask for (user variables are read up to 1 MiB each); the "
		             "statement was not sent");
		return IG_PKT_DISCARD;
	}
	if (!ig_packet_whole(pk))
		return IG_PKT_WAIT;
	/* Parsed only when a packet that can end the answer has come: linear in its size. */
	if (!ig_probe_may_be_complete(ig_buf_head(&pw->in), ig_buf_avail(&pw->in), &pw->scan))
		return IG_PKT_TAKEN;
	ig_inspect_needs_probe(s->cmd.held.inspection, &req);
	int rc = ig_probe_parse(ig_buf_head(&pw->in), ig_buf_avail(&pw->in), s->caps, pw->nonce, &req, &facts, &used,
	                        err, sizeof(err));
	if (rc > 0)
		return IG_PKT_TAKEN;
	if (rc == 0 && (used != ig_buf_avail(&pw->in) || after > 0)) {
		ig_session_facts_free(&facts);
		rc = -1;
		snprintf(err, sizeof(err), "the server sent more than the answer");
	}
	ig_buf_reset(&pw->in);
	ig_inspection_free(s->cmd.held.inspection);
	s->cmd.held.inspection = NULL;
	if (rc < 0) {
		probe_failed(s, err);
		return IG_PKT_DISCARD;
	}
	ig_backend_note_said(facts.version, facts.tidb_info);
	probe_answered(s, &facts);
	return IG_PKT_TAKEN;
}

/* A statement no classification can concern goes on untouched (relayed when it is raw). */
static ig_stmt_result quick_statement(ig_session *s, const uint8_t *payload, size_t plen, bool raw)
{
	uint8_t cmd = payload[0];
	ig_metric_inc(IG_M_STATEMENTS_QUICK);
	if (s->cfg->audit.log_statements == IG_LOGSTMT_ALL) {
		ig_stmt_ctx c = {.conn_id = s->id, .user = s->user, .client_host = s->client_addr,
		                 .db = s->has_db ? s->db : NULL, .cmd = cmd};
		ig_inspect_audit_statement(&c, (const char *)payload + 1, plen - 1, "other");
	}
	if (!raw && ig_conn_send_command(&s->backend, cmd, payload + 1, plen - 1) < 0) {
		ig_sess_close(s, "out of memory");
		return STMT_DONE;
	}
	ig_pending *p = ig_cmd_expect(s, cmd);
	if (p)
		p->resp_seq = p->backend_seq = ig_stmt_answer_seq(plen);
	return raw ? STMT_RELAY : STMT_DONE;
}

/*
 * A whole COM_QUERY / COM_STMT_PREPARE: through the hook, then forwarded, rewritten or
 * answered. STMT_WAIT: it must wait for earlier responses (the probe and the decision see
 * the session as the statement will); STMT_ASYNC: consumed, waiting for the probe or the
 * decision, client input held until then. raw: payload is the client's own packet.
 */
ig_stmt_result ig_stmt_on_statement(ig_session *s, const uint8_t *payload, size_t plen, bool raw)
{
	ig_held *h = &s->cmd.held;
	uint8_t cmd = payload[0];
	size_t len = plen - 1;
	if (ig_inspect_quick((const char *)payload + 1, len))
		return quick_statement(s, payload, plen, raw);
	if (s->cmd.pq_len > 0)
		return STMT_WAIT;
	ig_metric_inc(IG_M_STATEMENTS_INSPECTED);
	h->cmd = cmd;
	h->answer_seq = ig_stmt_answer_seq(plen);
	/* The text stays in the client's read buffer unless it must outlive this call. */
	bool kept = len > IG_INSPECT_INLINE_MAX;
	if (kept && ig_buf_append(&h->text, payload + 1, len) < 0) {
		ig_sess_close(s, "out of memory");
		return STMT_DONE;
	}
	const uint8_t *text = kept ? ig_buf_head(&h->text) : payload + 1;
	ig_stmt_result r = inspect_statement(s, cmd, text, len, NULL);
	if (r == STMT_DONE && kept)
		ig_buf_reset(&h->text);
	if (r == STMT_ASYNC && !kept && ig_buf_append(&h->text, payload + 1, len) < 0)
		ig_sess_close(s, "out of memory"); /* an inspection in the pool is freed by pool_done */
	return r;
}
