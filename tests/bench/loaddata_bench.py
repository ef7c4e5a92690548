#!/usr/bin/python3
"""loaddata_bench.py - LOAD DATA LOCAL INFILE of a large file: direct to MariaDB vs through
importgate (and, with --base, through another importgate binary, e.g. one built before a change).

Starts a private MariaDB and the gateway(s) on loopback (tests/bench/benchlib.py), writes a
tab-separated file of --mib MiB, and loads it --runs times per path with the mariadb CLI
(`mariadb --local-infile=1 -e "LOAD DATA LOCAL INFILE ..."`, libmariadb's own file packets)
into a table of --engine (BLACKHOLE by default: the server parses every row and stores none,
so the protocol path is what is timed). Prints the median wall time, MiB/s and the gateway's
CPU seconds per load (utime + stime from /proc).

Usage: /usr/bin/python3 tests/bench/loaddata_bench.py [--mib 256] [--runs 5]
       [--importgate PATH] [--base PATH] [--engine BLACKHOLE|InnoDB]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

import benchlib


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_file(path, mib):
    line = b"%d\t" + b"x" * 90 + b"\n"
    with open(path, "wb") as f:
        n, size = 0, 0
        while size < mib << 20:
            row = line % n
            f.write(row)
            n += 1
            size += len(row)
    return n


def load(port, db, path):
    t = time.monotonic()
    subprocess.run(["mariadb", "--no-defaults", "-h127.0.0.1", "-P%d" % port, "-u" + db.user,
                    "-p" + db.password, "--local-infile=1", "bench", "-e",
                    "LOAD DATA LOCAL INFILE '%s' INTO TABLE t" % path], check=True)
    return time.monotonic() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--importgate", default=None)
    ap.add_argument("--base", default=None, help="a second gateway binary to compare")
    ap.add_argument("--engine", default="BLACKHOLE")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    wd = benchlib.workdir("ig-loaddata.")
    rows = {}
    try:
        db = benchlib.MariaDB(wd, extra_args=["--max-allowed-packet=64M"]).start()
        if args.engine.upper() == "BLACKHOLE":
            db.sql("INSTALL SONAME 'ha_blackhole'")
        db.sql("CREATE DATABASE bench; CREATE TABLE bench.t (id INT, v VARCHAR(100)) ENGINE=%s" % args.engine)
        backend = "127.0.0.1:%d" % db.port
        paths = [("direct", None, db.port)]
        gw = benchlib.Gateway(wd, backend, binary=args.importgate).start()
        paths.append(("importgate", gw.proc, gw.port))
        if args.base:
            bdir = os.path.join(wd, "base")
            os.makedirs(bdir)
            base = benchlib.Gateway(bdir, backend, binary=args.base).start()
            paths.append(("importgate (base)", base.proc, base.port))
        path = os.path.join(wd, "data.tsv")
        nrows = write_file(path, args.mib)
        size = os.path.getsize(path)
        for _ in range(args.runs):  # interleaved, so that a busy moment hits every path alike
            for name, proc, port in paths:
                cpu = cpu_seconds(proc.pid) if proc else 0.0
                secs = load(port, db, path)
                cpu = cpu_seconds(proc.pid) - cpu if proc else 0.0
                rows.setdefault(name, []).append((secs, cpu))
        version = db.version()
    finally:
        benchlib.stop_all()
        benchlib.cleanup_dir(wd, args.keep)

    print("\nMariaDB %s, importgate %s, %d MiB (%d rows) per load, ENGINE=%s, %d runs per path "
          "(median)\n" % (version, benchlib.git_commit(), size >> 20, nrows, args.engine, args.runs))
    print("| path | wall s (median) | MiB/s | vs direct | gateway CPU s per load |")
    print("|---|---:|---:|---:|---:|")
    direct = statistics.median(s for s, _ in rows["direct"])
    for name, vals in rows.items():
        wall = statistics.median(s for s, _ in vals)
        cpu = statistics.median(c for _, c in vals)
        print("| %s | %.2f | %.0f | %+.1f%% | %s |" % (name, wall, (size >> 20) / wall,
                                                      100 * (wall / direct - 1),
                                                      "%.2f" % cpu if name != "direct" else "-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
