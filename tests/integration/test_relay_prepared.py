"""Prepared statements: binary protocol with typed parameters and typed result columns,
COM_STMT_SEND_LONG_DATA (many chunks, and one chunk larger than a 16 MiB packet), read-only
cursors fetched a few rows at a time (COM_STMT_FETCH), errors, and the text-form
PREPARE / EXECUTE / DEALLOCATE."""

import re

import pymysql
import pytest

from harness import clients
from harness.mariadb import NATIVE


@pytest.fixture(scope="module")
def typed_table(mariadb):
    mariadb.admin_query("CREATE OR REPLACE TABLE igtest.typed (id INT PRIMARY KEY, i BIGINT, "
                        "u BIGINT UNSIGNED, f DOUBLE, dc DECIMAL(12,3), s VARCHAR(100), b BLOB, "
                        "d DATE, dt DATETIME(6), tm TIME, ti TINYINT, nul INT NULL)")
    mariadb.admin_query("CREATE OR REPLACE TABLE igtest.longblob_t (id INT PRIMARY KEY, "
                        "b LONGBLOB)")


def _status_counter(r, name):
    """Value of a SHOW SESSION STATUS row printed by igclient."""
    for row in r.rows():
        if row and row[0] == name:
            return int(row[1])
    raise AssertionError("%s not in output:\n%s" % (name, r.out))


def test_binary_params_of_several_types(ig):
    r = ig(*NATIVE, ["stmt", "SELECT ? AS i, ? AS u, ? AS f, ? AS s, ? AS x, ? AS n, ? AS t, ? AS d",
                     "i:-42", "u:18446744073709551615", "f:1.5", "s:h\u00e9 llo\ttab", "x:00ff41",
                     "n:", "t:2024-02-29 13:14:15.123456", "D:2023-01-02"])
    assert r.rc == 0, r.out + r.err
    assert "prepared params=8 fields=8" in r.lines()
    assert r.rows() == [["-42", "18446744073709551615", "1.5", "h\\xc3\\xa9 llo\\ttab",
                         "\\x00\\xffA", "NULL", "2024-02-29 13:14:15.123456", "2023-01-02"]]


def test_binary_insert_and_typed_columns(ig, typed_table):
    ins = "INSERT INTO typed VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    r = ig(*NATIVE, ["query", "DELETE FROM typed",
                     "stmt", ins, "i:1", "i:-9223372036854775808", "u:18446744073709551615",
                     "f:-2.5e-300", "s:12345.678", "s:text", "x:deadbeef00",
                     "D:1999-12-31", "t:2000-01-01 00:00:00.5", "s:-838:59:59", "i:-128", "n:",
                     "stmt", ins, "i:2", "i:0", "u:0", "f:0", "s:-0.001", "s:", "x:",
                     "D:2024-02-29", "t:2024-02-29 23:59:59", "s:12:00:01", "i:127", "i:7",
                     "stmt", "SELECT * FROM typed WHERE id >= ? ORDER BY id", "i:0"], db="igtest")
    assert r.rc == 0, r.out + r.err
    assert r.lines().count("ok affected=1 insert_id=0") == 2
    assert r.results()[-1] == [
        ["1", "-9223372036854775808", "18446744073709551615", "-2.5e-300",
         "12345.678", "text", "\\xde\\xad\\xbe\\xef\\x00", "1999-12-31",
         "2000-01-01 00:00:00.500000", "-838:59:59", "-128", "NULL"],
        ["2", "0", "0", "0", "-0.001", "", "", "2024-02-29", "2024-02-29 23:59:59", "12:00:01",
         "127", "7"]]


def test_statement_reexecuted_in_text_protocol_matches(gw, ig, typed_table):
    """The rows written through the binary protocol read back the same in the text protocol."""
    r = ig(*NATIVE, ["query", "DELETE FROM typed", "stmt",
                     "INSERT INTO typed (id, s, b, dt) VALUES (?, ?, ?, ?)",
                     "i:10", "s:quote ' and \\ backslash", "x:0a0d1a00",
                     "t:2021-06-07 08:09:10"], db="igtest")
    assert r.rc == 0, r.out + r.err
    c = clients.connect(gw, *NATIVE, db="igtest")
    try:
        row = clients.query_one(c, "SELECT s, b, CAST(dt AS CHAR) FROM typed WHERE id = 10")
        assert row == ("quote ' and \\ backslash", b"\n\r\x1a\x00", "2021-06-07 08:09:10.000000")
    finally:
        c.close()


