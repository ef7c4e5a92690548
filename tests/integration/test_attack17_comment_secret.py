"""Attack 17 (credential leak, comments): sqlparse/redact.c redacts string literals; the lexer
skips comments, so their text was copied into the audit record as it came. A script that
keeps the old location, with its keys, in a comment beside the new one

    IMPORT INTO t FROM 's3://b/new.csv' -- was 's3://b/old.csv?access-key=..&secret-access-key=..'

had those keys written into the durable `import.decision` record (default configuration),
and a batch holding one did not count as holding a credential (TiDB's answer to it, which
may quote the comment, was logged). Fixed in the model: a comment's text is free text and is
redacted as such (sql_redact_text: every scheme://... loses its userinfo password, query and
fragment; every credential name=value or name: value its value); a comment longer than
64 KiB is withheld whole, like a literal group of that size."""

import json

import pytest

from policy_helpers import connect, double, etcd, policy_gw, rule, run, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SK = "PLANTEDCOMMENTSK17"


@pytest.mark.parametrize("comment", [
    "/* was 's3://b/old.csv?access-key=AKIAOLD&secret-access-key=%s' */" % SK,
    "/* s3://AKIAOLD:%s@b/old.csv */" % SK,
    "-- secret-access-key: %s\n" % SK,
    "# sas-token=%s\n" % SK,
])
def test_secret_in_comment_not_in_decision_record(policy_gw, double, state, comment):
    state.task("elsewhere", filters=["other.*"])
    gw = policy_gw(policy={"rules": [rule("stage", tables=["stage.*"], log_backup="not-needed")]})
    c = connect(gw)
    try:
        run(c, "IMPORT INTO stage.t " + comment + " FROM 's3://b/new.csv' WITH THREAD=1")
    finally:
        c.close()
    text = gw.audit_text_after("import.decision")
    dec = [json.loads(x) for x in text.splitlines() if '"import.decision"' in x]
    assert dec and "s3://b/new.csv" in dec[0]["statement"], text  # the record is there
    assert SK not in text, [ln for ln in text.splitlines() if SK in ln]
    assert SK not in gw.stderr_text()
