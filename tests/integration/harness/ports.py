"""ports.py - loopback port helpers: free ports (bind to port 0) and waiting for a listener."""

import random
import socket
import time


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A loopback TCP port nothing listens on right now. Picked at random below the kernel's
    ephemeral range: a port the kernel hands out (bind to 0) is also where every outgoing
    connection takes its source port, so with two test workers one of those took a port
    between this check and the gateway's listen ("Address already in use")."""
    top = min(_ephemeral_low(), 65536)
    for _ in range(200):
        port = random.randrange(max(1024, top - 12000), top)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
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
