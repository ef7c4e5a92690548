"""Attack 2 (redaction): sqlparse/redact.c redact_agreed() collects adjacent string literals
in a fixed array g[64] and flushes the group when it is full, so a run of more than 64
adjacent literals is redacted as two (or more) independent groups. The server joins every
adjacent literal of a run into one value (the gateway's own import parser does too:
sqlparse/import.c decode_strings reads the location as the joined value), so a location
whose secret-access-key value starts in literal 65 loses only the part in the first group:
the second group ('PLANTEDTAIL...') is not a URI and holds no name=, and is written to
the audit log verbatim. Backend: the TiDB double; the target is uncovered (allowed), and
the audit record is written before anything is forwarded."""

import json

import pytest

from policy_helpers import connect, double, etcd, policy_gw, rule, run, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SECRET = "PLANTEDSECRETTAIL42"


def test_secret_after_64_adjacent_literals_reaches_audit(policy_gw, double, state):
    state.task("elsewhere", filters=["other.*"])
    gw = policy_gw(policy={"rules": [rule("stage", tables=["stage.*"], log_backup="not-needed")]},
                   audit={"log_statements": "all"})
    head = "'s3://bucket/t.csv?access-key=AKIAX&secret-access-key='"
    loc = head + " ''" * 63 + " '" + SECRET + "'"
    sql = "IMPORT INTO stage.t FROM " + loc
    c = connect(gw)
    try:
        run(c, sql)
    finally:
        c.close()
    text = gw.audit_text_after("import.decision")
    decisions = [json.loads(x) for x in text.splitlines() if '"import.decision"' in x]
    assert decisions, text
    # the gateway itself read the location as one joined value holding the secret
    assert SECRET not in text, [d.get("statement") for d in decisions]
    assert SECRET not in gw.stderr_text()
