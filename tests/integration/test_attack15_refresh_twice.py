"""Attack 15 (command phase, answers counted): a command TiDB answers twice.

TiDB's handleRefresh (pkg/server/conn.go, pingcap/tidb at 000172f4, and the older
server/conn.go) runs handleQuery("FLUSH PRIVILEGES") for COM_REFRESH with sub-command 0x01 -
which writes that statement's OK - and then writeOK: two OKs, ids 1 and 2, for one command.
COM_SHUTDOWN does the same with handleQuery("SHUTDOWN") (tests/tidb_double/FACTS.md section 8).
The gateway followed one answer per command, so the second OK was taken as the next command's,
and every later answer as the one before it: the LOCAL INFILE request of a LOAD DATA LOCAL came
when nothing was pending and was relayed as an unsolicited packet while the gateway went on
reading commands - and a covered IMPORT INTO hidden in a "file" packet the server refused by its
header ran undecided (the ending of attack 13).

The ids did not show it on an uncompressed backend leg: the command behind the COM_REFRESH is
one of 16 MiB (its answer starts at id 2, as the second OK does, and the first answer to a
command of several packets was not checked at all), and the LOAD DATA is one of 16 MiB too, so
that the answer it takes over (the 16 MiB command's, id 2) carries the ids it expects. That
answer must come after the LOAD DATA was sent: the command behind is a COM_STMT_EXECUTE of
SELECT SLEEP(3). On a compressed backend leg the ids are the gateway's own and nothing of this
is needed.

The fence: after such a command, before the next answered one, the gateway sends a
COM_STATISTICS of its own, whose answer ("Uptime: ...") no OK can be taken for; anything else
first closes the session."""

import pytest

from filereq import COM_PING, COM_QUERY, COM_STMT_CLOSE, IMP, LOAD, armed, exploit, shown
from filereq import execute as _execute, login as _login, rest as _rest
from harness import rawproto
from policy_helpers import PRECHECK, Received, double, etcd, policy_gw, state, zdouble  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

MAX = 0xFFFFFF
COM_REFRESH, COM_SHUTDOWN = 0x07, 0x08

_pkt = rawproto.packet


def _parts(payload):
    """A payload of 16 MiB or more as the packets a client sends it in (ids 0, 1, ...)."""
    out, seq = b"", 0
    while True:
        part = payload[:MAX]
        payload = payload[MAX:]
        out += _pkt(part, seq)
        seq += 1
        if len(part) < MAX:
            return out


def _big(payload):
    """The payload padded to 16 MiB + 1 (two packets), with bytes it ignores."""
    return payload + b" " * (MAX + 1 - len(payload))


def _big_load():
    """LOAD DATA LOCAL in two packets: a comment pads it to 16 MiB + 1 bytes."""
    head = bytes([COM_QUERY]) + LOAD + b" /*"
    return head + b"p" * (MAX + 1 - len(head) - 2) + b"*/"
















def _attempt(gw, double, head, behind, load, carrier):
    """Refused import first (positive control); then `head` (the command answered twice), the
    command `behind` it, LOAD DATA LOCAL (`load`), in one write; the carrier once a file
    request came. Returns (imports that reached the double, what the client got, the rest)."""
    c = _login(gw)
    try:
        sid, rx = armed(c, double)
        try:
            c.send_raw(_pkt(head) + behind(sid) + load)
        except OSError:  # closed by the gateway while the 16 MiB commands were still on their way
            pass
        got, rest, reached = exploit(c, rx, carrier)
        return reached, got, rest
    finally:
        c.close()


