/*
 * session.h - one client connection and its backend connection: the handshake and
 * authentication relay, then the command phase where every statement passes the
 * inspection hook and responses are relayed as they arrive.
 */
#ifndef IMPORTGATE_SESSION_H
#define IMPORTGATE_SESSION_H

#include <uv.h>

#include "proxy/worker.h"

/* Accepts one pending connection on the worker's listener. */
void ig_session_accept(ig_worker *w);
void ig_session_adopt(ig_worker *w, int fd); /* a client socket another worker accepted (worker.c) */
/* Shutdown: close every session of the worker now. */
void ig_session_close_all(ig_worker *w, const char *why);
void ig_session_close_at_rest(ig_worker *w); /* the drain's start: close sessions between transactions */

#endif
