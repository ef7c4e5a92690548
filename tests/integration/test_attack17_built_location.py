"""Attack 17 (credential leak, locations built by expressions): the statement redactor judged
each literal (or run of adjacent literals) on its own. A location built from pieces, as a
script does to keep the key apart (`SET @u = CONCAT('s3://b/t.csv?access-key=..&secret-access-key=',
'wJalr...')`, then `PREPARE s FROM CONCAT(...)`-style dynamic SQL), left the secret alone in the
second literal: no scheme, no name=, kept verbatim in the `statement` event of
`audit.log_statements: all`. Fixed: a literal that leaves a credential's name or value open,
followed by ',' or an operator, continues in the next literal of the statement."""

import json
import time

import pytest

from harness import timing
from policy_helpers import connect, double, etcd, policy_gw, run, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SK = "PLANTEDBUILTSK17"


@pytest.mark.parametrize("sql", [
    "SET @u = CONCAT('s3://b/t.csv?access-key=AKIAX&secret-access-key=', '%s')" % SK,
    "SELECT CONCAT('azure://c/t.csv?account-name=a&account-k', 'ey=%s')" % SK,
])
def test_built_location_secret_not_in_statement_event(policy_gw, double, state, sql):
    gw = policy_gw(audit={"log_statements": "all"})
    c = connect(gw)
    try:
        run(c, sql)
    finally:
        c.close()
    path = gw.config["audit"]["path"]
    deadline = time.monotonic() + timing.bound(10)
    text = ""
    while '"event":"statement"' not in text and time.monotonic() < deadline:
        time.sleep(0.05)
        with open(path) as f:
            text = f.read()
    evs = [json.loads(x) for x in text.splitlines() if '"event":"statement"' in x]
    assert evs and "CONCAT(" in evs[0]["statement"], text  # audited (positive control)
    assert SK not in text, [e["statement"] for e in evs]
