/*
 * test_response.c - the response tracker, fed through the framer in every chunking, over
 * the answers a backend gives: OK, error, text result sets with classic EOF and with
 * DEPRECATE_EOF, multi-results, LOCAL INFILE, prepare with params and columns, execute
 * with a cursor, field lists, statistics; MariaDB's progress reports and skipped metadata
 * (extended capabilities); and the reader of TiDB's answer to an import.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pkt.h"
#include "proxy/framer.h"
#include "proxy/importresult.h"
#include "proxy/response.h"

typedef struct run {
	ig_resp r;
	int events[64];
	int nevents;
	size_t relayed;
} run;

static ig_pkt_verdict on_packet(void *arg, const ig_packet *pk)
{
	run *x = arg;
	if (pk->cont)
		return IG_PKT_RELAY;
	size_t peek = pk->have < IG_RESP_PEEK ? pk->have : IG_RESP_PEEK;
	ig_resp_event ev = ig_resp_feed(&x->r, pk->data, peek, pk->len);
	if (ev != RE_NONE && x->nevents < 64)
		x->events[x->nevents++] = ev;
	return IG_PKT_RELAY;
}

static int on_relay(void *arg, const uint8_t *p, size_t n)
{
	run *x = arg;
	x->relayed += n;
	(void)p;
	return 0;
}

static int on_run_end(void *arg) { (void)arg; return 0; }
static bool on_stop(void *arg) { (void)arg; return false; }

static const ig_framer_ops ops = {.packet = on_packet, .relay = on_relay, .run_end = on_run_end, .stop = on_stop};

static uint32_t mcaps; /* MariaDB's extended capabilities of the next track() */

/* Feeds the stream in chunks of `step` bytes; returns the events in order. Every byte is relayed. */
static run track(uint8_t cmd, uint32_t caps, const ig_buf *stream, size_t step)
{
	run x = {0};
	ig_framer f = {0};
	ig_buf rest = {0};
	ig_resp_begin(&x.r, cmd, caps, mcaps);
	for (size_t off = 0; off < stream->len; off += step) {
		size_t n = stream->len - off < step ? stream->len - off : step;
		assert_int_equal(ig_framer_feed(&f, stream->data + off, n, &ops, &x, &rest), IG_FRAME_OK);
	}
	assert_int_equal(x.relayed + ig_buf_avail(&f.carry), stream->len);
	ig_framer_reset(&f);
	return x;
}

/* The same events whatever the chunking. */
static void expect(uint8_t cmd, uint32_t caps, const ig_buf *stream, const int *want, int nwant)
{
	static const size_t steps[] = {1, 2, 3, 7, 64, 1 << 20};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		run x = track(cmd, caps, stream, steps[i]);
		assert_int_equal(x.nevents, nwant);
		for (int k = 0; k < nwant; k++)
			assert_int_equal(x.events[k], want[k]);
	}
}

static void result_set(ig_buf *b, uint8_t *seq, int ncols, int nrows, bool deprecate, uint16_t status)
{
	uint8_t n = (uint8_t)ncols;
	put_pkt(b, (*seq)++, &n, 1);
	for (int i = 0; i < ncols; i++)
		put_coldef(b, (*seq)++, "c");
	if (!deprecate)
		put_eof(b, (*seq)++, 0);
	for (int r = 0; r < nrows; r++) {
		ig_buf row = {0};
		for (int i = 0; i < ncols; i++)
			put_lenenc_str(&row, "value");
		put_pkt(b, (*seq)++, row.data, row.len);
		ig_buf_reset(&row);
	}
	if (deprecate)
		put_ok(b, (*seq)++, 0xfe, 0, status, NULL);
	else
		put_eof(b, (*seq)++, status);
}

