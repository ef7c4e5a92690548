"""attack21: the gateway's PD client sends the obligation records, which hold an import's
credentials, through whatever HTTP proxy the gateway's environment names.

The PD/etcd client (pd/pdhttp.c, and the watches pd/etcdwatch.c, pd/prefixwatch.c) is libcurl,
which takes a proxy from the environment (`http_proxy`, `all_proxy`, `ALL_PROXY`) unless told
otherwise (CURLOPT_PROXY(3): "" disables every proxy, the environment's too). A service
environment that exports a proxy for outbound traffic is common (a systemd drop-in, a
container's build-time ENV). With an http:// PD URL every etcd request then crossed that proxy
in clear text, among them the obligation record's PUT: the record holds the import's original
statement with its location's `access-key`/`secret-access-key` (docs/OBLIGATIONS.md "The
record"), which the audit log and the status API are so careful never to show. The proxy
also answers for PD: it could hide a log backup task or a changefeed and have a covered
import allowed. PD is the cluster's own endpoint (cluster.pd), reached directly as TiDB
reaches it.

The proxy here forwards for real (to the test's etcd) and records what crossed it."""

import base64
import os
import re
import socket
import threading

import pytest

from policy_helpers import etcd, query, state  # noqa: F401
from obligation_helpers import SNAP, doubles, obl_gw, wait_for  # noqa: F401
from harness.fakeserver import FakeServer

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

AK, SK = "AKIAATTACK21PROXY", "attack21SecretKeyPLANTEDviaPROXY"
SQL = "IMPORT INTO t FROM 's3://bucket/t.csv?access-key=%s&secret-access-key=%s'" % (AK, SK)


class ForwardProxy(FakeServer):
    """An HTTP forward proxy: the first request's absolute URI names the server; the rest of
    the connection is relayed both ways. Keeps what clients sent."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = bytearray()
        FakeServer.__init__(self, backlog=64)

    def _keep(self, data):
        with self.lock:
            self.sent += data

    def _pipe(self, src, dst, keep):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                if keep:
                    self._keep(d)
                dst.sendall(d)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve(self, c):
        head = b""
        try:
            while b"\r\n" not in head:
                d = c.recv(65536)
                if not d:
                    c.close()
                    return
                head += d
            self._keep(head)
            m = re.match(rb"[A-Z]+ http://([^/:]+):(\d+)/", head)
            if not m:
                c.close()
                return
            up = socket.create_connection((m.group(1).decode(), int(m.group(2))), timeout=10)
            up.settimeout(None)
            c.settimeout(None)
            up.sendall(head)
        except OSError:
            c.close()
            return
        threading.Thread(target=self._pipe, args=(up, c, False), daemon=True).start()
        self._pipe(c, up, True)

    def carried(self, secret):
        """Whether the secret crossed the proxy, plainly or in an etcd value (base64)."""
        with self.lock:
            data = bytes(self.sent)
        if secret.encode() in data:
            return True
        for v in re.findall(rb'"value"\s*:\s*"([A-Za-z0-9+/=]+)"', data):
            try:
                if secret.encode() in base64.b64decode(v):
                    return True
            except ValueError:
                pass
        return False


@pytest.fixture
def proxy():
    p = ForwardProxy()
    yield p
    p.close()


@pytest.mark.parametrize("var", ["http_proxy", "all_proxy", "ALL_PROXY"])
def test_pd_client_ignores_proxy_environment(doubles, obl_gw, state, proxy, monkeypatch, var):  # noqa: F811
    up, down = doubles(job_delay=0.1)
    state.task("pitr", ["shop.*"])
    # Only the gateway's environment names the proxy: the test's own etcd helpers and the
    # doubles started before stay direct.
    saved = {k: v for k, v in os.environ.items() if k.lower() in ("no_proxy", "http_proxy", "all_proxy")}
    for k in saved:
        monkeypatch.delenv(k)  # a runner's no_proxy would hide the leak
    monkeypatch.setenv(var, "http://127.0.0.1:%d" % proxy.port)
    try:
        gw = obl_gw(up, down, SNAP)
    finally:
        monkeypatch.delenv(var)
        for k, v in saved.items():
            monkeypatch.setenv(k, v)
    out = query(gw, SQL)
    assert out.ok, out
    wait_for(lambda: [e for e in up.statements if e["sql"].upper().startswith("BACKUP")], 15,
             "BACKUP TABLE on the upstream (the record was written and carried out)")
    assert not proxy.carried(SK), "the import's secret key crossed the proxy named by $%s" % var
    assert proxy.connections == 0, "the gateway reached PD through the proxy named by $%s" % var
