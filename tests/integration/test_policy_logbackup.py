"""End-to-end policy tests, log backup tasks (README.md "Why", docs/TIDB_GUIDE.md, compatibility guide
"Used with log backup"): real etcd holding tasks exactly as BR writes them, the gateway in
front of the TiDB double, PyMySQL as the client. Every test checks what the client got and
what reached the double (its statement log), byte for byte."""

import pytest

from policy_helpers import (PRECHECK, V75, Received, connect,  # noqa: F401
                            double, etcd, last_decision, policy_gw, query, rule, run,
                            start_double, state)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SQL = "IMPORT INTO t FROM 's3://bucket/data/t.*.csv'"
SQL_STAGE = "IMPORT INTO stage.t FROM 's3://bucket/data/t.*.csv'"
ADDED = " WITH DISABLE_PRECHECK"


def assert_import_row(out, table):
    """The double's 13-column IMPORT INTO result for a finished job."""
    assert out.ok, out
    assert len(out.results) == 1 and len(out.results[0]) == 1, out
    row = out.results[0][0]
    assert len(row) == 13
    assert row[2] == table and row[5] == "finished", row


def assert_rejected(out, *needles):
    assert out.code == PRECHECK, out
    assert out.message.startswith("PreCheck failed: importgate: "), out.message
    for n in needles:
        assert n in out.message, (n, out.message)


def test_no_task_passes_unchanged(policy_gw, double, state):
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, SQL)
    assert_import_row(out, "`shop`.`t`")
    assert rx.sqls() == [SQL]
    assert ": pass, rule (defaults)" in last_decision(gw)


def test_covering_task_required_is_refused(policy_gw, double, state):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, SQL)
    assert_rejected(out, 'shop.t is covered by log backup task "pitr_shop"',
                    "log_backup: required")
    assert rx.sqls() == []
    assert ": reject, rule (defaults)" in last_decision(gw)


def test_rejection_names_every_covering_task(policy_gw, double, state):
    state.task("nightly_pitr", ["*.*"])
    state.task("shop_pitr", ["shop.t"])
    state.task("stage_pitr", ["stage.*"])  # exists, does not cover shop.t: not named
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, SQL)
    assert_rejected(out, 'log backup task "nightly_pitr"', 'log backup task "shop_pitr"')
    assert "stage_pitr" not in out.message
    assert rx.sqls() == []


def test_task_whose_key_differs_from_its_name_still_covers(policy_gw, double, state):
    # The key's last segment may differ from the protobuf name (field 4); such a task must
    # not be skipped. (The gateway names it by its key; TiDB by the protobuf name.)
    state.task("nightly_pitr", ["*.*"], key_name="key_differs")
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, SQL)
    assert_rejected(out, "shop.t is covered by log backup task")
    assert rx.sqls() == []


def test_not_needed_adds_disable_precheck(policy_gw, double, state):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw({"rules": [rule("scratch", tables=["shop.*"], log_backup="not-needed")]})
    rx = Received(double)
    out = query(gw, SQL)
    assert_import_row(out, "`shop`.`t`")
    assert rx.sqls() == [SQL + ADDED]
    assert ': add-disable-precheck, rule scratch' in last_decision(gw)


def test_snapshot_after_import_adds_and_owes_snapshot(policy_gw, double, state):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw({"rules": [rule("load-then-backup", log_backup="snapshot-after-import")]})
    rx = Received(double)
    out = query(gw, SQL)
    assert_import_row(out, "`shop`.`t`")
    assert rx.sqls() == [SQL + ADDED]
    line = last_decision(gw)
    assert ": add-disable-precheck, rule load-then-backup" in line, line
    assert "log_backup: snapshot-after-import" in line, line


def test_task_not_covering_adds_and_tidb_alone_refuses(policy_gw, double, state):
    state.task("pitr_stage", ["stage.*"])
    # Without the gateway, TiDB's own precheck refuses whatever the task's filter says.
    direct = query(double.port, SQL)
    assert direct.code == PRECHECK
    assert direct.message == "PreCheck failed: found PiTR log streaming task(s): [pitr_stage],"
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, SQL)
    assert_import_row(out, "`shop`.`t`")
    assert rx.sqls() == [SQL + ADDED]


