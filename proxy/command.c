/*
 * command.c - the command phase. Client packets that start commands are looked at:
 * statements go through the hook (statement.c), held whole; everything else is relayed as
 * it arrives. The backend's answers are relayed as they arrive and followed packet by
 * packet (proxy/response.h) for the session's database and user and for an import's answer.
 * The client's input has one state (ig_input in session_int.h), moved only by input_event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include "proxy/importrec.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/mysql_proto.h"
#include "proxy/session_int.h"

_Static_assert(IG_FRAME_PEEK >= IG_RESP_PEEK, "the response tracker needs its peek in every packet");

/* ------------------------------------------------------------------ the input state */

static bool held(ig_input in)
{
	return in == IN_DRAIN || in == IN_CLASSIFY || in == IN_PROBE || in == IN_DECISION;
}

/* The transition function: an event that does not apply leaves the state as it is. */
static ig_input next_input(ig_input in, ig_input_event ev)
{
	switch (ev) {
	case EV_WAIT_ANSWERS: return in == IN_COMMAND ? IN_DRAIN : in;
	case EV_ANSWERED: return in == IN_DRAIN ? IN_COMMAND : in;
	case EV_BIG_START: return in == IN_COMMAND ? IN_ASSEMBLE : in;
	case EV_BIG_TOO_LARGE: return in == IN_ASSEMBLE ? IN_DISCARD : in;
	case EV_BIG_END: return in == IN_ASSEMBLE || in == IN_DISCARD ? IN_COMMAND : in;
	case EV_INFILE: return in == IN_COMMAND ? IN_INFILE : in;
	case EV_INFILE_END: return in == IN_INFILE ? IN_COMMAND : in;
	case EV_CLASSIFY: return in == IN_COMMAND ? IN_CLASSIFY : in;
	case EV_PROBE: return in == IN_COMMAND ? IN_PROBE : in;
	case EV_DECIDE: return in == IN_COMMAND ? IN_DECISION : in;
	case EV_RESUME: return held(in) ? IN_COMMAND : in;
	case EV_QUIT: return in == IN_COMMAND ? IN_QUIT : in;
	}
	return in;
}

void ig_cmd_input_event(ig_session *s, ig_input_event ev)
{
	s->cmd.input = next_input(s->cmd.input, ev);
}

bool ig_cmd_takes_input(const ig_session *s) { return !held(s->cmd.input); }

/* Classification or the decision runs in the thread pool: the session outlives its handles. */
bool ig_cmd_in_pool(const ig_session *s) { return s->cmd.input == IN_CLASSIFY || s->cmd.input == IN_DECISION; }

/* The client is in the middle of data: LOCAL INFILE contents, or an oversized statement. */
bool ig_cmd_client_sending(const ig_session *s) { return s->cmd.input == IN_INFILE || s->cmd.input == IN_DISCARD; }

/* ------------------------------------------------------------------ pending commands */

static void free_pending(ig_pending *p)
{
	ig_import_rec_free(p->import); /* not ended yet: the answer never came (closed first) */
	free(p->db);
	free(p->user);
	for (unsigned i = 0; i < p->nuse; i++)
		free(p->use_db[i]);
	memset(p, 0, sizeof(*p));
}

static void start_tracking(ig_session *s)
{
	s->cmd.answer_begun = false;
	s->cmd.auth_turn = false;
	s->cmd.seq_shift = 0; /* a new command: both legs number from 0 again */
	if (s->cmd.pq_len > 0)
		ig_resp_begin(&s->cmd.resp, s->cmd.pq[s->cmd.pq_head].cmd, s->caps, s->mariadb_caps);
}

/*
 * The backend's packets carry the sequence ids the gateway expects: the head's answer
 * starts with the id after its request, and goes on one by one. Anything else means the
 * gateway no longer knows which answer a packet belongs to, and then a row could be read
 * as a file request, the one state in which client packets pass uninspected (attack4:
 * test_attack4_longdata_error_desync.py). The ids cannot show an answer to a command the
 * gateway expects none to (send_fence): it starts with the id the next answer starts with.
 * A COM_CHANGE_USER's authentication exchange and
 * the answer after LOCAL INFILE data interleave the client's packets: only their start is
 * checked. On a compressed backend leg the ids prove nothing (numbered_answer): the packets
 * come numbered by the gateway, and the answers are followed by their structure alone.
 */
static bool answer_in_sequence(ig_session *s, const ig_packet *pk)
{
	ig_command *c = &s->cmd;
	const ig_pending *h = &c->pq[c->pq_head];
	bool ok;

	/* Not known yet: after LOCAL INFILE data (the file's end tells it), or while the parts
	 * of a command of 16 MiB or more still come - and then no answer to it can have begun
	 * (a server reads a command whole before it runs it). */
	bool parts_due = c->cont_pend && c->pq_len == 1;
	if (!c->answer_begun)
		ok = h->backend_seq == 0 ? !parts_due : pk->seq == h->backend_seq;
	else
		ok = h->cmd == COM_CHANGE_USER || pk->seq == c->answer_next_seq;
	c->answer_begun = true;
	c->answer_next_seq = (uint8_t)(pk->seq + 1);
	return ok;
}

/*
 * A packet of a compressed backend leg, numbered as an uncompressed server numbers it. Under
 * compression the packets' own ids are not the protocol's: the frames carry the ids that are
 * checked, and servers number the packets inside their own way (MariaDB counts packets and
 * frames apart, pkt_nr and compress_pkt_nr, and resynchronises them on each frame read:
 * sql/net_serv.cc my_net_write / net_real_write / my_real_read, MariaDB/server at 00fd9e17;
 * older MySQL-derived net_serv.cc writes 0 in every packet; TiDB sets them from the frame id
 * at each flush: pkg/server/internal/packetio.go, pingcap/tidb at 000172f4), and clients do
 * not read them (libmariadb ma_net.c ma_net_read checks the frame's id only). So the gateway
 * gives each packet the id due - the head's answer from backend_seq on, one by one; after a
 * client packet of a COM_CHANGE_USER exchange, the one after it (auth_exchange) - and a
 * client on an uncompressed leg gets the ids it checks. Where no id is due (no command
 * pending, LOCAL INFILE data still coming), the packet keeps its own.
 */
static const ig_packet *numbered_answer(ig_session *s, const ig_packet *pk, ig_packet *own)
{
	ig_command *c = &s->cmd;
	if (!ig_zleg_on(&s->backend.z) || c->pq_len == 0)
		return pk;
	uint8_t due = c->answer_begun ? c->answer_next_seq : c->pq[c->pq_head].backend_seq;
	if (!c->answer_begun && due == 0)
		return pk;
	*own = *pk;
	own->seq = due;
	return own;
}

