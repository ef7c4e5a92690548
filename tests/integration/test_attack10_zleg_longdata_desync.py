"""Attack 10 (compressed backend leg, response tracking): attack 4's desync comes back where
the gateway no longer checks the backend's packet ids.

TiDB answers a COM_STMT_SEND_LONG_DATA it rejects with an ERR (handleStmtSendLongData returns
ErrMalformPacket / ErrUnknownStmtHandler / AppendParam's error, and clientConn.Run writes every
dispatch error: pkg/server/conn_stmt.go at 03ee920d, pkg/server/conn.go at 000172f4, pingcap/tidb),
while proxy/response.c says the command is never answered. On an uncompressed backend leg the
gateway was thought to notice the shifted answers by their sequence ids (answer_in_sequence,
attack 4); attack 13 showed that the ERR carries the id the next answer starts with, and the
fence now runs on every leg (test_attack13_unsolicited_file_request.py). On a
compressed backend leg (backends.compression) it numbers the packets itself
(numbered_answer) and follows them by structure alone, so the unexpected ERR is silently
taken as the next command's answer and every later answer is read one command early.

The pipeline: SEND_LONG_DATA (TiDB rejects it), "SELECT NULL, 1, 1" answered after a pause
(TiDB sends a result's column block with its first chunk of rows), COM_FIELD_LIST, COM_PING.
The ERR is taken as the SELECT's answer, so the commands behind it go out; the SELECT's column
block is then read as COM_FIELD_LIST's answer and its NULL row (0xFB) as COM_PING's first
packet: a LOCAL INFILE request. The client's next packet, a covered IMPORT INTO, is relayed
to the backend as file data, uninspected. The gateway only notices when the rest of the
SELECT's answer comes ("answered the LOCAL INFILE request before the client's data ended") -
after the IMPORT INTO has gone. A backend then runs it as its next command when the frame
carrying it has the id the backend expects (TiDB: 0 after each command; the gateway's frame
continues from the last it read, so an answer whose row comes in frame 255, as a result of
254 MiB in TiDB's 1 MiB frames or a multi-statement batch, makes it 0) and when it reads it
before the gateway's close reaches it (the client can hold the gateway's reading back by not
reading a long row). A correct gateway never reads a row as a file request: the session is
closed when the unexpected ERR comes, and the import never reaches the backend."""

import struct
import time

import pytest

from harness import rawproto
from policy_helpers import (DB1, PRECHECK, USERS, Received, double, etcd,  # noqa: F401
                            policy_gw, state, zdouble)

import tidb_double  # noqa: E402  (on the path policy_helpers sets)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

IMP = "IMPORT INTO shop.orders FROM 's3://b/o.csv'"
COM_FIELD_LIST, COM_PING, COM_STATISTICS, COM_STMT_SEND_LONG_DATA = 0x04, 0x0E, 0x09, 0x18
NCOLS = 3
PAUSE = b"/* pause */"


@pytest.fixture
def tidb_streams(monkeypatch):
    """SEND_LONG_DATA as TiDB's handleStmtSendLongData (an unknown statement is an error that
    clientConn.Run writes), and a query marked PAUSE answered after a pause, as TiDB answers
    "SELECT NULL, SLEEP(1), ...": its column block goes out with the first chunk of rows
    (writeResultSet / writeChunks, pkg/server/conn.go at 000172f4)."""
    orig = tidb_double.Session.dispatch

    def dispatch(self, cmd, body):
        # SEND_LONG_DATA's errors are the double's own (TiDB's handleStmtSendLongData)
        if cmd == 0x03 and PAUSE.decode() in body.decode(errors="replace"):
            time.sleep(1.5)
        return orig(self, cmd, body)

    monkeypatch.setattr(tidb_double.Session, "dispatch", dispatch)


_pkt = rawproto.packet  # one MySQL packet: 3-byte length, sequence id, payload


