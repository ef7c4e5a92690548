/*
 * response.h - follows the backend's answer to one command, packet by packet, to know
 * where it ends and what it said (OK, error, result set, LOCAL INFILE request), without
 * buffering it: it sees only the first bytes of each packet. Pure, no I/O.
 */
#ifndef IMPORTGATE_RESPONSE_H
#define IMPORTGATE_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IG_RESP_PEEK 64 /* bytes of each packet the tracker needs at most */

typedef enum ig_resp_state {
	RS_FIRST,        /* waiting for the first packet of a result */
	RS_COLUMNS,      /* column definitions */
	RS_COLUMNS_EOF,  /* the EOF after column definitions (no DEPRECATE_EOF) */
	RS_ROWS,         /* rows until EOF/OK/ERR */
	RS_PREP_PARAMS,  /* COM_STMT_PREPARE: parameter definitions */
	RS_PREP_PARAMS_EOF,
	RS_PREP_COLS,
	RS_PREP_COLS_EOF,
	RS_FIELD_LIST,   /* COM_FIELD_LIST: definitions until EOF */
	RS_AUTH,         /* COM_CHANGE_USER: auth exchange until OK/ERR */
	RS_SINGLE,       /* COM_STATISTICS: exactly one packet */
	RS_OPAQUE_FIRST, /* replication streams: an ERR first is a refusal and the answer */
	RS_OPAQUE,       /* replication streams: never ends */
} ig_resp_state;

typedef enum ig_resp_event {
	RE_NONE,          /* inside a response */
	RE_RESULT,        /* one result of a multi-result response ended; more follow */
	RE_DONE,          /* the response ended */
	RE_INFILE,        /* the server asks the client for a LOCAL INFILE file */
	RE_PROTOCOL,      /* the server sent something this tracker cannot follow */
} ig_resp_event;

typedef enum ig_result_kind { RK_OK, RK_ERR, RK_ROWS } ig_result_kind;

typedef struct ig_resp {
	ig_resp_state state;
	uint8_t cmd;
	uint32_t caps;           /* negotiated capabilities (DEPRECATE_EOF matters) */
	uint32_t mariadb_caps;   /* MariaDB's extended ones (PROGRESS, CACHE_METADATA matter) */
	uint64_t left;           /* definitions left in the current block */
	uint64_t cols_after;     /* COM_STMT_PREPARE: column count after the params */
	unsigned result_index;   /* 0-based index of the current result */
	/* What the last finished result said. */
	ig_result_kind kind;
	uint16_t status;
	uint16_t err_code;
	uint32_t stmt_id;        /* COM_STMT_PREPARE OK */
} ig_resp;

/* Starts following the answer to command `cmd`. Returns false when the command has no answer. */
bool ig_resp_begin(ig_resp *r, uint8_t cmd, uint32_t caps, uint32_t mariadb_caps);
/* A MariaDB progress report (an ERR header with code 0xFFFF), when PROGRESS was negotiated:
 * it may come anywhere before the answer ends and is not part of it. */
bool ig_resp_is_progress(uint32_t mariadb_caps, const uint8_t *head, size_t headlen, uint32_t plen);
bool ig_cmd_has_response(uint8_t cmd);
/*
 * Feeds the first fragment of a server packet: `head` holds its first min(plen, PEEK)
 * bytes, `plen` its payload length (0xffffff for a packet that continues).
 */
ig_resp_event ig_resp_feed(ig_resp *r, const uint8_t *head, size_t headlen, uint32_t plen);

#endif
