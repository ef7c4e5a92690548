/*
 * auditfield.h - the fields of an audit record: its head and texts that are made valid
 * UTF-8, bounded and, where they may carry a credential, redacted (docs/AUDIT.md,
 * "Redaction" and "Bounds"). For auditev.c, which alone shapes events, and for the admin
 * API's views of the same texts (proxy/oblview.c).
 */
#ifndef IMPORTGATE_AUDITFIELD_H
#define IMPORTGATE_AUDITFIELD_H

#include <stddef.h>

#include <jansson.h>

/* audit.max_statement_bytes (0 = the default); live: the next field built. */
void ig_audit_field_limit(size_t max_statement_bytes);

/* A new event object with "ts" (RFC 3339 UTC, microseconds) and "event" set; NULL on OOM. */
json_t *ig_audit_event(const char *event);

/* Field helpers. All return 0, or -1 on allocation failure (ev is then unchanged).
 * Strings from the wire may be in any charset: invalid UTF-8 bytes become U+FFFD so the
 * line stays valid JSON. Every text is bounded (ig_audit_set_limits): a longer one is cut
 * and ends with "...[truncated]". Memory used is bounded the same way (plus one literal
 * group of the redactor, at most 64 KiB), whatever the input's length. */
int ig_audit_set_string(json_t *ev, const char *key, const char *s, size_t len);
/* The same text as a value of its own (an array's element); NULL when out of memory. */
json_t *ig_audit_string(const char *s, size_t len);
/* ev[key] = sql_redact_text(s): for text from the backend (error messages, result
 * messages) or anything else that may quote a statement or a location. */
int ig_audit_set_text(json_t *ev, const char *key, const char *s, size_t len);
/* "statement" = sql_redact_statement(sql, len) (bounded), "statement_bytes" = len,
 * "statement_sha256" = SHA-256 (hex) of the whole redacted text, "statement_truncated" =
 * true when cut. */
int ig_audit_set_statement(json_t *ev, const char *sql, size_t len);
/* "rewrite" = {"offset": o, "removed": r, "inserted": "...", "new_bytes": n}: the text
 * forwarded is the statement with r bytes at offset o replaced by the inserted text
 * (redacted as a statement, bounded; "inserted_truncated": true when cut). Not a second
 * copy of the statement. */
int ig_audit_set_rewrite(json_t *ev, const char *orig, size_t olen, const char *text, size_t tlen);
/* ev[key] = sql_redact_uri(uri). */
int ig_audit_set_location(json_t *ev, const char *key, const char *uri);
/* ev["options"][name] = value; CLOUD_STORAGE_URI is redacted as a URI, any other value as
 * free text (sql_redact_text). value NULL (an option without a value) is stored as true. */
int ig_audit_set_option(json_t *ev, const char *name, const char *value, size_t len);
/* ev["error"] = {"code": code, "message": sql_redact_text(message)}. */
int ig_audit_set_error(json_t *ev, int code, const char *message);

#endif
