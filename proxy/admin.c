/*
 * admin.c - the admin HTTP server (see admin.h). One thread, one libuv loop, one listener;
 * each connection reads one request (http_parser), answers it and closes (Connection:
 * close). Memory per connection is bounded (URL, Authorization header, body <= 1 MiB) and
 * so is time: a request must arrive within IG_ADMIN_REQUEST_MS, or the connection is cut.
 *
 * Connection states:
 *   AC_READING   parsing the request; the request deadline runs
 *   AC_WORKING   a hook (status, explain, coverage, reload, dismiss) runs on the libuv thread pool,
 *                or waits for its turn (one at a time: run_hook); not reading
 *   AC_WRITING   the response is being written; the same deadline again
 *   AC_DRAINING  response sent, write side shut down; what the client still sends is read
 *                and discarded for a moment, so closing does not reset the connection
 *                before the client has read the answer (e.g. after an early 413)
 *   AC_CLOSING   handles closing; freed when both close callbacks ran
 */
#include "proxy/admin.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <uv.h>

#include "proxy/credentials.h"
#include "proxy/log.h"
#include "proxy/metrics.h"

#define MAX_URL 4096
#define MAX_AUTH 1024
#define MAX_TOKEN 4096
#define LINGER_MS 2000

typedef enum { AC_READING, AC_WORKING, AC_WRITING, AC_DRAINING, AC_CLOSING } conn_state;

typedef enum { R_NONE, R_METRICS, R_HEALTHZ, R_STATUS, R_EXPLAIN, R_RELOAD, R_DISMISS, R_COVERAGE } route_id;

typedef struct ig_admin admin_server;
typedef struct admin_conn admin_conn;

/* One hook on the pool at a time per lane, the others waiting in order (run_hook). */
typedef struct hook_lane {
	bool running;
	admin_conn *head, *tail;
	int nwaiting;
} hook_lane;

struct admin_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_work_t work;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	admin_server *srv;
	struct admin_conn *prev, *next;
	struct admin_conn *wnext; /* the next connection waiting for the pool (run_hook) */
	bool waiting;             /* in the server's queue, its hook not on the pool yet */
	conn_state state;
	int open_handles;
	http_parser parser;
	bool complete;      /* the whole request was read */
	int early_status;   /* an error found while parsing (413, 414), answered as such */
	char url[MAX_URL];
	size_t url_len;
	size_t query_off, query_len; /* the query string in url (after '?'), for coverage */
	char hname[16];     /* current header name, enough to recognise the ones below */
	size_t hname_len;
	bool in_value, hdr_is_auth;
	char auth[MAX_AUTH];
	size_t auth_len;
	bool have_auth, auth_bad; /* bad: too long or repeated, never authorizes */
	bool from_browser;  /* Origin or Sec-Fetch-Site: a web browser sent it (browser_request) */
	char *body;
	size_t body_len, body_cap;
	route_id route;
	char *json;         /* a hook's answer */
	int json_status;
	char *resp;
	size_t resp_len;
};

struct ig_admin {
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_async_t stop_async;
	pthread_t thread;
	ig_admin_hooks hooks;
	char *token;
	size_t token_len;
	admin_conn *conns;
	int nconns;
	hook_lane lanes[2];   /* [1]: /api/v1/status, [0]: the other hooks (run_hook) */
	bool stopping;
	uv_tcp_t spare;       /* accepts and closes connections when out of memory */
	bool spare_busy;
	char rbuf[64 * 1024]; /* one read is processed before the next: one buffer per loop */
};

/* ---- connection lifetime ---- */

static void conn_free_cb(uv_handle_t *h)
{
	admin_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	free(c->body);
	free(c->json);
	free(c->resp);
	free(c);
}

static void conn_close(admin_conn *c)
{
	if (c->state == AC_CLOSING)
		return;
	c->state = AC_CLOSING;
	admin_server *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	uv_close((uv_handle_t *)&c->tcp, conn_free_cb);
	uv_close((uv_handle_t *)&c->timer, conn_free_cb);
}

static void on_deadline(uv_timer_t *t)
{
	admin_conn *c = t->data;
	/* A running hook cannot be interrupted; its completion answers and re-arms the timer. */
	if (c->state != AC_WORKING)
		conn_close(c);
}

static void arm(admin_conn *c, uint64_t ms)
{
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, on_deadline, ms, 0);
}

