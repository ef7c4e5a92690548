/*
 * fuzz_ltn_task.c - the TiDB Lightning task reader and target finder on arbitrary input: the
 * input is a task file, then (after a NUL byte) file paths, one a line. Nothing may crash,
 * leak or read out of bounds; a task that parses yields tables or a clear error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lightning/targets.h"
#include "lightning/task.h"

#define MAX_PATHS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, 0, size);
	size_t tlen = nul ? (size_t)(nul - (const char *)data) : size;
	char err[512], *paths = NULL, *v[MAX_PATHS];
	size_t n = 0;
	ig_ltn_task t;
	ig_ltn_targets g;

	if (ig_ltn_task_parse("fuzz", (const char *)data, tlen, &t, err, sizeof(err)) < 0)
		return 0;
	if (nul && (paths = strndup(nul + 1, size - tlen - 1))) {
		for (char *save = NULL, *p = strtok_r(paths, "\n", &save); p && n < MAX_PATHS; p = strtok_r(NULL, "\n", &save))
			v[n++] = p;
	}
	if (ig_ltn_targets_find(&t, (const char *const *)v, n, &g, err, sizeof(err)) == 0)
		ig_ltn_targets_free(&g);
	free(paths);
	ig_ltn_task_free(&t);
	return 0;
}
