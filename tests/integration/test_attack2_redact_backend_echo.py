"""Attack 2 (redaction of backend messages): the gateway reads a location written as
adjacent literals as one joined value (sqlparse/import.c decode_strings), decides on it
and forwards the statement. TiDB's IMPORT INTO takes a single stringLit after FROM, so it
(and the TiDB double, tests/tidb_double/importstmt.py parse_import) answers 1064 with the
rest of the statement from the offending token: near "'PLANTED...' ...". The value of
secret-access-key, alone in the second literal, carries neither a scheme nor a name=, so
sql_redact_text (sqlparse/redact.c; join_adjacent only joins when both quoted pieces are
in the text) keeps it, and proxy/session.c (the import.result log line and the
import.result audit event) writes it out."""

import json
import time

import pytest

from harness import timing
from policy_helpers import connect, double, etcd, policy_gw, rule, run, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SECRET = "PLANTEDECHOSECRET77"


def test_secret_echoed_by_backend_error_is_logged(policy_gw, double, state):
    state.task("elsewhere", filters=["other.*"])
    gw = policy_gw(policy={"rules": [rule("stage", tables=["stage.*"], log_backup="not-needed")]})
    sql = ("IMPORT INTO stage.t FROM 's3://bucket/t.csv?access-key=AKIAX&secret-access-key=' '"
           + SECRET + "'")
    c = connect(gw)
    try:
        out = run(c, sql)
    finally:
        c.close()
    assert out.code == 1064, out  # the server refused it, quoting the statement
    deadline = time.monotonic() + timing.bound(10)
    while "import.result" not in gw.audit_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = gw.audit_text()
    assert '"import.result"' in text, text
    # the decision record itself is redacted (positive control)
    dec = [json.loads(x) for x in text.splitlines() if '"import.decision"' in x]
    assert dec and SECRET not in dec[0]["statement"], dec
    err = gw.stderr_text()
    assert SECRET not in err, [ln for ln in err.splitlines() if SECRET in ln]
    assert SECRET not in text, [ln for ln in text.splitlines() if SECRET in ln]
