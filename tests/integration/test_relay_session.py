"""Session commands through the gateway: COM_CHANGE_USER (success and failure),
COM_RESET_CONNECTION, KILL QUERY / KILL CONNECTION of another connection, and the current
database as the client sees it after the handshake, COM_INIT_DB, USE, change user and reset."""

import struct
import threading
import time

import pymysql
import pytest

from harness import clients, rawproto, timing
from harness.mariadb import NATIVE, OTHER


def test_change_user_to_another_user(ig):
    r = ig(*NATIVE, ["query", "SET @v = 'before'",
                     "query", "SELECT CONNECTION_ID(), CURRENT_USER(), DATABASE(), @v",
                     "changeuser", OTHER[0], OTHER[1], "igtest2",
                     "query", "SELECT CONNECTION_ID(), CURRENT_USER(), DATABASE(), @v",
                     "query", "SELECT COUNT(*) FROM igtest.seq"],
           db="igtest", opts=["--keep-going"])
    before, after = r.results()[0][0], r.results()[1][0]
    assert before[1:] == ["ignative@%", "igtest", "before"]
    assert "ok changeuser igother" in r.lines()
    # Same backend session, new identity, new database, session state cleared.
    assert after == [before[0], "igother@%", "igtest2", "NULL"]
    # igother has no grant on igtest: the new identity is really in force.
    assert r.errors() == [1142]
    assert r.rc == 1


def test_change_user_without_database(ig):
    r = ig(*NATIVE, ["changeuser", OTHER[0], OTHER[1], "",
                     "query", "SELECT CURRENT_USER(), DATABASE()"], db="igtest")
    assert r.rc == 0, r.out + r.err
    assert r.rows() == [["igother@%", "NULL"]]


def test_change_user_wrong_password(ig):
    """A failed change user is relayed (1045) and never grants the new identity: the
    connection either goes on as the old user (what MariaDB does) or is closed."""
    r = ig(*NATIVE, ["query", "SELECT CONNECTION_ID()",
                     "changeuser", OTHER[0], "wrong-password", "",
                     "query", "SELECT CONNECTION_ID(), CURRENT_USER()"],
           db="igtest", opts=["--keep-going"])
    assert r.rc == 1
    assert r.errors()[0] == 1045
    assert "Access denied for user 'igother'" in r.out
    sets = r.results()
    if len(sets) == 2:
        assert sets[1] == [[sets[0][0][0], "ignative@%"]]
    else:
        assert r.errors()[1] in (2006, 2013), r.out


def test_change_user_unknown_user_then_good_user(ig):
    r = ig(*NATIVE, ["changeuser", "nosuchuser", "x", "",
                     "changeuser", OTHER[0], OTHER[1], "igtest2",
                     "query", "SELECT CURRENT_USER(), DATABASE()"], opts=["--keep-going"])
    assert r.errors()[0] == 1045
    if r.errors() == [1045]:
        assert r.rows() == [["igother@%", "igtest2"]]
    else:  # the gateway closed the connection after the failure
        assert r.errors()[1] in (2006, 2013), r.out


def test_reset_connection(ig):
    r = ig(*NATIVE, ["query", "SET @v = 42, @@session.sql_mode = 'ANSI_QUOTES'",
                     "query", "CREATE TEMPORARY TABLE tmp_reset (a INT)",
                     "query", "SELECT CONNECTION_ID(), @v, @@session.sql_mode",
                     "reset",
                     "query", "SELECT CONNECTION_ID(), @v, @@session.sql_mode = @@global.sql_mode,"
                              " DATABASE()",
                     "query", "SELECT * FROM tmp_reset"], db="igtest", opts=["--keep-going"])
    sets = r.results()
    assert sets[0] == [[sets[0][0][0], "42", "ANSI_QUOTES"]]
    assert "ok reset" in r.lines()
    # Same connection; user variable, session variable and temporary table gone; the current
    # database is kept by COM_RESET_CONNECTION.
    assert sets[1] == [[sets[0][0][0], "NULL", "1", "igtest"]]
    assert r.errors() == [1146]


def test_reset_connection_after_prepared_statement(ig):
    r = ig(*NATIVE, ["stmt", "SELECT ? + 1", "i:41", "reset",
                     "stmt", "SELECT ? * 2", "i:21"])
    assert r.rc == 0, r.out + r.err
    assert r.rows() == [["42"], ["42"]]


# ---- KILL ----

