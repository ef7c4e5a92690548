/*
 * test_protocol.c - the proxy's wire parsers and builders: lenenc integers, the greeting
 * and its capability rewrite, the handshake response (SSLRequest, auth data forms, db,
 * plugin) and its rewrite, COM_CHANGE_USER read as TiDB reads it (every shape), OK/ERR, packet splitting at 16 MiB.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pkt.h"
#include "proxy/mysql_proto.h"

static void test_lenenc_round_trip(void **state)
{
	static const uint64_t values[] = {0, 1, 250, 251, 0xffff, 0x10000, 0xffffff, 0x1000000,
	                                  0xffffffffffffffffull};
	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		ig_buf b = {0};
		size_t pos = 0;
		uint64_t v;
		assert_int_equal(my_lenenc_put(&b, values[i]), 0);
		assert_int_equal(my_lenenc_read(b.data, b.len, &pos, &v), 0);
		assert_true(v == values[i]);
		assert_int_equal(pos, b.len);
		/* Every truncation is refused, never read past. */
		for (size_t cut = 0; cut < b.len; cut++) {
			pos = 0;
			assert_int_equal(my_lenenc_read(b.data, cut, &pos, &v), -1);
		}
		ig_buf_reset(&b);
	}
	uint8_t nul = 0xfb, err = 0xff;
	size_t pos = 0;
	uint64_t v;
	assert_int_equal(my_lenenc_read(&nul, 1, &pos, &v), -1);
	assert_int_equal(my_lenenc_read(&err, 1, &pos, &v), -1);
}

/* A TiDB-like greeting; mariadb_caps non-zero makes it MariaDB-like. */
static size_t make_greeting(uint8_t *out, uint32_t caps, uint32_t mariadb_caps)
{
	size_t n = 0;
	out[n++] = 10;
	memcpy(out + n, "8.0.11-TiDB-v8.5.0", 19);
	n += 19;
	my_put_u32(out + n, 42);
	n += 4;
	memcpy(out + n, "abcdefgh", 8);
	n += 8;
	out[n++] = 0;
	my_put_u16(out + n, caps & 0xffff);
	n += 2;
	out[n++] = 0x2d;
	my_put_u16(out + n, SERVER_STATUS_AUTOCOMMIT);
	n += 2;
	my_put_u16(out + n, caps >> 16);
	n += 2;
	out[n++] = 21;
	memset(out + n, 0, 10);
	my_put_u32(out + n + 6, mariadb_caps);
	n += 10;
	memcpy(out + n, "ijklmnopqrst", 12);
	n += 12;
	out[n++] = 0;
	memcpy(out + n, "caching_sha2_password", 22);
	n += 22;
	return n;
}

static void test_greeting_parse_and_mask(void **state)
{
	uint8_t g[128];
	char err[128];
	my_greeting gr;
	(void)state;
	uint32_t caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_SSL |
	                CLIENT_COMPRESS | CLIENT_QUERY_ATTRIBUTES | CLIENT_DEPRECATE_EOF | CLIENT_LONG_PASSWORD;
	size_t n = make_greeting(g, caps, 0);
	assert_int_equal(my_greeting_parse(g, n, &gr, err, sizeof(err)), 0);
	assert_string_equal(gr.server_version, "8.0.11-TiDB-v8.5.0");
	assert_int_equal(gr.conn_id, 42);
	assert_int_equal(gr.scramble_len, 20);
	assert_memory_equal(gr.scramble, "abcdefghijklmnopqrst", 20);
	assert_string_equal(gr.auth_plugin, "caching_sha2_password");
	assert_true(gr.caps == caps);

	my_greeting_set_caps(g, &gr, caps & ~IG_CAPS_MASKED, 0);
	my_greeting again;
	assert_int_equal(my_greeting_parse(g, n, &again, err, sizeof(err)), 0);
	assert_true(again.caps & CLIENT_COMPRESS); /* passed on: each leg is decompressed */
	assert_false(again.caps & CLIENT_QUERY_ATTRIBUTES);
	assert_false(again.caps & CLIENT_SSL);
	assert_true(again.caps & CLIENT_DEPRECATE_EOF);
	assert_memory_equal(again.scramble, gr.scramble, 20);

	/* Shorter than a minimal greeting (35 bytes here) is an error; longer cuts may parse
	 * (ASan checks that nothing is read past the cut). */
	for (size_t cut = 0; cut < 35; cut++)
		assert_int_equal(my_greeting_parse(g, cut, &gr, err, sizeof(err)), -1);
	for (size_t cut = 35; cut < n; cut++)
		(void)my_greeting_parse(g, cut, &gr, err, sizeof(err));
	g[0] = 9;
	assert_int_equal(my_greeting_parse(g, n, &gr, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "protocol"));
}

