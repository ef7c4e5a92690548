"""conftest.py - session fixtures for the integration suite: one MariaDB (with TLS and the
test users) for the whole run, the test PKI, the igclient binary, and per-test gateways that
are stopped and checked (crash, sanitizer report) at teardown."""

import faulthandler
import os

import pytest

from harness import certs as certs_mod
from harness import clients
from harness import gateway as gateway_mod
from harness import mariadb as mariadb_mod

HERE = os.path.dirname(os.path.abspath(__file__))
TIDB_DOUBLE = os.path.join(HERE, "..", "tidb_double", "tidb_double.py")
# A hung test kills the run with a traceback instead of hanging it (no pytest-timeout here).
TEST_TIMEOUT = int(os.environ.get("IG_TEST_TIMEOUT", "300"))


# The files that take longest (seconds in a 2-core run under ASan, from --durations and the
# junit report), run first: pytest-xdist hands out whole files in collection order
# (--dist loadfile), so a long file collected last would run alone at the end while the other
# workers idle. Only the order depends on this list; a stale one costs time, not results.
SLOW_FIRST = (
    "test_transparency_client_test.py",   # 127
    "test_obligations_executor_races.py",  # 89
    "test_lightning.py",                  # 87
    "test_obligations.py",                # 84
    "test_policy_versions.py",            # 54
    "test_obligations_chaos.py",          # 54
    "test_admin.py",                      # 41
    "test_relay_timeouts.py",             # 38
    "test_compress_backend_leg.py",       # 37
    "test_attack12_seq_command.py",       # 35
    "test_relay_bigpackets.py",           # 34
    "test_brie_registrations.py",         # 33
)


def _slow_first(items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    # sorted() is stable: the other files keep their order, and tests their order in a file
    items[:] = sorted(items, key=lambda it: rank.get(os.path.basename(str(it.fspath)), len(rank)))


def pytest_collection_modifyitems(config, items):
    _slow_first(items)
    direct = gateway_mod.direct_mode()
    have_double = os.path.exists(TIDB_DOUBLE)
    for item in items:
        if direct and item.get_closest_marker("gateway_only"):
            item.add_marker(pytest.mark.skip(
                reason="IG_TEST_DIRECT=1: this behaviour exists only through the gateway"))
        if not have_double and item.get_closest_marker("tidb_double"):
            item.add_marker(pytest.mark.skip(
                reason="tests/tidb_double/tidb_double.py absent: MariaDB 10.11 has no "
                       "caching_sha2_password server plugin, these need the TiDB double"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    faulthandler.dump_traceback_later(TEST_TIMEOUT, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="session")
def direct():
    return gateway_mod.direct_mode()


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return certs_mod.make_certs(str(tmp_path_factory.mktemp("certs")))


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory, certs):
    db = mariadb_mod.MariaDB(str(tmp_path_factory.mktemp("mariadb")), certs=certs)
    db.start()
    yield db
    db.stop()


@pytest.fixture(scope="session")
def igclient_bin(tmp_path_factory):
    return clients.igclient_path(str(tmp_path_factory.mktemp("igclient")))


@pytest.fixture
def gateway_factory(mariadb, tmp_path):
    """start(overrides=None, backend=None) -> Gateway. Every gateway started is stopped at
    teardown; a crash or sanitizer report fails the test."""
    started = []

    def start(overrides=None, backend=None, wrapper=None):
        workdir = str(tmp_path / ("gw%d" % len(started)))
        gw = gateway_mod.start_gateway(mariadb, workdir, overrides, backend, wrapper)
        started.append(gw)
        return gw

    yield start
    problems = []
    for gw in started:
        problems += gw.stop()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def gw(gateway_factory):
    """A gateway with the default config in front of the session MariaDB."""
    return gateway_factory()


@pytest.fixture
def ig(igclient_bin, gw):
    """ig(user, password, steps, db=None, opts=()) -> IgResult, igclient against `gw`."""
    def run(user, password, steps, db=None, opts=(), target=None, timeout=120):
        return clients.igclient(igclient_bin, target or gw, user, password, steps, db, opts,
                                timeout)
    return run
