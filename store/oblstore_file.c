/*
 * oblstore_file.c - the obligation store in a local append-only file (no PD): one CRC-framed
 * line per transition, fsync per write (and of the directory when the file is created or
 * replaced), replay keeping the last good line per id, compaction when mostly dead lines.
 * One process (flock); claims are in memory; revisions are a counter checked under the lock.
 */
#include "store/oblstore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/grow.h"

#define perr ig_oblstore_perr
#define mono_ms ig_oblstore_mono_ms

/* ---- file backend ---- */

static ig_obl_record *file_find(ig_oblstore *st, const char *id)
{
	for (size_t i = 0; i < st->nrecs; i++)
		if (strcmp(st->recs[i].id, id) == 0)
			return &st->recs[i];
	return NULL;
}

/* Replaces (or adds) the in-memory version; takes ownership of *r. */
static int file_remember(ig_oblstore *st, ig_obl_record *r)
{
	ig_obl_record *old = file_find(st, r->id);

	if (old) {
		ig_obl_record_free(old);
		*old = *r;
		return 0;
	}
	if (ig_grow(&st->recs, st->nrecs, sizeof(*st->recs)) < 0)
		return -1;
	st->recs[st->nrecs++] = *r;
	return 0;
}

static void file_forget(ig_oblstore *st, const char *id)
{
	ig_obl_record *r = file_find(st, id);

	if (!r)
		return;
	ig_obl_record_free(r);
	*r = st->recs[--st->nrecs];
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fsync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (!copy)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

/* Appends one framed line and syncs it. A failed write is cut off: no torn line stays. */
static int file_append(ig_oblstore *st, const char *json, char *err, size_t errlen)
{
	size_t n;
	char *line = ig_obl_frame(json, strlen(json), &n);
	int rc = 0;

	if (!line)
		return perr(err, errlen, "out of memory");
	if (write_all(st->fd, line, n) < 0) {
		rc = perr(err, errlen, "%s: write: %s", st->path, strerror(errno));
		if (ftruncate(st->fd, st->size) < 0) { /* the torn line goes; replay would cut it too */
		}
	} else if (fdatasync(st->fd) < 0) {
		rc = perr(err, errlen, "%s: fdatasync: %s", st->path, strerror(errno));
	} else {
		st->size += (off_t)n;
		st->info.lines++;
	}
	free(line);
	return rc;
}

/* Rewrites the file with one line per live record (tmp file, fsync, rename, fsync dir). */
static int file_compact(ig_oblstore *st, char *err, size_t errlen)
{
	size_t plen = strlen(st->path) + 10;
	char *tmp = malloc(plen);
	int fd;
	off_t size = 0;

	if (!tmp)
		return perr(err, errlen, "out of memory");
	snprintf(tmp, plen, "%s.compact", st->path);
	/* A new file, never one found there: a leftover (a crash mid-compaction) is removed, and
	 * whatever appears in its place meanwhile, a symlink planted by whoever can write the
	 * directory included, makes this compaction fail rather than be followed (the records
	 * would go into its target and the log would become the link: attack22). */
	if (unlink(tmp) < 0 && errno != ENOENT) {
		perr(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0 && fchmod(fd, 0600) < 0) { /* 0600 whatever the umask allowed */
		int e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	if (fd < 0) {
		perr(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	for (size_t i = 0; i < st->nrecs; i++) {
		char *json = ig_obl_record_encode(&st->recs[i]), *line = NULL;
		size_t n = 0;
		if (json)
			line = ig_obl_frame(json, strlen(json), &n);
		free(json);
		if (!line || write_all(fd, line, n) < 0) {
			free(line);
			goto fail;
		}
		free(line);
		size += (off_t)n;
	}
	/* Appends go on through this descriptor, the file renamed into place, never through a
	 * reopen by name: whoever can write the directory could put a symlink at the path
	 * between the rename and an open, and the records would follow it (attack22's class). */
	if (fsync(fd) < 0 || fcntl(fd, F_SETFL, O_APPEND) < 0 || rename(tmp, st->path) < 0)
		goto fail;
	fsync_dir(st->path);
	close(st->fd);
	st->fd = fd;
	free(tmp);
	st->size = size;
	st->info.lines = st->nrecs;
	st->info.compactions++;
	return 0;
fail:
	perr(err, errlen, "compaction of %s failed: %s", st->path, strerror(errno));
	close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

/* Mostly dead: several lines per live record. Compaction failure is not fatal. */
static void file_maybe_compact(ig_oblstore *st)
{
	char e[256];

	if (st->info.lines >= 64 && st->info.lines > 4 * st->nrecs)
		file_compact(st, e, sizeof(e));
}

static int replay_line(ig_oblstore *st, const char *json, size_t jlen)
{
	ig_obl_record r;
	json_t *o = json_loadb(json, jlen, 0, NULL);
	const char *id = json_string_value(json_object_get(o, "id"));

	if (o && json_is_true(json_object_get(o, "deleted")) && ig_obl_id_valid(id)) {
		file_forget(st, id);
		json_decref(o);
		return 0;
	}
	json_decref(o);
	if (ig_obl_record_decode(json, jlen, &r, NULL, 0) < 0)
		return 1; /* framed correctly but not a record: skipped */
	r.rev = ++st->revision;
	if (file_remember(st, &r) < 0) {
		ig_obl_record_free(&r);
		return -1;
	}
	return 0;
}

static int read_file(int fd, char **buf, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *b = malloc(cap);

	if (!b)
		return -1;
	for (;;) {
		ssize_t r;
		if (n == cap) {
			char *g = realloc(b, cap *= 2);
			if (!g) {
				free(b);
				return -1;
			}
			b = g;
		}
		r = pread(fd, b + n, cap - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(b);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*buf = b;
	*len = n;
	return 0;
}

static int file_replay(ig_oblstore *st, char *warn, size_t warnlen, char *err, size_t errlen)
{
	char *buf;
	size_t len, at = 0;

	if (read_file(st->fd, &buf, &len) < 0)
		return perr(err, errlen, "%s: read: %s", st->path, strerror(errno));
	while (at < len) {
		const char *json;
		size_t jlen;
		long n = ig_obl_unframe(buf + at, len - at, &json, &jlen);
		if (n == 0)
			break; /* torn last write */
		if (n < 0) {
			const char *nl = memchr(buf + at, '\n', len - at);
			st->info.skipped++;
			at = (size_t)(nl - buf) + 1;
			continue;
		}
		int rc = replay_line(st, json, jlen);
		if (rc < 0) {
			free(buf);
			return perr(err, errlen, "out of memory replaying %s", st->path);
		}
		st->info.skipped += (size_t)rc;
		st->info.replayed++;
		at += (size_t)n;
	}
	free(buf);
	st->info.lines = st->info.replayed;
	if (at < len) {
		st->info.torn_tail = true;
		if (ftruncate(st->fd, (off_t)at) < 0 || fsync(st->fd) < 0)
			return perr(err, errlen, "%s: cannot cut off the torn last record: %s", st->path, strerror(errno));
	}
	st->size = (off_t)at;
	if (warn && warnlen) {
		warn[0] = '\0';
		if (st->info.torn_tail || st->info.skipped)
			snprintf(warn, warnlen, "%s: %zu bytes of a torn last record ignored, %zu corrupt records skipped",
			         st->path, len - at, st->info.skipped);
	}
	return 0;
}

static const store_ops file_ops;

int ig_oblstore_open_file(const char *path, ig_oblstore **out, char *warn, size_t warnlen, char *err,
                          size_t errlen)
{
	ig_oblstore *st;
	size_t plen;
	char *lock;

	*out = NULL;
	if (warn && warnlen)
		warn[0] = '\0';
	if (!path || !*path)
		return perr(err, errlen, "obligations.file is not set (and cluster.pd is empty)");
	if (!(st = ig_oblstore_new(&file_ops)) || !(st->path = strdup(path))) {
		ig_oblstore_close(st);
		return perr(err, errlen, "out of memory");
	}
	plen = strlen(path) + 6;
	lock = malloc(plen);
	if (!lock) {
		ig_oblstore_close(st);
		return perr(err, errlen, "out of memory");
	}
	snprintf(lock, plen, "%s.lock", path);
	/* A separate lock file: compaction replaces the log's inode, the lock's stays. */
	st->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lockfd < 0 || flock(st->lockfd, LOCK_EX | LOCK_NB) < 0) {
		perr(err, errlen, st->lockfd < 0 ? "%s: %s" : "%s is held by another importgate process (%s); "
		     "the file store serves one process only",
		     lock, strerror(errno));
		free(lock);
		ig_oblstore_close(st);
		return -1;
	}
	free(lock);
	st->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	/* The records hold the imports' statements, credentials and all: a file that exists
	 * already (made by hand, restored from a backup) is made private like a new one. */
	if (st->fd < 0 || fchmod(st->fd, 0600) < 0) {
		perr(err, errlen, "%s: %s", path, strerror(errno));
		ig_oblstore_close(st);
		return -1;
	}
	fsync_dir(path);
	if (file_replay(st, warn, warnlen, err, errlen) < 0) {
		ig_oblstore_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

/* Appends r as the next version (revision st->revision + 1) and remembers it. mu held. */
static int file_put(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen)
{
	ig_obl_record copy;
	char *json;
	int rc;

	if (!(json = ig_obl_record_encode(r)) || ig_obl_record_copy(&copy, r) < 0) {
		free(json);
		return perr(err, errlen, "out of memory");
	}
	rc = file_append(st, json, err, errlen);
	free(json);
	if (rc == 0) {
		copy.rev = ++st->revision;
		if (file_remember(st, &copy) == 0) {
			r->rev = st->revision;
			file_maybe_compact(st);
			return 0;
		}
	}
	ig_obl_record_free(&copy);
	return rc < 0 ? -1 : perr(err, errlen, "out of memory");
}

static bool file_claimed(ig_oblstore *st, const char *id, size_t *at)
{
	for (size_t i = 0; i < st->nclaims; i++) {
		if (strcmp(st->claims[i], id) == 0) {
			if (at)
				*at = i;
			return true;
		}
	}
	return false;
}

static int file_add_claim(ig_oblstore *st, const char *id, char *err, size_t errlen)
{
	if (file_claimed(st, id, NULL))
		return 0;
	if (ig_grow(&st->claims, st->nclaims, sizeof(*st->claims)) < 0 || !(st->claims[st->nclaims] = strdup(id)))
		return perr(err, errlen, "out of memory");
	st->nclaims++;
	return 0;
}

static void file_drop_claim(ig_oblstore *st, const char *id)
{
	size_t at;

	if (file_claimed(st, id, &at)) {
		free(st->claims[at]);
		st->claims[at] = st->claims[--st->nclaims];
	}
}

/* The compare of every write: the stored version is still rev. mu held. */
static bool file_at(ig_oblstore *st, const char *id, int64_t rev)
{
	const ig_obl_record *cur = file_find(st, id);

	return cur && cur->rev == rev;
}

static int file_create(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	if (file_find(st, r->id))
		rc = perr(err, errlen, "obligation %s exists already", r->id);
	else if ((rc = file_add_claim(st, r->id, err, errlen)) == 0 && (rc = file_put(st, r, err, errlen)) < 0)
		file_drop_claim(st, r->id);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int file_get(ig_oblstore *st, const char *id, ig_obl_record *out, char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	const ig_obl_record *r = file_find(st, id);
	if (r)
		rc = ig_obl_record_copy(out, r) < 0 ? perr(err, errlen, "out of memory") : 1;
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int file_list(ig_oblstore *st, ig_obl_record **recs, size_t *n, char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	ig_obl_record *out = calloc(st->nrecs ? st->nrecs : 1, sizeof(*out));
	for (size_t i = 0; out && i < st->nrecs; i++) {
		if (ig_obl_record_copy(&out[i], &st->recs[i]) < 0) {
			for (size_t j = 0; j < i; j++)
				ig_obl_record_free(&out[j]);
			free(out);
			out = NULL;
		} else {
			out[i].held = file_claimed(st, out[i].id, NULL) ? IG_OBL_HELD_US : IG_OBL_HELD_NONE;
		}
	}
	if (out) {
		*recs = out;
		*n = st->nrecs;
	} else {
		rc = perr(err, errlen, "out of memory");
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* One process: a claim is ours or absent. It needs the record still at rev. */
static int file_claim(ig_oblstore *st, const char *id, int64_t rev, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = file_at(st, id, rev) ? file_add_claim(st, id, err, errlen) : 1;
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int file_write(ig_oblstore *st, ig_obl_record *r, bool release, char *err, size_t errlen)
{
	int rc = 1;

	pthread_mutex_lock(&st->mu);
	if (file_at(st, r->id, r->rev) && file_claimed(st, r->id, NULL)) {
		rc = file_put(st, r, err, errlen);
		if (rc == 0 && release)
			file_drop_claim(st, r->id);
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int file_release(ig_oblstore *st, const char *id, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	pthread_mutex_lock(&st->mu);
	file_drop_claim(st, id);
	pthread_mutex_unlock(&st->mu);
	return 0;
}

static int file_remove(ig_oblstore *st, const char *id, int64_t rev, char *err, size_t errlen)
{
	char json[96];
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	if (!file_find(st, id)) {
		rc = 0;
	} else if (!file_at(st, id, rev)) {
		rc = 1;
	} else {
		snprintf(json, sizeof(json), "{\"id\":\"%s\",\"deleted\":true}", id);
		rc = file_append(st, json, err, errlen);
		if (rc == 0) {
			st->revision++;
			file_forget(st, id);
			file_drop_claim(st, id);
			file_maybe_compact(st);
		}
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int file_keepalive(ig_oblstore *st, char *err, size_t errlen)
{
	(void)st;
	(void)err;
	(void)errlen;
	return 0;
}

/* One process: its claims cannot be taken by anyone. */
static int64_t file_lease_left(ig_oblstore *st)
{
	(void)st;
	return INT64_MAX;
}

static void file_close(ig_oblstore *st)
{
	for (size_t i = 0; i < st->nrecs; i++)
		ig_obl_record_free(&st->recs[i]);
	free(st->recs);
	for (size_t i = 0; i < st->nclaims; i++)
		free(st->claims[i]);
	free(st->claims);
	if (st->fd >= 0)
		close(st->fd);
	if (st->lockfd >= 0)
		close(st->lockfd); /* drops the flock */
	free(st->path);
}

static const store_ops file_ops = {
	.name = "file", .shared = false, .close = file_close, .create = file_create, .get = file_get, .list = file_list, .claim = file_claim,
	.write = file_write, .release = file_release, .remove = file_remove, .keepalive = file_keepalive,
	.lease_left = file_lease_left,
};
