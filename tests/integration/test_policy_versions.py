"""End-to-end policy tests per TiDB version (issue 13, docs/TIDB_VERSIONS.md): the gateway in
front of a TiDB double that pretends to be v7.5, v8.1, v8.5 or a master-like v9.0 (its
--version drives which changefeed states its own precheck counts, and which options exist),
tasks and changefeeds written to a real etcd as BR and TiCDC write them. Each test checks
what the client got and what reached the double; where the gateway forwards unchanged, the
double's own precheck is what the client sees."""

import pytest

from policy_helpers import (PRECHECK, Received, double, etcd, last_decision,  # noqa: F401
                            policy_gw, query, rule, start_double, state)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

SQL = "IMPORT INTO shop.t FROM 's3://bucket/data/t.*.csv'"
ADDED = " WITH DISABLE_PRECHECK"

V75, V81, V85, MASTER = ("8.0.11-TiDB-v7.5.1", "8.0.11-TiDB-v8.1.0", "8.0.11-TiDB-v8.5.0",
                         "8.0.11-TiDB-v9.0.0-alpha")
VERSIONS = [V75, V81, V85, MASTER]


@pytest.fixture(scope="module", params=VERSIONS, ids=["v7.5", "v8.1", "v8.5", "master"])
def vdouble(request, etcd, tmp_path_factory):
    srv = start_double(etcd.url, str(tmp_path_factory.mktemp("vdouble") / "statements.jsonl"),
                       version=request.param)
    srv.server_version = request.param
    yield srv
    srv.stop()


def gw_for(policy_gw, vdouble, policy=None):
    return policy_gw(policy, backend=("127.0.0.1", vdouble.port))


def is_v75(vdouble):
    return vdouble.server_version == V75


def counts_old_states(vdouble):
    # before v8.2 TiDB counts normal, stopped, error only (br/pkg/utils/cdc.go; #53121 and
    # #53482 first ship in v8.2.0): failed, warning and running stop neither v7.5 nor v8.1
    return vdouble.server_version in (V75, V81)


def assert_finished(out):
    assert out.ok, out
    row = out.results[0][0]
    assert row[2] == "`shop`.`t`" and row[5] == "finished", row


def assert_rejected(out, *needles):
    assert out.code == PRECHECK, out
    assert out.message.startswith("PreCheck failed: importgate: "), out.message
    for n in needles:
        assert n in out.message, (n, out.message)


def test_nothing_forwarded_unchanged(policy_gw, vdouble, state):
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    assert_finished(query(gw, SQL))
    assert rx.sqls() == [SQL]
    line = last_decision(gw)
    assert ": pass, rule (defaults)" in line, line
    # the precheck model the decision used: a master-like (newer than v8.5) TiDB gets the
    # newest one
    model = {V75: "(before v8.0 (br/pkg/utils/cdc.go))", V81: "(v8.0-v8.1 ",
             V85: "(v8.2 and later ", MASTER: "(v8.2 and later "}[vdouble.server_version]
    assert "TiDB's precheck counts exists " + model in line, line


def test_covering_task_refused_on_every_version(policy_gw, vdouble, state):
    state.task("pitr_shop", ["shop.*"])
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    assert_rejected(query(gw, SQL), 'shop.t is covered by log backup task "pitr_shop"')
    assert rx.sqls() == []


def test_task_elsewhere(policy_gw, vdouble, state):
    # every version's precheck counts every task: v7.5 cannot skip it, v8.0+ can
    state.task("pitr_stage", ["stage.*"])
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    out = query(gw, SQL)
    if is_v75(vdouble):
        assert_rejected(out, 'log backup task "pitr_stage"', "no DISABLE_PRECHECK")
        assert rx.sqls() == []
    else:
        assert_finished(out)
        assert rx.sqls() == [SQL + ADDED]


def test_failed_changefeed_not_covering(policy_gw, vdouble, state):
    # v8.2+ counts a failed changefeed (pingcap/tidb#53482), v7.5 and v8.1 do not: the
    # gateway adds DISABLE_PRECHECK only where TiDB would stop the import
    state.changefeed("cf-stage", ["stage.*"], state="failed")
    direct = query(vdouble.port, SQL)
    if vdouble.server_version in (V85, MASTER):
        assert direct.code == PRECHECK and "cf-stage" in direct.message, direct
    else:
        assert_finished(direct)
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    assert_finished(query(gw, SQL))
    assert rx.sqls() == [SQL if counts_old_states(vdouble) else SQL + ADDED]


def test_failed_changefeed_covering_with_allowing_rule(policy_gw, vdouble, state):
    state.changefeed("cf-shop", ["shop.*"], state="failed")
    gw = gw_for(policy_gw, vdouble, {"rules": [rule("reimport", changefeed="reimport-downstream")]})
    rx = Received(vdouble)
    assert_finished(query(gw, SQL))
    line = last_decision(gw)
    if counts_old_states(vdouble):
        assert rx.sqls() == [SQL]
        assert ": pass, rule reimport" in line, line
    else:
        assert rx.sqls() == [SQL + ADDED]
        assert ": add-disable-precheck, rule reimport" in line, line
    assert "changefeed: reimport-downstream" in line, line


