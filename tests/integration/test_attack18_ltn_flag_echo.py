"""Attack 18 (credential leak, guarded Lightning run): attack17 stopped echoing an argument
where a flag is expected, but an argument that starts with '-' is read as a flag, and an
unknown flag's name was echoed ("Lightning's flag %s is not known to the guarded run") into
stderr and the durable `lightning.refused` record. A password that lost its flag and starts
with '-' (`-tidb-password= -Pw...`, generated passwords often do) is exactly such a flag.
The error now names an unknown flag by its position only."""

import pytest

from policy_helpers import etcd, state  # noqa: F401  (fixtures)
from test_lightning import refused_run
from test_obligations import doubles, obl_gw  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

PW = "-PLANTEDLTNPW18"


@pytest.mark.parametrize("args", [["-tidb-password=", PW], ["-tidb-password=", PW + "=x"], ["-" + PW]])
def test_unknown_flag_not_echoed(tmp_path, doubles, obl_gw, state, etcd, mariadb, args):  # noqa: F811
    p, audit = refused_run(tmp_path, doubles, obl_gw, etcd, mariadb, "staging.a18p", args)
    assert "not known to the guarded run" in p.stderr, p.stderr  # refused for that flag
    assert "PLANTEDLTNPW18" not in p.stderr + p.stdout
    assert "PLANTEDLTNPW18" not in audit, [ln for ln in audit.splitlines() if "PLANTEDLTNPW18" in ln]
