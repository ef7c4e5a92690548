"""Attack 5 (LOCAL INFILE, the server reads a packet's header and not its payload).

While the client sends a LOCAL INFILE file, the gateway is in IN_INFILE (proxy/command.c)
and relays every client packet verbatim until an empty one. The server reads the same
packets, but a server that refuses a packet on its header stops there, before the payload:

- TiDB, pkg/server/internal/packetio.go readOnePacket (pingcap/tidb 000172f4, the same in
  every release with IMPORT INTO): the 4-byte header is read, then `sequence != p.sequence`
  returns ErrInvalidSequence, and `accumulatedLength > maxAllowedPacket` returns
  ErrNetPacketTooLarge, both before `io.ReadFull(r, data)`. LOAD DATA LOCAL reads the file
  in a goroutine (pkg/server/conn.go preprocessLoadDataLocal; conn_query.go on master): on a
  read error it "drains" with readPacket until an empty packet or the next error, closes
  the pipe with the error, and the statement fails; Run writes the ERR, resets the sequence
  to 0 and reads the next command - from the middle of the refused packet's payload.
  LOAD STATS / PLAN REPLAYER LOAD (getDataFromPath) return on the first error, no drain.
- MariaDB (net_serv.cc my_real_read, the session MariaDB of this suite): "Got packets out
  of order" (1156) for the LOAD DATA, then the next command is read from the payload too
  (shown by the first test: its general log holds the statement hidden in the payload).

So a client can hide a whole command packet (sequence id 0) inside a "file data" packet
whose own sequence id is wrong: the gateway relays it as file data, the server answers
1156/8052 to the LOAD DATA and runs the hidden command - an IMPORT INTO, never decided.
Worse, the gateway then stays in IN_INFILE (it saw no empty packet), so every later command
of the session is relayed uninspected as well.

A third form needs no wrong sequence id on a file packet: a packet pipelined right behind
the LOAD DATA statement, in the same write, is framed by the gateway as a command (sequence
id 0, IN_COMMAND since the 0xFB has not come: attack 4's fix holds only packets that are not
commands; its first byte 0x00 reads as COM_SLEEP, relayed uninspected), and read by TiDB as
file data with sequence id 0 where 2 is due - same header-only read, same hidden command.
(MariaDB did not run the hidden command in this form; the gateway closed on its answers.)

Each test asserts the covered import never reaches the backend (MariaDB's general log, the
double's statement log)."""

import struct

import pytest

from harness import mariadb as mariadb_mod
from harness import rawproto
from mariadb_verdict import queries_since
from policy_helpers import DB1, PRECHECK, USERS, Received, double, etcd, policy_gw, state  # noqa: F401

import tidb_double  # noqa: E402  (on the path policy_helpers sets)

pytestmark = [pytest.mark.gateway_only]

USER, PASSWORD = mariadb_mod.NATIVE
IMP = b"IMPORT INTO igtest.seq FROM 's3://bucket/t.csv'"
IMP_DOUBLE = b"IMPORT INTO shop.orders FROM 's3://b/o.csv'"
LOAD = b"LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE igtest.seq"
COM_QUERY, COM_PING = 0x03, 0x0E
CLIENT_LOCAL_FILES = 0x80
CAPS = (rawproto.CLIENT_LONG_PASSWORD | rawproto.CLIENT_PROTOCOL_41 | rawproto.CLIENT_TRANSACTIONS |
        rawproto.CLIENT_SECURE_CONNECTION | rawproto.CLIENT_MULTI_RESULTS | rawproto.CLIENT_PLUGIN_AUTH |
        CLIENT_LOCAL_FILES)


