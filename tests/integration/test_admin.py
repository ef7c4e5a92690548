"""test_admin.py - the admin HTTP server and the Prometheus metrics (docs/OPERATIONS.md;
proxy/admin.c, proxy/metrics.c).

Two targets:
  standalone  proxy/admin.c, metrics.c and log.c compiled (with ASan/UBSan when the compiler
              has them) together with a small C driver whose hooks give known answers. It
              checks the HTTP behaviour and the exposition format without a gateway, and the
              exact values the driver put in the registry.
  gateway     importgate itself with admin.listen on a free port and a bearer token: the same
              HTTP behaviour, plus counters that move with real traffic (connections, a
              rejected IMPORT INTO), /api/v1/status, /api/v1/explain and /api/v1/reload.
HTTP protocol tests run on both targets; value tests are target-specific."""

import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time

import pymysql
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import clients, ports, timing
from harness.gateway import REPO, direct_mode
from harness.mariadb import NATIVE

TOKEN = "s3cr3t-admin-token-\u00e9".encode("utf-8").decode("latin-1")  # bytes beyond ASCII
REQUEST_TIMEOUT_S = 10  # IG_ADMIN_REQUEST_MS
PRECHECK = 8173

# ---------------------------------------------------------------------------------------
# The standalone driver: the admin module with hooks that answer predictably.

DRIVER_C = r"""
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy/admin.h"
#include "proxy/metrics.h"

static const char *flagdir;
static int port;

static int flag(const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", flagdir, name);
	return access(p, F_OK) == 0;
}

/* The admin server stopped listening: its stop began (on_stop closes the listener after
 * marking the server stopping), so a hook returning now gets no answer written. */
static int listener_closed(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	int refused = connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == ECONNREFUSED;
	close(fd);
	return refused;
}

/* "block": says it runs (the file hook-running), then waits for the test's hook-release
 * file or for the server's stop, at most 60 s: the tests wait for events, not a sleep. */
static void block(void)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/hook-running", flagdir);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
	struct timespec tick = {0, 20 * 1000 * 1000};
	for (int i = 0; i < 3000 && !flag("hook-release") && !listener_closed(); i++)
		nanosleep(&tick, NULL);
}

static int healthy(void)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/unhealthy", flagdir);
	return access(p, F_OK) != 0;
}

static char *status_json(void) { return strdup("{\"driver\":true}"); }

static char *explain_json(const char *body, size_t len, int *st)
{
	if (len == 5 && memcmp(body, "block", 5) == 0)
		block();
	if (len == 4 && memcmp(body, "null", 4) == 0)
		return NULL;
	if (len == 3 && memcmp(body, "bad", 3) == 0)
		*st = 422;
	unsigned long sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += (unsigned char)body[i];
	char *out = malloc(96);
	if (out)
		snprintf(out, 96, "{\"received\":%zu,\"bytesum\":%lu}", len, sum);
	return out;
}

static char *reload(int *st)
{
	(void)st;
	ig_metric_inc(IG_M_CONFIG_RELOADS_OK);
	return strdup("{\"ok\":true}");
}

/* Echoes the raw query string it was given (hex, so any byte shows). */
static char *coverage_json(const char *q, size_t len, int *st)
{
	(void)st;
	char *out = malloc(2 * len + 32), *o = out;
	if (!out)
		return NULL;
	o += sprintf(o, "{\"query_hex\":\"");
	for (size_t i = 0; i < len; i++)
		o += sprintf(o, "%02x", (unsigned char)q[i]);
	sprintf(o, "\"}");
	return out;
}

int main(int argc, char **argv)
{
	char err[512];
	if (argc != 4) {
		fprintf(stderr, "usage: driver PORT TOKEN_FILE|'' FLAGDIR\n");
		return 2;
	}
	flagdir = argv[3];
	port = atoi(argv[1]);
	const char *addrs[] = {"127.0.0.1:4000", "tidb-\"1\"\\x\n:4000"};
	if (ig_metrics_backends_init(addrs, 2, err, sizeof(err)) < 0 ||
	    ig_metrics_backends_init(addrs, 1, err, sizeof(err)) == 0) {
		fprintf(stderr, "backends_init misbehaves\n");
		return 4;
	}
	ig_metric_backend_up(0, true);
	ig_metric_backend_up(7, true); /* out of range: ignored */
	ig_metric_add(IG_M_CONNECTIONS_TOTAL, 7);
	ig_metric_gauge_set(IG_M_CONNECTIONS_ACTIVE, 3);
	ig_metric_gauge_add(IG_M_CONNECTIONS_ACTIVE, -1);
	ig_metric_gauge_set(IG_M_CONNECTIONS_TOTAL, 1000); /* not a gauge: ignored */
	ig_metric_import("enforce", "reject", "no-imports");
	ig_metric_import("dry-run", "add-disable-precheck", IG_METRIC_RULE_DEFAULTS);
	ig_metric_import("dry-run", "add-disable-precheck", IG_METRIC_RULE_DEFAULTS);
	ig_metric_import("enforce", "reject", "odd \"rule\"\\");
	ig_metric_observe_ns(IG_M_QUERY_SECONDS_QUERY, 200000);        /* 0.2 ms */
	ig_metric_observe_ns(IG_M_QUERY_SECONDS_STMT_EXECUTE, 3000000); /* 3 ms */
	ig_metric_observe_ns(IG_M_STATE_READS_OK, 1000);               /* not a histogram: ignored */
	ig_metric_stamp(IG_M_OBLIGATIONS_OLDEST, 1000);                /* 1970: a huge age */
	ig_metric_stamp(IG_M_CONNECTIONS_ACTIVE, 5);                   /* not an age: ignored */
	ig_metric_backend_connect_failed("127.0.0.1:4000");
	ig_metric_backend_connect_failed("127.0.0.1:4000");
	ig_metric_backend_connect_failed("no-such:1");                 /* not registered: ignored */
	ig_metric_backend_connections_addr("127.0.0.1:4000", 4);
	ig_metric_add(IG_M_BYTES_CLIENT_TO_BACKEND, 1000);
	ig_metric_observe_seconds(IG_M_STATE_READ_SECONDS, 0.0005);
	ig_metric_observe_seconds(IG_M_STATE_READ_SECONDS, 0.003);
	ig_metric_observe_seconds(IG_M_STATE_READ_SECONDS, 1.5);
	ig_metric_observe_seconds(IG_M_STATE_READ_SECONDS, 5.0);
	ig_metric_observe_seconds(IG_M_CONNECTIONS_TOTAL, 1.0); /* not a histogram: ignored */

	ig_hostport hp = {.host = "127.0.0.1", .port = atoi(argv[1])};
	ig_admin_hooks hooks = {healthy, status_json, explain_json, reload, NULL, coverage_json};
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	ig_admin *admin, *second;
	if (ig_admin_start(&admin, &hp, argv[2][0] ? argv[2] : NULL, &hooks, err, sizeof(err)) < 0) {
		fprintf(stderr, "start: %s\n", err);
		return 3;
	}
	if (ig_admin_start(&second, &hp, NULL, &hooks, err, sizeof(err)) == 0 || second) {
		fprintf(stderr, "a second server on the same port was accepted\n");
		return 4;
	}
	printf("READY\n");
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	ig_admin_stop(admin);
	ig_admin_stop(NULL); /* a server that was off (admin.listen port 0) stops as a no-op */
	ig_metrics_backends_free();
	return 0;
}
"""


