#!/bin/bash
# stmt-bench.sh - prepared statements closed after each use, through importgate vs HAProxy vs
# MariaDB directly (tests/bench/stmt_bench.c): what the gateway's COM_PING fence after
# COM_STMT_CLOSE / COM_STMT_SEND_LONG_DATA costs. Each mode and connection count runs the
# three targets back to back, RUNS times interleaved; the report gives each cell's median of
# statements per second, % of HAProxy, and the proxy's CPU per statement.
#
# Environment (defaults in brackets):
#   IMPORTGATE   gateway binary [build/proxy/importgate]   STMT_BENCH [build/tests/bench/stmt_bench]
#   MODES ["close longdata keep"]  CONNS ["1 16"]  DURATION [10]  RUNS [3]  WORKDIR [mktemp]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
IMPORTGATE=${IMPORTGATE:-$HERE/../../build/proxy/importgate}
STMT_BENCH=${STMT_BENCH:-$HERE/../../build/tests/bench/stmt_bench}
MODES=${MODES:-"close longdata keep"}
CONNS=${CONNS:-"1 16"}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
SB_USER=sbtest
SB_PASS=sbpass
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/ig-stmtbench.XXXXXX)}

. "$HERE/lib.sh"

for tool in haproxy mariadbd; do
	command -v "$tool" >/dev/null || die "$tool not found (deploy/install-deps.sh --bench)"
done
[ -x "$IMPORTGATE" ] || die "importgate binary not found at $IMPORTGATE (set IMPORTGATE)"
[ -x "$STMT_BENCH" ] || die "stmt_bench not found at $STMT_BENCH (ninja -C build tests/bench/stmt_bench)"

PIDS=()
trap stop_started EXIT

start_mariadb ""
start_haproxy "" "$DB_PORT"
start_importgate "$IMPORTGATE" "" "$DB_PORT" importgate 2

# one row per run: target mode conns stmts_per_s us_per_stmt proxy_cpu_us_per_stmt
RESULTS=$WORKDIR/results.tsv
: >"$RESULTS"
run_one() { # target port pid mode conns
	local c0=0 c1=0 line
	[ "$3" = - ] || c0=$(cpu_s "$3")
	line=$("$STMT_BENCH" 127.0.0.1 "$2" "$SB_USER" "$SB_PASS" "$DURATION" "$5" "$4") ||
		die "stmt_bench $4 $5 against $1 failed"
	[ "$3" = - ] || c1=$(cpu_s "$3")
	awk -v t="$1" -v c0="$c0" -v c1="$c1" -v d="$DURATION" -v pid="$3" -F'\t' '{
		cpu = pid == "-" ? "-" : sprintf("%.1f", (c1 - c0) * 1e6 / ($3 * d))
		printf "%s\t%s\t%s\t%s\t%s\t%s\n", t, $1, $2, $3, $4, cpu }' <<<"$line" >>"$RESULTS"
	log "$(tail -1 "$RESULTS")"
}
for ((run = 1; run <= RUNS; run++)); do
	for m in $MODES; do
		for c in $CONNS; do
			run_one direct "$DB_PORT" - "$m" "$c"
			run_one haproxy "$HAP_PORT" "$HAP_PID" "$m" "$c"
			run_one importgate "$IG_PORT" "$IG_PID" "$m" "$c"
		done
	done
done

echo "stmt_bench, ${DURATION}s per run, median of $RUNS interleaved runs; importgate $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "| mode | connections | direct stmt/s | HAProxy stmt/s | importgate stmt/s | importgate % of HAProxy | CPU us/stmt HAProxy | CPU us/stmt importgate |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
/usr/bin/python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
cells = {}
for t, m, c, sps, us, cpu in rows:
    cells.setdefault((m, int(c)), {}).setdefault(t, []).append((float(sps), None if cpu == "-" else float(cpu)))
for (m, c), d in cells.items():
    med = {t: statistics.median(v[0] for v in vs) for t, vs in d.items()}
    cpu = {t: statistics.median(v[1] for v in vs) for t, vs in d.items() if vs[0][1] is not None}
    print("| %s | %d | %.0f | %.0f | %.0f | %.1f%% | %.1f | %.1f |" % (
        m, c, med["direct"], med["haproxy"], med["importgate"], 100 * med["importgate"] / med["haproxy"],
        cpu["haproxy"], cpu["importgate"]))
PY
log "raw rows in $RESULTS"
