"""Attack 3 (version confusion, -alpha builds): the greeting
"8.0.11-TiDB-v8.2.0-alpha-92-g1c2d3e4" (a nightly/master build: TiDB's version is
`git describe`, and the vX.Y.0-alpha tag is cut on master when the previous release branches
off) is read as 8.2.0. Coverage once took TiCDC's system-schema skips from that version
(lightning_task_info from v8.2), but tiflow's v8.2.0-alpha tag (2024-04-19) has no
LightningTaskInfoSchema in isSysSchema (tiflow#11359, merged 2024-06-27), so a nightly TiCDC
of that build replicates lightning_task_info and the import was forwarded WITH
DISABLE_PRECHECK. Fixed at the root: which schemas a changefeed covers no longer depends on
a version (policy/clusterstate.c ig_is_system_schema); a version's other facts only change
availability."""

import pytest

from policy_helpers import (Received, etcd, policy_gw, query, refused_by_gateway,  # noqa: F401
                            start_double, state)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

NIGHTLY = "8.0.11-TiDB-v8.2.0-alpha-92-g1c2d3e4"


@pytest.fixture(scope="module")
def double(etcd, tmp_path_factory):
    """policy_gw's backend: a double greeting as a v8.2.0-alpha nightly."""
    srv = start_double(etcd.url, str(tmp_path_factory.mktemp("nightly") / "statements.jsonl"),
                       version=NIGHTLY)
    yield srv
    srv.stop()


def test_positive_control_covered_tablerefused_by_gateway(policy_gw, double, state):
    state.changefeed("cf-all", ["*.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO shop.t FROM 's3://b/t.csv'")
    assert refused_by_gateway(out), out
    assert rx.imports() == []


def test_alpha_build_replicates_lightning_task_info(policy_gw, double, state):
    state.changefeed("cf-all", ["*.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO lightning_task_info.t FROM 's3://b/t.csv'")
    assert refused_by_gateway(out), (out, rx.sqls())
    assert rx.imports() == [], rx.imports()
