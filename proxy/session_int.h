/*
 * session_int.h - the session as its three parts see it: session.c (the two connections,
 * timers, lifetime), handshake.c (greeting and authentication, an object freed once the
 * command phase starts) and command.c / statement.c (the command phase). Not for other
 * modules: their interface is session.h.
 */
#ifndef IMPORTGATE_SESSION_INT_H
#define IMPORTGATE_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "policy/config.h"
#include "proxy/buf.h"
#include "proxy/conn.h"
#include "proxy/connids.h"
#include "proxy/importrec.h"
#include "proxy/inspect.h"
#include "proxy/mysql_proto.h"
#include "proxy/probe.h"
#include "proxy/proxyhdr.h"
#include "proxy/response.h"
#include "proxy/runtime.h"
#include "proxy/worker.h"

#define PQ_MAX 16 /* pipelined commands followed at once */
#define IG_HS_PKT_MAX (64 * 1024)           /* no handshake or authentication packet is larger */
#define IG_HS_INPUT_MAX (4 * IG_HS_PKT_MAX) /* input kept during the handshake, at most */
#define IG_PROBE_TIMEOUT_MS 30000           /* the probe's bound when timeouts.response_ms is 0 */

typedef enum ig_sess_state {
	SS_PROXY_HEADER,
	SS_BACKEND_CONNECT,
	SS_BACKEND_GREETING,
	SS_CLIENT_HELLO,
	SS_CLIENT_TLS,
	SS_BACKEND_TLS,
	SS_AUTH,
	SS_COMMAND,
} ig_sess_state;

/*
 * Where the client's input stands in the command phase: the one state of the command phase
 * (command.c: input_event is its only transition). Held states take no client input.
 */
typedef enum ig_input {
	IN_COMMAND,  /* packets with sequence id 0 start commands */
	IN_INFILE,   /* LOCAL INFILE contents, relayed until an empty packet */
	IN_ASSEMBLE, /* a statement of several packets being assembled */
	IN_DISCARD,  /* the rest of a statement too large to inspect, dropped */
	IN_DRAIN,    /* held: a statement waits for earlier answers */
	IN_CLASSIFY, /* held: a large statement is classified in the thread pool */
	IN_PROBE,    /* held: the gateway's own query of the session's state is out */
	IN_DECISION, /* held: the import decision is made in the thread pool */
	IN_QUIT,     /* the client sent COM_QUIT: nothing more goes to the backend, which closes */
} ig_input;

/* What moves the input state (command.c: input_event). */
typedef enum ig_input_event {
	EV_WAIT_ANSWERS, /* a statement must wait for earlier answers: IN_COMMAND -> IN_DRAIN */
	EV_ANSWERED,     /* nothing pending any more: IN_DRAIN -> IN_COMMAND */
	EV_BIG_START,    /* a statement of several packets: IN_COMMAND -> IN_ASSEMBLE */
	EV_BIG_TOO_LARGE, /* past limits.max_inspect_bytes: IN_ASSEMBLE -> IN_DISCARD */
	EV_BIG_END,      /* its last packet: IN_ASSEMBLE / IN_DISCARD -> IN_COMMAND */
	EV_INFILE,       /* the backend asks for a LOCAL INFILE: IN_COMMAND -> IN_INFILE */
	EV_INFILE_END,   /* its empty packet: IN_INFILE -> IN_COMMAND */
	EV_CLASSIFY,     /* IN_COMMAND -> IN_CLASSIFY */
	EV_PROBE,        /* IN_COMMAND -> IN_PROBE */
	EV_DECIDE,       /* IN_COMMAND -> IN_DECISION */
	EV_RESUME,       /* the held statement is done with: a held state -> IN_COMMAND */
	EV_QUIT,         /* COM_QUIT relayed: IN_COMMAND -> IN_QUIT, for good */
} ig_input_event;

/* What became of a statement. */
typedef enum ig_stmt_result {
	STMT_DONE,  /* forwarded, rewritten or answered */
	STMT_RELAY, /* to be forwarded as the client sent it */
	STMT_WAIT,  /* must wait for earlier answers */
	STMT_ASYNC, /* consumed, held for the pool or the probe */
} ig_stmt_result;

/*
 * The gateway's own command that proves where the backend's answers are (command.c
 * send_fence), and the answer it needs: FENCE_PING after commands a server may answer though
 * the gateway expects no answer (its OK must come first); FENCE_STATS after commands a
 * server may answer with more OKs than one (COM_STATISTICS: its text is no OK).
 */
