"""An IMPORT INTO nested in a statement that runs it is an import.

TiDB runs the statement inside `PLAN REPLAYER DUMP [WITH STATS AS OF TIMESTAMP ...] EXPLAIN
[ANALYZE] <stmt>`, `EXPLAIN ANALYZE <stmt>`, `TRACE <stmt>` (pkg/parser/parser.y; the list
with sources is in sqlparse/classify.c). Such a statement carrying a covered import with its
own DISABLE_PRECHECK was forwarded unchanged and unaudited. Now an IMPORT INTO keyword pair
anywhere in a statement makes it an import candidate, whatever wraps it: decided like a plain
import (refused when covered), and when it is allowed only the import inside is rewritten.
Also inside PREPARE ... FROM '...' and inside a batch. Backend: the TiDB double."""

import json

import pytest

from policy_helpers import (  # noqa: F401  (fixtures)
    DB1, PRECHECK, Received, double, etcd, policy_gw, query, state,
)

IMP = "IMPORT INTO orders FROM 's3://b/o.csv' WITH DISABLE_PRECHECK"
PLAIN = "IMPORT INTO orders FROM 's3://b/o.csv'"

WRAPPERS = [
    "PLAN REPLAYER DUMP EXPLAIN %s",
    "PLAN REPLAYER DUMP EXPLAIN ANALYZE %s",
    "plan replayer dump with stats as of timestamp '2026-01-01 00:00:00' explain analyze %s",
    "PLAN /* c */ REPLAYER\nDUMP EXPLAIN ANALYZE %s",
    "EXPLAIN ANALYZE %s",
    "EXPLAIN FORMAT='brief' ANALYZE %s",
    "DESC ANALYZE %s",
    "TRACE %s",
    "TRACE FORMAT='row' %s",
    "/*!PLAN REPLAYER DUMP EXPLAIN ANALYZE */ %s",
    "SOMETHING NEW TiDB MAY ADD %s",
]


def _refused(out):
    return out.code == PRECHECK and out.message.startswith("PreCheck failed: importgate: ")


@pytest.mark.parametrize("wrapper", WRAPPERS)
@pytest.mark.parametrize("form", ["plain", "batch", "prepare"])
def test_covered_nested_import_refused(policy_gw, double, state, wrapper, form):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    stmt = wrapper % IMP
    if form == "batch":
        sql, multi = "SELECT 1; " + stmt + "; SELECT 2", True
    elif form == "prepare":
        sql, multi = "PREPARE s FROM '%s'" % stmt.replace("'", "''"), False
    else:
        sql, multi = stmt, False
    rx = Received(double)
    out = query(gw, sql, multi=multi)
    # Refused by the policy, or (a shape it cannot parse) as unparsable: never forwarded.
    assert not out.ok, out
    assert _refused(out) or out.code == 1064, out
    assert rx.sqls() == [], rx.sqls()


@pytest.mark.parametrize("wrapper", WRAPPERS[:4] + ["EXPLAIN ANALYZE %s", "TRACE %s"])
def test_uncovered_nested_import_gets_disable_precheck_inside(policy_gw, double, state, wrapper):
    # Something exists, nothing covers shop.orders: DISABLE_PRECHECK is added to the import
    # inside; the wrapper stays byte for byte.
    state.task("pitr_stage", ["stage.*"])
    gw = policy_gw()
    rx = Received(double)
    query(gw, wrapper % PLAIN)
    got = rx.sqls()
    assert got == [wrapper % (PLAIN + " WITH DISABLE_PRECHECK")], got
    lines = [json.loads(x) for x in open(gw.config["audit"]["path"]) if x.strip()]
    assert any(e.get("event") == "import.decision" and e.get("table") == "shop.orders" for e in lines)


def test_import_words_in_a_string_literal_are_data(policy_gw, double, state):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    rx = Received(double)
    sql = "SELECT 'PLAN REPLAYER DUMP EXPLAIN %s'" % IMP.replace("'", "''")
    out = query(gw, sql)
    assert out.ok, out
    assert rx.sqls() == [sql]
