"""Transparency (issue 18): MariaDB's own client test suite, mysql_client_test (Debian 12
package mariadb-test, the same release as the server), run test by test directly against a
MariaDB of its own and through the gateway in front of it: every test must end the same way
both times (passed, or failed, or did not finish in time). A test that differs names the
protocol path the gateway changes. The server is this module's own: the suite creates
users, databases and global settings.

The plain run and the run with the compressed protocol both go through the gateway; the
direct run is the reference for each."""

import os
import re
import shutil
import subprocess

import pytest

from harness import mariadb as mariadb_mod
from harness.mariadb import ADMIN

EXE = shutil.which("mysql_client_test")

# Tests that end differently through the gateway for reasons other than the protocol's
# transport, each also so before issue 18 (run against main's binary of 65fdda8). They are
# run and reported, not compared. (test_bug31669 was listed here as "open" until the
# privileges were reloaded before every run: see _reset_privileges.)
KNOWN = {
    # SET @x = ...; then PREPARE ... FROM @x in one batch: refused by policy.opaque_prepare
    # (reject by default; README "It asks the server, it does not guess").
    "test_bug44495": "a PREPARE FROM @variable after a statement of the same batch: opaque_prepare",
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


def _reset_privileges(db):
    """Every run starts with the server's privilege cache read from its tables. A test that
    deletes its own accounts from mysql.user with DELETE (test_bug31669 ends so, without FLUSH
    PRIVILEGES) leaves them in the cache, and on this server the next GRANT ... IDENTIFIED BY
    to them fails with 1133 "Can't find any matching row in the user table": the suite's tests
    are not repeatable on one server, and the direct run always went first (the cache is only
    reloaded by account statements, FLUSH PRIVILEGES or a restart: MySQL 8.0 manual, "When
    Privilege Changes Take Effect"; seen on MariaDB 10.11.19 with the mysql client alone)."""
    db.admin_query("FLUSH PRIVILEGES")


def _run(db, host, port, name, vardir):
    """(end, last lines, (start, end)): the end is passed, failed(status) or timeout; the
    offsets are the server's general log's when the client started and when it ended."""
    os.makedirs(vardir, exist_ok=True)
    _reset_privileges(db)
    log_from = db.general_log_offset()
    args = [EXE, "--no-defaults", "-h", host, "-P", str(port), "-u", ADMIN[0], "-p" + ADMIN[1], "-D", "igtest",
            "-v", vardir, "-s", name]
    try:
        r = subprocess.run(args, capture_output=True, timeout=TEST_TIMEOUT, cwd=vardir)
    except subprocess.TimeoutExpired:
        return "timeout", "", (log_from, db.general_log_offset())
    tail = (r.stdout + r.stderr).decode("utf-8", "replace").strip().splitlines()[-3:]
    return ("passed" if r.returncode == 0 else "failed(%d)" % r.returncode), " | ".join(tail), \
        (log_from, db.general_log_offset())


def test_mysql_client_test_same_results_direct_and_through(gateway_factory, own_db, tmp_path):
    names = _test_names()
    assert len(names) > 200 or os.environ.get("IG_CLIENT_TESTS"), names
    gw = gateway_factory(backend=(own_db.host, own_db.port))
    # The direct run and the gateway's run take turns per test: the suite's tests share the
    # server's databases and users, so two runs at once would step on each other.
    direct, through = {}, {}
    for n in names:
        direct[n] = _run(own_db, own_db.host, own_db.port, n, str(tmp_path / "direct"))
        through[n] = _run(own_db, gw.host, gw.port, n, str(tmp_path / "through"))
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


# One line of MariaDB's general log: [date time] TAB thread-id command TAB argument. A line
# that does not match continues the argument of the one before (a query with newlines).
_LOG_LINE = re.compile(r"^(?:\d{6}\s+\d{1,2}:\d\d:\d\d)?\t+\s*(\d+) ([A-Z][A-Za-z ]*?)\t(.*)$")


def _sessions(db, window):
    """What the server received from each connection a run made (those that logged in within
    the run's window of the general log), in the order they logged in: lists of (command,
    argument). COM_QUIT is left out: the client does not wait for it, so when it is logged is
    a matter of timing."""
    start, end = window
    with open(db.general_log, "rb") as f:
        f.seek(start)
        text = f.read(end - start).decode("utf-8", "replace")
    seen = {}
    last = None
    for line in text.splitlines():
        m = _LOG_LINE.match(line)
        if not m:
            if last is not None:
                last[1] += "\n" + line
            continue
        thread, command, arg = m.groups()
        if thread not in seen and command != "Connect":
            last = None  # a connection from before the run (an earlier run's): not this run's
            continue
        last = [command, arg]
        if command != "Quit":
            seen.setdefault(thread, []).append(last)
    return [[tuple(e) for e in entries] for entries in seen.values()]


def test_bug31669_in_turns_direct_and_through(gateway_factory, own_db, tmp_path):
    """test_bug31669 (COM_CHANGE_USER to a 2 KiB user, database and password, which
    libmariadb 3.3 cuts to 512 and 256 bytes; back to the test's user; GRANT ... IDENTIFIED BY
    a 2 KiB password; changes to the new user and to near misses of it) ends by deleting its
    accounts from mysql.user without reloading the privileges. Run as the comparison runs it -
    directly, then through the gateway, twice - every run passes, and through the gateway the
    server receives from each connection exactly what it receives directly: the gateway
    changes nothing of the exchange. Before every run reloaded the privileges, the second run
    failed at the GRANT (1133), whichever way it went."""
    gw = gateway_factory(backend=(own_db.host, own_db.port))
    runs = []
    for i, (host, port) in enumerate([(own_db.host, own_db.port), (gw.host, gw.port)] * 2):
        runs.append(_run(own_db, host, port, "test_bug31669", str(tmp_path / ("run%d" % i))))
    assert [r[0] for r in runs] == ["passed"] * 4, runs
    direct, through = _sessions(own_db, runs[0][2]), _sessions(own_db, runs[1][2])
    # the exchange the test is about reached the server: the change to the long user
    assert any(c == "Change user" and re.match(r"a{128,}@", a) for s in direct for c, a in s), direct
    assert len(direct) >= 3 and through == direct, (direct, through)
