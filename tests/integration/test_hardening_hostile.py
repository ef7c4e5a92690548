"""test_hardening_hostile.py - issue 7, hostile clients on raw sockets (harness/rawproto.py),
beyond test_relay_badinput.py: slowloris (a byte a second, the handshake deadline is total,
not per read), TLS started and never finished, oversized length-encoded integers in the
handshake response, a 0xffffff-byte packet never completed after login, sequence-id games in
split packets, pipelined commands (all answered, in order), a COM_CHANGE_USER flood (the
gateway's VmRSS stays bounded), CLIENT_COMPRESS requested by the client (the session is
compressed from the OK on, never garbage), and TLS downgrade when client_tls.require is set
(error 3159). Each time the gateway keeps serving normal clients."""

import os
import socket
import struct
import threading
import time
import zlib

import pytest

from harness import clients, rawproto, timing
from harness.mariadb import NATIVE, OTHER

pytestmark = pytest.mark.gateway_only

HANDSHAKE_MS = 1500
# How much later than handshake_ms a cut may come on a slow build or a busy machine: an upper
# bound that tells "cut" from "never cut", not a window (issue 14).
LATE_S = timing.bound(10)
CLIENT_COMPRESS = 0x20
CLIENT_CONNECT_ATTRS = 0x100000
CLIENT_PLUGIN_AUTH_LENENC = 0x200000
CLIENT_ZSTD = 0x4000000
COM_CHANGE_USER = 0x11
COM_INIT_DB = 0x02
ER_SECURE_TRANSPORT_REQUIRED = 3159


@pytest.fixture
def hgw(gateway_factory):
    # no health checks: their connections to the backend come and go in the fd counts (on a
    # busy machine one was open at every look, issue 14)
    return gateway_factory({"timeouts": {"handshake_ms": HANDSHAKE_MS}, "log": {"level": "info"},
                            "backends": {"health_interval_ms": 0}})


