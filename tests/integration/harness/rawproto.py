"""rawproto.py - just enough of the MySQL client/server protocol over a raw socket to send
what no real client sends: garbage, truncated or oversized packets, wrong sequence ids.
Also a minimal mysql_native_password login so bad input can be sent after authentication,
and the compressed protocol's frames (zlib) made by hand: packets split across frames,
several packets in one frame, lengths that lie."""

import hashlib
import socket
import struct
import time
import zlib

CLIENT_LONG_PASSWORD = 1
CLIENT_CONNECT_WITH_DB = 8
CLIENT_COMPRESS = 0x20
CLIENT_PROTOCOL_41 = 0x200
CLIENT_SSL = 0x800
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_MULTI_RESULTS = 0x20000
CLIENT_PLUGIN_AUTH = 0x80000

COM_QUIT = 0x01
COM_QUERY = 0x03
COM_PING = 0x0e


class Closed(Exception):
    """The peer closed the connection."""


def native_scramble(password, salt):
    if not password:
        return b""
    p1 = hashlib.sha1(password.encode()).digest()
    p2 = hashlib.sha1(p1).digest()
    p3 = hashlib.sha1(salt + p2).digest()
    return bytes(a ^ b for a, b in zip(p1, p3))


def parse_greeting(payload):
    """Protocol::HandshakeV10 -> dict (version, thread_id, salt, caps, plugin)."""
    if not payload or payload[0] != 10:
        raise ValueError("not a v10 greeting: %r" % payload[:16])
    end = payload.index(b"\0", 1)
    version = payload[1:end].decode()
    pos = end + 1
    thread_id = struct.unpack_from("<I", payload, pos)[0]
    salt1 = payload[pos + 4:pos + 12]
    pos += 13
    caps = struct.unpack_from("<H", payload, pos)[0]
    pos += 3  # caps low, charset
    pos += 2  # status
    caps |= struct.unpack_from("<H", payload, pos)[0] << 16
    pos += 2
    salt_len = payload[pos]
    pos += 11  # salt length + 10 reserved (MariaDB extended caps live in the reserved bytes)
    n2 = max(13, salt_len - 8)
    salt2 = payload[pos:pos + n2].rstrip(b"\0")
    pos += n2
    plugin = payload[pos:].split(b"\0")[0].decode() if caps & CLIENT_PLUGIN_AUTH else ""
    return {"version": version, "thread_id": thread_id, "salt": salt1 + salt2, "caps": caps,
            "plugin": plugin}


def handshake_response(user, password, salt, db=None, caps=None):
    flags = caps if caps is not None else (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 |
                                           CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION |
                                           CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH)
    if db:
        flags |= CLIENT_CONNECT_WITH_DB
    auth = native_scramble(password, salt)
    out = struct.pack("<IIB23x", flags, 1 << 24, 45)
    out += user.encode() + b"\0" + bytes([len(auth)]) + auth
    if db:
        out += db.encode() + b"\0"
    out += b"mysql_native_password\0"
    return out


