"""Attack 13 (command phase, answers counted): commands whose answers the gateway counted
wrong, so that it waited for ever for one that never comes.

COM_SLEEP, which TiDB never answers.

TiDB's dispatch returns nil for COM_SLEEP (0x00) and writes nothing (pkg/server/conn.go,
"case mysql.ComSleep: ... return nil"; tests/tidb_double/FACTS.md section 8); MariaDB answers
1047. The gateway relayed it and waited for its answer: the next command's answer was taken
for it, every later one for the command before it, and the last command never ended for the
gateway. A statement it must inspect waits for the answers owed, so a covered IMPORT INTO sent
next was held for ever (no timeout is set by default) - a session the client cannot use any
more, and one the gateway's graceful drain waits for. The gateway now answers COM_SLEEP itself,
as MariaDB does, after the answers owed, and never sends it.

COM_BINLOG_DUMP (and the other replication commands): the gateway followed the answer as a
stream that never ends (RS_OPAQUE), but TiDB refuses every replication command with one ERR
(pkg/server/conn.go dispatch, default case) and reads the next command; so does MariaDB for a
user without REPLICATION SLAVE. The command stayed pending for ever, with the same result. An
ERR as the first packet now ends the answer."""

import struct

import pytest

from harness import rawproto
from harness.mariadb import NATIVE
from policy_helpers import DB1, PRECHECK, USERS, Received, double, etcd, policy_gw, state  # noqa: F401

IMP = b"\x03IMPORT INTO shop.orders FROM 's3://b/o.csv'"


_pkt = rawproto.packet  # one MySQL packet: 3-byte length, sequence id, payload


@pytest.mark.gateway_only
@pytest.mark.tidb_double
@pytest.mark.parametrize("pipelined", [False, True], ids=["alone", "behind-ping"])
def test_com_sleep_is_answered_and_the_session_stays_usable(policy_gw, double, state, pipelined):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        if pipelined:
            c.send_raw(_pkt(b"\x0e") + _pkt(b"\x00") + _pkt(b"\x0e"))
            got = rawproto.answers(c, 3)
            assert got == [(1, b"\x00"), (1, 1047), (1, b"\x00")], got
        else:
            c.send_raw(_pkt(b"\x00"))
            got = rawproto.answers(c, 1)
            assert got == [(1, 1047)], got
        c.send_packet(IMP, 0)
        out = c.outcome(20)
    finally:
        c.close()
    assert out[:2] == ("error", PRECHECK), out
    assert rx.imports() == []


def _sleep_then_select(host, port):
    c, _ = rawproto.login(host, port, *NATIVE)
    try:
        c.send_raw(_pkt(b"\x00"))
        seq, p = c.read_packet()
        c.send_packet(b"\x03SELECT 5", 0)
        rows = []
        while not (len(rows) > 3 and rows[-1][:1] == b"\xfe"):
            rows.append(c.read_packet()[1])
        return (seq, p), rawproto.text_rows(rows)
    finally:
        c.close()


def test_com_sleep_answered_as_mariadb_answers_it(gw, mariadb):
    """The gateway's answer is MariaDB's own (1047, 08S01, "Unknown command"), and the session
    goes on."""
    through = _sleep_then_select(gw.host, gw.port)
    assert through == _sleep_then_select(mariadb.host, mariadb.port)
    (seq, p), rows = through
    assert (seq, p[:1], struct.unpack_from("<H", p, 1)[0]) == (1, b"\xff", 1047), p
    assert rows == [["5"]]


@pytest.mark.gateway_only
@pytest.mark.tidb_double
def test_refused_binlog_dump_ends_its_answer(policy_gw, double, state):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        c.send_raw(_pkt(b"\x12" + struct.pack("<IHI", 4, 0, 77) + b"binlog.000001"))
        seq, p = c.read_packet()
        assert (seq, p[:1]) == (1, b"\xff"), p
        c.send_packet(IMP, 0)
        out = c.outcome(20)
    finally:
        c.close()
    assert out[:2] == ("error", PRECHECK), out
    assert rx.imports() == []
