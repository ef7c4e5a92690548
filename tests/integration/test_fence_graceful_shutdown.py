"""The COM_PING fence while TiDB shuts down gracefully (left open by attack16).

After COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA, which TiDB may answer with an ERR though the
protocol has no answer for them, the gateway sends a COM_PING of its own before the next
answered command and closes the session if anything but the ping's answer comes first
(proxy/command.c send_fence, fence_answer; attack13). Since pingcap/tidb#58008 (v9.0, and v8.5
by a cherry-pick) TiDB answers COM_PING with ErrServerShutdown (1053) from the moment a
graceful shutdown begins, through the whole graceful-wait-before-shutdown, while it still
serves every other command (tests/tidb_double/FACTS.md section 8). The gateway took that ERR
for an answer to the closed statement and dropped every session that closed a prepared
statement in the window, with a false `bypass.suspect`, exactly while a load balancer drains
the server. 1053 is now the ping's answer too; an ERR of the closed or long-data command itself
(any other code) still closes the session."""

import struct

import pytest

from filereq import COM_PING, COM_QUERY, prepare
from harness import rawproto
from policy_helpers import USERS, _double_users, etcd, policy_gw  # noqa: F401
import tidb_double  # noqa: E402 (policy_helpers puts tests/tidb_double on the path)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

COM_STMT_SEND_LONG_DATA = 0x18
COM_STMT_CLOSE = 0x19
ER_SERVER_SHUTDOWN = 1053
ER_UNKNOWN_STMT_HANDLER = 1243
_pkt = rawproto.packet


@pytest.fixture(params=["8.0.11-TiDB-v9.0.0"])
def double(etcd, tmp_path, request):
    """A TiDB double of a release whose COM_PING fails in a graceful shutdown."""
    srv = tidb_double.start(etcd=etcd.url, log=str(tmp_path / "statements.jsonl"), job_delay=0.02,
                            empty_check=False, users=_double_users(), version=request.param)
    yield srv
    srv.stop()


def _login(gw):
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], "shop")
    return c


def _rest_of_result(c, first):
    """After a result's first packet (its column count), the rest: definitions, EOF, rows,
    EOF (no DEPRECATE_EOF asked)."""
    eofs = 0
    while first[1] == b"\x01" and eofs < 2:
        _, p = c.read_packet()
        eofs += p[:1] == b"\xfe" and len(p) < 9
    return first


def _select_one(c):
    """A COM_QUERY SELECT 1, answered whole: (id, first byte) of its column count, or
    (id, code) of an ERR."""
    c.send_packet(bytes([COM_QUERY]) + b"SELECT 1", 0)
    return _rest_of_result(c, rawproto.answers(c, 1)[0])


def test_client_ping_fails_while_queries_still_run(policy_gw, double):
    """What TiDB does in the window, through the gateway: the client's own ping gets 1053, a
    query is still served."""
    gw = policy_gw()
    c = _login(gw)
    try:
        double.state.healthy = False
        c.send_raw(_pkt(bytes([COM_PING])))
        ping = rawproto.answers(c, 1)
        first = _select_one(c)
    finally:
        c.close()
    assert ping == [(1, ER_SERVER_SHUTDOWN)], ping
    assert first == (1, b"\x01"), first


@pytest.mark.parametrize("pipelined", [False, True], ids=["close-then-query", "in-one-write"])
def test_closed_statement_during_graceful_shutdown_keeps_the_session(policy_gw, double, pipelined):
    """A statement closed during the graceful wait: the fence's ping gets 1053, which is its
    answer; the next query is served and the session stays."""
    gw = policy_gw()
    c = _login(gw)
    try:
        sid = prepare(c, b"SELECT 1")
        double.state.healthy = False
        close = _pkt(bytes([COM_STMT_CLOSE]) + struct.pack("<I", sid))
        query = _pkt(bytes([COM_QUERY]) + b"SELECT 1")
        if pipelined:
            c.send_raw(close + query)
            first = _rest_of_result(c, rawproto.answers(c, 1)[0])
        else:
            c.send_raw(close)
            first = _select_one(c)
        again = _select_one(c)
    finally:
        c.close()
    log = gw.stderr_text()
    assert first == (1, b"\x01"), first
    assert again == (1, b"\x01"), again
    assert "bypass.suspect" not in log, log[-3000:]


@pytest.mark.parametrize("pipelined", [False, True], ids=["apart", "in-one-write"])
def test_long_data_error_and_the_shutdown_ping(policy_gw, double, pipelined):
    """TiDB's ERR to a SEND_LONG_DATA for an unknown statement (1243). Sent alone, it comes
    while nothing is pending and reaches the client as it would from TiDB; the query after it
    has the fence's 1053 before its answer and is served. Sent in one write with the query, the
    ERR comes where the fence's answer is due: not the ping's answer, so the answers are not
    where the gateway counted them and the session ends, as on a healthy server."""
    gw = policy_gw()
    c = _login(gw)
    long_data = _pkt(bytes([COM_STMT_SEND_LONG_DATA]) + struct.pack("<IH", 4242, 0) + b"x")
    try:
        double.state.healthy = False
        if pipelined:
            c.send_raw(long_data + _pkt(bytes([COM_QUERY]) + b"SELECT 1"))
            end = c.outcome(10)
        else:
            c.send_raw(long_data)
            end = rawproto.answers(c, 1)
            served = _select_one(c)
    finally:
        c.close()
    log = gw.stderr_text()
    if pipelined:
        assert end == "closed", end
        assert "answered a command the gateway expects no answer to" in log, log[-3000:]
    else:
        assert end == [(1, ER_UNKNOWN_STMT_HANDLER)], end
        assert served == (1, b"\x01"), served
        assert "bypass.suspect" not in log, log[-3000:]
