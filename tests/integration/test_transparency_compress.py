"""The compressed protocol through the gateway (issue 18): `mariadb --compress` gets
compression on and the same answers as directly; statements that reach the gateway in
frames made by hand (a packet split across frames, frames sent as is, several packets in
one frame) are read as the server reads them; an IMPORT INTO sent compressed to a covered
table is refused exactly as the same statement sent uncompressed; frames that lie about
their length, carry bytes after their stream or decompress past what they declare close
the connection, and the gateway goes on serving others. Each leg compresses on its own:
the client's leg as the client asks, the backend's leg not by default (backends.compression:
off; the compressed backend leg: test_compress_backend_leg.py)."""

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
    """`status` says what the client's leg does: compressed, as directly. The server's
    session variable says what the backend's leg does: uncompressed by default
    (backends.compression: off)."""
    sql = "SHOW SESSION STATUS LIKE 'Compression'"
    assert _mariadb_cli(mariadb, sql, True) == "Variable_name\tValue\nCompression\tON\n"
    assert _mariadb_cli(gw, sql, True) == "Variable_name\tValue\nCompression\tOFF\n"
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


def test_igclient_protocol_paths_compressed_match_direct(ig, mariadb, tmp_path):
    """Every protocol path igclient drives, with a compressed client leg, prints what the same
    steps print directly compressed: binary protocol, a cursor fetched in steps, long data,
    COM_CHANGE_USER, a 20 MB query (packets of 16 MiB spanning many frames; libmariadb sends
    every part with id 0), and LOAD DATA LOCAL INFILE."""
    data = tmp_path / "rows.csv"
    data.write_text("".join("%d,row %d\n" % (i, i) for i in range(1, 50001)))
    steps = ["query", "CREATE OR REPLACE TABLE igtest.zload (n INT, s VARCHAR(40))",
             "query", "LOAD DATA LOCAL INFILE '%s' INTO TABLE igtest.zload FIELDS TERMINATED BY ','" % data,
             "query", "SELECT COUNT(*), SUM(n), MD5(GROUP_CONCAT(s ORDER BY n)) FROM igtest.zload",
             "stmt", "SELECT ? + 1, REPEAT(?, 1000)", "i:41", "s:ab",
             "cursor", "7", "SELECT seq FROM seq_1_to_50 WHERE seq > ?", "i:10",
             "stmt", "SELECT LENGTH(?)", "L:3000000:65536",
             "bigquery", "20000000",
             "changeuser", "igother", "otherpw", "igtest2",
             "query", "SELECT CURRENT_USER(), DATABASE()"]
    opts = ["--compress", "--local-infile"]
    through = ig(*NATIVE, steps, db="igtest", opts=opts, timeout=300)
    direct = ig(*NATIVE, steps, db="igtest", opts=opts, target=mariadb, timeout=300)
    assert through.rc == 0, through.out + through.err
    strip = lambda r: [l for l in r.lines() if not l.startswith("connected ")]  # noqa: E731
    assert strip(through) == strip(direct)
    assert ["50000", "1250025000"] == through.results()[0][0][:2]


def _zstd(data, decompress=False):
    args = ["zstd", "-q", "-c"] + (["-d"] if decompress else ["-3"])
    return subprocess.run(args, input=data, capture_output=True, check=True).stdout


@pytest.mark.skipif(subprocess.run(["sh", "-c", "command -v zstd"], capture_output=True).returncode != 0,
                    reason="the zstd program is not installed")
def test_zstd_client_leg_with_an_uncompressed_backend_leg(gw):
    """A client that asks for zstd only (CLIENT_ZSTD_COMPRESSION_ALGORITHM and its level byte)
    gets zstd frames on its leg; the backend's leg is plain, and the client's level byte is
    not passed to it (MariaDB would read it as more connection attributes)."""
    raw = rawproto.RawConn(gw.host, gw.port)
    try:
        _, g = raw.read_greeting()
        assert g["caps"] & 0x04000000, hex(g["caps"])
        resp = rawproto.handshake_response(NATIVE[0], NATIVE[1], g["salt"], "igtest",
                                           caps=rawproto.DEFAULT_CAPS | 0x04000000) + b"\x05"
        raw.send_packet(resp, 1)
        _, ok = raw.read_packet()
        assert ok[:1] == b"\x00", ok
        def ask(sql, until):
            q = packet(bytes([COM_QUERY]) + sql, 0)
            body = _zstd(q)
            raw.send_raw(len(body).to_bytes(3, "little") + b"\x00" + len(q).to_bytes(3, "little") + body)
            data, zipped = b"", 0
            while until not in data:
                hdr = raw._recv_exact(7)
                body = raw._recv_exact(int.from_bytes(hdr[:3], "little"))
                if int.from_bytes(hdr[4:], "little"):
                    zipped += 1
                    body = _zstd(body, decompress=True)
                data += body
            return data, zipped
        data, zipped = ask(b"SELECT REPEAT('z', 400) AS r", b"z" * 400)
        assert zipped >= 1  # the answer came in zstd frames
        data, _ = ask(b"SHOW SESSION STATUS LIKE 'Compression'", b"Compression")
        _, rest = data.split(b"Compression", 1)
        assert rest.startswith(b"\x03OFF"), data  # the backend's leg is not compressed
    finally:
        raw.close()
