"""ports.py - loopback port helpers: free ports (tests/tidb_double/portpick.py) and waiting for a
listener."""

import os
import socket
import sys
import time

_DOUBLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tidb_double")
if _DOUBLE_DIR not in sys.path:
    sys.path.insert(0, _DOUBLE_DIR)

from portpick import free_port  # noqa: E402,F401  (one allocator for every test process)


def port_accepts(host, port, timeout=0.5):
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def wait_port(host, port, timeout, alive=lambda: True):
    """Polls until (host, port) accepts a connection. Returns False on timeout or when
    alive() turns false (the process that should listen died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return False
        if port_accepts(host, port):
            return True
        time.sleep(0.02)
    return False
