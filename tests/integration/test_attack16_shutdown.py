"""Attack 16: COM_SHUTDOWN end to end. TiDB's dispatch (pkg/server/conn.go at 000172f4, the
same in the older server/conn.go) runs handleQuery("SHUTDOWN") and then writeOK: with the
SHUTDOWN privilege two OKs (ids 1 and 2), and the server signals itself a second later
(pkg/executor/simple.go executeShutdown / asyncDelayShutdown: SIGTERM and a graceful shutdown;
older releases SIGKILL); without it one ERR (1227). The double models both
(tidb_double.py Session.shutdown; shutdown_stops: it stops a second later).

The gateway relays COM_SHUTDOWN: whether a user may stop the server is the server's decision
(the privilege), not an import's, and a gateway that refused it would answer for TiDB on a
matter its policy does not cover. What it must do is stay in step: after it, the next
answered command is preceded by the gateway's own COM_STATISTICS (proxy/command.c
answered_twice, send_fence), whose text no OK passes for."""

import pytest

from filereq import COM_PING, COM_QUERY, COM_STMT_CLOSE, LOAD, refused_control
from harness import rawproto
from policy_helpers import PRECHECK, USERS, double, etcd, policy_gw, state, _double_users  # noqa: F401
from test_attack15_refresh_twice import _attempt, _big, _big_load, _parts, _execute
import tidb_double  # noqa: E402 (policy_helpers puts tests/tidb_double on the path)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

COM_SHUTDOWN = 0x08
_pkt = rawproto.packet


@pytest.fixture
def stopping_double(etcd, tmp_path):
    """A double that stops a second after a SHUTDOWN succeeds, as TiDB does."""
    srv = tidb_double.start(etcd=etcd.url, log=str(tmp_path / "statements.jsonl"), job_delay=0.02,
                            empty_check=False, users=_double_users(), shutdown_stops=True)
    yield srv
    srv.stop()


def _login(gw, user="root"):
    c, _ = rawproto.login(gw.host, gw.port, user, USERS[user], "shop")
    return c


def test_shutdown_answered_twice_then_in_step(policy_gw, stopping_double, state):
    """Both OKs reach the client as TiDB sends them; the COM_PING after them is answered by its
    own OK (the fence before it answered and never shown); the server's stop a second later
    ends the session."""
    gw = policy_gw(backend=("127.0.0.1", stopping_double.port), backends={"health_interval_ms": 0})
    c = _login(gw)
    try:
        c.send_raw(_pkt(bytes([COM_SHUTDOWN])))
        first = rawproto.answers(c, 2)
        c.send_raw(_pkt(bytes([COM_PING])))
        ping = rawproto.answers(c, 1)
        end = c.outcome(10)
    finally:
        c.close()
    log = gw.stderr_text()
    assert first == [(1, b"\x00"), (2, b"\x00")], first
    assert ping == [(1, b"\x00")], ping
    assert end == "closed", end
    assert "bypass.suspect" not in log, log[-3000:]


def test_shutdown_pipelined_closes_the_session(policy_gw, stopping_double, state):
    """A command pipelined behind a COM_SHUTDOWN TiDB answers twice finds the second OK where
    the fence's answer is due: the session ends (as after COM_REFRESH, attack15)."""
    gw = policy_gw(backend=("127.0.0.1", stopping_double.port), backends={"health_interval_ms": 0})
    c = _login(gw)
    try:
        c.send_raw(_pkt(bytes([COM_SHUTDOWN])) + _pkt(bytes([COM_PING])))
        got = []
        try:
            while True:
                got.append(c.read_packet()[1][:1])
        except (rawproto.Closed, OSError):
            got.append("closed")
    finally:
        c.close()
    assert got in (["closed"], [b"\x00", "closed"]), got
    assert "answered a command more than once" in gw.stderr_text(), gw.stderr_text()[-3000:]


def test_shutdown_refused_then_a_decided_import(policy_gw, double, state):
    """Without the SHUTDOWN privilege TiDB's one ERR is the whole answer: the fence after it is
    answered, and a covered IMPORT INTO is decided (refused)."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = _login(gw, "alice")
    try:
        c.send_raw(_pkt(bytes([COM_SHUTDOWN])))
        assert rawproto.answers(c, 1) == [(1, 1227)]
        refused_control(c)
    finally:
        c.close()
    assert "bypass.suspect" not in gw.stderr_text(), gw.stderr_text()[-3000:]


@pytest.mark.parametrize("carrier", [COM_STMT_CLOSE, COM_PING], ids=["stmt-close", "ping"])
def test_shutdown_answered_twice_never_shifts_the_answers(policy_gw, double, state, carrier):
    """attack15's exploit with COM_SHUTDOWN for COM_REFRESH (the module's double does not stop:
    TiDB stops a second later, which only narrows the attacker's window; what is checked is
    what the gateway makes of the two OKs)."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    reached, got, rest = _attempt(gw, double, bytes([COM_SHUTDOWN]),
                                  lambda sid: _parts(_big(_execute(sid))), _parts(_big_load()), carrier)
    log = gw.stderr_text()
    assert reached == [], (reached, got, rest)
    assert "bypass.suspect" in log, log[-3000:]


def test_shutdown_on_a_compressed_backend_leg(policy_gw, state, etcd, tmp_path):
    """The zstd backend leg (the ids are the gateway's own): plain-sized commands suffice."""
    state.task("pitr_shop", ["shop.*"])
    z = tidb_double.start(etcd=etcd.url, log=str(tmp_path / "z.jsonl"), job_delay=0.02, empty_check=False,
                          users=_double_users(), zstd=True)
    try:
        gw = policy_gw(backend=("127.0.0.1", z.port), backends={"compression": "zstd", "health_interval_ms": 0})
        reached, got, rest = _attempt(gw, z, bytes([COM_SHUTDOWN]), lambda sid: _pkt(_execute(sid)),
                                      _pkt(bytes([COM_QUERY]) + LOAD),
                                      COM_STMT_CLOSE)
    finally:
        z.stop()
    log = gw.stderr_text()
    assert reached == [] and not any(g != "closed" and g[1][:1] == b"\xfb" for g in got), (reached, got, rest)
    assert "bypass.suspect" in log, log[-3000:]
