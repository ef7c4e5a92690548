"""MariaDB's extended capabilities through the gateway (issue 18): negotiated when both sides
have them, exactly as directly. Bulk execution (COM_STMT_BULK_EXECUTE), extended column
metadata (a JSON column's format name), cached metadata (a prepared statement executed again
gets no column definitions) and progress reports (0xFF packets with code 0xFFFF during an
ALTER TABLE) all work through the gateway, and the gateway keeps following the answers
(a later statement on the same connection is answered)."""

import pytest

from harness.mariadb import NATIVE


@pytest.fixture(scope="module")
def caps_tables(mariadb):
    mariadb.admin_query("CREATE OR REPLACE TABLE igtest.bulk_t (id INT)")
    mariadb.admin_query("CREATE OR REPLACE TABLE igtest.json_t (id INT, j JSON)")
    mariadb.admin_query("INSERT INTO igtest.json_t VALUES (1, '{\"a\": 1}')")
    mariadb.admin_query("CREATE OR REPLACE TABLE igtest.meta_t (id INT, s VARCHAR(20))")
    mariadb.admin_query("INSERT INTO igtest.meta_t VALUES (1, 'one'), (2, 'two'), (3, 'three')")


def test_extended_capabilities_negotiated_as_directly(ig, mariadb):
    through = ig(*NATIVE, ["caps"])
    direct = ig(*NATIVE, ["caps"], target=mariadb)
    assert through.rc == 0 and direct.rc == 0, through.out + direct.out
    ext = "progress=1 bulk=1 extended_metadata=1 cache_metadata=1"
    assert any(l.startswith("caps ") and l.endswith(ext) for l in direct.lines()), direct.out
    assert any(l.startswith("caps ") and l.endswith(ext) for l in through.lines()), through.out


def test_bulk_execute(ig, caps_tables):
    r = ig(*NATIVE, ["query", "DELETE FROM bulk_t", "bulk", "INSERT INTO bulk_t VALUES (?)", "50",
                     "query", "SELECT COUNT(*), SUM(id) FROM bulk_t"], db="igtest")
    assert r.rc == 0, r.out + r.err
    assert "bulk affected=50" in r.lines()
    assert r.results()[-1] == [["50", "1275"]]


def test_json_column_extended_metadata(ig, mariadb, caps_tables):
    steps = ["fieldattr", "SELECT id, j FROM json_t"]
    through = ig(*NATIVE, steps, db="igtest")
    direct = ig(*NATIVE, steps, db="igtest", target=mariadb)
    assert through.rc == 0, through.out + through.err
    assert any(l.startswith("field j ") and l.endswith("format=json") for l in through.lines()), through.out
    fields = [l for l in direct.lines() if l.startswith("field ")]
    assert [l for l in through.lines() if l.startswith("field ")] == fields


def test_cached_metadata_reexecution(ig, caps_tables):
    """The second and third executions get no column definitions (MARIADB_CLIENT_CACHE_METADATA);
    the gateway still finds where each answer ends (the next steps are answered)."""
    r = ig(*NATIVE, ["repeat", "3", "SELECT id, s FROM meta_t WHERE id <= ? ORDER BY id", "i:2",
                     "query", "SELECT 'after'"], db="igtest")
    assert r.rc == 0, r.out + r.err
    assert r.results() == [[["1", "one"], ["2", "two"]]] * 3 + [[["after"]]]


def test_progress_reports_arrive(ig, mariadb):
    """An ALTER TABLE that copies rows for several seconds reports progress every second
    (progress_report_time=1); the reports reach the client and the ALTER's OK ends the answer."""
    mariadb.admin_query("CREATE OR REPLACE TABLE igtest.progress_t (id INT PRIMARY KEY, s VARCHAR(200))")
    mariadb.admin_query("INSERT INTO igtest.progress_t SELECT seq, REPEAT('x', 200) FROM igtest.seq_1_to_400000")
    r = ig(*NATIVE, ["query", "SET SESSION progress_report_time = 1",
                     "query", "ALTER TABLE progress_t ENGINE=InnoDB, ALGORITHM=COPY",
                     "query", "SELECT COUNT(*) FROM progress_t"],
           db="igtest", opts=["--progress"], timeout=300)
    assert r.rc == 0, r.out + r.err
    assert any(l.startswith("progress stage=") for l in r.lines()), r.out
    assert r.results()[-1] == [["400000"]]
