"""End-to-end tests of post-import obligations (docs/OBLIGATIONS.md):
a real etcd holding a log backup task and a changefeed covering shop.*, the TiDB double as
the upstream TiDB and a second double as the downstream cluster, gateways in front of the
upstream with rules snapshot-after-import / reimport-downstream. What is checked is what
reached the doubles (their statement logs): BACKUP TABLE once after a finished import, a
DETACHED job followed with SHOW IMPORT JOB first, nothing for a failed job, the re-import
on the downstream once, exactly once across a SIGKILL and across two replicas, and after a
lost answer the import's own job found by its source (or, when that is ambiguous, the
record failed and visible, nothing run)."""

import json
import os
import re
import signal
import time

import pymysql
import pytest

from policy_helpers import connect, etcd, query, rule, state  # noqa: F401
from obligation_helpers import (DOWN_USER, LEASE_S, REIMPORT, SNAP, SVC_USER, URI,  # noqa: F401
                                doubles, obl_gw, wait_for)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


def backups(double, mark=0):
    return [e for e in double.statements[mark:] if e["sql"].upper().startswith("BACKUP")]


def sqls(double, prefix):
    return [e for e in double.statements if e["sql"].upper().startswith(prefix.upper())]


def audit_events(gw, prefix="obligation."):
    path = gw.config["audit"]["path"]
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        evs = [json.loads(ln) for ln in f if ln.strip()]
    return [e for e in evs if e["event"].startswith(prefix)]


def kill9(gw):
    """SIGKILL: no cleanup, the lease is not revoked. The factory then skips this process."""
    gw.proc.send_signal(signal.SIGKILL)
    gw.proc.wait()
    gw.proc = None
    if gw._stderr is not None:
        gw._stderr.close()
        gw._stderr = None


def import_row(out):
    assert out.ok, out
    row = out.results[0][0]
    return str(row[0]), row[5]


def settle(seconds=1.5):
    """Long enough for several polls (POLL_MS): a second run would show up."""
    time.sleep(seconds)


def test_backup_once_after_finished_import(doubles, obl_gw, state):
    up, down = doubles(job_delay=0.1)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    out = query(gw, "IMPORT INTO t FROM 's3://bucket/t.csv'")
    job, status = import_row(out)
    assert status == "finished"
    b = wait_for(lambda: backups(up), 10, "BACKUP TABLE on the upstream")
    settle()
    b = backups(up)
    assert len(b) == 1, b
    assert b[0]["sql"] == "BACKUP TABLE `shop`.`t` TO 's3://backup/importgate/shop/t/%s'" % job
    assert b[0]["user"] == SVC_USER
    assert backups(down) == [] and sqls(down, "IMPORT") == []
    ev = wait_for(lambda: [e["event"] for e in audit_events(gw)
                           if e["event"] == "obligation.done"] and audit_events(gw),
                  5, "obligation.done in the audit log")
    names = [e["event"] for e in ev]
    assert names[0] == "obligation.created" and names.count("obligation.done") == 1, names
    assert all("statement" not in e for e in ev)  # the audit never holds the credentials


def test_detached_job_followed_then_backup(doubles, obl_gw, state):
    up, down = doubles(job_delay=0.8)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    out = query(gw, "IMPORT INTO t FROM 's3://bucket/t.csv' WITH DETACHED")
    job, status = import_row(out)
    assert status == "pending"
    wait_for(lambda: backups(up), 15, "BACKUP TABLE after the detached job finished")
    settle()
    log = [e["sql"] for e in up.statements]
    shows = [i for i, s in enumerate(log) if s == "SHOW IMPORT JOB %s" % job]
    bi = [i for i, s in enumerate(log) if s.startswith("BACKUP")]
    assert len(bi) == 1, log
    assert len(shows) >= 2 and shows[0] < bi[0], log  # followed while pending/running first
    job_obj = up.state.jobs[int(job)]
    # the BACKUP came after the job's end, not before
    assert [e for e in up.statements if e["sql"].startswith("BACKUP")][0]["ts"] >= job_obj.end_at - 0.05


def test_failed_job_owes_nothing(doubles, obl_gw, state):
    up, down = doubles(job_delay=0.2)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    out = query(gw, "IMPORT INTO t FROM 's3://bucket/fail.csv' WITH DETACHED")
    job, status = import_row(out)
    assert status == "pending"
    ev = wait_for(lambda: [e for e in audit_events(gw) if e["event"] == "obligation.not_owed"],
                  10, "obligation.not_owed")
    assert ev[0]["job_id"] == job and "failed" in ev[0]["note"]
    # and a non-detached import that fails (error answer): nothing owed either
    out = query(gw, "IMPORT INTO t2 FROM 's3://bucket/fail2.csv'")
    assert out.code == 1105, out
    wait_for(lambda: len([e for e in audit_events(gw) if e["event"] == "obligation.not_owed"]) == 2,
             10, "second obligation.not_owed")
    settle()
    assert backups(up) == []


