"""test_ctl_status.py - what operators see (issue 16, "See what is covered"): the `cluster`
object of GET /api/v1/status, GET /api/v1/coverage, and `importgate ctl` (proxy/coverage.c,
proxy/covquery.c, proxy/ctl_*.c; docs/OPERATIONS.md).

A real etcd holds log backup tasks and changefeeds written in TiDB's own encodings (the
StreamBackupTaskInfo protobuf, TiCDC's ChangeFeedInfo JSON: tests/tidb_double/clusterstate.py).
Secrets are planted in a changefeed's sink URI, in a task's S3 storage (access key and secret
key fields of the protobuf) and in the PD endpoint's userinfo; no answer may carry them."""

import http.client
import json
import os
import subprocess
import urllib.parse

import pytest

from harness import ports
from obligation_helpers import SNAP, doubles, obl_gw, wait_for  # noqa: F401
from policy_helpers import (DB1, cs, double, etcd, policy_gw, query, rule, state,  # noqa: F401
                            closed_port_url)

TOKEN = "ctl-test-token-4d1f"
SECRETS = ["KafkaPw9", "SaslSecret8", "MysqlPw7", "AKIAEXAMPLEKEY1", "AwsSecretKey3"]
KAFKA_SINK = "kafka://kuser:KafkaPw9@127.0.0.1:9092/topic?sasl-password=SaslSecret8&sasl-user=u"
MYSQL_SINK = "mysql://root:MysqlPw7@127.0.0.1:3306/?worker-count=4"
TASK_START_TS = 455000000000000000
CF_START_TS = 455000000000000123


def task_with_secret_storage(url, name, filters):
    """A log backup task whose S3 storage holds credentials, encoded as BR writes it
    (kvproto brpb.proto: StreamBackupTaskInfo storage 1, start_ts 2, end_ts 3, name 4,
    table_filter 5; StorageBackend s3 3; S3 endpoint 1, region 2, bucket 3, prefix 4,
    access_key 8, secret_access_key 9)."""
    s3 = (cs.pb_bytes(1, "http://minio:9000") + cs.pb_bytes(2, "us-east-1") + cs.pb_bytes(3, "bkt")
          + cs.pb_bytes(4, "log/pitr") + cs.pb_bytes(8, "AKIAEXAMPLEKEY1") + cs.pb_bytes(9, "AwsSecretKey3"))
    info = cs.pb_bytes(1, cs.pb_bytes(3, s3, keep_empty=True), keep_empty=True)
    info += cs.pb_uint(2, TASK_START_TS) + cs.pb_uint(3, (1 << 63) - 1) + cs.pb_bytes(4, name)
    for f in filters:
        info += cs.pb_bytes(5, f, keep_empty=True)
    cs.put(url, "/tidb/br-stream/info/" + name, info)


def etcd_revision(url):
    out = cs._post(url, "/v3/kv/range", {"key": cs._b64("/tidb/")})
    return int(out["header"]["revision"])


@pytest.fixture
def cluster(state, etcd):  # noqa: F811
    """pitr covers shop.* (secret storage; its !shop.scratch excludes only that spelling:
    BR's hidden --case-sensitive is not recorded in the task); paused covers stage.t1;
    cf1 replicates dw.* to Kafka, cf2 stage.* to MySQL (both sinks with credentials)."""
    task_with_secret_storage(etcd.url, "pitr", ["shop.*", "!shop.scratch"])
    state.task("paused", filters=("stage.t1",), paused=True)
    state.changefeed("cf1", rules=("dw.*",), sink_uri=KAFKA_SINK, start_ts=CF_START_TS)
    state.changefeed("cf2", rules=("stage.*", "!stage.t9"), sink_uri=MYSQL_SINK, state="stopped")
    return etcd_revision(etcd.url)


