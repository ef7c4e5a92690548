/*
 * log.c - stderr logging (see log.h). Connection id 0 means "not about a connection".
 */
#include "proxy/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlparse/utf8.h"

_Atomic ig_log_level ig_log_threshold = IG_LOG_INFO;
static _Atomic ig_log_format log_format = IG_LOG_TEXT;
static atomic_bool journal;
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static const char *const json_level_names[] = {"error", "warn", "info", "debug"};
/* syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const char priorities[] = {'3', '4', '6', '7'};

void ig_log_configure(const ig_config *cfg)
{
	atomic_store_explicit(&ig_log_threshold, cfg->log.level, memory_order_relaxed);
	atomic_store_explicit(&log_format, cfg->log.format, memory_order_relaxed);
}

/* systemd sets JOURNAL_STREAM to "<dev>:<ino>" of the stream it connected; only when stderr
 * is still that stream does it go to the journal (a redirection keeps the variable). */
void ig_log_detect_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	bool on = v && sscanf(v, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	          (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	atomic_store(&journal, on);
}

/* U+0080..U+009F, the C1 controls (U+009B is CSI, U+009D OSC), as the k bytes of UTF-8 at s. */
static bool is_c1(const unsigned char *s, size_t k)
{
	return k == 2 && s[0] == 0xc2 && s[1] < 0xa0;
}

/*
 * What a reader's terminal would act upon becomes inert, in place from out[start] to out[n];
 * returns the new end. A client's text (a user name, before any password is checked; a
 * table name) is in log lines, and the log is read on terminals (`kubectl logs`, `tail -f`):
 * C0 controls and DEL become blanks (they also keep an event on one line), C1 controls (valid
 * UTF-8) and the lone bytes 0x80..0x9F (C1 to an 8-bit terminal) '?' (attack24). Other bytes
 * are kept, a latin1 name's included.
 */
static size_t inert(char *out, size_t start, size_t n)
{
	const unsigned char *s = (const unsigned char *)out;
	size_t o = start;

	for (size_t i = start; i < n;) {
		size_t k = sql_utf8_seq(s + i, n - i);
		if (s[i] < 0x20 || s[i] == 0x7f) {
			out[o++] = ' ', i++;
		} else if (is_c1(s + i, k) || (k == 0 && s[i] <= 0x9f)) {
			out[o++] = '?', i += k ? k : 1;
		} else {
			k = k ? k : 1;
			memmove(out + o, out + i, k);
			o += k, i += k;
		}
	}
	return o;
}

/* msg as the body of a JSON string into out[*n..cap-reserve); stops before a character
 * that does not fit, so the string can always be closed. Bytes that are not UTF-8 become
 * U+FFFD: a JSON reader never fails on a client's bytes. */
static void json_escape(char *out, size_t *n, size_t limit, const char *msg)
{
	const unsigned char *s = (const unsigned char *)msg;
	size_t len = strlen(msg);
	for (size_t i = 0; i < len;) {
		char esc[8];
		const char *piece = esc;
		size_t plen, step = 1;
		if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\', esc[1] = (char)s[i], plen = 2;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			plen = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
		} else if ((step = sql_utf8_seq(s + i, len - i)) == 0) {
			piece = "\\ufffd", plen = 6, step = 1;
		} else if (is_c1(s + i, step)) { /* valid JSON raw, but a terminal control */
			plen = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", s[i + 1]);
		} else {
			piece = (const char *)s + i, plen = step;
		}
		if (*n + plen > limit)
			return;
		memcpy(out + *n, piece, plen);
		*n += plen;
		i += step;
	}
}

size_t ig_log_format_line(char *out, size_t cap, ig_log_format fmt, bool to_journal, ig_log_level lvl,
                          uint64_t conn, const struct timespec *ts, const char *msg)
{
	char when[64];
	struct tm tm;
	size_t n = 0;
	int m;

	if (cap < IG_LOG_MIN_LINE) {
		if (cap)
			out[0] = '\0';
		return 0;
	}
	if (lvl > IG_LOG_DEBUG)
		lvl = IG_LOG_DEBUG;
	gmtime_r(&ts->tv_sec, &tm);
	size_t w = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + w, sizeof(when) - w, ".%03ldZ", ts->tv_nsec / 1000000);
	if (to_journal) {
		out[n++] = '<', out[n++] = priorities[lvl], out[n++] = '>';
	}
	if (fmt == IG_LOG_JSON) {
		if (conn)
			m = snprintf(out + n, cap - n, "{\"ts\":\"%s\",\"level\":\"%s\",\"conn\":%llu,\"msg\":\"", when,
			             json_level_names[lvl], (unsigned long long)conn);
		else
			m = snprintf(out + n, cap - n, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", when,
			             json_level_names[lvl]);
		n += m > 0 ? (size_t)m : 0; /* fits: at most 3 + 91 bytes */
		json_escape(out, &n, cap - 4, msg);
		memcpy(out + n, "\"}\n", 4);
		return n + 3;
	}
	size_t start = n;
	if (conn)
		m = snprintf(out + n, cap - n, "%s %s [c%llu] %s", when, level_names[lvl], (unsigned long long)conn, msg);
	else
		m = snprintf(out + n, cap - n, "%s %s %s", when, level_names[lvl], msg);
	n += m > 0 ? (size_t)m : 0;
	if (n > cap - 2)
		n = cap - 2;
	/* Control characters from clients never break the one-event-per-line format, nor reach
	 * a terminal. */
	n = inert(out, start, n);
	out[n++] = '\n';
	out[n] = '\0';
	return n;
}

void ig_log_at(ig_log_level lvl, uint64_t conn, const char *fmt, ...)
{
	char msg[2048], line[8192];
	struct timespec ts;
	va_list ap;

	pthread_once(&journal_once, ig_log_detect_journal);
	clock_gettime(CLOCK_REALTIME, &ts);
	va_start(ap, fmt);
	int m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m < 0)
		msg[0] = '\0';
	size_t n = ig_log_format_line(line, sizeof(line),
	                              atomic_load_explicit(&log_format, memory_order_relaxed),
	                              atomic_load(&journal), lvl, conn, &ts, msg);
	ssize_t wr = write(STDERR_FILENO, line, n);
	(void)wr;
}
