"""Attack 15 (replication commands): COM_REGISTER_SLAVE streams nothing. A server answers it
with one OK (MySQL sql_parse.cc dispatch_command: register_replica, then my_ok; MariaDB
register_slave, the same) or one ERR, and reads the next command. The gateway followed it as a
binlog stream (RS_OPAQUE) whose first packet was not an ERR: it stayed pending for ever, every
later answer was read as part of it, and a statement the gateway must inspect (it waits for the
answers owed) was held for ever - a session the client cannot use any more, and one the
graceful drain waits for. Not a bypass: nothing inspected is sent meanwhile."""

import struct

import pytest

from harness import rawproto
from harness.mariadb import ADMIN

COM_REGISTER_SLAVE = 0x15


def _register(server_id=7701):
    body = struct.pack("<I", server_id)
    for s in (b"replica-host", b"", b""):
        body += bytes([len(s)]) + s
    return bytes([COM_REGISTER_SLAVE]) + body + struct.pack("<HII", 3306, 0, 0)


def _after_register(host, port):
    c, _ = rawproto.login(host, port, *ADMIN)
    try:
        c.send_packet(_register(), 0)
        seq, p = c.read_packet()
        c.send_packet(b"\x03USE igtest", 0)  # not a quick statement: inspected, after the answers owed
        c.sock.settimeout(10)
        seq2, p2 = c.read_packet()
        return (seq, p[:1]), (seq2, p2[:1])
    finally:
        c.close()


def test_register_slave_answered_then_the_session_goes_on(gw, mariadb):
    direct = _after_register(mariadb.host, mariadb.port)
    assert direct == ((1, b"\x00"), (1, b"\x00")), direct
    try:
        through = _after_register(gw.host, gw.port)
    except OSError as e:  # socket.timeout: the USE held for ever behind a "stream"
        pytest.fail("no answer to the statement after COM_REGISTER_SLAVE: %r" % e)
    assert through == direct
