"""attack22: backends.tls.mode verify checked the backend's certificate against the address
its name resolved to, not the name configured.

proxy/backend.c resolves each backends.servers name (getaddrinfo) and keeps the numeric
address; the TLS leg was started with that address as the peer identity (proxy/tls.c: an IP
literal is matched against the certificate's IP SANs), and no SNI was sent. So for
`backends.servers: [tidb.internal:4000]`:
- a certificate naming the server (DNS:tidb.internal, as most are) was refused ("IP address
  mismatch"): verify was unusable with names;
- and the identity the check protects was the address DNS gave: whoever can steer the name
  to an address of theirs (a poisoned resolver, an /etc/hosts entry, a stale record) passes
  with any certificate the CA issued for that address (a cluster CA signs every component's
  certificate with its IP SANs; public CAs issue IP certificates), and receives each client's
  authentication response and statements as "tidb.internal".
The check must be against the configured name (an IP literal stays an IP check), with SNI.

The fake backend is on loopback, reached as "localhost"; the test CA signs its certificates."""

import ssl
import struct
import time

import pymysql
import pytest

from harness import certs as certs_mod
from harness.fakeserver import FakeServer, greeting, read_packet

pytestmark = [pytest.mark.gateway_only]


CAPS = 0x0200 | 0x8000 | 0x80000 | 0x0800 | 0x0008 | 0x0001 | 0x0004  # CLIENT_SSL among them


class FakeTLSBackend(FakeServer):
    """Greets with CLIENT_SSL, takes the SSLRequest, does TLS with its certificate, then keeps
    the client's handshake response (what must never reach an unverified peer) and refuses the
    login. Records the SNI names it was asked for."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sni = []
        self.ctx.sni_callback = lambda sock, name, ctx: self.sni.append(name)
        self.responses = []
        FakeServer.__init__(self)

    def serve(self, c):
        c.settimeout(10)
        try:
            c.sendall(greeting(CAPS, 7, b"abcdefghijklmnopqrst"))
            _, p = read_packet(c)
            if len(p) != 32:
                return
            t = self.ctx.wrap_socket(c, server_side=True)
            _, resp = read_packet(t)
            self.responses.append(resp)
            err = b"\xff\x15\x04#28000denied"
            t.sendall(struct.pack("<I", len(err))[:3] + b"\x02" + err)
        except (OSError, ssl.SSLError, EOFError):
            pass
        finally:
            c.close()


@pytest.fixture(scope="module")
def leafs(certs, tmp_path_factory):
    d = str(tmp_path_factory.mktemp("attack22-leafs"))
    out = {}
    for name, san in (("dnsonly", "DNS:localhost"), ("iponly", "IP:127.0.0.1")):
        out[name] = certs_mod._make_leaf(d, name, name, certs.ca_key, certs.ca,
                                         "basicConstraints=CA:FALSE\nsubjectAltName=%s\n"
                                         "extendedKeyUsage=serverAuth\n" % san)
    return out  # name -> (key, cert)


def login(gw):
    try:
        pymysql.connect(host=gw.host, port=gw.port, user="victim", password="Victim-PW-22",
                        connect_timeout=10).close()
    except pymysql.err.MySQLError as e:
        return e
    return None


def start(gateway_factory, certs, fake, host):
    return gateway_factory({"backends": {"tls": {"mode": "verify", "ca": certs.ca},
                                         "health_interval_ms": 0}},
                           backend=(host, fake.port))


def test_certificate_for_the_address_does_not_pass_for_the_name(gateway_factory, certs, leafs):
    """backend "localhost", certificate for IP 127.0.0.1 only: the name is not in it."""
    key, crt = leafs["iponly"]
    fake = FakeTLSBackend(crt, key)
    try:
        gw = start(gateway_factory, certs, fake, "localhost")
        e = login(gw)
        time.sleep(0.3)
        assert fake.responses == [], ("the client's handshake response went to a backend whose "
                                      "certificate does not name localhost: %r" % (e,))
        assert e is not None and "certificate verify" in str(e), e
    finally:
        fake.close()


def test_certificate_naming_the_server_passes_with_sni(gateway_factory, certs, leafs):
    """backend "localhost", certificate for DNS:localhost: verified, SNI localhost."""
    key, crt = leafs["dnsonly"]
    fake = FakeTLSBackend(crt, key)
    try:
        gw = start(gateway_factory, certs, fake, "localhost")
        e = login(gw)
        time.sleep(0.3)
        assert len(fake.responses) == 1, "a certificate naming the server was refused: %r" % (e,)
        assert b"victim\x00" in fake.responses[0]
        assert fake.sni == ["localhost"], fake.sni
    finally:
        fake.close()


def test_ip_literal_is_still_checked_as_an_address(gateway_factory, certs, leafs):
    """backend "127.0.0.1": the IP certificate passes, the DNS-only one does not; no SNI (an
    IP address is not a server name, RFC 6066 3)."""
    for leaf, ok in (("iponly", True), ("dnsonly", False)):
        key, crt = leafs[leaf]
        fake = FakeTLSBackend(crt, key)
        try:
            gw = start(gateway_factory, certs, fake, "127.0.0.1")
            e = login(gw)
            time.sleep(0.3)
            assert (len(fake.responses) == 1) == ok, (leaf, e)
            assert fake.sni in ([], [None]), fake.sni
        finally:
            fake.close()
