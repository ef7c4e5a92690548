"""test_lightning.py - `importgate lightning check` and `importgate lightning run`
(docs/LIGHTNING.md) end to end: real etcd holding log backup tasks and changefeeds as BR and
TiCDC write them, real MariaDB receiving the rows, the Lightning double
(tests/lightning_double: reads the same task file, registers its etcd key, runs Lightning's
CDC/PiTR check unless told not to) and data directories in Dumpling's naming. The guarded
run's obligations are carried out by a running gateway (its obligations engine) in front of
the TiDB double: what is checked is what reached the double (BACKUP TABLE), the store's
records and the audit log. Every wait is a poll with a bound."""

import json
import os
import socket
import struct
import subprocess
import threading

import pytest
import yaml

from harness.gateway import binary_path
from policy_helpers import etcd, rule, start_double, state  # noqa: F401  (fixtures)
from test_obligations import (audit_events, backups, doubles, obl_gw, settle,  # noqa: F401
                              wait_for)

import clusterstate as cs  # noqa: E402  (tests/tidb_double, on the path through policy_helpers)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLE = os.path.join(HERE, "..", "lightning_double", "lightning_double.py")
ROWS = [("1", "a"), ("2", "b"), ("3", "c")]


def dump(root, tables, rows=ROWS):
    """A Dumpling export: {db}-schema-create.sql, {db}.{t}-schema.sql, {db}.{t}.000000001.csv."""
    os.makedirs(root, exist_ok=True)
    for full in tables:
        db, t = full.split(".", 1)
        with open(os.path.join(root, "%s-schema-create.sql" % db), "w") as f:
            f.write("CREATE DATABASE `%s`;\n" % db)
        with open(os.path.join(root, "%s.%s-schema.sql" % (db, t)), "w") as f:
            f.write("CREATE TABLE `%s` (id INT PRIMARY KEY, v VARCHAR(20));\n" % t)
        with open(os.path.join(root, "%s.%s.000000001.csv" % (db, t)), "w") as f:
            f.write("".join("%s,%s\n" % r for r in rows))
    return root


def task_file(path, source, etcd_url=None, mariadb=None, backend="local", extra="", tidb_port=1,
              tidb_host="127.0.0.1"):
    """[tidb] host and port name the gateway's TiDB (gw_config: 127.0.0.1:1; setup_run: the
    TiDB double); the Lightning double writes its rows to MariaDB (LTN_DOUBLE_STORE, below)."""
    tidb = "[tidb]\n"
    if tidb_host is not None:
        tidb += 'host = "%s"\n' % tidb_host
    if tidb_port is not None:
        tidb += "port = %d\n" % tidb_port
    if mariadb is not None:
        tidb += 'user = "igadmin"\npassword = "adminpw"\n'
    if etcd_url:
        tidb += 'pd-addr = "%s"\n' % etcd_url
    with open(path, "w") as f:
        f.write('[lightning]\ncheck-requirements = true\n[tikv-importer]\nbackend = "%s"\n'
                '[mydumper]\ndata-source-dir = "%s"\n%s\n%s' % (backend, source, extra, tidb))
    return str(path)


@pytest.fixture(autouse=True)
def _double_store(request, monkeypatch):
    """The Lightning double's rows go to MariaDB (Lightning's go to TiKV, not through the
    TiDB of [tidb] host/port, which is the gateway's backend here)."""
    if "mariadb" in request.fixturenames:
        m = request.getfixturevalue("mariadb")
        monkeypatch.setenv("LTN_DOUBLE_STORE", "127.0.0.1:%d" % m.port)


def gw_config(path, etcd_url, rules, backup_uri="s3://backup/ltn/{db}/{table}/{job_id}",
              servers=("127.0.0.1:1",), log_backup_filters="by-name", service_user=None,
              service_password_file="", audit_path=None, health_timeout_ms=None):
    # by-name: these tests plant filtered log backup tasks and test their rules per table
    # (the default, every-table, in test_filtered_task_covers_every_table_by_default).
    # service_user: the login the preflight asks [tidb] on (the doubles' root has no password);
    # None leaves the default ("importgate"), which the doubles do not know. audit_path: where
    # `lightning run` writes (the default directory does not exist here).
    cfg = {"listen": "127.0.0.1:1", "backends": {"servers": list(servers)},
           "cluster": {"pd": [etcd_url], "timeout_ms": 2000, "name": "ltntest"},
           "policy": {"rules": rules, "log_backup_filters": log_backup_filters},
           "obligations": {"backup_uri": backup_uri, "downstream": {"servers": ["127.0.0.1:1"]}}}
    if service_user is not None:
        cfg["obligations"]["service"] = {"user": service_user, "password_file": service_password_file}
    if audit_path is not None:
        cfg["audit"] = {"path": audit_path}
    if health_timeout_ms is not None:
        cfg["backends"]["health_timeout_ms"] = health_timeout_ms
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return str(path)


