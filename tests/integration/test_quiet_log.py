"""issue 18: at the default level the log carries what an operator acts on, not per-connection
chatter. Ordinary sessions (log in, query, COM_QUIT; or just drop the socket) write nothing
above DEBUG. And nothing a client pipelines after COM_QUIT reaches the backend: the server
reads no further, so neither does the gateway. Real MariaDB (its general log)."""

import re
import struct
import time

import pytest

from harness import clients, rawproto, timing
from harness.mariadb import NATIVE

pytestmark = pytest.mark.gateway_only

LINE = re.compile(r"^\S+ (ERROR|WARN|INFO|DEBUG) \[c(\d+)\] (.*)$")


def session_lines(gw):
    """{connection id: [(level, message)]} from the gateway's log."""
    out = {}
    for line in gw.stderr_text().splitlines():
        m = LINE.match(line)
        if m:
            out.setdefault(int(m.group(2)), []).append((m.group(1), m.group(3)))
    return out


def freed(gw):
    return {cid for cid, lines in session_lines(gw).items() if ("DEBUG", "session freed") in lines}


def test_ordinary_sessions_log_nothing_above_debug(gateway_factory):
    gw = gateway_factory({})  # the harness logs at debug, so "session freed" can be waited for
    before = freed(gw)
    for _ in range(3):
        c = clients.connect(gw, *NATIVE)
        assert clients.query_one(c, "SELECT 1") == (1,)
        c.close()  # PyMySQL sends COM_QUIT
    raw, _ = rawproto.login(gw.host, gw.port, NATIVE[0], NATIVE[1])
    raw.close()    # a client that just goes away
    assert timing.wait_for(lambda: len(freed(gw) - before) >= 4, 10), gw.stderr_text()[-3000:]
    ours = freed(gw) - before
    lines = session_lines(gw)
    loud = [(cid, lvl, msg) for cid in ours for lvl, msg in lines[cid] if lvl != "DEBUG"]
    assert loud == [], loud
    # What was quiet is still there for whoever turns debug on.
    assert any("session established" in msg for cid in ours for _, msg in lines[cid])


def test_nothing_after_com_quit_reaches_the_backend(gateway_factory, mariadb):
    gw = gateway_factory({})
    raw, _ = rawproto.login(gw.host, gw.port, NATIVE[0], NATIVE[1])
    off = mariadb.general_log_offset()
    marker = "SELECT 'after_quit_%d'" % time.monotonic_ns()
    quit_pkt = struct.pack("<I", 1)[:3] + b"\x00" + b"\x01"
    q = b"\x03" + marker.encode()
    query_pkt = struct.pack("<I", len(q))[:3] + b"\x00" + q
    raw.send_raw(quit_pkt + query_pkt)  # one write: the query is already there with the quit
    assert raw.outcome(timing.bound(10)) == "closed"
    raw.close()
    # The backend saw the quit (its thread ends); the query never came.
    assert timing.wait_for(lambda: "Quit" in mariadb.general_log_since(off), 10), mariadb.general_log_since(off)
    assert "after_quit_" not in mariadb.general_log_since(off)


def test_ordinary_prepare_from_variable_is_quiet(gateway_factory, mariadb):
    """issue 18: PREPARE ... FROM @var in ordinary prepared-statement code is decided on the
    variable's value (read from the server) and, holding no import, is neither logged above
    DEBUG nor audited as bypass.suspect. (A CREATE PROCEDURE whose body sets the variable and
    then prepares from it stays refused under the default policy.opaque_prepare: reject: the
    value cannot be known before it runs. TiDB has no stored procedures, so that refusal costs
    TiDB users nothing.)"""
    import json
    import os
    gw = gateway_factory({})
    c = clients.connect(gw, *NATIVE, db="igtest")
    try:
        cur = c.cursor()
        cur.execute("SET @q = 'SELECT 41 + 1'")
        cur.execute("PREPARE s FROM @q")
        cur.execute("EXECUTE s")
        assert cur.fetchone() == (42,)
        cur.execute("DEALLOCATE PREPARE s")
        cur.execute("SET @q = 'SELECT ?'")
        cur.execute("PREPARE s FROM @q")
        cur.execute("SET @a = 7")
        cur.execute("EXECUTE s USING @a")
        assert cur.fetchone() == (7,)
    finally:
        c.close()
    loud = [line for line in gw.stderr_text().splitlines()
            if LINE.match(line) and LINE.match(line).group(1) != "DEBUG"]
    assert loud == [], loud
    path = gw.config["audit"]["path"]
    events = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            events = [json.loads(ln)["event"] for ln in f if ln.strip()]
    assert "bypass.suspect" not in events, events
