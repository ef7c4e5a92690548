/*
 * svcconn.c - the gateway's own logins to TiDB (svcconn.h): password file, TLS, the auth
 * plugins a login may use, TCP only, the PROXY header.
 */
#include "proxy/svcconn.h"

#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proxy/credentials.h"
#include "proxy/proxyproto.h"

static void perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int read_password(const char *configured, char *out, size_t outlen, char *err, size_t errlen)
{
	FILE *f;
	size_t n;
	char pbuf[4096];
	const char *path;

	out[0] = '\0';
	if (!configured || !*configured)
		return 0;
	if (!(path = ig_cred_path(configured, pbuf, sizeof(pbuf), err, errlen)))
		return -1;
	f = fopen(path, "re");
	if (!f) {
		perr(err, errlen, "password file %s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(out, 1, outlen - 1, f);
	fclose(f);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return 0;
}

/* A TLS file's path ("credential:NAME" resolved); an unresolvable one is passed as written,
 * so the connection fails naming it (ig_secrets_check refuses it at start already). */
static const char *tls_path(const char *configured, char *buf, size_t cap)
{
	char why[256];
	const char *p = ig_cred_path(configured, buf, cap, why, sizeof(why));
	return p ? p : configured;
}

/*
 * Without a server whose certificate was checked, the login may only use plugins whose
 * exchange never lets the server read the password (a scramble, a signature): whoever answers
 * at the address (a host that took it over, anything on the path) would otherwise switch the
 * login to mysql_clear_password or dialog (the password as it is; Debian's libmariadb3 ships
 * both) or to caching_sha2_password's full authentication, which encrypts the password with
 * an RSA key the server sends (attack21: test_attack21_service_auth_downgrade.py). With
 * tls.mode verify the server is authenticated and every plugin is allowed (TiDB's LDAP
 * accounts need mysql_clear_password, over TLS). -1: the option was not taken (the library
 * cannot restrict, so the password is not offered).
 *
 * libmariadb 3.3 checks the list against the plugin the greeting announces too, before it
 * sends anything (plugins/auth/my_auth.c run_plugin_auth, error 5010): a TiDB whose
 * default_authentication_plugin is caching_sha2_password announces that one whatever the
 * account's plugin is, and the login failed there. So the login starts with
 * mysql_native_password (MYSQL_DEFAULT_AUTH): a server whose account uses another plugin
 * switches to it (TiDB server/conn.go checkAuthPlugin), and the list decides on that one.
 */
static int restrict_auth(MYSQL *m, const ig_config *cfg)
{
	if (cfg->obligations.service.tls.mode == IG_BTLS_VERIFY)
		return 0;
	if (mysql_optionsv(m, MYSQL_DEFAULT_AUTH, "mysql_native_password") != 0)
		return -1;
	return mysql_optionsv(m, MARIADB_OPT_RESTRICTED_AUTH, "mysql_native_password,client_ed25519") == 0 ? 0 : -1;
}

static void set_tls(MYSQL *m, const ig_config *cfg)
{
	my_bool on = 1, off = 0;
	char pbuf[4096];
	int mode = cfg->obligations.service.tls.mode;
	const ig_tls_files *f = &cfg->obligations.service.tls.files;

	if (mode == IG_BTLS_OFF) {
		mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
		return;
	}
	mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
	mysql_optionsv(m, MARIADB_OPT_TLS_VERSION, "TLSv1.2,TLSv1.3");
	if (f->ca)
		mysql_optionsv(m, MYSQL_OPT_SSL_CA, tls_path(f->ca, pbuf, sizeof(pbuf)));
	if (f->cert)
		mysql_optionsv(m, MYSQL_OPT_SSL_CERT, tls_path(f->cert, pbuf, sizeof(pbuf)));
	if (f->key)
		mysql_optionsv(m, MYSQL_OPT_SSL_KEY, tls_path(f->key, pbuf, sizeof(pbuf)));
	mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, mode == IG_BTLS_VERIFY ? &on : &off);
}

const char *ig_svc_user(const ig_config *cfg, ig_svc_target t, const char **pwf)
{
	*pwf = cfg->obligations.service.password_file;
	if (t == IG_SVC_DOWNSTREAM && cfg->obligations.downstream.user && *cfg->obligations.downstream.user) {
		*pwf = cfg->obligations.downstream.password_file;
		return cfg->obligations.downstream.user;
	}
	return cfg->obligations.service.user ? cfg->obligations.service.user : "";
}

/*
 * One login to host:port. pw is the password read from the login's file. NULL with
 * "host:port: why" in err; *fatal when no other server would fare better (the library).
 */
static MYSQL *open_one(const ig_config *cfg, ig_svc_target t, const char *host, int port, const char *user,
                       const char *pw, const char *db, unsigned connect_s, unsigned read_s, unsigned long max_packet,
                       bool *fatal, char *err, size_t errlen)
{
	MYSQL *m = mysql_init(NULL);
	unsigned wt = 30, no_local_files = 0, tcp = MYSQL_PROTOCOL_TCP;

	*fatal = true;
	if (!m) {
		perr(err, errlen, "out of memory");
		return NULL;
	}
	mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
	mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &wt);
	if (read_s)
		mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &read_s);
	if (max_packet)
		mysql_optionsv(m, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
	/* The service statements read no local file: a server that asks for one (whoever
	 * answers at the address) gets no file, and the capability is not even offered. */
	mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &no_local_files);
	/* TCP to host:port as configured, as the sessions go: libmariadb otherwise takes
	 * "localhost" for its Unix socket ($MYSQL_UNIX_PORT or the built-in path) and drops
	 * the port, and the login and the re-import's credentials went to whatever listens
	 * there (attack22). */
	if (mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &tcp) != 0) {
		perr(err, errlen, "the client library does not take MYSQL_OPT_PROTOCOL TCP");
		mysql_close(m);
		return NULL;
	}
	set_tls(m, cfg);
	if (restrict_auth(m, cfg) < 0) {
		perr(err, errlen, "the client library cannot restrict the authentication plugins "
		     "(MARIADB_OPT_RESTRICTED_AUTH): not logging in without tls.mode verify");
		mysql_close(m);
		return NULL;
	}
	/* The backends expect a PROXY header first (backends.proxy_protocol): LOCAL, TiDB then
	 * takes this connection's own address, the gateway's. The downstream is another cluster. */
	if (t == IG_SVC_UPSTREAM && cfg->backends.proxy_protocol == IG_PP_SEND_V2)
		mysql_optionsv(m, MARIADB_OPT_PROXY_HEADER, ig_pp_local_header, sizeof(ig_pp_local_header));
	*fatal = false;
	if (mysql_real_connect(m, host, user, pw, db, (unsigned)port, NULL, 0))
		return m;
	perr(err, errlen, "%s:%d: %s", host, port, mysql_error(m));
	mysql_close(m);
	return NULL;
}

