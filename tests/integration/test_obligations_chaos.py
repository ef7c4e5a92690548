"""Obligations exactly once under chaos (issue 20; docs/RELIABILITY.md, "Obligations under
chaos"). Two gateway replicas share a real etcd as the obligation store (cluster.pd); the
TiDB double is the upstream, a second double the downstream; one rule owes both
snapshot-after-import and reimport-downstream on shop.*. Client threads send mixed imports
(plain, DETACHED, failing jobs, imports TiDB refuses, two into one table with different
data sources, tables whose BACKUP fails, BACKUPs and downstream re-imports longer than the
10 s lease) while either replica is SIGKILLed and restarted (sometimes again during its
start-up): right after a decision record appears in the store, right when TiDB receives
the import, during the BACKUP, during the downstream re-import, and at random.

After the run everything settles, then the properties are checked from what the doubles
received (statement logs, jobs, BACKUPs with start/end, the sending process of each
statement) and what the store holds and held (its etcd history):
- every accepted import (an upstream job that finished) backed up exactly once and
  re-imported downstream exactly once, with its own data source; a repeated BACKUP only
  after the process running the previous one was killed;
- nothing for imports refused by TiDB or whose job failed; none lost;
- each import reached TiDB after its decision record was in the store;
- failures (failing BACKUP, unknown outcome) visible in /api/v1/status until dismissed;
- no record reopened after it ended, no claim taken from (and no record written over) a
  replica that was alive;
- obligation.created in the creating replica's audit log for every import that reached TiDB.

Short by default (IG_CHAOS_SECONDS of workload, 30); IG_CHAOS_SEED=N replays a run's
random choices (real processes keep some timing nondeterminism). The seed is printed at
the start and is in every failure message."""

import faulthandler
import json
import os
import random
import re
import shutil
import threading
import time

import pytest

from policy_helpers import connect, etcd, rule, run, state, tidb_double  # noqa: F401 (first: sys.path)
from obl_chaos import TERMINAL, Replica, Store, replica_pid, socket_owner  # noqa: I100

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SEED = int(os.environ.get("IG_CHAOS_SEED") or random.SystemRandom().randrange(1, 10**9))
SECONDS = float(os.environ.get("IG_CHAOS_SECONDS", "30"))
SVC_USER, SVC_PW = "svc", "svc-secret"
DOWN_USER, DOWN_PW = "down", "down-secret"
USERS = ["root::mysql_native_password", "%s:%s:mysql_native_password" % (SVC_USER, SVC_PW),
         "%s:%s:mysql_native_password" % (DOWN_USER, DOWN_PW)]
URI = "s3://backup/importgate/{db}/{table}/{job_id}"
NAME = "chaos"
POLL_MS = 200
LEASE_S = 10          # proxy/obligations.c LEASE_TTL_S
SLOW = LEASE_S + 2.0  # a slow BACKUP / downstream import outlives the lease
WORKERS = 2
THINK = (0.2, 1.2)    # seconds a client waits between imports
MIN_UP = 3.0          # a replica runs at least this long between kills
KILL_MEAN = 9.0       # mean seconds between purely random kills
# Generous bound for everything to settle after the workload: the backlog a replica's
# executor has at the end grows with the workload's length.
SETTLE_MAX = 150.0 + 3 * SECONDS
DISMISS_MAX = 60.0    # bound for the dismissals to be done
# Operation mix: name -> weight.
OPS = {"plain": 24, "detached": 20, "fail": 9, "refused": 8, "pair": 14, "slow_reimport": 4,
       "slow_backup": 4, "backup_fails": 3}
# At most this many of the kinds that hold a replica's executor for SLOW seconds or retry
# for ever, per 30 s of workload: each slow one holds a replica's executor SLOW seconds, and
# more than this builds a backlog that long runs never drain.
CAPPED = {"slow_reimport": 1, "slow_backup": 1, "backup_fails": 2}
LOC_RE = re.compile(r"(?is)\bFROM\s+'([^']*)'")
URI_RE = re.compile(r"^s3://backup/importgate/([^/]+)/([^/]+)/(\d+)$")


def location(sql):
    m = LOC_RE.search(sql)
    return m.group(1) if m else None