def _compile(workdir):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler for the standalone admin driver")
    src = os.path.join(workdir, "admin_driver.c")
    with open(src, "w") as f:
        f.write(DRIVER_C)
    exe = os.path.join(workdir, "admin_driver")
    base = [cc, "-std=gnu11", "-D_GNU_SOURCE", "-DIMPORTGATE_VERSION=\"test\"", "-g", "-O1",
            "-Wall", "-Wextra", "-Werror", "-I", REPO, src,
            os.path.join(REPO, "proxy", "admin.c"), os.path.join(REPO, "proxy", "metrics.c"),
            os.path.join(REPO, "proxy", "procstat.c"), os.path.join(REPO, "proxy", "log.c"), os.path.join(REPO, "proxy", "credentials.c"), "-o", exe, "-luv", "-lhttp_parser", "-lpthread"]
    sanitized = base[:1] + ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"] + base[1:]
    for cmd in (sanitized, base):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 0:
            return exe
    pytest.fail("cannot build the admin driver:\n" + r.stderr[-4000:])


@pytest.fixture(scope="session")
def admin_driver_bin(tmp_path_factory):
    return _compile(str(tmp_path_factory.mktemp("admin_driver")))


# ---------------------------------------------------------------------------------------
# HTTP helpers


class Admin:
    """An admin endpoint: host, port, token (None: no token configured)."""

    def __init__(self, host, port, token, kind, gw=None, proc=None, workdir=None):
        self.host, self.port, self.token, self.kind = host, port, token, kind
        self.gw, self.proc, self.workdir = gw, proc, workdir

    def request(self, method, path, body=None, headers=None, auth=True, timeout=10):
        """-> (status, headers {lowercase: value}, body bytes)."""
        h = dict(headers or {})
        if auth and self.token is not None:
            h.setdefault("Authorization", "Bearer " + self.token)
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=b"", **kw):
        return self.request("POST", path, body=body, **kw)

    def raw(self, data, timeout=5):
        """Sends raw bytes, returns everything read until the server closes."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as s:
            s.sendall(data)
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                out += chunk
            return out

    def metrics(self):
        """{(sample name, frozenset of labels): value} and {family name: type}."""
        st, hdr, body = self.get("/metrics")
        assert st == 200, (st, body)
        assert hdr["content-type"].startswith("text/plain; version=0.0.4"), hdr
        samples, types = {}, {}
        for fam in text_string_to_metric_families(body.decode("utf-8")):
            types[fam.name] = fam.type
            for s in fam.samples:
                samples[(s.name, frozenset(s.labels.items()))] = s.value
        return samples, types

    def value(self, name, **labels):
        samples, _ = self.metrics()
        return samples[(name, frozenset(labels.items()))]

    def healthy(self):
        return self.get("/healthz", auth=False)[0] == 200


def wait_for(pred, timeout=10.0, step=0.05):
    """Polls pred() for up to `timeout` seconds, scaled for sanitizer builds. A refused or
    reset connection counts as "not yet": after a burst of connections over the limit the
    server closes the extras as it gets to them (issue 14: asserting health at once raced
    those closes)."""
    def ok():
        try:
            return pred()
        except (OSError, http.client.HTTPException):
            return False
    deadline = time.monotonic() + timing.bound(timeout)
    while time.monotonic() < deadline:
        if ok():
            return True
        time.sleep(step)
    return pred()


def start_driver(binary, workdir, token=True):
    os.makedirs(workdir, exist_ok=True)
    token_file = ""
    if token:
        token_file = os.path.join(workdir, "admin.token")
        with open(token_file, "w", encoding="latin-1") as f:
            f.write(TOKEN + "\n")  # the trailing newline is not part of the token
    port = ports.free_port()
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    proc = subprocess.Popen([binary, str(port), token_file, workdir], stdout=subprocess.PIPE,
                            stderr=open(os.path.join(workdir, "stderr"), "wb"), env=env)
    line = proc.stdout.readline()
    if line.strip() != b"READY":
        proc.wait(5)
        with open(os.path.join(workdir, "stderr"), "rb") as f:
            pytest.fail("admin driver did not start: %r %s" % (line, f.read().decode()))
    return Admin("127.0.0.1", port, TOKEN if token else None, "standalone", proc=proc,
                 workdir=workdir)


def stop_driver(a):
    a.proc.send_signal(signal.SIGTERM)
    rc = a.proc.wait(15)
    with open(os.path.join(a.workdir, "stderr"), "rb") as f:
        err = f.read().decode("utf-8", "replace")
    assert rc == 0, "driver exit %s:\n%s" % (rc, err)
    for marker in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert marker not in err, err


def gateway_admin(gateway_factory, workdir, extra=None, token=True):
    if direct_mode():
        pytest.skip("IG_TEST_DIRECT=1: the admin server exists only in the gateway")
    os.makedirs(workdir, exist_ok=True)
    port = ports.free_port()
    admin_cfg = {"listen": "127.0.0.1:%d" % port}
    if token:
        token_file = os.path.join(workdir, "admin.token")
        with open(token_file, "w", encoding="latin-1") as f:
            f.write(TOKEN + "\n")
        admin_cfg["token_file"] = token_file
    cfg = {"admin": admin_cfg}
    cfg.update(extra or {})
    gw = gateway_factory(cfg)
    assert ports.wait_port("127.0.0.1", port, 10), "admin port %d does not accept" % port
    return Admin("127.0.0.1", port, TOKEN if token else None, "gateway", gw=gw, workdir=workdir)


@pytest.fixture(params=["standalone", "gateway"])
def admin(request, tmp_path):
    """The admin server of either target, with a bearer token configured."""
    if request.param == "standalone":
        a = start_driver(request.getfixturevalue("admin_driver_bin"), str(tmp_path / "drv"))
        yield a
        stop_driver(a)
    else:
        yield gateway_admin(request.getfixturevalue("gateway_factory"), str(tmp_path / "adm"))


@pytest.fixture
def driver(admin_driver_bin, tmp_path):
    a = start_driver(admin_driver_bin, str(tmp_path / "drv"))
    yield a
    stop_driver(a)


# ---------------------------------------------------------------------------------------
# Both targets: endpoints, auth, errors, robustness

EXPECTED_FAMILIES = {
    # family name as the parser reports it (counters lose "_total") -> type
    "importgate_connections": "counter",
    "importgate_connections_active": "gauge",
    "importgate_statements": "counter",
    "importgate_imports": "counter",
    "importgate_cluster_state_reads": "counter",
    "importgate_cluster_state_read_seconds": "histogram",
    "importgate_audit_writes": "counter",
    "importgate_audit_dropped": "counter",
    "importgate_backend_up": "gauge",
    "importgate_bytes_relayed": "counter",
    "importgate_obligations": "gauge",
    "importgate_obligations_oldest_unfinished_age_seconds": "gauge",
    "importgate_config_reloads": "counter",
    "importgate_build_info": "gauge",
    "importgate_cluster_state_age_seconds": "gauge",
    "importgate_decision_seconds": "histogram",
    "importgate_handshake_seconds": "histogram",
    "importgate_query_duration_seconds": "histogram",
    "importgate_error_answers": "counter",
    "importgate_timeouts": "counter",
    "importgate_backend_connections": "gauge",
    "importgate_backend_connect_failures": "counter",
    "process_cpu_seconds": "counter",
    "process_start_time_seconds": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
}
LABELLED = {
    "importgate_statements_total": ("class", ["quick", "inspected"]),
    "importgate_cluster_state_reads_total": ("result", ["ok", "error"]),
    "importgate_audit_writes_total": ("result", ["ok", "error"]),
    "importgate_bytes_relayed_total": ("direction", ["client_to_backend", "backend_to_client"]),
    "importgate_obligations": ("state", ["pending", "running", "done", "failed"]),
    "importgate_config_reloads_total": ("result", ["ok", "error"]),
    "importgate_error_answers_total": ("code", ["1040", "2013", "other"]),
    "importgate_timeouts_total": ("timeout", ["backend_connect", "handshake", "response", "idle",
                                              "client_write", "probe"]),
}
VERDICTS = ["pass", "add-disable-precheck", "reject", "logical"]
COMMANDS = ["query", "stmt_prepare", "stmt_execute", "other"]
FAST_BUCKETS = ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]


def imports(samples, mode, verdict, rule="(defaults)"):
    return samples.get(("importgate_imports_total",
                        frozenset({("mode", mode), ("verdict", verdict), ("rule", rule)})))


def hist_count(samples, name, **labels):
    return samples[(name + "_count", frozenset(labels.items()))]
BUCKETS = ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2",
           "+Inf"]


def test_healthz_needs_no_token(admin):
    st, hdr, body = admin.get("/healthz", auth=False)
    assert (st, body) == (200, b"ok\n")
    assert hdr["connection"] == "close"
    st, hdr, body = admin.request("HEAD", "/healthz", auth=False)
    assert st == 200 and body == b"" and hdr["content-length"] == "3"


def test_metrics_exposition(admin):
    samples, types = admin.metrics()
    for fam, typ in EXPECTED_FAMILIES.items():
        assert types.get(fam) == typ, (fam, types.get(fam))
    for name, (label, values) in LABELLED.items():
        for v in values:
            assert (name, frozenset({(label, v)})) in samples, (name, label, v)
    for name in ("importgate_connections_total", "importgate_connections_active",
                 "importgate_audit_dropped_total"):
        assert (name, frozenset()) in samples, name
    h = "importgate_cluster_state_read_seconds"
    cum = [samples[(h + "_bucket", frozenset({("le", le)}))] for le in BUCKETS]
    assert cum == sorted(cum), cum  # cumulative
    assert samples[(h + "_count", frozenset())] == cum[-1]
    assert (h + "_sum", frozenset()) in samples
    # Every mode and verdict exists from the start under the defaults (rate() sees the first).
    for mode in ("enforce", "dry-run"):
        for v in VERDICTS:
            assert imports(samples, mode, v) is not None, (mode, v)
    h = "importgate_query_duration_seconds"
    for cmd in COMMANDS:
        cum = [samples[(h + "_bucket", frozenset({("command", cmd), ("le", le)}))] for le in FAST_BUCKETS]
        assert cum == sorted(cum), (cmd, cum)
        assert hist_count(samples, h, command=cmd) == cum[-1]
    assert all(v >= 0 for (n, _), v in samples.items() if n != "importgate_connections_active")


def test_token_auth(admin):
    for path in ("/metrics", "/api/v1/status", "/no/such/path"):
        st, hdr, body = admin.get(path, auth=False)
        assert st == 401, (path, st)
        assert hdr["www-authenticate"].startswith("Bearer"), hdr
        assert json.loads(body)["error"]
    assert admin.post("/api/v1/reload", auth=False)[0] == 401
    wrong = ["Bearer " + TOKEN[:-1], "Bearer " + TOKEN + "x", "Bearer x" + TOKEN, "Basic " + TOKEN,
             TOKEN, "Bearer", "Bearer " + TOKEN.upper(), "Bearer " + "A" * 5000]
    for w in wrong:
        assert admin.get("/metrics", headers={"Authorization": w})[0] == 401, w
    assert admin.get("/metrics", headers={"Authorization": "bearer   " + TOKEN + "  "})[0] == 200
    assert admin.get("/metrics")[0] == 200
    # Two Authorization headers are ambiguous: refused even when one is right.
    req = ("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Authorization: Bearer nope\r\n\r\n" % TOKEN).encode("latin-1")
    assert admin.raw(req).startswith(b"HTTP/1.1 401 ")


def test_not_found_and_wrong_method(admin):
    st, _, body = admin.get("/nope")
    assert st == 404 and json.loads(body)["error"]
    assert admin.get("/metricsx")[0] == 404
    assert admin.get("/api/v1/")[0] == 404
    st, hdr, _ = admin.post("/metrics", b"x")
    assert st == 405 and hdr["allow"] == "GET, HEAD"
    st, hdr, _ = admin.get("/api/v1/reload")
    assert st == 405 and hdr["allow"] == "POST"
    assert admin.request("DELETE", "/api/v1/explain")[0] == 405
    assert admin.request("PUT", "/healthz", auth=False)[0] == 405
    # The query string is not part of the path.
    assert admin.get("/metrics?name[]=x")[0] == 200


def test_body_over_1mib_is_413(admin):
    big = b"{" + b"x" * (2 * 1024 * 1024) + b"}"
    st, _, body = admin.post("/api/v1/explain", big)
    assert st == 413, (st, body[:200])
    # Chunked: the size is only known while reading.
    head = ("POST /api/v1/explain HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Transfer-Encoding: chunked\r\n\r\n" % TOKEN).encode("latin-1")
    chunk = b"%x\r\n%s\r\n" % (256 * 1024, b"y" * (256 * 1024))
    out = admin.raw(head + chunk * 8 + b"0\r\n\r\n", timeout=15)
    assert out.startswith(b"HTTP/1.1 413 "), out[:200]
    assert admin.healthy()


def test_body_just_under_the_limit_is_read_whole(admin):
    if admin.kind == "gateway":
        pytest.skip("the gateway's explain parses the body; the byte count is checked standalone")
    body = bytes(random.Random(7).randrange(256) for _ in range(1024 * 1024))
    st, _, out = admin.post("/api/v1/explain", body)
    assert st == 200, out
    assert json.loads(out) == {"received": len(body), "bytesum": sum(body)}


def test_garbage_is_400_and_the_server_survives(admin):
    for junk in (b"\x00\xff\xfe garbage\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9.9\r\n\r\n",
                 b"GET /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                 b"GET /metrics HTTP/1.1\r\nbad header line\r\n\r\n",
                 b"POST /api/v1/explain HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        out = admin.raw(junk)
        assert out.startswith(b"HTTP/1.1 400 "), (junk, out[:200])
    # A request target over 4 KiB, and headers over http_parser's 80 KiB.
    assert admin.raw(b"GET /" + b"a" * 8192 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 414 ")
    hdrs = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(100))
    assert admin.raw(b"GET /healthz HTTP/1.1\r\n" + hdrs + b"\r\n").startswith(b"HTTP/1.1 431 ")
    rnd = random.Random(1234)
    for _ in range(60):
        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 600)))
        try:
            out = admin.raw(data, timeout=REQUEST_TIMEOUT_S + 5)
        except (socket.timeout, ConnectionError):
            continue  # an incomplete request may wait for the deadline; what matters is below
        assert out == b"" or out.startswith(b"HTTP/1.1 "), out[:100]
    assert admin.healthy()
    assert admin.get("/metrics")[0] == 200


def test_pipelined_second_request_is_ignored(admin):
    one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    out = admin.raw(one + one)
    assert out.count(b"HTTP/1.1 ") == 1 and out.startswith(b"HTTP/1.1 200 "), out


def test_slow_client_is_cut(admin):
    s = socket.create_connection((admin.host, admin.port), timeout=REQUEST_TIMEOUT_S + 10)
    start = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\n")
    closed_at = None
    limit = REQUEST_TIMEOUT_S + timing.bound(10)  # generous: a busy machine is late, never early
    try:
        i = 0
        while time.monotonic() - start < limit + 2:
            i += 1
            # The server answers others while this client dribbles.
            assert admin.healthy()
            try:
                s.sendall(b"X-Slow-%d: y\r\n" % i)
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            s.settimeout(1.0)
            try:
                if s.recv(100) == b"":
                    closed_at = time.monotonic()
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed_at = time.monotonic()
                break
    finally:
        s.close()
    assert closed_at is not None, "a request dribbled over %ss was never cut" % REQUEST_TIMEOUT_S
    assert REQUEST_TIMEOUT_S - 1 <= closed_at - start <= limit, closed_at - start


def test_idle_connections_do_not_starve_healthz(admin):
    """Every slot held by connections that send nothing (no token is needed to connect):
    /healthz still answers while they are held (the oldest idle one gives up its slot), so
    a liveness probe does not restart the gateway. Before: the new connection was closed."""
    socks = []
    try:
        for _ in range(64):  # IG_ADMIN_MAX_CONNS
            socks.append(socket.create_connection((admin.host, admin.port), timeout=5))
        # the listener's queue is FIFO: each probe is accepted after all 64
        for i in range(3):
            st, _, body = admin.get("/healthz", auth=False)
            assert st == 200, (i, st, body)
        # the evicted ones are the oldest: the first connection opened is closed
        socks[0].settimeout(5)
        try:
            assert socks[0].recv(10) == b""
        except ConnectionResetError:
            pass
        # and the newest idle ones still hold their slots
        socks[-1].setblocking(False)
        try:
            socks[-1].recv(10)
            assert False, "the newest idle connection was closed"
        except BlockingIOError:
            pass
    finally:
        for s in socks:
            s.close()


def test_many_connections_then_still_serving(admin):
    socks = []
    try:
        for _ in range(100):  # over IG_ADMIN_MAX_CONNS: the oldest idle ones are closed
            socks.append(socket.create_connection((admin.host, admin.port), timeout=5))
        time.sleep(0.2)
    finally:
        for s in socks:
            s.close()
    assert wait_for(admin.healthy, 5)
    errors = []

    def hammer():
        try:
            for _ in range(20):
                st = admin.get("/metrics")[0]
                if st != 200:
                    errors.append(st)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


# ---------------------------------------------------------------------------------------
# Standalone only: exact values, hooks, start errors


def test_driver_values(driver):
    s, _ = driver.metrics()
    assert s[("importgate_connections_total", frozenset())] == 7
    assert s[("importgate_connections_active", frozenset())] == 2
    assert imports(s, "enforce", "reject", "no-imports") == 1
    assert imports(s, "dry-run", "add-disable-precheck") == 2
    assert imports(s, "enforce", "reject", 'odd "rule"\\') == 1  # escaped, read back exactly
    assert imports(s, "enforce", "pass") == 0
    h = "importgate_query_duration_seconds"
    q = [s[(h + "_bucket", frozenset({("command", "query"), ("le", le)}))] for le in FAST_BUCKETS]
    assert q == [0] + [1] * 16, q
    assert hist_count(s, h, command="stmt_execute") == 1
    assert s[(h + "_bucket", frozenset({("command", "stmt_execute"), ("le", "0.0025")}))] == 0
    assert s[(h + "_bucket", frozenset({("command", "stmt_execute"), ("le", "0.005")}))] == 1
    assert abs(s[(h + "_sum", frozenset({("command", "stmt_execute")}))] - 0.003) < 1e-9
    assert s[("importgate_obligations_oldest_unfinished_age_seconds", frozenset())] > 1.7e9
    assert s[("importgate_connections_active", frozenset())] == 2
    assert s[("importgate_backend_connect_failures_total", frozenset({("backend", "127.0.0.1:4000")}))] == 2
    assert s[("importgate_backend_connections", frozenset({("backend", "127.0.0.1:4000")}))] == 4
    # Never read: the cluster state's age counts from the process's start.
    started = s[("process_start_time_seconds", frozenset())]
    assert 0 <= s[("importgate_cluster_state_age_seconds", frozenset())] <= time.time() - started + 5
    assert s[("importgate_bytes_relayed_total", frozenset({("direction", "client_to_backend")}))] == 1000
    assert s[("importgate_build_info", frozenset({("version", "test")}))] == 1
    h = "importgate_cluster_state_read_seconds"
    cum = [s[(h + "_bucket", frozenset({("le", le)}))] for le in BUCKETS]
    # 0.5 ms, 3 ms, 1.5 s, 5 s
    assert cum == [1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 4]
    assert s[(h + "_count", frozenset())] == 4
    assert abs(s[(h + "_sum", frozenset())] - 6.5035) < 1e-6
    # Label values are escaped so that the odd backend name reads back exactly.
    assert s[("importgate_backend_up", frozenset({("backend", "127.0.0.1:4000")}))] == 1
    assert s[("importgate_backend_up", frozenset({("backend", 'tidb-"1"\\x\n:4000')}))] == 0


def test_driver_hooks(driver):
    st, hdr, body = driver.get("/api/v1/status")
    assert st == 200 and hdr["content-type"] == "application/json"
    assert json.loads(body) == {"driver": True}
    st, _, body = driver.post("/api/v1/explain", b"abc")
    assert st == 200 and json.loads(body) == {"received": 3, "bytesum": 294}
    assert driver.post("/api/v1/explain", b"bad")[0] == 422  # the hook's own status
    st, _, body = driver.post("/api/v1/explain", b"null")  # the hook failed
    assert st == 500 and json.loads(body)["error"]
    before = driver.value("importgate_config_reloads_total", result="ok")
    st, _, body = driver.post("/api/v1/reload")
    assert st == 200 and json.loads(body) == {"ok": True}
    assert driver.value("importgate_config_reloads_total", result="ok") == before + 1
    # coverage gets the query string as sent (still percent-encoded), without '?' or fragment
    st, _, body = driver.get("/api/v1/coverage?table=a.%60b%60&user=x+y#frag")
    assert st == 200 and bytes.fromhex(json.loads(body)["query_hex"]) == b"table=a.%60b%60&user=x+y"
    st, _, body = driver.get("/api/v1/coverage")
    assert st == 200 and json.loads(body)["query_hex"] == ""
    st, hdr, _ = driver.post("/api/v1/coverage", b"")
    assert st == 405 and hdr["allow"] == "GET, HEAD"
    assert driver.get("/api/v1/coverage?table=a.b", auth=False)[0] == 401
    # no dismiss hook in this driver: the endpoint exists but is not available
    assert driver.post("/api/v1/obligations/dismiss", b"{}")[0] == 503


def test_driver_healthz_503_when_not_serving(driver):
    assert driver.healthy()
    open(os.path.join(driver.workdir, "unhealthy"), "w").close()
    st, _, body = driver.get("/healthz", auth=False)
    assert (st, body) == (503, b"shutting down\n")
    os.unlink(os.path.join(driver.workdir, "unhealthy"))
    assert driver.healthy()


def test_slow_hook_blocks_neither_metrics_nor_healthz(driver):
    """/healthz and /metrics answer while a hook runs: the hook blocks until the test
    releases it (event order, no wall-clock window)."""
    result = {}

    def slow():
        result["explain"] = driver.post("/api/v1/explain", b"block", timeout=90)

    t = threading.Thread(target=slow)
    t.start()
    try:
        assert wait_for(lambda: os.path.exists(os.path.join(driver.workdir, "hook-running")), 30)
        assert driver.healthy()
        assert driver.get("/metrics")[0] == 200
        assert t.is_alive(), "the blocked hook answered before it was released"
    finally:
        open(os.path.join(driver.workdir, "hook-release"), "w").close()
        t.join(90)
    assert result["explain"][0] == 200


def test_client_gone_while_its_hook_runs(admin_driver_bin, tmp_path):
    """A client that disconnects while its hook runs on the thread pool (a dismissal waiting
    for a busy obligations thread, issue 20's chaos run) must not free the connection under
    the hook: the hook writes its answer into it (heap-use-after-free under ASan). The
    driver then still serves, and stops without a sanitizer report."""
    a = start_driver(admin_driver_bin, str(tmp_path / "drv"))
    try:
        body = b"block"
        req = ("POST /api/v1/explain HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Length: %d\r\n\r\n" % (a.token, len(body))).encode("latin-1") + body
        s = socket.create_connection((a.host, a.port), timeout=10)
        s.sendall(req)
        assert wait_for(lambda: os.path.exists(os.path.join(a.workdir, "hook-running")), 30), \
            s.recv(4096)
        s.close()  # gone while the hook runs
        time.sleep(0.2)  # let the loop see the EOF before the hook returns (order, not timing)
        open(os.path.join(a.workdir, "hook-release"), "w").close()
        assert wait_for(lambda: a.get("/metrics")[0] == 200, 30)
    finally:
        stop_driver(a)  # fails the test on a sanitizer report or an abnormal exit


def test_stop_while_a_hook_runs(admin_driver_bin, tmp_path):
    a = start_driver(admin_driver_bin, str(tmp_path / "drv"))
    outcome = []

    def slow():
        try:
            outcome.append(a.post("/api/v1/explain", b"block", timeout=90)[0])
        except (http.client.HTTPException, ConnectionError) as e:
            outcome.append(type(e).__name__)

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    # the hook runs (an event, not a sleep); it returns once the stop closed the listener
    assert wait_for(lambda: os.path.exists(os.path.join(a.workdir, "hook-running")), 30)
    stop_driver(a)  # waits for the running hook, exits 0, no sanitizer report
    t.join(30)
    # Stopping closes the connection whose hook was running, without an answer.
    assert outcome == ["RemoteDisconnected"], outcome


def test_hooks_take_the_pool_one_at_a_time(admin_driver_bin, tmp_path):
    """attack24: the hooks share libuv's pool with the sessions' decisions, so the admin API
    runs one at a time: a second request waits while the first hook blocks (it has not
    started: no second hook-running), is answered once the first ends, and a stop while one
    waits closes it without a sanitizer report."""
    a = start_driver(admin_driver_bin, str(tmp_path / "drv"))
    running = os.path.join(a.workdir, "hook-running")
    outcome = []

    def call(body):
        try:
            outcome.append(a.post("/api/v1/explain", body, timeout=90)[0])
        except (http.client.HTTPException, ConnectionError) as e:
            outcome.append(type(e).__name__)

    first = threading.Thread(target=call, args=(b"block",), daemon=True)
    first.start()
    assert wait_for(lambda: os.path.exists(running), 30)
    os.unlink(running)
    second = threading.Thread(target=call, args=(b"block",), daemon=True)
    second.start()
    time.sleep(0.5)  # were the hooks run side by side, the second would be running by now
    assert not os.path.exists(running), "a second hook ran while the first held the pool"
    assert second.is_alive() and first.is_alive()
    stop_driver(a)  # the first finishes, the waiting one is closed; exits 0, no sanitizer report
    first.join(30)
    second.join(30)
    assert sorted(outcome) == ["RemoteDisconnected", "RemoteDisconnected"], outcome


def test_status_is_not_held_up_by_another_hook(admin_driver_bin, tmp_path):
    """attack24: the status has a lane of its own: while another hook blocks (a dismissal
    waiting up to 30 s for a busy obligations thread), monitoring still gets its answer."""
    a = start_driver(admin_driver_bin, str(tmp_path / "drv"))
    outcome = []

    def slow():
        try:
            outcome.append(a.post("/api/v1/explain", b"block", timeout=90)[0])
        except (http.client.HTTPException, ConnectionError) as e:
            outcome.append(type(e).__name__)

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    try:
        assert wait_for(lambda: os.path.exists(os.path.join(a.workdir, "hook-running")), 30)
        assert a.get("/api/v1/status", timeout=20)[0] == 200
        assert t.is_alive(), "the blocked hook answered before it was released"
    finally:
        open(os.path.join(a.workdir, "hook-release"), "w").close()
        t.join(90)
        stop_driver(a)
    assert outcome == [200], outcome


def test_waiting_hooks_are_bounded(admin_driver_bin, tmp_path):
    """attack24: a hook waiting for its turn keeps its connection; at most 8 wait (the 64
    connections stay for /healthz and /metrics), the next gets 503 at once."""
    a = start_driver(admin_driver_bin, str(tmp_path / "drv"))
    outcome = []

    def call():
        try:
            outcome.append(a.post("/api/v1/explain", b"block", timeout=90)[0])
        except (http.client.HTTPException, ConnectionError) as e:
            outcome.append(type(e).__name__)

    threads = [threading.Thread(target=call, daemon=True)]
    threads[0].start()
    assert wait_for(lambda: os.path.exists(os.path.join(a.workdir, "hook-running")), 30)
    for _ in range(8):
        threads.append(threading.Thread(target=call, daemon=True))
        threads[-1].start()
    time.sleep(0.5)  # the eight are in the queue by now
    assert outcome == [], outcome
    assert a.post("/api/v1/explain", b"block", timeout=30)[0] == 503
    assert a.healthy() and a.get("/metrics")[0] == 200
    stop_driver(a)
    for t in threads:
        t.join(30)
    assert outcome == ["RemoteDisconnected"] * 9, outcome


def test_no_token_configured(admin_driver_bin, tmp_path):
    a = start_driver(admin_driver_bin, str(tmp_path / "drv"), token=False)
    try:
        assert a.get("/metrics")[0] == 200
        assert a.get("/metrics", headers={"Authorization": "Bearer anything"})[0] == 200
    finally:
        stop_driver(a)


@pytest.mark.parametrize("content,needle", [("", "empty"), ("\n  \n", "empty"),
                                            ("two\nlines", "one line"), (None, "No such file")])
def test_driver_refuses_bad_token_file(admin_driver_bin, tmp_path, content, needle):
    path = str(tmp_path / "tok")
    if content is not None:
        with open(path, "w") as f:
            f.write(content)
    r = subprocess.run([admin_driver_bin, str(ports.free_port()), path, str(tmp_path)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 3 and needle in r.stderr, (r.returncode, r.stderr)


def test_driver_refuses_port_in_use(admin_driver_bin, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = subprocess.run([admin_driver_bin, str(port), "", str(tmp_path)],
                           capture_output=True, text=True, timeout=20)
    assert r.returncode == 3 and "address already in use" in r.stderr, r.stderr


# ---------------------------------------------------------------------------------------
# Gateway only: counters that move with traffic, the /api/v1 hooks

DENY_ALL = {"policy": {"rules": [{"name": "no-imports", "users": ".*", "tables": ["*.*"],
                                  "action": "deny"}]}}
IMPORT_SQL = "IMPORT INTO igtest.t FROM 's3://bucket/t.csv'"


@pytest.fixture
def gw_admin(gateway_factory, tmp_path):
    return gateway_admin(gateway_factory, str(tmp_path / "adm"), extra=DENY_ALL)


@pytest.mark.gateway_only
def test_connections_and_bytes_are_counted(gw_admin):
    a = gw_admin
    before = a.value("importgate_connections_total")
    c2b = a.value("importgate_bytes_relayed_total", direction="client_to_backend")
    b2c = a.value("importgate_bytes_relayed_total", direction="backend_to_client")
    n = 5
    conns = [clients.connect(a.gw, *NATIVE) for _ in range(n)]
    try:
        for c in conns:
            assert clients.query_one(c, "SELECT 1") == (1,)
        assert a.value("importgate_connections_total") >= before + n
        assert a.value("importgate_connections_active") >= n
    finally:
        for c in conns:
            c.close()
    assert wait_for(lambda: a.value("importgate_connections_active") == 0, 10)
    assert a.value("importgate_bytes_relayed_total", direction="client_to_backend") > c2b
    assert a.value("importgate_bytes_relayed_total", direction="backend_to_client") > b2c
    assert a.value("importgate_statements_total", **{"class": "quick"}) >= n


@pytest.mark.gateway_only
def test_rejected_import_is_counted(gw_admin):
    a = gw_admin
    rejected = dict(mode="enforce", verdict="reject", rule="no-imports")
    before = a.metrics()[0].get(("importgate_imports_total", frozenset(rejected.items())), 0)
    inspected = a.value("importgate_statements_total", **{"class": "inspected"})
    c = clients.connect(a.gw, *NATIVE)
    try:
        with pytest.raises(pymysql.err.MySQLError) as ei:
            clients.query_one(c, IMPORT_SQL)
        assert ei.value.args[0] == PRECHECK, ei.value.args
    finally:
        c.close()
    assert a.value("importgate_imports_total", **rejected) == before + 1
    assert a.value("importgate_imports_total", mode="enforce", verdict="pass", rule="(defaults)") == 0
    assert a.value("importgate_imports_total", mode="dry-run", verdict="reject", rule="(defaults)") == 0
    assert a.value("importgate_statements_total", **{"class": "inspected"}) >= inspected + 1


@pytest.mark.gateway_only
def test_backend_up(gw_admin):
    addr = gw_admin.gw.config["backends"]["servers"][0]
    assert wait_for(lambda: gw_admin.value("importgate_backend_up", backend=addr) == 1, 10)


@pytest.mark.gateway_only
def test_status_json(gw_admin):
    st, hdr, body = gw_admin.get("/api/v1/status")
    assert st == 200 and hdr["content-type"] == "application/json"
    doc = json.loads(body)
    assert isinstance(doc, dict) and "backends" in doc, doc


@pytest.mark.gateway_only
def test_explain_a_denied_import(gw_admin):
    req = {"user": NATIVE[0], "host": "127.0.0.1", "db": "igtest",
           "statement": "IMPORT INTO t FROM 's3://bucket/t.csv'"}
    def counted():
        return sum(v for (n, _), v in gw_admin.metrics()[0].items() if n == "importgate_imports_total")
    before = counted()
    st, _, body = gw_admin.post("/api/v1/explain", json.dumps(req).encode(),
                                headers={"Content-Type": "application/json"})
    assert st == 200, body
    doc = json.loads(body)
    assert doc["verdict"] == "reject", doc
    # Explaining is not deciding: nothing was counted.
    assert counted() == before
    st, _, body = gw_admin.post("/api/v1/explain", b"{not json")
    assert st == 400 and "error" in json.loads(body)


@pytest.mark.gateway_only
def test_reload_names_the_keys_that_need_a_restart(gw_admin):
    """issue 16: a reload that changes keys read only at start says which, in its answer and
    in the log; live keys (log.level) are not listed; nothing changed lists nothing."""
    a = gw_admin
    st, _, body = a.post("/api/v1/reload")
    assert st == 200 and json.loads(body)["restart_required"] == [], body
    cfg = dict(a.gw.config)
    obl = dict(cfg.get("obligations") or {})
    obl["poll_ms"] = 1234
    obl["executors"] = 3
    cfg["obligations"] = obl
    cfg["log"] = dict(cfg.get("log") or {}, level="info")
    a.gw.config = cfg
    a.gw.write_config()
    st, _, body = a.post("/api/v1/reload")
    doc = json.loads(body)
    assert st == 200 and doc["ok"] is True, body
    assert doc["restart_required"] == ["obligations.poll_ms", "obligations.executors"], doc
    assert wait_for(lambda: "reload: obligations.poll_ms, obligations.executors changed; the running "
                            "values stay until a restart" in a.gw.stderr_text())


@pytest.mark.gateway_only
def test_reload_ok_then_refused(gw_admin):
    a = gw_admin
    ok_before = a.value("importgate_config_reloads_total", result="ok")
    st, _, body = a.post("/api/v1/reload")
    assert st == 200 and json.loads(body)["ok"] is True, body
    assert a.value("importgate_config_reloads_total", result="ok") == ok_before + 1
    with open(a.gw.config_path, "a") as f:
        f.write("\nworkers: [this is not a number\n")
    err_before = a.value("importgate_config_reloads_total", result="error")
    st, _, body = a.post("/api/v1/reload")
    doc = json.loads(body)
    assert st != 200 and doc["ok"] is False and doc["error"], (st, doc)
    assert a.value("importgate_config_reloads_total", result="error") == err_before + 1
    c = clients.connect(a.gw, *NATIVE)  # the old configuration still serves
    try:
        assert clients.query_one(c, "SELECT 2") == (2,)
    finally:
        c.close()
