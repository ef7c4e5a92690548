#!/usr/bin/python3
"""rolling_restart.py - does a rolling restart of two importgate replicas behind a load
balancer lose any client's connection attempt? (issue 16: "a rolling restart under load loses
no connection attempt").

Starts a private MariaDB, two importgate replicas (A, B) in front of it and HAProxy in front
of both, health-checking each replica's /healthz as a Kubernetes readiness probe or any load
balancer would (inter 250 ms, fall 1, rise 2). Load through HAProxy for the whole run:
  - connection-attempt loops (--loops threads): connect, authenticate, SELECT 1, quit, again
    and again; every attempt refused, reset or failing its handshake is counted;
  - pooled connections (--pooled threads): one connection each, a query on it again and
    again; a connection the drain closes is counted and reconnected (sysbench cannot be this
    load: 1.0.20 with --mysql-ignore-errors=2013 segfaults when a connection is lost, exit
    status -11 seen here).
Then restarts A and B in turn: SIGTERM, wait for the process to exit, start it again, wait
until HAProxy has it UP again. Run twice: timeouts.graceful_wait_ms 0 (the port closes at
once) and the value given (the gateway keeps accepting while /healthz answers 503).

Usage: /usr/bin/python3 tests/bench/rolling_restart.py [--importgate PATH] [--wait-ms 2000]
       [--shutdown-ms 5000] [--loops 4] [--pooled 4] [--per-replica 15]
Prints one line per mode: new-connection attempts and failures by kind, and the pooled
connections' queries, in-flight failures, closes between queries and failed reconnects.
"""

import argparse
import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import benchlib

HAP_CFG = """global
    stats socket {sock} level admin
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend mysql_in
    bind 127.0.0.1:{port}
    default_backend gateways
backend gateways
    balance leastconn
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 250ms fall 1 rise 2
{servers}
"""


