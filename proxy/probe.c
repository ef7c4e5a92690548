/*
 * probe.c - the query the gateway asks the server before deciding, and its answer (probe.h).
 * The answer is one text-protocol result set of one row; anything else is a failure, and
 * the caller then refuses the statement (it never guesses).
 */
#include "proxy/probe.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/mysql_proto.h"
#include "sqlparse/hexdigit.h"
#include "sqlparse/sqlparse.h"

#define PROBE_FIXED_COLS 7 /* database, sql_mode, character_set_client, _connection, user,
                            * version, TIDB_VERSION() (NULL unless asked) */
#define PROBE_VAR_COLS 3   /* per variable: value, charset, length */

/*
 * TIDB_VERSION() of a server whose greeting does not name TiDB: TiDB runs the body of a
 * TiDB-only comment (pingcap/tidb pkg/parser/lexer.go startWithSlash: a comment opened by
 * slash, star, "T!" and no feature ID; sqlparse/lexer.c models the same), MySQL and MariaDB
 * skip it as a comment and answer NULL. A TiDB configured with a `server-version` without
 * the word is still asked; on a next-gen build of master before v26.3 TIDB_VERSION()'s
 * "Kernel Type" is the only sign of TiDB X (docs/TIDB_VERSIONS.md).
 */
#define TIDB_INFO_IF_TIDB ", HEX(COALESCE(/*T! TIDB_VERSION(), */ NULL))"

static const char fixed_tags[PROBE_FIXED_COLS] = {'d', 'm', 'c', 'n', 'u', 'r', 't'};
static const char var_tags[PROBE_VAR_COLS] = {'v', 's', 'l'};

static int append_str(ig_buf *b, const char *s) { return ig_buf_append(b, s, strlen(s)); }

/* The alias of a column: ig<nonce>_<tag>[<index>]. */
static void alias(char *out, size_t cap, const char *nonce, char tag, int index)
{
	if (index < 0)
		snprintf(out, cap, "ig%.*s_%c", IG_PROBE_NONCE_LEN, nonce, tag);
	else
		snprintf(out, cap, "ig%.*s_%c%d", IG_PROBE_NONCE_LEN, nonce, tag, index);
}

static int append_col(ig_buf *b, const char *expr_head, const char *tok, size_t tok_len, const char *expr_tail,
                      const char *nonce, char tag, int index)
{
	char a[64];
	alias(a, sizeof(a), nonce, tag, index);
	if (append_str(b, expr_head) < 0 || (tok && ig_buf_append(b, tok, tok_len) < 0) ||
	    append_str(b, expr_tail) < 0 || append_str(b, " AS ") < 0 || append_str(b, a) < 0)
		return -1;
	return 0;
}

int ig_probe_build(ig_buf *out, const char *nonce, const ig_probe_request *req)
{
	char lim[48];
	/* A comment names the gateway in the server's logs and processlist. */
	if (append_str(out, "SELECT /* importgate: session state for an import decision */ ") < 0 ||
	    append_col(out, "HEX(DATABASE())", NULL, 0, "", nonce, 'd', -1) < 0 ||
	    append_col(out, ", @@session.sql_mode", NULL, 0, "", nonce, 'm', -1) < 0 ||
	    append_col(out, ", @@session.character_set_client", NULL, 0, "", nonce, 'c', -1) < 0 ||
	    append_col(out, ", @@session.character_set_connection", NULL, 0, "", nonce, 'n', -1) < 0 ||
	    append_col(out, ", HEX(USER())", NULL, 0, "", nonce, 'u', -1) < 0 ||
	    append_col(out, ", HEX(@@version)", NULL, 0, "", nonce, 'r', -1) < 0 ||
	    append_col(out, req->tidb_info ? ", HEX(TIDB_VERSION())" : TIDB_INFO_IF_TIDB, NULL, 0, "", nonce, 't', -1) < 0)
		return -1;
	snprintf(lim, sizeof(lim), " , %u))", IG_PROBE_VAR_MAX);
	for (size_t i = 0; i < req->nvars; i++) {
		const char *t = req->toks[i];
		size_t n = req->tok_lens[i];
		/* Blanks around the reference: it stays one token whatever its neighbours. */
		if (append_col(out, ", HEX(LEFT( ", t, n, lim, nonce, 'v', (int)i) < 0 ||
		    append_col(out, ", CHARSET( ", t, n, " )", nonce, 's', (int)i) < 0 ||
		    append_col(out, ", LENGTH( ", t, n, " )", nonce, 'l', (int)i) < 0)
			return -1;
	}
	return append_str(out, " LIMIT 1");
}

