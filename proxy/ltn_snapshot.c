/*
 * ltn_snapshot.c - the private directory of hard links a guarded Lightning run imports from
 * (ltn_snapshot.h). Hard links, not copies: as cheap as a directory listing whatever the
 * export's size, and a link is the file that was checked (its inode), never a name that can
 * be pointed elsewhere. A checked file written to in place still belongs to the table it was
 * checked for (Lightning routes by file name), so the per-table decision holds for it.
 */
#include "proxy/ltn_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Everything under dir and dir itself (links only: nothing is followed, nothing crosses a mount). */
static void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The snapshot's path and its lock file's, from the data directory's real path. */
static int names(const char *real_src, const char *base, char *dir, char *lock, char *err, size_t errlen)
{
	char tmp[PATH_MAX], rbase[PATH_MAX];
	const char *name;

	snprintf(tmp, sizeof(tmp), "%s", real_src);
	name = basename(tmp);
	if (!base) {
		char up[PATH_MAX];
		snprintf(up, sizeof(up), "%s", real_src);
		base = dirname(up);
		snprintf(rbase, sizeof(rbase), "%s", base);
	} else if (!realpath(base, rbase)) {
		snprintf(err, errlen, "--snapshot-dir %s: %s", base, strerror(errno));
		return -1;
	}
	if (snprintf(dir, PATH_MAX, "%s/.importgate-ltn-%.60s-%016llx", strcmp(rbase, "/") ? rbase : "", name,
	             (unsigned long long)fnv1a(real_src)) >= PATH_MAX - 16) {
		snprintf(err, errlen, "the snapshot directory's path is too long");
		return -1;
	}
	if (snprintf(lock, PATH_MAX, "%s.lock", dir) >= PATH_MAX) { /* kept below by the check above */
		snprintf(err, errlen, "the snapshot directory's path is too long");
		return -1;
	}
	if (strpbrk(dir, "?#%")) { /* Lightning parses -d as a storage URL: keep it a plain path */
		snprintf(err, errlen, "the snapshot directory %s has '?', '#' or '%%' in its path: give --snapshot-dir", dir);
		return -1;
	}
	return 0;
}

static int lock_it(const char *lock, int *fd, char *err, size_t errlen)
{
	*fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0) {
		snprintf(err, errlen, "%s: %s (the snapshot is made next to the data directory, or in --snapshot-dir)",
		         lock, strerror(errno));
		return -1;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "%s: %s", lock, errno == EWOULDBLOCK
		         ? "another guarded run of this data directory is running" : strerror(errno));
		close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

/* The directories of rel under dir (0700). */
static int mkparents(const char *dir, const char *rel, char *err, size_t errlen)
{
	char p[PATH_MAX];
	size_t dl = strlen(dir);

	if (snprintf(p, sizeof(p), "%s/%s", dir, rel) >= (int)sizeof(p)) {
		snprintf(err, errlen, "%s/%s: path too long", dir, rel);
		return -1;
	}
	for (char *s = p + dl + 1; (s = strchr(s, '/')); s++) {
		*s = 0;
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", p, strerror(errno));
			return -1;
		}
		*s = '/';
	}
	return 0;
}

/* One link: the file the listing named, still the same file. */
static int link_one(const char *src_root, const char *dir, const ig_ltn_file *f, char *err, size_t errlen)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct stat st;

	if (!f->opened) {
		snprintf(err, errlen, "%s/%s could not be opened when it was checked (a dangling symlink?)", src_root, f->rel);
		return -1;
	}
	if (snprintf(from, sizeof(from), "%s/%s", src_root, f->rel) >= (int)sizeof(from) ||
	    snprintf(to, sizeof(to), "%s/%s", dir, f->rel) >= (int)sizeof(to)) {
		snprintf(err, errlen, "%s/%s: the path in the snapshot would be too long", src_root, f->rel);
		return -1;
	}
	if (mkparents(dir, f->rel, err, errlen) < 0)
		return -1;
	if (linkat(AT_FDCWD, from, AT_FDCWD, to, AT_SYMLINK_FOLLOW) != 0) {
		snprintf(err, errlen, "%s: cannot be linked into the snapshot %s: %s%s", from, dir, strerror(errno),
		         errno == EXDEV ? " (give --snapshot-dir on the data's filesystem)"
		         : errno == EPERM ? " (a hard link needs the file to be yours or readable and writable by you, "
		                            "fs.protected_hardlinks)" : "");
		return -1;
	}
	if (stat(to, &st) != 0 || st.st_dev != f->dev || st.st_ino != f->ino || st.st_size != f->size) {
		snprintf(err, errlen, "%s changed between the check and the run (it is another file now, or its size "
		         "changed): run the guarded run again on data nobody writes to", from);
		return -1;
	}
	return 0;
}

int ig_ltn_snapshot_make(const char *src_root, const ig_ltn_file *files, size_t n, const char *base,
                         ig_ltn_snapshot *out, char *err, size_t errlen)
{
	char real_src[PATH_MAX], lock[PATH_MAX];

	out->dir[0] = 0;
	out->lock_fd = -1;
	if (!realpath(src_root, real_src)) {
		snprintf(err, errlen, "%s: %s", src_root, strerror(errno));
		return -1;
	}
	if (names(real_src, base, out->dir, lock, err, errlen) < 0 || lock_it(lock, &out->lock_fd, err, errlen) < 0) {
		out->dir[0] = 0;
		return -1;
	}
	rm_tree(out->dir); /* a crashed run's: the lock is ours */
	if (mkdir(out->dir, 0700) != 0) {
		snprintf(err, errlen, "%s: %s", out->dir, strerror(errno));
		close(out->lock_fd);
		out->lock_fd = -1;
		out->dir[0] = 0;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (link_one(src_root, out->dir, &files[i], err, errlen) < 0) {
			ig_ltn_snapshot_remove(out);
			return -1;
		}
	return 0;
}

void ig_ltn_snapshot_remove(ig_ltn_snapshot *s)
{
	if (s->dir[0])
		rm_tree(s->dir);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->dir[0] = 0;
	s->lock_fd = -1;
}
