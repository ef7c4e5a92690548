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
#include "proxy/auditfield.h"
#include "proxy/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WRITER_BATCH 64
/* How long an append waits for another writer's lock (see lock_file). */
#define FILE_LOCK_WAIT_MS 2000

typedef enum { AUDIT_CLOSED, AUDIT_DISABLED, AUDIT_OPEN } audit_state;

static struct {
	/* the file: under wlock */
	pthread_mutex_t wlock;
	int fd;
	int lockfd;              /* path.lock, the writers' lock (lock_file); -1: none */
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
	.lockfd = -1,
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

/* The writers' lock. The gateway and an `importgate lightning run` started with its
 * configuration append to the same file; each append holds an exclusive flock(2) on
 * path.lock meanwhile, so nobody else appends, rotates or cuts the file back until it is
 * done: a failed write's cut-back (append_held) removes only its own bytes and two writers
 * never both rotate. A separate file, created 0600, rather than the log itself: a reader of
 * the log (0640) could otherwise take the lock and stall the writers. -1 (no lock) for a
 * log that is not a regular file (nothing is cut back or rotated there) or a lock file that
 * cannot be opened (warned about: written unlocked, one writer assumed). */
static int open_lock(const char *path)
{
	char lp[4200];
	struct stat st;
	int fd;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return -1;
	snprintf(lp, sizeof lp, "%s.lock", path);
	fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno != ENOENT) /* ENOENT: no directory, and opening the log says so */
		warn_limited(&A.last_fail_warn, "importgate: audit: cannot open the writers' lock %s (%s): "
		             "writing unlocked\n", lp, strerror(errno));
	return fd;
}

/* Waits at most FILE_LOCK_WAIT_MS for another holder (one normally holds it for a write or
 * a sync): a writer stopped while holding it costs a refused record, not a stalled gateway. */
static int lock_file(int lockfd, const char *path, char *err, size_t errlen)
{
	struct timespec ms = { 0, 1000000 };

	if (lockfd < 0)
		return 0;
	for (int waited = 0;;) {
		if (flock(lockfd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			warn_limited(&A.last_fail_warn, "importgate: audit: %s.lock: cannot lock it (%s); writing "
			             "unlocked\n", path, strerror(errno));
			return 0;
		}
		if (waited++ >= FILE_LOCK_WAIT_MS) {
			snprintf(err, errlen, "audit log %s: another process has held its lock (%s.lock) for %d ms", path,
			         path, FILE_LOCK_WAIT_MS);
			return -1;
		}
		nanosleep(&ms, NULL);
	}
}

static void unlock_file(int lockfd)
{
	if (lockfd >= 0)
		flock(lockfd, LOCK_UN);
}

/* A file whose last line was cut (a crash mid-write, or a torn tail after power loss) gets
 * a '\n' first, so our first record is not glued to the torn one. Under the writers' lock:
 * a line another writer is still writing is not a torn one; without the lock (held too long
 * by another) the file is left as it is. */
static int terminate_last_line(int fd, const char *path, int lockfd, char *err, size_t errlen)
{
	char eb[128], last = '\n', sub[256];
	struct stat st;
	int rfd, rc = 0;

	if (lock_file(lockfd, path, sub, sizeof sub) < 0)
		return 0;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		/* our fd is write-only; a file we may append to but not read is left as it is */
		rfd = open(path, O_RDONLY | O_CLOEXEC);
		if (rfd >= 0) {
			if (pread(rfd, &last, 1, st.st_size - 1) != 1)
				last = '\n';
			close(rfd);
		}
		if (last != '\n' && write(fd, "\n", 1) != 1) {
			snprintf(err, errlen, "cannot terminate the last line of audit log %s: %s", path,
			         errstr(errno, eb, sizeof eb));
			rc = -1;
		}
	}
	unlock_file(lockfd);
	return rc;
}

