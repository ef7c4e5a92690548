/*
 * test_audit.c - the audit log writer (proxy/audit.c): lines written and read back as
 * JSON, concurrent writers, fsync modes, rotation by rename + reopen, a deleted file, a
 * full file system (RLIMIT_FSIZE in a child), open failures, the bounded queue dropping
 * events, and the redaction helpers. Every test works in its own temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy/audit.h"
#include "proxy/auditfield.h"

/* ---- helpers ---- */

typedef struct fixture {
	char dir[64];
	char path[128];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/igaudit.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof f->path, "%s/audit.jsonl", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];
	ig_audit_close(); /* a failed test must not leave the log open for the next one */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf) {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(fp);
	return buf;
}

/* Every line of text as a JSON object; fails the test on a line that is not one, or on
 * text that does not end with '\n' (a torn record). */
static json_t *parse_lines(const char *text, size_t len)
{
	json_t *arr = json_array();
	size_t start = 0;

	assert_non_null(arr);
	if (len > 0 && text[len - 1] != '\n')
		fail_msg("log does not end with a complete line");
	for (size_t i = 0; i < len; i++) {
		json_error_t je;
		json_t *o;
		if (text[i] != '\n')
			continue;
		o = json_loadb(text + start, i - start, 0, &je);
		if (!o || !json_is_object(o))
			fail_msg("line %zu is not a JSON object: %s: %.80s", json_array_size(arr) + 1, je.text, text + start);
		json_array_append_new(arr, o);
		start = i + 1;
	}
	return arr;
}

static json_t *read_log(const char *path)
{
	size_t len = 0;
	char *t = slurp(path, &len);
	json_t *arr;

	assert_non_null(t);
	arr = parse_lines(t, len);
	free(t);
	return arr;
}

static const char *field(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static json_t *event_n(const char *name, int n)
{
	json_t *ev = ig_audit_event(name);
	assert_non_null(ev);
	assert_int_equal(json_object_set_new(ev, "n", json_integer(n)), 0);
	return ev;
}

static void write_ok(json_t *ev)
{
	char err[512] = "";
	int rc = ig_audit_write(ev, err, sizeof err);
	if (rc != 0)
		fail_msg("ig_audit_write: %s", err);
}

static void open_ok(const char *path, ig_fsync mode)
{
	char err[512] = "";
	if (ig_audit_open(path, mode, err, sizeof err) != 0)
		fail_msg("ig_audit_open: %s", err);
}

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- tests ---- */

static void test_event_timestamp(void **state)
{
	json_t *ev = ig_audit_event("import.decision");
	const char *ts;
	int y, mo, d, h, mi, s, us;
	char z = 0, end = 0;
	time_t now = time(NULL);
	struct tm tm;
	(void)state;

	assert_non_null(ev);
	assert_string_equal(field(ev, "event"), "import.decision");
	ts = field(ev, "ts");
	assert_non_null(ts);
	assert_int_equal(strlen(ts), strlen("2026-11-24T15:04:05.123456Z"));
	assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%6d%c%c", &y, &mo, &d, &h, &mi, &s, &us, &z, &end), 8);
	assert_int_equal(z, 'Z');
	gmtime_r(&now, &tm);
	assert_int_equal(y, tm.tm_year + 1900); /* UTC, not local time (unless at New Year) */
	assert_true(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && s <= 60 && us <= 999999);
	json_decref(ev);
}

static void test_write_read_back(void **state)
{
	fixture *f = *state;
	ig_audit_stats before, after;
	json_t *ev, *lines, *o;
	size_t len;
	char *raw;

	ig_audit_stats_get(&before);
	open_ok(f->path, IG_FSYNC_ALWAYS);
	ev = ig_audit_event("import.decision");
	assert_int_equal(json_object_set_new(ev, "conn", json_integer(42)), 0);
	assert_int_equal(ig_audit_set_string(ev, "user", "etl_loader", 10), 0);
	assert_int_equal(json_object_set_new(ev, "tls", json_true()), 0);
	assert_int_equal(ig_audit_set_string(ev, "table", "sales.orders", 12), 0);
	assert_int_equal(ig_audit_set_string(ev, "verdict", "ADD_DISABLE_PRECHECK", 20), 0);
	/* a raw newline and invalid UTF-8 from the wire: still one valid line */
	assert_int_equal(ig_audit_set_string(ev, "reason", "two\nlines \xff\xfe end", 16), 0);
	assert_int_equal(ig_audit_set_error(ev, 8173, "PreCheck failed"), 0);
	write_ok(ev);
	write_ok(event_n("import.result", 2));
	ig_audit_post(event_n("admin.reload", 3));
	ig_audit_close();
	ig_audit_stats_get(&after);
	assert_int_equal(after.written - before.written, 3);
	assert_int_equal(after.failed - before.failed, 0);
	assert_true(after.fsyncs - before.fsyncs >= 2); /* each durable write synced */

	raw = slurp(f->path, &len);
	assert_non_null(raw);
	assert_null(memchr(raw, '\xff', len));
	free(raw);
	lines = read_log(f->path);
	assert_int_equal(json_array_size(lines), 3);
	o = json_array_get(lines, 0);
	assert_string_equal(field(o, "event"), "import.decision");
	assert_int_equal(json_integer_value(json_object_get(o, "conn")), 42);
	assert_string_equal(field(o, "user"), "etl_loader");
	assert_true(json_is_true(json_object_get(o, "tls")));
	assert_string_equal(field(o, "table"), "sales.orders");
	assert_string_equal(field(o, "reason"), "two\nlines \xef\xbf\xbd\xef\xbf\xbd end");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "error"), "code")), 8173);
	assert_string_equal(field(json_object_get(o, "error"), "message"), "PreCheck failed");
	assert_string_equal(field(json_array_get(lines, 1), "event"), "import.result");
	assert_string_equal(field(json_array_get(lines, 2), "event"), "admin.reload");
	json_decref(lines);

	/* the file mode asked for (modulo umask) */
	{
		struct stat st;
		assert_int_equal(stat(f->path, &st), 0);
		assert_int_equal(st.st_mode & 0137, 0);
	}
}

