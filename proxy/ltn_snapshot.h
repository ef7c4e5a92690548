/*
 * ltn_snapshot.h - the data a guarded Lightning run imports is the data that was checked:
 * a private directory of hard links to exactly the files the preflight listed, each one the
 * same file (device, inode, size) as when it was listed, handed to Lightning with `-d` (which
 * overrides [mydumper] data-source-dir: pingcap/tidb pkg/lightning/config/global.go
 * LoadGlobalConfig sets Mydumper.SourceDir from -d, config.go LoadFromGlobal copies it over
 * the task file's). A file added to the data directory after the check, or a name pointed at
 * another file, is not in it. docs/LIGHTNING.md "The data Lightning reads".
 */
#ifndef IMPORTGATE_LTN_SNAPSHOT_H
#define IMPORTGATE_LTN_SNAPSHOT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* One file of the export as the preflight listed it. */
typedef struct ig_ltn_file {
	char *rel;        /* its path under data-source-dir */
	bool opened;      /* it could be stat'ed through any symlink (what Lightning opens) */
	dev_t dev;
	ino_t ino;
	off_t size;
} ig_ltn_file;

typedef struct ig_ltn_snapshot {
	char dir[PATH_MAX];  /* what Lightning is given (-d), "" when none */
	int lock_fd;         /* held while the snapshot is in use (-1 none) */
} ig_ltn_snapshot;

/* Makes the snapshot of files (listed under src_root) in base (NULL: the directory that holds
 * src_root; it must be on the data's filesystem), as base/.importgate-ltn-<name>-<hash>: the
 * same path for the same data directory, so a Lightning run resumed from its checkpoint sees
 * the data-source-dir it recorded. A lock file next to it keeps two guarded runs of one data
 * directory apart; a snapshot left by a crashed run is removed first. 0, or -1 + err (nothing
 * left behind but the lock file). */
int ig_ltn_snapshot_make(const char *src_root, const ig_ltn_file *files, size_t n, const char *base,
                         ig_ltn_snapshot *out, char *err, size_t errlen);
/* Removes the snapshot's links and directories (the data's files are untouched) and lets the
 * lock go. */
void ig_ltn_snapshot_remove(ig_ltn_snapshot *s);

#endif