@pytest.fixture
def admin_gw(policy_gw, tmp_path):  # noqa: F811
    """start(**kw) -> (gateway, admin port): admin API on a free port with a bearer token."""
    def start(policy=None, cluster=None):
        token_file = tmp_path / "admin.token"
        token_file.write_text(TOKEN + "\n")
        port = ports.free_port()
        gw = policy_gw(policy=policy, cluster=cluster,
                       admin={"listen": "127.0.0.1:%d" % port, "token_file": str(token_file)})
        # a verdict depends on the backend's version, known once a health check or a login
        # has read its greeting: until then it is unknown (older than v8.0: reject), and a
        # coverage read right after the start met that on a busy machine (attack24's note)
        wait_for(lambda: get_json(port, "/api/v1/status")[0]["server_version"], 30,
                 "the backend's version (read from a greeting)")
        return gw, port
    return start


def get(port, path, token=TOKEN):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": "Bearer " + token} if token else {}
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def get_json(port, path):
    status, body = get(port, path)
    assert status == 200, (status, body)
    return json.loads(body), body


def coverage(port, table, user="", host=""):
    q = urllib.parse.urlencode({"table": table, "user": user, "host": host})
    return get_json(port, "/api/v1/coverage?" + q)[0]


def secret_paths(x, secret, path=""):
    """Where in a JSON document a secret is (for the failure message)."""
    if isinstance(x, dict):
        return [p for k, v in x.items() for p in secret_paths(v, secret, path + "." + k)]
    if isinstance(x, list):
        return [p for i, v in enumerate(x) for p in secret_paths(v, secret, "%s[%d]" % (path, i))]
    return [path] if isinstance(x, str) and secret in x else []


def no_secret(raw):
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    for s in SECRETS:
        assert s not in text, "secret %r leaked in %s" % (s, text[:2000])


def ctl(gw, *args, env=None):
    exe = os.environ.get("IMPORTGATE_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                                        "proxy", "importgate"))
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    e.update(env or {})
    argv = [exe, "ctl"] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=e)


def ctl_c(gw, *args):
    return ctl(gw, args[0], "-c", gw.config_path, *args[1:])


# ---------------------------------------------------------------- /api/v1/status


def test_status_cluster_object(admin_gw, cluster):
    gw, port = admin_gw()
    doc, raw = get_json(port, "/api/v1/status")
    no_secret(raw)
    c = doc["cluster"]
    assert c["read_ok"] is True and c["error"] is None and c["stale"] is False
    assert c["revision"] >= cluster, (c["revision"], cluster)
    assert 0 <= c["age_ms"] < 600000 and c["read_at_ms"] > 0
    assert c["source"].startswith("http://127.0.0.1:")
    tasks = {t["name"]: t for t in c["log_backup_tasks"]}
    assert set(tasks) == {"pitr", "paused"}
    assert tasks["pitr"]["state"] == "normal" and tasks["pitr"]["paused"] is False
    assert tasks["pitr"]["table_filter"] == ["shop.*", "!shop.scratch"]
    assert tasks["pitr"]["start_ts"] == TASK_START_TS
    assert tasks["pitr"]["storage"] == "s3://bkt/log/pitr"
    assert tasks["paused"]["state"] == "paused" and tasks["paused"]["paused"] is True
    assert tasks["paused"]["storage"] == "s3://backup/log"
    cfs = {f["changefeed_id"]: f for f in c["changefeeds"]}
    assert set(cfs) == {"cf1", "cf2"}
    assert cfs["cf1"]["id"] == "default/default/cf1" and cfs["cf1"]["namespace"] == "default"
    assert cfs["cf1"]["state"] == "normal" and cfs["cf1"]["filter_rules"] == ["dw.*"]
    assert cfs["cf1"]["start_ts"] == CF_START_TS
    assert cfs["cf1"]["sink_type"] == "kafka"
    assert cfs["cf1"]["sink_uri"].startswith("kafka://") and "redacted" in cfs["cf1"]["sink_uri"]
    assert cfs["cf2"]["state"] == "stopped" and cfs["cf2"]["sink_type"] == "mysql"
    assert cfs["cf2"]["filter_rules"] == ["stage.*", "!stage.t9"]
    assert c["problems"] == []


