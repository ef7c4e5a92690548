"""test_attack14_ltn_guard.py - attacks on the agreement between the guarded run's binder and
the gateways' judgement of Lightning registrations (policy/ltnguard.c, proxy/brmon.c,
pd/ltnguardread.c; docs/LIGHTNING.md "Unguarded runs").

- A cluster.name of 101-128 characters (the config allows 128): the gateways read the guard
  records under the name cut to 100 characters, the guarded run writes them under the whole
  name, so no guard record was ever seen: every guarded Lightning was reported unguarded.
- A registration whose key the binder never picks (not UTF-8, over 1024 bytes) was held pending
  under a looking guard for the pending bound instead of reported at once.
- A registration that ended while still pending was dropped unreported: a Lightning started by
  hand that registered while a guard that does not bind (a guarded run killed before its
  Lightning registered, whose record waits out its 10 s lease) lived, and ended within the
  20 s pending bound, was never reported.

Keys are written into the harness's real etcd through its v3 JSON API as
test_brie_registrations.py writes them; the guarded runs are the real `importgate lightning
run` with the Lightning double. Every wait is a poll with a generous bound."""

import os
import signal
import time

import pytest

from harness.gateway import binary_path
from policy_helpers import double, etcd, policy_gw, state  # noqa: F401  (fixtures)
from test_obligations import doubles, obl_gw  # noqa: F401  (fixtures)

import clusterstate as cs  # noqa: E402  (tests/tidb_double, put on the path by policy_helpers)
import test_brie_registrations as tb  # noqa: E402
from test_brie_registrations import views  # noqa: E402,F401  (fixture)
from test_lightning import (DOUBLE, _double_store, audit_events, dump, guard_records, hand_task,  # noqa: E402,F401
                            held_run, started_guarded, task_file, wait_for)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

PREFIX = "/tidb/brie/import/"
WAIT = 60.0
LONG_NAME = "c" * 120  # cluster.name may be 1 to 128 characters (policy/config_check.c)


def unguarded(events, key):
    return [e for e in events if e["key"] == key]


def test_guarded_run_under_a_long_cluster_name_is_guarded(tmp_path, doubles, obl_gw, state, etcd,  # noqa: F811
                                                          mariadb):
    """A guarded run under a 120-character cluster.name binds its Lightning's registration; the
    gateway (same config) must judge it guarded, not report it (before: the gateway read
    /importgate/<first 100 characters>/lightning-runs/, saw no guard record, and reported the
    guarded Lightning unguarded)."""
    up, down = doubles(job_delay=0.1)
    state.task("pitr", ["shop.*"])
    gw, admin = obl_gw(up, down, [], cluster_name=LONG_NAME, admin=True)
    v = tb.Views(gw, admin)
    src = dump(tmp_path / "d", ["staging.a14_long"])
    task = task_file(tmp_path / "t.toml", src, etcd_url=etcd.url, mariadb=mariadb, tidb_port=up.port)
    hold = str(tmp_path / "hold")
    p, key = held_run([binary_path(), "lightning", "run", "-c", gw.config_path, "--task", task, "--",
                       DOUBLE, "-config", task], hold)
    try:
        wait_for(lambda: [r for r in guard_records(etcd.url, cluster=LONG_NAME)
                          if (r.get("registration") or {}).get("key") == key], 30, "the binding")
        imp = wait_for(lambda: v.imports().get(key, {}).get("guard") in ("guarded", "unguarded")
                       and v.imports()[key], 30, "the gateway's verdict")
        assert imp["guard"] == "guarded", imp
    finally:
        open(hold, "w").close()
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, (out, err)
    wait_for(lambda: [e for e in audit_events(gw, "brie.import.ended") if e["key"] == key], 30, "ended")
    assert unguarded(audit_events(gw, "brie.import.unguarded"), key) == []


@pytest.mark.parametrize("task", [b"lightning-\xff\xfe-a14", b"lightning-\xed\xa0\x80-a14",
                                  b"lightning-" + b"k" * (1024 - len(PREFIX) - len("lightning/") - 9)],
                         ids=["non-utf8", "surrogate", "1025-bytes"])