class Chaos:
    """The run: replicas, kill decisions, the workload and what it sent."""

    def __init__(self, seed, up, down, store, replicas_factory):
        self.seed = seed
        self.up, self.down, self.store = up, down, store
        self.lock = threading.Lock()
        self.kill_lock = threading.Lock()
        self.events = []          # process starts and kills (Replica)
        self.replicas = []
        self.make_replicas = replicas_factory
        self.stop = threading.Event()
        self.chaos_on = True
        self.hook_rng = random.Random("%d-hooks" % seed)
        self.kill_on_receipt = {}  # location -> reason
        self.ops = []              # what the clients sent and got
        self.n = 0
        self.restarters = []
        self.last_kill = 0.0
        self.kills_by_reason = {}
        self.capped = {}

    # -- ids ------------------------------------------------------------------

    def next_n(self):
        with self.lock:
            self.n += 1
            return self.n

    def rand(self):
        with self.lock:
            return self.hook_rng.random()

    def uniform(self, a, b):
        with self.lock:
            return self.hook_rng.uniform(a, b)

    # -- replicas and kills -----------------------------------------------------

    def live_pids(self):
        return [r.pid for r in self.replicas if r.pid is not None]

    def replica_of_pid(self, pid):
        for r in self.replicas:
            if pid in r.pids:
                return r
        return None

    def kill(self, replica, reason, pid=None, delay=0.0):
        """SIGKILL `replica` (if still process `pid`) unless that would leave no replica up
        or it came up less than MIN_UP ago; then restart it after a moment."""
        if delay:
            threading.Timer(delay, self.kill, (replica, reason, pid)).start()
            return False
        with self.kill_lock:
            if not self.chaos_on or replica is None or not replica.alive():
                return False
            if time.monotonic() - replica.up_since < MIN_UP:
                return False
            if not all(r.alive() for r in self.replicas if r is not replica):
                return False
            if not replica.kill(reason, pid):
                return False
            self.kills_by_reason[reason] = self.kills_by_reason.get(reason, 0) + 1
        rng = random.Random("%d-restart-%d" % (self.seed, len(self.events)))
        startup_kill = rng.uniform(0.05, 1.5) if rng.random() < 0.25 else None
        wait = rng.uniform(0.3, 2.5)

        def restart():
            time.sleep(wait)
            replica.restart(startup_kill)
        t = threading.Thread(target=restart, daemon=True)
        t.start()
        self.restarters.append(t)
        return True

    def kill_pid(self, pid, reason, delay=0.0):
        return self.kill(self.replica_of_pid(pid), reason, pid, delay)

    # -- hooks: the doubles call these when a statement arrives ---------------------

    def on_upstream(self, entry):
        sql = entry["sql"]
        head = sql.lstrip()[:6].upper()
        if head not in ("IMPORT", "BACKUP"):
            return
        entry["pid"] = socket_owner(entry["peer"], self.up.port, self.live_pids())
        if head == "IMPORT":
            try:
                entry["store_rev"] = self.store.revision()
            except OSError:
                entry["store_rev"] = None
            loc = location(sql)
            with self.lock:
                reason = self.kill_on_receipt.pop(loc, None)
            if reason and entry["pid"]:
                self.kill_pid(entry["pid"], reason)
            return
        slow = "slow" in sql
        if entry["pid"] and self.rand() < (0.5 if slow else 0.1):
            self.kill_pid(entry["pid"], "during BACKUP" if slow else "BACKUP received",
                          self.uniform(1.0, SLOW - 1.0) if slow else 0.0)

    def on_downstream(self, entry):
        sql = entry["sql"]
        if not sql.lstrip()[:6].upper() == "IMPORT":
            return
        entry["pid"] = socket_owner(entry["peer"], self.down.port, self.live_pids())
        slow = "slow" in (location(sql) or "")
        if entry["pid"] and self.rand() < (0.5 if slow else 0.15):
            self.kill_pid(entry["pid"], "during re-import",
                          self.uniform(0.5, SLOW - 1.0) if slow else self.uniform(0, 0.5))

    # -- background killers -----------------------------------------------------------

    def watch_decisions(self):
        """Kills the replica that just wrote a decision record (awaiting-answer)."""
        seen = set()
        rng = random.Random("%d-decisions" % self.seed)
        while not self.stop.is_set():
            try:
                recs = self.store.records()
            except OSError:
                recs = {}
            for rid, rec in recs.items():
                if rid in seen:
                    continue
                seen.add(rid)
                if rec.get("state") == "awaiting-answer" and rng.random() < 0.08:
                    self.kill_pid(replica_pid(rec.get("replica")), "after decision record")
            self.stop.wait(0.05)

    def random_kills(self):
        rng = random.Random("%d-random" % self.seed)
        while not self.stop.wait(rng.expovariate(1.0 / KILL_MEAN)):
            self.kill(rng.choice(self.replicas), "random")

    # -- the workload --------------------------------------------------------------

    def pick(self, rng):
        live = [r for r in self.replicas if r.alive()]
        return rng.choice(live) if live else None

    def send(self, rng, table, loc, detached, kill_reason=None, via=None):
        sql = "IMPORT INTO %s FROM '%s'%s" % (table, loc, " WITH DETACHED" if detached else "")
        if kill_reason:
            with self.lock:
                self.kill_on_receipt[loc] = kill_reason
        rep = via or self.pick(rng)
        op = {"table": table, "loc": loc, "detached": detached, "t": time.time(),
              "via": rep.name if rep else None, "result": None}
        with self.lock:
            self.ops.append(op)
        if rep is None:
            op["result"] = "no replica up"
            return op
        try:
            c = connect(rep.gw, read_timeout=60)
            try:
                out = run(c, sql)
            finally:
                c.close()
            op["result"] = ("ok %s" % (out.results[0][0][5],) if out.ok and out.results
                            and out.results[0] else "error %s: %s" % (out.code, out.message))
        except Exception as e:  # noqa: BLE001 - a killed gateway drops the client
            op["result"] = "lost: %s" % (e.__class__.__name__,)
        finally:
            with self.lock:
                self.kill_on_receipt.pop(loc, None)
        return op

    def worker(self, i, deadline):
        rng = random.Random("%d-worker-%d" % (self.seed, i))
        names, weights = zip(*OPS.items())
        while not self.stop.wait(rng.uniform(*THINK)) and time.monotonic() < deadline:
            kind = rng.choices(names, weights)[0]
            if kind in CAPPED:
                with self.lock:
                    if self.capped.get(kind, 0) >= CAPPED[kind] * max(1, SECONDS / 30):
                        continue
                    self.capped[kind] = self.capped.get(kind, 0) + 1
            n = self.next_n()
            uid = "s%d-%d" % (self.seed, n)
            kill = "TiDB received the import" if rng.random() < 0.12 else None
            det = rng.random() < 0.4
            if kind == "plain":
                self.send(rng, "t%d" % n, "s3://bucket/%s.csv" % uid, False, kill)
            elif kind == "detached":
                self.send(rng, "t%d" % n, "s3://bucket/%s.csv" % uid, True, kill)
            elif kind == "fail":
                self.send(rng, "t%d" % n, "s3://bucket/%s-fail.csv" % uid, det, kill)
            elif kind == "refused":
                self.send(rng, "t%d" % n, "s3://bucket/%s-empty.csv" % uid, det, kill)
            elif kind == "slow_reimport":
                self.send(rng, "t%d" % n, "s3://bucket/%s-slow.csv" % uid, det, kill)
            elif kind == "slow_backup":
                self.send(rng, "slowb%d" % n, "s3://bucket/%s.csv" % uid, det, kill)
            elif kind == "backup_fails":
                self.send(rng, "bfail%d" % n, "s3://bucket/%s.csv" % uid, det, kill)
            elif kind == "pair":
                self.pair(rng, n, uid)

    def pair(self, rng, n, uid):
        """Two imports into one table with different data sources: at once (TiDB runs one,
        refuses the other while it is active), or one right after the other (both run)."""
        table = "pair%d" % n
        a, b = "s3://bucket/%s-a.csv" % uid, "s3://bucket/%s-b.csv" % uid
        kill = "TiDB received the first of a pair" if rng.random() < 0.4 else None
        if rng.random() < 0.5:
            t = threading.Thread(target=self.send, args=(random.Random(rng.random()), table, a,
                                                         rng.random() < 0.5, kill))
            t.start()
            self.send(rng, table, b, rng.random() < 0.5)
            t.join()
        else:
            self.send(rng, table, a, False, kill)
            self.send(rng, table, b, rng.random() < 0.5)