def _gw(policy_gw, zdouble):
    return policy_gw(backend=("127.0.0.1", zdouble.port),
                     backends={"compression": "zstd", "health_interval_ms": 0})


def _select():
    return b"\x03SELECT NULL" + b", 1" * (NCOLS - 1) + b" " + PAUSE


def _attack(c, rx, pipeline):
    """Sends the pipeline and reads the answers; when a packet starting 0xFB comes (a LOCAL
    INFILE request to a client), sends the covered IMPORT INTO as the file's first piece.
    Returns the imports the backend ran and what the client saw last ('closed' or an
    outcome)."""
    c.send_raw(pipeline)
    try:
        for _ in range(NCOLS + 8):
            seq, p = c.read_packet()
            if p[:1] == b"\xfb":
                c.send_packet(b"\x03" + IMP.encode(), seq + 1)
                break
        out = c.outcome(20)
    except (rawproto.Closed, OSError):
        out = "closed"
    deadline = time.monotonic() + 5
    while not rx.imports() and time.monotonic() < deadline:
        time.sleep(0.1)
    return rx.imports(), out


@pytest.mark.parametrize("long_data", [struct.pack("<IH", 0x7EADBEEF, 0) + b"x", b"\x01\x02"],
                         ids=["unknown-statement", "malformed"])
def test_long_data_error_on_a_zstd_backend_leg_never_lets_an_import_pass(policy_gw, zdouble, state,
                                                                      tidb_streams, long_data):
    state.task("pitr_shop", ["shop.*"])
    gw = _gw(policy_gw, zdouble)
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        c.send_packet(b"\x03" + IMP.encode(), 0)  # positive control: refused on this connection
        out = c.outcome(20)
        assert out[:2] == ("error", PRECHECK), out
        rx = Received(zdouble)
        pipeline = (_pkt(bytes([COM_STMT_SEND_LONG_DATA]) + long_data) + _pkt(_select())
                    + _pkt(bytes([COM_FIELD_LIST]) + b"t\x00") + _pkt(bytes([COM_PING])))
        reached, out = _attack(c, rx, pipeline)
    finally:
        c.close()
    log = gw.stderr_text()
    assert reached == [], (reached, log[-3000:])
    # The client's packet never went as file data: no row was taken for a file request.
    assert "answered the LOCAL INFILE request" not in log, log[-3000:]
    assert out == "closed" or out[:2] == ("error", PRECHECK), out
    assert "bypass.suspect" in log, log[-3000:]


def test_same_pipeline_without_the_long_data_error_stays_in_step(policy_gw, zdouble, state, tidb_streams):
    """Control: the same answers with nothing unexpected among them are followed in step,
    the row relayed as a row, and the import after them decided (refused)."""
    state.task("pitr_shop", ["shop.*"])
    gw = _gw(policy_gw, zdouble)
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(zdouble)
        c.send_raw(_pkt(_select()) + _pkt(bytes([COM_FIELD_LIST]) + b"t\x00") + _pkt(bytes([COM_PING])))
        seen = []
        while len(seen) < NCOLS + 6:
            seq, p = c.read_packet()
            seen.append((seq, p[:1]))
        # colcount, NCOLS definitions, EOF, the row, EOF; FIELD_LIST's answer; PING's OK.
        assert seen[NCOLS + 2] == (NCOLS + 3, b"\xfb"), seen[NCOLS:]
        assert seen[-1] == (1, b"\x00"), seen[-3:]
        c.send_packet(b"\x03" + IMP.encode(), 0)
        out = c.outcome(20)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [], reached
    assert out[:2] == ("error", PRECHECK), out


def _prepare(c, sql):
    """COM_STMT_PREPARE; returns the statement id (reads the whole answer, classic EOFs)."""
    c.send_packet(b"\x16" + sql, 0)
    _, ok = c.read_packet()
    assert ok[:1] == b"\x00", ok
    sid, ncols, nparams = struct.unpack_from("<IHH", ok, 1)
    for block in (nparams, ncols):
        if block:
            for _ in range(block + 1):
                c.read_packet()
    return sid


