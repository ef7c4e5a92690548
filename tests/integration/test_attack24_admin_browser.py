"""attack24: a web page drives the admin API of a gateway without a token.

The admin server listens on loopback without a token by default (docs/OPERATIONS.md:
admin.listen 127.0.0.1:10090, token_file optional), trusting whoever can reach it. A web
browser on that host reaches it too, on behalf of any page it shows:

- cross-site request forgery: a page POSTs to http://127.0.0.1:10090/api/v1/reload or
  /api/v1/obligations/dismiss with Content-Type text/plain (a "simple" request: no CORS
  preflight, the browser sends it and only hides the answer); the body is JSON all the same,
  which the endpoints read whatever the Content-Type says;
- DNS rebinding: a page whose name then resolves to 127.0.0.1 is same-origin with the admin
  server, reads /api/v1/status (obligation ids, users, tables, cluster state), then dismisses
  every obligation: the owed snapshot backups and re-imports of covered imports are never
  run.

No client of the admin API is a browser (Prometheus, the kubelet, curl, `importgate ctl`),
and browsers mark what they send: `Origin` on every cross-origin request and on every POST
(Fetch standard, "append a request Origin header"), `Sec-Fetch-Site` on every request
(Fetch Metadata, all current engines). So a request carrying either is refused with 403,
on every path but /healthz (which says nothing but "ok")."""

import socket

import pytest

from harness import ports
from harness.gateway import direct_mode


def http(port, request, timeout=10):
    """One raw request to the admin port; (status, body) once the server closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(request)
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    finally:
        s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.fixture
def admin_port(gateway_factory):
    if direct_mode():
        pytest.skip("IG_TEST_DIRECT=1: the admin server exists only in the gateway")
    port = ports.free_port()
    gw = gateway_factory({"admin": {"listen": "127.0.0.1:%d" % port}})
    assert ports.wait_port("127.0.0.1", port, 10)
    return gw, port


FORGED_RELOAD = (b"POST /api/v1/reload HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 b"Origin: http://attacker.example\r\nContent-Type: text/plain;charset=UTF-8\r\n"
                 b"Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\nContent-Length: 2\r\n\r\n{}")
REBOUND_STATUS = (b"GET /api/v1/status HTTP/1.1\r\nHost: attacker.example:%d\r\n"
                  b"Sec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Dest: empty\r\n\r\n")
# a rebound page's POST: same-origin, yet the browser still names its origin
REBOUND_DISMISS = (b"POST /api/v1/obligations/dismiss HTTP/1.1\r\nHost: attacker.example:%d\r\n"
                   b"Origin: http://attacker.example:%d\r\nContent-Type: text/plain\r\nContent-Length: 44\r\n\r\n"
                   b'{"id": "00000000000000000000000000000000"}  ')


def test_forged_reload_is_refused(admin_port):
    gw, port = admin_port
    status, body = http(port, FORGED_RELOAD % port)
    assert status == 403, (status, body)
    assert "configuration reloaded" not in gw.stderr_text()
    assert "admin.reload" not in gw.audit_text()


def test_rebound_status_read_is_refused(admin_port):
    _, port = admin_port
    status, body = http(port, REBOUND_STATUS % port)
    assert status == 403, (status, body)
    assert b"obligations" not in body and b"backends" not in body, body


def test_rebound_dismiss_is_refused(admin_port):
    _, port = admin_port
    status, body = http(port, REBOUND_DISMISS % (port, port))
    assert status == 403, (status, body)


@pytest.mark.parametrize("before", [b"X-Empty:\r\n", b"X-Empty: \r\n", b"X-A:\r\nX-B:\r\n"])
def test_rebound_read_with_an_empty_header_first_is_refused(admin_port, before):
    """A rebound page may add headers of its own (same-origin: no preflight), an empty one
    too. The header names are told apart by the value callback between them: http_parser
    calls it for an empty value as well (with no bytes), so "X-Empty" and "Sec-Fetch-Site"
    are two names, not one "X-EmptySec-Fetch-Site". A guard: it passes with the fix above."""
    _, port = admin_port
    req = (b"GET /api/v1/status HTTP/1.1\r\nHost: attacker.example:%d\r\n" % port + before +
           b"Sec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\n\r\n")
    status, body = http(port, req)
    assert status == 403, (status, body)


def test_clients_that_are_not_browsers_are_served(admin_port):
    """curl, Prometheus, the kubelet and ctl send neither header: unchanged for them."""
    gw, port = admin_port
    status, body = http(port, b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
    assert status == 200 and b"backends" in body, (status, body)
    status, body = http(port, b"POST /api/v1/reload HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                              b"Content-Length: 0\r\n\r\n" % port)
    assert status == 200, (status, body)
    status, body = http(port, b"GET /healthz HTTP/1.1\r\nHost: a\r\nOrigin: http://attacker.example\r\n"
                              b"Sec-Fetch-Site: cross-site\r\n\r\n")
    assert status == 200 and body == b"ok\n", (status, body)
