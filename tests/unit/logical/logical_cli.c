/*
 * logical_cli.c - test driver for the logical-import rewrite: reads one IMPORT INTO from
 * stdin, prints the LOAD DATA (exit 0) or the refusal (stderr, exit 2). With --mariadb the
 * FIELDS DEFINED NULL BY clause (a TiDB extension MariaDB lacks) is dropped when it says
 * what MariaDB does by itself (null string \N with escape \); otherwise exit 3.
 * Used by tests/integration/test_logical.py only.
 */
#include "sqlparse/logical.h"
#include "sqlparse/sqlparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(FILE *f, size_t *n)
{
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);
	while (b) {
		size_t r = fread(b + len, 1, cap - len, f);
		len += r;
		if (r == 0)
			break;
		if (len == cap) {
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				return NULL;
			}
			b = nb;
			cap *= 2;
		}
	}
	*n = len;
	return b;
}

/* MariaDB: drop " DEFINED NULL BY X'5C4E' OPTIONALLY ENCLOSED" (its own default meaning). */
static int mariadb_dialect(char *s)
{
	static const char *const forms[] = {" DEFINED NULL BY X'5C4E' OPTIONALLY ENCLOSED", " DEFINED NULL BY X'5C4E'",
	                                    NULL};
	int i;
	if (!strstr(s, " ESCAPED BY X'5C'"))
		return -1;
	for (i = 0; forms[i]; i++) {
		char *p = strstr(s, forms[i]);
		if (p) {
			size_t l = strlen(forms[i]);
			memmove(p, p + l, strlen(p + l) + 1);
			return 0;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	size_t n, outlen;
	char *sql = read_all(stdin, &n), *out = NULL, err[512];
	sql_import imp;
	int rc = 2;
	unsigned flags = 0;
	int mariadb = 0, i;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mariadb") == 0)
			mariadb = 1;
		else if (strcmp(argv[i], "--no-backslash-escapes") == 0)
			flags |= SQL_F_NO_BACKSLASH_ESCAPES;
	}
	if (!sql) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	if (sql_import_parse(sql, n, flags, &imp, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		free(sql);
		return 2;
	}
	if (sql_import_to_load_data(sql, n, &imp, &out, &outlen, err, sizeof(err)) == 0) {
		rc = 0;
		if (mariadb && mariadb_dialect(out) < 0) {
			fprintf(stderr, "no MariaDB spelling for this DEFINED NULL BY\n");
			rc = 3;
		} else {
			fwrite(out, 1, strlen(out), stdout);
			fputc('\n', stdout);
		}
	} else {
		fprintf(stderr, "%s\n", err);
	}
	free(out);
	sql_import_free(&imp);
	free(sql);
	return rc;
}
