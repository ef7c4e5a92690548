/*
 * yamldoc.h - a small YAML document tree (libyaml event API) with line numbers, for the
 * config loader. It owns the limits that keep hostile input harmless (depth, node count)
 * and refuses what the config never needs: anchors, aliases, tags, several documents.
 */
#ifndef IMPORTGATE_YAMLDOC_H
#define IMPORTGATE_YAMLDOC_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { IG_YN_SCALAR, IG_YN_SEQ, IG_YN_MAP } ig_ynode_kind;

typedef struct ig_ynode {
	ig_ynode_kind kind;
	int line;               /* 1-based line of the node's first character */
	char *str;              /* scalar text, NUL-terminated (YAML may hold NULs: len counts) */
	size_t len;
	bool plain;             /* plain (unquoted) scalar: only those can be ints, bools, null */
	struct ig_ynode **items; /* SEQ: items; MAP: key, value, key, value ... */
	size_t n;               /* number of entries in items */
	size_t cap;
} ig_ynode;

#define IG_YAML_MAX_DEPTH 64
#define IG_YAML_MAX_NODES 100000

/* Parses one YAML document. *root is NULL for an empty document (all defaults).
 * Returns 0, or -1 with "name:line: message" in err. */
int ig_yaml_parse(const char *name, const char *buf, size_t len, ig_ynode **root,
                  char *err, size_t errlen);
void ig_ynode_free(ig_ynode *n);

/* A plain scalar that YAML reads as null: "", "~", "null", "Null", "NULL". */
bool ig_ynode_is_null(const ig_ynode *n);

#endif
