/*
 * tcpopts.c - socket options for both legs of a session. Keepalive probes notice a peer
 * that vanished from the network while the session is idle (a client host powered off
 * leaves no FIN; without probes its backend session would stay open for ever).
 * TCP_USER_TIMEOUT ends a connection whose sent data stays unacknowledged that long, instead
 * of the kernel's ~15 minutes of retransmissions; the session then fails with an error.
 */
#include "proxy/tcpopts.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static int set_int(int fd, int level, int name, int value, const char *what, char *err, size_t errlen)
{
	if (setsockopt(fd, level, name, &value, sizeof(value)) == 0)
		return 0;
	snprintf(err, errlen, "setsockopt %s=%d: %s", what, value, strerror(errno));
	return -1;
}

int ig_tcp_tune(uv_tcp_t *t, const ig_config *cfg, char *err, size_t errlen)
{
	uv_os_fd_t fd;
	int rc = uv_tcp_nodelay(t, 1);

	if (rc != 0) {
		snprintf(err, errlen, "TCP_NODELAY: %s", uv_strerror(rc));
		return -1;
	}
	rc = uv_fileno((const uv_handle_t *)t, &fd);
	if (rc != 0) {
		snprintf(err, errlen, "no socket: %s", uv_strerror(rc));
		return -1;
	}
	int idle = cfg->timeouts.tcp_keepalive_s;
	if (idle > 0 &&
	    (set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE", err, errlen) < 0 ||
	     set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle, "TCP_KEEPIDLE", err, errlen) < 0 ||
	     set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, cfg->timeouts.tcp_keepalive_interval_s,
	             "TCP_KEEPINTVL", err, errlen) < 0 ||
	     set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, cfg->timeouts.tcp_keepalive_count, "TCP_KEEPCNT",
	             err, errlen) < 0))
		return -1;
	int ut = cfg->timeouts.tcp_user_timeout_ms;
	if (ut > 0 && set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, ut, "TCP_USER_TIMEOUT", err, errlen) < 0)
		return -1;
	return 0;
}
