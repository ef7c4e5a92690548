"""End-to-end policy tests for rule matching (README.md "Why", conf/importgate.yaml policy.rules): by user
regex (anchored), client host regex, table filter, first match wins, `action: deny` and
`action: pass`. A log backup task covering every table is in a real etcd; the client's answer
and what reached the TiDB double are checked."""

import time

import pytest

from harness import timing
from policy_helpers import (PRECHECK, Received, double, etcd, last_decision,  # noqa: F401
                            policy_gw, query, rule, state)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

ADDED = " WITH DISABLE_PRECHECK"


def imp(table):
    return "IMPORT INTO %s FROM 's3://bucket/%s.csv'" % (table, table.replace(".", "-"))


def assert_added(gw, double, table, user="root"):
    sql = imp(table)
    rx = Received(double)
    out = query(gw, sql, user=user)
    assert out.ok and out.results[0][0][5] == "finished", out
    assert rx.sqls() == [sql + ADDED]


def assert_refused(gw, double, table, *needles, user="root"):
    rx = Received(double)
    out = query(gw, imp(table), user=user)
    assert out.code == PRECHECK, out
    assert out.message.startswith("PreCheck failed: importgate: "), out.message
    for n in needles:
        assert n in out.message, (n, out.message)
    assert rx.sqls() == []
    return out


@pytest.fixture
def covered(state):
    state.task("pitr_all", ["*.*"])
    return state


def test_user_regex(policy_gw, double, covered):
    gw = policy_gw({"rules": [rule("etl", users="etl_.*", log_backup="not-needed")]})
    assert_added(gw, double, "shop.t", user="etl_loader")
    assert_refused(gw, double, "shop.t", "no policy rule matches 'alice'", user="alice")
    assert "rule (defaults)" in last_decision(gw)


def test_user_regex_is_anchored(policy_gw, double, covered):
    gw = policy_gw({"rules": [rule("etl", users="etl", log_backup="not-needed")]})
    assert_refused(gw, double, "shop.t", "defaults apply", user="etl_loader")


def test_host_regex(policy_gw, double, covered):
    gw = policy_gw({"rules": [rule("remote", hosts=r"10\..*", log_backup="not-needed"),
                              rule("local", hosts=r"127\.0\.0\.1", log_backup="not-needed",
                                   users="alice")]})
    assert_added(gw, double, "shop.t", user="alice")
    assert ": add-disable-precheck, rule local" in last_decision(gw)
    assert_refused(gw, double, "shop.t", "defaults apply", user="root")


def test_table_filter_and_first_match_wins(policy_gw, double, covered):
    gw = policy_gw({"rules": [
        rule("keep-deny", tables=["shop.keep"], action="deny"),
        rule("shop-scratch", tables=["shop.*"], log_backup="not-needed"),
        rule("shop-keep-late", tables=["shop.keep"], log_backup="not-needed"),
    ]})
    assert_refused(gw, double, "shop.keep", "is not allowed", 'policy rule "keep-deny"',
                   "(action: deny)")
    assert_added(gw, double, "shop.t")
    assert ": add-disable-precheck, rule shop-scratch" in last_decision(gw)
    assert_refused(gw, double, "stage.t", "defaults apply")


def test_table_filter_negation_falls_through(policy_gw, double, covered):
    gw = policy_gw({"rules": [rule("most-of-shop", tables=["shop.*", "!shop.keep"],
                                   log_backup="not-needed")]})
    assert_added(gw, double, "shop.t")
    assert_refused(gw, double, "shop.keep", "defaults apply")


def test_table_filter_is_case_insensitive(policy_gw, double, covered):
    gw = policy_gw({"rules": [rule("shop", tables=["SHOP.T"], log_backup="not-needed")]})
    assert_added(gw, double, "Shop.t")


def test_deny_without_any_task(policy_gw, double, state):
    gw = policy_gw({"rules": [rule("no-imports", users="alice", action="deny")]})
    assert_refused(gw, double, "shop.t", "IMPORT INTO shop.t is not allowed for 'alice'",
                   'policy rule "no-imports" (action: deny)', user="alice")
    sql = imp("shop.t")
    rx = Received(double)
    assert query(gw, sql, user="root").ok  # another user is not concerned
    assert rx.sqls() == [sql]


def test_pass_forwards_as_is(policy_gw, double, covered):
    gw = policy_gw({"rules": [rule("trusted", users="root", action="pass")]})
    sql = imp("shop.t")
    rx = Received(double)
    out = query(gw, sql)
    # Nothing added: TiDB's own precheck answers.
    assert (out.code, out.message) == (
        PRECHECK, "PreCheck failed: found PiTR log streaming task(s): [pitr_all],")
    assert rx.sqls() == [sql]
    assert ": pass, rule trusted" in last_decision(gw)
    # A trusted user's own DISABLE_PRECHECK goes through untouched.
    rx = Received(double)
    out = query(gw, sql + " WITH DISABLE_PRECHECK")
    assert out.ok, out
    assert rx.sqls() == [sql + " WITH DISABLE_PRECHECK"]


def test_rules_reload_live(policy_gw, double, covered):
    gw = policy_gw()
    assert_refused(gw, double, "shop.t", "defaults apply")
    gw.reload({"policy": {"rules": [rule("now-ok", log_backup="not-needed")]}})
    out, deadline = None, time.monotonic() + timing.bound(30)  # the reload is asynchronous
    while time.monotonic() < deadline:
        rx = Received(double)
        out = query(gw, imp("shop.t"))
        if out.ok:
            break
        time.sleep(0.1)
    assert out.ok, "the reloaded rule never applied: %r" % out
    assert rx.sqls() == [imp("shop.t") + ADDED]
