"""test_attack_ltn_run.py - the guarded run (`importgate lightning run`) must not run
Lightning with its check off on anything but the task it checked (docs/LIGHTNING.md).

Lightning's command line after "--" is Lightning's own (pkg/lightning/config/global.go,
LoadGlobalConfig): -config/-c name the task file (the last one wins), -d overrides
mydumper.data-source-dir, -backend the backend, -f the filter, -server-mode takes tasks over
HTTP. And Lightning reads the task file itself, after the preflight: a file changed in between
is not the file that was checked. In every case below the checked task loads only
staging.ok (no log backup task covers it, so check-requirements = false is "safe"), while
Lightning, as started, loads shop.* which the log backup task "pitr" covers and no rule
allows: the run must not start Lightning with its check off on that."""

import json
import os

import pytest

from policy_helpers import etcd, state  # noqa: F401  (fixtures)
from test_lightning import DOUBLE, _double_store, dump, ig, rows, task_file  # noqa: F401  (_double_store: autouse)
from test_obligations import doubles, obl_gw  # noqa: F401

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


def two_tasks(tmp_path, doubles, obl_gw, state, etcd, mariadb, covered):  # noqa: F811
    up, down = doubles(job_delay=0.1)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, [], cluster_name="ltntest")
    safe_dir = dump(tmp_path / "safe", ["staging.ok"])
    bad_dir = dump(tmp_path / "bad", [covered])
    safe = task_file(tmp_path / "safe.toml", safe_dir, etcd_url=etcd.url, mariadb=mariadb, tidb_port=up.port)
    bad = task_file(tmp_path / "bad.toml", bad_dir, etcd_url=etcd.url, mariadb=mariadb, tidb_port=up.port)
    return gw, safe, bad, str(bad_dir)


def run(gw, task, lightning_args, env=None):
    mark = os.path.join(os.path.dirname(task), "double.jsonl")
    e = {"LTN_DOUBLE_MARK": mark}
    e.update(env or {})
    p = ig("run", "-c", gw.config_path, "--task", task, "--wait", "30", "--",
           DOUBLE, *lightning_args, env=e)
    runs = [json.loads(ln) for ln in open(mark)] if os.path.exists(mark) else []
    return p, runs


def imported_past_the_check(runs, table):
    return [r for r in runs if r.get("check_requirements") is False and table in (r.get("loaded") or {})]


@pytest.mark.parametrize("how", ["config", "c", "config=", "config-twice", "d"])
def test_lightning_command_line_other_than_the_checked_task(tmp_path, doubles, obl_gw, state, etcd,  # noqa: F811
                                                           mariadb, how):
    covered = "shop.atk_argv_%s" % how.replace("=", "eq").replace("-", "_")
    gw, safe, bad, bad_dir = two_tasks(tmp_path, doubles, obl_gw, state, etcd, mariadb, covered)
    args = {"config": ["-config", bad], "c": ["-c", bad], "config=": ["--config=" + bad],
            "config-twice": ["-config", safe, "-config", bad],
            "d": ["-config", safe, "-d", bad_dir]}[how]
    p, runs = run(gw, safe, args)
    assert imported_past_the_check(runs, covered) == [], (p.stdout, p.stderr, runs)
    assert p.returncode != 0, (p.stdout, p.stderr)


def test_task_file_changed_between_check_and_lightning(tmp_path, doubles, obl_gw, state, etcd,  # noqa: F811
                                                       mariadb):
    """A writer replaces the task file after the preflight read it, before Lightning reads it
    (LTN_DOUBLE_SWAP does that write at Lightning's start): Lightning must get the bytes that
    were checked."""
    covered = "shop.atk_toctou"
    gw, safe, bad, _ = two_tasks(tmp_path, doubles, obl_gw, state, etcd, mariadb, covered)
    p, runs = run(gw, safe, ["-config", safe], env={"LTN_DOUBLE_SWAP": "%s:%s" % (bad, safe)})
    assert imported_past_the_check(runs, covered) == [], (p.stdout, p.stderr, runs)
    assert len(runs) == 1 and "staging.ok" in runs[0]["loaded"], (runs, p.stderr)
    assert rows(mariadb, "staging.ok") == 3
