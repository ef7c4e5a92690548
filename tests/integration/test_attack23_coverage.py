"""Attack 23 (how the gateway reads coverage from PD's etcd): tables really covered that the
gateway judged uncovered, so that it added WITH DISABLE_PRECHECK and TiDB ran the import.

1. A case-sensitive changefeed compares the names TiDB stores (tiflow pkg/filter/filter.go
   NewFilter: tfilter.CaseInsensitive only when case-sensitive is false; ShouldIgnoreTable
   is given the TableInfo's stored schema and table names), while TiDB resolves a
   statement's names case-insensitively. With rules ["*.*", "!shop.Orders"] and the table
   created as shop.orders, TiCDC replicates it; `IMPORT INTO shop.Orders` names that table,
   and the gateway read "Orders" against the rule as written: excluded.

2. The same for a log backup task: `br log start` matches its filter against the stored names
   (br/pkg/stream buildObserveTableRanges: MatchTable(dbInfo.Name.O, tableInfo.Name.O)),
   case-insensitively unless its hidden --case-sensitive flag is given (br/pkg/task/common.go
   ParseFromFlags; br/cmd/br/stream.go DefineFilterFlags(command, acceptAllTables, true)), and
   the task info (kvproto StreamBackupTaskInfo) keeps the rules only. Under that flag
   ["shop.*", "!shop.Scratch"] observes shop.scratch; the gateway read the rules
   case-insensitively and judged it excluded.

3. A literal pattern is lowered by TiDB with Go's strings.ToLower (pkg/util/table-filter
   matchers.go stringMatcher.toLower), which maps U+0130 to 'i'; the gateway compared it
   with pcre2's caseless matching, which does not. So a task `İnventory.*` (BR lowers it to
   inventory.*) covers inventory.items, and the gateway judged it uncovered.

Run against the default v8.5 double: covered and refused by the default rule, never sent."""

import json

import pytest

from policy_helpers import (Received, double, etcd, policy_gw, query,  # noqa: F401
                            refused_by_gateway, state)

import clusterstate as cs  # noqa: E402 (tests/tidb_double, put on sys.path by policy_helpers)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


@pytest.mark.parametrize("case_sensitive", ["true", "absent"])
def test_case_sensitive_exclusion_spelled_like_the_rule(policy_gw, double, etcd, case_sensitive):
    rules = ("*.*", "!shop.Orders")
    info = cs.changefeed_info("cf-cs", rules=rules, case_sensitive=True)
    if case_sensitive == "absent":  # an info without the key: TiCDC's default is not known
        del info["config"]["case-sensitive"]
    cs.put_changefeed(etcd.url, "cf-cs", rules=rules, raw_info=json.dumps(info))
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO shop.Orders FROM 's3://b/t.csv'")
    assert refused_by_gateway(out), (out, rx.sqls())
    assert rx.imports() == [], rx.imports()


def test_case_insensitive_exclusion_still_excludes(policy_gw, double, state):
    # control: a case-insensitive changefeed excludes every spelling (TiCDC lowers both)
    state.changefeed("cf-ci", ["*.*", "!shop.Orders"], case_sensitive=False)
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO shop.orders FROM 's3://b/t.csv'")
    assert not refused_by_gateway(out), out
    assert [s for s in rx.imports() if "DISABLE_PRECHECK" in s], rx.sqls()


def test_task_exclusion_maybe_case_sensitive(policy_gw, double, state):
    state.task("pitr_shop", ["shop.*", "!shop.Scratch"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO shop.scratch FROM 's3://b/t.csv'")
    assert refused_by_gateway(out), (out, rx.sqls())
    assert rx.imports() == [], rx.imports()


def test_task_exclusion_of_every_spelling_still_excludes(policy_gw, double, state):
    # control: a schema name without letters cannot be stored in another case
    state.task("pitr_most", ["*.*", "!2024.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO `2024`.t FROM 's3://b/t.csv'")
    assert not refused_by_gateway(out), out
    assert [s for s in rx.imports() if "DISABLE_PRECHECK" in s], rx.sqls()


def test_task_literal_lowered_as_go_does(policy_gw, double, state):
    state.task("pitr_inv", ["\u0130nventory.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO inventory.items FROM 's3://b/i.csv'")
    assert refused_by_gateway(out), (out, rx.sqls())
    assert rx.imports() == [], rx.imports()
