"""Attack 2 (table matching): TiDB resolves a database or table name by its lower-cased
form, and that form is Go's strings.ToLower (pkg/parser/ast model.NewCIStr: L =
strings.ToLower(O); infoschema looks schemas and tables up by .L), in which U+0130 LATIN
CAPITAL LETTER I WITH DOT ABOVE becomes plain 'i' (unicode.ToLower, _CaseRanges delta
-199; the same fact sqlparse/redact.c go_fold relies on). BR's table filter
(CaseInsensitive) lowers names the same way. The gateway matches names against task and
changefeed filters with PCRE2 caseless matching (policy/tablefilter.c set_literal/compile),
whose Unicode case folding has no mapping from U+0130 to 'i'. So `İnventory`.items
names TiDB's covered inventory.items, but the gateway finds no task for it, adds
DISABLE_PRECHECK and forwards it. Backend: the TiDB double (its statement log)."""

import pytest

from policy_helpers import PRECHECK, Received, double, etcd, policy_gw, query, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


def _refused(out):
    return out.code == PRECHECK and out.message.startswith("PreCheck failed: importgate: ")


def test_positive_control_plain_name_refused(policy_gw, double, state):
    state.task("pitr_inv", ["inventory.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO Inventory.items FROM 's3://b/i.csv' WITH DISABLE_PRECHECK")
    assert _refused(out), out
    assert rx.sqls() == []


@pytest.mark.parametrize("filt,target", [("inventory.*", "`\u0130nventory`.items"),
                                         ("inventory.*", "\u0130NVENTORY.items"),
                                         ("inventory.items", "inventory.`\u0130tems`")])
def test_dotted_capital_i_names_covered_table(policy_gw, double, state, filt, target):
    state.task("pitr_inv", [filt])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO %s FROM 's3://b/i.csv' WITH DISABLE_PRECHECK" % target)
    # TiDB reads the target as inventory.items (covered by pitr_inv): it must be refused.
    assert _refused(out), (out, rx.sqls())
    assert rx.sqls() == [], rx.sqls()
