"""Several backends: least-connections spreading, a backend killed mid-run (its clients get
an error, new connections go to the others), restarted (used again), per-backend and
overall connection limits, and no healthy backend at all. Real MariaDB servers."""

import os
import signal
import subprocess
import time

import pymysql
import pytest

from harness import clients, timing
from harness.mariadb import NATIVE, MariaDB

pytestmark = pytest.mark.gateway_only


@pytest.fixture(scope="module")
def second(tmp_path_factory):
    m = MariaDB(str(tmp_path_factory.mktemp("mariadb2")))
    m.start()
    yield m
    m.stop()


def backend_port(conn):
    return clients.query_one(conn, "SELECT @@port")[0]


def wait_for(pred, timeout=10.0):
    """Polls pred() for up to `timeout` seconds, scaled for sanitizer builds."""
    deadline = time.monotonic() + timing.bound(timeout)
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def two_backends(gateway_factory, mariadb, second, **extra):
    cfg = {"backends": {"servers": ["127.0.0.1:%d" % mariadb.port, "127.0.0.1:%d" % second.port],
                        "health_interval_ms": 200, "health_timeout_ms": 500}}
    cfg["backends"].update(extra)
    return gateway_factory(cfg)


def test_least_connections_spreads_evenly(gateway_factory, mariadb, second):
    gw = two_backends(gateway_factory, mariadb, second)
    conns = [clients.connect(gw, *NATIVE) for _ in range(10)]
    try:
        ports = [backend_port(c) for c in conns]
        assert ports.count(mariadb.port) == 5 and ports.count(second.port) == 5, ports
    finally:
        for c in conns:
            c.close()


def test_killed_backend_avoided_then_used_again(gateway_factory, mariadb, second):
    gw = two_backends(gateway_factory, mariadb, second)
    conns = [clients.connect(gw, *NATIVE) for _ in range(4)]
    on_second = [c for c in conns if backend_port(c) == second.port]
    on_first = [c for c in conns if backend_port(c) == mariadb.port]
    assert on_second and on_first
    second.proc.send_signal(signal.SIGKILL)
    second.proc.wait()
    try:
        # The killed backend's clients get an error, not a hang.
        for c in on_second:
            with pytest.raises(pymysql.err.OperationalError):
                clients.query_one(c, "SELECT 1")
        # The others are unaffected.
        for c in on_first:
            assert clients.query_one(c, "SELECT 2") == (2,)
        assert wait_for(lambda: "is unhealthy" in gw.stderr_text())
        fresh = [clients.connect(gw, *NATIVE) for _ in range(6)]
        assert {backend_port(c) for c in fresh} == {mariadb.port}
        for c in fresh:
            c.close()
    finally:
        # Restart on the same port and datadir.
        second.proc = subprocess.Popen(second._server_args(), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        second._wait_ready(60)
        for c in conns:
            try:
                c.close()
            except Exception:
                pass
    assert wait_for(lambda: "is healthy again" in gw.stderr_text())
    back = [clients.connect(gw, *NATIVE) for _ in range(4)]
    try:
        assert second.port in {backend_port(c) for c in back}
    finally:
        for c in back:
            c.close()


def test_per_backend_connection_limit(gateway_factory, mariadb):
    gw = gateway_factory({"backends": {"max_connections": 2}})
    assert wait_for(lambda: "session freed" in gw.stderr_text(), 5)
    freed = gw.stderr_text().count("session freed")
    a, b = clients.connect(gw, *NATIVE), clients.connect(gw, *NATIVE)
    try:
        with pytest.raises(pymysql.err.OperationalError) as e:
            clients.connect(gw, *NATIVE)
        assert e.value.args[0] == 1040
        assert "backends.max_connections" in e.value.args[1]
    finally:
        a.close()
        b.close()
    # Freed slots are usable again, once the gateway has seen the closes (it counts sessions,
    # not sockets the client has let go of: without this wait a fast reconnect races the
    # release, as it would with any proxy). Three sessions end: a, b and the refused one.
    assert wait_for(lambda: gw.stderr_text().count("session freed") >= freed + 3, 10)
    c = clients.connect(gw, *NATIVE)
    assert clients.query_one(c, "SELECT 3") == (3,)
    c.close()


def test_overall_connection_limit(gateway_factory):
    gw = gateway_factory({"limits": {"max_connections": 1}})
    # The harness's own port probe is a connection too: let the gateway close it first.
    assert wait_for(lambda: "session freed" in gw.stderr_text(), 5)
    a = clients.connect(gw, *NATIVE)
    try:
        with pytest.raises(pymysql.err.OperationalError) as e:
            clients.connect(gw, *NATIVE)
        assert e.value.args[0] == 1040
    finally:
        a.close()


def test_no_healthy_backend(gateway_factory):
    """Every backend marked down: the client is still tried against one (the mark may be a
    probe old) and told both what failed and that every backend failed its health check."""
    from harness import ports
    dead = ports.free_port()
    gw = gateway_factory({"backends": {"health_interval_ms": 100, "health_timeout_ms": 300}},
                         backend=("127.0.0.1", dead))
    assert wait_for(lambda: "is unhealthy" in gw.stderr_text())
    with pytest.raises(pymysql.err.OperationalError) as e:
        clients.connect(gw, *NATIVE, connect_timeout=5)
    msg = str(e.value)
    assert "cannot connect to backend 127.0.0.1:%d" % dead in msg, msg
    assert "every backend failed its last health check" in msg, msg
    assert gw.alive()


def test_restarted_only_backend_serves_before_the_next_probe(gateway_factory, second):
    """issue 18: the only backend comes back; the first client after it listens is served at
    once (not refused until the next health probe), and its greeting marks the backend up.
    Probes run at start and then every ten minutes, so only a client can have marked it."""
    second.proc.send_signal(signal.SIGKILL)
    second.proc.wait()
    try:
        gw = gateway_factory({"backends": {"servers": ["127.0.0.1:%d" % second.port],
                                           "health_interval_ms": 600000, "health_timeout_ms": 2000}})
        assert wait_for(lambda: "is unhealthy" in gw.stderr_text(), 20)
    finally:
        second.proc = subprocess.Popen(second._server_args(), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        second._wait_ready(60)
    c = clients.connect(gw, *NATIVE, connect_timeout=10)
    try:
        assert backend_port(c) == second.port
    finally:
        c.close()
    assert wait_for(lambda: "healthy again (a client connection got its greeting)" in gw.stderr_text())
    assert "healthy again (health check)" not in gw.stderr_text()


def test_reload_changes_backends_live(gateway_factory, mariadb, second):
    """A reload with another backend list: new connections go to the new list, an open
    connection stays on its backend and keeps working."""
    gw = gateway_factory({"backends": {"servers": ["127.0.0.1:%d" % mariadb.port]}})
    old = clients.connect(gw, *NATIVE)
    try:
        assert backend_port(old) == mariadb.port
        gw.reload({"backends": {"servers": ["127.0.0.1:%d" % second.port]}})
        assert wait_for(lambda: "configuration reloaded" in gw.stderr_text())
        fresh = [clients.connect(gw, *NATIVE) for _ in range(3)]
        assert {backend_port(c) for c in fresh} == {second.port}
        for c in fresh:
            c.close()
        assert backend_port(old) == mariadb.port
        # A name that does not resolve refuses the reload; the list in force stays.
        gw.reload({"backends": {"servers": ["no-such-host.invalid:4000"]}})
        assert wait_for(lambda: "reload refused" in gw.stderr_text())
        c = clients.connect(gw, *NATIVE)
        assert backend_port(c) == second.port
        c.close()
    finally:
        old.close()
