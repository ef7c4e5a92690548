#!/bin/bash
# run-sysbench.sh - sysbench OLTP through importgate vs MariaDB directly vs HAProxy (TCP mode),
# in one run, printed as a Markdown table (docs/BENCHMARKS.md explains the numbers).
#
# Starts its own MariaDB in a temporary directory on a loopback port (or uses MYSQL_PORT if set),
# prepares the sysbench tables, starts HAProxy (tests/bench/haproxy.cfg) and importgate
# (workers: 2), then for each test and thread count runs the three targets back to back, so
# drift on the machine affects them alike; with RUNS > 1 the whole matrix is repeated (run 1 of
# every cell, then run 2, ...) and the report gives each cell's median. Everything it starts is
# stopped on exit.
#
# Environment (defaults in brackets):
#   IMPORTGATE      gateway binary [/tmp/build-bench/proxy/importgate]
#   IMPORTGATE_B    a second gateway binary, run as target "importgate-b" in every cell right
#                   after the first (a before/after comparison in one interleaved run) [unset]
#   IMPORTGATE_C    a third, as target "importgate-c" after importgate-b [unset]
#   WORKERS, WORKERS_B, WORKERS_C  the gateways' `workers` setting [2; WORKERS for b and c]
#   HAP_THREADS     HAProxy's nbthread [2]: compare proxies at the same thread count
#   DURATION        seconds per run [20]            WARMUP  seconds of uncounted run first [2]
#   THREADS         thread counts ["1 16 64"]       TESTS   ["oltp_point_select oltp_read_only"]
#   RUNS            interleaved repetitions of the whole matrix [1]; the report shows medians;
#                   even runs take the proxies of a cell in the reverse order
#   SLICES          cut each target's run into this many slices of DURATION/SLICES seconds,
#                   taken in turn with the other targets' (direct first, the proxies' order
#                   reversed on every other slice; an even number balances the orders); a
#                   run's QPS is its slices' queries over their summed time and its p95 comes
#                   from their merged latency histograms [1]
#   SLICE_WARMUP    seconds of uncounted run before every slice after a cell's first [1]
#   TABLES, TABLE_SIZE  sysbench data [4, 10000]
#   PS_MODE         sysbench --db-ps-mode [disable: every statement is a COM_QUERY, so every
#                   one goes through the gateway's classifier; "auto" uses prepared statements]
#   CPU_CLIENT, CPU_PROXY, CPU_DB   taskset CPU lists for sysbench, the proxies and MariaDB
#                   [empty: no pinning]
#   MYSQL_PORT      use a running MariaDB on 127.0.0.1:MYSQL_PORT instead of starting one
#                   (then MYSQL_USER/MYSQL_PASSWORD name a user that can create sbtest)
#   WORKDIR         scratch directory [mktemp]      RAW_OUT  also write raw rows (TSV) here
#   KEEP_DB         keep the MariaDB datadir in WORKDIR after the run [unset: removed]
#   IG_COMMIT       commit the binary was built from, for the report [git HEAD of this tree]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
IMPORTGATE=${IMPORTGATE:-/tmp/build-bench/proxy/importgate}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-"1 16 64"}
TESTS=${TESTS:-"oltp_point_select oltp_read_only"}
RUNS=${RUNS:-1}
SLICES=${SLICES:-1}
SLICE_WARMUP=${SLICE_WARMUP:-1}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
PS_MODE=${PS_MODE:-disable}
CPU_CLIENT=${CPU_CLIENT:-}
CPU_PROXY=${CPU_PROXY:-}
CPU_DB=${CPU_DB:-}
SB_USER=${MYSQL_USER:-sbtest}
SB_PASS=${MYSQL_PASSWORD:-sbpass}
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/ig-sysbench.XXXXXX)}
RAW_OUT=${RAW_OUT:-}

. "$HERE/lib.sh"

for tool in sysbench haproxy mariadb; do
	command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y sysbench haproxy mariadb-server)"
