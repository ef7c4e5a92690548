/*
 * brieimport.h - running physical imports registered in PD's etcd: BR restore, TiDB
 * Lightning and IMPORT INTO put a leased key /tidb/brie/import/<kind>/<task> while they run
 * (pingcap/tidb br/pkg/utils/register.go; `br log start` and TiCDC refuse while one exists).
 * PURE: decodes one key/value into what is known of the import. The value is empty in every
 * stored version, so a registration never names its tables.
 */
#ifndef IMPORTGATE_BRIEIMPORT_H
#define IMPORTGATE_BRIEIMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IG_KEY_BRIE_IMPORT "/tidb/brie/import/" /* RegisterImportTaskPrefix + "/" */

typedef enum {
	IG_BRIE_RESTORE,     /* "restore": br restore (task name restore-...) */
	IG_BRIE_LIGHTNING,   /* "lightning": TiDB Lightning, physical mode */
	IG_BRIE_IMPORT_INTO, /* "import-into": IMPORT INTO (task name = dist-task id) */
	IG_BRIE_OTHER,       /* a kind this gateway does not know (RegisterTaskType "default", newer) */
} ig_brie_kind;

typedef struct ig_brie_import {
	ig_brie_kind kind;
	char *kind_text;  /* the key's kind segment as stored */
	char *task;       /* the rest of the key after the kind ("" when absent) */
	bool has_value;   /* a non-empty value: not what the stored versions write (reported) */
} ig_brie_import;

/* Returns 1 and fills out (strings malloc'ed) for a key under IG_KEY_BRIE_IMPORT, 0 for any
 * other key (out untouched), -1 when out of memory (err set). */
int ig_brie_import_decode(const char *key, size_t klen, const unsigned char *val, size_t vlen,
                          ig_brie_import *out, char *err, size_t errlen);
void ig_brie_import_clear(ig_brie_import *b);
const char *ig_brie_kind_name(ig_brie_kind k);

#endif
