"""End-to-end policy tests when the cluster state cannot be read (README.md "Why", last row:
policy.on_state_unavailable) and for policy.mode dry-run: PD down (closed port, killed etcd),
PD hung (a socket that accepts and never answers: answered within about cluster.timeout_ms),
no PD configured. The client's answer and what reached the TiDB double are both checked."""

import threading
import time

import pytest

from harness import timing
from policy_helpers import (PRECHECK, Received, SilentServer, closed_port_url, cs,  # noqa: F401
                            double, etcd, last_decision, policy_gw, query, start_double, state)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SQL = "IMPORT INTO t FROM 's3://bucket/t.csv'"
SQL_DP = SQL + " WITH DISABLE_PRECHECK"
TIDB_PITR = "PreCheck failed: found PiTR log streaming task(s): [pitr_all],"


def assert_rejected(out, *needles):
    assert out.code == PRECHECK, out
    assert out.message.startswith("PreCheck failed: importgate: "), out.message
    for n in needles:
        assert n in out.message, (n, out.message)


def down(mode):
    return {"on_state_unavailable": mode}


def test_pd_down_defer_passes_unmodified_and_tidb_decides(policy_gw, double, state):
    state.task("pitr_all")  # in the etcd TiDB (the double) reads; the gateway cannot
    gw = policy_gw(down("defer-to-tidb"), cluster={"pd": [closed_port_url()]})
    rx = Received(double)
    out = query(gw, SQL)
    assert (out.code, out.message) == (PRECHECK, TIDB_PITR)  # TiDB's own precheck answered
    assert rx.sqls() == [SQL]
    line = last_decision(gw)
    assert ": pass, rule (defaults)" in line and "cluster state unavailable" in line, line


def test_pd_down_defer_without_task_imports(policy_gw, double, state):
    gw = policy_gw(down("defer-to-tidb"), cluster={"pd": [closed_port_url()]})
    rx = Received(double)
    out = query(gw, SQL)
    assert out.ok and out.results[0][0][5] == "finished", out
    assert rx.sqls() == [SQL]


def test_pd_down_default_is_defer(policy_gw, double, state):
    gw = policy_gw(cluster={"pd": [closed_port_url()]})
    rx = Received(double)
    assert query(gw, SQL).ok
    assert rx.sqls() == [SQL]


def test_pd_down_reject_refuses(policy_gw, double, state):
    gw = policy_gw(down("reject"), cluster={"pd": [closed_port_url()]})
    rx = Received(double)
    out = query(gw, SQL)
    assert_rejected(out, "cannot be read", "on_state_unavailable is reject")
    assert rx.sqls() == []
    assert ": reject, rule (defaults)" in last_decision(gw)


@pytest.mark.parametrize("mode", ["defer-to-tidb", "reject"])
def test_pd_down_disable_precheck_refused_in_both_modes(policy_gw, double, state, mode):
    gw = policy_gw(down(mode), cluster={"pd": [closed_port_url()]})
    rx = Received(double)
    out = query(gw, SQL_DP)
    assert_rejected(out, "cannot be read", "DISABLE_PRECHECK")
    assert rx.sqls() == []


def test_no_pd_configured_counts_as_unavailable(policy_gw, double, state):
    gw = policy_gw(down("reject"), cluster={"pd": []})
    rx = Received(double)
    assert_rejected(query(gw, SQL), "cannot be read")
    assert rx.sqls() == []


def test_second_pd_url_is_tried(policy_gw, double, state, etcd):
    state.task("pitr_all")
    gw = policy_gw(down("defer-to-tidb"), cluster={"pd": [closed_port_url(), etcd.url]})
    rx = Received(double)
    assert_rejected(query(gw, SQL), 'log backup task "pitr_all"')
    assert rx.sqls() == []


