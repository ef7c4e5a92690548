/*
 * yamldoc.c - builds an ig_ynode tree from libyaml events with an explicit stack (no
 * recursion while parsing), so depth and size limits apply before memory is spent.
 */
#include "policy/yamldoc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct builder {
	const char *name;
	char *err;
	size_t errlen;
	ig_ynode *root;
	ig_ynode *stack[IG_YAML_MAX_DEPTH];
	int depth;
	size_t nodes;
	int docs;
} builder;

static int fail(builder *b, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (b->errlen)
		snprintf(b->err, b->errlen, "%s:%d: %s", b->name, line, msg);
	return -1;
}

void ig_ynode_free(ig_ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		ig_ynode_free(n->items[i]);
	free(n->items);
	free(n->str);
	free(n);
}

bool ig_ynode_is_null(const ig_ynode *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

	if (!n || n->kind != IG_YN_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(n->str, nulls[i]) == 0 && n->len == strlen(nulls[i]))
			return true;
	return false;
}

static int add_child(builder *b, ig_ynode *parent, ig_ynode *child)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		ig_ynode **items = realloc(parent->items, cap * sizeof(*items));
		if (!items)
			return fail(b, child->line, "out of memory");
		parent->items = items;
		parent->cap = cap;
	}
	parent->items[parent->n++] = child;
	return 0;
}

/* Attaches a finished or newly opened node to its parent (or makes it the root). */
static int attach(builder *b, ig_ynode *node)
{
	if (b->depth == 0) {
		if (b->root) {
			int line = node->line; /* read before the node is freed */
			ig_ynode_free(node);
			return fail(b, line, "more than one root node");
		}
		b->root = node;
		return 0;
	}
	if (add_child(b, b->stack[b->depth - 1], node) < 0) {
		ig_ynode_free(node);
		return -1;
	}
	return 0;
}

static ig_ynode *new_node(builder *b, ig_ynode_kind kind, int line)
{
	ig_ynode *n;

	if (++b->nodes > IG_YAML_MAX_NODES) {
		fail(b, line, "document too large (more than %d nodes)", IG_YAML_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		fail(b, line, "out of memory");
		return NULL;
	}
	n->kind = kind;
	n->line = line;
	return n;
}

static int refuse_props(builder *b, int line, const yaml_char_t *anchor, const yaml_char_t *tag)
{
	if (anchor)
		return fail(b, line, "YAML anchors (&%s) are not supported: write the value out", anchor);
	if (tag)
		return fail(b, line, "YAML tags (%s) are not supported", tag);
	return 0;
}

static int on_scalar(builder *b, const yaml_event_t *ev, int line)
{
	ig_ynode *n;

	if (refuse_props(b, line, ev->data.scalar.anchor, ev->data.scalar.tag) < 0)
		return -1;
	n = new_node(b, IG_YN_SCALAR, line);
	if (!n)
		return -1;
	n->len = ev->data.scalar.length;
	n->str = malloc(n->len + 1);
	if (!n->str) {
		ig_ynode_free(n);
		return fail(b, line, "out of memory");
	}
	memcpy(n->str, ev->data.scalar.value, n->len);
	n->str[n->len] = '\0';
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	return attach(b, n);
}

static int on_open(builder *b, ig_ynode_kind kind, const yaml_char_t *anchor,
                   const yaml_char_t *tag, int line)
{
	ig_ynode *n;

	if (refuse_props(b, line, anchor, tag) < 0)
		return -1;
	if (b->depth >= IG_YAML_MAX_DEPTH)
		return fail(b, line, "nesting deeper than %d levels", IG_YAML_MAX_DEPTH);
	n = new_node(b, kind, line);
	if (!n)
		return -1;
	if (attach(b, n) < 0)
		return -1;
	b->stack[b->depth++] = n;
	return 0;
}

/* Returns 1 at the end of the stream, 0 to go on, -1 on error. */
static int on_event(builder *b, const yaml_event_t *ev)
{
	int line = (int)ev->start_mark.line + 1;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (++b->docs > 1)
			return fail(b, line, "more than one YAML document");
		return 0;
	case YAML_ALIAS_EVENT:
		return fail(b, line, "YAML aliases (*%s) are not supported: write the value out",
		            ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev, line);
	case YAML_SEQUENCE_START_EVENT:
		return on_open(b, IG_YN_SEQ, ev->data.sequence_start.anchor,
		               ev->data.sequence_start.tag, line);
	case YAML_MAPPING_START_EVENT:
		return on_open(b, IG_YN_MAP, ev->data.mapping_start.anchor,
		               ev->data.mapping_start.tag, line);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth > 0)
			b->depth--;
		return 0;
	default:
		return 0;
	}
}

int ig_yaml_parse(const char *name, const char *buf, size_t len, ig_ynode **root,
                  char *err, size_t errlen)
{
	builder b = {.name = name, .err = err, .errlen = errlen};
	yaml_parser_t parser;
	int rc = 0;

	*root = NULL;
	if (!yaml_parser_initialize(&parser))
		return fail(&b, 1, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (rc == 0) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			rc = fail(&b, (int)parser.problem_mark.line + 1, "YAML syntax error: %s%s%s",
			          parser.problem ? parser.problem : "unknown problem",
			          parser.context ? " " : "", parser.context ? parser.context : "");
			break;
		}
		rc = on_event(&b, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (rc < 0) {
		ig_ynode_free(b.root);
		return -1;
	}
	*root = b.root;
	return 0;
}