@pytest.mark.parametrize("pipelined", [False, True], ids=["one-by-one", "pipelined"])
def test_unanswered_commands_on_a_zstd_backend_leg_stay_unanswered(policy_gw, zdouble, state, tidb_streams,
                                                                   pipelined):
    """What the fence costs a client: nothing it can see. SEND_LONG_DATA and COM_STMT_CLOSE
    that the backend accepts (no answer), then commands that are answered: each answer comes
    with the ids the client checks, the gateway's own COM_PING answer never reaches it, and
    the session goes on to a decided (refused) import."""
    state.task("pitr_shop", ["shop.*"])
    gw = _gw(policy_gw, zdouble)
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        sid = _prepare(c, b"SELECT ?")
        rest = [_pkt(bytes([COM_STMT_SEND_LONG_DATA]) + struct.pack("<IH", sid, 0) + b"abc"),
                _pkt(b"\x19" + struct.pack("<I", sid)),  # COM_STMT_CLOSE
                _pkt(bytes([COM_PING])), _pkt(b"\x03SELECT 7")]
        got = []
        if pipelined:
            c.send_raw(b"".join(rest))
        else:
            for p in rest[:3]:
                c.send_raw(p)
            got.append(c.read_packet())  # PING's OK
            c.send_raw(rest[3])
        while len(got) < 6:
            got.append(c.read_packet())
        assert [(seq, p[:1]) for seq, p in got[:2]] == [(1, b"\x00"), (1, b"\x01")], got
        assert [seq for seq, _ in got[1:]] == [1, 2, 3, 4, 5], got
        assert got[4][1][1:2] == b"7", got
        c.send_packet(b"\x03" + IMP.encode(), 0)
        out = c.outcome(20)
    finally:
        c.close()
    assert out[:2] == ("error", PRECHECK), out
    assert "bypass.suspect" not in gw.stderr_text(), gw.stderr_text()[-3000:]


def test_long_data_error_with_a_zlib_client_leg_never_lets_an_import_pass(policy_gw, zdouble, state,
                                                                       tidb_streams):
    """The same desync with the client's leg compressed too (zlib over the zstd backend leg):
    the client's frames are re-framed, so nothing about them changes what the backend leg
    does."""
    state.task("pitr_shop", ["shop.*"])
    gw = _gw(policy_gw, zdouble)
    c = rawproto.ZConn(gw.host, gw.port, "root", USERS["root"], DB1)
    rx = Received(zdouble)
    out = None
    try:
        pipeline = (_pkt(bytes([COM_STMT_SEND_LONG_DATA]) + struct.pack("<IH", 0x7EADBEEF, 0) + b"x")
                    + _pkt(_select()) + _pkt(bytes([COM_FIELD_LIST]) + b"t\x00") + _pkt(bytes([COM_PING])))
        c.send_frames([rawproto.zframe(pipeline, 0)])
        try:
            for i in range(NCOLS + 8):
                seq, p = c.read_packet()
                if p[:1] == b"\xfb":
                    c.send_frames([rawproto.zframe(_pkt(b"\x03" + IMP.encode(), seq + 1), i + 1)])
                    break
            while True:
                _, p = c.read_packet()
                if p[:1] == b"\xff":
                    out = struct.unpack_from("<H", p, 1)[0]
                    break
        except (rawproto.Closed, OSError):
            out = "closed"
        deadline = time.monotonic() + 5
        while not rx.imports() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        c.close()
    log = gw.stderr_text()
    assert rx.imports() == [], log[-3000:]
    assert "answered the LOCAL INFILE request" not in log, log[-3000:]
    assert out in ("closed", PRECHECK), out
    assert "bypass.suspect" in log, log[-3000:]