/* A command was forwarded: follow its response (the record is filled by the caller). */
ig_pending *ig_cmd_expect(ig_session *s, uint8_t cmd)
{
	ig_command *c = &s->cmd;
	if (!ig_cmd_has_response(cmd))
		return NULL;
	ig_pending *p = &c->pq[(c->pq_head + c->pq_len) % PQ_MAX];
	memset(p, 0, sizeof(*p));
	c->pq_len++;
	p->cmd = cmd;
	p->resp_seq = p->backend_seq = 1; /* a one-packet command; callers correct it for longer ones */
	p->sent_ns = uv_hrtime();
	if (c->pq_len == 1) {
		s->last_io_ms = uv_now(&s->w->loop); /* the wait for an answer starts now */
		start_tracking(s);
	}
	return p;
}

void ig_cmd_start(ig_session *s)
{
	s->cmd.input = IN_COMMAND;
	s->cmd.out_since_ms = s->last_io_ms;
	s->cmd.out_unsent = -1;
}

void ig_cmd_free(ig_session *s)
{
	ig_command *c = &s->cmd;
	while (c->pq_len > 0) {
		free_pending(&c->pq[c->pq_head]);
		c->pq_head = (c->pq_head + 1) % PQ_MAX;
		c->pq_len--;
	}
	ig_buf_reset(&c->big);
	ig_stmt_free(s);
}

/* ------------------------------------------------------------------ answers */

static void set_db(ig_session *s, const char *db)
{
	snprintf(s->db, sizeof(s->db), "%s", db);
	s->has_db = true;
	LOG_DEBUG(s->id, "current database: %s", s->db);
}

/* One result of the head command ended (OK, rows or error). */
static void result_ended(ig_session *s, unsigned index)
{
	ig_pending *p = &s->cmd.pq[s->cmd.pq_head];
	if (s->cmd.resp.kind == RK_ERR)
		return;
	if (index < p->nuse && p->use_db[index])
		set_db(s, p->use_db[index]);
	if (p->cmd == COM_INIT_DB && p->db)
		set_db(s, p->db);
	if (p->cmd == COM_CHANGE_USER && p->user) {
		snprintf(s->user, sizeof(s->user), "%s", p->user);
		s->has_db = p->db != NULL;
		if (p->db)
			set_db(s, p->db);
		LOG_DEBUG(s->id, "user changed to '%s'", s->user);
	}
}

/* importgate_query_duration_seconds, by command. A forwarded IMPORT INTO is left out: its
 * answer comes when the import ends (minutes), which says nothing about the gateway. */
static void observe_duration(const ig_pending *p)
{
	if (p->import || p->fence)
		return;
	ig_metric_id id = p->cmd == COM_QUERY ? IG_M_QUERY_SECONDS_QUERY :
	                  p->cmd == COM_STMT_EXECUTE ? IG_M_QUERY_SECONDS_STMT_EXECUTE :
	                  p->cmd == COM_STMT_PREPARE ? IG_M_QUERY_SECONDS_STMT_PREPARE : IG_M_QUERY_SECONDS_OTHER;
	ig_metric_observe_ns(id, uv_hrtime() - p->sent_ns);
}

static void response_done(ig_session *s)
{
	ig_command *c = &s->cmd;
	observe_duration(&c->pq[c->pq_head]);
	if (c->resp.kind != RK_ERR) /* an error leaves the transaction as it was */
		c->srv_status = c->resp.status;
	if (c->pq[c->pq_head].import)
		ig_import_rec_end(c->pq[c->pq_head].import, IMPORT_END_ANSWERED, uv_now(&s->w->loop));
	free_pending(&c->pq[c->pq_head]);
	c->pq_head = (c->pq_head + 1) % PQ_MAX;
	c->pq_len--;
	start_tracking(s);
}

/* A packet of the backend's answers, followed (its first bytes suffice). false: the session
 * is closed, the packet not to be relayed. */
static bool track_answer(ig_session *s, const ig_packet *pk)
{
	ig_command *c = &s->cmd;
	if (c->pq_len > 0 && !answer_in_sequence(s, pk)) {
		LOG_WARN(s->id, "bypass.suspect: the backend's packet carries sequence id %u where the "
		         "answer to command 0x%02x was due; the gateway cannot follow the answers: "
		         "closing the session", pk->seq, c->pq[c->pq_head].cmd);
		ig_sess_close(s, "backend answers out of sequence");
		return false;
	}
	if (pk->cont)
		return true;
	if (c->pq_len == 0 && pk->have >= 1 && pk->data[0] == 0xfb) {
		/* A LOCAL INFILE request answers a command: with none pending, the gateway miscounted
		 * the answers, and relayed, the server would read the client's next packets - which the
		 * gateway takes for commands and relays uninspected when they get no answer - as file
		 * data, and run what follows one it refuses by its header (attack13, attack15). Whatever
		 * the miscount, the file is never asked for behind the gateway's back. */
		LOG_WARN(s->id, "bypass.suspect: the backend asked for a LOCAL INFILE file while no command "
		         "was pending; the gateway cannot follow the answers: closing the session");
		ig_sess_close(s, "backend asked for a file unasked");
		return false;
	}
	if (c->pq_len == 0) {
		/* Relayed as it came, the one packet that is (a file request is not, above). What
		 * comes unasked is an ERR a server writes before it closes, the second OK of a command
		 * answered twice that the client waited for, or TiDB's ERR to a COM_STMT_SEND_LONG_DATA
		 * or COM_STMT_CLOSE it rejects once nothing else is pending. No later answer is
		 * counted against it, so the gateway stays in step (the fence before the next answered
		 * command proves it: send_fence). The client's library reads none of these for
		 * what they are - libmysqlclient and libmariadb send COM_STMT_SEND_LONG_DATA with no
		 * read ("we don't get any ok packet from the server in this case") and take the ERR
		 * for their next command's answer - exactly as when connected to TiDB itself; a
		 * gateway that dropped it would answer for TiDB. */
		LOG_DEBUG(s->id, "unsolicited packet from backend (0x%02x)", pk->have ? pk->data[0] : 0);
		return true;
	}
	unsigned index = c->resp.result_index;
	size_t peek = pk->have < IG_RESP_PEEK ? pk->have : IG_RESP_PEEK;
	ig_resp_event ev = ig_resp_feed(&c->resp, pk->data, peek, pk->len);
	if (ev != RE_NONE && ev != RE_PROTOCOL && c->input == IN_INFILE) {
		/* The server is done with the file (or asks for another) before the client ended
		 * it: what the client sends next is relayed as file data and read as commands. */
		LOG_WARN(s->id, "bypass.suspect: the backend answered the LOCAL INFILE request before the "
		         "client's data ended; closing the session");
		ig_sess_close(s, "backend left the LOCAL INFILE exchange early");
		return false;
	}
	switch (ev) {
	case RE_NONE:
		if (c->pq[c->pq_head].cmd == COM_CHANGE_USER) { /* a switch request or more data: the client's turn */
			c->auth_turn = true;
			c->auth_seq = (uint8_t)(pk->seq + 1);
		}
		break;
	case RE_INFILE:
		ig_cmd_input_event(s, EV_INFILE);
		c->infile_seq = (uint8_t)(pk->seq - c->seq_shift + 1); /* as the client numbers it */
		c->infile_bseq = (uint8_t)(pk->seq + 1);
		c->pq[c->pq_head].resp_seq = 0; /* the answer's sequence now follows the file's packets */
		c->pq[c->pq_head].backend_seq = 0;
		c->answer_begun = false;
		break;
	case RE_RESULT:
		result_ended(s, index);
		break;
	case RE_DONE:
		result_ended(s, index);
		response_done(s);
		break;
	case RE_PROTOCOL: /* not knowing where the answers are is how a row becomes a file request */
		LOG_WARN(s->id, "bypass.suspect: cannot follow the backend's answer to command 0x%02x; "
		         "closing the session", c->pq[c->pq_head].cmd);
		ig_sess_close(s, "backend answer not understood");
		return false;
	}
	return true;
}

