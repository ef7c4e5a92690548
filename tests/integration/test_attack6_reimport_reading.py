"""attack6: the downstream re-import must be the import the gateway decided.

An import owing reimport-downstream is recorded with its text, and the obligations engine runs
that text on the downstream cluster over its own service connection: under the downstream
session's sql_mode and character set, not the client's. The gateway reads the text as the
client's session does (the probe's sql_mode and character set), so a text that reads
differently under another mode was decided as one import and re-run as another: with
NO_BACKSLASH_ESCAPES on the client's session,

    IMPORT INTO t FROM 's3://b/up.csv?x=\\' WITH THREAD=2 /* ' WITH SKIP_ROWS=1 -- */
    , FIELDS_ESCAPED_BY=''

is upstream an import of up.csv with THREAD=2, and downstream (backslash escapes on) one with
SKIP_ROWS=1 and another location: the replica gets other rows and the obligation is "done".

Such an import is refused: only a text that reads as the same import under TiDB's default
lexing (the service connection's) as under the client's may owe a re-import. What reads alike
still goes through and runs downstream unchanged (controls: plain literals under
NO_BACKSLASH_ESCAPES and ANSI_QUOTES; '\\t' under the default mode)."""

import pytest

from policy_helpers import PRECHECK, connect, etcd, run, state  # noqa: F401
from obligation_helpers import REIMPORT, doubles, obl_gw, wait_for  # noqa: F401
from test_obligations import settle, sqls

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SPLIT = ("IMPORT INTO t FROM 's3://b/up.csv?x=\\' WITH THREAD=2 /* ' WITH SKIP_ROWS=1 -- */\n"
         ", FIELDS_ESCAPED_BY=''")


def jobs(double):
    return sorted((j.id, j.location) for j in double.state.jobs.values())


@pytest.mark.parametrize("sql_mode,sql", [
    ("NO_BACKSLASH_ESCAPES", SPLIT),
    # a backslash in the location: the downstream (escapes on) reads another location or none
    ("NO_BACKSLASH_ESCAPES", "IMPORT INTO t FROM 's3://b/dir\\x.csv'"),
    # an option value: two bytes (backslash, t) upstream, a TAB downstream
    ("NO_BACKSLASH_ESCAPES", "IMPORT INTO t FROM 's3://b/tab.csv' WITH FIELDS_TERMINATED_BY='\\t'"),
])
def test_reimport_text_must_read_alike(doubles, obl_gw, state, sql_mode, sql):
    up, down = doubles(job_delay=0.1)
    state.changefeed("cf", ["shop.*"])
    gw = obl_gw(up, down, REIMPORT)
    c = connect(gw)
    try:
        assert run(c, "SET sql_mode = '%s'" % sql_mode).ok
        out = run(c, sql)
    finally:
        c.close()
    if out.ok:  # forwarded: the downstream must then run the very same import
        wait_for(lambda: sqls(down, "IMPORT"), 20, "the downstream re-import")
        settle()
        assert [loc for _, loc in jobs(down)] == [loc for _, loc in jobs(up)], (jobs(up), jobs(down))
    assert out.code == PRECHECK, out
    assert "downstream" in out.message and "reads differently" in out.message, out.message
    settle()
    assert jobs(up) == [] and sqls(down, "IMPORT") == []


@pytest.mark.parametrize("sql_mode,sql", [
    ("NO_BACKSLASH_ESCAPES,ANSI_QUOTES", "IMPORT INTO t FROM 's3://b/plain.csv' WITH THREAD=2"),
    ("", "IMPORT INTO t FROM 's3://b/plain.csv' WITH FIELDS_TERMINATED_BY='\\t'"),
])
def test_reimport_text_that_reads_alike_runs_downstream(doubles, obl_gw, state, sql_mode, sql):
    up, down = doubles(job_delay=0.1)
    state.changefeed("cf", ["shop.*"])
    gw = obl_gw(up, down, REIMPORT)
    c = connect(gw)
    try:
        assert run(c, "SET sql_mode = '%s'" % sql_mode).ok
        out = run(c, sql)
    finally:
        c.close()
    assert out.ok, out
    wait_for(lambda: jobs(down), 20, "the downstream re-import")
    settle()
    assert [loc for _, loc in jobs(down)] == [loc for _, loc in jobs(up)] == ["s3://b/plain.csv"]