/* ---- reading packets ---- */

typedef struct pkt_reader {
	const uint8_t *p;
	size_t len, pos;
	ig_buf joined; /* a payload of 16 MiB or more, put back together */
} pkt_reader;

/* The next whole payload: 0 (with *pl, *pn), 1 when it has not fully arrived, -1 no memory. */
static int next_payload(pkt_reader *r, const uint8_t **pl, size_t *pn)
{
	size_t pos = r->pos;
	ig_buf_reset(&r->joined);
	for (bool first = true;; first = false) {
		if (r->len - pos < MY_HDR_LEN)
			return 1;
		uint32_t n = my_u24(r->p + pos);
		if (r->len - pos - MY_HDR_LEN < n)
			return 1;
		const uint8_t *body = r->p + pos + MY_HDR_LEN;
		pos += MY_HDR_LEN + n;
		if (first && n < MY_MAX_PAYLOAD) {
			*pl = body;
			*pn = n;
			break;
		}
		if (ig_buf_append(&r->joined, body, n) < 0)
			return -1;
		if (n < MY_MAX_PAYLOAD) {
			*pl = ig_buf_head(&r->joined);
			*pn = ig_buf_avail(&r->joined);
			break;
		}
	}
	r->pos = pos;
	return 0;
}

static bool is_eof_or_ok_end(const uint8_t *pl, size_t n, uint32_t caps)
{
	if (n == 0 || pl[0] != 0xfe)
		return false;
	/* An EOF packet is short; with DEPRECATE_EOF the OK that ends rows starts with 0xfe too
	 * and may be longer, but a row's first value is never 0xfe followed by so little. */
	return n < 9 || (caps & CLIENT_DEPRECATE_EOF);
}

static uint16_t end_status(const uint8_t *pl, size_t n, uint32_t caps)
{
	my_ok ok;
	if ((caps & CLIENT_DEPRECATE_EOF) && my_ok_parse(pl, n, caps, &ok) == 0)
		return ok.status;
	return n >= 5 ? my_u16(pl + 3) : 0;
}

static void set_err(char *err, size_t errlen, const char *fmt, const char *a)
{
	snprintf(err, errlen, fmt, a ? a : "");
}

/* ---- values ---- */

/* HEX() output back to bytes; -1 if it is not hex. */
static int unhex(const uint8_t *s, size_t n, char **out, size_t *outlen)
{
	if (n % 2)
		return -1;
	char *v = malloc(n / 2 + 1);
	if (!v)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = sql_hex_digit(s[i]), lo = sql_hex_digit(s[i + 1]);
		if (hi < 0 || lo < 0) {
			free(v);
			return -1;
		}
		v[i / 2] = (char)(hi << 4 | lo);
	}
	v[n / 2] = '\0';
	*out = v;
	*outlen = n / 2;
	return 0;
}

static char *copy_text(const uint8_t *s, size_t n)
{
	char *v = malloc(n + 1);
	if (v) {
		memcpy(v, s, n);
		v[n] = '\0';
	}
	return v;
}

unsigned ig_sql_mode_lex_flags(const char *mode)
{
	unsigned f = 0;
	const char *p = mode ? mode : "";
	while (*p) {
		size_t n = strcspn(p, ",");
		if ((n == 20 && strncasecmp(p, "NO_BACKSLASH_ESCAPES", n) == 0))
			f |= SQL_F_NO_BACKSLASH_ESCAPES;
		/* ANSI is reported expanded (it includes ANSI_QUOTES), but accept it either way. */
		if ((n == 11 && strncasecmp(p, "ANSI_QUOTES", n) == 0) || (n == 4 && strncasecmp(p, "ANSI", n) == 0))
			f |= SQL_F_ANSI_QUOTES;
		p += n;
		if (*p == ',')
			p++;
	}
	return f;
}

