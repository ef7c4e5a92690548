/*
 * inspect.c - the statement hook (see inspect.h): sqlparse classifies, the session
 * learns what it must track (USE), and import statements go to the policy.
 */
#include "proxy/inspect.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/log.h"
#include "sqlparse/sqlparse.h"

static atomic_uint_fast64_t st_classified, st_imports;

bool ig_inspect_quick(const char *sql, size_t len)
{
	return sql_quick_reject(sql, len) != 0;
}

void ig_inspect_stats_get(ig_inspect_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->classified = atomic_load(&st_classified);
	s->imports = atomic_load(&st_imports);
}

void ig_inspect_out_free(ig_inspect_out *out)
{
	ig_buf_reset(&out->text);
	for (unsigned i = 0; i < out->nuse; i++)
		free(out->use_db[i]);
	out->nuse = 0;
}

static void reject(ig_inspect_out *out, uint16_t code, const char *msg)
{
	out->action = IA_REJECT;
	out->err_code = code;
	memcpy(out->sqlstate, "HY000", 6);
	snprintf(out->err_msg, sizeof(out->err_msg), "%s", msg);
}

void ig_inspect(const ig_stmt_ctx *ctx, const char *sql, size_t len, ig_inspect_out *out)
{
	sql_batch b;
	char err[256];
	memset(out, 0, sizeof(*out));
	out->action = IA_FORWARD;
	atomic_fetch_add_explicit(&st_classified, 1, memory_order_relaxed);
	if (sql_classify(sql, len, 0, &b, err, sizeof(err)) < 0) {
		reject(out, 1105, "importgate: out of memory inspecting the statement");
		return;
	}
	for (size_t i = 0; i < b.n; i++) {
		const sql_stmt *st = &b.stmts[i];
		LOG_DEBUG(ctx->conn_id, "inspect: statement %zu/%zu: %s", i + 1, b.n, sql_kind_name(st->kind));
		switch (st->kind) {
		case SQL_USE:
			if (i < IG_MAX_USE && st->use_db) {
				out->use_db[i] = strdup(st->use_db);
				if (i + 1 > out->nuse)
					out->nuse = (unsigned)i + 1;
			} else {
				out->uncertain_db = true;
			}
			break;
		case SQL_IMPORT_INTO:
		case SQL_PREPARE_VAR:
			atomic_fetch_add_explicit(&st_imports, 1, memory_order_relaxed);
			LOG_INFO(ctx->conn_id, "inspect: %s from '%s'@%s", sql_kind_name(st->kind), ctx->user,
			         ctx->client_host);
			break;
		case SQL_PREPARE_TEXT:
			if (st->prepare_inner == SQL_IMPORT_INTO) {
				atomic_fetch_add_explicit(&st_imports, 1, memory_order_relaxed);
				LOG_INFO(ctx->conn_id, "inspect: PREPARE of IMPORT INTO from '%s'@%s", ctx->user,
				         ctx->client_host);
			}
			break;
		default:
			break;
		}
	}
	sql_batch_free(&b);
}
