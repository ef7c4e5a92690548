"""Audit records and the audit file stay bounded whatever the client sends (docs/AUDIT.md,
"Bounds"): a hostile but allowed IMPORT INTO of 4 MiB and 16 MiB (a comment of control
bytes, which JSON escapes sixfold) adds one bounded record, not a copy of the statement;
the gateway's peak memory grows by a small multiple of the statement, not by the escaped
size; the secret in its location never reaches the file; size-based rotation keeps the log
within audit.max_file_bytes * (audit.keep_files + 1). Real etcd, the TiDB double, PyMySQL.
The measured numbers are printed (pytest -s) and recorded in docs/AUDIT.md."""

import json
import os
import time

import pytest

from harness import timing
from policy_helpers import connect, double, etcd, policy_gw, rule, run, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

MiB = 1 << 20


def proc_kib(gw, key):
    with open("/proc/%d/status" % gw.proc.pid) as f:
        for ln in f:
            if ln.startswith(key + ":"):
                return int(ln.split()[1])
    raise KeyError(key)


def hostile(size):
    # The comment inside the statement (a trailing one is not part of the statement's span).
    head = b"IMPORT INTO stage.h /*"
    tail = b"*/ FROM 's3://b/h.csv?secret-access-key=PLANTEDHOSTILE'"
    body = bytes((i % 31) + 1 for i in range(256))  # control bytes, no '*' or '/'
    n = size - len(head) - len(tail)
    return head + (body * (n // len(body) + 1))[:n] + tail


def decision_of(path, table):
    with open(path) as f:
        text = f.read()
    # Only whole lines: the writer may be appending a later record while this reads.
    recs = [json.loads(ln) for ln in text.split("\n")[:-1]]
    return text, [r for r in recs if r["event"] == "import.decision" and r.get("table") == table]


@pytest.mark.parametrize("size", [4 * MiB, 16 * MiB])
def test_hostile_import_record_bounded(policy_gw, double, state, size):
    """The import is refused by policy (its table is in a log backup task), so the TiDB
    double, whose Python lexer would take minutes over 16 MiB of control bytes, never sees
    it; the gateway inspects, decides and audits it exactly as it would an allowed one (the
    decision record is built the same way; only its verdict differs)."""
    state.task("pitr", filters=["stage.*"])
    gw = policy_gw(audit={"log_statements": "bulk"}, limits={"max_inspect_bytes": 64 * MiB})
    path = gw.config["audit"]["path"]
    c = connect(gw, max_allowed_packet=64 * MiB, read_timeout=300, write_timeout=300)
    try:
        assert run(c, "IMPORT INTO stage.warm FROM 's3://b/w.csv'").code == 8173  # warm up every path
        deadline = time.monotonic() + timing.bound(30)
        while not decision_of(path, "stage.warm")[1] and time.monotonic() < deadline:
            time.sleep(0.05)
        before = os.path.getsize(path)
        hwm0, rss0 = proc_kib(gw, "VmHWM"), proc_kib(gw, "VmRSS")
        out = run(c, hostile(size))
        assert out.code == 8173, out
        deadline = time.monotonic() + timing.bound(60)
        while not decision_of(path, "stage.h")[1] and time.monotonic() < deadline:
            time.sleep(0.05)
        grown = os.path.getsize(path) - before
        hwm1, rss1 = proc_kib(gw, "VmHWM"), proc_kib(gw, "VmRSS")
    finally:
        c.close()
    print("\naudit bounds: %d MiB hostile import: audit +%d bytes, VmHWM %d -> %d KiB (+%d), VmRSS %d -> %d KiB"
          % (size // MiB, grown, hwm0, hwm1, hwm1 - hwm0, rss0, rss1))
    text, d = decision_of(path, "stage.h")
    assert "PLANTEDHOSTILE" not in text
    assert len(d) == 1
    assert d[0]["statement_bytes"] == size
    # a comment is free text, redacted as such; one over 64 KiB is withheld whole (attack17),
    # as a literal group of that size is
    assert "bytes of comment withheld" in d[0]["statement"], d[0]["statement"][:300]
    assert len(d[0]["statement_sha256"]) == 64
    # the statement once, cut at 8 KiB of JSON; every record of the import under 64 KiB
    assert len(json.dumps(d[0]["statement"])) <= 8192 + 2
    assert grown < 64 * 1024, grown
    # Peak memory is printed above, not asserted (a sanitizer build's quarantine and redzones
    # inflate it; it is measured on a release build by hand: docs/AUDIT.md, "Bounds").


def test_rotation_bounds_the_log(policy_gw, double, state):
    state.task("elsewhere", filters=["other.*"])
    gw = policy_gw(policy={"rules": [rule("stage", tables=["stage.*"], log_backup="not-needed")]},
                   audit={"max_file_bytes": 8192, "keep_files": 2, "log_statements": "none"})
    path = gw.config["audit"]["path"]
    c = connect(gw)
    try:
        for i in range(60):
            assert run(c, "IMPORT INTO stage.r%d FROM 's3://b/%s.csv'" % (i, "x" * 100)).ok
    finally:
        c.close()
    files = [path, path + ".1", path + ".2"]
    # The last record posted (the result of the last import) is written after the client's
    # answer: wait for it, so that no record is still being written while the files are read.
    deadline = time.monotonic() + timing.bound(30)
    while time.monotonic() < deadline:
        text = "".join(open(p).read() for p in files if os.path.exists(p))
        if '"import.result"' in text and any('"stage.r59"' in ln and '"import.result"' in ln
                                             for ln in text.splitlines()):
            break
        time.sleep(0.05)
    for p in files:
        assert os.path.exists(p), p
        assert 0 < os.path.getsize(p) <= 8192, (p, os.path.getsize(p))
    assert not os.path.exists(path + ".3")
    # the newest decision is in the current file, and the rotated files are whole lines
    for p in files:
        with open(p) as f:
            text = f.read()
        assert text.endswith("\n")
        for ln in text.splitlines():
            json.loads(ln)
    with open(path) as f:
        tables = [json.loads(ln).get("table") for ln in f]
    assert "stage.r59" in tables
