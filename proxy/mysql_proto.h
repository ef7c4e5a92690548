/*
 * mysql_proto.h - the MySQL client/server protocol as data: constants, the packets the
 * gateway must read or rewrite (greeting, handshake response, OK/ERR/EOF), and the
 * builders for the packets it writes itself. Pure: bytes in, structures out, no I/O.
 */
#ifndef IMPORTGATE_MYSQL_PROTO_H
#define IMPORTGATE_MYSQL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/buf.h"

#define MY_HDR_LEN 4
#define MY_MAX_PAYLOAD 0xffffffu /* a payload this long continues in the next packet */

/* Capability flags (include/mysql_com.h). */
#define CLIENT_LONG_PASSWORD (1u << 0)
#define CLIENT_FOUND_ROWS (1u << 1)
#define CLIENT_LONG_FLAG (1u << 2)
#define CLIENT_CONNECT_WITH_DB (1u << 3)
#define CLIENT_NO_SCHEMA (1u << 4)
#define CLIENT_COMPRESS (1u << 5)
#define CLIENT_ODBC (1u << 6)
#define CLIENT_LOCAL_FILES (1u << 7)
#define CLIENT_IGNORE_SPACE (1u << 8)
#define CLIENT_PROTOCOL_41 (1u << 9)
#define CLIENT_INTERACTIVE (1u << 10)
#define CLIENT_SSL (1u << 11)
#define CLIENT_IGNORE_SIGPIPE (1u << 12)
#define CLIENT_TRANSACTIONS (1u << 13)
#define CLIENT_RESERVED (1u << 14)
#define CLIENT_SECURE_CONNECTION (1u << 15)
#define CLIENT_MULTI_STATEMENTS (1u << 16)
#define CLIENT_MULTI_RESULTS (1u << 17)
#define CLIENT_PS_MULTI_RESULTS (1u << 18)
#define CLIENT_PLUGIN_AUTH (1u << 19)
#define CLIENT_CONNECT_ATTRS (1u << 20)
#define CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA (1u << 21)
#define CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS (1u << 22)
#define CLIENT_SESSION_TRACK (1u << 23)
#define CLIENT_DEPRECATE_EOF (1u << 24)
#define CLIENT_OPTIONAL_RESULTSET_METADATA (1u << 25)
#define CLIENT_ZSTD_COMPRESSION_ALGORITHM (1u << 26)
#define CLIENT_QUERY_ATTRIBUTES (1u << 27)
#define CLIENT_MULTI_FACTOR_AUTHENTICATION (1u << 28)
#define CLIENT_CAPABILITY_EXTENSION (1u << 29)
#define CLIENT_SSL_VERIFY_SERVER_CERT (1u << 30)
#define CLIENT_REMEMBER_OPTIONS (1u << 31)

/*
 * What the gateway never lets either side negotiate, because the statement text would not
 * start where it looks for it (query attributes), or result sets would change shape under
 * the response tracker (optional metadata), or the auth flow would change (multi-factor).
 * Compression (CLIENT_COMPRESS: zlib, CLIENT_ZSTD_COMPRESSION_ALGORITHM: zstd) passes: each
 * leg is decompressed below the framer (proxy/zproto.h), so every packet is read as the
 * server will read it.
 */
#define IG_CAPS_MASKED (CLIENT_QUERY_ATTRIBUTES | CLIENT_OPTIONAL_RESULTSET_METADATA | \
	CLIENT_MULTI_FACTOR_AUTHENTICATION | CLIENT_SSL)

/*
 * MariaDB's extended capabilities: the word in bytes 28..31 of the HandshakeResponse and
 * the greeting's reserved area, read only when CLIENT_LONG_PASSWORD (MySQL's CLIENT_MYSQL) is
 * clear (MariaDB's "MariaDB Protocol Differences with MySQL"; libmariadb 3.3 mariadb_com.h
 * numbers them 1ULL << 32.. in its 64-bit word, here bit 0.. of the extended word).
 */
#define MARIADB_CLIENT_PROGRESS (1u << 0)             /* 0xFF packets with code 0xFFFF mid-answer */
#define MARIADB_CLIENT_STMT_BULK_OPERATIONS (1u << 2) /* COM_STMT_BULK_EXECUTE */
#define MARIADB_CLIENT_EXTENDED_METADATA (1u << 3)    /* formerly EXTENDED_TYPE_INFO: column definitions grow */
#define MARIADB_CLIENT_CACHE_METADATA (1u << 4)       /* column count + "metadata follows" byte */
#define MARIADB_CLIENT_BULK_UNIT_RESULTS (1u << 5)    /* MariaDB 11.5: a result set per bulk row */

/*
 * The extended capabilities the gateway lets both sides negotiate (each only when both have
 * it): the response tracker reads progress packets and skipped metadata, extended column
 * definitions are relayed unread beyond their names, and COM_STMT_BULK_EXECUTE is a command
 * like any other (its statement was inspected when prepared). BULK_UNIT_RESULTS stays masked:
 * no backend the suite runs has it.
 */
