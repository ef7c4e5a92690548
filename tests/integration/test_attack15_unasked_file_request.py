"""Attack 15, defence in depth: a LOCAL INFILE request while no command is pending.

Every bypass of this family so far (attack 13: an ERR to a command the gateway counted as
unanswered; attack 15: a second OK to a command it counted as answered once) ended the same
way: the answers shifted by one, the file request of a LOAD DATA LOCAL came when nothing was
pending, was relayed as an unsolicited packet, and the server read the client's next packets -
relayed uninspected as commands that get no answer - as file data, refused one by its header
and ran a covered IMPORT INTO hidden in its payload. The fences close the miscounts known; a
server that answers some other command more often than the gateway counts (a release not
modelled) must not reopen it. A file request is an answer to a command: with none pending the
gateway closes the session instead of relaying it.

The double here is made to answer COM_DEBUG (which TiDB refuses with one ERR) with two OKs, a
stand-in for any miscount no fence knows; the rest of the chain is attack 15's on a compressed
backend leg (test_attack15_refresh_twice.py)."""

import pytest

from policy_helpers import double, etcd, policy_gw, state, zdouble  # noqa: F401  (puts the double on sys.path)
from filereq import COM_DEBUG, COM_QUERY, COM_STMT_CLOSE, LOAD, armed, exploit, shown  # noqa: E402
from filereq import debug_answered_twice  # noqa: E402,F401  (a fixture)
from filereq import execute as _execute, login as _login, pkt as _pkt  # noqa: E402

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


def test_file_request_with_nothing_pending_closes_the_session(policy_gw, zdouble, state, debug_answered_twice):
    """A zstd backend leg, where the ids are the gateway's own (on an uncompressed one the
    second OK, sent before the server reads the command behind, finds that command's parts
    still on their way: test_attack15_big_command_answer_id.py)."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw(backend=("127.0.0.1", zdouble.port),
                   backends={"compression": "zstd", "health_interval_ms": 0})
    c = _login(gw)
    try:
        sid, rx = armed(c, zdouble)
        c.send_raw(_pkt(bytes([COM_DEBUG])) + _pkt(_execute(sid)) + _pkt(bytes([COM_QUERY]) + LOAD))
        got, rest, reached = exploit(c, rx, COM_STMT_CLOSE)
    finally:
        c.close()
    log = gw.stderr_text()
    assert reached == [] and rest is None and got[-1] == "closed", (reached, shown(got), rest)
    assert "asked for a LOCAL INFILE file while no command was pending" in log, log[-3000:]