/* The longest answer a fence gets (a COM_PING's OK: 7 bytes from TiDB and MariaDB, room for
 * session state; COM_STATISTICS' line: about 150 bytes). */
#define IG_FENCE_OK_MAX 1024

/* What every server answers COM_STATISTICS with: one packet, this text first (TiDB writeStats,
 * pkg/server/conn.go at 000172f4; MariaDB sql_parse.cc dispatch_command). */
#define IG_STATS_PREFIX "Uptime: "

/* TiDB's answer to COM_PING once a graceful shutdown has begun, while it still serves every
 * other command for graceful-wait-before-shutdown: ErrServerShutdown (pkg/server/conn.go
 * dispatch, pingcap/tidb#58008: v9.0, and v8.5 by a cherry-pick; tests/tidb_double/FACTS.md
 * section 8). No handler of the commands a COM_PING fence follows (COM_STMT_CLOSE,
 * COM_STMT_SEND_LONG_DATA) writes it, so it cannot be their unexpected answer. */
#define IG_ER_SERVER_SHUTDOWN 1053

/* The fence's own answer: the OK of a COM_PING (or its ERR in a graceful shutdown), or the
 * text of a COM_STATISTICS. */
static bool fence_answered(ig_fence kind, const ig_packet *pk)
{
	if (pk->cont || pk->len > IG_FENCE_OK_MAX || pk->have < 1)
		return false;
	if (kind == FENCE_PING)
		return pk->data[0] == 0x00 ||
		       (pk->data[0] == 0xFF && pk->have >= 3 &&
		        (pk->data[1] | pk->data[2] << 8) == IG_ER_SERVER_SHUTDOWN);
	size_t n = sizeof(IG_STATS_PREFIX) - 1;
	return pk->have >= n && memcmp(pk->data, IG_STATS_PREFIX, n) == 0;
}

/*
 * The answer to a fence (send_fence), never relayed. Anything else - an ERR a server wrote
 * to an unanswered command before it, a second OK to a command answered twice, no answer of
 * the fence's kind at all - means the answers are not where the gateway thought: the session
 * is closed before any later packet can be read as something it is not. The answer is taken
 * whole, alone: the answers after it may lie in the same read (a plain backend leg) and go
 * on being followed.
 */
static ig_pkt_verdict fence_answer(ig_session *s, const ig_packet *pk, const ig_packet *npk)
{
	ig_command *c = &s->cmd;
	ig_fence kind = c->pq[c->pq_head].fence;
	if (!pk->cont && pk->len <= IG_FENCE_OK_MAX && !ig_packet_whole(pk))
		return IG_PKT_WAIT; /* handed over again once whole, before anything is followed */
	if (fence_answered(kind, pk) && track_answer(s, npk) && (c->pq_len == 0 || !c->pq[c->pq_head].fence))
		return IG_PKT_TAKEN;
	if (s->closing)
		return IG_PKT_DISCARD;
	LOG_WARN(s->id, "bypass.suspect: the backend answered %s (0x%02x where the answer to its own %s was "
	         "due); the gateway cannot follow the answers: closing the session",
	         kind == FENCE_PING ? "a command the gateway expects no answer to" : "a command more than once",
	         pk->have >= 1 ? pk->data[0] : 0, kind == FENCE_PING ? "COM_PING" : "COM_STATISTICS");
	ig_sess_close(s, kind == FENCE_PING ? "backend answered an unanswered command"
	                                    : "backend answered a command more than once");
	return IG_PKT_DISCARD;
}

/* ------------------------------------------------------------------ a KILL's OK */

/*
 * A KILL's OK waits at most timeouts.kill_hold_ms for the killed connection's session to
 * close. MariaDB and MySQL shut the killed connection inside KILL, before the OK
 * (proxy/connids.c); its session here closes once its worker reads that - under a
 * millisecond unloaded. TiDB closes it just after the OK (it ends the connection's read), so
 * there the client could see either order anyway. A session that never closes costs the OK
 * the whole bound: an id of another server behind the same backend address (TiDB without
 * global kill behind a load balancer). TiDB's OK to a KILL it does not carry out
 * (enable-global-kill off and no TIDB keyword: pkg/executor/simple.go executeKillStmt) has
 * a warning, and is not held.
 */
/* Backend input is held: a KILL's OK waits (kill_held). */
bool ig_cmd_backend_held(const ig_session *s) { return s->cmd.kill_until != 0; }

/* The head's answer begins with the OK of a KILL of another open session of this backend:
 * held (IG_PKT_WAIT, no backend reads) until that session has closed - the tick (every
 * millisecond meanwhile) looks - so the client reads the OK after that connection's end, as
 * from the server itself. */
static bool kill_held(ig_session *s, const ig_packet *pk)
{
	ig_command *c = &s->cmd;
	if (c->kill_until)
		return true; /* more bytes came in behind it: still held */
	if (c->pq_len == 0 || !c->pq[c->pq_head].kill || pk->cont || pk->have < 1 || s->cfg->timeouts.kill_hold_ms <= 0)
		return false;
	if (pk->data[0] == 0x00 && !ig_packet_whole(pk))
		return true; /* an OK is a few bytes: handed over again once whole */
	ig_pending *p = &c->pq[c->pq_head];
	my_ok ok;
	p->kill = false; /* looked at once: the same packet comes back after the hold */
	if (pk->data[0] != 0x00 || my_ok_parse(pk->data, pk->len, s->caps, &ok) < 0 || ok.warnings > 0 ||
	    !ig_connids_listed(s->be->server, p->kill_id, &s->connid))
		return false;
	c->kill_id = p->kill_id;
	c->kill_until = uv_now(&s->w->loop) + (uint64_t)s->cfg->timeouts.kill_hold_ms;
	ig_sess_tick_every(s, 1);
	LOG_DEBUG(s->id, "KILL %llu answered OK: held until that connection's session has closed",
	          (unsigned long long)c->kill_id);
	return true;
}

/* The held OK goes on: the killed session has closed, or the hold's time is up. */
static void kill_release(ig_session *s, uint64_t now)
{
	ig_command *c = &s->cmd;
	if (now >= c->kill_until && ig_connids_listed(s->be->server, c->kill_id, &s->connid))
		LOG_INFO(s->id, "KILL %llu: the session of that connection is still open after %d ms "
		         "(timeouts.kill_hold_ms); relaying the server's OK", (unsigned long long)c->kill_id,
		         s->cfg->timeouts.kill_hold_ms);
	c->kill_until = 0;
	ig_sess_tick_every(s, 0);
	ig_conn_resume(&s->backend); /* the OK is handed over again, and relayed */
	if (!s->closing)
		ig_cmd_backend_input_done(s);
}

