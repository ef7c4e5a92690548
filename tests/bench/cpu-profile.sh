#!/bin/bash
# cpu-profile.sh - where a query's CPU goes on the whole machine, behind each proxy: for one
# sysbench test and thread count it runs the targets (direct, HAProxy, importgate) in turn,
# RUNS times interleaved, each under a machine-wide `perf record` (cpu-clock samples, so it
# works where a VM has no hardware counters), and prints microseconds of CPU per query by
# process (sysbench, MariaDB, the proxy, idle) and, for the processes named in SYMS_OF, by
# kernel or user symbol, side by side for the targets. A saturated machine's throughput is
# 1 / (CPU per query), so a cell where the gateway loses to HAProxy shows which process and
# which code pay for it (docs/BENCHMARKS.md 1.14); run by run, the proxy's CPU per query over
# MariaDB's user CPU per query compares the proxies at one machine speed (1.19).
#
# Environment (defaults in brackets):
#   IMPORTGATE  gateway binary [build/proxy/importgate]      WORKERS  its workers [2]
#   TEST [oltp_read_only]  THREADS [16]  DURATION [10]  WARMUP [2]  RUNS [1]
#   TARGETS     ["direct haproxy importgate"]
#   FREQ        perf sampling frequency per CPU [2000]
#   SYMS_OF     processes whose symbols are listed ["mariadbd"]; "all" lists every process's
#   TOP         symbols listed per process [25]
#   TABLES, TABLE_SIZE [4, 10000]   WORKDIR [mktemp]   KEEP_DB  keep MariaDB's datadir
# Needs perf (linux-perf), sysbench, haproxy, mariadb-server; run as root (machine-wide perf).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
IMPORTGATE=${IMPORTGATE:-$HERE/../../build/proxy/importgate}
TEST=${TEST:-oltp_read_only}
THREADS=${THREADS:-16}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-1}
TARGETS=${TARGETS:-"direct haproxy importgate"}
FREQ=${FREQ:-2000}
SYMS_OF=${SYMS_OF:-mariadbd}
TOP=${TOP:-25}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
SB_USER=sbtest
SB_PASS=sbpass
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/ig-cpuprof.XXXXXX)}

. "$HERE/lib.sh"

for tool in perf sysbench haproxy mariadbd; do
	command -v "$tool" >/dev/null || die "$tool not found (deploy/install-deps.sh --bench; perf: apt-get install linux-perf)"
done
[ -x "$IMPORTGATE" ] || die "importgate binary not found at $IMPORTGATE (set IMPORTGATE)"

PIDS=()
trap stop_started EXIT

start_mariadb ""
prepare_sbtest --db-ps-mode=disable
start_haproxy "" "$DB_PORT"
start_importgate "$IMPORTGATE" "" "$DB_PORT" importgate "${WORKERS:-2}"

pid_of() {
	case $1 in
	haproxy) echo "$HAP_PID" ;;
	importgate) echo "$IG_PID" ;;
	*) echo - ;;
	esac
}

port_of() {
	case $1 in
	direct) echo "$DB_PORT" ;;
	haproxy) echo "$HAP_PORT" ;;
	importgate) echo "$IG_PORT" ;;
	*) die "unknown target $1" ;;
	esac
}

