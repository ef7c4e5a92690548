"""Explain and the live path give the same answer.

/api/v1/explain and a real client share one evaluation (proxy/inspect.c, decision.c: classify, decide,
build the text or the error; only the effects differ). This runs a table of policy cases
through both, against the same gateway, cluster state and TiDB double, and compares: a
refusal must be the same error, a rewrite must be exactly the text the double received, a
pass must reach the double unchanged. A case where they differ is a bug in one of them (an
explain that says "rewrite" for a batch the live gateway refuses misleads the DBA who asks
it)."""

import http.client
import json

import pytest

from harness import ports, timing
from policy_helpers import (  # noqa: F401  (fixtures)
    DB1, DB2, PRECHECK, Received, double, etcd, policy_gw, query, rule, state,
)
import sqllex  # noqa: E402  (tests/tidb_double, put on the path by policy_helpers)

CSV = "s3://bucket/data/orders.csv"
IMP = "IMPORT INTO orders FROM '%s'" % CSV

# (id, tasks [(name, filters)], changefeeds [(id, rules)], policy, user, db, statement, multi)
CASES = [
    ("nothing-covers", [], [], {}, "root", DB1, IMP, False),
    ("covered-required", [("pitr", ["shop.*"])], [], {}, "root", DB1, IMP, False),
    ("uncovered-elsewhere", [("pitr", ["stage.*"])], [], {}, "root", DB1, IMP, False),
    ("qualified-covered", [("pitr", ["shop.*"])], [], {}, "root", DB2, "IMPORT INTO shop.orders FROM '%s'" % CSV,
     False),
    ("not-needed", [("pitr", ["shop.*"])], [], {"rules": [rule("nn", tables=["shop.*"], log_backup="not-needed")]},
     "root", DB1, IMP, False),
    ("own-disable-precheck", [("pitr", ["shop.*"])], [], {}, "root", DB1, IMP + " WITH DISABLE_PRECHECK", False),
    ("deny-rule", [], [], {"rules": [rule("no", users="alice", tables=["shop.*"], action="deny")]},
     "alice", DB1, IMP, False),
    ("changefeed-covers", [], [("cf1", ["shop.*"])], {}, "root", DB1, IMP, False),
    ("snapshot-owed-second-in-batch", [("pitr", ["shop.*"])], [],
     {"rules": [rule("snap", tables=["shop.*"], log_backup="snapshot-after-import")]},
     "root", DB1, "SELECT 1; " + IMP, True),
    ("two-imports-one-owed", [("pitr", ["shop.*"])], [],
     {"rules": [rule("snap", tables=["shop.*"], log_backup="snapshot-after-import")]},
     "root", DB1, IMP + "; " + IMP, True),
    ("use-in-batch", [("pitr", ["shop.*"])], [], {}, "root", DB2, "USE shop; " + IMP, True),
    ("use-in-batch-away", [("pitr", ["shop.*"])], [], {}, "root", DB1, "USE stage; " + IMP, True),
    ("prepare-text-uncovered", [("pitr", ["stage.*"])], [], {}, "root", DB1,
     "PREPARE s FROM '%s'" % IMP.replace("'", "''"), False),
    ("explain-analyze", [("pitr", ["shop.*"])], [], {}, "root", DB1, "EXPLAIN ANALYZE " + IMP, False),
    ("dry-run", [("pitr", ["shop.*"])], [], {"mode": "dry-run"}, "root", DB1, IMP, False),
    ("no-import", [("pitr", ["shop.*"])], [], {}, "root", DB1, "SELECT 'IMPORT INTO orders'; SELECT 2", True),
]


def explain(port, user, db, sql):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    c.request("POST", "/api/v1/explain", body=json.dumps(
        {"user": user, "host": "127.0.0.1", "db": db, "statement": sql}))
    r = c.getresponse()
    body = r.read()
    c.close()
    assert r.status == 200, body
    return json.loads(body)


def status(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    c.request("GET", "/api/v1/status")
    r = c.getresponse()
    body = r.read()
    c.close()
    assert r.status == 200, body
    return json.loads(body)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_explain_and_live_agree(case, policy_gw, double, state):
    _, tasks, feeds, policy, user, db, sql, multi = case
    for name, filters in tasks:
        state.task(name, filters)
    for cf, rules in feeds:
        state.changefeed(cf, rules)
    admin_port = ports.free_port()
    gw = policy_gw(policy=policy, admin={"listen": "127.0.0.1:%d" % admin_port})
    assert ports.wait_port("127.0.0.1", admin_port, 10)
    # explain takes the backend's version from the last greeting or health check; the live
    # session has it from its own greeting: wait until the gateway has read one
    assert timing.wait_for(lambda: status(admin_port)["server_version"], 30), status(admin_port)

    ex = explain(admin_port, user, db, sql)
    rx = Received(double)
    live = query(gw, sql, user=user, db=db, multi=multi)
    got = rx.sqls()

    if ex["action"] == "reject":
        assert not live.ok, (ex, live)
        assert live.code == ex["error"]["code"], (ex, live)
        assert live.message == ex["error"]["message"], (ex, live)
        assert got == [], got  # nothing of a refused batch reaches TiDB
    else:
        assert live.ok or live.code != PRECHECK or "importgate" not in (live.message or ""), (ex, live)
        expected = ex["statement"] if ex["action"] == "rewrite" else sql
        # The double logs a batch statement by statement.
        want = sqllex.split_statements(expected) if multi else [expected]
        assert got == want, (ex, got)