class GreetingListener:
    """A TiDB that only greets: accepts on a loopback port and answers each connection with
    `greeting` bytes (None: says nothing until closed). The preflight reads [tidb]'s greeting
    (TiDB X is refused; one that does not greet makes check-requirements = false unsafe)."""

    def __init__(self, greeting):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.conns = []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            if self.greeting is not None:
                c.sendall(self.greeting)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def greeting_packet(version: bytes) -> bytes:
    """A protocol-10 greeting naming `version` (what my_greeting_parse reads)."""
    body = (b"\x0a" + version + b"\x00" + struct.pack("<I", 7) + b"abcdefgh\x00"
            + struct.pack("<H", 0xf7ff) + b"\x21" + struct.pack("<H", 2) + struct.pack("<H", 0x81ff)
            + b"\x15" + b"\x00" * 10 + b"ijklmnopqrst\x00" + b"mysql_native_password\x00")
    return struct.pack("<I", len(body))[:3] + b"\x00" + body


def ig(*args, env=None, timeout=120):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([binary_path(), "lightning"] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e)


def refused_run(tmp_path, doubles, obl_gw, etcd, mariadb, table, lightning_args):
    """`importgate lightning run` of the Lightning double with lightning_args after its -config,
    which the guarded run must refuse before Lightning starts (checked here). Returns the
    process and the audit log's text ("" when nothing was written)."""
    up, down = doubles(job_delay=0.1)
    gw = obl_gw(up, down, [], cluster_name="ltntest")
    d = dump(tmp_path / "dump", [table])
    task = task_file(tmp_path / "t.toml", d, etcd_url=etcd.url, mariadb=mariadb, tidb_port=up.port)
    mark = str(tmp_path / "double.jsonl")
    p = ig("run", "-c", gw.config_path, "--task", task, "--wait", "30", "--",
           DOUBLE, "-config", task, *lightning_args, env={"LTN_DOUBLE_MARK": mark})
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert not os.path.exists(mark) or open(mark).read() == "", "Lightning was started"
    path = gw.config["audit"]["path"]
    return p, (gw.audit_text() if os.path.exists(path) else "")


def check_json(cfg, task):
    p = ig("check", "-c", cfg, "--task", task, "--json")
    assert p.returncode in (0, 1), p.stderr
    return p.returncode, json.loads(p.stdout)


def by_table(ans):
    return {"%s.%s" % (t["db"], t["table"]): t for t in ans["tables"]}


# ------------------------------------------------------------------ the preflight


def test_guide_scenarios_per_table(tmp_path, etcd, state):  # noqa: F811
    """A log backup task over shop.* and archive.*, a changefeed over dw.*: per table, the
    guide's answers (docs/LIGHTNING.md): uncovered allowed (Lightning's own check would stop,
    so check-requirements = false is needed), covered + required refused, not-needed allowed,
    snapshot-after-import and reimport-downstream allowed with their obligations."""
    state.task("pitr", ["shop.*", "archive.*"])
    state.changefeed("cf-dw", rules=["dw.*"])
    src = dump(tmp_path / "d", ["shop.orders", "staging.load1", "scratch.s", "archive.m1", "dw.dim_a"])
    state.task("pitr-scratch", ["scratch.*"])
    cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [
        rule("scratch", tables=["scratch.*"], log_backup="not-needed", changefeed="not-needed"),
        rule("archive", tables=["archive.*"], log_backup="snapshot-after-import"),
        rule("dim", tables=["dw.dim_*"], changefeed="reimport-downstream"),
    ])
    rc, ans = check_json(cfg, task_file(tmp_path / "t.toml", src, etcd_url=etcd.url))
    t = by_table(ans)
    assert rc == 1 and ans["tables_refused"] == 1, ans
    assert t["shop.orders"]["verdict"] == "refused" and t["shop.orders"]["tasks"] == ["pitr"]
    assert "shop.orders is covered by log backup task \"pitr\"" in t["shop.orders"]["reason"]
    assert t["staging.load1"]["verdict"] == "allowed" and t["staging.load1"]["lightning_check_would_stop"]
    assert t["staging.load1"]["obligations"] == []
    assert t["scratch.s"]["verdict"] == "allowed" and t["scratch.s"]["rule"] == "scratch"
    assert t["archive.m1"]["obligations"] == ["snapshot-after-import"]
    assert t["dw.dim_a"]["obligations"] == ["reimport-downstream"]
    assert t["dw.dim_a"]["changefeeds"] == ["default/default/cf-dw"]
    assert ans["check_requirements_false"]["safe"] is False
    assert "NOT safe" in ans["check_requirements_false"]["why"]
    # the human answer says the same, table by table, and exits 1
    p = ig("check", "-c", cfg, "--task", str(tmp_path / "t.toml"))
    assert p.returncode == 1
    assert "shop.orders: REFUSED" in p.stdout and "staging.load1: ALLOWED" in p.stdout
    assert "owed after the import: BACKUP TABLE archive.m1" in p.stdout


