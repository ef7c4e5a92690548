/*
 * test_kill.c - sql_kill_connection(): exactly a KILL of one connection by a literal id is
 * read, with its id; everything else (QUERY, USER, expressions, comments, a second
 * statement, words that only start like the keywords) is not.
 */
#include "helpers.h"

#include <stdint.h>

static void test_kill_read(void **st)
{
	static const struct { const char *sql; uint64_t id; } yes[] = {
		{"KILL 5", 5},
		{"kill 42", 42},
		{"  KILL\tCONNECTION\n 7 ", 7},
		{"KILL CONNECTION 7;", 7},
		{"Kill Connection 7 ;  ", 7},
		{"KILL HARD 9", 9},
		{"KILL SOFT CONNECTION 9", 9},
		{"KILL TIDB 11", 11},
		{"KILL TIDB CONNECTION 11", 11},
		{"KILL 18446744073709551615", UINT64_MAX},
		{"KILL 0", 0},
	};
	(void)st;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		uint64_t id = 12345;
		if (sql_kill_connection(yes[i].sql, strlen(yes[i].sql), &id) != 1)
			fail_msg("<%s> not read as a KILL", yes[i].sql);
		if (id != yes[i].id)
			fail_msg("<%s>: id %llu", yes[i].sql, (unsigned long long)id);
	}
}

static void test_kill_not_read(void **st)
{
	static const char *const no[] = {
		"", "KILL", "KILL ;", "KILL CONNECTION", "KILL QUERY 5", "KILL QUERY ID 5", "KILL TIDB QUERY 5",
		"KILL HARD QUERY 5", "KILL USER 'bob'", "KILL CONNECTION_ID()", "KILL 5+1", "KILL (5)", "KILL -5",
		"KILL 5 6", "KILL 5; SELECT 1", "KILL 5;;", "KILL /* c */ 5", "/* c */ KILL 5", "KILL 5 -- c",
		"KILL 5 # c", "KILL /*!QUERY*/ 5", "KILLS 5", "KILL5", "KILL 5x", "KILL 0x5", "KILL 5.0",
		"KILL 1e3", "KILL HARD SOFT 5", "KILL TIDB TIDB 5", "KILL CONNECTION CONNECTION 5",
		"KILL HARDCONNECTION 5", "KILL CONNECTIONS 5", "SELECT 1; KILL 5", "KILL '5'", "KILL `5`",
		"KILL 18446744073709551616", "KILL 99999999999999999999999", "XKILL 5",
	};
	(void)st;
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		uint64_t id = 12345;
		if (sql_kill_connection(no[i], strlen(no[i]), &id) != 0)
			fail_msg("<%s> read as a KILL of %llu", no[i], (unsigned long long)id);
		assert_true(id == 12345);
	}
	/* the length is the statement's, not strlen: a NUL inside is a byte like any other */
	uint64_t id = 0;
	assert_int_equal(sql_kill_connection("KILL 5\0", 7, &id), 0);
	assert_int_equal(sql_kill_connection("KILL 5\0", 6, &id), 1);
	assert_true(id == 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_read),
		cmocka_unit_test(test_kill_not_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