def test_status_follows_etcd(admin_gw, cluster, state, etcd):  # noqa: F811
    """A change in etcd shows in the next answer: status reads through the same verified
    cache as the decisions."""
    gw, port = admin_gw()
    before = get_json(port, "/api/v1/status")[0]["cluster"]
    cs.delete_changefeed(etcd.url, "cf1")
    state.changefeed("cf3", rules=("new.*",))
    after = get_json(port, "/api/v1/status")[0]["cluster"]
    assert after["revision"] > before["revision"]
    assert {f["changefeed_id"] for f in after["changefeeds"]} == {"cf2", "cf3"}


def test_status_read_failure(admin_gw, state):  # noqa: F811
    """PD unreachable: read_ok false, a reason, no state, and coverage says the state is
    unavailable. (A PD URL carrying user:password@ is refused by the config check since
    attack6 F4, tests/unit/policy/test_config.c, so no credential can reach this reason.)"""
    gw, port = admin_gw(cluster={"pd": [closed_port_url()], "timeout_ms": 1000})
    doc, _ = get_json(port, "/api/v1/status")
    c = doc["cluster"]
    assert c["read_ok"] is False and c["error"], c
    assert c["log_backup_tasks"] == [] and c["changefeeds"] == [] and c["revision"] is None
    cov = coverage(port, "shop.orders", user="root")
    assert cov["cluster"]["read_ok"] is False and cov["policy"]["state_unavailable"] is True


# ---------------------------------------------------------------- /api/v1/coverage


def by_name(items):
    return {i["name"]: i for i in items}


def test_coverage_covered_by_task(admin_gw, cluster):
    gw, port = admin_gw()
    doc = coverage(port, "shop.orders", user="alice", host="10.0.0.7")
    assert doc["table"] == "shop.orders" and doc["user"] == "alice" and doc["host"] == "10.0.0.7"
    assert doc["cluster"]["read_ok"] is True
    t = by_name(doc["log_backup_tasks"])
    assert t["pitr"]["covers"] is True and t["pitr"]["rule"] == "shop.*" and t["pitr"]["rule_index"] == 0
    assert t["paused"]["covers"] is False and t["paused"]["rule"] is None
    assert t["paused"]["why"] == "no filter rule matches"
    f = by_name(doc["changefeeds"])
    assert f["default/default/cf1"]["covers"] is False and f["default/default/cf2"]["covers"] is False
    p = doc["policy"]
    assert p["verdict"] == "reject" and p["rule"] is None and p["obligations"] == []
    assert p["covering_tasks"] == ["pitr"] and p["covering_changefeeds"] == []
    assert "pitr" in p["message"] and p["reason"]


def test_coverage_filtered_out(admin_gw, cluster):
    """A negated rule: the filter names the table only to exclude it. A changefeed that is
    not case-sensitive excludes it; a task does not (the info does not say whether BR ran
    with its hidden --case-sensitive, under which shop.Scratch would still be observed)."""
    gw, port = admin_gw()
    doc = coverage(port, "shop.scratch", user="alice")
    t = by_name(doc["log_backup_tasks"])["pitr"]
    assert t["covers"] is True and t["rule"] == "shop.*" and t["rule_index"] == 0, t
    f = by_name(doc["changefeeds"])["default/default/cf2"]
    doc9 = coverage(port, "stage.t9", user="alice")
    f9 = by_name(doc9["changefeeds"])["default/default/cf2"]
    assert f["covers"] is False and f9["covers"] is False and f9["rule"] == "!stage.t9"
    assert "negated" in f9["why"]
    # changefeeds exist but none covers stage.t9, nor does a task: the precheck is skipped
    assert doc9["policy"]["verdict"] == "add-disable-precheck", doc9["policy"]
    assert doc9["policy"]["covering_tasks"] == [] and doc9["policy"]["covering_changefeeds"] == []
    assert doc["policy"]["covering_tasks"] == ["pitr"], doc["policy"]


