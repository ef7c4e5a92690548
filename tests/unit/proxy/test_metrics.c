/*
 * test_metrics.c - the metrics registry's cells (proxy/metrics.c): counters are sharded per
 * thread, so a counter's value and its rendered line are the sum of every thread's additions;
 * gauges keep one cell that is set as well as moved.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/metrics.h"

#define THREADS 24 /* more than the registry's shards: some threads share one */
#define ADDS 20000

static void *adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < ADDS; i++) {
		ig_metric_add(IG_M_BYTES_CLIENT_TO_BACKEND, 3);
		ig_metric_inc(IG_M_STATEMENTS_QUICK);
	}
	return NULL;
}

static void counters_sum_every_thread(void **state)
{
	(void)state;
	pthread_t t[THREADS];
	int64_t bytes0 = ig_metric_value(IG_M_BYTES_CLIENT_TO_BACKEND);
	int64_t quick0 = ig_metric_value(IG_M_STATEMENTS_QUICK);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, adder, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	ig_metric_add(IG_M_BYTES_CLIENT_TO_BACKEND, 5); /* and this thread's own shard */
	assert_int_equal(ig_metric_value(IG_M_BYTES_CLIENT_TO_BACKEND) - bytes0, (int64_t)THREADS * ADDS * 3 + 5);
	assert_int_equal(ig_metric_value(IG_M_STATEMENTS_QUICK) - quick0, (int64_t)THREADS * ADDS);

	char *text = ig_metrics_render();
	assert_non_null(text);
	char want[96];
	snprintf(want, sizeof(want), "importgate_statements_total{class=\"quick\"} %lld\n",
	         (long long)ig_metric_value(IG_M_STATEMENTS_QUICK));
	assert_non_null(strstr(text, want));
	free(text);
}

static void gauges_are_set_and_moved(void **state)
{
	(void)state;
	ig_metric_gauge_set(IG_M_CONNECTIONS_ACTIVE, 10);
	ig_metric_gauge_add(IG_M_CONNECTIONS_ACTIVE, -3);
	ig_metric_add(IG_M_CONNECTIONS_ACTIVE, 2);
	assert_int_equal(ig_metric_value(IG_M_CONNECTIONS_ACTIVE), 9);
	ig_metric_gauge_set(IG_M_CONNECTIONS_ACTIVE, 1);
	assert_int_equal(ig_metric_value(IG_M_CONNECTIONS_ACTIVE), 1);
	char *text = ig_metrics_render();
	assert_non_null(text);
	assert_non_null(strstr(text, "importgate_connections_active 1\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counters_sum_every_thread),
		cmocka_unit_test(gauges_are_set_and_moved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
