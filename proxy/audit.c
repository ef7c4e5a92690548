/*
 * audit.c - the durable audit log: one JSON object per line, appended to one file.
 * Owns the file descriptor (open, reopen on SIGHUP, recreate when deleted), the write
 * path that never leaves a partial line, the bounded queue of informational events and
 * the writer thread that drains it and, for fsync=interval, syncs at most once a second.
 *
 * Locks: `wlock` guards the file (fd, dirty bytes, every write(2)/ftruncate/fdatasync);
 * `qlock` guards the queue and the writer's wake-ups. Neither is taken while holding the
 * other, so there is no lock order to get wrong. `dirty` is atomic so the writer can look
 * at it under qlock alone.
 */
#include "proxy/audit.h"
#include "proxy/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "sqlparse/sqlparse.h"

#define WRITER_BATCH 64

typedef enum { AUDIT_CLOSED, AUDIT_DISABLED, AUDIT_OPEN } audit_state;

static struct {
	/* the file: under wlock */
	pthread_mutex_t wlock;
	int fd;
	char *path;
	ig_fsync mode;
	_Atomic bool dirty;      /* bytes written since the last fdatasync (read unlocked by the writer) */

	/* the queue and the writer: under qlock */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;    /* CLOCK_MONOTONIC; signalled on post, stop, and interval dirt */
	json_t **q;
	size_t qcap, qhead, qlen;
	bool stop, writer_running;
	pthread_t writer;

	/* bounds (ig_audit_set_limits; live) */
	_Atomic size_t max_field;     /* audit.max_statement_bytes */
	_Atomic uint64_t max_file;    /* audit.max_file_bytes, 0 = never rotate */
	_Atomic int keep_files;       /* audit.keep_files */
	_Atomic uint64_t rotations, bytes;

	_Atomic int state;       /* audit_state; changed only by open/close */
	_Atomic size_t qlimit;   /* for the next open */
	_Atomic uint64_t written, failed, dropped, fsyncs;
	_Atomic int64_t last_drop_warn, last_fail_warn;
} A = {
	.wlock = PTHREAD_MUTEX_INITIALIZER,
	.qlock = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
	.max_field = IG_AUDIT_MAX_FIELD_DEFAULT,
	.max_file = IG_AUDIT_MAX_FILE_DEFAULT,
	.keep_files = IG_AUDIT_KEEP_FILES_DEFAULT,
};

/* Every outcome is counted twice: for ig_audit_stats_get, and as a Prometheus metric. */
static void count(_Atomic uint64_t *c, ig_metric_id id)
{
	atomic_fetch_add(c, 1);
	ig_metric_inc(id);
}

/* ---- small helpers ---- */

static const char *errstr(int e, char *buf, size_t n)
{
	return strerror_r(e, buf, n); /* GNU variant (_GNU_SOURCE) */
}

static int64_t mono_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* stderr, one write(2) per message, at most once a second per kind: a full disk or a
 * flood of drops must not turn into a flood of warnings. */