# One measured run: sysbench under a machine-wide perf record; writes the queries per second
# to $out.qps and the samples to $out.data.
profile_one() { # target run
	local out=$WORKDIR/$1-$2 port
	port=$(port_of "$1")
	sysbench "$TEST" "${SB[@]}" --mysql-port="$port" --threads="$THREADS" --time="$WARMUP" run \
		>"$out.warmup" 2>&1 || die "sysbench warm-up against $1 failed: $out.warmup"
	# MariaDB's context switches and migrations (its connection threads are made by threads
	# perf follows, so they are counted too)
	perf stat -e context-switches,cpu-migrations -x, -o "$out.dbstat" -p "$DB_PID" &
	local stat=$! pstat= ppid
	ppid=$(pid_of "$1")
	if [ "$ppid" != - ]; then
		perf stat -e context-switches,cpu-migrations -x, -o "$out.pstat" -p "$ppid" &
		pstat=$!
	fi
	perf record -a -F "$FREQ" -g -o "$out.data" -- \
		sysbench "$TEST" "${SB[@]}" --mysql-port="$port" --threads="$THREADS" --time="$DURATION" \
		--report-interval=0 run >"$out.log" 2>"$out.perf" || die "perf/sysbench against $1 failed: $out.perf"
	kill -INT "$stat" ${pstat:+"$pstat"}
	wait "$stat" ${pstat:+"$pstat"} || true
	awk '/queries:/ && /per sec/ { gsub(/[()]/, "", $3); print $3 }' "$out.log" >"$out.qps"
	perf script -i "$out.data" -F comm,ip,sym 2>/dev/null | gzip -1 >"$out.script.gz"
	log "$1 run $2: $(cat "$out.qps") qps"
}

for ((run = 1; run <= RUNS; run++)); do
	for t in $TARGETS; do profile_one "$t" "$run"; done
done

# The report: samples turned into microseconds per query (a sample is 1/FREQ s of one CPU),
# the median over runs; processes by their comm with the gateway's and HAProxy's threads
# folded into "proxy". This kernel (a PVM guest) takes a timer sample when interrupts come back
# on, so kernel time piles up in pvm_irq_enable and the unlock helpers that re-enable them: a
# sample there is put on the first caller that is not one of those (shown "via irq" ), and
# each sample is also counted under the system call it is in ("user" outside any).
/usr/bin/python3 - "$WORKDIR" "$FREQ" "$SYMS_OF" "$TOP" "$RUNS" $TARGETS <<'PY'
import gzip, os, re, statistics, sys
wd, freq, syms_of, top, runs = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(), int(sys.argv[4]), int(sys.argv[5])
targets = sys.argv[6:]
PLUMBING = re.compile(r"^(pvm_irq_enable|__raw_callee_save_pvm\w*|pvm_\w*irq\w*|_raw_spin_unlock\w*|"
                      r"__local_bh_enable_ip|local_bh_enable\w*|_raw_read_unlock\w*|_raw_write_unlock\w*|"
                      r"finish_task_switch\S*|\[unknown\])$")
SYSCALL = re.compile(r"^__(?:x64|do)_sys_(\w+)$")
def proc(comm):
    if comm.startswith("ig-") or comm in ("importgate", "haproxy"):
        return "proxy"
    if comm.startswith("swapper"):
        return "idle"
    return comm
def samples(path):
    comm, frames = None, []
    with gzip.open(path, "rt", errors="replace") as f:
        for l in f:
            if not l.strip():
                if comm is not None:
                    yield comm, frames
                comm, frames = None, []
            elif not l.startswith("\t"):   # a sample's header: its comm
                if comm is not None:
                    yield comm, frames
                comm, frames = l.strip(), []
            else:
                parts = l.split(None, 1)
                frames.append((parts[1].strip() if len(parts) > 1 else "[unknown]", int(parts[0], 16) >= 1 << 63))
    if comm is not None:
        yield comm, frames
def attribute(frames):
    if not frames:
        return "[unknown]"
    sym, kern = frames[0]
    if PLUMBING.match(sym):
        for s2, k2 in frames[1:]:
            if not PLUMBING.match(s2):
                return "[k] %s (via irq)" % s2 if k2 else s2
    return ("[k] " if kern else "") + sym
def syscall(frames):
    for s2, k2 in frames:
        m = SYSCALL.match(s2)
        if m:
            return m.group(1)
    return "kernel, no syscall" if frames and frames[0][1] else "user"
