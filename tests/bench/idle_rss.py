#!/usr/bin/python3
"""idle_rss.py - memory per idle client connection in importgate (and HAProxy for comparison).

Starts a private MariaDB (max_connections 8000), importgate (workers 2) and HAProxy
(tests/bench/haproxy.cfg) in front of it, then for each proxy: opens and closes a few
connections (so one-off allocations are not counted), reads the proxy's VmRSS, opens N
authenticated connections through it (a raw mysql_native_password handshake: the client side
stays cheap, the server side is real), checks that MariaDB sees N more connections (each
client connection has its backend connection), reads VmRSS again and reports
(after - before) / N. Target (docs/BENCHMARKS.md): <= 32 KiB per idle connection for importgate.

With --compress zlib|zstd each client connection asks for compression and sends one
compressed query whose answer is --answer-bytes long before it goes idle, so the gateway has
decompressed and compressed on it (compression contexts are made on first use);
--backend-compression sets backends.compression. --no-haproxy measures the gateway only.

Usage: /usr/bin/python3 tests/bench/idle_rss.py [--connections 5000] [--importgate PATH]
       [--compress zlib|zstd] [--answer-bytes 262144] [--backend-compression off|zlib|zstd] [--no-haproxy]
"""

import argparse
import resource
import sys
import time

import benchlib

TARGET_KIB = 32.0


def open_conns(port, n, user, password, compress=None, answer_bytes=0):
    conns = []
    t0 = time.monotonic()
    # Over 50 bytes, so the query itself goes compressed; 5 packets: count, column, EOF, row, EOF.
    sql = "SELECT REPEAT('a', %d) AS padded_answer_of_this_idle_connection_test" % answer_bytes
    for i in range(n):
        try:
            c = benchlib.mysql_connect("127.0.0.1", port, user, password, compress=compress)
            conns.append(c)
            if compress:
                got = benchlib.compressed_query(c, compress, sql, 5)
                if len(got[3]) < answer_bytes:
                    raise RuntimeError("short answer: %d bytes" % len(got[3]))
        except Exception as e:
            for c in conns:
                c.close()
            raise RuntimeError("connection %d of %d failed: %s" % (i + 1, n, e)) from e
    return conns, time.monotonic() - t0


def wait_threads(db, want, op, timeout=60.0):
    """Waits until MariaDB's Threads_connected compares to want (op: 'ge' or 'le')."""
    deadline = time.monotonic() + timeout
    while True:
        got = db.status("Threads_connected")
        if (got >= want) if op == "ge" else (got <= want):
            return got
        if time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def measure(name, pid, port, db, n, settle, compress=None, answer_bytes=0):
    # Warm-up: the first connections allocate per-thread and per-loop structures once.
    warm, _ = open_conns(port, 50, db.user, db.password, compress, answer_bytes)
    for c in warm:
        c.close()
    base_threads = wait_threads(db, db.status("Threads_connected") - 50, "le", 10)
    time.sleep(settle)
    before = benchlib.rss_kib(pid)
    conns, secs = open_conns(port, n, db.user, db.password, compress, answer_bytes)
    got = wait_threads(db, base_threads + n, "ge", 30)
    time.sleep(settle)
    after = benchlib.rss_kib(pid)
    backend_conns = got - base_threads
    for c in conns:
        c.close()
    wait_threads(db, base_threads, "le", 60)
    time.sleep(settle)
    closed = benchlib.rss_kib(pid)
    return {
        "name": name, "n": n, "before": before, "after": after, "closed": closed,
        "per_conn": (after - before) / n, "backend_conns": backend_conns, "open_s": secs,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--importgate", default=None, help="gateway binary (default $IMPORTGATE "
                    "or " + benchlib.DEFAULT_IMPORTGATE + ")")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait before RSS reads")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--compress", choices=("zlib", "zstd"), default=None)
    ap.add_argument("--answer-bytes", type=int, default=262144)
    ap.add_argument("--backend-compression", choices=("off", "zlib", "zstd"), default="off")
    ap.add_argument("--no-haproxy", action="store_true")
    args = ap.parse_args()

    # N client sockets here; the children (gateway, HAProxy, MariaDB) inherit the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 3 * args.connections + 1000
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            hard = need
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 2 * args.connections + 100:
        sys.exit("RLIMIT_NOFILE too low for %d connections" % args.connections)

    wd = benchlib.workdir("ig-idle-rss.")
    results = []
    try:
        db = benchlib.MariaDB(wd, max_connections=max(8000, args.connections + 200)).start()
        backend = "127.0.0.1:%d" % db.port
        extra = ""
        if args.backend_compression != "off":
            extra = "  compression: %s\n" % args.backend_compression
        gw = benchlib.Gateway(wd, backend, binary=args.importgate, backends_extra=extra).start()
        proxies = [("importgate", gw.proc, gw.port)]
        if not args.no_haproxy:
            hap = benchlib.HAProxy(wd, backend).start()
            proxies.append(("haproxy", hap.proc, hap.port))
        for name, proc, port in proxies:
            r = measure(name, proc.pid, port, db, args.connections, args.settle, args.compress,
                        args.answer_bytes)
            if proc.poll() is not None:
                raise RuntimeError("%s exited during the run" % name)
            results.append(r)
            print("idle_rss: %s: %d conns in %.1fs, RSS %d -> %d KiB (%d after closing), "
                  "%d backend connections" % (name, r["n"], r["open_s"], r["before"], r["after"],
                                              r["closed"], r["backend_conns"]), file=sys.stderr)
        version = db.version()
    finally:
        benchlib.stop_all()
        benchlib.cleanup_dir(wd, args.keep)

    print("\nMariaDB %s, importgate %s (workers 2), HAProxy (tests/bench/haproxy.cfg), "
          "%d idle authenticated connections, client compression %s (answer %d bytes), backend "
          "compression %s\n" % (version, benchlib.git_commit(), args.connections, args.compress or "off",
                                 args.answer_bytes, args.backend_compression))
    print("| proxy | connections | backend connections seen | RSS before KiB | RSS with "
          "connections KiB | RSS after closing KiB | KiB per idle connection | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    ok = True
    for r in results:
        verdict = ""
        if r["name"] == "importgate":
            met = r["per_conn"] <= TARGET_KIB and r["backend_conns"] >= r["n"]
            ok = ok and met
            verdict = "<= %.0f KiB: %s" % (TARGET_KIB, "met" if met else "NOT met")
        print("| %s | %d | %d | %d | %d | %d | %.1f | %s |" % (
            r["name"], r["n"], r["backend_conns"], r["before"], r["after"], r["closed"],
            r["per_conn"], verdict))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
