/*
 * stmt_bench.c - server-side prepared statements the way many drivers use them: prepare,
 * execute, close, per statement; optionally with a parameter sent by
 * COM_STMT_SEND_LONG_DATA. After a COM_STMT_CLOSE or a SEND_LONG_DATA (commands with no
 * answer) the gateway sends a COM_PING of its own ahead of the next answered command (the
 * fence, proxy/command.c send_fence): this measures what that costs, against HAProxy and
 * MariaDB directly (tests/bench/stmt-bench.sh runs it; docs/BENCHMARKS.md 1.15).
 *
 *   stmt_bench HOST PORT USER PASSWORD SECONDS CONNECTIONS MODE
 *   MODE: close     prepare "SELECT ?" (an integer bound), execute, fetch, close
 *         longdata  the same with the parameter a string sent by SEND_LONG_DATA
 *         keep      prepared once per connection, executed again and again (no fence)
 *
 * Prints one line: mode, connections, statements per second, mean microseconds per statement.
 * Every connection runs on its own thread; a statement is one prepare/execute/close round.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

typedef enum mode { M_CLOSE, M_LONGDATA, M_KEEP } mode;

typedef struct args {
	const char *host, *user, *pw;
	unsigned port;
	double seconds;
	mode m;
} args;

static atomic_ullong total;
static atomic_int failed;
static char fail_msg[512];
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(const char *what, const char *why)
{
	pthread_mutex_lock(&fail_lock);
	if (!atomic_load(&failed))
		snprintf(fail_msg, sizeof(fail_msg), "%s: %s", what, why);
	atomic_store(&failed, 1);
	pthread_mutex_unlock(&fail_lock);
}

/* Executes a prepared "SELECT ?" with value i and reads its one row back; 0 or -1. */
static int run_once(MYSQL_STMT *st, mode m, long long i)
{
	MYSQL_BIND in, out;
	long long v = i, got = 0;
	char text[32], back[32];
	unsigned long backlen = 0;
	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	if (m == M_LONGDATA) {
		in.buffer_type = MYSQL_TYPE_STRING;
		out.buffer_type = MYSQL_TYPE_STRING;
		out.buffer = back;
		out.buffer_length = sizeof(back);
		out.length = &backlen;
	} else {
		in.buffer_type = MYSQL_TYPE_LONGLONG;
		in.buffer = &v;
		out.buffer_type = MYSQL_TYPE_LONGLONG;
		out.buffer = &got;
	}
	if (mysql_stmt_bind_param(st, &in) != 0)
		return -1;
	if (m == M_LONGDATA) {
		int n = snprintf(text, sizeof(text), "%lld", i);
		if (mysql_stmt_send_long_data(st, 0, text, (unsigned long)n) != 0)
			return -1;
	}
	if (mysql_stmt_execute(st) != 0 || mysql_stmt_bind_result(st, &out) != 0 || mysql_stmt_fetch(st) != 0)
		return -1;
	while (mysql_stmt_fetch(st) == 0)
		;
	if (m == M_LONGDATA ? (backlen != strlen(text) || memcmp(back, text, backlen) != 0) : got != i) {
		fail("wrong value back", "the statement returned another value than was bound");
		return -1;
	}
	return mysql_stmt_free_result(st) == 0 ? 0 : -1;
}

static void *worker(void *p)
{
	const args *a = p;
	MYSQL *db = mysql_init(NULL);
	if (!db) {
		fail("mysql_init", "out of memory");
		return NULL;
	}
	if (!mysql_real_connect(db, a->host, a->user, a->pw, NULL, a->port, NULL, 0)) {
		fail("connect", mysql_error(db));
		mysql_close(db);
		return NULL;
	}
	static const char q[] = "SELECT ?";
	MYSQL_STMT *kept = NULL;
	unsigned long long n = 0;
	double end = now_s() + a->seconds;
	while (!atomic_load(&failed) && now_s() < end) {
		MYSQL_STMT *st = kept ? kept : mysql_stmt_init(db);
		if (!st || (!kept && mysql_stmt_prepare(st, q, sizeof(q) - 1) != 0) ||
		    run_once(st, a->m, (long long)n) != 0) {
			fail("statement", st ? mysql_stmt_error(st) : mysql_error(db));
			break;
		}
		if (a->m == M_KEEP)
			kept = st;
		else if (mysql_stmt_close(st) != 0) {
			fail("close", mysql_error(db));
			break;
		}
		n++;
	}
	if (kept)
		mysql_stmt_close(kept);
	atomic_fetch_add(&total, n);
	mysql_close(db);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: %s HOST PORT USER PASSWORD SECONDS CONNECTIONS close|longdata|keep\n", argv[0]);
		return 2;
	}
	args a = {.host = argv[1], .user = argv[3], .pw = argv[4]};
	a.port = (unsigned)strtoul(argv[2], NULL, 10);
	a.seconds = strtod(argv[5], NULL);
	int conns = atoi(argv[6]);
	if (strcmp(argv[7], "close") == 0)
		a.m = M_CLOSE;
	else if (strcmp(argv[7], "longdata") == 0)
		a.m = M_LONGDATA;
	else if (strcmp(argv[7], "keep") == 0)
		a.m = M_KEEP;
	else {
		fprintf(stderr, "%s: unknown mode %s\n", argv[0], argv[7]);
		return 2;
	}
	if (a.port == 0 || a.seconds <= 0 || conns < 1 || conns > 1024) {
		fprintf(stderr, "%s: bad port, seconds or connections\n", argv[0]);
		return 2;
	}
	if (mysql_library_init(0, NULL, NULL) != 0) {
		fprintf(stderr, "%s: mysql_library_init failed\n", argv[0]);
		return 1;
	}
	pthread_t *t = calloc((size_t)conns, sizeof(*t));
	if (!t) {
		fprintf(stderr, "%s: out of memory\n", argv[0]);
		return 1;
	}
	double t0 = now_s();
	int started = 0;
	for (; started < conns; started++) {
		int rc = pthread_create(&t[started], NULL, worker, &a);
		if (rc != 0) {
			fail("pthread_create", strerror(rc));
			break;
		}
	}
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	double wall = now_s() - t0;
	free(t);
	mysql_library_end();
	if (atomic_load(&failed)) {
		fprintf(stderr, "%s: %s\n", argv[0], fail_msg);
		return 1;
	}
	unsigned long long n = atomic_load(&total);
	printf("%s\t%d\t%.0f\t%.1f\n", argv[7], conns, (double)n / wall, n ? wall * 1e6 * conns / (double)n : 0.0);
	return 0;
}
