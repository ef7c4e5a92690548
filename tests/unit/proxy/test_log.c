/*
 * test_log.c - the log line formats (proxy/log.c): text, JSON, the journald priority
 * prefix, and that a line stays one line and valid JSON whatever the message holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "proxy/log.h"

static const struct timespec T = {.tv_sec = 1700000000, .tv_nsec = 123456789}; /* 2023-11-14T22:13:20.123Z */

static void text_line(void **state)
{
	(void)state;
	char out[512];
	size_t n = ig_log_format_line(out, sizeof(out), IG_LOG_TEXT, false, IG_LOG_WARN, 7, &T, "a\nb");
	assert_string_equal(out, "2023-11-14T22:13:20.123Z WARN [c7] a b\n");
	assert_int_equal(n, strlen(out));
	ig_log_format_line(out, sizeof(out), IG_LOG_TEXT, false, IG_LOG_INFO, 0, &T, "up");
	assert_string_equal(out, "2023-11-14T22:13:20.123Z INFO up\n");
}

/* attack24: what a terminal acts upon never reaches the log: DEL as a blank like C0, C1
 * controls (U+009B CSI as C2 9B) and lone bytes 0x80..0x9F as '?'; other bytes kept. */
static void text_line_terminal_controls(void **state)
{
	(void)state;
	char out[512];
	size_t n = ig_log_format_line(out, sizeof(out), IG_LOG_TEXT, false, IG_LOG_INFO, 0, &T,
	                              "a\x7f" "b \xc2\x9b" "2J \xc2\x9d" "0;t \x9b" "31m caf\xc3\xa9 latin\xe9 \xc2\xa0" "end");
	assert_string_equal(out, "2023-11-14T22:13:20.123Z INFO a b ?2J ?0;t ?31m caf\xc3\xa9 latin\xe9 \xc2\xa0" "end\n");
	assert_int_equal(n, strlen(out));
}

static void journal_prefix(void **state)
{
	(void)state;
	char out[512];
	const struct { ig_log_level l; const char *p; } want[] = {
		{IG_LOG_ERROR, "<3>"}, {IG_LOG_WARN, "<4>"}, {IG_LOG_INFO, "<6>"}, {IG_LOG_DEBUG, "<7>"}};
	for (size_t i = 0; i < 4; i++) {
		ig_log_format_line(out, sizeof(out), IG_LOG_TEXT, true, want[i].l, 0, &T, "m");
		assert_memory_equal(out, want[i].p, 3);
		assert_string_equal(out + 3 + 25, want[i].l == IG_LOG_ERROR ? "ERROR m\n" :
		                    want[i].l == IG_LOG_WARN ? "WARN m\n" : want[i].l == IG_LOG_INFO ? "INFO m\n" : "DEBUG m\n");
		ig_log_format_line(out, sizeof(out), IG_LOG_JSON, true, want[i].l, 0, &T, "m");
		assert_memory_equal(out, want[i].p, 3);
		assert_int_equal(out[3], '{');
	}
}

/* The line (without a prefix) parsed as JSON. */
static json_t *parse(const char *line, size_t n)
{
	assert_true(n > 0 && line[n - 1] == '\n');
	assert_null(memchr(line, '\n', n - 1));
	json_error_t e;
	json_t *j = json_loadb(line, n - 1, 0, &e);
	if (!j)
		fail_msg("not JSON (%s): %s", e.text, line);
	return j;
}

static void json_line(void **state)
{
	(void)state;
	char out[512];
	size_t n = ig_log_format_line(out, sizeof(out), IG_LOG_JSON, false, IG_LOG_ERROR, 42, &T,
	                              "quote \" back \\ nl \n tab \t ctl \x01 caf\xc3\xa9 bad \xff end");
	json_t *j = parse(out, n);
	assert_string_equal(json_string_value(json_object_get(j, "ts")), "2023-11-14T22:13:20.123Z");
	assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
	assert_int_equal(json_integer_value(json_object_get(j, "conn")), 42);
	assert_string_equal(json_string_value(json_object_get(j, "msg")),
	                    "quote \" back \\ nl \n tab \t ctl \x01 caf\xc3\xa9 bad \xef\xbf\xbd end");
	json_decref(j);
	/* attack24: DEL and C1 controls are escaped too (raw, they are valid JSON a terminal acts upon) */
	n = ig_log_format_line(out, sizeof(out), IG_LOG_JSON, false, IG_LOG_INFO, 0, &T, "d\x7f" "c1\xc2\x9b" "2J");
	assert_null(memchr(out, 0x7f, n));
	assert_null(strstr(out, "\xc2\x9b"));
	j = parse(out, n);
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "d\x7f" "c1\xc2\x9b" "2J");
	json_decref(j);
	n = ig_log_format_line(out, sizeof(out), IG_LOG_JSON, false, IG_LOG_INFO, 0, &T, "x");
	j = parse(out, n);
	assert_null(json_object_get(j, "conn"));
	json_decref(j);
}

/* A message longer than the line: cut at a character, still one valid JSON line. */
static void json_truncated(void **state)
{
	(void)state;
	char msg[3000], out[400];
	for (size_t i = 0; i < sizeof(msg) - 1; i++)
		msg[i] = i % 3 == 0 ? '"' : (i % 3 == 1 ? '\x02' : 'a');
	msg[sizeof(msg) - 1] = '\0';
	for (size_t cap = IG_LOG_MIN_LINE; cap <= sizeof(out); cap++) {
		size_t n = ig_log_format_line(out, cap, IG_LOG_JSON, false, IG_LOG_INFO, 1, &T, msg);
		assert_true(n < cap);
		json_decref(parse(out, n));
	}
	size_t n = ig_log_format_line(out, 200, IG_LOG_TEXT, false, IG_LOG_INFO, 1, &T, msg);
	assert_int_equal(n, 199);
	assert_int_equal(out[198], '\n');
	assert_null(memchr(out, '\x02', n));
	assert_int_equal(ig_log_format_line(out, IG_LOG_MIN_LINE - 1, IG_LOG_JSON, false, IG_LOG_INFO, 1, &T, msg), 0);
}

/* JOURNAL_STREAM counts only when it names stderr itself. */
static void journal_detect(void **state)
{
	(void)state;
	struct stat st;
	char v[64];
	ig_log_at(IG_LOG_INFO, 0, "the first line runs the detection once"); /* to the real stderr */
	int saved = dup(STDERR_FILENO);
	char path[] = "/tmp/test_log_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	dup2(fd, STDERR_FILENO);
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
	ig_log_detect_journal();
	ig_log_at(IG_LOG_ERROR, 0, "to the journal %d", 1);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", v, 1); /* another stream: stderr was redirected */
	ig_log_detect_journal();
	ig_log_at(IG_LOG_ERROR, 0, "to a file %d", 2);
	dup2(saved, STDERR_FILENO);
	close(saved);
	char buf[512] = {0};
	assert_true(pread(fd, buf, sizeof(buf) - 1, 0) > 0);
	close(fd);
	unlink(path);
	assert_memory_equal(buf, "<3>", 3);
	assert_non_null(strstr(buf, "ERROR to the journal 1\n"));
	char *second = strchr(buf, '\n') + 1;
	assert_int_not_equal(second[0], '<');
	assert_non_null(strstr(second, "ERROR to a file 2\n"));
	unsetenv("JOURNAL_STREAM");
	ig_log_detect_journal();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_line),     cmocka_unit_test(text_line_terminal_controls),
		cmocka_unit_test(journal_prefix),
		cmocka_unit_test(json_line),     cmocka_unit_test(json_truncated),
		cmocka_unit_test(journal_detect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
