"""ports.py - loopback port helpers: free ports (bind to port 0) and waiting for a listener."""

import socket
import time


def free_port():
    """A loopback TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
