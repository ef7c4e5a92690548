/*
 * ltn_preflight.c - the Lightning preflight (ltn_preflight.h): task, files, cluster state,
 * one decision per target table, and the answer in words or JSON.
 * How a decision maps for Lightning's physical mode (docs/LIGHTNING.md):
 *   reject -> refused; logical -> "use backend = tidb for these tables";
 *   add-disable-precheck -> allowed, Lightning's own CDCPITRCheckItem would stop, so
 *   check-requirements = false is needed; pass -> allowed, the check would not stop (or, when
 *   the state could not be read or a rule says action: pass, Lightning's own check decides).
 * The decision is asked with a TiDB version of at least v8.0: IMPORT INTO has no way past its
 * precheck before v8.0 (DISABLE_PRECHECK), Lightning always had one (check-requirements);
 * which changefeeds count is the same for v7.5 and v8.0-v8.1 (policy/precheck_model.c).
 */
#include "proxy/ltn_preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lightning/pdaddr.h"
#include "pd/etcdread.h"
#include "policy/oblrecord.h"
#include "policy/version.h"
#include "proxy/mysql_proto.h"
#include "proxy/proxyproto.h"
#include "proxy/svcconn.h"

#define MAX_TASK_BYTES (4u << 20)
#define MAX_FILES 1000000

const char *ig_ltn_verdict_name(ig_ltn_verdict v)
{
	return v == IG_LTN_ALLOWED ? "allowed" : v == IG_LTN_LOGICAL ? "logical" : "refused";
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!(buf = malloc(MAX_TASK_BYTES + 1))) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	*len = fread(buf, 1, MAX_TASK_BYTES + 1, f);
	if (ferror(f) || *len > MAX_TASK_BYTES) {
		snprintf(err, errlen, "%s: %s", path, ferror(f) ? strerror(errno) : "larger than 4 MiB");
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[*len] = 0;
	return buf;
}

/* ---- listing data-source-dir (nftw has no user pointer: one listing at a time) ---- */

static struct {
	ig_ltn_file *v;
	size_t n, cap, root_len;
	bool oom;
} walk;

/* Every entry that is not a directory, as Lightning's local storage: filepath.Walk (lstat)
 * hands on whatever IsDir() is false for, symlinks included, and opens it through the link
 * (pingcap/tidb br/pkg/storage/local.go WalkDir: "if not a regular file, we need to use
 * os.stat to get the real file size"). The root itself is not a file of the export. What it
 * opens (device, inode, size) is kept: the guarded run imports exactly those files
 * (proxy/ltn_snapshot.h). */
static int walk_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	struct stat st = *sb;

	if (ftw->level == 0 || type == FTW_D || type == FTW_DP || type == FTW_DNR)
		return 0;
	if (walk.n == walk.cap) {
		size_t nc = walk.cap ? walk.cap * 2 : 64;
		ig_ltn_file *nv = nc <= MAX_FILES ? realloc(walk.v, nc * sizeof(*nv)) : NULL;
		if (!nv) {
			walk.oom = true;
			return 1;
		}
		walk.v = nv;
		walk.cap = nc;
	}
	const char *rel = path + walk.root_len;
	while (*rel == '/')
		rel++;
	ig_ltn_file *f = &walk.v[walk.n];
	memset(f, 0, sizeof(*f));
	f->opened = !S_ISLNK(sb->st_mode) || stat(path, &st) == 0;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	if (!(f->rel = strdup(rel))) {
		walk.oom = true;
		return 1;
	}
	walk.n++;
	return 0;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const ig_ltn_file *)a)->rel, ((const ig_ltn_file *)b)->rel);
}

static void files_free(ig_ltn_file *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].rel);
	free(v);
}

static void walk_free(void)
{
	files_free(walk.v, walk.n);
	memset(&walk, 0, sizeof(walk));
}

/* Every non-directory entry under dir (symlinks not followed into directories, as
 * filepath.Walk), relative, sorted (filepath.Walk's lexical order). */
