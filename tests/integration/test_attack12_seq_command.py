"""Attack 12 (command phase, packet ids): a command with a sequence id other than 0.

The gateway looks only at client packets that start commands, and takes "starts a command" to
mean sequence id 0 (ig_cmd_client_packet: is_cmd). A non-empty packet with another id, while no
LOCAL INFILE data and no COM_CHANGE_USER exchange is due, was relayed as it was, uninspected.
An uncompressed server refuses it by its header and closes (TiDB: packetio.go readOnePacket,
ErrInvalidSequence, and clientConn.Run ends the connection on every read error). Under the
compressed protocol the packets' own ids are not checked: TiDB only logs the mismatch "to be
compatible with MariaDB Connector/J 2.x" (pkg/server/internal/packetio.go, readOnePacket,
pingcap/tidb v8.5 line) and MariaDB checks the frame's id only (sql/net_serv.cc my_real_read).
So on a compressed backend leg (backends.compression) a covered IMPORT INTO sent with id 1 was
run by the backend as the next command, never decided. The same packet sent early behind a
command (it waits for the answer as early LOCAL INFILE data, then goes when the answer is not a
file request) went the same way. A correct gateway refuses such a packet and closes the session,
as an uncompressed server would."""

import struct
import time

import pytest

from harness import rawproto
from policy_helpers import (DB1, PRECHECK, USERS, Received, double, etcd,  # noqa: F401
                            policy_gw, state, zdouble)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

IMP = b"\x03IMPORT INTO shop.orders FROM 's3://b/o.csv'"


_pkt = rawproto.packet  # one MySQL packet: 3-byte length, sequence id, payload


def _gw(policy_gw, zdouble):
    return policy_gw(backend=("127.0.0.1", zdouble.port),
                     backends={"compression": "zstd", "health_interval_ms": 0})


def _outcome(c):
    """The last thing the client gets: 'closed', or the error code / 'ok'."""
    try:
        while True:
            _, p = c.read_packet()
            if p[:1] == b"\xff":
                return struct.unpack_from("<H", p, 1)[0]
            if p[:1] == b"\x00":
                return "ok"
    except (rawproto.Closed, OSError):
        return "closed"


def _reached(rx):
    deadline = time.monotonic() + 5
    while not rx.imports() and time.monotonic() < deadline:
        time.sleep(0.1)
    return rx.imports()


@pytest.mark.parametrize("send", [
    lambda: _pkt(IMP, 1),
    lambda: _pkt(IMP, 0xFF),
    lambda: _pkt(b"\x03SELECT 1") + _pkt(IMP, 2),   # behind a command, as early file data
    lambda: _pkt(b"\x0e") + _pkt(IMP, 1),          # behind COM_PING
], ids=["alone-id1", "alone-id255", "behind-query", "behind-ping"])
def test_command_with_nonzero_id_never_reaches_a_zstd_backend(policy_gw, zdouble, state, send):
    state.task("pitr_shop", ["shop.*"])
    gw = _gw(policy_gw, zdouble)
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(zdouble)
        c.send_raw(send())  # the first thing after login: the backend leg's next frame id is 0
        out = _outcome(c)
        if out == "ok":  # the first command's answer: then the refusal
            out = _outcome(c)
        reached = _reached(rx)
    finally:
        c.close()
    log = gw.stderr_text()
    assert reached == [], (reached, log[-3000:])
    assert out in ("closed", 1156), (out, log[-3000:])
    assert "bypass.suspect" in log or out == 1156, log[-3000:]


def test_command_with_nonzero_id_from_a_zlib_client(policy_gw, zdouble, state):
    """The client's leg compressed too: the packet inside the client's frame has id 1."""
    state.task("pitr_shop", ["shop.*"])
    gw = _gw(policy_gw, zdouble)
    c = rawproto.ZConn(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(zdouble)
        c.send_frames([rawproto.zframe(_pkt(IMP, 1), 0)])
        out = _outcome(c)
        reached = _reached(rx)
    finally:
        c.close()
    assert reached == [], (reached, gw.stderr_text()[-3000:])
    assert out in ("closed", 1156, PRECHECK), out


def test_command_with_id_zero_is_still_decided(policy_gw, zdouble, state):
    """Control: the same statement with id 0 is decided (refused), and a query runs."""
    state.task("pitr_shop", ["shop.*"])
    gw = _gw(policy_gw, zdouble)
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        c.send_packet(b"\x03SELECT 1", 0)
        seen = []
        while True:
            _, p = c.read_packet()
            seen.append(p)
            if p[:1] in (b"\xfe", b"\xff") and len(seen) > 3:
                break
        c.send_packet(IMP, 0)
        out = c.outcome(20)
    finally:
        c.close()
    assert out[:2] == ("error", PRECHECK), out
