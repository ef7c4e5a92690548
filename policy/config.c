/*
 * config.c - importgate's YAML configuration: defaults, the schema of conf/importgate.yaml
 * (plus timeouts, limits, backends.connect_timeout_ms), strict validation with
 * "file:line: key: what is wrong" messages, and freeing. The schema is a set of key tables
 * (one per mapping) walked over the tree yamldoc.c builds.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "policy/config.h"
#include "sqlparse/sqlparse.h"

#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/tablefilter.h"
#include "policy/version.h"
#include "policy/yamldoc.h"

#define MAX_CONFIG_BYTES (16u << 20)

typedef struct ctx {
	const char *name;
	char *err;
	size_t errlen;
	ig_config *cfg;
} ctx;

static int cerr(ctx *c, int line, const char *path, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->errlen)
		snprintf(c->err, c->errlen, "%s:%d: %s%s%s", c->name, line, path, *path ? ": " : "", msg);
	return -1;
}

/* ---- enum names (index = enum value) ---- */

static const char *const btls_names[] = {"off", "verify", "insecure", NULL};
static const char *const action_names[] = {"decide", "deny", "pass", NULL};
static const char *const lb_names[] = {"required", "not-needed", "snapshot-after-import", "logical", NULL};
static const char *const cf_names[] = {"required", "not-needed", "reimport-downstream", "logical", NULL};
static const char *const mode_names[] = {"enforce", "dry-run", NULL};
static const char *const unavail_names[] = {"defer-to-tidb", "reject", NULL};
static const char *const opaque_names[] = {"allow", "reject", NULL};
static const char *const fsync_names[] = {"always", "interval", "off", NULL};
static const char *const logstmt_names[] = {"none", "bulk", "all", NULL};
static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};

static const char *enum_name(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? names[v] : "?";
}

const char *ig_log_level_name(ig_log_level l) { return enum_name(level_names, 4, (int)l); }
const char *ig_action_name(ig_rule_action a) { return enum_name(action_names, 3, (int)a); }
const char *ig_logbackup_req_name(ig_logbackup_req r) { return enum_name(lb_names, 4, (int)r); }
const char *ig_changefeed_req_name(ig_changefeed_req r) { return enum_name(cf_names, 4, (int)r); }

/* Cluster names go into etcd keys: letters, digits, '.', '-', '_'. */
static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-' || ch == '_';
}

/* ---- key tables ---- */

typedef enum { T_STR, T_OPTSTR, T_INT, T_SIZE, T_BOOL, T_ENUM, T_HOSTPORT, T_HOSTPORTS, T_STRLIST,
               T_MAP, T_FUNC } ktype;

#define F_PORT0 1     /* T_HOSTPORT: port 0 allowed (= off) */
#define F_NONEMPTY 2  /* T_HOSTPORTS/T_STRLIST/T_STR: at least one entry / character */

typedef struct spec spec;
typedef int (*specfn)(ctx *c, const char *path, const ig_ynode *n, void *base);

struct spec {
	const char *key;
	ktype t;
	size_t off;              /* the field, from base */
	long long min, max;      /* T_INT, T_SIZE */
	const char *const *names; /* T_ENUM */
	const spec *sub;         /* T_MAP */
	specfn fn;               /* T_FUNC: the parser; T_MAP: a check run after the mapping */
	size_t countoff;         /* T_HOSTPORTS, T_STRLIST: the count field */
	int flags;
};

#define FIELD(t, f) ((char *)(base) + offsetof(t, f))

static char *subpath(char *out, size_t outlen, const char *path, const char *key)
{
	snprintf(out, outlen, "%.200s%s%.40s", path, *path ? "." : "", key);
	return out;
}

static const char *kind_name(const ig_ynode *n)
{
	if (n->kind == IG_YN_MAP)
		return "a mapping";
	if (n->kind == IG_YN_SEQ)
		return "a list";
	return ig_ynode_is_null(n) ? "empty" : "a scalar";
}

static int want_scalar(ctx *c, const char *path, const ig_ynode *n, const char *what)
{
	if (n->kind != IG_YN_SCALAR || ig_ynode_is_null(n))
		return cerr(c, n->line, path, "expected %s, got %s", what, kind_name(n));
	if (strlen(n->str) != n->len)
		return cerr(c, n->line, path, "contains a NUL byte");
	return 0;
}

static int set_str(ctx *c, const char *path, const ig_ynode *n, char **dst, bool optional, int flags)
{
	char *s;

	if (optional && (ig_ynode_is_null(n) || (n->kind == IG_YN_SCALAR && n->len == 0))) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (want_scalar(c, path, n, "a string") < 0)
		return -1;
	if ((flags & F_NONEMPTY) && n->len == 0)
		return cerr(c, n->line, path, "must not be empty");
	s = strdup(n->str);
	if (!s)
		return cerr(c, n->line, path, "out of memory");
	free(*dst);
	*dst = s;
	return 0;
}