def test_filtered_task_covers_every_table_by_default(tmp_path, etcd, state):  # noqa: F811
    """policy.log_backup_filters: every-table (the default): a log backup task started with
    --filter 'shop.*' observes the ids of the tables it matched at its start, renamed or not
    (docs/TIDB_VERSIONS.md), so it covers staging.a too and the guarded run refuses it."""
    state.task("pitr", ["shop.*"])
    src = dump(tmp_path / "d", ["staging.a"])
    cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [], log_backup_filters="every-table")
    rc, ans = check_json(cfg, task_file(tmp_path / "t.toml", src, etcd_url=etcd.url))
    t = by_table(ans)
    assert rc == 1 and t["staging.a"]["verdict"] == "refused", ans
    cfg = gw_config(tmp_path / "gw2.yaml", etcd.url, [], log_backup_filters="by-name")
    rc, ans = check_json(cfg, task_file(tmp_path / "t2.toml", src, etcd_url=etcd.url))
    assert rc == 0 and by_table(ans)["staging.a"]["verdict"] != "refused", ans


def test_filter_and_routes_decide_the_tables(tmp_path, etcd, state, request):  # noqa: F811
    """The filter leaves the covered table out (exit 0, check-requirements = false safe and
    needed); a route into a covered schema makes a harmless source refused."""
    state.task("pitr", ["shop.*"])
    src = dump(tmp_path / "d", ["shop.orders", "staging.a", "raw.b"])
    # safe needs a TiDB that says, on the gateway's service login, that it is a released classic
    tidb = start_double(etcd.url, str(tmp_path / "statements.jsonl"))
    request.addfinalizer(tidb.stop)
    cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [], servers=("127.0.0.1:%d" % tidb.port,),
                    service_user="root")
    rc, ans = check_json(cfg, task_file(tmp_path / "t.toml", src, etcd_url=etcd.url, tidb_port=tidb.port,
                                        extra="filter = ['*.*', '!shop.*']\n"))
    assert rc == 0 and sorted(by_table(ans)) == ["raw.b", "staging.a"], ans
    assert ans["check_requirements_false"] == {"safe": True, "needed": True,
                                               "why": ans["check_requirements_false"]["why"]}
    rc, ans = check_json(cfg, task_file(tmp_path / "t2.toml", src, etcd_url=etcd.url, tidb_port=tidb.port, extra=(
        "filter = ['raw.*']\n[[routes]]\nschema-pattern = 'raw'\ntarget-schema = 'shop'\n")))
    t = by_table(ans)
    assert rc == 1 and list(t) == ["shop.b"], ans
    assert t["shop.b"]["source"] == {"db": "raw", "table": "b"} and t["shop.b"]["verdict"] == "refused"


def test_logical_rule_says_use_backend_tidb(tmp_path, etcd, state):  # noqa: F811
    state.task("pitr", ["shop.*"])
    src = dump(tmp_path / "d", ["shop.orders"])
    cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [rule("lg", tables=["shop.*"], log_backup="logical")])
    rc, ans = check_json(cfg, task_file(tmp_path / "t.toml", src, etcd_url=etcd.url))
    t = by_table(ans)["shop.orders"]
    assert rc == 1 and t["verdict"] == "logical", ans
    assert 'use Lightning\'s logical mode (backend = "tidb")' in t["reason"]
    # the same task in logical mode: every table allowed, nothing owed, no check to skip
    rc, ans = check_json(cfg, task_file(tmp_path / "t2.toml", src, backend="tidb"))
    assert rc == 0 and by_table(ans)["shop.orders"]["verdict"] == "allowed"
    assert ans["check_requirements_false"]["needed"] is False


@pytest.mark.parametrize("body,needle", [
    ("[mydumper\n", "not valid TOML: line 1"),
    ('[mydumper]\ndata-source-dir = "/x"\n', "tikv-importer.backend must not be empty!"),
    ('[tikv-importer]\nbackend = "local"\n[mydumper]\ndata-source-dir = "s3://b/p"\n', "external storage"),
    ('[tikv-importer]\nbackend = "local"\n[mydumper]\ndata-source-dir = "/nonexistent/ltn"\n',
     "'/nonexistent/ltn': `mydumper.data-source-dir` does not exist"),
    ('[tikv-importer]\nbackend = "local"\n[mydumper]\ndata-source-dir = "/tmp"\n[[routes]]\n'
     'schema-pattern = "a*b"\ntarget-schema = "x"\n', "must be its last character"),
])
def test_bad_task_files_are_clear_errors(tmp_path, etcd, body, needle):  # noqa: F811
    (tmp_path / "t.toml").write_text(body)
    cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [])
    p = ig("check", "-c", cfg, "--task", str(tmp_path / "t.toml"))
    assert p.returncode == 2 and needle in p.stderr, (p.returncode, p.stderr)
    assert p.stdout == ""


# ------------------------------------------------------------------ the guarded run


def guarded(gw, task, env=None, wait=60):
    return guarded_run(gw.config_path, task, env, wait)


