"""MySQL client/server protocol wire format for the TiDB test double and its
raw test client: packet framing (with 16 MiB splitting), length-encoded
integers and strings, and the generic packets (OK, ERR, EOF, column
definition, text and binary result rows).

Owns no sockets' lifecycle: PacketIO wraps a socket it is given.
"""

import datetime
import struct

# Capability flags.
CLIENT_LONG_PASSWORD = 0x00000001
CLIENT_FOUND_ROWS = 0x00000002
CLIENT_LONG_FLAG = 0x00000004
CLIENT_CONNECT_WITH_DB = 0x00000008
CLIENT_COMPRESS = 0x00000020
CLIENT_LOCAL_FILES = 0x00000080
CLIENT_PROTOCOL_41 = 0x00000200
CLIENT_INTERACTIVE = 0x00000400
CLIENT_SSL = 0x00000800
CLIENT_TRANSACTIONS = 0x00002000
CLIENT_SECURE_CONNECTION = 0x00008000
CLIENT_MULTI_STATEMENTS = 0x00010000
CLIENT_MULTI_RESULTS = 0x00020000
CLIENT_PS_MULTI_RESULTS = 0x00040000
CLIENT_PLUGIN_AUTH = 0x00080000
CLIENT_CONNECT_ATTRS = 0x00100000
CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 0x00200000
CLIENT_DEPRECATE_EOF = 0x01000000
CLIENT_QUERY_ATTRIBUTES = 0x08000000
CLIENT_ZSTD_COMPRESSION_ALGORITHM = 0x04000000

# Server status flags.
SERVER_STATUS_IN_TRANS = 0x0001
SERVER_STATUS_AUTOCOMMIT = 0x0002
SERVER_MORE_RESULTS_EXISTS = 0x0008

# Commands.
COM_QUIT = 0x01
COM_INIT_DB = 0x02
COM_QUERY = 0x03
COM_FIELD_LIST = 0x04
COM_REFRESH = 0x07
COM_SHUTDOWN = 0x08
COM_STATISTICS = 0x09
COM_PING = 0x0E
COM_SLEEP = 0x00
COM_CHANGE_USER = 0x11
COM_STMT_PREPARE = 0x16
COM_STMT_EXECUTE = 0x17
COM_STMT_SEND_LONG_DATA = 0x18
COM_STMT_CLOSE = 0x19
COM_STMT_RESET = 0x1A
COM_SET_OPTION = 0x1B
COM_RESET_CONNECTION = 0x1F

# Column types.
TYPE_DECIMAL = 0x00
TYPE_TINY = 0x01
TYPE_SHORT = 0x02
TYPE_LONG = 0x03
TYPE_FLOAT = 0x04
TYPE_DOUBLE = 0x05
TYPE_NULL = 0x06
TYPE_TIMESTAMP = 0x07
TYPE_LONGLONG = 0x08
TYPE_INT24 = 0x09
TYPE_DATE = 0x0A
TYPE_DATETIME = 0x0C
TYPE_YEAR = 0x0D
TYPE_VARCHAR = 0x0F
TYPE_NEWDECIMAL = 0xF6
TYPE_BLOB = 0xFC
TYPE_VAR_STRING = 0xFD
TYPE_STRING = 0xFE

CHARSET_UTF8MB4_BIN = 46  # TiDB's default collation id
CHARSET_BINARY = 63

MAX_PACKET = 0xFFFFFF


class ProtocolError(Exception):
    pass


ER_NET_PACKET_TOO_LARGE = 1153
ER_INVALID_SEQUENCE = 8052


