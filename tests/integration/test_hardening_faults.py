"""test_hardening_faults.py - issue 7, backend faults: the backend killed mid-query,
mid-result, mid-handshake and during a LOAD DATA LOCAL exchange (clients get an error or a
close promptly, the gateway keeps serving and leaks no fd), and a SIGSTOPped backend (new
connections fail within backends.connect_timeout_ms / timeouts.handshake_ms, the health check
marks it down in /metrics, and new connections then go to the healthy backend).

The "backend" that is killed or stopped is a socat relay (its own process group) in front of
the session MariaDB, so MariaDB itself is never disturbed. There is no per-query timeout: a
client in the middle of a query on a stopped backend waits, as with MySQL; that is not tested.
etcd faults are in test_policy_unavailable.py (killed, hung); a PD answering garbage is here."""

import http.server
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request

import pymysql
import pytest

from harness import clients, ports, rawproto, timing
from harness.mariadb import ADMIN, NATIVE

pytestmark = pytest.mark.gateway_only

CONNECT_MS = 1000
HANDSHAKE_MS = 2000
CLIENT_LOCAL_FILES = 0x80


class Relay:
    """socat TCP relay to (host, port); kill() and stop() act on its whole process group."""

    def __init__(self, host, port):
        if shutil.which("socat") is None:
            pytest.skip("socat not installed")
        self.port = ports.free_port()
        self.proc = subprocess.Popen(
            ["socat", "TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr,backlog=128" % self.port,
             "TCP:%s:%d" % (host, port)], start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not ports.wait_port("127.0.0.1", self.port, 10):
            raise RuntimeError("socat did not listen")

    def signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self):
        self.signal(signal.SIGKILL)
        self.proc.wait(10)

    def close(self):
        self.signal(signal.SIGCONT)
        self.kill()


@pytest.fixture
def relay(mariadb):
    made = []

    def make():
        r = Relay(mariadb.host, mariadb.port)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def fds(gw):
    return len(os.listdir("/proc/%d/fd" % gw.proc.pid))


def settle_fds(gw, target, timeout=10.0):
    """Waits (up to `timeout` s, scaled for sanitizer builds) for the gateway's fd count to
    drop to `target`; returns the count."""
    deadline = time.monotonic() + timing.bound(timeout)
    while fds(gw) > target and time.monotonic() < deadline:
        time.sleep(0.1)
    return fds(gw)


def relay_gw(gateway_factory, r, **extra):
    cfg = {"backends": {"servers": ["127.0.0.1:%d" % r.port], "connect_timeout_ms": CONNECT_MS,
                        "health_interval_ms": 0},
           "timeouts": {"handshake_ms": HANDSHAKE_MS}}
    for k, v in extra.items():
        cfg.setdefault(k, {}).update(v)
    return gateway_factory(cfg)


def assert_serving_direct(gateway_factory, mariadb):
    """A fresh gateway straight to MariaDB still works (the session MariaDB is fine)."""
    c = clients.connect(gateway_factory(), *NATIVE)
    try:
        assert clients.query_one(c, "SELECT 1") == (1,)
    finally:
        c.close()


# ---------------------------------------------------------------- backend killed


def test_backend_killed_mid_query(gateway_factory, relay, mariadb):
    r = relay()
    gw = relay_gw(gateway_factory, r)
    idle = fds(gw)
    c = clients.connect(gw, *NATIVE, read_timeout=180)
    conn_id = clients.query_one(c, "SELECT CONNECTION_ID()")[0]
    got = {}

    def run():
        try:
            clients.query_one(c, "SELECT SLEEP(120)")
            got["result"] = "answered"
        except pymysql.err.MySQLError as e:
            got["result"] = e
        got["end"] = time.monotonic()
    t = threading.Thread(target=run)
    t.start()
    # the SLEEP runs at the backend (an event, not a guess), then the backend dies
    assert timing.wait_for(lambda: "SLEEP" in str(mariadb.admin_query(
        "SELECT INFO FROM information_schema.PROCESSLIST WHERE ID=%s", (conn_id,))), 30)
    r.kill()
    killed = time.monotonic()
    t.join(150)
    assert not t.is_alive()
    assert isinstance(got["result"], pymysql.err.OperationalError), got
    # The error comes from the kill, not the 120 s sleep's end: a generous bound after it.
    assert got["end"] - killed < timing.bound(15), got["end"] - killed
    c.close()
    assert settle_fds(gw, idle) <= idle
    assert gw.alive()


