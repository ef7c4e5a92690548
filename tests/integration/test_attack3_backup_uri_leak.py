"""Attack 3 (credential leak, obligations): obligations.backup_uri is the location BACKUP
TABLE writes to, and for S3/GCS/Azure it carries its credentials in the query exactly like a
FROM location (`?access-key=...&secret-access-key=...`; BR reads them the same way,
br/pkg/storage/parse.go). proxy/obligations.c work() records the filled-in URI as the
backup step's `target` (begin_step -> policy/obllife.c step target), and record_json/step_json
put `backup.target` into /api/v1/status with json_string, unredacted, while the record's
`source` beside it goes through sql_redact_uri. docs/AUDIT.md: "No credential from a
location ... may reach" the outputs; docs/OBLIGATIONS.md shows `target` in the status.

Fixed at the root: the config refuses a backup URI that holds a credential (policy/config.c
backup_uri_without_secret), and the status shows a step's target redacted anyway."""

import json
import subprocess

import pytest

from harness import ports
from harness.gateway import binary_path
from policy_helpers import etcd, query, rule, state, tidb_double  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

AK, SK = "AKIAATTACK3EXAMPLE", "wJalrXUtnFEMIattack3SECRETKEY"
URI = "s3://backup/importgate/{db}/{table}/{job_id}?access-key=%s&secret-access-key=%s" % (AK, SK)
USERS = ["root::mysql_native_password", "svc:svc-secret:mysql_native_password"]


@pytest.fixture
def up(tmp_path):
    d = tidb_double.start(log=str(tmp_path / "up.jsonl"), users=USERS, job_delay=0.05,
                          empty_check=False)
    yield d
    d.stop()


def _config(etcd, up, tmp_path, uri):
    pw = tmp_path / "svc.pw"
    pw.write_text("svc-secret\n")
    return {
        "listen": "127.0.0.1:%d" % ports.free_port(),
        "backends": {"servers": ["127.0.0.1:%d" % up.port], "tls": {"mode": "off"}},
        "cluster": {"pd": [etcd.url], "timeout_ms": 2000, "name": "attack3"},
        "policy": {"rules": [rule("snap", tables=["shop.*"], log_backup="snapshot-after-import")]},
        "obligations": {"service": {"user": "svc", "password_file": str(pw), "tls": {"mode": "off"}},
                        "backup_uri": uri, "file": str(tmp_path / "obl.log")},
        "audit": {"path": str(tmp_path / "audit.jsonl")},
        "admin": {"listen": "127.0.0.1:0"},
    }


@pytest.mark.parametrize("uri", [
    URI,
    # a secret key holding '/', in the userinfo (url.Parse cuts the authority there)
    "s3://%s:%s/x@backup/importgate/{job_id}" % (AK, SK),
])
def test_backup_uri_with_a_credential_is_refused_at_load(etcd, up, tmp_path, uri):
    # The fix at the root: the backup URI is written into every record (the shared store,
    # /api/v1/status, the audit log), so the config refuses one that holds a credential, with
    # the error redacted; BR takes storage credentials from the TiKV nodes instead.
    path = tmp_path / "importgate.json"
    path.write_text(json.dumps(_config(etcd, up, tmp_path, uri)))
    r = subprocess.run([binary_path(), "-c", str(path), "--check-config"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert "obligations.backup_uri: the URI holds a credential" in r.stderr, r.stderr
    assert SK not in r.stderr + r.stdout and "wJal" not in r.stderr + r.stdout, r.stderr


def test_backup_uri_without_credential_loads(etcd, up, tmp_path):
    path = tmp_path / "importgate.json"
    path.write_text(json.dumps(_config(etcd, up, tmp_path, "s3://backup/importgate/{db}/{table}/{job_id}")))
    r = subprocess.run([binary_path(), "-c", str(path), "--check-config"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