@pytest.fixture
def chaos_setup(gateway_factory, etcd, state, tmp_path):  # noqa: F811
    started = []

    def make(chaos):
        up = tidb_double.start(log=str(tmp_path / "up.jsonl"), users=USERS, job_delay=0.3,
                               empty_check=False, slow_backup=SLOW,
                               on_statement=lambda e: chaos[0].on_upstream(e))
        down = tidb_double.start(log=str(tmp_path / "down.jsonl"), users=USERS, job_delay=0.3,
                                 empty_check=False, first_job_id=100000, slow_import=SLOW,
                                 on_statement=lambda e: chaos[0].on_downstream(e))
        started.extend([up, down])
        return up, down

    def gateway(up, down):
        from harness import ports
        pw, dpw = tmp_path / "svc.pw", tmp_path / "down.pw"
        pw.write_text(SVC_PW + "\n")
        dpw.write_text(DOWN_PW + "\n")
        over = {
            "cluster": {"pd": [etcd.url], "timeout_ms": 2000, "name": NAME},
            "policy": {"rules": [rule("both", tables=["shop.*"],
                                      log_backup="snapshot-after-import",
                                      changefeed="reimport-downstream")]},
            "obligations": {
                "service": {"user": SVC_USER, "password_file": str(pw), "tls": {"mode": "off"}},
                "backup_uri": URI,
                "downstream": {"servers": ["127.0.0.1:%d" % down.port], "user": DOWN_USER,
                               "password_file": str(dpw)},
                "poll_ms": POLL_MS,
            },
            "admin": {"listen": "127.0.0.1:%d" % ports.free_port()},
        }
        return gateway_factory(over, backend=("127.0.0.1", up.port))

    yield make, gateway
    for d in started:
        d.stop()


