"""Either side closing at any point: a client that disconnects in the middle of a big result
(the backend session must go away, others keep working), a backend session killed mid-query
(the client gets 2013/2006 quickly, not a hang), a backend that is unreachable or never
greets (the client gets a MySQL error, not a hang)."""

import socket
import threading
import time

import pymysql
import pytest

from harness import clients, ports, rawproto, timing
from harness.mariadb import NATIVE

BIG_RESULT = ("SELECT a.n, b.n, REPEAT('x', 200) FROM igtest.seq a, igtest.seq b, "
              "igtest.seq c ORDER BY a.n")  # 1e6 rows, ~200 MB: never read to the end


def test_client_disconnects_mid_result_pymysql(gw, mariadb):
    conn_id = clients.abandon_mid_result(gw, *NATIVE, BIG_RESULT, 100)
    assert mariadb.wait_thread_gone(conn_id, timeout=20), "backend session outlived its client"
    other = clients.connect(gw, *NATIVE)
    try:
        assert clients.query_one(other, "SELECT 'still serving'") == ("still serving",)
    finally:
        other.close()
    assert gw.alive()


def test_client_disconnects_mid_result_raw(gw, mariadb):
    """The client reads a few packets of a huge result, then resets the connection (RST)."""
    c, g = rawproto.login(gw.host, gw.port, *NATIVE)
    c.send_packet(bytes([rawproto.COM_QUERY]) + b"SELECT CONNECTION_ID()", 0)
    packets = [c.read_packet()[1] for _ in range(5)]  # count, column, EOF, row, EOF
    conn_id = int(packets[3][1:].decode())
    c.send_packet(bytes([rawproto.COM_QUERY]) + BIG_RESULT.encode(), 0)
    for _ in range(50):
        c.read_packet()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    assert mariadb.wait_thread_gone(conn_id, timeout=20), "backend session outlived its client"
    other = clients.connect(gw, *NATIVE)
    other.close()
    assert gw.alive()


def test_client_disconnects_while_backend_busy(gw, mariadb):
    """The client goes away while the backend is still computing (SLEEP): the gateway must
    still release the backend session once the backend answers."""
    c, _ = rawproto.login(gw.host, gw.port, *NATIVE)
    c.send_packet(bytes([rawproto.COM_QUERY]) + b"SELECT CONNECTION_ID()", 0)
    conn_id = int([c.read_packet()[1] for _ in range(5)][3][1:].decode())
    c.send_packet(bytes([rawproto.COM_QUERY]) + b"SELECT SLEEP(1)", 0)
    c.close()
    assert mariadb.wait_thread_gone(conn_id, timeout=20)
    assert gw.alive()


def test_many_clients_abandon_results(gw, mariadb):
    ids = [clients.abandon_mid_result(gw, *NATIVE, BIG_RESULT, 1 + 37 * i) for i in range(8)]
    for i in ids:
        assert mariadb.wait_thread_gone(i, timeout=20), "backend session %d leaked" % i
    c = clients.connect(gw, *NATIVE)
    try:
        assert clients.query_one(c, "SELECT COUNT(*) FROM igtest.seq") == (100,)
    finally:
        c.close()


def test_backend_session_killed_mid_query(gw, mariadb):
    c = clients.connect(gw, *NATIVE)
    conn_id = clients.query_one(c, "SELECT CONNECTION_ID()")[0]
    out = {}

    def run():
        try:
            clients.query_one(c, "SELECT SLEEP(120)")
            out["result"] = "returned"
        except pymysql.MySQLError as e:
            out["error"] = e.args[0]
        out["end"] = time.monotonic()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    # the SLEEP runs at the backend (waited for), then its session is killed there
    assert timing.wait_for(lambda: "SLEEP" in str(mariadb.admin_query(
        "SELECT INFO FROM information_schema.PROCESSLIST WHERE ID=%s", (conn_id,))), 10)
    mariadb.admin_query("KILL CONNECTION %d" % conn_id)  # directly on the server
    killed = time.monotonic()
    t.join(90)
    assert not t.is_alive(), "client still waiting 90 s after its backend session was killed"
    assert out.get("error") in (2013, 2006, 1927), out
    # from the kill, not the 120 s SLEEP's end (nor the client's 60 s read_timeout): generous
    assert out["end"] - killed < timing.bound(10), out["end"] - killed
    with pytest.raises(pymysql.MySQLError) as e:
        clients.query_one(c, "SELECT 1")
    assert e.value.args[0] in (0, 2006, 2013)  # 0: PyMySQL's "connection already closed"
    c.close()
    other = clients.connect(gw, *NATIVE)
    other.close()
    assert gw.alive()


def test_backend_session_killed_while_idle(gw, mariadb, igclient_bin):
    c = clients.connect(gw, *NATIVE)
    conn_id = clients.query_one(c, "SELECT CONNECTION_ID()")[0]
    mariadb.admin_query("KILL CONNECTION %d" % conn_id)
    assert mariadb.wait_thread_gone(conn_id)
    t0 = time.monotonic()
    with pytest.raises(pymysql.MySQLError) as e:
        clients.query_one(c, "SELECT 1")
    assert e.value.args[0] in (2006, 2013, 1927, 4031), e.value
    assert time.monotonic() - t0 < timing.bound(10)  # answered, not left to read_timeout (60 s)
    c.close()


@pytest.mark.gateway_only
def test_backend_unreachable(gateway_factory, igclient_bin):
    gw = gateway_factory({"backends": {"connect_timeout_ms": 1000}},
                         backend=("127.0.0.1", ports.free_port()))
    for _ in range(3):
        t0 = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as e:
            clients.connect(gw, *NATIVE, connect_timeout=120, read_timeout=120)
        assert time.monotonic() - t0 < 1 + timing.bound(10)  # refused, generous for slow builds
        assert e.value.args[0] in (2013, 1105, 2003, 2002, 1040, 1045, 1129, 1130), e.value
    r = clients.igclient(igclient_bin, gw, *NATIVE, ["query", "SELECT 1"])
    assert r.rc == 3 and r.errors(), r.out + r.err
    assert gw.alive()


@pytest.mark.gateway_only
def test_backend_never_greets(gateway_factory):
    """A backend that accepts TCP and says nothing: the client must get an error within the
    gateway's timeouts, not wait forever."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        gw = gateway_factory({"backends": {"connect_timeout_ms": 1000},
                              "timeouts": {"handshake_ms": 1000}},
                             backend=silent.getsockname())
        t0 = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError):
            clients.connect(gw, *NATIVE, connect_timeout=120, read_timeout=120)
        assert time.monotonic() - t0 < 2 + timing.bound(10)  # the timeouts, generous, not the client's
        assert gw.alive()
    finally:
        silent.close()


@pytest.mark.gateway_only
def test_backend_closes_during_greeting(gateway_factory):
    """A backend that accepts and closes at once."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = threading.Event()

    def closer():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                s, _ = srv.accept()
                s.close()
            except OSError:
                pass

    t = threading.Thread(target=closer, daemon=True)
    t.start()
    try:
        gw = gateway_factory(backend=srv.getsockname())
        t0 = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError):
            clients.connect(gw, *NATIVE, connect_timeout=120, read_timeout=120)
        assert time.monotonic() - t0 < timing.bound(10)  # refused, not left to the client's timeouts
        assert gw.alive()
    finally:
        stop.set()
        t.join(2)
        srv.close()
