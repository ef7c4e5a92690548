"""The compressed protocol through the gateway (issue 18): `mariadb --compress` gets
compression on and the same answers as directly; statements that reach the gateway in
frames made by hand (a packet split across frames, frames sent as is, several packets in
one frame) are read as the server reads them; an IMPORT INTO sent compressed to a covered
table is refused exactly as the same statement sent uncompressed; frames that lie about
their length, carry bytes after their stream or decompress past what they declare close
the connection, and the gateway goes on serving others. Each leg compresses on its own:
the TiDB double offers no compression, so there only the client's leg is compressed."""

import subprocess
import zlib

import pytest

from harness import rawproto
from harness.mariadb import NATIVE
from harness.rawproto import COM_QUERY, ZConn, packet, zframe
from policy_helpers import PRECHECK, Received, double, etcd, policy_gw, state  # noqa: F401


def _mariadb_cli(target, sql, compress):
    args = ["mariadb", "-h", target.host, "-P", str(target.port), "-u", NATIVE[0], "-p" + NATIVE[1],
            "--batch", "--raw", "-e", sql, "igtest"]
    if compress:
        args.insert(1, "--compress")
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_mariadb_compress_reports_compression_on(gw, mariadb):
    """The session variable says what the backend's leg does; `status` what the client's does."""
    sql = "SHOW SESSION STATUS LIKE 'Compression'"
    assert _mariadb_cli(mariadb, sql, True) == "Variable_name\tValue\nCompression\tON\n"
    assert _mariadb_cli(gw, sql, True) == "Variable_name\tValue\nCompression\tON\n"
    assert _mariadb_cli(gw, sql, False) == "Variable_name\tValue\nCompression\tOFF\n"
    r = subprocess.run(["mariadb", "--compress", "-h", gw.host, "-P", str(gw.port), "-u", NATIVE[0],
                        "-p" + NATIVE[1], "-e", "status"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Protocol:\t\tCompressed" in r.stdout, r.stdout


def test_mariadb_compress_answers_match_direct(gw, mariadb):
    """Results large enough to be compressed, and spanning several frames (over 1 MiB)."""
    sql = ("SELECT seq, REPEAT(CHAR(65 + seq % 26), seq % 300), MD5(seq) FROM seq_1_to_20000; "
           "SELECT LENGTH(REPEAT('x', 3000000)), REPEAT('ab', 700000) LIKE 'abab%'")
    direct = _mariadb_cli(mariadb, sql, True)
    assert len(direct) > 1 << 20
    assert _mariadb_cli(gw, sql, True) == direct
    assert _mariadb_cli(gw, sql, False) == direct


def test_statement_split_across_frames(gw):
    """One COM_QUERY over three frames (compressed, as is, compressed), then two commands
    in one frame: each answered as the server answers them."""
    c = ZConn(gw.host, gw.port, *NATIVE, db="igtest")
    try:
        sql = b"SELECT '" + b"q" * 5000 + b"' AS a, 42 AS b"
        pkt = packet(bytes([COM_QUERY]) + sql, 0)
        frames = [zframe(pkt[:3], 0), zframe(pkt[3:2000], 1, compress=False), zframe(pkt[2000:], 2)]
        ans = c.query_packets(frames)
        assert rawproto.text_rows(ans) == [["q" * 5000, "42"]]
        both = packet(bytes([COM_QUERY]) + b"SELECT 1", 0) + packet(bytes([COM_QUERY]) + b"SELECT 2", 0)
        c.send_frames([zframe(both, 0)])
        first, second = [], []
        for out in (first, second):
            while not (len(out) > 3 and out[-1][:1] == b"\xfe"):
                out.append(c.read_packet()[1])
        assert rawproto.text_rows(first) == [["1"]]
        assert rawproto.text_rows(second) == [["2"]]
    finally:
        c.close()


@pytest.mark.parametrize("bad", ["longer", "shorter", "trailing", "bomb", "empty_declared"])
def test_lying_frames_close_the_connection(gw, bad):
    c = ZConn(gw.host, gw.port, *NATIVE, db="igtest")
    pkt = packet(bytes([COM_QUERY]) + b"SELECT '" + b"z" * 200 + b"'", 0)
    if bad == "longer":        # declares less than it holds
        f = zframe(pkt, 0, declared=len(pkt) - 10)
    elif bad == "shorter":     # declares more than it holds
        f = zframe(pkt, 0, declared=len(pkt) + 10)
    elif bad == "trailing":    # bytes after the zlib stream, inside the frame
        body = zlib.compress(pkt) + b"SELECT 1"
        f = len(body).to_bytes(3, "little") + b"\x00" + len(pkt).to_bytes(3, "little") + body
    elif bad == "bomb":        # 64 MiB of zeros behind a declared 100 bytes
        body = zlib.compress(b"\0" * (64 << 20), 9)
        f = len(body).to_bytes(3, "little") + b"\x00" + (100).to_bytes(3, "little") + body
    else:                      # a declared length with no payload at all
        f = b"\x00\x00\x00\x00" + (100).to_bytes(3, "little")
    try:
        c.send_frames([f])
        assert c.raw.outcome(30) == "closed"
    finally:
        c.close()
    # The gateway serves the next client.
    c = ZConn(gw.host, gw.port, *NATIVE, db="igtest")
    try:
        assert rawproto.text_rows(c.query_packets([zframe(packet(bytes([COM_QUERY]) + b"SELECT 7", 0), 0)])) == [["7"]]
    finally:
        c.close()


def test_import_refused_compressed_as_uncompressed(policy_gw, double, state):
    """A covered table: the import sent compressed (split across frames, behind a comment)
    gets the refusal the same import gets uncompressed, and nothing reaches the double."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    sql = b"/* load */ IMPORT INTO shop.orders FROM 's3://bucket/orders.csv' WITH DISABLE_PRECHECK"
    rx = Received(double)
    plain, _ = rawproto.login(gw.host, gw.port, "root", "", db="shop")
    try:
        plain.send_packet(bytes([COM_QUERY]) + sql, 0)
        want = plain.outcome(30)
    finally:
        plain.close()
    assert want[0] == "error" and want[1] == PRECHECK, want
    c = ZConn(gw.host, gw.port, "root", "", db="shop")
    try:
        pkt = packet(bytes([COM_QUERY]) + sql, 0)
        ans = c.query_packets([zframe(pkt[:20], 0), zframe(pkt[20:], 1)])
        assert rawproto.error_of(ans) == (want[1], want[2])
        # The session goes on, compressed.
        assert rawproto.text_rows(c.query_packets([zframe(packet(bytes([COM_QUERY]) + b"SELECT 5", 0), 0)])) == [["5"]]
    finally:
        c.close()
    assert rx.imports() == []
