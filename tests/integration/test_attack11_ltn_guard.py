"""test_attack11_ltn_guard.py - attacks on the gateways' judgement of Lightning registrations
against guard records (proxy/brmon.c, policy/ltnguard.c; docs/LIGHTNING.md "Unguarded runs").

A guard record with nothing bound makes every Lightning registration created after its
after_revision "pending" (not reported). Such a record can be one that never binds: a guarded
run whose child never registers, or one written by hand by anyone who can write PD's etcd (the
access Lightning itself needs to register: PD's etcd has no per-key access control). Before the
fix, a hand-started Lightning was then never reported while that record lived, and a record
written without a lease lives for ever. The gateway now reports a registration still pending
after IG_LTN_PENDING_MAX_S (a guarded run binds its own within one binder round, 300 ms).

The keys are written into the harness's real etcd through its v3 JSON API, as
test_brie_registrations.py writes them. Every wait is a poll with a generous bound."""

import json
import time

import pytest

from harness import ports
from policy_helpers import double, etcd, policy_gw, state  # noqa: F401  (fixtures)

import clusterstate as cs  # noqa: E402  (tests/tidb_double, put on the path by policy_helpers)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

PREFIX = "/tidb/brie/import/"
WAIT = 60.0
PENDING_MAX_S = 3
UNGUARDED = "importgate_brie_import_unguarded_total"
READS = 'importgate_brie_registration_reads_total{result="ok"}'

import test_brie_registrations as tb  # noqa: E402  (its Views, grant/register/revoke helpers)


def wait_for(pred, what, timeout=WAIT):
    return tb.wait_for(pred, what, timeout)


@pytest.fixture
def views(policy_gw, state, monkeypatch):
    monkeypatch.setenv("IG_LTN_PENDING_MAX_S", str(PENDING_MAX_S))

    def start(**kw):
        admin_port = ports.free_port()
        gw = policy_gw(admin={"listen": "127.0.0.1:%d" % admin_port}, **kw)
        assert ports.wait_port("127.0.0.1", admin_port, 10)
        return tb.Views(gw, admin_port)
    return start


def put_guard_raw(url, v, run, body, lease=None):
    req = {"key": cs._b64(tb.guards_prefix(v) + run), "value": cs._b64(json.dumps(body))}
    if lease:
        req["lease"] = str(lease)
    cs._post(url, "/v3/kv/put", req)


def delete_key(url, key):
    cs._post(url, "/v3/kv/deleterange", {"key": cs._b64(key)})


def unguarded(v, task):
    return [e for e in v.events("brie.import.unguarded") if e["task"] == task]


def test_forged_unleased_pending_guard_does_not_hide_a_hand_started_lightning(views, etcd, state):
    """A guard record put by hand, with no lease and after_revision 1, that never binds: a
    Lightning registered after it is pending at first, then reported (before: pending for
    ever, never reported)."""
    state.task("pitr", ["shop.*"])
    v = views()
    put_guard_raw(etcd.url, v, "forged-a", {"run": "forged-a", "after_revision": 1, "registration": None})
    try:
        lease = tb.register(etcd.url, "lightning", "lightning-a11-forged")
        key = PREFIX + "lightning/lightning-a11-forged"
        ev = wait_for(lambda: unguarded(v, "lightning-a11-forged"), "brie.import.unguarded")[0]
        assert ev["key"] == key and ev["guarded"] is False, ev
        assert v.metric(UNGUARDED) == 1
        assert "UNGUARDED LIGHTNING" in v.gw.stderr_text()
        wait_for(lambda: v.imports().get(key, {}).get("guard") == "unguarded", "the status says unguarded")
        tb.revoke(etcd.url, lease)
    finally:
        delete_key(etcd.url, tb.guards_prefix(v) + "forged-a")


def test_live_guard_that_never_binds_does_not_hide_a_registration(views, etcd, state):
    """The same with a guard record on a live, kept lease (a guarded run whose binder never binds:
    its child is not Lightning, or its binder is stuck): reported while the guard still lives."""
    v = views()
    glease = tb.grant(etcd.url, 120)
    tb.put_guard(etcd.url, v, "stuck-b", tb.current_revision(etcd.url), glease)
    lease = tb.register(etcd.url, "lightning", "lightning-a11-stuck")
    key = PREFIX + "lightning/lightning-a11-stuck"
    wait_for(lambda: unguarded(v, "lightning-a11-stuck"), "brie.import.unguarded")
    assert v.imports()[key]["guard"] == "unguarded"
    assert v.metric(UNGUARDED) == 1
    tb.revoke(etcd.url, lease)
    tb.revoke(etcd.url, glease)