/* A file whose last record was torn (crash) gets a newline before ours. */
static void test_torn_tail_is_terminated(void **state)
{
	fixture *f = *state;
	FILE *fp = fopen(f->path, "w");
	size_t len;
	char *raw;

	assert_non_null(fp);
	fputs("{\"event\":\"old\"}\n{\"event\":\"tor", fp);
	fclose(fp);
	open_ok(f->path, IG_FSYNC_ALWAYS);
	write_ok(event_n("import.decision", 1));
	ig_audit_close();
	raw = slurp(f->path, &len);
	assert_non_null(raw);
	assert_true(len > 0 && raw[len - 1] == '\n');
	assert_non_null(strstr(raw, "{\"event\":\"tor\n{\"ts\":"));
	free(raw);
}

#define NTHREADS 6
#define PER_THREAD 150

static void *writer_thread(void *arg)
{
	int id = (int)(intptr_t)arg;
	char pad[3000];

	memset(pad, 'a' + id, sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	for (int i = 0; i < PER_THREAD; i++) {
		char err[256];
		json_t *ev = ig_audit_event(i % 2 ? "import.decision" : "import.result");
		if (!ev || json_object_set_new(ev, "thread", json_integer(id)) < 0 ||
		    json_object_set_new(ev, "seq", json_integer(i)) < 0 ||
		    json_object_set_new(ev, "pad", json_string(pad)) < 0)
			return (void *)1;
		if (i % 3 == 0) {
			ig_audit_post(ev);
		} else if (ig_audit_write(ev, err, sizeof err) != 0) {
			return (void *)1;
		}
	}
	return NULL;
}

static void run_concurrent(fixture *f, ig_fsync mode)
{
	pthread_t th[NTHREADS];
	ig_audit_stats before, after;
	json_t *lines;
	unsigned char seen[NTHREADS][PER_THREAD];

	memset(seen, 0, sizeof seen);
	ig_audit_stats_get(&before);
	open_ok(f->path, mode);
	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, writer_thread, (void *)(intptr_t)t), 0);
	for (int t = 0; t < NTHREADS; t++) {
		void *rv;
		assert_int_equal(pthread_join(th[t], &rv), 0);
		assert_null(rv);
	}
	ig_audit_close();
	ig_audit_stats_get(&after);
	assert_int_equal(after.dropped - before.dropped, 0);
	assert_int_equal(after.written - before.written, NTHREADS * PER_THREAD);

	lines = read_log(f->path);
	assert_int_equal(json_array_size(lines), NTHREADS * PER_THREAD);
	for (size_t i = 0; i < json_array_size(lines); i++) {
		json_t *o = json_array_get(lines, i);
		json_int_t t = json_integer_value(json_object_get(o, "thread"));
		json_int_t s = json_integer_value(json_object_get(o, "seq"));
		const char *pad = field(o, "pad");
		assert_true(t >= 0 && t < NTHREADS && s >= 0 && s < PER_THREAD);
		assert_int_equal(seen[t][s], 0);
		seen[t][s] = 1;
		assert_non_null(pad);
		assert_int_equal(strlen(pad), 2999);
		assert_int_equal(pad[0], 'a' + t);
		assert_int_equal(pad[2998], 'a' + t);
	}
	json_decref(lines);
	if (unlink(f->path) != 0)
		fail_msg("unlink: %s", strerror(errno));
}

static void test_concurrent_writers(void **state)
{
	run_concurrent(*state, IG_FSYNC_OFF);
	run_concurrent(*state, IG_FSYNC_ALWAYS);
}

static void test_fsync_off(void **state)
{
	fixture *f = *state;
	ig_audit_stats before, after;

	ig_audit_stats_get(&before);
	open_ok(f->path, IG_FSYNC_OFF);
	for (int i = 0; i < 10; i++) {
		write_ok(event_n("import.decision", i));
		ig_audit_post(event_n("import.result", i));
	}
	ig_audit_close();
	ig_audit_stats_get(&after);
	assert_int_equal(after.written - before.written, 20);
	assert_int_equal(after.fsyncs - before.fsyncs, 0);
}

static void test_fsync_always(void **state)
{
	fixture *f = *state;
	ig_audit_stats a, b;

	open_ok(f->path, IG_FSYNC_ALWAYS);
	for (int i = 0; i < 5; i++) {
		ig_audit_stats_get(&a);
		write_ok(event_n("import.decision", i));
		ig_audit_stats_get(&b);
		/* synced before ig_audit_write returned, not later by the writer */
		assert_true(b.fsyncs > a.fsyncs);
	}
	ig_audit_close();
}

/* interval: writes do not sync themselves; the writer syncs at most once a second. */
static void test_fsync_interval(void **state)
{
	fixture *f = *state;
	ig_audit_stats a, b, c;
	double t0, t1, deadline;

	ig_audit_stats_get(&a);
	t0 = now_sec();
	open_ok(f->path, IG_FSYNC_INTERVAL);
	write_ok(event_n("import.decision", 0));
	ig_audit_stats_get(&b);
	if (now_sec() - t0 < 0.5)
		assert_int_equal(b.fsyncs - a.fsyncs, 0);
	/* the writer syncs it within about a second, with no further writes to wake it */
	deadline = now_sec() + 5;
	do {
		usleep(20000);
		ig_audit_stats_get(&b);
	} while (b.fsyncs == a.fsyncs && now_sec() < deadline);
	assert_int_equal(b.fsyncs - a.fsyncs, 1);

	/* 2.5 s of steady writes and posts: no more than one sync per elapsed second */
	t0 = now_sec();
	for (int i = 0; now_sec() - t0 < 2.5; i++) {
		write_ok(event_n("import.decision", i));
		ig_audit_post(event_n("import.result", i));
		usleep(10000);
	}
	t1 = now_sec();
	ig_audit_stats_get(&c);
	assert_true(c.fsyncs - b.fsyncs >= 1);
	assert_true((double)(c.fsyncs - b.fsyncs) <= (t1 - t0) + 1);
	ig_audit_close();
}

