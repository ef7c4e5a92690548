"""Attack 17 (credential leak, guarded Lightning run): `importgate lightning run` refuses a
Lightning command line with an argument where a flag is expected, and its error quoted that
argument, into stderr and the durable `lightning.refused` audit record. The argument is
typically a value that lost its flag: `-tidb-password= hunter2` (a blank typed after '='),
so the database password was written to the audit log. The error now names the argument's
position only."""

import os

import pytest

from policy_helpers import etcd, state  # noqa: F401  (fixtures)
from test_lightning import DOUBLE, dump, ig, task_file
from test_obligations import doubles, obl_gw  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

PW = "PLANTEDLTNPW17"


def test_stray_argument_not_echoed(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    up, down = doubles(job_delay=0.1)
    gw = obl_gw(up, down, [], cluster_name="ltntest")
    d = dump(tmp_path / "dump", ["staging.a17p"])
    task = task_file(tmp_path / "t.toml", d, etcd_url=etcd.url, mariadb=mariadb, tidb_port=up.port)
    mark = str(tmp_path / "double.jsonl")
    p = ig("run", "-c", gw.config_path, "--task", task, "--wait", "30", "--",
           DOUBLE, "-config", task, "-tidb-password=", PW, env={"LTN_DOUBLE_MARK": mark})
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert "where a flag is expected" in p.stderr, p.stderr  # refused for that argument
    assert not os.path.exists(mark) or open(mark).read() == "", "Lightning was started"
    assert PW not in p.stderr + p.stdout
    path = gw.config["audit"]["path"]
    text = open(path).read() if os.path.exists(path) else ""
    assert PW not in text, [ln for ln in text.splitlines() if PW in ln]