bool ig_charset_is_utf8(const char *cs)
{
	return cs && (strcasecmp(cs, "utf8mb4") == 0 || strcasecmp(cs, "utf8") == 0 || strcasecmp(cs, "utf8mb3") == 0);
}

int ig_charset_kind(const char *cs)
{
	static const char *const plain[] = {"utf8mb4", "utf8", "utf8mb3", "latin1", "ascii", "binary"};
	static const char *const pairs[] = {"gbk", "gb18030"};
	if (!cs)
		return -1;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (strcasecmp(cs, plain[i]) == 0)
			return 0;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		if (strcasecmp(cs, pairs[i]) == 0)
			return 1;
	return -1;
}

/* USER() is 'name@host'; the host never holds '@', the name may. */
static int login_name(const char *user_at_host, char **out)
{
	const char *at = strrchr(user_at_host, '@');
	size_t n = at ? (size_t)(at - user_at_host) : strlen(user_at_host);
	*out = copy_text((const uint8_t *)user_at_host, n);
	return *out ? 0 : -1;
}

/* One row of lenenc values into the facts. */
static int read_row(const uint8_t *pl, size_t n, const ig_probe_request *req, ig_session_facts *f, char *err,
                    size_t errlen)
{
	size_t pos = 0, ncols = PROBE_FIXED_COLS + PROBE_VAR_COLS * req->nvars;
	char *user_at_host = NULL;
	for (size_t c = 0; c < ncols; c++) {
		const uint8_t *v = NULL;
		uint64_t vl = 0;
		bool null = pos < n && pl[pos] == 0xfb;
		if (null) {
			pos++;
		} else {
			if (my_lenenc_read(pl, n, &pos, &vl) < 0 || n - pos < vl) {
				set_err(err, errlen, "%sthe row is truncated", NULL);
				goto fail;
			}
			v = pl + pos;
			pos += (size_t)vl;
		}
		char *text = NULL;
		size_t tl = 0;
		size_t vi = c >= PROBE_FIXED_COLS ? (c - PROBE_FIXED_COLS) / PROBE_VAR_COLS : 0;
		size_t vk = c >= PROBE_FIXED_COLS ? (c - PROBE_FIXED_COLS) % PROBE_VAR_COLS : 0;
		bool hex = c == 0 || c == 4 || c == 5 || c == 6 || (c >= PROBE_FIXED_COLS && vk == 0);
		if (!null && hex && unhex(v, (size_t)vl, &text, &tl) < 0) {
			set_err(err, errlen, "%sa HEX() value is not hexadecimal", NULL);
			goto fail;
		}
		if (!null && !hex && !(text = copy_text(v, (size_t)vl))) {
			set_err(err, errlen, "%sout of memory", NULL);
			goto fail;
		}
		if (c < PROBE_FIXED_COLS) {
			char **slot[PROBE_FIXED_COLS] = {&f->db,         &f->sql_mode, &f->charset,  &f->conn_charset,
			                                 &user_at_host, &f->version,  &f->tidb_info};
			*slot[c] = text;
			continue;
		}
		ig_probe_var *pv = &f->vars[vi];
		f->nvars = vi + 1;
		if (vk == 0) {
			pv->value = text;
			pv->len = tl;
		} else if (vk == 1) {
			pv->charset = text;
		} else {
			/* LENGTH(): bytes; over the limit the value above is only its first part. */
			pv->too_long = text && strtoull(text, NULL, 10) > IG_PROBE_VAR_MAX;
			free(text);
			if (pv->too_long) {
				free(pv->value);
				pv->value = NULL;
				pv->len = 0;
			}
			if (!(pv->name = strdup(req->names[vi]))) {
				set_err(err, errlen, "%sout of memory", NULL);
				goto fail;
			}
		}
	}
	if (pos != n) {
		set_err(err, errlen, "%sthe row has more values than asked for", NULL);
		goto fail;
	}
	/* TIDB_VERSION() asked plainly (the greeting names TiDB) must answer; the commented form
	 * is NULL on a server that is not TiDB */
	if (!f->sql_mode || !f->charset || !f->conn_charset || !user_at_host || !f->version ||
	    (req->tidb_info && !f->tidb_info)) {
		set_err(err, errlen, "%sthe server answered NULL for sql_mode, a character set, the user or its version", NULL);
		goto fail;
	}
	if (login_name(user_at_host, &f->user) < 0) {
		set_err(err, errlen, "%sout of memory", NULL);
		goto fail;
	}
	free(user_at_host);
	int kind = ig_charset_kind(f->charset);
	f->charset_known = kind >= 0;
	f->lex_flags = ig_sql_mode_lex_flags(f->sql_mode) | (kind == 1 ? SQL_F_MB_PAIRS : 0);
	return 0;
fail:
	free(user_at_host);
	return -1;
}

