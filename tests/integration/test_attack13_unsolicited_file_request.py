"""Attack 13 (command phase, uncompressed backend leg): an answer to a command the gateway
expects none to puts the server in LOCAL INFILE while the gateway reads commands.

TiDB answers a COM_STMT_SEND_LONG_DATA it rejects with an ERR (handleStmtSendLongData,
pkg/server/conn_stmt.go, pingcap/tidb at 03ee920d; clientConn.Run writes every dispatch error,
pkg/server/conn.go), which proxy/response.c says never comes. On a compressed backend leg the
gateway fences such commands with a COM_PING of its own (attack 10). On an uncompressed leg it
relied on the packets' sequence ids (answer_in_sequence, attack 4) - but that ERR carries id 1,
exactly the id the next command's answer starts with, so nothing tells them apart:

1. In one write: SEND_LONG_DATA for an unknown statement, then "LOAD DATA LOCAL INFILE ...".
   The server answers ERR 1243 to the first and a LOCAL INFILE request (0xFB, id 1) to the
   second.
2. The gateway takes the ERR as the LOAD DATA's whole answer: nothing is pending any more, so
   the file request that follows is relayed as an unsolicited packet, unchecked, and the
   gateway goes on reading client packets as commands while the server waits for file data.
3. The client sends a COM_STMT_CLOSE (relayed uninspected, no answer expected) whose payload
   holds a whole COM_QUERY packet. The server reads the COM_STMT_CLOSE as file data, refuses
   it by its header (sequence id 0 where 2 is due: packetio.go readOnePacket reads no
   payload), drains (the next 4 bytes, another header it refuses), fails the LOAD DATA and
   reads its next command from the middle of the payload (attack 5's header-only read;
   tests/tidb_double/FACTS.md section 9): a covered IMPORT INTO, never decided. Its answer
   comes back unsolicited too: the gateway notices nothing.

A correct gateway never lets an answer it does not expect be taken for another command's:
after an unanswered command its own COM_PING must be answered first, on every backend leg."""

import struct

import pytest

from filereq import COM_PING, COM_QUERY, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA, IMP, LOAD, exploit, file_requested
from filereq import login as _login, refused_control
from harness import rawproto
from policy_helpers import PRECHECK, Received, double, etcd, policy_gw, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]



_pkt = rawproto.packet  # one MySQL packet: 3-byte length, sequence id, payload


BAD_LONG_DATA = _pkt(bytes([COM_STMT_SEND_LONG_DATA]) + struct.pack("<IH", 0x7EADBEEF, 0) + b"x")












@pytest.mark.parametrize("carrier", [COM_STMT_CLOSE, COM_PING], ids=["stmt-close", "ping"])
def test_long_data_error_never_lets_a_file_request_pass_unfollowed(policy_gw, double, state, carrier):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = _login(gw)
    try:
        refused_control(c)
        rx = Received(double)
        c.send_raw(BAD_LONG_DATA + _pkt(bytes([COM_QUERY]) + LOAD))
        got, rest, reached = exploit(c, rx, carrier)
    finally:
        c.close()
    log = gw.stderr_text()
    assert reached == [], (reached, got, rest, log[-3000:])
    # The defence: the session ends when the unexpected ERR comes (or, had the file request
    # been followed, when the carrier came as file data with a wrong sequence id).
    assert "bypass.suspect" in log, (got, rest, log[-3000:])


def test_long_data_error_answered_alone_leaves_the_file_request_followed(policy_gw, double, state):
    """Control: the ERR to the SEND_LONG_DATA comes while nothing else is pending (the client
    waits for it), so it is relayed as it is; the LOAD DATA's file request is then the
    answer the gateway follows, and the carrier, a packet with a wrong id where file data is
    due, closes the session before the server reads it."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = _login(gw)
    try:
        rx = Received(double)
        c.send_raw(BAD_LONG_DATA)
        seq, p = c.read_packet()
        assert (seq, p[:1], struct.unpack_from("<H", p, 1)[0]) == (1, b"\xff", 1243), p
        c.send_packet(bytes([COM_QUERY]) + LOAD, 0)
        got, rest, reached = exploit(c, rx, COM_STMT_CLOSE)
        assert file_requested(got), got
    finally:
        c.close()
    assert reached == [], reached
    assert rest[-1] == "closed", rest


def test_unanswered_commands_on_a_plain_backend_leg_cost_the_client_nothing(policy_gw, double, state):
    """The fence on an uncompressed backend leg: SEND_LONG_DATA and COM_STMT_CLOSE that the
    backend accepts, pipelined with answered commands, get exactly the answers (and ids) the
    client would get directly; the gateway's own COM_PING answer never reaches it; a LOAD DATA
    LOCAL after them works and the session goes on to a decided (refused) import."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = _login(gw)
    try:
        c.send_packet(b"\x16SELECT ?", 0)  # COM_STMT_PREPARE
        seq, p = c.read_packet()
        assert p[:1] == b"\x00", p
        sid, ncols, nparams = struct.unpack_from("<IHH", p, 1)
        for _ in range(ncols + nparams + (1 if ncols else 0) + (1 if nparams else 0)):
            c.read_packet()  # the definitions and their EOFs (no DEPRECATE_EOF asked)
        c.send_raw(_pkt(bytes([COM_STMT_SEND_LONG_DATA]) + struct.pack("<IH", sid, 0) + b"abc")
                   + _pkt(bytes([COM_STMT_CLOSE]) + struct.pack("<I", sid))
                   + _pkt(bytes([COM_PING])) + _pkt(b"\x03SELECT 7"))
        got = []
        try:
            while len(got) < 6:
                got.append(c.read_packet())
        except OSError:
            pytest.fail("answers %r, then nothing; log:\n%s" % (got, gw.stderr_text()[-3000:]))
        assert [(seq, p[:1]) for seq, p in got[:2]] == [(1, b"\x00"), (1, b"\x01")], got
        assert [seq for seq, _ in got[1:]] == [1, 2, 3, 4, 5], got
        assert got[4][1][1:2] == b"7", got
        c.send_raw(_pkt(bytes([COM_STMT_CLOSE]) + struct.pack("<I", sid)) + _pkt(bytes([COM_QUERY]) + LOAD))
        seq, p = c.read_packet()
        assert (seq, p[:1]) == (1, b"\xfb"), p
        c.send_raw(_pkt(b"1,a\n2,b\n", 2) + _pkt(b"", 3))
        seq, p = c.read_packet()
        assert (seq, p[:1]) == (4, b"\x00"), p
        c.send_packet(bytes([COM_QUERY]) + IMP, 0)
        out = c.outcome(20)
    finally:
        c.close()
    assert out[:2] == ("error", PRECHECK), out
    assert "bypass.suspect" not in gw.stderr_text(), gw.stderr_text()[-3000:]