static int parse_int(ctx *c, const char *path, const ig_ynode *n, long long min, long long max,
                     long long *out)
{
	const char *p;
	long long v = 0;
	bool neg = false;

	if (n->kind != IG_YN_SCALAR || !n->plain || ig_ynode_is_null(n))
		return cerr(c, n->line, path, "expected an integer, got %s",
		            n->kind == IG_YN_SCALAR && !n->plain ? "a quoted string" : kind_name(n));
	p = n->str;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (!*p)
		return cerr(c, n->line, path, "expected an integer, got \"%.40s\"", n->str);
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return cerr(c, n->line, path, "expected an integer, got \"%.40s\"", n->str);
		if (v > (max + 1) / 10 + 1)
			return cerr(c, n->line, path, "%.40s is out of range (%lld to %lld)", n->str, min, max);
		v = v * 10 + (*p - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return cerr(c, n->line, path, "%.40s is out of range (%lld to %lld)", n->str, min, max);
	*out = v;
	return 0;
}

static int set_bool(ctx *c, const char *path, const ig_ynode *n, bool *dst)
{
	static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False", "FALSE"};

	if (n->kind == IG_YN_SCALAR && n->plain) {
		for (int i = 0; i < 3; i++) {
			if (strcmp(n->str, t[i]) == 0)
				return *dst = true, 0;
			if (strcmp(n->str, f[i]) == 0)
				return *dst = false, 0;
		}
	}
	return cerr(c, n->line, path, "expected true or false, got %s%.40s%s",
	            n->kind == IG_YN_SCALAR ? "\"" : "", n->kind == IG_YN_SCALAR ? n->str : kind_name(n),
	            n->kind == IG_YN_SCALAR ? "\"" : "");
}

static int set_enum(ctx *c, const char *path, const ig_ynode *n, const char *const *names, int *dst)
{
	char list[256] = "";

	if (n->kind == IG_YN_SCALAR && strlen(n->str) == n->len)
		for (int i = 0; names[i]; i++)
			if (strcmp(n->str, names[i]) == 0)
				return *dst = i, 0;
	for (int i = 0; names[i]; i++) {
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s%s", i ? (names[i + 1] ? ", " : " or ") : "", names[i]);
	}
	if (n->kind != IG_YN_SCALAR)
		return cerr(c, n->line, path, "expected one of %s, got %s", list, kind_name(n));
	return cerr(c, n->line, path, "bad value \"%.60s\" (expected %s)", n->str, list);
}

static int set_hostport(ctx *c, const char *path, const ig_ynode *n, ig_hostport *dst, int flags)
{
	char e[200];
	ig_hostport hp;

	if (want_scalar(c, path, n, "host:port") < 0)
		return -1;
	if (ig_hostport_parse(n->str, &hp, e, sizeof(e)) < 0)
		return cerr(c, n->line, path, "%s", e);
	if (hp.port == 0 && !(flags & F_PORT0)) {
		free(hp.host);
		return cerr(c, n->line, path, "bad host:port \"%.100s\": port 0 is not allowed here", n->str);
	}
	free(dst->host);
	*dst = hp;
	return 0;
}

static void free_hostports(ig_hostport *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].host);
	free(v);
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int want_list(ctx *c, const char *path, const ig_ynode *n, int flags)
{
	if (n->kind != IG_YN_SEQ)
		return cerr(c, n->line, path, "expected a list, got %s", kind_name(n));
	if ((flags & F_NONEMPTY) && n->n == 0)
		return cerr(c, n->line, path, "must list at least one entry");
	return 0;
}

static int set_hostports(ctx *c, const char *path, const ig_ynode *n, ig_hostport **dst,
                         size_t *count, int flags)
{
	ig_hostport *v;
	char ip[300];

	if (want_list(c, path, n, flags) < 0)
		return -1;
	v = calloc(n->n ? n->n : 1, sizeof(*v));
	if (!v)
		return cerr(c, n->line, path, "out of memory");
	for (size_t i = 0; i < n->n; i++) {
		snprintf(ip, sizeof(ip), "%.200s[%zu]", path, i);
		if (set_hostport(c, ip, n->items[i], &v[i], 0) < 0) {
			free_hostports(v, i);
			return -1;
		}
	}
	free_hostports(*dst, *count);
	*dst = v;
	*count = n->n;
	return 0;
}

static int set_strlist(ctx *c, const char *path, const ig_ynode *n, char ***dst, size_t *count,
                       int flags)
{
	char **v;
	char ip[300];

	if (want_list(c, path, n, flags) < 0)
		return -1;
	v = calloc(n->n ? n->n : 1, sizeof(*v));
	if (!v)
		return cerr(c, n->line, path, "out of memory");
	for (size_t i = 0; i < n->n; i++) {
		snprintf(ip, sizeof(ip), "%.200s[%zu]", path, i);
		if (set_str(c, ip, n->items[i], &v[i], false, F_NONEMPTY) < 0) {
			free_strv(v, i);
			return -1;
		}
	}
	free_strv(*dst, *count);
	*dst = v;
	*count = n->n;
	return 0;
}

static int walk_map(ctx *c, const char *path, const ig_ynode *n, const spec *specs, void *base);