/* ---- responses ---- */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 422: return "Unprocessable Entity";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)hint;
	admin_conn *c = h->data;
	buf->base = c->srv->rbuf;
	buf->len = sizeof(c->srv->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status)
{
	admin_conn *c = req->data;
	if (c->state != AC_WRITING)
		return; /* closed meanwhile (deadline, stop): the close callbacks free it */
	if (status < 0) {
		conn_close(c);
		return;
	}
	/* Half-close, then read and discard until the client closes or the linger ends. */
	c->state = AC_DRAINING;
	arm(c, LINGER_MS);
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, NULL) < 0) {
		conn_close(c);
		return;
	}
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c);
}

/* Sends status + headers + body and moves to AC_WRITING. HEAD requests get no body. */
static void respond(admin_conn *c, int status, const char *ctype, const char *extra,
                    const char *body, size_t body_len)
{
	char head[512];
	uv_read_stop((uv_stream_t *)&c->tcp);
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
	                 status, reason(status), ctype, body_len, extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(head)) {
		conn_close(c);
		return;
	}
	size_t send_body = (c->complete && c->parser.method == HTTP_HEAD) ? 0 : body_len;
	free(c->resp);
	c->resp_len = (size_t)n + send_body;
	if (!(c->resp = malloc(c->resp_len))) {
		conn_close(c);
		return;
	}
	memcpy(c->resp, head, (size_t)n);
	if (send_body)
		memcpy(c->resp + n, body, send_body);
	c->state = AC_WRITING;
	arm(c, IG_ADMIN_REQUEST_MS);
	uv_buf_t b = uv_buf_init(c->resp, (unsigned)c->resp_len);
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0)
		conn_close(c);
}

/* Error bodies are JSON ({"error": "..."}); msg is a constant without quotes. */
static void respond_error(admin_conn *c, int status, const char *msg, const char *extra)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", msg);
	respond(c, status, "application/json", extra, body, (size_t)n);
}

static void respond_json(admin_conn *c, int status, const char *json)
{
	respond(c, status, "application/json", NULL, json, strlen(json));
}

/* ---- authorization ---- */

/* Constant time in the content of both strings: no early exit on the first difference. */
static bool token_equal(const char *given, size_t glen, const char *want, size_t wlen)
{
	volatile unsigned char d = glen != wlen;
	for (size_t i = 0; i < wlen; i++)
		d |= (unsigned char)(want[i] ^ (i < glen ? given[i] : 0));
	return d == 0;
}

