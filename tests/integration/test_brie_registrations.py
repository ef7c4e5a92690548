"""test_brie_registrations.py - running physical imports and restores registered in PD's etcd
(/tidb/brie/import/{lightning,import-into,restore}/<task>, a leased key with an empty value:
pingcap/tidb br/pkg/utils/register.go) as the gateway sees them (proxy/brmon.c): shown in
/api/v1/status and /metrics, audited when they start and end (lease revoked, lease expired,
key deleted), and reported loudly (audit brie.import.conflict, an error log line, a metric)
while a log backup task or changefeed may cover their tables.

The keys are written into the harness's real etcd through its v3 JSON API, with real leases,
exactly as TaskRegister.RegisterTask does (Lease.Grant, then Put with the lease). Every wait
is a poll for the expected outcome with a bound, never a sleep standing in for it."""

import base64
import http.client
import json
import time

import pytest

from harness import ports
from policy_helpers import double, etcd, policy_gw, state  # noqa: F401  (fixtures)

import clusterstate as cs  # noqa: E402  (tests/tidb_double, put on the path by policy_helpers)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

PREFIX = "/tidb/brie/import/"
WAIT = 30.0  # the monitor reads every second; this bounds a slow (sanitizer) run


# ---------------------------------------------------------------- etcd: leases and keys


def grant(url, ttl):
    out = cs._post(url, "/v3/lease/grant", {"TTL": ttl})
    return int(out["ID"])


def revoke(url, lease):
    cs._post(url, "/v3/lease/revoke", {"ID": str(lease)})


def register(url, kind, task, ttl=180, value=b""):
    """TaskRegister.RegisterTask: a lease, then the key under it. Returns the lease id."""
    lease = grant(url, ttl)
    cs._post(url, "/v3/kv/put", {"key": cs._b64(PREFIX + kind + "/" + task),
                                 "value": cs._b64(value), "lease": str(lease)})
    return lease


# ---------------------------------------------------------------- the gateway's views


class Views:
    def __init__(self, gw, admin_port):
        self.gw = gw
        self.port = admin_port
        self.audit_path = gw.config["audit"]["path"]

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            assert r.status == 200, (path, r.status, body)
            return body.decode()
        finally:
            c.close()

    def status(self):
        return json.loads(self.get("/api/v1/status"))["running_imports"]

    def imports(self):
        return {i["key"]: i for i in self.status()["imports"]}

    def metric(self, sample):
        """The value of one sample line ("name{labels}") of /metrics, None when absent."""
        for line in self.get("/metrics").splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
        return None

    def events(self, name):
        try:
            with open(self.audit_path) as f:
                lines = [l for l in f.read().splitlines()]
        except FileNotFoundError:
            return []
        out = []
        for l in lines:
            try:
                ev = json.loads(l)
            except ValueError:
                continue  # a record being appended
            if ev.get("event") == name:
                out.append(ev)
        return out


