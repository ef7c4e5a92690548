"""Which TiDB the decision is for, asked of the server (docs/TIDB_VERSIONS.md, "Which TiDB
answers"). The gateway read the backend's version, and whether it is TiDB X, from the
greeting alone. A TiProxy between the gateway and TiDB greets with a version it copied from
some backend's status API (or "5.7.25-TiDB-None" before it knows one), and TiDB's
`server-version` setting replaces the greeting's text: a TiDB X behind TiProxy was decided
as a classic TiDB and its import forwarded, and a TiDB whose greeting names an older or
newer release was decided under the wrong precheck model. Now the probe asks @@version and,
of a server whose greeting names TiDB, TIDB_VERSION(), on the connection the import goes to."""

import pytest

from harness import ports, timing
from policy_helpers import (Received, double, etcd, last_decision, policy_gw, query,  # noqa: F401
                            make_double, refused_by_gateway, state)
from test_explain_matches_live import explain, status

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SQL = "IMPORT INTO shop.t FROM 's3://bucket/data/t.*.csv'"
TIDBX = "8.0.11-TiDB-X-CLOUD.202603.1"
TIPROXY_UNKNOWN = "5.7.25-TiDB-None"  # TiProxy's greeting before it has read a backend


def gw_for(policy_gw, srv, policy=None):
    return policy_gw(policy, backend=("127.0.0.1", srv.port))


@pytest.mark.parametrize("greeting", ["8.0.11-TiDB-v8.5.0", TIPROXY_UNKNOWN],
                         ids=["copied-classic", "tiproxy-none"])
def test_tidbx_behind_a_proxy_refused(policy_gw, make_double, state, greeting):
    """TiDB X whose greeting a proxy replaced: nothing in PD's etcd, yet its keyspace's tasks
    may be in an etcd the gateway does not read. Before: judged classic and forwarded."""
    srv = make_double(version=TIDBX, greeting=greeting)
    gw = gw_for(policy_gw, srv)
    rx = Received(srv)
    out = query(gw, SQL)
    assert refused_by_gateway(out), (out, rx.sqls())
    assert "TiDB X" in out.message, out.message
    assert rx.imports() == [], rx.imports()
    assert len(rx.probes()) == 1 and "TIDB_VERSION()" in rx.probes()[0], rx.probes()


def test_tidbx_by_kernel_line_only(policy_gw, make_double, state):
    """A TiDB X whose @@version a proxy cannot change but whose greeting was replaced, read
    by TIDB_VERSION()'s "Kernel Type: Next Generation" and its X-CLOUD release."""
    srv = make_double(version=TIDBX, greeting="8.0.11-TiDB-v8.4.0-this-is-a-placeholder")
    gw = gw_for(policy_gw, srv)
    out = query(gw, SQL)
    assert refused_by_gateway(out) and "TiDB X" in out.message, out


def test_older_tidb_behind_a_newer_greeting(policy_gw, make_double, state):
    """TiProxy greets as v8.5 (another backend's version) while the session's TiDB is v7.5,
    which has no DISABLE_PRECHECK: a task elsewhere makes v7.5's own precheck refuse, and the
    gateway cannot skip it. Before: DISABLE_PRECHECK was added and v7.5 failed the import
    with an unknown-option error instead of the gateway's clear refusal."""
    state.task("pitr_stage", ["stage.*"])
    srv = make_double(version="8.0.11-TiDB-v7.5.1", greeting="8.0.11-TiDB-v8.5.0")
    gw = gw_for(policy_gw, srv)
    rx = Received(srv)
    out = query(gw, SQL)
    assert refused_by_gateway(out), (out, rx.sqls())
    assert 'log backup task "pitr_stage"' in out.message and "no DISABLE_PRECHECK" in out.message, out.message
    assert rx.imports() == [], rx.imports()