class RawConn:
    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_packet(self, payload, seq):
        self.sock.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xff]) + payload)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise Closed("peer closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return buf

    def read_packet(self):
        """Returns (seq, payload); raises Closed on EOF, socket.timeout on silence."""
        hdr = self._recv_exact(4)
        n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
        return hdr[3], self._recv_exact(n)

    def read_greeting(self):
        seq, payload = self.read_packet()
        if payload[:1] == b"\xff":
            raise RuntimeError("server sent an error instead of a greeting: %r" % payload)
        return seq, parse_greeting(payload)

    def outcome(self, timeout):
        """Reads until the peer closes or sends an error packet. Returns 'closed',
        ('error', code, message) or 'timeout'; other packets are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            self.sock.settimeout(left)
            try:
                _, payload = self.read_packet()
            except (Closed, ConnectionResetError, BrokenPipeError):
                return "closed"
            except socket.timeout:
                return "timeout"
            if payload[:1] == b"\xff":
                code = struct.unpack_from("<H", payload, 1)[0]
                msg = payload[3:]
                if msg[:1] == b"#":
                    msg = msg[6:]
                return ("error", code, msg.decode("utf-8", "replace"))


def login(host, port, user, password, db=None, timeout=10.0, caps=None):
    """A raw connection authenticated with mysql_native_password (no TLS). Returns
    (RawConn, greeting dict)."""
    c = RawConn(host, port, timeout)
    _, g = c.read_greeting()
    c.send_packet(handshake_response(user, password, g["salt"], db, caps), 1)
    seq, payload = c.read_packet()
    if payload[:1] == b"\xfe" and len(payload) > 1:  # AuthSwitchRequest
        end = payload.index(b"\0", 1)
        plugin = payload[1:end].decode()
        salt = payload[end + 1:].rstrip(b"\0")
        if plugin != "mysql_native_password":
            c.close()
            raise RuntimeError("server asked for %s; rawproto speaks native only" % plugin)
        c.send_packet(native_scramble(password, salt), seq + 1)
        seq, payload = c.read_packet()
    if payload[:1] != b"\x00":
        c.close()
        raise RuntimeError("login failed: %r" % payload[:200])
    return c, g


DEFAULT_CAPS = (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS |
                CLIENT_SECURE_CONNECTION | CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH)


def packet(payload, seq=0):
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xff]) + payload


def answers(c, n):
    """The next n packets c reads, each as (id, its ERR code) for an ERR, else (id, first byte)."""
    out = []
    for _ in range(n):
        seq, p = c.read_packet()
        out.append((seq, struct.unpack_from("<H", p, 1)[0] if p[:1] == b"\xff" else p[:1]))
    return out


def zframe(data, seq, compress=True, declared=None):
    """One compressed-protocol frame: 3 bytes compressed length, the id, 3 bytes length
    before compression (0: sent as is), then the payload. `declared` overrides the length
    before compression (a lie)."""
    body = zlib.compress(data) if compress else data
    ulen = (len(data) if compress else 0) if declared is None else declared
    return struct.pack("<I", len(body))[:3] + bytes([seq & 0xff]) + struct.pack("<I", ulen)[:3] + body


class ZConn:
    """A logged-in connection speaking the compressed protocol (zlib) from the OK on."""

    def __init__(self, host, port, user, password, db=None, timeout=10.0):
        self.raw, self.greeting = login(host, port, user, password, db, timeout,
                                        caps=DEFAULT_CAPS | CLIENT_COMPRESS)
        self.inbuf = b""
        self.frames_read = 0

    def close(self):
        self.raw.close()

    def send_frames(self, frames):
        self.raw.send_raw(b"".join(frames))

    def _frame(self):
        hdr = self.raw._recv_exact(7)
        clen = hdr[0] | hdr[1] << 8 | hdr[2] << 16
        ulen = hdr[4] | hdr[5] << 8 | hdr[6] << 16
        body = self.raw._recv_exact(clen)
        self.frames_read += 1
        return zlib.decompress(body) if ulen else body

    def read_packet(self):
        while True:
            if len(self.inbuf) >= 4:
                n = self.inbuf[0] | self.inbuf[1] << 8 | self.inbuf[2] << 16
                if len(self.inbuf) >= 4 + n:
                    seq, payload = self.inbuf[3], self.inbuf[4:4 + n]
                    self.inbuf = self.inbuf[4 + n:]
                    return seq, payload
            self.inbuf += self._frame()

    def query_packets(self, sql_frames):
        """Sends the frames of one COM_QUERY; returns the answer's packets (read_answer)."""
        self.send_frames(sql_frames)
        return read_answer(self)


def read_answer(c):
    """The packets of one answer that c (RawConn or ZConn) reads, up to its end: OK, ERR, or
    the EOF after the rows, or an ERR among them (classic EOFs, no multi-results)."""
    out = []
    eofs = 0
    while True:
        _, p = c.read_packet()
        out.append(p)
        if len(out) == 1 and p[:1] in (b"\x00", b"\xff"):
            return out
        if p[:1] == b"\xfe" and len(p) < 9:
            eofs += 1
            if eofs == 2:
                return out
        if p[:1] == b"\xff" and len(out) > 1:
            return out


def lenenc(p, pos):
    """A length-encoded integer at p[pos]: (value, next position); None for NULL (0xfb)."""
    b = p[pos]
    if b < 0xfb:
        return b, pos + 1
    if b == 0xfb:
        return None, pos + 1
    width = {0xfc: 2, 0xfd: 3, 0xfe: 8}[b]
    return int.from_bytes(p[pos + 1:pos + 1 + width], "little"), pos + 1 + width


def row_values(p, ncols):
    """A text row's values as bytes (None for NULL), any length."""
    out, pos = [], 0
    for _ in range(ncols):
        n, pos = lenenc(p, pos)
        if n is None:
            out.append(None)
            continue
        out.append(bytes(p[pos:pos + n]))
        pos += n
    assert pos == len(p), "row longer than its values"
    return out


def answer_rows(c):
    """The rows of the next text result set c (RawConn or ZConn) reads, as row_values; an ERR
    fails the caller's test with its message."""
    packets = read_answer(c)
    assert packets[0][:1] != b"\xff", error_of(packets)
    ncols = packets[0][0]
    return [row_values(p, ncols) for p in packets[1 + ncols + 1:-1]]


def text_rows(packets):
    """The rows of a text result set read by ZConn.query_packets: lists of str (None for NULL)."""
    ncols = packets[0][0]
    rows = []
    for p in packets[1 + ncols + 1:-1]:
        row, pos = [], 0
        for _ in range(ncols):
            if p[pos] == 0xfb:
                row.append(None)
                pos += 1
                continue
            n = p[pos]
            pos += 1
            if n == 0xfc:
                n = struct.unpack_from("<H", p, pos)[0]
                pos += 2
            row.append(p[pos:pos + n].decode())
            pos += n
        rows.append(row)
    return rows


def error_of(packets):
    """(code, message) of an ERR answer, else None."""
    p = packets[-1]
    if p[:1] != b"\xff":
        return None
    msg = p[3:]
    if msg[:1] == b"#":
        msg = msg[6:]
    return struct.unpack_from("<H", p, 1)[0], msg.decode("utf-8", "replace")