static void warn_limited(_Atomic int64_t *last, const char *fmt, const char *a, const char *b)
{
	char msg[512];
	int64_t now = mono_sec(), prev = atomic_load(last);
	int n;

	if (prev == now || !atomic_compare_exchange_strong(last, &prev, now))
		return;
	n = snprintf(msg, sizeof msg, fmt, a, b);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof msg)
		n = sizeof msg - 1;
	if (write(STDERR_FILENO, msg, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}

static const char *space_hint(int e)
{
	switch (e) {
	case ENOSPC: return " (disk full)";
	case EDQUOT: return " (disk quota exceeded)";
	case EFBIG: return " (file size limit reached)";
	case EACCES:
	case EPERM: return " (permission denied)";
	case EIO: return " (I/O error)";
	default: return "";
	}
}

/* ---- the file ---- */

/* Opens path for appending. A file whose last line was cut (a crash mid-write before
 * this module existed, or a torn tail after power loss) gets a '\n' first, so our first
 * record is not glued to the torn one. */
static int open_file(const char *path, ig_fsync mode, char *err, size_t errlen)
{
	char eb[128];
	struct stat st;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open audit log %s: %s%s", path, errstr(e, eb, sizeof eb),
		         e == ENOENT ? " (directory does not exist)" : space_hint(e));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot stat audit log %s: %s", path, errstr(errno, eb, sizeof eb));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) && mode != IG_FSYNC_OFF) {
		snprintf(err, errlen, "audit log %s is not a regular file: fsync=%s needs one (use fsync: off)",
		         path, mode == IG_FSYNC_ALWAYS ? "always" : "interval");
		close(fd);
		return -1;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		char last = '\n';
		/* our fd is write-only; a file we may append to but not read is left as it is */
		int rfd = open(path, O_RDONLY | O_CLOEXEC);
		if (rfd >= 0) {
			if (pread(rfd, &last, 1, st.st_size - 1) != 1)
				last = '\n';
			close(rfd);
		}
		if (last != '\n' && write(fd, "\n", 1) != 1) {
			snprintf(err, errlen, "cannot terminate the last line of audit log %s: %s", path,
			         errstr(errno, eb, sizeof eb));
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* wlock held. fdatasync, counted; clears dirty even on failure (the bytes are then in an
 * unknown state: retrying the same sync would not make them durable). */
static int sync_locked(char *err, size_t errlen)
{
	char eb[128];

	A.dirty = false;
	if (fdatasync(A.fd) < 0) {
		int e = errno;
		snprintf(err, errlen, "audit log %s: fdatasync failed: %s%s", A.path, errstr(e, eb, sizeof eb),
		         space_hint(e));
		return -1;
	}
	atomic_fetch_add(&A.fsyncs, 1);
	return 0;
}

/* wlock held. The file was deleted under us (st_nlink 0): records written to it would be
 * lost, so write to a new file at the same path instead. */
static int recreate_locked(char *err, size_t errlen)
{
	char sub[384];
	int fd = open_file(A.path, A.mode, sub, sizeof sub);

	if (fd < 0) {
		snprintf(err, errlen, "audit log %s was deleted and cannot be recreated: %s", A.path, sub);
		return -1;
	}
	close(A.fd);
	A.fd = fd;
	A.dirty = false;
	return 0;
}

/* wlock held. path.N is the oldest kept file, path.1 the newest. Renames path.(k-1) to
 * path.k from the oldest down (the oldest is overwritten by the rename: removed), path to
 * path.1 (or unlinks path when no file is kept), then opens a new path. The old file is
 * synced first (unless fsync: off) so rotation never loses what was acknowledged. -1 + err
 * when the new file cannot be opened (the old one then stays in use). */
static int rotate_locked(char *err, size_t errlen)
{
	char from[4200], to[4200], sub[384];
	int keep = atomic_load(&A.keep_files), fd;

	if (A.dirty && A.mode != IG_FSYNC_OFF && sync_locked(sub, sizeof sub) < 0)
		warn_limited(&A.last_fail_warn, "importgate: audit: rotating: %s%s\n", sub, "");
	if (keep <= 0) {
		if (unlink(A.path) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "audit log %s: cannot remove it to rotate: %s", A.path, strerror(errno));
			return -1;
		}
	} else {
		for (int k = keep; k >= 2; k--) {
			snprintf(from, sizeof from, "%s.%d", A.path, k - 1);
			snprintf(to, sizeof to, "%s.%d", A.path, k);
			if (rename(from, to) < 0 && errno != ENOENT) {
				snprintf(err, errlen, "audit log: cannot rename %.200s to %.200s: %s", from, to, strerror(errno));
				return -1;
			}
		}
		snprintf(to, sizeof to, "%s.1", A.path);
		if (rename(A.path, to) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "audit log: cannot rename %.200s to %.200s: %s", A.path, to, strerror(errno));
			return -1;
		}
	}
	fd = open_file(A.path, A.mode, err, errlen);
	if (fd < 0)
		return -1;
	close(A.fd);
	A.fd = fd;
	A.dirty = false;
	count(&A.rotations, IG_M_AUDIT_ROTATIONS);
	return 0;
}

/* wlock held. Rotates when appending n bytes to a non-empty regular file of `size` bytes
 * would pass audit.max_file_bytes. A failed rotation is warned about and the record goes to
 * the current file (refusing every import for a rename that failed would be worse); the
 * next record tries again. 1 when the file changed (the caller fstats again). */
static int maybe_rotate_locked(off_t size, size_t n)
{
	uint64_t max = atomic_load(&A.max_file);
	char err[512];

	if (max == 0 || size <= 0 || (uint64_t)size + n <= max)
		return 0;
	if (rotate_locked(err, sizeof err) < 0) {
		warn_limited(&A.last_fail_warn, "importgate: audit: %s%s\n", err, " (still writing the current file)");
		return 0;
	}
	return 1;
}

