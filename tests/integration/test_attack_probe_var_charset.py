"""Attack on the probe (proxy/probe.c ig_probe_build, proxy/inspect.c prepared_from_value):
the probe reads HEX(@v), i.e. the variable's bytes in the variable's OWN character set, but
the server prepares the variable's value CONVERTED to the connection character set (MariaDB /
MySQL sql_prepare.cc get_dynamic_sql_string: "Convert @var contents to connection charset").
A variable holding an IMPORT INTO in utf16/utf32/ucs2 reads to the gateway as NUL-interleaved
bytes with no IMPORT in them, so `PREPARE p FROM @v` is judged "no import" and forwarded; the
server then prepares the plain IMPORT INTO ... WITH DISABLE_PRECHECK text.
(TiDB: HEX() is binary-aware and encodes its argument into the argument's charset through
to_binary, while PREPARE takes the variable's internal UTF-8 string with Datum.ToString(); a
gbk-collated variable whose value the GBK encoder cannot encode hexes to '' - see the report.)
Backend: the session MariaDB; what it received is read from its general log."""

import pymysql
import pytest

from harness import mariadb as mariadb_mod
from policy_helpers import PRECHECK, etcd, state  # noqa: F401
from mariadb_verdict import execute, queries_since  # noqa: E402

pytestmark = [pytest.mark.gateway_only]

USER, PASSWORD = mariadb_mod.NATIVE
BYPASS = "IMPORT INTO t FROM 's3://bucket/t.csv' WITH DISABLE_PRECHECK"


@pytest.fixture
def gw(gateway_factory, etcd):
    return gateway_factory({"cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                            "backends": {"tidb_version": "v8.5.0"}})


def connect(g):
    return pymysql.connect(host=g.host, port=g.port, user=USER, password=PASSWORD, database="igtest",
                           autocommit=True, connect_timeout=10, read_timeout=30)


@pytest.mark.parametrize("charset", ["utf16", "utf32", "ucs2", "utf16le"])
def test_covered_import_in_wide_charset_variable_is_refused(gw, mariadb, state, charset):
    state.task("pitr_igtest", ["igtest.*"])
    c = connect(gw)
    try:
        lit = "'" + BYPASS.replace("'", "''") + "'"
        assert execute(c, "SET @v = CONVERT(%s USING %s)" % (lit, charset)) is None
        # What the server will prepare: the value converted to the connection charset.
        with c.cursor() as cur:
            cur.execute("SELECT CONVERT(@v USING utf8mb4)")
            assert cur.fetchone()[0] == BYPASS
        off = mariadb.general_log_offset()
        err = execute(c, "PREPARE p FROM @v")
        sent = queries_since(mariadb, off)
        # The covered import with the user's own DISABLE_PRECHECK must never be sent.
        assert not any("PREPARE p FROM @v" in q for q in sent), (err, sent)
        assert err is not None and err[0] == PRECHECK, err
    finally:
        c.close()