typedef enum ig_fence { FENCE_NONE, FENCE_PING, FENCE_STATS } ig_fence;

/* A command forwarded whose response has not ended yet. */
typedef struct ig_pending {
	uint8_t cmd;
	char *db;                 /* COM_INIT_DB / COM_CHANGE_USER: db on success */
	char *user;               /* COM_CHANGE_USER: user on success */
	char *use_db[IG_MAX_USE]; /* COM_QUERY batch: USE by result index */
	unsigned nuse;
	ig_import_rec *import;    /* a forwarded import (owned): its answer captured, then its end */
	uint8_t resp_seq;         /* sequence id the answer starts with; 0 = not known */
	/* the one the backend's answer starts with: resp_seq, unless what was forwarded took
	 * another number of packets than what the client sent; 0 = not known */
	uint8_t backend_seq;
	uint64_t sent_ns;         /* uv_hrtime() when forwarded, for importgate_query_duration_seconds */
	ig_fence fence;           /* the gateway's own fence command (command.c send_fence), or none */
	bool kill;                /* a KILL of connection kill_id (its OK is held: command.c kill_held) */
	uint64_t kill_id;
} ig_pending;

/* The statement held for classification, the probe or the decision. */
typedef struct ig_held {
	uint8_t cmd;
	uint8_t answer_seq;          /* the sequence id that answers it */
	ig_buf text;                 /* the statement as the client sent it */
	ig_inspection *inspection;   /* being probed for, or decided in the pool */
	ig_inspect_out out;          /* the pool's answer */
	ig_session_facts facts;      /* IN_CLASSIFY after a probe: its answer, for the pool */
	bool have_facts;
	size_t big_charge;           /* IN_CLASSIFY: bytes counted against the process bound */
	uv_work_t pool;               /* the thread-pool request that classifies or decides it */
	uint64_t decide_ns;          /* uv_hrtime() when handed to the pool for its decision */
} ig_held;

/* The gateway's probe of the session's state (proxy/probe.h), while IN_PROBE. */
typedef struct ig_probe_wait {
	ig_buf in;                   /* the backend's answer so far */
	size_t scan;                 /* packets of it already walked */
	char nonce[IG_PROBE_NONCE_LEN + 1];
	uint64_t since;              /* loop time it was sent */
} ig_probe_wait;

typedef struct ig_command {
	ig_input input;
	ig_buf big;                  /* IN_ASSEMBLE: the statement so far */
	uint8_t big_seq;             /* the sequence id its next packet must carry */
	ig_held held;
	ig_probe_wait probe;
	ig_resp resp;                /* the head command's answer, followed */
	bool answer_begun;           /* a packet of the head's answer has come */
	uint8_t answer_next_seq;     /* the sequence id its next packet must carry */
	uint8_t infile_seq;          /* IN_INFILE: the sequence id the client's next packet must carry */
	uint8_t infile_bseq;         /* ... and the one the server's next file packet carries (re-framed) */
	uint8_t seq_shift;           /* the head's answer: server's sequence id - the client's (re-framing) */
	uint8_t cont_seq;            /* a relayed command of 16 MiB or more: the id its next part carries */
	bool cont_pend;              /* ... and its answer is the last pending one */
	ig_fence fence_due;          /* a command whose answers may be miscounted went: the fence due
	                              * before the next answered one (command.c send_fence) */
	bool auth_turn;              /* COM_CHANGE_USER at the head: the server waits for one client packet */
	uint8_t auth_seq;            /* ... which must carry this sequence id */
	ig_pending pq[PQ_MAX];
	unsigned pq_head, pq_len;
	uint64_t out_since_ms;       /* since when the client has taken nothing queued for it */
	int out_unsent;              /* the client socket's unsent bytes (SIOCOUTQ) at the last look */
	uint16_t srv_status;         /* the server status of the last answer that carried one */
	/* The head's answer is a KILL's OK, held (not read on) until the killed connection's
	 * session has closed or this loop time has passed; 0: none held (command.c kill_held). */
	uint64_t kill_until;
	uint64_t kill_id;
} ig_command;

typedef struct ig_handshake ig_handshake;

