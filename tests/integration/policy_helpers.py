"""policy_helpers.py - shared pieces of the end-to-end policy tests (test_policy_*.py):
one real etcd per test module (cleared around every test), a TiDB double reading that etcd,
gateways in front of the double with cluster.pd pointing at the etcd, a client that returns
what it got (rows or error code and message), and views of what reached the backend (the
double's statement log) and of the gateway's decision log lines.

Test modules import the fixtures they use from here (`from policy_helpers import ...`), so
conftest.py stays as it is."""

import os
import re
import socket
import sys
import threading

import pymysql
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLE_DIR = os.path.join(HERE, "..", "tidb_double")
if DOUBLE_DIR not in sys.path:
    sys.path.insert(0, DOUBLE_DIR)

import clusterstate as cs  # noqa: E402
import rawclient  # noqa: E402
import tidb_double  # noqa: E402

MULTI = pymysql.constants.CLIENT.MULTI_STATEMENTS
V75 = "8.0.11-TiDB-v7.5.1"

# Users of the double (name -> password); everyone may import (the double has no privileges).
USERS = {"root": "", "etl_loader": "etlpw", "alice": "alicepw"}

# The two databases the scenarios use; tasks and changefeeds name tables in them.
DB1, DB2 = "shop", "stage"

PRECHECK = 8173


def _double_users():
    return ["%s:%s:mysql_native_password" % (u, p) for u, p in USERS.items()]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    e = cs.Etcd(data_dir=str(tmp_path_factory.mktemp("etcd")))
    e.start()
    yield e
    e.cleanup()


@pytest.fixture
def state(etcd):
    """The cluster state writer for one test: etcd emptied before and after it."""
    cs.clear(etcd.url)
    yield ClusterState(etcd.url)
    cs.clear(etcd.url)


def start_double(etcd_url, log_path, version=tidb_double.DEFAULT_VERSION, **kw):
    # empty_check off: the scenarios import into the same tables again and again.
    return tidb_double.start(etcd=etcd_url, log=log_path, version=version, job_delay=0.02,
                             empty_check=False, users=_double_users(), **kw)


@pytest.fixture(scope="module")
def double(etcd, tmp_path_factory):
    """A TiDB v8.5 double whose own precheck reads the module's etcd."""
    srv = start_double(etcd.url, str(tmp_path_factory.mktemp("double") / "statements.jsonl"))
    yield srv
    srv.stop()


@pytest.fixture
def make_double(etcd, tmp_path):
    """make_double(**Config) -> a double of its own for one test (version, release, greeting,
    nextgen: tests/tidb_double/tidb_double.py Config), stopped at the test's end."""
    started = []

    def start(**kw):
        srv = start_double(etcd.url, str(tmp_path / ("statements%d.jsonl" % len(started))), **kw)
        started.append(srv)
        return srv
    yield start
    for srv in started:
        srv.stop()


@pytest.fixture(scope="module")
def zdouble(etcd, tmp_path_factory):
    """A TiDB double that also offers zstd compression, whose own precheck reads the module's
    etcd."""
    srv = tidb_double.start(etcd=etcd.url, log=str(tmp_path_factory.mktemp("zdouble") / "statements.jsonl"),
                            job_delay=0.02, empty_check=False, users=_double_users(), zstd=True)
    yield srv
    srv.stop()


@pytest.fixture
def policy_gw(gateway_factory, double, etcd):
    """policy_gw(policy=None, cluster=None, backend=None, **top) -> Gateway in front of the
    double (or `backend`), cluster.pd = the module's etcd, the given policy section."""
    def start(policy=None, cluster=None, backend=None, wrapper=None, **top):
        over = {"cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                "policy": policy or {},
                "obligations": {"downstream": {"servers": ["127.0.0.1:%d" % double.port],
                                               "user": "root"}}}
        if cluster:
            over["cluster"].update(cluster)
        over.update(top)
        return gateway_factory(over, backend=backend or ("127.0.0.1", double.port), wrapper=wrapper)
    return start


def rule(name, **kw):
    r = {"name": name}
    r.update(kw)
    return r


# ---------------------------------------------------------------- cluster state


class ClusterState:
    """Writes log backup tasks and changefeeds as BR and TiCDC write them."""

    def __init__(self, url):
        self.url = url

    def task(self, name, filters=("*.*",), paused=False, **kw):
        cs.put_log_backup_task(self.url, name, table_filter=filters, paused=paused, **kw)

    def changefeed(self, cf_id, rules=("*.*",), state="normal", legacy=False, **kw):
        cs.put_changefeed(self.url, cf_id, state=state, rules=rules, legacy_layout=legacy, **kw)


# ---------------------------------------------------------------- clients


