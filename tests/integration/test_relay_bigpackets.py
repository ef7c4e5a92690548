"""Packets of 16 MiB and more in both directions (a payload of 0xffffff bytes is continued in
the next packet; exactly 0xffffff is followed by an empty packet). Content is checked by hash
on the other side."""

import pytest

from harness import clients
from harness.mariadb import NATIVE

MAX = 0xFFFFFF
BIG = 1 << 30


@pytest.fixture(scope="module")
def bigblob(mariadb):
    """Rows holding pattern blobs of several sizes, written directly on the server."""
    sizes = {1: 17 * 1024 * 1024, 2: MAX - 4, 3: MAX - 3, 4: 40 * 1024 * 1024 + 7}
    mariadb.admin_query("CREATE OR REPLACE TABLE igtest.bigblob (id INT PRIMARY KEY, b LONGBLOB)")
    c = mariadb.admin(max_allowed_packet=BIG)
    try:
        with c.cursor() as cur:
            for i, n in sizes.items():
                cur.execute("INSERT INTO igtest.bigblob VALUES (%s, %s)",
                            (i, clients.pattern_bytes(n)))
    finally:
        c.close()
    return sizes


def test_query_over_16mib(gw):
    n = 17 * 1024 * 1024
    data = clients.pattern_bytes(n).decode()
    c = clients.connect(gw, *NATIVE, max_allowed_packet=BIG)
    try:
        row = clients.query_one(c, "SELECT LENGTH(x), MD5(x) FROM (SELECT %s AS x) AS t", (data,))
        assert row == (n, clients.md5hex(data.encode()))
        assert clients.query_one(c, "SELECT 'next'") == ("next",)
    finally:
        c.close()


@pytest.mark.parametrize("extra", [0, 1, MAX])
def test_query_payload_at_packet_boundary(gw, extra):
    """COM_QUERY payloads of exactly 0xffffff (+ an empty packet), 0xffffff+1 and 2*0xffffff."""
    prefix, suffix = "SELECT LENGTH('", "') AS l"
    fill = MAX + extra - 1 - len(prefix) - len(suffix)  # 1 byte of COM_QUERY
    sql = prefix + clients.pattern_bytes(fill).decode() + suffix
    assert len(sql) + 1 == MAX + extra
    c = clients.connect(gw, *NATIVE, max_allowed_packet=BIG)
    try:
        assert clients.query_one(c, sql) == (fill,)
        assert clients.query_one(c, "SELECT 'after'") == ("after",)
    finally:
        c.close()


def test_result_values_over_16mib(gw, bigblob):
    c = clients.connect(gw, *NATIVE, db="igtest", max_allowed_packet=BIG)
    try:
        rows = clients.query_all(c, "SELECT id, b FROM bigblob ORDER BY id")
        assert [r[0] for r in rows] == sorted(bigblob)
        for i, b in rows:
            assert len(b) == bigblob[i], "row %d" % i
            assert clients.md5hex(b) == clients.md5hex(clients.pattern_bytes(bigblob[i]))
        # Row id 2: 4-byte length prefix + 0xfffffb = a row packet of exactly 0xffffff bytes.
        assert clients.query_one(c, "SELECT 1") == (1,)
    finally:
        c.close()


def test_result_generated_over_16mib(gw):
    n = 20 * 1024 * 1024 + 3
    c = clients.connect(gw, *NATIVE, max_allowed_packet=BIG)
    try:
        v = clients.query_one(c, "SELECT REPEAT('0123456789abcdef', %s)", (n // 16,))[0]
        assert v == "0123456789abcdef" * (n // 16)
    finally:
        c.close()


def test_igclient_bigquery(ig):
    for n in (17 * 1024 * 1024, 2 * MAX + 100):
        r = ig(*NATIVE, ["bigquery", str(n), "query", "SELECT 'ok after'"], timeout=180)
        assert r.rc == 0, r.out + r.err
        assert r.results() == [[[str(n), clients.md5hex(clients.pattern_bytes(n))]],
                               [["ok after"]]]


def test_igclient_big_result_binary(ig, bigblob):
    """A > 16 MiB value in a binary-protocol row (prepared statement)."""
    r = ig(*NATIVE, ["stmt", "SELECT id, b FROM bigblob WHERE id IN (?, ?) ORDER BY id",
                     "i:1", "i:2"], db="igtest", timeout=180)
    assert r.rc == 0, r.out + r.err
    want = [[str(i), "<%d bytes fnv=%s>" % (bigblob[i], clients.fnv1a64(
        clients.pattern_bytes(bigblob[i])))] for i in (1, 2)]
    assert r.rows() == want


def test_big_insert_then_read_back(gw, mariadb):
    n = 18 * 1024 * 1024
    data = clients.pattern_bytes(n)[::-1]
    mariadb.admin_query("CREATE OR REPLACE TABLE igtest.bigrt (id INT PRIMARY KEY, b LONGBLOB)")
    c = clients.connect(gw, *NATIVE, db="igtest", max_allowed_packet=BIG)
    try:
        with c.cursor() as cur:
            cur.execute("INSERT INTO bigrt VALUES (1, %s)", (data,))
            assert cur.rowcount == 1
        assert clients.query_one(c, "SELECT b FROM bigrt WHERE id = 1")[0] == data
    finally:
        c.close()
    assert mariadb.admin_query("SELECT MD5(b) FROM igtest.bigrt")[0][0] == clients.md5hex(data)