static void test_reopen_after_rename(void **state)
{
	fixture *f = *state;
	char rotated[160], err[512];
	json_t *l1, *l2;

	snprintf(rotated, sizeof rotated, "%s.1", f->path);
	ig_audit_stats a, s;

	ig_audit_stats_get(&a);
	open_ok(f->path, IG_FSYNC_ALWAYS);
	write_ok(event_n("import.decision", 1));
	ig_audit_post(event_n("import.result", 1));
	/* let the writer put the posted event in the old file before the rotation */
	for (int i = 0; i < 500; i++) {
		ig_audit_stats_get(&s);
		if (s.written - a.written == 2)
			break;
		usleep(10000);
	}
	assert_int_equal(s.written - a.written, 2);
	assert_int_equal(rename(f->path, rotated), 0);
	write_ok(event_n("import.decision", 2)); /* still the old (renamed) file until reopen */
	assert_int_equal(ig_audit_reopen(err, sizeof err), 0);
	write_ok(event_n("import.decision", 3));
	ig_audit_post(event_n("import.result", 3));
	ig_audit_close();

	l1 = read_log(rotated);
	l2 = read_log(f->path);
	assert_int_equal(json_array_size(l1), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(l1, 2), "n")), 2);
	assert_int_equal(json_array_size(l2), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(l2, 0), "n")), 3);
	assert_string_equal(field(json_array_get(l2, 1), "event"), "import.result");
	json_decref(l1);
	json_decref(l2);
}

/* A reopen that cannot open the path keeps the old file in use. */
static void test_reopen_failure_keeps_old_file(void **state)
{
	fixture *f = *state;
	char sub[128], subpath[160], moved[128], movedpath[176], err[512] = "";
	json_t *l;

	snprintf(sub, sizeof sub, "%s/d", f->dir);
	snprintf(subpath, sizeof subpath, "%s/audit.jsonl", sub);
	snprintf(moved, sizeof moved, "%s/d2", f->dir);
	snprintf(movedpath, sizeof movedpath, "%s/audit.jsonl", moved);
	assert_int_equal(mkdir(sub, 0700), 0);
	open_ok(subpath, IG_FSYNC_ALWAYS);
	write_ok(event_n("import.decision", 1));
	assert_int_equal(rename(sub, moved), 0);
	assert_int_equal(ig_audit_reopen(err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot open audit log"));
	assert_non_null(strstr(err, subpath));
	write_ok(event_n("import.decision", 2));
	ig_audit_close();
	l = read_log(movedpath);
	assert_int_equal(json_array_size(l), 2);
	json_decref(l);
}

/* Deleted under us: recreated at the path; if that is impossible, the write fails. */
static void test_deleted_file(void **state)
{
	fixture *f = *state;
	char sub[128], subpath[160], err[512] = "";
	json_t *l;

	snprintf(sub, sizeof sub, "%s/d", f->dir);
	snprintf(subpath, sizeof subpath, "%s/audit.jsonl", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	open_ok(subpath, IG_FSYNC_ALWAYS);
	write_ok(event_n("import.decision", 1));
	assert_int_equal(unlink(subpath), 0);
	write_ok(event_n("import.decision", 2));
	l = read_log(subpath);
	assert_int_equal(json_array_size(l), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "n")), 2);
	json_decref(l);

	assert_int_equal(unlink(subpath), 0);
	{
		char lockpath[200]; /* the writers' lock beside the log (proxy/audit.c open_lock) */
		snprintf(lockpath, sizeof lockpath, "%s.lock", subpath);
		assert_int_equal(unlink(lockpath), 0);
	}
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(ig_audit_write(event_n("import.decision", 3), err, sizeof err), -1);
	assert_non_null(strstr(err, "was deleted and cannot be recreated"));
	ig_audit_close();
}

/* The child's verdicts, reported to the parent (cmocka asserts do not cross fork). */
typedef struct fsize_report {
	int open_rc, small_rc, big_rc, after_rc;
	long size_before_big, size_after_big;
	uint64_t failed_delta, post_failed_delta;
	char big_err[512];
} fsize_report;

static void fsize_child(const char *path, int wfd)
{
	fsize_report r;
	char err[512] = "", big[4000];
	struct stat st;
	struct rlimit rl;
	ig_audit_stats s0, s1, s2;
	json_t *ev;

	memset(&r, 0, sizeof r);
	signal(SIGXFSZ, SIG_IGN);
	r.open_rc = ig_audit_open(path, IG_FSYNC_ALWAYS, err, sizeof err);
	r.small_rc = ig_audit_write(ig_audit_event("import.decision"), err, sizeof err);
	stat(path, &st);
	r.size_before_big = (long)st.st_size;
	/* room for the small records below but not the big one: its write is cut short,
	 * then fails with EFBIG */
	rl.rlim_cur = rl.rlim_max = (rlim_t)st.st_size + 1000;
	setrlimit(RLIMIT_FSIZE, &rl);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ig_audit_stats_get(&s0);
	ev = ig_audit_event("import.decision");
	json_object_set_new(ev, "statement", json_string(big));
	r.big_rc = ig_audit_write(ev, r.big_err, sizeof r.big_err);
	ig_audit_stats_get(&s1);
	stat(path, &st);
	r.size_after_big = (long)st.st_size;
	r.failed_delta = s1.failed - s0.failed;
	r.after_rc = ig_audit_write(ig_audit_event("import.decision"), err, sizeof err);
	/* a queued event that does not fit: counted as failed, nothing half-written */
	ev = ig_audit_event("import.result");
	json_object_set_new(ev, "message", json_string(big));
	ig_audit_post(ev);
	ig_audit_close();
	ig_audit_stats_get(&s2);
	r.post_failed_delta = s2.failed - s1.failed;
	if (write(wfd, &r, sizeof r) != (ssize_t)sizeof r)
		_exit(2);
	_exit(0);
}

static void test_file_size_limit(void **state)
{
	fixture *f = *state;
	int p[2], status;
	pid_t pid;
	fsize_report r;
	json_t *l;
	size_t len;
	char *raw;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		fsize_child(f->path, p[1]);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &r, sizeof r), (ssize_t)sizeof r);
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.small_rc, 0);
	assert_int_equal(r.big_rc, -1);
	assert_non_null(strstr(r.big_err, "write failed"));
	assert_non_null(strstr(r.big_err, "File too large"));
	assert_non_null(strstr(r.big_err, f->path));
	assert_int_equal(r.failed_delta, 1);
	/* the partial line was cut off again */
	assert_int_equal(r.size_after_big, r.size_before_big);
	assert_int_equal(r.after_rc, 0);
	assert_int_equal(r.post_failed_delta, 1);

	raw = slurp(f->path, &len);
	assert_non_null(raw);
	assert_null(strstr(raw, "xxxx"));
	free(raw);
	l = read_log(f->path); /* fails on any torn line */
	assert_int_equal(json_array_size(l), 2);
	json_decref(l);
}

