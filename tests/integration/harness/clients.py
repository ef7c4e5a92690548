"""clients.py - the three real clients the relay tests drive: PyMySQL, the mariadb CLI and
igclient (tests/clients/igclient.c on libmariadb), plus the byte pattern igclient uses for long
data and big queries so tests can recompute hashes."""

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass

import pymysql

from .gateway import REPO, binary_path


def pattern_bytes(n):
    """Same as igclient.c pattern_byte(i) for i in 0..n-1. (i*7 + i//26) % 26 repeats every
    26*26 bytes, so one period is built and repeated."""
    period = bytes(ord("a") + (i * 7 + i // 26) % 26 for i in range(676))
    return (period * (n // 676 + 1))[:n]


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def md5hex(data):
    return hashlib.md5(data).hexdigest()


# ---- PyMySQL ----

def connect(gw, user, password, db=None, **kw):
    kw.setdefault("connect_timeout", 10)
    kw.setdefault("read_timeout", 60)
    kw.setdefault("write_timeout", 60)
    kw.setdefault("autocommit", True)
    return pymysql.connect(host=gw.host, port=gw.port, user=user, password=password,
                           database=db, **kw)


def query_one(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def query_all(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


# ---- mariadb CLI ----

def cli(gw, user, password, sql=None, db=None, extra=(), stdin=None, timeout=60, ssl_ca=None):
    """Runs `mariadb` against gw in batch mode (tab-separated, no column names), the SQL from
    -e, or from stdin when sql is None. Plain TCP unless ssl_ca is given (then TLS with the
    server certificate verified); the CLI would otherwise use TLS whenever it is offered.
    Returns the CompletedProcess (text)."""
    exe = shutil.which("mariadb") or "/usr/bin/mariadb"
    args = [exe, "--no-defaults", "--protocol=TCP", "-h", gw.host, "-P", str(gw.port),
            "-u", user, "--password=" + password, "--batch", "--skip-column-names",
            "--connect-timeout=10",
            "--skip-reconnect"] + list(extra)  # a dropped connection must show, not be redone
    args += ["--ssl-ca=" + ssl_ca, "--ssl-verify-server-cert"] if ssl_ca else ["--skip-ssl"]
    if db:
        args += ["-D", db]
    if sql is not None:
        args += ["-e", sql]
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout)


# ---- igclient ----

_built = {}


def igclient_path(build_dir):
    """Finds igclient: $IGCLIENT_BIN, the build dir next to $IMPORTGATE_BIN, <repo>/build,
    else compiles tests/clients/igclient.c into build_dir with the system compiler."""
    env = os.environ.get("IGCLIENT_BIN")
    if env:
        return env
    bindir = os.path.dirname(binary_path())
    candidates = [os.path.join(d, "tests", "clients", "igclient")
                  for d in (bindir, os.path.dirname(bindir), os.path.join(REPO, "build"))]
    src = os.path.join(REPO, "tests", "clients", "igclient.c")
    for c in candidates:
        if os.access(c, os.X_OK) and os.path.getmtime(c) >= os.path.getmtime(src):
            return c
    if build_dir not in _built:
        _built[build_dir] = _compile_igclient(src, build_dir)
    return _built[build_dir]


def _compile_igclient(src, build_dir):
    os.makedirs(build_dir, exist_ok=True)
    out = os.path.join(build_dir, "igclient")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmariadb"],
                           capture_output=True, text=True, check=True).stdout.split()
    cc = os.environ.get("CC", "cc")
    r = subprocess.run([cc, "-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", src,
                        "-o", out] + flags, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("compiling igclient failed:\n" + r.stderr)
    return out


@dataclass
class IgResult:
    rc: int
    out: str
    err: str

    def lines(self):
        return self.out.splitlines()

    def rows(self):
        """Every `row` line, split on tabs (all result sets together)."""
        return [l.split("\t")[1:] for l in self.lines() if l.startswith("row\t") or l == "row"]

    def results(self):
        """The result sets in order, each a list of rows (lists of strings)."""
        sets, cur = [], None
        for l in self.lines():
            if l.startswith("result "):
                cur = []
                sets.append(cur)
            elif l.startswith("row") and cur is not None:
                cur.append(l.split("\t")[1:])
        return sets

    def errors(self):
        """Error codes printed by igclient ("error CODE (STATE): msg [where]")."""
        codes = []
        for l in self.lines():
            if l.startswith("error ") and l.split()[1].isdigit():
                codes.append(int(l.split()[1]))
        return codes


def igclient(exe, gw, user, password, steps, db=None, opts=(), timeout=120):
    args = [exe, "-h", gw.host, "-P", str(gw.port), "-u", user, "-p", password]
    if db:
        args += ["-D", db]
    args += list(opts) + list(steps)
    r = subprocess.run(args, capture_output=True, timeout=timeout)
    return IgResult(r.returncode, r.stdout.decode("utf-8", "replace"),
                    r.stderr.decode("utf-8", "replace"))


_ABANDON = r"""
import os, sys, pymysql, pymysql.cursors
host, port, user, pw, sql, n = sys.argv[1:7]
c = pymysql.connect(host=host, port=int(port), user=user, password=pw,
                    cursorclass=pymysql.cursors.SSCursor, read_timeout=60)
cur = c.cursor()
cur.execute("SELECT CONNECTION_ID()")
print(cur.fetchone()[0], flush=True)
cur.execute(sql)
for _ in range(int(n)):
    cur.fetchone()
print("read", n, flush=True)
os._exit(0)  # vanish mid-result: no COM_QUIT, the result unread
"""


def abandon_mid_result(gw, user, password, sql, nrows, timeout=60):
    """A PyMySQL client process that reads nrows of sql's result and exits without closing.
    Returns the connection id it saw."""
    import sys
    r = subprocess.run([sys.executable, "-c", _ABANDON, gw.host, str(gw.port), user, password,
                        sql, str(nrows)], capture_output=True, text=True, timeout=timeout)
    lines = r.stdout.split("\n")
    if r.returncode != 0 or len(lines) < 2 or lines[1] != "read %d" % nrows:
        raise AssertionError("abandoning client failed (%s): %s %s" % (r.returncode, r.stdout,
                                                                       r.stderr))
    return int(lines[0])
