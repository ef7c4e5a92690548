"""Packaging and deployment files (docs/OPERATIONS.md): the Kubernetes manifests validated
against the Kubernetes API's own object schemas (Debian's python3-kubernetes: the models
generated from the API's OpenAPI document; unknown fields, wrong types and missing required
fields are errors) plus the properties that keep it safe; the systemd unit
(systemd-analyze verify and security), the logrotate file, the man pages (rendered without
warnings, every configuration key described), the Dockerfile's runtime libraries, and what
`meson install` installs. The binary's systemd and journald behaviour: readiness and
watchdog pings on $NOTIFY_SOCKET, syslog priority prefixes when stderr is the journal."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest
import yaml

from harness import ports, timing

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("IMPORTGATE_BIN", os.path.join(REPO, "build", "proxy", "importgate"))
MANIFEST = os.path.join(REPO, "deploy", "kubernetes", "importgate.yaml")
UNIT_IN = os.path.join(REPO, "deploy", "systemd", "importgate.service.in")

pytestmark = pytest.mark.gateway_only


def project_version():
    with open(os.path.join(REPO, "meson.build")) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


# ---- Kubernetes -------------------------------------------------------------------------

def _model(name):
    import kubernetes.client.models as models
    return getattr(models, name)


def check_schema(obj, typ, path, errors):
    """obj against the OpenAPI type name typ: unknown fields, wrong types."""
    m = re.fullmatch(r"list\[(.+)\]", typ)
    if m:
        if not isinstance(obj, list):
            errors.append(f"{path}: expected a list")
            return
        for i, v in enumerate(obj):
            check_schema(v, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", typ)
    if m:
        if not isinstance(obj, dict):
            errors.append(f"{path}: expected a map")
            return
        for k, v in obj.items():
            check_schema(v, m.group(1), f"{path}.{k}", errors)
        return
    simple = {"str": str, "bool": bool, "float": (int, float), "datetime": str, "date": str}
    if typ == "object":  # IntOrString, Quantity as any
        if not isinstance(obj, (str, int)) or isinstance(obj, bool):
            errors.append(f"{path}: expected a string or an integer")
        return
    if typ == "int":
        if not isinstance(obj, int) or isinstance(obj, bool):
            errors.append(f"{path}: expected an integer, got {obj!r}")
        return
    if typ in simple:
        if not isinstance(obj, simple[typ]):
            errors.append(f"{path}: expected {typ}, got {obj!r}")
        return
    cls = _model(typ)
    if not isinstance(obj, dict):
        errors.append(f"{path}: expected a {typ} object")
        return
    fields = {v: k for k, v in cls.attribute_map.items()}
    for k, v in obj.items():
        if k not in fields:
            errors.append(f"{path}.{k}: no such field in {typ}")
            continue
        check_schema(v, cls.openapi_types[fields[k]], f"{path}.{k}", errors)


KINDS = {("v1", "ConfigMap"): "V1ConfigMap", ("apps/v1", "StatefulSet"): "V1StatefulSet",
         ("v1", "Service"): "V1Service", ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
         ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy"}


@pytest.fixture(scope="module")
def docs():
    with open(MANIFEST) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def test_manifests_match_the_api_schema(docs):
    from kubernetes.client import ApiClient
    api = ApiClient()
    assert docs
    for d in docs:
        name = KINDS.get((d.get("apiVersion"), d.get("kind")))
        assert name, f"unexpected object {d.get('apiVersion')}/{d.get('kind')}"
        errors = []
        check_schema(d, name, d["kind"], errors)
        assert not errors, "\n".join(errors)
        # required fields (the models raise ValueError for a missing one)
        api._ApiClient__deserialize(d, name)


def test_schema_check_catches_mistakes():
    """The checker itself: a misspelt field, a string for an integer, a missing required field."""
    errors = []
    check_schema({"spec": {"replicas": "3", "selector": {}, "template": {"spec": {"containers": [
        {"name": "x", "imagePullPolicy": "Always", "port": 1}]}}}}, "V1StatefulSet", "s", errors)
    assert any("replicas: expected an integer" in e for e in errors), errors
    assert any("containers[0].port: no such field" in e for e in errors), errors
    from kubernetes.client import ApiClient
    with pytest.raises(ValueError):
        ApiClient()._ApiClient__deserialize({"spec": {"selector": {}}}, "V1StatefulSet")


def test_admin_port_is_not_on_the_client_service(docs):
    cm = by_kind(docs, "ConfigMap")[0]
    conf = yaml.safe_load(cm["data"]["importgate.yaml"])
    admin_port = int(conf["admin"]["listen"].rsplit(":", 1)[1])
    assert admin_port != 10080, "10080 is TiDB's status port"
    assert conf["admin"]["token_file"], "the admin API listens beyond loopback: a token is required"
    sts = by_kind(docs, "StatefulSet")[0]
    ctr = sts["spec"]["template"]["spec"]["containers"][0]
    named = {p["name"]: p["containerPort"] for p in ctr["ports"]}
    assert named["admin"] == admin_port
    assert named["mysql"] == int(conf["listen"].rsplit(":", 1)[1])
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    for name, s in services.items():
        exposed = {p["targetPort"] for p in s["spec"]["ports"]} | {p["port"] for p in s["spec"]["ports"]}
        if "admin" in exposed or admin_port in exposed:
            assert exposed <= {"admin", admin_port}, f"Service {name} mixes admin and client ports"
    client = services["importgate"]
    assert [p["targetPort"] for p in client["spec"]["ports"]] == ["mysql"]
    admin = services[sts["spec"]["serviceName"]]
    assert admin["spec"]["clusterIP"] == "None"  # the StatefulSet's governing Service is headless
    # the admin port admits only labelled pods
    pol = by_kind(docs, "NetworkPolicy")[0]
    rules = [r for r in pol["spec"]["ingress"] if any(p["port"] == admin_port for p in r["ports"])]
    assert rules and all(r.get("from") for r in rules)


def test_selectors_secrets_volumes_and_shutdown(docs):
    sts = by_kind(docs, "StatefulSet")[0]
    pod = sts["spec"]["template"]
    labels = pod["metadata"]["labels"]
    for obj in by_kind(docs, "Service"):
        assert obj["spec"]["selector"].items() <= labels.items()
    for obj in by_kind(docs, "PodDisruptionBudget") + [sts]:
        assert obj["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for c in pod["spec"]["topologySpreadConstraints"]:
        assert c["labelSelector"]["matchLabels"].items() <= labels.items()
    assert by_kind(docs, "PodDisruptionBudget")[0]["spec"]["maxUnavailable"] == 1
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    ctr = pod["spec"]["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in ctr["volumeMounts"]}
    assert set(mounts) <= set(volumes) | claims
    assert "audit" in claims and "audit" not in volumes  # durable: a claim, not an emptyDir
    conf = yaml.safe_load(by_kind(docs, "ConfigMap")[0]["data"]["importgate.yaml"])
    assert os.path.dirname(conf["audit"]["path"]) == mounts["audit"]
    # every secret file the config names lives on a Secret volume, and the header says how
    # to create each Secret
    with open(MANIFEST) as f:
        header = f.read().split("\napiVersion:", 1)[0]
    secret_dirs = {mounts[n]: v["secret"]["secretName"] for n, v in volumes.items() if "secret" in v}
    files = [conf["admin"]["token_file"], conf["obligations"]["service"]["password_file"],
             conf["client_tls"]["cert"], conf["client_tls"]["key"]]
    for path in files:
        assert os.path.dirname(path) in secret_dirs, f"{path} is not on a Secret volume"
    for secret in secret_dirs.values():
        assert f"create secret generic {secret}" in header or f"create secret tls {secret}" in header
    # shutdown: preStop sleep + the drain bound fit in the grace period
    sleep = int(ctr["lifecycle"]["preStop"]["exec"]["command"][-1])
    shutdown_s = conf.get("timeouts", {}).get("shutdown_ms", 30000) / 1000
    wait_s = conf.get("timeouts", {}).get("graceful_wait_ms", 0) / 1000
    assert pod["spec"]["terminationGracePeriodSeconds"] > sleep + wait_s + shutdown_s
    assert ctr["readinessProbe"]["httpGet"]["path"] == "/healthz"
    # the image the manifest names is the one the Dockerfile builds
    assert ctr["image"] == f"importgate:{project_version()}"
    with open(os.path.join(REPO, "Dockerfile")) as f:
        dockerfile = f.read()
    assert f"--uid {pod['spec']['securityContext']['runAsUser']} " in dockerfile
    assert f"docker build -t {ctr['image']} ." in dockerfile


def test_configmap_config_loads(docs, tmp_path):
    """The ConfigMap's configuration passes --check-config (secret paths pointed at files)."""
    text = by_kind(docs, "ConfigMap")[0]["data"]["importgate.yaml"]
    for sub in ("admin/token", "service/password", "tls/tls.crt", "tls/tls.key"):
        p = tmp_path / sub
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x\n")
    text = text.replace("/etc/importgate/", f"{tmp_path}/")
    cfg = tmp_path / "importgate.yaml"
    cfg.write_text(text)
    r = subprocess.run([BIN, "-c", str(cfg), "--check-config"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# ---- Dockerfile ---------------------------------------------------------------------------

def test_dockerfile_runtime_libraries_cover_the_binary():
    with open(os.path.join(REPO, "Dockerfile")) as f:
        text = f.read()
    runtime = set(re.search(r"# runtime libraries: (.*)", text).group(1).split())
    assert all(p in text.split("FROM debian:12-slim\n", 1)[1] for p in runtime)
    out = subprocess.run(["readelf", "-d", BIN], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", out)
    missing = []
    for lib in needed:
        if re.match(r"(lib(asan|ubsan|tsan|c|m|pthread|dl|rt)\.so|ld-linux)", lib):
            continue  # sanitizer builds; the C library is in the base image
        owner = subprocess.run(["dpkg", "-S", f"*/{lib}"], capture_output=True, text=True).stdout
        pkgs = {line.split(":")[0] for line in owner.splitlines()}
        if not pkgs & runtime:
            missing.append(f"{lib} ({', '.join(sorted(pkgs)) or 'no package'})")
    assert not missing, "the Dockerfile's runtime stage lacks: " + ", ".join(missing)


# ---- systemd, logrotate ---------------------------------------------------------------------

def unit_text(bindir):
    with open(UNIT_IN) as f:
        text = f.read()
    for k, v in {"@bindir@": bindir, "@sysconfdir@": "/etc", "@unitdir@": "/lib/systemd/system",
                 "@docdir@": "/usr/share/doc/importgate"}.items():
        text = text.replace(k, v)
    assert not re.search(r"@[a-z]+@", re.sub(r"#.*", "", text))
    return text


def test_systemd_unit_verifies(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "importgate.service"
    unit.write_text(unit_text(os.path.dirname(os.path.abspath(BIN))))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                       timeout=120)
    # verify also looks at the units it names (multi-user.target) on this machine; only
    # complaints about our file count
    ours = [line for line in (r.stdout + r.stderr).splitlines() if "importgate" in line]
    assert not ours, "\n".join(ours)
    text = unit.read_text()
    for want in ("Type=notify", "WatchdogSec=", "LoadCredential=importgate-admin-token", "User=importgate",
                 "\nLimitCORE=0\n"):
        assert want in text


def test_systemd_unit_exposure(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "importgate.service"
    unit.write_text(unit_text("/usr/bin"))
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for importgate.service: (\d+\.\d+)", r.stdout + r.stderr)
    if not m:
        pytest.skip("systemd-analyze security --offline is not supported here: " + (r.stdout + r.stderr)[-300:])
    assert float(m.group(1)) <= 2.5, r.stdout


def test_logrotate_file_parses(tmp_path):
    if not shutil.which("logrotate"):
        pytest.skip("logrotate is not installed")
    with open(os.path.join(REPO, "deploy", "systemd", "importgate.logrotate")) as f:
        text = f.read()
    # this machine has no importgate user: check the file as written, for root
    text = text.replace("/var/log/importgate/", f"{tmp_path}/").replace("su importgate importgate", "su root root")
    text = text.replace("create 0640 importgate importgate", "create 0640 root root")
    (tmp_path / "audit.jsonl").write_text("{}\n")
    conf = tmp_path / "importgate"
    conf.write_text(text)
    r = subprocess.run(["logrotate", "-d", "-s", str(tmp_path / "state"), str(conf)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "error" not in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    assert "audit.jsonl" in r.stdout + r.stderr


# ---- man pages --------------------------------------------------------------------------

@pytest.mark.parametrize("page", ["importgate.1", "importgate.yaml.5"])
def test_man_page_renders_without_warnings(page):
    path = os.path.join(REPO, "man", page)
    if shutil.which("groff"):
        r = subprocess.run(["groff", "-man", "-ww", "-z", path], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and not r.stderr, r.stderr
    if not shutil.which("man"):
        pytest.skip("man is not installed")
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    assert "NAME" in r.stdout


def leaf_keys(node, prefix=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaf_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]


def test_man_pages_describe_every_key_and_option():
    with open(os.path.join(REPO, "man", "importgate.yaml.5")) as f:
        page5 = f.read().replace("\\-", "-")
    with open(os.path.join(REPO, "conf", "importgate.yaml")) as f:
        conf = yaml.safe_load(f)
    keys = list(leaf_keys(conf))
    assert "audit.path" in keys and "obligations.service.tls.mode" in keys
    missing = [k for k in keys if k not in page5 and not any(
        k.startswith(p + ".") and p in page5 for p in ("backends.tls", "obligations.service.tls", "cluster.tls",
                                                       "client_tls"))]
    assert not missing, "importgate.yaml(5) does not describe: " + ", ".join(missing)
    with open(os.path.join(REPO, "man", "importgate.1")) as f:
        page1 = f.read().replace("\\-", "-")
    usage = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30).stdout
    for opt in re.findall(r"(--[a-z-]+)", usage):
        assert opt in page1, f"importgate(1) does not describe {opt}"


# ---- meson install ----------------------------------------------------------------------

def test_meson_install_installs_unit_config_docs_and_man_pages(tmp_path):
    builddir = os.path.dirname(os.path.dirname(os.path.abspath(BIN)))
    if not os.path.exists(os.path.join(builddir, "meson-private")):
        pytest.skip(f"{BIN} is not in a meson build directory")
    dest = tmp_path / "root"
    r = subprocess.run(["meson", "install", "-C", builddir, "--no-rebuild", "--quiet", "--destdir", str(dest)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    installed = {os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs}
    def has(suffix):
        return any(p.endswith(suffix) for p in installed)
    for want in ("bin/importgate", "systemd/system/importgate.service", "importgate/importgate.yaml",
                 "logrotate.d/importgate", "man1/importgate.1", "man5/importgate.yaml.5",
                 "doc/importgate/OPERATIONS.md", "doc/importgate/AUDIT.md", "doc/importgate/LICENSE",
                 "doc/importgate/README.md"):
        assert has(want), f"meson install did not install */{want}: {sorted(installed)}"
    unit = next(p for p in installed if p.endswith("importgate.service"))
    text = (dest / unit).read_text()
    assert not re.search(r"@[a-z]+@", re.sub(r"#.*", "", text))
    bindir = next(os.path.dirname(p) for p in installed if p.endswith("bin/importgate"))
    assert f"ExecStart=/{bindir}/importgate -c " in text


# ---- the binary under systemd's protocols -----------------------------------------------

def test_notify_ready_watchdog_and_journal_priorities(tmp_path):
    """READY=1 then WATCHDOG=1 pings on $NOTIFY_SOCKET (WATCHDOG_USEC), STOPPING=1 at SIGTERM;
    log lines carry <N> priority prefixes when JOURNAL_STREAM names stderr."""
    port = ports.free_port()
    cfg = tmp_path / "importgate.yaml"
    cfg.write_text(f"""listen: 127.0.0.1:{port}
workers: 1
backends: {{servers: [127.0.0.1:1], health_interval_ms: 0}}
cluster: {{pd: []}}
audit: {{path: {tmp_path}/audit.jsonl}}
obligations: {{file: {tmp_path}/obligations.log}}
admin: {{listen: 127.0.0.1:0}}
""")
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(timing.bound(20))
    err = open(tmp_path / "stderr.log", "wb")
    st = os.fstat(err.fileno())
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="200000",
               JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    env.pop("WATCHDOG_PID", None)
    p = subprocess.Popen([BIN, "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        got = []
        while got.count(b"WATCHDOG=1") < 3:
            got.append(sock.recv(4096))
        assert got.index(b"READY=1") < got.index(b"WATCHDOG=1")
        p.send_signal(signal.SIGTERM)
        while b"STOPPING=1" not in got:
            got.append(sock.recv(4096))
        assert p.wait(timeout=timing.bound(30)) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        err.close()
        sock.close()
    lines = (tmp_path / "stderr.log").read_text().splitlines()
    assert lines and all(re.match(r"<[3467]>", l) for l in lines), lines
    assert any(l.startswith("<6>") and "listening on" in l for l in lines), lines
    assert any("systemd watchdog: 200 ms" in l for l in lines), lines