static void test_open_errors(void **state)
{
	fixture *f = *state;
	char err[512] = "", p[200];

	snprintf(p, sizeof p, "%s/missing/audit.jsonl", f->dir);
	assert_int_equal(ig_audit_open(p, IG_FSYNC_ALWAYS, err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot open audit log"));
	assert_non_null(strstr(err, "directory does not exist"));

	err[0] = '\0';
	assert_int_equal(ig_audit_open(f->dir, IG_FSYNC_ALWAYS, err, sizeof err), -1);
	assert_non_null(strstr(err, "Is a directory"));

	/* a FIFO cannot be fsynced: refused unless fsync is off */
	snprintf(p, sizeof p, "%s/fifo", f->dir);
	assert_int_equal(mkfifo(p, 0600), 0);
	{
		int rfd = open(p, O_RDONLY | O_NONBLOCK);
		assert_true(rfd >= 0);
		err[0] = '\0';
		assert_int_equal(ig_audit_open(p, IG_FSYNC_ALWAYS, err, sizeof err), -1);
		assert_non_null(strstr(err, "not a regular file"));
		close(rfd);
	}

	/* nothing is open after the failures: a write must not silently succeed */
	err[0] = '\0';
	assert_int_equal(ig_audit_write(ig_audit_event("import.decision"), err, sizeof err), -1);
	assert_non_null(strstr(err, "not open"));

	/* a second open while open is refused */
	open_ok(f->path, IG_FSYNC_OFF);
	assert_int_equal(ig_audit_open(f->path, IG_FSYNC_OFF, err, sizeof err), -1);
	assert_non_null(strstr(err, "already open"));
	ig_audit_close();
}

/* Permission denied at open. Root bypasses directory permissions, so as root the open is
 * tried in a child that has dropped to nobody (the fixture directory is 0700 root's). */
static void test_permission_denied(void **state)
{
	fixture *f = *state;
	char ro[128], p[200], err[512] = "";
	int fds[2], status;
	pid_t pid;

	if (geteuid() != 0) {
		snprintf(ro, sizeof ro, "%s/ro", f->dir);
		assert_int_equal(mkdir(ro, 0500), 0);
		snprintf(p, sizeof p, "%s/audit.jsonl", ro);
		assert_int_equal(ig_audit_open(p, IG_FSYNC_ALWAYS, err, sizeof err), -1);
		assert_non_null(strstr(err, "Permission denied"));
		return;
	}
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc;
		close(fds[0]);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(3);
		rc = ig_audit_open(f->path, IG_FSYNC_ALWAYS, err, sizeof err);
		if (write(fds[1], err, sizeof err) != (ssize_t)sizeof err)
			_exit(2);
		_exit(rc == -1 ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], err, sizeof err), (ssize_t)sizeof err);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(err, "cannot open audit log"));
	assert_non_null(strstr(err, "Permission denied"));
	assert_int_equal(access(f->path, F_OK), -1); /* nothing was created */
}

static void test_disabled(void **state)
{
	char err[512] = "";
	ig_audit_stats a, b;
	(void)state;

	ig_audit_stats_get(&a);
	assert_int_equal(ig_audit_open(NULL, IG_FSYNC_ALWAYS, err, sizeof err), 0);
	assert_int_equal(ig_audit_write(ig_audit_event("import.decision"), err, sizeof err), 0);
	ig_audit_post(ig_audit_event("import.result"));
	assert_int_equal(ig_audit_reopen(err, sizeof err), 0);
	ig_audit_close();
	ig_audit_stats_get(&b);
	assert_int_equal(b.written, a.written);
	assert_int_equal(b.dropped, a.dropped);
	assert_int_equal(b.failed, a.failed);
}

typedef struct drain_arg {
	int fd;
	char *buf;
	size_t len, cap;
} drain_arg;

