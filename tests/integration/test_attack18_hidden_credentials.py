"""Attack 18 (credential leak, what the redactor did not see): with `audit.log_statements:
all` every statement is written to the durable audit log through sqlparse/redact.c. Its
model (attack17) withheld a literal only where it looked: a quoted literal right after
BY/AS/USING/=/( in an account statement, a string literal that reads as a location, and
comments read as free text that knew no account statement. So each of these kept a secret:
- a password in a comment (an old CREATE USER kept beside the new one): free text had no
  account model;
- a location spelled as a hex or bit literal (SET GLOBAL tidb_cloud_storage_uri = 0x..):
  the server reads it as a string, the redactor never decoded it;
- a password after a token that disarmed the model (`AS _binary X'..'`, `COLLATE x '..'`);
- a location built by CONCAT with the secret in its userinfo (`'s3://AK:', 'SK@b'`) or in a
  backquoted / hex piece; a location inside a longer literal (`'old: s3://AK:SK@b'`);
- an encryption key (AES_ENCRYPT(c, 'key')).
The double's answer does not matter: the event is written before it."""

import json
import time

import pytest

from harness import timing
from policy_helpers import connect, double, etcd, policy_gw, rule, run, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

P = "PLANTEDA18"
PHEX = P.encode().hex()
LOC_HEX = ("s3://b/p?secret-access-key=" + P).encode().hex()

STATEMENTS = [
    "/* was: CREATE USER app IDENTIFIED BY '" + P + "' */ SELECT 1",
    "SELECT 1 -- ALTER USER u IDENTIFIED WITH caching_sha2_password AS '" + P + "'\n",
    "SET GLOBAL tidb_cloud_storage_uri = 0x" + LOC_HEX,
    "SET GLOBAL tidb_cloud_storage_uri = X'" + LOC_HEX + "'",
    "ALTER USER u18 IDENTIFIED WITH mysql_native_password AS _binary X'" + PHEX + "'",
    "CREATE USER u18 IDENTIFIED BY 'a' COLLATE utf8mb4_bin '" + P + "'",
    "SELECT CONCAT('s3://AKIA18:', '" + P + "@bucket/t.csv')",
    "SELECT CONCAT('s3://b/t.csv?secret-access-key=', `" + P + "`)",
    "SELECT 'old location s3://AKIA18:" + P + "@b/x'",
    "SELECT AES_ENCRYPT('data', '" + P + "')",
]


def _wait_for(gw, what, n=1):
    deadline = time.monotonic() + timing.bound(10)
    while gw.audit_text().count(what) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return gw.audit_text()


def test_hidden_credentials_not_in_statement_events(policy_gw, double, state):
    gw = policy_gw(audit={"log_statements": "all"})
    c = connect(gw)
    try:
        for sql in STATEMENTS:
            run(c, sql)
    finally:
        c.close()
    text = _wait_for(gw, '"event":"statement"', len(STATEMENTS))
    evs = [json.loads(x) for x in text.splitlines() if '"event":"statement"' in x]
    assert len(evs) >= len(STATEMENTS), text  # positive control: every statement audited
    assert any("tidb_cloud_storage_uri" in e["statement"] for e in evs), evs
    leaked = [e["statement"] for e in evs if P in e["statement"] or PHEX in e["statement"].lower()]
    assert not leaked, leaked
    assert P not in text and PHEX not in text.lower()
    assert P not in gw.stderr_text()


def test_statement_in_literal_not_in_statement_events(policy_gw, double, state):
    """Dynamic SQL keeps a statement in a literal: its password was kept (a `statement` event
    for SET @q = '..'; a refused batch, audited whole, for PREPARE s FROM '..')."""
    state.task("elsewhere", filters=["other.*"])
    gw = policy_gw(audit={"log_statements": "all"},
                   policy={"rules": [rule("stage", tables=["stage.*"], log_backup="not-needed")]})
    c = connect(gw, multi=True)
    try:
        run(c, "SET @q18 = 'SET PASSWORD FOR u18 = ''" + P + "'''")
        out = run(c, "PREPARE s18 FROM 'CREATE USER u18 IDENTIFIED BY ''" + P + "'''; SET SESSION_STATES '{}'")
    finally:
        c.close()
    assert out.code is not None, out  # refused by the gateway
    text = _wait_for(gw, "bypass.suspect")
    evs = [json.loads(x) for x in text.splitlines() if '"event":"statement"' in x]
    assert any("SET @q18" in e["statement"] for e in evs), text  # positive controls
    sus = [json.loads(x) for x in text.splitlines() if '"bypass.suspect"' in x]
    assert sus and "PREPARE s18 FROM" in sus[0]["statement"], text
    assert P not in text, [ln for ln in text.splitlines() if P in ln]
    assert P not in gw.stderr_text()


def test_password_cut_by_semicolon_not_in_statement_events(policy_gw, double, state):
    """A batch is audited statement by statement: a ';' inside what the writer meant as the
    password cut it from IDENTIFIED BY, and the tail was audited as a statement of its own."""
    gw = policy_gw(audit={"log_statements": "all"})
    c = connect(gw, multi=True)
    try:
        run(c, "CREATE USER u18 IDENTIFIED BY \"a\";\"" + P + "\"")
    finally:
        c.close()
    text = _wait_for(gw, '"event":"statement"', 2)
    evs = [json.loads(x) for x in text.splitlines() if '"event":"statement"' in x]
    assert any("CREATE USER u18" in e["statement"] for e in evs), text  # positive control
    assert P not in text, [ln for ln in text.splitlines() if P in ln]
