"""Attack 12 (command phase): an empty packet where a command is due.

The gateway relayed an empty client packet with id 0 in the command phase as "the end of
LOCAL INFILE data" (ig_cmd_client_packet) and expected no answer to it. MariaDB reads an empty
packet as COM_SLEEP and answers ER_UNKNOWN_COM_ERROR (sql/sql_parse.cc do_command: an empty
packet becomes COM_SLEEP; dispatch_command answers it 1047; MariaDB/server 10.x/11.x);
TiDB's dispatch reads data[0] of it and its Run loop ends the connection (pkg/server/conn.go).
On a compressed backend leg the answers are followed by their structure alone
(numbered_answer), so MariaDB's unexpected ERR is taken as the next command's answer and every
later answer is read one command early - attack10's desync: a NULL row (0xFB) read as a LOCAL
INFILE request and the client's next packet relayed to the backend as file data, uninspected.
Here that packet is a CREATE TABLE the backend then runs as a command. A correct gateway
refuses the empty packet and closes the session."""

import time

import pymysql
import pytest

from harness import rawproto
from harness.mariadb import NATIVE

pytestmark = [pytest.mark.gateway_only]

NCOLS = 3
SMUGGLED = "attack12_smuggled"


_pkt = rawproto.packet  # one MySQL packet: 3-byte length, sequence id, payload


def _exists(mariadb):
    c = pymysql.connect(host=mariadb.host, port=mariadb.port, user=NATIVE[0], password=NATIVE[1],
                        database="igtest")
    try:
        with c.cursor() as cur:
            cur.execute("SHOW TABLES LIKE %s", (SMUGGLED,))
            return cur.fetchone() is not None
    finally:
        c.close()


def _drop(mariadb):
    c = pymysql.connect(host=mariadb.host, port=mariadb.port, user=NATIVE[0], password=NATIVE[1],
                        database="igtest")
    try:
        with c.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS igtest." + SMUGGLED)
    finally:
        c.close()


@pytest.mark.parametrize("compression", ["zlib", "off"])
def test_empty_command_never_desyncs_the_answers(gateway_factory, mariadb, compression):
    _drop(mariadb)
    gw = gateway_factory({"backends": {"compression": compression}} if compression != "off" else None)
    c, _ = rawproto.login(gw.host, gw.port, NATIVE[0], NATIVE[1], "igtest")
    sent = False
    try:
        c.send_raw(_pkt(b"") + _pkt(b"\x03SELECT NULL, 1, SLEEP(1)") + _pkt(b"\x04" + b"nosuch\x00")
                   + _pkt(b"\x0e"))
        try:
            for _ in range(NCOLS + 10):
                seq, p = c.read_packet()
                if p[:1] == b"\xfb":
                    c.send_packet(b"\x03CREATE TABLE igtest.%s (a INT)" % SMUGGLED.encode(), seq + 1)
                    sent = True
                    break
            for _ in range(10):
                c.read_packet()
        except (rawproto.Closed, OSError):
            pass
    finally:
        c.close()
    deadline = time.monotonic() + 5
    while not _exists(mariadb) and time.monotonic() < deadline:
        time.sleep(0.2)
    smuggled = _exists(mariadb)
    _drop(mariadb)
    log = gw.stderr_text()
    assert not smuggled, (sent, log[-3000:])
    assert "answered the LOCAL INFILE request" not in log, log[-3000:]
