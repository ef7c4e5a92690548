"""Self-tests of the harness's gateway runner, with a fake `importgate` (a Python script that
listens on the configured port): a sanitizer report or a crash must fail the test, a clean
SIGTERM exit must not, reload() must rewrite the config and send SIGHUP. And the port
allocator every test process shares (tests/tidb_double/portpick.py)."""

import signal
import socket
import stat
import sys

import pytest
import yaml

from harness import gateway as gateway_mod
from harness import ports, timing

FAKE = r'''#!PYTHON
import signal, socket, sys, time, yaml
cfg_path = sys.argv[2]
cfg = yaml.safe_load(open(cfg_path))
mode = cfg.get("fake_mode", "clean")
host, port = cfg["listen"].rsplit(":", 1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, int(port))); s.listen(8)
def term(*_):
    if mode == "asan":
        sys.stderr.write("==1==ERROR: AddressSanitizer: heap-use-after-free\n")
    if mode == "ubsan":
        sys.stderr.write("session.c:12:3: runtime error: signed integer overflow\n")
    sys.stderr.flush()
    sys.exit(0)
def hup(*_):
    sys.stderr.write("reloaded %s\n" % yaml.safe_load(open(cfg_path)).get("marker"))
    sys.stderr.flush()
signal.signal(signal.SIGTERM, term)
signal.signal(signal.SIGHUP, hup)
# what main.c logs once every worker is up, after its signal handlers (process.c starts
# "signals" before "workers"): the harness waits for it (harness/gateway.py), then may signal
sys.stderr.write("importgate: listening on %s\n" % cfg["listen"]); sys.stderr.flush()
if mode == "crash":
    time.sleep(0.3); import os; os.kill(os.getpid(), signal.SIGSEGV)
while True:
    time.sleep(0.05)
'''


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    p = tmp_path / "fake-importgate"
    p.write_text(FAKE.replace("PYTHON", sys.executable))
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("IMPORTGATE_BIN", str(p))
    monkeypatch.delenv("IG_TEST_DIRECT", raising=False)
    return str(p)


def _start(tmp_path, mode):
    cfg = gateway_mod.default_config("127.0.0.1", 1, ports.free_port(), str(tmp_path))
    cfg["fake_mode"] = mode
    gw = gateway_mod.Gateway(cfg, str(tmp_path))
    gw.start()
    return gw


def test_clean_exit_has_no_problems(fake_bin, tmp_path):
    gw = _start(tmp_path, "clean")
    assert ports.port_accepts(gw.host, gw.port)
    with open(gw.config_path) as f:
        assert yaml.safe_load(f)["listen"] == "127.0.0.1:%d" % gw.port
    assert gw.stop() == []


@pytest.mark.parametrize("mode", ["asan", "ubsan"])
def test_sanitizer_report_is_a_problem(fake_bin, tmp_path, mode):
    gw = _start(tmp_path, mode)
    problems = gw.stop()
    assert any("sanitizer report" in p for p in problems), problems


def test_crash_is_a_problem(fake_bin, tmp_path):
    gw = _start(tmp_path, "crash")
    assert timing.wait_for(lambda: not gw.alive(), 30)
    problems = gw.stop()
    assert any("exited on its own" in p and str(-signal.SIGSEGV) in p for p in problems), problems


def test_reload_rewrites_config_and_sends_sighup(fake_bin, tmp_path):
    gw = _start(tmp_path, "clean")
    gw.reload({"marker": "second"})
    # the fake announced itself only with its SIGHUP handler set (a loaded suite run once
    # signalled it before: the default action ended it), so waiting is for the event only
    assert timing.wait_for(lambda: "reloaded second" in gw.stderr_text(), 30), gw.stderr_text()
    assert gw.config["marker"] == "second"
    assert gw.stop() == []


def test_missing_binary_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("IMPORTGATE_BIN", str(tmp_path / "nope"))
    cfg = gateway_mod.default_config("127.0.0.1", 1, ports.free_port(), str(tmp_path))
    with pytest.raises(gateway_mod.GatewayError) as e:
        gateway_mod.Gateway(cfg, str(tmp_path)).start()
    assert "IG_TEST_DIRECT" in str(e.value)


# ---------------------------------------------------------------- port allocation


def _fresh_allocator(monkeypatch, worker, count):
    import portpick
    monkeypatch.setattr(portpick, "_cursor", None)
    for name, value in (("PYTEST_XDIST_WORKER", worker), ("PYTEST_XDIST_WORKER_COUNT", count)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return portpick


def test_xdist_workers_draw_from_disjoint_slices(monkeypatch):
    """Two workers never pick the same port (CI: both drew at random from one range, and a
    quickstart etcd found its port taken); a process outside xdist has a slice of its own."""
    ranges = []
    for worker, count in (("gw0", "2"), ("gw1", "2"), (None, "2"), (None, None)):
        pp = _fresh_allocator(monkeypatch, worker, count)
        lo, hi = pp.slice_range()
        picked = [ports.free_port() for _ in range(40)]
        assert all(lo <= p < hi for p in picked), (worker, lo, hi, picked)
        ranges.append((lo, hi))
    for i, (lo, hi) in enumerate(ranges[:3]):
        assert hi - lo >= 1000
        for lo2, hi2 in ranges[i + 1:3]:
            assert hi <= lo2 or hi2 <= lo, ranges
    assert ranges[3] == ranges[2]  # outside xdist, whatever the environment says of counts
    assert ranges[3][1] <= pp._ephemeral_low()


def test_a_process_does_not_hand_out_a_port_twice(monkeypatch):
    """Ports picked before any of them is bound (a fixture starting etcd, MariaDB and a
    gateway) are all different: the walk goes forward, not at random."""
    _fresh_allocator(monkeypatch, "gw1", "2")
    picked = [ports.free_port() for _ in range(300)]
    assert len(set(picked)) == len(picked)


def test_a_bound_port_is_skipped(monkeypatch):
    pp = _fresh_allocator(monkeypatch, "gw0", "2")
    lo, hi = pp.slice_range()
    port = next(p for p in range(lo, hi - 1) if pp._bindable(p) and pp._bindable(p + 1))
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        monkeypatch.setattr(pp, "_cursor", port)
        assert ports.free_port() == port + 1
