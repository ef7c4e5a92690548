"""Attack 3 (credential leak, redaction of locations): sqlparse/redact.c redact_uri_into ends
the authority at the first '/', '?' or '#' and redacts a password only when that span holds
an '@'. A password that itself holds '/', '?' or '#' - AWS secret access keys are 40 base64
characters and very often hold '/' (and '+') - ends the span early: `s3://AKID:wJal/rXUt...@b/`
has the authority "AKID:wJal", no '@', and nothing is redacted; sql_redact_text (error
messages) has the same gap. Go's url.Parse rejects such a location, so TiDB refuses the
import, but the gateway has already written the text: the audit `import.decision` record
(`location`, `statement`), and for an import that owes an obligation the record's `source`
in /api/v1/status and obligation.* events. docs/AUDIT.md: each redaction "fails closed
(when in doubt, more is withheld, never less)"; an '@' after a "user:" prefix is such a doubt.
Fix: when the text after "scheme://" has a ':' before an '@' that precedes the first '?'/'#'
(or any '@' at all), redact from the ':' up to the last such '@' regardless of '/'."""

import json
import os

import pytest

from policy_helpers import double, etcd, policy_gw, query, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SECRET_TAIL = "rXUtnFEMIattack3K7MDENGbPxRfiCY"
LOCATION = "s3://AKIAATTACK3EXAMPLE:wJal/%s@bucket/t.csv" % SECRET_TAIL


def _audit(gw):
    path = gw.config["audit"]["path"]
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def test_positive_control_plain_userinfo_redacted(policy_gw, double, state):
    gw = policy_gw()
    query(gw, "IMPORT INTO t FROM 's3://AKIAATTACK3EXAMPLE:%s@bucket/t.csv'" % SECRET_TAIL)
    evs = [e for e in _audit(gw) if e.get("event") == "import.decision"]
    assert evs, _audit(gw)
    assert SECRET_TAIL not in json.dumps(evs), evs


@pytest.mark.xfail(strict=True, reason="attack3: a userinfo password holding '/' is not "
                   "redacted (the authority is cut at the first '/')")
def test_userinfo_password_with_slash_not_in_audit_or_log(policy_gw, double, state):
    gw = policy_gw()
    query(gw, "IMPORT INTO t FROM '%s'" % LOCATION)
    evs = [e for e in _audit(gw) if e.get("event") == "import.decision"]
    assert evs, _audit(gw)
    for where, blob in (("audit", json.dumps(evs)), ("log", gw.stderr_text())):
        assert SECRET_TAIL not in blob, (where, blob[-1500:])