static int set_value(ctx *c, const char *path, const ig_ynode *n, const spec *s, void *base)
{
	void *f = (char *)base + s->off;
	long long v;

	switch (s->t) {
	case T_STR:
		return set_str(c, path, n, f, false, s->flags);
	case T_OPTSTR:
		return set_str(c, path, n, f, true, 0);
	case T_INT:
		if (parse_int(c, path, n, s->min, s->max, &v) < 0)
			return -1;
		*(int *)f = (int)v;
		return 0;
	case T_SIZE:
		if (parse_int(c, path, n, s->min, s->max, &v) < 0)
			return -1;
		*(size_t *)f = (size_t)v;
		return 0;
	case T_BOOL:
		return set_bool(c, path, n, f);
	case T_ENUM:
		return set_enum(c, path, n, s->names, f);
	case T_HOSTPORT:
		return set_hostport(c, path, n, f, s->flags);
	case T_HOSTPORTS:
		return set_hostports(c, path, n, f, (size_t *)((char *)base + s->countoff), s->flags);
	case T_STRLIST:
		return set_strlist(c, path, n, f, (size_t *)((char *)base + s->countoff), s->flags);
	case T_MAP:
		if (walk_map(c, path, n, s->sub, base) < 0)
			return -1;
		return s->fn ? s->fn(c, path, n, base) : 0;
	case T_FUNC:
		return s->fn(c, path, n, base);
	}
	return cerr(c, n->line, path, "internal error: bad key type");
}

static int unknown_key(ctx *c, const char *path, const ig_ynode *k, const spec *specs)
{
	char list[320] = "";

	if (strcmp(k->str, "password") == 0 || strcmp(k->str, "token") == 0)
		return cerr(c, k->line, path,
		            "unknown key \"%s\": secrets are never written in the config, use %s_file "
		            "(a path to a file holding it)", k->str, k->str);
	for (const spec *s = specs; s->key; s++) {
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s%s", s == specs ? "" : ", ", s->key);
	}
	return cerr(c, k->line, path, "unknown key \"%.60s\" (expected one of: %s)", k->str, list);
}

static int walk_map(ctx *c, const char *path, const ig_ynode *n, const spec *specs, void *base)
{
	unsigned long long seen = 0;
	char sp[300];

	if (ig_ynode_is_null(n))
		return 0; /* "section:" with nothing under it: all defaults */
	if (n->kind != IG_YN_MAP)
		return cerr(c, n->line, path, "expected a mapping, got %s", kind_name(n));
	for (size_t i = 0; i + 1 < n->n; i += 2) {
		const ig_ynode *k = n->items[i], *v = n->items[i + 1];
		const spec *s;
		if (k->kind != IG_YN_SCALAR || strlen(k->str) != k->len)
			return cerr(c, k->line, path, "a key must be a plain string");
		for (s = specs; s->key && strcmp(s->key, k->str) != 0; s++)
			;
		if (!s->key)
			return unknown_key(c, path, k, specs);
		if (seen & (1ull << (s - specs)))
			return cerr(c, k->line, path, "duplicate key \"%s\"", k->str);
		seen |= 1ull << (s - specs);
		if (set_value(c, subpath(sp, sizeof(sp), path, s->key), v, s, base) < 0)
			return -1;
	}
	return 0;
}

/* ---- custom checks ---- */

static int check_pair(ctx *c, const char *path, const ig_ynode *n, const ig_tls_files *t)
{
	if ((t->cert != NULL) != (t->key != NULL))
		return cerr(c, n->line, path, "%s is set without %s: give both or neither",
		            t->cert ? "cert" : "key", t->cert ? "key" : "cert");
	return 0;
}

static int post_backend_tls(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	return check_pair(c, path, n, &((ig_config *)base)->backends.tls.files);
}

static int post_service_tls(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	return check_pair(c, path, n, &((ig_config *)base)->obligations.service.tls.files);
}

static int post_cluster_tls(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	return check_pair(c, path, n, &((ig_config *)base)->cluster.tls);
}

static int post_client_tls(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	ig_config *cfg = base;

	if (check_pair(c, path, n, &cfg->client_tls.files) < 0)
		return -1;
	if (cfg->client_tls.require && !cfg->client_tls.files.cert)
		return cerr(c, n->line, path, "require: true needs cert and key");
	return 0;
}

static int fn_tidb_version(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	ig_config *cfg = base;
	ig_tidb_version v;

	if (want_scalar(c, path, n, "\"auto\" or a version like v8.5.0") < 0)
		return -1;
	if (strcmp(n->str, "auto") != 0 && ig_tidb_version_parse(n->str, n->len, &v) < 0)
		return cerr(c, n->line, path, "bad TiDB version \"%.40s\" (expected auto or e.g. v8.5.0)",
		            n->str);
	return set_str(c, path, n, &cfg->backends.tidb_version, false, F_NONEMPTY);
}

