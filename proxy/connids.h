/*
 * connids.h - the open sessions by the connection id their backend gave them (the id the
 * client read in its greeting and names in KILL), process-wide, for command.c: the OK of a
 * KILL of one of them is relayed once that session has closed, as the server itself shuts
 * the killed connection before it answers (connids.c says why).
 */
#ifndef IMPORTGATE_CONNIDS_H
#define IMPORTGATE_CONNIDS_H

#include <stdbool.h>
#include <stdint.h>

/* One session's entry, inside the session. backend: its backend server, "host:port" as
 * resolved, whatever name reached it (the string must outlive the entry: the session holds
 * the backend until it is freed). */
typedef struct ig_connid {
	struct ig_connid *next;
	const char *backend;
	uint32_t id;
	bool listed;
} ig_connid;

void ig_connids_add(ig_connid *e, const char *backend, uint32_t id);
void ig_connids_remove(ig_connid *e); /* when not listed: nothing */
/* Another entry than `self` is listed for (backend, id). */
bool ig_connids_listed(const char *backend, uint64_t id, const ig_connid *self);

#endif