def test_backend_killed_mid_result(gateway_factory, relay):
    """A streamed result of ~100 MB (many times what the socket buffers between backend and
    client hold; 400 MB took most of this test's time to materialise): a few rows read, the
    backend killed, the rest ends in an error (not a hang, not a silently short result)."""
    r = relay()
    gw = relay_gw(gateway_factory, r)
    idle = fds(gw)
    # MariaDB materialises the recursive CTE before its first row: ~15-20 s on a busy 2-core
    # machine, so a 20 s read_timeout failed there (issue 14). A hang after the kill is still
    # caught by the bound below, which is far shorter than this timeout.
    c = clients.connect(gw, *NATIVE, cursorclass=pymysql.cursors.SSCursor, read_timeout=180)
    cur = c.cursor()
    cur.execute("SET SESSION max_recursive_iterations = 10000000")  # MariaDB's default: 1000
    cur.execute("WITH RECURSIVE q(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM q "
                "WHERE n < 500000) SELECT n, REPEAT('x', 200) FROM q")
    assert cur.fetchone()[0] == 1
    r.kill()
    t0 = time.monotonic()
    with pytest.raises(pymysql.err.OperationalError):
        n = 1
        while cur.fetchone() is not None:
            n += 1
        pytest.fail("result ended normally after %d rows though the backend was killed" % n)
    assert time.monotonic() - t0 < timing.bound(15)
    # PyMySQL's unbuffered result drains the socket when collected; that socket is gone.
    for res in (getattr(cur, "_result", None), getattr(c, "_result", None)):
        if res is not None:
            res.unbuffered_active = False
    c.close()
    assert settle_fds(gw, idle) <= idle
    assert gw.alive()


def test_backend_killed_mid_handshake(gateway_factory, relay):
    """Greeting received (the backend leg is up), backend killed, then the client answers:
    an error or a close within the handshake deadline."""
    r = relay()
    gw = relay_gw(gateway_factory, r)
    idle = fds(gw)
    c = rawproto.RawConn(gw.host, gw.port)
    _, g = c.read_greeting()
    r.kill()
    time.sleep(0.2)
    try:
        c.send_packet(rawproto.handshake_response(NATIVE[0], NATIVE[1], g["salt"]), 1)
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = c.outcome(HANDSHAKE_MS / 1000.0 + timing.bound(10))  # generous: late, not hung
    c.close()
    assert out == "closed" or out[0] == "error", out
    assert settle_fds(gw, idle) <= idle
    assert gw.alive()


@pytest.fixture
def load_table(mariadb):
    c = pymysql.connect(host=mariadb.host, port=mariadb.port, user=ADMIN[0], password=ADMIN[1],
                        database="igtest", autocommit=True)
    with c.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS h13_load (a INT, b VARCHAR(32))")
    yield "h13_load"
    with c.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS h13_load")
    c.close()


def test_backend_killed_during_load_data_local(gateway_factory, relay, load_table):
    """The server asked for the file; the client is sending it when the backend dies: the
    client gets an error or a close within a bound, even while it keeps sending."""
    r = relay()
    gw = relay_gw(gateway_factory, r)
    idle = fds(gw)
    c = rawproto.RawConn(gw.host, gw.port)
    _, g = c.read_greeting()
    caps = (rawproto.CLIENT_LONG_PASSWORD | rawproto.CLIENT_PROTOCOL_41 |
            rawproto.CLIENT_TRANSACTIONS | rawproto.CLIENT_SECURE_CONNECTION |
            rawproto.CLIENT_MULTI_RESULTS | rawproto.CLIENT_PLUGIN_AUTH | CLIENT_LOCAL_FILES)
    c.send_packet(rawproto.handshake_response(NATIVE[0], NATIVE[1], g["salt"], "igtest", caps), 1)
    _, p = c.read_packet()
    assert p[:1] == b"\x00", p
    c.send_packet(b"\x03LOAD DATA LOCAL INFILE 'rows.csv' INTO TABLE %s FIELDS TERMINATED BY ','"
                  % load_table.encode(), 0)
    seq, p = c.read_packet()
    assert p[:1] == b"\xfb", p  # LOCAL INFILE request
    chunk = b"".join(b"%d,row%d\n" % (i, i) for i in range(2000))
    seq += 1
    c.send_packet(chunk, seq)
    r.kill()
    try:
        for _ in range(50):
            seq += 1
            c.send_packet(chunk, seq)
            time.sleep(0.01)
        c.send_packet(b"", seq + 1)
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = c.outcome(timing.bound(10))  # "timeout" when the gateway hung: a failure below
    c.close()
    assert out == "closed" or out[0] == "error", out
    assert settle_fds(gw, idle) <= idle
    assert gw.alive()


