"""Races of the obligations' executor threads (review of 2734005/fd5ee5c, issue 20): each
test builds one interleaving the review found and checks a promise of docs/OBLIGATIONS.md
from what the TiDB doubles received and what the store holds. The moments are fixed by
gates (the double holds a statement until the test lets it go; etcd is paused with SIGSTOP)
and by the gateway's own log lines, not by sleeps, except the slow BACKUP of the shutdown
test, which must outlive a lease TTL.

1. A dismissal is acknowledged while the record's BACKUP waits for an executor: the BACKUP
   must not be sent after the operator was told the record is dismissed.
2. SIGTERM while a BACKUP runs: the replica keeps running it while it shuts down, so it
   must keep its lease until it ends (else the other replica runs the same BACKUP at once).
3. A lease wobble (etcd paused a few seconds) while a BACKUP runs: the replica drops its
   records, the BACKUP ends meanwhile and its outcome is thrown away; the BACKUP must still
   be sent once, not again by the same live replica.
4. The import's answer arrives while etcd is paused and the record was dropped by that
   wobble: the answer must not be lost (the record must not wait for it for ever).
5. A record whose answer was lost (its gateway died) must not take the job of another
   import of the same file that is still running, whose record waits for its answer.

Each test failed on fd5ee5c (1 and 3 are new with the executor threads; 2, 4 and 5 were
there before them). Run: IMPORTGATE_BIN=... pytest tests/integration -k executor_races"""

import json
import os
import signal
import threading
import time
import urllib.request

import pytest

from policy_helpers import etcd, query, state, tidb_double  # noqa: F401
from obligation_helpers import (LEASE_S, POLL_MS, SNAP, dismiss, doubles, obl_gw,  # noqa: F401
                                status, wait_for)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]
JOB_DELAY = 0.1  # the doubles' jobs finish quickly unless a test asks otherwise


class Gate:
    """Holds statements containing `marker` at the double until opened."""

    def __init__(self, marker):
        self.marker, self.open_ev, self.held = marker, threading.Event(), threading.Event()

    def __call__(self, entry):
        if self.marker in entry["sql"]:
            self.held.set()
            self.open_ev.wait(60)


@pytest.fixture
def ogw(obl_gw):
    """ogw(up, down, executors=None) -> (gateway, admin port), obligations in etcd."""
    return lambda up, down, executors=None: obl_gw(up, down, SNAP, cluster_name="oblrace",
                                                   executors=executors, admin=True)


@pytest.fixture
def paused_etcd(etcd):  # noqa: F811
    """The module's etcd; resumed at teardown whatever happens."""
    yield etcd
    etcd.resume()
    etcd.wait_healthy()


def import_ok(gw, sql):
    out = query(gw, sql)
    assert out.ok, out
    return str(out.results[0][0][0]), out.results[0][0][5]


def backup_stmts(up, table):
    return [e for e in up.statements if e["sql"].upper().startswith("BACKUP") and "/%s/" % table in e["sql"]]


def log_has(gw, text):
    return text in gw.stderr_text()


def follow_driver(gw):
    """A DETACHED import whose job runs for a minute: its record is polled every POLL_MS,
    so the obligations thread checks the lease all the time (as on a busy replica)."""
    job, st = import_ok(gw, "IMPORT INTO driver FROM 's3://bucket/slow-driver.csv' WITH DETACHED")
    assert st == "pending"
    return job


