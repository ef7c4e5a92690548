"""test_hardening_bypass.py - issue 7, bypass attempts through session state the gateway may
not see the way the server does: sql_mode changed to ANSI_QUOTES or NO_BACKSLASH_ESCAPES
(by SET in its several spellings) before an IMPORT INTO written so that it reads differently
in each mode, and multi-statements switched on after the handshake with COM_SET_OPTION.
A log backup task covers shop.*; whatever the client gets (8173, a syntax error, a close),
nothing import-like may reach the TiDB double, and the gateway stays up.

Real etcd and the TiDB double (tests/integration/policy_helpers.py)."""

import struct

import re

import pytest

from policy_helpers import (Received, connect, double, etcd, policy_gw, rawclient,  # noqa: F401
                            run, state, USERS)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

COM_SET_OPTION = 0x1b
MULTI_ON, MULTI_OFF = 0, 1

SQL_MODE_SETS = [
    "SET sql_mode='ANSI_QUOTES'",
    "SET SESSION sql_mode='NO_BACKSLASH_ESCAPES'",
    "SET @@sql_mode='ANSI_QUOTES,NO_BACKSLASH_ESCAPES'",
    "SET @@session.sql_mode=CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
    "/*!40101 SET sql_mode='ANSI_QUOTES' */",
    "SET NAMES utf8mb4, sql_mode='NO_BACKSLASH_ESCAPES'",
]

# Each reads as an import into the covered shop.orders in at least one of the modes.
IMPORTS = [
    "IMPORT INTO \"shop\".\"orders\" FROM 's3://b/o.csv'",
    "IMPORT INTO shop.\"orders\" FROM 's3://b/o.csv' WITH DISABLE_PRECHECK",
    "IMPORT INTO \"orders\" FROM \"s3://b/o.csv\"",
    # NO_BACKSLASH_ESCAPES: 'a\\' ends the string, the import is a statement of its own;
    # with escapes on, it is all one string literal.
    "SELECT 'a\\'; IMPORT INTO shop.orders FROM 's3://b/o.csv'; -- '",
    # ANSI_QUOTES: "x" is an identifier and the import a second statement; otherwise a string.
    "SELECT \"a\\\"; IMPORT INTO shop.orders FROM 's3://b/o.csv'; -- \"",
    "SELECT 1 /* '; */ ; IMPORT INTO orders FROM 's3://b/o.csv'",
]


def _starts_import(sql):
    return re.match(r"(?is)\s*(/\*.*?\*/\s*)*IMPORT\s+INTO", sql) is not None


def _assert_nothing_imported(rx, gw, what, jobs_before=None):
    """No statement the backend received (split as the double, lexing as TiDB under the
    session's sql_mode, splits it) is an import, and no import job started."""
    got = [q for q in rx.sqls() if _starts_import(q)]
    assert got == [], "%s: an import reached the backend: %r" % (what, got)
    if jobs_before is not None:
        ran = rx.double.state.jobs.keys() - jobs_before
        assert not ran, "%s: import jobs started: %r" % (what, ran)
    assert gw.alive()


@pytest.mark.parametrize("mode_sql", SQL_MODE_SETS)
def test_sql_mode_then_import_forms(policy_gw, double, state, mode_sql):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    c = connect(gw, db="shop", multi=True)
    try:
        out = run(c, mode_sql)
        assert out.ok, out
        rx = Received(double)
        jobs = set(double.state.jobs.keys())
        for sql in IMPORTS:
            # Refused, or (the gateway asks the server for sql_mode and reads the text as the
            # server will) forwarded where that reading holds no import.
            out = run(c, sql)
            if _starts_import(sql):
                assert not out.ok, "%s then %r answered OK: %r" % (mode_sql, sql, out)
        _assert_nothing_imported(rx, gw, mode_sql, jobs)
        # The session still answers after the refusals (it was not left in a broken state).
        assert run(c, "SELECT 1").ok
    finally:
        c.close()


