"""Attack 26 (keyspace clusters): a TiDB started with `keyspace-name`, and TiDB X, keep a
keyspace's etcd keys under `/keyspaces/tidb/<keyspace id>`: `br log start` puts the log
backup task through its domain's namespaced etcd client, so the task is
`/keyspaces/tidb/42/tidb/br-stream/info/<name>` (docs/TIDB_VERSIONS.md, "Keyspace
clusters"). The gateway read only `/tidb/br-stream/`: it saw no task, judged the table
uncovered and forwarded the import, with DISABLE_PRECHECK when anything else existed; TiDB's
own precheck reads the plain keys only, so the covered table was imported and its rows were
missing from the keyspace's log backup. Fixed: the task keys under every keyspace namespace in
PD's etcd are read as tasks, and a TiDB X backend (greeting `-TiDB-X-CLOUD.`), whose
keyspace may keep that namespace in an etcd of its own, is refused."""

import pytest

from policy_helpers import (Received, cs, double, etcd, policy_gw, query,  # noqa: F401
                            refused_by_gateway, rule, start_double, state)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

TIDBX = "8.0.11-TiDB-X-CLOUD.202603.1"
# policy_gw's backend is policy_helpers' v8.5 double: a classic TiDB with keyspace-name greets as any


@pytest.fixture(scope="module")
def xdouble(etcd, tmp_path_factory):
    """A double greeting as TiDB X."""
    srv = start_double(etcd.url, str(tmp_path_factory.mktemp("tidbx") / "statements.jsonl"),
                       version=TIDBX)
    yield srv
    srv.stop()


def test_keyspace_task_covers(policy_gw, double, state, etcd):
    """A keyspace's task, and an unrelated changefeed: the import was forwarded WITH
    DISABLE_PRECHECK into a table the task covers."""
    cs.put_log_backup_task(etcd.url, "pitr_ks", keyspace_id=42)
    state.changefeed("cf-other", ["other.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO shop.t FROM 's3://b/t.csv'")
    assert refused_by_gateway(out), (out, rx.sqls())
    assert 'log backup task "pitr_ks (keyspace 42)"' in out.message, out.message
    assert rx.imports() == [], rx.imports()


def test_keyspace_task_seen_after_the_first_read(policy_gw, double, state, etcd):
    """A task started after the gateway read the state: the watch must count its key."""
    gw = policy_gw()
    rx = Received(double)
    assert query(gw, "IMPORT INTO shop.t1 FROM 's3://b/t.csv'").ok  # nothing anywhere
    assert len(rx.imports()) == 1
    cs.put_log_backup_task(etcd.url, "pitr_late", keyspace_id=7, paused=True)
    rx = Received(double)
    out = query(gw, "IMPORT INTO shop.t2 FROM 's3://b/t.csv'")
    assert refused_by_gateway(out), (out, rx.sqls())
    assert "pitr_late (keyspace 7)" in out.message and "(paused, still counts)" in out.message
    assert rx.imports() == [], rx.imports()


def test_keyspace_task_filter_read(policy_gw, double, state, etcd):
    """Read as a task: its filter decides what it covers (by-name), and TiDB's precheck,
    which does not see it, is skipped only for a table it does not cover."""
    cs.put_log_backup_task(etcd.url, "pitr_stage", table_filter=("stage.*",), keyspace_id=42)
    gw = policy_gw({"log_backup_filters": "by-name"})
    rx = Received(double)
    assert refused_by_gateway(query(gw, "IMPORT INTO stage.t FROM 's3://b/t.csv'"))
    out = query(gw, "IMPORT INTO shop.t FROM 's3://b/t.csv'")
    assert out.ok, out
    assert [s for s in rx.imports() if "DISABLE_PRECHECK" in s.upper()], rx.imports()


def test_tidbxrefused_by_gateway(policy_gw, xdouble, state):
    """TiDB X, nothing in PD's etcd: the keyspace's tasks may be in its own etcd; the import
    was forwarded and ran."""
    gw = policy_gw(backend=("127.0.0.1", xdouble.port))
    rx = Received(xdouble)
    out = query(gw, "IMPORT INTO shop.t FROM 's3://b/t.csv'")
    assert refused_by_gateway(out), (out, rx.sqls())
    assert "TiDB X" in out.message, out.message
    assert rx.imports() == [], rx.imports()


def test_tidbx_pass_rule(policy_gw, xdouble, state):
    """The DBA's pass rule still forwards (control)."""
    gw = policy_gw({"rules": [rule("trusted", users="root", action="pass")]},
                   backend=("127.0.0.1", xdouble.port))
    rx = Received(xdouble)
    assert query(gw, "IMPORT INTO shop.t FROM 's3://b/t.csv'").ok
    assert len(rx.imports()) == 1, rx.imports()