done
[ -x "$IMPORTGATE" ] || die "importgate binary not found at $IMPORTGATE (set IMPORTGATE)"
case "$SLICES$SLICE_WARMUP$DURATION$WARMUP$RUNS" in *[!0-9]*) die "SLICES, SLICE_WARMUP, DURATION, WARMUP and RUNS must be whole numbers" ;; esac
[ "$SLICES" -ge 1 ] && [ $((DURATION / SLICES)) -ge 1 ] || die "SLICES must be between 1 and DURATION ($DURATION)"

PIDS=()
trap stop_started EXIT

# --- MariaDB -----------------------------------------------------------------------------
if [ -n "${MYSQL_PORT:-}" ]; then
	DB_PORT=$MYSQL_PORT
	log "using MariaDB on 127.0.0.1:$DB_PORT"
else
	start_mariadb "$CPU_DB"
fi
DB_VERSION=$(mariadb --no-defaults -h127.0.0.1 -P"$DB_PORT" -u"$SB_USER" -p"$SB_PASS" -N -e 'SELECT VERSION()')
mariadb --no-defaults -h127.0.0.1 -P"$DB_PORT" -u"$SB_USER" -p"$SB_PASS" \
	-e 'DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest'

SB_COMMON=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-user="$SB_USER" --mysql-password="$SB_PASS"
	--mysql-db=sbtest --tables="$TABLES" --table-size="$TABLE_SIZE")
log "preparing $TABLES tables x $TABLE_SIZE rows"
sysbench oltp_common "${SB_COMMON[@]}" --mysql-port="$DB_PORT" prepare >"$WORKDIR/prepare.log" 2>&1 ||
	die "sysbench prepare failed: $WORKDIR/prepare.log"

# --- HAProxy -----------------------------------------------------------------------------
start_haproxy "$CPU_PROXY" "$DB_PORT"

# --- importgate --------------------------------------------------------------------------
if [ -n "${IMPORTGATE_B:-}" ]; then
	[ -x "$IMPORTGATE_B" ] || die "IMPORTGATE_B not found at $IMPORTGATE_B"
	start_importgate "$IMPORTGATE_B" "$CPU_PROXY" "$DB_PORT" importgate-b "${WORKERS_B:-${WORKERS:-2}}"
	IGB_PORT=$IG_PORT IGB_PID=$IG_PID
fi
if [ -n "${IMPORTGATE_C:-}" ]; then
	[ -x "$IMPORTGATE_C" ] || die "IMPORTGATE_C not found at $IMPORTGATE_C"
	start_importgate "$IMPORTGATE_C" "$CPU_PROXY" "$DB_PORT" importgate-c "${WORKERS_C:-${WORKERS:-2}}"
	IGC_PORT=$IG_PORT IGC_PID=$IG_PID
fi
start_importgate "$IMPORTGATE" "$CPU_PROXY" "$DB_PORT" importgate "${WORKERS:-2}"

# --- runs --------------------------------------------------------------------------------
# one line per run: target test threads qps tps p95_ms errors proxy_cpu_s wall_s run db_cpu_s busy_cores
# (proxy and MariaDB CPU seconds used during the measured run; busy_cores: the whole machine's
# non-idle CPU time over the run's wall time, from /proc/stat, so what is left for sysbench and
# the kernel's own work is busy_cores * wall - proxy - MariaDB)
RESULTS=$WORKDIR/results.tsv
SLICE_ROWS=$WORKDIR/slices.tsv
: >"$RESULTS"
: >"$SLICE_ROWS"

