/*
 * import_opts.c - IMPORT INTO option validation, modelled on TiDB so the gateway (and the
 * test double) can answer as TiDB would. Facts, from pingcap/tidb:
 *  - pkg/executor/importer/import.go: supportedOptions (name -> takes a value), checked in
 *    statement order in initOptions: unknown name -> ErrUnknownOption, value present when
 *    none is taken or absent when one is required -> ErrInvalidOptionVal, repeated name ->
 *    ErrDuplicateOption (first failing option wins). Then csvOnlyOptions with a non-CSV
 *    FORMAT, and any option but THREAD/DISABLE_PRECHECK with FROM SELECT
 *    (allowedOptionsOfImportFromQuery) -> ErrLoadDataUnsupportedOption. Then per-option
 *    value checks in a fixed order (string vs integer literal, empty, ranges).
 *    The parser lower-cases option names (the %s below is the lower-case name).
 *  - pkg/errno/errname.go + errcode.go: 8163 ErrUnknownOption "Unknown option %s",
 *    8164 ErrInvalidOptionVal "Invalid option value for %s", 8165 ErrDuplicateOption
 *    "Option %s specified more than once", 8166 ErrLoadDataUnsupportedOption
 *    "Unsupported option %s for %s".
 * Not modelled: charset names, byte sizes (DISK_QUOTA, MAX_WRITE_SPEED), CHECKSUM_TABLE
 * levels and CLOUD_STORAGE_URI schemes are not validated; those errors come from TiDB.
 * The table is the union of every TiDB version's options: which version has which is a
 * per-version fact, decided with the backend's version in policy/import_grammar.c.
 */
#include "sqlparse/import_internal.h"
#include "sqlparse/lexer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OV_NONE, OV_STR, OV_INT } opt_val;

typedef struct opt_def {
	const char *name; /* upper case */
	opt_val val;
	bool csv_only;
	long long min;   /* OV_INT: smallest allowed */
	int str_rule;    /* OV_STR: 0 any, 1 non-empty, 2 at most one byte, 3 a group key:
	                  * 1 to 256 of [A-Za-z0-9_-] (master import_options.go,
	                  * naming.CheckWithMaxLen) */
} opt_def;

/* Order = the order of TiDB's per-option value checks. The version that first has each
 * option: policy/import_grammar.c (docs/TIDB_VERSIONS.md). */
static const opt_def opt_defs[] = {
	{"CHARACTER_SET", OV_STR, true, 0, 1},
	{"FIELDS_TERMINATED_BY", OV_STR, true, 0, 1},
	{"FIELDS_ENCLOSED_BY", OV_STR, true, 0, 2},
	{"FIELDS_ESCAPED_BY", OV_STR, true, 0, 2},
	{"FIELDS_DEFINED_NULL_BY", OV_STR, true, 0, 0},
	{"LINES_TERMINATED_BY", OV_STR, true, 0, 1},
	{"SKIP_ROWS", OV_INT, true, 0, 0},
	{"SPLIT_FILE", OV_NONE, true, 0, 0},
	{"DISK_QUOTA", OV_STR, false, 0, 0},
	{"THREAD", OV_INT, false, 1, 0},
	{"MAX_WRITE_SPEED", OV_STR, false, 0, 0},
	{"CHECKSUM_TABLE", OV_STR, false, 0, 0},
	{"GROUP_KEY", OV_STR, false, 0, 3}, /* master */
	{"RECORD_ERRORS", OV_INT, false, -1, 0},
	{"DETACHED", OV_NONE, false, 0, 0},
	{"DISABLE_TIKV_IMPORT_MODE", OV_NONE, false, 0, 0},
	{"CLOUD_STORAGE_URI", OV_STR, false, 0, 0}, /* v7.4+ */
	{"__MAX_ENGINE_SIZE", OV_STR, false, 0, 0}, /* test */
	{"DISABLE_PRECHECK", OV_NONE, false, 0, 0}, /* v8.0+ */
	{"__FORCE_MERGE_STEP", OV_NONE, false, 0, 0}, /* test */
	{"__MANUAL_RECOVERY", OV_NONE, false, 0, 0},  /* test */
};

