"""Attack 3 (version confusion, -alpha builds): policy/version.c reads the greeting
"8.0.11-TiDB-v8.2.0-alpha-92-g1c2d3e4" (a nightly/master build: TiDB's version is
`git describe`, and the vX.Y.0-alpha tag is cut on master when the previous release
branches off) as 8.2.0, and policy/clusterstate.c tiflow_extra then says TiCDC skips
lightning_task_info (ig_tidb_version_at_least(v, 8, 2)). But an -alpha build is the
*previous* release's code plus whatever master has gained since: tiflow's
v8.2.0-alpha tag (2024-04-19) has no LightningTaskInfoSchema in pkg/filter/utils.go
isSysSchema (it came with tiflow#11359, merged 2024-06-27, first tagged v8.3.0-alpha /
v8.2.0), and v8.0.0-alpha has no TiCDCSystemSchema either. So a nightly TiCDC of that
build replicates lightning_task_info, and the gateway forwards an import into it WITH
DISABLE_PRECHECK. A -alpha (pre-release) version is at most the release before it for any
"from version X" fact that makes the gateway more permissive."""

import pytest

from policy_helpers import PRECHECK, Received, etcd, policy_gw, query, start_double, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

NIGHTLY = "8.0.11-TiDB-v8.2.0-alpha-92-g1c2d3e4"


@pytest.fixture(scope="module")
def double(etcd, tmp_path_factory):
    """policy_gw's backend: a double greeting as a v8.2.0-alpha nightly."""
    srv = start_double(etcd.url, str(tmp_path_factory.mktemp("nightly") / "statements.jsonl"),
                       version=NIGHTLY)
    yield srv
    srv.stop()


def _refused(out):
    return out.code == PRECHECK and "importgate" in (out.message or "")


def test_positive_control_covered_table_refused(policy_gw, double, state):
    state.changefeed("cf-all", ["*.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO shop.t FROM 's3://b/t.csv'")
    assert _refused(out), out
    assert rx.imports() == []


def test_alpha_build_replicates_lightning_task_info(policy_gw, double, state):
    state.changefeed("cf-all", ["*.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO lightning_task_info.t FROM 's3://b/t.csv'")
    assert _refused(out), (out, rx.sqls())
    assert rx.imports() == [], rx.imports()
