"""
test_metrics_threads.py - the admin thread renders the process metrics, counting the open
descriptors in /proc/self/fd, while the workers and the main loop (health checks) open and
close sockets. Also run under ThreadSanitizer (tests/run.sh): libuv closes its sockets with a
raw close system call that TSan cannot see, and when the admin thread's opendir() got a number
a loop's socket had used, its closedir() read as a race with that loop's epoll_ctl (a TSan
report that failed a run; proxy/procstat.c now reads the directory through open()).
"""
import os
import threading
import time

import pytest

from harness import clients
from harness.mariadb import NATIVE
from test_admin import gateway_admin, wait_for


def open_fds(a):
    return a.metrics()[0][("process_open_fds", frozenset())]


def sockets(a):
    d = "/proc/%d/fd" % a.gw.proc.pid
    n = 0
    for name in os.listdir(d):
        try:
            n += os.readlink(os.path.join(d, name)).startswith("socket:")
        except OSError:
            pass  # closed while listed
    return n


@pytest.mark.gateway_only
def test_open_fds_counted_while_sockets_churn(gateway_factory, tmp_path):
    a = gateway_admin(gateway_factory, str(tmp_path / "adm"), extra={"backends": {"health_interval_ms": 20}})
    # the listeners and the admin server's; a health probe may hold one more at any time
    # (the background threads' loops and pipes may still be starting: sockets only)
    listening = sockets(a)
    stop = threading.Event()
    errors = []
    connects = [0]

    def churn():
        while not stop.is_set():
            try:
                clients.connect(a.gw, *NATIVE).close()
                connects[0] += 1
            except Exception as e:  # noqa: BLE001 - reported by the assertion below
                errors.append(e)
                return

    threads = [threading.Thread(target=churn, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    seen = []
    try:
        deadline = time.time() + 4
        while time.time() < deadline:
            seen.append(open_fds(a))
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:3]
    assert connects[0] > 10 and len(seen) > 10, (connects[0], len(seen))
    assert all(3 <= n < 1000 for n in seen), (min(seen), max(seen))
    # every churned session closed both its sockets
    assert wait_for(lambda: sockets(a) <= listening + 2, 30), (listening, sockets(a))
    # and the metric counts what /proc lists (give or take a probe's socket)
    assert abs(open_fds(a) - len(os.listdir("/proc/%d/fd" % a.gw.proc.pid))) <= 3
