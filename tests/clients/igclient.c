/*
 * igclient.c - integration-test client on libmariadb. It exercises the protocol paths that
 * PyMySQL and the mariadb CLI cannot reach (binary protocol with typed parameters,
 * COM_STMT_SEND_LONG_DATA, read-only cursors with COM_STMT_FETCH, multi-result sets,
 * COM_CHANGE_USER, COM_RESET_CONNECTION, COM_INIT_DB, TLS options, >16 MiB queries) and
 * prints what it got in a line-oriented, diffable text form for the pytest harness.
 *
 * Usage: igclient [options] STEP [STEP...]
 *   options: -h HOST -P PORT -u USER -p PASSWORD -D DB --multi --local-infile
 *            --ssl (require TLS) --ssl-ca F --ssl-cert F --ssl-key F --ssl-verify
 *            --keep-going (run later steps after a failed one) --read-timeout SECS
 *   steps:   query SQL                    text protocol, every result set
 *            stmt SQL [PARAM...]          prepared statement, binary protocol
 *            cursor PREFETCH SQL [PARAM...]  read-only cursor, rows fetched PREFETCH at a time
 *            initdb DB                    mysql_select_db (COM_INIT_DB)
 *            reset                        mysql_reset_connection (COM_RESET_CONNECTION)
 *            changeuser USER PASSWORD DB  mysql_change_user ("" = no database)
 *            bigquery NBYTES              SELECT LENGTH(x), MD5(x) for an NBYTES literal
 *            status                       thread id, TLS cipher, current database
 *            repeat N SQL [PARAM...]      prepared once, executed N times (MariaDB skips the
 *                                         metadata of later runs under CACHE_METADATA)
 *            bulk SQL N                   one COM_STMT_BULK_EXECUTE binding 1..N to the one '?'
 *            fieldattr SQL                each column's name and MariaDB extended format name
 *            caps                         the MariaDB extended capabilities the server gave
 *   --progress: print a line per MariaDB progress report received
 *   --compress: ask for the compressed protocol
 *   params:  i:INT u:UINT f:DOUBLE s:TEXT x:HEX n: (NULL) t:YYYY-MM-DD HH:MM:SS[.frac]
 *            D:YYYY-MM-DD L:NBYTES[:CHUNK] (blob sent with mysql_stmt_send_long_data)
 *            B:NBYTES (blob of pattern bytes bound inline: over 16 MiB the COM_STMT_EXECUTE
 *            goes in several packets)
 * Long data and bigquery bytes are pattern_byte(i) so the test can recompute them.
 * Exit: 0 all steps ok, 1 a step failed, 2 usage error, 3 connection failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#define MAX_PARAMS 64
#define INLINE_VALUE_MAX 256 /* longer values are printed as length + FNV-1a hash */

typedef enum { OPT_ARG, OPT_FLAG } opt_kind;

typedef struct conn_opts {
	const char *host, *user, *password, *db;
	unsigned int port;
	bool multi, local_infile, ssl, ssl_verify, keep_going, progress, compress;
	const char *ssl_ca, *ssl_cert, *ssl_key;
	unsigned int read_timeout;
} conn_opts;

/* One prepared-statement parameter: the bind plus the storage it points to. */
typedef struct param {
	MYSQL_BIND *bind;
	char kind;
	long long ival;
	double dval;
	MYSQL_TIME tval;
	char *buf;           /* text/blob bytes, owned */
	unsigned long len;
	size_t long_total, long_chunk; /* kind 'L' */
} param;

/* pattern_byte: the deterministic filler for long data and big queries; letters only so it
 * needs no escaping inside a SQL string. The Python side has the same function. */
