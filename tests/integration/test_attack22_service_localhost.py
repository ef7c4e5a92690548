"""attack22: a server named "localhost" sent the obligations' service connections to a Unix
socket, not to the configured port.

The service connections (proxy/oblexec.c: SHOW IMPORT JOB, BACKUP TABLE upstream, the
re-import downstream) are libmariadb's. libmariadb reads host "localhost" as "the local server
through its Unix socket" unless MYSQL_OPT_PROTOCOL is TCP (Connector/C mysql_real_connect;
the socket is $MYSQL_UNIX_PORT, else the compiled-in path, /run/mysqld/mysqld.sock on Debian's
libmariadb3 10.11 as `mariadb_config --socket` prints), and the port is then ignored. The
gateway's own sessions reach "localhost:PORT" over TCP. So with
`obligations.downstream.servers: [localhost:4000]` (a co-located TiDB, the usual way to write
it) the re-import statement, which carries the client's location with its access key and
secret, and the service account's login went to whatever listens on that socket (a local
MySQL/MariaDB, or whoever created the socket where the path is writable), and its answers to
SHOW IMPORT JOB decided the obligation's outcome.

Here the socket is a fake server named by MYSQL_UNIX_PORT in the gateway's environment (the
compiled-in path needs root to create); it keeps what it is sent."""

import socket
import struct

import pytest

from policy_helpers import etcd, query, state  # noqa: F401
from obligation_helpers import (DOWN_PW, DOWN_USER, POLL_MS, REIMPORT, SNAP, SVC_PW, SVC_USER, URI,  # noqa: F401
                                doubles, wait_for)
from harness.fakeserver import FakeServer, greeting

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

AK, SK = "AKIAATTACK22SOCKET", "attack22SecretKeyVIAunixSOCKET"


CAPS = 0x0200 | 0x8000 | 0x80000 | 0x0008 | 0x0001 | 0x0004


class UnixImpostor(FakeServer):
    """A MySQL greeting on a Unix socket; answers every login with OK and every statement
    with an error, keeping all bytes it was sent."""

    def __init__(self, path):
        self.path = path
        self.received = bytearray()
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path)
        FakeServer.__init__(self, sock)

    def serve(self, c):
        c.settimeout(5)
        try:
            c.sendall(greeting(CAPS, 9, b"abcdefghijklmnopqrst"))
            seq = 2
            while True:
                d = c.recv(65536)
                if not d:
                    return
                self.received += d
                # OK to the login, then an error to anything: enough to get the statement
                ok = b"\x00\x00\x00\x02\x00\x00\x00"
                reply = ok if seq == 2 else b"\xff\x15\x04#HY000no"
                c.sendall(struct.pack("<I", len(reply))[:3] + bytes([seq if seq == 2 else 1]) + reply)
                seq += 1
        except OSError:
            pass
        finally:
            c.close()


@pytest.fixture
def impostor(tmp_path):
    p = UnixImpostor(str(tmp_path / "mysql.sock"))
    yield p
    p.close()


def gateway(gateway_factory, etcd, tmp_path, up, down, rules, host, monkeypatch, sock):  # noqa: F811
    pw = tmp_path / "svc.pw"
    pw.write_text(SVC_PW + "\n")
    dpw = tmp_path / "down.pw"
    dpw.write_text(DOWN_PW + "\n")
    obl = {"service": {"user": SVC_USER, "password_file": str(pw), "tls": {"mode": "off"}},
           "backup_uri": URI,
           "downstream": {"servers": ["%s:%d" % (host, down.port)], "user": DOWN_USER,
                          "password_file": str(dpw)},
           "poll_ms": POLL_MS}
    over = {"cluster": {"pd": [etcd.url], "timeout_ms": 2000, "name": "attack22sock"},
            "policy": {"rules": rules}, "obligations": obl}
    # only the gateway's environment names the socket
    monkeypatch.setenv("MYSQL_UNIX_PORT", sock)
    try:
        return gateway_factory(over, backend=(host, up.port))
    finally:
        monkeypatch.delenv("MYSQL_UNIX_PORT")


def test_reimport_to_localhost_goes_to_the_port(gateway_factory, etcd, tmp_path, doubles, state,  # noqa: F811
                                                 impostor, monkeypatch):
    up, down = doubles(job_delay=0.1)
    state.changefeed("cf22", ["shop.*"])
    gw = gateway(gateway_factory, etcd, tmp_path, up, down, REIMPORT, "localhost", monkeypatch, impostor.path)
    sql = "IMPORT INTO t FROM 's3://bucket/t.csv?access-key=%s&secret-access-key=%s'" % (AK, SK)
    out = query(gw, sql)
    assert out.ok, out
    try:
        wait_for(lambda: [e for e in down.statements if e["sql"].upper().startswith("IMPORT")]
                 or impostor.connections, 20, "the re-import sent somewhere")
    finally:
        assert SK.encode() not in bytes(impostor.received), \
            "the re-import with the client's secret key went to the Unix socket, not localhost:%d" % down.port
        assert impostor.connections == 0, "a service login went to the Unix socket"
    assert [e for e in down.statements if e["sql"].upper().startswith("IMPORT")]


def test_backup_on_localhost_upstream_goes_to_the_port(gateway_factory, etcd, tmp_path, doubles,  # noqa: F811
                                                        state, impostor, monkeypatch):  # noqa: F811
    up, down = doubles(job_delay=0.1)
    state.task("pitr22", ["shop.*"])
    gw = gateway(gateway_factory, etcd, tmp_path, up, down, SNAP, "localhost", monkeypatch, impostor.path)
    out = query(gw, "IMPORT INTO t FROM 's3://bucket/t.csv'")
    assert out.ok, out
    wait_for(lambda: [e for e in up.statements if e["sql"].upper().startswith("BACKUP")]
             or impostor.connections, 20, "the BACKUP or a service login somewhere")
    assert impostor.connections == 0, "the upstream service login went to the Unix socket"
    assert [e for e in up.statements if e["sql"].upper().startswith("BACKUP")]