def test_long_data_many_chunks(ig, mariadb):
    total, chunk = 3_000_000, 65536
    nchunks = -(-total // chunk)
    off = mariadb.general_log_offset()
    r = ig(*NATIVE, ["query", "SELECT CONNECTION_ID()",
                     "stmt", "SELECT LENGTH(?), MD5(?)", "L:%d:%d" % (total, chunk), "s:short"])
    assert r.rc == 0, r.out + r.err
    assert "longdata param=0 bytes=%d chunks=%d" % (total, nchunks) in r.lines()
    assert r.results()[-1] == [[str(total), clients.md5hex(b"short")]]
    # Every COM_STMT_SEND_LONG_DATA reached the server.
    conn_id = r.results()[0][0][0]
    log = mariadb.general_log_since(off)
    assert len(re.findall(r"^\s*(?:\S+\s+\S+)?\s*%s Long Data" % conn_id, log, re.M)) == nchunks


def test_long_data_chunk_larger_than_packet(ig):
    """One COM_STMT_SEND_LONG_DATA of 17 MB: split into several 16 MiB packets on the wire."""
    total = 17_000_000
    r = ig(*NATIVE, ["stmt", "SELECT LENGTH(?), MD5(?)", "s:abc", "L:%d:%d" % (total, total)],
           timeout=180)
    assert r.rc == 0, r.out + r.err
    assert "longdata param=1 bytes=%d chunks=1" % total in r.lines()
    assert r.rows() == [["3", clients.md5hex(clients.pattern_bytes(total))]]


def test_long_data_into_table_read_back(gw, ig, typed_table):
    total = 20_000_000
    r = ig(*NATIVE, ["query", "DELETE FROM longblob_t",
                     "stmt", "INSERT INTO longblob_t VALUES (?, ?)", "i:1",
                     "L:%d:%d" % (total, 4 * 1024 * 1024)], db="igtest", timeout=180)
    assert r.rc == 0, r.out + r.err
    assert "longdata param=1 bytes=%d chunks=5" % total in r.lines()
    c = clients.connect(gw, *NATIVE, db="igtest", max_allowed_packet=1 << 30)
    try:
        assert clients.query_one(c, "SELECT LENGTH(b), MD5(b) FROM longblob_t WHERE id = 1") == \
            (total, clients.md5hex(clients.pattern_bytes(total)))
    finally:
        c.close()


def test_cursor_several_fetches(ig):
    r = ig(*NATIVE, ["cursor", "3", "SELECT n, s FROM seq WHERE n <= ? ORDER BY n", "i:10",
                     "query", "SHOW SESSION STATUS LIKE 'Com_stmt_fetch'"], db="igtest")
    assert r.rc == 0, r.out + r.err
    assert "cursor_open=1" in r.lines()
    assert r.results()[0] == [[str(n), "row-%d" % n] for n in range(1, 11)]
    # 10 rows, 3 per COM_STMT_FETCH: 4 fetches (the 4th returns the last row and the end).
    assert _status_counter(r, "Com_stmt_fetch") == 4


def test_cursor_prefetch_one_and_other_queries_between(ig):
    r = ig(*NATIVE, ["cursor", "1", "SELECT n FROM seq WHERE n BETWEEN ? AND ? ORDER BY n DESC",
                     "i:95", "i:100",
                     "cursor", "50", "SELECT s FROM seq ORDER BY n",
                     "query", "SHOW SESSION STATUS LIKE 'Com_stmt_fetch'"], db="igtest")
    assert r.rc == 0, r.out + r.err
    assert r.lines().count("cursor_open=1") == 2
    sets = r.results()
    assert sets[0] == [[str(n)] for n in range(100, 94, -1)]
    assert sets[1] == [["row-%d" % n] for n in range(1, 101)]
    # A cursor of n rows read k at a time takes ceil((n+1)/k) fetches (the last one reports
    # the end): 6 rows by 1 -> 7, 100 rows by 50 -> 3.
    assert _status_counter(r, "Com_stmt_fetch") == 10


def test_prepare_error_relayed(ig):
    r = ig(*NATIVE, ["stmt", "SELEC bogus ?", "i:1", "query", "SELECT 'alive'"],
           opts=["--keep-going"])
    assert r.rc == 1
    assert r.errors() == [1064]
    assert r.rows() == [["alive"]]


def test_execute_error_relayed(ig, typed_table):
    r = ig(*NATIVE, ["query", "DELETE FROM typed",
                     "stmt", "INSERT INTO typed (id) VALUES (?)", "i:5",
                     "stmt", "INSERT INTO typed (id) VALUES (?)", "i:5",
                     "query", "SELECT COUNT(*) FROM typed"], db="igtest", opts=["--keep-going"])
    assert r.rc == 1
    assert r.errors() == [1062]
    assert r.rows()[-1] == ["1"]


def test_stored_procedure_via_binary_protocol(ig, mariadb):
    mariadb.admin_query("CREATE OR REPLACE PROCEDURE igtest.two_sets_bin(IN k INT) BEGIN "
                        "SELECT k * 2 AS dbl; SELECT n FROM igtest.seq WHERE n <= k ORDER BY n; END")
    r = ig(*NATIVE, ["stmt", "CALL two_sets_bin(?)", "i:3"], db="igtest")
    assert r.rc == 0, r.out + r.err
    assert r.results() == [[["6"]], [["1"], ["2"], ["3"]]]


def test_text_prepare_execute(gw):
    c = clients.connect(gw, *NATIVE, db="igtest")
    try:
        with c.cursor() as cur:
            cur.execute("PREPARE p1 FROM 'SELECT n, s FROM seq WHERE n BETWEEN ? AND ? ORDER BY n'")
            cur.execute("SET @a = 4, @b = 6")
            cur.execute("EXECUTE p1 USING @a, @b")
            assert cur.fetchall() == ((4, "row-4"), (5, "row-5"), (6, "row-6"))
            cur.execute("EXECUTE p1 USING 99, 100")
            assert cur.fetchall() == ((99, "row-99"), (100, "row-100"))
            cur.execute("SET @sql = CONCAT('SELECT COUNT(*) FROM ', 'seq')")
            cur.execute("PREPARE p2 FROM @sql")
            cur.execute("EXECUTE p2")
            assert cur.fetchall() == ((100,),)
            cur.execute("DEALLOCATE PREPARE p1")
            with pytest.raises(pymysql.err.OperationalError) as e:
                cur.execute("EXECUTE p1 USING @a, @b")
            assert e.value.args[0] == 1243  # unknown prepared statement handler
            cur.execute("EXECUTE p2")
            assert cur.fetchall() == ((100,),)
    finally:
        c.close()