# ---------------------------------------------------------------- the checks


class Findings:
    def __init__(self):
        self.items = []
        self.info = []

    def add(self, kind, text):
        self.items.append((kind, text))

    def kinds(self):
        out = {}
        for k, _ in self.items:
            out[k] = out.get(k, 0) + 1
        return out


def kill_of(events, pid):
    for e in events:
        if e["what"] == "kill" and e["pid"] == pid:
            return e
    return None


def end_of(events, pid):
    """When process pid was gone: killed by the test, or seen to have ended on its own (an
    ending on its own is a violation of its own: `died`)."""
    for e in events:
        if e["what"] in ("kill", "exit") and e["pid"] == pid:
            return e
    return None


def check_backups(f, events, jobs, backups, bfail):  # noqa: C901
    """Exactly once per finished job (a repeat only after the previous runner was killed
    while or after it ran), never overlapping a live runner's, none for anything else."""
    by_uri = {}
    for b in backups:
        by_uri.setdefault(b["uri"], []).append(b)
    for uri, runs in sorted(by_uri.items()):
        m = URI_RE.match(uri)
        job = jobs.get(int(m.group(3))) if m else None
        if job is None or job.status(time.time()) != "finished" or job.table != m.group(2):
            f.add("backup-not-owed", "BACKUP to %s: no finished import job %s on that table "
                  "(job: %s)" % (uri, m.group(3) if m else "?",
                                 job and (job.table, job.location, job.status(time.time()))))
            continue
        runs.sort(key=lambda b: b["start"])
        for prev, cur in zip(runs, runs[1:]):
            k = end_of(events, prev.get("pid"))
            died_before = k is not None and k["t"] <= cur["start"]
            if bfail(job.table) and not prev["ok"] and prev["end"] and prev["end"] <= cur["start"]:
                continue  # a retry of a failed BACKUP
            if prev.get("pid") is None:
                # its sender could not be read from /proc (it died as the statement came)
                f.info.append("job %d: BACKUP %s at %.3f by an unknown process, again at %.3f "
                              "by pid %s" % (job.id, uri, prev["start"], cur["start"],
                                             cur.get("pid")))
                continue
            if not died_before:
                overl = prev["end"] is None or prev["end"] > cur["start"]
                f.add("backup-overlap" if overl else "backup-rerun-live",
                      "job %d: BACKUP %s by pid %s at %.3f (ended %s) then again by pid %s at "
                      "%.3f while pid %s was alive (killed: %s)"
                      % (job.id, uri, prev.get("pid"), prev["start"], prev["end"], cur.get("pid"),
                         cur["start"], prev.get("pid"), k and k["t"]))


