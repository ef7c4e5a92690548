"""The audit log end to end (docs/AUDIT.md): every bulk-import
statement and its outcome recorded as JSON lines; secrets planted in every supported URI
form never reach the file; when the audit record cannot be written (file-size limit =
a full disk) imports are refused, other traffic goes on, and no line is half-written.
Real etcd, the TiDB double, PyMySQL."""

import json
import subprocess
import time

import pytest

from harness import timing
from policy_helpers import (PRECHECK, Received, connect, double, etcd, policy_gw,  # noqa: F401
                            query, rule, run, state)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SECRETS = ["AKIAPLANTED1", "PLANTEDSECRET2", "PLANTEDTOKEN3", "PLANTEDSAS4", "PLANTEDACCOUNT5",
           "PLANTEDPW6", "PLANTEDPW7", "PLANTEDSIG8", "PLANTEDCLOUD9", "PLANTEDKEY10"]

LOCATIONS = [
    "s3://bucket/t.csv?access-key=AKIAPLANTED1&secret-access-key=PLANTEDSECRET2&session-token=PLANTEDTOKEN3",
    "azure://container/t.csv?account-name=acct&sas-token=PLANTEDSAS4",
    "azure://container/t.csv?account-name=acct&account-key=PLANTEDACCOUNT5",
    "gcs://bucket/t.csv?credentials-file=/secret/PLANTEDPW6.json",
    "s3://bob:PLANTEDPW7@bucket/t.csv",
    "s3://bucket/t.csv?X-Amz-Signature=PLANTEDSIG8&region=us-east-1",
    "s3://bucket/t.csv?My%2DSecret%2DKey=PLANTEDKEY10",
]


def audit_lines(gw):
    with open(gw.config["audit"]["path"]) as f:
        text = f.read()
    assert text == "" or text.endswith("\n"), "the file must end with a complete line"
    return [json.loads(line) for line in text.splitlines()]


