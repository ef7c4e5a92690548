"""test_attack11_ltn_run.py - a guarded run whose Lightning exits 0 without registering.

The binder drops a suspect (a registration it had bound that went while Lightning ran on) when
Lightning exits with status 0: a successful physical import registered, so the key that went
may have been its own (docs/LIGHTNING.md "Unguarded runs"). `-V` was a kept flag: with it,
Lightning prints its version and exits 0 having imported nothing and registered nothing
(pingcap/tidb pkg/lightning/config/global.go LoadGlobalConfig: `if *printVersion {
fmt.Println(build.Info()); return nil, flag.ErrHelp }`, and config.go Must: `case flag.ErrHelp:
os.Exit(0)`), the one case the binder's rule cannot hold. A version print needs no guard: the
guarded run refuses -V with Lightning not started."""

import json
import os
import time

import pytest

from policy_helpers import etcd, state  # noqa: F401  (fixtures)
from test_lightning import DOUBLE, dump, ig, refused_run, task_file
from test_obligations import doubles, obl_gw  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


@pytest.mark.parametrize("flag", ["-V", "--V", "-V=true"])
def test_version_flag_refused(tmp_path, doubles, obl_gw, state, etcd, mariadb, flag):  # noqa: F811
    p, audit = refused_run(tmp_path, doubles, obl_gw, etcd, mariadb, "staging.a11v", [flag])
    assert "Lightning's flag V would change what was checked" in p.stderr, p.stderr
    started = [json.loads(ln) for ln in audit.splitlines() if '"lightning.started"' in ln]
    assert started == [], started


def test_squatted_bind_key_does_not_keep_a_hand_started_lightning_pending(tmp_path, doubles, obl_gw, state,  # noqa: F811
                                                                         etcd, mariadb, monkeypatch):
    """A guarded run whose Lightning has not registered yet is looking; a Lightning started by
    hand registers, and whoever started it (with PD etcd access, as Lightning has) creates the
    bind key of that registration first: the guarded run's CAS loses every round, so it never
    binds it and its guard stays "looking" - which made the registration pending, never
    reported, for as long as the guarded Lightning ran. The gateway now reports it after the
    pending bound."""
    import clusterstate as cs  # noqa: E402  (tests/tidb_double)
    from test_lightning import held_run, hand_task, setup_run, started_guarded, unguarded

    monkeypatch.setenv("IG_LTN_PENDING_MAX_S", "3")  # the gateway's pending bound
    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["staging.a11_sq"], [])
    # IG_LTN_BIND_DELAY_MS: the binder waits between its pick and its CAS, so the squat (which an
    # attacker writes from a watch, well within a 300 ms round) is written first here too
    g = started_guarded(gw, task, tmp_path, "holdg", {"IG_LTN_CLOSE_GRACE_S": "600", "IG_LTN_BIND_DELAY_MS": "4000"})
    ht = hand_task(tmp_path, etcd.url, mariadb, up, "staging.a11_sq_hand")
    hold_h = str(tmp_path / "holdh")
    try:
        hand, hkey = held_run([DOUBLE, "-config", ht, "-check-requirements=false"], hold_h)
        kv = cs._post(etcd.url, "/v3/kv/range", {"key": cs._b64(hkey)})["kvs"][0]
        name = "%d-%s" % (int(kv["create_revision"]), hkey.encode().hex())
        cs._post(etcd.url, "/v3/kv/put", {"key": cs._b64("/importgate/ltntest/lightning-binds/" + name),
                                          "value": cs._b64("squatter")})
        ev = tb_wait(lambda: unguarded(gw, hkey), "the hand-started registration reported")
        assert ev[0]["key"] == hkey, ev
    finally:
        for h in ("holdg", "holdh"):
            open(tmp_path / h, "w").close()
        cs._post(etcd.url, "/v3/kv/deleterange", {"key": cs._b64("/importgate/ltntest/lightning-binds/"),
                                                  "range_end": cs._b64("/importgate/ltntest/lightning-binds0")})
    g.communicate(timeout=120)
    hand.communicate(timeout=120)


def tb_wait(pred, what, timeout=60.0):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    v = pred()
    assert v, "timed out waiting for " + what
    return v


def test_hand_started_run_bound_when_the_guarded_lightning_is_killed_is_reported(tmp_path, doubles, obl_gw,  # noqa: F811
                                                                                 state, etcd, mariadb):
    """The guarded Lightning has not registered yet; a Lightning started by hand registers and is
    bound; then the guarded Lightning is killed (SIGKILL: exit 137). The bound key may have been
    the killed one's, left to its lease, so the guarded run held it - and when the hand-started
    one ended normally (revoking its lease) within the TTL + margin, it let it go quietly: never
    reported (docs/LIGHTNING.md "Not done yet" listed the window; anyone can kill their own guarded
    Lightning). A killed Lightning revokes nothing, so a bound key gone with time left on its lease
    was ended by a live process: now reported by the guarded run."""
    import signal

    import clusterstate as cs  # noqa: E402  (tests/tidb_double)
    from test_lightning import (audit_events, guard_records, hand_task, held_run, setup_run, started_guarded,
                                wait_file, wait_for)

    up, gw, task = setup_run(tmp_path, doubles, obl_gw, state, mariadb, etcd.url, ["staging.a11_k"], [])
    g = started_guarded(gw, task, tmp_path, "holdg", {"IG_LTN_CLOSE_GRACE_S": "600"})
    gpid = int(open(str(tmp_path / "holdg") + ".started").read())
    ht = hand_task(tmp_path, etcd.url, mariadb, up, "staging.a11_k_hand")
    hold_h = str(tmp_path / "holdh")
    hand, hkey = held_run([DOUBLE, "-config", ht, "-check-requirements=false"], hold_h)
    try:
        wait_for(lambda: [r for r in guard_records(etcd.url)
                          if (r.get("registration") or {}).get("key") == hkey], 30, "the hand-started one bound")
        os.kill(gpid, signal.SIGKILL)  # the guarded Lightning, before it registered
        time.sleep(2)  # not a wait for an event: the run is to see the exit while the key is there
        open(hold_h, "w").close()  # the hand-started Lightning ends normally: it revokes its lease
        hand.communicate(timeout=60)
        ev = wait_for(lambda: [e for e in audit_events(gw, "brie.import.unguarded") if e["key"] == hkey], 60,
                      "the hand-started run reported")
    finally:
        for h in ("holdg", "holdh"):
            open(tmp_path / h, "w").close()
    out, err = g.communicate(timeout=120)
    assert g.returncode != 0, (out, err)
    assert "was killed" in ev[0]["message"] and "UNGUARDED LIGHTNING" in err, (ev, err)
    assert cs._post(etcd.url, "/v3/kv/range", {"key": cs._b64(hkey)}).get("kvs") is None
