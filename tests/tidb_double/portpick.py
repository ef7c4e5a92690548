"""portpick.py - loopback ports for the test processes to listen on, without two of them
picking the same one.

A port is handed out only when a bind to it succeeds right now, but between that check and the
real listener's bind (an etcd, a gateway, a MariaDB starting) another process may pick it too.
Two pytest-xdist workers used to draw at random from one range and met there about once a
suite run (CI: etcd "bind: address already in use" in the quickstart test, a gateway whose
admin port was taken). So:
  - the range below the kernel's ephemeral ports (which every outgoing connection draws its
    source port from) is cut into slices: one per xdist worker, one for everything else;
  - within its slice a process walks forward from a random start and never hands out the same
    port twice until the slice wraps around.
Pure standard library: used by tests/integration/harness and the doubles in tests/tidb_double.
"""

import os
import random
import socket
import threading

SPAN = 12000  # ports below the ephemeral range shared out between the slices

_lock = threading.Lock()
_cursor = None  # next port to try in this process's slice


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


SLICES = 8  # slice 0: processes outside xdist; 1-7: xdist workers gw0-gw6 (gw7 shares gw0's)


def _worker_slice():
    """The slice of this process: gwN of an xdist run takes 1 + N % 7; anything else (a
    pytest run without xdist, a benchmark script) takes 0. Fixed, not from the worker count,
    so two runs at once (a suite and a lone test file) still keep apart."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    if name.startswith("gw") and name[2:].isdigit():
        return 1 + int(name[2:]) % (SLICES - 1)
    return 0


def slice_range():
    """[lo, hi) of this process's slice."""
    top = min(_ephemeral_low(), 65536)
    base = max(1024, top - SPAN)
    width = (top - base) // SLICES
    index = _worker_slice()
    return base + index * width, base + (index + 1) * width


def _bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port():
    """A loopback TCP port nothing listens on right now, from this process's slice."""
    global _cursor
    lo, hi = slice_range()
    with _lock:
        if _cursor is None or not lo <= _cursor < hi:
            _cursor = random.randrange(lo, hi)
        for _ in range(hi - lo):
            port = _cursor
            _cursor = lo if _cursor + 1 >= hi else _cursor + 1
            if _bindable(port):
                return port
    raise OSError("no free loopback port in %d-%d" % (lo, hi - 1))
