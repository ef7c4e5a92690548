"""Attack 27 (TiDB X through the Lightning preflight): the live path refuses an IMPORT INTO on
a TiDB X backend (greeting `-TiDB-X-CLOUD.`) because its keyspace may keep its log backup
tasks in a meta service group's etcd the gateway does not read (docs/TIDB_VERSIONS.md,
"Keyspace clusters"). `importgate lightning check|run` decided with a fixed version and never
looked at what the task's TiDB is: with nothing in PD's etcd it answered "allowed" and
"check-requirements = false: safe", so the guarded run started Lightning with its own
CDC/PiTR check off, the one check that (master Lightning, lightning/pkg/importer
CDCPITRCheckItem with the keyspace name) dials the keyspace's etcd and would see the task."""

import pytest

from policy_helpers import etcd, start_double, state  # noqa: F401  (fixtures)
from test_lightning import GreetingListener, check_json, dump, greeting_packet, gw_config, ig, task_file

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

TIDBX = "8.0.11-TiDB-X-CLOUD.202603.1"


@pytest.fixture(scope="module")
def xdouble(etcd, tmp_path_factory):  # noqa: F811
    srv = start_double(etcd.url, str(tmp_path_factory.mktemp("ltnx") / "statements.jsonl"),
                       version=TIDBX)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def cdouble(etcd, tmp_path_factory):  # noqa: F811
    srv = start_double(etcd.url, str(tmp_path_factory.mktemp("ltnc") / "statements.jsonl"))
    yield srv
    srv.stop()


def test_tidbx_lightning_check_refused(tmp_path, etcd, state, xdouble):  # noqa: F811
    """Nothing in PD's etcd, the task's TiDB greets as TiDB X: refused, and skipping
    Lightning's own check is not called safe."""
    src = dump(tmp_path / "d", ["shop.orders"])
    cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [], servers=("127.0.0.1:%d" % xdouble.port,))
    task = task_file(tmp_path / "t.toml", src, etcd_url=etcd.url, tidb_port=xdouble.port)
    rc, ans = check_json(cfg, task)
    t = ans["tables"][0]
    assert t["verdict"] == "refused", ans
    assert "TiDB X" in t["reason"], t["reason"]
    assert ans["check_requirements_false"]["safe"] is False, ans
    assert rc == 1 and ans["cluster"]["tidb_server"] == TIDBX, ans
    p = ig("check", "-c", cfg, "--task", task)
    assert p.returncode == 1 and "REFUSED" in p.stdout, (p.stdout, p.stderr)


def test_classic_lightning_check_allowed(tmp_path, etcd, state, cdouble):  # noqa: F811
    """Control: the same with a classic TiDB, asked on the service login, is allowed,
    skipping safe."""
    src = dump(tmp_path / "d", ["shop.orders"])
    cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [], servers=("127.0.0.1:%d" % cdouble.port,),
                    service_user="root")
    rc, ans = check_json(cfg, task_file(tmp_path / "t.toml", src, etcd_url=etcd.url,
                                        tidb_port=cdouble.port))
    assert rc == 0 and ans["tables"][0]["verdict"] == "allowed", ans
    assert ans["check_requirements_false"]["safe"] is True, ans
    assert "-TiDB-v" in ans["cluster"]["tidb_server"], ans


def test_silent_tidb_not_safe_to_skip(tmp_path, etcd, state):  # noqa: F811
    """The task's TiDB accepts but never greets: what it is stays unknown (it may be TiDB X),
    so turning Lightning's own check off is not called safe (it was: the greeting was read
    as 'not TiDB X' by its absence)."""
    lst = GreetingListener(None)
    try:
        src = dump(tmp_path / "d", ["shop.orders"])
        cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [], servers=("127.0.0.1:%d" % lst.port,))
        rc, ans = check_json(cfg, task_file(tmp_path / "t.toml", src, etcd_url=etcd.url,
                                            tidb_port=lst.port))
        assert ans["cluster"]["tidb_server"] == "", ans
        assert ans["check_requirements_false"]["safe"] is False, ans
        assert "did not greet" in ans["check_requirements_false"]["why"], ans
    finally:
        lst.close()


def test_greeting_bytes_kept_printable(tmp_path, etcd, state):  # noqa: F811
    """A greeting's server version with an escape sequence and bytes that are not UTF-8:
    printed and put in JSON as printable ASCII (the terminal gets no control sequence, and
    the JSON's cluster object is not dropped), still read as TiDB X."""
    lst = GreetingListener(greeting_packet(b"8.0.11-TiDB-X-CLOUD.202603.1\x1b]0;owned\x07\xff"))
    try:
        src = dump(tmp_path / "d", ["shop.orders"])
        cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [], servers=("127.0.0.1:%d" % lst.port,))
        task = task_file(tmp_path / "t.toml", src, etcd_url=etcd.url, tidb_port=lst.port)
        rc, ans = check_json(cfg, task)
        assert ans["cluster"]["tidb_server"] == "8.0.11-TiDB-X-CLOUD.202603.1?]0;owned??", ans
        assert ans["tables"][0]["verdict"] == "refused", ans
        p = ig("check", "-c", cfg, "--task", task)
        assert "\x1b" not in p.stdout and "\x07" not in p.stdout, p.stdout
        assert "TiDB greets as: 8.0.11-TiDB-X-CLOUD.202603.1?]0;owned??" in p.stdout, p.stdout
    finally:
        lst.close()


@pytest.mark.parametrize("greeting", ["5.7.25-TiDB-None", "8.0.11-TiDB-v8.4.0-this-is-a-placeholder", "8.0.36"],
                         ids=["tiproxy-none", "tiproxy-placeholder", "server-version"])
def test_greeting_without_release_not_safe_to_skip(tmp_path, etcd, state, greeting):  # noqa: F811
    """A greeting that names no TiDB release: TiProxy before it has read a backend (its
    parser's placeholder, FACTS.md section 11) or a TiDB's own server-version. Behind it may
    be TiDB X; this listener answers no login, so TIDB_VERSION() cannot be asked and skipping
    Lightning's own check is not called safe (it was: the placeholder read as a classic
    v8.4.0, or as not TiDB X by the absence of the marker; test_ltn_login.py asks)."""
    lst = GreetingListener(greeting_packet(greeting.encode()))
    try:
        src = dump(tmp_path / "d", ["shop.orders"])
        cfg = gw_config(tmp_path / "gw.yaml", etcd.url, [], servers=("127.0.0.1:%d" % lst.port,))
        rc, ans = check_json(cfg, task_file(tmp_path / "t.toml", src, etcd_url=etcd.url,
                                            tidb_port=lst.port))
        assert ans["cluster"]["tidb_server"] == greeting, ans
        assert ans["check_requirements_false"]["safe"] is False, ans
        assert "is not known" in ans["check_requirements_false"]["why"], ans
        assert ans["cluster"]["tidb_said"] is None and ans["cluster"]["tidb_said_error"], ans
    finally:
        lst.close()
