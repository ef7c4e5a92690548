"""attack21: `importgate ctl` sends the admin bearer token to whatever HTTP proxy its
environment names.

The ctl talks to the admin server with libcurl, and libcurl takes a proxy from the
environment (`http_proxy`, `all_proxy`, `ALL_PROXY`) unless the program says otherwise
(CURLOPT_PROXY, https://curl.se/libcurl/c/CURLOPT_PROXY.html: "Setting the proxy string to ""
(an empty string) explicitly disables the use of a proxy, even if there is an environment
variable set for it"). Hosts where a proxy is exported for every shell are common; there, every
`importgate ctl status` handed `Authorization: Bearer <token>` in clear text to the proxy
(which could then reload the gateway or dismiss obligations), and the answer the operator read
was the proxy's, not the gateway's. The admin server is reached directly: it listens on the
gateway's own host (docs/OPERATIONS.md) and nothing in front of it needs a proxy.

Both ends here are small listeners of the test's own: the "admin server" answers the status
as the gateway does (an object), the "proxy" records whatever reaches it."""

import json
import os
import subprocess

import pytest
from harness.fakeserver import HttpAnswer

TOKEN = "attack21-ctl-token-PLANTED"


@pytest.fixture
def ends():
    admin = HttpAnswer(json.dumps({"backends": [], "obligations": {"records": []}}))
    proxy = HttpAnswer(json.dumps({"backends": [], "obligations": {"records": []}, "from": "the proxy"}))
    yield admin, proxy
    admin.close()
    proxy.close()


def run_ctl(tmp_path, admin_port, env):
    exe = os.environ.get("IMPORTGATE_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                                        "proxy", "importgate"))
    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    e = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "all_proxy", "no_proxy")}
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    e.update(env)
    return subprocess.run([exe, "ctl", "status", "--json", "--admin", "127.0.0.1:%d" % admin_port,
                           "--token-file", str(token_file)], capture_output=True, text=True, timeout=60, env=e)


@pytest.mark.parametrize("var,scheme", [("http_proxy", "http"), ("all_proxy", "http"), ("ALL_PROXY", "http"),
                                        ("all_proxy", "socks5")])
def test_ctl_ignores_proxy_environment(tmp_path, ends, var, scheme):
    admin, proxy = ends
    r = run_ctl(tmp_path, admin.port, {var: "%s://127.0.0.1:%d" % (scheme, proxy.port)})
    leaked = [d for d in proxy.received if TOKEN.encode() in d]
    assert not leaked, "the admin token went to the proxy named by $%s: %r" % (var, leaked)
    assert not proxy.received, "ctl connected to the proxy named by $%s" % var
    assert r.returncode == 0, r.stderr
    assert "the proxy" not in r.stdout, "ctl showed the proxy's answer as the gateway's"
    assert len(admin.received) == 1 and b"Authorization: Bearer " + TOKEN.encode() in admin.received[0]
