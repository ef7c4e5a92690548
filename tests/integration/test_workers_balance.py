"""test_workers_balance.py - new connections are spread over the workers by their session
counts (proxy/worker.c: a worker that accepts a connection while another has fewer sessions
hands the socket over). The kernel's SO_REUSEPORT hash alone left, with 16 connections, 10 on
one worker and 6 on the other (docs/BENCHMARKS.md 1.12).

Checked through /api/v1/status "workers" (sessions per worker, connections handed over):
  - connections opened one after another never leave two workers more than one session apart,
    with 2 and with 3 workers, and the sessions add up to the connections open;
  - after closes unbalance the workers, new connections go to the emptier one;
  - a burst of concurrent connections (each one through a hand-over or not) is served whole:
    every client gets its answer, and the sessions add up;
  - a handed-over session is a whole session: the statements, the decision on an IMPORT INTO
    (8173 from the deny-all rule), the client's address in the audit record."""

import json
import threading

import pytest

from harness import clients
from harness.mariadb import NATIVE
from test_admin import DENY_ALL, IMPORT_SQL, PRECHECK, gateway_admin, wait_for


def workers(adm):
    st, _, body = adm.get("/api/v1/status")
    assert st == 200, body
    doc = json.loads(body)
    return doc["workers"]


def sessions(adm):
    return [w["sessions"] for w in workers(adm)]


def start(gateway_factory, tmp_path, n_workers, extra=None):
    cfg = {"workers": n_workers}
    cfg.update(extra or {})
    adm = gateway_admin(gateway_factory, str(tmp_path / "adm"), extra=cfg)
    # the listen port accepts once the first worker listens; the others start after it
    assert wait_for(lambda: len(workers(adm)) == n_workers, 30), workers(adm)
    return adm


def settled(adm, total):
    """Waits until the status shows `total` sessions (closes are seen when the gateway reads
    them) and returns the per-worker counts."""
    assert wait_for(lambda: sum(sessions(adm)) == total, 20), sessions(adm)
    return sessions(adm)


@pytest.mark.gateway_only
@pytest.mark.parametrize("n_workers", [2, 3])
def test_sequential_connections_are_spread_evenly(gateway_factory, tmp_path, n_workers):
    adm = start(gateway_factory, tmp_path, n_workers)
    conns = []
    try:
        for k in range(1, 5 * n_workers + 2):
            c = clients.connect(adm.gw, *NATIVE)
            conns.append(c)
            assert clients.query_one(c, "SELECT %d" % k) == (k,)
            per = settled(adm, k)
            assert max(per) - min(per) <= 1, (k, per)
    finally:
        for c in conns:
            c.close()
    settled(adm, 0)


@pytest.mark.gateway_only
def test_new_connections_fill_the_emptier_worker(gateway_factory, tmp_path):
    adm = start(gateway_factory, tmp_path, 2)
    conns = [clients.connect(adm.gw, *NATIVE) for _ in range(8)]
    try:
        for c in conns:
            assert clients.query_one(c, "SELECT 1") == (1,)
        assert settled(adm, 8) == [4, 4]
        # close sessions one at a time until a worker has none left: the clients cannot see
        # which worker serves them, the status can
        while True:
            c = conns.pop(0)
            c.close()
            now = settled(adm, len(conns))
            if 0 in now:
                break
        busy = max(now)
        assert busy > 0 and sorted(now) == [0, busy], now
        # every new connection goes to the empty worker until it has as many
        for _ in range(busy):
            c = clients.connect(adm.gw, *NATIVE)
            conns.append(c)
            assert clients.query_one(c, "SELECT 2") == (2,)
        assert settled(adm, 2 * busy) == [busy, busy]
    finally:
        for c in conns:
            c.close()
    settled(adm, 0)


@pytest.mark.gateway_only
def test_concurrent_burst_is_served_whole(gateway_factory, tmp_path):
    adm = start(gateway_factory, tmp_path, 2)
    n = 48
    results, errors = [None] * n, []
    conns = [None] * n
    barrier = threading.Barrier(n)

    def client(k):
        try:
            barrier.wait(30)
            c = clients.connect(adm.gw, *NATIVE)
            conns[k] = c
            results[k] = clients.query_one(c, "SELECT %d" % k)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors
        assert results == [(k,) for k in range(n)]
        per = settled(adm, n)
        assert min(per) > 0, per
        # about every other connection reaches the fuller worker: some were handed over
        assert sum(w["handed_over"] for w in workers(adm)) >= 1, workers(adm)
    finally:
        for c in conns:
            if c is not None:
                c.close()
    settled(adm, 0)


@pytest.mark.gateway_only
def test_handed_over_session_is_whole(gateway_factory, tmp_path):
    adm = start(gateway_factory, tmp_path, 2, DENY_ALL)
    conns = []
    try:
        # open connections until one has been handed over (each connection the kernel sends
        # to the fuller of two workers is: about every other one), then use every one of them
        for _ in range(40):
            conns.append(clients.connect(adm.gw, *NATIVE))
            if sum(w["handed_over"] for w in workers(adm)) >= 1:
                break
        assert sum(w["handed_over"] for w in workers(adm)) >= 1, workers(adm)
        for c in conns:
            assert clients.query_one(c, "SELECT CONCAT('a', 'b')") == ("ab",)
            with pytest.raises(Exception) as ei:
                clients.query_one(c, IMPORT_SQL)
            assert ei.value.args[0] == PRECHECK, ei.value.args
            # the session still serves after the refusal
            assert clients.query_one(c, "SELECT 3") == (3,)
    finally:
        for c in conns:
            c.close()
    settled(adm, 0)