def guarded_run(config_path, task, env=None, wait=60):
    """`importgate lightning run` with the Lightning double: its exit, and the double's runs
    (none when Lightning was not started)."""
    mark = os.path.join(os.path.dirname(task), "double.jsonl")
    e = {"LTN_DOUBLE_MARK": mark}
    e.update(env or {})
    p = ig("run", "-c", config_path, "--task", task, "--wait", str(wait), "--",
           DOUBLE, "-config", task, env=e)
    runs = [json.loads(ln) for ln in open(mark)] if os.path.exists(mark) else []
    return p, runs


def store_records(etcd_url, table, cluster="ltntest"):
    """The guarded run's records of one table in the gateway's store."""
    recs = [json.loads(v) for _, v in cs.get_prefix(etcd_url, "/importgate/%s/obligations/" % cluster)]
    return [r for r in recs if r.get("origin") == "lightning" and r["table"] == table]


def setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd_url, tables, rules):  # noqa: F811
    up, down = doubles(job_delay=0.1)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, rules, cluster_name="ltntest")
    src = dump(tmp_path / "d", tables)
    task = task_file(tmp_path / "t.toml", src, etcd_url=etcd_url, mariadb=mariadb, tidb_port=up.port)
    return up, gw, task


def rows(mariadb, table):
    import pymysql
    c = pymysql.connect(host="127.0.0.1", port=mariadb.port, user="igadmin", password="adminpw")
    try:
        with c.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM %s" % table)
            return cur.fetchone()[0]
    finally:
        c.close()


SNAP = [rule("snap", tables=["shop.*"], log_backup="snapshot-after-import")]


def test_guarded_run_backs_up_once(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["shop.ltn_a"], SNAP)
    p, runs = guarded(gw, task)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert len(runs) == 1 and runs[0]["exit"] == 0 and runs[0]["check_requirements"] is False, runs
    assert "-check-requirements=false" in runs[0]["argv"]
    assert rows(mariadb, "shop.ltn_a") == 3
    recs = store_records(etcd.url, "ltn_a")
    assert len(recs) == 1 and recs[0]["state"] == "done", recs
    settle()
    b = backups(up)
    assert len(b) == 1 and b[0]["sql"] == ("BACKUP TABLE `shop`.`ltn_a` TO 's3://backup/importgate/shop/ltn_a/%s'"
                                           % recs[0]["id"]), b
    names = [e["event"] for e in audit_events(gw, "lightning.")]
    assert names == ["lightning.decision", "lightning.started", "lightning.result"], names
    obl = [e["event"] for e in audit_events(gw, "obligation.") if e.get("obligation") == recs[0]["id"]]
    assert obl[0] == "obligation.created" and obl.count("obligation.done") == 1, obl


def test_guarded_run_refused_table_runs_nothing(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["shop.ltn_r"], [])
    p, runs = guarded(gw, task)
    assert p.returncode == 1 and runs == [], (p.stdout, p.stderr)
    assert "refused" in p.stderr
    assert [e["event"] for e in audit_events(gw, "lightning.")] == ["lightning.decision", "lightning.refused"]
    assert backups(up) == []


def test_failed_run_leaves_the_obligation_visible(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["shop.ltn_f"], SNAP)
    p, runs = guarded(gw, task, env={"LTN_DOUBLE_FAIL": "after-load"})
    assert p.returncode == 1 and runs[0]["exit"] == 1, (p.stdout, p.stderr)
    recs = store_records(etcd.url, "ltn_f")
    assert len(recs) == 1 and recs[0]["state"] == "outcome-unknown", recs
    assert recs[0]["reason"] == "lightning-failed"
    assert "lightning-failed" in p.stdout
    settle()
    assert backups(up) == []


def test_crash_after_due_backup_carried_out_once(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    """The guarded run dies between the import and the backup: the record is due in the
    store, the gateway's engine carries the BACKUP out, once."""
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["shop.ltn_c"], SNAP)
    p, runs = guarded(gw, task, env={"IG_LTN_CRASH_AT": "after-due"})
    assert p.returncode == 70 and runs[0]["exit"] == 0, (p.stdout, p.stderr)
    wait_for(lambda: backups(up), 30, "the gateway's BACKUP TABLE of the due record")
    rec = wait_for(lambda: [r for r in store_records(etcd.url, "ltn_c") if r["state"] == "done"], 30, "done")
    settle(3)
    b = backups(up)
    assert len(b) == 1 and rec[0]["id"] in b[0]["sql"], b


def test_crash_before_answer_is_parked_not_dropped(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    """The guarded run dies before Lightning's exit is recorded: once its lease expires the
    gateway takes the record over and parks it (lightning-outcome-unknown); nothing runs blindly."""
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["shop.ltn_u"], SNAP)
    p, runs = guarded(gw, task, env={"IG_LTN_CRASH_AT": "before-answer"})
    assert p.returncode == 70, (p.stdout, p.stderr)
    rec = wait_for(lambda: [r for r in store_records(etcd.url, "ltn_u")
                            if r["state"] == "outcome-unknown"],
                   40, "the record parked by the gateway")
    assert rec[0]["reason"] == "lightning-outcome-unknown"
    assert backups(up) == []


