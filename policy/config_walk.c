/*
 * config_walk.c - reading the configuration's YAML tree (policy/yamldoc.c) by key tables
 * (policy/config_int.h): each mapping's keys checked against its table, each value parsed
 * into its field with "file:line: key: what is wrong" messages; an unknown key is an error.
 */
#include "policy/config_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cfg_cerr(ctx *c, int line, const char *path, const char *fmt, ...)
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

/* ---- key tables ---- */


char *cfg_subpath(char *out, size_t outlen, const char *path, const char *key)
{
	snprintf(out, outlen, "%.200s%s%.40s", path, *path ? "." : "", key);
	return out;
}

const char *cfg_kind_name(const ig_ynode *n)
{
	if (n->kind == IG_YN_MAP)
		return "a mapping";
	if (n->kind == IG_YN_SEQ)
		return "a list";
	return ig_ynode_is_null(n) ? "empty" : "a scalar";
}

int cfg_want_scalar(ctx *c, const char *path, const ig_ynode *n, const char *what)
{
	if (n->kind != IG_YN_SCALAR || ig_ynode_is_null(n))
		return cfg_cerr(c, n->line, path, "expected %s, got %s", what, cfg_kind_name(n));
	if (strlen(n->str) != n->len)
		return cfg_cerr(c, n->line, path, "contains a NUL byte");
	return 0;
}

int cfg_set_str(ctx *c, const char *path, const ig_ynode *n, char **dst, bool optional, int flags)
{
	char *s;

	if (optional && (ig_ynode_is_null(n) || (n->kind == IG_YN_SCALAR && n->len == 0))) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (cfg_want_scalar(c, path, n, "a string") < 0)
		return -1;
	if ((flags & F_NONEMPTY) && n->len == 0)
		return cfg_cerr(c, n->line, path, "must not be empty");
	s = strdup(n->str);
	if (!s)
		return cfg_cerr(c, n->line, path, "out of memory");
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
		return cfg_cerr(c, n->line, path, "expected an integer, got %s",
		            n->kind == IG_YN_SCALAR && !n->plain ? "a quoted string" : cfg_kind_name(n));
	p = n->str;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (!*p)
		return cfg_cerr(c, n->line, path, "expected an integer, got \"%.40s\"", n->str);
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return cfg_cerr(c, n->line, path, "expected an integer, got \"%.40s\"", n->str);
		if (v > (max + 1) / 10 + 1)
			return cfg_cerr(c, n->line, path, "%.40s is out of range (%lld to %lld)", n->str, min, max);
		v = v * 10 + (*p - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return cfg_cerr(c, n->line, path, "%.40s is out of range (%lld to %lld)", n->str, min, max);
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
	return cfg_cerr(c, n->line, path, "expected true or false, got %s%.40s%s",
	            n->kind == IG_YN_SCALAR ? "\"" : "", n->kind == IG_YN_SCALAR ? n->str : cfg_kind_name(n),
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
		return cfg_cerr(c, n->line, path, "expected one of %s, got %s", list, cfg_kind_name(n));
	return cfg_cerr(c, n->line, path, "bad value \"%.60s\" (expected %s)", n->str, list);
}

static int set_hostport(ctx *c, const char *path, const ig_ynode *n, ig_hostport *dst, int flags)
{
	char e[200];
	ig_hostport hp;

	if (cfg_want_scalar(c, path, n, "host:port") < 0)
		return -1;
	if (ig_hostport_parse(n->str, &hp, e, sizeof(e)) < 0)
		return cfg_cerr(c, n->line, path, "%s", e);
	if (hp.port == 0 && !(flags & F_PORT0)) {
		free(hp.host);
		return cfg_cerr(c, n->line, path, "bad host:port \"%.100s\": port 0 is not allowed here", n->str);
	}
	free(dst->host);
	*dst = hp;
	return 0;
}

void cfg_free_hostports(ig_hostport *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].host);
	free(v);
}

void cfg_free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int cfg_want_list(ctx *c, const char *path, const ig_ynode *n, int flags)
{
	if (n->kind != IG_YN_SEQ)
		return cfg_cerr(c, n->line, path, "expected a list, got %s", cfg_kind_name(n));
	if ((flags & F_NONEMPTY) && n->n == 0)
		return cfg_cerr(c, n->line, path, "must list at least one entry");
	return 0;
}

