"""PREPARE ... FROM @var is decided on the variable's value, read from the server.

Before, the text in the variable was never seen, so with the default config a user's own
DISABLE_PRECHECK on a covered table reached TiDB inside `PREPARE s FROM @v`. Now the gateway
asks the server for the variable (proxy/probe.c: HEX(@`v`)) and decides the text in it as it
decides `PREPARE s FROM 'text'`; only when the value cannot be known before the PREPARE runs
(another statement of the same batch runs first and may set it) does policy.opaque_prepare
apply, and its default refuses. Backend: the session MariaDB (general log on), which has user
variables and PREPARE as TiDB does; what it received is read back from its general log."""

import pymysql
import pytest

from harness import mariadb as mariadb_mod
from policy_helpers import PRECHECK, etcd, state  # noqa: F401
from mariadb_verdict import execute, queries_since  # noqa: E402

pytestmark = [pytest.mark.gateway_only]

USER, PASSWORD = mariadb_mod.NATIVE
COVERED_OWN_BYPASS = "IMPORT INTO t FROM 's3://bucket/t.csv' WITH DISABLE_PRECHECK"
COVERED = "IMPORT INTO t FROM 's3://bucket/t.csv'"


@pytest.fixture
def gw(gateway_factory, etcd):
    def start(policy=None):
        return gateway_factory({"cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                                "backends": {"tidb_version": "v8.5.0"}, "policy": policy or {}})
    return start


def connect(g, multi=False):
    flag = pymysql.constants.CLIENT.MULTI_STATEMENTS if multi else 0
    return pymysql.connect(host=g.host, port=g.port, user=USER, password=PASSWORD, database="igtest",
                           autocommit=True, connect_timeout=10, read_timeout=30, client_flag=flag)


def sql_literal(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


# Every way to name the variable: bare, each quoting, another letter case.
NAMES = [("@s", "@s"), ("@`s`", "@s"), ("@'s'", "@s"), ('@"s"', "@s"), ("@S", "@s"),
         ("@`we ird`", "@`we ird`")]


@pytest.mark.parametrize("ref,setter", NAMES, ids=[n[0] for n in NAMES])
def test_covered_import_with_own_bypass_in_variable_refused(gw, mariadb, state, ref, setter):
    state.task("pitr_igtest", ["igtest.*"])
    c = connect(gw())
    try:
        assert execute(c, "SET %s = %s" % (setter, sql_literal(COVERED_OWN_BYPASS))) is None
        off = mariadb.general_log_offset()
        err = execute(c, "PREPARE p FROM %s" % ref)
        assert err is not None and err[0] == PRECHECK, err
        assert "DISABLE_PRECHECK is refused" in err[1] and "pitr_igtest" in err[1], err
        assert not any("PREPARE" in q for q in queries_since(mariadb, off))
        assert execute(c, "SELECT 1") is None  # the session goes on
    finally:
        c.close()


def test_covered_import_in_variable_refused(gw, mariadb, state):
    state.task("pitr_igtest", ["igtest.*"])
    c = connect(gw())
    try:
        execute(c, "SET @v = %s" % sql_literal("/* a comment */ " + COVERED))
        off = mariadb.general_log_offset()
        err = execute(c, "PREPARE p FROM @v")
        assert err is not None and err[0] == PRECHECK and "igtest.t is covered" in err[1], err
        assert not any("PREPARE" in q for q in queries_since(mariadb, off))
    finally:
        c.close()


def test_uncovered_import_in_variable_needs_plain_statement(gw, mariadb, state):
    # Something exists, nothing covers igtest.t: it would need DISABLE_PRECHECK, which a
    # prepared statement cannot be given (decided now, run later).
    state.task("pitr_other", ["igtest2.*"])
    c = connect(gw())
    try:
        execute(c, "SET @v = %s" % sql_literal(COVERED))
        err = execute(c, "PREPARE p FROM @v")
        assert err is not None and err[0] == PRECHECK and "prepared IMPORT INTO" in err[1], err
    finally:
        c.close()


@pytest.mark.parametrize("value", ["SELECT 1", None, "SELECT 'IMPORT INTO t FROM x'"],
                         ids=["select", "null", "import-in-a-string"])
def test_variable_without_import_is_forwarded(gw, mariadb, state, value):
    state.task("pitr_igtest", ["igtest.*"])
    c = connect(gw())
    try:
        execute(c, "SET @v = %s" % ("NULL" if value is None else sql_literal(value)))
        off = mariadb.general_log_offset()
        err = execute(c, "PREPARE p FROM @v")
        if value is None:
            assert err is not None and err[0] == 1064, err  # MariaDB: "NULL" is no statement
        else:
            assert err is None, err
        assert "PREPARE p FROM @v" in queries_since(mariadb, off)
    finally:
        c.close()


def test_nothing_exists_import_in_variable_passes(gw, mariadb, state):
    c = connect(gw())
    try:
        execute(c, "SET @v = %s" % sql_literal(COVERED))
        off = mariadb.general_log_offset()
        execute(c, "PREPARE p FROM @v")  # MariaDB cannot prepare an import: any answer
        assert "PREPARE p FROM @v" in queries_since(mariadb, off)
    finally:
        c.close()


@pytest.mark.parametrize("batch", [
    "SET @v = %s; PREPARE p FROM @v",
    "SELECT 1; PREPARE p FROM @v",
    "SELECT %s INTO @v; PREPARE p FROM @v",
], ids=["set-first", "select-first", "select-into-first"])
def test_variable_set_in_the_same_batch_is_opaque_and_refused(gw, mariadb, state, batch):
    state.task("pitr_igtest", ["igtest.*"])
    c = connect(gw(), multi=True)
    try:
        execute(c, "SET @v = 'SELECT 1'")  # what the probe would read: harmless
        sql = batch % sql_literal(COVERED_OWN_BYPASS) if "%s" in batch else batch
        off = mariadb.general_log_offset()
        err = execute(c, sql)
        assert err is not None and err[0] == PRECHECK and "opaque_prepare is reject" in err[1], err
        assert queries_since(mariadb, off) == []
    finally:
        c.close()


def test_opaque_allowed_by_config_is_forwarded_and_audited(gw, mariadb, state):
    state.task("pitr_igtest", ["igtest.*"])
    g = gw({"opaque_prepare": "allow"})
    c = connect(g, multi=True)
    try:
        off = mariadb.general_log_offset()
        err = execute(c, "SET @v = 'SELECT 1'; PREPARE p FROM @v")
        assert err is None, err
        assert any("PREPARE p FROM @v" in q for q in queries_since(mariadb, off))
        assert "bypass.suspect" in g.stderr_text()
    finally:
        c.close()


# ---------------------------------------------------------------- batches the probe cannot see into

UNSEEN = ["EXECUTE s", "EXECUTE s USING @a", "CALL p()", "SET SESSION_STATES '{}'",
          "/*!EXECUTE s */", "execute\ts"]


@pytest.mark.parametrize("first", UNSEEN)
def test_unqualified_import_after_unseen_session_change_refused(gw, mariadb, state, first):
    # A prepared USE (TiDB can prepare it), a procedure, or restored session states may switch
    # the database between the probe and the import: an unqualified target cannot be known.
    state.task("pitr_other", ["igtest2.*"])
    c = connect(gw(), multi=True)
    try:
        off = mariadb.general_log_offset()
        err = execute(c, "%s; %s" % (first, COVERED))
        assert err is not None and err[0] == PRECHECK, err
        # SET SESSION_STATES is refused on its own (it restores prepared statements too)
        assert ("has no database name" in err[1] or "SET SESSION_STATES is refused" in err[1]), err
        assert queries_since(mariadb, off) == []
    finally:
        c.close()


def test_qualified_import_after_execute_is_decided(gw, mariadb, state):
    state.task("pitr_igtest", ["igtest.*"])
    c = connect(gw(), multi=True)
    try:
        err = execute(c, "EXECUTE s; IMPORT INTO igtest.t FROM 's3://b/t.csv'")
        assert err is not None and err[0] == PRECHECK and "igtest.t is covered" in err[1], err
    finally:
        c.close()
