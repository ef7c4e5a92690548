/*
 * oblpool.c - the obligations' executor threads (see oblpool.h): two queues (statements that
 * act, reads) under one mutex, each with its own threads taking jobs in order, each thread
 * with libmariadb's per-thread state.
 */
#include "proxy/oblpool.h"

#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct lane {
	ig_obljob *head, *tail;
} lane;

typedef struct worker {
	struct ig_oblpool *pool;
	lane *lane;
	pthread_t thread;
} worker;

struct ig_oblpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	lane act, read;
	bool stopping;
	unsigned n;
	worker *workers;
	ig_oblexec_ctx ctx;
	ig_oblpool_done done;
	void *done_arg;
};

void ig_obljob_free(ig_obljob *job)
{
	if (!job)
		return;
	ig_obl_record_free(&job->rec);
	ig_oblexec_jobs_free(&job->jobs);
	free(job);
}

bool ig_oblpool_acts(ig_obl_action action)
{
	return action == IG_OACT_BACKUP || action == IG_OACT_REIMPORT_SEND;
}

bool ig_obljob_withdraw(ig_obljob *job)
{
	int queued = IG_OBLJOB_QUEUED;

	return atomic_compare_exchange_strong(&job->state, &queued, IG_OBLJOB_WITHDRAWN) ||
	       queued == IG_OBLJOB_WITHDRAWN;
}

/* The next job of l, or NULL when stopping. */
static ig_obljob *take(ig_oblpool *p, lane *l)
{
	ig_obljob *j;

	pthread_mutex_lock(&p->mu);
	while (!l->head && !p->stopping)
		pthread_cond_wait(&p->cv, &p->mu);
	j = p->stopping ? NULL : l->head;
	if (j) {
		l->head = j->next;
		if (!l->head)
			l->tail = NULL;
		j->next = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	return j;
}

static void *executor_main(void *arg)
{
	pthread_setname_np(pthread_self(), "ig-obl-exec"); /* its name in top -H, ps -L, perf */
	worker *w = arg;
	ig_oblpool *p = w->pool;
	ig_obljob *j;

	mysql_thread_init();
	while ((j = take(p, w->lane))) {
		int queued = IG_OBLJOB_QUEUED;
		if (atomic_compare_exchange_strong(&j->state, &queued, IG_OBLJOB_RUNNING)) {
			ig_oblexec_ctx c = p->ctx;
			c.epoch = j->epoch;
			ig_oblexec_run(&c, &j->rec, j->action, j->rerun, &j->out, &j->jobs);
		} /* else withdrawn: nothing runs, out stays acted = false */
		p->done(p->done_arg, j);
	}
	mysql_thread_end();
	return NULL;
}

int ig_oblpool_start(ig_oblpool **out, unsigned actors, const ig_oblexec_ctx *ctx, ig_oblpool_done done,
                     void *done_arg, char *err, size_t errlen)
{
	ig_oblpool *p = calloc(1, sizeof(*p));
	unsigned total = (actors ? actors : 1) + IG_OBLPOOL_READERS;

	*out = NULL;
	if (!p || !(p->workers = calloc(total, sizeof(*p->workers)))) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->ctx = *ctx;
	p->done = done;
	p->done_arg = done_arg;
	for (p->n = 0; p->n < total; p->n++) {
		worker *w = &p->workers[p->n];
		w->pool = p;
		w->lane = p->n < IG_OBLPOOL_READERS ? &p->read : &p->act;
		if (pthread_create(&w->thread, NULL, executor_main, w) != 0) {
			snprintf(err, errlen, "cannot start executor thread %u", p->n + 1);
			ig_oblpool_stop(p);
			return -1;
		}
	}
	*out = p;
	return 0;
}

void ig_oblpool_submit(ig_oblpool *p, ig_obljob *job)
{
	lane *l = ig_oblpool_acts(job->action) ? &p->act : &p->read;

	job->next = NULL;
	atomic_store(&job->state, IG_OBLJOB_QUEUED);
	pthread_mutex_lock(&p->mu);
	if (l->tail)
		l->tail->next = job;
	else
		l->head = job;
	l->tail = job;
	pthread_cond_broadcast(&p->cv); /* the waiters of both lanes share the condition */
	pthread_mutex_unlock(&p->mu);
}

static void free_lane(lane *l)
{
	for (ig_obljob *j = l->head, *next; j; j = next) {
		next = j->next;
		ig_obljob_free(j);
	}
	l->head = l->tail = NULL;
}

void ig_oblpool_stop(ig_oblpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->workers[i].thread, NULL);
	free_lane(&p->act);
	free_lane(&p->read);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->workers);
	free(p);
}