def test_unbindable_key_is_reported_at_once(views, etcd, state, monkeypatch, task):
    """A registration the binder never picks (ig_ltn_bindable) under a looking guard: reported at
    once, not after the pending bound (set far away here: 600 s), and never judged pending."""
    monkeypatch.setenv("IG_LTN_PENDING_MAX_S", "600")
    state.task("pitr", ["shop.*"])
    v = views()
    key = PREFIX.encode() + b"lightning/" + task
    if task.endswith(b"k"):
        assert len(key) == 1025  # one byte over what a guard record may name
    glease = tb.grant(etcd.url, 120)
    tb.put_guard(etcd.url, v, "looking-a14", tb.current_revision(etcd.url), glease)
    lease = tb.grant(etcd.url, 120)
    cs._post(etcd.url, "/v3/kv/put", {"key": cs._b64(key), "value": "", "lease": str(lease)})
    try:
        ev = tb.wait_for(lambda: [e for e in v.events("brie.import.unguarded") if e["kind"] == "lightning"],
                         "brie.import.unguarded", WAIT)
        assert len(ev) == 1, ev
        assert "no guarded run bound its registration" in ev[0]["message"], ev
        assert v.gw.alive()
    finally:
        tb.revoke(etcd.url, lease)
        tb.revoke(etcd.url, glease)


def test_unbindable_key_is_reported_at_once_while_guard_records_are_unreadable(views, etcd, state, monkeypatch):
    """The same while the guard records cannot be read (their prefix stuffed past one answer, as
    test_attack11_ltn_guard.py does): no guard record can name the key, so it is reported at once
    rather than after the pending bound (600 s here)."""
    monkeypatch.setenv("IG_LTN_PENDING_MAX_S", "600")
    v = views()
    junk = [tb.guards_prefix(v) + "junk-a14-%d" % i for i in range(4)]
    for k in junk:
        cs._post(etcd.url, "/v3/kv/put", {"key": cs._b64(k), "value": cs._b64("x" * (1200 * 1024))})
    key = PREFIX.encode() + b"lightning/lightning-\xff\xfe-a14-stuffed"
    lease = tb.grant(etcd.url, 120)
    try:
        cs._post(etcd.url, "/v3/kv/put", {"key": cs._b64(key), "value": "", "lease": str(lease)})
        ev = tb.wait_for(lambda: [e for e in v.events("brie.import.unguarded") if e["kind"] == "lightning"],
                         "brie.import.unguarded", WAIT)
        assert len(ev) == 1, ev
        assert v.status()["guard_error"], v.status()  # the records were unreadable meanwhile
    finally:
        tb.revoke(etcd.url, lease)
        for k in junk:
            cs._post(etcd.url, "/v3/kv/deleterange", {"key": cs._b64(k)})


def test_registration_that_ends_while_pending_is_reported(views, etcd, state, monkeypatch):
    """A guard that never binds (stands in for a guarded run that cannot: killed before its
    Lightning registered, or its binder failing) keeps a hand-started registration pending; the
    registration ends before the pending bound (600 s here): reported as it ends (before: dropped
    unreported)."""
    monkeypatch.setenv("IG_LTN_PENDING_MAX_S", "600")
    monkeypatch.setenv("IG_LTN_PENDING_ENDED_S", "2")
    state.task("pitr", ["shop.*"])
    v = views()
    glease = tb.grant(etcd.url, 120)
    tb.put_guard(etcd.url, v, "stuck-a14", tb.current_revision(etcd.url), glease)
    try:
        lease = tb.register(etcd.url, "lightning", "lightning-a14-short")
        key = PREFIX + "lightning/lightning-a14-short"
        tb.wait_for(lambda: v.imports().get(key, {}).get("guard") == "pending", "pending")
        time.sleep(3)  # not a wait for an event: it is to have been pending longer than the ended bound
        assert tb.unguarded_events(v, "lightning-a14-short") == []
        tb.revoke(etcd.url, lease)
        ev = tb.wait_for(lambda: tb.unguarded_events(v, "lightning-a14-short"), "reported as it ended", WAIT)
        assert len(ev) == 1 and ev[0]["key"] == key, ev
        assert "it ended with no guarded run having bound its registration" in ev[0]["message"], ev
        assert "UNGUARDED LIGHTNING" in v.gw.stderr_text()
        tb.wait_for(lambda: [e for e in v.events("brie.import.ended") if e["key"] == key], "ended")
    finally:
        tb.revoke(etcd.url, glease)


