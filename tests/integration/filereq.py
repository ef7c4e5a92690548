"""filereq.py - raw-client pieces of the LOCAL INFILE bypass family (attacks 13 and 15): when
the gateway miscounts the backend's answers, a LOAD DATA LOCAL's file request can pass as an
unsolicited packet while the server waits for file data, and a command packet the server reads
as file data (the carrier) hides a covered IMPORT INTO. A client that offers
CLIENT_LOCAL_FILES, the carrier, reading up to a file request, what the gateway still sends,
and the imports that reached the double."""

import struct
import time

import pytest

from harness import rawproto
from policy_helpers import DB1, PRECHECK, USERS, Received  # puts tests/tidb_double on sys.path
import mysqlwire as w  # noqa: E402
import tidb_double  # noqa: E402

IMP = b"IMPORT INTO shop.orders FROM 's3://b/o.csv'"
LOAD = b"LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE shop.orders"
COM_QUERY, COM_PING = 0x03, 0x0E
COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE = 0x16, 0x17, 0x18, 0x19
COM_DEBUG = 0x0D
CLIENT_LOCAL_FILES = 0x80
CLOSED = "closed"

pkt = rawproto.packet  # one MySQL packet: 3-byte length, sequence id (0 unless given), payload


def carrier(cmd):
    """A command packet whose payload, read as file data, hides a covered IMPORT INTO: after
    the command byte, 3 bytes that complete a header with a wrong id (the drain refuses it),
    then the IMPORT INTO as a command packet (id 0)."""
    return pkt(bytes([cmd]) + b"\x00\x00\x07" + pkt(bytes([COM_QUERY]) + IMP, 0))


def login(gw):
    c, _ = rawproto.login(gw.host, gw.port, "root", USERS["root"], DB1,
                          caps=rawproto.DEFAULT_CAPS | CLIENT_LOCAL_FILES)
    return c


def prepare(c, sql):
    """COM_STMT_PREPARE; its definitions and their EOFs (no DEPRECATE_EOF asked) read; the id."""
    c.send_packet(bytes([COM_STMT_PREPARE]) + sql, 0)
    _, p = c.read_packet()
    assert p[:1] == b"\x00", p
    sid, ncols, nparams = struct.unpack_from("<IHH", p, 1)
    for _ in range(ncols + nparams + (1 if ncols else 0) + (1 if nparams else 0)):
        c.read_packet()
    return sid


def execute(sid):
    """A COM_STMT_EXECUTE payload of statement sid with no parameters."""
    return bytes([COM_STMT_EXECUTE]) + struct.pack("<IBI", sid, 0, 1)


def until_file_request(c, limit=12):
    """The packets the client gets, up to the LOCAL INFILE request; CLOSED last when the
    gateway closed first."""
    got = []
    try:
        while len(got) < limit:
            got.append(c.read_packet())
            if got[-1][1][:1] == b"\xfb":
                return got
    except (rawproto.Closed, OSError):
        return got + [CLOSED]
    return got


def file_requested(got):
    return bool(got) and got[-1] != CLOSED and got[-1][1][:1] == b"\xfb"


def rest(c):
    """What the gateway still sends (first bytes) until it closes (CLOSED) or goes quiet for 3 s."""
    got = []
    c.sock.settimeout(3)
    try:
        while True:
            got.append(c.read_packet()[1][:1])
    except (rawproto.Closed, ConnectionResetError, BrokenPipeError):
        got.append(CLOSED)
    except OSError:
        pass
    return got


def reached(rx, seconds=5):
    """The imports the double received, waited for up to `seconds` (none is the good outcome)."""
    deadline = time.monotonic() + seconds
    while not rx.imports() and time.monotonic() < deadline:
        time.sleep(0.1)
    return rx.imports()


def refused_control(c):
    """Positive control: a covered IMPORT INTO is refused on this very connection."""
    c.send_packet(bytes([COM_QUERY]) + IMP, 0)
    out = c.outcome(20)
    assert out[:2] == ("error", PRECHECK), out


def armed(c, double):
    """The positive control (a covered import refused), then SELECT SLEEP(3) prepared (its
    execution keeps the server busy while the commands behind it arrive); returns its id and
    the count of imports reaching `double` from here on."""
    refused_control(c)
    sid = prepare(c, b"SELECT SLEEP(3)")
    return sid, Received(double)

def exploit(c, rx, cmd):
    """The attack's end: reads up to a file request and, when one came, sends the carrier
    (command byte cmd) where file data is due and reads what follows. Returns (what the client
    got, the rest or None, the imports that reached the double)."""
    got = until_file_request(c)
    follow = None
    if file_requested(got):
        c.send_raw(carrier(cmd))
        follow = rest(c)
    return got, follow, reached(rx)


def shown(got):
    """What until_file_request read, each packet as (id, first byte), for a failure message."""
    return [g if g == CLOSED else (g[0], g[1][:1]) for g in got]


@pytest.fixture
def debug_answered_twice(monkeypatch):
    """The double answers COM_DEBUG (which TiDB refuses with one ERR) with two OKs: a stand-in
    for a miscount of the answers no fence knows (attacks 15 and 16)."""
    plain = tidb_double.Session.dispatch

    def dispatch(self, cmd, body):
        if cmd != COM_DEBUG:
            return plain(self, cmd, body)
        self.io.write(w.ok_packet(status=self.status()))
        self.io.write(w.ok_packet(status=self.status()))
        return True

    monkeypatch.setattr(tidb_double.Session, "dispatch", dispatch)
