"""Network faults between the gateway and a second test host (issue 7): MariaDB and etcd run
in a network namespace joined to ours by a veth pair (harness/netns.py), the gateway and the
clients stay here, and the link is cut (every packet dropped, no RST: a partition or a host
gone dark), or made slow and lossy (a tiny tbf queue drops what overflows it; TCP
retransmits), or given netem delay and loss where the kernel has sch_netem.

What must hold: a query whose backend went dark fails with an error naming the backend within
timeouts.tcp_user_timeout_ms; an idle session whose backend went dark is ended by TCP
keepalive (and one without keepalive survives the same outage); connects to a dark host fail
within backends.connect_timeout_ms and the health check takes it out of rotation; data
crossing a lossy link arrives intact both ways; a decision whose PD went dark is answered
with on_state_unavailable within cluster.timeout_ms, and a change PD took during the
partition is seen by the first decision after it."""

import hashlib
import os
import subprocess
import sys
import time

import pymysql
import pytest

from harness import clients, mariadb as mariadb_mod, netns, ports, timing
from harness.mariadb import NATIVE
from policy_helpers import (DOUBLE_DIR, PRECHECK, Received, ClusterState, connect, cs, query,
                            run, start_double)
from test_hardening_faults import backend_up, fds, settle_fds

REASON = netns.available()
pytestmark = pytest.mark.skipif(REASON is not None, reason="no test hosts: %s" % REASON)

CONNECT_MS = 1000
USER_TIMEOUT_MS = 1500


@pytest.fixture(scope="module")
def host():
    ns = netns.NetNS("db").create()
    yield ns
    ns.destroy()


@pytest.fixture(autouse=True)
def healed(request):
    """Whatever a test did to the link, the next one starts with it whole."""
    yield
    if "host" in request.fixturenames:
        request.getfixturevalue("host").heal()


@pytest.fixture(scope="module")
def remote_db(host, tmp_path_factory):
    """A MariaDB on the other host (listening on every address of that namespace)."""
    db = mariadb_mod.MariaDB(str(tmp_path_factory.mktemp("remote-mariadb")), prefix=host.prefix,
                             host=host.peer_ip, bind="0.0.0.0")
    db.start()
    yield db
    db.stop()


@pytest.fixture(scope="module")
def remote_etcd(host, tmp_path_factory):
    e = cs.Etcd(data_dir=str(tmp_path_factory.mktemp("remote-etcd")), host=host.peer_ip,
                prefix=host.prefix)
    e.start()
    yield e
    e.cleanup()


def remote_gw(gateway_factory, db, **sections):
    cfg = {"backends": {"servers": ["%s:%d" % (db.host, db.port)], "connect_timeout_ms": CONNECT_MS,
                        "health_interval_ms": 0}}
    for k, v in sections.items():
        cfg.setdefault(k, {}).update(v)
    return gateway_factory(cfg, backend=(db.host, db.port))


def timed(fn):
    t0 = time.monotonic()
    try:
        return fn(), None, time.monotonic() - t0
    except pymysql.err.MySQLError as e:
        return None, e, time.monotonic() - t0


# ---------------------------------------------------------------- the backend goes dark


def test_cut_link_fails_the_query_within_tcp_user_timeout(gateway_factory, host, remote_db):
    """TCP_USER_TIMEOUT on the backend leg: the query's bytes stay unacknowledged, the kernel
    gives up after tcp_user_timeout_ms and the client gets 2013 naming the backend (without
    it the client would wait through ~15 minutes of retransmissions)."""
    gw = remote_gw(gateway_factory, remote_db, timeouts={"tcp_user_timeout_ms": USER_TIMEOUT_MS})
    idle = fds(gw)
    c = clients.connect(gw, *NATIVE, read_timeout=120)
    direct = remote_db.admin(read_timeout=2, write_timeout=2)
    try:
        assert clients.query_one(c, "SELECT 1") == (1,)
        host.cut()
        # the cut is real: the server does not answer a direct client either
        _, derr, _ = timed(lambda: clients.query_one(direct, "SELECT 1"))
        assert isinstance(derr, pymysql.err.OperationalError), derr
        _, err, took = timed(lambda: clients.query_one(c, "SELECT 2"))
    finally:
        c.close()
        direct.close()
    assert isinstance(err, pymysql.err.OperationalError), err
    code, msg = err.args[0], err.args[1]
    print("\n[network] query on a cut link failed after %.2f s: %s %s" % (took, code, msg))
    assert code == 2013, err
    assert "lost the backend %s:%d" % (remote_db.host, remote_db.port) in msg, msg
    # the kernel's reason: "timed out", or "host is unreachable" once ARP for the dark host
    # has failed (the same segment)
    assert "timed out" in msg.lower() or "unreachable" in msg.lower(), msg
    # the kernel aborts at the first retransmission timer after the bound: ~1.5-3.5 s
    # (lower bound exact: never early; upper generous for a busy machine, far below the
    # client's 120 s read_timeout)
    assert USER_TIMEOUT_MS / 1000.0 - 0.2 <= took < 4 + timing.bound(10), took
    host.heal()
    c = clients.connect(gw, *NATIVE)
    try:
        assert clients.query_one(c, "SELECT 'healed'") == ("healed",)
    finally:
        c.close()
    assert settle_fds(gw, idle) <= idle
    assert gw.alive()


