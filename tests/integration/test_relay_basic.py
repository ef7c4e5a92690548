"""Connect, query and authenticate through the gateway with each real client; default database,
COM_INIT_DB and USE (what the client sees of the session's current database)."""

import pymysql
import pytest

from harness import clients
from harness.mariadb import ADMIN, EMPTY, NATIVE, OTHER


# ---- connect and query, each client ----

def test_pymysql_query(gw, mariadb):
    c = clients.connect(gw, *NATIVE)
    try:
        assert clients.query_one(c, "SELECT 1 + 41, 'h\u00e9llo', NULL") == (42, "h\u00e9llo", None)
        rows = clients.query_all(c, "SELECT n, s FROM igtest.seq WHERE n <= 3 ORDER BY n")
        assert rows == ((1, "row-1"), (2, "row-2"), (3, "row-3"))
        # The greeting reaches the client: the server version is the backend's (MariaDB
        # prefixes it with "5.5.5-" in the greeting for old clients).
        backend_version = mariadb.admin_query("SELECT VERSION()")[0][0]
        assert c.get_server_info() in (backend_version, "5.5.5-" + backend_version)
        assert clients.query_one(c, "SELECT CURRENT_USER()")[0] == "ignative@%"
    finally:
        c.close()


def test_cli_query(gw):
    r = clients.cli(gw, *NATIVE, sql="SELECT 6 * 7; SELECT s FROM igtest.seq WHERE n = 5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["42", "row-5"]


def test_igclient_query(ig):
    r = ig(*NATIVE, ["query", "SELECT n, s, NULL FROM igtest.seq WHERE n IN (7, 8) ORDER BY n"])
    assert r.rc == 0, r.out + r.err
    assert r.results() == [[["7", "row-7", "NULL"], ["8", "row-8", "NULL"]]]


def test_general_log_sees_query(gw, mariadb):
    """What the client sent is exactly what the backend received."""
    off = mariadb.general_log_offset()
    marker = "SELECT 'relay-marker-4d1c' AS m /* comment kept */"
    c = clients.connect(gw, *NATIVE)
    try:
        assert clients.query_one(c, marker) == ("relay-marker-4d1c",)
    finally:
        c.close()
    assert marker in mariadb.general_log_since(off)


# ---- authentication ----

def test_wrong_password_pymysql(gw):
    with pytest.raises(pymysql.err.OperationalError) as e:
        clients.connect(gw, NATIVE[0], "not-the-password")
    assert e.value.args[0] == 1045
    assert "Access denied for user 'ignative'" in e.value.args[1]


def test_wrong_password_cli(gw):
    r = clients.cli(gw, NATIVE[0], "wrong", sql="SELECT 1")
    assert r.returncode != 0
    assert "ERROR 1045" in r.stderr and "Access denied" in r.stderr


def test_wrong_password_igclient(ig):
    r = ig(NATIVE[0], "wrong", ["query", "SELECT 1"])
    assert r.rc == 3
    assert r.errors() == [1045]


def test_unknown_user(gw):
    with pytest.raises(pymysql.err.OperationalError) as e:
        clients.connect(gw, "nosuchuser", "x")
    assert e.value.args[0] == 1045


def test_password_given_for_empty_password_user(gw):
    with pytest.raises(pymysql.err.OperationalError) as e:
        clients.connect(gw, EMPTY[0], "something")
    assert e.value.args[0] == 1045


def test_empty_password_each_client(gw, ig):
    c = clients.connect(gw, *EMPTY)
    try:
        assert clients.query_one(c, "SELECT CURRENT_USER()") == ("igempty@%",)
    finally:
        c.close()
    r = clients.cli(gw, *EMPTY, sql="SELECT CURRENT_USER()")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "igempty@%"
    r = ig(*EMPTY, ["query", "SELECT CURRENT_USER()"])
    assert r.rc == 0, r.out
    assert r.rows() == [["igempty@%"]]


def test_failed_login_does_not_disturb_others(gw):
    good = clients.connect(gw, *NATIVE)
    try:
        for _ in range(5):
            with pytest.raises(pymysql.err.OperationalError):
                clients.connect(gw, NATIVE[0], "bad")
        assert clients.query_one(good, "SELECT 1") == (1,)
    finally:
        good.close()


# ---- default database, COM_INIT_DB, USE ----

def test_default_database_each_client(gw, ig):
    c = clients.connect(gw, *NATIVE, db="igtest")
    try:
        assert clients.query_one(c, "SELECT DATABASE()") == ("igtest",)
        # An unqualified name resolves in the default database.
        assert clients.query_one(c, "SELECT COUNT(*) FROM seq") == (100,)
    finally:
        c.close()
    r = clients.cli(gw, *NATIVE, sql="SELECT DATABASE(); SELECT COUNT(*) FROM seq", db="igtest2")
    assert r.returncode != 0  # seq is in igtest, not igtest2
    assert r.stdout.splitlines()[0] == "igtest2"
    assert "ERROR 1146" in r.stderr
    r = ig(*NATIVE, ["query", "SELECT DATABASE()"], db="igtest2")
    assert r.rc == 0 and r.rows() == [["igtest2"]]


def test_default_database_unknown(gw):
    with pytest.raises(pymysql.err.OperationalError) as e:
        clients.connect(gw, *ADMIN, db="no_such_db")
    assert e.value.args[0] == 1049
    # Without global privileges the server answers 1044 (it does not reveal what exists).
    with pytest.raises(pymysql.err.OperationalError) as e:
        clients.connect(gw, *NATIVE, db="no_such_db")
    assert e.value.args[0] == 1044


def test_default_database_denied(gw):
    with pytest.raises(pymysql.err.OperationalError) as e:
        clients.connect(gw, *OTHER, db="igtest")  # igother has no grant on igtest
    assert e.value.args[0] == 1044


def test_init_db_and_use_pymysql(gw):
    c = clients.connect(gw, *NATIVE)
    try:
        assert clients.query_one(c, "SELECT DATABASE()") == (None,)
        c.select_db("igtest")  # COM_INIT_DB
        assert clients.query_one(c, "SELECT DATABASE()") == ("igtest",)
        clients.query_one(c, "USE igtest2")
        assert clients.query_one(c, "SELECT DATABASE()") == ("igtest2",)
        clients.query_one(c, "USE `igtest`")
        assert clients.query_one(c, "SELECT DATABASE(), COUNT(*) FROM seq") == ("igtest", 100)
        # A failed switch leaves the current database as it was.
        with pytest.raises(pymysql.err.OperationalError) as e:
            c.select_db("no_such_db")
        assert e.value.args[0] == 1044
        assert clients.query_one(c, "SELECT DATABASE()") == ("igtest",)
        with pytest.raises(pymysql.err.OperationalError) as e:
            clients.query_one(c, "USE no_such_db")
        assert e.value.args[0] == 1044
        assert clients.query_one(c, "SELECT DATABASE()") == ("igtest",)
    finally:
        c.close()


def test_use_in_multi_statement(gw):
    c = clients.connect(gw, *NATIVE,
                        client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    try:
        with c.cursor() as cur:
            cur.execute("USE igtest2; SELECT DATABASE()")
            assert cur.nextset()
            assert cur.fetchall() == (("igtest2",),)
        assert clients.query_one(c, "SELECT DATABASE()") == ("igtest2",)
    finally:
        c.close()


def test_init_db_igclient(ig):
    r = ig(*NATIVE, ["status", "initdb", "igtest", "status", "query", "USE igtest2",
                     "query", "SELECT DATABASE()", "initdb", "no_such_db",
                     "query", "SELECT DATABASE()"], opts=["--keep-going"])
    assert r.rc == 1  # the initdb of no_such_db fails
    sets = r.results()
    assert sets[0] == [["NULL", "ignative@%"]]
    assert sets[1] == [["igtest", "ignative@%"]]
    assert sets[2] == [["igtest2"]]
    assert sets[3] == [["igtest2"]]
    assert r.errors() == [1044]


def test_use_cli(gw):
    r = clients.cli(gw, *NATIVE, sql="USE igtest; SELECT DATABASE(); SELECT s FROM seq WHERE n=9")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["igtest", "row-9"]
