"""Attack 3 (credential leak, obligations): obligations.backup_uri is the location BACKUP
TABLE writes to, and for S3/GCS/Azure it carries its credentials in the query exactly like a
FROM location (`?access-key=...&secret-access-key=...`; BR reads them the same way,
br/pkg/storage/parse.go). proxy/obligations.c work() records the filled-in URI as the
backup step's `target` (begin_step -> policy/obllife.c step target), and record_json/step_json
put `backup.target` into /api/v1/status with json_string, unredacted, while the record's
`source` beside it goes through sql_redact_uri. docs/AUDIT.md: "No credential from a
location ... may reach" the outputs; docs/OBLIGATIONS.md shows `target` in the status.

The service user's password is wrong here so the step stays started and failing (visible,
deterministic); the leak is the same for a step that succeeds."""

import json
import os
import time
import urllib.request

import pytest

from harness import ports
from policy_helpers import etcd, query, rule, state, tidb_double  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

AK, SK = "AKIAATTACK3EXAMPLE", "wJalrXUtnFEMIattack3SECRETKEY"
URI = "s3://backup/importgate/{db}/{table}/{job_id}?access-key=%s&secret-access-key=%s" % (AK, SK)
USERS = ["root::mysql_native_password", "svc:svc-secret:mysql_native_password"]


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


@pytest.fixture
def up(tmp_path):
    d = tidb_double.start(log=str(tmp_path / "up.jsonl"), users=USERS, job_delay=0.05,
                          empty_check=False)
    yield d
    d.stop()


@pytest.mark.xfail(strict=True, reason="attack3: the backup step's target (obligations.backup_uri "
                   "filled in, credentials included) is shown unredacted in /api/v1/status")
def test_backup_target_credentials_not_in_status(gateway_factory, etcd, state, up, tmp_path):
    pw = tmp_path / "svc.pw"
    pw.write_text("wrong-password\n")  # the BACKUP step fails and stays visible
    admin = ports.free_port()
    state.task("pitr", ["shop.*"])
    gw = gateway_factory({
        "cluster": {"pd": [etcd.url], "timeout_ms": 2000, "name": "attack3"},
        "policy": {"rules": [rule("snap", tables=["shop.*"], log_backup="snapshot-after-import")]},
        "obligations": {"service": {"user": "svc", "password_file": str(pw), "tls": {"mode": "off"}},
                        "backup_uri": URI, "poll_ms": 200},
        "admin": {"listen": "127.0.0.1:%d" % admin},
    }, backend=("127.0.0.1", up.port))

    def status():
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/status" % admin, timeout=5) as r:
            return r.read().decode()

    out = query(gw, "IMPORT INTO t FROM 's3://bucket/t.csv'")
    assert out.ok, out

    def started():
        recs = json.loads(status())["obligations"]["records"]
        return [r for r in recs if r.get("backup", {}).get("state") in ("started", "failed")
                or r.get("backup", {}).get("last_error")]
    wait_for(started, 15, "the BACKUP step begun in /api/v1/status")
    text = status()
    audit = open(gw.config["audit"]["path"], encoding="utf-8").read() \
        if os.path.exists(gw.config["audit"]["path"]) else ""
    for where, blob in (("/api/v1/status", text), ("audit log", audit),
                        ("gateway log", gw.stderr_text())):
        assert SK not in blob and AK not in blob, (where, blob[-2000:])
