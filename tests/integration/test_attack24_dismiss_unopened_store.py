"""attack24: a dismissal sent before the file store exists is never answered, and holds a
thread of the pool that decides imports for 30 s.

With `obligations.file` the store is opened when the first import needs it ("opened when first
needed"); until then the obligations thread drops every event it is handed
(proxy/oblthread.c: nothing can be owed yet). A dismissal is such an event, with an admin
request waiting on it (proxy/obligations.c ig_obl_dismiss, DISMISS_WAIT_MS = 30 s): dropped,
it was never answered, so POST /api/v1/obligations/dismiss took 30 s to say "timed out ...
the dismissal is still queued" (it was not: it was gone), its wait record leaked, and a
SIGTERM meanwhile waited for it. docs/OPERATIONS.md promises "a few seconds at most".

The hooks of the admin API run on libuv's thread pool, the one that decides every IMPORT
INTO (proxy/statement.c): each such request held one of its threads for 30 s, so a handful
of them (no token is configured by default) stalled every import decision of the gateway."""

import json
import socket
import time

import pytest

from harness import ports, timing
from harness.gateway import direct_mode
from test_attack24_admin_browser import http

ID = "0123456789abcdef0123456789abcdef"


def dismiss(port, rid, timeout):
    body = json.dumps({"id": rid}).encode()
    status, body = http(port, b"POST /api/v1/obligations/dismiss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
                        timeout)
    return status, json.loads(body)


def test_dismissal_before_the_store_exists_is_answered_at_once(gateway_factory):
    if direct_mode():
        pytest.skip("IG_TEST_DIRECT=1: the admin server exists only in the gateway")
    port = ports.free_port()
    gw = gateway_factory({"admin": {"listen": "127.0.0.1:%d" % port}})
    assert ports.wait_port("127.0.0.1", port, 10)
    assert "opened when first needed" in gw.stderr_text()
    bound = timing.bound(5)
    t0 = time.monotonic()
    try:
        status, doc = dismiss(port, ID, bound)
    except socket.timeout:
        pytest.fail("no answer to the dismissal within %.1f s" % bound)
    took = time.monotonic() - t0
    assert status == 409 and doc["ok"] is False, (status, doc)
    assert "not found" in doc["error"] and "still queued" not in doc["error"], doc
    assert took < bound, took
    # the gateway stops cleanly (a leaked wait record fails the teardown under LeakSanitizer)
