"""Attack 29 (this session's probe and preflight changes): what held and what did not."""

import os

import pytest

from policy_helpers import etcd, state  # noqa: F401  (fixtures)
from test_lightning import GreetingListener, check_json, greeting_packet, gw_config, task_file

pytestmark = [pytest.mark.gateway_only]


def test_tidbx_no_tables_not_safe_to_skip(tmp_path, etcd, state):  # noqa: F811
    """The task's TiDB greets as TiDB X and the gateway finds no table in the data source
    (nothing it reads as a table: Lightning's own file routing may still find some). TiDB X
    was called 'names a release' because its tables are refused; with none, nothing was
    refused and check-requirements = false was called safe on TiDB X."""
    lst = GreetingListener(greeting_packet(b"8.0.11-TiDB-X-CLOUD.202603.1"))
    try:
        src = tmp_path / "d"
        os.makedirs(src)
        cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [], servers=("127.0.0.1:%d" % lst.port,))
        rc, ans = check_json(cfg, task_file(tmp_path / "t.toml", str(src), etcd_url=etcd.url,
                                            tidb_port=lst.port))
        assert ans["cluster"]["tidb_server"] == "8.0.11-TiDB-X-CLOUD.202603.1", ans
        assert ans["check_requirements_false"]["safe"] is False, ans
    finally:
        lst.close()