# run_slice target port pid test threads run slice seconds warmup: one sysbench run of the
# target, after an uncounted warm-up run of `warmup` seconds (sysbench 1.0.20 has no
# --warmup-time); appends a row to SLICE_ROWS (target test threads run slice queries
# transactions time_s errors proxy_cpu_s wall_s db_cpu_s busy_s) and the run's latency
# histogram to the run's .hist file.
run_slice() {
	local target=$1 port=$2 pid=$3 test=$4 threads=$5 run=$6 slice=$7 secs=$8 warm=$9 out c0 c1 pcpu w0 w1 d0 d1 dcpu m0 m1
	out=$WORKDIR/$target-$test-$threads-$run.$slice.log
	if [ "$warm" -gt 0 ]; then
		$(pin "$CPU_CLIENT") sysbench "$test" "${SB_COMMON[@]}" --mysql-port="$port" \
			--threads="$threads" --time="$warm" --db-ps-mode="$PS_MODE" run >"$out.warmup" 2>&1 ||
			die "sysbench warm-up $test against $target failed: $out.warmup"
	fi
	c0=0 d0=0
	[ "$pid" = - ] || c0=$(cpu_s "$pid")
	[ -z "${DB_PID:-}" ] || d0=$(cpu_s "$DB_PID")
	m0=$(busy_s)
	w0=$(date +%s.%N)
	$(pin "$CPU_CLIENT") sysbench "$test" "${SB_COMMON[@]}" --mysql-port="$port" \
		--threads="$threads" --time="$secs" --histogram=on \
		--db-ps-mode="$PS_MODE" --report-interval=0 --percentile=95 run >"$out" 2>&1 ||
		die "sysbench $test against $target failed: $out"
	w1=$(date +%s.%N)
	m1=$(busy_s)
	dcpu=- pcpu=-
	[ -z "${DB_PID:-}" ] || { d1=$(cpu_s "$DB_PID"); dcpu=$(awk -v a="$d0" -v b="$d1" 'BEGIN { printf "%.2f", b - a }'); }
	[ "$pid" = - ] || { c1=$(cpu_s "$pid"); pcpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }'); }
	awk '/^ +[0-9.]+ \|/ { print $1 "\t" $NF }' "$out" >>"$WORKDIR/$target-$test-$threads-$run.hist"
	awk -v pre="$target	$test	$threads	$run	$slice" -v pcpu="$pcpu" -v dcpu="$dcpu" \
		-v wall="$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" \
		-v busy="$(awk -v a="$m0" -v b="$m1" 'BEGIN { printf "%.2f", b - a }')" '
		/transactions:/ { tx = $2 }
		/queries:/ && /per sec/ { q = $2 }
		/ignored errors:/ { errs = $3 }
		/total time:/ { t = $3; sub(/s$/, "", t) }
		END {
			if (q == "" || t == "") exit 1
			printf "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", pre, q, tx, t, errs + 0, pcpu, wall, dcpu, busy
		}' "$out" >>"$SLICE_ROWS" || die "cannot parse sysbench output $out"
}

# finish_run target test threads run: one row of RESULTS (target test threads qps tps p95_ms
# errors proxy_cpu_s wall_s run db_cpu_s busy_cores) from the run's slices: queries and
# transactions over the slices' summed time, p95 from their merged latency histograms, CPU and
# wall time summed.
finish_run() {
	local p95
	p95=$(sort -t'	' -k1,1g "$WORKDIR/$1-$2-$3-$4.hist" | awk -F'\t' '
		{ v[NR] = $1; c[NR] = $2; n += $2 }
		END { for (i = 1; i <= NR; i++) { s += c[i]; if (s >= 0.95 * n) { print v[i]; exit } } }')
	awk -F'\t' -v t="$1" -v test="$2" -v th="$3" -v run="$4" -v p95="$p95" '
		$1 == t && $2 == test && $3 == th && $4 == run {
			q += $6; tx += $7; secs += $8; errs += $9; wall += $11; busy += $13
			if ($10 == "-") pc = "-"; else if (pc != "-") pc += $10
			if ($12 == "-") dc = "-"; else if (dc != "-") dc += $12
		}
		END {
			if (secs <= 0 || p95 == "") exit 1
			printf "%s\t%s\t%s\t%.2f\t%.2f\t%s\t%d\t%s\t%.3f\t%s\t%s\t%.2f\n", t, test, th, q / secs, tx / secs, p95, errs,
				pc == "-" ? "-" : sprintf("%.2f", pc), wall, run, dc == "-" ? "-" : sprintf("%.2f", dc), busy / wall
		}' "$SLICE_ROWS" >>"$RESULTS" || die "no slices recorded for $1 $2 $3 run $4"
	log "$(tail -1 "$RESULTS")"
}

# The targets of a cell, MariaDB directly first, then the proxies; the proxies in the reverse
# order when run + slice is odd (with one slice: on even runs), so that what one target leaves
# behind for the next (InnoDB's purge and flushing after writes, the machine's caches) falls on
# each proxy alike, and each proxy follows the direct run equally often. With SLICES=k every
# target's run is cut into k slices of DURATION/k seconds taken in turn: a drift of the machine
# slower than a round of slices then falls on every target alike instead of on whichever ran
# during it. An even SLICES gives both proxy orders equally often within every run.
cell_targets() { # run slice
	local proxies=(haproxy importgate) rev=() i
	[ -z "${IMPORTGATE_B:-}" ] || proxies+=(importgate-b)
	[ -z "${IMPORTGATE_C:-}" ] || proxies+=(importgate-c)
	if [ $((($1 + $2) % 2)) -eq 1 ]; then
		for ((i = ${#proxies[@]} - 1; i >= 0; i--)); do rev+=("${proxies[i]}"); done
		proxies=("${rev[@]}")
	fi
	echo direct "${proxies[@]}"
}

target_addr() { # target -> "port pid"
	case $1 in
	direct) echo "$DB_PORT -" ;;
	haproxy) echo "$HAP_PORT $HAP_PID" ;;
	importgate) echo "$IG_PORT $IG_PID" ;;
	importgate-b) echo "$IGB_PORT $IGB_PID" ;;
	importgate-c) echo "$IGC_PORT $IGC_PID" ;;
	esac
}

