/*
 * connids.c - the open sessions by backend connection id (connids.h).
 *
 * Why: MariaDB and MySQL shut the killed connection's socket inside KILL, before the killer
 * gets its OK (THD::awake), so a client that reads the OK finds its other connection closed
 * and libmariadb, whose reconnect starts only from a failed write, reconnects. Through a
 * relay the OK travels one session and the close another, often another worker's: the
 * client could find the killed connection still open, send on it, and lose that command
 * (mysql_client_test test_bug17512527, about 1 run in 20 under load). command.c asks here
 * whether the session a KILL names is still open and holds the OK until it is not.
 *
 * One table for the process, one lock: entries come and go with sessions (not commands), and
 * a lookup happens only for a KILL. Entries live in their sessions; nothing is allocated.
 */
#include "proxy/connids.h"

#include <pthread.h>
#include <string.h>

#define BUCKETS 1024

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ig_connid *table[BUCKETS];

static ig_connid **bucket(uint64_t id) { return &table[id % BUCKETS]; }

void ig_connids_add(ig_connid *e, const char *backend, uint32_t id)
{
	e->backend = backend;
	e->id = id;
	pthread_mutex_lock(&lock);
	ig_connid **b = bucket(id);
	e->next = *b;
	*b = e;
	e->listed = true;
	pthread_mutex_unlock(&lock);
}

void ig_connids_remove(ig_connid *e)
{
	if (!e->listed) /* only its own thread adds and removes it */
		return;
	pthread_mutex_lock(&lock);
	for (ig_connid **p = bucket(e->id); *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			break;
		}
	e->listed = false;
	pthread_mutex_unlock(&lock);
}

bool ig_connids_listed(const char *backend, uint64_t id, const ig_connid *self)
{
	bool found = false;
	if (id > UINT32_MAX) /* the greeting's id has 32 bits */
		return false;
	pthread_mutex_lock(&lock);
	for (const ig_connid *e = *bucket(id); e && !found; e = e->next)
		found = e != self && e->id == id && strcmp(e->backend, backend) == 0;
	pthread_mutex_unlock(&lock);
	return found;
}
