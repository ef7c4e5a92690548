"""Transparency (issue 18): MariaDB's own client test suite, mysql_client_test (Debian 12
package mariadb-test, the same release as the server), run test by test directly against a
MariaDB of its own and through the gateway in front of it: every test must end the same way
both times (passed, or failed, or did not finish in time). A test that differs names the
protocol path the gateway changes. The server is this module's own: the suite creates
users, databases and global settings.

The plain run and the run with the compressed protocol both go through the gateway; the
direct run is the reference for each."""

import os
import shutil
import subprocess

import pytest

from harness import mariadb as mariadb_mod
from harness.mariadb import ADMIN

EXE = shutil.which("mysql_client_test")

# Tests that end differently through the gateway for reasons other than the protocol's
# transport, each also so before issue 18 (run against main's binary of 65fdda8). They are
# run and reported, not compared.
KNOWN = {
    # SET @x = ...; then PREPARE ... FROM @x in one batch: refused by policy.opaque_prepare
    # (reject by default; README "It asks the server, it does not guess").
    "test_bug44495": "a PREPARE FROM @variable after a statement of the same batch: opaque_prepare",
    # mysql_change_user() with long user and database names. Through the gateway the failed
    # change to a 2 KiB user, the change back (answered OK, the gateway logs "user changed")
    # and CREATE DATABASE pass; the GRANT ... IDENTIFIED BY '<2 KiB>' after them fails with
    # "MySQL error 0" (mysql_client_test.c:17808, myquery). Open: not yet understood.
    "test_bug31669": "open: COM_CHANGE_USER with long names is refused through the gateway",
}
TEST_TIMEOUT = 120  # seconds for one test; the slowest take a few seconds

pytestmark = pytest.mark.skipif(EXE is None, reason="mysql_client_test (package mariadb-test) is not installed")


@pytest.fixture(scope="module")
def own_db(tmp_path_factory, certs):
    db = mariadb_mod.MariaDB(str(tmp_path_factory.mktemp("mariadb_ct")), certs=certs)
    db.start()
    yield db
    db.stop()


def _test_names():
    only = os.environ.get("IG_CLIENT_TESTS")  # a few by name, when looking into one
    if only:
        return only.split()
    out = subprocess.run([EXE, "--no-defaults", "-T"], capture_output=True, text=True, timeout=60).stdout
    return [l.strip() for l in out.splitlines()[1:] if l.strip()]


def _run(host, port, name, vardir):
    os.makedirs(vardir, exist_ok=True)
    args = [EXE, "--no-defaults", "-h", host, "-P", str(port), "-u", ADMIN[0], "-p" + ADMIN[1], "-D", "igtest",
            "-v", vardir, "-s", name]
    try:
        r = subprocess.run(args, capture_output=True, timeout=TEST_TIMEOUT, cwd=vardir)
    except subprocess.TimeoutExpired:
        return "timeout", ""
    tail = (r.stdout + r.stderr).decode("utf-8", "replace").strip().splitlines()[-3:]
    return ("passed" if r.returncode == 0 else "failed(%d)" % r.returncode), " | ".join(tail)


def test_mysql_client_test_same_results_direct_and_through(gateway_factory, own_db, tmp_path):
    names = _test_names()
    assert len(names) > 200 or os.environ.get("IG_CLIENT_TESTS"), names
    gw = gateway_factory(backend=(own_db.host, own_db.port))
    # The direct run and the gateway's run take turns per test: the suite's tests share the
    # server's databases and users, so two runs at once would step on each other.
    direct, through = {}, {}
    for n in names:
        direct[n] = _run(own_db.host, own_db.port, n, str(tmp_path / "direct"))
        through[n] = _run(gw.host, gw.port, n, str(tmp_path / "through"))
        print("%s direct=%s through=%s" % (n, direct[n][0], through[n][0]), flush=True)
    differ = ["%s: direct %s [%s], through the gateway %s [%s]" % (n, direct[n][0], direct[n][1],
                                                                  through[n][0], through[n][1])
              for n in names if direct[n][0] != through[n][0] and n not in KNOWN]
    for n in KNOWN:
        if n in direct:
            print("known: %s direct=%s through=%s [%s] (%s)" % (n, direct[n][0], through[n][0],
                                                              through[n][1], KNOWN[n]))
    passed = sum(1 for n in names if direct[n][0] == "passed")
    assert passed > len(names) // 2 or os.environ.get("IG_CLIENT_TESTS"), "the suite mostly fails directly: %r" % direct
    assert differ == [], "%d of %d tests end differently:\n%s" % (len(differ), len(names), "\n".join(differ))
