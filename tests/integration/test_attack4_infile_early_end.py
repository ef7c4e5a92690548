"""Attack 4 (session split, LOCAL INFILE): the gateway enters its LOCAL INFILE data phase
(IN_INFILE, proxy/command.c) when it sees the server's 0xFB file request, and leaves it
only on an empty client packet it frames *while in IN_INFILE* (ig_cmd_client_packet:
EV_INFILE_END from IN_COMMAND is a no-op). A client that pipelines its empty terminator
right behind the LOAD DATA LOCAL statement, in the same write, has the terminator framed
while the gateway is still IN_COMMAND: it is relayed and ignored. The server reads it as
the (empty) file and goes back to its command phase; the gateway then sees the 0xFB and
enters IN_INFILE for good, where every client packet - a COM_QUERY with sequence id 0
included - is relayed verbatim as "file data". The next statement, a covered IMPORT INTO,
reaches the backend without being held or decided.

Backend: the session MariaDB (local_infile on, general log on; it has no IMPORT INTO, so a
statement it received is answered 1064, and its general log shows it). The sequence ids
are the ones a strict server (MariaDB, and TiDB's packetio.readOnePacket) expects: the
request 0 / 0xFB 1 / empty file 2 / OK 3, then a new command at 0."""

import struct

import pytest

from harness import mariadb as mariadb_mod
from harness import rawproto
from mariadb_verdict import queries_since
from policy_helpers import PRECHECK, etcd, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only]

USER, PASSWORD = mariadb_mod.NATIVE
IMP = "IMPORT INTO igtest.seq FROM 's3://bucket/t.csv'"
CLIENT_LOCAL_FILES = 0x80
CAPS = (rawproto.CLIENT_LONG_PASSWORD | rawproto.CLIENT_PROTOCOL_41 | rawproto.CLIENT_TRANSACTIONS |
        rawproto.CLIENT_SECURE_CONNECTION | rawproto.CLIENT_MULTI_RESULTS | rawproto.CLIENT_PLUGIN_AUTH |
        CLIENT_LOCAL_FILES)


@pytest.fixture
def gw_mariadb(gateway_factory, etcd):
    return gateway_factory({"cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                            "backends": {"tidb_version": "v8.5.0"}})


_pkt = rawproto.packet  # one MySQL packet: 3-byte length, sequence id, payload


def _login(gw):
    c = rawproto.RawConn(gw.host, gw.port, timeout=20)
    _, g = c.read_greeting()
    c.send_packet(rawproto.handshake_response(USER, PASSWORD, g["salt"], "igtest", caps=CAPS), 1)
    seq, payload = c.read_packet()
    if payload[:1] == b"\xfe" and len(payload) > 1:
        end = payload.index(b"\0", 1)
        c.send_packet(rawproto.native_scramble(PASSWORD, payload[end + 1:].rstrip(b"\0")), seq + 1)
        seq, payload = c.read_packet()
    assert payload[:1] == b"\x00", payload
    return c


def _answer(c):
    """Reads one command's answer up to its OK or ERR; returns ('ok'|'err', code, payload)."""
    while True:
        _, p = c.read_packet()
        if p[:1] == b"\x00":
            return ("ok", 0, p)
        if p[:1] == b"\xff":
            return ("err", struct.unpack_from("<H", p, 1)[0], p)


def test_infile_terminator_pipelined_then_import(gw_mariadb, mariadb, state):
    state.task("pitr_igtest", ["igtest.*"])
    # Positive control: the same import, sent plainly, is refused by the gateway.
    c = _login(gw_mariadb)
    c.send_packet(bytes([rawproto.COM_QUERY]) + IMP.encode(), 0)
    kind, code, _ = _answer(c)
    assert (kind, code) == ("err", PRECHECK), (kind, code)
    c.close()

    c = _login(gw_mariadb)
    try:
        off = mariadb.general_log_offset()
        load = b"LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE igtest.seq"
        # One write: the statement, then at once the empty file that ends its data.
        c.send_raw(_pkt(bytes([rawproto.COM_QUERY]) + load, 0) + _pkt(b"", 2))
        seq, p = c.read_packet()
        assert p[:1] == b"\xfb", p  # the server's file request (seq 1)
        kind, code, p = _answer(c)  # the LOAD DATA's end: OK, 0 rows
        assert kind == "ok", p
        c.send_packet(bytes([rawproto.COM_QUERY]) + IMP.encode(), 0)
        kind, code, p = _answer(c)
        got = queries_since(mariadb, off)
    finally:
        c.close()
    # The covered import must be refused by the gateway (PreCheck) and never reach MariaDB.
    assert not any("IMPORT INTO" in q for q in got), got
    assert (kind, code) == ("err", PRECHECK), (kind, code, p)
