/*
 * oblpool.c - the obligations' executor threads (see oblpool.h): a queue of jobs under one
 * mutex, n threads taking them in order, each with libmariadb's per-thread state.
 */
#include "proxy/oblpool.h"

#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct ig_oblpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ig_obljob *head, *tail;
	bool stopping;
	unsigned n;
	pthread_t *threads;
	ig_oblexec_ctx ctx;
	ig_oblpool_done done;
};

void ig_obljob_free(ig_obljob *job)
{
	if (!job)
		return;
	ig_obl_record_free(&job->rec);
	ig_oblexec_jobs_free(&job->jobs);
	free(job);
}

/* The next job, or NULL when stopping. */
static ig_obljob *take(ig_oblpool *p)
{
	ig_obljob *j;

	pthread_mutex_lock(&p->mu);
	while (!p->head && !p->stopping)
		pthread_cond_wait(&p->cv, &p->mu);
	j = p->stopping ? NULL : p->head;
	if (j) {
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		j->next = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	return j;
}

static void *executor_main(void *arg)
{
	ig_oblpool *p = arg;
	ig_obljob *j;

	mysql_thread_init();
	while ((j = take(p))) {
		ig_oblexec_ctx c = p->ctx;
		c.epoch = j->epoch;
		ig_oblexec_run(&c, &j->rec, j->action, j->rerun, &j->out, &j->jobs);
		p->done(j);
	}
	mysql_thread_end();
	return NULL;
}

int ig_oblpool_start(ig_oblpool **out, unsigned n, const ig_oblexec_ctx *ctx, ig_oblpool_done done,
                     char *err, size_t errlen)
{
	ig_oblpool *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p || !(p->threads = calloc(n ? n : 1, sizeof(*p->threads)))) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->ctx = *ctx;
	p->done = done;
	for (p->n = 0; p->n < (n ? n : 1); p->n++) {
		if (pthread_create(&p->threads[p->n], NULL, executor_main, p) != 0) {
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
	job->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
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
		pthread_join(p->threads[i], NULL);
	for (ig_obljob *j = p->head, *next; j; j = next) {
		next = j->next;
		ig_obljob_free(j);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->threads);
	free(p);
}
