"""ltn_answer_server.py - a server at [tidb] that greets, takes any login and answers the
Lightning preflight's question (SELECT @@version, COALESCE(/*T! TIDB_VERSION(), */ NULL)) as
the test says: rows of its choosing (NULL, NUL bytes, huge, not UTF-8, many rows), an
error, a stall after the greeting, or an answer trickled a few bytes at a time. Used by
test_attack30_*.py."""

import struct
import time

import policy_helpers  # noqa: F401  (puts tests/tidb_double on the path)
import mysqlwire as w  # noqa: E402
from harness.fakeserver import FakeServer, read_packet  # noqa: E402

# CLIENT_LONG_PASSWORD, CONNECT_WITH_DB, PROTOCOL_41, TRANSACTIONS, SECURE_CONNECTION,
# MULTI_STATEMENTS, MULTI_RESULTS, PLUGIN_AUTH, PLUGIN_AUTH_LENENC
CAPS = 0x1 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x10000 | 0x20000 | 0x80000 | 0x200000


def packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload


def packets(seq, payload):
    """payload split as the protocol splits what is 16 MiB - 1 or longer."""
    out, i = b"", 0
    while True:
        chunk = payload[i:i + 0xFFFFFF]
        out += packet(seq, chunk)
        seq += 1
        i += len(chunk)
        if len(chunk) < 0xFFFFFF:
            return out, seq


def greeting(version, salt=b"abcdefghijklmnopqrst"):
    body = (b"\x0a" + version + b"\x00" + struct.pack("<I", 7) + salt[:8] + b"\x00" +
            struct.pack("<H", CAPS & 0xffff) + b"\x21" + struct.pack("<H", 2) +
            struct.pack("<H", CAPS >> 16) + bytes([21]) + b"\x00" * 10 + salt[8:] + b"\x00" +
            b"mysql_native_password\x00")
    return packet(0, body)


def result_set(rows, ncols=2):
    seq = 1
    out = packet(seq, bytes([ncols]))
    seq += 1
    for i in range(ncols):
        out += packet(seq, w.Column("c%d" % i).packet())
        seq += 1
    out += packet(seq, w.eof_packet())
    seq += 1
    for row in rows:
        chunk, seq = packets(seq, w.text_row(row))
        out += chunk
    out += packet(seq, w.eof_packet())
    return out


class AnswerServer(FakeServer):
    """greeting: the server version it greets with. answer: bytes sent after the question
    (result_set(...) or an error packet), or None to stall after the greeting (no login
    answer). trickle: seconds between pieces of `piece` bytes of the answer."""

    def __init__(self, greeting_version=b"8.0.11-TiDB-v8.5.0", answer=None, trickle=0.0, piece=1,
                 rows_forever=None):
        self.greeting_version = greeting_version
        self.answer = answer
        self.trickle = trickle
        self.piece = piece
        self.rows_forever = rows_forever
        self.questions = []
        self.logins = 0
        FakeServer.__init__(self)

    def serve(self, c):
        c.settimeout(300)
        try:
            c.sendall(greeting(self.greeting_version))
            read_packet(c)
            self.logins += 1
            if self.answer is None and self.rows_forever is None:
                time.sleep(120)
                return
            c.sendall(packet(2, b"\x00\x00\x00\x02\x00\x00\x00"))
            _, q = read_packet(c)
            self.questions.append(q)
            if self.rows_forever is not None:
                self._forever(c)
                return
            data = self.answer
            if not self.trickle:
                c.sendall(data)
            else:
                for i in range(0, len(data), self.piece):
                    c.sendall(data[i:i + self.piece])
                    time.sleep(self.trickle)
            time.sleep(2)
        except (OSError, EOFError):
            pass
        finally:
            c.close()

    def _forever(self, c):
        head = result_set([])[:-9]  # column count, definitions, EOF: rows follow
        c.sendall(head)
        seq = 4
        row = w.text_row(self.rows_forever)
        batch = b""
        while True:
            batch += packet(seq, row)
            seq += 1
            if len(batch) > 65536:
                c.sendall(batch)
                batch = b""


def error(code=1105, msg=b"no"):
    return packet(1, w.err_packet(code, msg))