# ------------------------------------------------------------------ the data Lightning reads


def test_file_added_between_check_and_run_is_not_imported(tmp_path, doubles, obl_gw, state, etcd,  # noqa: F811
                                                          mariadb):
    """The preflight allows the only table it finds (staging.ltn_snap: "pitr" covers shop.*
    only); then a writer adds a covered table's files (shop.ltn_sneak) to the data directory
    before Lightning lists it (LTN_DOUBLE_SWAP writes them at Lightning's start). Lightning
    reads the guarded run's snapshot of the checked files (-d), so the added table is not
    imported, and the snapshot is gone afterwards."""
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["staging.ltn_snap"], [])
    src = str(tmp_path / "d")
    extra = dump(tmp_path / "later", ["shop.ltn_sneak"])
    swap = ",".join("%s:%s" % (os.path.join(extra, n), os.path.join(src, n)) for n in sorted(os.listdir(extra)))
    p, runs = guarded(gw, task, env={"LTN_DOUBLE_SWAP": swap})
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert len(runs) == 1 and runs[0]["check_requirements"] is False, runs
    assert os.path.exists(os.path.join(src, "shop.ltn_sneak.000000001.csv"))  # the writer did write
    assert runs[0]["loaded"] == {"staging.ltn_snap": 3}, runs
    d = runs[0]["argv"][runs[0]["argv"].index("-d") + 1]
    assert os.path.dirname(d) == str(tmp_path) and os.path.basename(d).startswith(".importgate-ltn-d-"), d
    assert not os.path.exists(d)
    assert rows(mariadb, "staging.ltn_snap") == 3
    import pymysql
    with pytest.raises(pymysql.err.ProgrammingError):
        rows(mariadb, "shop.ltn_sneak")


def test_snapshot_dir_on_another_filesystem_is_refused(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    """--snapshot-dir elsewhere than the data's filesystem: no hard link, no run."""
    if os.stat("/dev/shm").st_dev == os.stat(str(tmp_path)).st_dev:
        pytest.skip("/dev/shm is on the test directory's filesystem")
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["staging.ltn_xdev"], [])
    mark = os.path.join(str(tmp_path), "double.jsonl")
    p = ig("run", "-c", gw.config_path, "--task", task, "--snapshot-dir", "/dev/shm", "--", DOUBLE,
           "-config", task, env={"LTN_DOUBLE_MARK": mark})
    assert p.returncode == 1 and not os.path.exists(mark), (p.stdout, p.stderr)
    assert "give --snapshot-dir on the data's filesystem" in p.stderr
    assert [e["event"] for e in audit_events(gw, "lightning.")] == ["lightning.decision", "lightning.refused"]


# ------------------------------------------------------------------ which cluster


@pytest.mark.parametrize("pd", [None, "http://127.0.0.1:1", "10.0.0.9:2379,{etcd}"],
                         ids=["unset", "other", "one-other"])
def test_task_for_another_cluster_is_refused(tmp_path, doubles, obl_gw, state, etcd, mariadb, pd):  # noqa: F811
    """The decision reads the gateway's cluster.pd; a task whose [tidb] pd-addr is another
    cluster (or unset: Lightning would ask TiDB) imports somewhere else: check says so (exit 1,
    cluster.same false) and the guarded run starts nothing."""
    up, down = doubles(job_delay=0.1)
    gw = obl_gw(up, down, [], cluster_name="ltntest")
    src = dump(tmp_path / "d", ["staging.ltn_pd"])
    task = task_file(tmp_path / "t.toml", src, mariadb=mariadb, tidb_port=up.port,
                     etcd_url=pd.format(etcd=etcd.url) if pd else None)
    rc, ans = check_json(gw.config_path, task)
    assert rc == 1 and ans["cluster"]["same"] is False, ans
    assert ans["tables_refused"] == 0 and ans["check_requirements_false"]["safe"] is False
    assert ("pd-addr is not set" if pd is None else "is not one of the gateway's cluster.pd") in ans["cluster"]["why"]
    p, runs = guarded(gw, task)
    assert p.returncode == 1 and runs == [], (p.stdout, p.stderr)
    assert "does not import into the gateway's cluster" in p.stderr
    assert [e["event"] for e in audit_events(gw, "lightning.")] == ["lightning.decision", "lightning.refused"]


def test_task_for_the_gateways_cluster_by_another_spelling(tmp_path, etcd, state):  # noqa: F811
    """pd-addr without the scheme, upper-case host: the same address as cluster.pd."""
    src = dump(tmp_path / "d", ["staging.ok"])
    cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [])
    bare = etcd.url.split("://", 1)[1].replace("localhost", "LOCALHOST") + "/"
    rc, ans = check_json(cfg, task_file(tmp_path / "t.toml", src, etcd_url=bare))
    assert rc == 0 and ans["cluster"]["same"] is True, ans


# ------------------------------------------------------------------ guarded or not


