"""Attack 2 (indirect import): TiDB's SET SESSION_STATES '<json>' restores a session from
the JSON SHOW SESSION_STATES prints (pkg/sessionctx/sessionstates/session_states.go:
SessionStates.PreparedStmts `json:"prepared-stmts"`, PreparedStmtInfo{Name `json:"name"`,
StmtText `json:"text"`, StmtDB `json:"db"`}): every prepared statement in it is prepared
again from its text, under its name, so a later `EXECUTE s` (or COM_STMT_EXECUTE of its id)
runs it. The gateway reads the JSON as an ordinary string literal: the IMPORT INTO inside
is data to sqlparse/classify.c (no IMPORT INTO token pair outside literals), and with the
text JSON-escaped (\\u0049MPORT) the statement has no 'import' and no ';' and
sql_quick_reject() (sqlparse/quick.c: SET without sql_mode) passes it without any
inspection. `EXECUTE s` is then a plain statement (quick.c: "EXECUTE runs a statement
already decided at PREPARE time" - but this one was never decided). The covered import
with its own DISABLE_PRECHECK reaches TiDB. Backend: the TiDB double's statement log."""

import json

import pytest

from policy_helpers import PRECHECK, Received, connect, double, etcd, policy_gw, run, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

IMP = "IMPORT INTO shop.orders FROM 's3://b/o.csv' WITH DISABLE_PRECHECK"


def _states(text, escape):
    doc = json.dumps({"prepared-stmts": {"1": {"name": "s", "text": text, "db": "shop"}},
                      "prepared-stmt-id": 1})
    if escape:
        doc = doc.replace("IMPORT", "\\u0049MPORT")
    return "SET SESSION_STATES '%s'" % doc.replace("\\", "\\\\").replace("'", "''")


@pytest.mark.parametrize("escape", [False, True])
def test_set_session_states_carrying_covered_import(policy_gw, double, state, escape):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = connect(gw)
    rx = Received(double)
    try:
        plain = run(c, IMP)  # positive control: the plain statement is refused
        assert plain.code == PRECHECK, plain
        run(c, _states(IMP, escape))
        run(c, "EXECUTE s")
    finally:
        c.close()
    got = rx.sqls()
    # A SESSION_STATES that prepares a covered import with DISABLE_PRECHECK, and the
    # EXECUTE that runs it, must not both reach TiDB.
    assert not any("SESSION_STATES" in q for q in got) or "EXECUTE s" not in got, got
