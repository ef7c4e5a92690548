"""LOAD DATA LOCAL INFILE through the gateway: the server asks for the file, the client streams
it and ends it with an empty packet. PyMySQL (local_infile=True) and the mariadb CLI
(--local-infile), an empty file, a file larger than 16 MiB, a missing file, and a client that
did not ask for LOCAL INFILE (the capability must reach the server as the client set it)."""

import zlib

import pymysql
import pytest

from harness import clients
from harness.mariadb import NATIVE


@pytest.fixture
def load_table(mariadb):
    mariadb.admin_query("CREATE OR REPLACE TABLE igtest.load_t (id INT PRIMARY KEY, v VARCHAR(200))")
    return "igtest.load_t"


def _write_rows(path, n, width=40):
    """n lines 'id<TAB>value'; returns (n, sum of crc32(value)) as the server computes it."""
    total = 0
    with open(path, "w") as f:
        for i in range(1, n + 1):
            v = ("v%d-" % i).ljust(width, chr(ord("a") + i % 26))
            total += zlib.crc32(v.encode())
            f.write("%d\t%s\n" % (i, v))
    return n, total


def _table_summary(mariadb, table):
    return tuple(int(x or 0) for x in
                 mariadb.admin_query("SELECT COUNT(*), SUM(CRC32(v)) FROM " + table)[0])


def _pymysql_load(gw, path, table):
    c = clients.connect(gw, *NATIVE, local_infile=True)
    try:
        with c.cursor() as cur:
            n = cur.execute("LOAD DATA LOCAL INFILE %s INTO TABLE " + table, (path,))
        assert clients.query_one(c, "SELECT 'after load'") == ("after load",)
        return n
    finally:
        c.close()


def test_pymysql_small_file(gw, mariadb, load_table, tmp_path):
    path = str(tmp_path / "small.tsv")
    expect = _write_rows(path, 1000)
    assert _pymysql_load(gw, path, load_table) == 1000
    assert _table_summary(mariadb, load_table) == expect


def test_pymysql_empty_file(gw, mariadb, load_table, tmp_path):
    path = tmp_path / "empty.tsv"
    path.write_bytes(b"")
    assert _pymysql_load(gw, str(path), load_table) == 0
    assert _table_summary(mariadb, load_table) == (0, 0)


def test_pymysql_file_over_16mib(gw, mariadb, load_table, tmp_path):
    path = str(tmp_path / "big.tsv")
    expect = _write_rows(path, 330_000, width=45)  # ~17.5 MB
    assert (tmp_path / "big.tsv").stat().st_size > 16 * 1024 * 1024
    assert _pymysql_load(gw, path, load_table) == 330_000
    assert _table_summary(mariadb, load_table) == expect


def test_cli_local_infile(gw, mariadb, load_table, tmp_path):
    path = str(tmp_path / "cli.tsv")
    expect = _write_rows(path, 5000)
    r = clients.cli(gw, *NATIVE, extra=["--local-infile=1"],
                    sql="LOAD DATA LOCAL INFILE '%s' INTO TABLE %s; SELECT COUNT(*) FROM %s"
                        % (path, load_table, load_table))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["5000"]
    assert _table_summary(mariadb, load_table) == expect


def test_cli_local_infile_big_and_empty(gw, mariadb, load_table, tmp_path):
    big, empty = str(tmp_path / "big.tsv"), tmp_path / "empty.tsv"
    empty.write_bytes(b"")
    expect = _write_rows(big, 400_000)
    r = clients.cli(gw, *NATIVE, extra=["--local-infile=1"],
                    sql="LOAD DATA LOCAL INFILE '%s' INTO TABLE %s; "
                        "LOAD DATA LOCAL INFILE '%s' INTO TABLE %s; SELECT COUNT(*) FROM %s"
                        % (empty, load_table, big, load_table, load_table), timeout=180)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["400000"]
    assert _table_summary(mariadb, load_table) == expect


def test_cli_missing_file_connection_survives(gw, load_table, tmp_path):
    """The client answers a file request it cannot satisfy with an empty packet; the server's
    answer must reach it and the same connection goes on."""
    missing = str(tmp_path / "does-not-exist.tsv")
    script = ("SELECT CONNECTION_ID();\nLOAD DATA LOCAL INFILE '%s' INTO TABLE %s;\n"
              "SELECT CONNECTION_ID();\nSELECT COUNT(*) FROM %s;\n"
              % (missing, load_table, load_table))
    r = clients.cli(gw, *NATIVE, extra=["--local-infile=1", "--force"], stdin=script)
    assert "not found" in r.stderr, r.stderr
    out = r.stdout.splitlines()
    assert len(out) == 3, r.stdout + r.stderr
    assert out[0] == out[1]  # no reconnect happened
    assert out[2] == "0"


def test_local_infile_not_negotiated_is_refused(gw, load_table, tmp_path):
    """A client that did not set CLIENT_LOCAL_FILES must not be asked for a file."""
    path = str(tmp_path / "x.tsv")
    _write_rows(path, 10)
    c = clients.connect(gw, *NATIVE, local_infile=False)
    try:
        with pytest.raises(pymysql.err.MySQLError) as e:
            with c.cursor() as cur:
                cur.execute("LOAD DATA LOCAL INFILE %s INTO TABLE " + load_table, (path,))
        assert e.value.args[0] in (1148, 4166)  # not allowed with this version / local disabled
        assert clients.query_one(c, "SELECT COUNT(*) FROM " + load_table) == (0,)
    finally:
        c.close()
