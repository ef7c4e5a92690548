"""Attack 28 (the Lightning preflight reads only a greeting): the live path asks the session's
TiDB for TIDB_VERSION(), whose "Kernel Type: Next Generation" is the only sign of a next-gen
(TiDB X) build of pingcap/tidb master before v26.3 (its greeting carries the plain release:
tests/tidb_double/FACTS.md section 11), and a TiProxy in front greets with its own
placeholder. `importgate lightning check|run` read the greeting only: it called such a TiDB X
classic, allowed the table and called check-requirements = false safe, so `lightning run`
turned off Lightning's own CDC/PiTR check. Fixed in two steps: a greeting alone never makes
skipping safe (session 19, then session 20: only an answer to the service login does), and
the preflight asks [tidb] TIDB_VERSION() on the gateway's service login (session 20;
test_ltn_login.py has the rest of the class)."""

import pytest

from policy_helpers import etcd, make_double, state  # noqa: F401  (fixtures)
from test_lightning import check_json, dump, gw_config, task_file

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


GREETINGS = pytest.mark.parametrize("greeting", ["8.0.11-TiDB-v9.0.0-beta.2", "5.7.25-TiDB-None"],
                                    ids=["kernel-type-only", "tiproxy-none"])


def preflight(tmp_path, etcd, make_double, greeting, service_user):  # noqa: F811
    srv = make_double(version=greeting, release="v9.0.0-beta.2", nextgen=True)
    src = dump(tmp_path / "d", ["shop.orders"])
    cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [], servers=("127.0.0.1:%d" % srv.port,),
                    service_user=service_user)
    rc, ans = check_json(cfg, task_file(tmp_path / "t.toml", src, etcd_url=etcd.url, tidb_port=srv.port))
    assert ans["cluster"]["tidb_server"] == greeting, ans
    return ans


@GREETINGS
def test_tidbx_by_kernel_type_not_safe_without_login(tmp_path, etcd, state, make_double, greeting):  # noqa: F811
    """The service login is refused (the default user, unknown to the double): what answers
    is not known, so skipping is not safe."""
    ans = preflight(tmp_path, etcd, make_double, greeting, None)
    assert ans["check_requirements_false"]["safe"] is False, ans
    assert "is not known" in ans["check_requirements_false"]["why"], ans
    assert "Access denied" in ans["cluster"]["tidb_said_error"], ans


@GREETINGS
def test_tidbx_by_kernel_type_refused(tmp_path, etcd, state, make_double, greeting):  # noqa: F811
    """Asked on the service login: TIDB_VERSION()'s kernel type says TiDB X, the table is
    refused as on the live path and skipping is not safe."""
    ans = preflight(tmp_path, etcd, make_double, greeting, "root")
    assert ans["tables"][0]["verdict"] == "refused", ans
    assert "TiDB X" in ans["tables"][0]["reason"], ans
    assert ans["cluster"]["tidb_said"]["nextgen"] is True, ans
    assert ans["check_requirements_false"]["safe"] is False, ans
    assert "is TiDB X" in ans["check_requirements_false"]["why"], ans
