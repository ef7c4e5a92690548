"""Attack on the batch reading after the probe (proxy/inspect.c collect/parse_items): an import
that follows a statement the gateway cannot see into (EXECUTE, CALL, SET SESSION_STATES) is
refused when it has no database name ... unless a USE came EARLIER in the batch:
`items[k].db_unknown = unseen && !batch_db`. The USE wins even though the unseen statement ran
AFTER it and may have switched the database again. So:

    USE free_db; EXECUTE s; IMPORT INTO t FROM '...' WITH DISABLE_PRECHECK

with s prepared earlier as `USE igtest` (TiDB prepares USE: pkg/planner/core
GeneratePlanCacheStmtWithAST refuses only IMPORT INTO / LOAD DATA / PREPARE / EXECUTE /
DEALLOCATE / non-transactional DML) is decided for free_db.t (uncovered: the user's own
DISABLE_PRECHECK passes) and runs on igtest.t (covered). MariaDB, the backend here, runs a
prepared USE as a no-op but `EXECUTE IMMEDIATE 'USE igtest'` switches the database; both start
with EXECUTE, which is all the gateway looks at (sqlparse/shape.c)."""

import pymysql
import pytest

from harness import mariadb as mariadb_mod
from policy_helpers import PRECHECK, etcd, state  # noqa: F401
from mariadb_verdict import queries_since  # noqa: E402

pytestmark = [pytest.mark.gateway_only]

USER, PASSWORD = mariadb_mod.NATIVE
FREE = "igtest_free"


@pytest.fixture
def gw(gateway_factory, etcd):
    return gateway_factory({"cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                            "backends": {"tidb_version": "v8.5.0"}})


@pytest.fixture
def free_db(mariadb):
    mariadb.admin_query("CREATE DATABASE IF NOT EXISTS %s" % FREE)
    mariadb.admin_query("CREATE TABLE IF NOT EXISTS %s.t (a INT)" % FREE)
    mariadb.admin_query("GRANT ALL ON %s.* TO '%s'@'%%'" % (FREE, USER))
    return FREE


def test_unseen_database_switch_after_use_in_batch_is_refused(gw, mariadb, state, free_db):
    state.task("pitr_igtest", ["igtest.*"])
    c = pymysql.connect(host=gw.host, port=gw.port, user=USER, password=PASSWORD, database="igtest",
                        autocommit=True, connect_timeout=10, read_timeout=30,
                        client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    try:
        # The switch the gateway cannot see does happen on the server:
        with c.cursor() as cur:
            cur.execute("USE %s; EXECUTE IMMEDIATE 'USE igtest'" % FREE)
            while cur.nextset():
                pass
            cur.execute("SELECT DATABASE()")
            assert cur.fetchone() == ("igtest",)
            cur.execute("USE igtest")
        off = mariadb.general_log_offset()
        err = None
        try:
            with c.cursor() as cur:
                cur.execute("USE %s; EXECUTE IMMEDIATE 'USE igtest'; "
                            "IMPORT INTO t FROM 's3://bucket/t.csv' WITH DISABLE_PRECHECK" % FREE)
                while cur.nextset():
                    pass
        except pymysql.err.MySQLError as e:
            err = e.args
        sent = queries_since(mariadb, off)
        assert not any("IMPORT INTO" in q for q in sent), (err, sent)
        assert err is not None and err[0] == PRECHECK, err
    finally:
        c.close()