# ---------------------------------------------------------------- backend stopped


def metrics(gw):
    url = "http://%s/metrics" % gw.config["admin"]["listen"]
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def backend_up(gw, addr):
    for ln in metrics(gw).splitlines():
        if ln.startswith("importgate_backend_up{") and '"%s"' % addr in ln:
            return int(float(ln.split()[-1]))
    raise AssertionError("no importgate_backend_up for %s in /metrics" % addr)


def test_stopped_backend_new_connections_fail_within_timeouts(gateway_factory, relay):
    """Only backend SIGSTOPped: TCP still connects (the kernel's backlog) but no greeting comes.
    A new client is refused within connect_timeout_ms + handshake_ms (plus slack), never left
    waiting; after SIGCONT the backend serves again."""
    r = relay()
    gw = relay_gw(gateway_factory, r)
    r.signal(signal.SIGSTOP)
    # refused after connect_timeout_ms + handshake_ms; generous for a busy machine (issue 14)
    bound = (CONNECT_MS + HANDSHAKE_MS) / 1000.0 + timing.bound(10)
    for _ in range(3):
        t0 = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError):
            # the client would wait far longer than the bound: a missing refusal is a failure
            clients.connect(gw, *NATIVE, connect_timeout=300, read_timeout=300)
        assert time.monotonic() - t0 < bound, time.monotonic() - t0
    r.signal(signal.SIGCONT)
    c = clients.connect(gw, *NATIVE)
    try:
        assert clients.query_one(c, "SELECT 'back'") == ("back",)
    finally:
        c.close()


def test_stopped_backend_marked_down_and_avoided(gateway_factory, relay, mariadb):
    """Two backends, one SIGSTOPped: the health check (interval 200 ms, timeout 500 ms) sets
    importgate_backend_up to 0 for it within a bound, every new connection then lands on the
    healthy one, and after SIGCONT it is marked up again."""
    r = relay()
    admin_port = ports.free_port()
    # A new connection sent to the stopped backend would wait handshake_ms for its greeting:
    # long here, so that one that does not wait is told apart from it by far (issue 14: a
    # 1 s window for "did not wait" was a wall-clock window).
    handshake_s = timing.bound(10)
    gw = gateway_factory({"backends": {"servers": ["127.0.0.1:%d" % r.port,
                                                   "127.0.0.1:%d" % mariadb.port],
                                       "connect_timeout_ms": CONNECT_MS,
                                       "health_interval_ms": 200, "health_timeout_ms": 500},
                          "timeouts": {"handshake_ms": int(handshake_s * 1000)},
                          "admin": {"listen": "127.0.0.1:%d" % admin_port}})
    # the admin listener is opened by its own thread: waited for, not assumed
    assert ports.wait_port("127.0.0.1", admin_port, timing.bound(10)), "admin port never accepted"
    stopped = "127.0.0.1:%d" % r.port
    assert timing.wait_for(lambda: backend_up(gw, stopped) == 1, 10), "never marked up"
    r.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    # waited for with a generous bound (issue 14), not asserted inside a window
    while backend_up(gw, stopped) != 0 and time.monotonic() - t0 < timing.bound(10):
        time.sleep(0.05)
    assert backend_up(gw, stopped) == 0, "not marked down %.1f s after SIGSTOP" % (time.monotonic() - t0)
    conns = []
    try:
        for _ in range(6):
            t1 = time.monotonic()
            c = clients.connect(gw, *NATIVE, connect_timeout=300, read_timeout=300)
            conns.append(c)
            assert time.monotonic() - t1 < handshake_s / 2, "waited for the stopped backend"
            assert clients.query_one(c, "SELECT @@port")[0] == mariadb.port
    finally:
        for c in conns:
            c.close()
    r.signal(signal.SIGCONT)
    assert timing.wait_for(lambda: backend_up(gw, stopped) == 1, 10), \
        "not marked up again after SIGCONT"


