"""attack6: TiDB's answer to a batch may quote any statement of it, not only the import's.

TiDB parses a whole COM_QUERY before it runs any of it (pkg/server/conn.go handleQuery, v8.5.6:
cc.ctx.Parse, then each statement), so a syntax error in any statement of a batch is the answer
to the batch, read by the gateway as the answer to the first import in it. A 1064 quotes the
text from the error on ("near '...'"): a location split into adjacent literals (which TiDB's
IMPORT INTO grammar does not take) is quoted from its second piece, the secret alone, which no
free-text redaction can recognise. The import record withheld TiDB's text only when the
import's own text held a credential; a credential anywhere in the batch now withholds it.
Checked: the gateway's log, the audit log (import.result) and the obligations' view."""

import json
import time

import pytest

from harness import timing
from policy_helpers import connect, double, etcd, policy_gw, rule, run, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SECRET = "PLANTEDBATCHSECRET41"


@pytest.mark.parametrize("second", [
    # another import, its location split in two literals
    "IMPORT INTO stage.u FROM 's3://b/u.csv?access-key=AKIAX&secret-access-key=' '%s'" % SECRET,
    # the same after a comment between the pieces
    "IMPORT INTO stage.u FROM 's3://b/u.csv?secret-access-key=' /* x */ '%s' WITH THREAD=1" % SECRET,
])
def test_secret_in_another_statement_of_the_batch_not_echoed(policy_gw, double, state, second):
    state.task("elsewhere", filters=["other.*"])
    gw = policy_gw(policy={"rules": [rule("stage", tables=["stage.*"], log_backup="not-needed")]})
    c = connect(gw, multi=True)
    try:
        out = run(c, "IMPORT INTO stage.t FROM 's3://b/t.csv'; " + second)
    finally:
        c.close()
    assert out.code == 1064, out  # the whole batch refused by the server, quoting the second piece
    assert SECRET in out.message  # the client sees its own text (what TiDB said)
    deadline = time.monotonic() + timing.bound(10)
    while "import.result" not in gw.audit_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = gw.audit_text()
    res = [json.loads(x) for x in text.splitlines() if '"import.result"' in x]
    assert res and res[0]["error"]["code"] == 1064, text  # the answer was read (positive control)
    assert SECRET not in text, [ln for ln in text.splitlines() if SECRET in ln]
    err = gw.stderr_text()
    assert "import.result" in err
    assert SECRET not in err, [ln for ln in err.splitlines() if SECRET in ln]