ig_pkt_verdict ig_cmd_backend_packet(ig_session *s, const ig_packet *pk)
{
	ig_command *c = &s->cmd;
	if (c->input == IN_PROBE)
		return ig_stmt_probe_packet(s, pk, ig_conn_input_after(&s->backend)); /* the gateway's own query: never relayed */
	if (kill_held(s, pk))
		return IG_PKT_WAIT;
	if (c->pq_len > 0 && c->pq[c->pq_head].import && !ig_import_rec_capture(c->pq[c->pq_head].import, pk))
		return IG_PKT_WAIT;
	ig_packet own;
	const ig_packet *npk = numbered_answer(s, pk, &own);
	if (c->pq_len > 0 && c->pq[c->pq_head].fence)
		return fence_answer(s, pk, npk);
	uint8_t shift = c->seq_shift; /* this packet's, before its answer may end */
	if (!track_answer(s, npk))
		return IG_PKT_DISCARD;
	/* LOCAL INFILE data was re-framed: the client's numbering goes on; a compressed leg: the
	 * id due. */
	uint8_t to = (uint8_t)(npk->seq - shift);
	if (to != pk->seq)
		ig_conn_relay_as(&s->backend, to, 0);
	return IG_PKT_RELAY;
}

void ig_cmd_resume(ig_session *s)
{
	ig_conn_resume(&s->client);
	ig_conn_flush(&s->backend);
	ig_conn_flush(&s->client);
	ig_sess_update_reading(s);
}

void ig_cmd_backend_input_done(ig_session *s)
{
	s->last_io_ms = uv_now(&s->w->loop);
	ig_conn_flush(&s->client);
	/* Earlier answers are in: a held statement (or a full pipeline) can go on. */
	if (s->cmd.pq_len == 0)
		ig_cmd_input_event(s, EV_ANSWERED);
	if (s->w->draining && ig_sess_close_if_at_rest(s)) { /* graceful shutdown: its transaction is over */
		ig_sess_update_reading(s); /* reads stop; a closed session is left alone */
		return;
	}
	if (ig_cmd_takes_input(s) && !s->closing && ig_conn_kept(&s->client) > 0)
		ig_cmd_resume(s);
	ig_sess_update_reading(s);
}

/* ------------------------------------------------------------------ client commands */

static bool is_small_command(uint8_t cmd)
{
	return cmd == COM_QUERY || cmd == COM_STMT_PREPARE || cmd == COM_INIT_DB || cmd == COM_CHANGE_USER;
}

/*
 * COM_CHANGE_USER: the session's user and database follow the server's only through the
 * names read here. Import decisions take both from the server (the probe's USER() and
 * DATABASE()), but logs, audit records of statements decided without a probe and the
 * fallback when no probe answer is at hand use the session's. A COM_CHANGE_USER the gateway
 * cannot read (malformed, or a name of MY_CHANGE_USER_NAME_MAX bytes or more) is therefore not sent:
 * the server would run as a user the session does not name (fail closed). The client gets an
 * error, after the answers it is owed (WAIT until then), and the session ends: its library
 * cannot tell which user it would still be.
 */
static ig_stmt_result change_user_names(ig_session *s, const uint8_t *payload, size_t plen, char **user,
                                        char **db)
{
	my_change_user cu;
	int rc = my_change_user_parse(payload, plen, s->caps, &cu);
	if (rc == 0) {
		*user = strdup(cu.user);
		*db = cu.has_db ? strdup(cu.db) : NULL;
		if (*user && (*db || !cu.has_db))
			return STMT_RELAY;
		free(*user);
		free(*db);
		*user = *db = NULL;
	} else if (s->cmd.pq_len > 0) {
		return STMT_WAIT;
	}
	ig_sess_fail(s, ig_stmt_answer_seq(plen), ER_UNKNOWN_ERROR, "importgate: %s",
	             rc == -2 ? "COM_CHANGE_USER with a user or database name longer than 1023 bytes: not sent" :
	             rc < 0 ? "malformed COM_CHANGE_USER: not sent" : "out of memory");
	return STMT_DONE;
}

/* A small command the session must understand before forwarding it. raw: the payload is the
 * client's own packet, relayed as it is (STMT_RELAY); else it is sent from here. */
ig_stmt_result ig_cmd_small(ig_session *s, const uint8_t *payload, size_t plen, bool raw)
{
	uint8_t cmd = payload[0];
	char *user = NULL, *db = NULL;
	if (cmd == COM_QUERY || cmd == COM_STMT_PREPARE)
		return ig_stmt_on_statement(s, payload, plen, raw);
	if (cmd == COM_CHANGE_USER) {
		ig_stmt_result r = change_user_names(s, payload, plen, &user, &db);
		if (r != STMT_RELAY)
			return r;
	}
	if (!raw && ig_conn_send_packet(&s->backend, 0, payload, plen) < 0) {
		free(user);
		free(db);
		ig_sess_close(s, "out of memory");
		return STMT_DONE;
	}
	ig_pending *p = ig_cmd_expect(s, cmd);
	if (p)
		p->resp_seq = p->backend_seq = ig_stmt_answer_seq(plen);
	if (cmd == COM_INIT_DB && p)
		p->db = strndup((const char *)payload + 1, plen - 1);
	if (cmd == COM_CHANGE_USER && p) {
		p->user = user; /* the session's, once the server says OK (result_ended) */
		p->db = db;
	} else {
		free(user);
		free(db);
	}
	return raw ? STMT_RELAY : STMT_DONE;
}

/* The client has sent the last packet of a statement too large to inspect: its answer. */
static void refuse_oversized(ig_session *s)
{
	ig_cmd_input_event(s, EV_BIG_END);
	ig_sess_send_error(s, s->cmd.big_seq, ER_NET_PACKET_TOO_LARGE, "08S01",
	                   "importgate: statement larger than limits.max_inspect_bytes; it cannot be "
	                   "inspected and was not sent");
}

/*
 * Statement of several packets (16 MiB and more): assembled up to limits.max_inspect_bytes,
 * then treated as one; a larger one is refused with an error and discarded. big_seq is the
 * sequence id after this fragment: the answer's when it is the last.
 */
