/*
 * etcdjson.c - etcd v3 JSON gateway value encodings (see etcdjson.h).
 */
#include "policy/etcdjson.h"

#include <errno.h>
#include <stdlib.h>

int ig_etcd_json_i64(const json_t *v, int64_t *out)
{
	char *end;
	long long x;

	*out = 0;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v) || !*json_string_value(v))
		return -1;
	errno = 0;
	x = strtoll(json_string_value(v), &end, 10);
	if (*end || errno)
		return -1;
	*out = x;
	return 0;
}