run_cell() { # test threads run
	local s t warm secs=$((DURATION / SLICES)) addr
	for ((s = 1; s <= SLICES; s++)); do
		warm=$WARMUP
		[ "$s" -eq 1 ] || warm=$SLICE_WARMUP
		for t in $(cell_targets "$3" "$s"); do
			addr=$(target_addr "$t")
			run_slice "$t" ${addr% *} ${addr#* } "$1" "$2" "$3" "$s" "$secs" "$warm"
		done
	done
	for t in $(cell_targets "$3" 1); do finish_run "$t" "$1" "$2" "$3"; done
}

for ((run = 1; run <= RUNS; run++)); do
	for test in $TESTS; do
		for threads in $THREADS; do
			run_cell "$test" "$threads" "$run"
		done
	done
done
kill -0 "$IG_PID" 2>/dev/null || die "importgate died during the run; see $WORKDIR/importgate.log"
[ -z "${IMPORTGATE_B:-}" ] || kill -0 "$IGB_PID" 2>/dev/null || die "importgate-b died during the run; see $WORKDIR/importgate-b.log"
[ -z "${IMPORTGATE_C:-}" ] || kill -0 "$IGC_PID" 2>/dev/null || die "importgate-c died during the run; see $WORKDIR/importgate-c.log"
[ -z "$RAW_OUT" ] || cp "$RESULTS" "$RAW_OUT"

# --- report ------------------------------------------------------------------------------
IG_COMMIT=${IG_COMMIT:-$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)}
cat <<EOF

sysbench $(sysbench --version | awk '{print $2}'), MariaDB $DB_VERSION, $(haproxy -v | head -1 | awk '{print "HAProxy " $3}'), importgate $IG_COMMIT ($IMPORTGATE)
${TABLES} tables x ${TABLE_SIZE} rows, $RUNS interleaved run(s) per cell, $((DURATION / SLICES * SLICES))s per run in $SLICES slice(s) taken in turn with the other targets' (a ${WARMUP}s uncounted warm-up run before a cell's first slice, ${SLICE_WARMUP}s before each later one), --db-ps-mode=$PS_MODE, pinning: client=${CPU_CLIENT:-none} proxy=${CPU_PROXY:-none} db=${CPU_DB:-none}