us = {}   # (target, run) -> (qps, {(proc, key): us/query})
for t in targets:
    for r in range(1, runs + 1):
        base = os.path.join(wd, "%s-%d" % (t, r))
        qps = float(open(base + ".qps").read().strip())
        wall = None
        for l in open(base + ".log"):
            m = re.search(r"total time:\s+([\d.]+)s", l)
            if m:
                wall = float(m.group(1))
        per = 1e6 / freq / (qps * wall)
        d = {}
        for comm, frames in samples(base + ".script.gz"):
            p = proc(comm)
            for k in (("sym", attribute(frames)), ("sys", syscall(frames))):
                d[(p, k)] = d.get((p, k), 0.0) + per
        for who, ext in (("mariadbd", ".dbstat"), ("proxy", ".pstat")):
            if not os.path.exists(base + ext):
                continue
            for l in open(base + ext):
                f = l.strip().split(",")
                if len(f) > 2 and f[0].replace(".", "").isdigit():
                    d[(who, ("stat", f[2]))] = float(f[0]) / (qps * wall)
        us[(t, r)] = (qps, d)
def med(t, f):
    return statistics.median(f(us[(t, r)]) for r in range(1, runs + 1))
def total(p):
    return lambda x: sum(u for (q, k), u in x[1].items() if q == p and k[0] == "sym")
print("| | " + " | ".join(targets) + " |")
print("|---|" + "---:|" * len(targets))
print("| QPS | " + " | ".join("%.0f" % med(t, lambda x: x[0]) for t in targets) + " |")
procs = sorted({p for v in us.values() for (p, k) in v[1] if k[0] == "sym"},
               key=lambda p: -max(med(t, total(p)) for t in targets))
for p in procs:
    vals = [med(t, total(p)) for t in targets]
    if max(vals) >= 0.05:
        print("| %s us/query | " % p + " | ".join("%.2f" % v for v in vals) + " |")
print("| all but idle | " + " | ".join("%.2f" % med(t, lambda x: sum(
    u for (q, k), u in x[1].items() if q != "idle" and k[0] == "sym")) for t in targets) + " |")
for who in ("mariadbd", "proxy"):
    for ev in ("context-switches", "cpu-migrations"):
        print("| %s %s/query | " % (who, ev) + " | ".join(
            "%.3f" % med(t, lambda x: x[1].get((who, ("stat", ev)), 0.0)) for t in targets) + " |")
# Every process's CPU per query moves with the machine's speed from run to run (a VM's host):
# MariaDB's own code (its user time) does the same work behind either proxy, so the proxy's
# CPU per query over MariaDB's user CPU per query compares the proxies at one speed (1.19).
print("\n| target | run | QPS | mariadbd user us/query | proxy us/query | sysbench us/query | proxy / mariadbd user |")
print("|---|---:|---:|---:|---:|---:|---:|")
ratio = {}
for t in targets:
    for r in range(1, runs + 1):
        x = us[(t, r)]
        mu = x[1].get(("mariadbd", ("sys", "user")), 0.0)
        px = total("proxy")(x)
        ratio.setdefault(t, []).append(px / mu if mu else 0.0)
        print("| %s | %d | %.0f | %.2f | %.2f | %.2f | %.3f |" % (t, r, x[0], mu, px, total("sysbench")(x), ratio[t][-1]))
print("| median | | | | | | " + ", ".join("%s %.3f" % (t, statistics.median(ratio[t])) for t in targets) + " |")
for p in procs if syms_of == ["all"] else syms_of:
    for kind, title, n in (("sys", "by system call", 12), ("sym", "by symbol", top)):
        keys = {k for v in us.values() for (q, k) in v[1] if q == p and k[0] == kind}
        rows = [(k[1], [med(t, lambda x: x[1].get((p, k), 0.0)) for t in targets]) for k in keys]
        rows.sort(key=lambda r: -max(r[1]))
        print("\n%s, us/query %s (top %d)\n" % (p, title, n))
        print("| %s | " % ("system call" if kind == "sys" else "symbol") + " | ".join(targets) + " |")
        print("|---|" + "---:|" * len(targets))
        for s, vals in rows[:n]:
            print("| `%s` | " % s[:70] + " | ".join("%.3f" % v for v in vals) + " |")
PY
log "raw data in $WORKDIR"