class Replica:
    """One importgate replica with a fixed admin port (HAProxy checks its /healthz)."""

    def __init__(self, dirpath, backend, binary, extra_yaml):
        os.makedirs(dirpath, exist_ok=True)
        self.gw = benchlib.Gateway(dirpath, backend, binary=binary, extra_yaml=extra_yaml)
        self.admin = benchlib.free_port()
        self.gw.config = self.gw.config.replace("admin: {listen: 127.0.0.1:0}",
                                                "admin: {listen: 127.0.0.1:%d}" % self.admin)

    def healthz(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.admin,
                                        timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None


def hap_status(sock_path, server):
    """The server's status in HAProxy's `show stat` (UP, DOWN, ...)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    for line in data.decode().splitlines():
        f = line.split(",")
        if len(f) > 17 and f[0] == "gateways" and f[1] == server:
            return f[17]
    return None


def wait_for(pred, bound, what):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out after %d s waiting for %s" % (bound, what))


class LoadThreads:
    """`threads` threads running self.run() through HAProxy until finish()."""

    def __init__(self, port, user, password, threads):
        self.port, self.user, self.password = port, user, password
        self.n = threads
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = []

    def start(self):
        for _ in range(self.n):
            t = threading.Thread(target=self.run, daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)


class AttemptLoop(LoadThreads):
    """Threads that connect, SELECT 1, quit, forever; counts attempts and failures."""

    def __init__(self, port, user, password, threads):
        super().__init__(port, user, password, threads)
        self.attempts = 0
        self.failures = collections.Counter()

    def one(self):
        s = benchlib.mysql_connect("127.0.0.1", self.port, self.user, self.password, timeout=10)
        try:
            benchlib.write_packet(s, 0, b"\x03SELECT 1")
            _, p = benchlib.read_packet(s)
            if p[:1] == b"\xff":
                raise ConnectionError("error answer %r" % p[:80])
            benchlib.write_packet(s, 0, b"\x01")  # COM_QUIT
        finally:
            s.close()

    def run(self):
        while not self.stop.is_set():
            kind = None
            try:
                self.one()
            except Exception as e:  # every way an attempt can fail counts
                kind = type(e).__name__ + ": " + str(e)[:60]
            with self.lock:
                self.attempts += 1
                if kind:
                    self.failures[kind] += 1

class PersistentLoop(LoadThreads):
    """Threads that keep one connection and run a query on it again and again, as a pooled
    application does; when the gateway closes it (the drain), they reconnect. Counts queries,
    queries that failed in flight, connections the gateway closed between queries, and
    reconnect attempts that failed."""

    def __init__(self, port, user, password, threads):
        super().__init__(port, user, password, threads)
        self.c = collections.Counter()

    def count(self, key):
        with self.lock:
            self.c[key] += 1

    def connect(self):
        while not self.stop.is_set():
            try:
                return benchlib.mysql_connect("127.0.0.1", self.port, self.user, self.password,
                                              db="sbtest", timeout=10)
            except Exception:
                self.count("reconnect_failed")

    def run(self):
        s = self.connect()
        while s is not None and not self.stop.is_set():
            try:
                benchlib.write_packet(s, 0, b"\x03SELECT SUM(k) FROM sbtest1 WHERE id < 100")
            except OSError:
                self.count("closed_between_queries")
                s.close()
                s = self.connect()
                continue
            try:
                eofs = 0  # no CLIENT_DEPRECATE_EOF: columns end with an EOF, rows with another
                while eofs < 2:
                    _, p = benchlib.read_packet(s)
                    if p[:1] == b"\xff":
                        raise ConnectionError("error answer %r" % p[:80])
                    if p[:1] == b"\xfe" and len(p) < 9:
                        eofs += 1
                self.count("queries")
            except (OSError, ConnectionError) as e:
                kind = "closed_between_queries" if "closed by peer" in str(e) else "failed_in_flight"
                self.count(kind)
                s.close()
                s = self.connect()
        if s is not None:
            s.close()

def sysbench_prepare(port, user, password):
    return ["sysbench", "oltp_common", "--db-driver=mysql", "--mysql-host=127.0.0.1",
            "--mysql-port=%d" % port, "--mysql-user=" + user, "--mysql-password=" + password,
            "--mysql-db=sbtest", "--tables=1", "--table-size=10000", "prepare"]


def one_mode(args, work, db, wait_ms):
    extra = "timeouts:\n  graceful_wait_ms: %d\n  shutdown_ms: %d\n" % (wait_ms, args.shutdown_ms)
    reps = {name: Replica(os.path.join(work, "%s-%d" % (name, wait_ms)),
                          "127.0.0.1:%d" % db.port, args.importgate, extra) for name in "ab"}
    for r in reps.values():
        r.gw.start()
    hap_port = benchlib.free_port()
    hap_sock = os.path.join(work, "hap-%d.sock" % wait_ms)
    servers = "\n".join("    server %s 127.0.0.1:%d check port %d" % (n, r.gw.port, r.admin)
                        for n, r in reps.items())
    cfg_path = os.path.join(work, "haproxy-%d.cfg" % wait_ms)
    with open(cfg_path, "w") as f:
        f.write(HAP_CFG.format(sock=hap_sock, port=hap_port, servers=servers))
    hap = benchlib.spawn(["haproxy", "-db", "-f", cfg_path], os.path.join(work, "haproxy.log"))
    benchlib.wait_port(hap_port, 15, hap)
    for n in reps:
        wait_for(lambda n=n: hap_status(hap_sock, n) == "UP", 30, "HAProxy to see %s UP" % n)

    pool = PersistentLoop(hap_port, db.user, db.password, args.pooled)
    pool.start()
    loop = AttemptLoop(hap_port, db.user, db.password, args.loops)
    loop.start()
    time.sleep(args.warmup)
    restarts = []
    for n, r in reps.items():
        t0 = time.monotonic()
        r.gw.proc.send_signal(signal.SIGTERM)
        r.gw.proc.wait(timeout=(wait_ms + args.shutdown_ms) / 1000 + 30)
        exited = time.monotonic() - t0
        r.gw.start()
        wait_for(lambda r=r: r.healthz() == 200, 30, "%s /healthz 200" % n)
        wait_for(lambda n=n: hap_status(hap_sock, n) == "UP", 30, "HAProxy to see %s UP" % n)
        restarts.append("%s: exited after %.1f s, back UP after %.1f s" % (n, exited,
                                                                          time.monotonic() - t0))
        time.sleep(max(0.0, args.per_replica - (time.monotonic() - t0)))
    time.sleep(args.warmup)
    pool.finish()
    loop.finish()
    hap.terminate()
    hap.wait(timeout=20)
    for r in reps.values():
        r.gw.proc.terminate()
        r.gw.proc.wait(timeout=60)
    return {"graceful_wait_ms": wait_ms, "attempts": loop.attempts,
            "failed": sum(loop.failures.values()), "failures": dict(loop.failures),
            "pooled": dict(pool.c), "restarts": restarts}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--importgate", default=os.environ.get("IMPORTGATE",
                                                           benchlib.DEFAULT_IMPORTGATE))
    ap.add_argument("--wait-ms", type=int, default=2000)
    ap.add_argument("--shutdown-ms", type=int, default=5000)
    ap.add_argument("--loops", type=int, default=4)
    ap.add_argument("--pooled", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--per-replica", type=int, default=15)
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()

    work = benchlib.workdir("ig-rolling")
    try:
        db = benchlib.MariaDB(work).start()
        db.sql("CREATE DATABASE sbtest")
        subprocess.run(sysbench_prepare(db.port, db.user, db.password),
                       check=True, capture_output=True)
        print("importgate %s (%s), MariaDB %s, HAProxy health checks every 250 ms"
              % (benchlib.git_commit(), args.importgate, db.version()))
        for wait_ms in (0, args.wait_ms):
            r = one_mode(args, work, db, wait_ms)
            print("graceful_wait_ms=%-5d new-connection attempts %d, failed %d %s; pooled %s"
                  % (r["graceful_wait_ms"], r["attempts"], r["failed"], r["failures"] or "",
                     r["pooled"]))
            for line in r["restarts"]:
                print("    " + line)
            sys.stdout.flush()
    finally:
        benchlib.stop_all()
        benchlib.cleanup_dir(work, args.keep)


if __name__ == "__main__":
    main()
