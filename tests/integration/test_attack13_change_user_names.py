"""Attack 13 (COM_CHANGE_USER, the session's user): the gateway reads names of up to 1023
bytes from COM_CHANGE_USER (09ec3b2, MY_CHANGE_USER_NAME_MAX) but kept the session's user in
256 bytes: a user whose name is longer - MariaDB allows 128 characters, up to 384 bytes in its
utf8mb3 system character set - was relayed, authenticated by the server, and named in the
session by the first 255 bytes of its name. Every later record the session writes (statement
audit events, an import's import.result, log lines) then names another user than the one the
server runs as: the very thing the refusal of unreadable COM_CHANGE_USER exists to prevent
(proxy/command.c change_user_names; test_relay_session.py). Decisions ask the server (the
probe), so this is about the audit trail, not the verdicts."""

import json
import struct
import time

import pytest

from harness import rawproto
from harness.mariadb import NATIVE

LONG_USER = "\u20ac" * 90  # 90 characters, 270 bytes in UTF-8
LONG_PW = "longpw"
UTF8MB4 = 45


@pytest.fixture
def long_user(mariadb):
    mariadb.admin_query("DROP USER IF EXISTS %s@'%%'", (LONG_USER,))
    mariadb.admin_query("CREATE USER %s@'%%' IDENTIFIED VIA mysql_native_password USING PASSWORD(%s)",
                        (LONG_USER, LONG_PW))
    yield LONG_USER
    mariadb.admin_query("DROP USER IF EXISTS %s@'%%'", (LONG_USER,))


def _change_user(c, salt, user, password):
    auth = rawproto.native_scramble(password, salt)
    body = (b"\x11" + user.encode() + b"\0" + bytes([len(auth)]) + auth + b"\0" +
            struct.pack("<H", UTF8MB4) + b"mysql_native_password\0")
    c.send_packet(body, 0)
    seq, p = c.read_packet()
    if p[:1] == b"\xfe" and len(p) > 1:  # AuthSwitchRequest: the scramble it carries
        end = p.index(b"\0", 1)
        c.send_packet(rawproto.native_scramble(password, p[end + 1:].rstrip(b"\0")), seq + 1)
        seq, p = c.read_packet()
    return seq, p


def _query_rows(c, sql):
    c.send_packet(b"\x03" + sql.encode(), 0)
    rows, eofs = [], 0
    while eofs < 2:  # classic EOFs: after the definitions, after the rows
        rows.append(c.read_packet()[1])
        assert rows[0][:1] != b"\xff", rows[0]
        eofs += rows[-1][:1] == b"\xfe" and len(rows[-1]) < 9
    return rawproto.text_rows(rows)


def test_the_session_names_the_whole_user_the_server_runs_as(gateway_factory, long_user):
    gw = gateway_factory({"audit": {"log_statements": "all"}})
    c, g = rawproto.login(gw.host, gw.port, *NATIVE)
    try:
        seq, p = _change_user(c, g["salt"], long_user, LONG_PW)
        assert p[:1] == b"\x00", p
        rows = _query_rows(c, "SELECT CURRENT_USER(), 4242")
    finally:
        c.close()
    assert rows == [[long_user + "@%", "4242"]], rows

    def statement_records():
        try:
            with open(gw.config["audit"]["path"]) as f:
                events = [json.loads(ln) for ln in f if ln.strip()]
        except FileNotFoundError:
            return []
        return [e for e in events if "4242" in str(e.get("statement", ""))]
    # the audit writer is a thread of its own: the record is written soon, not at once
    deadline = time.monotonic() + 30
    mine = statement_records()
    while not mine and time.monotonic() < deadline:
        time.sleep(0.05)
        mine = statement_records()
    assert mine, "no audit record of the statement within 30 s"
    assert [e["user"] for e in mine] == [long_user], [e["user"] for e in mine]
