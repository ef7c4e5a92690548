"""test_proxy_protocol.py - the PROXY protocol end to end (issue 16 item 4; docs/OPERATIONS.md
"PROXY protocol"): a client behind a fake load balancer (harness/proxylb.py, which connects
from 127.0.0.2 and writes a header naming 203.0.113.7) -> the gateway (client_proxy_protocol
trusting 127.0.0.2, backends.proxy_protocol: v2) -> the TiDB double reading headers as TiDB
does (proxy-protocol.networks = the gateway's 127.0.0.1): the double's USER() and the audit
record carry the client the load balancer named, the health checks come with the LOCAL
command; a header from an untrusted address, a malformed one or none is refused; the same
with a real MariaDB (proxy_protocol_networks) as the backend."""

import json
import os
import socket
import sys

import pymysql
import pytest

from harness import gateway as gateway_mod
from harness import mariadb as mariadb_mod
from harness import timing
from harness.proxylb import FakeLB, v1_header, v2_header

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLE_DIR = os.path.join(HERE, "..", "tidb_double")
if DOUBLE_DIR not in sys.path:
    sys.path.insert(0, DOUBLE_DIR)

import tidb_double  # noqa: E402

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

CLIENT = "203.0.113.7"   # the client the load balancer fronts (TEST-NET-3)
FORGED = "198.51.100.66"  # what a forger claims to be


@pytest.fixture
def double():
    srv = tidb_double.start(proxy_networks="127.0.0.1", users=["root::mysql_native_password"],
                            job_delay=0.02, empty_check=False)
    yield srv
    srv.stop()


def pp_gateway(gateway_factory, double, **client_pp):
    pp = {"networks": ["127.0.0.2/32"], "header_timeout_ms": int(5000 * timing.scale())}
    pp.update(client_pp)
    return gateway_factory({"client_proxy_protocol": pp, "backends": {"proxy_protocol": "v2"}},
                           backend=("127.0.0.1", double.port))


def connect(port, user="root", password="", **kw):
    return pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                           connect_timeout=int(timing.bound(20)), read_timeout=int(timing.bound(30)), **kw)