/* Column definition i names the alias the probe gave it (the nonce proves it is our probe's). */
static bool column_is(const uint8_t *pl, size_t n, size_t i, const char *nonce)
{
	size_t pos = 0;
	uint64_t l = 0;
	char want[64];
	if (i < PROBE_FIXED_COLS)
		alias(want, sizeof(want), nonce, fixed_tags[i], -1);
	else
		alias(want, sizeof(want), nonce, var_tags[(i - PROBE_FIXED_COLS) % PROBE_VAR_COLS],
		      (int)((i - PROBE_FIXED_COLS) / PROBE_VAR_COLS));
	for (int f = 0; f < 5; f++) { /* catalog, schema, table, org_table, name */
		if (my_lenenc_read(pl, n, &pos, &l) < 0 || n - pos < l)
			return false;
		if (f < 4)
			pos += (size_t)l;
	}
	return l == strlen(want) && strncasecmp((const char *)pl + pos, want, (size_t)l) == 0;
}

int ig_probe_parse(const uint8_t *p, size_t len, uint32_t caps, const char *nonce, const ig_probe_request *req,
                   ig_session_facts *facts, size_t *used, char *err, size_t errlen)
{
	size_t nvars = req->nvars;
	pkt_reader r = {.p = p, .len = len};
	const uint8_t *pl;
	size_t n, pos = 0;
	uint64_t ncols;
	int rc, step = 0;
	bool have_row = false;
	memset(facts, 0, sizeof(*facts));
	if (nvars > IG_PROBE_MAX_VARS) {
		set_err(err, errlen, "%stoo many variables", NULL);
		return -1;
	}
	/* Steps: 0 column count, 1..ncols definitions, then EOF (unless DEPRECATE_EOF), rows, end. */
	while ((rc = next_payload(&r, &pl, &n)) == 0) {
		if (step == 0) {
			if (n > 0 && pl[0] == 0xff) {
				my_err e;
				char msg[300];
				if (my_err_parse(pl, n, &e) == 0)
					snprintf(msg, sizeof(msg), "%u %.*s", e.code, (int)(e.msg_len > 256 ? 256 : e.msg_len), e.msg);
				else
					snprintf(msg, sizeof(msg), "an unreadable error");
				set_err(err, errlen, "the server answered %s", msg);
				goto fail;
			}
			if (n == 0 || pl[0] == 0x00 || pl[0] == 0xfb || my_lenenc_read(pl, n, &pos, &ncols) < 0 ||
			    ncols != PROBE_FIXED_COLS + PROBE_VAR_COLS * nvars) {
				set_err(err, errlen, "%sthe answer is not the result set asked for", NULL);
				goto fail;
			}
			step = 1;
			continue;
		}
		if ((uint64_t)step <= ncols) {
			if (!column_is(pl, n, (size_t)step - 1, nonce)) {
				set_err(err, errlen, "%sa column is not the one the probe asked for", NULL);
				goto fail;
			}
			step++;
			continue;
		}
		if ((uint64_t)step == ncols + 1 && !(caps & CLIENT_DEPRECATE_EOF)) {
			if (!is_eof_or_ok_end(pl, n, caps)) {
				set_err(err, errlen, "%sno EOF after the column definitions", NULL);
				goto fail;
			}
			step++;
			continue;
		}
		if (n > 0 && pl[0] == 0xff) {
			set_err(err, errlen, "%sthe server failed while sending the row", NULL);
			goto fail;
		}
		if (is_eof_or_ok_end(pl, n, caps)) {
			if (!have_row) {
				set_err(err, errlen, "%sthe server sent no row", NULL);
				goto fail;
			}
			if (end_status(pl, n, caps) & SERVER_MORE_RESULTS_EXISTS) {
				set_err(err, errlen, "%smore results follow the probe's", NULL);
				goto fail;
			}
			*used = r.pos;
			ig_buf_reset(&r.joined);
			return 0;
		}
		if (have_row) {
			set_err(err, errlen, "%sthe server sent more than one row", NULL);
			goto fail;
		}
		if (read_row(pl, n, req, facts, err, errlen) < 0)
			goto fail;
		have_row = true;
	}
	ig_buf_reset(&r.joined);
	if (rc < 0) {
		set_err(err, errlen, "%sout of memory", NULL);
		ig_session_facts_free(facts);
		return -1;
	}
	ig_session_facts_free(facts);
	return 1;
fail:
	ig_buf_reset(&r.joined);
	ig_session_facts_free(facts);
	return -1;
}

