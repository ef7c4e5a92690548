"""Attack 7: the zstd level byte stripped from a response that has none.

With CLIENT_ZSTD_COMPRESSION_ALGORITHM a HandshakeResponse41 ends with one byte of zstd
level, and proxy/handshake.c client_identity drops the response's last byte before passing
it to the backend (whose leg is not compressed). It drops the last byte whether or not it is
a level: a client that sets the flag and sends no level loses the last byte of its last
field. When that field is the database name sent without its NUL (the gateway's parser and
MariaDB's both read it to the end of the packet), the client names `igtestX` and the server
gets `igtest`. This held: the gateway decides on the database the server reports (the
session-state probe), so an unqualified IMPORT INTO is decided for igtest.seq and refused.
Kept as a regression test: whatever the response's tail, the import of a covered table in
the server's current database never reaches it.
"""

import struct
import subprocess
import zlib

import pytest

from harness import mariadb as mariadb_mod
from harness import rawproto
from mariadb_verdict import queries_since
from policy_helpers import PRECHECK, double, etcd, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only]

USER, PASSWORD = mariadb_mod.NATIVE
ZSTD = 0x04000000
CAPS = (rawproto.CLIENT_LONG_PASSWORD | rawproto.CLIENT_PROTOCOL_41 | rawproto.CLIENT_TRANSACTIONS |
        rawproto.CLIENT_SECURE_CONNECTION | rawproto.CLIENT_MULTI_RESULTS)


@pytest.fixture
def gw_mariadb(gateway_factory, etcd):
    return gateway_factory({"cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                            "backends": {"tidb_version": "v8.5.0"}})


def _response(salt, db, caps, tail):
    """A HandshakeResponse41 whose last field is the database: `db` then `tail` bytes."""
    auth = rawproto.native_scramble(PASSWORD, salt)
    out = struct.pack("<IIB23x", caps | rawproto.CLIENT_CONNECT_WITH_DB, 1 << 24, 45)
    return out + USER.encode() + b"\0" + bytes([len(auth)]) + auth + db + tail


def _answer(c):
    while True:
        _, p = c.read_packet()
        if p[:1] in (b"\x00", b"\xff"):
            return p


def _frames_to_packets(c, n, zlib_leg):
    """n packets read from the compressed leg."""
    out, buf = [], b""
    while len(out) < n:
        hdr = c._recv_exact(7)
        body = c._recv_exact(int.from_bytes(hdr[:3], "little"))
        if int.from_bytes(hdr[4:], "little"):
            body = zlib.decompress(body) if zlib_leg else subprocess.run(
                ["zstd", "-q", "-d", "-c"], input=body, capture_output=True, check=True).stdout
        buf += body
        while len(out) < n and len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:3], "little"):
            k = int.from_bytes(buf[:3], "little")
            out.append(buf[4:4 + k])
            buf = buf[4 + k:]
    return out


def _send(c, sql, frame_seq):
    """One COM_QUERY in a frame sent as is."""
    q = rawproto.packet(bytes([0x03]) + sql, 0)
    c.send_raw(len(q).to_bytes(3, "little") + bytes([frame_seq]) + b"\x00\x00\x00" + q)


@pytest.mark.skipif(subprocess.run(["sh", "-c", "command -v zstd"], capture_output=True).returncode != 0,
                    reason="the zstd program is not installed")
@pytest.mark.parametrize("caps,db,tail", [
    (CAPS | ZSTD, b"igtestX", b""),            # no NUL, no level: the X was dropped
    (CAPS | ZSTD, b"igtest", b"\0"),           # NUL, no level: the NUL was dropped
    (CAPS | ZSTD, b"igtest", b"\0\x03"),       # a level byte
    (CAPS | ZSTD | rawproto.CLIENT_COMPRESS, b"igtestX", b""),  # zlib chosen, the zstd flag set too
])
def test_database_seen_as_the_server_sees_it(gw_mariadb, mariadb, state, caps, db, tail):
    state.task("pitr_igtest", ["igtest.*"])
    c = rawproto.RawConn(gw_mariadb.host, gw_mariadb.port, 20)
    try:
        _, g = c.read_greeting()
        c.send_packet(_response(g["salt"], db, caps, tail), 1)
        _, ok = c.read_packet()
        if ok[:1] == b"\xff":
            return  # refused at login: nothing to tell apart
        assert ok[:1] == b"\x00", ok
        zlib_leg = bool(caps & rawproto.CLIENT_COMPRESS)
        _send(c, b"SELECT DATABASE()", 0)
        pk = _frames_to_packets(c, 5, zlib_leg)  # count, definition, EOF, row, EOF
        server_db = pk[3][1:1 + pk[3][0]].decode()
        off = mariadb.general_log_offset()
        _send(c, b"IMPORT INTO seq FROM 's3://bucket/t.csv'", 0)
        ans = _frames_to_packets(c, 1, zlib_leg)[0]
        sent = [q for q in queries_since(mariadb, off) if "IMPORT INTO" in q]
        if server_db == "igtest":  # covered where the server runs it
            assert sent == [], "a covered import reached the backend undecided: %r" % sent
            assert ans[:1] == b"\xff" and struct.unpack_from("<H", ans, 1)[0] == PRECHECK, ans
    finally:
        c.close()
