"""attack24: a client that never authenticates writes terminal controls into the gateway's
log.

The text log turns bytes below 0x20 into blanks ("Control characters from clients never
break the one-event-per-line format", proxy/log.c), so ESC sequences go. DEL and the C1
controls did not: U+009B (CSI, in UTF-8 the bytes C2 9B) and U+009D (OSC) are valid UTF-8
and were written as they came, and so were the lone bytes 0x80..0x9F, which are the same
controls to a terminal that reads 8-bit. A user name is the client's, before any password is
checked: MariaDB refuses it and the gateway logs "authentication of '<user>' refused by
backend" (proxy/handshake.c), at INFO. Whoever reads the log on a terminal (`kubectl logs`,
`tail -f`, `docker logs`) had the client's sequence acted upon: here CSI 2J clears the screen,
OSC 0 retitles the window. The JSON format escaped C0 only and wrote C1 and DEL raw as well."""

import struct
import unicodedata

import pytest

from harness import rawproto, timing

EVIL = b"evil\xc2\x9b2J\xc2\x9d0;owned\x07\x7f\x9b31m-user"


def login_as(host, port, user):
    c = rawproto.RawConn(host, port, 10)
    try:
        _, g = c.read_greeting()
        auth = rawproto.native_scramble("wrong", g["salt"])
        flags = rawproto.DEFAULT_CAPS
        body = struct.pack("<IIB23x", flags, 1 << 24, 45) + user + b"\0" + bytes([len(auth)]) + auth
        body += b"mysql_native_password\0"
        c.send_packet(body, 1)
        return c.outcome(timing.bound(10))
    finally:
        c.close()


def controls(raw):
    """Control characters of the log but the newline: Unicode Cc (C0, DEL, C1), and lone bytes
    0x80..0x9F (C1 to an 8-bit terminal)."""
    text = raw.decode("utf-8", errors="surrogateescape")
    return [c for c in text if (unicodedata.category(c) == "Cc" and c != "\n") or 0xdc80 <= ord(c) <= 0xdc9f]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_unauthenticated_user_name_writes_no_controls_into_the_log(gateway_factory, fmt):
    gw = gateway_factory({"log": {"level": "info", "format": fmt}})
    out = login_as(gw.host, gw.port, EVIL)
    assert out[0] == "error" and out[1] == 1045, out
    assert timing.wait_for(lambda: "refused by backend" in gw.stderr_text(), 10), gw.stderr_text()[-2000:]
    with open(gw.stderr_path, "rb") as f:
        raw = f.read()
    line = [ln for ln in raw.split(b"\n") if b"refused by backend" in ln][0]
    assert b"evil" in line and b"-user" in line, line
    assert not controls(line), line