static void *drain_fifo(void *arg)
{
	drain_arg *d = arg;
	for (;;) {
		ssize_t n;
		if (d->len == d->cap) {
			char *nb = realloc(d->buf, d->cap * 2);
			if (!nb)
				return (void *)1;
			d->buf = nb;
			d->cap *= 2;
		}
		n = read(d->fd, d->buf + d->len, d->cap - d->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? (void *)1 : NULL;
		d->len += (size_t)n;
	}
}

/* The writer is stuck on a FIFO nobody reads: the queue fills up and events are dropped,
 * counted, with one warning per second on stderr. */
static void test_queue_full_drops(void **state)
{
	fixture *f = *state;
	char fifo[160], errlog[160], *big, *warn;
	drain_arg d = {0};
	pthread_t th;
	ig_audit_stats a, s, b;
	json_t *ev, *lines;
	int saved, efd;
	size_t wlen, nl = 0;
	void *rv;

	snprintf(fifo, sizeof fifo, "%s/fifo", f->dir);
	snprintf(errlog, sizeof errlog, "%s/stderr", f->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	d.fd = open(fifo, O_RDONLY | O_NONBLOCK);
	assert_true(d.fd >= 0);
	ig_audit_set_queue_limit(4);
	open_ok(fifo, IG_FSYNC_OFF);
	ig_audit_set_queue_limit(0);

	ig_audit_stats_get(&a);
	big = malloc(1 << 20);
	assert_non_null(big);
	memset(big, 'y', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	ev = ig_audit_event("import.result");
	json_object_set_new(ev, "message", json_string(big));
	free(big);
	ig_audit_post(ev); /* 1 MiB: far more than a pipe holds, the writer blocks in write(2) */
	for (int i = 0; i < 500; i++) {
		ig_audit_stats_get(&s);
		if (s.queued == 0)
			break;
		usleep(10000);
	}
	assert_int_equal(s.queued, 0);

	saved = dup(STDERR_FILENO);
	efd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && efd >= 0);
	dup2(efd, STDERR_FILENO);
	for (int i = 0; i < 10; i++)
		ig_audit_post(event_n("bypass.suspect", i));
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(efd);

	ig_audit_stats_get(&s);
	assert_int_equal(s.queued, 4);
	assert_int_equal(s.dropped - a.dropped, 6);

	warn = slurp(errlog, &wlen);
	assert_non_null(warn);
	for (size_t i = 0; i < wlen; i++)
		nl += warn[i] == '\n';
	assert_true(nl >= 1 && nl <= 2); /* 6 drops, one warning (two if a second ticked) */
	assert_non_null(strstr(warn, "dropped"));
	free(warn);

	/* now read the FIFO: the writer finishes, close flushes the 4 queued events */
	assert_int_equal(fcntl(d.fd, F_SETFL, 0), 0);
	d.cap = 1 << 16;
	d.buf = malloc(d.cap);
	assert_non_null(d.buf);
	assert_int_equal(pthread_create(&th, NULL, drain_fifo, &d), 0);
	ig_audit_close();
	assert_int_equal(pthread_join(th, &rv), 0);
	assert_null(rv);
	close(d.fd);
	ig_audit_stats_get(&b);
	assert_int_equal(b.written - a.written, 5);

	lines = parse_lines(d.buf, d.len);
	assert_int_equal(json_array_size(lines), 5);
	assert_int_equal(strlen(field(json_array_get(lines, 0), "message")), (1 << 20) - 1);
	for (int i = 1; i < 5; i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(lines, i), "n")), i - 1);
	json_decref(lines);
	free(d.buf);

	/* closed: a post is dropped and counted */
	ig_audit_post(ig_audit_event("admin.reload"));
	ig_audit_stats_get(&s);
	assert_int_equal(s.dropped - b.dropped, 1);
}

static void test_redaction_helpers(void **state)
{
	fixture *f = *state;
	static const char sql[] =
		"IMPORT INTO sales.orders FROM 's3://b/k?access-key=AKIAPLANTED123&secret-access-key=SECRETPLANTED' "
		"WITH THREAD=8, CLOUD_STORAGE_URI='s3://sort/x?secret-access-key=SECRETSORT', DETACHED";
	static const char loc[] = "s3://b/k?access-key=AKIAPLANTED123&secret-access-key=SECRETPLANTED";
	static const char cs[] = "s3://sort/x?secret-access-key=SECRETSORT";
	json_t *ev, *l, *o, *opts;
	size_t len;
	char *raw;

	open_ok(f->path, IG_FSYNC_ALWAYS);
	ev = ig_audit_event("import.decision");
	assert_int_equal(ig_audit_set_statement(ev, sql, strlen(sql)), 0);
	assert_int_equal(ig_audit_set_location(ev, "location", loc), 0);
	assert_int_equal(ig_audit_set_option(ev, "THREAD", "8", 1), 0);
	assert_int_equal(ig_audit_set_option(ev, "CLOUD_STORAGE_URI", cs, strlen(cs)), 0);
	assert_int_equal(ig_audit_set_option(ev, "DETACHED", NULL, 0), 0);
	assert_int_equal(ig_audit_set_option(ev, "SOME_URI_OPTION", loc, strlen(loc)), 0);
	write_ok(ev);
	ig_audit_close();

	raw = slurp(f->path, &len);
	assert_non_null(raw);
	assert_null(strstr(raw, "AKIAPLANTED"));
	assert_null(strstr(raw, "SECRETPLANTED"));
	assert_null(strstr(raw, "SECRETSORT"));
	free(raw);

	l = read_log(f->path);
	assert_int_equal(json_array_size(l), 1);
	o = json_array_get(l, 0);
	assert_non_null(strstr(field(o, "statement"), "IMPORT INTO sales.orders FROM 's3://b/k?access-key=redacted"));
	assert_non_null(strstr(field(o, "statement"), "WITH THREAD=8"));
	assert_string_equal(field(o, "location"), "s3://b/k?access-key=redacted&secret-access-key=redacted");
	opts = json_object_get(o, "options");
	assert_string_equal(field(opts, "THREAD"), "8");
	assert_string_equal(field(opts, "CLOUD_STORAGE_URI"), "s3://sort/x?secret-access-key=redacted");
	assert_true(json_is_true(json_object_get(opts, "DETACHED")));
	/* any other option is free text: a URI in it loses its whole query */
	assert_string_equal(field(opts, "SOME_URI_OPTION"), "s3://b/k?redacted");
	json_decref(l);
}


/* JSON-escaped length of a string value as jansson writes it (the line's bytes for it). */
static size_t dumped_len(json_t *v)
{
	char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	size_t n;
	assert_non_null(d);
	n = strlen(d) - 2; /* the quotes */
	free(d);
	return n;
}

/* A hostile statement (a comment of control bytes, 4 MiB) makes a record of bounded size
 * whatever the bytes, with the original length and a hash of the redacted text. */