def test_server_version_setting_read_through_tidb_version(policy_gw, make_double, state):
    """TiDB v8.5 configured with server-version "5.7.25-TiDB-v6.5.0" (greeting, @@version and
    VERSION() say v6.5; TIDB_VERSION() says v8.5.0). Before: decided as v6.5, which cannot
    skip the precheck, so an uncovered table was refused while a task elsewhere ran."""
    state.task("pitr_stage", ["stage.*"])
    srv = make_double(version="5.7.25-TiDB-v6.5.0", release="v8.5.0")
    gw = gw_for(policy_gw, srv)
    rx = Received(srv)
    out = query(gw, SQL)
    assert out.ok, (out, rx.sqls())
    assert rx.imports() == [SQL + " WITH DISABLE_PRECHECK"], rx.imports()
    line = last_decision(gw)
    assert ": add-disable-precheck, rule (defaults)" in line, line


def test_greeting_without_tidb_asks_in_a_tidb_comment(policy_gw, make_double, state):
    """A greeting that does not name TiDB (a `server-version` of "8.0.36"): TIDB_VERSION() is
    asked only inside a TiDB-only comment (MySQL and MariaDB skip it and answer NULL; a bare
    call would fail their whole probe). This TiDB v8.5 answers, so its release is known:
    a task elsewhere, the table uncovered, DISABLE_PRECHECK added. (Before attack 28 only
    @@version was asked and the version was unknown: refused.)"""
    state.task("pitr_stage", ["stage.*"])
    srv = make_double(version="8.0.36", release="v8.5.0")
    gw = gw_for(policy_gw, srv)
    rx = Received(srv)
    out = query(gw, SQL)
    assert out.ok, (out, rx.sqls())
    assert rx.imports() == [SQL + " WITH DISABLE_PRECHECK"], rx.imports()
    assert len(rx.probes()) == 1, rx.probes()
    probe = rx.probes()[0]
    assert "COALESCE(/*T! TIDB_VERSION(), */ NULL)" in probe and "HEX(TIDB_VERSION())" not in probe, probe
    assert "HEX(@@version)" in probe, probe


def test_tidbx_whose_server_version_hides_tidb_refused(policy_gw, make_double, state):
    """A next-gen TiDB as pingcap/tidb master built it before v26.3 (mirror of master at
    2026-02-10, 9a5c8821c6: cmd/tidb-server setGlobalVars applies `server-version` on either
    kernel, mysql.ServerVersion carries the plain release, GetTiDBInfo ends "Kernel Type:
    Next Generation"), configured with server-version "8.0.36": neither the greeting nor
    @@version names TiDB, only TIDB_VERSION() tells. Nothing in PD's etcd, yet its keyspace's
    tasks may be elsewhere. Before: TIDB_VERSION() was not asked (the greeting lacks "TiDB"),
    the backend was judged classic and the import forwarded."""
    srv = make_double(version="8.0.36", release="v9.0.0-beta.2", nextgen=True)
    gw = gw_for(policy_gw, srv)
    rx = Received(srv)
    out = query(gw, SQL)
    assert refused_by_gateway(out) and "TiDB X" in out.message, (out, rx.sqls())
    assert rx.imports() == [], rx.imports()


def test_explain_reads_what_the_last_probe_was_told(policy_gw, make_double, state):
    """/api/v1/explain has no session to ask: before any probe it reads the last greeting (a
    TiProxy's copy: classic), after one what that probe's server said of itself (TiDB X), as
    the live path decides. Before, explain went on calling the import allowed after the live
    path refused it."""
    srv = make_double(version=TIDBX, greeting="8.0.11-TiDB-v8.5.0")
    admin_port = ports.free_port()
    gw = policy_gw(backend=("127.0.0.1", srv.port), admin={"listen": "127.0.0.1:%d" % admin_port})
    assert ports.wait_port("127.0.0.1", admin_port, 10)
    assert timing.wait_for(lambda: status(admin_port)["server_version"], 30), status(admin_port)
    assert status(admin_port)["server_said"] is None  # no probe yet
    before = explain(admin_port, "root", "shop", SQL)
    assert before["action"] == "forward", before  # the greeting names a classic v8.5
    out = query(gw, SQL)
    assert refused_by_gateway(out) and "TiDB X" in out.message, out
    said = status(admin_port)["server_said"]
    assert said["version"] == TIDBX, said
    assert said["tidb_version"].startswith("Release Version: ") and \
        said["tidb_version"].endswith("\nKernel Type: Next Generation"), said
    after = explain(admin_port, "root", "shop", SQL)
    assert after["action"] == "reject", after
    assert after["error"]["message"] == out.message, (after, out)
