/*
 * log.h - one line per event on stderr: time, level, connection id, message.
 * Lines are written with a single write(2), so lines from worker threads never mix.
 *
 * log.format text (default): "2024-05-01T10:00:00.123Z INFO [c7] message".
 * log.format json: {"ts":"2024-05-01T10:00:00.123Z","level":"info","conn":7,"msg":"message"}
 * ("conn" only about a connection). When stderr is the systemd journal (JOURNAL_STREAM
 * names stderr's device and inode, systemd.exec(5)) each line starts with the syslog
 * priority, "<3>" error, "<4>" warn, "<6>" info, "<7>" debug (sd-daemon(3)), so
 * `journalctl -p err` selects the errors; journald strips the prefix.
 */
#ifndef IMPORTGATE_LOG_H
#define IMPORTGATE_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "policy/config.h"

/* Written by a reload while workers log: relaxed atomic loads and stores. */
extern _Atomic ig_log_level ig_log_threshold;

void ig_log_at(ig_log_level lvl, uint64_t conn, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The level and format of cfg's log section take effect (at start and at each reload). */
void ig_log_configure(const ig_config *cfg);
/* Reads JOURNAL_STREAM again and compares it with stderr (done once on the first line). */
void ig_log_detect_journal(void);

/* One line, '\n' included, for the event (what ig_log_at writes); returns its length
 * (< cap). Control characters never break the one-event-per-line format; a long message
 * is cut. cap is at least IG_LOG_MIN_LINE (the JSON fields before the message fit). */
#define IG_LOG_MIN_LINE 128
size_t ig_log_format_line(char *out, size_t cap, ig_log_format fmt, bool journal, ig_log_level lvl,
                          uint64_t conn, const struct timespec *ts, const char *msg);

#define ig_log(lvl, conn, ...) \
	do { \
		if ((lvl) <= atomic_load_explicit(&ig_log_threshold, memory_order_relaxed)) \
			ig_log_at((lvl), (conn), __VA_ARGS__); \
	} while (0)
#define LOG_ERROR(conn, ...) ig_log(IG_LOG_ERROR, conn, __VA_ARGS__)
#define LOG_WARN(conn, ...) ig_log(IG_LOG_WARN, conn, __VA_ARGS__)
#define LOG_INFO(conn, ...) ig_log(IG_LOG_INFO, conn, __VA_ARGS__)
#define LOG_DEBUG(conn, ...) ig_log(IG_LOG_DEBUG, conn, __VA_ARGS__)

#endif