static bool authorized(const admin_conn *c)
{
	const admin_server *s = c->srv;
	if (!s->token)
		return true;
	if (!c->have_auth || c->auth_bad)
		return false;
	const char *v = c->auth, *end = c->auth + c->auth_len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	if (end - v < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	v += 7;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return token_equal(v, (size_t)(end - v), s->token, s->token_len);
}

/* ---- hooks on the thread pool ---- */

static void work_run(uv_work_t *w)
{
	admin_conn *c = w->data;
	const ig_admin_hooks *h = &c->srv->hooks;
	c->json_status = 200;
	switch (c->route) {
	case R_STATUS: c->json = h->status_json(); break;
	case R_EXPLAIN: c->json = h->explain_json(c->body ? c->body : "", c->body_len, &c->json_status); break;
	case R_RELOAD: c->json = h->reload(&c->json_status); break;
	case R_DISMISS: c->json = h->dismiss_json(c->body ? c->body : "", c->body_len, &c->json_status); break;
	case R_COVERAGE: c->json = h->coverage_json(c->url + c->query_off, c->query_len, &c->json_status); break;
	default: break;
	}
}

static void start_hook(admin_conn *c);

static hook_lane *lane_of(const admin_conn *c)
{
	return &c->srv->lanes[c->route == R_STATUS];
}

/* The next waiting hook of the lane, if any, takes the pool thread the last one left. */
static void next_hook(hook_lane *l)
{
	admin_conn *c = l->head;

	if (!c)
		return;
	l->head = c->wnext;
	if (!l->head)
		l->tail = NULL;
	l->nwaiting--;
	c->wnext = NULL;
	c->waiting = false;
	start_hook(c);
}

static void work_done(uv_work_t *w, int status)
{
	admin_conn *c = w->data;
	lane_of(c)->running = false;
	c->state = AC_READING; /* leaves AC_WORKING so close and respond apply again */
	if (status < 0 || c->srv->stopping) {
		conn_close(c);
		return;
	}
	next_hook(lane_of(c));
	if (!c->json) {
		respond_error(c, 500, "the gateway could not produce an answer", NULL);
		return;
	}
	int code = c->json_status >= 200 && c->json_status <= 599 ? c->json_status : 500;
	respond_json(c, code, c->json);
}

static void start_hook(admin_conn *c)
{
	hook_lane *l = lane_of(c);

	l->running = true;
	if (uv_queue_work(&c->srv->loop, &c->work, work_run, work_done) < 0) {
		l->running = false;
		c->state = AC_READING;
		respond_error(c, 500, "cannot schedule the request", NULL);
		next_hook(l);
	}
}

/*
 * The hooks run on libuv's thread pool, which is also where every import is decided and every
 * statement over 64 KiB classified (proxy/statement.c), and a hook may wait long: an explain
 * or a coverage reads PD (up to cluster.timeout_ms when it does not answer), a dismissal waits
 * for the obligations thread, reloads wait for each other. So the admin API has two threads of
 * the pool at most, two lanes of one hook at a time, the others waiting here in order
 * (attack24: 8 explains against a silent PD held all 4 threads, and a session's 70 KiB SELECT
 * waited 11 s): the status has a lane of its own (it reads PD one answer at a time and
 * otherwise only memory), so monitoring is not held up by a dismissal waiting for a busy
 * obligations thread; everything else shares the other.
 */
static void run_hook(admin_conn *c, route_id r)
{
	const ig_admin_hooks *h = &c->srv->hooks;
	bool have = (r == R_STATUS && h->status_json) || (r == R_EXPLAIN && h->explain_json) ||
	            (r == R_RELOAD && h->reload) || (r == R_DISMISS && h->dismiss_json) ||
	            (r == R_COVERAGE && h->coverage_json);
	if (!have) {
		respond_error(c, 503, "not available in this gateway", NULL);
		return;
	}
	/* A waiting connection keeps its slot (IG_ADMIN_MAX_CONNS) however long the queue takes:
	 * a bounded queue leaves the slots of /healthz and /metrics free. */
	c->route = r;
	hook_lane *l = lane_of(c);
	if (l->running && l->nwaiting >= IG_ADMIN_MAX_WAITING) {
		respond_error(c, 503, "the admin API is busy with other requests; try again", "Retry-After: 1\r\n");
		return;
	}
	c->work.data = c;
	c->state = AC_WORKING;
	/* Not reading while the hook runs or waits: an EOF would close, and free, the connection
	 * the hook writes its answer into. A client that left meets a failed write afterwards. */
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (!l->running) {
		start_hook(c);
		return;
	}
	c->waiting = true;
	l->nwaiting++;
	if (l->tail)
		l->tail->wnext = c;
	else
		l->head = c;
	l->tail = c;
}

/* ---- routing ---- */

typedef struct route {
	const char *path;
	route_id id;
	bool post; /* POST only; otherwise GET and HEAD */
} route;

static const route routes[] = {
	{"/metrics", R_METRICS, false},
	{"/healthz", R_HEALTHZ, false},
	{"/api/v1/status", R_STATUS, false},
	{"/api/v1/explain", R_EXPLAIN, true},
	{"/api/v1/reload", R_RELOAD, true},
	{"/api/v1/obligations/dismiss", R_DISMISS, true},
	{"/api/v1/coverage", R_COVERAGE, false},
};

static void serve_metrics(admin_conn *c)
{
	char *text = ig_metrics_render();
	if (!text) {
		respond_error(c, 500, "out of memory", NULL);
		return;
	}
	respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, text, strlen(text));
	free(text);
}

static void serve_healthz(admin_conn *c)
{
	const ig_admin_hooks *h = &c->srv->hooks;
	if (!h->healthy || h->healthy())
		respond(c, 200, "text/plain; charset=utf-8", NULL, "ok\n", 3);
	else
		respond(c, 503, "text/plain; charset=utf-8", NULL, "shutting down\n", 14);
}

/*
 * browser_request: no client of the admin API is a web browser (Prometheus, the kubelet,
 * curl, importgate ctl), but a browser on a host that reaches the API sends what any page it
 * shows asks for: a cross-site POST with Content-Type text/plain needs no CORS preflight
 * (reload, a dismissal whose id the page knows), and a page whose name is rebound to the
 * admin address (DNS rebinding) is same-origin with it and reads /api/v1/status, obligation
 * ids included, then dismisses them. Without a token nothing else stops either. Browsers
 * mark their requests: Origin on every cross-origin request and every POST (Fetch standard),
 * Sec-Fetch-Site on every request (Fetch Metadata). A request with either is refused (403),
 * on every path but /healthz (attack24).
 */