def test_added_to_an_existing_with_list(policy_gw, double, state):
    state.task("pitr_stage", ["stage.*"])
    gw = policy_gw()
    sql = "import into t (a, @b) set c = @b from 's3://bucket/x.csv' with thread=2, detached"
    rx = Received(double)
    out = query(gw, sql)
    assert out.ok, out
    assert out.results[0][0][5] == "pending"  # DETACHED: the row comes back at once
    assert rx.sqls() == [sql + ", DISABLE_PRECHECK"]


@pytest.mark.parametrize("pause_v2", [False, True], ids=["pause-empty", "pause-v2-json"])
def test_paused_task_still_covers(policy_gw, double, state, pause_v2):
    state.task("pitr_paused", ["shop.*"], paused=True, pause_v2=pause_v2)
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, SQL)
    assert_rejected(out, 'log backup task "pitr_paused" (paused')
    assert rx.sqls() == []


def test_paused_task_elsewhere_still_blocks_tidb(policy_gw, double, state):
    state.task("pitr_paused", ["stage.*"], paused=True)
    gw = policy_gw()
    rx = Received(double)
    assert_import_row(query(gw, SQL), "`shop`.`t`")
    assert rx.sqls() == [SQL + ADDED]


def test_users_own_disable_precheck_on_covered_table_refused(policy_gw, double, state):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, SQL + " WITH DISABLE_PRECHECK")
    assert_rejected(out, "DISABLE_PRECHECK is refused", 'log backup task "pitr_shop"')
    assert rx.sqls() == []


def test_users_own_disable_precheck_uncovered_kept_once(policy_gw, double, state):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    sql = SQL_STAGE + " WITH Disable_Precheck"
    rx = Received(double)
    out = query(gw, sql)
    assert_import_row(out, "`stage`.`t`")
    assert rx.sqls() == [sql]
    assert "own DISABLE_PRECHECK is kept" in last_decision(gw)


def test_removed_task_no_longer_counts(policy_gw, double, state):
    from policy_helpers import cs
    state.task("pitr_gone", ["*.*"])
    cs.delete_log_backup_task(state.url, "pitr_gone")  # what `br log stop` removes
    gw = policy_gw()
    rx = Received(double)
    assert_import_row(query(gw, SQL), "`shop`.`t`")
    assert rx.sqls() == [SQL]


def test_state_is_read_fresh_for_each_import(policy_gw, double, state):
    gw = policy_gw()
    c = connect(gw)
    try:
        rx = Received(double)
        assert_import_row(run(c, SQL), "`shop`.`t`")
        state.task("pitr_new", ["shop.*"])
        out = run(c, SQL)
        assert_rejected(out, 'log backup task "pitr_new"')
        assert rx.sqls() == [SQL]
    finally:
        c.close()


# --------------------------------------------------------------- TiDB v7.5: no DISABLE_PRECHECK


@pytest.fixture(scope="module")
def double75(etcd, tmp_path_factory):
    srv = start_double(etcd.url, str(tmp_path_factory.mktemp("double75") / "statements.jsonl"),
                       version=V75)
    yield srv
    srv.stop()


def test_v75_any_task_refused_with_reason(policy_gw, double75, state):
    state.task("pitr_stage", ["stage.*"])  # does not cover shop.t, but TiDB would stop
    gw = policy_gw({"rules": [rule("all-ok", log_backup="not-needed")]},
                   backend=("127.0.0.1", double75.port))
    rx = Received(double75)
    out = query(gw, SQL)
    assert_rejected(out, 'log backup task "pitr_stage"', "v7.5.1",
                    "no DISABLE_PRECHECK (it came in v8.0.0)")
    assert rx.sqls() == []
    assert ": reject, rule all-ok" in last_decision(gw)


def test_v75_no_task_passes(policy_gw, double75, state):
    gw = policy_gw(backend=("127.0.0.1", double75.port))
    rx = Received(double75)
    assert_import_row(query(gw, SQL), "`shop`.`t`")
    assert rx.sqls() == [SQL]
