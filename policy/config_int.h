/*
 * config_int.h - what the configuration's files share (not for users of policy/config.h):
 * the reading context, the key tables that describe the schema, the YAML readers
 * (config_walk.c), the checks beyond one key (config_check.c). config.c holds the model:
 * names, the schema's tables, defaults, cross-checks, load and free.
 */
#ifndef IMPORTGATE_CONFIG_INT_H
#define IMPORTGATE_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/config.h"
#include "policy/yamldoc.h"

/* One load: the file's name for messages, where the first error goes, the config built. */
typedef struct ctx {
	const char *name;
	char *err;
	size_t errlen;
	ig_config *cfg;
} ctx;

int cfg_cerr(ctx *c, int line, const char *path, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

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

/* ---- config_walk.c: reading YAML nodes into fields, as the tables say ---- */

char *cfg_subpath(char *out, size_t outlen, const char *path, const char *key);
const char *cfg_kind_name(const ig_ynode *n);
int cfg_want_scalar(ctx *c, const char *path, const ig_ynode *n, const char *what);
int cfg_set_str(ctx *c, const char *path, const ig_ynode *n, char **dst, bool optional, int flags);
int cfg_want_list(ctx *c, const char *path, const ig_ynode *n, int flags);
/* Sets one item of a list; path names it ("list[i]"). */
typedef int (*cfg_item_fn)(ctx *c, const char *path, const ig_ynode *it, void *item);
/* A list of n->n items of `size` bytes, each set by set() in a new zeroed array (*out, at
 * least one item long even when the list is empty); on an item's error the items before it
 * go to drop(array, i) and -1 is returned. */
int cfg_list_items(ctx *c, const char *path, const ig_ynode *n, int flags, size_t size,
                   cfg_item_fn set, void (*drop)(void *v, size_t n), void **out);
int cfg_set_strlist(ctx *c, const char *path, const ig_ynode *n, char ***dst, size_t *count,
                    int flags);
/* Every key of mapping n by specs (an unknown key is an error), fields from base. */
int cfg_walk_map(ctx *c, const char *path, const ig_ynode *n, const spec *specs, void *base);
void cfg_free_hostports(ig_hostport *v, size_t n);
void cfg_free_strv(char **v, size_t n);

/* ---- config_check.c: checks after a mapping, and keys with parsers of their own ---- */

int cfg_post_backend_tls(ctx *c, const char *path, const ig_ynode *n, void *base);
int cfg_post_service_tls(ctx *c, const char *path, const ig_ynode *n, void *base);
int cfg_post_cluster_tls(ctx *c, const char *path, const ig_ynode *n, void *base);
int cfg_post_cluster(ctx *c, const char *path, const ig_ynode *n, void *base);
int cfg_post_client_tls(ctx *c, const char *path, const ig_ynode *n, void *base);
int cfg_fn_tidb_version(ctx *c, const char *path, const ig_ynode *n, void *base);
int cfg_fn_cluster_name(ctx *c, const char *path, const ig_ynode *n, void *base);
int cfg_fn_pd(ctx *c, const char *path, const ig_ynode *n, void *base);
int cfg_fn_pp_networks(ctx *c, const char *path, const ig_ynode *n, void *base); /* client_proxy_protocol.networks */
int cfg_fn_backup_uri(ctx *c, const char *path, const ig_ynode *n, void *base);
int cfg_fn_rules(ctx *c, const char *path, const ig_ynode *n, void *base); /* policy.rules */

/* ---- config.c: enum names (index = enum value) the rules' table uses too ---- */

extern const char *const cfg_action_names[];
extern const char *const cfg_lb_names[];
extern const char *const cfg_cf_names[];

#endif