static void test_statement_bounded(void **state)
{
	fixture *f = *state;
	static const size_t sizes[] = {4u << 20, 64u << 10, 8192, 100};
	static const size_t limits[] = {256, 8192, 65536};
	(void)f;
	for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
		ig_audit_set_limits(limits[li], 0, 0);
		for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
			for (int kind = 0; kind < 4; kind++) {
				size_t n = sizes[si];
				char *sql = malloc(n);
				json_t *ev = ig_audit_event("import.decision"), *v;
				const char *head = "IMPORT INTO t FROM 's3://b/x?secret-access-key=PLANTED' /*";
				assert_non_null(sql);
				for (size_t i = 0; i < n; i++) /* control bytes, quotes, backslashes, invalid UTF-8 */
					sql[i] = kind == 0 ? (char)(i % 31 + 1) : kind == 1 ? '"' : kind == 2 ? '\\' : (char)0xff;
				memcpy(sql, head, n > strlen(head) ? strlen(head) : n);
				assert_int_equal(ig_audit_set_statement(ev, sql, n), 0);
				v = json_object_get(ev, "statement");
				assert_non_null(v);
				if (dumped_len(v) > limits[li])
					fail_msg("limit %zu, %zu bytes of kind %d: statement takes %zu bytes", limits[li], n, kind,
					         dumped_len(v));
				assert_null(strstr(json_string_value(v), "PLANTED"));
				assert_int_equal(json_integer_value(json_object_get(ev, "statement_bytes")), (json_int_t)n);
				assert_int_equal(strlen(field(ev, "statement_sha256")), 64);
				if (n * 6 > limits[li])
					assert_true(json_is_true(json_object_get(ev, "statement_truncated")) ||
					            dumped_len(v) <= limits[li]);
				json_decref(ev);
				free(sql);
			}
		}
	}
	ig_audit_set_limits(0, IG_AUDIT_MAX_FILE_DEFAULT, IG_AUDIT_KEEP_FILES_DEFAULT);
}

/* Short statements are kept whole; the hash is of the redacted text (no secret in it can
 * be confirmed by hashing a guess). */
static void test_statement_hash(void **state)
{
	static const char a[] = "IMPORT INTO t FROM 's3://b/x?secret-access-key=ONE'";
	static const char b[] = "IMPORT INTO t FROM 's3://b/x?secret-access-key=TWO'";
	json_t *ea = ig_audit_event("x"), *eb = ig_audit_event("x");
	(void)state;
	assert_int_equal(ig_audit_set_statement(ea, a, strlen(a)), 0);
	assert_int_equal(ig_audit_set_statement(eb, b, strlen(b)), 0);
	assert_string_equal(field(ea, "statement"), "IMPORT INTO t FROM 's3://b/x?secret-access-key=redacted'");
	assert_string_equal(field(ea, "statement_sha256"), field(eb, "statement_sha256"));
	/* sha256("IMPORT INTO t FROM 's3://b/x?secret-access-key=redacted'") */
	assert_string_equal(field(ea, "statement_sha256"),
	                    "a4df84400def99879b080d0e11322f611cc42bafddd361fcc18cc86b9f4cffb0");
	assert_null(json_object_get(ea, "statement_truncated"));
	json_decref(ea);
	json_decref(eb);
}

/* The rewrite is recorded as an edit, not a second copy. */
static void test_rewrite_recorded_as_edit(void **state)
{
	static const char o[] = "IMPORT INTO t FROM 's3://b/x?access-key=AK' WITH THREAD=1";
	static const char n[] = "IMPORT INTO t FROM 's3://b/x?access-key=AK' WITH THREAD=1, DISABLE_PRECHECK";
	json_t *ev = ig_audit_event("x"), *rw;
	char *big;
	size_t bn = 1u << 20;
	(void)state;
	assert_int_equal(ig_audit_set_rewrite(ev, o, strlen(o), n, strlen(n)), 0);
	rw = json_object_get(ev, "rewrite");
	assert_int_equal(json_integer_value(json_object_get(rw, "offset")), (json_int_t)strlen(o));
	assert_int_equal(json_integer_value(json_object_get(rw, "removed")), 0);
	assert_string_equal(field(rw, "inserted"), ", DISABLE_PRECHECK");
	assert_int_equal(json_integer_value(json_object_get(rw, "new_bytes")), (json_int_t)strlen(n));
	/* removal */
	assert_int_equal(ig_audit_set_rewrite(ev, n, strlen(n), o, strlen(o)), 0);
	rw = json_object_get(ev, "rewrite");
	assert_int_equal(json_integer_value(json_object_get(rw, "removed")), (json_int_t)(strlen(n) - strlen(o)));
	assert_string_equal(field(rw, "inserted"), "");
	/* a whole new text holding the location (logical rewrite): redacted and bounded */
	big = malloc(bn);
	assert_non_null(big);
	memset(big, '\x01', bn);
	memcpy(big, "LOAD DATA INFILE 's3://b/x?secret-access-key=PLANTED' INTO TABLE t /*", 70);
	assert_int_equal(ig_audit_set_rewrite(ev, o, strlen(o), big, bn), 0);
	rw = json_object_get(ev, "rewrite");
	assert_null(strstr(field(rw, "inserted"), "PLANTED"));
	assert_true(dumped_len(json_object_get(rw, "inserted")) <= IG_AUDIT_MAX_FIELD_DEFAULT);
	free(big);
	json_decref(ev);
}

/* Backend text (error messages, result messages) is redacted as free text and bounded. */
static void test_backend_text_redacted(void **state)
{
	static const char *const msgs[] = {
		"You have an error in your SQL syntax; check the manual that corresponds to your TiDB version for the "
		"right syntax to use line 1 column 60 near \"'s3://b/x?access-key=AKPLANTED&secret-access-key=SKPLANTED'\"",
		"[8155]failed to read s3://u:PWPLANTED@b/x?session-token=TKPLANTED: access denied",
		"s3:<bucket:\"b\" access_key:\"AKPLANTED\" secret_access_key:\"SKPLANTED\">",
		"near 'secret_access_\xe2\x84\xaa" "ey=SKPLANTED&region=r'",
		"azure://c/p?account-key=AKPLANTED",
		"account-key=AKPLANTED sas-token=TKPLANTED",
	};
	(void)state;
	for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
		json_t *ev = ig_audit_event("import.result");
		char *d;
		assert_int_equal(ig_audit_set_error(ev, 1064, msgs[i]), 0);
		assert_int_equal(ig_audit_set_text(ev, "message", msgs[i], strlen(msgs[i])), 0);
		d = json_dumps(ev, JSON_COMPACT);
		assert_non_null(d);
		if (strstr(d, "PLANTED"))
			fail_msg("secret survived: %s", d);
		free(d);
		json_decref(ev);
	}
}

static int count_lines(const char *path, size_t *bytes)
{
	size_t len = 0;
	char *t = slurp(path, &len);
	int n = 0;
	if (!t)
		return -1;
	json_decref(parse_lines(t, len));
	for (size_t i = 0; i < len; i++)
		n += t[i] == '\n';
	free(t);
	*bytes = len;
	return n;
}