static int list_files(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	walk_free();
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "'%s': `mydumper.data-source-dir` does not exist", dir);
		return -1;
	}
	walk.root_len = strlen(dir);
	if (nftw(dir, walk_one, 32, FTW_PHYS) != 0 || walk.oom) {
		snprintf(err, errlen, "%s: %s", dir, walk.oom ? "too many files or out of memory" : strerror(errno));
		walk_free();
		return -1;
	}
	if (walk.n)
		qsort(walk.v, walk.n, sizeof(*walk.v), cmp_file);
	return 0;
}

/* The listing becomes the preflight's, and the target tables are found in it. */
static int find_targets(ig_ltn_preflight *p, char *err, size_t errlen)
{
	const char **names = calloc(walk.n ? walk.n : 1, sizeof(char *));
	int rc;

	p->files = walk.v;
	p->nfiles = walk.n;
	memset(&walk, 0, sizeof(walk));
	if (!names) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < p->nfiles; i++)
		names[i] = p->files[i].rel;
	rc = ig_ltn_targets_find(&p->task, names, p->nfiles, &p->targets, err, errlen);
	free(names);
	return rc;
}

/* ---- what the task's TiDB is: its greeting ---- */

static long long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000LL + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Waits for ev on fd until the deadline: 0, or -1 (timed out or failed). */
static int wait_fd(int fd, short ev, const struct timespec *deadline)
{
	struct pollfd pfd = {.fd = fd, .events = ev};
	long long left = ms_left(deadline);
	int rc;

	if (left <= 0)
		return -1;
	do
		rc = poll(&pfd, 1, (int)left);
	while (rc < 0 && errno == EINTR);
	return rc == 1 && (pfd.revents & ev) ? 0 : -1;
}