def test_dismissed_record_gets_no_backup_from_a_queued_executor_job(doubles, ogw, state):
    up, down = doubles(slow_backup=8)
    state.task("pitr", ["shop.*"])
    gw, admin = ogw(up, down, executors=1)
    import_ok(gw, "IMPORT INTO slowt FROM 's3://bucket/a.csv'")
    wait_for(lambda: backup_stmts(up, "slowt"), 10, "the slow BACKUP holding the only executor")
    import_ok(gw, "IMPORT INTO t2 FROM 's3://bucket/b.csv'")
    # its BACKUP is owed and the only executor is busy: it waits (since the second review a
    # step is recorded started only when an executor can send it at once; before, it was
    # started and queued)
    recs = wait_for(lambda: [r for r in status(admin)["records"] if r["table"] == "shop.t2"
                             and r["state"] == "due"
                             and r.get("backup", {}).get("state") in ("pending", "started")], 10,
                    "the t2 record's BACKUP owed while the only executor is busy")
    assert not backup_stmts(up, "t2")
    # while the only executor is busy, the step is not recorded started (a re-import's job
    # would be searched for from that time after a crash, so it must not wait in a queue)
    now = [r for r in status(admin)["records"] if r["table"] == "shop.t2"][0]
    busy = not [b for b in up.state.backups if "/slowt/" in b["uri"] and b["end"]]
    assert not busy or now["backup"]["state"] == "pending", now
    code, doc = dismiss(admin, recs[0]["id"])
    assert code == 200 and doc.get("ok") is True, doc
    wait_for(lambda: [b for b in up.state.backups if "/slowt/" in b["uri"] and b["end"]], 20,
             "the slow BACKUP's end")
    time.sleep(2)  # the executor is free: a queued BACKUP would have been sent by now
    late = backup_stmts(up, "t2")
    assert late == [], ("a BACKUP was sent for a record after its dismissal was acknowledged "
                        "(the job queued for an executor was never withdrawn): %r" % late)


def test_sigterm_during_a_backup_keeps_the_lease_until_it_ends(doubles, ogw, state):
    up, down = doubles(slow_backup=LEASE_S + 10)
    state.task("pitr", ["shop.*"])
    gw1, _ = ogw(up, down)
    gw2, _ = ogw(up, down)
    import_ok(gw1, "IMPORT INTO slowt FROM 's3://bucket/a.csv'")
    wait_for(lambda: [b for b in up.state.backups if "/slowt/" in b["uri"]], 10, "gw1's BACKUP at TiDB")
    first = [b for b in up.state.backups if "/slowt/" in b["uri"]][0]
    gw1.proc.send_signal(signal.SIGTERM)  # a clean shutdown: it waits for the running BACKUP
    wait_for(lambda: first["end"], LEASE_S + 25, "the first BACKUP's end")
    overlapping = [b for b in up.state.backups if "/slowt/" in b["uri"] and b is not first
                   and b["start"] < first["end"]]
    try:
        gw1.proc.wait(30)
    finally:
        gw1.expected_exit = True
    assert overlapping == [], ("another replica ran the same BACKUP while the shutting-down "
                               "replica's BACKUP still ran (its lease was not kept alive while it "
                               "waited for the executors): %r" % overlapping)


def test_backup_whose_outcome_arrives_during_a_lease_wobble_is_not_sent_again(doubles, ogw, state,
                                                                              paused_etcd):
    gate = Gate("BACKUP TABLE `shop`.`t3`")
    up, down = doubles(slow_import=120, on_statement=gate)
    state.task("pitr", ["shop.*"])
    gw, _ = ogw(up, down)
    follow_driver(gw)
    import_ok(gw, "IMPORT INTO t3 FROM 's3://bucket/c.csv'")
    assert gate.held.wait(15), "the BACKUP did not reach TiDB"
    paused_etcd.pause()  # keepalives fail: in at most LEASE_TTL/2 the replica drops its records
    wait_for(lambda: log_has(gw, "stopping work on"), 10, "the records dropped (lease not fresh)")
    gate.open_ev.set()  # the BACKUP ends now: its outcome reaches a replica that dropped the record
    wait_for(lambda: [b for b in up.state.backups if "/t3/" in b["uri"] and b["end"]], 10, "the BACKUP's end")
    time.sleep(0.5)
    paused_etcd.resume()  # a wobble of a few seconds: the lease (TTL 10 s) is still ours
    paused_etcd.wait_healthy()
    wait_for(lambda: _done(gw, "t3") or len(backup_stmts(up, "t3")) > 1, 20, "the record settled")
    time.sleep(2)
    b = backup_stmts(up, "t3")
    log = [ln for ln in gw.stderr_text().splitlines() if "obligation" in ln and ("lease" in ln or "claimed" in ln)]
    assert "our lease had expired" not in gw.stderr_text(), log  # a wobble, not a lost lease
    assert len(b) == 1, ("the same live replica sent the BACKUP again after its first run's outcome "
                         "was dropped during a lease wobble: %r; log: %r" % ([e["sql"] for e in b], log))


def _done(gw, table):
    path = gw.config["audit"]["path"]
    if not os.path.exists(path):
        return False
    with open(path, encoding="utf-8") as f:
        return any(json.loads(ln).get("event") == "obligation.done" and
                   json.loads(ln).get("table") == "shop." + table for ln in f if ln.strip())


