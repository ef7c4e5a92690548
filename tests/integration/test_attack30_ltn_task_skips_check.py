"""attack30: the task's own `check-requirements = false` where the preflight does not call
skipping Lightning's check safe.

`importgate lightning check` calls `check-requirements = false` safe only when [tidb]'s
TIDB_VERSION() names a released classic TiDB (session 20); without an answer (the service
login fails: no obligations.service account on that TiDB, a wrong password) the tables are
still decided on the greeting alone, and a next-gen build whose greeting reads as a plain
release (a server-version, a build of master before v26.3) has every table ALLOWED.
`importgate lightning run` then passed -check-requirements=false only when skipping was safe,
and otherwise ran Lightning "with its check as the task says": a task that says
`check-requirements = false` itself ran Lightning with its CDC/PiTR check off on a TiDB the
gateway could not tell from TiDB X - the one check that reads the keyspace's log backup
tasks (docs/LIGHTNING.md, attack27). The same held with the cluster state unreadable
(`defer-to-tidb`: "Lightning's own check decides", which the task had turned off)."""

import pytest

from policy_helpers import etcd, make_double, state  # noqa: F401  (fixtures)
from test_lightning import check_json, dump, guarded_run, gw_config, task_file

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


def guarded(tmp_path, etcd_url, srv, service_user, check_requirements):
    src = dump(tmp_path / "d", ["shop.orders"])
    cfg = gw_config(tmp_path / "gw.yaml", etcd_url, [], servers=("127.0.0.1:%d" % srv.port,),
                    service_user=service_user, audit_path=str(tmp_path / "audit.jsonl"))
    task = task_file(tmp_path / "t.toml", src, etcd_url=etcd_url, tidb_port=srv.port)
    if not check_requirements:
        body = open(task).read().replace("check-requirements = true", "check-requirements = false")
        open(task, "w").write(body)
    rc, ans = check_json(cfg, task)
    run, runs = guarded_run(cfg, task, wait=5)
    return ans, run, runs


def test_task_check_off_on_unknown_tidb_not_run(tmp_path, etcd, state, make_double):  # noqa: F811
    """A next-gen build greeting as v8.5.0, the service login refused: which TiDB it is is not
    known, so the task's own check-requirements = false must not run."""
    srv = make_double(version="8.0.11-TiDB-v8.5.0", release="v9.0.0-beta.2", nextgen=True)
    ans, run, runs = guarded(tmp_path, etcd.url, srv, "nobody", check_requirements=False)
    assert ans["cluster"]["tidb_said"] is None, ans
    assert ans["check_requirements_false"]["safe"] is False, ans
    assert not [r for r in runs if r.get("check_requirements") is False], \
        "Lightning ran with its own check off on a TiDB the gateway could not tell: %r" % runs
    assert run.returncode == 1 and not runs, (run.stdout, run.stderr, runs)
    assert "check-requirements = false" in run.stderr, run.stderr


def test_task_check_on_unknown_tidb_runs(tmp_path, etcd, state, make_double):  # noqa: F811
    """Control: the same task with its check on runs, Lightning's own check deciding."""
    srv = make_double(version="8.0.11-TiDB-v8.5.0", release="v9.0.0-beta.2", nextgen=True)
    ans, run, runs = guarded(tmp_path, etcd.url, srv, "nobody", check_requirements=True)
    assert ans["check_requirements_false"]["safe"] is False, ans
    assert runs and all(r.get("check_requirements") is True for r in runs), (run.stdout, run.stderr, runs)


def test_task_check_off_where_safe_runs(tmp_path, etcd, state, make_double):  # noqa: F811
    """Control: a released classic TiDB answering the service login: skipping is safe, so the
    task's own check-requirements = false runs as it says."""
    srv = make_double(version="8.0.11-TiDB-v8.5.0")
    ans, run, runs = guarded(tmp_path, etcd.url, srv, "root", check_requirements=False)
    assert ans["check_requirements_false"]["safe"] is True, ans
    assert runs and runs[0].get("check_requirements") is False, (run.stdout, run.stderr, runs)