def test_keepalive_ends_an_idle_session_whose_backend_went_dark(gateway_factory, host, remote_db):
    """An idle session cannot notice a dark backend by itself: nothing is sent. With
    keepalive (1 s idle, 1 s interval, 2 probes) the gateway's backend leg fails during a 5 s
    outage and the session is ended; with keepalive off the same session survives the same
    outage (TCP needs nothing from an idle peer)."""
    ka = remote_gw(gateway_factory, remote_db,
                   timeouts={"tcp_keepalive_s": 1, "tcp_keepalive_interval_s": 1,
                             "tcp_keepalive_count": 2})
    nka = remote_gw(gateway_factory, remote_db, timeouts={"tcp_keepalive_s": 0})
    c1 = clients.connect(ka, *NATIVE, read_timeout=20)
    c2 = clients.connect(nka, *NATIVE, read_timeout=20)
    try:
        assert clients.query_one(c1, "SELECT 1") == (1,)
        assert clients.query_one(c2, "SELECT 1") == (1,)
        host.cut()
        time.sleep(5.0)
        host.heal()
        with pytest.raises(pymysql.err.OperationalError):
            c1.ping(reconnect=False)
        c2.ping(reconnect=False)
        assert clients.query_one(c2, "SELECT 'survived'") == ("survived",)
    finally:
        c1.close()
        c2.close()
    log = ka.stderr_text().lower()
    assert "timed out" in log or "unreachable" in log, log[-2000:]
    assert ka.alive() and nka.alive()


def test_connect_to_a_dark_host_fails_within_connect_timeout(gateway_factory, host, remote_db):
    gw = remote_gw(gateway_factory, remote_db)
    idle = fds(gw)
    host.cut()
    for _ in range(2):
        _, err, took = timed(lambda: clients.connect(gw, *NATIVE, connect_timeout=30,
                                                     read_timeout=30))
        assert isinstance(err, pymysql.err.OperationalError), err
        assert "connect timed out" in str(err), err
        # never before the timeout; then refused, not hung (a generous bound, issue 14)
        assert CONNECT_MS / 1000.0 - 0.2 <= took < CONNECT_MS / 1000.0 + timing.bound(10), took
    host.heal()
    c = clients.connect(gw, *NATIVE)
    try:
        assert clients.query_one(c, "SELECT 1") == (1,)
    finally:
        c.close()
    assert settle_fds(gw, idle) <= idle


def test_dark_host_taken_out_of_rotation(gateway_factory, host, remote_db, mariadb):
    """Two backends, the remote one goes dark: the health check (200 ms interval, 500 ms
    timeout) marks it down, new clients all land on the local one (told apart by @@port), and
    it is marked up again once the link is back."""
    admin = "127.0.0.1:%d" % ports.free_port()
    remote = "%s:%d" % (remote_db.host, remote_db.port)
    gw = gateway_factory({"backends": {"servers": [remote, "127.0.0.1:%d" % mariadb.port],
                                       "connect_timeout_ms": CONNECT_MS,
                                       "health_interval_ms": 200, "health_timeout_ms": 500},
                          "admin": {"listen": admin}})
    deadline = time.monotonic() + timing.bound(5)
    while backend_up(gw, remote) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert backend_up(gw, remote) == 1
    host.cut()
    t0 = time.monotonic()
    # waited for with a generous bound (issue 14), not asserted inside a window
    while backend_up(gw, remote) != 0 and time.monotonic() - t0 < timing.bound(10):
        time.sleep(0.05)
    assert backend_up(gw, remote) == 0, \
        "the dark host is still marked up after %.1f s" % (time.monotonic() - t0)
    for _ in range(6):
        c = clients.connect(gw, *NATIVE)
        try:
            assert clients.query_one(c, "SELECT @@port") == (mariadb.port,)
        finally:
            c.close()
    host.heal()
    deadline = time.monotonic() + timing.bound(5)
    while backend_up(gw, remote) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert backend_up(gw, remote) == 1


# ---------------------------------------------------------------- a slow, lossy link


def check_bulk_both_ways(gw, remote_db, tmp_path):
    """~1 MiB down (a result set) and ~1 MiB up (LOAD DATA LOCAL) through the gateway,
    checked byte for byte against what the server holds."""
    admin = remote_db.admin()
    try:
        with admin.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS igtest.bulk")
            cur.execute("CREATE TABLE igtest.bulk (n INT PRIMARY KEY, b VARCHAR(8192))")
    finally:
        admin.close()
    rows = [(i, hashlib.sha512(b"%d" % i).hexdigest() * 32) for i in range(256)]  # 4 KiB each
    path = tmp_path / "bulk.tsv"
    path.write_text("".join("%d\t%s\n" % r for r in rows))
    c = clients.connect(gw, *NATIVE, db="igtest", local_infile=True, read_timeout=120,
                        write_timeout=120)
    try:
        with c.cursor() as cur:
            cur.execute("LOAD DATA LOCAL INFILE %s INTO TABLE bulk", (str(path),))
            assert cur.rowcount == len(rows)
            cur.execute("SELECT n, b FROM bulk ORDER BY n")
            got = cur.fetchall()
            cur.execute("SELECT n, b FROM bulk ORDER BY n")  # and a second pass down
            got2 = cur.fetchall()
    finally:
        c.close()
    assert [tuple(r) for r in got] == rows
    assert [tuple(r) for r in got2] == rows


