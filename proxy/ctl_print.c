/*
 * ctl_print.c - `importgate ctl` answers as text: one line per backend, task, changefeed or
 * obligation, the fields an operator reads first. Pure: JSON in, text out; a field the
 * answer lacks prints as "-". --json gives the whole answer instead.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/ctl.h"
#include "sqlparse/utf8.h"

static const char *str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : "-";
}

static void print_int(FILE *f, const json_t *v)
{
	if (json_is_integer(v))
		fprintf(f, "%lld", (long long)json_integer_value(v));
	else
		fputs("-", f);
}

/* ["a", "b"] as "a, b"; null as `none` */
static void print_list(FILE *f, const json_t *a, const char *none)
{
	if (!json_is_array(a) || json_array_size(a) == 0) {
		fputs(none, f);
		return;
	}
	for (size_t i = 0; i < json_array_size(a); i++)
		fprintf(f, "%s%s", i ? ", " : "", json_is_string(json_array_get(a, i))
		                                      ? json_string_value(json_array_get(a, i)) : "?");
}

static void print_read(FILE *f, const json_t *c)
{
	if (!json_is_object(c)) {
		fprintf(f, "cluster state: not available\n");
		return;
	}
	if (json_is_true(json_object_get(c, "read_ok")))
		fprintf(f, "cluster state: read from %s, etcd revision ", str(c, "source"));
	else
		fprintf(f, "cluster state: READ FAILED: %s\n  %s", str(c, "error"),
		        json_is_true(json_object_get(c, "stale")) ? "showing the last read kept, revision " : "revision ");
	print_int(f, json_object_get(c, "revision"));
	fputs(", ", f);
	print_int(f, json_object_get(c, "age_ms"));
	fputs(" ms old\n", f);
}

static void print_tasks(FILE *f, const json_t *tasks)
{
	fprintf(f, "log backup tasks: %zu\n", json_array_size(tasks));
	for (size_t i = 0; i < json_array_size(tasks); i++) {
		const json_t *t = json_array_get(tasks, i);
		fprintf(f, "  %s  %s  filter: ", str(t, "name"), str(t, "state"));
		print_list(f, json_object_get(t, "table_filter"), "(none: every table)");
		fprintf(f, "  start_ts: ");
		print_int(f, json_object_get(t, "start_ts"));
		fprintf(f, "  storage: %s\n", str(t, "storage"));
	}
}

static void print_cfs(FILE *f, const json_t *cfs)
{
	fprintf(f, "changefeeds: %zu\n", json_array_size(cfs));
	for (size_t i = 0; i < json_array_size(cfs); i++) {
		const json_t *c = json_array_get(cfs, i);
		fprintf(f, "  %s  %s  rules: ", str(c, "id"), str(c, "state"));
		print_list(f, json_object_get(c, "filter_rules"), "-");
		fprintf(f, "  sink: %s  %s\n", str(c, "sink_type"), str(c, "sink_uri"));
	}
}

void ig_ctl_print_status(FILE *f, const json_t *doc)
{
	const json_t *bs = json_object_get(doc, "backends"), *c = json_object_get(doc, "cluster");
	const json_t *obl = json_object_get(doc, "obligations"), *probs = json_object_get(c, "problems");

	fprintf(f, "server version: %s\nclient connections: ", str(doc, "server_version"));
	print_int(f, json_object_get(doc, "connections"));
	fprintf(f, "\nbackends: %zu\n", json_array_size(bs));
	for (size_t i = 0; i < json_array_size(bs); i++) {
		const json_t *b = json_array_get(bs, i);
		fprintf(f, "  %s  %s  connections: ", str(b, "addr"),
		        json_is_true(json_object_get(b, "healthy")) ? "healthy" : "DOWN");
		print_int(f, json_object_get(b, "connections"));
		fputs("\n", f);
	}
	print_read(f, c);
	print_tasks(f, json_object_get(c, "log_backup_tasks"));
	print_cfs(f, json_object_get(c, "changefeeds"));
	for (size_t i = 0; i < json_array_size(probs); i++)
		fprintf(f, "problem: %s\n", json_string_value(json_array_get(probs, i)));
	fprintf(f, "obligations: %zu records\n", json_array_size(json_object_get(obl, "records")));
}

static void print_why(FILE *f, const json_t *a)
{
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *x = json_array_get(a, i);
		bool covers = json_is_true(json_object_get(x, "covers"));
		fprintf(f, "  %s (%s): %s", str(x, "name"), str(x, "state"), covers ? "COVERS" : "does not cover");
		if (json_is_string(json_object_get(x, "rule")))
			fprintf(f, ", rule \"%s\"", str(x, "rule"));
		fprintf(f, ": %s\n", str(x, "why"));
	}
}

