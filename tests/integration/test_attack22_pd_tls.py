"""attack22: cluster.tls set, an http:// PD URL: the gateway reached PD in clear text.

cluster.tls (ca, cert, key) is documented "as TiDB's security.cluster-ssl-ca/-cert/-key", but
libcurl only uses it for https:// URLs; an http:// endpoint in cluster.pd (TiDB's own config
and `tiup` print PD as http://host:2379) was read in clear, with no certificate checked. The
operator believes PD is reached over TLS; whoever answers at that address or on the path
reads the obligation records (they hold an import's credentials) and answers for the cluster
state: an etcd range with no log backup task lets a covered IMPORT INTO pass. TiDB itself
turns http:// into https:// when cluster-ssl-ca is set (tikv/pd client, modifyURLScheme).

The fake PD here answers plain HTTP, as an attacker would, and records what reached it. The
gateway must refuse the configuration (at start and with --check-config) rather than speak
to it in clear."""

import os
import subprocess
import time

import pymysql
import pytest
import yaml

from harness import clients, gateway as gateway_mod
from harness.mariadb import NATIVE
from harness.fakeserver import FakeServer

pytestmark = [pytest.mark.gateway_only]

EMPTY_RANGE = b'{"header":{"revision":"7"},"count":"0"}'


class FakePD(FakeServer):
    """Plain HTTP on loopback: answers every request with an empty etcd range and keeps the
    requests' first lines."""

    def __init__(self):
        self.requests = []
        FakeServer.__init__(self)

    def serve(self, c):
        c.settimeout(5)
        try:
            data = c.recv(65536)
            if data:
                self.requests.append(data.split(b"\r\n", 1)[0])
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                          b"Connection: close\r\n\r\n%s" % (len(EMPTY_RANGE), EMPTY_RANGE))
        except OSError:
            pass
        finally:
            c.close()


@pytest.fixture
def fake_pd():
    p = FakePD()
    yield p
    p.close()


def tls_variants(certs):
    return {
        "ca": {"ca": certs.ca},
        "client-cert": {"cert": certs.client_cert, "key": certs.client_key},
        "all": {"ca": certs.ca, "cert": certs.client_cert, "key": certs.client_key},
    }


def pd_lists(port):
    plain = "http://127.0.0.1:%d" % port
    return {
        "plain": [plain],
        # one https endpoint does not make the list safe: the gateway tries them in turn
        "mixed": ["https://127.0.0.1:1", plain],
    }


@pytest.mark.parametrize("files", ["ca", "client-cert", "all"])
@pytest.mark.parametrize("pdlist", ["plain", "mixed"])
def test_http_pd_with_cluster_tls_is_not_spoken_to(gateway_factory, certs, fake_pd, files, pdlist):
    overrides = {"cluster": {"pd": pd_lists(fake_pd.port)[pdlist], "tls": tls_variants(certs)[files],
                             "timeout_ms": 1000},
                 "policy": {"on_state_unavailable": "reject"}}
    try:
        gw = gateway_factory(overrides)
    except gateway_mod.GatewayError as e:
        # Refused at start, naming the key; nothing reached the fake PD.
        assert "cluster.pd[" in str(e) and "cluster.tls" in str(e), str(e)
        assert fake_pd.requests == []
        return
    # Started: an IMPORT INTO is decided from PD's state, read now.
    c = clients.connect(gw, *NATIVE)
    try:
        try:
            with c.cursor() as cur:
                cur.execute("IMPORT INTO t FROM 's3://bucket/t.csv'")
        except pymysql.err.MySQLError:
            pass
    finally:
        c.close()
    time.sleep(0.5)
    assert fake_pd.requests == [], ("cluster.tls is set, yet the gateway spoke plain HTTP to PD "
                                    "(an attacker there answers for the cluster state): %r"
                                    % fake_pd.requests[:3])


def test_check_config_refuses_http_pd_with_cluster_tls(certs, tmp_path):
    cfg = gateway_mod.default_config("127.0.0.1", 3306, 4000, str(tmp_path))
    cfg["cluster"] = {"pd": ["https://pd1:2379", "http://pd2:2379"], "tls": {"ca": certs.ca}}
    path = os.path.join(str(tmp_path), "importgate.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    r = subprocess.run([gateway_mod.binary_path(), "-c", path, "--check-config"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0, "http:// PD with cluster.tls passed --check-config:\n%s%s" % (r.stdout, r.stderr)
    assert "cluster.pd[1]" in r.stdout + r.stderr


def test_https_pd_and_plain_pd_without_tls_still_load(certs, tmp_path):
    """Neither half of the refusal goes too far: https:// with cluster.tls, and http://
    without it (a plain PD, as the default configuration has), load."""
    for cluster in ({"pd": ["https://pd1:2379"], "tls": {"ca": certs.ca}},
                    {"pd": ["http://pd1:2379"]}):
        cfg = gateway_mod.default_config("127.0.0.1", 3306, 4000, str(tmp_path))
        cfg["cluster"] = cluster
        path = os.path.join(str(tmp_path), "importgate.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f)
        r = subprocess.run([gateway_mod.binary_path(), "-c", path, "--check-config"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, (cluster, r.stdout + r.stderr)


def test_reload_to_http_pd_with_cluster_tls_is_refused(gateway_factory, certs, fake_pd):
    """A reload that would turn on cluster.tls over an http:// PD is refused: the running
    configuration (no PD) stays, and the fake PD is never spoken to."""
    gw = gateway_factory()
    gw.reload({"cluster": {"pd": ["http://127.0.0.1:%d" % fake_pd.port], "tls": {"ca": certs.ca}}})
    deadline = time.monotonic() + 20
    while "reload refused" not in gw.stderr_text() and "configuration reloaded" not in gw.stderr_text() \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    text = gw.stderr_text()
    assert "reload refused" in text and "cluster.pd[0]" in text, text[-2000:]
    c = clients.connect(gw, *NATIVE)
    try:
        try:
            with c.cursor() as cur:
                cur.execute("IMPORT INTO t FROM 's3://bucket/t.csv'")
        except pymysql.err.MySQLError:
            pass
    finally:
        c.close()
    time.sleep(0.5)
    assert fake_pd.requests == []