static int fn_cluster_name(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	ig_config *cfg = base;

	if (want_scalar(c, path, n, "a name") < 0)
		return -1;
	if (n->len == 0 || n->len > 128)
		return cerr(c, n->line, path, "must be 1 to 128 characters");
	for (size_t i = 0; i < n->len; i++)
		if (!name_char(n->str[i]))
			return cerr(c, n->line, path, "\"%.60s\": only letters, digits, '.', '-' and '_' "
			            "(it is part of etcd keys)", n->str);
	return set_str(c, path, n, &cfg->cluster.name, false, F_NONEMPTY);
}

static int fn_pd(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	ig_config *cfg = base;
	char ip[300];

	if (set_strlist(c, path, n, &cfg->cluster.pd, &cfg->cluster.npd, 0) < 0)
		return -1;
	for (size_t i = 0; i < cfg->cluster.npd; i++) {
		char *u = cfg->cluster.pd[i];
		size_t l = strlen(u);
		const char *host = strncmp(u, "http://", 7) == 0 ? u + 7 : strncmp(u, "https://", 8) == 0 ? u + 8 : NULL;
		snprintf(ip, sizeof(ip), "%.200s[%zu]", path, i);
		if (!host || !*host || *host == '/')
			return cerr(c, n->items[i]->line, ip,
			            "bad PD URL \"%.100s\" (expected http://host:port or https://host:port)", u);
		for (const char *q = u; *q; q++)
			if ((unsigned char)*q <= ' ' || *q == '?' || *q == '#')
				return cerr(c, n->items[i]->line, ip, "bad PD URL \"%.100s\"", u);
		while (l > 0 && u[l - 1] == '/')
			u[--l] = '\0';
	}
	return 0;
}

/* The URI is written into every obligation record (the shared store, the status API, the
 * audit log) and sent in BACKUP TABLE: a credential in it would be in all of them. BR takes
 * its credentials from the TiKV nodes' environment or instance role instead. */
static int backup_uri_without_secret(ctx *c, const char *path, const ig_ynode *n, const char *uri)
{
	char *red = sql_redact_uri(uri, strlen(uri));
	bool secret;

	if (!red)
		return cerr(c, n->line, path, "out of memory");
	secret = strcmp(red, uri) != 0;
	if (secret)
		cerr(c, n->line, path, "the URI holds a credential (%.120s): secrets are never written in "
		     "the config; give BR its storage credentials on the TiKV nodes (environment or "
		     "instance role)", red);
	free(red);
	return secret ? -1 : 0;
}

static int fn_backup_uri(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	static const char *const ph[] = {"{db}", "{table}", "{job_id}"};
	ig_config *cfg = base;

	if (set_str(c, path, n, &cfg->obligations.backup_uri, true, 0) < 0)
		return -1;
	if (!cfg->obligations.backup_uri)
		return 0; /* explicitly off: rules that owe a snapshot are refused by cross_check */
	for (const char *p = strchr(cfg->obligations.backup_uri, '{'); p; p = strchr(p + 1, '{')) {
		bool ok = false;
		for (size_t i = 0; i < 3; i++)
			ok |= strncmp(p, ph[i], strlen(ph[i])) == 0;
		if (!ok)
			return cerr(c, n->line, path, "unknown placeholder at \"%.30s\" (known: {db}, {table}, "
			            "{job_id})", p);
	}
	return backup_uri_without_secret(c, path, n, cfg->obligations.backup_uri);
}

/* ---- policy rules ---- */

static const spec rule_specs[] = {
	{.key = "name", .t = T_STR, .off = offsetof(ig_rule, name), .flags = F_NONEMPTY},
	{.key = "users", .t = T_STR, .off = offsetof(ig_rule, users)},
	{.key = "hosts", .t = T_STR, .off = offsetof(ig_rule, hosts)},
	{.key = "tables", .t = T_STRLIST, .off = offsetof(ig_rule, tables), .countoff = offsetof(ig_rule, ntables), .flags = F_NONEMPTY},
	{.key = "action", .t = T_ENUM, .off = offsetof(ig_rule, action), .names = action_names},
	{.key = "log_backup", .t = T_ENUM, .off = offsetof(ig_rule, log_backup), .names = lb_names},
	{.key = "changefeed", .t = T_ENUM, .off = offsetof(ig_rule, changefeed), .names = cf_names},
	{0},
};

static int compile_anchored(ctx *c, const char *path, int line, const char *src, void **out)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
	                               PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF |
	                                   PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C,
	                               &code, &off, NULL);
	if (!re) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(code, msg, sizeof(msg));
		return cerr(c, line, path, "bad regular expression \"%.60s\": %s at offset %zu", src,
		            (char *)msg, (size_t)off);
	}
	*out = re;
	return 0;
}

static int rule_defaults(ctx *c, ig_rule *r, int line)
{
	r->line = line;
	r->users = strdup(".*");
	r->hosts = strdup(".*");
	r->tables = calloc(1, sizeof(char *));
	if (r->tables)
		r->tables[0] = strdup("*.*");
	r->ntables = r->tables && r->tables[0] ? 1 : 0;
	if (!r->users || !r->hosts || !r->ntables)
		return cerr(c, line, "policy.rules", "out of memory");
	return 0;
}