def test_coverage_uncovered_and_system_schema(admin_gw, cluster):
    gw, port = admin_gw()
    doc = coverage(port, "other.t", user="alice")
    assert not any(x["covers"] for x in doc["log_backup_tasks"] + doc["changefeeds"])
    assert doc["policy"]["verdict"] == "add-disable-precheck"
    # a changefeed never covers mysql.*, whatever its rules
    doc = coverage(port, "mysql.user", user="alice")
    assert all("system schemas" in f["why"] for f in doc["changefeeds"])


def test_coverage_policy_per_user(admin_gw, cluster):
    """The same table, two users: the rule for etl_.* owes a downstream re-import, everyone
    else is refused. The answer agrees with /api/v1/explain for the same statement."""
    gw, port = admin_gw(policy={"rules": [rule("etl", users="etl_.*", tables=["dw.*"],
                                               changefeed="reimport-downstream")]})
    etl = coverage(port, "dw.facts", user="etl_loader", host="10.1.1.1")
    assert by_name(etl["changefeeds"])["default/default/cf1"]["covers"] is True
    assert by_name(etl["changefeeds"])["default/default/cf1"]["rule"] == "dw.*"
    assert etl["policy"]["verdict"] == "add-disable-precheck" and etl["policy"]["rule"] == "etl"
    assert etl["policy"]["obligations"] == ["reimport-downstream"]
    assert etl["policy"]["covering_changefeeds"] == ["default/default/cf1"]
    alice = coverage(port, "dw.facts", user="alice")
    assert alice["policy"]["verdict"] == "reject" and alice["policy"]["rule"] is None
    for user, want in (("etl_loader", "add-disable-precheck"), ("alice", "reject")):
        r = ctl_c(gw, "explain", "--user", user, "--host", "10.1.1.1", "--json",
                  "IMPORT INTO dw.facts FROM 's3://b/f.csv'")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["imports"][0]["verdict"] == want


@pytest.mark.parametrize("query, needle", [
    ("", "table parameter is required"),
    ("table=nodot", "DB.TABLE"),
    ("table=a.b&table=c.d", "given twice"),
    ("table=a.b&color=red", "unknown parameter"),
    ("table=a.%ZZ", "percent-encoding"),
    ("table=a.b%00c", "percent-encoding"),
])
def test_coverage_bad_query(admin_gw, query, needle):
    gw, port = admin_gw()
    status, body = get(port, "/api/v1/coverage?" + query)
    assert status == 400 and needle in json.loads(body)["error"], (status, body)


def test_coverage_backquoted_names_and_token(admin_gw, cluster):
    gw, port = admin_gw()
    doc = coverage(port, "`shop`.`or.ders`", user="alice")
    assert doc["db"] == "shop" and doc["table_name"] == "or.ders"
    assert by_name(doc["log_backup_tasks"])["pitr"]["covers"] is True
    assert get(port, "/api/v1/coverage?table=shop.orders", token=None)[0] == 401
    assert get(port, "/api/v1/coverage?table=shop.orders", token="wrong")[0] == 401


# ---------------------------------------------------------------- importgate ctl


def test_ctl_status_text_and_json(admin_gw, cluster):
    gw, port = admin_gw()
    r = ctl_c(gw, "status")
    assert r.returncode == 0, r.stderr
    no_secret(r.stdout)
    assert "cluster state: read from http://127.0.0.1:" in r.stdout
    assert "pitr  normal  filter: shop.*, !shop.scratch" in r.stdout
    assert "storage: s3://bkt/log/pitr" in r.stdout
    assert "default/default/cf1  normal  rules: dw.*  sink: kafka" in r.stdout
    assert "paused  paused" in r.stdout
    r = ctl_c(gw, "status", "--json")
    assert r.returncode == 0, r.stderr
    no_secret(r.stdout)
    doc = json.loads(r.stdout)
    assert {t["name"] for t in doc["cluster"]["log_backup_tasks"]} == {"pitr", "paused"}


