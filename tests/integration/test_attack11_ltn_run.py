"""test_attack11_ltn_run.py - a guarded run whose Lightning exits 0 without registering.

The binder drops a suspect (a registration it had bound that went while Lightning ran on) when
Lightning exits with status 0: a successful physical import registered, so the key that went
may have been its own (docs/LIGHTNING.md "Unguarded runs"). `-V` was a kept flag: with it,
Lightning prints its version and exits 0 having imported nothing and registered nothing
(pingcap/tidb pkg/lightning/config/global.go LoadGlobalConfig: `if *printVersion {
fmt.Println(build.Info()); return nil, flag.ErrHelp }`, and config.go Must: `case flag.ErrHelp:
os.Exit(0)`), the one case the binder's rule cannot hold. A version print needs no guard: the
guarded run refuses -V with Lightning not started."""

import json
import os

import pytest

from policy_helpers import etcd, state  # noqa: F401  (fixtures)
from test_lightning import DOUBLE, dump, ig, task_file
from test_obligations import doubles, obl_gw  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


@pytest.mark.parametrize("flag", ["-V", "--V", "-V=true"])
def test_version_flag_refused(tmp_path, doubles, obl_gw, state, etcd, mariadb, flag):  # noqa: F811
    up, down = doubles(job_delay=0.1)
    gw = obl_gw(up, down, [], cluster_name="ltntest")
    d = dump(tmp_path / "dump", ["staging.a11v"])
    task = task_file(tmp_path / "t.toml", d, etcd_url=etcd.url, mariadb=mariadb, tidb_port=up.port)
    mark = str(tmp_path / "double.jsonl")
    p = ig("run", "-c", gw.config_path, "--task", task, "--wait", "30", "--",
           DOUBLE, "-config", task, flag, env={"LTN_DOUBLE_MARK": mark})
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert "Lightning's flag V would change what was checked" in p.stderr, p.stderr
    assert not os.path.exists(mark) or open(mark).read() == "", "Lightning was started"
    started = [json.loads(ln) for ln in open(gw.config["audit"]["path"]) if '"lightning.started"' in ln] \
        if os.path.exists(gw.config["audit"]["path"]) else []
    assert started == [], started