def test_events_and_fields(policy_gw, double, state):
    state.task("pitr-shop", filters=["shop.*"])
    gw = policy_gw(policy={"rules": [rule("stage", tables=["stage.*"], log_backup="not-needed")]},
                   audit={"log_statements": "bulk"})
    ok = query(gw, "IMPORT INTO stage.a FROM 's3://b/a.csv' WITH THREAD=2")
    assert ok.ok, ok
    bad = query(gw, "IMPORT INTO shop.b FROM 's3://b/b.csv'")
    assert bad.code == PRECHECK
    opt = query(gw, "IMPORT INTO stage.c FROM 's3://b/c.csv' WITH DISABLE_PRECHECK=1")
    assert opt.code == 8164
    query(gw, "SHOW IMPORT JOBS")
    # import.result and statement events are queued to the writer thread: wait for them.
    deadline = time.monotonic() + timing.bound(10)
    while len(audit_lines(gw)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    ev = audit_lines(gw)
    kinds = [e["event"] for e in ev]
    assert kinds == ["import.decision", "import.result", "import.decision", "import.rejected",
                     "statement"], kinds
    d = ev[0]
    for field in ("ts", "conn", "user", "client", "tls", "db", "table", "statement", "options",
                  "verdict", "rule", "tasks", "changefeeds", "obligations", "backend", "reason",
                  "rewrite", "cluster_state"):
        assert field in d, field
    assert d["table"] == "stage.a" and d["verdict"] == "add-disable-precheck" and d["rule"] == "stage"
    assert d["options"] == {"THREAD": "2"}
    assert d["rewrite"]["inserted"] == ", DISABLE_PRECHECK", d["rewrite"]
    assert d["ts"].endswith("Z") and len(d["ts"].split(".")[1]) == 7  # microseconds + Z
    r = ev[1]
    assert r["table"] == "stage.a" and r["status"] == "finished" and r["job_id"]
    assert ev[2]["verdict"] == "reject" and ev[2]["tasks"] == ["pitr-shop"]
    assert ev[2]["error"]["code"] == PRECHECK
    assert ev[3]["error"]["code"] == 8164
    assert ev[4]["statement"] == "SHOW IMPORT JOBS"


def test_planted_secrets_never_logged(policy_gw, double, state):
    state.task("elsewhere", filters=["other.*"])
    gw = policy_gw(policy={"rules": [rule("stage", tables=["stage.*"], log_backup="not-needed")]},
                   audit={"log_statements": "all"})
    c = connect(gw)
    try:
        for i, loc in enumerate(LOCATIONS):
            run(c, "IMPORT INTO stage.s%d FROM '%s' WITH CLOUD_STORAGE_URI='s3://sort/x?"
                   "secret-access-key=PLANTEDCLOUD9'" % (i, loc))
        run(c, "BACKUP TABLE stage.s0 TO 's3://bk/x?access-key=AKIAPLANTED1&secret-access-key=PLANTEDSECRET2'")
    finally:
        c.close()
    with open(gw.config["audit"]["path"]) as f:
        text = f.read()
    assert text.count("import.decision") == len(LOCATIONS)
    for s in SECRETS:
        assert s not in text, s
    assert "redacted" in text
    # stderr never carries them either.
    err = gw.stderr_text()
    for s in SECRETS:
        assert s not in err, s


def import_until_full(c, n):
    """n imports (200-byte locations) on c, each followed by a SELECT that must work: an
    import is either forwarded or refused because its audit record could not be written.
    Returns (forwarded, refused)."""
    forwarded = refused = 0
    for i in range(n):
        out = run(c, "IMPORT INTO stage.f%d FROM 's3://b/%s.csv'" % (i, "x" * 200))
        if out.code == 1105:
            assert "audit record could not be written" in out.message, out
            refused += 1
        else:
            assert out.ok, out
            forwarded += 1
        assert run(c, "SELECT 1").ok  # other traffic is fine
    return forwarded, refused


def test_full_disk_refuses_imports_keeps_traffic(policy_gw, double, state):
    state.task("elsewhere", filters=["other.*"])
    # A 4 KiB file-size limit on the gateway: the audit file fills up after a few records.
    gw = policy_gw(policy={"rules": [rule("stage", tables=["stage.*"], log_backup="not-needed")]},
                   wrapper=["prlimit", "--fsize=4096"],
                   log={"level": "warn"})
    rx = Received(double)
    c = connect(gw)
    try:
        forwarded, refused = import_until_full(c, 30)
    finally:
        c.close()
    assert forwarded > 0 and refused > 0
    # Exactly the imports whose record was written reached TiDB; never one without.
    lines = audit_lines(gw)
    decided = [e["table"] for e in lines if e["event"] == "import.decision"]
    sent = [s for s in rx.imports()]
    assert len(decided) == forwarded == len(sent)
    assert gw.alive()


# ---------------------------------------------------------------- a real full or read-only disk


@pytest.fixture
def mounts(tmp_path):
    """mount(kind, dir): a 64 KiB tmpfs ("tmpfs") or a read-only bind of dir onto itself
    ("ro"); unmounted at teardown. Skips where this process may not mount (not root)."""
    made = []

    def mount(kind, d):
        d.mkdir(parents=True, exist_ok=True)
        if kind == "tmpfs":
            cmds = [["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "igaudit", str(d)]]
        else:
            cmds = [["mount", "--bind", str(d), str(d)],
                    ["mount", "-o", "remount,ro,bind", str(d)]]
        for i, cmd in enumerate(cmds):
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                if i > 0:
                    subprocess.run(["umount", str(d)])
                pytest.skip("cannot mount here (%s): %s" % (" ".join(cmd), r.stderr.strip()))
        made.append(d)
        return d
    yield mount
    for d in reversed(made):
        subprocess.run(["umount", "-l", str(d)])


def test_full_filesystem_refuses_imports_then_recovers(policy_gw, double, state, mounts, tmp_path):
    """The audit file on a 64 KiB tmpfs that fills up (ENOSPC, not a file-size limit): imports
    are refused with the reason while other traffic goes on, and once space is freed the next
    imports are audited and forwarded again; every line in the file is whole."""
    d = mounts("tmpfs", tmp_path / "small")
    filler = d / "filler"
    filler.write_bytes(b"x" * (60 * 1024))  # leaves ~4 KiB for the audit file
    gw = policy_gw(policy={"rules": [rule("stage", tables=["stage.*"], log_backup="not-needed")]},
                   audit={"path": str(d / "audit.jsonl")}, log={"level": "warn"})
    rx = Received(double)
    c = connect(gw)
    try:
        forwarded, refused = import_until_full(c, 40)
        assert forwarded > 0 and refused > 0, (forwarded, refused)
        filler.unlink()  # the DBA frees space
        out = run(c, "IMPORT INTO stage.after FROM 's3://b/after.csv'")
        assert out.ok, out
    finally:
        c.close()
    lines = audit_lines(gw)
    decided = [e["table"] for e in lines if e["event"] == "import.decision"]
    assert decided[-1] == "stage.after", decided[-3:]
    assert len(decided) == forwarded + 1 == len(rx.imports())
    assert gw.alive()


def test_read_only_audit_directory(policy_gw, double, state, mounts, tmp_path):
    """An audit path on a read-only filesystem: the gateway refuses to start, saying why; a
    reload that moves the audit log there keeps writing the old file (and says so), and
    imports go on being audited."""
    ro = mounts("ro", tmp_path / "ro")
    with pytest.raises(Exception) as e:
        policy_gw(audit={"path": str(ro / "audit.jsonl")})
    assert "audit" in str(e.value).lower() and "read-only" in str(e.value).lower(), e.value
    gw = policy_gw(policy={"rules": [rule("stage", tables=["stage.*"], log_backup="not-needed")]})
    old = gw.config["audit"]["path"]
    gw.reload({"audit": {"path": str(ro / "audit.jsonl")}})
    deadline = time.monotonic() + timing.bound(5)
    while "audit log not reopened" not in gw.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "audit log not reopened" in gw.stderr_text()
    assert "read-only" in gw.stderr_text().lower()
    rx = Received(double)
    assert query(gw, "IMPORT INTO stage.ro FROM 's3://b/ro.csv'").ok
    assert rx.imports() == ["IMPORT INTO stage.ro FROM 's3://b/ro.csv'"]
    with open(old) as f:
        assert any(json.loads(ln).get("table") == "stage.ro" for ln in f), "not in the old file"
    assert gw.alive()