def held_run(argv, hold, env=None):
    """Starts argv with the double holding after it registered; returns (proc, key)."""
    e = dict(os.environ)
    e.update(env or {})
    e["LTN_DOUBLE_HOLD"] = hold
    p = subprocess.Popen(argv, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    key = wait_for(lambda: os.path.exists(hold + ".registered") and open(hold + ".registered").read(), 60,
                   "Lightning's registration")
    return p, key


def guard_records(etcd_url, cluster="ltntest"):
    return [json.loads(v) for _, v in cs.get_prefix(etcd_url, "/importgate/%s/lightning-runs/" % cluster)]


def test_guarded_run_binds_its_registration(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    """While Lightning runs, the guarded run's guard record names Lightning's registration
    (key, create_revision, lease) and the gateway reports nothing; after it, the record is gone."""
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["staging.ltn_g"], [])
    hold = str(tmp_path / "hold")
    p, key = held_run([binary_path(), "lightning", "run", "-c", gw.config_path, "--task", task, "--",
                       DOUBLE, "-config", task], hold)
    try:
        g = wait_for(lambda: [r for r in guard_records(etcd.url)
                              if (r.get("registration") or {}).get("key") == key], 30, "the binding")[0]
        kv = cs._post(etcd.url, "/v3/kv/range", {"key": cs._b64(key)})["kvs"][0]
        assert g["registration"]["create_revision"] == int(kv["create_revision"]), (g, kv)
        assert g["registration"]["lease"] == int(kv["lease"]) and g["after_revision"] < int(kv["create_revision"])
        assert g["task"] == task and g["replica"].startswith("lightning-run:"), g
        wait_for(lambda: [e for e in audit_events(gw, "brie.import.started") if e["key"] == key], 30,
                 "the gateway sees the registration")
    finally:
        open(hold, "w").close()
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, (out, err)
    assert "bound to this guarded run" in err
    assert guard_records(etcd.url) == []
    wait_for(lambda: [e for e in audit_events(gw, "brie.import.ended") if e["key"] == key], 30, "ended")
    assert [e for e in audit_events(gw, "brie.import.unguarded") if e["key"] == key] == []


def test_lightning_started_by_hand_is_reported(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    """The same Lightning started without the guarded run, while the log backup task "pitr"
    exists: the gateway reports it unguarded, once, with an ERROR line."""
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["staging.ltn_h"], [])
    hold = str(tmp_path / "hold")
    p, key = held_run([DOUBLE, "-config", task, "-check-requirements=false"], hold)
    try:
        ev = wait_for(lambda: [e for e in audit_events(gw, "brie.import.unguarded") if e["key"] == key], 30,
                      "brie.import.unguarded")
    finally:
        open(hold, "w").close()
    p.communicate(timeout=120)
    assert len(ev) == 1 and ev[0]["log_backup_task_count"] == 1, ev
    assert "UNGUARDED LIGHTNING" in gw.stderr_text()


# ------------------------------------------------------------------ which TiDB


@pytest.mark.parametrize("host,port,same,needle", [
    ("127.0.0.1", 1, True, "is one of the gateway's TiDB servers"),
    (None, 1, True, "is one of the gateway's TiDB servers"),          # unset: Lightning's 127.0.0.1
    ("::1", 2, True, "is one of the gateway's TiDB servers"),
    ("0:0:0:0:0:0:0:1", 2, True, "is one of the gateway's TiDB servers"),
    ("TIDB-A.example.", 3, True, "is one of the gateway's TiDB servers"),
    ("127.0.0.1", 2, False, "is not one of the gateway's TiDB servers"),
    ("10.0.0.9", 1, False, "is not one of the gateway's TiDB servers"),
    ("localhost", 1, False, "is not one of the gateway's TiDB servers"),  # an alias is not proven
    ("127.0.0.1", None, False, "[tidb] port is not set"),
    (" 127.0.0.1", 1, False, "is not a host name or address"),
    ("", 1, False, "is not a host name or address"),
], ids=["same", "host-unset", "ipv6", "ipv6-long", "case-dot", "other-port", "other-host", "alias",
        "port-unset", "blank", "empty"])
def test_tidb_address_is_the_gateways(tmp_path, etcd, state, host, port, same, needle):  # noqa: F811
    """[tidb] host/port (where Lightning reads the schema and takes table IDs) is compared with
    backends.servers as pd-addr is with cluster.pd; the guarded run would start nothing otherwise."""
    src = dump(tmp_path / "d", ["staging.tidbaddr"])
    cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [],
                    servers=("127.0.0.1:1", "[::1]:2", "tidb-a.example:3"))
    rc, ans = check_json(cfg, task_file(tmp_path / "t.toml", src, etcd_url=etcd.url, tidb_host=host,
                                        tidb_port=port))
    assert ans["cluster"]["same"] is same and rc == (0 if same else 1), ans
    assert needle in ans["cluster"]["why"], ans["cluster"]["why"]
    if same:
        assert "pd-addr" in ans["cluster"]["why"]


# ------------------------------------------------------------------ the binding checked


def wait_file(path, what):
    return wait_for(lambda: os.path.exists(path) and (open(path).read() or True), 60, what)


