"""attack30: what the server at [tidb] answers bounds neither the time nor the memory of
`importgate lightning check|run`.

The preflight asks [tidb] `SELECT @@version, COALESCE(/*T! TIDB_VERSION(), */ NULL)` on the
gateway's service login (proxy/svcconn.c ig_svc_ask_identity). libmariadb's connect and read
timeouts (backends.health_timeout_ms, rounded up to seconds) bound each wait for a byte, not
the exchange: a server that sends its answer a byte at a time, each within the read timeout,
held the check for as long as it liked, and the answer was read with mysql_store_result, so a
server that sends rows without end filled the check's memory (some 170 MB a second here)
until it was killed. Whoever answers at a backend's address (a host that took it over) is
the server here (tests/integration/ltn_answer_server.py)."""

import json
import subprocess

import pytest

from ltn_answer_server import AnswerServer, result_set
from test_lightning import dump, gw_config, ig, task_file

pytestmark = [pytest.mark.gateway_only]

PD = "http://127.0.0.1:2"  # not read: the cluster state is unreadable, which these cases do not need
INFO = b"Release Version: v8.5.0\nEdition: Community\nGit Commit Hash: 0\nStore: tikv"


def check(tmp_path, srv, limit):
    src = dump(tmp_path / "d", ["shop.orders"])
    cfg = gw_config(tmp_path / "gw.yaml", PD, [], servers=("127.0.0.1:%d" % srv.port,), service_user="root",
                    health_timeout_ms=1000)
    task = task_file(tmp_path / "t.toml", src, etcd_url=PD, tidb_port=srv.port)
    # the bound is the property: the command ends (a generous limit, no timing of its own)
    try:
        p = ig("check", "-c", cfg, "--task", task, "--json", timeout=limit)
    except subprocess.TimeoutExpired:
        pytest.fail("lightning check still running after %d s (health_timeout_ms 1000)" % limit)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


def test_trickled_answer_is_bounded(tmp_path):
    """The answer a byte every 0.5 s (each within the 1 s read timeout): some 100 s in all.
    The check gives up at its bound, and what [tidb] is stays unknown."""
    srv = AnswerServer(answer=result_set([(b"8.0.11-TiDB-v8.5.0", INFO)]), trickle=0.5)
    try:
        ans = check(tmp_path, srv, 40)
    finally:
        srv.close()
    assert ans["cluster"]["tidb_said"] is None, ans
    assert "no answer within" in ans["cluster"]["tidb_said_error"], ans
    assert ans["check_requirements_false"]["safe"] is False, ans


def test_rows_without_end_are_not_stored(tmp_path):
    """Rows without end after the first: the first row answers, nothing else is read (the
    check used to store them all, growing until killed)."""
    srv = AnswerServer(rows_forever=[b"8.0.11-TiDB-v8.5.0", INFO])
    try:
        ans = check(tmp_path, srv, 30)
    finally:
        srv.close()
    assert ans["cluster"]["tidb_said"] == {"version": "8.0.11-TiDB-v8.5.0", "release": "v8.5.0",
                                           "nextgen": False, "classic_release": True}, ans


def test_stalled_login_is_bounded(tmp_path):
    """Control: greets, then never answers the login: bounded by the read timeout (it was)."""
    srv = AnswerServer(answer=None)
    try:
        ans = check(tmp_path, srv, 30)
    finally:
        srv.close()
    assert ans["cluster"]["tidb_said"] is None and ans["check_requirements_false"]["safe"] is False, ans
