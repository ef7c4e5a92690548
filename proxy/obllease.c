/*
 * obllease.c - this replica's lease (claims are bound to it, store/oblstore.h). A thread of
 * its own keeps it alive, whatever the executors are running (a BACKUP can take minutes).
 * Before each step, and again right before a statement that acts is sent, the lease must be
 * known alive for LEASE_GUARD_MS more; when it is not, every record is dropped from memory
 * (nothing written) until the lease is healthy again, so no step starts after the point
 * where another replica could claim.
 */
#include "proxy/obligations_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/audit.h"
#include "proxy/log.h"

/* Our lease may be gone: forget every record, write nothing. The claims are still ours if
 * the lease lives; the next scan claims them back (at their current revision). */
static void drop_all(ig_obligations *ob, const char *why)
{
	if (ob->nowned)
		LOG_WARN(0, "obligations: %s; stopping work on %zu record(s) until the lease is healthy", why,
		         ob->nowned);
	while (ob->nowned)
		obl_disown(ob, &ob->owned[0]);
}

/* The lease is known alive for LEASE_GUARD_MS more, under the epoch the record was
 * claimed in. What an executor asks right before a statement that acts; no side effects. */
bool obl_may_act(const ig_oblexec_ctx *c)
{
	const ig_obligations *ob = c->owner;
	int64_t left;
	unsigned epoch;

	ig_oblstore_lease(ob->st, &left, &epoch);
	return left > LEASE_GUARD_MS && (epoch == c->epoch || c->epoch == 0);
}

/* Before each step: when the lease is not fresh, every record is dropped. */
bool obl_lease_ok(ig_obligations *ob)
{
	int64_t left;
	unsigned epoch;

	ig_oblstore_lease(ob->st, &left, &epoch);
	if (epoch != ob->epoch) {
		if (ob->epoch != 0) /* a new lease: whatever was claimed under the old one is gone */
			drop_all(ob, "the lease was lost and granted again");
		ob->epoch = epoch;
	}
	if (left > LEASE_GUARD_MS)
		return true;
	drop_all(ob, "the lease is not known to be alive long enough (keepalive failing?)");
	return false;
}

/* Keeps the lease alive, on its own: the obligations thread may be in a BACKUP for minutes. */
static void *lease_main(void *arg)
{
	pthread_setname_np(pthread_self(), "ig-obl-lease"); /* its name in top -H, ps -L, perf */
	ig_obligations *ob = arg;
	char err[512];

	pthread_mutex_lock(&ob->mu);
	while (!ob->lease_stopping) {
		ig_oblstore *st = ob->st;
		int rc = 0;
		pthread_mutex_unlock(&ob->mu);
		if (st && (rc = ig_oblstore_keepalive(st, err, sizeof(err))) < 0)
			LOG_WARN(0, "obligations: lease keepalive failed: %s", err);
		if (rc == 1)
			LOG_WARN(0, "obligations: our lease had expired; a new one was granted (claims dropped)");
		int64_t wake = obl_now_ms() + (rc < 0 ? 1000 : KEEPALIVE_MS);
		struct timespec ts = {.tv_sec = (time_t)(wake / 1000), .tv_nsec = (long)(wake % 1000) * 1000000};
		pthread_mutex_lock(&ob->mu);
		if (!ob->lease_stopping)
			pthread_cond_timedwait(&ob->lease_cv, &ob->mu, &ts);
	}
	pthread_mutex_unlock(&ob->mu);
	return NULL;
}

int obl_lease_start(ig_obligations *ob)
{
	return pthread_create(&ob->lease_thread, NULL, lease_main, ob);
}

/* After the executors: a statement still running keeps the lease it was sent under. */
void obl_stop_lease_thread(ig_obligations *ob)
{
	pthread_mutex_lock(&ob->mu);
	ob->lease_stopping = true;
	pthread_cond_signal(&ob->lease_cv);
	pthread_mutex_unlock(&ob->mu);
	pthread_join(ob->lease_thread, NULL);
}