/* Line of `key` inside a rule mapping, or of the mapping itself. */
static int key_line(const ig_ynode *map, const char *key)
{
	for (size_t i = 0; map->kind == IG_YN_MAP && i + 1 < map->n; i += 2)
		if (strcmp(map->items[i]->str, key) == 0)
			return map->items[i + 1]->line;
	return map->line;
}

/* Line of the first table-filter entry that does not compile on its own. */
static int table_line(const ig_ynode *map, const ig_rule *r)
{
	const ig_ynode *list = NULL;

	for (size_t i = 0; map->kind == IG_YN_MAP && i + 1 < map->n; i += 2)
		if (strcmp(map->items[i]->str, "tables") == 0)
			list = map->items[i + 1];
	if (!list || list->kind != IG_YN_SEQ)
		return key_line(map, "tables");
	for (size_t i = 0; i < r->ntables && i < list->n; i++) {
		const char *one[1] = {r->tables[i]};
		ig_tablefilter *f = ig_tablefilter_parse(one, 1, false, NULL, 0);
		if (!f)
			return list->items[i]->line;
		ig_tablefilter_free(f);
	}
	return list->line;
}

static int compile_rule(ctx *c, const char *path, const ig_ynode *n, ig_rule *r)
{
	char sp[300], e[300];

	if (!r->name)
		return cerr(c, n->line, path, "a rule needs a name");
	if (strlen(r->name) > 128)
		return cerr(c, key_line(n, "name"), subpath(sp, sizeof(sp), path, "name"), "longer than 128 characters");
	for (const char *p = r->name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return cerr(c, key_line(n, "name"), subpath(sp, sizeof(sp), path, "name"),
			            "control characters are not allowed");
	if (compile_anchored(c, subpath(sp, sizeof(sp), path, "users"), key_line(n, "users"), r->users, &r->users_re) < 0 ||
	    compile_anchored(c, subpath(sp, sizeof(sp), path, "hosts"), key_line(n, "hosts"), r->hosts, &r->hosts_re) < 0)
		return -1;
	/* Table names in TiDB are case-insensitive (lower_case_table_names = 2). */
	r->filter = ig_tablefilter_parse((const char *const *)r->tables, r->ntables, false, e, sizeof(e));
	if (!r->filter)
		return cerr(c, table_line(n, r), subpath(sp, sizeof(sp), path, "tables"),
		            "bad table filter: %s", e);
	return 0;
}

static int fn_rules(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	ig_config *cfg = base;
	char ip[300];

	if (ig_ynode_is_null(n))
		return 0;
	if (want_list(c, path, n, 0) < 0)
		return -1;
	cfg->policy.rules = calloc(n->n ? n->n : 1, sizeof(ig_rule));
	if (!cfg->policy.rules)
		return cerr(c, n->line, path, "out of memory");
	for (size_t i = 0; i < n->n; i++) {
		const ig_ynode *item = n->items[i];
		ig_rule *r = &cfg->policy.rules[i];
		snprintf(ip, sizeof(ip), "%.200s[%zu]", path, i);
		cfg->policy.nrules = i + 1;
		if (item->kind != IG_YN_MAP)
			return cerr(c, item->line, ip, "expected a mapping (name, users, hosts, tables, ...), "
			            "got %s", kind_name(item));
		if (rule_defaults(c, r, item->line) < 0 || walk_map(c, ip, item, rule_specs, r) < 0 ||
		    compile_rule(c, ip, item, r) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->policy.rules[j].name, r->name) == 0)
				return cerr(c, key_line(item, "name"), ip, "duplicate rule name \"%.60s\" (first "
				            "used at line %d)", r->name, cfg->policy.rules[j].line);
	}
	return 0;
}

/* ---- the schema ---- */

#define CF(f) offsetof(ig_config, f)

static const spec tls_mode_specs[] = {
	{.key = "mode", .t = T_ENUM, .off = CF(backends.tls.mode), .names = btls_names},
	{.key = "ca", .t = T_OPTSTR, .off = CF(backends.tls.files.ca)},
	{.key = "cert", .t = T_OPTSTR, .off = CF(backends.tls.files.cert)},
	{.key = "key", .t = T_OPTSTR, .off = CF(backends.tls.files.key)},
	{0},
};

static const spec backends_specs[] = {
	{.key = "servers", .t = T_HOSTPORTS, .off = CF(backends.servers), .countoff = CF(backends.nservers), .flags = F_NONEMPTY},
	{.key = "tidb_version", .t = T_FUNC, .fn = fn_tidb_version},
	{.key = "tls", .t = T_MAP, .sub = tls_mode_specs, .fn = post_backend_tls},
	{.key = "connect_timeout_ms", .t = T_INT, .off = CF(backends.connect_timeout_ms), .min = 1, .max = 600000},
	{.key = "health_interval_ms", .t = T_INT, .off = CF(backends.health_interval_ms), .min = 0, .max = 3600000},
	{.key = "health_timeout_ms", .t = T_INT, .off = CF(backends.health_timeout_ms), .min = 1, .max = 600000},
	{.key = "max_connections", .t = T_INT, .off = CF(backends.max_connections), .min = 0, .max = 10000000},
	{0},
};