#define IG_MARIADB_CAPS_RELAYED (MARIADB_CLIENT_PROGRESS | MARIADB_CLIENT_STMT_BULK_OPERATIONS | \
	MARIADB_CLIENT_EXTENDED_METADATA | MARIADB_CLIENT_CACHE_METADATA)

/* A MariaDB progress report: an ERR header whose code is 0xFFFF (never a real error). */
#define MY_PROGRESS_CODE 0xffff

/* Server status flags. */
#define SERVER_STATUS_IN_TRANS 0x0001
#define SERVER_STATUS_AUTOCOMMIT 0x0002
#define SERVER_MORE_RESULTS_EXISTS 0x0008
#define SERVER_STATUS_CURSOR_EXISTS 0x0040

enum my_command {
	COM_SLEEP = 0x00, COM_QUIT = 0x01, COM_INIT_DB = 0x02, COM_QUERY = 0x03,
	COM_FIELD_LIST = 0x04, COM_CREATE_DB = 0x05, COM_DROP_DB = 0x06, COM_REFRESH = 0x07,
	COM_SHUTDOWN = 0x08, COM_STATISTICS = 0x09, COM_PROCESS_INFO = 0x0a, COM_CONNECT = 0x0b,
	COM_PROCESS_KILL = 0x0c, COM_DEBUG = 0x0d, COM_PING = 0x0e, COM_TIME = 0x0f,
	COM_DELAYED_INSERT = 0x10, COM_CHANGE_USER = 0x11, COM_BINLOG_DUMP = 0x12,
	COM_TABLE_DUMP = 0x13, COM_CONNECT_OUT = 0x14, COM_REGISTER_SLAVE = 0x15,
	COM_STMT_PREPARE = 0x16, COM_STMT_EXECUTE = 0x17, COM_STMT_SEND_LONG_DATA = 0x18,
	COM_STMT_CLOSE = 0x19, COM_STMT_RESET = 0x1a, COM_SET_OPTION = 0x1b,
	COM_STMT_FETCH = 0x1c, COM_DAEMON = 0x1d, COM_BINLOG_DUMP_GTID = 0x1e,
	COM_RESET_CONNECTION = 0x1f, COM_STMT_BULK_EXECUTE = 0xfa,
};

/* Errors the gateway sends itself. */
#define ER_CON_COUNT_ERROR 1040
#define ER_ACCESS_DENIED_ERROR 1045
#define ER_NET_PACKET_TOO_LARGE 1153
#define ER_NET_PACKETS_OUT_OF_ORDER 1156
#define ER_UNKNOWN_COM_ERROR 1047
#define ER_UNKNOWN_ERROR 1105
#define ER_HANDSHAKE_ERROR 1043
#define ER_SECURE_TRANSPORT_REQUIRED 3159
#define CR_SERVER_LOST 2013 /* a client library's code, also sent by proxies that lose the server */

