"""attack22: SSLKEYLOGFILE in the gateway's environment made libcurl write the PD connections'
TLS secrets to that file, world-readable.

libcurl built with OpenSSL (Debian's libcurl4 7.88) opens $SSLKEYLOGFILE when it initialises
TLS and appends every session's secrets (NSS key log format) to it, creating it with the
process's umask (0644 under the usual 022). The PD connections carry the obligation records,
which hold imports' location credentials, over https://; with that file anyone who captured
the traffic (or can read the file and the wire) reads them in clear. The variable is a
debugging aid that tends to be exported broadly (a shell profile, a container image's ENV, a
systemd drop-in left in place); nothing in the gateway asks for it, and it, unlike a proxy
variable, has no legitimate use in production. The gateway drops it at start and says so.

A fake PD answers https:// with the test CA's certificate; the gateway is started with
SSLKEYLOGFILE set and decides an IMPORT INTO, which reads PD."""

import ssl
import threading
import http.server

import pymysql
import pytest

from harness import clients
from harness.mariadb import NATIVE

pytestmark = [pytest.mark.gateway_only]

EMPTY_RANGE = b'{"header":{"revision":"7"},"count":"0"}'


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.server.requests.append(self.path)
        n = int(self.headers.get("Content-Length", 0))
        self.rfile.read(n)
        if self.path.endswith("/watch"):  # a watch is a stream: leave it hanging
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.flush()
            self.server.stopped.wait(30)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(EMPTY_RANGE)))
        self.end_headers()
        self.wfile.write(EMPTY_RANGE)

    def log_message(self, *a):
        pass


@pytest.fixture
def https_pd(certs):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.requests = []
    srv.stopped = threading.Event()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.server_cert, certs.server_key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.stopped.set()
    srv.shutdown()
    srv.server_close()


def test_pd_tls_secrets_are_not_written_to_sslkeylogfile(gateway_factory, certs, https_pd, tmp_path,
                                                          monkeypatch):
    keylog = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
    try:
        gw = gateway_factory({"cluster": {"pd": ["https://127.0.0.1:%d" % https_pd.server_address[1]],
                                          "tls": {"ca": certs.ca}, "timeout_ms": 3000}})
    finally:
        monkeypatch.delenv("SSLKEYLOGFILE")
    c = clients.connect(gw, *NATIVE)
    try:
        try:
            with c.cursor() as cur:
                cur.execute("IMPORT INTO t FROM 's3://bucket/t.csv'")
        except pymysql.err.MySQLError:
            pass
    finally:
        c.close()
    # the gateway did reach PD over TLS (else the test proves nothing)
    assert any(p.endswith("/kv/range") for p in https_pd.requests), https_pd.requests
    assert not (keylog.exists() and keylog.stat().st_size > 0), \
        "libcurl wrote the PD connections' TLS secrets to $SSLKEYLOGFILE:\n%s" % keylog.read_text()[:300]
    assert "SSLKEYLOGFILE" in gw.stderr_text()
