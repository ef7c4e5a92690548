/*
 * oblstore_int.h - inside the obligation store: the object every backend shares (its lock,
 * its counters, its lease epoch) and the operations each backend implements. Only
 * store/oblstore*.c include it.
 */
#ifndef IMPORTGATE_OBLSTORE_INT_H
#define IMPORTGATE_OBLSTORE_INT_H

#include <pthread.h>
#include <sys/types.h>

#include "store/oblstore.h"

/*
 * The store's interface: one table of operations per backend, so callers never ask which
 * one they have. Every write of a record is a compare-and-swap on its revision, fenced by
 * the writer's claim (see oblstore.h).
 */
typedef struct store_ops {
	const char *name;
	bool shared;                            /* several replicas (etcd) */
	void (*close)(ig_oblstore *st);         /* frees the backend's part (etcd: revokes the lease) */
	int (*create)(ig_oblstore *st, ig_obl_record *r, char *err, size_t errlen);
	int (*get)(ig_oblstore *st, const char *id, ig_obl_record *out, char *err, size_t errlen);
	int (*list)(ig_oblstore *st, ig_obl_record **recs, size_t *n, char *err, size_t errlen);
	int (*claim)(ig_oblstore *st, const char *id, int64_t rev, char *err, size_t errlen);
	int (*write)(ig_oblstore *st, ig_obl_record *r, bool release, char *err, size_t errlen);
	int (*release)(ig_oblstore *st, const char *id, char *err, size_t errlen);
	int (*remove)(ig_oblstore *st, const char *id, int64_t rev, char *err, size_t errlen);
	int (*keepalive)(ig_oblstore *st, char *err, size_t errlen);
	int64_t (*lease_left)(ig_oblstore *st); /* mu held */
	int (*run_put)(ig_oblstore *st, const char *id, const char *val, int64_t *rev, char *err, size_t errlen);
	int (*run_delete)(ig_oblstore *st, const char *id, char *err, size_t errlen);
	int (*run_bind)(ig_oblstore *st, const char *id, const char *val, const char *bind, bool take, char *err,
	                size_t errlen);
} store_ops;

struct ig_oblstore {
	const store_ops *ops;
	pthread_mutex_t mu;
	ig_oblstore_info info;
	/* file */
	char *path;
	int fd, lockfd;
	ig_obl_record *recs; /* latest version of each live record */
	size_t nrecs;
	char **claims;       /* in memory: one process */
	size_t nclaims;
	off_t size;
	int64_t revision;    /* file: the last revision given (a counter, like etcd's) */
	/* etcd */
	char **eps;
	size_t neps, cur;
	ig_tls_files tls;
	long timeout_ms;
	char *obl_prefix, *claim_prefix, *run_prefix, *bind_prefix, *replica;
	int ttl_s;
	int64_t lease;          /* 0 until granted (PD may be down at start) */
	int64_t lease_until;    /* CLOCK_MONOTONIC ms: the lease cannot have expired before this */
	unsigned lease_epoch;   /* +1 per grant: claims of an older lease are gone */
	pthread_mutex_t grant_mu; /* one grant at a time: a second lease would orphan claims */
	struct ig_pdhttp *idle[8]; /* HTTP clients between requests (mu): connections kept open */
	size_t nidle;
};

/* A store with these operations (NULL on OOM); the backend fills in its part. */
ig_oblstore *ig_oblstore_new(const store_ops *ops);
/* Formats err; returns -1. */
int ig_oblstore_perr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int64_t ig_oblstore_mono_ms(void);

#endif
