"""attack8: a gateway listening dual-stack ("[::]:port") accepts IPv4 clients as
IPv4-mapped IPv6 peers (::ffff:a.b.c.d). The client is that IPv4 address, as TiDB names it
(Go's net.IP.String writes a v4-in-v6 address as a.b.c.d): rules' hosts match it and the
audit records it so. Before the fix the client was "::ffff:127.0.0.1", a deny rule on
127.0.0.1 did not match, and the import reached the backend."""

import json
import os
import sys

import pymysql
import pytest

from harness import gateway as gateway_mod
from harness import ports, timing

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tidb_double"))
import tidb_double  # noqa: E402

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


@pytest.fixture
def double():
    srv = tidb_double.start(users=["root::mysql_native_password"], job_delay=0.02, empty_check=False)
    yield srv
    srv.stop()


@pytest.fixture
def dual_stack_gw(double, tmp_path):
    if gateway_mod.direct_mode():
        pytest.skip("the gateway's own client naming")
    workdir = str(tmp_path / "gw")
    os.makedirs(workdir, exist_ok=True)
    port = ports.free_port()
    cfg = gateway_mod.deep_merge(
        gateway_mod.default_config("127.0.0.1", double.port, port, workdir),
        {"listen": "[::]:%d" % port,
         "policy": {"rules": [{"name": "no-local", "hosts": r"127\.0\.0\.1", "tables": ["*.*"],
                               "action": "deny"}]}})
    gw = gateway_mod.Gateway(cfg, workdir)
    gw.host = "127.0.0.1"  # where the harness waits for the port (the IPv4 side of [::])
    gw.start()
    yield gw
    problems = gw.stop()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_dual_stack_ipv4_client_matches_ipv4_rule(dual_stack_gw, double):
    gw = dual_stack_gw
    c = pymysql.connect(host="127.0.0.1", port=gw.port, user="root", password="",
                        connect_timeout=int(timing.bound(20)), read_timeout=int(timing.bound(30)))
    try:
        with pytest.raises(pymysql.err.MySQLError) as e:
            with c.cursor() as cur:
                cur.execute("IMPORT INTO shop.orders FROM 's3://bucket/orders.csv'")
                cur.fetchall()
        assert "no-local" in str(e.value), e.value
    finally:
        c.close()
    decisions = []  # a refusal's record is queued to the audit writer: waited for

    def decided():
        with open(gw.config["audit"]["path"]) as f:
            decisions[:] = [r for r in map(json.loads, f.read().splitlines()) if r["event"] == "import.decision"]
        return bool(decisions)

    timing.wait_for(decided, 30)
    assert decisions and decisions[-1]["client"] == "127.0.0.1", decisions
    assert not any("IMPORT INTO" in (e.get("sql") or "") for e in double.statements), double.statements