def test_reimport_runs_on_downstream_once(doubles, obl_gw, state):
    up, down = doubles(job_delay=0.2)
    state.changefeed("cf1", ["shop.*"])
    gw = obl_gw(up, down, REIMPORT)
    sql = "IMPORT INTO t FROM 's3://bucket/t.csv' WITH DETACHED"
    out = query(gw, sql)
    job, status = import_row(out)
    assert status == "pending"
    # the upstream got it with DISABLE_PRECHECK added; the downstream gets the original text
    assert [e["sql"] for e in sqls(up, "IMPORT")] == [sql + ", DISABLE_PRECHECK"]
    wait_for(lambda: [e for e in audit_events(gw) if e["event"] == "obligation.done"], 15,
             "the re-import done")
    settle()
    imps = sqls(down, "IMPORT")
    assert [e["sql"] for e in imps] == [sql], imps
    assert imps[0]["user"] == DOWN_USER and imps[0]["db"] == "shop"
    # the downstream job (detached) was followed to its end
    assert sqls(down, "SHOW IMPORT JOB 500"), [e["sql"] for e in down.statements]
    assert down.state.jobs[500].status(time.time()) == "finished"
    assert backups(up) == [] and backups(down) == []


def test_sigkill_while_following_runs_once_after_restart(doubles, obl_gw, state):
    up, down = doubles(job_delay=1.0)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    out = query(gw, "IMPORT INTO t FROM 's3://bucket/t.csv' WITH DETACHED")
    job, _ = import_row(out)
    wait_for(lambda: sqls(up, "SHOW IMPORT JOB"), 5, "the job followed")
    kill9(gw)
    assert backups(up) == []
    gw2 = obl_gw(up, down, SNAP)
    # the dead replica's claim lasts until its lease expires, then the new one takes over
    wait_for(lambda: backups(up), LEASE_S + 15, "BACKUP by the restarted gateway")
    settle(2)
    b = backups(up)
    assert len(b) == 1, b
    assert b[0]["sql"].endswith("/%s'" % job)
    names = [e["event"] for e in audit_events(gw2)]
    assert "obligation.claimed" in names and names.count("obligation.done") == 1, names


def test_two_replicas_one_dies_other_completes_once(doubles, obl_gw, state):
    up, down = doubles(job_delay=1.0)
    state.task("pitr", ["shop.*"])
    state.changefeed("cf1", ["shop.*"])
    rules = [rule("both", tables=["shop.*"], log_backup="snapshot-after-import",
                  changefeed="reimport-downstream")]
    gw1 = obl_gw(up, down, rules)
    gw2 = obl_gw(up, down, rules)
    out = query(gw1, "IMPORT INTO t FROM 's3://bucket/t.csv' WITH DETACHED")
    job, _ = import_row(out)
    wait_for(lambda: sqls(up, "SHOW IMPORT JOB"), 5, "the job followed by gw1")
    time.sleep(0.5)
    assert not [e for e in audit_events(gw2) if e["event"] == "obligation.claimed"]
    kill9(gw1)
    wait_for(lambda: [e for e in audit_events(gw2) if e["event"] == "obligation.done"],
             LEASE_S + 25, "gw2 completing the obligation")
    settle(2)
    assert len(backups(up)) == 1, backups(up)
    assert len(sqls(down, "IMPORT")) == 1, [e["sql"] for e in down.statements]
    ev2 = audit_events(gw2)
    assert [e["event"] for e in ev2].count("obligation.claimed") == 1
    assert all(e.get("job_id") in (None, job) for e in ev2)


def test_failing_obligation_visible_then_dismissed(doubles, obl_gw, state, tmp_path):
    """The service user's password is wrong: the BACKUP step keeps failing, is visible in
    /api/v1/status and importgate_obligations{state="failed"}, until an operator dismisses it
    through the admin API; it never reaches the upstream."""
    import urllib.request
    from harness import ports
    up, down = doubles(job_delay=0.1)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    admin = ports.free_port()
    (tmp_path / "svc.pw").write_text("wrong-password\n")
    gw.stop()
    gw.config["admin"] = {"listen": "127.0.0.1:%d" % admin}
    gw.start()

    def get(path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (admin, path), timeout=5) as r:
            return r.read().decode()

    def post(path, body):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (admin, path), data=body.encode(),
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    out = query(gw, "IMPORT INTO t FROM 's3://bucket/t.csv'")
    import_row(out)

    def failing():
        st = json.loads(get("/api/v1/status"))["obligations"]
        return [r for r in st["records"] if r.get("backup", {}).get("last_error")]
    recs = wait_for(failing, 15, "a failing BACKUP step in /api/v1/status")
    rid = recs[0]["id"]
    assert re.search(r'importgate_obligations\{state="failed"\} 1', get("/metrics"))
    assert post("/api/v1/obligations/dismiss", "{}")[0] == 400
    code, doc = post("/api/v1/obligations/dismiss", json.dumps({"id": rid}))
    assert code == 200 and doc["ok"] is True, doc
    st = json.loads(get("/api/v1/status"))["obligations"]
    assert [r["state"] for r in st["records"] if r["id"] == rid] == ["dismissed"]
    assert re.search(r'importgate_obligations\{state="failed"\} 0', get("/metrics"))
    settle()
    assert backups(up) == []
    assert any(e["event"] == "obligation.dismissed" for e in audit_events(gw))


