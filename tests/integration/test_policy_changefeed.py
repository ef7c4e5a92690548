"""End-to-end policy tests, TiCDC changefeeds (README.md "Why", docs/TIDB_GUIDE.md, compatibility guide
"Used with TiCDC"): changefeeds written to a real etcd as TiCDC writes them, in both key
layouts (v6.2+ /tidb/cdc/<cluster>/<namespace>/changefeed/info/<id> and the legacy
/tidb/cdc/changefeed/info/<id>), the gateway in front of the TiDB double. Each test checks the
client's answer and the double's statement log."""

import pytest

from policy_helpers import (PRECHECK, Received, cs, double, etcd, last_decision,  # noqa: F401
                            policy_gw, query, rule, state)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SQL = "IMPORT INTO shop.orders FROM 's3://bucket/orders/*.csv' FORMAT 'csv'"
ADDED = " WITH DISABLE_PRECHECK"
LAYOUTS = pytest.mark.parametrize("legacy", [False, True], ids=["v6.2+", "legacy"])


def assert_finished(out):
    assert out.ok, out
    row = out.results[0][0]
    assert row[2] == "`shop`.`orders`" and row[5] == "finished", row


def assert_rejected(out, *needles):
    assert out.code == PRECHECK, out
    assert out.message.startswith("PreCheck failed: importgate: "), out.message
    for n in needles:
        assert n in out.message, (n, out.message)


@LAYOUTS
def test_covering_changefeed_required_is_refused(policy_gw, double, state, legacy):
    state.changefeed("cf-orders", ["shop.*"], legacy=legacy)
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, SQL)
    shown = "cf-orders" if legacy else "default/default/cf-orders"
    assert_rejected(out, 'shop.orders is covered by changefeed "%s"' % shown,
                    "changefeed: required")
    assert rx.sqls() == []
    assert ": reject, rule (defaults)" in last_decision(gw)


@LAYOUTS
def test_not_needed_adds_disable_precheck(policy_gw, double, state, legacy):
    state.changefeed("cf-orders", ["shop.*"], legacy=legacy)
    gw = policy_gw({"rules": [rule("no-replication", tables=["shop.orders"],
                                   changefeed="not-needed")]})
    rx = Received(double)
    assert_finished(query(gw, SQL))
    assert rx.sqls() == [SQL + ADDED]
    assert ": add-disable-precheck, rule no-replication" in last_decision(gw)


@LAYOUTS
def test_reimport_downstream_adds_and_owes_reimport(policy_gw, double, state, legacy):
    state.changefeed("cf-orders", ["shop.*"], legacy=legacy)
    gw = policy_gw({"rules": [rule("reimport", changefeed="reimport-downstream")]})
    rx = Received(double)
    assert_finished(query(gw, SQL))
    assert rx.sqls() == [SQL + ADDED]
    line = last_decision(gw)
    assert ": add-disable-precheck, rule reimport" in line, line
    assert "changefeed: reimport-downstream" in line, line


@LAYOUTS
def test_changefeed_not_covering_adds_and_tidb_alone_refuses(policy_gw, double, state, legacy):
    state.changefeed("cf-stage", ["stage.*", "!stage.tmp"], legacy=legacy)
    group = "<nil>" if legacy else "default/default"
    direct = query(double.port, SQL)
    assert direct.code == PRECHECK
    assert direct.message == ("PreCheck failed: found CDC changefeed(s): cluster/namespace: "
                              "%s changefeed(s): [cf-stage], " % group)
    gw = policy_gw()
    rx = Received(double)
    assert_finished(query(gw, SQL))
    assert rx.sqls() == [SQL + ADDED]


@LAYOUTS
@pytest.mark.parametrize("cf_state", ["normal", "stopped", "failed", "error", "warning"])
def test_every_live_state_covers(policy_gw, double, state, legacy, cf_state):
    # a stopped or failed changefeed that resumes would miss the import.
    state.changefeed("cf-orders", ["shop.orders"], state=cf_state, legacy=legacy)
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, SQL)
    assert_rejected(out, "cf-orders")
    if cf_state != "normal":
        assert "(%s)" % cf_state in out.message, out.message
    assert rx.sqls() == []


@LAYOUTS
@pytest.mark.parametrize("cf_state", ["finished", "removed"])
def test_finished_and_removed_are_ignored(policy_gw, double, state, legacy, cf_state):
    state.changefeed("cf-orders", ["shop.orders"], state=cf_state, legacy=legacy)
    gw = policy_gw()
    rx = Received(double)
    assert_finished(query(gw, SQL))
    assert rx.sqls() == [SQL]
    assert ": pass, rule (defaults)" in last_decision(gw)


def test_backup_prefix_changefeed_ignored(policy_gw, double, state):
    # /tidb/cdc/__backup__/ is left by TiCDC's metadata migration; neither TiDB nor the
    # gateway counts it.
    cs.put_backup_changefeed(state.url, "cf-old")
    gw = policy_gw()
    rx = Received(double)
    assert_finished(query(gw, SQL))
    assert rx.sqls() == [SQL]


def test_other_cluster_and_namespace_cover_too(policy_gw, double, state):
    state.changefeed("cf-a", ["shop.orders"], cluster="east-1", namespace="tenant1")
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, SQL)
    assert_rejected(out, 'changefeed "east-1/tenant1/cf-a"')
    assert rx.sqls() == []


def test_case_sensitive_changefeed_counts_either_case(policy_gw, double, state):
    # case-sensitive: true compares the name stored in TiDB, and TiDB resolves the statement's
    # name case-insensitively: shop.orders may be the table Shop.Orders, so it is covered.
    state.changefeed("cf-cs", ["Shop.Orders"], case_sensitive=True)
    gw = policy_gw()
    rx = Received(double)
    assert_rejected(query(gw, SQL), 'changefeed "default/default/cf-cs"')
    assert rx.sqls() == []


def test_case_sensitive_changefeed_other_table_not_covering(policy_gw, double, state):
    state.changefeed("cf-cs", ["Shop.Customers"], case_sensitive=True)
    gw = policy_gw()
    rx = Received(double)
    assert_finished(query(gw, SQL))
    assert rx.sqls() == [SQL + ADDED]


def test_task_and_changefeed_both_named(policy_gw, double, state):
    state.task("pitr_all", ["*.*"])
    state.changefeed("cf-orders", ["shop.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, SQL)
    assert_rejected(out, 'log backup task "pitr_all"', 'changefeed "default/default/cf-orders"')
    assert rx.sqls() == []


def test_task_not_needed_but_changefeed_required_refused(policy_gw, double, state):
    state.task("pitr_all", ["*.*"])
    state.changefeed("cf-orders", ["shop.*"])
    gw = policy_gw({"rules": [rule("half", log_backup="not-needed")]})
    rx = Received(double)
    out = query(gw, SQL)
    assert_rejected(out, 'changefeed "default/default/cf-orders"', 'policy rule "half"')
    assert "pitr_all" not in out.message  # only what `required` refers to is named
    assert rx.sqls() == []
