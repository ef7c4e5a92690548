"""The command phase's timeouts: timeouts.idle_ms closes a session with nothing in flight and
nothing moving for that long, never one whose command is still running; timeouts.response_ms
fails a command whose backend stopped answering (SIGSTOP: its kernel still acknowledges, so
TCP alone never notices) with 2013 naming the backend, and leaves IMPORT INTO alone, which
TiDB answers only when a synchronous import ends.

No test here asserts a wall-clock window: each waits for the event it expects (an error, a
log line) with a generous bound, and the timeouts that must not fire are scaled for slow
builds (harness/timing.py: ThreadSanitizer, ASan). A timer must never fire early, so lower
bounds stay exact."""

import os
import signal
import time

import pymysql
import pytest

from harness import clients, rawproto, timing
from harness.mariadb import NATIVE
from policy_helpers import Received, connect, etcd, run, tidb_double  # noqa: F401
from test_hardening_faults import fds, relay, relay_gw, settle_fds  # noqa: F401

pytestmark = pytest.mark.gateway_only


def test_idle_timeout_spares_running_commands(gateway_factory):
    # seconds; scaled so that a slow build's (or a busy machine's) own pauses stay far shorter:
    # nothing here sleeps inside the window, a test that paused half of idle_ms and then
    # expected the session alive was a wall-clock window (issue 14)
    idle = 1.5 * timing.scale()
    gw = gateway_factory({"timeouts": {"idle_ms": int(idle * 1000)}})
    c = clients.connect(gw, *NATIVE)
    try:
        # a command running longer than idle_ms is not idleness
        assert clients.query_one(c, "SELECT SLEEP(%.2f)" % (idle * 1.3)) == (0,)
        # nor is the moment right after its answer: idleness counts from the last byte
        assert clients.query_one(c, "SELECT 'right after'") == ("right after",)
        # then nothing: the gateway closes the session and says why (waited for, not timed)
        assert timing.wait_for(lambda: "idle timeout" in gw.stderr_text(), idle + 10), \
            gw.stderr_text()[-2000:]
        with pytest.raises(pymysql.err.OperationalError):
            c.ping(reconnect=False)
    finally:
        c.close()
    assert gw.alive()


def test_stopped_backend_fails_the_waiting_command_within_response_ms(gateway_factory, relay):
    """The stopped backend's command fails with 2013 naming response_ms, not before the bound
    and not never: the client waits far longer (read_timeout) than the generous upper bound,
    so a missing timeout shows as the wrong error, a slow machine as a later right one."""
    r = relay()
    response_ms = int(2000 * timing.scale())  # a slow build's answers stay well inside it
    limit = response_ms / 1000 + timing.bound(10)
    gw = relay_gw(gateway_factory, r, timeouts={"response_ms": response_ms})
    idle = idle_fds(gw)
    c = clients.connect(gw, *NATIVE, read_timeout=int(limit) + 60)
    try:
        # a command answered inside response_ms (a fifth of it: the rest is margin for a
        # busy machine's relay and gateway) is not failed
        assert clients.query_one(c, "SELECT SLEEP(%.2f)" % (response_ms / 5000)) == (0,)
        r.signal(signal.SIGSTOP)
        t0 = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as e:
            clients.query_one(c, "SELECT 2")
        took = time.monotonic() - t0
    finally:
        c.close()
        r.signal(signal.SIGCONT)
    assert e.value.args[0] == 2013, e.value
    assert "lost the backend 127.0.0.1:%d" % r.port in e.value.args[1], e.value
    assert "no answer for %d ms (timeouts.response_ms)" % response_ms in e.value.args[1], e.value
    assert response_ms / 1000 - 0.1 <= took < limit, took
    c = clients.connect(gw, *NATIVE)
    try:
        assert clients.query_one(c, "SELECT 'after'") == ("after",)
    finally:
        c.close()
    assert settle_fds(gw, idle) <= idle, fd_targets(gw)


def idle_fds(gw):
    """The gateway's fd count once it has started: its port accepts as soon as the first
    worker listens, the other workers' loops (epoll, pipes, eventfd, listener) come after;
    main.c logs "listening on" when all of them are up. Counting earlier made the count
    after the test look like a leak under ThreadSanitizer (issue 14)."""
    assert timing.wait_for(lambda: " listening on " in gw.stderr_text(), 30), gw.stderr_text()[-2000:]
    return fds(gw)


def fd_targets(gw):
    """What the gateway's open fds point at, for a failure message."""
    d = "/proc/%d/fd" % gw.proc.pid
    out = []
    for n in sorted(os.listdir(d), key=int):
        try:
            out.append("%s->%s" % (n, os.readlink(os.path.join(d, n))))
        except OSError:
            pass
    return " ".join(out)


# response_ms of the import test: scaled, so that the probe and the SELECT after the import
# (which the double answers at once) stay well inside it on a slow build or a busy machine
IMPORT_RESPONSE_S = 1.0 * timing.scale()
# how long the slow double's import runs: well past that response_ms
IMPORT_JOB_S = IMPORT_RESPONSE_S + 1.5