class PacketRefused(Exception):
    """A packet TiDB refused by its header alone: its payload is still unread."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class PacketIO:
    """Reads and writes framed packets on a socket, tracking sequence ids."""

    def __init__(self, sock):
        self.sock = sock
        self.seq = 0

    def set_socket(self, sock):
        self.sock = sock

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
        return bytes(buf)

    def read(self):
        """One logical packet (joins 16 MiB continuation packets)."""
        payload = bytearray()
        while True:
            hdr = self._recv_exact(4)
            length = hdr[0] | (hdr[1] << 8) | (hdr[2] << 16)
            self.seq = (hdr[3] + 1) & 0xFF
            payload += self._recv_exact(length)
            if length < MAX_PACKET:
                return bytes(payload)

    def read_limited(self, max_allowed):
        """One logical packet as TiDB's PacketIO.ReadPacket reads it (FACTS.md 9): per
        physical packet the header, the sequence check, the id counted, the payload lengths
        so far against max_allowed (over it: refused), and only then the payload. A refused
        packet's payload stays unread, to be read as whatever comes next."""
        payload = bytearray()
        total = 0
        while True:
            hdr = self._recv_exact(4)
            length = hdr[0] | (hdr[1] << 8) | (hdr[2] << 16)
            if hdr[3] != self.seq:
                raise PacketRefused(ER_INVALID_SEQUENCE, "invalid sequence, received %d while "
                                    "expecting %d" % (hdr[3], self.seq))
            self.seq = (self.seq + 1) & 0xFF
            total += length
            if total > max_allowed:
                raise PacketRefused(ER_NET_PACKET_TOO_LARGE,
                                    "Got a packet bigger than 'max_allowed_packet' bytes")
            payload += self._recv_exact(length)
            if length < MAX_PACKET:
                return bytes(payload)

    def write(self, payload):
        """Write one logical packet, split at 16 MiB as the protocol requires."""
        out = bytearray()
        pos = 0
        while True:
            part = payload[pos:pos + MAX_PACKET]
            out += struct.pack("<I", len(part))[:3] + bytes([self.seq])
            out += part
            self.seq = (self.seq + 1) & 0xFF
            pos += len(part)
            if len(part) < MAX_PACKET:
                break
        self.sock.sendall(bytes(out))

    def reset(self):
        self.seq = 0
        if hasattr(self.sock, "reset"):
            self.sock.reset()


