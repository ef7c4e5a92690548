"""Attack 4 (session split, response tracking): TiDB answers a COM_STMT_SEND_LONG_DATA that
fails (unknown statement id: handleStmtSendLongData returns ErrUnknownStmtHandler, or a body
under 6 bytes: ErrMalformPacket) with an ERR packet - clientConn.Run writes every dispatch
error (server/conn.go, server/conn_stmt.go) - while proxy/response.c:ig_cmd_has_response()
says COM_STMT_SEND_LONG_DATA is never answered. The unexpected ERR is taken as the answer of
the next pending command, and every answer after it is read one command early: with two
COM_STATISTICS (RS_SINGLE: one packet each, whatever it is) and a COM_PING pipelined behind a
"SELECT NULL", the tracker reaches RS_FIRST of a following COM_QUERY exactly on the row
packet of SELECT NULL, whose first byte is 0xFB (a NULL column). st_first() reads that as
a LOCAL INFILE request: RE_INFILE -> EV_INFILE -> IN_INFILE (proxy/command.c), while the
server is in its command phase. In IN_INFILE every client packet is relayed verbatim: the
next COM_QUERY, a covered IMPORT INTO, reaches the backend without being held or decided.

The double answers a SEND_LONG_DATA for an unknown statement as TiDB does (ERR 1243)."""

import struct

import pytest

from harness import rawproto
from policy_helpers import DB1, PRECHECK, USERS, Received, double, etcd, policy_gw, state  # noqa: F401


pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

IMP = "IMPORT INTO shop.orders FROM 's3://b/o.csv'"
COM_PING, COM_STATISTICS, COM_STMT_SEND_LONG_DATA = 0x0E, 0x09, 0x18


@pytest.fixture
def tidb_long_data_errors():
    """SEND_LONG_DATA as TiDB's handleStmtSendLongData: an unknown statement is an error,
    which clientConn.Run writes to the client. The double does this itself now (its
    dispatch); the fixture stays to name the premise in each test's signature."""
    return True


_pkt = rawproto.packet  # one MySQL packet: 3-byte length, sequence id, payload


def _query(sql):
    return _pkt(b"\x03" + sql.encode())


def _read_answers(c, n):
    """Reads n command answers (OK, ERR, or a text result set without DEPRECATE_EOF)."""
    out = []
    for _ in range(n):
        _, p = c.read_packet()
        if p[:1] in (b"\x00", b"\xff") or (p[:1] == b"\xfe" and len(p) < 9):
            out.append(p[:1])
            continue
        if p.startswith(b"Uptime: "):  # COM_STATISTICS (the double models TiDB's writeStats)
            out.append(b"stats")
            continue
        eofs = 0
        while eofs < 2:
            _, q = c.read_packet()
            if q[:1] == b"\xff":
                break
            if q[:1] == b"\xfe" and len(q) < 9:
                eofs += 1
        out.append(b"rows")
    return out


def test_long_data_error_shifts_tracking_into_infile(policy_gw, double, state, tidb_long_data_errors):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        # Positive control: the covered import is refused on this very connection.
        c.send_packet(b"\x03" + IMP.encode(), 0)
        out = c.outcome(20)
        assert out[:2] == ("error", PRECHECK), out
        rx = Received(double)
        c.send_raw(_pkt(bytes([COM_STMT_SEND_LONG_DATA]) + struct.pack("<IH", 0x7EADBEEF, 0) + b"x")
                   + _query("SELECT NULL")
                   + _pkt(bytes([COM_STATISTICS])) + _pkt(bytes([COM_STATISTICS]))
                   + _pkt(bytes([COM_PING]))
                   + _query("SELECT 1"))
        # ERR(long data), SELECT NULL's rows, ERR, ERR (no COM_STATISTICS), OK, SELECT 1's rows.
        # The gateway sees the answers go out of sequence (it does not expect the ERR to the
        # SEND_LONG_DATA) and closes the session: that, or a refusal, is a defence.
        try:
            _read_answers(c, 6)
            c.send_packet(b"\x03" + IMP.encode(), 0)
            out = c.outcome(20)
        except (rawproto.Closed, OSError):
            out = "closed"
        reached = rx.imports()
    finally:
        c.close()
    # The covered import must never reach TiDB: refused, or the session closed before it.
    assert reached == [], reached
    if out == "closed":
        # Since attack13 the fence after the SEND_LONG_DATA (proxy/command.c send_fence) catches
        # the ERR first, on every backend leg; before, the ids of a later answer did.
        log = gw.stderr_text()
        assert ("bypass.suspect: the backend answered a command the gateway expects no answer to" in log
                or "bypass.suspect: the backend's packet carries sequence id" in log), log[-2000:]
    else:
        assert out[:2] == ("error", PRECHECK), out


def test_same_pipeline_without_the_long_data_error_is_refused(policy_gw, double, state, tidb_long_data_errors):
    """Control: the same pipelined commands without the failing SEND_LONG_DATA leave the
    tracker in step, and the import after them is decided (refused)."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        c.send_raw(_query("SELECT NULL") + _pkt(bytes([COM_STATISTICS])) + _pkt(bytes([COM_STATISTICS]))
                   + _pkt(bytes([COM_PING])) + _query("SELECT 1"))
        got = _read_answers(c, 5)
        assert got == [b"rows", b"stats", b"stats", b"\x00", b"rows"], got
        c.send_packet(b"\x03" + IMP.encode(), 0)
        out = c.outcome(20)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [], reached
    assert out[:2] == ("error", PRECHECK), out
