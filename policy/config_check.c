/*
 * config_check.c - the configuration's checks beyond one key's type and range: TLS file
 * pairs, the TiDB version, the cluster name, PD endpoints, a backup URI without a secret,
 * and the policy rules (compiled: user and host patterns, table filters).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "policy/config_int.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/tablefilter.h"
#include "policy/version.h"
#include "sqlparse/sqlparse.h"

/* Cluster names go into etcd keys: letters, digits, '.', '-', '_'. */
static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-' || ch == '_';
}

/* ---- custom checks ---- */

static int check_pair(ctx *c, const char *path, const ig_ynode *n, const ig_tls_files *t)
{
	if ((t->cert != NULL) != (t->key != NULL))
		return cfg_cerr(c, n->line, path, "%s is set without %s: give both or neither",
		            t->cert ? "cert" : "key", t->cert ? "key" : "cert");
	return 0;
}

int cfg_post_backend_tls(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	return check_pair(c, path, n, &((ig_config *)base)->backends.tls.files);
}

int cfg_post_service_tls(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	return check_pair(c, path, n, &((ig_config *)base)->obligations.service.tls.files);
}

int cfg_post_cluster_tls(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	return check_pair(c, path, n, &((ig_config *)base)->cluster.tls);
}

/* Line of the i-th item of the sequence under `key` in map n, or of n itself. */
static int item_line(const ig_ynode *n, const char *key, size_t i)
{
	for (size_t k = 0; n->kind == IG_YN_MAP && k + 1 < n->n; k += 2)
		if (strcmp(n->items[k]->str, key) == 0) {
			const ig_ynode *v = n->items[k + 1];
			return v->kind == IG_YN_SEQ && i < v->n ? v->items[i]->line : v->line;
		}
	return n->line;
}

/*
 * cluster.tls with an http:// PD URL is refused (attack22): libcurl would speak to that
 * endpoint in clear text and check no certificate, so whoever answers at the address (or on
 * the path) reads the obligation records (an import's credentials) and answers for the
 * cluster state (hides a log backup task: a covered import passes), while the operator
 * believes PD is reached over TLS. TiDB's PD client never does this either: with
 * cluster-ssl-ca set it turns http:// into https:// (tikv/pd client modifyURLScheme).
 */
int cfg_post_cluster(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	ig_config *cfg = base;
	const ig_tls_files *t = &cfg->cluster.tls;

	if (!t->ca && !t->cert && !t->key)
		return 0;
	for (size_t i = 0; i < cfg->cluster.npd; i++)
		if (strncmp(cfg->cluster.pd[i], "http://", 7) == 0) {
			char ip[240];
			snprintf(ip, sizeof(ip), "%.200s.pd[%zu]", path, i);
			return cfg_cerr(c, item_line(n, "pd", i), ip, "\"%.100s\" is http:// while cluster.tls is set: "
			            "PD would be reached in clear text, its certificate unchecked; use https://",
			            cfg->cluster.pd[i]);
		}
	return 0;
}

int cfg_post_client_tls(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	ig_config *cfg = base;

	if (check_pair(c, path, n, &cfg->client_tls.files) < 0)
		return -1;
	if (cfg->client_tls.require && !cfg->client_tls.files.cert)
		return cfg_cerr(c, n->line, path, "require: true needs cert and key");
	return 0;
}

int cfg_fn_tidb_version(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	ig_config *cfg = base;
	ig_tidb_version v;

	if (cfg_want_scalar(c, path, n, "\"auto\" or a version like v8.5.0") < 0)
		return -1;
	if (strcmp(n->str, "auto") != 0 && ig_tidb_version_parse(n->str, n->len, &v) < 0)
		return cfg_cerr(c, n->line, path, "bad TiDB version \"%.40s\" (expected auto or e.g. v8.5.0)",
		            n->str);
	return cfg_set_str(c, path, n, &cfg->backends.tidb_version, false, F_NONEMPTY);
}

int cfg_fn_cluster_name(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	ig_config *cfg = base;

	if (cfg_want_scalar(c, path, n, "a name") < 0)
		return -1;
	if (n->len == 0 || n->len > 128)
		return cfg_cerr(c, n->line, path, "must be 1 to 128 characters");
	for (size_t i = 0; i < n->len; i++)
		if (!name_char(n->str[i]))
			return cfg_cerr(c, n->line, path, "\"%.60s\": only letters, digits, '.', '-' and '_' "
			            "(it is part of etcd keys)", n->str);
	return cfg_set_str(c, path, n, &cfg->cluster.name, false, F_NONEMPTY);
}

