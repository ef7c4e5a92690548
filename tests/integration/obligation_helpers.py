"""What the obligations tests share (test_obligations.py, test_obligations_executor_races.py):
the users the TiDB doubles know, an upstream/downstream pair of doubles, a gateway in front
of the upstream with obligations configured in the module's etcd, the admin API's status
and dismissal, and a bounded wait. Import the fixtures by name, as policy_helpers' are."""

import json
import time
import urllib.error
import urllib.request

import pytest

from policy_helpers import rule, tidb_double
from harness import ports

SVC_USER, SVC_PW = "svc", "svc-secret"
DOWN_USER, DOWN_PW = "down", "down-secret"
USERS = ["root::mysql_native_password", "%s:%s:mysql_native_password" % (SVC_USER, SVC_PW),
         "%s:%s:mysql_native_password" % (DOWN_USER, DOWN_PW)]
URI = "s3://backup/importgate/{db}/{table}/{job_id}"
SNAP = [rule("snap", tables=["shop.*"], log_backup="snapshot-after-import")]
REIMPORT = [rule("down", tables=["shop.*"], changefeed="reimport-downstream")]
POLL_MS = 200
LEASE_S = 10  # proxy/obligations.c LEASE_TTL_S


def wait_for(pred, timeout, what):
    """pred()'s first true value within `timeout` seconds; else fails naming `what`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


@pytest.fixture
def doubles(request, tmp_path):
    """make(job_delay=JOB_DELAY, **double options) -> (upstream, downstream); stopped at
    teardown. JOB_DELAY is the test module's, else 0.3 s. The downstream's job ids start at
    500, so the two are never confused."""
    started = []
    default_delay = getattr(request.module, "JOB_DELAY", 0.3)

    def make(job_delay=None, **kw):
        job_delay = default_delay if job_delay is None else job_delay
        up = tidb_double.start(log=str(tmp_path / ("up%d.jsonl" % len(started))), users=USERS,
                               job_delay=job_delay, empty_check=False, **kw)
        down = tidb_double.start(log=str(tmp_path / ("down%d.jsonl" % len(started))),
                                 users=USERS, job_delay=job_delay, empty_check=False,
                                 first_job_id=500)
        started.extend([up, down])
        return up, down

    yield make
    for d in started:
        d.stop()


@pytest.fixture
def obl_gw(gateway_factory, etcd, tmp_path):
    """start(up, down, rules, cluster_name="obltest", executors=None, admin=False) -> a
    gateway in front of `up` with obligations in etcd; with admin=True, (gateway, admin port)."""
    pw = tmp_path / "svc.pw"
    pw.write_text(SVC_PW + "\n")
    dpw = tmp_path / "down.pw"
    dpw.write_text(DOWN_PW + "\n")

    def start(up, down, rules, cluster_name="obltest", executors=None, admin=False):
        obl = {
            "service": {"user": SVC_USER, "password_file": str(pw), "tls": {"mode": "off"}},
            "backup_uri": URI,
            "downstream": {"servers": ["127.0.0.1:%d" % down.port], "user": DOWN_USER,
                           "password_file": str(dpw)},
            "poll_ms": POLL_MS,
        }
        if executors:
            obl["executors"] = executors
        over = {"cluster": {"pd": [etcd.url], "timeout_ms": 2000, "name": cluster_name},
                "policy": {"rules": rules}, "obligations": obl}
        if not admin:
            return gateway_factory(over, backend=("127.0.0.1", up.port))
        port = ports.free_port()
        over["admin"] = {"listen": "127.0.0.1:%d" % port}
        return gateway_factory(over, backend=("127.0.0.1", up.port)), port
    return start


def status(admin):
    """The obligations part of /api/v1/status."""
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/status" % admin, timeout=10) as r:
        return json.loads(r.read())["obligations"]


def dismiss(admin, rid):
    """POST /api/v1/obligations/dismiss: (HTTP status, JSON answer)."""
    req = urllib.request.Request("http://127.0.0.1:%d/api/v1/obligations/dismiss" % admin,
                                 data=json.dumps({"id": rid}).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=40) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
