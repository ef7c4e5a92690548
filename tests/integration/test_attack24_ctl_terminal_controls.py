"""attack24: `importgate ctl` still hands terminal controls to the operator's terminal.

attack8 made the text output show C0 control bytes (ESC, CR, ...) as '?': names and filter
rules come from etcd (a changefeed's rules are what its creator typed) and an ESC sequence in
one drove the terminal. Three ways around it remained:

- C1 controls (U+0080..U+009F, in UTF-8 the two bytes C2 80..C2 9F): U+009B is CSI and U+009D
  OSC (ECMA-48 8.3; console_codes(4): "CSI (0x9B) is equivalent to ESC [", and terminals that
  decode UTF-8 first act on the decoded U+009B). They are valid UTF-8, so JSON carries them
  raw and the byte filter (< 0x20, 0x7f) let them through.
- the gateway's error message of a non-2xx answer, printed on stderr as it came;
- --json, which printed the answer "unchanged": JSON escapes C0 controls, but a C1 control or
  DEL inside a string is legal raw JSON, so it reached the terminal raw.

The "admin server" here is a listener of the test's own that answers as the gateway does,
with the controls in the fields ctl prints (the text a changefeed's creator, a client's table
name or anyone answering at the address chooses)."""

import json
import os
import subprocess
import unicodedata

import pytest
from harness.fakeserver import HttpAnswer

CSI = "\u009b"  # C1 CSI: with "2J" it clears the screen
OSC = "\u009d"  # C1 OSC: "0;title BEL" retitles the window
NASTY = "dw" + CSI + "2J" + OSC + "0;owned\u0007" + "\u007f.*"


def ctl(port, *args):
    exe = os.environ.get("IMPORTGATE_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                                        "proxy", "importgate"))
    e = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "all_proxy", "no_proxy")}
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    return subprocess.run([exe, "ctl", *args, "--admin", "127.0.0.1:%d" % port], capture_output=True,
                          timeout=60, env=e)


def controls(raw):
    """The control characters (Unicode Cc: C0, DEL, C1) in ctl's output, but the newline;
    bytes that are not UTF-8 count too (a lone 0x9b is CSI to an 8-bit terminal)."""
    text = raw.decode("utf-8", errors="replace")
    bad = [c for c in text if (unicodedata.category(c) == "Cc" and c != "\n") or c == "\ufffd"]
    return bad


STATUS = {"server_version": "8.0.11-TiDB-v8.5.0", "connections": 0, "backends": [],
          "cluster": {"read_ok": True, "source": "http://pd:2379", "revision": 7, "age_ms": 1,
                      "log_backup_tasks": [],
                      "changefeeds": [{"id": "cf" + CSI + "31m", "state": "normal", "filter_rules": [NASTY],
                                       "sink_type": "kafka", "sink_uri": "kafka://k/t"}],
                      "problems": []},
          "obligations": {"running": True, "store": "file", "records": [
              {"id": "0" * 32, "state": "pending", "table": "shop.t" + CSI + "1A", "user": "u"}]}}


@pytest.fixture
def status_server():
    s = HttpAnswer(json.dumps(STATUS, ensure_ascii=False))
    yield s
    s.close()


@pytest.mark.parametrize("cmd", ["status", "obligations"])
def test_text_output_shows_c1_controls_as_question_marks(status_server, cmd):
    r = ctl(status_server.port, cmd)
    assert r.returncode == 0, r.stderr
    assert not controls(r.stdout), r.stdout
    if cmd == "status":
        assert b"dw?2J?0;owned??.*" in r.stdout, r.stdout
    else:
        assert b"shop.t?1A" in r.stdout, r.stdout


def test_json_output_escapes_c1_controls(status_server):
    """--json stays the answer, value for value; only the controls are written as JSON
    escapes (the same strings to any JSON reader)."""
    r = ctl(status_server.port, "status", "--json")
    assert r.returncode == 0, r.stderr
    assert not controls(r.stdout), r.stdout
    assert json.loads(r.stdout) == STATUS


@pytest.mark.parametrize("status", [400, 409, 500])
def test_error_message_on_stderr_carries_no_controls(status):
    s = HttpAnswer(json.dumps({"ok": False, "error": "refused \u001b]0;owned\u0007\r\u001b[2K" + CSI + "2J"},
                              ensure_ascii=False), status=status)
    try:
        r = ctl(s.port, "reload")
    finally:
        s.close()
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert b"HTTP %d" % status in r.stderr, r.stderr
    assert not controls(r.stderr), r.stderr
    assert b"refused ?]0;owned" in r.stderr, r.stderr


def test_refused_answer_with_ok_false_carries_no_controls():
    """A 2xx answer saying "ok": false prints its error on stderr too."""
    s = HttpAnswer(json.dumps({"ok": False, "error": "no \u001b[31m" + CSI + "2J"}, ensure_ascii=False))
    try:
        r = ctl(s.port, "reload")
    finally:
        s.close()
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert not controls(r.stderr), r.stderr
