/*
 * brieimport.c - decodes /tidb/brie/import/<kind>/<task> registrations (pingcap/tidb
 * br/pkg/utils/register.go: the key is path.Join(prefix, kind, task), the value "", the
 * lease keeps it alive; kinds "restore", "lightning", and "import-into" in newer releases).
 */
#include "policy/brieimport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	ig_brie_kind kind;
} kinds[] = {
	{"restore", IG_BRIE_RESTORE},
	{"lightning", IG_BRIE_LIGHTNING},
	{"import-into", IG_BRIE_IMPORT_INTO},
};

const char *ig_brie_kind_name(ig_brie_kind k)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].kind == k)
			return kinds[i].name;
	return "other";
}

void ig_brie_import_clear(ig_brie_import *b)
{
	if (!b)
		return;
	free(b->kind_text);
	free(b->task);
	memset(b, 0, sizeof(*b));
}

static ig_brie_kind kind_of(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].name) == n && memcmp(kinds[i].name, s, n) == 0)
			return kinds[i].kind;
	return IG_BRIE_OTHER;
}

int ig_brie_import_decode(const char *key, size_t klen, const unsigned char *val, size_t vlen,
                          ig_brie_import *out, char *err, size_t errlen)
{
	const size_t plen = strlen(IG_KEY_BRIE_IMPORT);
	const char *rest, *slash;
	size_t rlen, kl;
	ig_brie_import b = {0};

	(void)val;
	if (!key || klen < plen || memcmp(key, IG_KEY_BRIE_IMPORT, plen) != 0)
		return 0;
	rest = key + plen;
	rlen = klen - plen;
	slash = memchr(rest, '/', rlen);
	kl = slash ? (size_t)(slash - rest) : rlen;
	b.kind = kind_of(rest, kl);
	b.kind_text = strndup(rest, kl);
	b.task = slash ? strndup(slash + 1, rlen - kl - 1) : strdup("");
	b.has_value = vlen > 0;
	if (!b.kind_text || !b.task) {
		ig_brie_import_clear(&b);
		if (errlen)
			snprintf(err, errlen, "out of memory decoding a /tidb/brie/import/ key");
		return -1;
	}
	*out = b;
	return 1;
}
