"""Attack on the probe's character set (proxy/probe.c ig_charset_kind, proxy/inspect.c
parse_items/collect): the probe learns @@character_set_client and the gateway calls gbk
"modelled" (charset_known, SQL_F_MB_PAIRS), but it then decides on the identifier BYTES as the
client sent them. The server decodes identifiers from character_set_client to utf8 before it
resolves them (TiDB pkg/parser/lexer.go Scanner.Lex -> convert2System(client -> utf8mb4);
MariaDB/MySQL likewise), while log-backup filters and policy rules are utf8. A client on
`SET NAMES gbk` names a covered database in GBK bytes: the gateway matches `igtest_<GBK>`
against `igtest_<UTF-8>.*`, finds it uncovered, and forwards the user's own DISABLE_PRECHECK.
(Names that are not valid UTF-8 are counted as matches by policy/tablefilter.c, so the attack
picks a character whose GBK bytes are valid UTF-8 for ANOTHER character: 业 = D2 B5 = "ҵ".)
Same for USE earlier in the batch (batch_db) and for the table name."""

import pymysql
import pytest

from harness import mariadb as mariadb_mod
from policy_helpers import PRECHECK, etcd, state  # noqa: F401
from mariadb_verdict import execute, queries_since  # noqa: E402

pytestmark = [pytest.mark.gateway_only]

USER, PASSWORD = mariadb_mod.NATIVE
DB = "igtest_\u4e1a"  # igtest_业: GBK bytes D2 B5, which are also valid UTF-8 (U+04B5, "ҵ")


@pytest.fixture
def gw(gateway_factory, etcd):
    return gateway_factory({"cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                            "backends": {"tidb_version": "v8.5.0"}})


@pytest.fixture
def cjk_db(mariadb):
    mariadb.admin_query("CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4" % DB)
    mariadb.admin_query("CREATE TABLE IF NOT EXISTS `%s`.t (a INT)" % DB)
    mariadb.admin_query("GRANT ALL ON `%s`.* TO '%s'@'%%'" % (DB, USER))
    yield DB


@pytest.mark.parametrize("sql", [
    "IMPORT INTO `%s`.t FROM 's3://bucket/t.csv' WITH DISABLE_PRECHECK" % DB,
    "USE `%s`; IMPORT INTO t FROM 's3://bucket/t.csv' WITH DISABLE_PRECHECK" % DB,
], ids=["qualified", "use-in-batch"])
def test_covered_cjk_database_named_in_gbk_is_refused(gw, mariadb, state, cjk_db, sql):
    state.task("pitr_cjk", ["%s.*" % DB])
    c = pymysql.connect(host=gw.host, port=gw.port, user=USER, password=PASSWORD, database="igtest",
                        charset="gbk", autocommit=True, connect_timeout=10, read_timeout=30,
                        client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    try:
        # The server reads the GBK bytes as the covered (utf8) database.
        with c.cursor() as cur:
            cur.execute("SELECT @@character_set_client, SCHEMA_NAME FROM information_schema.SCHEMATA "
                        "WHERE SCHEMA_NAME = '%s'" % DB)
            assert cur.fetchone() == ("gbk", DB)
        off = mariadb.general_log_offset()
        err = execute(c, sql)
        sent = queries_since(mariadb, off)
        assert not any("IMPORT INTO" in q for q in sent), (err, sent)
        assert err is not None and err[0] == PRECHECK, err
    finally:
        c.close()