/* wlock held. Appends one complete line (handling short writes). On failure the file is
 * cut back to its size before the write, so it still ends with a complete line; with
 * `durable` and fsync=always the line is also synced, and a failed sync removes it too
 * (the caller refuses the import: no record may say it was let through). */
static int append_locked(const char *line, size_t n, bool durable, char *err, size_t errlen)
{
	char eb[128];
	struct stat st;
	off_t before = -1;
	size_t off = 0;
	int e = 0;

	if (A.fd < 0) { /* a write racing ig_audit_close */
		snprintf(err, errlen, "audit log is closed");
		return -1;
	}
	if (fstat(A.fd, &st) < 0) {
		snprintf(err, errlen, "audit log %s: fstat failed: %s", A.path, errstr(errno, eb, sizeof eb));
		return -1;
	}
	if (S_ISREG(st.st_mode) && st.st_nlink == 0) {
		if (recreate_locked(err, errlen) < 0)
			return -1;
		if (fstat(A.fd, &st) < 0) {
			snprintf(err, errlen, "audit log %s: fstat failed: %s", A.path, errstr(errno, eb, sizeof eb));
			return -1;
		}
	}
	if (S_ISREG(st.st_mode) && maybe_rotate_locked(st.st_size, n) == 1 && fstat(A.fd, &st) < 0) {
		snprintf(err, errlen, "audit log %s: fstat failed: %s", A.path, errstr(errno, eb, sizeof eb));
		return -1;
	}
	if (S_ISREG(st.st_mode))
		before = st.st_size;

	while (off < n) {
		ssize_t w = write(A.fd, line + off, n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			break;
		}
		if (w == 0) {
			e = EIO;
			break;
		}
		off += (size_t)w;
	}
	if (e == 0 && durable && A.mode == IG_FSYNC_ALWAYS) {
		A.dirty = true;
		if (sync_locked(err, errlen) == 0) {
			atomic_fetch_add(&A.bytes, n);
			ig_metric_add(IG_M_AUDIT_BYTES, n);
			return 0;
		}
		if (before >= 0 && ftruncate(A.fd, before) == 0)
			return -1;
		if (before >= 0) {
			size_t l = strlen(err);
			snprintf(err + l, errlen - l, "; the unsynced record could not be removed");
		}
		return -1;
	}
	if (e == 0) {
		A.dirty = true;
		atomic_fetch_add(&A.bytes, n);
		ig_metric_add(IG_M_AUDIT_BYTES, n);
		return 0;
	}
	if (before >= 0 && off > 0 && ftruncate(A.fd, before) < 0) {
		char eb2[128];
		snprintf(err, errlen, "audit log %s: write failed after %zu of %zu bytes: %s%s; removing the partial "
		         "line failed too: %s", A.path, off, n, errstr(e, eb, sizeof eb), space_hint(e),
		         errstr(errno, eb2, sizeof eb2));
		return -1;
	}
	snprintf(err, errlen, "audit log %s: write failed: %s%s", A.path, errstr(e, eb, sizeof eb), space_hint(e));
	return -1;
}

/* The line of ev: compact JSON plus '\n'. jansson escapes control characters inside
 * strings, so the only raw newline is ours. Does not consume ev. */
