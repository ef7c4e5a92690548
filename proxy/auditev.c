/*
 * auditev.c - the events of the audit log (auditev.h), one function per event of
 * docs/AUDIT.md in its order. Fields appear in the order they are set here, as the
 * document says; texts go through proxy/auditfield.c (bounded, valid UTF-8, redacted where
 * they may hold a credential).
 */
#include "proxy/auditev.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/audit.h"
#include "proxy/auditfield.h"

const char *const ig_auditev_names[] = {
	"import.decision", "import.rejected", "import.result",
	"obligation.created", "obligation.claimed", "obligation.step", "obligation.failed",
	"obligation.not_owed", "obligation.done", "obligation.dismissed",
	"bypass.suspect", "admin.reload", "admin.reload_refused", "statement",
	"brie.import.started", "brie.import.ended", "brie.import.conflict", "brie.import.unguarded",
	"lightning.decision", "lightning.refused", "lightning.started", "lightning.result",
};
const size_t ig_auditev_nnames = sizeof(ig_auditev_names) / sizeof(ig_auditev_names[0]);

static void set_str(json_t *ev, const char *key, const char *s)
{
	ig_audit_set_string(ev, key, s, strlen(s));
}

/* The session's database, a client's bytes (a latin1 session's name is not UTF-8): bounded
 * and made UTF-8 like every text field; jansson's json_string() refuses such a name, and the
 * record went out without its `db` (attack24). null: no database. */
static void set_db(json_t *ev, const char *db)
{
	if (db)
		set_str(ev, "db", db);
	else
		json_object_set_new(ev, "db", json_null());
}

/* conn, user, client, tls, db, backend: who sent the statement. */
static json_t *who_event(const char *event, const ig_auditev_who *who)
{
	json_t *ev = ig_audit_event(event);
	if (!ev)
		return NULL;
	json_object_set_new(ev, "conn", json_integer((json_int_t)who->conn));
	set_str(ev, "user", who->user);
	set_str(ev, "client", who->client);
	json_object_set_new(ev, "tls", json_boolean(who->tls));
	set_db(ev, who->db);
	set_str(ev, "backend", who->backend);
	return ev;
}

static json_t *string_array(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, ig_audit_string(v[i], strlen(v[i])));
	return a;
}

/* ---- import.decision ---- */

static void set_verdict(json_t *ev, const ig_decision *dec)
{
	json_object_set_new(ev, "verdict", json_string(ig_verdict_name(dec->verdict)));
	json_object_set_new(ev, "dry_run", json_boolean(dec->dry_run));
	json_object_set_new(ev, "rule", dec->rule ? json_string(dec->rule->name) : json_null());
	json_object_set_new(ev, "tasks", string_array(dec->tasks, dec->ntasks));
	json_object_set_new(ev, "changefeeds", string_array(dec->changefeeds, dec->nchangefeeds));
	json_object_set_new(ev, "obligations", ig_obl_kinds_json(dec->obligations));
	if (dec->reason)
		set_str(ev, "reason", dec->reason);
	if (dec->verdict == IG_VERDICT_REJECT && dec->message)
		ig_audit_set_error(ev, (int)dec->err_code, dec->message);
}

static void set_cluster_state(json_t *ev, const ig_cluster_state *st, const char *error)
{
	json_t *cs = json_object();
	if (!cs)
		return;
	if (st) {
		json_object_set_new(cs, "source", json_string(st->source ? st->source : ""));
		json_object_set_new(cs, "revision", json_integer(st->revision));
		json_object_set_new(cs, "tasks", json_integer((json_int_t)st->ntasks));
		json_object_set_new(cs, "changefeeds", json_integer((json_int_t)st->ncfs));
	} else {
		set_str(cs, "error", error ? error : "");
	}
	json_object_set_new(ev, "cluster_state", cs);
}

/* The edit of the audited statement, not a second copy of it: the import's own edit, moved to
 * where the import starts in the statement. */
static void set_rewrite(json_t *ev, const ig_auditev_decision *d)
{
	if (!d->new_text ||
	    ig_audit_set_rewrite(ev, d->import_text, d->import_len, d->new_text, d->new_len) < 0)
		return;
	json_t *rw = json_object_get(ev, "rewrite");
	json_t *off = rw ? json_object_get(rw, "offset") : NULL;
	if (off)
		json_integer_set(off, json_integer_value(off) + (json_int_t)d->import_offset);
	if (rw)
		json_object_set_new(rw, "new_bytes", json_integer((json_int_t)d->statement_len -
		                                                  (json_int_t)d->import_len + (json_int_t)d->new_len));
}

