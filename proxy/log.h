/*
 * log.h - one line per event on stderr: time, level, connection id, message.
 * Lines are written with a single write(2), so lines from worker threads never mix.
 */
#ifndef IMPORTGATE_LOG_H
#define IMPORTGATE_LOG_H

#include <stdatomic.h>
#include <stdint.h>

#include "policy/config.h"

/* Written by a reload while workers log: relaxed atomic loads and stores. */
extern _Atomic ig_log_level ig_log_threshold;

void ig_log_at(ig_log_level lvl, uint64_t conn, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

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
