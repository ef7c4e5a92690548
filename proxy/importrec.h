/*
 * importrec.h - the life of one forwarded IMPORT INTO, from the decision to its end: the
 * import record. Created where the inspection decides (proxy/decision.c), with the target,
 * the obligations it owes and what the gateway must know to read its answer; moved into the
 * pending command that carries the statement to the backend (proxy/statement.c), which
 * captures TiDB's answer into it (proxy/command.c); ended exactly once, by ig_import_rec_end,
 * the one place that writes the import's closing audit event (import.result) and tells the
 * obligations (proxy/obligations.h) what became of it. A record freed before it ended ends
 * as unanswered, so no ending can be forgotten.
 */
#ifndef IMPORTGATE_IMPORTREC_H
#define IMPORTGATE_IMPORTREC_H

#include <stdbool.h>
#include <stdint.h>

#include "policy/decide.h"
#include "proxy/buf.h"
#include "proxy/framer.h"
#include "proxy/mysql_proto.h"

#define IG_IMPORT_CAPTURE_MAX (64 * 1024) /* enough for any IMPORT INTO answer */

/* How an import ended, as far as the gateway can know. */
typedef enum ig_import_end {
	IMPORT_END_ANSWERED,    /* TiDB answered: OK (job id, status), an error, or unreadable */
	IMPORT_END_UNANSWERED,  /* forwarded, and no answer came: the session closed first */
	IMPORT_END_NOT_SENT,    /* the forward failed (out of memory) */
	IMPORT_END_CLIENT_LEFT, /* decided, and the client went away before it was sent */
	IMPORT_END_REFUSED,     /* recorded, then refused by the gateway (its decision record
	                         * could not be written) */
} ig_import_end;

typedef struct ig_import_rec {
	/* where the inspection decides */
	uint64_t conn;               /* the gateway's connection id */
	char target[520];            /* "db.tbl" */
	unsigned result_index;       /* which result of the batch is the import's */
	bool secret;                 /* its statement (the whole batch) holds a credential: TiDB's
	                              * free text about it (which may quote any piece of it) is
	                              * neither logged nor audited */
	bool answers_ok;             /* what is forwarded answers with an OK, not a job row: IMPORT
	                              * INTO ... FROM SELECT, or its LOAD DATA (a logical import) */
	ig_verdict verdict;
	char obl_id[40];             /* the obligations it owes (their record), "" none */
	/* when it is sent (ig_import_rec_sent) */
	char user[MY_CHANGE_USER_NAME_MAX], client[64], backend[80]; /* user: the session's, whole */
	uint32_t caps;               /* the session's capabilities: how to read the answer */
	uint64_t start_ms;           /* loop time at forwarding */
	ig_buf answer;               /* TiDB's answer from its start, up to IG_IMPORT_CAPTURE_MAX */
	bool answer_full;            /* a packet did not fit: nothing more is taken */
	bool ended;
} ig_import_rec;

/* Where the inspection decides (any thread). NULL on OOM. */
ig_import_rec *ig_import_rec_new(uint64_t conn, const char *target, unsigned result_index, bool secret,
                                 bool answers_ok, ig_verdict verdict);
/* It was forwarded, on the session's loop: who sent it (for the audit) and when. */
void ig_import_rec_sent(ig_import_rec *r, const char *user, const char *client, const char *backend,
                        uint32_t caps, uint64_t now_ms);
/* A packet of its answer, kept from the start up to IG_IMPORT_CAPTURE_MAX for the log and the
 * audit (a note, not the data: best effort). A packet that fits is waited for whole: false
 * then, until it is; one that does not fit ends the capture. */
bool ig_import_rec_capture(ig_import_rec *r, const ig_packet *pk);
/* The one ending of the import (later calls do nothing): ANSWERED reads the captured answer,
 * logs it, audits import.result and tells the obligations (an answer not of the import's own
 * shape, e.g. EXPLAIN ANALYZE's plan rows, is unreadable: the job is looked for); the others
 * tell the obligations only. now_ms: loop time (ANSWERED: the import's duration). */
void ig_import_rec_end(ig_import_rec *r, ig_import_end how, uint64_t now_ms);
/* Frees; a record not ended yet ends as IMPORT_END_UNANSWERED first. NULL is fine. */
void ig_import_rec_free(ig_import_rec *r);

#endif