# ---------------------------------------------------------------- PD answering garbage


class _GarbageHandler(http.server.BaseHTTPRequestHandler):
    bodies = [(200, b"{not json"), (200, b'{"kvs": [{"key": "!!!", "value": "%%%"}], "count": "x"}'),
              (200, b"\x00\xff" * 64), (200, b'{"header": {}, "kvs": "no list"}'),
              (503, b'{"error": "etcdserver: leader changed", "code": 14}'), (404, b"")]

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.bodies[self.server.hits % len(self.bodies)]
        self.server.hits += 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_pd_answering_garbage_is_state_unavailable(gateway_factory, tmp_path):
    """PD (etcd gateway) answers 200 with bodies that are not etcd range responses, or an
    error status: the decision is on_state_unavailable (reject here: error 8173) within cluster.timeout_ms, for
    every kind of garbage, and the gateway stays up."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _GarbageHandler)
    srv.hits = 0
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        gw = gateway_factory({"cluster": {"pd": ["http://127.0.0.1:%d" % srv.server_port],
                                          "timeout_ms": 1000},
                              "policy": {"on_state_unavailable": "reject"}})
        c = clients.connect(gw, *NATIVE, db="igtest")
        messages = []
        try:
            for _ in range(len(_GarbageHandler.bodies)):
                t0 = time.monotonic()
                with pytest.raises(pymysql.err.MySQLError) as e:
                    clients.query_one(c, "IMPORT INTO t FROM 's3://b/t.csv'")
                assert e.value.args[0] == 8173, e.value
                assert time.monotonic() - t0 < 1.0 + timing.bound(10)  # answered, not hung
                messages.append(e.value.args[1])
            # an error status is quoted with its text (the order of answers is the server's)
            assert any("HTTP 503" in m and "leader changed" in m for m in messages) or \
                "HTTP 503" in gw.stderr_text(), messages
            assert clients.query_one(c, "SELECT 'still'") == ("still",)
        finally:
            c.close()
        assert srv.hits >= len(_GarbageHandler.bodies)
    finally:
        srv.shutdown()
        srv.server_close()
    assert gw.alive()


def test_closing_session_bounded_when_client_stops_reading(gateway_factory, relay):
    """The backend ends (here: killed) after sending a large result that the client has
    stopped reading: the gateway gives the client timeouts.handshake_ms to take what is queued
    for it, then frees the session (two fds), although the client keeps its socket open. (A
    write queue large enough for the whole result keeps the gateway reading the backend, so it
    sees the end.)"""
    r = relay()
    gw = relay_gw(gateway_factory, r, timeouts={"handshake_ms": 1500},
                  limits={"write_queue_bytes": 64 << 20})
    time.sleep(0.5)  # the harness's port probe has been freed
    idle = fds(gw)
    c, _ = rawproto.login(gw.host, gw.port, *NATIVE, db="igtest", timeout=30)
    try:
        c.send_packet(b"\x03SELECT n, REPEAT('x', 1048576) FROM seq WHERE n <= 30", 0)
        time.sleep(2.0)  # the whole answer is in: kernel buffers full, the rest queued
        r.kill()
        deadline = time.monotonic() + timing.bound(5)
        while "closed the connection" not in gw.stderr_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "closed the connection" in gw.stderr_text()
        assert fds(gw) > idle  # still holding the session: the client has not read
        assert settle_fds(gw, idle, timeout=6.0) <= idle, "the closing session was never freed"
        assert "did not take its last bytes" in gw.stderr_text()
    finally:
        c.close()
    assert gw.alive()