static void dispatch(admin_conn *c)
{
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (http_parser_parse_url(c->url, c->url_len, 0, &u) != 0 || !(u.field_set & (1 << UF_PATH))) {
		respond_error(c, 400, "bad request target", NULL);
		return;
	}
	const char *path = c->url + u.field_data[UF_PATH].off;
	size_t plen = u.field_data[UF_PATH].len;
	c->query_off = c->url_len; /* no query: the empty string at the end of url */
	c->query_len = 0;
	if (u.field_set & (1 << UF_QUERY)) {
		c->query_off = u.field_data[UF_QUERY].off;
		c->query_len = u.field_data[UF_QUERY].len;
	}
	const route *r = NULL;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strlen(routes[i].path) == plen && memcmp(routes[i].path, path, plen) == 0)
			r = &routes[i];
	/* A web page's request, whatever the page: refused before anything is revealed or done
	 * (browser_request). */
	if ((!r || r->id != R_HEALTHZ) && c->from_browser) {
		respond_error(c, 403, "the admin API does not serve web browsers", NULL);
		return;
	}
	/* Without the token nothing but liveness is revealed, not even which paths exist. */
	if ((!r || r->id != R_HEALTHZ) && !authorized(c)) {
		respond_error(c, 401, "missing or wrong bearer token",
		              "WWW-Authenticate: Bearer realm=\"importgate\"\r\n");
		return;
	}
	if (!r) {
		respond_error(c, 404, "no such endpoint", NULL);
		return;
	}
	unsigned m = c->parser.method;
	bool ok = r->post ? m == HTTP_POST : (m == HTTP_GET || m == HTTP_HEAD);
	if (!ok) {
		respond_error(c, 405, "method not allowed",
		              r->post ? "Allow: POST\r\n" : "Allow: GET, HEAD\r\n");
		return;
	}
	switch (r->id) {
	case R_METRICS: serve_metrics(c); break;
	case R_HEALTHZ: serve_healthz(c); break;
	default: run_hook(c, r->id); break;
	}
}

/* ---- request parsing ---- */