def test_answer_arriving_during_a_wobble_is_not_lost(doubles, ogw, state, paused_etcd):
    gate = Gate("held-answer")
    up, down = doubles(slow_import=120, on_statement=gate)
    state.task("pitr", ["shop.*"])
    gw, admin = ogw(up, down)
    follow_driver(gw)
    result = {}

    def client():
        result["out"] = query(gw, "IMPORT INTO t4 FROM 's3://bucket/held-answer.csv'")
    th = threading.Thread(target=client, daemon=True)
    th.start()
    assert gate.held.wait(15), "the import did not reach TiDB"
    paused_etcd.pause()
    wait_for(lambda: log_has(gw, "stopping work on"), 10, "the records dropped (lease not fresh)")
    gate.open_ev.set()  # TiDB answers: finished
    th.join(30)
    assert result.get("out") is not None and result["out"].ok, result
    wait_for(lambda: log_has(gw, "the import's answer arrived"), 15, "the answer handled")
    paused_etcd.resume()
    paused_etcd.wait_healthy()
    try:
        wait_for(lambda: backup_stmts(up, "t4"), 20, "the BACKUP owed after the finished import")
    except AssertionError:
        recs = [r for r in status(admin)["records"] if r["table"] == "shop.t4"]
        raise AssertionError("the import finished (its answer reached the gateway while etcd was "
                             "paused and the record dropped) but the record never moved: %r" % recs)


class NthGate(Gate):
    """Holds the n-th statement (1-based) containing `marker`, lets the others through."""

    def __init__(self, marker, n):
        super().__init__(marker)
        self.n, self.seen = n, 0

    def __call__(self, entry):
        if self.marker in entry["sql"] and entry["sql"].upper().startswith("IMPORT"):
            self.seen += 1
            if self.seen == self.n:
                self.held.set()
                self.open_ev.wait(60)


def test_lost_answer_does_not_take_the_job_of_an_import_still_awaiting_its_answer(doubles, ogw, state):
    """Two imports of the same file into the same table by the same user: A through gw1 (not
    detached, its job runs 25 s, its record waits for the answer) and B through gw2, which
    TiDB has not started yet (held) when gw2 is SIGKILLed. gw1 takes B's record over (a lost
    answer) and searches: it sees only A's job, which no record holds yet (A learns its job
    id only from its answer), so B follows A's job. One upstream job then owes two BACKUPs
    (and two downstream re-imports with that rule)."""
    import pymysql
    from policy_helpers import connect
    sql = "IMPORT INTO t5 FROM 's3://bucket/slow-same.csv'"
    gate = NthGate("slow-same", 2)
    up, down = doubles(slow_import=25, on_statement=gate)
    state.task("pitr", ["shop.*"])
    gw1, admin = ogw(up, down)
    gw2, _ = ogw(up, down)
    result = {}

    def client_a():
        result["a"] = query(gw1, sql)
    th = threading.Thread(target=client_a, daemon=True)
    th.start()
    wait_for(lambda: [j for j in up.state.jobs.values() if "slow-same" in j.location], 10, "A's job")
    c = connect(gw2)
    c._execute_command(pymysql.constants.COMMAND.COM_QUERY, sql)
    assert gate.held.wait(10), "B did not reach TiDB"
    gw2.proc.send_signal(signal.SIGKILL)  # B's gateway dies: its answer is lost, no job for B yet
    gw2.proc.wait()
    gw2.proc = None
    if gw2._stderr is not None:
        gw2._stderr.close()
        gw2._stderr = None
    th.join(60)
    assert result["a"].ok, result
    wait_for(lambda: _done(gw1, "t5"), 30, "A's BACKUP done")
    time.sleep(3)
    jobs = [j.id for j in up.state.jobs.values() if "slow-same" in j.location]
    b = backup_stmts(up, "t5")
    recs = [(r["state"], r.get("job_id"), r.get("reason")) for r in status(admin)["records"]
            if r["table"] == "shop.t5"]
    gate.open_ev.set()
    assert len(jobs) == 1 and len(b) == 1, ("one upstream job (%r) but %d BACKUPs: a record whose "
                                            "answer was lost took the job of a record still awaiting "
                                            "its answer; records: %r" % (jobs, len(b), recs))
