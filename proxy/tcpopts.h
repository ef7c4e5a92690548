/*
 * tcpopts.h - socket options for the gateway's TCP connections (both legs of a session):
 * no Nagle delay, keepalive probes and TCP_USER_TIMEOUT from the `timeouts` section.
 */
#ifndef IMPORTGATE_TCPOPTS_H
#define IMPORTGATE_TCPOPTS_H

#include <stddef.h>
#include <uv.h>

#include "policy/config.h"

/* Applies the options to a connected handle. Returns 0, or -1 with a reason in err. */
int ig_tcp_tune(uv_tcp_t *t, const ig_config *cfg, char *err, size_t errlen);

#endif