def started_guarded(gw, task, tmp_path, name, env):
    """A guarded run whose Lightning double waits before registering (HOLD_BEFORE=<name>)."""
    e = dict(os.environ)
    e.update(env)
    e["LTN_DOUBLE_HOLD_BEFORE"] = str(tmp_path / name)
    p = subprocess.Popen([binary_path(), "lightning", "run", "-c", gw.config_path, "--task", task, "--wait", "60",
                          "--", DOUBLE, "-config", task], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    wait_file(str(tmp_path / name) + ".started", "the guarded Lightning running, not yet registered")
    return p


def hand_task(tmp_path, etcd_url, mariadb, up, table):
    """The task of a Lightning started by hand beside the guarded one (its own table)."""
    os.makedirs(tmp_path / "hand")
    return task_file(tmp_path / "hand" / "t.toml", dump(tmp_path / "hand" / "d", [table]), etcd_url=etcd_url,
                     mariadb=mariadb, tidb_port=up.port)


def bound_keys(etcd_url):
    return sorted((r.get("registration") or {}).get("key") for r in guard_records(etcd_url)
                  if r.get("registration"))


def bind_keys(etcd_url, cluster="ltntest"):
    return cs.get_prefix(etcd_url, "/importgate/%s/lightning-binds/" % cluster)


def unguarded(gw, key):
    return [e for e in audit_events(gw, "brie.import.unguarded") if e["key"] == key]


@pytest.mark.parametrize("child", ["runs-on", "fails"])
def test_hand_started_run_bound_then_ended_is_reported(tmp_path, doubles, obl_gw, state, etcd, mariadb,  # noqa: F811
                                                       child):
    """attack9: the guarded Lightning has not registered yet when a Lightning started by hand
    registers; the guarded run binds that one (the only candidate). It ends while the guarded
    Lightning runs: the binding is let go, and the guarded run reports it unguarded (the same
    brie.import.unguarded event), when the guarded Lightning runs on past the close grace
    (runs-on: it then registers and its own registration is bound) or when it fails (fails:
    it may never have registered)."""
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["staging.ltn_h9"], [])
    env = {"IG_LTN_CLOSE_GRACE_S": "1" if child == "runs-on" else "600", "LTN_DOUBLE_HOLD": str(tmp_path / "holdg2")}
    if child == "fails":
        env["LTN_DOUBLE_FAIL"] = "before-register"
    g = started_guarded(gw, task, tmp_path, "holdg", env)
    ht = hand_task(tmp_path, etcd.url, mariadb, up, "staging.ltn_h9_hand")
    hand, hkey = held_run([DOUBLE, "-config", ht, "-check-requirements=false"], str(tmp_path / "holdh"))
    try:
        wait_for(lambda: bound_keys(etcd.url) == [hkey], 30, "the hand-started registration bound")
        assert len(bind_keys(etcd.url)) == 1
        open(tmp_path / "holdh", "w").close()  # the hand-started Lightning ends, its key goes
        hand.communicate(timeout=60)
        if child == "runs-on":
            wait_for(lambda: unguarded(gw, hkey), 30, "the guarded run reports it")
            open(tmp_path / "holdg", "w").close()  # the guarded Lightning registers now
            own = wait_file(str(tmp_path / "holdg2") + ".registered", "its own registration")
            own = open(str(tmp_path / "holdg2") + ".registered").read()
            wait_for(lambda: bound_keys(etcd.url) == [own], 30, "its own registration bound")
    finally:
        for h in ("holdg", "holdg2", "holdh"):
            open(tmp_path / h, "w").close()
    out, err = g.communicate(timeout=120)
    # the guarded run's own report (a gateway may report it too if the run's store lease lapsed
    # under load while it was live: an over-count, never an under-count)
    ev = wait_for(lambda: [e for e in unguarded(gw, hkey) if "may not have been started" in e["message"]], 30,
                  "brie.import.unguarded for the hand-started run")
    assert len(ev) == 1 and ev[0]["kind"] == "lightning" and ev[0]["log_backup_task_count"] == 1, ev
    assert "UNGUARDED LIGHTNING" in err and hkey in err, err
    if child == "runs-on":
        assert "ended while Lightning still runs: the binding is let go" in err
    else:  # seen gone before the exit, or at the first look after it: the same report
        assert ("ended while Lightning still runs: the binding is let go" in err or
                "ended as Lightning failed: the binding is let go" in err), err
    if child == "runs-on":
        assert g.returncode == 0, (out, err)
        assert err.count("bound to this guarded run") == 2, err  # the hand-started one, then its own
        assert "ended while that run's Lightning ran on: it was another Lightning's" in ev[0]["message"]
    else:
        assert g.returncode == 1, (out, err)
        assert "ended as that run's Lightning failed: it was that Lightning's own if it registered" in ev[0]["message"]
    assert guard_records(etcd.url) == [] and bind_keys(etcd.url) == []
    # nothing else was reported: the guarded Lightning's own key was guarded
    assert {e["key"] for e in audit_events(gw, "brie.import.unguarded")} == {hkey}