/* Size-based rotation: path, path.1 .. path.keep, each at most max_file_bytes, the oldest
 * removed; every record kept in order until it ages out; counters. */
static void test_rotation(void **state)
{
	fixture *f = *state;
	const uint64_t max = 4096;
	ig_audit_stats s0, s1;
	char p[256];
	int total = 0, first_n = -1;

	for (int keep = 0; keep <= 3; keep++) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -f '%s'/audit.jsonl*", f->dir);
		assert_int_equal(system(cmd), 0);
		ig_audit_set_limits(0, max, keep);
		ig_audit_stats_get(&s0);
		open_ok(f->path, IG_FSYNC_ALWAYS);
		for (int i = 0; i < 200; i++) {
			json_t *ev = event_n("import.decision", i);
			char pad[200];
			memset(pad, 'x', sizeof pad - 1);
			pad[sizeof pad - 1] = 0;
			ig_audit_set_string(ev, "pad", pad, strlen(pad));
			write_ok(ev);
		}
		ig_audit_close();
		ig_audit_stats_get(&s1);
		assert_true(s1.rotations > s0.rotations);
		assert_true(s1.bytes - s0.bytes > 200 * 200);
		total = 0;
		for (int k = 0; k <= keep + 1; k++) {
			size_t bytes = 0;
			int n;
			if (k == 0)
				snprintf(p, sizeof p, "%s", f->path);
			else
				snprintf(p, sizeof p, "%s.%d", f->path, k);
			n = count_lines(p, &bytes);
			if (k == keep + 1) {
				assert_int_equal(n, -1); /* no file beyond keep */
				break;
			}
			assert_true(n > 0);
			assert_true(bytes <= max);
			total += n;
		}
		/* the newest records are the last ones written, in order */
		{
			json_t *l = read_log(f->path);
			size_t m = json_array_size(l);
			assert_int_equal(json_integer_value(json_object_get(json_array_get(l, m - 1), "n")), 199);
			json_decref(l);
		}
		if (keep > 0) {
			snprintf(p, sizeof p, "%s.1", f->path);
			json_t *l = read_log(p);
			json_t *cur = read_log(f->path);
			first_n = (int)json_integer_value(json_object_get(json_array_get(cur, 0), "n"));
			assert_int_equal(json_integer_value(json_object_get(json_array_get(l, json_array_size(l) - 1), "n")),
			                 first_n - 1);
			json_decref(l);
			json_decref(cur);
		}
		assert_true(total < 200);
	}
	ig_audit_set_limits(0, IG_AUDIT_MAX_FILE_DEFAULT, IG_AUDIT_KEEP_FILES_DEFAULT);
}

/* SIGHUP-style reopen still works with rotation on, and a rotation after it goes on from
 * the reopened file. */
static void test_rotation_and_reopen(void **state)
{
	fixture *f = *state;
	char moved[256], err[256];
	ig_audit_set_limits(0, 2048, 2);
	open_ok(f->path, IG_FSYNC_OFF);
	write_ok(event_n("a", 1));
	snprintf(moved, sizeof moved, "%s.moved", f->path);
	assert_int_equal(rename(f->path, moved), 0);
	assert_int_equal(ig_audit_reopen(err, sizeof err), 0);
	for (int i = 0; i < 100; i++)
		write_ok(event_n("b", i));
	ig_audit_close();
	{
		json_t *l = read_log(moved);
		assert_int_equal(json_array_size(l), 1);
		json_decref(l);
	}
	{
		size_t bytes;
		char p1[256];
		snprintf(p1, sizeof p1, "%s.1", f->path);
		assert_true(count_lines(f->path, &bytes) > 0 && bytes <= 2048);
		assert_true(count_lines(p1, &bytes) > 0 && bytes <= 2048);
	}
	ig_audit_set_limits(0, IG_AUDIT_MAX_FILE_DEFAULT, IG_AUDIT_KEEP_FILES_DEFAULT);
}

/* ---- two processes, one file (the gateway and an `importgate lightning run`) ---- */

/* false when the other side is gone (the parent then fails the test, the child exits) */
static bool send_byte(int fd)
{
	char c = 1;
	return write(fd, &c, 1) == 1;
}

static bool got_byte(int fd)
{
	char c;
	return read(fd, &c, 1) == 1;
}

/* Another writer holds the file's lock while it appends: our record waits for it and goes
 * after its line (our cut-back of a failed write could otherwise remove that line: the
 * size we would cut back to is read before it was appended). */
