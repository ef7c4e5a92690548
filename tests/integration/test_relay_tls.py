"""TLS on both legs. Client leg: PyMySQL, the CLI and igclient with the test CA; the gateway
presents its configured certificate; client_tls.require refuses plain clients. Backend leg:
off / verify (with the CA) / insecure. Every combination of client leg x backend leg with
mysql_native_password (MariaDB), and with caching_sha2_password and mysql_native_password
against the TiDB double (full and fast authentication, RSA exchange on a plain leg).

Where the backend leg is checked from the server: SHOW STATUS LIKE 'Ssl_cipher' is non-empty
only on a TLS session, and the REQUIRE SSL user logs in only over a TLS backend leg. In direct
mode (IG_TEST_DIRECT=1) there is one leg, so only combinations where both legs agree run."""

import os
import ssl
import sys
import time

import pymysql
import pytest

from harness import clients, timing
from harness.mariadb import NATIVE, TLSONLY

BACKEND_MODES = ["off", "verify", "insecure"]
HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLE_DIR = os.path.join(HERE, "..", "tidb_double")


def tls_overrides(certs, client_tls, backend_mode, require=False, backend_ca=None):
    o = {"backends": {"tls": {"mode": backend_mode}}}
    if backend_mode == "verify":
        o["backends"]["tls"]["ca"] = backend_ca or certs.ca
    if client_tls:
        o["client_tls"] = {"cert": certs.server_cert, "key": certs.server_key, "ca": certs.ca,
                           "require": require}
    return o


def skip_if_one_leg(direct, client_tls, backend_mode):
    if direct and client_tls != (backend_mode != "off"):
        pytest.skip("IG_TEST_DIRECT=1: a single leg cannot have client TLS %s and backend TLS %s"
                    % (client_tls, backend_mode))


def ssl_cipher(conn):
    row = clients.query_one(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    return row[1] if row else ""


# ---- mysql_native_password against MariaDB: every combination ----

@pytest.mark.parametrize("backend_mode", BACKEND_MODES)
@pytest.mark.parametrize("client_tls", [False, True], ids=["client-plain", "client-tls"])
def test_native_combination_pymysql(gateway_factory, certs, direct, client_tls, backend_mode):
    skip_if_one_leg(direct, client_tls, backend_mode)
    gw = gateway_factory(tls_overrides(certs, client_tls, backend_mode))
    kw = {"ssl": {"ca": certs.ca}} if client_tls else {}
    c = clients.connect(gw, *NATIVE, **kw)
    try:
        # Client side: the socket is TLS exactly when asked, at least TLS 1.2.
        assert isinstance(c._sock, ssl.SSLSocket) == client_tls
        if client_tls:
            assert c._sock.version() in ("TLSv1.2", "TLSv1.3")
        # Server side: the backend session is TLS exactly when the backend leg is.
        assert bool(ssl_cipher(c)) == (backend_mode != "off")
        assert clients.query_one(c, "SELECT CURRENT_USER(), 1 + 1") == ("ignative@%", 2)
    finally:
        c.close()
    # A REQUIRE SSL account gets in only over a TLS backend leg.
    if backend_mode == "off":
        with pytest.raises(pymysql.err.OperationalError) as e:
            clients.connect(gw, *TLSONLY, **kw)
        assert e.value.args[0] == 1045
    else:
        c = clients.connect(gw, *TLSONLY, **kw)
        try:
            assert clients.query_one(c, "SELECT CURRENT_USER()") == ("igtls@%",)
        finally:
            c.close()


@pytest.mark.parametrize("backend_mode", BACKEND_MODES)
@pytest.mark.parametrize("client_tls", [False, True], ids=["client-plain", "client-tls"])
def test_native_combination_cli(gateway_factory, certs, direct, client_tls, backend_mode):
    skip_if_one_leg(direct, client_tls, backend_mode)
    gw = gateway_factory(tls_overrides(certs, client_tls, backend_mode))
    r = clients.cli(gw, *NATIVE, sql="status; SHOW SESSION STATUS LIKE 'Ssl_cipher'",
                    ssl_ca=certs.ca if client_tls else None)
    assert r.returncode == 0, r.stderr
    ssl_line = [l for l in r.stdout.splitlines() if l.startswith("SSL:")]
    assert len(ssl_line) == 1, r.stdout
    if client_tls:
        assert "Cipher in use is" in ssl_line[0]
    else:
        assert "Not in use" in ssl_line[0]
    cipher_row = [l for l in r.stdout.splitlines() if l.startswith("Ssl_cipher")]
    assert len(cipher_row) == 1, r.stdout
    assert (cipher_row[0].split("\t")[1:] != [""]) == (backend_mode != "off")


@pytest.mark.parametrize("backend_mode", BACKEND_MODES)
@pytest.mark.parametrize("client_tls", [False, True], ids=["client-plain", "client-tls"])
def test_native_combination_igclient(gateway_factory, igclient_bin, certs, direct, client_tls,
                                     backend_mode):
    skip_if_one_leg(direct, client_tls, backend_mode)
    gw = gateway_factory(tls_overrides(certs, client_tls, backend_mode))
    opts = ["--ssl", "--ssl-ca", certs.ca, "--ssl-verify"] if client_tls else []
    r = clients.igclient(igclient_bin, gw, *NATIVE, ["query", "SHOW SESSION STATUS LIKE "
                                                     "'Ssl_cipher'"], opts=opts)
    assert r.rc == 0, r.out + r.err
    tls = r.lines()[0].split("tls=")[1]
    assert (tls != "none") == client_tls
    assert (r.rows()[0][1] != "") == (backend_mode != "off")


def test_gateway_presents_configured_certificate(gateway_factory, certs):
    gw = gateway_factory(tls_overrides(certs, True, "off"))
    c = clients.connect(gw, *NATIVE, ssl={"ca": certs.ca})
    try:
        peer = c._sock.getpeercert()
        subject = dict(x[0] for x in peer["subject"])
        issuer = dict(x[0] for x in peer["issuer"])
        assert subject["commonName"] == "127.0.0.1"
        assert issuer["commonName"] == "importgate test CA"
        assert ("IP Address", "127.0.0.1") in peer["subjectAltName"]
    finally:
        c.close()


def test_client_rejects_certificate_from_other_ca(gateway_factory, certs):
    gw = gateway_factory(tls_overrides(certs, True, "off"))
    with pytest.raises(pymysql.err.OperationalError) as e:
        clients.connect(gw, *NATIVE, ssl={"ca": certs.other_ca})
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) or "certificate verify" in str(e.value)
    # The failed handshake leaves the listener serving.
    c = clients.connect(gw, *NATIVE, ssl={"ca": certs.ca})
    c.close()