void ig_session_facts_free(ig_session_facts *f)
{
	free(f->db);
	free(f->user);
	free(f->sql_mode);
	free(f->charset);
	free(f->conn_charset);
	free(f->version);
	free(f->tidb_info);
	for (size_t i = 0; i < IG_PROBE_MAX_VARS; i++) {
		free(f->vars[i].name);
		free(f->vars[i].value);
		free(f->vars[i].charset);
	}
	memset(f, 0, sizeof(*f));
}

static int dup_field(char **dst, const char *src)
{
	*dst = NULL;
	return src && !(*dst = strdup(src)) ? -1 : 0;
}

int ig_session_facts_copy(ig_session_facts *dst, const ig_session_facts *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->lex_flags = src->lex_flags;
	dst->charset_known = src->charset_known;
	if (dup_field(&dst->db, src->db) < 0 || dup_field(&dst->user, src->user) < 0 ||
	    dup_field(&dst->sql_mode, src->sql_mode) < 0 || dup_field(&dst->charset, src->charset) < 0 ||
	    dup_field(&dst->conn_charset, src->conn_charset) < 0 || dup_field(&dst->version, src->version) < 0 ||
	    dup_field(&dst->tidb_info, src->tidb_info) < 0)
		goto fail;
	for (size_t i = 0; i < src->nvars; i++) {
		const ig_probe_var *s = &src->vars[i];
		ig_probe_var *d = &dst->vars[i];
		if (dup_field(&d->name, s->name) < 0 || dup_field(&d->charset, s->charset) < 0)
			goto fail;
		d->too_long = s->too_long;
		if (s->value) {
			if (!(d->value = malloc(s->len + 1)))
				goto fail;
			memcpy(d->value, s->value, s->len + 1);
		}
		d->len = s->len;
		dst->nvars = i + 1;
	}
	return 0;
fail:
	ig_session_facts_free(dst);
	return -1;
}

bool ig_probe_may_be_complete(const uint8_t *p, size_t len, size_t *scan)
{
	bool maybe = false;
	while (len - *scan >= MY_HDR_LEN) {
		uint32_t n = my_u24(p + *scan);
		if (len - *scan - MY_HDR_LEN < n)
			break;
		const uint8_t *body = p + *scan + MY_HDR_LEN;
		if (n < MY_MAX_PAYLOAD && n > 0 && (body[0] == 0xfe || body[0] == 0xff))
			maybe = true;
		*scan += MY_HDR_LEN + n;
	}
	return maybe;
}