int ig_auditev_import_decision(const ig_auditev_who *who, const ig_auditev_decision *d, bool durable,
                               char *err, size_t errlen)
{
	json_t *ev = who_event("import.decision", who);
	if (ev) {
		set_str(ev, "table", d->table);
		ig_audit_set_statement(ev, d->statement, d->statement_len);
		if (d->prepare)
			set_str(ev, "prepare", d->prepare);
		if (d->imp->src == SQL_SRC_FILE && d->imp->location)
			ig_audit_set_location(ev, "location", d->imp->location);
		if (d->imp->format)
			set_str(ev, "format", d->imp->format);
		for (size_t i = 0; i < d->imp->nopts; i++) {
			const sql_import_opt *o = &d->imp->opts[i];
			/* a hex/bit literal value is kept as its source text (0x7333..), which reads as
			 * no location: redacted as the literal it is, i.e. as the string it spells */
			char *lit = o->value && o->value_kind == SQL_OPTV_OTHER
			                    ? sql_redact_statement(o->value, strlen(o->value), 0) : NULL;
			const char *v = o->value_kind == SQL_OPTV_OTHER && o->value ? (lit ? lit : "'redacted'") : o->value;
			ig_audit_set_option(ev, o->name, v, v ? strlen(v) : 0);
			free(lit);
		}
		if (d->dec)
			set_verdict(ev, d->dec);
		set_cluster_state(ev, d->state, d->state_error);
		set_rewrite(ev, d);
	}
	if (!durable) {
		ig_audit_post(ev);
		return 0;
	}
	return ig_audit_write(ev, err, errlen);
}

/* ---- import.rejected, import.result ---- */

/* A statement refused before any decision: who, the statement, "verdict": "reject", the error. */
static void post_refused(const char *event, const ig_auditev_who *who, const char *sql, size_t len,
                         const ig_auditev_error *error)
{
	json_t *ev = who_event(event, who);
	if (!ev)
		return;
	ig_audit_set_statement(ev, sql, len);
	json_object_set_new(ev, "verdict", json_string("reject"));
	ig_audit_set_error(ev, error->code, error->message);
	ig_audit_post(ev);
}

void ig_auditev_import_rejected(const ig_auditev_who *who, const char *sql, size_t len,
                                const ig_auditev_error *error)
{
	post_refused("import.rejected", who, sql, len, error);
}

void ig_auditev_import_result(const ig_auditev_who *who, const char *table, uint64_t latency_ms,
                              const ig_import_result *r)
{
	json_t *ev = ig_audit_event("import.result");
	if (!ev)
		return;
	json_object_set_new(ev, "conn", json_integer((json_int_t)who->conn));
	set_str(ev, "user", who->user);
	set_str(ev, "client", who->client);
	set_str(ev, "table", table);
	set_str(ev, "backend", who->backend);
	json_object_set_new(ev, "latency_ms", json_integer((json_int_t)latency_ms));
	if (r->kind == IR_ERR) {
		ig_audit_set_error(ev, r->err_code, r->message);
	} else if (r->kind != IR_UNKNOWN) {
		if (r->job_id[0])
			set_str(ev, "job_id", r->job_id);
		if (r->status[0])
			set_str(ev, "status", r->status);
		if (r->rows[0])
			set_str(ev, "rows", r->rows);
		if (r->message[0])
			set_str(ev, "message", r->message);
	} else {
		json_object_set_new(ev, "status", json_string("unreadable"));
	}
	ig_audit_post(ev);
}

/* ---- obligation.* ---- */

static bool obligation_event(const char *event)
{
	for (size_t i = 0; i < ig_auditev_nnames; i++)
		if (strncmp(ig_auditev_names[i], "obligation.", 11) == 0 && strcmp(ig_auditev_names[i], event) == 0)
			return true;
	return false;
}