static void on_big_fragment(ig_session *s, const uint8_t *frag, uint32_t n, bool last)
{
	ig_command *c = &s->cmd;
	if (c->input == IN_DISCARD) {
		if (last)
			refuse_oversized(s);
		return;
	}
	if (ig_buf_avail(&c->big) + n > s->cfg->limits.max_inspect_bytes || ig_buf_append(&c->big, frag, n) < 0) {
		ig_buf_reset(&c->big);
		LOG_WARN(s->id, "statement over limits.max_inspect_bytes (%zu): refused", s->cfg->limits.max_inspect_bytes);
		if (last)
			refuse_oversized(s);
		else
			ig_cmd_input_event(s, EV_BIG_TOO_LARGE); /* the rest is read and dropped, then answered */
		return;
	}
	if (!last)
		return;
	ig_buf whole = c->big;
	memset(&c->big, 0, sizeof(c->big));
	ig_cmd_input_event(s, EV_BIG_END);
	/* The queue was drained before assembly began, so this never has to wait. Dispatched by
	 * its command byte: a COM_CHANGE_USER of 16 MiB or more is a session command, not SQL. */
	ig_cmd_small(s, ig_buf_head(&whole), ig_buf_avail(&whole), false);
	ig_buf_reset(&whole);
}

/* The next fragment of a statement of several packets (IN_ASSEMBLE or IN_DISCARD). */
static ig_pkt_verdict big_next_packet(ig_session *s, const ig_packet *pk)
{
	ig_command *c = &s->cmd;
	if (!ig_packet_whole(pk))
		return IG_PKT_WAIT;
	/* Under compression the packets' own ids are not checked, by TiDB (packetio.go, kept for
	 * MariaDB Connector/J 2.x) nor MariaDB, and libmariadb sends every part of a command of
	 * 16 MiB or more with id 0: a part is the next packet after a full one, as they read it. */
	bool compressed = ig_zleg_on(&s->client.z);
	if (pk->seq != c->big_seq++ && !compressed) {
		/* What a server answers; the reassembled statement would hide the fault. */
		ig_buf_reset(&c->big);
		if (c->input == IN_ASSEMBLE)
			ig_cmd_input_event(s, EV_BIG_END);
		ig_sess_fail(s, pk->seq, ER_NET_PACKETS_OUT_OF_ORDER, "Got packets out of order");
		return IG_PKT_DISCARD;
	}
	on_big_fragment(s, pk->data, pk->len, pk->len != MY_MAX_PAYLOAD);
	return IG_PKT_TAKEN;
}

/* The first packet of a statement of several: wait for earlier answers, then assemble it. */
static ig_pkt_verdict big_first_packet(ig_session *s, const ig_packet *pk)
{
	if (s->cmd.pq_len > 0) {
		ig_cmd_input_event(s, EV_WAIT_ANSWERS);
		return IG_PKT_WAIT;
	}
	if (!ig_packet_whole(pk))
		return IG_PKT_WAIT;
	s->cmd.big_seq = 1;
	ig_cmd_input_event(s, EV_BIG_START);
	on_big_fragment(s, pk->data, pk->len, false);
	return IG_PKT_TAKEN;
}

static ig_pkt_verdict small_command_packet(ig_session *s, const ig_packet *pk)
{
	if (!ig_packet_whole(pk) || s->cmd.pq_len >= PQ_MAX)
		return IG_PKT_WAIT;
	ig_stmt_result r = ig_cmd_small(s, pk->data, pk->len, true);
	if (r == STMT_WAIT) {
		ig_cmd_input_event(s, EV_WAIT_ANSWERS);
		return IG_PKT_WAIT;
	}
	return r == STMT_RELAY ? IG_PKT_RELAY : IG_PKT_TAKEN;
}

/*
 * A packet that starts no command (empty, or a sequence id other than 0) while nothing of the
 * head command's answer has come: LOCAL INFILE data sent before the server asked for it.
 * Only the answer's first packet says what it is (0xFB: the file), so it waits for that.
 * Taken now, it was relayed as nothing in particular, and the file request met afterwards
 * made the gateway read the client's next commands as file data, uninspected (attack4:
 * test_attack4_infile_early_end.py). Once the answer has begun it is relayed as before
 * (an authentication exchange of COM_CHANGE_USER continues that way).
 */
static bool early_file_data(const ig_session *s, const ig_packet *pk)
{
	const ig_command *c = &s->cmd;
	return c->input == IN_COMMAND && !pk->cont && (pk->len == 0 || pk->seq != 0) && c->pq_len > 0 &&
	       c->resp.state == RS_FIRST && c->resp.result_index == 0;
}

/*
 * A COM_QUERY is pending: any of its results, up to its last, may be a LOCAL INFILE request
 * (LOAD DATA LOCAL; TiDB's LOAD STATS and PLAN REPLAYER LOAD too). A packet relayed behind
 * it as a command would then be read by the server as file data, and a server reads a file
 * packet with the wrong sequence id by its header alone (TiDB: packetio.go readOnePacket;
 * MariaDB: "Got packets out of order"), so its payload - which may hold a whole command -
 * becomes the next thing the server reads, uninspected (attack5:
 * test_attack5_infile_desync.py). Nothing is relayed behind a COM_QUERY until its answer
 * has ended; LOCAL INFILE data is not held (the input is IN_INFILE then).
 */
static bool behind_query(const ig_session *s, const ig_packet *pk)
{
	const ig_command *c = &s->cmd;
	if (c->input != IN_COMMAND || pk->cont)
		return false;
	for (unsigned i = 0; i < c->pq_len; i++)
		if (c->pq[(c->pq_head + i) % PQ_MAX].cmd == COM_QUERY)
			return true;
	return false;
}

static bool change_user_pending(const ig_command *c)
{
	for (unsigned i = 0; i < c->pq_len; i++)
		if (c->pq[(c->pq_head + i) % PQ_MAX].cmd == COM_CHANGE_USER)
			return true;
	return false;
}

/*
 * A COM_CHANGE_USER is pending: until it is answered the server may read client packets
 * of its authentication exchange (TiDB: handleChangeUser -> authSwitchRequest ->
 * cc.readPacket), and one it refuses by its header (a wrong sequence id) fails the command
 * while its payload becomes the next command read (attack5). Only one packet per server
 * packet of the exchange passes, with the sequence id after that packet's; a command behind
 * the COM_CHANGE_USER waits for its answer; any other packet closes the session. true: the
 * packet is decided (*v).
 */
static bool auth_exchange(ig_session *s, const ig_packet *pk, ig_pkt_verdict *v)
{
	ig_command *c = &s->cmd;
	if (c->input != IN_COMMAND || pk->cont || !change_user_pending(c))
		return false;
	bool head = c->pq[c->pq_head].cmd == COM_CHANGE_USER && c->answer_begun;
	if (head && c->auth_turn && pk->seq == c->auth_seq && pk->len < MY_MAX_PAYLOAD) {
		c->auth_turn = false;
		c->answer_next_seq = (uint8_t)(pk->seq + 1); /* the server's next (numbered_answer) */
		*v = IG_PKT_RELAY;
		return true;
	}
	if (head && pk->seq != 0) {
		LOG_WARN(s->id, "bypass.suspect: client packet with sequence id %u during COM_CHANGE_USER's "
		         "authentication exchange (%s); closing the session", pk->seq,
		         c->auth_turn ? "another id was due" : "the server did not ask for one");
		ig_sess_fail(s, (uint8_t)(pk->seq + 1), ER_NET_PACKETS_OUT_OF_ORDER, "Got packets out of order");
		*v = IG_PKT_DISCARD;
		return true;
	}
	*v = IG_PKT_WAIT;
	return true;
}