static void test_greeting_mariadb_caps_cleared(void **state)
{
	uint8_t g[128];
	char err[128];
	my_greeting gr;
	(void)state;
	/* MariaDB clears CLIENT_LONG_PASSWORD to say: extended capabilities follow. */
	uint32_t caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
	size_t n = make_greeting(g, caps, 0x1f);
	assert_int_equal(my_greeting_parse(g, n, &gr, err, sizeof(err)), 0);
	assert_int_equal(gr.mariadb_caps, 0x1f);
	my_greeting_set_caps(g, &gr, caps, 0);
	assert_int_equal(my_greeting_parse(g, n, &gr, err, sizeof(err)), 0);
	assert_int_equal(gr.mariadb_caps, 0);
}

static size_t make_response(uint8_t *out, uint32_t caps, const char *user, const char *db)
{
	size_t n = 0;
	my_put_u32(out, caps);
	my_put_u32(out + 4, 1u << 24);
	out[8] = 33;
	memset(out + 9, 0, 23);
	n = 32;
	strcpy((char *)out + n, user);
	n += strlen(user) + 1;
	out[n++] = 20;
	memset(out + n, 'x', 20);
	n += 20;
	if (db) {
		strcpy((char *)out + n, db);
		n += strlen(db) + 1;
	}
	strcpy((char *)out + n, "mysql_native_password");
	n += 22;
	return n;
}

static void test_handshake_response(void **state)
{
	uint8_t r[256];
	char err[128];
	my_hs_response hr;
	(void)state;
	uint32_t caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH |
	                CLIENT_CONNECT_WITH_DB | CLIENT_COMPRESS | CLIENT_LONG_PASSWORD;
	size_t n = make_response(r, caps, "etl_user", "staging");
	assert_int_equal(my_hs_response_parse(r, n, &hr, err, sizeof(err)), 0);
	assert_false(hr.ssl_request);
	assert_string_equal(hr.user, "etl_user");
	assert_true(hr.has_db);
	assert_string_equal(hr.db, "staging");
	assert_string_equal(hr.auth_plugin, "mysql_native_password");
	assert_int_equal(hr.auth_len, 20);

	ig_buf out = {0};
	assert_int_equal(my_hs_response_rewrite(r, n, caps & ~IG_CAPS_MASKED, 0, &out), 0);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data + 4, r + 4, n - 4); /* only the capability word changed */
	assert_true(my_u32(out.data) & CLIENT_COMPRESS);
	ig_buf_reset(&out);

	/* A MariaDB client (CLIENT_LONG_PASSWORD, MySQL's CLIENT_MYSQL, clear): its extended word
	 * is read, and the rewrite writes the negotiated one in its place. */
	uint32_t mcaps = caps & ~CLIENT_LONG_PASSWORD;
	n = make_response(r, mcaps, "etl_user", "staging");
	my_put_u32(r + 28, MARIADB_CLIENT_PROGRESS | MARIADB_CLIENT_CACHE_METADATA | MARIADB_CLIENT_BULK_UNIT_RESULTS);
	assert_int_equal(my_hs_response_parse(r, n, &hr, err, sizeof(err)), 0);
	assert_int_equal(hr.mariadb_caps, MARIADB_CLIENT_PROGRESS | MARIADB_CLIENT_CACHE_METADATA |
	                 MARIADB_CLIENT_BULK_UNIT_RESULTS);
	assert_int_equal(my_hs_response_rewrite(r, n, mcaps, hr.mariadb_caps & IG_MARIADB_CAPS_RELAYED, &out), 0);
	assert_int_equal(my_u32(out.data + 28), MARIADB_CLIENT_PROGRESS | MARIADB_CLIENT_CACHE_METADATA);
	assert_memory_equal(out.data + 32, r + 32, n - 32);
	ig_buf_reset(&out);
	/* A MySQL-style word (CLIENT_LONG_PASSWORD set): bytes 28..31 are filler, kept as sent. */
	assert_int_equal(my_hs_response_rewrite(r, n, mcaps | CLIENT_LONG_PASSWORD, MARIADB_CLIENT_PROGRESS, &out), 0);
	assert_memory_equal(out.data + 28, r + 28, 4);
	ig_buf_reset(&out);
	n = make_response(r, caps, "etl_user", "staging");

	/* The 32-byte SSLRequest. */
	uint8_t ssl[32];
	my_ssl_request(ssl, caps, 0, 1u << 24, 33);
	assert_int_equal(my_hs_response_parse(ssl, 32, &hr, err, sizeof(err)), 0);
	assert_true(hr.ssl_request);
	/* MariaDB's extended capabilities travel in it too (MariaDB reads them from the first
	 * packet; attack 7): with CLIENT_LONG_PASSWORD clear only. */
	my_ssl_request(ssl, mcaps, MARIADB_CLIENT_PROGRESS, 1u << 24, 33);
	assert_int_equal(my_u32(ssl + 28), MARIADB_CLIENT_PROGRESS);
	my_ssl_request(ssl, mcaps | CLIENT_LONG_PASSWORD, MARIADB_CLIENT_PROGRESS, 1u << 24, 33);
	assert_int_equal(my_u32(ssl + 28), 0);

	/* Truncated auth data, pre-4.1 clients, and every cut of a good response. */
	for (size_t cut = 33; cut < n - 22; cut++) {
		if (my_hs_response_parse(r, cut, &hr, err, sizeof(err)) == 0)
			assert_true(hr.auth == NULL || hr.auth + hr.auth_len <= r + cut);
	}
	my_put_u32(r, caps & ~CLIENT_PROTOCOL_41);
	assert_int_equal(my_hs_response_parse(r, n, &hr, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "4.1"));
}