def test_a_guard_that_binds_in_time_is_never_reported(views, etcd, state):
    """The bound does not report a registration its guard binds (as a guarded run does within a
    round): guarded, and still unreported well after the pending bound has passed."""
    v = views()
    glease = tb.grant(etcd.url, 120)
    tb.put_guard(etcd.url, v, "run-c", tb.current_revision(etcd.url), glease)
    lease = tb.register(etcd.url, "lightning", "lightning-a11-bound")
    key = PREFIX + "lightning/lightning-a11-bound"
    crev, l = tb.key_info(etcd.url, key)
    tb.put_guard(etcd.url, v, "run-c", 1, glease, {"key": key, "create_revision": crev, "lease": l})
    wait_for(lambda: v.imports().get(key, {}).get("guard") == "guarded", "guarded")
    time.sleep(PENDING_MAX_S + 1)  # not a wait for an event: the bound must pass without one
    tb.more_rounds(v)
    assert unguarded(v, "lightning-a11-bound") == [] and (v.metric(UNGUARDED) or 0) == 0
    assert v.imports()[key]["guard"] == "guarded"
    tb.revoke(etcd.url, lease)
    tb.revoke(etcd.url, glease)


def test_guard_prefix_stuffed_past_one_answer_does_not_hide_a_lightning(views, etcd, state):
    """Anyone who can write PD's etcd puts a few large values under the guard prefix: the
    gateway's one range answer over it is capped (4 MiB, pd/ltnguardread.c), so the guard records
    cannot be read and (before) no Lightning was judged, hence none reported, while the
    registrations themselves were read. Now a registration left unjudged past the pending bound
    is reported."""
    state.task("pitr", ["shop.*"])
    v = views()
    junk = [tb.guards_prefix(v) + "junk-%d" % i for i in range(4)]
    for k in junk:
        cs._post(etcd.url, "/v3/kv/put", {"key": cs._b64(k), "value": cs._b64("x" * (1200 * 1024))})
    try:
        lease = tb.register(etcd.url, "lightning", "lightning-a11-stuffed")
        key = PREFIX + "lightning/lightning-a11-stuffed"
        ev = wait_for(lambda: unguarded(v, "lightning-a11-stuffed"), "brie.import.unguarded")[0]
        assert ev["key"] == key, ev
        assert "cannot be read" in ev["message"], ev
        assert "UNGUARDED LIGHTNING" in v.gw.stderr_text()
        assert v.metric(UNGUARDED) == 1
        tb.revoke(etcd.url, lease)
    finally:
        for k in junk:
            delete_key(etcd.url, k)


@pytest.mark.parametrize("task", [b"lightning-\xff\xfe-a11", b"lightning-" + b"k" * 3000],
                         ids=["non-utf8", "huge"])
def test_odd_registration_key_under_a_looking_guard_is_reported(views, etcd, state, task):
    """A registration whose key is not UTF-8, or too long for a bind key's name (a real
    Lightning's is lightning-<uuid>; these need PD etcd access): a guarded run cannot bind it
    (its guard record is JSON; its bind key name is bounded), so a looking guard would keep it
    pending. The gateway stays up and reports it after the pending bound."""
    v = views()
    glease = tb.grant(etcd.url, 120)
    tb.put_guard(etcd.url, v, "looking-odd", tb.current_revision(etcd.url), glease)
    key = PREFIX.encode() + b"lightning/" + task
    lease = tb.grant(etcd.url, 120)
    cs._post(etcd.url, "/v3/kv/put", {"key": cs._b64(key), "value": "", "lease": str(lease)})
    try:
        ev = wait_for(lambda: [e for e in v.events("brie.import.unguarded") if e["kind"] == "lightning"],
                      "brie.import.unguarded")
        assert len(ev) == 1, ev
        assert v.gw.alive()
        assert v.metric(UNGUARDED) == 1
    finally:
        tb.revoke(etcd.url, lease)
        tb.revoke(etcd.url, glease)