EOF
# Per cell and target, the median over the runs of QPS, p95 and proxy CPU per query (each run's
# CPU per query first, then the median). The verdict is issue 18's target: QPS at or above
# HAProxy's and proxy CPU per query at or below HAProxy's, medians against medians.
awk -F'\t' '
	function median(list,   a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{
		k = $2 SUBSEP $3
		qps[$1, k] = qps[$1, k] " " $4; p95[$1, k] = p95[$1, k] " " $6; err[$1, k] += $7
		if ($8 != "-") cpu[$1, k] = cpu[$1, k] " " (1e6 * $8 / ($4 * $9))
		if ($11 != "" && $11 != "-") dbc[$1, k] = dbc[$1, k] " " (1e6 * $11 / ($4 * $9))
		if ($12 != "") busy[$1, k] = busy[$1, k] " " $12
		nrun[$1, k]++
		if (!(k in seen)) { seen[k] = 1; order[n++] = k }
	}
	END {
		print "| target | test | threads | runs | QPS (median) | QPS % of HAProxy | QPS / direct | p95 ms | p95 added over direct, ms | proxy CPU us/query | MariaDB CPU us/query | machine busy, cores | errors | verdict |"
		print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
		nt = split("direct haproxy importgate importgate-b importgate-c", tg, " ")
		for (i = 0; i < n; i++) {
			k = order[i]; split(k, kk, SUBSEP)
			hq = median(qps["haproxy", k]); dq = median(qps["direct", k]); dp = median(p95["direct", k])
			hc = ("haproxy", k) in cpu ? median(cpu["haproxy", k]) : 0
			for (j = 1; j <= nt; j++) {
				t = tg[j]
				if (!((t, k) in qps)) continue
				q = median(qps[t, k]); p = median(p95[t, k])
				pct = hq > 0 ? sprintf("%.1f%%", 100 * q / hq) : "-"
				frac = dq > 0 ? sprintf("%.2f", q / dq) : "-"
				addtxt = t == "direct" ? "-" : sprintf("%+.2f", p - dp)
				c = (t, k) in cpu ? median(cpu[t, k]) : -1
				cpuq = c < 0 ? "-" : sprintf("%.1f", c)
				dbq = (t, k) in dbc ? sprintf("%.1f", median(dbc[t, k])) : "-"
				bz = (t, k) in busy ? sprintf("%.2f", median(busy[t, k])) : "-"
				verdict = ""
				if (t ~ /^importgate/)
					verdict = (q >= hq ? "QPS met" : "QPS NOT met") ", " (c >= 0 && c <= hc ? "CPU met" : "CPU NOT met")
				printf "| %s | %s | %s | %d | %.0f | %s | %s | %.2f | %s | %s | %s | %s | %d | %s |\n", t, kk[1], kk[2], nrun[t, k], q, pct, frac, p, addtxt, cpuq, dbq, bz, err[t, k], verdict
			}
		}
	}' "$RESULTS"
# Run by run: the gateway's QPS as a percentage of HAProxy's in the same run, and its CPU per
# query as a percentage of HAProxy's, so the spread between runs of a cell can be read beside
# the medians above (with SLICES > 1 each run's targets took turns slice by slice).
if [ "$RUNS" -gt 1 ]; then
	echo
	awk -F'\t' '
		$1 == "haproxy" || $1 == "importgate" {
			k = $2 " " $3; q[$1, k, $10] = $4; c[$1, k, $10] = $8 == "-" ? "" : 1e6 * $8 / ($4 * $9)
			if (!(k in seen)) { seen[k] = 1; order[n++] = k }
			if ($10 > runs) runs = $10
		}
		END {
			printf "| cell |"; for (r = 1; r <= runs; r++) printf " run %d |", r; print " lowest | highest | gateway CPU/query as % of HAProxy\x27s, per run |"
			printf "|---|"; for (r = 1; r <= runs; r++) printf "---:|"; print "---:|---:|---|"
			for (i = 0; i < n; i++) {
				k = order[i]; lo = 1e9; hi = 0; cp = ""
				printf "| %s |", k
				for (r = 1; r <= runs; r++) {
					if (q["haproxy", k, r] <= 0) { printf " - |"; continue }
					p = 100 * q["importgate", k, r] / q["haproxy", k, r]
					if (p < lo) lo = p; if (p > hi) hi = p
					printf " %.1f |", p
					hc = c["haproxy", k, r]; gc = c["importgate", k, r]
					cp = cp (cp == "" ? "" : ", ") (hc > 0 && gc != "" ? sprintf("%.0f", 100 * gc / hc) : "-")
				}
				printf " %.1f | %.1f | %s |\n", lo, hi, cp
			}
		}' "$RESULTS"
fi
echo
echo "raw results and logs: $WORKDIR"