def send_and_vanish(gw, up, sql, marker):
    """Sends `sql` through the gateway and closes the client's socket as soon as TiDB (the
    double) has received it, long before its answer (the import is slow): the answer is lost."""
    c = connect(gw)
    c._execute_command(pymysql.constants.COMMAND.COM_QUERY, sql)
    wait_for(lambda: [e for e in up.statements if marker in e["sql"] and e["sql"].startswith("IMPORT")],
             10, "the import at TiDB")
    c._sock.close()


def test_lost_answer_follows_the_job_of_its_own_source(doubles, obl_gw, state):
    """Issue 20, 2: another import into the same table by the same user, from another file,
    finished just before; the answer to ours is lost. The record finds its job by source,
    table, creator and time, and the BACKUP is for that job, never the other one."""
    up, down = doubles(job_delay=0.1, slow_import=3.0)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    other, status = import_row(query(up.port, "IMPORT INTO t FROM 's3://bucket/other.csv'"))
    assert status == "finished"
    send_and_vanish(gw, up, "IMPORT INTO t FROM 's3://bucket/slow-mine.csv'", "slow-mine")
    mine = [j for j in up.state.jobs.values() if "slow-mine" in j.location]
    assert len(mine) == 1 and str(mine[0].id) != other
    wait_for(lambda: backups(up), 20, "BACKUP after the lost answer")
    settle()
    b = backups(up)
    assert [e["sql"] for e in b] == ["BACKUP TABLE `shop`.`t` TO 's3://backup/importgate/shop/t/%d'"
                                     % mine[0].id], b
    ev = audit_events(gw)
    steps = [e.get("step") for e in ev if e["event"] == "obligation.step"]
    assert "answer-lost" in steps and "job-found" in steps, ev
    assert [e["job_id"] for e in ev if e.get("step") == "job-found"] == [str(mine[0].id)]


def test_lost_answer_with_two_matching_jobs_fails_visibly(doubles, obl_gw, state):
    """Issue 20, 2: a job from the same file, by the same user, on the same table was created
    (and cancelled) just before ours; ours loses its answer. Two jobs match everything SHOW
    IMPORT JOBS shows: the record becomes outcome-unknown with reason job-ambiguous (an
    obligation.failed event), and no BACKUP is run for either."""
    up, down = doubles(job_delay=5.0, slow_import=3.0)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    sql = "IMPORT INTO t FROM 's3://bucket/slow-same.csv'"
    first, status = import_row(query(up.port, sql + " WITH DETACHED"))
    assert status == "pending"
    assert query(up.port, "CANCEL IMPORT JOB %s" % first).ok
    send_and_vanish(gw, up, sql, "slow-same")
    ev = wait_for(lambda: [e for e in audit_events(gw) if e["event"] == "obligation.failed"
                           and e.get("reason") == "job-ambiguous"], 20, "obligation.failed job-ambiguous")
    assert ev[0]["state"] == "outcome-unknown" and "several" in ev[0]["note"], ev
    settle()
    assert backups(up) == []


def test_backup_longer_than_the_lease_is_not_taken_over(doubles, obl_gw, state):
    """Issue 20, 3: the BACKUP takes longer than a lease TTL (the double's slow_backup, for a
    target URI containing "slow"); the lease is kept alive by its own thread meanwhile, so
    the second replica never claims the record and the BACKUP runs once."""
    up, down = doubles(job_delay=0.1, slow_backup=LEASE_S + 4)
    state.task("pitr", ["shop.*"])
    gw1 = obl_gw(up, down, SNAP)
    gw2 = obl_gw(up, down, SNAP)
    job, status = import_row(query(gw1, "IMPORT INTO slowt FROM 's3://bucket/t.csv'"))
    assert status == "finished"
    wait_for(lambda: [e for e in audit_events(gw1) if e["event"] == "obligation.done"], LEASE_S + 25,
             "the slow backup done by gw1")
    settle(2)
    b = backups(up)
    assert len(b) == 1 and b[0]["sql"].endswith("/slowt/%s'" % job), b
    assert not [e for e in audit_events(gw2) if e["event"] == "obligation.claimed"]