/* Little-endian readers and lenenc integers. */
static inline uint32_t my_u24(const uint8_t *p) { return p[0] | (p[1] << 8) | ((uint32_t)p[2] << 16); }
static inline uint16_t my_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t my_u32(const uint8_t *p)
{
	return p[0] | (p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void my_put_u16(uint8_t *p, uint16_t v) { p[0] = v & 0xff; p[1] = v >> 8; }
static inline void my_put_u24(uint8_t *p, uint32_t v) { p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; p[2] = (v >> 16) & 0xff; }
static inline void my_put_u32(uint8_t *p, uint32_t v) { my_put_u16(p, v & 0xffff); my_put_u16(p + 2, v >> 16); }

/* Reads a length-encoded integer at *pos; returns -1 when it does not fit in len. */
int my_lenenc_read(const uint8_t *p, size_t len, size_t *pos, uint64_t *out);
int my_lenenc_put(ig_buf *b, uint64_t v);

/* Initial handshake (Protocol::HandshakeV10), as the backend sends it. */
typedef struct my_greeting {
	uint8_t protocol;
	char server_version[128];
	uint32_t conn_id;
	uint8_t scramble[32];      /* part 1 (8) + part 2 (12, without its trailing NUL) */
	size_t scramble_len;
	uint32_t caps;             /* lower + upper 16 bits */
	uint32_t mariadb_caps;     /* MariaDB's extended capabilities (reserved area) */
	uint8_t charset;
	uint16_t status;
	char auth_plugin[64];
	/* Offsets inside the payload, for rewriting in place. */
	size_t off_caps_lo, off_caps_hi, off_mariadb_caps;
} my_greeting;

int my_greeting_parse(const uint8_t *p, size_t len, my_greeting *g, char *err, size_t errlen);
/* Rewrites capability words of a greeting payload in place (masks, sets SSL as asked). */
void my_greeting_set_caps(uint8_t *p, const my_greeting *g, uint32_t caps, uint32_t mariadb_caps);

/* HandshakeResponse41 (or the 32-byte SSLRequest that precedes it under TLS). */
typedef struct my_hs_response {
	uint32_t caps;
	uint32_t max_packet;
	uint8_t charset;
	uint32_t mariadb_caps;
	bool ssl_request;          /* 32-byte SSLRequest: nothing else follows */
	char user[256];
	const uint8_t *auth; size_t auth_len;  /* points into the payload */
	char db[256]; bool has_db;
	char auth_plugin[64];
	size_t off_rest;           /* offset of the username: bytes from here are kept as sent */
} my_hs_response;

int my_hs_response_parse(const uint8_t *p, size_t len, my_hs_response *r, char *err, size_t errlen);
/* A copy of the response payload with new capability words (the MariaDB word is written only
 * when caps has CLIENT_LONG_PASSWORD clear, as it is read). */
int my_hs_response_rewrite(const uint8_t *p, size_t len, uint32_t caps, uint32_t mariadb_caps, ig_buf *out);
/* The 32-byte SSLRequest payload for a backend, MariaDB's extended capabilities included as
 * in my_hs_response_rewrite: MariaDB takes them from the first packet of the response, which
 * under TLS is this one (shown with the session MariaDB 10.11: without them a backend over
 * TLS answered without the cached-metadata byte the gateway then expected, and every result
 * set closed the session - tests/integration/test_relay_tls.py). */
void my_ssl_request(uint8_t out[32], uint32_t caps, uint32_t mariadb_caps, uint32_t max_packet, uint8_t charset);

/*
 * COM_CHANGE_USER, read exactly as TiDB's handleChangeUser reads it (pkg/server/conn.go;
 * tests/tidb_double/FACTS.md section 8): the user up to a NUL (no NUL: the user is empty and
 * nothing is consumed), then ALWAYS a one-byte auth length and that many bytes, whatever the
 * capabilities (TiDB never reads NUL-terminated or lenenc auth data here), then the database
 * up to a NUL (no NUL: empty, nothing consumed); if bytes remain: two charset bytes skipped
 * when CLIENT_PROTOCOL_41 and at least two remain (TiDB does not apply them), then with
 * CLIENT_PLUGIN_AUTH the plugin name up to a NUL (no NUL: empty). Connection attributes and
 * anything after are ignored, as TiDB ignores them. No length limit on any field.
 * `p` is the whole payload (command byte first), already put back together when it came in
 * several 16 MiB packets; `caps` is the capability word both sides negotiated (TiDB's
 * cc.capability = the client's & the server's).
 */
typedef struct my_change_user_view {
	const uint8_t *user; size_t user_len;      /* views into the payload */
	const uint8_t *auth; size_t auth_len;
	const uint8_t *db; size_t db_len;          /* db_len 0: the new session has no database */
	const uint8_t *plugin; size_t plugin_len;  /* plugin_len 0: TiDB skips its plugin check */
} my_change_user_view;
/* 0, or -1 where TiDB answers ErrMalformPacket (no auth length byte, auth past the end). */
int my_change_user_read(const uint8_t *p, size_t len, uint32_t caps, my_change_user_view *v);

/* The same, with NUL-terminated copies of the user and the database for callers that keep
 * strings: -1 as above, -2 when a name does not fit the copy (it is then not guessed at).
 * The copies hold more than any server's names (TiDB: 32-character users, 64-character
 * databases, up to 4 bytes a character; MariaDB: 128-character users), and more than
 * libmariadb sends (its mysql_change_user copies up to 512 bytes of user and 256 of database,
 * which MariaDB's mysql_client_test test_bug31669 sends through). */
#define MY_CHANGE_USER_NAME_MAX 1024
typedef struct my_change_user {
	my_change_user_view v;
	char user[MY_CHANGE_USER_NAME_MAX];
	char db[MY_CHANGE_USER_NAME_MAX]; bool has_db;
} my_change_user;
int my_change_user_parse(const uint8_t *p, size_t len, uint32_t caps, my_change_user *c);

/* OK and EOF packets: what the response tracker needs. */
typedef struct my_ok {
	uint64_t affected_rows, last_insert_id;
	uint16_t status, warnings;
	const char *info; size_t info_len;  /* human-readable info, points into the payload */
} my_ok;
int my_ok_parse(const uint8_t *p, size_t len, uint32_t caps, my_ok *ok);

typedef struct my_err {
	uint16_t code;
	char sqlstate[6];
	const char *msg; size_t msg_len;
} my_err;
int my_err_parse(const uint8_t *p, size_t len, my_err *e);

/* Builders: append a whole packet (header included) to b. */
int my_write_packet(ig_buf *b, uint8_t seq, const void *payload, size_t len); /* splits >= 16 MiB */
int my_write_err(ig_buf *b, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg);
int my_write_ok(ig_buf *b, uint8_t seq, uint32_t caps, uint64_t affected, uint16_t status,
                const char *info);

#endif