static int p_url(http_parser *p, const char *at, size_t len)
{
	admin_conn *c = p->data;
	if (len > sizeof(c->url) - 1 - c->url_len) {
		c->early_status = 414;
		return -1;
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	c->url[c->url_len] = '\0';
	return 0;
}

static int p_header_field(http_parser *p, const char *at, size_t len)
{
	admin_conn *c = p->data;
	if (c->in_value) { /* a new header starts */
		c->in_value = false;
		c->hname_len = 0;
	}
	/* Longer names are not "authorization": mark them so with an impossible length. */
	if (len > sizeof(c->hname) - c->hname_len) {
		c->hname_len = sizeof(c->hname);
		return 0;
	}
	memcpy(c->hname + c->hname_len, at, len);
	c->hname_len += len;
	return 0;
}

static bool hname_is(const admin_conn *c, const char *name)
{
	size_t n = strlen(name);
	return c->hname_len == n && strncasecmp(c->hname, name, n) == 0;
}

static int p_header_value(http_parser *p, const char *at, size_t len)
{
	admin_conn *c = p->data;
	if (!c->in_value) {
		c->in_value = true;
		if (hname_is(c, "origin") || hname_is(c, "sec-fetch-site"))
			c->from_browser = true;
		c->hdr_is_auth = hname_is(c, "authorization");
		if (c->hdr_is_auth) {
			if (c->have_auth)
				c->auth_bad = true; /* two Authorization headers: ambiguous, refuse */
			c->have_auth = true;
		}
	}
	if (!c->hdr_is_auth || c->auth_bad)
		return 0;
	if (len > sizeof(c->auth) - c->auth_len) {
		c->auth_bad = true;
		return 0;
	}
	memcpy(c->auth + c->auth_len, at, len);
	c->auth_len += len;
	return 0;
}

static int p_headers_complete(http_parser *p)
{
	admin_conn *c = p->data;
	/* content_length is ULLONG_MAX when the request has none (e.g. chunked). */
	if (p->content_length != ULLONG_MAX && p->content_length > IG_ADMIN_MAX_BODY) {
		c->early_status = 413;
		return -1;
	}
	return 0;
}

static int p_body(http_parser *p, const char *at, size_t len)
{
	admin_conn *c = p->data;
	if (len > IG_ADMIN_MAX_BODY - c->body_len) {
		c->early_status = 413;
		return -1;
	}
	if (c->body_len + len > c->body_cap) {
		size_t cap = c->body_cap ? c->body_cap : 4096;
		while (cap < c->body_len + len)
			cap *= 2;
		if (cap > IG_ADMIN_MAX_BODY)
			cap = IG_ADMIN_MAX_BODY;
		char *nb = realloc(c->body, cap);
		if (!nb) {
			c->early_status = 500;
			return -1;
		}
		c->body = nb;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, at, len);
	c->body_len += len;
	return 0;
}

static int p_message_complete(http_parser *p)
{
	admin_conn *c = p->data;
	c->complete = true;
	/* One request per connection: whatever follows in the same read is not parsed. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_url = p_url,
	.on_header_field = p_header_field,
	.on_header_value = p_header_value,
	.on_headers_complete = p_headers_complete,
	.on_body = p_body,
	.on_message_complete = p_message_complete,
};

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	admin_conn *c = st->data;
	if (nread < 0) {
		/* EOF or error: an incomplete request gets no answer, a drained one is done. */
		conn_close(c);
		return;
	}
	if (nread == 0 || c->state != AC_READING)
		return; /* AC_DRAINING: discarded */
	http_parser_execute(&c->parser, &parser_settings, buf->base, (size_t)nread);
	enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
	if (c->complete) {
		dispatch(c);
		return;
	}
	if (e == HPE_OK)
		return; /* more to come */
	if (c->early_status == 413)
		respond_error(c, 413, "request body larger than 1 MiB", NULL);
	else if (c->early_status == 414)
		respond_error(c, 414, "request target too long", NULL);
	else if (e == HPE_HEADER_OVERFLOW)
		respond_error(c, 431, "request headers too large", NULL);
	else if (c->early_status == 500)
		respond_error(c, 500, "out of memory", NULL);
	else
		respond_error(c, 400, "malformed HTTP request", NULL);
}

static void spare_closed(uv_handle_t *h)
{
	admin_server *s = h->data;
	s->spare_busy = false;
}

/* Every slot is taken: the oldest connection still waiting for its request (or draining
 * after its answer) gives its slot to the new one. Otherwise whoever opens IG_ADMIN_MAX_CONNS
 * connections and sends nothing (no token is needed to connect) would keep /healthz from
 * answering, until the liveness probe restarts the gateway; now they must send requests
 * faster than a probe does. Connections running or writing an answer are never evicted.
 * false when there is none to evict (the new one is closed). */
static bool evict_oldest(admin_server *s, admin_conn *fresh)
{
	admin_conn *oldest = NULL;

	for (admin_conn *c = s->conns; c; c = c->next) /* newest first */
		if (c != fresh && (c->state == AC_READING || c->state == AC_DRAINING))
			oldest = c;
	if (!oldest)
		return false;
	conn_close(oldest);
	return true;
}

static void on_connection(uv_stream_t *l, int status)
{
	admin_server *s = l->data;
	if (status < 0)
		return;
	admin_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		/* Accept into the spare handle and close it: an unaccepted connection stalls the listener. */
		if (!s->spare_busy && uv_tcp_init(&s->loop, &s->spare) == 0) {
			s->spare_busy = true;
			s->spare.data = s;
			if (uv_accept(l, (uv_stream_t *)&s->spare) < 0)
				LOG_WARN(0, "admin: cannot accept a connection");
			uv_close((uv_handle_t *)&s->spare, spare_closed);
		}
		return;
	}
	c->srv = s;
	uv_tcp_init(&s->loop, &c->tcp);
	uv_timer_init(&s->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open_handles = 2;
	c->state = AC_READING;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0 || (s->nconns > IG_ADMIN_MAX_CONNS && !evict_oldest(s, c))) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	arm(c, IG_ADMIN_REQUEST_MS);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c);
}

/* ---- thread, start, stop ---- */

