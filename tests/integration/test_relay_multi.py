"""Multi-statements and multiple result sets: PyMySQL with CLIENT.MULTI_STATEMENTS, the C
client (mysql_next_result), a stored procedure's result sets, an error part-way through."""

import pymysql
import pytest

from harness import clients
from harness.mariadb import NATIVE

MULTI = pymysql.constants.CLIENT.MULTI_STATEMENTS


@pytest.fixture(scope="module")
def procedures(mariadb):
    mariadb.admin_query("CREATE OR REPLACE PROCEDURE igtest.three_sets(IN k INT) BEGIN "
                        "SELECT k AS a; SELECT n, s FROM igtest.seq WHERE n <= k ORDER BY n; "
                        "SELECT 'last' AS z; END")
    mariadb.admin_query("CREATE TABLE IF NOT EXISTS igtest.multi_t (id INT PRIMARY KEY, v TEXT)")


def _all_sets(cur):
    sets = [cur.fetchall()]
    while cur.nextset():
        sets.append(cur.fetchall())
    return sets


def test_pymysql_multi_statements(gw, procedures):
    c = clients.connect(gw, *NATIVE, db="igtest", client_flag=MULTI)
    try:
        with c.cursor() as cur:
            cur.execute("DELETE FROM multi_t; SELECT 1 AS a; "
                        "INSERT INTO multi_t VALUES (1,'a'),(2,'b'); "
                        "SELECT id, v FROM multi_t ORDER BY id; DO 0; SELECT 'end'")
            sets = _all_sets(cur)
        assert sets == [(), ((1,),), (), ((1, "a"), (2, "b")), (), (("end",),)]
        # The connection is in a clean state afterwards.
        assert clients.query_one(c, "SELECT COUNT(*) FROM multi_t") == (2,)
    finally:
        c.close()


def test_pymysql_multi_statements_error_midway(gw):
    c = clients.connect(gw, *NATIVE, db="igtest", client_flag=MULTI)
    try:
        with c.cursor() as cur:
            cur.execute("SELECT 1; SELECT * FROM no_such_table; SELECT 3")
            assert cur.fetchall() == ((1,),)
            with pytest.raises(pymysql.err.ProgrammingError) as e:
                cur.nextset()
            assert e.value.args[0] == 1146
        # The statements after the error are not run, and the connection still works.
        assert clients.query_one(c, "SELECT 'still here'") == ("still here",)
    finally:
        c.close()


def test_pymysql_procedure_result_sets(gw, procedures):
    c = clients.connect(gw, *NATIVE, db="igtest")
    try:
        with c.cursor() as cur:
            cur.execute("CALL three_sets(3)")
            sets = _all_sets(cur)
        # Three result sets then the procedure's final OK.
        assert sets == [((3,),), ((1, "row-1"), (2, "row-2"), (3, "row-3")), (("last",),), ()]
        assert clients.query_one(c, "SELECT 2") == (2,)
    finally:
        c.close()


def test_multi_statements_refused_without_flag(gw):
    c = clients.connect(gw, *NATIVE)  # no CLIENT_MULTI_STATEMENTS
    try:
        with pytest.raises(pymysql.err.ProgrammingError) as e:
            clients.query_one(c, "SELECT 1; SELECT 2")
        assert e.value.args[0] == 1064
        assert clients.query_one(c, "SELECT 5") == (5,)
    finally:
        c.close()


def test_igclient_multi_statements(ig, procedures):
    r = ig(*NATIVE, ["query", "SELECT 1 AS a, 'x' AS b; SELECT n FROM seq WHERE n < 4 ORDER BY n;"
                     " SET @q = 5; SELECT @q",
                     "query", "CALL three_sets(2)"], db="igtest", opts=["--multi"])
    assert r.rc == 0, r.out + r.err
    assert r.results() == [[["1", "x"]], [["1"], ["2"], ["3"]], [["5"]],
                           [["2"]], [["1", "row-1"], ["2", "row-2"]], [["last"]]]
    # The SET and the CALL's final status each give an OK.
    assert sum(1 for l in r.lines() if l.startswith("ok affected=")) == 2


def test_cli_multi_statements(gw):
    r = clients.cli(gw, *NATIVE, sql="SELECT 1; SELECT 2, 3; SELECT 'x'")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["1", "2\t3", "x"]