/*
 * LOCAL INFILE data is relayed only in packets the server reads whole. A server refuses a
 * packet on its header and goes on reading at its payload - which the gateway relayed as
 * file data and may hold a whole command - when the sequence id is not the one due (TiDB:
 * packetio.go readOnePacket, ErrInvalidSequence; MariaDB: 1156) or when the packet, with
 * those it continues, is over max_allowed_packet (ErrNetPacketTooLarge). TiDB's LOAD DATA
 * then drains, fails the statement and reads its next command there (attack5:
 * test_attack5_infile_desync.py). So file data must carry the ids due, from the one after
 * the request on, and no packet may continue (16 MiB - 1 bytes: clients send files in
 * chunks of a few KiB); otherwise the packet is not relayed and the session closed. The
 * size is seen to by re-framing (reframe_file_packet).
 */
static bool file_packet_ok(ig_session *s, const ig_packet *pk)
{
	ig_command *c = &s->cmd;
	uint8_t due = c->infile_seq++;
	if (pk->seq == due && pk->len < MY_MAX_PAYLOAD)
		return true;
	if (pk->seq != due)
		LOG_WARN(s->id, "bypass.suspect: LOCAL INFILE data packet with sequence id %u where %u was "
		         "due; closing the session", pk->seq, due);
	else
		LOG_WARN(s->id, "bypass.suspect: LOCAL INFILE data packet of 16 MiB - 1 bytes (it continues: "
		         "the server may refuse it by its header); closing the session");
	ig_sess_fail(s, (uint8_t)(pk->seq + 1), pk->seq != due ? ER_NET_PACKETS_OUT_OF_ORDER : ER_NET_PACKET_TOO_LARGE,
	             pk->seq != due ? "Got packets out of order"
	                            : "importgate: LOCAL INFILE data in packets of 16 MiB - 1 bytes is not relayed");
	return false;
}

/*
 * The server's max_allowed_packet is the session's (TiDB: conn.go readPacket sets it from the
 * session variable before every read), a value the gateway cannot know when the file comes:
 * SET GLOBAL lowers it for new sessions, and COM_CHANGE_USER and COM_RESET_CONNECTION open
 * new ones. Every session's value is at least 1024 (the variable's minimum, in every TiDB,
 * MySQL and MariaDB), so file data, a byte stream whose packet boundaries mean nothing, is
 * relayed in pieces under that: no server refuses them, whatever its limit. docs/BENCHMARKS.md
 * section 1.8 measures the cost.
 */
#define IG_INFILE_PIECE_MAX (1024 - 4)

/*
 * A LOCAL INFILE data packet the server will get in pieces of at most IG_INFILE_PIECE_MAX
 * bytes (as it is when it fits and nothing before it was cut). Pieces take sequence ids of
 * their own, so from the first cut on the server's numbering runs ahead of the client's:
 * seq_shift, by which the rest of the command's answer (the OK or ERR after the file, the
 * results after it) is renumbered on its way to the client. The empty packet that ends the
 * file tells the answer's first id on the server's side.
 */
static void reframe_file_packet(ig_session *s, const ig_packet *pk)
{
	ig_command *c = &s->cmd;
	uint32_t pieces = ig_framer_pieces(pk->len, IG_INFILE_PIECE_MAX);
	if (pieces != 1 || pk->seq != c->infile_bseq)
		ig_conn_relay_as(&s->client, c->infile_bseq, IG_INFILE_PIECE_MAX);
	if (ig_zleg_on(&s->backend.z))
		ig_zleg_expect_data(&s->backend.z, pieces); /* ids wrap to 0: no piece is a command */
	c->infile_bseq = (uint8_t)(c->infile_bseq + pieces);
	c->seq_shift = (uint8_t)(c->infile_bseq - c->infile_seq);
	if (pk->len == 0)
		c->pq[c->pq_head].backend_seq = c->infile_bseq;
}

/*
 * A part after the first of a relayed command of 16 MiB or more. A compressed client's parts
 * carry ids that mean nothing (libmariadb numbers every part 0 under compression, and MariaDB
 * and TiDB read them: big_next_packet), which an uncompressed backend refuses ("packets out
 * of order"): they go numbered on from the first part. Once the last has gone, the answer's
 * first id is known: for a compressed leg that needs it (numbered_answer), and for the check
 * of an uncompressed one (answer_in_sequence), which took any id there while it was unknown
 * (attack15: a second OK to a command passed for the answer to one of 16 MiB). An
 * uncompressed client's ids are left as they were: a server refuses parts out of order.
 */
static ig_pkt_verdict relay_part(ig_session *s, const ig_packet *pk)
{
	ig_command *c = &s->cmd;
	bool compressed = ig_zleg_on(&s->client.z), bcompressed = ig_zleg_on(&s->backend.z);
	uint8_t due = c->cont_seq++;
	if (compressed && pk->seq != due)
		ig_conn_relay_as(&s->client, due, 0);
	if (pk->len < MY_MAX_PAYLOAD && c->cont_pend) {
		ig_pending *tail = &c->pq[(c->pq_head + c->pq_len - 1) % PQ_MAX];
		tail->resp_seq = tail->backend_seq = compressed || bcompressed ? c->cont_seq : (uint8_t)(pk->seq + 1);
	}
	if (pk->len < MY_MAX_PAYLOAD)
		c->cont_pend = false;
	return IG_PKT_RELAY;
}

/*
 * TiDB answers a COM_STMT_SEND_LONG_DATA it rejects (and a COM_STMT_CLOSE whose close fails)
 * with an ERR (handleStmtSendLongData, handleStmtClose: pkg/server/conn_stmt.go, pingcap/tidb
 * at 03ee920d; clientConn.Run writes every dispatch error: pkg/server/conn.go at 000172f4);
 * MySQL and MariaDB never answer them. An answer the gateway does not expect shifts its
 * reading of every later one, and no leg shows it: on a compressed backend leg the packets'
 * ids are the gateway's own (numbered_answer, attack10: test_attack10_zleg_longdata_desync.py),
 * and on a plain leg that ERR carries id 1, the id the next command's answer starts with
 * (attack13: test_attack13_unsolicited_file_request.py: the ERR was taken for a LOAD DATA
 * LOCAL's whole answer, the file request after it relayed as unsolicited, and a command
 * hidden in a "file" packet the server refused by its header ran as a covered IMPORT INTO).
 * So after such a command, before the next command that is answered, the gateway sends a
 * COM_PING of its own, on every backend leg: its OK is the first answer due, and anything
 * else before it closes the session (fence_answer). After a command a server may answer
 * twice (answered_twice) the fence is a COM_STATISTICS, whose answer no OK can pass for.
 * false: the session is closed.
 */
static bool send_fence(ig_session *s)
{
	ig_fence kind = s->cmd.fence_due;
	uint8_t cmd = kind == FENCE_STATS ? COM_STATISTICS : COM_PING;
	if (ig_conn_send_packet(&s->backend, 0, &cmd, 1) < 0) {
		ig_sess_close(s, "out of memory");
		return false;
	}
	ig_pending *p = ig_cmd_expect(s, cmd);
	p->fence = kind;
	s->cmd.fence_due = FENCE_NONE;
	return true;
}