static int connect_by(const struct addrinfo *ai, const struct timespec *deadline)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol), e = 0;
	socklen_t el = sizeof(e);

	if (fd < 0)
		return -1;
	if ((connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) ||
	    wait_fd(fd, POLLOUT, deadline) < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads the first packet (the greeting) into buf: its payload length, or -1. */
static long read_first_packet(int fd, uint8_t *buf, size_t cap, const struct timespec *deadline)
{
	size_t have = 0, want = 4;

	while (have < want) {
		ssize_t n;
		if (wait_fd(fd, POLLIN, deadline) < 0 || (n = read(fd, buf + have, want - have)) <= 0)
			return -1;
		have += (size_t)n;
		if (have == 4 && want == 4 && (want = 4 + (size_t)my_u24(buf)) > cap)
			return -1;
	}
	return (long)(want - 4);
}

/* A server's bytes, printed on the operator's terminal and put in JSON: printable ASCII
 * only (a TiDB version is), anything else as '?', so no control sequence reaches the
 * terminal and jansson never drops the field for invalid UTF-8. */
static void keep_printable(char *out, size_t cap, const char *sv, size_t len)
{
	size_t i = 0;

	for (; i < len && i + 1 < cap; i++)
		out[i] = sv[i] >= 0x20 && sv[i] < 0x7f ? sv[i] : '?';
	out[i] = '\0';
}

/*
 * The server version [tidb] host:port greets with, read as the health probe reads it (a
 * PROXY protocol LOCAL header first when backends.proxy_protocol says so), within
 * backends.health_timeout_ms; p->tidb_server stays "" when it does not greet. The live path
 * knows TiDB X by its session's greeting (proxy/decision.c); the preflight has no session.
 */
static void read_tidb_greeting(const ig_config *cfg, ig_ltn_preflight *p)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	struct timespec deadline;
	uint8_t buf[4 + 1024];
	char port[16], why[128];
	my_greeting g;
	long plen = -1;
	int fd = -1;

	if (!p->tidb_at)
		return;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += cfg->backends.health_timeout_ms / 1000;
	deadline.tv_nsec += (cfg->backends.health_timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	snprintf(port, sizeof(port), "%d", p->tidb_at->port);
	if (getaddrinfo(p->tidb_at->host, port, &hints, &res) != 0)
		return;
	for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = connect_by(ai, &deadline);
	freeaddrinfo(res);
	if (fd < 0)
		return;
	if (cfg->backends.proxy_protocol != IG_PP_SEND_V2 ||
	    write(fd, ig_pp_local_header, sizeof(ig_pp_local_header)) == (ssize_t)sizeof(ig_pp_local_header))
		plen = read_first_packet(fd, buf, sizeof(buf), &deadline);
	close(fd);
	if (plen > 0 && buf[4] != 0xff && my_greeting_parse(buf + 4, (size_t)plen, &g, why, sizeof(why)) == 0)
		keep_printable(p->tidb_server, sizeof(p->tidb_server), g.server_version, strlen(g.server_version));
}

/* ---- what the task's TiDB is: asked on the gateway's service login ---- */

static unsigned timeout_s(const ig_config *cfg)
{
	int ms = cfg->backends.health_timeout_ms;
	return ms > 1000 ? (unsigned)(ms + 999) / 1000 : 1;
}

/* What the answer says: TiDB X, the release, a released classic TiDB (policy/version.c). */
static void read_answer(ig_ltn_preflight *p, const char *version, const char *info)
{
	size_t rl = 0;
	const char *rel = info ? ig_tidb_info_release(info, strlen(info), &rl) : NULL;

	keep_printable(p->tidb_said_version, sizeof(p->tidb_said_version), version, strlen(version));
	if (rel)
		keep_printable(p->tidb_said_release, sizeof(p->tidb_said_release), rel, rl);
	if (ig_tidb_backend_identify(p->tidb_server, version, info, &p->tidb_version, &p->tidb_nextgen) < 0)
		p->tidb_version.major = -1;
	p->tidb_classic_release = info && ig_tidb_info_names_release(info, strlen(info));
	p->tidb_asked = true;
}

/*
 * Asks [tidb] host:port which TiDB it is, on the gateway's own service login (the account
 * that follows import jobs; the task's credentials are Lightning's): a greeting is written by
 * whatever is in front (a TiProxy) or by TiDB's server-version, TIDB_VERSION() is not
 * (docs/TIDB_VERSIONS.md, "Which TiDB answers"). Not answered: tidb_ask_why says why, and
 * the greeting is all the preflight knows.
 */
static void ask_tidb(const ig_config *cfg, ig_ltn_preflight *p)
{
	char err[512] = "", why[sizeof(err) + 128];
	const char *pwf, *user = ig_svc_user(cfg, IG_SVC_UPSTREAM, &pwf);
	char *version, *info;

	if (p->tidb_at && ig_svc_ask_identity(cfg, p->tidb_at->host, p->tidb_at->port, timeout_s(cfg), &version, &info,
	                                      err, sizeof(err)) == 0) {
		read_answer(p, version, info);
		free(version);
		free(info);
		return;
	}
	snprintf(why, sizeof(why), "the service login (obligations.service user \"%s\") did not answer: %s", user, err);
	keep_printable(p->tidb_ask_why, sizeof(p->tidb_ask_why), why, strlen(why));
}

/* ---- the cluster ---- */

/* [tidb] host and port against backends.servers; on a match cluster_why says both. */
static int tidb_same(const ig_config *cfg, ig_ltn_preflight *p)
{
	size_t n = cfg->backends.nservers;
	const char **hosts = calloc(n ? n : 1, sizeof(*hosts));
	int *ports = calloc(n ? n : 1, sizeof(*ports));
	char why[400];
	int rc = 0;

	if (!hosts || !ports)
		snprintf(p->cluster_why, sizeof(p->cluster_why), "out of memory");
	else {
		for (size_t i = 0; i < n; i++) {
			hosts[i] = cfg->backends.servers[i].host;
			ports[i] = cfg->backends.servers[i].port;
		}
		rc = ig_ltn_tidb_same(p->task.tidb_host, p->task.tidb_port, hosts, ports, n, why, sizeof(why));
		/* The server as backends.servers writes it: the greeting and the service login go
		 * where the gateway's sessions go, not to the task's spelling of it (another case, a
		 * trailing dot or brackets name the same server to the comparison, but a resolver
		 * may take a name without its trailing dot through its search list) */
		for (size_t i = 0; rc == 1 && i < n; i++) {
			char w[400];
			if (ig_ltn_tidb_same(p->task.tidb_host, p->task.tidb_port, &hosts[i], &ports[i], 1, w, sizeof(w)) == 1) {
				p->tidb_at = &cfg->backends.servers[i];
				break;
			}
		}
		if (rc == 1) {
			size_t l = strlen(p->cluster_why);
			snprintf(p->cluster_why + l, sizeof(p->cluster_why) - l, "; %s", why);
		} else
			snprintf(p->cluster_why, sizeof(p->cluster_why), "%s", why);
	}
	free(hosts);
	free(ports);
	return rc;
}

/* Whether Lightning imports into the cluster the decision reads: PD (pd-addr) and TiDB
 * ([tidb] host, port) both the gateway's (local backend: the tidb backend writes through
 * TiDB's SQL and needs no PD). */
static void judge_cluster(const ig_config *cfg, ig_ltn_preflight *p)
{
	if (p->task.backend == IG_LTN_BACKEND_TIDB) {
		p->cluster_same = true;
		snprintf(p->cluster_why, sizeof(p->cluster_why), "backend \"tidb\": Lightning writes through TiDB's SQL "
		         "([tidb] host), PD is not used");
		return;
	}
	p->cluster_same = ig_ltn_pd_same(p->task.pd_addr, cfg->cluster.pd, cfg->cluster.npd, p->cluster_why,
	                                 sizeof(p->cluster_why)) == 1;
	if (p->cluster_same) /* and its SQL (schema, table IDs, checksum) is the same cluster's TiDB */
		p->cluster_same = tidb_same(cfg, p) == 1;
	if (p->cluster_same) { /* TiDB X is refused as on the live path (decide.c reject_nextgen) */
		read_tidb_greeting(cfg, p);
		p->tidb_nextgen = ig_tidb_server_nextgen(p->tidb_server, strlen(p->tidb_server));
		if (p->tidb_server[0])
			ask_tidb(cfg, p);
		else
			snprintf(p->tidb_ask_why, sizeof(p->tidb_ask_why), "[tidb] did not greet");
	}
}

/* ---- deciding ---- */

/* The release [tidb] answered with, else backends.tidb_version, else v8.5.0; at least v8.0. */
static ig_tidb_version decision_version(const ig_config *cfg, const ig_ltn_preflight *p)
{
	ig_tidb_version v = {.major = 8, .minor = 5, .patch = 0};
	const char *cv = cfg->backends.tidb_version;

	if (p->tidb_asked && p->tidb_version.major >= 0)
		v = p->tidb_version;
	else if (cv && strcmp(cv, "auto") != 0)
		ig_tidb_version_parse(cv, strlen(cv), &v);
	if (v.major < 8) /* see the top comment */
		v = (ig_tidb_version){.major = 8, .minor = 0, .patch = 0};
	return v;
}

static int answer_logical_backend(ig_ltn_answer *a)
{
	a->verdict = IG_LTN_ALLOWED;
	a->reason = strdup("backend \"tidb\" (logical import): rows go through TiDB's SQL layer, so log backup "
	                   "records them and changefeeds replicate them; Lightning skips its CDC/PiTR check for "
	                   "this backend");
	return a->reason ? 0 : -1;
}

static int answer_physical(const ig_config *cfg, ig_ltn_preflight *p, ig_ltn_answer *a, const char *user,
                           const char *host, char *err, size_t errlen)
{
	ig_decide_input in = {
		.user = user, .host = host, .db = a->t->db, .table = a->t->table,
		.version = decision_version(cfg, p), .nextgen = p->tidb_nextgen, .state = p->state,
		.state_error = p->state ? NULL : p->state_error, .cfg = cfg,
	};
	const char *why;

	if (ig_decide(&in, &a->d, err, errlen) < 0)
		return -1;
	why = a->d.reason ? a->d.reason : "";
	switch (a->d.verdict) {
	case IG_VERDICT_REJECT:
		a->verdict = IG_LTN_REFUSED;
		a->reason = strdup(why);
		break;
	case IG_VERDICT_LOGICAL:
		a->verdict = IG_LTN_LOGICAL;
		if (asprintf(&a->reason, "%s: use Lightning's logical mode (backend = \"tidb\") for this table", why) < 0)
			a->reason = NULL;
		break;
	case IG_VERDICT_ADD_DISABLE_PRECHECK:
		a->verdict = IG_LTN_ALLOWED;
		a->lightning_stops = true;
		a->reason = strdup(why);
		break;
	case IG_VERDICT_PASS:
		a->verdict = IG_LTN_ALLOWED;
		a->defer = a->d.state_unavailable || (a->d.rule && a->d.rule->action == IG_ACTION_PASS);
		a->reason = strdup(why);
		break;
	}
	if (!a->reason) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* check-requirements = false skips Lightning's CDC/PiTR check for every table at once. */
static void judge_skip(ig_ltn_preflight *p)
{
	bool defer = false;

	for (size_t i = 0; i < p->nanswers; i++) {
		p->skip_needed = p->skip_needed || p->answers[i].lightning_stops;
		defer = defer || p->answers[i].defer;
	}
	if (p->task.backend == IG_LTN_BACKEND_TIDB) {
		snprintf(p->skip_why, sizeof(p->skip_why), "not needed: backend \"tidb\" is not checked for log backup "
		         "tasks or changefeeds (keep Lightning's other requirement checks on)");
		return;
	}
	if (!p->cluster_same) {
		snprintf(p->skip_why, sizeof(p->skip_why), "NOT safe: the task does not import into the cluster whose "
		         "log backup tasks and changefeeds were read");
		return;
	}
	if (!p->tidb_server[0]) {
		/* TiDB X keeps a keyspace's tasks where the gateway may not read them (decide.c
		 * reject_nextgen); with its own check on, Lightning answers for what it reads */
		snprintf(p->skip_why, sizeof(p->skip_why), "NOT safe: [tidb] did not greet within "
		         "backends.health_timeout_ms, so it may be TiDB X, whose log backup tasks the gateway "
		         "may not read; keep check-requirements = true so Lightning's own check decides");
		return;
	}
	/* Not left to the tables' verdicts: with no table found in the source none is refused,
	 * and skipping is never safe on TiDB X */
	if (p->tidb_nextgen) {
		snprintf(p->skip_why, sizeof(p->skip_why), "NOT safe: [tidb] is TiDB X (it greets as \"%s\"%s%s%s), "
		         "whose log backup tasks the gateway may not read; keep check-requirements = true so "
		         "Lightning's own check decides", p->tidb_server, p->tidb_asked ? ", TIDB_VERSION() says \"" : "",
		         p->tidb_asked ? p->tidb_said_release : "", p->tidb_asked ? "\"" : "");
		return;
	}
	/* A greeting is written by whatever is in front (a TiProxy) or by TiDB's server-version,
	 * and a next-gen build of master before v26.3 greets with a plain release: only
	 * TIDB_VERSION() tells (docs/TIDB_VERSIONS.md, "Which TiDB answers") */
	if (!p->tidb_asked) {
		snprintf(p->skip_why, sizeof(p->skip_why), "NOT safe: which TiDB answers at [tidb] is not known (%s), and "
		         "its greeting (\"%s\") does not tell: it may be TiDB X, whose log backup tasks the gateway may "
		         "not read; keep check-requirements = true so Lightning's own check decides", p->tidb_ask_why,
		         p->tidb_server);
		return;
	}
	if (!p->tidb_classic_release) {
		snprintf(p->skip_why, sizeof(p->skip_why), "NOT safe: [tidb] answers TIDB_VERSION() with release \"%s\", "
		         "which names no released classic TiDB (a pre-release or a build without a release may be "
		         "next-gen), so it may be TiDB X, whose log backup tasks the gateway may not read; keep "
		         "check-requirements = true so Lightning's own check decides", p->tidb_said_release);
		return;
	}
	if (p->nrefused) {
		snprintf(p->skip_why, sizeof(p->skip_why), "NOT safe: %zu table(s) are refused; skipping the check would "
		         "import them past a log backup task or changefeed that needs them", p->nrefused);
		return;
	}
	if (defer) {
		snprintf(p->skip_why, sizeof(p->skip_why), "NOT safe: %s; keep check-requirements = true so Lightning's "
		         "own check decides", p->state ? "a rule with action: pass defers to Lightning's own check"
		                                      : "the cluster state could not be read");
		return;
	}
	p->skip_safe = true;
	snprintf(p->skip_why, sizeof(p->skip_why), "%s: every table is allowed by the rules against the cluster "
	         "state read from PD%s", p->skip_needed ? "safe, and needed" : "safe, not needed",
	         p->skip_needed ? " (Lightning's own check would stop on a log backup task or changefeed that "
	                          "covers none of them, or whose obligations are recorded)"
	                        : " (no log backup task or changefeed that Lightning's check counts exists)");
}

static int decide_all(const ig_config *cfg, ig_ltn_preflight *p, const char *user, const char *host,
                      char *err, size_t errlen)
{
	if (!(p->answers = calloc(p->targets.n ? p->targets.n : 1, sizeof(*p->answers)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (p->task.backend == IG_LTN_BACKEND_LOCAL && ig_cluster_read(cfg, &p->state, p->state_error,
	                                                               sizeof(p->state_error)) < 0)
		p->state = NULL;
	for (size_t i = 0; i < p->targets.n; i++, p->nanswers++) {
		ig_ltn_answer *a = &p->answers[i];
		a->t = &p->targets.v[i];
		if (p->task.backend == IG_LTN_BACKEND_TIDB ? answer_logical_backend(a)
		                                           : answer_physical(cfg, p, a, user, host, err, errlen)) {
			if (!err[0])
				snprintf(err, errlen, "out of memory");
			p->nanswers++;
			return -1;
		}
		if (a->verdict != IG_LTN_ALLOWED)
			p->nrefused++;
	}
	judge_skip(p);
	return 0;
}

int ig_ltn_preflight_run(const ig_config *cfg, const char *task_path, const char *user, const char *host,
                         ig_ltn_preflight *out, char *err, size_t errlen)
{
	size_t len;
	char *text;
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = 0;
	if (!(out->task_path = strdup(task_path)) || !(text = read_file(task_path, &len, err, errlen))) {
		if (!err[0])
			snprintf(err, errlen, "out of memory");
		ig_ltn_preflight_free(out);
		return -1;
	}
	rc = ig_ltn_task_parse(task_path, text, len, &out->task, err, errlen);
	out->task_text = text;
	out->task_len = len;
	if (rc == 0)
		rc = list_files(out->task.source_path, err, errlen);
	if (rc == 0)
		rc = find_targets(out, err, errlen);
	if (rc == 0)
		judge_cluster(cfg, out);
	if (rc == 0)
		rc = decide_all(cfg, out, user ? user : out->task.tidb_user, host ? host : "", err, errlen);
	if (rc < 0)
		ig_ltn_preflight_free(out);
	return rc;
}

void ig_ltn_preflight_free(ig_ltn_preflight *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nanswers; i++) {
		ig_decision_free(&p->answers[i].d);
		free(p->answers[i].reason);
	}
	free(p->answers);
	ig_ltn_targets_free(&p->targets);
	files_free(p->files, p->nfiles);
	ig_ltn_task_free(&p->task);
	ig_cluster_state_free(p->state);
	free(p->task_path);
	free(p->task_text);
	memset(p, 0, sizeof(*p));
}

/* ---- output ---- */

static void print_list(FILE *f, const char *what, char **v, size_t n)
{
	if (!n)
		return;
	fprintf(f, "    %s:", what);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %s", i ? "," : "", v[i]);
	fputc('\n', f);
}

void ig_ltn_preflight_print(const ig_ltn_preflight *p, FILE *f)
{
	fprintf(f, "Lightning task %s: backend \"%s\" (%s), check-requirements = %s, %zu table(s) in %s\n",
	        p->task_path, ig_ltn_backend_name(p->task.backend),
	        p->task.backend == IG_LTN_BACKEND_LOCAL ? "physical import" : "logical import",
	        p->task.check_requirements ? "true" : "false", p->targets.n, p->task.source_path);
	if (p->task.backend == IG_LTN_BACKEND_LOCAL) {
		fprintf(f, "cluster: %s%s\n", p->cluster_same ? "" : "NOT THE GATEWAY'S: ", p->cluster_why);
		fprintf(f, "TiDB greets as: %s\n", p->tidb_server[0] ? p->tidb_server : "(not read)");
		if (p->tidb_asked)
			fprintf(f, "TiDB answers: @@version \"%s\", TIDB_VERSION() release \"%s\"%s\n", p->tidb_said_version,
			        p->tidb_said_release, p->tidb_nextgen ? " (TiDB X)" : "");
		else if (p->cluster_same)
			fprintf(f, "TiDB not asked: %s\n", p->tidb_ask_why);
		if (p->state)
			fprintf(f, "cluster state: %zu log backup task(s), %zu changefeed(s), read from %s at revision %lld\n",
			        p->state->ntasks, p->state->ncfs, p->state->source ? p->state->source : "?",
			        (long long)p->state->revision);
		else
			fprintf(f, "cluster state: NOT READ (%s)\n", p->state_error);
	}
	for (size_t i = 0; i < p->nanswers; i++) {
		const ig_ltn_answer *a = &p->answers[i];
		fprintf(f, "\n  %s.%s: %s\n", a->t->db, a->t->table,
		        a->verdict == IG_LTN_ALLOWED ? "ALLOWED" : a->verdict == IG_LTN_LOGICAL ? "REFUSED (logical mode)"
		                                                                                : "REFUSED");
		if (strcmp(a->t->db, a->t->src_db) != 0 || strcmp(a->t->table, a->t->src_table) != 0)
			fprintf(f, "    source: %s.%s (routed)%s\n", a->t->src_db, a->t->src_table,
			        a->t->sources > 1 ? " and other sources merged into it" : "");
		fprintf(f, "    data files: %zu%s\n", a->t->data_files, a->t->schema_file ? "" : " (no schema file)");
		print_list(f, "log backup tasks", a->d.tasks, a->d.ntasks);
		print_list(f, "changefeeds", a->d.changefeeds, a->d.nchangefeeds);
		if (a->d.rule)
			fprintf(f, "    rule: %s\n", a->d.rule->name);
		if (a->d.obligations & IG_OBL_SNAPSHOT_AFTER_IMPORT)
			fprintf(f, "    owed after the import: BACKUP TABLE %s.%s (snapshot-after-import)\n", a->t->db, a->t->table);
		if (a->d.obligations & IG_OBL_REIMPORT_DOWNSTREAM)
			fprintf(f, "    owed after the import: the same Lightning task run against the downstream "
			        "cluster for this table (reimport-downstream)\n");
		fprintf(f, "    why: %s\n", a->reason);
	}
	fprintf(f, "\ncheck-requirements = false: %s\n", p->skip_why);
	if (p->task.backend == IG_LTN_BACKEND_LOCAL && !p->task.check_requirements && !p->skip_safe)
		fprintf(f, "the task sets check-requirements = false, which is not safe here: the guarded run refuses "
		        "it; set it to true\n");
	if (!p->cluster_same)
		fprintf(f, "the task does not import into the gateway's cluster (%s): the guarded run refuses it\n",
		        p->cluster_why);
	else if (p->nrefused)
		fprintf(f, "%zu of %zu table(s) refused: do not run this task in physical mode as it is\n",
		        p->nrefused, p->nanswers);
	else
		fprintf(f, "every table allowed%s\n", p->task.backend == IG_LTN_BACKEND_LOCAL
		        ? ": run it with `importgate lightning run` so its obligations are recorded and carried out" : "");
}

static json_t *strv_json(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *answer_json(const ig_ltn_answer *a)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s}, s:I, s:b, s:s, s:s, s:s?, s:o, s:o, s:o, s:b, s:s}",
	                 "db", a->t->db, "table", a->t->table,
	                 "source", "db", a->t->src_db, "table", a->t->src_table,
	                 "data_files", (json_int_t)a->t->data_files, "schema_file", a->t->schema_file,
	                 "verdict", ig_ltn_verdict_name(a->verdict),
	                 "gateway_verdict", a->d.reason ? ig_verdict_name(a->d.verdict) : "n/a",
	                 "rule", a->d.rule ? a->d.rule->name : NULL,
	                 "tasks", strv_json(a->d.tasks, a->d.ntasks),
	                 "changefeeds", strv_json(a->d.changefeeds, a->d.nchangefeeds),
	                 "obligations", ig_obl_kinds_json(a->d.obligations),
	                 "lightning_check_would_stop", a->lightning_stops, "reason", a->reason);
}

/* What [tidb] said when asked (cluster.tidb_said): null when not asked, with the reason in
 * tidb_said_error. */
static json_t *said_json(const ig_ltn_preflight *p)
{
	if (!p->tidb_asked)
		return json_null();
	return json_pack("{s:s, s:s, s:b, s:b}", "version", p->tidb_said_version, "release", p->tidb_said_release,
	                 "nextgen", p->tidb_nextgen, "classic_release", p->tidb_classic_release);
}

json_t *ig_ltn_preflight_json(const ig_ltn_preflight *p)
{
	json_t *tables = json_array(), *o;

	for (size_t i = 0; tables && i < p->nanswers; i++)
		json_array_append_new(tables, answer_json(&p->answers[i]));
	o = json_pack("{s:s, s:s, s:b, s:s, s:{s:b, s:b, s:s}, s:I, s:I, s:o}",
	              "task", p->task_path, "backend", ig_ltn_backend_name(p->task.backend),
	              "check_requirements", p->task.check_requirements, "data_source_dir", p->task.source_path,
	              "check_requirements_false", "safe", p->skip_safe, "needed", p->skip_needed, "why", p->skip_why,
	              "tables_total", (json_int_t)p->nanswers, "tables_refused", (json_int_t)p->nrefused,
	              "tables", tables ? tables : json_array());
	if (o)
		json_object_set_new(o, "cluster", json_pack("{s:b, s:s?, s:s, s:s, s:o}", "same", p->cluster_same,
		                                            "pd_addr", p->task.pd_addr, "why", p->cluster_why,
		                                            "tidb_server", p->tidb_server, "tidb_said", said_json(p)));
	if (o && !p->tidb_asked && p->tidb_ask_why[0])
		json_object_set_new(json_object_get(o, "cluster"), "tidb_said_error", json_string(p->tidb_ask_why));
	if (o && p->task.backend == IG_LTN_BACKEND_LOCAL)
		json_object_set_new(o, "cluster_state", p->state
		        ? json_pack("{s:s?, s:I, s:I, s:I}", "source", p->state->source, "revision",
		                    (json_int_t)p->state->revision, "log_backup_tasks", (json_int_t)p->state->ntasks,
		                    "changefeeds", (json_int_t)p->state->ncfs)
		        : json_pack("{s:s}", "error", p->state_error));
	return o;
}
