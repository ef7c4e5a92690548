/*
 * fuzz_common.h - shared main() for the sqlparse fuzz targets when built without
 * libFuzzer (IG_LIBFUZZER undefined): runs LLVMFuzzerTestOneInput on each file named on
 * the command line, so crashes found by the fuzzer can be replayed as regressions.
 */
#ifndef IG_FUZZ_SQLPARSE_COMMON_H
#define IG_FUZZ_SQLPARSE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message: a property the target checks did not hold. */
#define FUZZ_CHECK(cond)                                                                   \
	do {                                                                                   \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
			abort();                                                                       \
		}                                                                                  \
	} while (0)

#ifndef IG_LIBFUZZER
int main(int argc, char **argv)
{
	int i;
	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		long n;
		uint8_t *buf;
		if (!f) {
			perror(argv[i]);
			return 1;
		}
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		fseek(f, 0, SEEK_SET);
		buf = malloc(n > 0 ? (size_t)n : 1);
		if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
			fprintf(stderr, "%s: read failed\n", argv[i]);
			return 1;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, (size_t)n);
		free(buf);
	}
	printf("%d input(s) ok\n", argc - 1);
	return 0;
}
#endif

#endif