def test_ctl_coverage(admin_gw, cluster):
    gw, port = admin_gw()
    r = ctl_c(gw, "coverage", "shop.orders", "--user", "alice")
    assert r.returncode == 0, r.stderr
    assert "pitr (normal): COVERS, rule \"shop.*\"" in r.stdout
    assert "policy: reject (rule: defaults)" in r.stdout
    r = ctl_c(gw, "coverage", "other.t", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["policy"]["verdict"] == "add-disable-precheck"
    r = ctl_c(gw, "coverage", "nodot")
    assert r.returncode == 2 and "DB.TABLE" in r.stderr


def test_ctl_explain(admin_gw, cluster):
    gw, port = admin_gw()
    r = ctl_c(gw, "explain", "--user", "alice", "--db", DB1, "IMPORT INTO orders FROM 's3://b/o.csv'")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("verdict: reject") and "error sent: PreCheck failed" in r.stdout
    r = ctl_c(gw, "explain", "IMPORT INTO t FROM 's3://b/o.csv'")
    assert r.returncode == 2 and "--user is required" in r.stderr


def test_ctl_obligations_dismiss_reload(admin_gw, cluster):
    gw, port = admin_gw()
    r = ctl_c(gw, "obligations")
    assert r.returncode == 0 and r.stdout.startswith("obligations: running, store etcd, 0 records"), \
        (r.returncode, r.stdout, r.stderr)
    r = ctl_c(gw, "dismiss", "0" * 32)
    assert r.returncode == 1 and "importgate ctl: dismiss: HTTP 409" in r.stderr, (r.stdout, r.stderr)
    r = ctl_c(gw, "dismiss", "--json", "x")
    assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False
    r = ctl_c(gw, "reload")
    assert r.returncode == 0 and r.stdout == "reloaded\n", (r.stdout, r.stderr)
    with open(gw.config_path, "a") as f:
        f.write("\nnot: [valid\n")
    r = ctl_c(gw, "reload")
    # ctl itself reads the same file: a broken one is a configuration error before any request
    assert r.returncode == 2 and "importgate ctl:" in r.stderr
    r = ctl(gw, "reload", "--admin", "127.0.0.1:%d" % port, "--token-file", _token_file(gw, TOKEN))
    assert r.returncode == 1 and "HTTP 400" in r.stderr, (r.stdout, r.stderr)


def _token_file(gw, content):
    path = os.path.join(gw.workdir, "ctl-token-%d" % abs(hash(content)))
    with open(path, "w") as f:
        f.write(content + "\n")
    return path


def test_ctl_token_and_reachability(admin_gw, cluster):
    gw, port = admin_gw()
    admin = "127.0.0.1:%d" % port
    r = ctl(gw, "status", "--admin", admin)
    assert r.returncode == 1 and "HTTP 401: missing or wrong bearer token" in r.stderr, r.stderr
    r = ctl(gw, "status", "--admin", admin, "--token-file", _token_file(gw, "wrong-token"))
    assert r.returncode == 1 and "HTTP 401" in r.stderr
    r = ctl(gw, "status", "--admin", "http://" + admin, "--token-file", _token_file(gw, TOKEN))
    assert r.returncode == 0 and "log backup tasks: 2" in r.stdout, r.stderr
    r = ctl(gw, "status", "--admin", closed_port_url().replace("http://", ""), "--token-file",
            _token_file(gw, TOKEN))
    assert r.returncode == 3 and "cannot reach the admin server" in r.stderr
    assert TOKEN not in r.stderr + r.stdout
    r = ctl(gw, "status")
    assert r.returncode == 2 and "-c GATEWAY.yaml or --admin" in r.stderr
    r = ctl(gw, "status", "--token-file", "/nonexistent/token", "--admin", admin)
    assert r.returncode == 2 and "/nonexistent/token" in r.stderr
    r = ctl(gw, "frobnicate")
    assert r.returncode == 2 and "usage: importgate ctl" in r.stderr
    r = ctl(gw, "status", "extra-arg", "--admin", admin)
    assert r.returncode == 2 and "no argument" in r.stderr


def test_ctl_admin_off(policy_gw, tmp_path):  # noqa: F811
    gw = policy_gw()
    r = ctl(gw, "status", "-c", gw.config_path)
    assert r.returncode == 2 and "admin server is off" in r.stderr, r.stderr


def test_ctl_obligations_and_dismiss_a_failing_one(doubles, obl_gw, state, tmp_path):  # noqa: F811
    """A BACKUP owed after an import keeps failing (the service password is wrong): ctl
    obligations shows it failing, ctl dismiss gives up on it, ctl obligations shows it
    dismissed. This admin server has no token: none is needed nor sent."""
    up, down = doubles(job_delay=0.1)
    state.task("pitr", ["shop.*"])
    (tmp_path / "svc.pw").write_text("wrong-password\n")
    gw, port = obl_gw(up, down, SNAP, admin=True)
    admin = "127.0.0.1:%d" % port
    out = query(gw, "IMPORT INTO t FROM 's3://bucket/t.csv'")
    assert out.ok, out

    def failing():
        r = ctl(gw, "obligations", "--admin", admin, "--json")
        assert r.returncode == 0, r.stderr
        recs = json.loads(r.stdout)["obligations"]["records"]
        return [x for x in recs if x.get("failing")]
    rid = wait_for(failing, 30, "a failing obligation")[0]["id"]
    r = ctl(gw, "obligations", "--admin", admin)
    assert r.returncode == 0 and ("  %s  " % rid) in r.stdout and "FAILING" in r.stdout, r.stdout
    assert "shop.t" in r.stdout
    r = ctl(gw, "dismiss", rid, "--admin", admin)
    assert r.returncode == 0 and r.stdout == "dismissed %s\n" % rid, (r.stdout, r.stderr)
    r = ctl(gw, "obligations", "--admin", admin)
    assert r.returncode == 0 and ("  %s  dismissed  shop.t" % rid) in r.stdout, r.stdout
    r = ctl(gw, "dismiss", rid, "--admin", admin)
    assert r.returncode == 1 and "HTTP 409" in r.stderr, r.stderr


def test_ctl_text_output_carries_no_control_bytes(admin_gw, state):  # noqa: F811
    """attack8: names and rules come from etcd (a changefeed's filter rules are what its
    creator typed) and ctl printed them raw: an ESC sequence in one rewrote the operator's
    terminal (here: a colour change, and a line erased). The text output shows such bytes as
    '?'; --json keeps them, escaped by JSON."""
    state.changefeed("cfesc", rules=("dw\x1b[31m.*", "x\r\x1b[2Ky.*"))
    gw, _ = admin_gw()
    r = ctl_c(gw, "status")
    assert r.returncode == 0, r.stderr
    assert "cfesc" in r.stdout, r.stdout
    bad = [c for c in r.stdout if (ord(c) < 0x20 and c != "\n") or ord(c) == 0x7f]
    assert not bad, repr(r.stdout)
    assert "dw?[31m.*" in r.stdout, r.stdout
    j = ctl_c(gw, "status", "--json")
    assert j.returncode == 0, j.stderr
    rules = [f["filter_rules"] for f in json.loads(j.stdout)["cluster"]["changefeeds"]]
    assert ["dw\x1b[31m.*", "x\r\x1b[2Ky.*"] in rules, rules
