"""timing.py - how long a test may wait for an event before it calls it missing.

Tests wait for the event they expect (a log line, an error, a closed socket) and fail only
when it has not come within a generous bound; they never assert that it came inside a
narrow wall-clock window, which a busy machine misses (issue 14). Bounds and the timeouts a
test configures where the gateway must *not* fire are multiplied by scale(): under
ThreadSanitizer the gateway runs several times slower, under ASan about twice.
IG_TIME_SCALE overrides the detected factor."""

import os
import time

from . import gateway

_scales = {}  # per binary: a test may point IMPORTGATE_BIN elsewhere (test_harness's fake)


def scale():
    """IG_TIME_SCALE, else 4 for a ThreadSanitizer build of the gateway, 2 for ASan, else 1."""
    env = os.environ.get("IG_TIME_SCALE")
    if env:
        return float(env)
    path = gateway.binary_path()
    if path not in _scales:
        try:
            with open(path, "rb") as f:
                exe = f.read()
        except OSError:
            exe = b""
        _scales[path] = 4.0 if b"__tsan_init" in exe else 2.0 if b"__asan_init" in exe else 1.0
    return _scales[path]


def bound(seconds):
    """`seconds` scaled: the longest a test waits for an event that should come sooner."""
    return seconds * scale()


def wait_for(predicate, seconds, interval=0.05):
    """Polls predicate() until it is true (returns True) or bound(seconds) passed (False)."""
    deadline = time.monotonic() + bound(seconds)
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