def test_plain_client_allowed_when_tls_offered_not_required(gateway_factory, certs, direct):
    gw = gateway_factory(tls_overrides(certs, True, "verify"))
    c = clients.connect(gw, *NATIVE)
    try:
        assert not isinstance(c._sock, ssl.SSLSocket)
        assert clients.query_one(c, "SELECT 7") == (7,)
    finally:
        c.close()
    r = clients.cli(gw, *NATIVE, sql="status")
    assert r.returncode == 0, r.stderr
    assert "Not in use" in [l for l in r.stdout.splitlines() if l.startswith("SSL:")][0]


@pytest.mark.gateway_only
def test_client_tls_required_refuses_plain(gateway_factory, certs, igclient_bin):
    gw = gateway_factory(tls_overrides(certs, True, "off", require=True))
    t0 = time.monotonic()
    with pytest.raises(pymysql.err.OperationalError) as e:
        clients.connect(gw, *NATIVE, connect_timeout=120, read_timeout=120)
    assert time.monotonic() - t0 < timing.bound(10)  # refused, not left to the client's timeouts
    msg = str(e.value).lower()
    assert any(w in msg for w in ("tls", "ssl", "secure")), "unclear refusal: %s" % e.value
    r = clients.cli(gw, *NATIVE, sql="SELECT 1")
    assert r.returncode != 0 and "ERROR" in r.stderr
    r = clients.igclient(igclient_bin, gw, *NATIVE, ["query", "SELECT 1"])
    assert r.rc == 3
    # TLS clients still get in.
    c = clients.connect(gw, *NATIVE, ssl={"ca": certs.ca})
    try:
        assert clients.query_one(c, "SELECT 'tls ok'") == ("tls ok",)
    finally:
        c.close()


@pytest.mark.gateway_only
def test_backend_verify_fails_with_wrong_ca(gateway_factory, certs):
    gw = gateway_factory(tls_overrides(certs, False, "verify", backend_ca=certs.other_ca))
    t0 = time.monotonic()
    with pytest.raises(pymysql.err.OperationalError):
        clients.connect(gw, *NATIVE, connect_timeout=120, read_timeout=120)
    assert time.monotonic() - t0 < timing.bound(15)  # refused, not left to the client's timeouts
    assert gw.alive()


@pytest.mark.gateway_only
def test_backend_insecure_accepts_any_certificate(gateway_factory, certs):
    """insecure: TLS without verification, so a CA that signed nothing does not matter."""
    o = tls_overrides(certs, False, "insecure")
    o["backends"]["tls"]["ca"] = certs.other_ca
    gw = gateway_factory(o)
    c = clients.connect(gw, *NATIVE)
    try:
        assert ssl_cipher(c) != ""
    finally:
        c.close()