def wait_for(pred, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    v = pred()
    assert v, "timed out waiting for " + what
    return v


@pytest.fixture
def views(policy_gw, state):
    def start(**kw):
        admin_port = ports.free_port()
        gw = policy_gw(admin={"listen": "127.0.0.1:%d" % admin_port}, **kw)
        assert ports.wait_port("127.0.0.1", admin_port, 10)
        return Views(gw, admin_port)
    return start


def running(kind):
    return 'importgate_brie_imports_running{kind="%s"}' % kind


# ---------------------------------------------------------------- tests


def test_registration_shown_audited_and_ended_by_revoke(views, etcd, state):
    v = views()
    assert v.status()["imports"] == []
    assert v.metric(running("lightning")) == 0
    # the wake-up watch on the prefix (pd/prefixwatch.c) is open before the key comes
    wait_for(lambda: (v.status()["watch"] or {}).get("streaming"), "the prefix watch")
    assert v.status()["watch"]["event_responses"] == 0
    lease = register(etcd.url, "lightning", "lightning-5d0c")
    key = PREFIX + "lightning/lightning-5d0c"
    imp = wait_for(lambda: v.imports().get(key), "the registration in /api/v1/status")
    assert imp["kind"] == "lightning" and imp["task"] == "lightning-5d0c"
    assert imp["lease"] == "%x" % lease
    assert imp["tables"] is None and imp["tables_known"] is False  # the value names no table
    assert imp["value_bytes"] == 0 and imp["seen_at_start"] is False
    # nothing covers anything: no conflict, and it says so
    assert imp["conflict"] == {"every_table": False, "log_backup_tasks": [], "changefeeds": []}
    assert v.metric(running("lightning")) == 1
    assert v.metric(running("restore")) == 0
    assert v.metric("importgate_brie_import_conflicts") == 0
    assert v.status()["pd"] == etcd.url and v.status()["error"] is None
    # the put reached the monitor as a watch event (the reads every second would find it too)
    wait_for(lambda: v.status()["watch"]["event_responses"] >= 1, "a watch event")
    started = wait_for(lambda: v.events("brie.import.started"), "brie.import.started")
    assert len(started) == 1
    assert (started[0]["kind"], started[0]["task"], started[0]["key"]) == \
        ("lightning", "lightning-5d0c", key)
    assert started[0]["lease"] == "%x" % lease and started[0]["tables"] is None
    assert v.events("brie.import.conflict") == []

    revoke(etcd.url, lease)  # TaskRegister.Close: the key goes with its lease
    wait_for(lambda: v.status()["imports"] == [], "the registration to leave the status")
    ended = wait_for(lambda: v.events("brie.import.ended"), "brie.import.ended")
    assert len(ended) == 1 and ended[0]["key"] == key and ended[0]["conflicted"] is False
    assert ended[0]["duration_ms"] >= 0
    assert v.metric(running("lightning")) == 0
    assert v.metric('importgate_brie_registration_reads_total{result="ok"}') >= 2


def test_conflict_with_log_backup_then_changefeed_is_loud(views, etcd, state):
    v = views()
    lease = register(etcd.url, "restore", "restore-77aa")
    key = PREFIX + "restore/restore-77aa"
    wait_for(lambda: v.imports().get(key), "the restore in the status")
    assert v.events("brie.import.conflict") == []

    # a log backup task starts while the restore runs (br log start refuses this itself, but
    # BR does not stop a task that already existed; here: the same state either way)
    state.task("pitr_all", ["*.*"])
    ev = wait_for(lambda: v.events("brie.import.conflict"), "a conflict event")
    assert len(ev) == 1
    ev = ev[0]
    assert (ev["kind"], ev["task"], ev["key"]) == ("restore", "restore-77aa", key)
    assert ev["every_table"] is True
    assert ev["log_backup_tasks"] == [{"name": "pitr_all", "reach": "every_table", "paused": False}]
    assert ev["changefeeds"] == []
    assert ev["tables"] is None and ev["tables_known"] is False
    assert "restore" in ev["message"] and "pitr_all" in ev["message"]
    assert "covers every table, so its tables too" in ev["message"]
    assert "does not name the tables it writes" in ev["message"]
    assert "CONFLICT: a physical restore is running" in v.gw.stderr_text()
    assert v.metric("importgate_brie_import_conflicts") == 1
    assert v.metric("importgate_brie_import_conflict_events_total") == 1

    # a changefeed on some tables joins: the set changed, so a second event
    state.changefeed("shopfeed", rules=["shop.*"])
    ev2 = wait_for(lambda: v.events("brie.import.conflict")[1:], "a second conflict event")
    assert len(ev2) == 1
    assert ev2[0]["changefeeds"] == [{"id": "default/default/shopfeed", "state": "normal",
                                      "reach": "some_tables"}]
    assert len(ev2[0]["log_backup_tasks"]) == 1
    imp = v.imports()[key]
    assert imp["conflict"]["every_table"] is True
    assert [c["id"] for c in imp["conflict"]["changefeeds"]] == ["default/default/shopfeed"]
    assert v.metric("importgate_brie_import_conflict_events_total") == 2
    assert v.metric("importgate_brie_import_conflicts") == 1

    # the key deleted outright (not through its lease): ended, and it did conflict
    cs.delete_key(etcd.url, key)
    ended = wait_for(lambda: v.events("brie.import.ended"), "brie.import.ended")
    assert ended[0]["key"] == key and ended[0]["conflicted"] is True
    wait_for(lambda: v.metric("importgate_brie_import_conflicts") == 0, "conflicts gauge back to 0")
    assert v.metric(running("restore")) == 0
    revoke(etcd.url, lease)


def test_changefeed_on_some_tables_may_cover(views, etcd, state):
    # Finished and removed changefeeds never replicate again: no conflict from them.
    state.changefeed("done", state="finished")
    state.changefeed("stagefeed", rules=["stage.*"], state="stopped")
    v = views()
    register(etcd.url, "import-into", "30001")
    key = PREFIX + "import-into/30001"
    ev = wait_for(lambda: v.events("brie.import.conflict"), "a conflict event")[0]
    assert ev["kind"] == "import-into" and ev["task"] == "30001"
    assert ev["every_table"] is False
    assert ev["changefeeds"] == [{"id": "default/default/stagefeed", "state": "stopped",
                                  "reach": "some_tables"}]
    assert "cover some tables, possibly its tables" in ev["message"]
    assert v.imports()[key]["conflict"]["every_table"] is False
    assert v.metric(running("import-into")) == 1


def test_lease_expiry_ends_it_and_unleased_keys_are_ignored(views, etcd, state):
    v = views()
    # no lease: BR's GetImportTasksFrom and TiCDC's hasRunningImport skip such a key
    cs.put(etcd.url, PREFIX + "lightning/unleased", "")
    register(etcd.url, "lightning", "short", ttl=2)  # nothing keeps it alive
    key = PREFIX + "lightning/short"
    wait_for(lambda: v.events("brie.import.started"), "brie.import.started")
    ended = wait_for(lambda: v.events("brie.import.ended"), "the lease to expire")
    assert ended[0]["key"] == key
    st = v.status()
    assert st["imports"] == []
    assert st["ignored"] == [{"key": PREFIX + "lightning/unleased",
                              "reason": "no lease: BR and TiCDC ignore it"}]
    assert [e["key"] for e in v.events("brie.import.started")] == [key]


def test_registration_there_before_the_gateway(views, etcd, state):
    lease = register(etcd.url, "restore", "restore-early", value=b"x")
    key = PREFIX + "restore/restore-early"
    v = views()
    imp = wait_for(lambda: v.imports().get(key), "the registration in the status")
    assert imp["seen_at_start"] is True
    assert imp["value_bytes"] == 1  # reported, never interpreted: no stored version writes one
    started = wait_for(lambda: v.events("brie.import.started"), "brie.import.started")
    assert started[0]["seen_at_start"] is True
    assert "running import found at start: restore" in v.gw.stderr_text()
    revoke(etcd.url, lease)
    wait_for(lambda: v.events("brie.import.ended"), "brie.import.ended")


def test_pd_unreachable_keeps_what_was_known(views, etcd, state):
    v = views()
    lease = register(etcd.url, "lightning", "l-keep")
    key = PREFIX + "lightning/l-keep"
    wait_for(lambda: v.imports().get(key), "the registration in the status")
    etcd.pause()
    try:
        st = wait_for(lambda: (lambda s: s if s["error"] else None)(v.status()), "a read error")
        assert "cannot read the running-import registrations" in st["error"]
        assert key in {i["key"] for i in st["imports"]}  # the last known set is kept
        assert v.events("brie.import.ended") == []  # never "ended" because PD did not answer
        assert v.metric('importgate_brie_registration_reads_total{result="error"}') >= 1
    finally:
        etcd.resume()
    wait_for(lambda: v.status()["error"] is None, "reads to succeed again")
    assert key in v.imports()
    assert v.events("brie.import.ended") == []
    revoke(etcd.url, lease)


# ---------------------------------------------------------------- guarded or not (Lightning)
# A guarded run (`importgate lightning run`) keeps a guard record under
# /importgate/<cluster>/lightning-runs/<run> bound to its lease, and binds its Lightning's
# registration there (key, create_revision, lease: policy/ltnguard.h). The records are written
# here as the guarded run writes them; test_lightning.py runs the real guarded run.

UNGUARDED = "importgate_brie_import_unguarded_total"
READS = 'importgate_brie_registration_reads_total{result="ok"}'


def guards_prefix(v):
    return "/importgate/%s/lightning-runs/" % (v.gw.config.get("cluster", {}).get("name") or "default")


def current_revision(url):
    return int(cs._post(url, "/v3/kv/range", {"key": cs._b64("/")})["header"]["revision"])


def key_info(url, key):
    kv = cs._post(url, "/v3/kv/range", {"key": cs._b64(key)})["kvs"][0]
    return int(kv["create_revision"]), int(kv.get("lease", 0))


def put_guard(url, v, run, after_rev, lease, reg=None):
    body = {"run": run, "replica": "lightning-run:test:1", "task": "/t.toml", "started_ms": 1,
            "after_revision": after_rev, "ambiguous": False, "registration": reg}
    cs._post(url, "/v3/kv/put", {"key": cs._b64(guards_prefix(v) + run), "value": cs._b64(json.dumps(body)),
                                 "lease": str(lease)})


def more_rounds(v, n=3):
    """Waits until the monitor has read the prefix n more times."""
    start = v.metric(READS) or 0
    wait_for(lambda: (v.metric(READS) or 0) >= start + n, "%d more reads" % n)


def unguarded_events(v, task):
    return [e for e in v.events("brie.import.unguarded") if e["task"] == task]


def test_unguarded_lightning_reported_once_loudly(views, etcd, state):
    """A Lightning registration no guarded run bound, while a log backup task exists: one
    brie.import.unguarded, the counter, an ERROR line; not again at the next reads. A restore
    is not a Lightning run: not judged."""
    state.task("pitr", ["shop.*"])
    v = views()
    lease = register(etcd.url, "lightning", "lightning-ung1")
    rlease = register(etcd.url, "restore", "restore-ung1")
    key = PREFIX + "lightning/lightning-ung1"
    ev = wait_for(lambda: unguarded_events(v, "lightning-ung1"), "brie.import.unguarded")[0]
    assert ev["guarded"] is False and ev["key"] == key and ev["kind"] == "lightning", ev
    assert ev["log_backup_task_count"] == 1 and ev["changefeed_count"] == 0, ev
    assert v.metric(UNGUARDED) == 1
    assert "UNGUARDED LIGHTNING: a TiDB Lightning physical import (\"lightning-ung1\")" in v.gw.stderr_text()
    # the status is published at the end of the round that wrote the event; the restore was
    # registered after the Lightning run, so that round may not have read it yet
    rkey = PREFIX + "restore/restore-ung1"
    imps = wait_for(lambda: (lambda i: i if i.get(key, {}).get("guard") == "unguarded" and rkey in i else None)(
        v.imports()), "the status says unguarded and lists the restore")
    assert "guard" not in imps[rkey], imps[rkey]
    more_rounds(v)
    assert len(unguarded_events(v, "lightning-ung1")) == 1 and v.metric(UNGUARDED) == 1
    assert v.events("brie.import.unguarded") == [ev]
    revoke(etcd.url, lease)
    revoke(etcd.url, rlease)


def test_unguarded_lightning_without_tasks_is_a_warning(views, etcd, state):
    v = views()
    lease = register(etcd.url, "lightning", "lightning-ung2")
    ev = wait_for(lambda: unguarded_events(v, "lightning-ung2"), "brie.import.unguarded")[0]
    assert ev["log_backup_task_count"] == 0 and ev["changefeed_count"] == 0, ev
    err = v.gw.stderr_text()
    assert "unguarded Lightning: a TiDB Lightning physical import (\"lightning-ung2\")" in err
    assert "UNGUARDED LIGHTNING" not in err
    revoke(etcd.url, lease)


def test_guarded_registration_is_not_reported_and_a_copied_name_is(views, etcd, state):
    """A guard that started before the registration: pending until it binds it, then
    guarded, never reported. A put of the same key under another lease (an unguarded run
    copying the name) no longer matches the binding: reported."""
    state.task("pitr", ["shop.*"])
    v = views()
    glease = grant(etcd.url, 60)
    put_guard(etcd.url, v, "run-g1", current_revision(etcd.url), glease)
    lease = register(etcd.url, "lightning", "lightning-g1")
    key = PREFIX + "lightning/lightning-g1"
    wait_for(lambda: v.imports().get(key, {}).get("guard") == "pending", "pending")
    assert v.imports()[key]["guard_run"] == "run-g1"
    crev, l = key_info(etcd.url, key)
    assert l == lease
    put_guard(etcd.url, v, "run-g1", 1, glease, {"key": key, "create_revision": crev, "lease": lease})
    wait_for(lambda: v.imports()[key].get("guard") == "guarded", "guarded")
    more_rounds(v)
    assert unguarded_events(v, "lightning-g1") == [] and (v.metric(UNGUARDED) or 0) == 0
    # the same name, put again under another lease
    copy = grant(etcd.url, 60)
    cs._post(etcd.url, "/v3/kv/put", {"key": cs._b64(key), "value": "", "lease": str(copy)})
    wait_for(lambda: unguarded_events(v, "lightning-g1"), "the copy reported")
    wait_for(lambda: v.imports()[key].get("guard") == "unguarded", "the status says unguarded")
    assert v.metric(UNGUARDED) == 1
    revoke(etcd.url, copy)
    revoke(etcd.url, lease)
    revoke(etcd.url, glease)


def test_pending_registration_reported_once_its_guard_is_gone(views, etcd, state):
    """The guard that might have bound it ends without binding it: reported then."""
    v = views()
    glease = grant(etcd.url, 60)
    put_guard(etcd.url, v, "run-g2", current_revision(etcd.url), glease)
    lease = register(etcd.url, "lightning", "lightning-g2")
    key = PREFIX + "lightning/lightning-g2"
    wait_for(lambda: v.imports().get(key, {}).get("guard") == "pending", "pending")
    assert unguarded_events(v, "lightning-g2") == []
    revoke(etcd.url, glease)
    wait_for(lambda: unguarded_events(v, "lightning-g2"), "reported once the guard is gone")
    revoke(etcd.url, lease)
