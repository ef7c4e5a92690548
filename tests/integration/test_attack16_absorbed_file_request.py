"""Attack 16, defence in depth: a LOCAL INFILE request taken for part of another command's answer.

Round 15 closes the session when a file request comes while no command is pending (every
miscount so far ended with the request relayed as unsolicited). But a miscount leaves the gateway
ahead of the server whatever the client sends behind the LOAD DATA, and the client chooses it:
a command the gateway follows as anything but the start of a result takes the request for part
of its own answer - COM_STATISTICS (one packet of text, whatever it is), COM_FIELD_LIST
(definitions until an EOF), COM_STMT_FETCH (binary rows until an EOF), COM_CHANGE_USER (an
authentication exchange until an OK). That command is pending, so the request is relayed and
the gateway goes on reading commands while the server waits for file data; the command itself,
relayed before the request came, is read by the server as the file's first packet. Its payload
is the carrier (filereq.carrier): refused by its header (a wrong id) it makes the drain refuse
the next header too, and the covered IMPORT INTO behind is the next command the server runs.

The miscount is the one of test_attack15_unasked_file_request.py: the double answers COM_DEBUG
(which TiDB refuses with one ERR) with two OKs, a stand-in for any miscount no fence knows, on
a zstd backend leg (its ids are the gateway's own). The second OK is taken for the answer to a
COM_STMT_EXECUTE of SELECT SLEEP(3), whose result is then taken for the LOAD DATA's; the LOAD
DATA comes after a SELECT SLEEP(1) in the same COM_QUERY, so that its file request comes a
second after the commands behind it were relayed: five COM_STATISTICS take the five packets of
the SLEEP(1)'s result, the last command behind them the request. The double checks packet ids
under compression (TiDB only logs them: FACTS.md 9) and, as TiDB, the frame ids: the command
frame (id 0) that carries the "file" ends its LOAD DATA's read, so neither it nor TiDB runs the
carrier's import on this leg; the gateway's failure is the file request it relays while it reads
commands, what every bypass of this family needs (on a plain leg the ids of the answers a
miscount shifts must match as well)."""

import pytest

from policy_helpers import double, etcd, policy_gw, state, zdouble  # noqa: F401  (puts the double on sys.path)
from filereq import CLIENT_LOCAL_FILES, COM_QUERY, LOAD, armed, carrier, reached as _reached  # noqa: E402
from filereq import execute as _execute, pkt as _pkt, rest as _rest, shown  # noqa: E402
from filereq import COM_DEBUG, debug_answered_twice, until_file_request  # noqa: E402,F401  (a fixture)
from harness import rawproto  # noqa: E402
from policy_helpers import DB1, USERS  # noqa: E402

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

COM_STATISTICS, COM_FIELD_LIST, COM_STMT_FETCH = 0x09, 0x04, 0x1C
CLIENT_MULTI_STATEMENTS = 0x10000
DELAYED_LOAD = b"SELECT SLEEP(1); " + LOAD  # the file request a second after the SLEEP's result


def _login(gw):
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1,
                          caps=rawproto.DEFAULT_CAPS | CLIENT_LOCAL_FILES | CLIENT_MULTI_STATEMENTS)
    return c


def _absorbing(cmd):
    """The carrier first (the server reads it as the file's first packet), four more
    COM_STATISTICS for the SLEEP(1)'s result (no DEPRECATE_EOF: count, definition, EOF, row,
    EOF), then the command that takes the file request for its answer."""
    last = {COM_STATISTICS: _pkt(bytes([COM_STATISTICS])),
            COM_FIELD_LIST: _pkt(bytes([COM_FIELD_LIST]) + b"orders\x00"),
            COM_STMT_FETCH: _pkt(bytes([COM_STMT_FETCH]) + bytes(8))}[cmd]
    return carrier(COM_STATISTICS) + _pkt(bytes([COM_STATISTICS])) * 4 + last


@pytest.mark.parametrize("absorber", [COM_STATISTICS, COM_FIELD_LIST, COM_STMT_FETCH],
                         ids=["statistics", "field-list", "stmt-fetch"])
def test_file_request_never_passes_for_another_answer(policy_gw, zdouble, state, debug_answered_twice, absorber):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw(backend=("127.0.0.1", zdouble.port),
                   backends={"compression": "zstd", "health_interval_ms": 0})
    c = _login(gw)
    try:
        sid, rx = armed(c, zdouble)
        try:
            c.send_raw(_pkt(bytes([COM_DEBUG])) + _pkt(_execute(sid)) + _pkt(bytes([COM_QUERY]) + DELAYED_LOAD)
                       + _absorbing(absorber))
        except OSError:
            pass
        got = until_file_request(c, limit=40)
        rest = _rest(c)
        reached = _reached(rx)
    finally:
        c.close()
    log = gw.stderr_text()
    assert reached == [], (reached, shown(got), rest)
    assert not any(g != "closed" and g[1][:1] == b"\xfb" for g in got), (shown(got), rest)
    assert "bypass.suspect" in log, log[-3000:]