@pytest.mark.parametrize("carrier", [COM_STMT_CLOSE, COM_PING], ids=["stmt-close", "ping"])
def test_refresh_answered_twice_never_shifts_the_answers(policy_gw, double, state, carrier):
    """Uncompressed legs: the 16 MiB command and the 16 MiB LOAD DATA keep the ids in step."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    reached, got, rest = _attempt(gw, double, bytes([COM_REFRESH, 0x01]),
                                  lambda sid: _parts(_big(_execute(sid))), _parts(_big_load()), carrier)
    log = gw.stderr_text()
    assert reached == [], (reached, [g if g == "closed" else (g[0], g[1][:1]) for g in got], rest)
    assert "bypass.suspect" in log, log[-3000:]


def test_refresh_answered_twice_on_a_compressed_backend_leg(policy_gw, zdouble, state):
    """A zstd backend leg: the gateway numbers the answers itself, so plain-sized commands do."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw(backend=("127.0.0.1", zdouble.port),
                   backends={"compression": "zstd", "health_interval_ms": 0})
    reached, got, rest = _attempt(gw, zdouble, bytes([COM_REFRESH, 0x01]),
                                  lambda sid: _pkt(_execute(sid)), _pkt(bytes([COM_QUERY]) + LOAD), COM_STMT_CLOSE)
    log = gw.stderr_text()
    # The double checks packet ids under compression too (FACTS.md 9: TiDB only logs them), so
    # what the carrier would do to TiDB is not modelled here: the file request reaching the
    # client while the gateway reads commands is the bypass.
    assert reached == [] and not any(g != "closed" and g[1][:1] == b"\xfb" for g in got), (reached, shown(got), rest)
    assert "bypass.suspect" in log, log[-3000:]


def test_refresh_alone_then_a_decided_import(policy_gw, double, state):
    """Control: a client that waits gets both OKs as TiDB sends them (the second one arrives
    when nothing is pending: relayed as it is); the COM_STATISTICS fence before the next
    command is answered and never shown; the session goes on to a decided (refused) import.
    A sub-command other than REFRESH_GRANT (one OK) pipelined with a COM_PING costs nothing."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = _login(gw)
    try:
        rx = Received(double)
        c.send_raw(_pkt(bytes([COM_REFRESH, 0x01])))
        assert rawproto.answers(c, 2) == [(1, b"\x00"), (2, b"\x00")]
        c.send_raw(_pkt(bytes([COM_REFRESH, 0x02])) + _pkt(bytes([COM_PING])))
        assert rawproto.answers(c, 2) == [(1, b"\x00"), (1, b"\x00")]
        c.send_packet(bytes([COM_QUERY]) + IMP, 0)
        out = c.outcome(20)
    finally:
        c.close()
    assert out[:2] == ("error", PRECHECK), out
    assert rx.imports() == []
    assert "bypass.suspect" not in gw.stderr_text(), gw.stderr_text()[-3000:]


def test_refresh_answered_twice_pipelined_closes_the_session(policy_gw, double, state):
    """Pipelined behind a REFRESH_GRANT TiDB answers twice, a command finds the second OK
    where the fence's answer is due: the session ends (the client's library would have taken
    that OK for its command's answer anyway)."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = _login(gw)
    try:
        c.send_raw(_pkt(bytes([COM_REFRESH, 0x01])) + _pkt(bytes([COM_PING])))
        got = _rest(c)
    finally:
        c.close()
    assert got in (["closed"], [b"\x00", "closed"]), got  # the first OK may leave before the close
    assert "answered a command more than once" in gw.stderr_text(), gw.stderr_text()[-3000:]


def _refresh_then_select(host, port, user, password):
    c, _ = rawproto.login(host, port, user, password)
    try:
        c.send_raw(_pkt(bytes([COM_REFRESH, 0x01])) + _pkt(b"\x03SELECT 5"))
        seq, p = c.read_packet()
        rows = []
        while not (len(rows) > 3 and rows[-1][:1] == b"\xfe"):
            rows.append(c.read_packet()[1])
        return (seq, p[:1]), rawproto.text_rows(rows)
    finally:
        c.close()


def test_refresh_through_to_mariadb_is_transparent(gw, mariadb):
    """MariaDB answers COM_REFRESH once (an OK, or an ERR without RELOAD): the fence's answer
    is the gateway's own, and the client gets what it gets from MariaDB directly."""
    from harness.mariadb import NATIVE
    through = _refresh_then_select(gw.host, gw.port, *NATIVE)
    assert through == _refresh_then_select(mariadb.host, mariadb.port, *NATIVE)
    assert through[1] == [["5"]]