def test_killed_guarded_run_does_not_hide_a_short_hand_started_lightning(tmp_path, doubles, obl_gw, state,  # noqa: F811
                                                                        etcd, mariadb, monkeypatch):
    """The guarded run itself is killed (SIGKILL) while its Lightning has not registered: its
    guard record, unbound, waits out its store lease (10 s). A Lightning started by hand in that
    window is pending; it ends before the guard record goes and well within the 20 s pending
    bound: reported (before: never, the count of unguarded runs was one short)."""
    monkeypatch.setenv("IG_LTN_PENDING_ENDED_S", "1")
    up, down = doubles(job_delay=0.1)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, [], cluster_name="ltntest")
    task = task_file(tmp_path / "t.toml", dump(tmp_path / "d", ["staging.a14_k"]), etcd_url=etcd.url,
                     mariadb=mariadb, tidb_port=up.port)
    g = started_guarded(gw, task, tmp_path, "holdg", {})
    ht = hand_task(tmp_path, etcd.url, mariadb, up, "staging.a14_k_hand")
    hold_h = str(tmp_path / "holdh")
    try:
        assert len(guard_records(etcd.url)) == 1
        os.kill(g.pid, signal.SIGKILL)  # the guarded run; its Lightning (the double) runs on, held
        g.wait(timeout=60)  # (not communicate: the orphaned double holds the run's pipes open)
        assert len(guard_records(etcd.url)) == 1  # waits out its lease
        hand, hkey = held_run([DOUBLE, "-config", ht, "-check-requirements=false"], hold_h)
        time.sleep(2)  # not a wait for an event: pending longer than the ended bound (1 s here)
        alive = len(guard_records(etcd.url)) == 1
        open(hold_h, "w").close()  # the hand-started Lightning ends, revoking its key
        hand.communicate(timeout=60)
        ev = wait_for(lambda: unguarded(audit_events(gw, "brie.import.unguarded"), hkey), WAIT,
                      "the hand-started run reported")
        assert len(ev) == 1, ev
        if alive:  # (on a slow machine the record may have gone first: then reported while it ran)
            assert "it ended with no guarded run having bound its registration" in ev[0]["message"], ev
    finally:
        open(tmp_path / "holdg", "w").close()  # the orphaned guarded Lightning goes on and ends
        open(hold_h, "w").close()
    g.communicate(timeout=120)  # its pipes close when the orphaned double exits
    wait_for(lambda: guard_records(etcd.url) == [], 60, "the killed run's guard record gone with its lease")


def test_ambiguous_guard_is_written_even_when_the_first_write_fails(tmp_path, doubles, obl_gw, state, etcd,  # noqa: F811
                                                                     mariadb, monkeypatch):
    """A guarded run whose Lightning has not registered sees two new registrations at once: it
    binds neither and marks its guard ambiguous, so the gateways report both. That write failed
    once (IG_LTN_FAIL_AMBIGUOUS_PUTS=1 stands in for etcd failing that one request) and was never
    tried again: the guard record stayed "looking", holding both registrations (and every later
    one) pending at the gateways while the binder bound nothing. Now it is written at a later
    round and both are reported at once (the pending bound is set far away here: 600 s)."""
    monkeypatch.setenv("IG_LTN_PENDING_MAX_S", "600")
    up, down = doubles(job_delay=0.1)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, [], cluster_name="ltntest")
    task = task_file(tmp_path / "t.toml", dump(tmp_path / "d", ["staging.a14_amb"]), etcd_url=etcd.url,
                     mariadb=mariadb, tidb_port=up.port)
    g = started_guarded(gw, task, tmp_path, "holdg", {"IG_LTN_FAIL_AMBIGUOUS_PUTS": "1"})
    keys = [PREFIX + "lightning/lightning-a14-amb-%d" % i for i in range(2)]
    leases = [tb.grant(etcd.url, 120) for _ in keys]
    try:
        # two registrations in one etcd revision: the binder cannot see one without the other
        cs._post(etcd.url, "/v3/kv/txn", {"success": [
            {"request_put": {"key": cs._b64(k), "value": "", "lease": str(le)}} for k, le in zip(keys, leases)]})
        wait_for(lambda: [r for r in guard_records(etcd.url) if r.get("ambiguous")], WAIT,
                 "the guard record marked ambiguous")
        for k in keys:
            wait_for(lambda: unguarded(audit_events(gw, "brie.import.unguarded"), k), WAIT, "%s reported" % k)
    finally:
        for le in leases:
            tb.revoke(etcd.url, le)
        open(tmp_path / "holdg", "w").close()
    out, err = g.communicate(timeout=120)
    assert g.returncode == 0, (out, err)
    assert "cannot be marked ambiguous (IG_LTN_FAIL_AMBIGUOUS_PUTS" in err, err
    assert "none is bound, and the gateways report each as unguarded" in err, err