static const spec client_tls_specs[] = {
	{.key = "cert", .t = T_OPTSTR, .off = CF(client_tls.files.cert)},
	{.key = "key", .t = T_OPTSTR, .off = CF(client_tls.files.key)},
	{.key = "ca", .t = T_OPTSTR, .off = CF(client_tls.files.ca)},
	{.key = "require", .t = T_BOOL, .off = CF(client_tls.require)},
	{0},
};

static const spec cluster_tls_specs[] = {
	{.key = "ca", .t = T_OPTSTR, .off = CF(cluster.tls.ca)},
	{.key = "cert", .t = T_OPTSTR, .off = CF(cluster.tls.cert)},
	{.key = "key", .t = T_OPTSTR, .off = CF(cluster.tls.key)},
	{0},
};

static const spec cluster_specs[] = {
	{.key = "name", .t = T_FUNC, .fn = fn_cluster_name},
	{.key = "pd", .t = T_FUNC, .fn = fn_pd},
	{.key = "tls", .t = T_MAP, .sub = cluster_tls_specs, .fn = post_cluster_tls},
	{.key = "timeout_ms", .t = T_INT, .off = CF(cluster.timeout_ms), .min = 1, .max = 600000},
	{.key = "state_max_age_ms", .t = T_INT, .off = CF(cluster.state_max_age_ms), .min = 0, .max = 3600000},
	{0},
};

static const spec policy_specs[] = {
	{.key = "mode", .t = T_ENUM, .off = CF(policy.mode), .names = mode_names},
	{.key = "on_state_unavailable", .t = T_ENUM, .off = CF(policy.on_state_unavailable), .names = unavail_names},
	{.key = "opaque_prepare", .t = T_ENUM, .off = CF(policy.opaque_prepare), .names = opaque_names},
	{.key = "rules", .t = T_FUNC, .fn = fn_rules},
	{0},
};

static const spec audit_specs[] = {
	{.key = "path", .t = T_OPTSTR, .off = CF(audit.path)},
	{.key = "fsync", .t = T_ENUM, .off = CF(audit.fsync), .names = fsync_names},
	{.key = "log_statements", .t = T_ENUM, .off = CF(audit.log_statements), .names = logstmt_names},
	{.key = "max_statement_bytes", .t = T_SIZE, .off = CF(audit.max_statement_bytes), .min = 256, .max = 1ll << 24},
	{.key = "max_file_bytes", .t = T_SIZE, .off = CF(audit.max_file_bytes), .min = 0, .max = 1ll << 40},
	{.key = "keep_files", .t = T_INT, .off = CF(audit.keep_files), .min = 0, .max = 1000},
	{0},
};

static const spec service_tls_specs[] = {
	{.key = "mode", .t = T_ENUM, .off = CF(obligations.service.tls.mode), .names = btls_names},
	{.key = "ca", .t = T_OPTSTR, .off = CF(obligations.service.tls.files.ca)},
	{.key = "cert", .t = T_OPTSTR, .off = CF(obligations.service.tls.files.cert)},
	{.key = "key", .t = T_OPTSTR, .off = CF(obligations.service.tls.files.key)},
	{0},
};

static const spec service_specs[] = {
	{.key = "user", .t = T_STR, .off = CF(obligations.service.user), .flags = F_NONEMPTY},
	{.key = "password_file", .t = T_OPTSTR, .off = CF(obligations.service.password_file)},
	{.key = "tls", .t = T_MAP, .sub = service_tls_specs, .fn = post_service_tls},
	{0},
};

static const spec downstream_specs[] = {
	{.key = "servers", .t = T_HOSTPORTS, .off = CF(obligations.downstream.servers), .countoff = CF(obligations.downstream.nservers)},
	{.key = "user", .t = T_OPTSTR, .off = CF(obligations.downstream.user)},
	{.key = "password_file", .t = T_OPTSTR, .off = CF(obligations.downstream.password_file)},
	{0},
};

static const spec obligations_specs[] = {
	{.key = "file", .t = T_OPTSTR, .off = CF(obligations.file)},
	{.key = "service", .t = T_MAP, .sub = service_specs},
	{.key = "backup_uri", .t = T_FUNC, .fn = fn_backup_uri},
	{.key = "downstream", .t = T_MAP, .sub = downstream_specs},
	{.key = "poll_ms", .t = T_INT, .off = CF(obligations.poll_ms), .min = 100, .max = 86400000},
	{.key = "executors", .t = T_INT, .off = CF(obligations.executors), .min = 1, .max = 64},
	{0},
};

static const spec admin_specs[] = {
	{.key = "listen", .t = T_HOSTPORT, .off = CF(admin.listen), .flags = F_PORT0},
	{.key = "token_file", .t = T_OPTSTR, .off = CF(admin.token_file)},
	{0},
};

static const spec log_specs[] = {
	{.key = "level", .t = T_ENUM, .off = CF(log.level), .names = level_names},
	{0},
};