def test_bound_registration_outliving_the_run_is_let_go(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    """The guarded Lightning fails before registering while the bound registration (a
    Lightning started by hand) still runs: Lightning revokes its own key before a plain exit,
    so a bound key still there is not its own: the binding is let go at once and the gateway
    reports the registration unguarded."""
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["staging.ltn_out"], [])
    g = started_guarded(gw, task, tmp_path, "holdg", {"LTN_DOUBLE_FAIL": "before-register",
                                                       "IG_LTN_REG_TTL_S": "600"})
    ht = hand_task(tmp_path, etcd.url, mariadb, up, "staging.ltn_out_hand")
    hand, hkey = held_run([DOUBLE, "-config", ht, "-check-requirements=false"], str(tmp_path / "holdh"))
    try:
        wait_for(lambda: bound_keys(etcd.url) == [hkey], 30, "the hand-started registration bound")
        open(tmp_path / "holdg", "w").close()  # the guarded Lightning fails, the bound key stays
        out, err = g.communicate(timeout=120)
        assert g.returncode == 1, (out, err)
        assert "is still there" in err and "the gateways report it as unguarded" in err, err
        assert guard_records(etcd.url) == [] and bind_keys(etcd.url) == []
        ev = wait_for(lambda: unguarded(gw, hkey), 30, "the gateway reports it")
        assert len(ev) == 1 and "no guarded run bound its registration" in ev[0]["message"], ev
    finally:
        open(tmp_path / "holdg", "w").close()
        open(tmp_path / "holdh", "w").close()
    hand.communicate(timeout=60)


def test_killed_lightning_key_is_held_until_it_expires(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    """A guarded Lightning that ends without revoking its key (killed: exit 137, as 128 +
    SIGKILL): the guard stays until the key's lease runs out, so the gateway never reports it;
    then the guard goes."""
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["staging.ltn_k"], [])
    hold = str(tmp_path / "hold")
    p, key = held_run([binary_path(), "lightning", "run", "-c", gw.config_path, "--task", task, "--",
                       DOUBLE, "-config", task], hold, env={"LTN_DOUBLE_FAIL": "killed", "LTN_DOUBLE_TTL": "4"})
    try:
        wait_for(lambda: bound_keys(etcd.url) == [key], 30, "its registration bound")
    finally:
        open(hold, "w").close()
    # the double ends at once (exit 137); its key lives on until the lease expires: still bound
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1, (out, err)
    assert "exit status 137" in out, out
    assert cs._post(etcd.url, "/v3/kv/range", {"key": cs._b64(key)}).get("kvs") is None  # expired first
    assert guard_records(etcd.url) == [] and bind_keys(etcd.url) == []
    assert "is still there" not in err
    wait_for(lambda: [e for e in audit_events(gw, "brie.import.ended") if e["key"] == key], 30, "ended")
    assert unguarded(gw, key) == []


def test_two_guarded_runs_never_bind_one_registration(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    """Two guarded runs whose binders pick the same (first) registration at once: the bind is a
    compare-and-swap, so one wins, the other looks again and binds the second registration;
    both are guarded, the gateway reports neither."""
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["staging.ltn_two"], [])
    os.makedirs(tmp_path / "b")
    task_b = task_file(tmp_path / "b" / "t.toml", dump(tmp_path / "db", ["staging.ltn_two_b"]), etcd_url=etcd.url,
                       mariadb=mariadb, tidb_port=up.port)
    env = {"IG_LTN_BIND_DELAY_MS": "3000"}
    a = started_guarded(gw, task, tmp_path, "holda", dict(env, LTN_DOUBLE_HOLD=str(tmp_path / "holda2")))
    b = started_guarded(gw, task_b, tmp_path, "holdb", dict(env, LTN_DOUBLE_HOLD=str(tmp_path / "holdb2")))
    try:
        open(tmp_path / "holda", "w").close()  # the first registers; both binders pick it
        wait_for(lambda: len(bound_keys(etcd.url)) == 1, 30, "the first registration bound")
        open(tmp_path / "holdb", "w").close()
        wait_for(lambda: len(bound_keys(etcd.url)) == 2, 30, "the second registration bound")
        keys = bound_keys(etcd.url)
        assert len(set(keys)) == 2 and len(bind_keys(etcd.url)) == 2, keys
    finally:
        for h in ("holda", "holdb", "holda2", "holdb2"):
            open(tmp_path / h, "w").close()
    outs = [x.communicate(timeout=120) for x in (a, b)]
    assert a.returncode == 0 and b.returncode == 0, outs
    errs = [e for _, e in outs]
    assert sum("was bound by another guarded run first" in e for e in errs) == 1, errs
    assert all("bound to this guarded run" in e for e in errs), errs
    for k in keys:
        wait_for(lambda: [e for e in audit_events(gw, "brie.import.ended") if e["key"] == k], 30, "ended")
    assert audit_events(gw, "brie.import.unguarded") == []