static void test_ok_and_error(void **state)
{
	ig_buf b = {0};
	int done[] = {RE_DONE};
	(void)state;
	put_ok(&b, 1, 0x00, 1, 0, NULL);
	expect(COM_QUERY, CLIENT_PROTOCOL_41, &b, done, 1);
	ig_buf_reset(&b);
	static const uint8_t err[] = {0xff, 0x49, 0x1f, '#', 'H', 'Y', '0', '0', '0', 'x'};
	put_pkt(&b, 1, err, sizeof(err));
	expect(COM_QUERY, CLIENT_PROTOCOL_41, &b, done, 1);
	run x = track(COM_QUERY, CLIENT_PROTOCOL_41, &b, 1);
	assert_int_equal(x.r.kind, RK_ERR);
	assert_int_equal(x.r.err_code, 8009);
	ig_buf_reset(&b);
}

static void test_result_sets(void **state)
{
	ig_buf b = {0};
	uint8_t seq = 1;
	int done[] = {RE_DONE};
	(void)state;
	result_set(&b, &seq, 3, 5, false, 0);
	expect(COM_QUERY, CLIENT_PROTOCOL_41, &b, done, 1);
	ig_buf_reset(&b);
	seq = 1;
	result_set(&b, &seq, 2, 4, true, 0);
	expect(COM_QUERY, CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF, &b, done, 1);
	ig_buf_reset(&b);
	/* No rows at all. */
	seq = 1;
	result_set(&b, &seq, 1, 0, false, 0);
	expect(COM_QUERY, CLIENT_PROTOCOL_41, &b, done, 1);
	ig_buf_reset(&b);
}

static void test_multi_results(void **state)
{
	ig_buf b = {0};
	uint8_t seq = 1;
	int want[] = {RE_RESULT, RE_RESULT, RE_DONE};
	(void)state;
	put_ok(&b, seq++, 0x00, 0, SERVER_MORE_RESULTS_EXISTS, NULL); /* USE db */
	result_set(&b, &seq, 1, 1, false, SERVER_MORE_RESULTS_EXISTS);
	put_ok(&b, seq++, 0x00, 3, 0, NULL);
	expect(COM_QUERY, CLIENT_PROTOCOL_41, &b, want, 3);
	/* An error ends the batch. */
	ig_buf_reset(&b);
	seq = 1;
	put_ok(&b, seq++, 0x00, 0, SERVER_MORE_RESULTS_EXISTS, NULL);
	static const uint8_t err[] = {0xff, 0x28, 0x04, '#', '4', '2', '0', '0', '0', 'e'};
	put_pkt(&b, seq++, err, sizeof(err));
	int want2[] = {RE_RESULT, RE_DONE};
	expect(COM_QUERY, CLIENT_PROTOCOL_41, &b, want2, 2);
	ig_buf_reset(&b);
}

static void test_local_infile(void **state)
{
	ig_buf b = {0};
	(void)state;
	static const uint8_t req[] = {0xfb, 'f', '.', 'c', 's', 'v'};
	put_pkt(&b, 1, req, sizeof(req));
	put_ok(&b, 4, 0x00, 10, 0, "Records: 10");
	int want[] = {RE_INFILE, RE_DONE};
	expect(COM_QUERY, CLIENT_PROTOCOL_41, &b, want, 2);
	ig_buf_reset(&b);
}

