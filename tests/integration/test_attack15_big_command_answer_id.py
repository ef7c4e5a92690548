"""Attack 15, the ids: the first answer to a command of 16 MiB or more was not checked on an
uncompressed backend leg. Its first id was "not known" (0) until the last part, and was set
only for compressed legs, so any packet was taken for the start of its answer - how the second
OK of a COM_REFRESH passed for one in test_attack15_refresh_twice.py - and one that came while
the command's parts were still on their way (no server answers a command it has not read
whole) as well. Now the id is the one after the last part's, and nothing is taken for the
answer before that part went.

The double is made to answer a 16 MiB COM_PING with a wrong id (7), a stand-in for an answer
that is not this command's."""

import pytest

from policy_helpers import DB1, USERS, double, etcd, policy_gw, state  # noqa: F401  (puts the double on sys.path)
import tidb_double  # noqa: E402
import mysqlwire as w  # noqa: E402
from harness import rawproto  # noqa: E402
from test_attack15_refresh_twice import MAX, _big, _parts, _rest  # noqa: E402

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

COM_PING = 0x0E


@pytest.fixture
def big_ping_misnumbered(monkeypatch):
    plain = tidb_double.Session.dispatch

    def dispatch(self, cmd, body):
        if cmd != COM_PING or len(body) < MAX - 1:
            return plain(self, cmd, body)
        self.io.seq = 7
        self.io.write(w.ok_packet(status=self.status()))
        return True

    monkeypatch.setattr(tidb_double.Session, "dispatch", dispatch)


def test_first_answer_to_a_16_mib_command_is_checked(policy_gw, double, state, big_ping_misnumbered):
    gw = policy_gw()
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        try:
            c.send_raw(_parts(_big(bytes([COM_PING]))))
        except OSError:
            pass
        got = _rest(c)
    finally:
        c.close()
    assert got == ["closed"], got
    assert "bypass.suspect: the backend's packet carries sequence id 7" in gw.stderr_text()


def test_16_mib_command_answered_in_step(policy_gw, double, state):
    """Control: the double's own answer (id 2, after parts 0 and 1) is relayed."""
    gw = policy_gw()
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        c.send_raw(_parts(_big(bytes([COM_PING]))))
        seq, p = c.read_packet()
    finally:
        c.close()
    assert (seq, p[:1]) == (2, b"\x00")
    assert "bypass.suspect" not in gw.stderr_text()
