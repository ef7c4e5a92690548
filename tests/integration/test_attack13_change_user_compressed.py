"""Attack 13 (COM_CHANGE_USER's authentication exchange on compressed legs): held.

A COM_CHANGE_USER that names another plugin than the user's makes TiDB send an
AuthSwitchRequest (checkAuthPlugin, pkg/server/conn.go) and read one client packet. With the
client's leg compressed (zlib), the backend's (zstd) or both, the client's reply is relayed
only when it carries the id after the switch request's; a libmariadb client numbers it from
the last frame it read (ma_net.c ma_real_read: pkt_nr = frame id + 1), which the gateway's
one frame per relayed request matches. A reply numbered 0 (a command, as far as ids go) is
held as a command behind the COM_CHANGE_USER, never relayed as the reply and never read as a
command while the exchange is open; one with another id closes the session. In every case a
covered IMPORT INTO never reaches the backend undecided."""

import struct
import time
import zlib

import pytest

from harness import rawproto
from policy_helpers import (DB1, PRECHECK, USERS, Received, double, etcd,  # noqa: F401
                            policy_gw, state, zdouble)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

IMP = b"\x03IMPORT INTO shop.orders FROM 's3://b/o.csv'"


_pkt = rawproto.packet  # one MySQL packet: 3-byte length, sequence id, payload


class Client:
    """A raw client, its leg compressed (zlib, as libmariadb numbers it) or not."""

    def __init__(self, gw, compressed):
        caps = rawproto.DEFAULT_CAPS | (rawproto.CLIENT_COMPRESS if compressed else 0)
        self.raw, self.greeting = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1, caps=caps)
        self.compressed = compressed
        self.inbuf = b""
        self.last_frame = None

    def send(self, payload, seq):
        data = _pkt(payload, seq)
        if self.compressed:  # libmariadb: the frame carries the same number (compress_pkt_nr)
            data = rawproto.zframe(data, seq)
        self.raw.send_raw(data)

    def read(self):
        if not self.compressed:
            return self.raw.read_packet()
        while True:
            if len(self.inbuf) >= 4:
                n = self.inbuf[0] | self.inbuf[1] << 8 | self.inbuf[2] << 16
                if len(self.inbuf) >= 4 + n:
                    seq, p = self.inbuf[3], self.inbuf[4:4 + n]
                    self.inbuf = self.inbuf[4 + n:]
                    return seq, p
            hdr = self.raw._recv_exact(7)
            body = self.raw._recv_exact(hdr[0] | hdr[1] << 8 | hdr[2] << 16)
            self.last_frame = hdr[3]
            self.inbuf += zlib.decompress(body) if hdr[4] | hdr[5] | hdr[6] else body

    def reply_id(self, seq):
        """The id a library gives its reply to a packet read with id `seq`."""
        return (self.last_frame + 1) & 0xFF if self.compressed else seq + 1

    def outcome(self, timeout):
        self.raw.sock.settimeout(timeout)
        try:
            while True:
                _, p = self.read()
                if p[:1] == b"\xff":
                    return ("error", struct.unpack_from("<H", p, 1)[0])
        except (rawproto.Closed, ConnectionResetError, BrokenPipeError):
            return "closed"
        except OSError:
            return "timeout"


def _change_user_switched(c):
    """COM_CHANGE_USER to root naming caching_sha2_password: the double (as TiDB) switches."""
    auth = rawproto.native_scramble(USERS["root"], c.greeting["salt"])
    body = (b"\x11root\0" + bytes([len(auth)]) + auth + DB1.encode() + b"\0" + struct.pack("<H", 45) +
            b"caching_sha2_password\0")
    c.send(body, 0)
    seq, p = c.read()
    assert p[:1] == b"\xfe" and p[1:].startswith(b"mysql_native_password\0"), p
    salt = p[1:].split(b"\0", 1)[1].rstrip(b"\0")
    return seq, rawproto.native_scramble(USERS["root"], salt)


LEGS = [(True, None), (True, "zstd"), (False, "zstd")]
IDS = ["zlib-client", "zlib-client-zstd-backend", "zstd-backend"]
# Fixed (attack13): a packet the gateway renumbers on its way to a compressed client (the
# double's zstd frames carry packets numbered 0, as older MySQL-derived servers write them;
# TiDB and MariaDB number them as the gateway does) went out as two frames - the header
# injected by the framer (conn.c on_inject), then the payload - so a libmariadb client
# numbered its reply from the second frame's id and the gateway refused it (1156). Header
# and payload now leave in one frame.


def _gw(policy_gw, double, zdouble, backend):
    if backend is None:
        return policy_gw(), double
    return policy_gw(backend=("127.0.0.1", zdouble.port),
                     backends={"compression": backend, "health_interval_ms": 0}), zdouble


@pytest.mark.parametrize("compressed,backend", LEGS, ids=IDS)
def test_switched_change_user_then_a_decided_import(policy_gw, double, zdouble, state, compressed, backend):
    state.task("pitr_shop", ["shop.*"])
    gw, srv = _gw(policy_gw, double, zdouble, backend)
    c = Client(gw, compressed)
    try:
        rx = Received(srv)
        seq, reply = _change_user_switched(c)
        c.send(reply, c.reply_id(seq))
        _, p = c.read()
        assert p[:1] == b"\x00", p
        c.send(IMP, 0)
        out = c.outcome(20)
    finally:
        c.raw.close()
    assert out == ("error", PRECHECK), (out, gw.stderr_text()[-3000:])
    assert rx.imports() == []


@pytest.mark.parametrize("compressed,backend", LEGS, ids=IDS)
@pytest.mark.parametrize("reply_seq", [0, 7], ids=["id0", "id7"])
def test_misnumbered_switch_reply_is_never_relayed(policy_gw, double, zdouble, state, compressed, backend,
                                                   reply_seq):
    """The reply numbered 0 carries a covered IMPORT INTO (a command by its id); numbered 7,
    the same. Neither reaches the backend: id 0 waits behind the open exchange (the client
    gets nothing, as from a server still waiting for its reply), id 7 closes the session."""
    state.task("pitr_shop", ["shop.*"])
    gw, srv = _gw(policy_gw, double, zdouble, backend)
    c = Client(gw, compressed)
    try:
        rx = Received(srv)
        _change_user_switched(c)
        c.send(IMP, reply_seq)
        out = c.outcome(3)
        time.sleep(0.5)
        reached = rx.imports()
    finally:
        c.raw.close()
    assert reached == [], reached
    assert out == ("timeout" if reply_seq == 0 else ("error", 1156)), (out, gw.stderr_text()[-3000:])