int cfg_fn_pd(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	ig_config *cfg = base;
	char ip[300];

	if (cfg_set_strlist(c, path, n, &cfg->cluster.pd, &cfg->cluster.npd, 0) < 0)
		return -1;
	for (size_t i = 0; i < cfg->cluster.npd; i++) {
		char *u = cfg->cluster.pd[i];
		size_t l = strlen(u);
		const char *host = strncmp(u, "http://", 7) == 0 ? u + 7 : strncmp(u, "https://", 8) == 0 ? u + 8 : NULL;
		snprintf(ip, sizeof(ip), "%.200s[%zu]", path, i);
		/* user:password@ is refused without echoing it: PD's etcd takes no credential in the
		 * URL, and the endpoint is written in every decision's audit record (cluster_state
		 * source), the log and the status API (attack6). Checked first, on the whole text, so
		 * no other complaint (no scheme, a typo in it: attack17) echoes it either. */
		if (strchr(u, '@'))
			return cfg_cerr(c, n->items[i]->line, ip, "a PD URL with user information (user:password@) "
			            "is refused: PD takes no credentials in its URL (use cluster.tls)");
		if (!host || !*host || *host == '/')
			return cfg_cerr(c, n->items[i]->line, ip,
			            "bad PD URL \"%.100s\" (expected http://host:port or https://host:port)", u);
		for (const char *q = u; *q; q++)
			if ((unsigned char)*q <= ' ' || *q == '?' || *q == '#')
				return cfg_cerr(c, n->items[i]->line, ip, "bad PD URL \"%.100s\"", u);
		while (l > 0 && u[l - 1] == '/')
			u[--l] = '\0';
	}
	return 0;
}

/* Trusted networks: a list of CIDRs. No "*" (TiDB's "any address"): a header from anywhere
 * lets any client name its own address; 0.0.0.0/0 and ::/0 say so in full if that is meant. */
static int network_item(ctx *c, const char *path, const ig_ynode *it, void *item)
{
	char e[200];

	if (cfg_want_scalar(c, path, it, "a network (CIDR)") < 0)
		return -1;
	if (strcmp(it->str, "*") == 0)
		return cfg_cerr(c, it->line, path, "\"*\" is not accepted: list the load balancers' "
		                "networks (0.0.0.0/0 and ::/0 if every address is meant)");
	if (ig_cidr_parse(it->str, item, e, sizeof(e)) < 0)
		return cfg_cerr(c, it->line, path, "%s", e);
	return 0;
}

static void drop_networks(void *v, size_t n)
{
	(void)n; /* an ig_cidr owns no memory */
	free(v);
}

int cfg_fn_pp_networks(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	ig_config *cfg = base;
	void *v = NULL; /* set by cfg_list_items on success */

	if (cfg_list_items(c, path, n, 0, sizeof(ig_cidr), network_item, drop_networks, &v) < 0)
		return -1;
	free(cfg->client_proxy_protocol.networks);
	cfg->client_proxy_protocol.networks = v;
	cfg->client_proxy_protocol.nnetworks = n->n;
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
		return cfg_cerr(c, n->line, path, "out of memory");
	secret = strcmp(red, uri) != 0;
	if (secret)
		cfg_cerr(c, n->line, path, "the URI holds a credential (%.120s): secrets are never written in "
		     "the config; give BR its storage credentials on the TiKV nodes (environment or "
		     "instance role)", red);
	free(red);
	return secret ? -1 : 0;
}