def scalar(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def audit_records(gw):
    with open(gw.config["audit"]["path"]) as f:
        return [json.loads(line) for line in f.read().splitlines()]


def refused(port, gw, needle):
    """A client on `port` gets no session, and the gateway says why (needle in its log)."""
    with pytest.raises(pymysql.err.OperationalError):
        connect(port).close()
    assert timing.wait_for(lambda: needle in gw.stderr_text(), timing.bound(10)), gw.stderr_text()[-3000:]


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_lb_client_address_reaches_tidb_and_audit(gateway_factory, double, version):
    gw = pp_gateway(gateway_factory, double)
    header = (v2_header if version == "v2" else v1_header)(CLIENT, 40001, dport=gw.port)
    lb = FakeLB(gw.port, header)
    try:
        c = connect(lb.port)
        try:
            # What TiDB sees: USER() is user@host of the connection, the host from the
            # gateway's own v2 header, which carries what the load balancer's header said.
            assert scalar(c, "SELECT USER()") == "root@%s" % CLIENT
            with c.cursor() as cur:
                cur.execute("IMPORT INTO shop.orders FROM 's3://bucket/orders.csv'")
                cur.fetchall()
        finally:
            c.close()
    finally:
        lb.close()
    conns = [e for e in double.state.connections if e.get("host") == CLIENT]
    assert conns and all(e["proxy"] == 2 and e["port"] == 40001 and e["tcp_host"] == "127.0.0.1" for e in conns), \
        double.state.connections
    # Every statement of that session, the gateway's own probe included, is the client's.
    assert all(e["host"] == CLIENT for e in double.statements), double.statements
    decisions = []  # a refusal's record is queued to the audit writer: waited for

    def decided():
        decisions[:] = [r for r in audit_records(gw) if r["event"] == "import.decision"]
        return bool(decisions)

    timing.wait_for(decided, 30)
    assert decisions and decisions[-1]["client"] == CLIENT, decisions


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_ipv4_mapped_lb_client_is_its_ipv4_address(gateway_factory, double, version):
    """attack8: a dual-stack load balancer names an IPv4 client as ::ffff:a.b.c.d (TCP6, or
    a v2 INET6 block). The client is that IPv4 address, as TiDB sees it (Go's net.IP.String
    writes a v4-in-v6 address as a.b.c.d): a rule keyed on its IPv4 address applies, and
    the audit names it so. Before the fix the client was "::ffff:203.0.113.7", the deny rule
    on 203.0.113.7 did not match and the import went through."""
    pp = {"networks": ["127.0.0.2/32"], "header_timeout_ms": int(5000 * timing.scale())}
    gw = gateway_factory({"client_proxy_protocol": pp, "backends": {"proxy_protocol": "v2"},
                          "policy": {"rules": [{"name": "no-lb-client", "hosts": r"203\.0\.113\.7",
                                                "tables": ["*.*"], "action": "deny"}]}},
                         backend=("127.0.0.1", double.port))
    mapped = "::ffff:" + CLIENT
    header = (v2_header(mapped, 40001, dport=gw.port) if version == "v2"
              else v1_header(mapped, 40001, dst="::ffff:127.0.0.1", dport=gw.port))
    lb = FakeLB(gw.port, header)
    try:
        c = connect(lb.port)
        try:
            with pytest.raises(pymysql.err.MySQLError) as e:
                with c.cursor() as cur:
                    cur.execute("IMPORT INTO shop.orders FROM 's3://bucket/orders.csv'")
                    cur.fetchall()
            assert "no-lb-client" in str(e.value), e.value
        finally:
            c.close()
    finally:
        lb.close()
    decisions = []  # a refusal's record is queued to the audit writer: waited for

    def decided():
        decisions[:] = [r for r in audit_records(gw) if r["event"] == "import.decision"]
        return bool(decisions)

    timing.wait_for(decided, 30)
    assert decisions and decisions[-1]["client"] == CLIENT, decisions
    assert not any("IMPORT INTO" in (e.get("sql") or "") for e in double.statements), double.statements


def test_health_checks_send_local(gateway_factory, double):
    """The gateway's own connections start with the LOCAL command: TiDB keeps their own
    address (the gateway's), and a TiDB without fallbackable does not refuse them."""
    pp_gateway(gateway_factory, double)
    assert timing.wait_for(lambda: any(e["proxy"] == 2 and e["local"] for e in double.state.connections),
                           timing.bound(10)), double.state.connections
    local = [e for e in double.state.connections if e["local"]]
    assert all(e["host"] == "127.0.0.1" and "error" not in e for e in local)
    assert not [e for e in double.state.connections if "error" in e], double.state.connections


def test_forged_header_from_untrusted_address_refused(gateway_factory, double):
    """A client connecting from 127.0.0.1 (not in networks) that sends a header naming
    another address: the header is never taken, the connection is closed, and the client it
    named never reaches the backend."""
    gw = pp_gateway(gateway_factory, double)
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=timing.bound(20))
    try:
        s.sendall(v2_header(FORGED, 5555, dport=gw.port))
        data = b""
        while True:  # the backend's greeting may come first; then the close
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    assert timing.wait_for(lambda: "it sent a PROXY protocol header, and its address is not in "
                           "client_proxy_protocol.networks" in gw.stderr_text(), timing.bound(10)), \
        gw.stderr_text()[-3000:]
    assert not any(e.get("host") == FORGED for e in double.state.connections)
    # The same bytes as v1 text, by a direct client.
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=timing.bound(20))
    try:
        s.sendall(v1_header(FORGED, 5555))
        while s.recv(4096):
            pass
    finally:
        s.close()
    assert not any(e.get("host") == FORGED for e in double.state.connections)


def test_direct_client_still_served(gateway_factory, double):
    """Clients outside networks need no header: they are served with their own address."""
    gw = pp_gateway(gateway_factory, double)
    c = connect(gw.port)
    try:
        assert scalar(c, "SELECT USER()") == "root@127.0.0.1"
    finally:
        c.close()


def test_trusted_without_header_refused_or_fallback(gateway_factory, double):
    gw = pp_gateway(gateway_factory, double, header_timeout_ms=300)
    lb = FakeLB(gw.port, None)
    try:
        refused(lb.port, gw, "no PROXY header within client_proxy_protocol.header_timeout_ms")
    finally:
        lb.close()
    gw2 = pp_gateway(gateway_factory, double, header_timeout_ms=300, fallbackable=True)
    lb = FakeLB(gw2.port, None)
    try:
        c = connect(lb.port)
        try:
            # Served with the connection's own address, which the gateway then sends on.
            assert scalar(c, "SELECT USER()") == "root@127.0.0.2"
        finally:
            c.close()
    finally:
        lb.close()