/* Opens path for appending, its last line terminated (terminate_last_line, under lockfd). */
static int open_file(const char *path, ig_fsync mode, int lockfd, char *err, size_t errlen)
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
	if (S_ISREG(st.st_mode) && terminate_last_line(fd, path, lockfd, err, errlen) < 0) {
		close(fd);
		return -1;
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
	int fd = open_file(A.path, A.mode, -1, sub, sizeof sub); /* the lock is ours already */

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
	fd = open_file(A.path, A.mode, -1, err, errlen); /* the lock is ours already */
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

/* wlock held. Our file is now the file at A.path, written by another process that
 * rotated it (or by an operator's rotation): what we wrote to the old one is made durable
 * before we let go of it, as a reopen does. -1 when the new file cannot be opened (the
 * current one stays in use). */
static int follow_locked(void)
{
	char sub[384];
	int fd = open_file(A.path, A.mode, -1, sub, sizeof sub); /* the lock is ours already */

	if (fd < 0) {
		warn_limited(&A.last_fail_warn, "importgate: audit: %s%s\n", sub, " (still writing the current file)");
		return -1;
	}
	if (A.dirty && A.mode != IG_FSYNC_OFF && sync_locked(sub, sizeof sub) < 0)
		warn_limited(&A.last_fail_warn, "importgate: audit: %s%s\n", sub, " (the file left behind)");
	close(A.fd);
	A.fd = fd;
	A.dirty = false;
	return 0;
}

/* wlock held. Takes the writers' lock (lock_file) and makes sure A.fd is still the file at
 * A.path: a deleted file is recreated there; a file another writer rotated away (the path
 * names a new file) is left for the new one. A path that names nothing (an external
 * rotation's rename, before its SIGHUP) keeps the current file, as docs/AUDIT.md says. On
 * success the caller holds the lock until unlock_file. */
static int hold_file_locked(char *err, size_t errlen)
{
	char eb[128];
	struct stat fs, ps;

	if (lock_file(A.lockfd, A.path, err, errlen) < 0)
		return -1;
	for (int moves = 0; moves < 4; moves++) {
		if (fstat(A.fd, &fs) < 0) {
			snprintf(err, errlen, "audit log %s: fstat failed: %s", A.path, errstr(errno, eb, sizeof eb));
			unlock_file(A.lockfd);
			return -1;
		}
		if (!S_ISREG(fs.st_mode))
			break;
		if (fs.st_nlink == 0) {
			if (recreate_locked(err, errlen) < 0) {
				unlock_file(A.lockfd);
				return -1;
			}
			continue;
		}
		if (stat(A.path, &ps) < 0 || (ps.st_dev == fs.st_dev && ps.st_ino == fs.st_ino))
			break;
		if (follow_locked() < 0)
			break;
	}
	return 0;
}

/* wlock held, the writers' lock too. Appends one complete line (handling short writes). On
 * failure the file is cut back to its size before the write, so it still ends with a
 * complete line; with `durable` and fsync=always the line is also synced, and a failed sync
 * removes it too (the caller refuses the import: no record may say it was let through). */
static int append_held(const char *line, size_t n, bool durable, char *err, size_t errlen)
{
	char eb[128];
	struct stat st;
	off_t before = -1;
	size_t off = 0;
	int e = 0;

	if (fstat(A.fd, &st) < 0) {
		snprintf(err, errlen, "audit log %s: fstat failed: %s", A.path, errstr(errno, eb, sizeof eb));
		return -1;
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

/* wlock held. One line appended under the file's lock (hold_file_locked, append_held). */
static int append_locked(const char *line, size_t n, bool durable, char *err, size_t errlen)
{
	int rc;

	if (A.fd < 0) { /* a write racing ig_audit_close */
		snprintf(err, errlen, "audit log is closed");
		return -1;
	}
	if (hold_file_locked(err, errlen) < 0)
		return -1;
	rc = append_held(line, n, durable, err, errlen);
	unlock_file(A.lockfd);
	return rc;
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
	pthread_setname_np(pthread_self(), "ig-audit"); /* its name in top -H, ps -L, perf */
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
	ig_audit_field_limit(max_statement_bytes);
	atomic_store(&A.max_file, max_file_bytes);
	atomic_store(&A.keep_files, keep_files < 0 ? 0 : keep_files);
}

int ig_audit_open(const char *path, ig_fsync mode, char *err, size_t errlen)
{
	pthread_condattr_t ca;
	size_t cap = atomic_load(&A.qlimit);
	int fd, lockfd;

	if (atomic_load(&A.state) != AUDIT_CLOSED) {
		snprintf(err, errlen, "audit log is already open");
		return -1;
	}
	if (!path) {
		atomic_store(&A.state, AUDIT_DISABLED);
		return 0;
	}
	lockfd = open_lock(path);
	fd = open_file(path, mode, lockfd, err, errlen);
	if (fd < 0) {
		if (lockfd >= 0)
			close(lockfd);
		return -1;
	}
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
	A.lockfd = lockfd;
	A.mode = mode;
	A.dirty = false;
	A.qhead = A.qlen = 0;
	A.stop = false;
	if (pthread_create(&A.writer, NULL, writer_main, NULL) != 0) {
		pthread_cond_destroy(&A.qcond);
		A.fd = A.lockfd = -1;
		snprintf(err, errlen, "audit log %s: cannot start the writer thread", path);
		goto fail;
	}
	A.writer_running = true;
	atomic_store(&A.state, AUDIT_OPEN);
	return 0;
fail:
	close(fd);
	if (lockfd >= 0)
		close(lockfd);
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
	int fd, lockfd, rc = 0;

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
	/* the lock file opened again too: a new path's, or ours if it was deleted meanwhile */
	lockfd = open_lock(newpath ? newpath : A.path);
	fd = open_file(newpath ? newpath : A.path, A.mode, lockfd, err, errlen);
	if (fd < 0) {
		if (lockfd >= 0)
			close(lockfd);
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
	if (A.lockfd >= 0)
		close(A.lockfd);
	A.lockfd = lockfd;
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
	if (A.lockfd >= 0)
		close(A.lockfd);
	A.lockfd = -1;
	free(A.path);
	A.path = NULL;
	pthread_mutex_unlock(&A.wlock);
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