static bool view_is(const uint8_t *s, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(s, want, n) == 0;
}

#define CAPS41 (CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH)

/* The shape every 4.1 client sends: user, length-prefixed auth, db, charset, plugin, attrs. */
static void test_change_user_usual(void **state)
{
	static const char pkt[] = "other\0\3abcdb2\0\x21\0mysql_native_password\0\x05\x01k\x01v";
	uint8_t p[128];
	my_change_user cu;
	(void)state;
	p[0] = COM_CHANGE_USER;
	memcpy(p + 1, pkt, sizeof(pkt) - 1);
	size_t n = sizeof(pkt);
	assert_int_equal(my_change_user_parse(p, n, CAPS41, &cu), 0);
	assert_string_equal(cu.user, "other");
	assert_true(view_is(cu.v.auth, cu.v.auth_len, "abc"));
	assert_true(cu.has_db);
	assert_string_equal(cu.db, "db2");
	assert_true(view_is(cu.v.plugin, cu.v.plugin_len, "mysql_native_password"));
	/* An auth length past the end is TiDB's ErrMalformPacket. */
	p[7] = 200;
	assert_int_equal(my_change_user_parse(p, n, CAPS41, &cu), -1);
	/* Every truncation: either refused or read inside the bytes given. */
	p[7] = 3;
	for (size_t cut = 0; cut < n; cut++) {
		my_change_user_view v;
		if (my_change_user_read(p, cut, CAPS41, &v) == 0) {
			assert_true(v.user + v.user_len <= p + cut && v.auth + v.auth_len <= p + cut);
			assert_true(v.db + v.db_len <= p + cut && v.plugin + v.plugin_len <= p + cut);
		}
	}
}

/*
 * A client without CLIENT_SECURE_CONNECTION sends its auth data NUL-terminated; TiDB reads a
 * length byte all the same. Here that byte is 5: TiDB takes "stage" as auth, finds the NUL
 * right after it as an empty database, and the new session has no database; read up to a
 * NUL the auth would be "\5stage" and the database "shop".
 */
