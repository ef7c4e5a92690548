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

A fourth form (F5) needs neither: a TiDB whose max_allowed_packet was lowered below 16 MiB
(SET GLOBAL; at least 1024) refuses a file packet over it by its header, with the same
drain and the same hidden command. The gateway cannot know the session's value, so it relays
file data in pieces of at most 1020 bytes and renumbers the rest of the answer (the tests
after "max_allowed_packet below 16 MiB"); the double reads LOAD DATA LOCAL as TiDB does
(tests/tidb_double/FACTS.md section 9).

Each test asserts the covered import never reaches the backend (MariaDB's general log, the
double's statement log)."""

import struct

import pytest

from harness import mariadb as mariadb_mod
from harness import rawproto
from harness import timing
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


_pkt = rawproto.packet  # one MySQL packet: 3-byte length, sequence id, payload


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


def _send_quietly(c, data):
    try:
        c.send_raw(data)
    except OSError:
        pass  # the gateway closed while the file was on its way


@pytest.mark.tidb_double
def test_tidb_hidden_command_in_file_packet(policy_gw, double, state):
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
def test_tidb_pipelined_packet_read_as_file_data(policy_gw, double, state):
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


@pytest.mark.tidb_double
def test_tidb_file_packet_over_max_allowed_packet(policy_gw, double, state):
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


# ------------------------------------------------------------------ max_allowed_packet below 16 MiB
#
# The session's max_allowed_packet is its copy of the global value (SET GLOBAL lowers it for
# sessions opened afterwards; the session's own is read-only), at least 1024 bytes. The gateway
# cannot know it when a file comes, so it relays file data in pieces of at most 1020 bytes
# and renumbers the rest of the exchange (proxy/command.c reframe_file_packet). Each test
# checks: no hidden command ran, the file arrived whole, the client's answer carries the
# sequence id after its own last packet, and the session still follows its commands.

LOAD_DOUBLE = b"LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE shop.orders"
KIB, MIB = 1 << 10, 1 << 20


@pytest.fixture
def max_allowed_packet(double):
    """Sets the double's global max_allowed_packet (sessions opened after it take it)."""
    st = double.state
    saved = st.global_max_allowed_packet

    def set_limit(n):
        st.global_max_allowed_packet = n

    yield set_limit
    st.global_max_allowed_packet = saved


def _answer_seq(c):
    """The next OK or ERR: (kind, code, its sequence id), the packets before it skipped."""
    while True:
        seq, p = c.read_packet()
        if p[:1] == b"\x00":
            return ("ok", 0, seq)
        if p[:1] == b"\xff":
            return ("err", struct.unpack_from("<H", p, 1)[0], seq)


def _smuggling_body(seq_due, size):
    """size bytes of "file data" that open with what a server refusing the packet by its
    header would read next: an empty packet with the id due (the drain's end), then a
    covered IMPORT INTO as a command. Padding after it."""
    body = _pkt(b"", seq_due) + _pkt(bytes([COM_QUERY]) + IMP_DOUBLE, 0)
    assert len(body) <= size
    return body + b"a" * (size - len(body))


def _load_file(c, packets):
    """LOAD DATA LOCAL of the given file packets (payloads) and the empty one after them;
    returns (the answer, the sequence id the client's own numbering says it must carry)."""
    c.send_packet(bytes([COM_QUERY]) + LOAD_DOUBLE, 0)
    seq, p = c.read_packet()
    assert p[:1] == b"\xfb", p
    for i, payload in enumerate(packets):
        c.send_packet(payload, seq + 1 + i)
    c.send_packet(b"", seq + 1 + len(packets))
    return _answer_seq(c), (seq + 2 + len(packets)) & 0xFF


def _still_followed(c):
    """The session is in step: a covered IMPORT INTO is refused by the gateway, a ping
    answered with sequence id 1."""
    c.send_packet(bytes([COM_QUERY]) + IMP_DOUBLE, 0)
    assert _answer_seq(c) == ("err", PRECHECK, 1)
    c.send_packet(bytes([COM_PING]), 0)
    assert _answer_seq(c) == ("ok", 0, 1)


@pytest.mark.tidb_double
def test_tidb_file_packet_over_lowered_max_allowed_packet(policy_gw, double, state, max_allowed_packet):
    """SET GLOBAL max_allowed_packet = 1 MiB; a file packet of 1 MiB + 1 whose payload opens
    with an empty packet and a covered IMPORT INTO. Relayed whole, TiDB reads its header,
    refuses it (ErrNetPacketTooLarge), drains up to the empty packet and runs the import as
    the next command. In pieces it is file data, all of it."""
    max_allowed_packet(1 * MIB)
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = _login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        files = len(double.state.files)
        body = _smuggling_body(3, MIB + 1)
        answer, due = _load_file(c, [body])
        assert answer == ("ok", 0, due)
        assert double.state.files[files:] == [body]
        _still_followed(c)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [], reached


@pytest.mark.tidb_double
@pytest.mark.parametrize("limit", [1 * KIB, 64 * KIB, 4 * MIB], ids=["1KiB", "64KiB", "4MiB"])
@pytest.mark.parametrize("delta", [-1, 0, 1], ids=["under", "at", "over"])
def test_tidb_file_packets_around_the_limit(policy_gw, double, state, max_allowed_packet, limit, delta):
    """Three file packets of limit - 1, limit or limit + 1 bytes, each opening with a hidden
    IMPORT INTO; none runs, the file arrives byte for byte, the answer is numbered as the
    client expects."""
    max_allowed_packet(limit)
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = _login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        files = len(double.state.files)
        packets = [_smuggling_body(3 + i, limit + delta) for i in range(3)]
        answer, due = _load_file(c, packets)
        assert answer == ("ok", 0, due)
        assert double.state.files[files:] == [b"".join(packets)]
        _still_followed(c)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [], reached


@pytest.mark.tidb_double
def test_tidb_over_limit_packet_runs_the_hidden_command_without_the_gateway(double, max_allowed_packet):
    """The double's model can fail the tests above: straight to it, the packet over 1 KiB is
    refused by its header and the IMPORT INTO in its payload runs as the next command."""
    max_allowed_packet(1 * KIB)
    c = _login("127.0.0.1", double.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        c.send_packet(bytes([COM_QUERY]) + LOAD_DOUBLE, 0)
        seq, p = c.read_packet()
        assert p[:1] == b"\xfb", p
        c.send_packet(_smuggling_body(seq + 2, KIB + 1), seq + 1)
        assert _answer_seq(c)[:2] == ("err", tidb_double.w.ER_NET_PACKET_TOO_LARGE)
        assert timing.wait_for(rx.imports, 20)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [IMP_DOUBLE.decode()], reached


@pytest.mark.tidb_double
def test_tidb_many_pieces_wrap_the_sequence_ids(policy_gw, double, state, max_allowed_packet):
    """A 300 KiB file in 16 KiB packets is 19 client packets and over 300 pieces: the server's
    sequence ids wrap past 255 while the client's do not."""
    max_allowed_packet(1 * KIB)
    gw = policy_gw()
    c = _login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        files = len(double.state.files)
        data = bytes(range(256)) * (300 * 4)
        packets = [data[i:i + 16 * KIB] for i in range(0, len(data), 16 * KIB)]
        answer, due = _load_file(c, packets)
        assert answer == ("ok", 0, due)
        assert double.state.files[files:] == [data]
        c.send_packet(bytes([COM_PING]), 0)
        assert _answer_seq(c) == ("ok", 0, 1)
    finally:
        c.close()


@pytest.fixture
def tidb_load_fails_after_file(monkeypatch):
    """The LOAD DATA fails once the file is in (a bad row, say): an ERR after the file."""
    orig = tidb_double.Session.load_data_local

    def load_data_local(self, toks):
        orig(self, toks)
        raise tidb_double.SQLError(1105, "tidb double: the file does not load")

    monkeypatch.setattr(tidb_double.Session, "load_data_local", load_data_local)


@pytest.mark.tidb_double
def test_tidb_error_after_reframed_file(policy_gw, double, state, max_allowed_packet, tidb_load_fails_after_file):
    """The server's ERR after a file relayed in pieces reaches the client with the client's
    numbering, and the next commands are followed."""
    max_allowed_packet(1 * KIB)
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = _login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        answer, due = _load_file(c, [_smuggling_body(3, 5000)])
        assert answer == ("err", 1105, due)
        _still_followed(c)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [], reached


@pytest.mark.tidb_double
def test_tidb_results_after_reframed_file_in_a_batch(policy_gw, double, state, max_allowed_packet):
    """LOAD DATA LOCAL ...; SELECT 1: the OK after the file and the SELECT's result set
    after it are renumbered, one by one from the id after the client's empty packet."""
    max_allowed_packet(1 * KIB)
    gw = policy_gw()
    c = rawproto.RawConn(gw.host, gw.port, timeout=20)
    try:
        _, g = c.read_greeting()
        caps = CAPS | 0x00010000  # CLIENT_MULTI_STATEMENTS
        c.send_packet(rawproto.handshake_response("root", USERS["root"], g["salt"], DB1, caps=caps), 1)
        seq, p = c.read_packet()
        if p[:1] == b"\xfe" and len(p) > 1:
            end = p.index(b"\0", 1)
            c.send_packet(rawproto.native_scramble(USERS["root"], p[end + 1:].rstrip(b"\0")), seq + 1)
            seq, p = c.read_packet()
        assert p[:1] == b"\x00", p
        c.send_packet(bytes([COM_QUERY]) + LOAD_DOUBLE + b"; SELECT 1", 0)
        seq, p = c.read_packet()
        assert p[:1] == b"\xfb", p
        c.send_packet(b"x" * 3000, seq + 1)
        c.send_packet(b"", seq + 2)
        want, seqs, eofs = (seq + 3) & 0xFF, [], 0
        while eofs < 2:  # OK (more results), count, column, EOF, row, EOF
            s, p = c.read_packet()
            seqs.append(s)
            eofs += p[:1] == b"\xfe" and len(p) < 9
            assert p[:1] != b"\xff", p
        assert seqs == [(want + i) & 0xFF for i in range(len(seqs))], seqs
        c.send_packet(bytes([COM_PING]), 0)
        assert _answer_seq(c) == ("ok", 0, 1)
    finally:
        c.close()


@pytest.mark.tidb_double
def test_tidb_wrong_id_after_reframed_packet(policy_gw, double, state, max_allowed_packet):
    """After a packet relayed in pieces, one with another id than the client's next (the
    hidden command again): refused by the gateway on the client's numbering, session closed."""
    max_allowed_packet(1 * KIB)
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = _login(gw.host, gw.port, "root", USERS["root"], DB1)
    try:
        rx = Received(double)
        c.send_packet(bytes([COM_QUERY]) + LOAD_DOUBLE, 0)
        seq, p = c.read_packet()
        assert p[:1] == b"\xfb", p
        c.send_packet(b"y" * 4000, seq + 1)
        # seq + 3 would be the server's next id (4000 bytes went as 4 pieces); the client's is seq + 2
        _send_quietly(c, _pkt(_smuggling_body(seq + 6, 2000), seq + 5))
        got, closed = _drain(c)
        reached = rx.imports()
    finally:
        c.close()
    assert reached == [], reached
    assert closed and got[-1:] == [("err", 1156)], got

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
        try:
            resp = self.io.read_limited(self.max_allowed_packet)
        except tidb_double.w.PacketRefused as e:
            raise tidb_double.SQLError(e.code, e.message)
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
