"""A large user variable behind PREPARE ... FROM @var costs the worker no more than the limit.

Found by the adversarial review: the probe's answer used to be re-parsed from its start on
every read, a variable of any size (up to 2 * limits.max_inspect_bytes) was read back, and its
value classified on the worker's loop, so a 24 MiB variable froze every other session of that
worker for seconds. Now the probe reads at most IG_PROBE_VAR_MAX (1 MiB) of a variable
(LEFT(), with LENGTH() beside it), a longer one makes the PREPARE opaque (refused by default),
the answer is parsed once per packet that can end it, and a value over 64 KiB is classified
in the thread pool. The cost of the answer is measured by hand (docs/BENCHMARKS.md); this test
checks the behaviour, with no clock: the refusal says why, and another session of the same
(single) worker is answered while and after it happens."""

import threading

import pymysql
import pytest

from harness import mariadb as mariadb_mod
from policy_helpers import PRECHECK, etcd, state  # noqa: F401

pytestmark = [pytest.mark.gateway_only]

USER, PASSWORD = mariadb_mod.NATIVE


def connect(g, timeout=300):
    return pymysql.connect(host=g.host, port=g.port, user=USER, password=PASSWORD, database="igtest",
                           autocommit=True, connect_timeout=10, read_timeout=timeout)


@pytest.mark.parametrize("mib,refused", [(24, True), (0.5, False)], ids=["24MiB", "512KiB"])
def test_big_variable_is_bounded(gateway_factory, etcd, mariadb, state, mib, refused):
    g = gateway_factory({"workers": 1, "cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                         "backends": {"tidb_version": "v8.5.0"}})
    state.task("pitr_igtest", ["igtest.*"])
    attacker, victim = connect(g), connect(g)
    result = {}
    try:
        with attacker.cursor() as cur:
            cur.execute("SET @v = CONCAT('SELECT 1 /*', REPEAT('a', %d), '*/')" % int(mib * (1 << 20)))

        def prepare():
            try:
                with attacker.cursor() as cur:
                    cur.execute("PREPARE p FROM @v")
                result["ok"] = True
            except pymysql.err.MySQLError as e:
                result["err"] = e.args

        t = threading.Thread(target=prepare, daemon=True)
        t.start()
        for _ in range(20):  # the worker keeps answering others meanwhile
            with victim.cursor() as cur:
                cur.execute("SELECT 1")
                assert cur.fetchone() == (1,)
        t.join(300)
        assert not t.is_alive()
        if refused:
            err = result.get("err")
            assert err and err[0] == PRECHECK and "longer than the gateway reads" in err[1], result
        else:
            assert result.get("ok"), result
        with victim.cursor() as cur:
            cur.execute("SELECT 2")
            assert cur.fetchone() == (2,)
    finally:
        attacker.close()
        victim.close()