static char *serialize(json_t *ev, size_t *n)
{
	char *s = json_dumps(ev, JSON_COMPACT);
	size_t l;
	char *line;

	if (!s)
		return NULL;
	l = strlen(s);
	line = realloc(s, l + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[l] = '\n';
	line[l + 1] = '\0';
	*n = l + 1;
	return line;
}

/* ---- the writer thread ---- */

static void wake_writer(void)
{
	pthread_mutex_lock(&A.qlock);
	pthread_cond_signal(&A.qcond);
	pthread_mutex_unlock(&A.qlock);
}

static void write_posted(json_t *ev)
{
	char err[512];
	size_t n = 0;
	char *line = serialize(ev, &n);

	json_decref(ev);
	if (!line) {
		count(&A.failed, IG_M_AUDIT_WRITES_ERROR);
		warn_limited(&A.last_fail_warn, "importgate: audit: %s%s\n", "cannot serialise an event", "");
		return;
	}
	pthread_mutex_lock(&A.wlock);
	if (append_locked(line, n, false, err, sizeof err) == 0) {
		count(&A.written, IG_M_AUDIT_WRITES_OK);
	} else {
		count(&A.failed, IG_M_AUDIT_WRITES_ERROR);
		warn_limited(&A.last_fail_warn, "importgate: audit: %s%s\n", err, " (queued event lost)");
	}
	pthread_mutex_unlock(&A.wlock);
	free(line);
}

/* wlock not held. Syncs when there is something to sync; `force` ignores the interval. */
static void writer_sync(bool force, struct timespec *last)
{
	char err[512];
	struct timespec now;
	int64_t elapsed_ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed_ns = (int64_t)(now.tv_sec - last->tv_sec) * 1000000000 + (now.tv_nsec - last->tv_nsec);
	if (!force && elapsed_ns < 1000000000)
		return;
	pthread_mutex_lock(&A.wlock);
	if (A.dirty && A.fd >= 0) {
		*last = now;
		if (sync_locked(err, sizeof err) < 0) {
			count(&A.failed, IG_M_AUDIT_WRITES_ERROR);
			warn_limited(&A.last_fail_warn, "importgate: audit: %s%s\n", err, "");
		}
	}
	pthread_mutex_unlock(&A.wlock);
}

/* qlock held. Waits for work: an event, stop, or (interval) a second after the last sync
 * when there are unsynced bytes. */
static void writer_wait(const struct timespec *last)
{
	while (A.qlen == 0 && !A.stop) {
		if (A.mode == IG_FSYNC_INTERVAL && atomic_load(&A.dirty)) {
			struct timespec deadline = { last->tv_sec + 1, last->tv_nsec }, now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > deadline.tv_sec ||
			    (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
				return;
			pthread_cond_timedwait(&A.qcond, &A.qlock, &deadline);
		} else {
			pthread_cond_wait(&A.qcond, &A.qlock);
		}
	}
}

static void *writer_main(void *arg)
{
	json_t *batch[WRITER_BATCH];
	struct timespec last;
	(void)arg;

	clock_gettime(CLOCK_MONOTONIC, &last);
	pthread_mutex_lock(&A.qlock);
	for (;;) {
		size_t n = 0;
		bool done;

		writer_wait(&last);
		while (n < WRITER_BATCH && A.qlen > 0) {
			batch[n++] = A.q[A.qhead];
			A.qhead = (A.qhead + 1) % A.qcap;
			A.qlen--;
		}
		done = A.stop && A.qlen == 0;
		pthread_mutex_unlock(&A.qlock);

		for (size_t i = 0; i < n; i++)
			write_posted(batch[i]);
		if (A.mode == IG_FSYNC_ALWAYS && n > 0)
			writer_sync(true, &last);
		else if (A.mode == IG_FSYNC_INTERVAL)
			writer_sync(false, &last);
		if (done)
			break;
		pthread_mutex_lock(&A.qlock);
	}
	if (A.mode != IG_FSYNC_OFF)
		writer_sync(true, &last);
	return NULL;
}

/* ---- public API ---- */

void ig_audit_set_queue_limit(size_t n)
{
	atomic_store(&A.qlimit, n);
}

void ig_audit_set_limits(size_t max_statement_bytes, uint64_t max_file_bytes, int keep_files)
{
	atomic_store(&A.max_field, max_statement_bytes ? max_statement_bytes : IG_AUDIT_MAX_FIELD_DEFAULT);
	atomic_store(&A.max_file, max_file_bytes);
	atomic_store(&A.keep_files, keep_files < 0 ? 0 : keep_files);
}

int ig_audit_open(const char *path, ig_fsync mode, char *err, size_t errlen)
{
	pthread_condattr_t ca;
	size_t cap = atomic_load(&A.qlimit);
	int fd;

	if (atomic_load(&A.state) != AUDIT_CLOSED) {
		snprintf(err, errlen, "audit log is already open");
		return -1;
	}
	if (!path) {
		atomic_store(&A.state, AUDIT_DISABLED);
		return 0;
	}
	fd = open_file(path, mode, err, errlen);
	if (fd < 0)
		return -1;
	A.path = strdup(path);
	A.qcap = cap ? cap : IG_AUDIT_QUEUE_DEFAULT;
	A.q = calloc(A.qcap, sizeof *A.q);
	if (!A.path || !A.q) {
		snprintf(err, errlen, "audit log %s: out of memory", path);
		goto fail;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&A.qcond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		snprintf(err, errlen, "audit log %s: cannot create a condition variable", path);
		goto fail;
	}
	pthread_condattr_destroy(&ca);
	A.fd = fd;
	A.mode = mode;
	A.dirty = false;
	A.qhead = A.qlen = 0;
	A.stop = false;
	if (pthread_create(&A.writer, NULL, writer_main, NULL) != 0) {
		pthread_cond_destroy(&A.qcond);
		A.fd = -1;
		snprintf(err, errlen, "audit log %s: cannot start the writer thread", path);
		goto fail;
	}
	A.writer_running = true;
	atomic_store(&A.state, AUDIT_OPEN);
	return 0;
fail:
	close(fd);
	free(A.path);
	free(A.q);
	A.path = NULL;
	A.q = NULL;
	return -1;
}

int ig_audit_write(json_t *ev, char *err, size_t errlen)
{
	size_t n = 0;
	char *line;
	int rc;

	switch ((audit_state)atomic_load(&A.state)) {
	case AUDIT_DISABLED:
		json_decref(ev);
		return 0;
	case AUDIT_CLOSED:
		json_decref(ev);
		snprintf(err, errlen, "audit log is not open");
		count(&A.failed, IG_M_AUDIT_WRITES_ERROR);
		return -1;
	case AUDIT_OPEN:
		break;
	}
	if (!ev) {
		snprintf(err, errlen, "audit log %s: out of memory building the event", A.path);
		count(&A.failed, IG_M_AUDIT_WRITES_ERROR);
		return -1;
	}
	line = serialize(ev, &n);
	json_decref(ev);
	if (!line) {
		snprintf(err, errlen, "audit log %s: cannot serialise the event (out of memory)", A.path);
		count(&A.failed, IG_M_AUDIT_WRITES_ERROR);
		return -1;
	}
	pthread_mutex_lock(&A.wlock);
	rc = append_locked(line, n, true, err, errlen);
	pthread_mutex_unlock(&A.wlock);
	free(line);
	if (rc < 0) {
		count(&A.failed, IG_M_AUDIT_WRITES_ERROR);
		return -1;
	}
	count(&A.written, IG_M_AUDIT_WRITES_OK);
	/* interval: the writer sleeps untimed while nothing is dirty; tell it there is now.
	 * dirty was set before we take qlock to signal, so the wake-up cannot be lost. */
	if (A.mode == IG_FSYNC_INTERVAL)
		wake_writer();
	return 0;
}

void ig_audit_post(json_t *ev)
{
	bool queued = false;

	if (!ev)
		return;
	if (atomic_load(&A.state) == AUDIT_DISABLED) {
		json_decref(ev);
		return;
	}
	pthread_mutex_lock(&A.qlock);
	if (atomic_load(&A.state) == AUDIT_OPEN && !A.stop && A.qlen < A.qcap) {
		A.q[(A.qhead + A.qlen) % A.qcap] = ev;
		A.qlen++;
		queued = true;
		pthread_cond_signal(&A.qcond);
	}
	pthread_mutex_unlock(&A.qlock);
	if (queued)
		return;
	json_decref(ev);
	count(&A.dropped, IG_M_AUDIT_DROPPED);
	warn_limited(&A.last_drop_warn, "importgate: audit: queue full or log closed, informational event dropped%s%s\n",
	             "", "");
}

int ig_audit_reopen(char *err, size_t errlen)
{
	return ig_audit_reopen_at(NULL, err, errlen);
}

int ig_audit_reopen_at(const char *path, char *err, size_t errlen)
{
	char sub[384], *newpath = NULL;
	int fd, rc = 0;

	pthread_mutex_lock(&A.wlock);
	if (atomic_load(&A.state) != AUDIT_OPEN) {
		pthread_mutex_unlock(&A.wlock);
		if (atomic_load(&A.state) == AUDIT_DISABLED)
			return 0;
		snprintf(err, errlen, "audit log is not open");
		return -1;
	}
	if (path && strcmp(path, A.path) != 0 && !(newpath = strdup(path))) {
		pthread_mutex_unlock(&A.wlock);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fd = open_file(newpath ? newpath : A.path, A.mode, err, errlen);
	if (fd < 0) {
		free(newpath);
		pthread_mutex_unlock(&A.wlock);
		return -1;
	}
	/* what went to the old file is made durable before we let go of it */
	if (A.dirty && A.mode != IG_FSYNC_OFF && sync_locked(sub, sizeof sub) < 0) {
		snprintf(err, errlen, "reopened, but syncing the previous file failed: %s", sub);
		count(&A.failed, IG_M_AUDIT_WRITES_ERROR);
		rc = -1;
	}
	close(A.fd);
	A.fd = fd;
	A.dirty = false;
	if (newpath) {
		free(A.path);
		A.path = newpath;
	}
	pthread_mutex_unlock(&A.wlock);
	return rc;
}

void ig_audit_close(void)
{
	int st = atomic_load(&A.state);

	if (st == AUDIT_DISABLED) {
		atomic_store(&A.state, AUDIT_CLOSED);
		return;
	}
	if (st != AUDIT_OPEN)
		return;
	pthread_mutex_lock(&A.qlock);
	A.stop = true;
	pthread_cond_signal(&A.qcond);
	pthread_mutex_unlock(&A.qlock);
	if (A.writer_running)
		pthread_join(A.writer, NULL);
	A.writer_running = false;

	pthread_mutex_lock(&A.qlock);
	atomic_store(&A.state, AUDIT_CLOSED); /* before the fd goes: late writers see "not open" */
	free(A.q);
	A.q = NULL;
	A.qcap = A.qlen = A.qhead = 0;
	pthread_mutex_unlock(&A.qlock);
	pthread_cond_destroy(&A.qcond);

	pthread_mutex_lock(&A.wlock);
	close(A.fd);
	A.fd = -1;
	free(A.path);
	A.path = NULL;
	pthread_mutex_unlock(&A.wlock);
}

json_t *ig_audit_event(const char *event)
{
	char ts[40];
	struct timespec now;
	struct tm tm;
	json_t *ev;

	clock_gettime(CLOCK_REALTIME, &now);
	if (!gmtime_r(&now.tv_sec, &tm))
		return NULL;
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), sizeof ts - strlen(ts), ".%06ldZ", now.tv_nsec / 1000);
	ev = json_object();
	if (!ev)
		return NULL;
	if (json_object_set_new(ev, "ts", json_string(ts)) < 0 ||
	    json_object_set_new(ev, "event", json_string(event ? event : "")) < 0) {
		json_decref(ev);
		return NULL;
	}
	return ev;
}

/* A brie.import.* event (docs/AUDIT.md): what identifies a /tidb/brie/import/ registration.
 * The texts come from etcd: bounded and made valid UTF-8 like any other field. */
json_t *ig_audit_brie_event(const char *event, const char *kind, const char *task, const char *key)
{
	json_t *ev = ig_audit_event(event);

	if (ev && (ig_audit_set_string(ev, "kind", kind, strlen(kind)) < 0 ||
	           ig_audit_set_string(ev, "task", task, strlen(task)) < 0 ||
	           ig_audit_set_string(ev, "key", key, strlen(key)) < 0)) {
		json_decref(ev);
		return NULL;
	}
	return ev;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one (overlong,
 * surrogate, beyond U+10FFFF, truncated): jansson refuses such strings. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A json string of s with each invalid byte replaced by U+FFFD. */
static json_t *json_sanitized(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char *buf;
	size_t o = 0;
	json_t *v;

	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	buf = malloc(len * 3 + 1);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_seq(u + i, len - i);
		if (k == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(buf + o, s + i, k);
			o += k;
			i += k;
		}
	}
	v = json_stringn(buf, o);
	free(buf);
	return v;
}

/* ---- bounded fields ----
 * Every text field is kept up to audit.max_statement_bytes bytes of JSON output: a byte
 * is counted as what it can cost once escaped (a control byte 6, '"' and '\' 2, a byte
 * >= 0x80 3, as U+FFFD if it is not valid UTF-8), so no input can multiply the record. The
 * text arrives in pieces (the redactor streams); only the kept prefix is held in memory,
 * the rest is counted and hashed. */

#define TRUNC_MARK "...[truncated]"

typedef struct bounded {
	char *buf;
	size_t n, cost, max;
	uint64_t total;    /* bytes offered */
	bool truncated, oom;
	EVP_MD_CTX *md;    /* SHA-256 of everything offered, or NULL */
} bounded;

static size_t esc_cost(unsigned char c)
{
	if (c < 0x20)
		return 6;
	if (c == '"' || c == '\\')
		return 2;
	return c >= 0x80 ? 3 : 1;
}

static int bounded_init(bounded *b, bool hash)
{
	size_t max = atomic_load(&A.max_field);

	memset(b, 0, sizeof *b);
	b->max = max > sizeof TRUNC_MARK + 8 ? max - sizeof TRUNC_MARK - 8 : 16;
	b->buf = malloc(b->max + 1);
	if (!b->buf)
		return -1;
	if (hash) {
		b->md = EVP_MD_CTX_new();
		if (!b->md || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
			EVP_MD_CTX_free(b->md);
			free(b->buf);
			return -1;
		}
	}
	return 0;
}

static void bounded_put(void *ctx, const char *p, size_t n)
{
	bounded *b = ctx;

	b->total += n;
	if (b->md && EVP_DigestUpdate(b->md, p, n) != 1)
		b->oom = true;
	for (size_t i = 0; i < n && !b->truncated; i++) {
		size_t c = esc_cost((unsigned char)p[i]);
		if (b->cost + c > b->max) {
			b->truncated = true;
			break;
		}
		b->cost += c;
		b->buf[b->n++] = p[i];
	}
}

/* The kept text as a json string (with the truncation mark when cut); NULL on OOM. */
static json_t *bounded_json(bounded *b)
{
	if (b->truncated) {
		/* do not end inside a UTF-8 sequence: it would become U+FFFD */
		size_t k = b->n, back = 0;
		while (k > 0 && back < 3 && ((unsigned char)b->buf[k - 1] & 0xc0) == 0x80)
			k--, back++;
		if (k > 0 && (unsigned char)b->buf[k - 1] >= 0xc0)
			b->n = k - 1;
		char *g = realloc(b->buf, b->n + sizeof TRUNC_MARK);
		if (!g)
			return NULL;
		b->buf = g;
		memcpy(b->buf + b->n, TRUNC_MARK, sizeof TRUNC_MARK - 1);
		b->n += sizeof TRUNC_MARK - 1;
	}
	return json_sanitized(b->buf, b->n);
}

static void bounded_free(bounded *b)
{
	free(b->buf);
	EVP_MD_CTX_free(b->md);
	b->buf = NULL;
	b->md = NULL;
}

static int set_bounded(json_t *ev, const char *key, const char *s, size_t len)
{
	bounded b;
	json_t *v;

	if (bounded_init(&b, false) < 0)
		return -1;
	bounded_put(&b, s, len);
	v = bounded_json(&b);
	bounded_free(&b);
	if (!v)
		return -1;
	return json_object_set_new(ev, key, v);
}

int ig_audit_set_string(json_t *ev, const char *key, const char *s, size_t len)
{
	if (!ev || !key || (!s && len))
		return -1;
	return set_bounded(ev, key, s ? s : "", len);
}

int ig_audit_set_text(json_t *ev, const char *key, const char *s, size_t len)
{
	char *r;
	int rc;

	if (!ev || !key || (!s && len))
		return -1;
	r = sql_redact_text(s ? s : "", len);
	if (!r)
		return -1;
	rc = set_bounded(ev, key, r, strlen(r));
	free(r);
	return rc;
}

/* The redacted statement streamed into a bounded field: key (kept prefix), key_bytes
 * (original length), key_sha256 (SHA-256 of the whole redacted text: a hash of the raw
 * text would let whoever reads the log confirm a guessed credential) and key_truncated. */
static int set_statement_field(json_t *ev, const char *key, const char *sql, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1], k2[64];
	bounded b;
	json_t *v;
	int rc = -1;

	if (bounded_init(&b, true) < 0)
		return -1;
	if (sql_redact_statement_to(sql, len, 0, bounded_put, &b) < 0 || b.oom ||
	    EVP_DigestFinal_ex(b.md, md, &mdlen) != 1)
		goto out;
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[2 * mdlen] = 0;
	if (!(v = bounded_json(&b)) || json_object_set_new(ev, key, v) < 0)
		goto out;
	snprintf(k2, sizeof k2, "%s_bytes", key);
	if (json_object_set_new(ev, k2, json_integer((json_int_t)len)) < 0)
		goto out;
	snprintf(k2, sizeof k2, "%s_sha256", key);
	if (json_object_set_new(ev, k2, json_string(hex)) < 0)
		goto out;
	snprintf(k2, sizeof k2, "%s_truncated", key);
	if (b.truncated && json_object_set_new(ev, k2, json_true()) < 0)
		goto out;
	rc = 0;
out:
	bounded_free(&b);
	return rc;
}

