/*
 * oblstore.c - the obligation store's interface (oblstore.h): checks every id, then calls
 * the backend (oblstore_file.c, oblstore_etcd.c). The lease state every caller reads is here.
 */
#include "store/oblstore_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ig_oblstore_perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

#define perr ig_oblstore_perr

int64_t ig_oblstore_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ig_oblstore *ig_oblstore_new(const store_ops *ops)
{
	ig_oblstore *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->ops = ops;
	st->fd = st->lockfd = -1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_mutex_init(&st->grant_mu, NULL);
	st->info.shared = ops->shared;
	return st;
}

void ig_oblstore_info_get(ig_oblstore *st, ig_oblstore_info *info)
{
	pthread_mutex_lock(&st->mu);
	*info = st->info;
	info->live = st->nrecs;
	pthread_mutex_unlock(&st->mu);
}

/* ---- the interface ---- */

void ig_oblstore_close(ig_oblstore *st)
{
	if (!st)
		return;
	st->ops->close(st);
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->grant_mu);
	free(st);
}

const char *ig_oblstore_kind(const ig_oblstore *st)
{
	return st ? st->ops->name : "none";
}

int ig_oblstore_create(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen)
{
	if (!ig_obl_id_valid(r->id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->create(st, r, err, errlen);
}

int ig_oblstore_get(ig_oblstore *st, const char *id, ig_obl_record *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!ig_obl_id_valid(id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->get(st, id, out, err, errlen);
}

int ig_oblstore_list(ig_oblstore *st, ig_obl_record **recs, size_t *n, char *err, size_t errlen)
{
	*recs = NULL;
	*n = 0;
	return st->ops->list(st, recs, n, err, errlen);
}

int ig_oblstore_claim(ig_oblstore *st, const ig_obl_record *r, char *err, size_t errlen)
{
	if (!ig_obl_id_valid(r->id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->claim(st, r->id, r->rev, err, errlen);
}

int ig_oblstore_advance(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen)
{
	if (!ig_obl_id_valid(r->id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->write(st, r, false, err, errlen);
}

int ig_oblstore_finish(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen)
{
	if (!ig_obl_id_valid(r->id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->write(st, r, true, err, errlen);
}

int ig_oblstore_release(ig_oblstore *st, const char *id, char *err, size_t errlen)
{
	if (!ig_obl_id_valid(id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->release(st, id, err, errlen);
}

int ig_oblstore_delete(ig_oblstore *st, const ig_obl_record *r, char *err, size_t errlen)
{
	if (!ig_obl_id_valid(r->id))
		return perr(err, errlen, "invalid obligation id");
	return st->ops->remove(st, r->id, r->rev, err, errlen);
}

int ig_oblstore_keepalive(ig_oblstore *st, char *err, size_t errlen)
{
	return st->ops->keepalive(st, err, errlen);
}

int ig_oblstore_run_put(ig_oblstore *st, const char *id, const char *val, int64_t *rev, char *err, size_t errlen)
{
	if (!st->ops->run_put)
		return perr(err, errlen, "the %s store keeps no lightning-run records", st->ops->name);
	if (!ig_obl_id_valid(id))
		return perr(err, errlen, "invalid run id");
	return st->ops->run_put(st, id, val, rev, err, errlen);
}

int ig_oblstore_run_delete(ig_oblstore *st, const char *id, char *err, size_t errlen)
{
	if (!st->ops->run_delete)
		return perr(err, errlen, "the %s store keeps no lightning-run records", st->ops->name);
	if (!ig_obl_id_valid(id))
		return perr(err, errlen, "invalid run id");
	return st->ops->run_delete(st, id, err, errlen);
}

int ig_oblstore_run_bind(ig_oblstore *st, const char *id, const char *val, const char *bind, bool take, char *err,
                         size_t errlen)
{
	if (!st->ops->run_bind)
		return perr(err, errlen, "the %s store keeps no lightning-run records", st->ops->name);
	if (!ig_obl_id_valid(id) || !bind || !*bind || strchr(bind, '/'))
		return perr(err, errlen, "invalid run id or bind name");
	return st->ops->run_bind(st, id, val, bind, take, err, errlen);
}

void ig_oblstore_lease(ig_oblstore *st, int64_t *left_ms, unsigned *epoch)
{
	pthread_mutex_lock(&st->mu);
	*left_ms = st->ops->lease_left(st);
	*epoch = st->lease_epoch;
	pthread_mutex_unlock(&st->mu);
}