def test_slow_lossy_link_carries_everything_intact(gateway_factory, host, remote_db, tmp_path):
    gw = remote_gw(gateway_factory, remote_db)
    before = netns.tcp_retransmits() + netns.tcp_retransmits(host.prefix)
    host.narrow(rate="4mbit", burst="4kb", limit="6kb")
    check_bulk_both_ways(gw, remote_db, tmp_path)
    host.heal()
    retrans = netns.tcp_retransmits() + netns.tcp_retransmits(host.prefix) - before
    assert retrans > 0, "the narrow link dropped nothing: the test did not test loss"
    assert gw.alive()


def test_netem_delay_and_loss(gateway_factory, host, remote_db, tmp_path):
    why = netns.netem_available()
    if why is not None:
        pytest.skip("this kernel has no sch_netem (%s); the tbf tests above cover loss" % why)
    gw = remote_gw(gateway_factory, remote_db)
    host.netem("delay", "40ms", "loss", "3%")
    c = clients.connect(gw, *NATIVE, read_timeout=60)
    try:
        _, err, took = timed(lambda: clients.query_one(c, "SELECT 1"))
        assert err is None and took >= 0.08, (err, took)  # one round trip: 2 x 40 ms
    finally:
        c.close()
    check_bulk_both_ways(gw, remote_db, tmp_path)


# ---------------------------------------------------------------- PD goes dark


SQL = "IMPORT INTO shop.orders FROM 's3://bucket/orders/*.csv' FORMAT 'csv'"


@pytest.fixture(scope="module")
def remote_double(remote_etcd, tmp_path_factory):
    """The TiDB double here; its own precheck reads the remote etcd."""
    srv = start_double(remote_etcd.url, str(tmp_path_factory.mktemp("double") / "stmts.jsonl"))
    yield srv
    srv.stop()


def put_task_from_inside(host, etcd, name, table_filter):
    """Writes a log backup task from the etcd host itself (the link from here is cut)."""
    code = ("import sys; sys.path.insert(0, %r); import clusterstate as cs; "
            "cs.put_log_backup_task(%r, %r, table_filter=%r)" % (DOUBLE_DIR, etcd.url, name,
                                                                 list(table_filter)))
    subprocess.run(host.prefix + [sys.executable, "-c", code], check=True, timeout=30)


@pytest.mark.tidb_double
def test_pd_dark_then_back(gateway_factory, host, remote_etcd, remote_double):
    """A warm gateway (cache and watch on the remote etcd) loses PD: the next import is
    answered with on_state_unavailable (reject) within cluster.timeout_ms, and nothing reaches
    TiDB; a task written during the partition is seen by the first decision after it."""
    cs.clear(remote_etcd.url)
    state = ClusterState(remote_etcd.url)
    gw = gateway_factory({"cluster": {"pd": [remote_etcd.url], "timeout_ms": 1000},
                          "policy": {"on_state_unavailable": "reject"}},
                         backend=("127.0.0.1", remote_double.port))
    rx = Received(remote_double)
    out = query(gw, SQL)
    assert out.ok, out  # nothing covers shop.orders: passes, and warms the watch
    state.task("elsewhere", ["other.*"])
    assert query(gw, SQL).ok
    host.cut()
    t0 = time.monotonic()
    out = query(gw, SQL)
    took = time.monotonic() - t0
    assert out.code == PRECHECK and "cannot be read" in out.message, out
    assert 0.8 <= took < 1.0 + timing.bound(10), took  # never early; answered, not hung
    put_task_from_inside(host, remote_etcd, "pitr_during_cut", ["shop.*"])
    host.heal()
    out = query(gw, SQL)
    assert out.code == PRECHECK and 'log backup task "pitr_during_cut"' in out.message, out
    # before the cut: unchanged (nothing existed), then with DISABLE_PRECHECK (a task exists,
    # covering nothing of shop); nothing after
    assert rx.sqls() == [SQL, SQL + " WITH DISABLE_PRECHECK"]
    cs.clear(remote_etcd.url)
    assert gw.alive()


def test_namespaces_are_removed(host):
    """The harness leaves nothing behind: this module's namespace exists now, and a probe's
    namespace made and destroyed here does not."""
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert host.name in names
    probe = netns.NetNS("gone").create()
    probe.destroy()
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert probe.name not in names
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert probe.host_if + "@" not in links and probe.host_if + ":" not in links
