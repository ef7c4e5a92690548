"""Many connections at once: 200 concurrent PyMySQL clients, all connected at the same time,
each running its own queries (text and parameters, a small result set, a user variable) and
checking every answer is its own."""

import threading

from harness import clients
from harness.mariadb import NATIVE

N = 200
ROUNDS = 5


def test_200_concurrent_connections(gw, mariadb):
    barrier = threading.Barrier(N, timeout=60)
    failures, ids = [], {}
    lock = threading.Lock()

    def client(k):
        try:
            c = clients.connect(gw, *NATIVE, db="igtest", connect_timeout=30)
            try:
                conn_id = clients.query_one(c, "SELECT CONNECTION_ID()")[0]
                clients.query_one(c, "SET @me = %s", (k,))
                barrier.wait()  # all N connected at once
                for r in range(ROUNDS):
                    got = clients.query_one(c, "SELECT %s * 1000 + %s, @me, CONNECTION_ID()",
                                            (k, r))
                    assert got == (k * 1000 + r, k, conn_id), (k, r, got)
                    rows = clients.query_all(c, "SELECT n FROM seq WHERE n BETWEEN %s AND %s "
                                                "ORDER BY n", (k % 90 + 1, k % 90 + 10))
                    assert [x[0] for x in rows] == list(range(k % 90 + 1, k % 90 + 11))
                with lock:
                    ids[k] = conn_id
            finally:
                c.close()
        except Exception as e:  # collected and reported below with the client number
            with lock:
                failures.append("client %d: %r" % (k, e))
            barrier.abort()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "clients still running after 120 s"
    assert failures == [], "\n".join(failures[:10])
    assert len(ids) == N
    assert len(set(ids.values())) == N  # N distinct backend sessions
    assert gw.alive()