class ZstdSocket:
    """The compressed protocol with zstd under a PacketIO (the double's --zstd): frames of
    7-byte headers, one counter of frame ids for both directions reset at each command and
    checked on every frame read (TiDB pkg/server/internal/packetio.go, pingcap/tidb v8.5 line);
    one frame per write, compressed over 50 bytes. The packets inside the frames it writes
    all carry id 0, as older MySQL-derived net_serv.cc my_net_write numbers them under
    compression (`net->compress ? 0 : pkt_nr++`): what the gateway relays to an uncompressed
    client must be numbered by the gateway."""

    def __init__(self, sock, level):
        import ctypes
        self.sock, self.level, self.seq, self.buf = sock, level, 0, b""
        self.frames_read = self.frames_written = self.compressed_read = 0
        lib = ctypes.CDLL("libzstd.so.1")
        lib.ZSTD_compress.restype = lib.ZSTD_decompress.restype = ctypes.c_size_t
        lib.ZSTD_compress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                                      ctypes.c_int]
        lib.ZSTD_decompress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
        lib.ZSTD_isError.restype = ctypes.c_uint
        lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
        self.lib, self.ctypes = lib, ctypes

    def reset(self):
        self.seq = 0

    def _exact(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError("connection closed")
            out += chunk
        return bytes(out)

    def recv(self, n):
        if not self.buf:
            hdr = self._exact(7)
            clen = hdr[0] | hdr[1] << 8 | hdr[2] << 16
            ulen = hdr[4] | hdr[5] << 8 | hdr[6] << 16
            if hdr[3] != self.seq:
                raise ProtocolError("compressed frame id %d, %d expected" % (hdr[3], self.seq))
            self.seq = (hdr[3] + 1) & 0xFF
            body = self._exact(clen)
            self.frames_read += 1
            if ulen:
                out = self.ctypes.create_string_buffer(ulen)
                got = self.lib.ZSTD_decompress(out, ulen, body, clen)
                if self.lib.ZSTD_isError(got) or got != ulen:
                    raise ProtocolError("a zstd frame does not decompress to %d bytes" % ulen)
                body = out.raw[:ulen]
                self.compressed_read += 1
            self.buf = body
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def sendall(self, data):
        data = bytearray(data)
        pos = 0
        while pos + 4 <= len(data):  # every packet's id 0
            data[pos + 3] = 0
            pos += 4 + (data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16)
        data = bytes(data)
        body, ulen = data, 0
        if len(data) > 50:
            out = self.ctypes.create_string_buffer(len(data) + 1024)
            got = self.lib.ZSTD_compress(out, len(out), data, len(data), self.level)
            if not self.lib.ZSTD_isError(got) and got < len(data):
                body, ulen = out.raw[:got], len(data)
        self.sock.sendall(struct.pack("<I", len(body))[:3] + bytes([self.seq]) +
                          struct.pack("<I", ulen)[:3] + body)
        self.seq = (self.seq + 1) & 0xFF
        self.frames_written += 1


# ---------------------------------------------------------------------------
# Length-encoded values.
# ---------------------------------------------------------------------------


def lenenc_int(n):
    if n < 251:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def lenenc_str(s):
    if isinstance(s, str):
        s = s.encode()
    return lenenc_int(len(s)) + s


class Reader:
    """Cursor over a packet payload."""

    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def remaining(self):
        return len(self.data) - self.pos

    def u8(self):
        if self.pos >= len(self.data):
            raise ProtocolError("truncated packet")
        v = self.data[self.pos]
        self.pos += 1
        return v

    def fixed(self, n):
        if self.pos + n > len(self.data):
            raise ProtocolError("truncated packet")
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v

    def uint(self, n):
        return int.from_bytes(self.fixed(n), "little")

    def lenenc_int(self):
        first = self.u8()
        if first < 251:
            return first
        if first == 0xFB:
            return None
        if first == 0xFC:
            return self.uint(2)
        if first == 0xFD:
            return self.uint(3)
        if first == 0xFE:
            return self.uint(8)
        raise ProtocolError("bad length-encoded integer 0x%02x" % first)

    def lenenc_bytes(self):
        n = self.lenenc_int()
        if n is None:
            return None
        return self.fixed(n)

    def nul_str(self):
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            end = len(self.data)
            v = self.data[self.pos:end]
            self.pos = end
            return v
        v = self.data[self.pos:end]
        self.pos = end + 1
        return v

    def rest(self):
        v = self.data[self.pos:]
        self.pos = len(self.data)
        return v


# ---------------------------------------------------------------------------
# Generic response packets.
# ---------------------------------------------------------------------------


def ok_packet(affected=0, last_insert_id=0, status=SERVER_STATUS_AUTOCOMMIT, warnings=0,
              info=b"", header=0x00):
    if isinstance(info, str):
        info = info.encode()
    out = bytes([header]) + lenenc_int(affected) + lenenc_int(last_insert_id)
    out += struct.pack("<HH", status, warnings)
    # Without CLIENT_SESSION_TRACK (never negotiated here) info is string<EOF>.
    return out + info


def err_packet(code, message, sqlstate="HY000"):
    if isinstance(message, str):
        message = message.encode()
    return b"\xff" + struct.pack("<H", code) + b"#" + sqlstate.encode()[:5] + message


def eof_packet(status=SERVER_STATUS_AUTOCOMMIT, warnings=0):
    return b"\xfe" + struct.pack("<HH", warnings, status)


class Column:
    """A result-set column definition."""

    def __init__(self, name, ctype=TYPE_VAR_STRING, length=255, flags=0, decimals=0,
                 charset=CHARSET_UTF8MB4_BIN):
        self.name = name
        self.ctype = ctype
        self.length = length
        self.flags = flags
        self.decimals = decimals
        self.charset = charset

    def packet(self):
        return (lenenc_str("def") + lenenc_str("") + lenenc_str("") + lenenc_str("")
                + lenenc_str(self.name) + lenenc_str(self.name) + b"\x0c"
                + struct.pack("<HIBHB", self.charset, self.length, self.ctype, self.flags,
                              self.decimals)
                + b"\x00\x00")


def parse_column(payload):
    r = Reader(payload)
    for _ in range(4):  # catalog, schema, table, org_table
        r.lenenc_bytes()
    name = r.lenenc_bytes().decode()
    r.lenenc_bytes()
    r.lenenc_int()
    charset, length, ctype, flags, decimals = struct.unpack("<HIBHB", r.fixed(10))
    return Column(name, ctype, length, flags, decimals, charset)


def text_value(v):
    if v is None:
        return b"\xfb"
    if isinstance(v, datetime.datetime):
        v = v.strftime("%Y-%m-%d %H:%M:%S.%f")
    elif isinstance(v, bool):
        v = "1" if v else "0"
    elif not isinstance(v, (bytes, str)):
        v = str(v)
    return lenenc_str(v)


def text_row(values):
    return b"".join(text_value(v) for v in values)


def binary_row(columns, values):
    """A binary-protocol row (COM_STMT_EXECUTE results)."""
    nbits = (len(columns) + 7 + 2) // 8
    bitmap = bytearray(nbits)
    body = bytearray()
    for i, (col, v) in enumerate(zip(columns, values)):
        if v is None:
            bitmap[(i + 2) // 8] |= 1 << ((i + 2) % 8)
            continue
        if col.ctype == TYPE_LONGLONG:
            body += struct.pack("<q", int(v))
        elif col.ctype == TYPE_LONG:
            body += struct.pack("<i", int(v))
        elif col.ctype in (TYPE_TIMESTAMP, TYPE_DATETIME):
            d = v if isinstance(v, datetime.datetime) else datetime.datetime.fromisoformat(str(v))
            if d.microsecond:
                body += bytes([11]) + struct.pack("<HBBBBBI", d.year, d.month, d.day, d.hour,
                                                  d.minute, d.second, d.microsecond)
            else:
                body += bytes([7]) + struct.pack("<HBBBBB", d.year, d.month, d.day, d.hour,
                                                 d.minute, d.second)
        else:
            body += text_value(v)
    return b"\x00" + bytes(bitmap) + bytes(body)


def decode_binary_value(r, ctype, unsigned=False):
    """Decode one binary-protocol value (execute parameters, binary rows)."""
    if ctype == TYPE_TINY:
        return r.uint(1) if unsigned else struct.unpack("<b", r.fixed(1))[0]
    if ctype in (TYPE_SHORT, TYPE_YEAR):
        return r.uint(2) if unsigned else struct.unpack("<h", r.fixed(2))[0]
    if ctype in (TYPE_LONG, TYPE_INT24):
        return r.uint(4) if unsigned else struct.unpack("<i", r.fixed(4))[0]
    if ctype == TYPE_LONGLONG:
        return r.uint(8) if unsigned else struct.unpack("<q", r.fixed(8))[0]
    if ctype == TYPE_FLOAT:
        return struct.unpack("<f", r.fixed(4))[0]
    if ctype == TYPE_DOUBLE:
        return struct.unpack("<d", r.fixed(8))[0]
    if ctype == TYPE_NULL:
        return None
    if ctype in (TYPE_TIMESTAMP, TYPE_DATETIME, TYPE_DATE):
        n = r.u8()
        raw = r.fixed(n)
        parts = [0, 1, 1, 0, 0, 0, 0]
        if n >= 4:
            parts[0] = int.from_bytes(raw[0:2], "little")
            parts[1], parts[2] = raw[2], raw[3]
        if n >= 7:
            parts[3], parts[4], parts[5] = raw[4], raw[5], raw[6]
        if n >= 11:
            parts[6] = int.from_bytes(raw[7:11], "little")
        return datetime.datetime(*parts)
    return r.lenenc_bytes()