@pytest.mark.parametrize("header,needle", [
    (b"PROXY TCP4 203.0.113.7 127.0.0.1 99999 4000\r\n", "v1: a port is not a number"),
    (b"PROXY TCP4 203.0.113.7\n", "v1: a line feed without its carriage return"),
    (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04abcd", "v2: the length is shorter than the family's addresses"),
    (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff", "v2: longer than 4096 bytes"),
    (b"GET / HTTP/1.0\r\n\r\n", "its first bytes are not a PROXY protocol header"),
])
def test_malformed_header_from_trusted_refused(gateway_factory, double, header, needle):
    gw = pp_gateway(gateway_factory, double)
    lb = FakeLB(gw.port, header)
    try:
        refused(lb.port, gw, needle)
    finally:
        lb.close()
    assert not any(e.get("host") == CLIENT for e in double.state.connections)


def test_truncated_header_times_out(gateway_factory, double):
    gw = pp_gateway(gateway_factory, double, header_timeout_ms=300, fallbackable=True)
    lb = FakeLB(gw.port, v2_header(CLIENT, 40001)[:20])
    try:
        # Part of a header, then silence: refused even with fallbackable.
        refused(lb.port, gw, "its PROXY header did not end within client_proxy_protocol.header_timeout_ms")
    finally:
        lb.close()


# ---------------------------------------------------------------- MariaDB as the backend


class ProxyMariaDB(mariadb_mod.MariaDB):
    """A MariaDB of its own, trusting PROXY headers from the gateway's 127.0.0.1
    (proxy_protocol_networks, a server option since MariaDB 10.3; Debian 12's is 10.11)."""

    def _server_args(self):
        return super()._server_args() + ["--proxy-protocol-networks=127.0.0.1"]


@pytest.fixture(scope="module")
def proxy_mariadb(tmp_path_factory):
    db = ProxyMariaDB(str(tmp_path_factory.mktemp("ppmariadb")))
    db.start()
    yield db
    db.stop()


def test_mariadb_sees_lb_client(gateway_factory, proxy_mariadb):
    gw = gateway_factory({"client_proxy_protocol": {"networks": ["127.0.0.2"]},
                          "backends": {"proxy_protocol": "v2"}},
                         backend=(proxy_mariadb.host, proxy_mariadb.port))
    lb = FakeLB(gw.port, v2_header(CLIENT, 40002, dport=gw.port))
    user, pw = mariadb_mod.NATIVE
    try:
        c = connect(lb.port, user=user, password=pw)
        try:
            assert scalar(c, "SELECT USER()") == "%s@%s" % (user, CLIENT)
            cid = scalar(c, "SELECT CONNECTION_ID()")
            host = proxy_mariadb.admin_query("SELECT HOST FROM information_schema.PROCESSLIST WHERE ID=%s",
                                             (cid,))[0][0]
            assert host == "%s:40002" % CLIENT
        finally:
            c.close()
    finally:
        lb.close()
    # A direct client: MariaDB sees the gateway's v2 header with the client's own address.
    c = connect(gw.port, user=user, password=pw)
    try:
        assert scalar(c, "SELECT USER()") == "%s@127.0.0.1" % user
    finally:
        c.close()


# ---------------------------------------------------------------- the obligations' service connections


from policy_helpers import etcd, query, state  # noqa: E402,F401
from obligation_helpers import SNAP, SVC_USER, doubles, obl_gw  # noqa: E402,F401
from obligation_helpers import wait_for as obl_wait  # noqa: E402


def test_obligation_service_connection_sends_local(doubles, obl_gw, state):
    """The BACKUP TABLE an import owes runs on the gateway's own service connection: with
    backends.proxy_protocol v2 it starts with the LOCAL command (libmariadb's
    MARIADB_OPT_PROXY_HEADER), so a TiDB requiring headers takes it, as the gateway's; the
    import itself came from the load balancer's client."""
    up, down = doubles(job_delay=0.1, proxy_networks="127.0.0.1")
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    # The obligations engine keeps the backends section it started with (as for
    # backends.servers): the setting reaches its connections at a start, not a reload.
    assert gw.stop() == []
    gw.config = gateway_mod.deep_merge(gw.config, {"backends": {"proxy_protocol": "v2"},
                                                   "client_proxy_protocol": {"networks": ["127.0.0.2/32"]}})
    gw.start()
    lb = FakeLB(gw.port, v2_header(CLIENT, 40003, dport=gw.port))
    try:
        out = query(lb.port, "IMPORT INTO t FROM 's3://bucket/t.csv'")
    finally:
        lb.close()
    assert out.ok, out
    imports = [e for e in up.statements if e["sql"].upper().startswith("IMPORT")]
    assert imports and all(e["host"] == CLIENT for e in imports), imports
    b = obl_wait(lambda: [e for e in up.statements if e["sql"].upper().startswith("BACKUP")], 10,
                 "BACKUP TABLE on the upstream")
    assert b[0]["user"] == SVC_USER and b[0]["host"] == "127.0.0.1", b
    conn = [e for e in up.state.connections if e["conn"] == b[0]["conn"]]
    assert conn and conn[0]["proxy"] == 2 and conn[0]["local"], up.state.connections
