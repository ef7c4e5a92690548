"""Attack 18 (credential leak, default configuration): an IMPORT INTO option value may be a
hex literal (sqlparse/import.c parse_value keeps its raw text, SQL_OPTV_OTHER), and the
durable import.decision record writes every option through ig_audit_set_option, which
redacts CLOUD_STORAGE_URI as a location: the raw text "0x7333..." reads as no location, so
the hex spelling of a location with its keys was kept in `options`, with no
`log_statements` setting needed. The server reads a hex literal as the string it spells."""

import json

import pytest

from policy_helpers import connect, double, etcd, policy_gw, rule, run, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

P = "PLANTEDHEXOPT18"
PHEX = P.encode().hex()


@pytest.mark.parametrize("value", [
    "0x" + ("s3://sort/p?access-key=AK&secret-access-key=" + P).encode().hex(),
    "X'" + ("s3://AKIA18:" + P + "@sort/p").encode().hex() + "'",
])
def test_hex_option_value_not_in_decision_record(policy_gw, double, state, value):
    state.task("elsewhere", filters=["other.*"])
    gw = policy_gw(policy={"rules": [rule("stage", tables=["stage.*"], log_backup="not-needed")]})
    c = connect(gw)
    try:
        run(c, "IMPORT INTO stage.t FROM 's3://b/new.csv' WITH CLOUD_STORAGE_URI=" + value + ", THREAD=1")
    finally:
        c.close()
    text = gw.audit_text_after("import.decision")
    dec = [json.loads(x) for x in text.splitlines() if '"import.decision"' in x]
    assert dec and "s3://b/new.csv" in dec[0]["statement"], text  # the record is there
    assert "cloud_storage_uri" in {k.lower() for k in dec[0].get("options", {})}, dec[0]
    assert PHEX not in text.lower(), [ln for ln in text.splitlines() if PHEX in ln.lower()]
    assert P not in text
    assert PHEX not in gw.stderr_text().lower()