class Outcome:
    """What a client got for one query: results (list of row tuples per statement, None
    for an OK) or an error (code, message)."""

    def __init__(self, results=None, code=None, message=None):
        self.results = results or []
        self.code = code
        self.message = message

    @property
    def ok(self):
        return self.code is None

    def __repr__(self):
        if self.ok:
            return "Outcome(ok, %r)" % (self.results,)
        return "Outcome(error %s: %s)" % (self.code, self.message)


def connect(gw_or_port, user="root", db=DB1, multi=False, **kw):
    """PyMySQL to a gateway (or a port: the double directly)."""
    if isinstance(gw_or_port, int):
        host, port = "127.0.0.1", gw_or_port
    else:
        host, port = gw_or_port.host, gw_or_port.port
    kw.setdefault("connect_timeout", 10)
    kw.setdefault("read_timeout", 30)
    kw.setdefault("write_timeout", 30)
    if multi:
        kw["client_flag"] = kw.get("client_flag", 0) | MULTI
    return pymysql.connect(host=host, port=port, user=user, password=USERS[user], database=db,
                           autocommit=True, **kw)


def run(conn, sql):
    """Sends `sql` (str or bytes) as one COM_QUERY; reads every result."""
    results = []
    try:
        with conn.cursor() as cur:
            cur.execute(sql)  # PyMySQL sends bytes as they are
            while True:
                results.append(cur.fetchall() if cur.description else None)
                if not cur.nextset():
                    break
    except pymysql.err.MySQLError as e:
        if len(e.args) >= 2 and isinstance(e.args[0], int):
            return Outcome(results, e.args[0], e.args[1])
        raise
    return Outcome(results)


def query(gw_or_port, sql, user="root", db=DB1, multi=False):
    """One connection, one query."""
    c = connect(gw_or_port, user, db, multi)
    try:
        return run(c, sql)
    finally:
        c.close()


def refused_by_gateway(out):
    """The gateway's own 8173 refusal (TiDB's precheck answers 8173 too, without the name)."""
    return out.code == PRECHECK and "importgate" in (out.message or "")


def raw(gw_or_port, user="root", db=DB1):
    """tests/tidb_double/rawclient.py: COM_STMT_PREPARE, raw capability choices."""
    if isinstance(gw_or_port, int):
        host, port = "127.0.0.1", gw_or_port
    else:
        host, port = gw_or_port.host, gw_or_port.port
    return rawclient.RawClient(host, port, user, USERS[user], db=db)


# ---------------------------------------------------------------- what the backend saw


class Received:
    """The double's statement log from a mark on: what reached TiDB."""

    def __init__(self, double):
        self.double = double
        self.mark = len(double.statements)

    def entries(self, probes=False):
        """The statement log since the mark; the gateway's probes only with probes=True."""
        return [e for e in self.double.statements[self.mark:] if probes or not is_probe(e["sql"])]

    def sqls(self, cmd=None, probes=False):
        """What the client's statements became at the backend; the gateway's own probes of
        the session's state (docs/TROUBLESHOOTING.md) only with probes=True."""
        return [e["sql"] for e in self.entries(probes) if cmd is None or e["cmd"] == cmd]

    def probes(self):
        return [e["sql"] for e in self.entries(probes=True) if is_probe(e["sql"])]

    def imports(self):
        """Statements that reached the double and that it would read as an import."""
        return [s for s in self.sqls() if re.search(r"(?i)\bIMPORT\b", s)]


PROBE_MARK = "/* importgate: session state for an import decision */"


def is_probe(sql):
    """The gateway's own query for the session's state before a decision (proxy/probe.c)."""
    return PROBE_MARK in (sql if isinstance(sql, str) else sql.decode("utf-8", "replace"))


def decisions(gw):
    """The gateway's `import.decision:` log lines, in order."""
    return [ln for ln in gw.stderr_text().splitlines() if "import.decision:" in ln]


def last_decision(gw):
    d = decisions(gw)
    assert d, "no import.decision line in the gateway's stderr:\n" + gw.stderr_text()[-3000:]
    return d[-1]


# ---------------------------------------------------------------- a PD that never answers


class SilentServer:
    """A TCP socket that accepts connections and never answers (a hung PD)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._stop = False
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()


def closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


# ---------------------------------------------------------------- the bypass corpus


def corpus_records(path):
    """tests/corpus/import_positive.txt records: [(db, table, sql bytes)] (format in its
    header: records split by a line "-- ----", first line "=> db|table", \\x{HH} bytes)."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    records, cur, started = [], None, False
    for ln in lines + [b"-- ----"]:
        if ln == b"-- ----":
            if started and cur:
                records.append(cur)
            started, cur = True, []
            continue
        if started:
            cur.append(ln)
    out = []
    for rec in records:
        head = rec[0].decode()
        assert head.startswith("=> "), head
        db, table = head[3:].split("|", 1)
        body = b"\n".join(rec[1:])
        body = re.sub(rb"\\x\{([0-9a-fA-F]{2})\}", lambda m: bytes([int(m.group(1), 16)]), body)
        out.append((db, table, body))
    return out