static void test_change_user_without_secure_connection(void **state)
{
	static const char pkt[] = "u\0\5stage\0shop\0";
	uint8_t p[64];
	my_change_user cu;
	uint32_t caps = CLIENT_PROTOCOL_41 | CLIENT_PLUGIN_AUTH; /* no SECURE_CONNECTION */
	(void)state;
	p[0] = COM_CHANGE_USER;
	memcpy(p + 1, pkt, sizeof(pkt) - 1);
	assert_int_equal(my_change_user_parse(p, sizeof(pkt), caps, &cu), 0);
	assert_string_equal(cu.user, "u");
	assert_true(view_is(cu.v.auth, cu.v.auth_len, "stage"));
	assert_false(cu.has_db);
	assert_int_equal(cu.v.db_len, 0);
	/* "shop\0" remains: "sh" is the charset, "op" the plugin. */
	assert_true(view_is(cu.v.plugin, cu.v.plugin_len, "op"));
	/* The same bytes with the capability: identical reading (TiDB ignores the flag). */
	my_change_user cu2;
	assert_int_equal(my_change_user_parse(p, sizeof(pkt), caps | CLIENT_SECURE_CONNECTION, &cu2), 0);
	assert_int_equal(cu2.v.db_len, 0);
	assert_true(view_is(cu2.v.auth, cu2.v.auth_len, "stage"));

	/* An old client's empty password ("\0"): length 0, then the database. */
	static const char empty[] = "u\0\0shop\0";
	memcpy(p + 1, empty, sizeof(empty) - 1);
	assert_int_equal(my_change_user_parse(p, sizeof(empty), caps, &cu), 0);
	assert_string_equal(cu.db, "shop");
	assert_int_equal(cu.v.auth_len, 0);

	/* Scramble bytes whose first byte is a length past the end: refused, as TiDB does. */
	static const char scr[] = "u\0\x7fzzzzzzzz\0shop\0";
	memcpy(p + 1, scr, sizeof(scr) - 1);
	assert_int_equal(my_change_user_parse(p, sizeof(scr), caps, &cu), -1);
}

/* LENENC_CLIENT_DATA does not change it either: one length byte (a 0xfc prefix is a length). */
static void test_change_user_lenenc_flag_ignored(void **state)
{
	uint8_t p[600];
	size_t n = 0;
	my_change_user cu;
	(void)state;
	p[n++] = COM_CHANGE_USER;
	p[n++] = 'u';
	p[n++] = 0;
	p[n++] = 0xfc; /* lenenc 300 for a client, 252 bytes of auth for TiDB */
	p[n++] = 0x2c;
	p[n++] = 0x01;
	memset(p + n, 'a', 248);
	n += 248;
	memcpy(p + n, "shop\0", 5);
	n += 5;
	assert_int_equal(my_change_user_parse(p, n, CAPS41 | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, &cu), 0);
	assert_int_equal(cu.v.auth_len, 252);
	/* TiDB's 252 bytes swallow "sh"; the database is "op". */
	assert_string_equal(cu.db, "op");
}

/* Plugin names of any length; missing optional fields. */
static void test_change_user_plugin_and_optional_fields(void **state)
{
	uint8_t p[400];
	size_t n = 0;
	my_change_user cu;
	(void)state;
	p[n++] = COM_CHANGE_USER;
	memcpy(p + n, "u\0\0shop\0\x21\0", 10);
	n += 10;
	memset(p + n, 'p', 300);
	n += 300;
	p[n++] = 0;
	assert_int_equal(my_change_user_parse(p, n, CAPS41, &cu), 0);
	assert_string_equal(cu.db, "shop");
	assert_int_equal(cu.v.plugin_len, 300);
	/* A plugin name without its NUL: TiDB reads an empty name. */
	assert_int_equal(my_change_user_parse(p, n - 1, CAPS41, &cu), 0);
	assert_int_equal(cu.v.plugin_len, 0);
	assert_string_equal(cu.db, "shop");
	/* Without CLIENT_PLUGIN_AUTH no plugin is read. */
	assert_int_equal(my_change_user_parse(p, n, CAPS41 & ~CLIENT_PLUGIN_AUTH, &cu), 0);
	assert_int_equal(cu.v.plugin_len, 0);
	/* Without CLIENT_PROTOCOL_41 the charset is not skipped: the plugin starts right away. */
	static const char no41[] = "u\0\0shop\0plug\0";
	memcpy(p + 1, no41, sizeof(no41) - 1);
	assert_int_equal(my_change_user_parse(p, sizeof(no41), CAPS41 & ~CLIENT_PROTOCOL_41, &cu), 0);
	assert_true(view_is(cu.v.plugin, cu.v.plugin_len, "plug"));
	assert_int_equal(my_change_user_parse(p, sizeof(no41), CAPS41, &cu), 0);
	assert_true(view_is(cu.v.plugin, cu.v.plugin_len, "ug"));
	/* One byte after the database: not skipped as a charset (fewer than 2), read as plugin. */
	static const char one[] = "u\0\0shop\0x";
	memcpy(p + 1, one, sizeof(one) - 1);
	assert_int_equal(my_change_user_parse(p, sizeof(one), CAPS41, &cu), 0);
	assert_int_equal(cu.v.plugin_len, 0); /* no NUL: empty */
	/* User and auth length only: no database, no plugin. */
	static const char bare[] = "u\0\0";
	memcpy(p + 1, bare, sizeof(bare) - 1);
	assert_int_equal(my_change_user_parse(p, sizeof(bare), CAPS41, &cu), 0);
	assert_false(cu.has_db);
	assert_string_equal(cu.user, "u");
	/* A database without its NUL: empty (the bytes go on to charset and plugin). */
	static const char dbnonul[] = "u\0\0shop";
	memcpy(p + 1, dbnonul, sizeof(dbnonul) - 1);
	assert_int_equal(my_change_user_parse(p, sizeof(dbnonul), CAPS41, &cu), 0);
	assert_false(cu.has_db);
}