def vmrss(gw):
    with open("/proc/%d/status" % gw.proc.pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise KeyError("VmRSS")


def fds(gw):
    return len(os.listdir("/proc/%d/fd" % gw.proc.pid))


def assert_still_serving(gw):
    c = clients.connect(gw, *NATIVE)
    try:
        assert clients.query_one(c, "SELECT 'serving'") == ("serving",)
    finally:
        c.close()
    assert gw.alive(), "the gateway process died"


def ended(out):
    return out == "closed" or (isinstance(out, tuple) and out[0] == "error")


def good_response(g, caps=None, user=NATIVE):
    return rawproto.handshake_response(user[0], user[1], g["salt"], caps=caps)


DEFAULT_CAPS = (rawproto.CLIENT_LONG_PASSWORD | rawproto.CLIENT_PROTOCOL_41 |
                rawproto.CLIENT_TRANSACTIONS | rawproto.CLIENT_SECURE_CONNECTION |
                rawproto.CLIENT_MULTI_RESULTS | rawproto.CLIENT_PLUGIN_AUTH)


# ---------------------------------------------------------------- slow and stalled handshakes


def test_slowloris_one_byte_per_second_closed_by_handshake_deadline(hgw):
    """Each byte resets no timer: the whole handshake must finish within handshake_ms."""
    c = rawproto.RawConn(hgw.host, hgw.port, timeout=30)
    _, g = c.read_greeting()
    data = struct.pack("<I", 200)[:3] + b"\x01" + good_response(g).ljust(200, b"\0")
    t0 = time.monotonic()
    closed_after = None
    for b in data:
        try:
            c.send_raw(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            closed_after = time.monotonic() - t0
            break
        c.sock.settimeout(0.5)
        try:
            chunk = c.sock.recv(4096)
            if not chunk or chunk[4:5] == b"\xff":
                closed_after = time.monotonic() - t0
                break
        except socket.timeout:
            pass
        except (ConnectionResetError, BrokenPipeError):
            closed_after = time.monotonic() - t0
            break
        time.sleep(0.5)  # with the recv wait above: one byte a second
        if time.monotonic() - t0 > HANDSHAKE_MS / 1000.0 + LATE_S + 2:
            break
    c.close()
    assert closed_after is not None, "a byte-a-second client was never cut"
    assert closed_after < HANDSHAKE_MS / 1000.0 + LATE_S, closed_after
    assert_still_serving(hgw)


def test_many_slowloris_do_not_block_logins(gateway_factory):
    """50 slow clients at once; a normal login meanwhile is served while they are still held
    (their handshake_ms is long here, so that order does not hang on a busy machine's
    pauses), and the gateway's fd count returns to its idle count once the slow ones are
    cut."""
    handshake_s = 3.0 * timing.scale()
    hgw = gateway_factory({"timeouts": {"handshake_ms": int(handshake_s * 1000)},
                           "log": {"level": "info"}, "backends": {"health_interval_ms": 0}})
    idle_fds = fds(hgw)
    conns = []
    for _ in range(50):
        c = rawproto.RawConn(hgw.host, hgw.port, timeout=10)
        c.read_greeting()
        c.send_raw(b"\x40\x00\x00")  # 3 of the 4 header bytes
        conns.append(c)
    t0 = time.monotonic()
    assert_still_serving(hgw)
    # served long before the slow ones are cut: not queued behind them
    assert time.monotonic() - t0 < handshake_s / 2, time.monotonic() - t0
    outs = [c.outcome(handshake_s + LATE_S) for c in conns]
    for c in conns:
        c.close()
    assert all(ended(o) for o in outs), outs
    assert timing.wait_for(lambda: fds(hgw) <= idle_fds, 10), (idle_fds, fds(hgw))


@pytest.fixture
def tls_gw(gateway_factory, certs):
    def start(require):
        return gateway_factory({"timeouts": {"handshake_ms": HANDSHAKE_MS},
                                "client_tls": {"cert": certs.server_cert, "key": certs.server_key,
                                               "ca": certs.ca, "require": require}})
    return start


def ssl_request(g, caps=DEFAULT_CAPS):
    return struct.pack("<IIB23x", caps | rawproto.CLIENT_SSL, 1 << 24, 45)


@pytest.mark.parametrize("after", ["nothing", "half_client_hello", "garbage"])
def test_tls_started_never_finished(tls_gw, after):
    gw = tls_gw(False)
    c = rawproto.RawConn(gw.host, gw.port, timeout=10)
    _, g = c.read_greeting()
    assert g["caps"] & rawproto.CLIENT_SSL
    c.send_packet(ssl_request(g), 1)
    if after == "half_client_hello":
        # A TLS record header announcing 512 bytes of handshake, then 5 of them.
        c.send_raw(b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc\x03")
    elif after == "garbage":
        c.send_raw(os.urandom(64))
    t0 = time.monotonic()
    out = c.outcome(HANDSHAKE_MS / 1000.0 + LATE_S + 5)
    elapsed = time.monotonic() - t0
    c.close()
    assert out == "closed", out  # no MySQL error can be sent in the clear mid-TLS
    assert elapsed < HANDSHAKE_MS / 1000.0 + LATE_S, elapsed
    assert_still_serving(gw)


# ---------------------------------------------------------------- oversized integers


def _fixed_part(caps):
    return struct.pack("<IIB23x", caps, 1 << 24, 45)


@pytest.mark.parametrize("case", [
    # auth-response length as a lenenc 0xfe + 8 bytes: 2^64-1
    ("auth_len_2^64", CLIENT_PLUGIN_AUTH_LENENC,
     lambda: b"ignative\0" + b"\xfe" + b"\xff" * 8 + b"x" * 20),
    # auth-response length 0xfc 0xffff with 3 bytes behind it
    ("auth_len_short", CLIENT_PLUGIN_AUTH_LENENC, lambda: b"ignative\0\xfc\xff\xffabc"),
    # connection attributes total length 2^63
    ("attrs_len_2^63", CLIENT_CONNECT_ATTRS,
     lambda: b"ignative\0\x00mysql_native_password\0\xfe" + b"\x00" * 7 + b"\x80"),
    # attributes: one key whose length says 16 MiB
    ("attr_key_len", CLIENT_CONNECT_ATTRS,
     lambda: b"ignative\0\x00mysql_native_password\0\x05\xfd\xff\xff\xffa"),
    # the 0xff lenenc prefix is not a valid integer at all
    ("lenenc_0xff", CLIENT_PLUGIN_AUTH_LENENC, lambda: b"ignative\0\xff" + b"\xff" * 8),
], ids=lambda c: c[0])
def test_oversized_lenenc_in_handshake_response(hgw, case):
    _, extra_caps, body = case
    c = rawproto.RawConn(hgw.host, hgw.port)
    c.read_greeting()
    c.send_packet(_fixed_part(DEFAULT_CAPS | extra_caps) + body(), 1)
    t0 = time.monotonic()
    out = c.outcome(HANDSHAKE_MS / 1000.0 + LATE_S + 5)
    c.close()
    assert ended(out), out
    assert time.monotonic() - t0 < HANDSHAKE_MS / 1000.0 + LATE_S
    assert_still_serving(hgw)


# ---------------------------------------------------------------- after login


def test_max_length_packet_never_completed_after_login(hgw):
    """Ten logged-in clients announce a 16 MiB COM_QUERY, send 1 MiB of it and stall. Other
    sessions are served; the gateway's RSS does not grow by more than what was sent; when
    they close, the gateway's fd count returns to its idle count."""
    idle_fds = fds(hgw)
    rss0 = vmrss(hgw)
    stalled = []
    for _ in range(10):
        c, _ = rawproto.login(hgw.host, hgw.port, *NATIVE)
        c.send_raw(b"\xff\xff\xff\x00\x03SELECT '" + b"A" * (1024 * 1024))
        stalled.append(c)
    time.sleep(0.5)
    assert_still_serving(hgw)
    grown = vmrss(hgw) - rss0
    for c in stalled:
        c.close()
    assert grown < 64 * 1024, "RSS grew %d KiB for 10 MiB of stalled input" % grown
    assert timing.wait_for(lambda: fds(hgw) <= idle_fds, 10), (idle_fds, fds(hgw))
    assert_still_serving(hgw)


def test_split_packet_continuation_with_wrong_sequence_id(hgw):
    """A 16 MiB + 10 byte COM_QUERY whose second packet carries sequence id 9 instead of 1:
    an error or a close, never a hang, never a crash. MariaDB directly answers at once with
    error 1156 (Got packets out of order)."""
    c, _ = rawproto.login(hgw.host, hgw.port, *NATIVE)
    first = b"\x03SELECT '" + b"B" * (0xffffff - 9)
    try:
        c.send_packet(first, 0)
        c.send_packet(b"BBBB' AS x", 9)
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = c.outcome(10)
    c.close()
    assert ended(out), out
    assert_still_serving(hgw)


def test_command_sequence_id_replayed(hgw):
    """Two COM_QUERYs with sequence id 0, then one with 255: each answered or the session
    ended; never a hang."""
    c, _ = rawproto.login(hgw.host, hgw.port, *NATIVE)
    c.send_packet(b"\x03SELECT 1", 0)
    seq, p = c.read_packet()
    assert seq == 1 and p[:1] not in (b"\xff",), (seq, p)
    out = c.outcome(2)  # the rest of the result, then silence
    assert out == "timeout", out
    c.send_packet(b"\x03SELECT 2", 255)
    out = c.outcome(10)
    c.close()
    assert ended(out), out
    assert_still_serving(hgw)


def _read_text_result(c):
    """Reads one COM_QUERY answer (no DEPRECATE_EOF): ('ok',) / ('error', code) /
    ('rows', [first column values])."""
    _, p = c.read_packet()
    if p[:1] == b"\x00":
        return ("ok",)
    if p[:1] == b"\xff":
        return ("error", struct.unpack_from("<H", p, 1)[0])
    ncols = p[0]
    for _ in range(ncols + 1):  # column definitions and their EOF
        c.read_packet()
    rows = []
    while True:
        _, p = c.read_packet()
        if p[:1] == b"\xfe" and len(p) < 9:
            return ("rows", rows)
        rows.append(p[1:1 + p[0]].decode())


def test_pipelined_commands_answered_in_order(hgw):
    """300 commands in a single write (queries, pings, COM_INIT_DB, an error in the middle):
    every one answered, in the order sent."""
    c, _ = rawproto.login(hgw.host, hgw.port, *NATIVE, db="igtest")
    batch, expect = b"", []
    for k in range(300):
        if k % 50 == 25:
            payload, want = b"\x03SELECT * FROM no_such_table_%d" % k, ("error", 1146)
        elif k % 10 == 3:
            payload, want = bytes([rawproto.COM_PING]), ("ok",)
        elif k % 10 == 7:
            payload, want = bytes([COM_INIT_DB]) + b"igtest", ("ok",)
        else:
            payload, want = b"\x03SELECT %d" % k, ("rows", [str(k)])
        batch += struct.pack("<I", len(payload))[:3] + b"\x00" + payload
        expect.append(want)
    c.send_raw(batch)
    got = [_read_text_result(c) for _ in expect]
    assert got == expect
    assert c.outcome(1) == "timeout"  # nothing more was sent
    c.close()
    assert_still_serving(hgw)


def _change_user(c, user, password, salt, db="igtest2"):
    body = (bytes([COM_CHANGE_USER]) + user.encode() + b"\0")
    auth = rawproto.native_scramble(password, salt)
    body += bytes([len(auth)]) + auth + db.encode() + b"\0" + struct.pack("<H", 45)
    body += b"mysql_native_password\0"
    c.send_packet(body, 0)
    seq, p = c.read_packet()
    if p[:1] == b"\xfe" and len(p) > 1:
        end = p.index(b"\0", 1)
        salt = p[end + 1:].rstrip(b"\0")
        c.send_packet(rawproto.native_scramble(password, salt), seq + 1)
        seq, p = c.read_packet()
    return p


def test_change_user_flood_bounded_memory(gateway_factory, monkeypatch):
    """4 connections x 500 COM_CHANGE_USER alternating two users: every one succeeds, the
    user really changes, and the gateway's VmRSS after the flood is within 8 MiB of where it
    was after the first 100 (ASan's quarantine kept small so RSS means live memory)."""
    monkeypatch.setenv("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:quarantine_size_mb=1:"
                       "thread_local_quarantine_size_kb=64")
    gw = gateway_factory({"log": {"level": "warn"}})
    users = [NATIVE, OTHER]
    errors = []
    marks = {}

    def flood(k, n, start):
        try:
            c, g = rawproto.login(gw.host, gw.port, *NATIVE)
            for i in range(start, start + n):
                u = users[(i + 1) % 2]
                p = _change_user(c, u[0], u[1], g["salt"])
                if p[:1] != b"\x00":
                    errors.append("conn %d change %d: %r" % (k, i, p[:80]))
                    break
            c.send_packet(b"\x03SELECT CURRENT_USER()", 0)
            res = _read_text_result(c)
            want = users[(start + n) % 2][0]
            if res[0] != "rows" or not res[1][0].startswith(want + "@"):
                errors.append("conn %d: current user %r, want %s" % (k, res, want))
            c.close()
        except Exception as e:  # reported below
            errors.append("conn %d: %r" % (k, e))

    def run(n):
        ts = [threading.Thread(target=flood, args=(k, n, 0)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)

    run(25)
    marks["warm"] = vmrss(gw)
    run(500)
    marks["end"] = vmrss(gw)
    assert errors == [], errors[:5]
    assert marks["end"] - marks["warm"] < 8 * 1024, marks
    assert_still_serving(gw)


# ---------------------------------------------------------------- capabilities


@pytest.mark.parametrize("bits", [CLIENT_COMPRESS, CLIENT_COMPRESS | CLIENT_ZSTD],
                         ids=["zlib", "zlib+zstd"])
def test_compression_negotiated(hgw, bits):
    """The greeting offers compression (issue 18); a client that sets the bits gets a
    compressed session from the OK on: its query sent in a zlib frame is answered in frames
    (zlib when both bits are set, as TiDB does), and the rows are right."""
    c = rawproto.RawConn(hgw.host, hgw.port)
    _, g = c.read_greeting()
    assert g["caps"] & CLIENT_COMPRESS and g["caps"] & CLIENT_ZSTD, hex(g["caps"])
    resp = good_response(g, caps=DEFAULT_CAPS | bits)
    if bits & CLIENT_ZSTD:
        resp += b"\x03"  # zstd compression level, as a client sends it
    c.send_packet(resp, 1)
    seq, p = c.read_packet()
    assert p[:1] == b"\x00", p  # the OK itself is not compressed
    c.send_raw(rawproto.zframe(rawproto.packet(b"\x03SELECT 'plain', 42", 0), 0))
    data, ids = b"", []
    while b"\x05plain\x0242" not in data:  # the answer may come in several frames
        hdr = c._recv_exact(7)
        ids.append(hdr[3])
        body = c._recv_exact(hdr[0] | hdr[1] << 8 | hdr[2] << 16)
        data += zlib.decompress(body) if hdr[4] | hdr[5] << 8 | hdr[6] << 16 else body
    assert ids == list(range(1, len(ids) + 1)), ids  # the answer's frames follow the query's
    assert data[:5] == b"\x01\x00\x00\x01\x02", data[:5]  # a column count of 2
    c.close()
    assert_still_serving(hgw)


@pytest.mark.parametrize("ssl_bit", [False, True], ids=["no_ssl_bit", "ssl_bit_no_tls"])
def test_tls_downgrade_refused_when_required(tls_gw, ssl_bit):
    """client_tls.require: a handshake response sent in the clear (with or without claiming
    CLIENT_SSL) is refused; never logged in."""
    gw = tls_gw(True)
    c = rawproto.RawConn(gw.host, gw.port)
    _, g = c.read_greeting()
    caps = DEFAULT_CAPS | (rawproto.CLIENT_SSL if ssl_bit else 0)
    c.send_packet(good_response(g, caps=caps), 1)
    out = c.outcome(HANDSHAKE_MS / 1000.0 + LATE_S)
    c.close()
    assert ended(out), out
    if not ssl_bit:
        assert isinstance(out, tuple) and out[1] == ER_SECURE_TRANSPORT_REQUIRED, out


def test_scramble_and_password_never_logged(gateway_factory):
    """A login and a COM_CHANGE_USER at log level debug: the gateway's stderr holds neither
    password nor the scrambles that went through it (raw, hex or base64)."""
    import base64
    gw = gateway_factory({"log": {"level": "debug"}})
    c, g = rawproto.login(gw.host, gw.port, *NATIVE, db="igtest")
    try:
        scrambles = [rawproto.native_scramble(NATIVE[1], g["salt"])]
        p = _change_user(c, OTHER[0], OTHER[1], g["salt"])
        assert p[:1] == b"\x00", p
        scrambles.append(rawproto.native_scramble(OTHER[1], g["salt"]))
    finally:
        c.close()
    time.sleep(0.2)
    raw = open(gw.stderr_path, "rb").read()
    text = raw.decode("utf-8", errors="replace")
    assert "session established" in text  # the debug log was written
    for pw in (NATIVE[1], OTHER[1]):
        assert pw not in text, pw
    for sc in scrambles:
        for form in (sc, sc.hex().encode(), sc.hex().upper().encode(), base64.b64encode(sc)):
            assert form not in raw, form