def test_killed_etcd(policy_gw, tmp_path):
    """A real etcd killed with SIGKILL: the gateway defers; TiDB (the double, reading the same
    dead etcd) answers with its own failure."""
    (tmp_path / "etcd").mkdir()
    e = cs.Etcd(data_dir=str(tmp_path / "etcd")).start()
    dbl = start_double(e.url, str(tmp_path / "double.jsonl"))
    try:
        cs.put_log_backup_task(e.url, "pitr_all")
        gw = policy_gw(down("defer-to-tidb"), cluster={"pd": [e.url], "timeout_ms": 1000},
                       backend=("127.0.0.1", dbl.port))
        rx = Received(dbl)
        assert_rejected(query(gw, SQL), 'log backup task "pitr_all"')
        e.kill9()
        out = query(gw, SQL)
        assert out.code == 1105 and "etcd" in out.message, out  # the double's precheck
        assert rx.sqls() == [SQL]
        out = query(gw, SQL_DP)
        assert_rejected(out, "cannot be read", "DISABLE_PRECHECK")
        assert rx.sqls() == [SQL]
    finally:
        dbl.stop()
        e.cleanup()


@pytest.mark.parametrize("mode", ["defer-to-tidb", "reject"])
def test_hung_pd_answered_within_timeout(policy_gw, double, state, mode):
    state.task("pitr_all")
    silent = SilentServer()
    try:
        gw = policy_gw(down(mode), cluster={"pd": [silent.url], "timeout_ms": 600})
        rx = Received(double)
        t0 = time.monotonic()
        out = query(gw, SQL)
        elapsed = time.monotonic() - t0
        # waited for PD (never less than timeout_ms), then gave up: not hung
        assert 0.5 <= elapsed < 0.6 + timing.bound(10), elapsed
        if mode == "reject":
            assert_rejected(out, "cannot be read")
            assert rx.sqls() == []
        else:
            assert (out.code, out.message) == (PRECHECK, TIDB_PITR)
            assert rx.sqls() == [SQL]
    finally:
        silent.close()


def test_hung_pd_does_not_block_other_sessions(policy_gw, double, state):
    """An import waiting for a hung PD holds up no other session. Event order, no window:
    the import waits for PD (timeout_ms far longer than the test), another client's SELECT
    is answered while it still waits, then the hung PD goes away and the import is refused
    at once."""
    silent = SilentServer()
    try:
        gw = policy_gw(down("reject"), cluster={"pd": [silent.url], "timeout_ms": 120000})
        before = len(silent.conns)
        res = {}
        t = threading.Thread(target=lambda: res.setdefault("imp", query(gw, SQL)), daemon=True)
        t.start()
        # the import's read of PD is in flight: its connection reached the hung PD
        assert timing.wait_for(lambda: len(silent.conns) > before, 30), "the import never asked PD"
        sel = query(gw, "SELECT 42")  # another client, while the import waits for PD
        assert sel.ok and sel.results == [((42,),)], sel
        assert t.is_alive(), "the import stopped waiting for PD before the SELECT's answer"
    finally:
        silent.close()  # PD gone: the waiting read fails now
    t.join(timing.bound(30))
    assert not t.is_alive(), "the import still waits after PD closed its connection"
    assert_rejected(res["imp"], "cannot be read")


# --------------------------------------------------------------------------- dry-run


def test_dry_run_forwards_unchanged_and_logs_reject(policy_gw, double, state):
    state.task("pitr_all")
    gw = policy_gw({"mode": "dry-run"})
    rx = Received(double)
    out = query(gw, SQL)
    assert (out.code, out.message) == (PRECHECK, TIDB_PITR)  # TiDB's own answer
    assert rx.sqls() == [SQL]
    line = last_decision(gw)
    assert ": reject (dry-run: forwarded unchanged), rule (defaults)" in line, line


def test_dry_run_does_not_add_disable_precheck(policy_gw, double, state):
    state.task("pitr_stage", ["stage.*"])
    gw = policy_gw({"mode": "dry-run"})
    rx = Received(double)
    out = query(gw, SQL)
    assert out.code == PRECHECK and "pitr_stage" in out.message, out
    assert rx.sqls() == [SQL]
    assert ": add-disable-precheck (dry-run: forwarded unchanged)" in last_decision(gw)