/* Malformed for TiDB: nothing after the user, or no NUL anywhere and a bad length. */
static void test_change_user_malformed(void **state)
{
	uint8_t p[32] = {COM_CHANGE_USER};
	my_change_user cu;
	(void)state;
	assert_int_equal(my_change_user_parse(p, 0, CAPS41, &cu), -1);
	assert_int_equal(my_change_user_parse(p, 1, CAPS41, &cu), -1);
	memcpy(p + 1, "root", 5); /* user and its NUL, then nothing */
	assert_int_equal(my_change_user_parse(p, 6, CAPS41, &cu), -1);
	/* No NUL at all: the user is empty and its first byte is the auth length ('r' = 114). */
	assert_int_equal(my_change_user_parse(p, 5, CAPS41, &cu), -1);
	/* ... which fits here: user "", auth "xy". */
	memcpy(p + 1, "\2xy", 3);
	assert_int_equal(my_change_user_parse(p, 4, CAPS41, &cu), 0);
	assert_string_equal(cu.user, "");
	assert_true(view_is(cu.v.auth, cu.v.auth_len, "xy"));
}

/* Names longer than the copies: the views are exact, the copying parse says -2. */
static void test_change_user_long_names(void **state)
{
	static uint8_t p[4 * MY_CHANGE_USER_NAME_MAX];
	size_t n;
	my_change_user cu;
	(void)state;
	/* up to MY_CHANGE_USER_NAME_MAX - 1 bytes (libmariadb sends up to 512 of user): read */
	for (size_t ulen = 300; ulen <= MY_CHANGE_USER_NAME_MAX; ulen += MY_CHANGE_USER_NAME_MAX - 1 - 300) {
		n = 0;
		p[n++] = COM_CHANGE_USER;
		memset(p + n, 'u', ulen);
		n += ulen;
		p[n++] = 0;
		p[n++] = 0;
		memcpy(p + n, "shop\0", 5);
		n += 5;
		assert_int_equal(my_change_user_parse(p, n, CAPS41, &cu), 0);
		assert_int_equal(strlen(cu.user), ulen);
		assert_string_equal(cu.db, "shop");
	}
	/* one byte more: not guessed at (-2), the view still says what was there */
	n = 0;
	p[n++] = COM_CHANGE_USER;
	memset(p + n, 'u', MY_CHANGE_USER_NAME_MAX);
	n += MY_CHANGE_USER_NAME_MAX;
	p[n++] = 0;
	p[n++] = 0;
	memcpy(p + n, "shop\0", 5);
	n += 5;
	assert_int_equal(my_change_user_parse(p, n, CAPS41, &cu), -2);
	assert_int_equal(cu.v.user_len, MY_CHANGE_USER_NAME_MAX);
	assert_true(view_is(cu.v.db, cu.v.db_len, "shop"));
	/* a database name too long likewise */
	n = 0;
	p[n++] = COM_CHANGE_USER;
	memcpy(p + n, "u\0\0", 3);
	n += 3;
	memset(p + n, 'd', MY_CHANGE_USER_NAME_MAX);
	n += MY_CHANGE_USER_NAME_MAX;
	p[n++] = 0;
	assert_int_equal(my_change_user_parse(p, n, CAPS41, &cu), -2);
}