def test_failed_changefeed_covering_required_refused(policy_gw, vdouble, state):
    # coverage does not depend on what TiDB counts: a failed changefeed may resume
    state.changefeed("cf-shop", ["shop.*"], state="failed")
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    assert_rejected(query(gw, SQL), 'changefeed "default/default/cf-shop" (failed)')
    assert rx.sqls() == []


def test_warning_changefeed_elsewhere(policy_gw, vdouble, state):
    # v7.5 and v8.1 count normal, stopped, error only: a warning changefeed stops neither
    state.changefeed("cf-stage", ["stage.*"], state="warning")
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    assert_finished(query(gw, SQL))
    assert rx.sqls() == [SQL if counts_old_states(vdouble) else SQL + ADDED]


def test_normal_changefeed_elsewhere(policy_gw, vdouble, state):
    # before v8.0 one variant ignores non-numeric cluster ids (pingcap/tidb#47322): the
    # gateway cannot know, forwards unchanged, and TiDB's own precheck answers
    state.changefeed("cf-stage", ["stage.*"])
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    out = query(gw, SQL)
    if is_v75(vdouble):
        assert out.code == PRECHECK, out
        assert out.message == ("PreCheck failed: found CDC changefeed(s): cluster/namespace: "
                               "default/default changefeed(s): [cf-stage],"), out.message
        assert rx.sqls() == [SQL]
        assert "forwarded unchanged, TiDB's own precheck decides" in last_decision(gw)
    else:
        assert_finished(out)
        assert rx.sqls() == [SQL + ADDED]


def test_legacy_changefeed_elsewhere(policy_gw, vdouble, state):
    # the legacy layout is counted by every pre-v8.0 variant: refused with the reason
    state.changefeed("old-cf", ["stage.*"], legacy=True)
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    out = query(gw, SQL)
    if is_v75(vdouble):
        assert_rejected(out, 'changefeed "old-cf"', "no DISABLE_PRECHECK")
        assert rx.sqls() == []
    else:
        assert_finished(out)
        assert rx.sqls() == [SQL + ADDED]


def test_double_options_per_version(vdouble, state):
    # the double's option matrix: GROUP_KEY only master-like, DISABLE_PRECHECK from v8.0
    out = query(vdouble.port, SQL + " WITH group_key='g1'")
    if vdouble.server_version == MASTER:
        assert_finished(out)
    else:
        assert (out.code, out.message) == (8163, "Unknown option group_key"), out
    out = query(vdouble.port, SQL + ADDED)
    if is_v75(vdouble):
        assert (out.code, out.message) == (8163, "Unknown option disable_precheck"), out
    else:
        assert_finished(out)


def test_newer_than_known_version_said_once(policy_gw, vdouble, state):
    # A TiDB newer than every modelled version is decided with the newest model, and the
    # gateway says so once in its log (not per import).
    gw = gw_for(policy_gw, vdouble)
    for _ in range(3):
        assert_finished(query(gw, SQL))
    said = gw.stderr_text().count("newer than every TiDB version the gateway models")
    assert said == (1 if vdouble.server_version == MASTER else 0), gw.stderr_text()[-2000:]


# ---- IMPORT INTO options and grammar per version (policy/import_grammar.c, the double's
# importstmt.supported_options; docs/TIDB_VERSIONS.md "IMPORT INTO options and grammar per
# version"). A TiDB that does not know an option or form refuses the import itself; the
# gateway forwards it when no task or changefeed exists, and refuses it with 8173 while any
# does.

GROUP_KEY = SQL + " WITH group_key='g1'"
FROM_SELECT = "IMPORT INTO shop.t FROM SELECT * FROM shop.src"


def is_master(vdouble):
    return vdouble.server_version == MASTER


def tidb_version(vdouble):
    return "TiDB " + vdouble.server_version.split("-TiDB-")[1].split("-")[0]


def test_group_key_nothing_anywhere(policy_gw, vdouble, state):
    # forwarded as sent; a TiDB without GROUP_KEY (pingcap/tidb#62369) answers 8163 itself
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    out = query(gw, GROUP_KEY)
    assert rx.sqls() == [GROUP_KEY]
    if is_master(vdouble):
        assert_finished(out)
    else:
        assert (out.code, out.message) == (8163, "Unknown option group_key"), out


def test_group_key_while_a_changefeed_exists(policy_gw, vdouble, state):
    # a changefeed on another schema: nothing covers shop.t, but something covers something
    state.changefeed("cf-stage", ["stage.*"])
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    out = query(gw, GROUP_KEY)
    if is_master(vdouble):
        assert_finished(out)
        assert rx.sqls() == [GROUP_KEY + ", DISABLE_PRECHECK"]
    else:
        assert_rejected(out, tidb_version(vdouble) + " does not know the IMPORT INTO option group_key",
                        'changefeed "default/default/cf-stage"', "remove the option group_key")
        assert rx.sqls() == []


