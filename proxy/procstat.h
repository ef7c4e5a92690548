/*
 * procstat.h - the process's own numbers for the standard process_* metrics: CPU time,
 * start time, memory, open file descriptors and their limit, read from /proc/self (Linux).
 */
#ifndef IMPORTGATE_PROCSTAT_H
#define IMPORTGATE_PROCSTAT_H

#include <stdint.h>

typedef struct ig_procstat {
	double cpu_seconds;        /* user + system */
	double start_time_seconds; /* Unix time the process started */
	uint64_t resident_bytes, virtual_bytes;
	int64_t open_fds, max_fds; /* max_fds: RLIMIT_NOFILE's soft limit; -1 = unlimited/unknown */
} ig_procstat;

/* 0, or -1 when /proc/self/stat cannot be read (the fields then hold what could be read). */
int ig_procstat_read(ig_procstat *out);

#endif