@pytest.fixture(scope="module")
def slow_double(etcd, tmp_path_factory):
    """A TiDB double whose imports take IMPORT_JOB_S (nothing in etcd: every import passes)."""
    srv = tidb_double.start(etcd=etcd.url, log=str(tmp_path_factory.mktemp("slow") / "s.jsonl"),
                            job_delay=IMPORT_JOB_S, empty_check=False,
                            users=["root::mysql_native_password"])
    yield srv
    srv.stop()


@pytest.mark.tidb_double
def test_imports_are_exempt_from_response_ms(gateway_factory, slow_double, etcd):
    gw = gateway_factory({"timeouts": {"response_ms": int(IMPORT_RESPONSE_S * 1000)},
                          "cluster": {"pd": [etcd.url]}},
                         backend=("127.0.0.1", slow_double.port))
    rx = Received(slow_double)
    c = connect(gw)
    try:
        t0 = time.monotonic()
        out = run(c, "IMPORT INTO shop.orders FROM 's3://bucket/orders.csv'")
        took = time.monotonic() - t0
        assert out.ok and out.results[0][0][5] == "finished", out
        assert took >= IMPORT_JOB_S - 0.1, took  # it really waited longer than response_ms
        assert run(c, "SELECT 1").ok  # the session goes on
    finally:
        c.close()
    assert rx.imports() == ["IMPORT INTO shop.orders FROM 's3://bucket/orders.csv'"]
    assert gw.alive()


def _start_big_answer(gw, rows):
    """A raw session on gw that asks for `rows` rows of 1 MiB each and reads nothing yet."""
    c, _ = rawproto.login(gw.host, gw.port, *NATIVE, db="igtest", timeout=30)
    c.send_packet(b"\x03SELECT n, REPEAT('x', 1048576) FROM seq WHERE n <= %d ORDER BY n" % rows, 0)
    return c


def _read_big_answer(c, pause=0.0):
    """Reads that answer (no DEPRECATE_EOF), sleeping `pause` before each row; returns the
    first column of every row, each row checked to be over 1 MiB."""
    _, p = c.read_packet()
    assert p[0] == 2, p[:50]  # two columns
    for _ in range(3):  # their definitions and the EOF
        c.read_packet()
    rows = []
    while True:
        time.sleep(pause)
        _, p = c.read_packet()
        if p[:1] == b"\xfe" and len(p) < 9:
            return rows
        assert p[:1] != b"\xff", p
        assert len(p) > 1048576
        rows.append(p[1:1 + p[0]].decode())


def test_slow_reader_is_not_a_silent_backend(gateway_factory):
    """response_ms counts a silent backend, not a client that stops reading: a 20 MiB result
    left unread for 3 s (backpressure stops the gateway reading the backend) then read whole,
    with response_ms 1000."""
    response_ms = int(1000 * timing.scale())
    gw = gateway_factory({"timeouts": {"response_ms": response_ms}})
    c = _start_big_answer(gw, 20)
    try:
        time.sleep(2.5 * response_ms / 1000)  # far longer than response_ms
        rows = _read_big_answer(c)
    finally:
        c.close()
    assert rows == [str(n) for n in range(1, 21)]
    assert "timeouts.response_ms" not in gw.stderr_text()


def test_client_that_stops_reading_is_disconnected(gateway_factory):
    """timeouts.client_write_ms: a client that takes none of its 30 MiB answer is
    disconnected after the bound (MySQL's net_write_timeout; the server behind the gateway
    cannot see this client), and its session's fds are freed."""
    gw = gateway_factory({"timeouts": {"client_write_ms": 1500}})
    idle = idle_fds(gw)
    c = _start_big_answer(gw, 30)
    try:
        t0 = time.monotonic()
        # waited for, with a generous bound; never before client_write_ms
        assert timing.wait_for(lambda: "took nothing of its answer" in gw.stderr_text(), 1.5 + 10), \
            gw.stderr_text()[-2000:]
        took = time.monotonic() - t0
        assert took >= 1.4, took
        assert settle_fds(gw, idle) <= idle
    finally:
        c.close()
    assert gw.alive()


def test_client_reading_slowly_is_not_disconnected(gateway_factory):
    """A client that reads one 1 MiB row every 0.3 s (each read lets the kernel take more)
    with client_write_ms 2000, both scaled for slow builds, gets its whole answer: it reads
    for longer than client_write_ms in all, each read far inside it (a busy machine's
    pauses stay shorter than the margin)."""
    gw = gateway_factory({"timeouts": {"client_write_ms": int(2000 * timing.scale())}})
    c = _start_big_answer(gw, 12)
    try:
        rows = _read_big_answer(c, pause=0.3 * timing.scale())
    finally:
        c.close()
    assert rows == [str(n) for n in range(1, 13)]
    assert "took nothing of its answer" not in gw.stderr_text()