static const spec timeouts_specs[] = {
	{.key = "handshake_ms", .t = T_INT, .off = CF(timeouts.handshake_ms), .min = 1, .max = 3600000},
	{.key = "idle_ms", .t = T_INT, .off = CF(timeouts.idle_ms), .min = 0, .max = 2147483647},
	{.key = "response_ms", .t = T_INT, .off = CF(timeouts.response_ms), .min = 0, .max = 2147483647},
	{.key = "client_write_ms", .t = T_INT, .off = CF(timeouts.client_write_ms), .min = 0, .max = 2147483647},
	{.key = "shutdown_ms", .t = T_INT, .off = CF(timeouts.shutdown_ms), .min = 0, .max = 3600000},
	{.key = "tcp_keepalive_s", .t = T_INT, .off = CF(timeouts.tcp_keepalive_s), .min = 0, .max = 32767},
	{.key = "tcp_keepalive_interval_s", .t = T_INT, .off = CF(timeouts.tcp_keepalive_interval_s), .min = 1, .max = 32767},
	{.key = "tcp_keepalive_count", .t = T_INT, .off = CF(timeouts.tcp_keepalive_count), .min = 1, .max = 127},
	{.key = "tcp_user_timeout_ms", .t = T_INT, .off = CF(timeouts.tcp_user_timeout_ms), .min = 0, .max = 2147483647},
	{0},
};

static const spec limits_specs[] = {
	{.key = "max_connections", .t = T_INT, .off = CF(limits.max_connections), .min = 0, .max = 10000000},
	{.key = "max_inspect_bytes", .t = T_SIZE, .off = CF(limits.max_inspect_bytes), .min = 1024, .max = 1ll << 31},
	{.key = "write_queue_bytes", .t = T_SIZE, .off = CF(limits.write_queue_bytes), .min = 4096, .max = 1ll << 31},
	{0},
};

static const spec root_specs[] = {
	{.key = "listen", .t = T_HOSTPORT, .off = CF(listen)},
	{.key = "workers", .t = T_INT, .off = CF(workers), .min = 0, .max = 1024},
	{.key = "backends", .t = T_MAP, .sub = backends_specs},
	{.key = "client_tls", .t = T_MAP, .sub = client_tls_specs, .fn = post_client_tls},
	{.key = "cluster", .t = T_MAP, .sub = cluster_specs},
	{.key = "policy", .t = T_MAP, .sub = policy_specs},
	{.key = "audit", .t = T_MAP, .sub = audit_specs},
	{.key = "obligations", .t = T_MAP, .sub = obligations_specs},
	{.key = "admin", .t = T_MAP, .sub = admin_specs},
	{.key = "log", .t = T_MAP, .sub = log_specs},
	{.key = "timeouts", .t = T_MAP, .sub = timeouts_specs},
	{.key = "limits", .t = T_MAP, .sub = limits_specs},
	{0},
};

/* ---- defaults, cross-checks, load, free ---- */

static int set_defaults(ig_config *cfg)
{
	int bad = 0;

	bad |= ig_hostport_parse("127.0.0.1:4000", &cfg->listen, NULL, 0);
	bad |= ig_hostport_parse("127.0.0.1:10080", &cfg->admin.listen, NULL, 0);
	cfg->backends.servers = calloc(1, sizeof(ig_hostport));
	bad |= !cfg->backends.servers || ig_hostport_parse("127.0.0.1:4001", cfg->backends.servers, NULL, 0);
	cfg->backends.nservers = cfg->backends.servers ? 1 : 0;
	cfg->backends.tidb_version = strdup("auto");
	/* Only a PREPARE FROM @var whose variable cannot be read is opaque; never let it through
	 * by default (the text may be a covered import). */
	cfg->policy.opaque_prepare = IG_OPAQUE_REJECT;
	cfg->backends.connect_timeout_ms = 5000;
	cfg->backends.health_interval_ms = 5000;
	cfg->backends.health_timeout_ms = 2000;
	cfg->cluster.name = strdup("default");
	cfg->cluster.pd = calloc(1, sizeof(char *));
	if (cfg->cluster.pd && (cfg->cluster.pd[0] = strdup("http://127.0.0.1:2379")))
		cfg->cluster.npd = 1;
	cfg->cluster.timeout_ms = 2000;
	cfg->cluster.state_max_age_ms = 5000;
	cfg->audit.path = strdup("/var/log/importgate/audit.jsonl");
	cfg->audit.log_statements = IG_LOGSTMT_BULK;
	cfg->audit.max_statement_bytes = 8192;
	cfg->audit.max_file_bytes = 100u << 20;
	cfg->audit.keep_files = 5;
	cfg->obligations.file = strdup("/var/lib/importgate/obligations.log");
	cfg->obligations.service.user = strdup("importgate");
	cfg->obligations.backup_uri = strdup("s3://backup/importgate/{db}/{table}/{job_id}");
	cfg->obligations.poll_ms = 5000;
	cfg->obligations.executors = 4;
	cfg->log.level = IG_LOG_INFO;
	cfg->timeouts.handshake_ms = 10000;
	cfg->timeouts.shutdown_ms = 30000;
	cfg->timeouts.client_write_ms = 60000;
	cfg->timeouts.tcp_keepalive_s = 60;
	cfg->timeouts.tcp_keepalive_interval_s = 10;
	cfg->timeouts.tcp_keepalive_count = 6;
	cfg->limits.max_inspect_bytes = 64u << 20;
	cfg->limits.write_queue_bytes = 1u << 20;
	cfg->refs = 1;
	if (bad || !cfg->backends.tidb_version || !cfg->cluster.name || !cfg->cluster.npd ||
	    !cfg->audit.path || !cfg->obligations.file || !cfg->obligations.service.user ||
	    !cfg->obligations.backup_uri)
		return -1;
	return 0;
}