def _sleep_in_thread(conn, seconds, out):
    def run():
        t0 = time.monotonic()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT SLEEP(%d)" % seconds)
                out["result"] = cur.fetchall()
        except pymysql.MySQLError as e:
            out["error"] = e.args[0]
        out["elapsed"] = time.monotonic() - t0
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _wait_sleeping(mariadb, conn_id, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = mariadb.admin_query("SELECT INFO FROM information_schema.PROCESSLIST WHERE ID=%s",
                                   (conn_id,))
        if rows and rows[0][0] and "SLEEP" in rows[0][0]:
            return
        time.sleep(0.05)
    raise AssertionError("connection %s never started its SLEEP" % conn_id)


def test_kill_query_from_another_connection(gw, mariadb):
    a = clients.connect(gw, *NATIVE)
    b = clients.connect(gw, *NATIVE)
    try:
        a_id = clients.query_one(a, "SELECT CONNECTION_ID()")[0]
        out = {}
        t = _sleep_in_thread(a, 30, out)
        _wait_sleeping(mariadb, a_id)
        clients.query_one(b, "KILL QUERY %d" % a_id)
        t.join(10)
        assert not t.is_alive(), "the killed query did not return"
        assert out.get("error") == 1317, out  # query execution was interrupted
        assert out["elapsed"] < min(timing.bound(5), 25), out  # long before SLEEP(30) ends
        # Only the query was killed: the connection goes on.
        assert clients.query_one(a, "SELECT CONNECTION_ID()") == (a_id,)
    finally:
        a.close()
        b.close()


def test_kill_connection_from_another_connection(gw, mariadb):
    a = clients.connect(gw, *NATIVE)
    b = clients.connect(gw, *NATIVE)
    try:
        a_id = clients.query_one(a, "SELECT CONNECTION_ID()")[0]
        out = {}
        t = _sleep_in_thread(a, 30, out)
        _wait_sleeping(mariadb, a_id)
        clients.query_one(b, "KILL CONNECTION %d" % a_id)
        t.join(10)
        assert not t.is_alive(), "the killed connection's query did not return"
        assert out.get("error") in (2013, 1927), out
        assert out["elapsed"] < min(timing.bound(5), 25), out  # long before SLEEP(30) ends
        with pytest.raises(pymysql.MySQLError):
            clients.query_one(a, "SELECT 1")
        assert mariadb.wait_thread_gone(a_id)
        assert clients.query_one(b, "SELECT 'b lives'") == ("b lives",)
    finally:
        a.close()
        b.close()


def test_kill_own_query_id_error(gw):
    c = clients.connect(gw, *NATIVE)
    try:
        with pytest.raises(pymysql.MySQLError) as e:
            clients.query_one(c, "KILL QUERY 999999999")
        assert e.value.args[0] == 1094  # unknown thread id
        assert clients.query_one(c, "SELECT 1") == (1,)
    finally:
        c.close()


# ---- current database as the client sees it ----

def test_current_database_through_session_changes(ig):
    r = ig(*NATIVE, ["query", "SELECT DATABASE()",
                     "initdb", "igtest2", "query", "SELECT DATABASE()",
                     "query", "USE igtest", "query", "SELECT DATABASE()",
                     "reset", "query", "SELECT DATABASE()",
                     "changeuser", NATIVE[0], NATIVE[1], "igtest2", "query", "SELECT DATABASE()",
                     "changeuser", NATIVE[0], NATIVE[1], "", "query", "SELECT DATABASE()"],
           db="igtest")
    assert r.rc == 0, r.out + r.err
    assert [s[0][0] for s in r.results()] == ["igtest", "igtest2", "igtest", "igtest", "igtest2",
                                              "NULL"]


def test_current_database_use_variants(gw):
    c = clients.connect(gw, *NATIVE)
    try:
        for stmt, want in (("USE igtest", "igtest"), ("use `igtest2`", "igtest2"),
                           ("/* c */ USE igtest", "igtest"), ("USE\tigtest2 ", "igtest2")):
            clients.query_one(c, stmt)
            assert clients.query_one(c, "SELECT DATABASE()") == (want,), stmt
    finally:
        c.close()


@pytest.mark.parametrize("user_len,db_len", [(255, 0), (512, 0), (8, 256)])
def test_change_user_long_names_the_client_library_sends_are_relayed(ig, mariadb, user_len, db_len):
    """libmariadb sends up to 512 bytes of user and 256 of database in COM_CHANGE_USER (as
    mysql_client_test's test_bug31669 does): the gateway reads them and relays the command
    (the server refuses the unknown user or database)."""
    user, db = "u" * user_len, "d" * db_len
    off = mariadb.general_log_offset()
    r = ig(*NATIVE, ["query", "SELECT CURRENT_USER()",
                     "changeuser", user, "x", db,
                     "query", "SELECT CURRENT_USER()"], opts=["--keep-going"])
    assert r.results()[0] == [["ignative@%"]]
    errs = r.errors()
    assert errs and errs[0] != 1105, r.out  # the server's answer
    assert (user if user_len > 8 else db)[:64] in mariadb.general_log_since(off)


@pytest.mark.parametrize("user_len,db_len", [(1024, 0), (5000, 0), (8, 1024), (2000, 2000)])
def test_change_user_names_the_gateway_cannot_hold_are_not_sent(gw, mariadb, user_len, db_len):
    """The session's user (logs, audit records, the fallback when no probe answer is at hand)
    is read from COM_CHANGE_USER. A name longer than the gateway's buffer used to be forwarded
    with the session's user left as it was, so the server ran as a user the session did not
    name (found by the bug31669 helper, session 8). Names up to 1023 bytes are read; a
    COM_CHANGE_USER with a longer one (sent raw: libmariadb cuts names itself) is answered with
    1105, never reaches the server, and the session ends."""
    user, db = "u" * user_len, "d" * db_len
    c, g = rawproto.login(gw.host, gw.port, *NATIVE)
    try:
        off = mariadb.general_log_offset()
        auth = rawproto.native_scramble("x", g["salt"])
        body = (b"\x11" + user.encode() + b"\0" + bytes([len(auth)]) + auth + db.encode() + b"\0" +
                struct.pack("<H", 45) + b"mysql_native_password\0")
        c.send_packet(body, 0)
        seq, p = c.read_packet()
        assert p[:1] == b"\xff" and struct.unpack("<H", p[1:3])[0] == 1105, p[:120]
        assert b"longer than 1023 bytes: not sent" in p
        assert c.outcome(timing.bound(10)) == "closed", "the session was not ended"
        long_name = user if user_len > 8 else db
        assert long_name[:64] not in mariadb.general_log_since(off)
    finally:
        c.close()