int cfg_fn_backup_uri(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	static const char *const ph[] = {"{db}", "{table}", "{job_id}"};
	ig_config *cfg = base;

	if (cfg_set_str(c, path, n, &cfg->obligations.backup_uri, true, 0) < 0)
		return -1;
	if (!cfg->obligations.backup_uri)
		return 0; /* explicitly off: rules that owe a snapshot are refused by cross_check */
	/* the credential first: the placeholder error below echoes part of the URI */
	if (backup_uri_without_secret(c, path, n, cfg->obligations.backup_uri) < 0)
		return -1;
	for (const char *p = strchr(cfg->obligations.backup_uri, '{'); p; p = strchr(p + 1, '{')) {
		bool ok = false;
		for (size_t i = 0; i < 3; i++)
			ok |= strncmp(p, ph[i], strlen(ph[i])) == 0;
		if (!ok)
			return cfg_cerr(c, n->line, path, "unknown placeholder at \"%.30s\" (known: {db}, {table}, "
			            "{job_id})", p);
	}
	return 0;
}

/* ---- policy rules ---- */

static const spec rule_specs[] = {
	{.key = "name", .t = T_STR, .off = offsetof(ig_rule, name), .flags = F_NONEMPTY},
	{.key = "users", .t = T_STR, .off = offsetof(ig_rule, users)},
	{.key = "hosts", .t = T_STR, .off = offsetof(ig_rule, hosts)},
	{.key = "tables", .t = T_STRLIST, .off = offsetof(ig_rule, tables), .countoff = offsetof(ig_rule, ntables), .flags = F_NONEMPTY},
	{.key = "action", .t = T_ENUM, .off = offsetof(ig_rule, action), .names = cfg_action_names},
	{.key = "log_backup", .t = T_ENUM, .off = offsetof(ig_rule, log_backup), .names = cfg_lb_names},
	{.key = "changefeed", .t = T_ENUM, .off = offsetof(ig_rule, changefeed), .names = cfg_cf_names},
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
		return cfg_cerr(c, line, path, "bad regular expression \"%.60s\": %s at offset %zu", src,
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
		return cfg_cerr(c, line, "policy.rules", "out of memory");
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
		return cfg_cerr(c, n->line, path, "a rule needs a name");
	if (strlen(r->name) > 128)
		return cfg_cerr(c, key_line(n, "name"), cfg_subpath(sp, sizeof(sp), path, "name"), "longer than 128 characters");
	for (const char *p = r->name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return cfg_cerr(c, key_line(n, "name"), cfg_subpath(sp, sizeof(sp), path, "name"),
			            "control characters are not allowed");
	if (compile_anchored(c, cfg_subpath(sp, sizeof(sp), path, "users"), key_line(n, "users"), r->users, &r->users_re) < 0 ||
	    compile_anchored(c, cfg_subpath(sp, sizeof(sp), path, "hosts"), key_line(n, "hosts"), r->hosts, &r->hosts_re) < 0)
		return -1;
	/* Table names in TiDB are case-insensitive (lower_case_table_names = 2). */
	r->filter = ig_tablefilter_parse((const char *const *)r->tables, r->ntables, false, e, sizeof(e));
	if (!r->filter)
		return cfg_cerr(c, table_line(n, r), cfg_subpath(sp, sizeof(sp), path, "tables"),
		            "bad table filter: %s", e);
	return 0;
}

int cfg_fn_rules(ctx *c, const char *path, const ig_ynode *n, void *base)
{
	ig_config *cfg = base;
	char ip[300];

	if (ig_ynode_is_null(n))
		return 0;
	if (cfg_want_list(c, path, n, 0) < 0)
		return -1;
	cfg->policy.rules = calloc(n->n ? n->n : 1, sizeof(ig_rule));
	if (!cfg->policy.rules)
		return cfg_cerr(c, n->line, path, "out of memory");
	for (size_t i = 0; i < n->n; i++) {
		const ig_ynode *item = n->items[i];
		ig_rule *r = &cfg->policy.rules[i];
		snprintf(ip, sizeof(ip), "%.200s[%zu]", path, i);
		cfg->policy.nrules = i + 1;
		if (item->kind != IG_YN_MAP)
			return cfg_cerr(c, item->line, ip, "expected a mapping (name, users, hosts, tables, ...), "
			            "got %s", cfg_kind_name(item));
		if (rule_defaults(c, r, item->line) < 0 || cfg_walk_map(c, ip, item, rule_specs, r) < 0 ||
		    compile_rule(c, ip, item, r) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->policy.rules[j].name, r->name) == 0)
				return cfg_cerr(c, key_line(item, "name"), ip, "duplicate rule name \"%.60s\" (first "
				            "used at line %d)", r->name, cfg->policy.rules[j].line);
	}
	return 0;
}

