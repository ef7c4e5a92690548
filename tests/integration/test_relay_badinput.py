"""Bad input on raw sockets: garbage instead of a handshake response, a truncated packet then
close, an oversized (1 MiB) handshake response, wrong sequence ids, a header announcing
0xffffff bytes followed by nothing (handshake timeout). Each time the bad connection ends
(error packet or close) within a bound, and the gateway keeps serving normal clients.

The same tests run against MariaDB directly (IG_TEST_DIRECT=1), whose connect_timeout the
harness sets to 3 s; through the gateway timeouts.handshake_ms is 500."""

import os
import struct
import time

import pytest

from harness import clients, rawproto, timing
from harness.mariadb import NATIVE

HANDSHAKE_MS = 500


@pytest.fixture
def bgw(gateway_factory):
    return gateway_factory({"timeouts": {"handshake_ms": HANDSHAKE_MS}})


def _deadline(gw, mariadb):
    """How long a stalled handshake may last before the peer must give up: its timeout plus a
    generous lateness, scaled for slow builds (a fixed +3 s was a window on a busy machine)."""
    return (mariadb.connect_timeout if gw.direct else HANDSHAKE_MS / 1000.0) + timing.bound(10)


def assert_still_serving(gw):
    c = clients.connect(gw, *NATIVE)
    try:
        assert clients.query_one(c, "SELECT 'serving'") == ("serving",)
    finally:
        c.close()
    assert gw.alive(), "the gateway process died"


def _ended(outcome):
    return outcome == "closed" or (isinstance(outcome, tuple) and outcome[0] == "error")


def test_garbage_instead_of_handshake_response(bgw, mariadb):
    c = rawproto.RawConn(bgw.host, bgw.port)
    c.read_greeting()
    c.send_packet(os.urandom(64), 1)
    out = c.outcome(10)
    c.close()
    assert _ended(out), out
    assert_still_serving(bgw)


def test_garbage_bytes_not_even_a_packet(bgw, mariadb):
    c = rawproto.RawConn(bgw.host, bgw.port)
    c.read_greeting()
    c.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(300))
    out = c.outcome(_deadline(bgw, mariadb))
    c.close()
    assert _ended(out), out
    assert_still_serving(bgw)


def test_client_talks_before_greeting(bgw, mariadb):
    c = rawproto.RawConn(bgw.host, bgw.port)
    c.send_raw(os.urandom(200))  # before reading the greeting
    out = c.outcome(_deadline(bgw, mariadb))
    c.close()
    assert _ended(out), out
    assert_still_serving(bgw)


def test_truncated_packet_then_close(bgw):
    for _ in range(5):
        c = rawproto.RawConn(bgw.host, bgw.port)
        c.read_greeting()
        c.send_raw(struct.pack("<I", 100)[:3] + b"\x01" + b"\x05\xa2\x00\x00")  # 4 of 100 bytes
        c.close()
    assert_still_serving(bgw)


def test_close_right_after_connect_and_after_greeting(bgw):
    for _ in range(10):
        rawproto.RawConn(bgw.host, bgw.port).close()
    for _ in range(10):
        c = rawproto.RawConn(bgw.host, bgw.port)
        c.read_greeting()
        c.close()
    assert_still_serving(bgw)


def test_oversized_handshake_response(bgw, mariadb):
    c = rawproto.RawConn(bgw.host, bgw.port)
    _, g = c.read_greeting()
    # The fixed 32-byte part of a HandshakeResponse41, then a 1 MiB "user name".
    body = rawproto.handshake_response(NATIVE[0], NATIVE[1], g["salt"])[:32]
    body += b"A" * (1024 * 1024 - len(body))
    try:
        c.send_packet(body, 1)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused while still sending: fine
    out = c.outcome(_deadline(bgw, mariadb))
    c.close()
    assert out != "timeout", out
    if isinstance(out, tuple):
        assert out[0] == "error"
    assert_still_serving(bgw)


def test_handshake_response_wrong_sequence_id(bgw, mariadb):
    c = rawproto.RawConn(bgw.host, bgw.port)
    _, g = c.read_greeting()
    c.send_packet(rawproto.handshake_response(NATIVE[0], NATIVE[1], g["salt"]), 7)  # not 1
    out = c.outcome(_deadline(bgw, mariadb))
    c.close()
    assert _ended(out), out
    assert_still_serving(bgw)


def test_command_wrong_sequence_id(bgw):
    """After login, a COM_QUERY with sequence id 5 instead of 0: an error or a close, never
    a hang; a good connection opened alongside is unaffected."""
    good = clients.connect(bgw, *NATIVE)
    c, _ = rawproto.login(bgw.host, bgw.port, *NATIVE)
    c.send_packet(bytes([rawproto.COM_QUERY]) + b"SELECT 1", 5)
    out = c.outcome(10)
    c.close()
    assert _ended(out), out
    try:
        assert clients.query_one(good, "SELECT 2") == (2,)
    finally:
        good.close()
    assert_still_serving(bgw)


def test_header_announces_max_packet_then_nothing(bgw, mariadb):
    """A header claiming 0xffffff bytes, then silence: the handshake timeout ends it."""
    c = rawproto.RawConn(bgw.host, bgw.port, timeout=30)
    c.read_greeting()
    t0 = time.monotonic()
    c.send_raw(b"\xff\xff\xff\x01")
    out = c.outcome(_deadline(bgw, mariadb) + 5)
    elapsed = time.monotonic() - t0
    c.close()
    assert _ended(out), out
    assert elapsed < _deadline(bgw, mariadb), elapsed
    assert_still_serving(bgw)


def test_silent_client_times_out(bgw, mariadb):
    """A client that connects and never answers the greeting."""
    c = rawproto.RawConn(bgw.host, bgw.port, timeout=30)
    c.read_greeting()
    t0 = time.monotonic()
    out = c.outcome(_deadline(bgw, mariadb) + 5)
    c.close()
    assert _ended(out), out
    assert time.monotonic() - t0 < _deadline(bgw, mariadb)
    assert_still_serving(bgw)


def test_many_stalled_handshakes_do_not_block_others(bgw, mariadb):
    stalled = []
    for _ in range(20):
        c = rawproto.RawConn(bgw.host, bgw.port, timeout=30)
        c.send_raw(b"\xff\xff\xff\x01abc")
        stalled.append(c)
    assert_still_serving(bgw)
    for c in stalled:
        assert _ended(c.outcome(_deadline(bgw, mariadb) + 5))
        c.close()


@pytest.mark.gateway_only
def test_unknown_command_after_login(bgw):
    """Command byte 0xee does not exist: the backend's (or the gateway's) error comes back,
    or the connection is closed; the gateway survives."""
    c, _ = rawproto.login(bgw.host, bgw.port, *NATIVE)
    c.send_packet(b"\xee\x00\x01", 0)
    out = c.outcome(10)
    c.close()
    assert _ended(out), out
    assert_still_serving(bgw)