static void on_stop(uv_async_t *a)
{
	admin_server *s = a->data;
	s->stopping = true;
	uv_close((uv_handle_t *)&s->listener, NULL);
	uv_close((uv_handle_t *)&s->stop_async, NULL);
	admin_conn *c = s->conns;
	/* waiting hooks never start: closed below */
	memset(s->lanes, 0, sizeof(s->lanes));
	while (c) {
		admin_conn *next = c->next;
		/* A hook on the pool is cancelled if it has not started; a running one finishes and
		 * its completion closes. One still waiting for its turn is closed now. */
		if (c->state == AC_WORKING && !c->waiting)
			uv_cancel((uv_req_t *)&c->work);
		else
			conn_close(c);
		c = next;
	}
}

static void *admin_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "ig-admin"); /* its name in top -H, ps -L, perf */
	admin_server *s = arg;
	/* Returns when every handle is closed and every hook finished, after on_stop. */
	uv_run(&s->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* The token is the file's content without trailing whitespace; it must not be empty. */
static int read_token(const char *configured, admin_server *s, char *err, size_t errlen)
{
	char pbuf[4096];
	const char *path = ig_cred_path(configured, pbuf, sizeof(pbuf), err, errlen);
	if (!path)
		return -1;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "admin.token_file %s: %s", path, strerror(errno));
		return -1;
	}
	char *buf = malloc(MAX_TOKEN + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t n = fread(buf, 1, MAX_TOKEN + 1, f);
	bool bad = ferror(f);
	fclose(f);
	if (bad || n > MAX_TOKEN) {
		snprintf(err, errlen, "admin.token_file %s: %s", path,
		         bad ? "read error" : "longer than 4096 bytes");
		free(buf);
		return -1;
	}
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	if (n == 0 || memchr(buf, '\n', n) || strlen(buf) != n) {
		snprintf(err, errlen, "admin.token_file %s: %s", path,
		         n == 0 ? "empty" : "the token must be one line of text");
		free(buf);
		return -1;
	}
	s->token = buf;
	s->token_len = n;
	return 0;
}

static int bind_listener(admin_server *s, const ig_hostport *hp, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_NUMERICSERV}, *res = NULL;
	char port[16];
	snprintf(port, sizeof(port), "%d", hp->port);
	int rc = getaddrinfo(hp->host, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "admin.listen %s: %s", hp->host, gai_strerror(rc));
		return -1;
	}
	rc = uv_tcp_bind(&s->listener, res->ai_addr, 0);
	freeaddrinfo(res);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
	if (rc < 0) {
		snprintf(err, errlen, "admin.listen %s:%d: %s", hp->host, hp->port, uv_strerror(rc));
		return -1;
	}
	return 0;
}

/* Closes whatever start had opened and frees the server. */
static void close_any(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void discard(admin_server *s)
{
	uv_walk(&s->loop, close_any, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_loop_close(&s->loop);
	free(s->token);
	free(s);
}

int ig_admin_start(ig_admin **out, const ig_hostport *listen, const char *token_file,
                   const ig_admin_hooks *hooks, char *err, size_t errlen)
{
	*out = NULL;
	if (!listen || listen->port == 0)
		return 0;
	admin_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (hooks)
		s->hooks = *hooks;
	if (token_file && *token_file && read_token(token_file, s, err, errlen) < 0) {
		free(s);
		return -1;
	}
	int rc = uv_loop_init(&s->loop);
	if (rc < 0) {
		snprintf(err, errlen, "admin loop: %s", uv_strerror(rc));
		free(s->token);
		free(s);
		return -1;
	}
	uv_tcp_init(&s->loop, &s->listener);
	s->listener.data = s;
	if (uv_async_init(&s->loop, &s->stop_async, on_stop) < 0) {
		snprintf(err, errlen, "admin loop: cannot create its wakeup");
		discard(s);
		return -1;
	}
	s->stop_async.data = s;
	if (bind_listener(s, listen, err, errlen) < 0) {
		discard(s);
		return -1;
	}
	/* Signals stay with the main thread: the new thread starts with all of them blocked. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&s->thread, NULL, admin_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "admin thread: %s", strerror(rc));
		discard(s);
		return -1;
	}
	*out = s;
	LOG_INFO(0, "admin server listening on %s:%d%s", listen->host, listen->port,
	         s->token ? " (bearer token required)" : "");
	return 0;
}

void ig_admin_stop(ig_admin *s)
{
	if (!s)
		return;
	uv_async_send(&s->stop_async);
	pthread_join(s->thread, NULL);
	uv_loop_close(&s->loop);
	free(s->token);
	free(s);
}