/*
 * Commands TiDB answers twice when they succeed: COM_REFRESH with REFRESH_GRANT
 * (handleRefresh runs handleQuery("FLUSH PRIVILEGES"), which writes that statement's OK, then
 * writeOK) and COM_SHUTDOWN (handleQuery("SHUTDOWN"), then writeOK): pkg/server/conn.go,
 * pingcap/tidb at 000172f4; tests/tidb_double/FACTS.md section 8. MariaDB answers each once.
 * The second OK was taken for the next command's answer and every later answer for the one
 * before it: the file request of a LOAD DATA LOCAL passed as unsolicited while the server
 * waited for file data, and a covered IMPORT INTO hidden in a "file" packet ran undecided
 * (attack15: test_attack15_refresh_twice.py). The ids cannot show it (the OK after a 16 MiB
 * command starts at id 2 too; a compressed backend leg's ids are the gateway's own), and a
 * COM_PING's OK is an OK as well: the fence after them is a COM_STATISTICS (send_fence).
 */
static bool answered_twice(uint8_t cmd)
{
	return cmd == COM_REFRESH || cmd == COM_SHUTDOWN;
}

/*
 * A client packet that would start a command but carries a sequence id other than 0. It is
 * no command the gateway looks at, yet a server under the compressed protocol runs it as one:
 * there the packets' own ids are not checked (TiDB only logs the mismatch, for MariaDB
 * Connector/J 2.x: pkg/server/internal/packetio.go readOnePacket, pingcap/tidb v8.5 line;
 * MariaDB checks the frame's id only: sql/net_serv.cc my_real_read), and the frame carrying it
 * has the id due whenever the gateway's count is there (right after the handshake, or behind
 * a compressed client's frame). Relayed, a covered IMPORT INTO ran undecided (attack12:
 * test_attack12_seq_command.py). An uncompressed server refuses it and ends the session
 * (clientConn.Run ends on every read error): so does the gateway, after the answers owed.
 * An empty packet there is no command either, and no LOCAL INFILE end (none is due): MariaDB
 * reads it as COM_SLEEP and answers 1047 (sql_parse.cc do_command), an answer the gateway
 * does not expect, which on a compressed backend leg shifted its reading of every later one
 * (attack10's desync: test_attack12_empty_command.py); TiDB ends the session (dispatch reads
 * data[0]). It is refused the same way.
 */
static ig_pkt_verdict misnumbered_command(ig_session *s, const ig_packet *pk)
{
	if (s->cmd.pq_len > 0)
		return IG_PKT_WAIT; /* re-read once answered: it may yet be LOCAL INFILE data */
	if (pk->len == 0) {
		LOG_WARN(s->id, "bypass.suspect: empty client packet where a command was due; closing the session");
		ig_sess_fail(s, (uint8_t)(pk->seq + 1), ER_UNKNOWN_COM_ERROR, "Unknown command");
		return IG_PKT_DISCARD;
	}
	LOG_WARN(s->id, "bypass.suspect: client packet with sequence id %u where a command (id 0) was due; "
	         "closing the session", pk->seq);
	ig_sess_fail(s, (uint8_t)(pk->seq + 1), ER_NET_PACKETS_OUT_OF_ORDER, "Got packets out of order");
	return IG_PKT_DISCARD;
}

/*
 * COM_SLEEP (0x00) is no command a client sends (it names a server thread's idle state), and
 * servers differ on it: TiDB's dispatch returns without writing anything (pkg/server/conn.go
 * dispatch, "case mysql.ComSleep: ... return nil", pingcap/tidb v8.5 line), MariaDB answers
 * 1047 (sql/sql_parse.cc dispatch_command). Relayed, the gateway waited for an answer TiDB
 * never sends and took each later answer for the command before it's: a statement to inspect
 * behind it waited for ever (attack13: test_attack13_answer_count.py). The gateway answers it
 * itself as MariaDB does, after the answers owed, and sends nothing; one of 16 MiB or more
 * (the parts after its first would be relayed as parts) closes the session as well.
 */
static ig_pkt_verdict sleep_command(ig_session *s, const ig_packet *pk)
{
	if (s->cmd.pq_len > 0 || !ig_packet_whole(pk))
		return IG_PKT_WAIT; /* re-read once answered (or whole) */
	if (pk->len == MY_MAX_PAYLOAD) {
		ig_sess_fail(s, 1, ER_UNKNOWN_COM_ERROR, "Unknown command");
		return IG_PKT_DISCARD;
	}
	ig_sess_send_error(s, 1, ER_UNKNOWN_COM_ERROR, "08S01", "Unknown command");
	return IG_PKT_TAKEN;
}

/*
 * A client packet. Packets that start commands (sequence id 0, not a continuation, not LOCAL
 * INFILE data) are looked at; statements are held whole until inspected; everything else is
 * relayed. WAIT keeps the packet: a statement waits (held input) or the pending queue is full.
 */
ig_pkt_verdict ig_cmd_client_packet(ig_session *s, const ig_packet *pk)
{
	ig_command *c = &s->cmd;
	if (s->closing || s->close_after_flush || held(c->input))
		return IG_PKT_WAIT; /* on its way out (an error sent): nothing more is looked at or sent */
	if (c->input == IN_QUIT)
		return IG_PKT_DISCARD; /* the server reads nothing after COM_QUIT: neither does the gateway */
	if (c->input == IN_ASSEMBLE || c->input == IN_DISCARD)
		return big_next_packet(s, pk);
	ig_pkt_verdict v;
	if (early_file_data(s, pk) || behind_query(s, pk))
		return IG_PKT_WAIT;
	if (auth_exchange(s, pk, &v))
		return v;
	if (c->input == IN_INFILE) {
		if (!file_packet_ok(s, pk))
			return IG_PKT_DISCARD;
		reframe_file_packet(s, pk);
	}
	if (c->input == IN_COMMAND && !pk->cont && (pk->len == 0 || pk->seq != 0))
		return misnumbered_command(s, pk);
	if (pk->cont && c->input == IN_COMMAND)
		return relay_part(s, pk);
	if (pk->len == 0) {
		/* An empty packet: ends LOCAL INFILE data, or a 16 MiB - 1 payload. */
		if (!pk->cont)
			ig_cmd_input_event(s, EV_INFILE_END);
		return IG_PKT_RELAY;
	}
	uint8_t cmd = pk->data[0];
	bool full = pk->len == MY_MAX_PAYLOAD;
	bool is_cmd = !pk->cont && c->input == IN_COMMAND && pk->seq == 0;
	if (is_cmd && cmd == COM_SLEEP)
		return sleep_command(s, pk);
	if (is_cmd && c->fence_due && ig_cmd_has_response(cmd)) {
		if (c->pq_len >= PQ_MAX - 1)
			return IG_PKT_WAIT;
		if (!send_fence(s))
			return IG_PKT_DISCARD;
	}
	if (is_cmd && is_small_command(cmd))
		return full ? big_first_packet(s, pk) : small_command_packet(s, pk);
	if (is_cmd) {
		if (c->pq_len >= PQ_MAX && ig_cmd_has_response(cmd))
			return IG_PKT_WAIT;
		ig_pending *pend = ig_cmd_expect(s, cmd);
		if (pend && cmd == COM_PROCESS_KILL && pk->len == 5 && pk->have >= 5) {
			pend->kill = true; /* a KILL by command: the id in 4 bytes (libmariadb mysql_kill) */
			pend->kill_id = my_u32(pk->data + 1);
		}
		if (pend && full)
			pend->resp_seq = pend->backend_seq = 0; /* continued: known after its last part (relay_part) */
		if (full) {
			c->cont_seq = 1;
			c->cont_pend = pend != NULL;
		}
		if (cmd == COM_QUIT)
			ig_cmd_input_event(s, EV_QUIT);
		else if (answered_twice(cmd))
			c->fence_due = FENCE_STATS; /* its COM_STATISTICS catches an ERR to an unanswered one too */
		else if (!pend && c->fence_due == FENCE_NONE)
			c->fence_due = FENCE_PING; /* unanswered, unless the server rejects it (send_fence) */
	}
	return IG_PKT_RELAY;
}