void ig_ctl_print_coverage(FILE *f, const json_t *doc)
{
	const json_t *p = json_object_get(doc, "policy");

	fprintf(f, "table %s, user \"%s\", host \"%s\"\n", str(doc, "table"), str(doc, "user"), str(doc, "host"));
	print_read(f, json_object_get(doc, "cluster"));
	fprintf(f, "log backup tasks:%s\n", json_array_size(json_object_get(doc, "log_backup_tasks")) ? "" : " none");
	print_why(f, json_object_get(doc, "log_backup_tasks"));
	fprintf(f, "changefeeds:%s\n", json_array_size(json_object_get(doc, "changefeeds")) ? "" : " none");
	print_why(f, json_object_get(doc, "changefeeds"));
	fprintf(f, "policy: %s (rule: %s)%s\n", str(p, "verdict"),
	        json_is_string(json_object_get(p, "rule")) ? str(p, "rule") : "defaults",
	        json_is_true(json_object_get(p, "dry_run")) ? " [dry-run: forwarded unchanged]" : "");
	fprintf(f, "  obligations: ");
	print_list(f, json_object_get(p, "obligations"), "none");
	fprintf(f, "\n  reason: %s\n", str(p, "reason"));
	if (json_is_string(json_object_get(p, "message")))
		fprintf(f, "  error sent: %s\n", str(p, "message"));
}

void ig_ctl_print_explain(FILE *f, const json_t *doc)
{
	const json_t *imps = json_object_get(doc, "imports");

	fprintf(f, "verdict: %s (action: %s, rule: %s)\n", str(doc, "verdict"), str(doc, "action"),
	        json_is_string(json_object_get(doc, "rule")) ? str(doc, "rule") : "defaults");
	for (size_t i = 0; i < json_array_size(imps); i++) {
		const json_t *x = json_array_get(imps, i);
		fprintf(f, "  import into %s: %s; tasks: ", str(x, "table"), str(x, "verdict"));
		print_list(f, json_object_get(x, "tasks"), "none");
		fprintf(f, "; changefeeds: ");
		print_list(f, json_object_get(x, "changefeeds"), "none");
		fprintf(f, "\n    %s\n", str(x, "reason"));
	}
	if (json_is_string(json_object_get(doc, "message")))
		fprintf(f, "error sent: %s\n", str(doc, "message"));
	if (json_is_string(json_object_get(doc, "statement")))
		fprintf(f, "statement forwarded: %s\n", str(doc, "statement"));
}

void ig_ctl_print_obligations(FILE *f, const json_t *obl)
{
	const json_t *recs = json_object_get(obl, "records");

	if (!json_is_object(obl)) {
		fprintf(f, "obligations: not running\n");
		return;
	}
	fprintf(f, "obligations: %s, store %s, %zu records\n",
	        json_is_true(json_object_get(obl, "running")) ? "running" : "NOT RUNNING", str(obl, "store"),
	        json_array_size(recs));
	for (size_t i = 0; i < json_array_size(recs); i++) {
		const json_t *r = json_array_get(recs, i);
		fprintf(f, "  %s  %s  %s  user %s%s", str(r, "id"), str(r, "state"), str(r, "table"), str(r, "user"),
		        json_is_true(json_object_get(r, "failing")) ? "  FAILING" : "");
		if (json_is_string(json_object_get(r, "last_error")))
			fprintf(f, ": %s", str(r, "last_error"));
		fputs("\n", f);
	}
}

/* ---- what reaches the terminal ----
 * Names, rules and messages come from etcd, from clients (a table name) or from whoever
 * answers at the address: a control character in one would drive the operator's terminal.
 * Control characters are C0 (but the newline), DEL and C1 (U+0080..U+009F: U+009B is CSI,
 * U+009D OSC, acted on by terminals that decode UTF-8 first, and as single bytes by 8-bit
 * ones), so a byte that is not part of valid UTF-8 counts as one too. */

/* The length of the character at s (1 for a byte that is not valid UTF-8), and whether it
 * is a control character. */
static size_t char_at(const unsigned char *s, size_t n, bool *control)
{
	size_t k = sql_utf8_seq(s, n);

	if (k == 0) {
		*control = true;
		return 1;
	}
	*control = (k == 1 && ((s[0] < 0x20 && s[0] != '\n') || s[0] == 0x7f)) ||
	           (k == 2 && s[0] == 0xc2 && s[1] < 0xa0);
	return k;
}

size_t ig_ctl_shown(char *text, size_t len)
{
	unsigned char *s = (unsigned char *)text;
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		bool control;
		size_t k = char_at(s + i, len - i, &control);
		if (control)
			s[o++] = '?';
		else
			memmove(s + o, s + i, k), o += k;
		i += k;
	}
	if (o < len)
		text[o] = '\0';
	return o;
}

/* Valid JSON holds a raw DEL or C1 character only inside a string, where \u00XX is the same
 * value, and a raw C0 byte only as whitespace between tokens (tab, CR), where a blank is. */
char *ig_ctl_json_shown(const char *json)
{
	const unsigned char *s = (const unsigned char *)json;
	size_t len = strlen(json);
	char *out = len <= (SIZE_MAX - 1) / 6 ? malloc(len * 6 + 1) : NULL;
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		bool control;
		size_t k = char_at(s + i, len - i, &control);
		if (!control)
			memcpy(out + o, s + i, k), o += k;
		else if (s[i] < 0x20)
			out[o++] = ' ';
		else if (s[i] == 0x7f || k == 2)
			o += (size_t)sprintf(out + o, "\\u%04x", k == 2 ? s[i + 1] : s[i]);
		else
			out[o++] = '?'; /* not UTF-8: never in an answer that parsed */
		i += k;
	}
	out[o] = '\0';
	return out;
}