def check_run(chaos, f, recs, history, start_rev, visible_before_dismiss):
    up, down, events = chaos.up, chaos.down, chaos.events
    now = time.time()
    jobs = dict(up.state.jobs)
    finished = {j.location: j for j in jobs.values() if j.status(now) == "finished"}
    failed = {j.location: j for j in jobs.values() if j.status(now) != "finished"}
    bfail = lambda t: t.startswith("bfail")  # noqa: E731
    up_imports = [e for e in up.statements if e["sql"].lstrip()[:6].upper() == "IMPORT"]
    down_imports = [e for e in down.statements if e["sql"].lstrip()[:6].upper() == "IMPORT"]
    down_jobs = {}
    for j in down.state.jobs.values():
        down_jobs.setdefault(j.location, []).append(j)
    by_loc = {}
    for rid, r in recs.items():
        by_loc.setdefault(location(r.get("statement") or ""), []).append((rid, r))
    backups = list(up.state.backups)
    conn_pid = {e["conn"]: e.get("pid") for e in up.statements if "pid" in e}
    for b in backups:
        b["pid"] = conn_pid.get(b["conn"])

    # decision record before the import reached TiDB; exactly one record per import
    for e in up_imports:
        loc = location(e["sql"])
        rs = by_loc.get(loc, [])
        if len(rs) != 1:
            f.add("record-missing", "import of %s reached TiDB (pid %s) with %d records in the "
                  "store" % (loc, e.get("pid"), len(rs)))
        elif e.get("store_rev") is not None and rs[0][1]["_create_rev"] > e["store_rev"]:
            f.add("record-after-forward", "import of %s reached TiDB at store revision %d, its "
                  "record %s was created at %d" % (loc, e["store_rev"], rs[0][0],
                                                   rs[0][1]["_create_rev"]))

    check_backups(f, events, jobs, backups, bfail)

    # every record names the job of its own data source (or none)
    for rid, rec in recs.items():
        loc, jid = location(rec.get("statement") or ""), rec.get("job_id")
        job = jobs.get(int(jid)) if jid and jid.isdigit() else None
        if jid and (job is None or job.location != loc):
            own = finished.get(loc) or failed.get(loc)
            f.add("wrong-job", "record %s (import of %s, %s) names job %s, which imported %s"
                  % (rid, loc, "its job is %d" % own.id if own else "TiDB never ran it", jid,
                     job and job.location))

    # per finished job: backed up and re-imported once with its own source
    for loc, job in sorted(finished.items(), key=lambda kv: kv[1].id):
        rs = by_loc.get(loc, [])
        rid, rec = rs[0] if rs else (None, {})
        dj = down_jobs.get(loc, [])
        if bfail(job.table):
            if dj:
                f.add("reimport-not-owed", "job %d (%s): its BACKUP always fails, yet re-imported "
                      "downstream (jobs %s)" % (job.id, loc, [j.id for j in dj]))
            continue
        if not any(b["ok"] and b["uri"].endswith("/%s/%d" % (job.table, job.id)) for b in backups):
            f.add("backup-missing", "job %d (%s) never backed up; record %s state %s"
                  % (job.id, loc, rid, rec.get("state")))
        if len(dj) != 1:
            f.add("reimport-missing" if not dj else "reimport-twice",
                  "job %d (%s): %d downstream jobs %s; record %s state %s note %s"
                  % (job.id, loc, len(dj), [(j.id, j.created) for j in dj], rid,
                     rec.get("state"), rec.get("note")))

    # nothing for what did not finish; the downstream only gets sources TiDB imported
    for e in down_imports:
        loc = location(e["sql"])
        if loc not in finished:
            f.add("reimport-not-owed", "downstream received %s (pid %s) but TiDB %s"
                  % (loc, e.get("pid"), "ran it as job %d, which %s" % (failed[loc].id,
                     failed[loc].status(now)) if loc in failed else "never imported it"))

    # the store at the end
    for rid, r in recs.items():
        st, loc = r.get("state"), location(r.get("statement") or "")
        if st not in TERMINAL and st != "outcome-unknown" and not failed_backup(r):
            f.add("not-settled", "record %s (%s, %s) still %s" % (rid, loc, r.get("table"), st))
        if st == "outcome-unknown" and loc in finished:
            f.add("unresolved", "record %s: import of %s ran as job %d, record outcome-unknown: %s"
                  % (rid, loc, finished[loc].id, r.get("note")))
        if st == "done" and loc not in finished:
            f.add("done-not-owed", "record %s (%s) done, but TiDB has no finished job for it"
                  % (rid, loc))
        if st == "outcome-unknown" or failed_backup(r):
            if rid not in visible_before_dismiss:
                f.add("failure-invisible", "record %s (%s, %s) not shown failing in "
                      "/api/v1/status" % (rid, loc, st))

    # history: nothing reopened, no claim taken from a live replica
    last_state, holder, writer, taken = {}, {}, {}, set()
    for ev in history:
        if ev["kind"] == "obligation" and ev["type"] == "put" and ev["value"]:
            prev = last_state.get(ev["id"])
            cur = ev["value"].get("state")
            # the record's writer changes only when the previous one died (independent of
            # how claims are kept: "replica" is the record's last writer)
            a, b = writer.get(ev["id"]), ev["value"].get("replica")
            if a and b and a != b and prev not in TERMINAL and (ev["id"], b) not in taken:
                k = end_of(events, replica_pid(a))
                if k is None or (k["rev"] is not None and k["rev"] > ev["rev"]):
                    taken.add((ev["id"], b))
                    f.add("takeover-live", "record %s (state %s -> %s) written at revision %d by "
                          "%s while its previous writer %s was alive (killed at revision %s)"
                          % (ev["id"], prev, cur, ev["rev"], b, a, k and k["rev"]))
            writer[ev["id"]] = b
            if prev in TERMINAL and cur != prev and not (prev != "dismissed" and cur == "dismissed"):
                f.add("reopened", "record %s went %s -> %s at revision %d (written by %s)"
                      % (ev["id"], prev, cur, ev["rev"], ev["value"].get("replica")))
            last_state[ev["id"]] = cur
        if ev["kind"] == "claim" and ev["type"] == "put" and ev["value"]:
            b = ev["value"].get("replica")
            a = holder.get(ev["id"])
            if ev["create_rev"] == ev["rev"] and a and a != b:
                k = end_of(events, replica_pid(a))
                if k is None or (k["rev"] is not None and k["rev"] > ev["rev"]):
                    text = ("record %s (state %s) claimed at revision %d by %s while %s was "
                            "alive (killed at revision %s)" % (ev["id"], last_state.get(ev["id"]),
                                                               ev["rev"], b, a, k and k["rev"]))
                    if last_state.get(ev["id"]) in TERMINAL:
                        # harmless alone (a step on it would show as "reopened" or as work
                        # at the doubles): reported, not a violation
                        f.info.append("claimed-finished: " + text)
                    elif (ev["id"], b) not in taken:
                        taken.add((ev["id"], b))
                        f.add("takeover-live", text)
            holder[ev["id"]] = b

    # durable audit: obligation.created for every import that reached TiDB
    creator = {}
    for ev in history:
        if ev["kind"] == "obligation" and ev["type"] == "put" and ev["value"] \
                and ev["id"] not in creator:
            creator[ev["id"]] = ev["value"].get("replica")
    created = set()
    for rep in chaos.replicas:
        created |= {e.get("obligation") for e in rep.audit_events()
                    if e.get("event") == "obligation.created"}
    reached = {location(e["sql"]) for e in up_imports}
    for rid, r in recs.items():
        if location(r.get("statement") or "") in reached and rid in creator and rid not in created:
            pid = replica_pid(creator[rid])
            k = kill_of(events, pid)
            f.add("audit-created-missing", "record %s (%s, reached TiDB): no obligation.created "
                  "in the audit log of its creator pid %s (killed at %s)"
                  % (rid, location(r["statement"]), pid, k and k["reason"]))

    for rep in chaos.replicas:
        for s in rep.sanitizer_reports():
            f.add("sanitizer", s)
        # a process that ended without being killed died on its own (a crash, an exit): its
        # records are then taken over "from a live replica" as far as the kills tell
        for pid in rep.pids:
            if pid != rep.pid and kill_of(events, pid) is None:
                f.add("died", "replica %s process %d ended without being killed by the test (%s; "
                      "its stderr: %s.*)" % (rep.name, pid, rep.exit_status(pid) or "status not seen",
                                             rep.gw.stderr_path))