MYSQL *ig_svc_connect(const ig_config *cfg, ig_svc_target t, const char *db, unsigned read_s,
                      unsigned long max_packet, char *where, size_t wlen, char *err, size_t errlen)
{
	const ig_hostport *sv = t == IG_SVC_UPSTREAM ? cfg->backends.servers : cfg->obligations.downstream.servers;
	size_t n = t == IG_SVC_UPSTREAM ? cfg->backends.nservers : cfg->obligations.downstream.nservers;
	const char *pwf, *user = ig_svc_user(cfg, t, &pwf);
	char pw[512];
	MYSQL *m = NULL;
	bool fatal = false;

	if (n == 0) {
		perr(err, errlen, "no %s servers configured", t == IG_SVC_UPSTREAM ? "backend" : "downstream");
		return NULL;
	}
	if (read_password(pwf, pw, sizeof(pw), err, errlen) < 0)
		return NULL;
	for (size_t i = 0; i < n && !m && !fatal; i++) {
		snprintf(where, wlen, "%s:%d", sv[i].host, sv[i].port);
		m = open_one(cfg, t, sv[i].host, sv[i].port, user, pw, db, 5, read_s, max_packet, &fatal, err, errlen);
	}
	memset(pw, 0, sizeof(pw));
	return m;
}

static MYSQL *connect_to(const ig_config *cfg, ig_svc_target t, const char *host, int port, unsigned connect_s,
                         unsigned read_s, unsigned long max_packet, char *err, size_t errlen)
{
	const char *pwf, *user = ig_svc_user(cfg, t, &pwf);
	char pw[512];
	bool fatal;
	MYSQL *m;

	if (read_password(pwf, pw, sizeof(pw), err, errlen) < 0)
		return NULL;
	m = open_one(cfg, t, host, port, user, pw, NULL, connect_s, read_s, max_packet, &fatal, err, errlen);
	memset(pw, 0, sizeof(pw));
	return m;
}

/* TiDB runs the call inside the "/" "*T!" comment (code there: pingcap/tidb
 * pkg/parser/lexer.go), MySQL and MariaDB answer NULL. */
static const char ask_sql[] = "SELECT @@version, COALESCE(/*T! TIDB_VERSION(), */ NULL)";

/* A column as a new C string; *out NULL for SQL NULL. -1: a NUL inside, or no memory. */
static int take(MYSQL_ROW row, const unsigned long *len, unsigned i, char **out)
{
	*out = NULL;
	if (!row[i])
		return 0;
	if (strlen(row[i]) != len[i] || !(*out = strdup(row[i])))
		return -1;
	return 0;
}

/*
 * The question asked here, on the connection (the child of ask_identity). Unbuffered
 * (mysql_use_result): only the first row is read, so a server that sends rows without end
 * fills no memory, and no packet may exceed ASK_MAX_PACKET (a TIDB_VERSION() text is some
 * 300 bytes).
 */
#define ASK_MAX_PACKET (64ul << 10)