/* Over 16 MiB (it came in several packets; the caller joined them): read like any other. */
static void test_change_user_big(void **state)
{
	size_t big = (size_t)MY_MAX_PAYLOAD + 4096, n = 0;
	uint8_t *p = malloc(big + 64);
	my_change_user cu;
	(void)state;
	assert_non_null(p);
	p[n++] = COM_CHANGE_USER;
	memcpy(p + n, "u\0\0shop\0\x21\0", 10);
	n += 10;
	memset(p + n, 'q', big); /* an enormous plugin name */
	n += big;
	p[n++] = 0;
	assert_int_equal(my_change_user_parse(p, n, CAPS41, &cu), 0);
	assert_string_equal(cu.db, "shop");
	assert_int_equal(cu.v.plugin_len, big);
	/* And a database that starts only after the first 16 MiB (a huge user name). */
	n = 0;
	p[n++] = COM_CHANGE_USER;
	memset(p + n, 'u', big);
	n += big;
	p[n++] = 0;
	p[n++] = 0;
	memcpy(p + n, "stage\0", 6);
	n += 6;
	my_change_user_view v;
	assert_int_equal(my_change_user_read(p, n, CAPS41, &v), 0);
	assert_true(view_is(v.db, v.db_len, "stage"));
	assert_int_equal(my_change_user_parse(p, n, CAPS41, &cu), -2);
	free(p);
}

static void test_ok_err(void **state)
{
	ig_buf b = {0};
	my_ok ok;
	my_err e;
	(void)state;
	assert_int_equal(my_write_ok(&b, 1, 0, 300, SERVER_MORE_RESULTS_EXISTS, "Records: 3"), 0);
	assert_int_equal(my_u24(b.data), b.len - 4);
	assert_int_equal(my_ok_parse(b.data + 4, b.len - 4, 0, &ok), 0);
	assert_true(ok.affected_rows == 300);
	assert_int_equal(ok.status, SERVER_MORE_RESULTS_EXISTS);
	assert_int_equal(ok.info_len, 10);
	assert_memory_equal(ok.info, "Records: 3", 10);
	ig_buf_reset(&b);

	assert_int_equal(my_write_err(&b, 1, 8173, "HY000", "PreCheck failed: importgate: x"), 0);
	assert_int_equal(b.data[3], 1);
	assert_int_equal(my_err_parse(b.data + 4, b.len - 4, &e), 0);
	assert_int_equal(e.code, 8173);
	assert_string_equal(e.sqlstate, "HY000");
	assert_int_equal(e.msg_len, strlen("PreCheck failed: importgate: x"));
	ig_buf_reset(&b);

	/* An overlong message is cut, the packet stays well-formed. */
	char *big = malloc(10000);
	memset(big, 'm', 9999);
	big[9999] = 0;
	assert_int_equal(my_write_err(&b, 0, 1105, "HY000", big), 0);
	assert_int_equal(my_u24(b.data), b.len - 4);
	assert_true(b.len < 5000);
	free(big);
	ig_buf_reset(&b);
}

static void test_packet_splitting(void **state)
{
	static const size_t sizes[] = {0, 1, MY_MAX_PAYLOAD - 1, MY_MAX_PAYLOAD, MY_MAX_PAYLOAD + 1,
	                               2 * (size_t)MY_MAX_PAYLOAD};
	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		uint8_t *p = calloc(1, n + 1);
		ig_buf b = {0};
		assert_int_equal(my_write_packet(&b, 5, p, n), 0);
		/* Walk the fragments: 0xffffff each until a shorter one (maybe empty). */
		size_t pos = 0, total = 0;
		uint8_t seq = 5;
		for (;;) {
			uint32_t len = my_u24(b.data + pos);
			assert_int_equal(b.data[pos + 3], seq++);
			total += len;
			pos += 4 + len;
			if (len < MY_MAX_PAYLOAD)
				break;
		}
		assert_int_equal(pos, b.len);
		assert_int_equal(total, n);
		ig_buf_reset(&b);
		free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lenenc_round_trip),
		cmocka_unit_test(test_greeting_parse_and_mask),
		cmocka_unit_test(test_greeting_mariadb_caps_cleared),
		cmocka_unit_test(test_handshake_response),
		cmocka_unit_test(test_change_user_usual),
		cmocka_unit_test(test_change_user_without_secure_connection),
		cmocka_unit_test(test_change_user_lenenc_flag_ignored),
		cmocka_unit_test(test_change_user_plugin_and_optional_fields),
		cmocka_unit_test(test_change_user_malformed),
		cmocka_unit_test(test_change_user_long_names),
		cmocka_unit_test(test_change_user_big),
		cmocka_unit_test(test_ok_err),
		cmocka_unit_test(test_packet_splitting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