def failed_backup(r):
    """A record of a table whose BACKUP always fails, that has failed at least once."""
    b = r.get("backup") or {}
    return r.get("table", "").startswith("bfail") and r.get("state") not in TERMINAL \
        and bool(b.get("last_error") or b.get("attempts") or r.get("last_error"))


def settled(recs, up, down):
    now = time.time()
    if any(j.status(now) in ("pending", "running") for j in list(up.state.jobs.values())
           + list(down.state.jobs.values())):
        return False
    for r in recs.values():
        st = r.get("state")
        if st in TERMINAL or st == "outcome-unknown":
            continue
        if failed_backup(r):
            continue  # fails for ever; visible is checked after
        return False
    return True


def write_report(chaos, f, recs, tmp_path, stage):
    """The summary, every violation and note, every start/kill and import sent: JSON at
    IG_CHAOS_REPORT (with the run's logs in <report>.d/) or in the test's tmp dir."""
    up, down = chaos.up, chaos.down
    summary = {
        "seed": SEED, "seconds": SECONDS, "stage": stage,
        "imports_sent": len(chaos.ops),
        "imports_at_tidb": len([e for e in up.statements if e["sql"].upper().startswith("IMPORT")]),
        "jobs_finished": sum(1 for j in list(up.state.jobs.values())
                             if j.status(time.time()) == "finished"),
        "backups": len(up.state.backups),
        "reimports": len([e for e in down.statements if e["sql"].upper().startswith("IMPORT")]),
        "records": len(recs),
        "record_states": {s: sum(1 for r in recs.values() if r.get("state") == s)
                          for s in {r.get("state") for r in recs.values()}},
        "kills": dict(chaos.kills_by_reason),
        "startup_kills": sum(1 for e in chaos.events if e["what"] == "kill"
                             and e["reason"].startswith("during start-up")),
        "violations": f.kinds(),
        "notes": len(f.info),
    }
    report = {"summary": summary, "violations": [{"kind": k, "detail": d} for k, d in f.items],
              "notes": f.info, "events": chaos.events, "ops": chaos.ops}
    path = os.environ.get("IG_CHAOS_REPORT") or str(tmp_path / "chaos-report.json")
    if os.environ.get("IG_CHAOS_REPORT"):
        keep = path + ".d"  # the gateways' stderr (every incarnation) and audit logs, the doubles' logs
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(str(tmp_path), keep, ignore=shutil.ignore_patterns("*.pw", "*.yaml"))
    with open(path, "w") as fp:
        json.dump(report, fp, indent=1, default=str)
    print("CHAOS summary (%s) %s\nCHAOS report %s" % (stage, json.dumps(summary), path), flush=True)
    return summary