@pytest.fixture
def gw_mariadb(gateway_factory, etcd):
    return gateway_factory({"cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                            "backends": {"tidb_version": "v8.5.0"}})


def _pkt(payload, seq):
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload


def _login(host, port, user, password, db):
    c = rawproto.RawConn(host, port, timeout=20)
    _, g = c.read_greeting()
    c.send_packet(rawproto.handshake_response(user, password, g["salt"], db, caps=CAPS), 1)
    seq, payload = c.read_packet()
    if payload[:1] == b"\xfe" and len(payload) > 1:
        end = payload.index(b"\0", 1)
        c.send_packet(rawproto.native_scramble(password, payload[end + 1:].rstrip(b"\0")), seq + 1)
        seq, payload = c.read_packet()
    assert payload[:1] == b"\x00", payload
    return c


def _answer(c):
    """One command's answer up to its OK or ERR: ('ok'|'err', code)."""
    while True:
        _, p = c.read_packet()
        if p[:1] == b"\x00":
            return ("ok", 0)
        if p[:1] == b"\xff":
            return ("err", struct.unpack_from("<H", p, 1)[0])


def _drain(c):
    """Whatever the gateway still sends, until it closes or goes quiet: (answers, closed)."""
    got = []
    c.sock.settimeout(3)
    try:
        while True:
            got.append(_answer(c))
    except (rawproto.Closed, ConnectionResetError, BrokenPipeError):
        return got, True
    except OSError:
        return got, False


def _hidden(stmt, seq_due):
    """A file-data packet with a wrong sequence id whose payload is an empty packet with the
    sequence id the server waits for (TiDB's drain loop reads it as the file's end; MariaDB
    never gets that far) followed by a command packet: `stmt`, sequence id 0."""
    return _pkt(_pkt(b"", seq_due) + _pkt(bytes([COM_QUERY]) + stmt, 0), seq_due + 7)


def _refused_plainly(host, port, user, password, db, stmt):
    c = _login(host, port, user, password, db)
    try:
        c.send_packet(bytes([COM_QUERY]) + stmt, 0)
        return _answer(c)
    finally:
        c.close()


# ------------------------------------------------------------------ MariaDB (a real server)


def test_mariadb_hidden_command_in_file_packet(gw_mariadb, mariadb, state):
    state.task("pitr_igtest", ["igtest.*"])
    assert _refused_plainly(gw_mariadb.host, gw_mariadb.port, USER, PASSWORD, "igtest", IMP) == ("err", PRECHECK)
    c = _login(gw_mariadb.host, gw_mariadb.port, USER, PASSWORD, "igtest")
    try:
        off = mariadb.general_log_offset()
        c.send_packet(bytes([COM_QUERY]) + LOAD, 0)
        seq, p = c.read_packet()
        assert p[:1] == b"\xfb", p  # the file request, sequence id 1
        c.send_raw(_hidden(IMP, seq + 1))
        _drain(c)
        got = queries_since(mariadb, off)
    finally:
        c.close()
    assert not any("IMPORT INTO" in q for q in got), got


def test_mariadb_gateway_left_in_file_phase_after_server_error(gw_mariadb, mariadb, state):
    """The file packet with a wrong sequence id hides nothing (its payload is padding): the
    server answers 1156 and is back in its command phase, the gateway is not. A plain covered
    IMPORT INTO sent next must be refused (or the session closed), not relayed."""
    state.task("pitr_igtest", ["igtest.*"])
    c = _login(gw_mariadb.host, gw_mariadb.port, USER, PASSWORD, "igtest")
    try:
        off = mariadb.general_log_offset()
        c.send_packet(bytes([COM_QUERY]) + LOAD, 0)
        seq, p = c.read_packet()
        assert p[:1] == b"\xfb", p
        # Payload: an empty packet with the due id (the file's end for a server that drains).
        c.send_raw(_pkt(_pkt(b"", seq + 1), seq + 9))
        try:
            first = _answer(c)
            c.send_packet(bytes([COM_QUERY]) + IMP, 0)
            second = _answer(c)
        except (rawproto.Closed, ConnectionResetError, BrokenPipeError, OSError):
            first = second = "closed"
        got = queries_since(mariadb, off)
    finally:
        c.close()
    assert not any("IMPORT INTO" in q for q in got), (got, first, second)
    assert second in ("closed", ("err", PRECHECK)), (first, second)


# ------------------------------------------------------------------ the TiDB double


class _Refused(Exception):
    pass


TIDB_MAX_PACKET = [64 << 20]  # max_allowed_packet: TiDB's default, 64 MiB


def _tidb_read_packet(io, st):
    """TiDB's ReadPacket / readOnePacket: per physical packet the header, the sequence check
    (before the id is counted), the id counted, the size check over the logical packet, and
    only then the payload. Raises _Refused after reading a header alone."""
    acc, data = 0, b""
    while True:
        hdr = io._recv_exact(4)
        n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
        if hdr[3] != st["seq"]:
            raise _Refused("invalid sequence, received %d while expecting %d" % (hdr[3], st["seq"]))
        st["seq"] = (st["seq"] + 1) & 0xFF
        acc += n
        if acc > TIDB_MAX_PACKET[0]:
            raise _Refused("packet too large")
        data += io._recv_exact(n)
        if n < 0xFFFFFF:
            return data


@pytest.fixture
def tidb_load_data_local(monkeypatch):
    """LOAD DATA LOCAL as TiDB's preprocessLoadDataLocal runs it (the double has none):
    writeReq (0xFB + name), then readPacket until an empty packet; on an error, drain with
    readPacket until an empty packet or the next error, and fail the statement with it."""
    orig = tidb_double.Session.execute

    def execute(self, sql):
        if not sql.upper().startswith("LOAD DATA LOCAL INFILE"):
            return orig(self, sql)
        self.io.write(b"\xfb" + b"x.csv")
        st, err = {"seq": self.io.seq}, None
        while True:
            try:
                if not _tidb_read_packet(self.io, st):
                    break
            except _Refused as e:
                err = e
                break
        if err is not None:
            while True:  # the drain: readPacket until an empty packet or an error
                try:
                    if not _tidb_read_packet(self.io, st):
                        break
                except _Refused:
                    break
        self.io.seq = st["seq"]
        if err is not None:
            raise tidb_double.SQLError(8052, str(err))
        return ("ok", 0, "")

    monkeypatch.setattr(tidb_double.Session, "execute", execute)


@pytest.mark.tidb_double
def test_tidb_hidden_command_in_file_packet(policy_gw, double, state, tidb_load_data_local):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    assert _refused_plainly(gw.host, gw.port, "root", USERS["root"], DB1, IMP_DOUBLE) == ("err", PRECHECK)
    c = _login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        c.send_packet(bytes([COM_QUERY]) + b"LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE shop.orders", 0)
        seq, p = c.read_packet()
        assert p[:1] == b"\xfb", p
        c.send_raw(_hidden(IMP_DOUBLE, seq + 1))
        _drain(c)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [], reached


@pytest.mark.tidb_double
def test_tidb_pipelined_packet_read_as_file_data(policy_gw, double, state, tidb_load_data_local):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    load = b"LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE shop.orders"
    # Sequence id 0: a command for the gateway (0x00, COM_SLEEP: relayed as it is). For TiDB,
    # file data with a wrong id: header only; the drain reads the empty packet (id 2) that
    # opens its payload, and the next command read is the hidden IMPORT INTO.
    smuggler = _pkt(_pkt(b"", 2) + _pkt(bytes([COM_QUERY]) + IMP_DOUBLE, 0), 0)
    assert smuggler[4] == 0x00
    c = _login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        c.send_raw(_pkt(bytes([COM_QUERY]) + load, 0) + smuggler)
        _drain(c)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [], reached


def _send_quietly(c, data):
    try:
        c.send_raw(data)
    except OSError:
        pass  # the gateway closed while the file was on its way


@pytest.mark.tidb_double
def test_tidb_file_packet_over_max_allowed_packet(policy_gw, double, state, tidb_load_data_local):
    """Sequence ids all right; the file's logical packet is over TiDB's default
    max_allowed_packet (64 MiB): four packets of 16 MiB - 1, then one whose header pushes the
    total over. TiDB reads that header alone (ErrNetPacketTooLarge), drains at its payload:
    an empty packet with the next id, then the hidden command."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    full = 0xFFFFFF
    c = _login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        c.send_packet(bytes([COM_QUERY]) + b"LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE shop.orders", 0)
        seq, p = c.read_packet()
        assert p[:1] == b"\xfb", p
        chunk = b"a" * full
        for i in range(4):
            _send_quietly(c, _pkt(chunk, seq + 1 + i))
        last = seq + 5
        _send_quietly(c, _pkt(_pkt(b"", last + 1) + _pkt(bytes([COM_QUERY]) + IMP_DOUBLE, 0), last))
        _drain(c)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [], reached


@pytest.mark.tidb_double
@pytest.mark.xfail(strict=True, reason="open: a TiDB whose max_allowed_packet is set below 16 MiB "
                   "refuses a file packet the gateway relays (the gateway does not know the limit)")
def test_tidb_file_packet_over_lowered_max_allowed_packet(policy_gw, double, state, tidb_load_data_local,
                                                           monkeypatch):
    monkeypatch.setattr(TIDB_MAX_PACKET, 0, 1 << 20)  # SET GLOBAL max_allowed_packet = 1 MiB
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = _login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        c.send_packet(bytes([COM_QUERY]) + b"LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE shop.orders", 0)
        seq, p = c.read_packet()
        assert p[:1] == b"\xfb", p
        body = _pkt(b"", seq + 2) + _pkt(bytes([COM_QUERY]) + IMP_DOUBLE, 0)
        _send_quietly(c, _pkt(body + b"a" * ((1 << 20) + 1 - len(body)), seq + 1))
        _drain(c)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [], reached


# ------------------------------------------------------------------ COM_CHANGE_USER


@pytest.fixture
def tidb_auth_switch_read(monkeypatch):
    """The AuthSwitchRequest's answer read as TiDB's authSwitchRequest reads it (cc.readPacket:
    the sequence check before the payload); a refused read fails COM_CHANGE_USER
    (handleChangeUser returns the error, Run writes it and reads the next command)."""
    orig = tidb_double.Session.authenticate

    def authenticate(self, user, client_plugin, resp, force_switch=False):
        entry = self.cfg.users.get(user)
        if entry is None or not (force_switch or client_plugin != entry[1]):
            return orig(self, user, client_plugin, resp, force_switch)
        self.io.write(b"\xfe" + entry[1].encode() + b"\x00" + self.scramble + b"\x00")
        st = {"seq": self.io.seq}
        try:
            resp = _tidb_read_packet(self.io, st)
        except _Refused as e:
            self.io.seq = st["seq"]
            raise tidb_double.SQLError(8052, str(e))
        self.io.seq = st["seq"]
        return orig(self, user, entry[1], resp, False)

    monkeypatch.setattr(tidb_double.Session, "authenticate", authenticate)


def _change_user(user, db, plugin):
    return (bytes([0x11]) + user.encode() + b"\0" + b"\0" + db.encode() + b"\0"
            + struct.pack("<H", 45) + plugin.encode() + b"\0")


@pytest.mark.tidb_double
def test_tidb_change_user_auth_answer_with_wrong_id(policy_gw, double, state, tidb_auth_switch_read):
    """COM_CHANGE_USER naming another plugin than the user's: TiDB asks for the switch
    (0xFE, id 1) and reads the answer. The client's "answer" carries id 9: TiDB reads its
    header alone, fails the command, and reads its next command from the payload: a covered
    IMPORT INTO, never decided (the gateway relays packets with ids other than 0 during the
    authentication exchange as they are)."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = _login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        c.send_packet(_change_user("root", DB1, "caching_sha2_password"), 0)
        seq, p = c.read_packet()
        assert p[:1] == b"\xfe", p  # the switch request
        c.send_raw(_pkt(_pkt(bytes([COM_QUERY]) + IMP_DOUBLE, 0), seq + 8))
        _drain(c)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [], reached


@pytest.mark.tidb_double
def test_tidb_command_pipelined_behind_change_user(policy_gw, double, state, tidb_auth_switch_read):
    """A packet with id 0 pipelined behind COM_CHANGE_USER is a command for the gateway
    (first byte 0x00, relayed as it is) and the switch's answer for TiDB, with id 0 where 2
    is due: header only, the command fails, the hidden IMPORT INTO in the payload runs."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    hidden = bytes([COM_QUERY]) + IMP_DOUBLE
    hidden += b" " * ((-len(hidden)) % 256)  # its length's low byte, the smuggler's first, is 0
    smuggler = _pkt(_pkt(hidden, 0), 0)
    assert smuggler[4] == 0x00
    c = _login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        c.send_raw(_pkt(_change_user("root", DB1, "caching_sha2_password"), 0) + smuggler)
        _drain(c)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [], reached
