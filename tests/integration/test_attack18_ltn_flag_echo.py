"""Attack 18 (credential leak, guarded Lightning run): attack17 stopped echoing an argument
where a flag is expected, but an argument that starts with '-' is read as a flag, and an
unknown flag's name was echoed ("Lightning's flag %s is not known to the guarded run") into
stderr and the durable `lightning.refused` record. A password that lost its flag and starts
with '-' (`-tidb-password= -Pw...`, generated passwords often do) is exactly such a flag.
The error now names an unknown flag by its position only."""

import os

import pytest

from policy_helpers import etcd, state  # noqa: F401  (fixtures)
from test_lightning import DOUBLE, dump, ig, task_file
from test_obligations import doubles, obl_gw  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

PW = "-PLANTEDLTNPW18"


@pytest.mark.parametrize("args", [["-tidb-password=", PW], ["-tidb-password=", PW + "=x"], ["-" + PW]])
def test_unknown_flag_not_echoed(tmp_path, doubles, obl_gw, state, etcd, mariadb, args):  # noqa: F811
    up, down = doubles(job_delay=0.1)
    gw = obl_gw(up, down, [], cluster_name="ltntest")
    d = dump(tmp_path / "dump", ["staging.a18p"])
    task = task_file(tmp_path / "t.toml", d, etcd_url=etcd.url, mariadb=mariadb, tidb_port=up.port)
    mark = str(tmp_path / "double.jsonl")
    p = ig("run", "-c", gw.config_path, "--task", task, "--wait", "30", "--",
           DOUBLE, "-config", task, *args, env={"LTN_DOUBLE_MARK": mark})
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert "not known to the guarded run" in p.stderr, p.stderr  # refused for that flag
    assert not os.path.exists(mark) or open(mark).read() == "", "Lightning was started"
    assert "PLANTEDLTNPW18" not in p.stderr + p.stdout
    path = gw.config["audit"]["path"]
    text = open(path).read() if os.path.exists(path) else ""
    assert "PLANTEDLTNPW18" not in text, [ln for ln in text.splitlines() if "PLANTEDLTNPW18" in ln]
