"""Attack 29 (this session's probe and preflight changes): what held and what did not."""

import os

import pytest

from policy_helpers import double, etcd, state  # noqa: F401  (fixtures)
from test_lightning import GreetingListener, check_json, greeting_packet, gw_config, task_file

pytestmark = [pytest.mark.gateway_only]


def test_tidbx_no_tables_not_safe_to_skip(tmp_path, etcd, state):  # noqa: F811
    """The task's TiDB greets as TiDB X and the data source holds no table. TiDB X was
    called 'names a release' because its tables are refused; with none, nothing was refused
    and check-requirements = false was called safe on TiDB X."""
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


# ------------------------------------------------------------------ the live path (held)

from policy_helpers import Received, connect, make_double, policy_gw, refused_by_gateway, run  # noqa: E402,F401,F811

SQL = "IMPORT INTO shop.t FROM 's3://bucket/data/t.*.csv'"


@pytest.mark.tidb_double
@pytest.mark.parametrize("setup", ["SET sql_mode = 'ANSI,NO_BACKSLASH_ESCAPES'", "SET NAMES gbk",
                                   "SET sql_mode = 'IGNORE_SPACE,PIPES_AS_CONCAT'"],
                         ids=["ansi-nbe", "gbk", "ignore-space"])
def test_tidbx_hidden_greeting_under_session_settings(policy_gw, make_double, state, setup):  # noqa: F811
    """A next-gen TiDB whose server-version hides the word TiDB ("8.0.36"), the client's
    session in another sql_mode or character set first: the probe's commented TIDB_VERSION()
    still tells TiDB X, refused, nothing sent."""
    srv = make_double(version="8.0.36", release="v9.0.0-beta.2", nextgen=True)
    gw = policy_gw(None, backend=("127.0.0.1", srv.port))
    rx = Received(srv)
    c = connect(gw)
    try:
        assert run(c, setup).ok
        out = run(c, SQL)
    finally:
        c.close()
    assert refused_by_gateway(out) and "TiDB X" in out.message, (out, rx.sqls())
    assert rx.imports() == [], rx.imports()