def test_sql_mode_change_inside_the_same_batch(policy_gw, double, state):
    """The mode switch and the import in one COM_QUERY: the split must not depend on the
    mode the gateway believed at the batch's start."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    rx = Received(double)
    c = connect(gw, db="shop", multi=True)
    try:
        for sql in ("SET sql_mode='NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; "
                    "IMPORT INTO shop.orders FROM 's3://b/o.csv'; -- '",
                    "SET sql_mode='ANSI_QUOTES'; IMPORT INTO \"shop\".\"orders\" "
                    "FROM 's3://b/o.csv'"):
            out = run(c, sql)
            assert not out.ok, (sql, out)
    finally:
        c.close()
    _assert_nothing_imported(rx, gw, "mode switch in batch")


class _NoMultiClient(rawclient.RawClient):
    """rawclient without CLIENT_MULTI_STATEMENTS in its handshake response."""

    def _handshake(self, user, password, db, tls, plugin):
        self.caps &= ~rawclient.w.CLIENT_MULTI_STATEMENTS
        return super()._handshake(user, password, db, tls, plugin)


def _set_option(rc, value):
    rc.io.reset()
    rc.io.write(bytes([COM_SET_OPTION]) + struct.pack("<H", value))
    return rc.io.read()


def _query_outcome(rc, sql):
    try:
        return rc.query(sql)
    except rawclient.ServerError as e:
        return e
    except (OSError, rawclient.w.ProtocolError) as e:
        return e


@pytest.mark.parametrize("batch", [
    "SELECT 1; IMPORT INTO shop.orders FROM 's3://b/o.csv'",
    "DO 1;IMPORT INTO orders FROM 's3://b/o.csv' WITH DISABLE_PRECHECK",
    "SELECT 1; /*T! IMPORT INTO shop.orders FROM 's3://b/o.csv' */",
])
def test_multi_statements_switched_on_by_com_set_option(policy_gw, double, state, batch):
    """Handshake without CLIENT_MULTI_STATEMENTS, then COM_SET_OPTION(ON): a batch carrying a
    covered import is refused (or the option refused), never forwarded."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    rx = Received(double)
    rc = _NoMultiClient(gw.host, gw.port, "root", USERS["root"], db="shop")
    try:
        pkt = _set_option(rc, MULTI_ON)
        assert pkt[:1] in (b"\xfe", b"\x00", b"\xff"), pkt
        out = _query_outcome(rc, batch)
        assert isinstance(out, Exception), "batch answered as success: %r" % (out,)
    finally:
        rc.close()
    _assert_nothing_imported(rx, gw, "COM_SET_OPTION on + %r" % batch)


def test_com_set_option_toggled_back_and_forth(policy_gw, double, state):
    """ON, OFF, ON again on a connection that negotiated multi-statements: every batch with a
    covered import is refused whatever the gateway believes the option is."""
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    rx = Received(double)
    rc = rawclient.RawClient(gw.host, gw.port, "root", USERS["root"], db="shop")
    try:
        for value in (MULTI_OFF, MULTI_ON, MULTI_OFF, MULTI_ON):
            _set_option(rc, value)
            out = _query_outcome(rc, "SELECT 1; IMPORT INTO shop.orders FROM 's3://b/o.csv'")
            assert isinstance(out, Exception), (value, out)
            if isinstance(out, OSError):
                break  # the gateway closed the session: also a refusal
    finally:
        rc.close()
    _assert_nothing_imported(rx, gw, "COM_SET_OPTION toggles")


def test_control_same_batch_reaches_backend_when_nothing_covers(policy_gw, double, state):
    """The control for the tests above: with no task anywhere the same COM_SET_OPTION batch
    is forwarded and shows up in the double's log, so an empty log above means refused."""
    gw = policy_gw()
    rx = Received(double)
    rc = _NoMultiClient(gw.host, gw.port, "root", USERS["root"], db="shop")
    try:
        _set_option(rc, MULTI_ON)
        _query_outcome(rc, "SELECT 1; IMPORT INTO shop.orders FROM 's3://b/o.csv'")
    finally:
        rc.close()
    assert rx.imports(), "nothing reached the double: the detection above proves nothing"