/* Obligations a rule can create must have somewhere to go. */
static int cross_check(ctx *c)
{
	ig_config *cfg = c->cfg;

	for (size_t i = 0; i < cfg->policy.nrules; i++) {
		const ig_rule *r = &cfg->policy.rules[i];
		char path[200];
		snprintf(path, sizeof(path), "policy.rules[%zu] (\"%.60s\")", i, r->name);
		if (r->log_backup == IG_LB_SNAPSHOT_AFTER_IMPORT && !cfg->obligations.backup_uri)
			return cerr(c, r->line, path, "log_backup: snapshot-after-import needs "
			            "obligations.backup_uri");
		if (r->changefeed == IG_CF_REIMPORT_DOWNSTREAM && cfg->obligations.downstream.nservers == 0)
			return cerr(c, r->line, path, "changefeed: reimport-downstream needs "
			            "obligations.downstream.servers");
	}
	return 0;
}

static void free_tls(ig_tls_files *t)
{
	free(t->ca);
	free(t->cert);
	free(t->key);
}

void ig_config_free(ig_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->listen.host);
	free_hostports(cfg->backends.servers, cfg->backends.nservers);
	free(cfg->backends.tidb_version);
	free_tls(&cfg->backends.tls.files);
	free_tls(&cfg->client_tls.files);
	free(cfg->cluster.name);
	free_strv(cfg->cluster.pd, cfg->cluster.npd);
	free_tls(&cfg->cluster.tls);
	for (size_t i = 0; i < cfg->policy.nrules; i++) {
		ig_rule *r = &cfg->policy.rules[i];
		free(r->name);
		free(r->users);
		free(r->hosts);
		pcre2_code_free(r->users_re);
		pcre2_code_free(r->hosts_re);
		free_strv(r->tables, r->ntables);
		ig_tablefilter_free(r->filter);
	}
	free(cfg->policy.rules);
	free(cfg->audit.path);
	free(cfg->obligations.file);
	free(cfg->obligations.service.user);
	free(cfg->obligations.service.password_file);
	free_tls(&cfg->obligations.service.tls.files);
	free(cfg->obligations.backup_uri);
	free_hostports(cfg->obligations.downstream.servers, cfg->obligations.downstream.nservers);
	free(cfg->obligations.downstream.user);
	free(cfg->obligations.downstream.password_file);
	free(cfg->admin.listen.host);
	free(cfg->admin.token_file);
	free(cfg);
}

ig_config *ig_config_ref(ig_config *cfg)
{
	if (cfg)
		__atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
	return cfg;
}

void ig_config_unref(ig_config *cfg)
{
	if (cfg && __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) == 0)
		ig_config_free(cfg);
}

int ig_config_load_string(const char *name, const char *yaml, size_t len, ig_config **out,
                          char *err, size_t errlen)
{
	ctx c = {.name = name ? name : "<config>", .err = err, .errlen = errlen};
	ig_ynode *root = NULL;
	int rc;

	*out = NULL;
	c.cfg = calloc(1, sizeof(*c.cfg));
	if (!c.cfg || set_defaults(c.cfg) < 0) {
		ig_config_free(c.cfg);
		return cerr(&c, 1, "", "out of memory");
	}
	rc = ig_yaml_parse(c.name, yaml ? yaml : "", yaml ? len : 0, &root, err, errlen);
	if (rc == 0 && root && root->kind != IG_YN_MAP && !ig_ynode_is_null(root))
		rc = cerr(&c, root->line, "", "the config must be a mapping of keys (listen, backends, "
		          "cluster, policy, ...), got %s", kind_name(root));
	if (rc == 0 && root)
		rc = walk_map(&c, "", root, root_specs, c.cfg);
	if (rc == 0)
		rc = cross_check(&c);
	ig_ynode_free(root);
	if (rc < 0) {
		ig_config_free(c.cfg);
		return -1;
	}
	*out = c.cfg;
	return 0;
}

int ig_config_load(const char *path, ig_config **out, char *err, size_t errlen)
{
	FILE *f;
	struct stat st;
	char *buf;
	size_t n;
	int rc;

	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)MAX_CONFIG_BYTES) {
		snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path, MAX_CONFIG_BYTES);
		fclose(f);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	rc = ig_config_load_string(path, buf, n, out, err, errlen);
	free(buf);
	if (rc == 0 && !((*out)->path = strdup(path))) {
		ig_config_free(*out);
		*out = NULL;
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	return rc;
}