int ig_auditev_obligation(const char *event, const ig_obl_record *r, const char *step, const char *error,
                          const char *replica, char *err, size_t errlen)
{
	char table[600];
	if (!obligation_event(event)) {
		snprintf(err, errlen, "not an obligation event of docs/AUDIT.md");
		return -1;
	}
	json_t *ev = ig_audit_event(event), *k = ig_obl_kinds_json(r->kinds);
	if (!ev || !k) {
		json_decref(ev);
		json_decref(k);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	set_str(ev, "obligation", r->id);
	json_object_set_new(ev, "kinds", k);
	snprintf(table, sizeof(table), "%s.%s", r->db ? r->db : "", r->table ? r->table : "");
	set_str(ev, "table", table);
	json_object_set_new(ev, "state", json_string(ig_obl_state_name(r->state)));
	if (r->job_id)
		set_str(ev, "job_id", r->job_id);
	if (r->conn_id)
		json_object_set_new(ev, "conn", json_integer((json_int_t)r->conn_id));
	if (step)
		json_object_set_new(ev, "step", json_string(step));
	if (r->note)
		set_str(ev, "note", r->note);
	if (r->reason)
		set_str(ev, "reason", r->reason);
	if (r->origin) /* absent: an IMPORT INTO through the gateway */
		set_str(ev, "origin", r->origin);
	if (error)
		ig_audit_set_error(ev, 0, error);
	json_object_set_new(ev, "rev", json_integer((json_int_t)r->rev));
	set_str(ev, "replica", replica);
	return ig_audit_write(ev, err, errlen);
}

/* ---- lightning.* (importgate lightning check|run) ---- */

static int write_or_oom(json_t *ev, char *err, size_t errlen)
{
	if (!ev) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return ig_audit_write(ev, err, errlen);
}

int ig_auditev_lightning_decision(const ig_auditev_ltn_table *t, char *err, size_t errlen)
{
	json_t *ev = ig_audit_event("lightning.decision");
	if (ev) {
		set_str(ev, "task", t->task);
		json_object_set_new(ev, "backend", json_string(t->backend));
		set_str(ev, "user", t->user ? t->user : "");
		set_str(ev, "db", t->db);
		set_str(ev, "table", t->table);
		json_object_set_new(ev, "verdict", json_string(t->verdict));
		if (t->dec->reason)
			json_object_set_new(ev, "gateway_verdict", json_string(ig_verdict_name(t->dec->verdict)));
		if (t->dec->rule)
			json_object_set_new(ev, "rule", json_string(t->dec->rule->name));
		json_object_set_new(ev, "tasks", string_array(t->dec->tasks, t->dec->ntasks));
		json_object_set_new(ev, "changefeeds", string_array(t->dec->changefeeds, t->dec->nchangefeeds));
		json_object_set_new(ev, "obligations", ig_obl_kinds_json(t->dec->obligations));
		set_str(ev, "reason", t->reason ? t->reason : "");
	}
	return write_or_oom(ev, err, errlen);
}

int ig_auditev_lightning_run(const char *event, const char *task, const char *program, size_t tables,
                             size_t obligations, int exit_status, const char *message, char *err, size_t errlen)
{
	if (strcmp(event, "lightning.refused") != 0 && strcmp(event, "lightning.started") != 0 &&
	    strcmp(event, "lightning.result") != 0) {
		snprintf(err, errlen, "not a lightning run event of docs/AUDIT.md");
		return -1;
	}
	json_t *ev = ig_audit_event(event);
	if (ev) {
		set_str(ev, "task", task);
		set_str(ev, "program", program);
		json_object_set_new(ev, "tables", json_integer((json_int_t)tables));
		json_object_set_new(ev, "obligations_owed", json_integer((json_int_t)obligations));
		if (exit_status >= 0)
			json_object_set_new(ev, "exit_status", json_integer(exit_status));
		if (message)
			set_str(ev, "message", message);
	}
	return write_or_oom(ev, err, errlen);
}

/* ---- bypass.suspect, admin.*, statement ---- */

void ig_auditev_bypass_suspect(const ig_auditev_who *who, const char *sql, size_t len,
                               const ig_auditev_error *error, const char *reason)
{
	if (error) {
		post_refused("bypass.suspect", who, sql, len, error);
		return;
	}
	json_t *ev = who_event("bypass.suspect", who);
	if (!ev)
		return;
	ig_audit_set_statement(ev, sql, len);
	json_object_set_new(ev, "verdict", json_string("pass"));
	set_str(ev, "reason", reason ? reason : "");
	ig_audit_post(ev);
}

void ig_auditev_admin_reload(void)
{
	ig_audit_post(ig_audit_event("admin.reload"));
}

void ig_auditev_admin_reload_refused(const char *error)
{
	json_t *ev = ig_audit_event("admin.reload_refused");
	if (!ev)
		return;
	ig_audit_set_error(ev, 0, error);
	ig_audit_post(ev);
}

void ig_auditev_statement(const ig_auditev_who *who, const char *sql, size_t len, const char *kind)
{
	json_t *ev = ig_audit_event("statement");
	if (!ev)
		return;
	json_object_set_new(ev, "conn", json_integer((json_int_t)who->conn));
	set_str(ev, "user", who->user);
	set_str(ev, "client", who->client);
	set_db(ev, who->db);
	json_object_set_new(ev, "kind", json_string(kind));
	ig_audit_set_statement(ev, sql, len);
	ig_audit_post(ev);
}

/* ---- brie.import.* ---- */

/* kind, task, key, lease (hex, as BR prints it), value_bytes, tables (unknown), seen_at_start. */
static json_t *brie_event(const char *event, const ig_auditev_brie *b)
{
	char hex[24];
	json_t *ev = ig_audit_event(event);
	if (ev && (ig_audit_set_string(ev, "kind", b->kind, strlen(b->kind)) < 0 ||
	           ig_audit_set_string(ev, "task", b->task, strlen(b->task)) < 0 ||
	           ig_audit_set_string(ev, "key", b->key, strlen(b->key)) < 0)) {
		json_decref(ev);
		return NULL;
	}
	if (!ev)
		return NULL;
	snprintf(hex, sizeof(hex), "%" PRIx64, (uint64_t)b->lease);
	json_object_set_new(ev, "lease", json_string(hex));
	json_object_set_new(ev, "value_bytes", json_integer((json_int_t)b->value_bytes));
	json_object_set_new(ev, "tables", json_null());
	json_object_set_new(ev, "tables_known", json_false());
	json_object_set_new(ev, "seen_at_start", json_boolean(b->seen_at_start));
	return ev;
}

void ig_auditev_brie_import_started(const ig_auditev_brie *b, const char *pd)
{
	json_t *ev = brie_event("brie.import.started", b);
	if (!ev)
		return;
	if (pd)
		set_str(ev, "pd", pd);
	else
		json_object_set_new(ev, "pd", json_null());
	ig_audit_post(ev);
}

void ig_auditev_brie_import_ended(const ig_auditev_brie *b, int64_t duration_ms, bool conflicted)
{
	json_t *ev = brie_event("brie.import.ended", b);
	if (!ev)
		return;
	json_object_set_new(ev, "duration_ms", json_integer(duration_ms));
	json_object_set_new(ev, "conflicted", json_boolean(conflicted));
	json_object_set_new(ev, "reason", json_string("its key is gone: finished, lease revoked, or lease expired"));
	ig_audit_post(ev);
}

void ig_auditev_brie_import_conflict(const ig_auditev_brie *b, const json_t *conflict, const char *message)
{
	json_t *ev = brie_event("brie.import.conflict", b);
	if (!ev)
		return;
	json_t *cj = conflict ? json_deep_copy(conflict) : NULL;
	if (cj)
		json_object_update(ev, cj);
	json_decref(cj);
	set_str(ev, "message", message);
	ig_audit_post(ev);
}

void ig_auditev_brie_import_unguarded(const ig_auditev_brie *b, int64_t tasks, int64_t changefeeds,
                                      const char *message)
{
	json_t *ev = brie_event("brie.import.unguarded", b);
	if (!ev)
		return;
	json_object_set_new(ev, "guarded", json_false());
	json_object_set_new(ev, "log_backup_task_count", tasks < 0 ? json_null() : json_integer(tasks));
	json_object_set_new(ev, "changefeed_count", changefeeds < 0 ? json_null() : json_integer(changefeeds));
	/* redacted: it may quote why the cluster state could not be read (a PD URL) */
	if (ig_audit_set_text(ev, "message", message, strlen(message)) < 0) {
		json_decref(ev);
		return;
	}
	ig_audit_post(ev);
}