typedef struct ig_session {
	uint64_t id;
	ig_config *cfg;         /* the configuration this session started with (a reference) */
	SSL_CTX *cctx, *bctx;   /* the TLS contexts it started with (references; NULL = plain) */
	ig_worker *w;
	struct ig_session *prev, *next;
	ig_sess_state state;
	ig_conn client, backend;
	uv_timer_t timer;
	uv_connect_t creq;
	int handles;            /* libuv handles still open */
	bool closing;           /* its handles are being closed */
	bool close_after_flush; /* on its way out: closed once the client has its last bytes */
	ig_backend *be;
	bool be_marked_down;       /* be was picked while every backend was marked down */
	ig_backend_set *bset;   /* the backend set `be` was picked from (a reference) */
	char client_addr[64];   /* the client's address: the peer's, or a trusted PROXY header's source */
	struct ig_pp_read *pp;  /* SS_PROXY_HEADER: the header being read (proxyproto.c) */
	ig_pp_addr pp_src, pp_dst; /* a trusted PROXY header's addresses, when pp_proxied */
	bool pp_proxied;
	char server_version[128];
	uint32_t caps;          /* negotiated on both legs (CLIENT_SSL aside) */
	uint32_t mariadb_caps;  /* MariaDB's extended capabilities, negotiated on both legs */
	/* For logs and records (decisions ask the server: the probe). As long as any name
	 * COM_CHANGE_USER reads: a shorter copy would name another user than the server's. */
	char user[MY_CHANGE_USER_NAME_MAX];
	char db[MY_CHANGE_USER_NAME_MAX];
	bool has_db;
	uint64_t last_io_ms;    /* loop time of the last byte read or written, either leg */
	uint64_t accepted_ns;   /* uv_hrtime() at accept, for importgate_handshake_seconds */
	uint32_t backend_conn_id; /* the backend greeting's connection id: the one the client names in KILL */
	ig_connid connid;       /* listed by it in the command phase (connids.h) */
	ig_handshake *hs;       /* until the command phase */
	ig_command cmd;
} ig_session;

/* session.c */
void ig_sess_close(ig_session *s, const char *why);
void ig_sess_close_when_flushed(ig_session *s);
bool ig_sess_close_if_at_rest(ig_session *s); /* the drain: closes it (once flushed) when at rest */
void ig_sess_send_error(ig_session *s, uint8_t seq, uint16_t code, const char *state, const char *msg);
void ig_sess_fail(ig_session *s, uint8_t seq, uint16_t code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void ig_sess_update_reading(ig_session *s);
void ig_sess_maybe_free(ig_session *s);
void ig_sess_enter_command_phase(ig_session *s);
void ig_sess_start_backend(ig_session *s); /* after accept, or after a PROXY header */
void ig_sess_arm_timer(ig_session *s, uint64_t ms); /* the session's one-shot timer */
void ig_sess_tick_every(ig_session *s, uint64_t ms); /* the command phase's tick; 0: its usual period */

/* handshake.c */
ig_handshake *ig_hs_new(void);
void ig_hs_free(ig_handshake *hs);
uint8_t ig_hs_next_client_seq(const ig_session *s);
ig_pkt_verdict ig_hs_client_packet(ig_session *s, const ig_packet *pk);
ig_pkt_verdict ig_hs_backend_packet(ig_session *s, const ig_packet *pk);
void ig_hs_tls_done(ig_session *s, ig_conn *c); /* a leg's TLS is up */

/* command.c */
void ig_cmd_start(ig_session *s);
ig_pkt_verdict ig_cmd_client_packet(ig_session *s, const ig_packet *pk);
ig_pkt_verdict ig_cmd_backend_packet(ig_session *s, const ig_packet *pk);
void ig_cmd_client_input_done(ig_session *s);
void ig_cmd_backend_input_done(ig_session *s);
void ig_cmd_backend_lost(ig_session *s, const char *why);
void ig_cmd_tick(ig_session *s);
bool ig_cmd_takes_input(const ig_session *s);
bool ig_cmd_backend_held(const ig_session *s); /* a KILL's OK waits: no backend reads */
void ig_cmd_free(ig_session *s);
bool ig_cmd_in_pool(const ig_session *s);
bool ig_cmd_client_sending(const ig_session *s);
void ig_cmd_input_event(ig_session *s, ig_input_event ev);
ig_pending *ig_cmd_expect(ig_session *s, uint8_t cmd);
void ig_cmd_resume(ig_session *s);
ig_stmt_result ig_cmd_small(ig_session *s, const uint8_t *payload, size_t plen, bool raw);

/* statement.c */
ig_stmt_result ig_stmt_on_statement(ig_session *s, const uint8_t *payload, size_t plen, bool raw);
ig_pkt_verdict ig_stmt_probe_packet(ig_session *s, const ig_packet *pk, size_t after);
uint8_t ig_stmt_answer_seq(size_t plen);
void ig_stmt_free(ig_session *s);

#endif
