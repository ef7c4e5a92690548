"""A minimal MySQL client for tests that need what PyMySQL and the mariadb CLI
do not offer: choosing capability flags (CLIENT_DEPRECATE_EOF on or off),
server-side prepared statements (COM_STMT_PREPARE / COM_STMT_EXECUTE, binary
rows), and seeing raw result-set terminators.

Owns nothing but its own socket; supports mysql_native_password and
caching_sha2_password (fast, full over TLS, full with RSA).
"""

import socket
import ssl
import struct

import mysqlauth
import mysqlwire as w

DEFAULT_CAPS = (w.CLIENT_LONG_PASSWORD | w.CLIENT_LONG_FLAG | w.CLIENT_PROTOCOL_41
                | w.CLIENT_TRANSACTIONS | w.CLIENT_SECURE_CONNECTION | w.CLIENT_MULTI_STATEMENTS
                | w.CLIENT_MULTI_RESULTS | w.CLIENT_PS_MULTI_RESULTS | w.CLIENT_PLUGIN_AUTH
                | w.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | w.CLIENT_CONNECT_WITH_DB)


class ServerError(Exception):
    def __init__(self, code, sqlstate, message):
        super().__init__("%d (%s): %s" % (code, sqlstate, message))
        self.code = code
        self.sqlstate = sqlstate
        self.message = message


def _parse_err(pkt):
    code = struct.unpack("<H", pkt[1:3])[0]
    if pkt[3:4] == b"#":
        return ServerError(code, pkt[4:9].decode(), pkt[9:].decode(errors="replace"))
    return ServerError(code, "HY000", pkt[3:].decode(errors="replace"))


class Result:
    def __init__(self):
        self.columns = []
        self.rows = []
        self.affected = 0
        self.info = ""
        self.status = 0
        self.terminator = None  # "eof", "ok" (0xFE OK) or None (no result set)