int ig_audit_set_statement(json_t *ev, const char *sql, size_t len)
{
	if (!ev || (!sql && len))
		return -1;
	return set_statement_field(ev, "statement", sql ? sql : "", len);
}

int ig_audit_set_rewrite(json_t *ev, const char *orig, size_t olen, const char *text, size_t tlen)
{
	size_t p = 0, sfx = 0;
	json_t *rw;
	bounded b;
	json_t *v;

	if (!ev || (!orig && olen) || (!text && tlen))
		return -1;
	while (p < olen && p < tlen && orig[p] == text[p])
		p++;
	while (sfx < olen - p && sfx < tlen - p && orig[olen - 1 - sfx] == text[tlen - 1 - sfx])
		sfx++;
	if (bounded_init(&b, false) < 0)
		return -1;
	/* the inserted bytes may hold literals of the original (a logical rewrite): redacted as
	 * a statement, which withholds a piece that starts or ends inside a literal */
	if (sql_redact_statement_to(text + p, tlen - p - sfx, 0, bounded_put, &b) < 0 || !(v = bounded_json(&b))) {
		bounded_free(&b);
		return -1;
	}
	rw = json_object();
	if (!rw || json_object_set_new(rw, "offset", json_integer((json_int_t)p)) < 0 ||
	    json_object_set_new(rw, "removed", json_integer((json_int_t)(olen - p - sfx))) < 0 ||
	    json_object_set_new(rw, "inserted", v) < 0 ||
	    json_object_set_new(rw, "new_bytes", json_integer((json_int_t)tlen)) < 0) {
		if (!rw)
			json_decref(v);
		json_decref(rw);
		bounded_free(&b);
		return -1;
	}
	if (b.truncated)
		json_object_set_new(rw, "inserted_truncated", json_true());
	bounded_free(&b);
	return json_object_set_new(ev, "rewrite", rw);
}

