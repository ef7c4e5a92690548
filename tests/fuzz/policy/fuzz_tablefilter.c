/*
 * fuzz_tablefilter.c - input = table-filter rules, one per line; the last line is also
 * split at its first '.' into a db and table name to match. Both case modes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "policy/tablefilter.h"

#define MAX_RULES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *rules[MAX_RULES], *p, *dot;
	size_t n = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (p = text; n < MAX_RULES;) {
		char *nl = strchr(p, '\n');
		rules[n++] = p;
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	for (int cs = 0; cs < 2; cs++) {
		ig_tablefilter *f = ig_tablefilter_parse((const char *const *)rules, n, cs, NULL, 0);
		char name[256];
		if (!f)
			continue;
		(void)ig_tablefilter_match_ex(f, "db", "tbl");
		(void)ig_tablefilter_match_ex(f, "", "");
		snprintf(name, sizeof(name), "%s", rules[n - 1]);
		dot = strchr(name, '.');
		if (dot) {
			*dot = '\0';
			(void)ig_tablefilter_match_ex(f, name, dot + 1);
		}
		ig_tablefilter_free(f);
	}
	free(text);
	return 0;
}