class RawClient:
    def __init__(self, host, port, user, password="", db=None, deprecate_eof=True,
                 tls=False, plugin=mysqlauth.NATIVE, timeout=10.0):
        self.caps = DEFAULT_CAPS | (w.CLIENT_DEPRECATE_EOF if deprecate_eof else 0)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.io = w.PacketIO(self.sock)
        self.password = password
        self.auth_events = []  # AuthMoreData codes and switches seen, for tests
        self._handshake(user, password, db, tls, plugin)

    def _handshake(self, user, password, db, tls, plugin):
        r = w.Reader(self.io.read())
        if r.u8() != 10:
            raise w.ProtocolError("not a v10 handshake")
        self.server_version = r.nul_str().decode()
        self.conn_id = r.uint(4)
        scramble = r.fixed(8)
        r.u8()
        caps = r.uint(2)
        r.u8()
        r.uint(2)
        caps |= r.uint(2) << 16
        r.u8()
        r.fixed(10)
        scramble += r.fixed(12)
        r.u8()
        self.server_plugin = r.nul_str().decode()
        self.server_caps = caps
        self.scramble = scramble
        caps_out = self.caps & caps
        self.tls = False
        if tls:
            caps_out |= w.CLIENT_SSL
            self.io.write(struct.pack("<IIB", caps_out, 1 << 24, 46) + b"\x00" * 23)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock)
            self.io.set_socket(self.sock)
            self.tls = True
        self.caps = caps_out
        auth = mysqlauth.scramble_for(plugin, password, scramble)
        pkt = struct.pack("<IIB", caps_out, 1 << 24, 46) + b"\x00" * 23
        pkt += user.encode() + b"\x00" + w.lenenc_str(auth)
        pkt += (db.encode() if db else b"") + b"\x00"
        pkt += plugin.encode() + b"\x00"
        self.io.write(pkt)
        self._auth_loop(plugin, password)

    def _auth_loop(self, plugin, password):
        while True:
            pkt = self.io.read()
            if pkt[0] == 0x00:
                return
            if pkt[0] == 0xFF:
                raise _parse_err(pkt)
            if pkt[0] == 0xFE:  # AuthSwitchRequest
                r = w.Reader(pkt, 1)
                plugin = r.nul_str().decode()
                self.scramble = r.rest()[:20]
                self.auth_events.append("switch:" + plugin)
                self.io.write(mysqlauth.scramble_for(plugin, password, self.scramble))
                continue
            if pkt[0] == 0x01 and len(pkt) == 2:
                self.auth_events.append(pkt[1])
                if pkt[1] == mysqlauth.FAST_AUTH_OK:
                    continue
                if pkt[1] == mysqlauth.PERFORM_FULL_AUTH:
                    if self.tls:
                        self.io.write(password.encode() + b"\x00")
                    else:
                        self.io.write(bytes([mysqlauth.REQUEST_PUBLIC_KEY]))
                        key = self.io.read()
                        if key[:1] == b"\xff":
                            raise _parse_err(key)
                        self.auth_events.append("pubkey")
                        self.io.write(mysqlauth.rsa_encrypt_password(key[1:], password,
                                                                     self.scramble))
                    continue
            raise w.ProtocolError("unexpected auth packet %r" % pkt[:8])

    # -- text protocol ------------------------------------------------------

    def _read_result(self, binary=False):
        res = Result()
        pkt = self.io.read()
        if pkt[0] == 0xFF:
            raise _parse_err(pkt)
        if pkt[0] == 0x00:
            r = w.Reader(pkt, 1)
            res.affected = r.lenenc_int()
            r.lenenc_int()
            res.status = r.uint(2)
            r.uint(2)
            res.info = r.rest().decode()
            return res
        ncols = w.Reader(pkt).lenenc_int()
        res.columns = [w.parse_column(self.io.read()) for _ in range(ncols)]
        if not self.caps & w.CLIENT_DEPRECATE_EOF:
            eof = self.io.read()
            if eof[0] != 0xFE:
                raise w.ProtocolError("missing EOF after columns")
        while True:
            pkt = self.io.read()
            if pkt[0] == 0xFF:
                raise _parse_err(pkt)
            if pkt[0] == 0xFE and len(pkt) < 0xFFFFFF:
                if self.caps & w.CLIENT_DEPRECATE_EOF:
                    res.terminator = "ok"
                    r = w.Reader(pkt, 1)
                    r.lenenc_int()
                    r.lenenc_int()
                    res.status = r.uint(2)
                else:
                    res.terminator = "eof"
                    res.status = struct.unpack("<H", pkt[3:5])[0]
                return res
            res.rows.append(self._binary_row(res.columns, pkt) if binary else self._text_row(pkt))

    @staticmethod
    def _text_row(pkt):
        r = w.Reader(pkt)
        out = []
        while r.remaining():
            v = r.lenenc_bytes()
            out.append(None if v is None else v.decode())
        return out

    @staticmethod
    def _binary_row(columns, pkt):
        r = w.Reader(pkt, 1)
        bitmap = r.fixed((len(columns) + 9) // 8)
        out = []
        for i, col in enumerate(columns):
            if bitmap[(i + 2) // 8] & (1 << ((i + 2) % 8)):
                out.append(None)
                continue
            v = w.decode_binary_value(r, col.ctype)
            out.append(v.decode() if isinstance(v, bytes) else v)
        return out

    def query(self, sql):
        """All results of a (multi-)statement query, as a list of Result."""
        self.io.reset()
        self.io.write(bytes([w.COM_QUERY]) + sql.encode())
        results = []
        while True:
            res = self._read_result()
            results.append(res)
            if not res.status & w.SERVER_MORE_RESULTS_EXISTS:
                return results

    def ping(self):
        self.io.reset()
        self.io.write(bytes([w.COM_PING]))
        pkt = self.io.read()
        return pkt[0] == 0x00

    # -- prepared statements -----------------------------------------------

    def prepare(self, sql):
        """Returns (stmt_id, column names, param count)."""
        self.io.reset()
        self.io.write(bytes([w.COM_STMT_PREPARE]) + sql.encode())
        pkt = self.io.read()
        if pkt[0] == 0xFF:
            raise _parse_err(pkt)
        sid, ncols, nparams = struct.unpack("<IHH", pkt[1:9])
        eof = not self.caps & w.CLIENT_DEPRECATE_EOF
        if nparams:
            for _ in range(nparams):
                self.io.read()
            if eof:
                self.io.read()
        cols = []
        if ncols:
            cols = [w.parse_column(self.io.read()).name for _ in range(ncols)]
            if eof:
                self.io.read()
        return sid, cols, nparams

    def execute(self, sid, params=()):
        self.io.reset()
        body = bytes([w.COM_STMT_EXECUTE]) + struct.pack("<IBI", sid, 0, 1)
        if params:
            bitmap = bytearray((len(params) + 7) // 8)
            types, values = b"", b""
            for i, p in enumerate(params):
                if p is None:
                    bitmap[i // 8] |= 1 << (i % 8)
                    types += bytes([w.TYPE_NULL, 0])
                elif isinstance(p, int):
                    types += bytes([w.TYPE_LONGLONG, 0])
                    values += struct.pack("<q", p)
                else:
                    types += bytes([w.TYPE_VAR_STRING, 0])
                    values += w.lenenc_str(p)
            body += bytes(bitmap) + b"\x01" + types + values
        self.io.write(body)
        return self._read_result(binary=True)

    def close_stmt(self, sid):
        self.io.reset()
        self.io.write(bytes([w.COM_STMT_CLOSE]) + struct.pack("<I", sid))

    def close(self):
        try:
            self.io.reset()
            self.io.write(bytes([w.COM_QUIT]))
        except OSError:
            pass
        self.sock.close()
