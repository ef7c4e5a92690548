#!/bin/bash
# soak.sh - a long sysbench run through importgate (issue 7's 10-minute soak): QPS per
# interval, the gateway's RSS and open fds sampled through the run, fds before and after.
# Run by hand, never in CI; docs/RELIABILITY.md has the last result.
#
# Environment (defaults in brackets):
#   IMPORTGATE  gateway binary [build/proxy/importgate of this tree]
#   DURATION    seconds [600]      THREADS  sysbench threads [16]      INTERVAL  seconds [10]
#   TEST        sysbench test [oltp_read_write]     TABLES, TABLE_SIZE  [4, 10000]
#   WORKDIR     scratch directory [mktemp]
#   TARGET      importgate | direct (sysbench straight to MariaDB, for comparison) [importgate]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
IMPORTGATE=${IMPORTGATE:-$HERE/../../build/proxy/importgate}
DURATION=${DURATION:-600}
THREADS=${THREADS:-16}
INTERVAL=${INTERVAL:-10}
TEST=${TEST:-oltp_read_write}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
SB_USER=sbtest
SB_PASS=sbpass
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/ig-soak.XXXXXX)}
TARGET=${TARGET:-importgate}

. "$HERE/lib.sh"

[ -x "$IMPORTGATE" ] || die "importgate binary not found at $IMPORTGATE (set IMPORTGATE)"
command -v sysbench >/dev/null || die "sysbench not found (apt-get install -y sysbench)"

PIDS=()
trap stop_started EXIT

start_mariadb ""
DB_PID=${PIDS[-1]}
prepare_sbtest
start_importgate "$IMPORTGATE" "" "$DB_PORT"

fds() { find "/proc/$IG_PID/fd" -mindepth 1 | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$IG_PID/status"; }

sleep 1
FD0=$(fds)
RSS0=$(rss_kib)
# CPU seconds of the gateway and of MariaDB go with each sample, so a drift in QPS can be told
# apart: more gateway CPU per query in the second half points at the gateway, the same at the
# database or the machine.
SAMPLES=$WORKDIR/samples.tsv # seconds fds rss_kib gateway_cpu_s mariadb_cpu_s
(
	t=0
	while kill -0 "$IG_PID" 2>/dev/null; do
		printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$(fds)" "$(rss_kib)" "$(cpu_s "$IG_PID")" "$(cpu_s "$DB_PID")"
		sleep "$INTERVAL"
		t=$((t + INTERVAL))
	done
) >"$SAMPLES" 2>/dev/null &
SAMPLER=$!
PIDS+=($SAMPLER)

PORT=$IG_PORT
[ "$TARGET" = direct ] && PORT=$DB_PORT
log "$TEST, $THREADS threads, ${DURATION}s to $TARGET (gateway pid $IG_PID); fds $FD0, VmRSS ${RSS0} KiB"
sysbench "$TEST" "${SB[@]}" --mysql-port="$PORT" --threads="$THREADS" --time="$DURATION" \
	--report-interval="$INTERVAL" --db-ps-mode=disable run >"$WORKDIR/sysbench.log" 2>&1 ||
	die "sysbench failed: $WORKDIR/sysbench.log"
sleep 2
kill -0 "$IG_PID" 2>/dev/null || die "importgate died during the soak; see $WORKDIR/importgate.log"
FD1=$(fds)
RSS1=$(rss_kib)
kill "$SAMPLER" 2>/dev/null || true

# sysbench interval lines: "[ 10s ] thds: 16 tps: ... qps: 1234.56 (r/w/o: ...) ... err/s: 0.00 ..."
awk '/^\[ [0-9]+s \]/ { for (i = 1; i <= NF; i++) { if ($i == "qps:") q = $(i + 1); if ($i == "err/s:") e = $(i + 1) }
		qs[++n] = q; s += q; ss += q * q; if (n == 1 || q < lo) lo = q; if (q > hi) hi = q; es += e }
	END { if (n < 2) { printf "QPS per %ss interval: %d interval(s): too few to compare halves (DURATION should be several INTERVALs)\n", "'"$INTERVAL"'", n; exit }
		m = s / n; sd = sqrt(ss / n - m * m); h = int(n / 2)
		for (i = 1; i <= n; i++) { if (i <= h) a += qs[i]; else b += qs[i] }
		printf "QPS per %ss interval: %d intervals, mean %.0f, min %.0f, max %.0f, stddev %.1f%% of mean; first half %.0f, second half %.0f; errors/s summed over intervals %.2f\n", "'"$INTERVAL"'", n, m, lo, hi, 100 * sd / m, a / h, b / (n - h), es }' \
	"$WORKDIR/sysbench.log"
awk -F'\t' 'NR == 1 { lo = hi = $3 } { if ($3 < lo) lo = $3; if ($3 > hi) hi = $3; if ($2 > fh) fh = $2; last = $3; n++ }
	END { printf "gateway VmRSS sampled %d times: min %d KiB, max %d KiB, last %d KiB; most fds while running %d\n", n, lo, hi, last, fh }' "$SAMPLES"
# CPU per query in each half: the samples' CPU counters against the queries sysbench counted in
# the same intervals (interval i of sysbench ends about when sample i is taken)
awk -v iv="$INTERVAL" -v dur="$DURATION" '
	FNR == NR { if ($0 ~ /^\[ [0-9]+s \]/) { for (i = 1; i <= NF; i++) if ($i == "qps:") q[++n] = $(i + 1) } next }
	{ t[m] = $1; gc[m] = $4; dc[m] = $5; m++ }
	END {
		if (m - 1 < n) n = m - 1 # the sampler may have taken its last sample a little early
		h = int(n / 2)
		if (h < 1) { print "too few samples for CPU per query"; exit }
		for (i = 1; i <= n; i++) if (i <= h) qa += q[i] * iv; else qb += q[i] * iv
		printf "CPU us/query, first half -> second half: gateway %.1f -> %.1f, MariaDB %.1f -> %.1f\n",
			1e6 * (gc[h] - gc[0]) / qa, 1e6 * (gc[n] - gc[h]) / qb, 1e6 * (dc[h] - dc[0]) / qa, 1e6 * (dc[n] - dc[h]) / qb
	}' "$WORKDIR/sysbench.log" "$SAMPLES"
grep -E "transactions:|queries:|ignored errors:|reconnects:" "$WORKDIR/sysbench.log" | sed 's/^ */sysbench total: /'
echo "gateway fds before $FD0, after $FD1 (clients gone); VmRSS before ${RSS0} KiB, after ${RSS1} KiB"
echo "raw: $WORKDIR (sysbench.log, samples.tsv, importgate.log)"
[ "$FD1" -le "$FD0" ] || { echo "fd count grew: $FD0 -> $FD1" >&2; exit 1; }
