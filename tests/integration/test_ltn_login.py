"""The Lightning preflight asks [tidb] which TiDB it is (proxy/ltn_preflight.c ask_tidb): on
the gateway's service login (obligations.service) it reads @@version and TIDB_VERSION(), as
the live path's probe does, because a greeting is written by whatever is in front (a
TiProxy's placeholder) or by TiDB's server-version, and a next-gen build of master before
v26.3 greets with a plain release (tests/tidb_double/FACTS.md section 11). Skipping
Lightning's own check (check-requirements = false) is safe only when that answer names a
released classic TiDB; TiDB X by any of greeting, @@version or TIDB_VERSION() is refused.
Each case below was decided on the greeting before (session 20)."""

import pytest

from policy_helpers import etcd, make_double, state  # noqa: F401  (fixtures)
from test_lightning import check_json, dump, guarded_run, gw_config, ig, task_file

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


def preflight(tmp_path, etcd, make_double, service_user="root", password=None, **double):  # noqa: F811
    srv = make_double(**double)
    src = dump(tmp_path / "d", ["shop.orders"])
    pwf = ""
    if password is not None:
        pwf = str(tmp_path / "pw")
        with open(pwf, "w") as f:
            f.write(password + "\n")
    cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [], servers=("127.0.0.1:%d" % srv.port,),
                    service_user=service_user, service_password_file=pwf,
                    audit_path=str(tmp_path / "audit.jsonl"))
    task = task_file(tmp_path / "t.toml", src, etcd_url=etcd.url, tidb_port=srv.port)
    rc, ans = check_json(cfg, task)
    text = ig("check", "-c", cfg, "--task", task)
    run, runs = guarded_run(cfg, task, wait=5)
    run.started = bool(runs)
    return rc, ans, text, run


# TiDB X that its greeting does not show: a server-version that reads as a released classic
# (TiDB applies it on either kernel), a plain pre-release, or a TiProxy's placeholder.
HIDDEN_X = [
    dict(version="8.0.11-TiDB-v8.5.0", release="v9.0.0-beta.2", nextgen=True),
    dict(version="8.0.11-TiDB-v8.5.0", release="TiDB-X-CLOUD.202603.1"),
    dict(version="8.0.11-TiDB-v8.5.0", release="CLOUD.202603.0"),
    dict(version="8.0.11-TiDB-v9.0.0-beta.2", nextgen=True, greeting="8.0.11-TiDB-v8.5.0"),
    dict(version="8.0.11-TiDB-X-CLOUD.202603.1", greeting="5.7.25-TiDB-None"),
]


@pytest.mark.parametrize("double", HIDDEN_X, ids=["server-version-kernel", "server-version-x-release",
                                                  "server-version-cloud-release", "tiproxy-copied-classic",
                                                  "tiproxy-none"])
def test_hidden_tidbx_refused_and_not_safe(tmp_path, etcd, state, make_double, double):  # noqa: F811
    rc, ans, text, run = preflight(tmp_path, etcd, make_double, **double)
    assert ans["cluster"]["tidb_said"]["nextgen"] is True, ans
    assert rc == 1 and ans["tables"][0]["verdict"] == "refused", ans
    assert "TiDB X" in ans["tables"][0]["reason"], ans
    assert ans["check_requirements_false"]["safe"] is False, ans
    assert "is TiDB X" in ans["check_requirements_false"]["why"], ans
    assert "TiDB answers: @@version" in text.stdout and "(TiDB X)" in text.stdout, text.stdout
    # the guarded run refuses before Lightning starts
    assert run.returncode == 1 and not run.started, (run.stdout, run.stderr)


@pytest.mark.parametrize("greeting", ["5.7.25-TiDB-None", "8.0.11-TiDB-v8.4.0-this-is-a-placeholder", "8.0.36"],
                         ids=["tiproxy-none", "tiproxy-placeholder", "server-version"])
def test_classic_behind_any_greeting_safe(tmp_path, etcd, state, make_double, greeting):  # noqa: F811
    """A released classic TiDB behind a TiProxy placeholder or its own server-version: the
    answer says what the greeting cannot, so skipping is safe (it was not, on the greeting)."""
    rc, ans, _, _ = preflight(tmp_path, etcd, make_double, version="8.0.11-TiDB-v8.5.0", greeting=greeting)
    assert rc == 0 and ans["tables"][0]["verdict"] == "allowed", ans
    assert ans["cluster"]["tidb_said"] == {"version": "8.0.11-TiDB-v8.5.0", "release": "v8.5.0",
                                           "nextgen": False, "classic_release": True}, ans
    assert ans["check_requirements_false"]["safe"] is True, ans


def test_classic_prerelease_not_safe(tmp_path, etcd, state, make_double):  # noqa: F811
    """A classic build of master ("Kernel Type: Classic", release v9.0.0-beta.2): allowed,
    but a pre-release is not what skipping is trusted on."""
    rc, ans, _, _ = preflight(tmp_path, etcd, make_double, version="8.0.11-TiDB-v9.0.0-beta.2",
                              release="v9.0.0-beta.2-112-g3bd5f1c", nextgen=False)
    assert ans["tables"][0]["verdict"] == "allowed", ans
    assert ans["cluster"]["tidb_said"]["classic_release"] is False, ans
    assert ans["check_requirements_false"]["safe"] is False, ans
    assert "names no released classic TiDB" in ans["check_requirements_false"]["why"], ans


def test_login_refused_not_safe_and_password_not_shown(tmp_path, etcd, state, make_double):  # noqa: F811
    """The service login fails (a wrong password): the greeting alone does not make skipping
    safe, the reason names the user and the server's error, and the password is nowhere in
    what the preflight prints."""
    secret = "S3cret-pw-never-shown"
    rc, ans, text, run = preflight(tmp_path, etcd, make_double, service_user="alice", password=secret,
                                   version="8.0.11-TiDB-v8.5.0")
    assert ans["cluster"]["tidb_said"] is None, ans
    err = ans["cluster"]["tidb_said_error"]
    assert 'user "alice"' in err and "Access denied" in err, err
    assert ans["check_requirements_false"]["safe"] is False, ans
    assert "is not known" in ans["check_requirements_false"]["why"], ans
    assert "TiDB not asked:" in text.stdout, text.stdout
    for out in (str(ans), text.stdout, text.stderr, run.stdout, run.stderr):
        assert secret not in out


def test_login_with_password_file(tmp_path, etcd, state, make_double):  # noqa: F811
    """Control for the above: the right password in the service password file answers."""
    rc, ans, _, _ = preflight(tmp_path, etcd, make_double, service_user="alice", password="alicepw",
                              version="8.0.11-TiDB-v8.5.0")
    assert ans["cluster"]["tidb_said"]["classic_release"] is True, ans
    assert ans["check_requirements_false"]["safe"] is True, ans