int cfg_list_items(ctx *c, const char *path, const ig_ynode *n, int flags, size_t size,
                   cfg_item_fn set, void (*drop)(void *v, size_t n), void **out)
{
	char ip[300];
	void *v;

	if (cfg_want_list(c, path, n, flags) < 0)
		return -1;
	if (!(v = calloc(n->n ? n->n : 1, size)))
		return cfg_cerr(c, n->line, path, "out of memory");
	for (size_t i = 0; i < n->n; i++) {
		snprintf(ip, sizeof(ip), "%.200s[%zu]", path, i);
		if (set(c, ip, n->items[i], (char *)v + i * size) < 0) {
			drop(v, i);
			return -1;
		}
	}
	*out = v;
	return 0;
}

static int hostport_item(ctx *c, const char *path, const ig_ynode *it, void *item)
{
	return set_hostport(c, path, it, item, 0);
}

static void drop_hostports(void *v, size_t n)
{
	cfg_free_hostports(v, n);
}

static int set_hostports(ctx *c, const char *path, const ig_ynode *n, ig_hostport **dst,
                         size_t *count, int flags)
{
	void *v = NULL; /* set by cfg_list_items on success */

	if (cfg_list_items(c, path, n, flags, sizeof(ig_hostport), hostport_item, drop_hostports, &v) < 0)
		return -1;
	cfg_free_hostports(*dst, *count);
	*dst = v;
	*count = n->n;
	return 0;
}

static int str_item(ctx *c, const char *path, const ig_ynode *it, void *item)
{
	return cfg_set_str(c, path, it, item, false, F_NONEMPTY);
}

static void drop_strv(void *v, size_t n)
{
	cfg_free_strv(v, n);
}

int cfg_set_strlist(ctx *c, const char *path, const ig_ynode *n, char ***dst, size_t *count,
                       int flags)
{
	void *v = NULL; /* set by cfg_list_items on success */

	if (cfg_list_items(c, path, n, flags, sizeof(char *), str_item, drop_strv, &v) < 0)
		return -1;
	cfg_free_strv(*dst, *count);
	*dst = v;
	*count = n->n;
	return 0;
}

static int set_value(ctx *c, const char *path, const ig_ynode *n, const spec *s, void *base)
{
	void *f = (char *)base + s->off;
	long long v = 0; /* parse_int sets it on success (the analyzer does not follow cfg_cerr) */

	switch (s->t) {
	case T_STR:
		return cfg_set_str(c, path, n, f, false, s->flags);
	case T_OPTSTR:
		return cfg_set_str(c, path, n, f, true, 0);
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
		return cfg_set_strlist(c, path, n, f, (size_t *)((char *)base + s->countoff), s->flags);
	case T_MAP:
		if (cfg_walk_map(c, path, n, s->sub, base) < 0)
			return -1;
		return s->fn ? s->fn(c, path, n, base) : 0;
	case T_FUNC:
		return s->fn(c, path, n, base);
	}
	return cfg_cerr(c, n->line, path, "internal error: bad key type");
}

static int unknown_key(ctx *c, const char *path, const ig_ynode *k, const spec *specs)
{
	char list[320] = "";

	if (strcmp(k->str, "password") == 0 || strcmp(k->str, "token") == 0)
		return cfg_cerr(c, k->line, path,
		            "unknown key \"%s\": secrets are never written in the config, use %s_file "
		            "(a path to a file holding it)", k->str, k->str);
	for (const spec *s = specs; s->key; s++) {
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s%s", s == specs ? "" : ", ", s->key);
	}
	return cfg_cerr(c, k->line, path, "unknown key \"%.60s\" (expected one of: %s)", k->str, list);
}

int cfg_walk_map(ctx *c, const char *path, const ig_ynode *n, const spec *specs, void *base)
{
	unsigned long long seen = 0;
	char sp[300];

	if (ig_ynode_is_null(n))
		return 0; /* "section:" with nothing under it: all defaults */
	if (n->kind != IG_YN_MAP)
		return cfg_cerr(c, n->line, path, "expected a mapping, got %s", cfg_kind_name(n));
	for (size_t i = 0; i + 1 < n->n; i += 2) {
		const ig_ynode *k = n->items[i], *v = n->items[i + 1];
		const spec *s;
		if (k->kind != IG_YN_SCALAR || strlen(k->str) != k->len)
			return cfg_cerr(c, k->line, path, "a key must be a plain string");
		for (s = specs; s->key && strcmp(s->key, k->str) != 0; s++)
			;
		if (!s->key)
			return unknown_key(c, path, k, specs);
		if (seen & (1ull << (s - specs)))
			return cfg_cerr(c, k->line, path, "duplicate key \"%s\"", k->str);
		seen |= 1ull << (s - specs);
		if (set_value(c, cfg_subpath(sp, sizeof(sp), path, s->key), v, s, base) < 0)
			return -1;
	}
	return 0;
}