static void test_prepare(void **state)
{
	ig_buf b = {0};
	uint8_t seq = 1;
	(void)state;
	/* OK: stmt_id 7, 2 columns, 1 param. */
	uint8_t ok[12] = {0x00, 7, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0};
	put_pkt(&b, seq++, ok, sizeof(ok));
	put_coldef(&b, seq++, "?");
	put_eof(&b, seq++, 0);
	put_coldef(&b, seq++, "a");
	put_coldef(&b, seq++, "b");
	put_eof(&b, seq++, 0);
	int done[] = {RE_DONE};
	expect(COM_STMT_PREPARE, CLIENT_PROTOCOL_41, &b, done, 1);
	run x = track(COM_STMT_PREPARE, CLIENT_PROTOCOL_41, &b, 5);
	assert_int_equal(x.r.stmt_id, 7);
	ig_buf_reset(&b);
	/* DEPRECATE_EOF: no EOF after either block. */
	seq = 1;
	put_pkt(&b, seq++, ok, sizeof(ok));
	put_coldef(&b, seq++, "?");
	put_coldef(&b, seq++, "a");
	put_coldef(&b, seq++, "b");
	expect(COM_STMT_PREPARE, CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF, &b, done, 1);
	ig_buf_reset(&b);
	/* No params, no columns: done at the OK. */
	uint8_t ok0[12] = {0x00, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	put_pkt(&b, 1, ok0, sizeof(ok0));
	expect(COM_STMT_PREPARE, CLIENT_PROTOCOL_41, &b, done, 1);
	ig_buf_reset(&b);
}

static void test_execute_cursor_and_fetch(void **state)
{
	ig_buf b = {0};
	uint8_t seq = 1, one = 1;
	int done[] = {RE_DONE};
	(void)state;
	/* A cursor opens: columns, then EOF with CURSOR_EXISTS, no rows yet. */
	put_pkt(&b, seq++, &one, 1);
	put_coldef(&b, seq++, "a");
	put_eof(&b, seq++, SERVER_STATUS_CURSOR_EXISTS);
	expect(COM_STMT_EXECUTE, CLIENT_PROTOCOL_41, &b, done, 1);
	ig_buf_reset(&b);
	/* COM_STMT_FETCH: binary rows (they start with 0x00) until EOF. */
	static const uint8_t row[] = {0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o'};
	put_pkt(&b, 1, row, sizeof(row));
	put_pkt(&b, 2, row, sizeof(row));
	put_eof(&b, 3, SERVER_STATUS_CURSOR_EXISTS);
	/* FETCH has no column block: rows straight away, and a 0x00 row is not an OK. */
	expect(COM_STMT_FETCH, CLIENT_PROTOCOL_41, &b, done, 1);
	ig_buf_reset(&b);
	put_ok(&b, 1, 0xfe, 0, SERVER_STATUS_CURSOR_EXISTS, NULL);
	expect(COM_STMT_FETCH, CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF, &b, done, 1);
	ig_buf_reset(&b);
}

/* A MariaDB progress report: 0xFF, code 0xFFFF, stage, max stage, progress (3), message. */
static void put_progress(ig_buf *b, uint8_t seq)
{
	static const uint8_t pr[] = {0xff, 0xff, 0xff, 1, 2, 0x10, 0x27, 0x00, 4, 'c', 'o', 'p', 'y'};
	put_pkt(b, seq, pr, sizeof(pr));
}

static void test_mariadb_progress(void **state)
{
	ig_buf b = {0};
	uint8_t seq = 1;
	int done[] = {RE_DONE};
	(void)state;
	/* Progress reports, then the OK of the ALTER TABLE. */
	put_progress(&b, seq++);
	put_progress(&b, seq++);
	put_ok(&b, seq++, 0x00, 0, 0, NULL);
	mcaps = MARIADB_CLIENT_PROGRESS;
	expect(COM_QUERY, CLIENT_PROTOCOL_41, &b, done, 1);
	run x = track(COM_QUERY, CLIENT_PROTOCOL_41, &b, 1);
	assert_int_equal(x.r.kind, RK_OK);
	/* Without the capability the same packet is an error that ends the answer. */
	mcaps = 0;
	x = track(COM_QUERY, CLIENT_PROTOCOL_41, &b, 1);
	assert_int_equal(x.events[0], RE_DONE);
	assert_int_equal(x.r.err_code, 0xffff);
	ig_buf_reset(&b);
	/* Progress before a result set and between its results (LOAD DATA in a batch). */
	seq = 1;
	put_progress(&b, seq++);
	result_set(&b, &seq, 2, 3, false, SERVER_MORE_RESULTS_EXISTS);
	put_progress(&b, seq++);
	put_ok(&b, seq++, 0x00, 5, 0, NULL);
	mcaps = MARIADB_CLIENT_PROGRESS;
	int two[] = {RE_RESULT, RE_DONE};
	expect(COM_QUERY, CLIENT_PROTOCOL_41 | CLIENT_MULTI_RESULTS, &b, two, 2);
	/* A real error still ends it. */
	ig_buf_reset(&b);
	static const uint8_t err[] = {0xff, 0x49, 0x1f, '#', 'H', 'Y', '0', '0', '0', 'x'};
	put_progress(&b, 1);
	put_pkt(&b, 2, err, sizeof(err));
	expect(COM_QUERY, CLIENT_PROTOCOL_41, &b, done, 1);
	x = track(COM_QUERY, CLIENT_PROTOCOL_41, &b, 3);
	assert_int_equal(x.r.kind, RK_ERR);
	assert_int_equal(x.r.err_code, 8009);
	mcaps = 0;
	ig_buf_reset(&b);
}

/* MARIADB_CLIENT_CACHE_METADATA: the column count carries a "metadata follows" byte. */
static void test_mariadb_cache_metadata(void **state)
{
	ig_buf b = {0};
	uint8_t seq = 1;
	int done[] = {RE_DONE};
	static const uint8_t row[] = {0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o'};
	(void)state;
	mcaps = MARIADB_CLIENT_CACHE_METADATA;
	/* Metadata follows (1): definitions, EOF, rows, EOF. */
	static const uint8_t count_meta[] = {2, 1}, count_skip[] = {2, 0}, count_bad[] = {2, 7};
	put_pkt(&b, seq++, count_meta, sizeof(count_meta));
	put_coldef(&b, seq++, "a");
	put_coldef(&b, seq++, "b");
	put_eof(&b, seq++, 0);
	put_pkt(&b, seq++, row, sizeof(row));
	put_eof(&b, seq++, 0);
	expect(COM_STMT_EXECUTE, CLIENT_PROTOCOL_41, &b, done, 1);
	ig_buf_reset(&b);
	/* Skipped (0), classic EOF: the EOF ending the (absent) definitions, rows, EOF. */
	seq = 1;
	put_pkt(&b, seq++, count_skip, sizeof(count_skip));
	put_eof(&b, seq++, 0);
	put_pkt(&b, seq++, row, sizeof(row));
	put_pkt(&b, seq++, row, sizeof(row));
	put_eof(&b, seq++, 0);
	expect(COM_STMT_EXECUTE, CLIENT_PROTOCOL_41, &b, done, 1);
	ig_buf_reset(&b);
	/* Skipped under DEPRECATE_EOF: rows straight after the count, then the 0xFE OK. */
	seq = 1;
	put_pkt(&b, seq++, count_skip, sizeof(count_skip));
	put_pkt(&b, seq++, row, sizeof(row));
	put_ok(&b, seq++, 0xfe, 0, 0, NULL);
	expect(COM_STMT_EXECUTE, CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF, &b, done, 1);
	ig_buf_reset(&b);
	/* A follows byte that is neither 0 nor 1, or missing, is not followed. */
	int bad[] = {RE_PROTOCOL};
	put_pkt(&b, 1, count_bad, sizeof(count_bad));
	expect(COM_STMT_EXECUTE, CLIENT_PROTOCOL_41, &b, bad, 1);
	ig_buf_reset(&b);
	static const uint8_t count_only[] = {2};
	put_pkt(&b, 1, count_only, sizeof(count_only));
	expect(COM_STMT_EXECUTE, CLIENT_PROTOCOL_41, &b, bad, 1);
	ig_buf_reset(&b);
	mcaps = 0;
}

/* COM_STMT_BULK_EXECUTE is answered like an execute without rows: OK or ERR. */
static void test_bulk_execute(void **state)
{
	ig_buf b = {0};
	int done[] = {RE_DONE};
	(void)state;
	put_ok(&b, 1, 0x00, 3, 0, NULL);
	mcaps = MARIADB_CLIENT_STMT_BULK_OPERATIONS;
	expect(COM_STMT_BULK_EXECUTE, CLIENT_PROTOCOL_41, &b, done, 1);
	run x = track(COM_STMT_BULK_EXECUTE, CLIENT_PROTOCOL_41, &b, 1);
	assert_int_equal(x.r.kind, RK_OK);
	mcaps = 0;
	ig_buf_reset(&b);
}

static void test_field_list_and_statistics(void **state)
{
	ig_buf b = {0};
	int done[] = {RE_DONE};
	(void)state;
	put_coldef(&b, 1, "a");
	put_coldef(&b, 2, "b");
	put_eof(&b, 3, 0);
	expect(COM_FIELD_LIST, CLIENT_PROTOCOL_41, &b, done, 1);
	ig_buf_reset(&b);
	put_pkt(&b, 1, "Uptime: 5  Threads: 1", 21);
	expect(COM_STATISTICS, CLIENT_PROTOCOL_41, &b, done, 1);
	ig_buf_reset(&b);
	assert_false(ig_cmd_has_response(COM_STMT_CLOSE));
	assert_false(ig_cmd_has_response(COM_STMT_SEND_LONG_DATA));
	assert_false(ig_cmd_has_response(COM_QUIT));
	assert_true(ig_cmd_has_response(COM_PING));
}

/* COM_SET_OPTION's EOF: under DEPRECATE_EOF TiDB writes an OK with the 0xFE header that carries
 * the last statement's affected rows and message, 9 bytes or more after a LOAD DATA or 251 rows
 * (attack16); it ends the answer as the bare 5-byte EOF does without DEPRECATE_EOF. */
static void test_set_option_eof(void **state)
{
	ig_buf b = {0};
	int done[] = {RE_DONE};
	uint32_t dep = CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF;
	(void)state;
	mcaps = 0;
	put_eof(&b, 1, SERVER_STATUS_AUTOCOMMIT);
	expect(COM_SET_OPTION, CLIENT_PROTOCOL_41, &b, done, 1);
	ig_buf_reset(&b);
	put_ok(&b, 1, 0xfe, 2, SERVER_STATUS_AUTOCOMMIT, "\x2fRecords: 2  Deleted: 0  Skipped: 0  Warnings: 0");
	expect(COM_SET_OPTION, dep, &b, done, 1);
	run x = track(COM_SET_OPTION, dep, &b, 1);
	assert_int_equal(x.r.status, SERVER_STATUS_AUTOCOMMIT);
	ig_buf_reset(&b);
	put_ok(&b, 1, 0xfe, 300, SERVER_STATUS_AUTOCOMMIT, NULL); /* affected rows in 3 bytes: 9 */
	expect(COM_SET_OPTION, dep, &b, done, 1);
	expect(COM_DEBUG, dep, &b, done, 1);
	ig_buf_reset(&b);
}

/* A packet starting with 0xFB: a file request at the start of a result, a NULL first column
 * among a COM_QUERY's text rows; anywhere else the answers are lost (attack16). */
static void test_file_request_only_where_one_can_be(void **state)
{
	static const uint8_t req[] = {0xfb, 'x', '.', 'c', 's', 'v'};
	static const uint8_t null_row[] = {0xfb, 0x01, '7'};
	static const uint8_t cmds[] = {COM_STATISTICS, COM_FIELD_LIST, COM_STMT_FETCH, COM_CHANGE_USER, COM_BINLOG_DUMP};
	ig_buf b = {0};
	uint8_t seq = 1;
	(void)state;
	mcaps = 0;
	for (size_t i = 0; i < sizeof(cmds); i++) {
		ig_buf_reset(&b);
		put_pkt(&b, 1, req, sizeof(req));
		int protocol[] = {RE_PROTOCOL};
		expect(cmds[i], CLIENT_PROTOCOL_41, &b, protocol, 1);
	}
	ig_buf_reset(&b);
	put_pkt(&b, 1, req, sizeof(req)); /* the start of a COM_QUERY's (or an EXECUTE's) answer */
	int infile[] = {RE_INFILE};
	expect(COM_QUERY, CLIENT_PROTOCOL_41, &b, infile, 1);
	expect(COM_STMT_EXECUTE, CLIENT_PROTOCOL_41, &b, infile, 1);
	ig_buf_reset(&b);
	uint8_t n = 2; /* a COM_QUERY's rows: a NULL first column is a row */
	put_pkt(&b, seq++, &n, 1);
	put_coldef(&b, seq++, "a");
	put_coldef(&b, seq++, "b");
	put_eof(&b, seq++, 0);
	put_pkt(&b, seq++, null_row, sizeof(null_row));
	put_eof(&b, seq++, 0);
	int rows[] = {RE_DONE};
	expect(COM_QUERY, CLIENT_PROTOCOL_41, &b, rows, 1);
	ig_buf_reset(&b);
	seq = 1; /* an EXECUTE's binary rows start with 0x00: 0xFB is none */
	n = 1;
	put_pkt(&b, seq++, &n, 1);
	put_coldef(&b, seq++, "a");
	put_eof(&b, seq++, 0);
	put_pkt(&b, seq++, req, sizeof(req));
	int lost[] = {RE_PROTOCOL};
	expect(COM_STMT_EXECUTE, CLIENT_PROTOCOL_41, &b, lost, 1);
	ig_buf_reset(&b);
}

/* Replication commands: a refusal (one ERR, what TiDB always answers) ends the answer; a
 * stream (events after a 0x00, an ERR among them included) never does (attack13); the OK of
 * a COM_REGISTER_SLAVE, which streams nothing, does (attack15). */
static void test_replication_refused_or_streamed(void **state)
{
	static const uint8_t err[] = {0xff, 0x4f, 0x04, '#', 'H', 'Y', '0', '0', '0', 'n', 'o'};
	static const uint8_t event[] = {0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	int done[] = {RE_DONE};
	static const uint8_t cmds[] = {COM_BINLOG_DUMP, COM_BINLOG_DUMP_GTID, COM_TABLE_DUMP, COM_REGISTER_SLAVE};
	(void)state;
	ig_buf ok = {0};
	put_ok(&ok, 1, 0x00, 0, 0, NULL);
	expect(COM_REGISTER_SLAVE, CLIENT_PROTOCOL_41, &ok, done, 1);
	ig_buf_reset(&ok);
	for (size_t i = 0; i < sizeof(cmds); i++) {
		ig_buf b = {0};
		put_pkt(&b, 1, err, sizeof(err));
		expect(cmds[i], CLIENT_PROTOCOL_41, &b, done, 1);
		run x = track(cmds[i], CLIENT_PROTOCOL_41, &b, 1);
		assert_int_equal(x.r.kind, RK_ERR);
		assert_int_equal(x.r.err_code, 1103);
		ig_buf_reset(&b);
		put_pkt(&b, 1, event, sizeof(event));
		put_pkt(&b, 2, err, sizeof(err));
		put_pkt(&b, 3, event, sizeof(event));
		put_ok(&b, 4, 0x00, 0, 0, NULL);
		if (cmds[i] != COM_REGISTER_SLAVE)
			expect(cmds[i], CLIENT_PROTOCOL_41, &b, NULL, 0);
		ig_buf_reset(&b);
	}
}

static void import_row_answer(ig_buf *b, bool deprecate, const char *status)
{
	static const char *cols[] = {"Job_ID", "Data_Source", "Target_Table", "Table_ID", "Phase",
	                             "Status", "Source_File_Size", "Imported_Rows", "Result_Message"};
	uint8_t seq = 1, n = 9;
	put_pkt(b, seq++, &n, 1);
	for (int i = 0; i < 9; i++)
		put_coldef(b, seq++, cols[i]);
	if (!deprecate)
		put_eof(b, seq++, 0);
	ig_buf row = {0};
	put_lenenc_str(&row, "42");
	put_lenenc_str(&row, "s3://b/x.csv");
	put_lenenc_str(&row, "`db`.`t`");
	put_lenenc_str(&row, "100");
	put_lenenc_str(&row, "");
	put_lenenc_str(&row, status);
	put_lenenc_str(&row, "3.6KiB");
	uint8_t null = 0xfb;
	if (strcmp(status, "pending") == 0)
		ig_buf_append(&row, &null, 1);
	else
		put_lenenc_str(&row, "1000");
	put_lenenc_str(&row, "done");
	put_pkt(b, seq++, row.data, row.len);
	ig_buf_reset(&row);
	if (deprecate)
		put_ok(b, seq++, 0xfe, 0, 0, NULL);
	else
		put_eof(b, seq++, 0);
}

static void test_import_answers(void **state)
{
	ig_buf b = {0};
	ig_import_result r;
	(void)state;
	import_row_answer(&b, false, "finished");
	assert_int_equal(ig_import_result_parse(b.data, b.len, CLIENT_PROTOCOL_41, 0, &r), 0);
	assert_int_equal(r.kind, IR_ROWS);
	assert_string_equal(r.job_id, "42");
	assert_string_equal(r.status, "finished");
	assert_string_equal(r.rows, "1000");
	assert_string_equal(r.message, "done");
	/* Cut anywhere: an error or a partial answer, never an over-read. */
	for (size_t cut = 0; cut < b.len; cut++)
		(void)ig_import_result_parse(b.data, cut, CLIENT_PROTOCOL_41, 0, &r);
	ig_buf_reset(&b);

	import_row_answer(&b, true, "pending");
	assert_int_equal(ig_import_result_parse(b.data, b.len, CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF, 0, &r), 0);
	assert_string_equal(r.status, "pending");
	assert_string_equal(r.rows, "");
	ig_buf_reset(&b);

	put_ok(&b, 1, 0x00, 10, 0, "Records: 10, ID: 3b1f0000");
	assert_int_equal(ig_import_result_parse(b.data, b.len, CLIENT_PROTOCOL_41, 0, &r), 0);
	assert_int_equal(r.kind, IR_OK);
	assert_string_equal(r.rows, "10");
	ig_buf_reset(&b);

	/* Progress reports before the answer are not the answer. */
	put_progress(&b, 1);
	put_ok(&b, 2, 0x00, 10, 0, "Records: 10, ID: 3b1f0000");
	assert_int_equal(ig_import_result_parse(b.data, b.len, CLIENT_PROTOCOL_41, 0, &r), 0);
	assert_int_equal(r.kind, IR_OK);
	assert_string_equal(r.rows, "10");
	ig_buf_reset(&b);

	static const char emsg[] = "\xff\xed\x1f#HY000PreCheck failed: target table is not empty";
	put_pkt(&b, 1, emsg, sizeof(emsg) - 1);
	assert_int_equal(ig_import_result_parse(b.data, b.len, CLIENT_PROTOCOL_41, 0, &r), 0);
	assert_int_equal(r.kind, IR_ERR);
	assert_int_equal(r.err_code, 8173);
	assert_string_equal(r.message, "PreCheck failed: target table is not empty");
	ig_buf_reset(&b);

	/* SELECT 1; IMPORT INTO ...: the import's answer is the second result. */
	uint8_t seq = 1;
	result_set(&b, &seq, 1, 1, false, SERVER_MORE_RESULTS_EXISTS);
	ig_buf imp = {0};
	import_row_answer(&imp, false, "finished");
	ig_buf_append(&b, imp.data, imp.len);
	ig_buf_reset(&imp);
	assert_int_equal(ig_import_result_parse(b.data, b.len, CLIENT_PROTOCOL_41, 1, &r), 0);
	assert_string_equal(r.job_id, "42");
	/* Index past the last result: not there. */
	assert_int_equal(ig_import_result_parse(b.data, b.len, CLIENT_PROTOCOL_41, 2, &r), -1);
	ig_buf_reset(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_and_error),
		cmocka_unit_test(test_result_sets),
		cmocka_unit_test(test_multi_results),
		cmocka_unit_test(test_local_infile),
		cmocka_unit_test(test_prepare),
		cmocka_unit_test(test_execute_cursor_and_fetch),
		cmocka_unit_test(test_field_list_and_statistics),
		cmocka_unit_test(test_set_option_eof),
		cmocka_unit_test(test_file_request_only_where_one_can_be),
		cmocka_unit_test(test_replication_refused_or_streamed),
		cmocka_unit_test(test_mariadb_progress),
		cmocka_unit_test(test_mariadb_cache_metadata),
		cmocka_unit_test(test_bulk_execute),
		cmocka_unit_test(test_import_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
