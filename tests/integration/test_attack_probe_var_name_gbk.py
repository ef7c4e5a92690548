"""Attack on the probe's spelling of a user variable (proxy/probe.c append_var): the probe
re-spells the variable the PREPARE names as @`name`, doubling every '`' BYTE of the decoded
name. Under a GBK client character set the server lexes backquoted names character by
character (MariaDB sql_lex.cc MY_LEX_USER_VARIABLE_DELIMITER with my_charlen; TiDB
pkg/parser/lexer.go scanQuotedIdent with s.r.skipRune(s.client)), so a name whose last GBK
character has the trail byte 0x60 ('`') ends the probe's quoted name EARLY, and the rest of
the name is read as SQL: the client injects SQL into the gateway's own query. Name "乣`)#" =
bytes 81 60 60 29 23: the probe writes HEX(@`<81><60 60><60 60>)#`) LIMIT 1 (each 0x60 doubled);
the server reads <81 60> as one character, <60 60> as an escaped quote, then the next 0x60
CLOSES the name ("乣`"), `)` closes HEX( and `#` comments out the rest. The probe thus reads
the variable "乣`" (unset: NULL), the gateway concludes "the server prepares the text NULL",
and forwards `PREPARE p FROM @'乣`)#'`, which the server prepares from the variable the client
filled with a covered IMPORT INTO ... WITH DISABLE_PRECHECK. Backend: the session MariaDB; what it received is read from its general log."""

import pymysql
import pytest

from harness import mariadb as mariadb_mod
from policy_helpers import PRECHECK, etcd, state  # noqa: F401
from mariadb_verdict import queries_since  # noqa: E402

pytestmark = [pytest.mark.gateway_only]

USER, PASSWORD = mariadb_mod.NATIVE
NAME = "\u4e63`)#"  # 乣`)#: GBK 81 60 60 29 23
BYPASS = "IMPORT INTO t FROM 's3://bucket/t.csv' WITH DISABLE_PRECHECK"


@pytest.fixture
def gw(gateway_factory, etcd):
    return gateway_factory({"cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                            "backends": {"tidb_version": "v8.5.0"}})


@pytest.mark.parametrize("ref", ["@'%s'" % NAME, '@"%s"' % NAME], ids=["single-quoted", "double-quoted"])
def test_gbk_variable_name_cannot_inject_sql_into_the_probe(gw, mariadb, state, ref):
    state.task("pitr_igtest", ["igtest.*"])
    assert NAME.encode("gbk") == b"\x81\x60\x60)#"
    c = pymysql.connect(host=gw.host, port=gw.port, user=USER, password=PASSWORD, database="igtest",
                        charset="gbk", autocommit=True, connect_timeout=10, read_timeout=30)
    try:
        with c.cursor() as cur:
            cur.execute("SET %s = '%s'" % (ref, BYPASS.replace("'", "''")))
            cur.execute("SELECT %s" % ref)
            assert cur.fetchone()[0] == BYPASS
        off = mariadb.general_log_offset()
        err = None
        try:
            with c.cursor() as cur:
                cur.execute("PREPARE p FROM %s" % ref)
        except pymysql.err.MySQLError as e:
            err = e.args
        sent = queries_since(mariadb, off)
        assert not any(q.startswith("PREPARE p FROM") for q in sent), (err, sent)
        assert err is not None and err[0] == PRECHECK, err
    finally:
        c.close()


# The same injection replaces the probe's whole answer: `... WHERE 0 UNION SELECT ...` makes the
# server return a row the client wrote, so the gateway decides with a database (and a user, for
# policy rules) of the client's choosing. The name stays within the server's 64-character limit,
# so the PREPARE itself succeeds and the batch goes on to the import.
FORGE = "\u4e63`)FROM DUAL WHERE 0 UNION SELECT'7A','','gbk','61',NULL#"  # db "z", user "a"


def test_injected_probe_cannot_forge_the_database(gw, mariadb, state):
    state.task("pitr_igtest", ["igtest.*"])
    ref = "@'%s'" % FORGE.replace("'", "''")
    c = pymysql.connect(host=gw.host, port=gw.port, user=USER, password=PASSWORD, database="igtest",
                        charset="gbk", autocommit=True, connect_timeout=10, read_timeout=30,
                        client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    try:
        with c.cursor() as cur:
            cur.execute("SET %s = 'SELECT 1'" % ref)
        off = mariadb.general_log_offset()
        err = None
        try:
            with c.cursor() as cur:
                cur.execute("PREPARE p FROM %s; %s" % (ref, BYPASS))
                while cur.nextset():
                    pass
        except pymysql.err.MySQLError as e:
            err = e.args
        sent = queries_since(mariadb, off)
        assert not any("IMPORT INTO" in q for q in sent), (err, sent)
        assert err is not None and err[0] == PRECHECK, err
    finally:
        c.close()