static char pattern_byte(size_t i)
{
	return (char)('a' + (i * 7 + i / 26) % 26);
}

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Prints a value escaped so every row stays on one line. */
static void print_value(const char *p, size_t n)
{
	if (n > INLINE_VALUE_MAX) {
		printf("<%zu bytes fnv=%016" PRIx64 ">", n, fnv1a64((const unsigned char *)p, n));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\\')
			fputs("\\\\", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void print_mysql_error(const char *what, MYSQL *m)
{
	printf("error %u (%s): %s [%s]\n", mysql_errno(m), mysql_sqlstate(m), mysql_error(m), what);
}

static void print_stmt_error(const char *what, MYSQL_STMT *s)
{
	printf("error %u (%s): %s [%s]\n", mysql_stmt_errno(s), mysql_stmt_sqlstate(s),
	       mysql_stmt_error(s), what);
}

static void print_ok(MYSQL *m)
{
	printf("ok affected=%llu insert_id=%llu warnings=%u\n",
	       (unsigned long long)mysql_affected_rows(m), (unsigned long long)mysql_insert_id(m),
	       mysql_warning_count(m));
}

/* ---- text protocol ---- */

static void print_text_result(MYSQL_RES *res, int nres)
{
	unsigned int nf = mysql_num_fields(res);
	MYSQL_FIELD *f = mysql_fetch_fields(res);
	printf("result %d cols=%u\n", nres, nf);
	for (unsigned int i = 0; i < nf; i++)
		printf("col %s\n", f[i].name);
	MYSQL_ROW row;
	unsigned long nrows = 0;
	while ((row = mysql_fetch_row(res)) != NULL) {
		unsigned long *len = mysql_fetch_lengths(res);
		fputs("row", stdout);
		for (unsigned int i = 0; i < nf; i++) {
			putchar('\t');
			if (row[i] == NULL)
				fputs("NULL", stdout);
			else
				print_value(row[i], len[i]);
		}
		putchar('\n');
		nrows++;
	}
	printf("end rows=%lu\n", nrows);
}

/* Runs one COM_QUERY and prints every result set (multi-statements, CALL). */
static int step_query(MYSQL *m, const char *sql, size_t len)
{
	if (mysql_real_query(m, sql, (unsigned long)len) != 0) {
		print_mysql_error("query", m);
		return -1;
	}
	int nres = 0;
	for (;;) {
		MYSQL_RES *res = mysql_use_result(m);
		if (res != NULL) {
			print_text_result(res, ++nres);
			bool failed = mysql_errno(m) != 0;
			mysql_free_result(res);
			if (failed) {
				print_mysql_error("fetch", m);
				return -1;
			}
		} else if (mysql_field_count(m) == 0) {
			print_ok(m);
		} else {
			print_mysql_error("result", m);
			return -1;
		}
		int more = mysql_next_result(m);
		if (more == -1)
			return 0;
		if (more > 0) {
			print_mysql_error("next_result", m);
			return -1;
		}
	}
}

static int step_bigquery(MYSQL *m, size_t nbytes)
{
	static const char pre[] = "SELECT LENGTH(x), MD5(x) FROM (SELECT '";
	static const char post[] = "' AS x) AS t";
	size_t len = sizeof(pre) - 1 + nbytes + sizeof(post) - 1;
	char *sql = malloc(len);
	if (sql == NULL) {
		printf("error: out of memory for a %zu-byte query\n", len);
		return -1;
	}
	memcpy(sql, pre, sizeof(pre) - 1);
	for (size_t i = 0; i < nbytes; i++)
		sql[sizeof(pre) - 1 + i] = pattern_byte(i);
	memcpy(sql + sizeof(pre) - 1 + nbytes, post, sizeof(post) - 1);
	printf("bigquery bytes=%zu\n", len);
	int rc = step_query(m, sql, len);
	free(sql);
	return rc;
}

/* ---- binary protocol: parameters ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ".5" is 500000 microseconds: the digits are a fraction, not a count. */
static int parse_fraction(const char *s, unsigned long *us)
{
	unsigned long v = 0;
	int digits = 0;
	for (; *s >= '0' && *s <= '9'; s++, digits++)
		if (digits < 6)
			v = v * 10 + (unsigned long)(*s - '0');
	if (*s != '\0' || digits == 0)
		return -1;
	for (; digits < 6; digits++)
		v *= 10;
	*us = v;
	return 0;
}

static int parse_time(const char *s, MYSQL_TIME *t, bool date_only)
{
	unsigned int y, mo, d, h = 0, mi = 0, sec = 0;
	unsigned long frac = 0;
	int n;
	memset(t, 0, sizeof(*t));
	if (date_only) {
		if (sscanf(s, "%u-%u-%u%n", &y, &mo, &d, &n) != 3 || s[n] != '\0')
			return -1;
		t->time_type = MYSQL_TIMESTAMP_DATE;
	} else {
		if (sscanf(s, "%u-%u-%u %u:%u:%u%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
			return -1;
		if (s[n] == '.' && parse_fraction(s + n + 1, &frac) != 0)
			return -1;
		if (s[n] != '.' && s[n] != '\0')
			return -1;
		t->time_type = MYSQL_TIMESTAMP_DATETIME;
	}
	t->year = y, t->month = mo, t->day = d, t->hour = h, t->minute = mi, t->second = sec;
	t->second_part = frac;
	return 0;
}

static int parse_long_spec(const char *v, param *p)
{
	char *end;
	errno = 0;
	unsigned long long total = strtoull(v, &end, 10);
	unsigned long long chunk = 1024 * 1024;
	if (errno != 0 || end == v)
		return -1;
	if (*end == ':') {
		const char *c = end + 1;
		chunk = strtoull(c, &end, 10);
		if (end == c || chunk == 0)
			return -1;
	}
	if (*end != '\0')
		return -1;
	p->long_total = (size_t)total;
	p->long_chunk = (size_t)chunk;
	p->bind->buffer_type = MYSQL_TYPE_BLOB;
	return 0;
}

static int parse_bytes_param(const char *v, param *p, bool hex)
{
	size_t n = strlen(v);
	if (hex && n % 2 != 0)
		return -1;
	p->len = (unsigned long)(hex ? n / 2 : n);
	p->buf = malloc(p->len + 1);
	if (p->buf == NULL)
		return -1;
	for (size_t i = 0; i < p->len; i++) {
		if (!hex) {
			p->buf[i] = v[i];
			continue;
		}
		int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		p->buf[i] = (char)(hi << 4 | lo);
	}
	p->bind->buffer_type = hex ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
	p->bind->buffer = p->buf;
	p->bind->buffer_length = p->len;
	p->bind->length = &p->len;
	return 0;
}

/* Fills p (and the MYSQL_BIND it points to) from "k:value". */
static int parse_param(const char *spec, param *p)
{
	if (strlen(spec) < 2 || spec[1] != ':')
		return -1;
	const char *v = spec + 2;
	char *end;
	p->kind = spec[0];
	MYSQL_BIND *b = p->bind;
	switch (p->kind) {
	case 'i':
	case 'u':
		errno = 0;
		p->ival = p->kind == 'i' ? strtoll(v, &end, 10) : (long long)strtoull(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0')
			return -1;
		b->buffer_type = MYSQL_TYPE_LONGLONG;
		b->is_unsigned = p->kind == 'u';
		b->buffer = &p->ival;
		return 0;
	case 'f':
		p->dval = strtod(v, &end);
		if (end == v || *end != '\0')
			return -1;
		b->buffer_type = MYSQL_TYPE_DOUBLE;
		b->buffer = &p->dval;
		return 0;
	case 's':
	case 'x':
		return parse_bytes_param(v, p, p->kind == 'x');
	case 'B': {
		errno = 0;
		unsigned long long n = strtoull(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || n > (1ULL << 30))
			return -1;
		p->len = (unsigned long)n;
		if (!(p->buf = malloc(p->len + 1)))
			return -1;
		for (size_t i = 0; i < p->len; i++)
			p->buf[i] = pattern_byte(i);
		b->buffer_type = MYSQL_TYPE_BLOB;
		b->buffer = p->buf;
		b->buffer_length = p->len;
		b->length = &p->len;
		return 0;
	}
	case 'n':
		b->buffer_type = MYSQL_TYPE_NULL;
		return 0;
	case 't':
	case 'D':
		if (parse_time(v, &p->tval, p->kind == 'D') != 0)
			return -1;
		b->buffer_type = p->kind == 'D' ? MYSQL_TYPE_DATE : MYSQL_TYPE_DATETIME;
		b->buffer = &p->tval;
		return 0;
	case 'L':
		return parse_long_spec(v, p);
	default:
		return -1;
	}
}

/* Streams a 'L' parameter in chunks: several COM_STMT_SEND_LONG_DATA packets. */
static int send_long(MYSQL_STMT *s, unsigned int idx, const param *p)
{
	char *chunk = malloc(p->long_chunk);
	if (chunk == NULL) {
		printf("error: out of memory for a long-data chunk\n");
		return -1;
	}
	size_t sent = 0, nchunks = 0;
	while (sent < p->long_total) {
		size_t n = p->long_total - sent < p->long_chunk ? p->long_total - sent : p->long_chunk;
		for (size_t i = 0; i < n; i++)
			chunk[i] = pattern_byte(sent + i);
		if (mysql_stmt_send_long_data(s, idx, chunk, (unsigned long)n) != 0) {
			print_stmt_error("send_long_data", s);
			free(chunk);
			return -1;
		}
		sent += n;
		nchunks++;
	}
	free(chunk);
	printf("longdata param=%u bytes=%zu chunks=%zu\n", idx, sent, nchunks);
	return 0;
}

/* ---- binary protocol: results ---- */

typedef struct column {
	enum enum_field_types type;
	bool is_unsigned;
	long long ival;
	double dval;
	MYSQL_TIME tval;
	char *buf;
	unsigned long buflen, len;
	my_bool is_null, error;
} column;

static bool is_int_type(enum enum_field_types t)
{
	return t == MYSQL_TYPE_TINY || t == MYSQL_TYPE_SHORT || t == MYSQL_TYPE_INT24 ||
	       t == MYSQL_TYPE_LONG || t == MYSQL_TYPE_LONGLONG || t == MYSQL_TYPE_YEAR;
}

static bool is_time_type(enum enum_field_types t)
{
	return t == MYSQL_TYPE_DATE || t == MYSQL_TYPE_DATETIME || t == MYSQL_TYPE_TIMESTAMP ||
	       t == MYSQL_TYPE_TIME;
}

/* Binds each column with its native C type, so the binary row decoding is what is tested. */
static int bind_columns(MYSQL_FIELD *f, unsigned int nf, column *cols, MYSQL_BIND *binds)
{
	for (unsigned int i = 0; i < nf; i++) {
		column *c = &cols[i];
		MYSQL_BIND *b = &binds[i];
		c->type = f[i].type;
		c->is_unsigned = (f[i].flags & UNSIGNED_FLAG) != 0;
		b->is_null = &c->is_null;
		b->error = &c->error;
		b->length = &c->len;
		b->is_unsigned = c->is_unsigned;
		if (is_int_type(c->type)) {
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = &c->ival;
		} else if (c->type == MYSQL_TYPE_DOUBLE || c->type == MYSQL_TYPE_FLOAT) {
			b->buffer_type = MYSQL_TYPE_DOUBLE;
			b->buffer = &c->dval;
		} else if (is_time_type(c->type)) {
			b->buffer_type = c->type;
			b->buffer = &c->tval;
		} else {
			c->buflen = 65536;
			c->buf = malloc(c->buflen);
			if (c->buf == NULL)
				return -1;
			b->buffer_type = MYSQL_TYPE_STRING;
			b->buffer = c->buf;
			b->buffer_length = c->buflen;
		}
	}
	return 0;
}

static void print_time(const MYSQL_TIME *t)
{
	if (t->time_type == MYSQL_TIMESTAMP_TIME)
		printf("%s%02u:%02u:%02u", t->neg ? "-" : "", t->hour, t->minute, t->second);
	else
		printf("%04u-%02u-%02u", t->year, t->month, t->day);
	if (t->time_type == MYSQL_TIMESTAMP_DATETIME)
		printf(" %02u:%02u:%02u", t->hour, t->minute, t->second);
	if (t->time_type != MYSQL_TIMESTAMP_DATE && t->second_part != 0)
		printf(".%06lu", t->second_part);
}

/* A string column longer than its buffer is refetched whole with mysql_stmt_fetch_column. */
static int print_binary_column(MYSQL_STMT *s, column *c, MYSQL_BIND *b, unsigned int i)
{
	if (c->is_null) {
		fputs("NULL", stdout);
	} else if (b->buffer_type == MYSQL_TYPE_LONGLONG) {
		if (c->is_unsigned)
			printf("%llu", (unsigned long long)c->ival);
		else
			printf("%lld", c->ival);
	} else if (b->buffer_type == MYSQL_TYPE_DOUBLE) {
		printf("%.17g", c->dval);
	} else if (is_time_type(b->buffer_type)) {
		print_time(&c->tval);
	} else if (c->len > c->buflen) {
		char *whole = malloc(c->len);
		if (whole == NULL)
			return -1;
		MYSQL_BIND one = *b;
		one.buffer = whole;
		one.buffer_length = c->len;
		if (mysql_stmt_fetch_column(s, &one, i, 0) != 0) {
			free(whole);
			print_stmt_error("fetch_column", s);
			return -1;
		}
		print_value(whole, c->len);
		free(whole);
	} else {
		print_value(c->buf, c->len);
	}
	return 0;
}

static int print_binary_rows(MYSQL_STMT *s, unsigned int nf, column *cols, MYSQL_BIND *binds)
{
	unsigned long nrows = 0;
	for (;;) {
		int rc = mysql_stmt_fetch(s);
		if (rc == MYSQL_NO_DATA)
			break;
		if (rc == 1) {
			print_stmt_error("fetch", s);
			return -1;
		}
		fputs("row", stdout);
		for (unsigned int i = 0; i < nf; i++) {
			putchar('\t');
			if (print_binary_column(s, &cols[i], &binds[i], i) != 0)
				return -1;
		}
		putchar('\n');
		nrows++;
	}
	printf("end rows=%lu\n", nrows);
	return 0;
}

static int print_binary_result(MYSQL_STMT *s, int nres, bool buffered)
{
	MYSQL_RES *meta = mysql_stmt_result_metadata(s);
	if (meta == NULL) {
		printf("ok affected=%llu insert_id=%llu\n", (unsigned long long)mysql_stmt_affected_rows(s),
		       (unsigned long long)mysql_stmt_insert_id(s));
		return 0;
	}
	unsigned int nf = mysql_num_fields(meta);
	MYSQL_FIELD *f = mysql_fetch_fields(meta);
	column *cols = calloc(nf, sizeof(*cols));
	MYSQL_BIND *binds = calloc(nf, sizeof(*binds));
	int rc = -1;
	if (cols == NULL || binds == NULL || bind_columns(f, nf, cols, binds) != 0) {
		printf("error: out of memory binding %u columns\n", nf);
		goto out;
	}
	printf("result %d cols=%u\n", nres, nf);
	for (unsigned int i = 0; i < nf; i++)
		printf("col %s\n", f[i].name);
	if (mysql_stmt_bind_result(s, binds) != 0) {
		print_stmt_error("bind_result", s);
		goto out;
	}
	if (buffered && mysql_stmt_store_result(s) != 0) {
		print_stmt_error("store_result", s);
		goto out;
	}
	rc = print_binary_rows(s, nf, cols, binds);
out:
	for (unsigned int i = 0; cols != NULL && i < nf; i++)
		free(cols[i].buf);
	free(cols);
	free(binds);
	mysql_free_result(meta);
	return rc;
}

static void free_params(param *ps, MYSQL_BIND *binds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		free(ps[i].buf);
	free(ps);
	free(binds);
}

/* Parses and binds nparams specs, then sends the long-data ones. */
static int bind_params(MYSQL_STMT *s, char **specs, unsigned int nspecs, param **out_ps,
                       MYSQL_BIND **out_binds)
{
	unsigned int need = mysql_stmt_param_count(s);
	if (need != nspecs) {
		printf("error: statement has %u parameters, %u given\n", need, nspecs);
		return -1;
	}
	param *ps = calloc(nspecs ? nspecs : 1, sizeof(*ps));
	MYSQL_BIND *binds = calloc(nspecs ? nspecs : 1, sizeof(*binds));
	*out_ps = ps;
	*out_binds = binds;
	if (ps == NULL || binds == NULL) {
		printf("error: out of memory for parameters\n");
		return -1;
	}
	for (unsigned int i = 0; i < nspecs; i++) {
		ps[i].bind = &binds[i];
		if (parse_param(specs[i], &ps[i]) != 0) {
			printf("error: bad parameter '%s'\n", specs[i]);
			return -1;
		}
	}
	if (nspecs > 0 && mysql_stmt_bind_param(s, binds) != 0) {
		print_stmt_error("bind_param", s);
		return -1;
	}
	for (unsigned int i = 0; i < nspecs; i++)
		if (ps[i].kind == 'L' && send_long(s, i, &ps[i]) != 0)
			return -1;
	return 0;
}

static int stmt_set_cursor(MYSQL_STMT *s, unsigned long prefetch)
{
	unsigned long type = CURSOR_TYPE_READ_ONLY;
	if (mysql_stmt_attr_set(s, STMT_ATTR_CURSOR_TYPE, &type) != 0 ||
	    mysql_stmt_attr_set(s, STMT_ATTR_PREFETCH_ROWS, &prefetch) != 0) {
		print_stmt_error("attr_set", s);
		return -1;
	}
	return 0;
}

/* Prints every result of an executed statement (a CALL returns several). */
static int stmt_results(MYSQL *m, MYSQL_STMT *s, bool cursor)
{
	unsigned int server_status = 0;
	if (cursor && mariadb_get_infov(m, MARIADB_CONNECTION_SERVER_STATUS, &server_status) == 0)
		printf("cursor_open=%d\n", (server_status & SERVER_STATUS_CURSOR_EXISTS) != 0);
	for (int nres = 1;; nres++) {
		if (print_binary_result(s, nres, !cursor) != 0)
			return -1;
		int more = mysql_stmt_next_result(s);
		if (more == -1)
			return 0;
		if (more > 0) {
			print_stmt_error("next_result", s);
			return -1;
		}
	}
}

/* prepare / bind / (send long data) / execute / print / close. prefetch 0 = no cursor. */
static int step_stmt(MYSQL *m, const char *sql, char **specs, unsigned int nspecs,
                     unsigned long prefetch)
{
	MYSQL_STMT *s = mysql_stmt_init(m);
	if (s == NULL) {
		print_mysql_error("stmt_init", m);
		return -1;
	}
	param *ps = NULL;
	MYSQL_BIND *binds = NULL;
	int rc = -1;
	if (mysql_stmt_prepare(s, sql, (unsigned long)strlen(sql)) != 0) {
		print_stmt_error("prepare", s);
		goto out;
	}
	printf("prepared params=%lu fields=%u\n", mysql_stmt_param_count(s), mysql_stmt_field_count(s));
	if (prefetch > 0 && stmt_set_cursor(s, prefetch) != 0)
		goto out;
	if (bind_params(s, specs, nspecs, &ps, &binds) != 0)
		goto out;
	if (mysql_stmt_execute(s) != 0) {
		print_stmt_error("execute", s);
		goto out;
	}
	rc = stmt_results(m, s, prefetch > 0);
out:
	if (ps != NULL || binds != NULL)
		free_params(ps, binds, nspecs);
	if (mysql_stmt_close(s) != 0 && rc == 0) {
		print_mysql_error("stmt_close", m);
		rc = -1;
	}
	return rc;
}

/* Prepared once, executed n times: every run's results printed. */
static int step_repeat(MYSQL *m, unsigned long n, const char *sql, char **specs, unsigned int nspecs)
{
	MYSQL_STMT *s = mysql_stmt_init(m);
	param *ps = NULL;
	MYSQL_BIND *binds = NULL;
	int rc = -1;
	if (s == NULL) {
		print_mysql_error("stmt_init", m);
		return -1;
	}
	if (mysql_stmt_prepare(s, sql, (unsigned long)strlen(sql)) != 0) {
		print_stmt_error("prepare", s);
		goto out;
	}
	if (bind_params(s, specs, nspecs, &ps, &binds) != 0)
		goto out;
	for (unsigned long i = 0; i < n; i++) {
		printf("run %lu\n", i + 1);
		if (mysql_stmt_execute(s) != 0) {
			print_stmt_error("execute", s);
			goto out;
		}
		if (stmt_results(m, s, false) != 0)
			goto out;
	}
	rc = 0;
out:
	if (ps != NULL || binds != NULL)
		free_params(ps, binds, nspecs);
	mysql_stmt_close(s);
	return rc;
}

/* One COM_STMT_BULK_EXECUTE: the statement's one parameter bound to 1..n, column-wise. */
static int step_bulk(MYSQL *m, const char *sql, unsigned int n)
{
	MYSQL_STMT *s = mysql_stmt_init(m);
	int *vals = calloc(n ? n : 1, sizeof(*vals));
	MYSQL_BIND b;
	int rc = -1;
	if (s == NULL || vals == NULL) {
		printf("error: out of memory\n");
		goto out;
	}
	for (unsigned int i = 0; i < n; i++)
		vals[i] = (int)i + 1;
	memset(&b, 0, sizeof(b));
	b.buffer_type = MYSQL_TYPE_LONG;
	b.buffer = vals;
	if (mysql_stmt_prepare(s, sql, (unsigned long)strlen(sql)) != 0) {
		print_stmt_error("prepare", s);
		goto out;
	}
	if (mysql_stmt_attr_set(s, STMT_ATTR_ARRAY_SIZE, &n) != 0 || mysql_stmt_bind_param(s, &b) != 0) {
		print_stmt_error("bind", s);
		goto out;
	}
	if (mysql_stmt_execute(s) != 0) {
		print_stmt_error("execute", s);
		goto out;
	}
	printf("bulk affected=%llu\n", (unsigned long long)mysql_stmt_affected_rows(s));
	rc = 0;
out:
	if (s != NULL)
		mysql_stmt_close(s);
	free(vals);
	return rc;
}

/* Each column of the result: its name, type and MariaDB's extended format name. */
static int step_fieldattr(MYSQL *m, const char *sql)
{
	if (mysql_query(m, sql) != 0) {
		print_mysql_error("query", m);
		return -1;
	}
	MYSQL_RES *res = mysql_store_result(m);
	if (res == NULL) {
		print_mysql_error("store_result", m);
		return -1;
	}
	MYSQL_FIELD *f = mysql_fetch_fields(res);
	for (unsigned int i = 0; i < mysql_num_fields(res); i++) {
		MARIADB_CONST_STRING fmt = {0};
		if (mariadb_field_attr(&fmt, &f[i], MARIADB_FIELD_ATTR_FORMAT_NAME) != 0)
			fmt.length = 0;
		printf("field %s type=%d format=%.*s\n", f[i].name, (int)f[i].type, (int)fmt.length,
		       fmt.length ? fmt.str : "");
	}
	mysql_free_result(res);
	return 0;
}

static int step_caps(MYSQL *m)
{
	unsigned long ext = 0, caps = 0;
	mariadb_get_infov(m, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &ext);
	mariadb_get_infov(m, MARIADB_CONNECTION_SERVER_CAPABILITIES, &caps);
	printf("caps compress=%d progress=%d bulk=%d extended_metadata=%d cache_metadata=%d\n",
	       (caps & CLIENT_COMPRESS) != 0, (ext & 1) != 0, (ext & 4) != 0, (ext & 8) != 0, (ext & 16) != 0);
	return 0;
}

static void on_progress(const MYSQL *m, unsigned int stage, unsigned int max_stage, double progress,
                        const char *info, unsigned int info_len)
{
	(void)m;
	printf("progress stage=%u/%u %.1f%% %.*s\n", stage, max_stage, progress, (int)info_len, info);
}

/* ---- session commands ---- */

static int step_status(MYSQL *m)
{
	const char *cipher = mysql_get_ssl_cipher(m);
	printf("status thread_id=%lu tls=%s server=%s\n", mysql_thread_id(m),
	       cipher ? cipher : "none", mysql_get_server_info(m));
	return step_query(m, "SELECT DATABASE(), CURRENT_USER()", 33);
}

static int step_initdb(MYSQL *m, const char *db)
{
	if (mysql_select_db(m, db) != 0) {
		print_mysql_error("select_db", m);
		return -1;
	}
	printf("ok initdb %s\n", db);
	return 0;
}

static int step_reset(MYSQL *m)
{
	if (mysql_reset_connection(m) != 0) {
		print_mysql_error("reset_connection", m);
		return -1;
	}
	printf("ok reset\n");
	return 0;
}

static int step_changeuser(MYSQL *m, const char *user, const char *pw, const char *db)
{
	if (mysql_change_user(m, user, pw, *db ? db : NULL) != 0) {
		print_mysql_error("change_user", m);
		return -1;
	}
	printf("ok changeuser %s\n", user);
	return 0;
}

/* ---- command line ---- */

static bool is_param_spec(const char *a)
{
	return a[0] != '\0' && a[1] == ':';
}

static unsigned int count_params(char **argv, int i, int argc)
{
	unsigned int n = 0;
	while (i + (int)n < argc && is_param_spec(argv[i + n]))
		n++;
	return n;
}

/* Runs the step at argv[*i]; advances *i past its arguments. Returns 0 ok, -1 failed,
 * -2 usage error. */
static int run_step(MYSQL *m, char **argv, int argc, int *i)
{
	const char *verb = argv[(*i)++];
	int left = argc - *i;
	printf("== %s\n", verb);
	if (strcmp(verb, "query") == 0 && left >= 1) {
		const char *sql = argv[(*i)++];
		return step_query(m, sql, strlen(sql));
	}
	if ((strcmp(verb, "stmt") == 0 && left >= 1) || (strcmp(verb, "cursor") == 0 && left >= 2)) {
		unsigned long prefetch = 0;
		if (verb[0] == 'c')
			prefetch = strtoul(argv[(*i)++], NULL, 10);
		if (verb[0] == 'c' && prefetch == 0)
			return -2;
		const char *sql = argv[(*i)++];
		unsigned int n = count_params(argv, *i, argc);
		int rc = step_stmt(m, sql, argv + *i, n, prefetch);
		*i += (int)n;
		return rc;
	}
	if (strcmp(verb, "initdb") == 0 && left >= 1)
		return step_initdb(m, argv[(*i)++]);
	if (strcmp(verb, "reset") == 0)
		return step_reset(m);
	if (strcmp(verb, "status") == 0)
		return step_status(m);
	if (strcmp(verb, "changeuser") == 0 && left >= 3) {
		*i += 3;
		return step_changeuser(m, argv[*i - 3], argv[*i - 2], argv[*i - 1]);
	}
	if (strcmp(verb, "bigquery") == 0 && left >= 1)
		return step_bigquery(m, (size_t)strtoull(argv[(*i)++], NULL, 10));
	if (strcmp(verb, "repeat") == 0 && left >= 2) {
		unsigned long n = strtoul(argv[(*i)++], NULL, 10);
		const char *sql = argv[(*i)++];
		unsigned int np = count_params(argv, *i, argc);
		int rc = step_repeat(m, n, sql, argv + *i, np);
		*i += (int)np;
		return rc;
	}
	if (strcmp(verb, "bulk") == 0 && left >= 2) {
		*i += 2;
		return step_bulk(m, argv[*i - 2], (unsigned int)strtoul(argv[*i - 1], NULL, 10));
	}
	if (strcmp(verb, "fieldattr") == 0 && left >= 1)
		return step_fieldattr(m, argv[(*i)++]);
	if (strcmp(verb, "caps") == 0)
		return step_caps(m);
	return -2;
}

static void usage(void)
{
	fputs("usage: igclient [-h HOST] [-P PORT] [-u USER] [-p PASSWORD] [-D DB] [--multi]\n"
	      "       [--local-infile] [--ssl] [--ssl-ca F] [--ssl-cert F] [--ssl-key F]\n"
	      "       [--ssl-verify] [--keep-going] [--read-timeout S] [--progress] [--compress]\n"
	      "       STEP [STEP...]\n"
	      "steps: query SQL | stmt SQL [PARAM...] | cursor PREFETCH SQL [PARAM...] |\n"
	      "       initdb DB | reset | changeuser USER PASSWORD DB | bigquery NBYTES | status |\n"
	      "       repeat N SQL [PARAM...] | bulk SQL N | fieldattr SQL | caps\n",
	      stderr);
}

/* Returns the index of the first step, or -1 on a usage error. */
static int parse_options(int argc, char **argv, conn_opts *o)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool used = true;
		if (strcmp(a, "-h") == 0 && v) o->host = v;
		else if (strcmp(a, "-P") == 0 && v) o->port = (unsigned int)strtoul(v, NULL, 10);
		else if (strcmp(a, "-u") == 0 && v) o->user = v;
		else if (strcmp(a, "-p") == 0 && v) o->password = v;
		else if (strcmp(a, "-D") == 0 && v) o->db = v;
		else if (strcmp(a, "--ssl-ca") == 0 && v) o->ssl_ca = v;
		else if (strcmp(a, "--ssl-cert") == 0 && v) o->ssl_cert = v;
		else if (strcmp(a, "--ssl-key") == 0 && v) o->ssl_key = v;
		else if (strcmp(a, "--read-timeout") == 0 && v) o->read_timeout = (unsigned int)atoi(v);
		else {
			used = false;
			if (strcmp(a, "--multi") == 0) o->multi = true;
			else if (strcmp(a, "--local-infile") == 0) o->local_infile = true;
			else if (strcmp(a, "--ssl") == 0) o->ssl = true;
			else if (strcmp(a, "--ssl-verify") == 0) o->ssl_verify = true;
			else if (strcmp(a, "--keep-going") == 0) o->keep_going = true;
			else if (strcmp(a, "--progress") == 0) o->progress = true;
			else if (strcmp(a, "--compress") == 0) o->compress = true;
			else return -1;
		}
		if (used)
			i++;
	}
	return i < argc ? i : -1;
}

static MYSQL *connect_db(const conn_opts *o)
{
	MYSQL *m = mysql_init(NULL);
	if (m == NULL) {
		printf("error: mysql_init failed\n");
		return NULL;
	}
	unsigned int proto = MYSQL_PROTOCOL_TCP, ctimeout = 10;
	my_bool on = 1;
	mysql_options(m, MYSQL_OPT_PROTOCOL, &proto);
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &ctimeout);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &o->read_timeout);
	mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &o->read_timeout);
	if (o->local_infile)
		mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &on);
	if (o->progress)
		mysql_options(m, MYSQL_PROGRESS_CALLBACK, (const void *)on_progress);
	if (o->compress)
		mysql_options(m, MYSQL_OPT_COMPRESS, NULL);
	if (o->ssl || o->ssl_ca || o->ssl_cert)
		mysql_ssl_set(m, o->ssl_key, o->ssl_cert, o->ssl_ca, NULL, NULL);
	if (o->ssl)
		mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &on);
	if (o->ssl_verify)
		mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
	unsigned long flags = o->multi ? CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS : 0;
	if (mysql_real_connect(m, o->host, o->user, o->password, o->db, o->port, NULL, flags) == NULL) {
		print_mysql_error("connect", m);
		fprintf(stderr, "igclient: connect: %u %s\n", mysql_errno(m), mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	const char *cipher = mysql_get_ssl_cipher(m);
	printf("connected thread_id=%lu tls=%s\n", mysql_thread_id(m), cipher ? cipher : "none");
	return m;
}

int main(int argc, char **argv)
{
	conn_opts o = {.host = "127.0.0.1", .port = 3306, .user = "root", .read_timeout = 60};
	setvbuf(stdout, NULL, _IOLBF, 0);
	int first = parse_options(argc, argv, &o);
	if (first < 0) {
		usage();
		return 2;
	}
	MYSQL *m = connect_db(&o);
	if (m == NULL)
		return 3;
	int status = 0;
	for (int i = first; i < argc;) {
		const char *verb = argv[i];
		int rc = run_step(m, argv, argc, &i);
		if (rc == -2) {
			usage();
			status = 2;
			break;
		}
		if (rc != 0) {
			fprintf(stderr, "igclient: step %s failed: %u %s\n", verb, mysql_errno(m),
			        mysql_error(m));
			status = 1;
			if (!o.keep_going)
				break;
		}
	}
	mysql_close(m);
	return status;
}
