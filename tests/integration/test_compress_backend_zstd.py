"""A zstd backend leg (issue 18, backends.compression: zstd), against the TiDB double with
zstd on (MariaDB offers zlib only). The gateway's HandshakeResponse carries the zstd flag and
backends.zstd_level as its last byte (TiDB parse.go HandshakeResponseBody); the frames it
writes carry the ids the double checks; the double numbers every packet inside its frames
0 (mysqlwire.ZstdSocket), so an uncompressed client that checks ids (PyMySQL) gets them only
because the gateway numbers the answers itself - results, an error, LOCAL INFILE (pieces
whose ids wrap past 255) and the answer after it. A zlib client leg over the zstd backend
leg too."""

import os
import sys

import pymysql
import pytest

from harness import rawproto
from harness.rawproto import COM_QUERY, ZConn, packet, zframe

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tidb_double"))
import tidb_double  # noqa: E402

USER, PASSWORD = "zuser", "zpass"


@pytest.fixture(scope="module")
def zdouble(tmp_path_factory):
    srv = tidb_double.start(log=str(tmp_path_factory.mktemp("zdouble") / "statements.jsonl"),
                            users=["%s:%s:mysql_native_password" % (USER, PASSWORD)], zstd=True,
                            job_delay=0.02, empty_check=False)
    yield srv
    srv.stop()


def _zconns(double):
    return [c for c in double.state.connections if "zsock" in c]


def _gw(gateway_factory, double, level=2):
    return gateway_factory({"backends": {"compression": "zstd", "zstd_level": level,
                                         "health_interval_ms": 0}},
                           backend=("127.0.0.1", double.port))


def test_uncompressed_client_over_a_zstd_backend_leg(gateway_factory, zdouble, tmp_path):
    gw = _gw(gateway_factory, zdouble)
    before = len(_zconns(zdouble))
    data = tmp_path / "rows.csv"
    data.write_bytes(b"".join(b"%d,row %d\n" % (i, i) for i in range(1, 40001)))  # ~500 KB: ids wrap
    c = pymysql.connect(host=gw.host, port=gw.port, user=USER, password=PASSWORD, local_infile=True,
                        read_timeout=60)
    try:
        cur = c.cursor()
        cur.execute("SELECT 1 /* %s */" % ("padding " * 20))  # over 50 bytes: a compressed frame
        assert cur.fetchall()
        with pytest.raises(pymysql.err.MySQLError):
            cur.execute("SET @a = (SELECT 1) /* the double cannot evaluate it: an ERR, numbered */")
        cur.execute("LOAD DATA LOCAL INFILE '%s' INTO TABLE t.rows FIELDS TERMINATED BY ','" % data)
        cur.execute("SELECT 2")
        assert cur.fetchall()
    finally:
        c.close()
    zc = _zconns(zdouble)[before:]
    assert len(zc) == 1
    assert zc[0]["zstd_level"] == 2
    z = zc[0]["zsock"]
    assert z.frames_written >= 5 and z.frames_read >= 5
    assert z.compressed_read >= 1  # the gateway compressed what paid
    assert data.read_bytes() in zdouble.state.files


def test_zstd_level_capped_and_zlib_client_leg(gateway_factory, zdouble):
    """backends.zstd_level 19 asks the backend for 3 (the cap); a zlib client leg over it."""
    gw = _gw(gateway_factory, zdouble, level=19)
    before = len(_zconns(zdouble))
    c = ZConn(gw.host, gw.port, USER, PASSWORD)
    try:
        ans = c.query_packets([zframe(packet(bytes([COM_QUERY]) + b"SELECT 7 /* " + b"z" * 200 + b" */", 0), 0)])
        assert rawproto.text_rows(ans), ans
        ans = c.query_packets([zframe(packet(bytes([COM_QUERY]) + b"SELECT 8", 0), 0)])
        assert rawproto.text_rows(ans), ans
    finally:
        c.close()
    zc = _zconns(zdouble)[before:]
    assert len(zc) == 1 and zc[0]["zstd_level"] == 3
    assert zc[0]["zsock"].compressed_read >= 1
