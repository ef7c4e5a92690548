"""attack30: the Lightning preflight read the greeting of, and logged in with the gateway's
service account to, [tidb] host as the task spells it, not the backends.servers entry it was
matched with. The match (lightning/pdaddr.c ig_ltn_tidb_same) takes another case, one
trailing dot and [brackets] as the same server, but a resolver need not: a name without its
trailing dot goes through the resolver's search list first (`tidb.prod` may be
`tidb.prod.<namespace>.svc.cluster.local`, someone else's, where backends.servers says
`tidb.prod.`), so the service login - and the answer that decides whether skipping
Lightning's own check is safe - went to a server the gateway's sessions never reach. Shown
here with brackets, which the match strips and the resolver does not take: the preflight
never reached the backend at all."""

import pytest

from policy_helpers import etcd, start_double, state  # noqa: F401  (fixtures)
from test_lightning import check_json, dump, gw_config, task_file

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


def test_login_goes_to_the_configured_server(tmp_path, etcd, state):  # noqa: F811
    srv = start_double(etcd.url, str(tmp_path / "statements.jsonl"), version="8.0.11-TiDB-v8.5.0")
    try:
        src = dump(tmp_path / "d", ["shop.orders"])
        cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [], servers=("127.0.0.1:%d" % srv.port,),
                        service_user="root")
        task = task_file(tmp_path / "t.toml", src, etcd_url=etcd.url, tidb_port=srv.port,
                         tidb_host="[127.0.0.1]")
        rc, ans = check_json(cfg, task)
    finally:
        srv.stop()
    assert ans["cluster"]["same"] is True, ans
    assert ans["cluster"]["tidb_server"] == "8.0.11-TiDB-v8.5.0", ans
    assert ans["cluster"]["tidb_said"] == {"version": "8.0.11-TiDB-v8.5.0", "release": "v8.5.0",
                                           "nextgen": False, "classic_release": True}, ans
