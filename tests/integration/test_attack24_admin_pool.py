"""attack24: requests to the admin API stall the sessions' statements.

The admin hooks (status, coverage, explain, dismiss, reload) run on libuv's thread pool
(proxy/admin.c run_hook), the pool of every decision and of the classification of every
statement over 64 KiB (proxy/statement.c); it has 4 threads. A hook may wait a long time: an
explain or a coverage reads PD's state (up to cluster.timeout_ms when PD does not answer), a
dismissal waits for the obligations thread (up to 30 s), reloads wait for each other. The
admin server ran as many at once as requests came, so a few requests (the admin API needs no
token by default) held every thread of the pool, and a client's statement waited behind them
all: here 8 explains against a PD that accepts and never answers hold the pool for 2 x 6 s,
and a 70 KiB SELECT of an unrelated session waited for them.

The admin API has one thread's worth of the pool: its hooks run one at a time (the others
wait in the admin server's own queue), so the sessions always have the rest."""

import json
import socket
import threading
import time

import pymysql
import pytest

from harness import ports, timing
from harness.fakeserver import FakeServer
from harness.gateway import direct_mode
from harness.mariadb import NATIVE

PD_TIMEOUT_MS = 6000
EXPLAINS = 8


class HangingPD(FakeServer):
    """Accepts, reads, never answers."""

    def serve(self, c):
        c.settimeout(0.2)
        try:
            while not self.stopping:
                try:
                    if not c.recv(65536):
                        break
                except socket.timeout:
                    continue
        except OSError:
            pass
        finally:
            c.close()


def explain(port, results):
    body = json.dumps({"user": "u", "db": "test", "statement": "IMPORT INTO t FROM 's3://b/t.csv'"}).encode()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=120)
        s.sendall(b"POST /api/v1/explain HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s"
                  % (len(body), body))
        while s.recv(65536):
            pass
        s.close()
        results.append("answered")
    except OSError as e:
        results.append(repr(e))


@pytest.fixture
def hanging_pd():
    pd = HangingPD()
    yield pd
    pd.close()


def test_admin_requests_leave_the_pool_to_the_sessions(gateway_factory, hanging_pd):
    if direct_mode():
        pytest.skip("IG_TEST_DIRECT=1: the admin server exists only in the gateway")
    port = ports.free_port()
    gw = gateway_factory({"admin": {"listen": "127.0.0.1:%d" % port},
                          "cluster": {"pd": ["http://127.0.0.1:%d" % hanging_pd.port],
                                      "timeout_ms": PD_TIMEOUT_MS}})
    assert ports.wait_port("127.0.0.1", port, 10)
    results = []
    threads = [threading.Thread(target=explain, args=(port, results), daemon=True) for _ in range(EXPLAINS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timing.bound(5)
    while hanging_pd.connections < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hanging_pd.connections >= 1, "no explain reached PD"
    time.sleep(0.5)  # every explain request is in by now

    c = pymysql.connect(host=gw.host, port=gw.port, user=NATIVE[0], password=NATIVE[1], connect_timeout=30,
                        read_timeout=120)
    try:
        # over 64 KiB, and the letters "import" keep it off the quick path (sqlparse/quick.c):
        # classified on the pool; no import, so nothing else waits for PD
        big = "x" * (70 * 1024)
        t0 = time.monotonic()
        with c.cursor() as cur:
            cur.execute("SELECT LENGTH('%s'), 'import'" % big)
            assert cur.fetchone() == (len(big), "import")
        took = time.monotonic() - t0
    finally:
        c.close()
    assert took < timing.bound(1.5), "a 70 KiB SELECT took %.1f s behind the admin API's explains" % took
    for t in threads:
        t.join(timing.bound(EXPLAINS * PD_TIMEOUT_MS / 1000 + 10))
    assert results == ["answered"] * EXPLAINS, results
