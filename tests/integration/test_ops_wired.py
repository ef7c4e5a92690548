"""The start-up and shutdown behaviour that main.c and config.c wire in (docs/OPERATIONS.md):
a secret file that cannot be read stops the start before any port listens, and
--check-config says so; timeouts.graceful_wait_ms keeps accepting while /healthz answers 503;
log.format json writes one JSON object a line."""

import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from harness import ports, timing

BIN = os.environ.get("IMPORTGATE_BIN")
pytestmark = pytest.mark.gateway_only


def write_config(tmp_path, port, admin_port, extra=""):
    cfg = tmp_path / "importgate.yaml"
    cfg.write_text(f"""listen: 127.0.0.1:{port}
workers: 1
backends: {{servers: [127.0.0.1:1], health_interval_ms: 0}}
cluster: {{pd: []}}
audit: {{path: {tmp_path}/audit.jsonl}}
obligations: {{file: {tmp_path}/obligations.log}}
{extra}""")
    return cfg


def healthz(admin_port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/healthz", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_unreadable_token_stops_start_before_listening(tmp_path):
    port, admin_port = ports.free_port(), ports.free_port()
    cfg = write_config(tmp_path, port, admin_port,
                       f"admin: {{listen: 127.0.0.1:{admin_port}, token_file: {tmp_path}/missing-token}}\n")
    r = subprocess.run([BIN, "-c", str(cfg), "--check-config"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "admin.token_file" in r.stderr and "No such file" in r.stderr, r.stderr
    p = subprocess.Popen([BIN, "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = p.communicate(timeout=timing.bound(30))
    assert p.returncode == 1
    assert "admin.token_file" in err and "listening" not in err, err
    env = dict(os.environ, CREDENTIALS_DIRECTORY=str(tmp_path))
    (tmp_path / "tok").write_text("s3cret\n")
    cfg = write_config(tmp_path, port, admin_port,
                       f"admin: {{listen: 127.0.0.1:{admin_port}, token_file: credential:tok}}\n")
    r = subprocess.run([BIN, "-c", str(cfg), "--check-config"], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr


def test_graceful_wait_accepts_while_healthz_fails_and_json_log(tmp_path):
    port, admin_port = ports.free_port(), ports.free_port()
    wait_ms = int(timing.bound(4) * 1000)
    cfg = write_config(tmp_path, port, admin_port,
                       f"admin: {{listen: 127.0.0.1:{admin_port}}}\nlog: {{format: json}}\n"
                       f"timeouts: {{graceful_wait_ms: {wait_ms}, shutdown_ms: 1000}}\n")
    err = open(tmp_path / "stderr.log", "wb")
    p = subprocess.Popen([BIN, "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert ports.wait_port("127.0.0.1", admin_port, timing.bound(30), alive=lambda: p.poll() is None)
        assert healthz(admin_port) == 200
        p.send_signal(signal.SIGTERM)
        assert timing.wait_for(lambda: healthz(admin_port) == 503, 10)
        # still accepting: a new connection is taken (the kernel completes it only while listening)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        assert p.poll() is None
        assert timing.wait_for(lambda: not ports.port_accepts("127.0.0.1", port), 30)
        assert p.wait(timeout=timing.bound(30)) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        err.close()
    lines = (tmp_path / "stderr.log").read_text().splitlines()
    events = [json.loads(l) for l in lines]
    assert all({"ts", "level", "msg"} <= e.keys() for e in events)
    assert any("graceful wait" in e["msg"] for e in events), events
