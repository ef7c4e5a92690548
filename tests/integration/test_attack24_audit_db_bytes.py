"""attack24: the audit record loses its `db` field when the session's database name is not
UTF-8.

docs/AUDIT.md: "bytes that are not valid UTF-8 (a client's latin1 name, for instance) are
replaced by U+FFFD so every line parses". Every text field goes through the bounded,
sanitising setter (proxy/auditfield.c) but `db`, which proxy/auditev.c gave to jansson's
json_string() as it was: jansson refuses a string that is not UTF-8 (NULL), and setting NULL
fails, so the record was written without its `db` at all - the one field that says which
database a statement ran against, left out by the client's choice of bytes.

The name is the client's: MariaDB converts COM_INIT_DB's name from the client's character
set (sql_parse.cc dispatch_command, COM_INIT_DB: thd->copy_with_error(system_charset_info,
.., thd->charset(), ..)), so a latin1 session enters `café` by the bytes 'caf\\xe9', and the
gateway keeps the name as sent once the server said OK (proxy/command.c set_db)."""

import json
import time

import pytest

from harness import rawproto
from harness.mariadb import NATIVE

DB = "caf\u00e9"


@pytest.fixture
def latin1_db(mariadb):
    mariadb.admin_query("CREATE DATABASE IF NOT EXISTS `%s`" % DB)
    mariadb.admin_query("GRANT ALL ON `%s`.* TO %%s@'%%%%'" % DB, (NATIVE[0],))
    yield DB
    mariadb.admin_query("DROP DATABASE IF EXISTS `%s`" % DB)


def _ok(c, payload):
    c.send_packet(payload, 0)
    out = rawproto.read_answer(c)
    assert out[0][:1] != b"\xff", out
    return out


def _records(gw, marker):
    try:
        with open(gw.config["audit"]["path"], encoding="utf-8") as f:
            events = [json.loads(ln) for ln in f if ln.strip()]
    except FileNotFoundError:
        return []
    return [e for e in events if marker in str(e.get("statement", ""))]


def test_statement_record_keeps_a_non_utf8_database_name(gateway_factory, latin1_db):
    gw = gateway_factory({"audit": {"log_statements": "all"}})
    c, _ = rawproto.login(gw.host, gw.port, *NATIVE)
    try:
        _ok(c, b"\x03SET NAMES latin1")
        _ok(c, b"\x02caf\xe9")  # COM_INIT_DB, latin1 bytes of the name
        answer = _ok(c, b"\x03SELECT DATABASE(), 4244")
    finally:
        c.close()
    assert b"\x04caf\xe9\x044244" in answer, answer  # the server is in `café`
    deadline = time.monotonic() + 30
    mine = _records(gw, "4244")
    while not mine and time.monotonic() < deadline:
        time.sleep(0.05)
        mine = _records(gw, "4244")
    assert mine, "no audit record of the statement within 30 s"
    assert [e.get("db") for e in mine] == ["caf\ufffd"], mine
