/*
 * svcconn.h - the gateway's own logins to TiDB (libmariadb, blocking): the obligations'
 * service account (obligations.service; the downstream's own user when set) to
 * backends.servers or obligations.downstream.servers, with the hardening every such login
 * needs: TCP as configured (never libmariadb's Unix socket), no LOCAL INFILE, TLS as
 * obligations.service.tls says, only scramble-based auth plugins without a verified server,
 * the PROXY protocol LOCAL header when the backends expect one. Used by the obligations'
 * executor (oblexec.c) and the Lightning preflight (ltn_preflight.c).
 */
#ifndef IMPORTGATE_SVCCONN_H
#define IMPORTGATE_SVCCONN_H

#include <stddef.h>

#include "policy/config.h"

/* libmariadb's connection (mysql.h), declared here so that a file speaking the protocol
 * itself (proxy/mysql_proto.h, whose command names mysql.h also defines) can use the logins. */
struct st_mysql;

typedef enum { IG_SVC_UPSTREAM, IG_SVC_DOWNSTREAM } ig_svc_target;

/* The login for t: its user, and in *pwf its password file ("" = no password). */
const char *ig_svc_user(const ig_config *cfg, ig_svc_target t, const char **pwf);

/*
 * A service connection to the first of t's servers that answers. read_s bounds each answer
 * (0: none, for statements that run as long as the import or backup does); max_packet bounds
 * one packet from the server (0: the library's default). `where` gets "host:port". NULL with
 * the reason in err.
 */
struct st_mysql *ig_svc_connect(const ig_config *cfg, ig_svc_target t, const char *db, unsigned read_s,
                                unsigned long max_packet, char *where, size_t wlen, char *err, size_t errlen);

/*
 * Asks host:port, on the upstream login, what it says of itself: *version = @@version and
 * *info = TIDB_VERSION() (NULL from a server that is not TiDB), asked as the live probe asks
 * (proxy/probe.c). 0 with both malloc'd, or -1 + err (no login, no answer, a NUL in a value).
 * The whole exchange takes at most timeout_s seconds and a bounded amount of memory, whatever
 * the server sends (a trickle of bytes, rows without end: attack30): it runs in a child
 * process, killed at the deadline. So it forks: call it before starting threads.
 */
int ig_svc_ask_identity(const ig_config *cfg, const char *host, int port, unsigned timeout_s, char **version,
                        char **info, char *err, size_t errlen);

#endif
