/*
 * sdnotify.c - systemd watchdog pings from the main loop (see sdnotify.h).
 */
#include "proxy/sdnotify.h"

#include <stdbool.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "proxy/log.h"

static uv_timer_t ping;
static bool running;

uint64_t ig_watchdog_interval_ms(uint64_t watchdog_usec)
{
	uint64_t ms = watchdog_usec / 2000;
	return ms ? ms : 1;
}

#ifdef HAVE_SYSTEMD
static void on_ping(uv_timer_t *t)
{
	(void)t;
	sd_notify(0, "WATCHDOG=1");
}

uint64_t ig_watchdog_start(uv_loop_t *loop)
{
	uint64_t usec = 0;
	if (running || sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	uint64_t ms = ig_watchdog_interval_ms(usec);
	uv_timer_init(loop, &ping);
	uv_timer_start(&ping, on_ping, 0, ms);
	/* Not a reason to keep the loop running by itself: shutdown stops it. */
	uv_unref((uv_handle_t *)&ping);
	running = true;
	LOG_INFO(0, "systemd watchdog: %llu ms, a ping every %llu ms", (unsigned long long)(usec / 1000),
	         (unsigned long long)ms);
	return ms;
}
#else
uint64_t ig_watchdog_start(uv_loop_t *loop)
{
	(void)loop;
	return 0;
}
#endif

void ig_watchdog_stop(void)
{
	if (!running)
		return;
	running = false;
	uv_timer_stop(&ping);
	uv_close((uv_handle_t *)&ping, NULL);
}
