"""Attack 7: client input kept without bound in the command phase.

A packet that must wait while nothing holds the session's input (IN_COMMAND) - behind a
pending COM_QUERY (proxy/command.c behind_query, attack 5) or before the head command's answer
has begun (early_file_data, attack 4) - is kept by the framer, and the client went on being
read: every byte after it was appended to the kept input (the command phase sets no
carry_max). A client that sends `SELECT SLEEP(n)` and then streams bytes made the gateway
hold all of them, hundreds of MiB for one connection.

Under the compressed protocol it is worse: each read (64 KiB) was decompressed frame by
frame and every frame's packet bytes handed to the framer, which kept them, before the
session could stop reading. A zlib frame of 16 MiB - 1 zero bytes takes ~16 KiB, a zstd one
~1 KiB: one read of such frames became ~64 MiB (zlib) or ~1 GiB (zstd) held at once.

Now the client is not read while its kept input holds more than one whole packet of the
largest size (proxy/session.c ig_sess_update_reading), and compressed input is decompressed
only while the kept input is under that bound; the frames after it wait compressed
(proxy/conn.c feed, ig_conn_resume). Each test measures the gateway's resident memory while
one client holds its input this way, and checks that the session still answers what it
sent once the blocking statement ends.
"""

import socket
import subprocess
import threading
import zlib

import pytest

from harness import rawproto
from harness.mariadb import NATIVE
from harness.rawproto import COM_QUERY, packet

pytestmark = [pytest.mark.gateway_only]

MIB = 1 << 20
MAX_PAYLOAD = (1 << 24) - 1
# One whole packet of the largest size may be kept (it must be, to be inspected), plus what
# one read and the allocator add; ASan's redzones and quarantine count too.
BOUND = 96 * MIB


def _rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _zstd(data):
    return subprocess.run(["zstd", "-q", "-c", "-19"], input=data, capture_output=True, check=True).stdout


def _frame(body, seq, ulen):
    return len(body).to_bytes(3, "little") + bytes([seq & 0xff]) + ulen.to_bytes(3, "little") + body


def _login(gw, caps_extra, level=b""):
    raw = rawproto.RawConn(gw.host, gw.port, 60.0)
    _, g = raw.read_greeting()
    resp = rawproto.handshake_response(NATIVE[0], NATIVE[1], g["salt"], "igtest",
                                       caps=rawproto.DEFAULT_CAPS | caps_extra) + level
    raw.send_packet(resp, 1)
    _, ok = raw.read_packet()
    assert ok[:1] == b"\x00", ok
    return raw


def _stream(raw, chunks, limit):
    """Sends chunks until `limit` bytes are out or the gateway stops reading (a send blocks
    for 3 s: the kernel's buffers are full). Returns the bytes sent."""
    raw.sock.settimeout(3.0)
    sent = 0
    try:
        for c in chunks:
            raw.sock.sendall(c)
            sent += len(c)
            if sent >= limit:
                break
    except socket.timeout:
        pass
    return sent


# Zero bytes read as empty packets: the first one waits for the SLEEP's answer to begin
# (early_file_data), and everything after it is kept behind it.
ZEROS = b"\0" * MAX_PAYLOAD


@pytest.mark.parametrize("mode", ["plain", "zlib", "zstd"])
def test_kept_input_is_bounded(gw, mode):
    if mode == "zstd" and subprocess.run(["sh", "-c", "command -v zstd"], capture_output=True).returncode:
        pytest.skip("the zstd program is not installed")
    caps = {"plain": 0, "zlib": rawproto.CLIENT_COMPRESS, "zstd": 0x04000000}[mode]
    raw = _login(gw, caps, b"\x03" if mode == "zstd" else b"")
    try:
        sleep = packet(bytes([COM_QUERY]) + b"SELECT SLEEP(120)", 0)
        if mode == "plain":
            raw.send_raw(sleep)
            chunks = (ZEROS[:MIB] for _ in range(600))
        else:
            zip_ = zlib.compress if mode == "zlib" else _zstd
            z = zip_(ZEROS)
            frame = lambda seq: _frame(z, seq, len(ZEROS))  # noqa: E731
            raw.send_raw(_frame(sleep, 0, 0))
            # Many frames in one write: they arrive in reads of 64 KiB.
            chunks = (b"".join(frame(1 + i * 8 + k) for k in range(8)) for i in range(64))
        before = _rss(gw.proc.pid)
        sent = _stream(raw, chunks, 600 * MIB)
        grown = _rss(gw.proc.pid) - before
        assert grown < BOUND, "%s: %d MiB sent, the gateway grew by %d MiB" % (mode, sent // MIB, grown // MIB)
        assert gw.proc.poll() is None
        # The worker is not stalled decompressing: another session is answered.
        other = rawproto.login(gw.host, gw.port, *NATIVE, db="igtest", timeout=60.0)[0]
        try:
            other.send_packet(bytes([COM_QUERY]) + b"SELECT 7", 0)
            while True:
                _, p = other.read_packet()
                if p[:2] == b"\x017":
                    break
                assert p[:1] != b"\xff", p
        finally:
            other.close()
    finally:
        raw.close()


def test_frames_that_waited_are_read_in_order(gw):
    """24 statements of 1 MiB each in zlib frames, sent at once behind a SLEEP: the kept input
    passes the bound, the frames after it wait compressed, and every statement is answered,
    in order, once the ones before it are."""
    raw = _login(gw, rawproto.CLIENT_COMPRESS)
    conn = rawproto.ZConn.__new__(rawproto.ZConn)
    conn.raw, conn.inbuf, conn.frames_read = raw, b"", 0
    try:
        frames = [rawproto.zframe(packet(bytes([COM_QUERY]) + b"SELECT SLEEP(1)", 0), 0)]
        for i in range(24):
            sql = b"SELECT %d /*" % i + b"x" * MIB + b"*/"
            frames.append(rawproto.zframe(packet(bytes([COM_QUERY]) + sql, 0), 0))
        raw.send_raw(b"".join(frames))
        got = []
        for i in range(25):
            ans, eofs = [], 0
            while eofs < 2:
                _, p = conn.read_packet()
                ans.append(p)
                assert p[:1] != b"\xff", p
                eofs += p[:1] == b"\xfe" and len(p) < 9
            got.append(rawproto.text_rows(ans))
        assert got == [[["0"]]] + [[[str(i)]] for i in range(24)]
    finally:
        raw.close()