#define N_OPT_DEFS (sizeof(opt_defs) / sizeof(opt_defs[0]))

static const opt_def *find_def(const sql_import_opt *o)
{
	size_t i;
	if (o->name_truncated)
		return NULL;
	for (i = 0; i < N_OPT_DEFS; i++)
		if (opt_defs[i].name[0] == o->name[0] && strcmp(opt_defs[i].name, o->name) == 0)
			return &opt_defs[i];
	return NULL;
}

/* The option name as TiDB prints it: decoded and lower-cased. */
static void lower_name(const char *sql, unsigned flags, const sql_import_opt *o, char *buf, size_t buflen)
{
	sql_lexer lx;
	sql_token t;
	size_t n = 0, i;
	char *dec = NULL;
	sql_lex_init(&lx, sql, o->name_span.off + o->name_span.len, flags & ~SQL_F_IN_EXEC_COMMENT);
	lx.pos = o->name_span.off;
	if (sql_lex_next(&lx, &t) != SQL_TOK_EOF)
		dec = sql_tok_decode(sql, &t, flags, &n);
	if (!dec) {
		snprintf(buf, buflen, "%s", o->name);
		n = strlen(buf);
	} else {
		snprintf(buf, buflen, "%s", dec);
		n = strlen(buf);
		free(dec);
	}
	for (i = 0; i < n; i++)
		if (buf[i] >= 'A' && buf[i] <= 'Z')
			buf[i] = (char)(buf[i] + 32);
}

static void set_err(sql_import *imp, int code, const char *fmt, const char *a, const char *b)
{
	imp->tidb_errcode = code;
	snprintf(imp->tidb_errmsg, sizeof(imp->tidb_errmsg), fmt, a, b);
}

/* An integer literal TiDB types as BIGINT (no fraction/exponent, fits int64). */
static bool int_value(const sql_import_opt *o, long long *v)
{
	const char *s = o->value;
	size_t i = 0, digits = 0;
	long long acc = 0;
	bool neg = false;
	if (o->value_kind != SQL_OPTV_NUMBER || !s)
		return false;
	if (s[0] == '-' || s[0] == '+')
		neg = s[i++] == '-';
	for (; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (++digits > 18)
			return false;
		acc = acc * 10 + (s[i] - '0');
	}
	*v = neg ? -acc : acc;
	return digits > 0;
}

#define GROUP_KEY_BYTES "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

static bool value_ok(const opt_def *d, const sql_import_opt *o)
{
	long long v;
	size_t n;
	if (d->val == OV_INT)
		return int_value(o, &v) && v >= d->min;
	if (d->val != OV_STR)
		return true;
	if (o->value_kind != SQL_OPTV_STRING && o->value_kind != SQL_OPTV_OTHER)
		return false; /* hex/bit literals are strings to TiDB; numbers and words are not */
	n = o->value ? strlen(o->value) : 0;
	if (d->str_rule == 1 && n == 0)
		return false;
	if (d->str_rule == 2 && n > 1)
		return false;
	if (d->str_rule == 3 && o->value_kind == SQL_OPTV_STRING) /* a hex literal: TiDB decodes it */
		return n >= 1 && n <= 256 && strspn(o->value, GROUP_KEY_BYTES) == n;
	if (d->str_rule == 3)
		return n >= 1;
	return true;
}

static int def_index(const opt_def *d)
{
	return (int)(d - opt_defs);
}