def test_obligations_chaos(chaos_setup, etcd, state, tmp_path):  # noqa: F811
    print("\nCHAOS seed=%d seconds=%s (replay: IG_CHAOS_SEED=%d IG_CHAOS_SECONDS=%s)"
          % (SEED, SECONDS, SEED, SECONDS), flush=True)
    faulthandler.dump_traceback_later(SECONDS + SETTLE_MAX + 400, exit=True)
    make_doubles, make_gateway = chaos_setup
    state.task("pitr", ["shop.*"])
    state.changefeed("cf1", ["shop.*"])
    store = Store(etcd.url, NAME)
    holder = [None]
    up, down = make_doubles(holder)
    start_rev = store.revision() + 1
    chaos = Chaos(SEED, up, down, store, None)
    holder[0] = chaos
    for name in ("A", "B"):
        chaos.replicas.append(Replica(name, make_gateway(up, down), store, chaos.events,
                                      threading.Lock()))
    tag = "seed=%d (replay: IG_CHAOS_SEED=%d IG_CHAOS_SECONDS=%s)" % (SEED, SEED, SECONDS)

    deadline = time.monotonic() + SECONDS
    def watch_exits():
        while not chaos.stop.wait(0.2):
            for r in chaos.replicas:
                r.note_if_ended()
    bg = [threading.Thread(target=chaos.watch_decisions, daemon=True),
          threading.Thread(target=chaos.random_kills, daemon=True),
          threading.Thread(target=watch_exits, daemon=True)]
    workers = [threading.Thread(target=chaos.worker, args=(i, deadline), daemon=True)
               for i in range(WORKERS)]
    for t in bg + workers:
        t.start()
    for t in workers:
        t.join(SECONDS + 180)
    chaos.stop.set()
    chaos.chaos_on = False
    for t in bg:
        t.join(30)
    for t in list(chaos.restarters):
        t.join(60)
    for r in chaos.replicas:
        if not r.alive():
            r.restart()
    assert all(r.alive() for r in chaos.replicas), tag

    # settle: every record ends, fails visibly, or waits for an operator
    end = time.monotonic() + SETTLE_MAX
    recs = store.records()
    t0, shown = time.monotonic(), 0.0
    while time.monotonic() < end and not settled(recs, up, down):
        if time.monotonic() - shown > 20:
            shown = time.monotonic()
            counts = {}
            for r in recs.values():
                k = "%s/%s/%s" % (r.get("state"), (r.get("backup") or {}).get("state"),
                                  (r.get("reimport") or {}).get("state"))
                counts[k] = counts.get(k, 0) + 1
            print("CHAOS settling (%.0fs): %s" % (shown - t0, counts), flush=True)
        time.sleep(0.5)
        recs = store.records()
    calm = settled(recs, up, down)
    print("CHAOS settled after %.0fs: %s" % (time.monotonic() - t0, calm), flush=True)

    # failures visible until dismissed, then dismissed
    visible = set()
    for r in chaos.replicas:
        try:
            st = r.status()["obligations"]
        except OSError:
            continue
        visible |= {x["id"] for x in st.get("records", []) if x.get("failing")}
    f = Findings()
    history = store.history(start_rev)
    check_run(chaos, f, recs, history, start_rev, visible)
    write_report(chaos, f, recs, tmp_path, "before dismissals")
    to_dismiss = [rid for rid, r in recs.items()
                  if r.get("state") not in TERMINAL
                  and (r.get("state") == "outcome-unknown" or r.get("table", "").startswith("bfail"))]
    if not calm:  # a backlog (already a violation): dismissals would only wait behind it
        f.info.append("not settled: the %d dismissals were not tried" % len(to_dismiss))
        to_dismiss = []
    codes = {}
    # each dismissal is an admin request to each replica: a long run has hundreds to make
    dismiss_max = DISMISS_MAX + 2 * len(to_dismiss)
    end = time.monotonic() + dismiss_max
    while time.monotonic() < end:
        recs = store.records()
        left = [rid for rid in to_dismiss if recs.get(rid, {}).get("state") != "dismissed"]
        if not left:
            break
        for rid in left:  # a replica dismisses only a record it can claim: try both
            if time.monotonic() < end:
                codes[rid] = [r.dismiss(rid)[0] for r in chaos.replicas]
        time.sleep(1)
    recs = store.records()  # as the store holds them now, after the last pass
    for rid in to_dismiss:
        if recs.get(rid, {}).get("state") != "dismissed":
            f.add("dismiss-failed", "record %s (%s) still %s after %.0fs of dismissals (last "
                  "answers %s)" % (rid, recs.get(rid, {}).get("table"),
                                   recs.get(rid, {}).get("state"), dismiss_max, codes.get(rid)))
    mark = len(up.state.backups)
    time.sleep(3 * POLL_MS / 1000.0 + 1)
    after = [b["uri"] for b in up.state.backups[mark:]]
    if after and calm:
        f.add("work-after-dismiss", "BACKUPs after every record ended or was dismissed: %s" % after)

    summary = write_report(chaos, f, recs, tmp_path, "final")
    assert summary["jobs_finished"] > 0, "%s: the workload ran no import at all: %s" % (tag, summary)
    lines = ["%s: %s" % (k, d) for k, d in f.items]
    assert not lines, "%s: %d violations %s\n%s" % (tag, len(lines), f.kinds(),
                                                      "\n".join(lines[:80]))