static int ask_here(const ig_config *cfg, const char *host, int port, unsigned timeout_s, char **version, char **info,
                    char *err, size_t errlen)
{
	MYSQL *m = connect_to(cfg, IG_SVC_UPSTREAM, host, port, timeout_s, timeout_s, ASK_MAX_PACKET, err, errlen);
	MYSQL_RES *res = NULL;
	MYSQL_ROW row = NULL;

	*version = *info = NULL;
	if (!m)
		return -1;
	if (mysql_real_query(m, ask_sql, sizeof(ask_sql) - 1) != 0 || !(res = mysql_use_result(m)))
		perr(err, errlen, "%s", mysql_errno(m) ? mysql_error(m) : "no answer");
	else if (mysql_num_fields(res) != 2 || !(row = mysql_fetch_row(res)))
		perr(err, errlen, "%s", mysql_errno(m) ? mysql_error(m) : "an answer of another shape");
	else if (take(row, mysql_fetch_lengths(res), 0, version) < 0 || !*version ||
	         take(row, mysql_fetch_lengths(res), 1, info) < 0)
		perr(err, errlen, "@@version or TIDB_VERSION() unreadable (NULL, or a NUL byte inside)");
	else
		return 0; /* the connection is the child's: its exit closes it, unread rows and all */
	return -1;
}

/* ---- the child's answer on a pipe: 'A' u32 len version, u8 has-info, u32 len info; 'E' err ---- */

static void put_u32(char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t get_u32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void child_answer(int fd, const ig_config *cfg, const char *host, int port, unsigned timeout_s)
{
	char err[512] = "", *version, *info, *msg;
	size_t vl, il, n = 0;

	if (ask_here(cfg, host, port, timeout_s, &version, &info, err, sizeof(err)) < 0) {
		vl = strlen(err);
		msg = malloc(1 + vl);
		if (msg) {
			msg[0] = 'E';
			memcpy(msg + 1, err, vl);
			n = 1 + vl;
		}
	} else {
		vl = strlen(version);
		il = info ? strlen(info) : 0;
		msg = malloc(10 + vl + il);
		if (msg) {
			msg[0] = 'A';
			put_u32(msg + 1, (uint32_t)vl);
			memcpy(msg + 5, version, vl);
			msg[5 + vl] = info ? 1 : 0;
			put_u32(msg + 6 + vl, (uint32_t)il);
			memcpy(msg + 10 + vl, info ? info : "", il);
			n = 10 + vl + il;
		}
	}
	for (size_t off = 0; msg && off < n;) {
		ssize_t w = write(fd, msg + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	_exit(msg ? 0 : 1);
}

/* What the child said, read until it closes the pipe or the deadline passes. 0 + *len, or -1. */
static int read_child(int fd, char *buf, size_t cap, size_t *len, const struct timespec *deadline)
{
	*len = 0;
	for (;;) {
		struct timespec now;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (deadline->tv_sec - now.tv_sec) * 1000LL + (deadline->tv_nsec - now.tv_nsec) / 1000000;
		if (left <= 0)
			return -1;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		r = read(fd, buf + *len, cap - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		*len += (size_t)r;
		if (*len == cap)
			return -1; /* more than an answer can be */
	}
}

static int parse_child(const char *b, size_t n, char **version, char **info, char *err, size_t errlen)
{
	uint32_t vl, il;

	if (n >= 1 && b[0] == 'E') {
		perr(err, errlen, "%.*s", (int)(n - 1), b + 1);
		return -1;
	}
	if (n < 10 || b[0] != 'A' || (vl = get_u32(b + 1)) > n - 10 || (il = get_u32(b + 6 + vl)) != n - 10 - vl) {
		perr(err, errlen, "the login's process ended without an answer");
		return -1;
	}
	*version = strndup(b + 5, vl);
	*info = b[5 + vl] ? strndup(b + 10 + vl, il) : NULL;
	if (!*version || (b[5 + vl] && !*info)) {
		free(*version);
		free(*info);
		*version = *info = NULL;
		perr(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int ig_svc_ask_identity(const ig_config *cfg, const char *host, int port, unsigned timeout_s, char **version,
                        char **info, char *err, size_t errlen)
{
	/* The answer with room to spare: two values of at most one packet each */
	size_t cap = 2 * ASK_MAX_PACKET + 64, len = 0;
	char *buf = malloc(cap);
	struct timespec deadline;
	int fds[2], status, rc = -1;
	pid_t pid;

	*version = *info = NULL;
	if (!buf || pipe2(fds, O_CLOEXEC) != 0) {
		perr(err, errlen, "%s", buf ? strerror(errno) : "out of memory");
		free(buf);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_s;
	fflush(NULL); /* nothing buffered is written twice */
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child_answer(fds[1], cfg, host, port, timeout_s);
	}
	close(fds[1]);
	if (pid < 0)
		perr(err, errlen, "fork: %s", strerror(errno));
	else if (read_child(fds[0], buf, cap, &len, &deadline) < 0)
		perr(err, errlen, "%s:%d: no answer within %u s (backends.health_timeout_ms)", host, port, timeout_s);
	else
		rc = parse_child(buf, len, version, info, err, errlen);
	close(fds[0]);
	if (pid > 0) {
		kill(pid, SIGKILL); /* gone already, or still talking: it is not waited for */
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	free(buf);
	return rc;
}