# ---- the TiDB double: caching_sha2_password and mysql_native_password ----

SHA2 = ("sha2user", "sha2pw")
NATIVE_D = ("natuser", "natpw")


@pytest.fixture(scope="module")
def double(certs, tmp_path_factory):
    if DOUBLE_DIR not in sys.path:
        sys.path.insert(0, DOUBLE_DIR)
    import tidb_double
    srv = tidb_double.start(
        tls_cert=certs.server_cert, tls_key=certs.server_key,
        users=["%s:%s:caching_sha2_password" % SHA2, "%s:%s:mysql_native_password" % NATIVE_D],
        default_auth="caching_sha2_password",
        log=str(tmp_path_factory.mktemp("double") / "statements.jsonl"))
    yield srv
    srv.stop()


def _double_entry(double, marker):
    for e in reversed(double.statements):
        if marker in e.get("sql", ""):
            return e
    raise AssertionError("the double never received %r" % marker)


@pytest.mark.tidb_double
@pytest.mark.parametrize("user", [SHA2, NATIVE_D], ids=["caching_sha2", "native"])
@pytest.mark.parametrize("backend_mode", BACKEND_MODES)
@pytest.mark.parametrize("client_tls", [False, True], ids=["client-plain", "client-tls"])
def test_double_auth_combination(gateway_factory, double, certs, direct, client_tls,
                                 backend_mode, user):
    skip_if_one_leg(direct, client_tls, backend_mode)
    gw = gateway_factory(tls_overrides(certs, client_tls, backend_mode),
                         backend=("127.0.0.1", double.port))
    kw = {"ssl": {"ca": certs.ca}} if client_tls else {}
    double.flush_auth_cache()
    # First login: caching_sha2 full authentication (clear text over TLS, RSA otherwise);
    # second: fast authentication from the cache.
    for attempt in ("full", "fast"):
        marker = "%s-%s-%s-%s" % (user[0], attempt, client_tls, backend_mode)
        c = clients.connect(gw, *user, **kw)
        try:
            assert isinstance(c._sock, ssl.SSLSocket) == client_tls
            assert clients.query_one(c, "SELECT '%s'" % marker) == (marker,)
        finally:
            c.close()
        e = _double_entry(double, marker)
        assert e["user"] == user[0]
        assert bool(e["tls"]) == (backend_mode != "off"), e
    for attempt in ("fast", "full"):
        if attempt == "full":
            double.flush_auth_cache()
        with pytest.raises(pymysql.err.OperationalError) as err:
            clients.connect(gw, user[0], "wrong-" + user[1], **kw)
        assert err.value.args[0] == 1045
    # The gateway held the clear-text password in the caching_sha2 bridge (TLS on one leg
    # only); at debug level its log still names neither password, in any spelling.
    text = gw.stderr_text()
    for secret in (user[1], "wrong-" + user[1]):
        assert secret not in text and secret.encode().hex() not in text, secret


@pytest.mark.tidb_double
@pytest.mark.gateway_only
def test_backend_tls_turned_on_by_reload_serves_the_rsa_exchange(gateway_factory, double, certs):
    """The gateway makes its RSA key only when backend TLS is configured (a 2048-bit key at
    every start cost the suite a sixth of its CPU). Started with plain backends, it has none;
    a reload that turns backend TLS on makes it before the backend TLS context is installed,
    so the first plain-text client's caching_sha2 full authentication gets the gateway's
    public key and reaches the backend over TLS."""
    gw = gateway_factory(dict(tls_overrides(certs, False, "off"), log={"level": "info"}),
                         backend=("127.0.0.1", double.port))
    double.flush_auth_cache()
    c = clients.connect(gw, *SHA2)
    c.close()
    gw.reload({"backends": {"tls": {"mode": "insecure"}}})
    assert timing.wait_for(lambda: "configuration reloaded" in gw.stderr_text(), 30), gw.stderr_text()[-2000:]
    for attempt in ("full", "fast"):
        if attempt == "full":
            double.flush_auth_cache()
        marker = "reload-rsa-%s" % attempt
        c = clients.connect(gw, *SHA2)
        try:
            assert not isinstance(c._sock, ssl.SSLSocket)
            assert clients.query_one(c, "SELECT '%s'" % marker) == (marker,)
        finally:
            c.close()
        e = _double_entry(double, marker)
        assert e["user"] == SHA2[0] and e["tls"], e
    double.flush_auth_cache()
    with pytest.raises(pymysql.err.OperationalError) as err:
        clients.connect(gw, SHA2[0], "wrong-" + SHA2[1])
    assert err.value.args[0] == 1045