static void test_waits_for_other_writers_lock(void **state)
{
	fixture *f = *state;
	int go[2], done[2], status, fd, lfd;
	char lockpath[256];
	const char *other = "{\"event\":\"other.writer\"}\n";
	pid_t pid;
	json_t *l;

	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT, 0640);
	assert_true(fd >= 0);
	snprintf(lockpath, sizeof lockpath, "%s.lock", f->path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[512] = "";
		close(go[1]); /* a side that dies ends the other's read (no hang) */
		close(done[0]);
		if (!got_byte(go[0]))
			_exit(3);
		if (ig_audit_open(f->path, IG_FSYNC_ALWAYS, err, sizeof err) != 0)
			_exit(4);
		if (!send_byte(done[1]) || !got_byte(go[0])) /* opened; the other writer takes the lock */
			_exit(3);
		if (ig_audit_write(event_n("ours", 1), err, sizeof err) != 0)
			_exit(5);
		ig_audit_close();
		_exit(0);
	}
	close(go[0]);
	close(done[1]);
	assert_true(send_byte(go[1]));
	assert_true(got_byte(done[0]));
	/* the writers' lock, beside the log, 0600 (a reader of the log cannot take it) */
	lfd = open(lockpath, O_RDWR);
	assert_true(lfd >= 0);
	{
		struct stat st;
		assert_int_equal(fstat(lfd, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	assert_int_equal(flock(lfd, LOCK_EX), 0);
	assert_true(send_byte(go[1]));
	usleep(300 * 1000); /* the child's write is due meanwhile; it must wait */
	assert_int_equal(write(fd, other, strlen(other)), (ssize_t)strlen(other));
	assert_int_equal(flock(lfd, LOCK_UN), 0);
	close(lfd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
	l = read_log(f->path);
	assert_int_equal(json_array_size(l), 2);
	assert_string_equal(field(json_array_get(l, 0), "event"), "other.writer");
	assert_string_equal(field(json_array_get(l, 1), "event"), "ours");
	json_decref(l);
	close(go[1]);
	close(done[0]);
}

/* A lock held too long (a writer stopped while holding it) costs one refused record, with
 * a message saying why, not a stalled gateway; the next record after it is let go works. */
static void test_lock_held_too_long(void **state)
{
	fixture *f = *state;
	char err[512] = "", lockpath[256];
	int fd;
	double t0;
	json_t *l;

	open_ok(f->path, IG_FSYNC_ALWAYS);
	snprintf(lockpath, sizeof lockpath, "%s.lock", f->path);
	fd = open(lockpath, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0); /* another open file description: another holder */
	t0 = now_sec();
	assert_int_equal(ig_audit_write(event_n("refused", 1), err, sizeof err), -1);
	assert_true(now_sec() - t0 >= 1.5);
	assert_non_null(strstr(err, "another process has held its lock"));
	assert_non_null(strstr(err, lockpath));
	assert_non_null(strstr(err, f->path));
	assert_int_equal(flock(fd, LOCK_UN), 0);
	close(fd);
	write_ok(event_n("after", 2));
	ig_audit_close();
	l = read_log(f->path);
	assert_int_equal(json_array_size(l), 1);
	assert_string_equal(field(json_array_get(l, 0), "event"), "after");
	json_decref(l);
}

/* Two processes rotating one file by size, writing in turns: each goes on in the file the
 * other rotated to (not in the renamed one), so no file is rotated early and the files,
 * oldest first, hold every record in the order written. */
static void test_two_writers_rotate_one_file(void **state)
{
	fixture *f = *state;
	const int rounds = 120, keep = 40;
	const uint64_t max = 2048;
	int to_child[2], to_parent[2], status, files = 0;
	char p[256];
	pid_t pid;
	json_t *all = json_array();

	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	ig_audit_set_limits(0, max, keep);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[512] = "";
		close(to_child[1]); /* a side that dies ends the other's read (no hang) */
		close(to_parent[0]);
		if (ig_audit_open(f->path, IG_FSYNC_OFF, err, sizeof err) != 0)
			_exit(4);
		for (int i = 0; i < rounds; i++) {
			if (!got_byte(to_child[0]))
				_exit(3);
			if (ig_audit_write(event_n("child", i), err, sizeof err) != 0)
				_exit(5);
			if (!send_byte(to_parent[1]))
				_exit(3);
		}
		ig_audit_close();
		_exit(0);
	}
	close(to_child[0]);
	close(to_parent[1]);
	open_ok(f->path, IG_FSYNC_OFF);
	for (int i = 0; i < rounds; i++) {
		write_ok(event_n("parent", i));
		assert_true(send_byte(to_child[1]));
		assert_true(got_byte(to_parent[0]));
	}
	ig_audit_close();
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ig_audit_set_limits(0, IG_AUDIT_MAX_FILE_DEFAULT, IG_AUDIT_KEEP_FILES_DEFAULT);

	for (int k = keep; k >= 0; k--) {
		size_t bytes = 0;
		json_t *l;
		if (k == 0)
			snprintf(p, sizeof p, "%s", f->path);
		else
			snprintf(p, sizeof p, "%s.%d", f->path, k);
		if (count_lines(p, &bytes) < 0)
			continue;
		files++;
		assert_true(bytes <= max);
		if (k > 0) /* rotated only when the next record would not fit */
			assert_true(bytes > max / 2);
		l = read_log(p);
		json_array_extend(all, l);
		json_decref(l);
	}
	assert_true(files < keep); /* nothing rotated out of the kept files */
	assert_int_equal(json_array_size(all), (size_t)(2 * rounds));
	for (int i = 0; i < 2 * rounds; i++) {
		json_t *o = json_array_get(all, (size_t)i);
		assert_string_equal(field(o, "event"), i % 2 ? "child" : "parent");
		assert_int_equal(json_integer_value(json_object_get(o, "n")), i / 2);
	}
	json_decref(all);
	close(to_child[1]);
	close(to_parent[0]);
}

static void test_helper_errors(void **state)
{
	json_t *ev = ig_audit_event("x");
	(void)state;

	assert_int_equal(ig_audit_set_string(NULL, "k", "v", 1), -1);
	assert_int_equal(ig_audit_set_string(ev, "k", NULL, 3), -1);
	assert_int_equal(ig_audit_set_location(ev, "k", NULL), -1);
	assert_int_equal(ig_audit_set_option(ev, NULL, "v", 1), -1);
	assert_int_equal(ig_audit_set_statement(ev, NULL, 4), -1);
	assert_int_equal(json_object_size(ev), 2); /* unchanged: ts and event */
	/* an empty string is a value, not an error */
	assert_int_equal(ig_audit_set_string(ev, "db", NULL, 0), 0);
	assert_string_equal(field(ev, "db"), "");
	json_decref(ev);
}

static void test_write_null_event_refused(void **state)
{
	fixture *f = *state;
	char err[256] = "";

	open_ok(f->path, IG_FSYNC_ALWAYS);
	assert_int_equal(ig_audit_write(NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "out of memory"));
	ig_audit_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_timestamp),
		cmocka_unit_test_setup_teardown(test_write_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_is_terminated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_always, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_interval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_after_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_failure_keeps_old_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_size_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permission_denied, setup, teardown),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test_setup_teardown(test_queue_full_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redaction_helpers, setup, teardown),
		cmocka_unit_test(test_helper_errors),
		cmocka_unit_test_setup_teardown(test_statement_bounded, setup, teardown),
		cmocka_unit_test(test_statement_hash),
		cmocka_unit_test(test_rewrite_recorded_as_edit),
		cmocka_unit_test(test_backend_text_redacted),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waits_for_other_writers_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_held_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_writers_rotate_one_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_null_event_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