static bool check_presence(const char *sql, unsigned flags, sql_import *imp, const opt_def **defs)
{
	size_t i, j;
	char name[160];
	for (i = 0; i < imp->nopts; i++) {
		const sql_import_opt *o = &imp->opts[i];
		/* the printed name is needed only for an error: decode it then */
		defs[i] = find_def(o);
		if (!defs[i]) {
			lower_name(sql, flags, o, name, sizeof(name));
			set_err(imp, 8163, "Unknown option %s%s", name, "");
			return false;
		}
		if ((defs[i]->val == OV_NONE) == o->has_value) {
			lower_name(sql, flags, o, name, sizeof(name));
			set_err(imp, 8164, "Invalid option value for %s%s", name, "");
			return false;
		}
		for (j = 0; j < i; j++)
			if (defs[j] == defs[i]) {
				lower_name(sql, flags, o, name, sizeof(name));
				set_err(imp, 8165, "Option %s specified more than once%s", name, "");
				return false;
			}
	}
	return true;
}

static bool check_context(const char *sql, unsigned flags, sql_import *imp, const opt_def **defs)
{
	size_t i;
	char name[160];
	bool non_csv = false;
	if (imp->src == SQL_SRC_FILE && imp->format) {
		non_csv = !sql_ieq(imp->format, strlen(imp->format), "CSV");
	}
	for (i = 0; non_csv && i < imp->nopts; i++)
		if (defs[i]->csv_only) {
			lower_name(sql, flags, &imp->opts[i], name, sizeof(name));
			set_err(imp, 8166, "Unsupported option %s for %s", name, "non-CSV format");
			return false;
		}
	for (i = 0; imp->src == SQL_SRC_SELECT && i < imp->nopts; i++)
		if (strcmp(defs[i]->name, "THREAD") != 0 && strcmp(defs[i]->name, "DISABLE_PRECHECK") != 0) {
			lower_name(sql, flags, &imp->opts[i], name, sizeof(name));
			set_err(imp, 8166, "Unsupported option %s for %s", name, "import from query");
			return false;
		}
	return true;
}

static bool check_values(const char *sql, unsigned flags, sql_import *imp, const opt_def **defs)
{
	size_t k, i;
	char name[160];
	for (k = 0; k < N_OPT_DEFS; k++)
		for (i = 0; i < imp->nopts; i++)
			if (def_index(defs[i]) == (int)k && !value_ok(defs[i], &imp->opts[i])) {
				lower_name(sql, flags, &imp->opts[i], name, sizeof(name));
				set_err(imp, 8164, "Invalid option value for %s%s", name, "");
				return false;
			}
	return true;
}

/* SPLIT_FILE needs SKIP_ROWS <= 1 and an explicit LINES_TERMINATED_BY (initOptions). */
static void check_split_file(sql_import *imp)
{
	const sql_import_opt *skip = sql_import_find_opt(imp, "SKIP_ROWS");
	long long v = 0;
	if (!sql_import_find_opt(imp, "SPLIT_FILE"))
		return;
	if (skip && int_value(skip, &v) && v > 1) {
		set_err(imp, 8164, "Invalid option value for %s%s", "skip_rows, should be <= 1 when split-file is enabled",
		        "");
		return;
	}
	if (!sql_import_find_opt(imp, "LINES_TERMINATED_BY"))
		set_err(imp, 8164, "Invalid option value for %s%s",
		        "lines_terminated_by, should not be empty when use split_file", "");
}

void sql_import_check_options(const char *sql, unsigned flags, sql_import *imp)
{
	const opt_def *local[32]; /* statements rarely have more options: no allocation */
	const opt_def **defs = local;
	imp->tidb_errcode = 0;
	imp->tidb_errmsg[0] = 0;
	if (imp->nopts == 0)
		return;
	if (imp->nopts > sizeof(local) / sizeof(local[0]))
		defs = calloc(imp->nopts, sizeof(*defs));
	if (!defs) {
		/* cannot check: say so rather than claim the options are fine */
		set_err(imp, 8164, "Invalid option value for %s%s", "(not checked: out of memory)", "");
		return;
	}
	if (check_presence(sql, flags, imp, defs) && check_context(sql, flags, imp, defs) &&
	    check_values(sql, flags, imp, defs))
		check_split_file(imp);
	if (defs != local)
		free(defs);
}