int ig_audit_set_location(json_t *ev, const char *key, const char *uri)
{
	char *r;
	int rc;

	if (!ev || !key || !uri)
		return -1;
	r = sql_redact_uri(uri, strlen(uri));
	if (!r)
		return -1;
	rc = set_bounded(ev, key, r, strlen(r));
	free(r);
	return rc;
}

int ig_audit_set_option(json_t *ev, const char *name, const char *value, size_t len)
{
	json_t *opts, *v;
	char *r = NULL;
	bounded b;

	if (!ev || !name)
		return -1;
	opts = json_object_get(ev, "options");
	if (!opts) {
		opts = json_object();
		if (!opts || json_object_set_new(ev, "options", opts) < 0)
			return -1;
	}
	if (!value) {
		v = json_true();
	} else {
		/* a URI option is parsed as BR parses it; any other value is redacted as free text
		 * (a credential name=value or scheme:// anywhere in it) */
		r = strcasecmp(name, "CLOUD_STORAGE_URI") == 0 ? sql_redact_uri(value, len) : sql_redact_text(value, len);
		if (!r || bounded_init(&b, false) < 0) {
			free(r);
			return -1;
		}
		bounded_put(&b, r, strlen(r));
		v = bounded_json(&b);
		bounded_free(&b);
		free(r);
	}
	if (!v)
		return -1;
	return json_object_set_new(opts, name, v);
}

int ig_audit_set_error(json_t *ev, int code, const char *message)
{
	json_t *e = json_object();

	if (!ev || !e) {
		json_decref(e);
		return -1;
	}
	/* a backend's message may echo the statement (1064 "near '...'", 8xxx quoting the
	 * location): redacted as free text, and bounded */
	if (json_object_set_new(e, "code", json_integer(code)) < 0 ||
	    ig_audit_set_text(e, "message", message ? message : "", message ? strlen(message) : 0) < 0) {
		json_decref(e);
		return -1;
	}
	return json_object_set_new(ev, "error", e);
}

void ig_audit_stats_get(ig_audit_stats *s)
{
	s->written = atomic_load(&A.written);
	s->failed = atomic_load(&A.failed);
	s->dropped = atomic_load(&A.dropped);
	s->fsyncs = atomic_load(&A.fsyncs);
	s->rotations = atomic_load(&A.rotations);
	s->bytes = atomic_load(&A.bytes);
	pthread_mutex_lock(&A.qlock);
	s->queued = A.qlen;
	pthread_mutex_unlock(&A.qlock);
}
