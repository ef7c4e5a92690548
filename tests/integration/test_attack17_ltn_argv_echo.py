"""Attack 17 (credential leak, guarded Lightning run): `importgate lightning run` refuses a
Lightning command line with an argument where a flag is expected, and its error quoted that
argument, into stderr and the durable `lightning.refused` audit record. The argument is
typically a value that lost its flag: `-tidb-password= hunter2` (a blank typed after '='),
so the database password was written to the audit log. The error now names the argument's
position only."""

import pytest

from policy_helpers import etcd, state  # noqa: F401  (fixtures)
from test_lightning import refused_run
from test_obligations import doubles, obl_gw  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

PW = "PLANTEDLTNPW17"


def test_stray_argument_not_echoed(tmp_path, doubles, obl_gw, state, etcd, mariadb):  # noqa: F811
    p, audit = refused_run(tmp_path, doubles, obl_gw, etcd, mariadb, "staging.a17p", ["-tidb-password=", PW])
    assert "where a flag is expected" in p.stderr, p.stderr  # refused for that argument
    assert PW not in p.stderr + p.stdout
    assert PW not in audit, [ln for ln in audit.splitlines() if PW in ln]