void ig_cmd_client_input_done(ig_session *s)
{
	s->last_io_ms = uv_now(&s->w->loop);
	ig_conn_flush(&s->backend);
	ig_conn_flush(&s->client);
	ig_sess_update_reading(s);
}

/* ------------------------------------------------------------------ the backend lost, deadlines */

/* Nothing of the head command's answer has reached the client yet (not even part of a packet). */
static bool answer_untouched(const ig_session *s)
{
	const ig_command *c = &s->cmd;
	return c->pq_len > 0 && c->pq[c->pq_head].resp_seq != 0 && !ig_cmd_client_sending(s) &&
	       c->resp.state == RS_FIRST && c->resp.result_index == 0 && ig_conn_at_boundary(&s->backend);
}

/*
 * The backend leg is given up in the command phase: it ended (closed, reset, or timed out by
 * TCP keepalive / TCP_USER_TIMEOUT), or stayed silent past timeouts.response_ms. A client
 * waiting for an answer of which nothing has been relayed gets an error that says what
 * happened (2013, as its library would say for a lost server); otherwise what the backend
 * sent last is relayed and the client is closed.
 */
void ig_cmd_backend_lost(ig_session *s, const char *why)
{
	if (s->close_after_flush)
		return; /* already on its way out, the client already told */
	if (s->cmd.input == IN_PROBE) {
		/* The client's statement was held, not sent: it is told it did not run. */
		ig_sess_fail(s, s->cmd.held.answer_seq, CR_SERVER_LOST,
		             "importgate: lost the backend %s before the statement was sent: %s", s->be->addr, why);
		return;
	}
	if (answer_untouched(s)) {
		ig_sess_fail(s, s->cmd.pq[s->cmd.pq_head].resp_seq, CR_SERVER_LOST,
		             "importgate: lost the backend %s during the command: %s", s->be->addr, why);
		return;
	}
	/* After COM_QUIT the backend's close is the expected end, not news for the operator. */
	if (s->cmd.input == IN_QUIT)
		LOG_DEBUG(s->id, "backend %s: %s after the client's COM_QUIT", s->be->addr, why);
	else
		LOG_INFO(s->id, "backend %s: %s", s->be->addr, why);
	ig_sess_close_when_flushed(s);
}

/*
 * Has the client taken nothing queued for it for timeouts.client_write_ms? Progress is a
 * write completed, or fewer bytes waiting in the socket's send queue than at the last look
 * (a slow reader takes some; libuv reports a queued write only when all of it is written).
 */
static bool client_stalled(ig_session *s, uint64_t now)
{
	ig_command *c = &s->cmd;
	int unsent = -1;
	uv_os_fd_t fd;

	if (ig_conn_queued(&s->client) == 0) {
		c->out_since_ms = now;
		return false;
	}
	if (uv_fileno((const uv_handle_t *)&s->client.tcp, &fd) == 0)
		(void)ioctl(fd, SIOCOUTQ, &unsent);
	if (unsent != c->out_unsent) {
		c->out_unsent = unsent;
		c->out_since_ms = now;
		return false;
	}
	return now - c->out_since_ms >= (uint64_t)s->cfg->timeouts.client_write_ms;
}

/*
 * The command phase's deadlines. idle_ms: no command in flight, none being decided, and no
 * byte either way for that long. response_ms: a command waits for its answer and nothing
 * has moved either way for that long (a stopped or hung backend whose kernel still
 * acknowledges); imports are exempt, since TiDB says nothing until a synchronous import ends.
 */
void ig_cmd_tick(ig_session *s)
{
	const ig_config *cfg = s->cfg;
	ig_command *c = &s->cmd;
	uint64_t now = uv_now(&s->w->loop), quiet = now - s->last_io_ms;

	if (s->closing)
		return;
	if (c->kill_until) {
		if (now >= c->kill_until || !ig_connids_listed(s->be->server, c->kill_id, &s->connid))
			kill_release(s, now);
		return;
	}
	if (c->input == IN_PROBE) {
		/* The gateway's own query: bounded even where no response timeout is set. */
		uint64_t bound = cfg->timeouts.response_ms > 0 ? (uint64_t)cfg->timeouts.response_ms : IG_PROBE_TIMEOUT_MS;
		if (now - c->probe.since >= bound) {
			ig_metric_inc(IG_M_TIMEOUTS_PROBE);
			ig_cmd_backend_lost(s, "no answer to the gateway's query of the session's state");
		}
		return;
	}
	if (cfg->timeouts.client_write_ms > 0 && client_stalled(s, now)) {
		ig_metric_inc(IG_M_TIMEOUTS_CLIENT_WRITE);
		ig_sess_close(s, "the client took nothing of its answer for timeouts.client_write_ms");
		return;
	}
	if (c->pq_len == 0) {
		if (cfg->timeouts.idle_ms > 0 && !held(c->input) && quiet >= (uint64_t)cfg->timeouts.idle_ms) {
			ig_metric_inc(IG_M_TIMEOUTS_IDLE);
			ig_sess_close(s, "idle timeout");
		}
		return;
	}
	/* Not while the client holds things up: bytes for it not yet taken (backpressure has
	 * stopped reading the backend), or LOCAL INFILE data still to come from it. */
	if (cfg->timeouts.response_ms > 0 && quiet >= (uint64_t)cfg->timeouts.response_ms &&
	    !c->pq[c->pq_head].import && ig_conn_queued(&s->client) == 0 && !ig_cmd_client_sending(s)) {
		char why[120];
		snprintf(why, sizeof(why), "no answer for %d ms (timeouts.response_ms)", cfg->timeouts.response_ms);
		ig_metric_inc(IG_M_TIMEOUTS_RESPONSE);
		ig_cmd_backend_lost(s, why);
	}
}
