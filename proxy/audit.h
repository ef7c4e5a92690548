/*
 * audit.h - the writer of the durable audit log (docs/AUDIT.md): JSON lines, one
 * object per event. The events are built by auditev.h, their fields by auditfield.h. Gating events (an import about to be forwarded) are written
 * synchronously and, with fsync=always, are on disk before ig_audit_write returns; the
 * caller refuses the import when it fails. Informational events are queued to a writer
 * thread and dropped (and counted) when the queue is full. One audit log per process.
 */
#ifndef IMPORTGATE_AUDIT_H
#define IMPORTGATE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "policy/config.h"

#define IG_AUDIT_QUEUE_DEFAULT 4096
/* Defaults of audit.max_statement_bytes, audit.max_file_bytes, audit.keep_files. */
#define IG_AUDIT_MAX_FIELD_DEFAULT 8192
#define IG_AUDIT_MAX_FILE_DEFAULT (100ull << 20)
#define IG_AUDIT_KEEP_FILES_DEFAULT 5

/* Opens (append, O_CLOEXEC, 0640, creates the file) the audit log; a NULL path disables
 * auditing (every write then succeeds without writing). fsync always/interval need a
 * regular file. Starts the writer thread. -1 + err when the file cannot be opened or the
 * log is already open. */
int ig_audit_open(const char *path, ig_fsync mode, char *err, size_t errlen);

/* Bound of the queue of ig_audit_post (default IG_AUDIT_QUEUE_DEFAULT); takes effect at
 * the next ig_audit_open. 0 restores the default. */
void ig_audit_set_queue_limit(size_t n);

/* Bounds, live (the next record / the next write): every text field of a record is kept up
 * to max_statement_bytes bytes of JSON output (0 = the default); the file is rotated
 * before a write would take it past max_file_bytes (0 = never): path -> path.1 -> ... ->
 * path.keep_files, the oldest removed, so the log never takes more than
 * max_file_bytes * (keep_files + 1) bytes (a single record larger than max_file_bytes,
 * impossible with the field bound, would be written to a fresh file anyway). */
void ig_audit_set_limits(size_t max_statement_bytes, uint64_t max_file_bytes, int keep_files);

/* Durable write of one event, BLOCKING (thread-pool threads; several at once). One line,
 * one write(2) under a mutex; fdatasync before returning with fsync=always. 0, or -1 +
 * err (the caller then refuses the import); a failed write leaves no partial line and no
 * record of the event. Steals the reference to ev (NULL ev: -1, out of memory). */
int ig_audit_write(json_t *ev, char *err, size_t errlen);

/* Non-blocking: queues an event that gates nothing (import.result, bypass.suspect,
 * admin.*). When the queue is full the event is dropped and counted. Steals ev. */
void ig_audit_post(json_t *ev);

/* Reopens the file at the same path (SIGHUP, log rotation). Safe from any thread. On
 * failure the old file stays in use and -1 + err is returned. */
int ig_audit_reopen(char *err, size_t errlen);
/* The same, moving to another path (a reload changed audit.path); NULL = the same path.
 * The fsync mode, and turning the log on or off, take a restart. */
int ig_audit_reopen_at(const char *path, char *err, size_t errlen);

/* Flushes the queue, joins the writer, syncs (unless fsync=off) and closes. Idempotent. */
void ig_audit_close(void);

typedef struct ig_audit_stats {
	uint64_t written, failed, dropped, fsyncs;
	uint64_t rotations, bytes; /* files rotated, bytes appended */
	uint64_t queued; /* events waiting in the queue now */
} ig_audit_stats;
void ig_audit_stats_get(ig_audit_stats *s);

#endif