def test_users_disable_precheck_per_version(policy_gw, vdouble, state):
    # DISABLE_PRECHECK exists from v8.0.0 (pingcap/tidb#51077): on v7.5 a task anywhere makes
    # the gateway refuse (TiDB's precheck cannot be skipped there); from v8.0 the user's own
    # option is kept for a task elsewhere
    state.task("pitr_stage", ["stage.*"])
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    out = query(gw, SQL + ADDED)
    if is_v75(vdouble):
        assert out.code == PRECHECK, out
        assert out.message.startswith("PreCheck failed: importgate: "), out.message
        assert "disable_precheck" in out.message.lower(), out.message
        assert rx.sqls() == []
    else:
        assert_finished(out)
        assert rx.sqls() == [SQL + ADDED]


def test_from_select_nothing_anywhere(policy_gw, vdouble, state):
    # FROM SELECT exists from v8.0 (pingcap/tidb#49976): v7.5 answers a syntax error itself
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    out = query(gw, FROM_SELECT)
    assert rx.sqls() == [FROM_SELECT]
    if is_v75(vdouble):
        assert out.code == 1064, out
    else:
        assert out.ok, out


def test_from_select_while_a_changefeed_exists(policy_gw, vdouble, state):
    state.changefeed("cf-stage", ["stage.*"])
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    out = query(gw, FROM_SELECT)
    if is_v75(vdouble):
        assert_rejected(out, "TiDB v7.5.1 does not know the IMPORT INTO IMPORT INTO ... FROM SELECT")
        assert rx.sqls() == []
    else:
        assert out.ok, out
        assert rx.sqls() == [FROM_SELECT + ADDED]


def test_partition_clause_not_forwarded_while_a_task_exists(policy_gw, vdouble, state):
    # no TiDB source read has a PARTITION clause in ImportIntoStmt (stored master parser.y);
    # the gateway cannot parse one and, while anything could be covered, does not forward it
    state.task("pitr_stage", ["stage.*"])
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    out = query(gw, "IMPORT INTO shop.t PARTITION (p0) FROM 's3://bucket/data/t.*.csv'")
    assert out.code in (1064, PRECHECK), out
    assert "importgate" in out.message and "cannot" in out.message and "pars" in out.message, out
    assert rx.sqls() == []


@pytest.mark.parametrize("schema", ["lightning_task_info", "tidb_cdc", "workload_schema"])
def test_changefeed_everything_covers_schemas_some_ticdc_releases_skip(policy_gw, vdouble, state,
                                                                       schema):
    # some TiCDC releases never replicate these (tiflow pkg/filter isSysSchema: tidb_cdc from
    # v7.5.1/v8.0, lightning_task_info from v8.2, workload_schema from v26.3), comparing the
    # schema's name as stored; TiCDC's release is not the TiDB's the greeting names, and the
    # stored case is not the statement's: on every version a *.* changefeed covers them
    # (refused, required), never forwarded WITH DISABLE_PRECHECK (attack3)
    state.changefeed("cf-all", ["*.*"])
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    out = query(gw, "IMPORT INTO %s.t FROM 's3://bucket/data/t.*.csv'" % schema)
    assert out.code == PRECHECK, out
    assert '%s.t is covered by changefeed "default/default/cf-all"' % schema in out.message, out
    assert rx.sqls() == []


def test_changefeed_everything_skips_schemas_every_ticdc_skips(policy_gw, vdouble, state):
    # dm_heartbeat is in TiDB's IsSystemSchema list, which every TiCDC release skips in any
    # case: not covered; TiDB's precheck still counts the changefeed
    state.changefeed("cf-all", ["*.*"])
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    sql = "IMPORT INTO DM_Heartbeat.t FROM 's3://bucket/data/t.*.csv'"
    query(gw, sql)  # the double has no such table: what matters is what it received
    line = last_decision(gw)
    assert "covered" not in line, line
    # v7.5 has no DISABLE_PRECHECK (its precheck decides); later versions get it added
    assert rx.sqls() == [sql if is_v75(vdouble) else sql + ADDED], (rx.sqls(), line)


def test_log_backup_everything_covers_mysql_tables(policy_gw, vdouble, state):
    # a *.* log backup task observes the whole table key space (br/pkg/stream
    # BuildObserveDataRanges), system tables too: covered, refused under the default rule
    state.task("pitr_all", ["*.*"])
    sql = "IMPORT INTO mysql.t FROM 's3://bucket/data/t.*.csv'"
    gw = gw_for(policy_gw, vdouble)
    rx = Received(vdouble)
    assert_rejected(query(gw, sql), 'mysql.t is covered by log backup task "pitr_all"')
    assert rx.sqls() == []
