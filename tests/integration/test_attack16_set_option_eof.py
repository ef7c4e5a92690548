"""Attack 16 (command phase, answers followed): TiDB's answer to COM_SET_OPTION under
CLIENT_DEPRECATE_EOF.

TiDB's handleSetOption (pkg/server/conn_stmt.go, pingcap/tidb at 03ee920d) answers with
writeEOF, which under CLIENT_DEPRECATE_EOF is writeOkWith(0xFE, ...) (pkg/server/conn.go at
000172f4): an OK with the 0xFE header carrying the affected rows, last insert id and message of
the session's last statement (COM_SET_OPTION runs none, so the statement context is the one
before it). After a LOAD DATA ("Records: 2  Deleted: 0 ...") or any statement with a message, or
251 affected rows or more, that OK is 9 bytes or more. The gateway took a first packet of 0xFE
as an EOF only under 9 bytes; longer, it read it as a column count of 0xFE (8 bytes: billions of
columns), so the answer never ended: every later answer was read as one of its column
definitions: on a plain backend leg the next answer's id (1, where the "definition" after
the OK was due at 2) closed the session as out of sequence; the next statement the gateway
inspects (it waits for the answers owed) was held for ever; on a compressed backend leg (the ids
are the gateway's own) every later answer was relayed as part of it and every command behind a
COM_QUERY held for ever. The client's own library read the OK and went on. Not a bypass (the gateway is behind the server, and behind a pending COM_QUERY nothing
is relayed); a session that hangs, for ordinary clients (libmysqlclient, Connector/J and
mysqlnd ask for DEPRECATE_EOF; mysql_set_server_option sends COM_SET_OPTION)."""

import struct

import pytest

from filereq import CLIENT_LOCAL_FILES, COM_QUERY, IMP
from harness import rawproto
from policy_helpers import DB1, PRECHECK, USERS, Received, double, etcd, policy_gw, state, zdouble  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

CLIENT_MULTI_STATEMENTS = 0x10000
CLIENT_DEPRECATE_EOF = 0x01000000
COM_SET_OPTION = 0x1b
LOAD_T1 = b"LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE shop.t1"

_pkt = rawproto.packet


def _login(gw):
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1,
                          caps=rawproto.DEFAULT_CAPS | CLIENT_LOCAL_FILES | CLIENT_DEPRECATE_EOF)
    return c


def _load_two_rows(c):
    """LOAD DATA LOCAL of two lines: TiDB's OK carries 2 affected rows and "Records: 2 ..."."""
    c.send_packet(bytes([COM_QUERY]) + LOAD_T1, 0)
    seq, p = c.read_packet()
    assert p[:1] == b"\xfb", p
    c.send_raw(_pkt(b"a\nb\n", seq + 1) + _pkt(b"", seq + 2))
    _, ok = c.read_packet()
    assert ok[:1] == b"\x00", ok


def _set_option_then(c, value, then):
    """COM_SET_OPTION, its answer, then `then` (a COM_QUERY payload) and its outcome."""
    c.send_packet(bytes([COM_SET_OPTION]) + struct.pack("<H", value), 0)
    seq, p = c.read_packet()
    c.sock.settimeout(10)
    c.send_packet(bytes([COM_QUERY]) + then, 0)
    try:
        out = c.outcome(10)
    except OSError as e:
        out = repr(e)
    return (seq, p[:1], len(p)), out


@pytest.mark.parametrize("leg", ["plain", "zstd"])
def test_set_option_after_a_statement_with_a_message(policy_gw, double, zdouble, state, leg):
    """The 0xFE OK of 9 bytes or more ends COM_SET_OPTION's answer: the covered IMPORT INTO
    after it is decided (refused), not held for ever."""
    state.task("pitr_shop", ["shop.*"])
    be = double if leg == "plain" else zdouble
    extra = {} if leg == "plain" else {"backends": {"compression": "zstd", "health_interval_ms": 0}}
    gw = policy_gw(backend=("127.0.0.1", be.port), **extra)
    c = _login(gw)
    try:
        rx = Received(be)
        _load_two_rows(c)
        answer, out = _set_option_then(c, 0, IMP)
    finally:
        c.close()
    assert answer[:2] == (1, b"\xfe") and answer[2] >= 9, answer  # TiDB's OK, as the double sends it
    assert out[:2] == ("error", PRECHECK), out
    assert rx.imports() == []


@pytest.mark.parametrize("value", [0, 1])
def test_set_option_then_commands_behind_a_query(policy_gw, double, state, value):
    """A quick COM_QUERY after COM_SET_OPTION, then a COM_PING behind it: both answered (on
    main the session was closed: the query's answer was out of sequence for the "columns")."""
    gw = policy_gw()
    c = _login(gw)
    try:
        _load_two_rows(c)
        c.send_packet(bytes([COM_SET_OPTION]) + struct.pack("<H", value), 0)
        c.read_packet()
        c.sock.settimeout(10)
        c.send_raw(_pkt(bytes([COM_QUERY]) + b"SELECT 1") + _pkt(bytes([rawproto.COM_PING])))
        got = []
        try:
            while not got or got[-1] != b"\x00":
                got.append(c.read_packet()[1][:1])
        except (OSError, rawproto.Closed) as e:
            got.append(repr(e))
    finally:
        c.close()
    # SELECT 1: count, definition, row, the 0xFE OK; then the ping's OK.
    assert got == [b"\x01", b"\x03", b"\x01", b"\xfe", b"\x00"], got
