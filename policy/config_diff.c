/*
 * config_diff.c - which keys read only at start a reload changed. The running process keeps
 * their old values (the listeners, the worker threads, the admin server, the audit writer's
 * fsync, the obligations engine and its store), so a reload that changes one must say so: in
 * the log and in the answer to POST /api/v1/reload (conf/importgate.yaml tags them [restart]).
 */
#include <stdbool.h>
#include <string.h>

#include "policy/config.h"

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0) || (!a && b && !*b) || (!b && a && !*a);
}

static bool hp_eq(const ig_hostport *a, const ig_hostport *b)
{
	return a->port == b->port && str_eq(a->host, b->host);
}

static bool hps_eq(const ig_hostport *a, size_t na, const ig_hostport *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!hp_eq(&a[i], &b[i]))
			return false;
	return true;
}

static bool tls_eq(const ig_tls_files *a, const ig_tls_files *b)
{
	return str_eq(a->ca, b->ca) && str_eq(a->cert, b->cert) && str_eq(a->key, b->key);
}

static bool strs_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return false;
	return true;
}

/* The obligations engine's store is PD's etcd when cluster.pd is set at start: it keeps the
 * endpoints, TLS and timeout it opened with. The decisions follow these keys live. */
static bool store_cluster_changed(const ig_config *o, const ig_config *n)
{
	if (o->cluster.npd == 0 && n->cluster.npd == 0)
		return false;
	return !strs_eq(o->cluster.pd, o->cluster.npd, n->cluster.pd, n->cluster.npd) ||
	       !tls_eq(&o->cluster.tls, &n->cluster.tls) || o->cluster.timeout_ms != n->cluster.timeout_ms;
}

static bool service_eq(const ig_config *o, const ig_config *n)
{
	return str_eq(o->obligations.service.user, n->obligations.service.user) &&
	       str_eq(o->obligations.service.password_file, n->obligations.service.password_file) &&
	       o->obligations.service.tls.mode == n->obligations.service.tls.mode &&
	       tls_eq(&o->obligations.service.tls.files, &n->obligations.service.tls.files);
}

static bool downstream_eq(const ig_config *o, const ig_config *n)
{
	return hps_eq(o->obligations.downstream.servers, o->obligations.downstream.nservers,
	              n->obligations.downstream.servers, n->obligations.downstream.nservers) &&
	       str_eq(o->obligations.downstream.user, n->obligations.downstream.user) &&
	       str_eq(o->obligations.downstream.password_file, n->obligations.downstream.password_file);
}

size_t ig_config_restart_changes(const ig_config *o, const ig_config *n, const char **keys, size_t max)
{
	struct {
		const char *key;
		bool changed;
	} t[] = {
		{"listen", !hp_eq(&o->listen, &n->listen)},
		{"workers", o->workers != n->workers},
		{"backends.health_interval_ms", o->backends.health_interval_ms != n->backends.health_interval_ms},
		{"backends.health_timeout_ms", o->backends.health_timeout_ms != n->backends.health_timeout_ms},
		{"cluster.name", !str_eq(o->cluster.name, n->cluster.name)},
		{"cluster.pd/tls/timeout_ms (the obligation store's)", store_cluster_changed(o, n)},
		{"admin.listen", !hp_eq(&o->admin.listen, &n->admin.listen)},
		{"admin.token_file", !str_eq(o->admin.token_file, n->admin.token_file)},
		{"audit.path (on or off)", (o->audit.path == NULL) != (n->audit.path == NULL)},
		{"audit.fsync", o->audit.fsync != n->audit.fsync},
		{"obligations.file", !str_eq(o->obligations.file, n->obligations.file)},
		{"obligations.service", !service_eq(o, n)},
		{"obligations.backup_uri", !str_eq(o->obligations.backup_uri, n->obligations.backup_uri)},
		{"obligations.downstream", !downstream_eq(o, n)},
		{"obligations.poll_ms", o->obligations.poll_ms != n->obligations.poll_ms},
		{"obligations.executors", o->obligations.executors != n->obligations.executors},
	};
	size_t found = 0;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!t[i].changed)
			continue;
		if (found < max)
			keys[found] = t[i].key;
		found++;
	}
	return found;
}
