"""PD is reached with TLS 1.2 at least (pd/pdhttp.c, pd/pdstream.c CURLOPT_SSLVERSION), as
the gateway's own legs are (proxy/tls.c), whatever the OpenSSL configuration in force allows:
OPENSSL_CONF can lower the system's floor, and libcurl otherwise takes what OpenSSL allows.

The fake PD here speaks TLS 1.0 and 1.1 only (with a certificate the configured CA signed);
the gateway runs with an OpenSSL configuration that permits them. It must not complete a
TLS handshake with that PD, so no request reaches it."""

import socket
import ssl
import time

import pytest

from harness import timing
from harness.fakeserver import FakeServer

pytestmark = [pytest.mark.gateway_only,
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # ssl: TLSv1 is the point

WEAK_OPENSSL_CONF = """openssl_conf = init
[init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = sys
[sys]
MinProtocol = TLSv1
CipherString = DEFAULT@SECLEVEL=0
"""


class OldTlsPD(FakeServer):
    """TLS 1.0/1.1 only; counts handshakes completed and HTTP requests read."""

    def __init__(self, certs):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1
        self.ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        self.ctx.load_cert_chain(certs.server_cert, certs.server_key)
        self.handshakes = []
        self.requests = []
        FakeServer.__init__(self)

    def serve(self, c):
        c.settimeout(5)
        try:
            t = self.ctx.wrap_socket(c, server_side=True)
            self.handshakes.append(t.version())
            data = t.recv(65536)
            if data:
                self.requests.append(data.split(b"\r\n", 1)[0])
            t.close()
        except (OSError, ssl.SSLError):
            c.close()


def _old_tls_available(certs):
    """Whether this Python's OpenSSL can speak TLS 1.0 at all (else nothing is shown)."""
    pd = OldTlsPD(certs)
    try:
        cli = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cli.set_ciphers("DEFAULT:@SECLEVEL=0")
        cli.minimum_version = ssl.TLSVersion.TLSv1
        cli.maximum_version = ssl.TLSVersion.TLSv1_1
        cli.load_verify_locations(certs.ca)
        with socket.create_connection(("127.0.0.1", pd.port), 5) as s:
            with cli.wrap_socket(s, server_hostname="127.0.0.1") as t:
                return t.version() in ("TLSv1", "TLSv1.1")
    except (OSError, ssl.SSLError):
        return False
    finally:
        pd.close()


def test_pd_below_tls_1_2_is_refused_whatever_openssl_allows(gateway_factory, certs, tmp_path, monkeypatch):
    conf = tmp_path / "weak-openssl.cnf"
    conf.write_text(WEAK_OPENSSL_CONF)
    if not _old_tls_available(certs):
        pytest.skip("this OpenSSL cannot speak TLS 1.0/1.1 even at security level 0")
    pd = OldTlsPD(certs)
    try:
        monkeypatch.setenv("OPENSSL_CONF", str(conf))  # the gateway's OpenSSL would allow TLS 1.0
        gw = gateway_factory(overrides={"cluster": {"pd": ["https://127.0.0.1:%d" % pd.port],
                                                    "tls": {"ca": certs.ca}}})
        assert timing.wait_for(lambda: pd.connections >= 2, timing.bound(20)), "the gateway never tried PD"
        time.sleep(0.5)
        assert not pd.handshakes, "the gateway completed a %s handshake with PD" % pd.handshakes
        assert not pd.requests, "requests reached PD over TLS below 1.2: %r" % pd.requests
        assert gw.alive()
    finally:
        pd.close()
