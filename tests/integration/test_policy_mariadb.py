"""End-to-end policy test against a real backend (the session MariaDB, general log on) with
`backends.tidb_version: v8.5.0`: what the gateway sends for an import is read back from
MariaDB's general log. MariaDB has no IMPORT INTO, so it answers the forwarded statement
with a syntax error; the test is about the bytes it received."""

import pymysql
import pytest

from harness import mariadb as mariadb_mod
from policy_helpers import PRECHECK, etcd, state  # noqa: F401
from mariadb_verdict import queries_since  # noqa: E402

pytestmark = [pytest.mark.gateway_only]

USER, PASSWORD = mariadb_mod.NATIVE
SQL = "IMPORT INTO t FROM 's3://bucket/t.csv' WITH thread=4"


@pytest.fixture
def gw_mariadb(gateway_factory, etcd):
    return gateway_factory({"cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                            "backends": {"tidb_version": "v8.5.0"}})


def connect(gw, db="igtest"):
    return pymysql.connect(host=gw.host, port=gw.port, user=USER, password=PASSWORD,
                           database=db, autocommit=True, connect_timeout=10, read_timeout=30)


def execute(conn, sql):
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
        return None
    except pymysql.err.MySQLError as e:
        return e.args


def test_uncovered_import_rewritten_text_in_general_log(gw_mariadb, mariadb, state):
    state.task("pitr_other", ["igtest2.*"])
    c = connect(gw_mariadb)
    try:
        off = mariadb.general_log_offset()
        err = execute(c, SQL)
        assert err is not None and err[0] == 1064, err  # MariaDB: syntax error, expected
        queries = queries_since(mariadb, off)
        assert SQL + ", DISABLE_PRECHECK" in queries, queries
        assert SQL not in queries
    finally:
        c.close()


def test_covered_import_never_reaches_mariadb(gw_mariadb, mariadb, state):
    state.task("pitr_igtest", ["igtest.*"])
    c = connect(gw_mariadb)
    try:
        off = mariadb.general_log_offset()
        err = execute(c, SQL)
        assert err is not None and err[0] == PRECHECK, err
        assert "igtest.t is covered by log backup task \"pitr_igtest\"" in err[1], err
        with c.cursor() as cur:  # the session goes on
            cur.execute("SELECT 7")
            assert cur.fetchone() == (7,)
        queries = queries_since(mariadb, off)
        assert not any("IMPORT" in q for q in queries), queries
        assert "SELECT 7" in queries
    finally:
        c.close()


def test_refused_use_keeps_the_current_database(gw_mariadb, mariadb, state):
    """Only a USE the server answers OK changes the database imports are resolved in."""
    state.task("pitr_igtest2", ["igtest2.t"])
    c = connect(gw_mariadb, db="igtest2")
    try:
        err = execute(c, "USE no_such_database")
        assert err is not None and err[0] in (1044, 1049), err  # denied / unknown db
        off = mariadb.general_log_offset()
        err = execute(c, "IMPORT INTO t FROM 's3://bucket/t.csv'")
        assert err is not None and err[0] == PRECHECK and "igtest2.t is covered" in err[1], err
        assert not any("IMPORT" in q for q in queries_since(mariadb, off))
    finally:
        c.close()
