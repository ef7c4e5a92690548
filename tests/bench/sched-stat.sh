#!/bin/bash
# sched-stat.sh - what each proxy asks of the kernel per relayed query: system calls by kind,
# the wake-ups it causes, its context switches (voluntary: it slept in epoll_wait; involuntary:
# it was preempted) and its CPU time, MariaDB's system calls and switches behind it, the
# client's (sysbench's) and the TCP segments on loopback (nstat), for one sysbench test and
# thread count, the proxies taken
# in turn RUNS times. Counted with `perf stat` on tracepoints (no hardware counters needed) and
# /proc/PID/task/*/status. Where run-sysbench.sh shows the gateway short of HAProxy, this shows
# whether it is by more work per query or by how the scheduler treats it (docs/BENCHMARKS.md 1.18).
#
# Environment (defaults in brackets):
#   IMPORTGATE  gateway binary [/tmp/build-bench/proxy/importgate]   WORKERS  its workers [2]
#   IMPORTGATE_B  a second gateway binary, measured as "importgate-b" after the first [unset]
#   TEST [oltp_read_only]  THREADS [64]  DURATION [10]  RUNS [2]
#   TABLES, TABLE_SIZE [4, 10000]   WORKDIR [mktemp]
# Needs perf (linux-perf), sysbench, haproxy, mariadb-server; run as root (tracepoints).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
IMPORTGATE=${IMPORTGATE:-/tmp/build-bench/proxy/importgate}
TEST=${TEST:-oltp_read_only}
THREADS=${THREADS:-64}
DURATION=${DURATION:-10}
RUNS=${RUNS:-2}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
SB_USER=sbtest
SB_PASS=sbpass
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/ig-schedstat.XXXXXX)}

. "$HERE/lib.sh"

for tool in perf sysbench haproxy mariadbd; do
	command -v "$tool" >/dev/null || die "$tool not found (deploy/install-deps.sh --bench; perf: apt-get install linux-perf)"
done
[ -x "$IMPORTGATE" ] || die "importgate binary not found at $IMPORTGATE (set IMPORTGATE)"
IMPORTGATE_B=${IMPORTGATE_B:-}
[ -z "$IMPORTGATE_B" ] || [ -x "$IMPORTGATE_B" ] || die "IMPORTGATE_B not found at $IMPORTGATE_B"

EVENTS=sched:sched_wakeup,sched:sched_switch,irq_vectors:reschedule_entry
for sc in read write recvfrom sendto readv writev epoll_wait epoll_ctl; do
	EVENTS+=,syscalls:sys_enter_$sc
done
# MariaDB's side, behind each proxy: how often it found the next statement not there yet
# (a read that returned EAGAIN, then poll) and how it was scheduled.
DB_EVENTS=sched:sched_switch,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_poll
DB_EVENTS+=,syscalls:sys_enter_write,syscalls:sys_enter_sendto,syscalls:sys_enter_futex
# The client's side: whether it reads an answer in more pieces, or sleeps more, behind a proxy.
SB_EVENTS=sched:sched_switch,syscalls:sys_enter_poll,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto
# TCP counters per query (nstat: the whole network namespace, both legs of the proxy)
TCP_COUNTERS="TcpOutSegs TcpExtDelayedACKs TcpExtTCPPureAcks TcpExtTCPHPHits TcpRetransSegs"
command -v nstat >/dev/null || die "nstat not found (apt-get install iproute2)"
perf stat -x, -e "$EVENTS,$DB_EVENTS,$SB_EVENTS" -- true >/dev/null 2>&1 ||
	die "perf cannot count the tracepoints ($EVENTS); run as root with tracefs mounted"

PIDS=()
trap stop_started EXIT

start_mariadb ""
prepare_sbtest --db-ps-mode=disable
start_haproxy "" "$DB_PORT"
start_importgate "$IMPORTGATE" "" "$DB_PORT" importgate "${WORKERS:-2}"
GATES="importgate"
if [ -n "$IMPORTGATE_B" ]; then
	IG_A_PORT=$IG_PORT IG_A_PID=$IG_PID
	start_importgate "$IMPORTGATE_B" "" "$DB_PORT" importgate-b "${WORKERS:-2}"
	IG_B_PORT=$IG_PORT IG_B_PID=$IG_PID IG_PORT=$IG_A_PORT IG_PID=$IG_A_PID
	GATES="importgate importgate-b"
fi

# voluntary and involuntary context switches of all of a process's threads
switches() {
	cat /proc/"$1"/task/*/status 2>/dev/null |
		awk '/^voluntary_ctxt/ { v += $2 } /^nonvoluntary_ctxt/ { n += $2 } END { print v + 0, n + 0 }'
}

# perf stat's CSV counts as rows "target run PREFIXname count-per-query" (uses t, r and q
# of measure)
per_query() { # file prefix
	awk -F, -v t="$t" -v r="$r" -v q="$q" -v p="$2" \
		'$1 ~ /^[0-9]+$/ { n = $3; sub(/^[a-z_]+:(sys_enter_)?/, "", n); print t, r, p n, $1 / q }' "$1"
}

# One measured run of target $1 (run $2): one line "target run name value-per-query" per count.
measure() {
	local t=$1 r=$2 port pid out q s0 s1 c0 c1 d0 d1
	case $t in
	haproxy) port=$HAP_PORT pid=$HAP_PID ;;
	importgate) port=$IG_PORT pid=$IG_PID ;;
	importgate-b) port=$IG_B_PORT pid=$IG_B_PID ;;
	esac
	out=$WORKDIR/$t-$r
	sysbench "$TEST" "${SB[@]}" --mysql-port="$port" --threads="$THREADS" --time=2 run >/dev/null 2>&1
	s0=$(switches "$pid")
	c0=$(cpu_s "$pid")
	d0=$(cpu_s "$DB_PID")
	perf stat -x, -e "$EVENTS" -p "$pid" -o "$out.perf" -- sleep "$DURATION" &
	local pp=$!
	perf stat -x, -e "$DB_EVENTS" -p "$DB_PID" -o "$out.db.perf" -- sleep "$DURATION" &
	local dp=$!
	nstat -n >/dev/null
	perf stat -x, -e "$SB_EVENTS" -o "$out.sb.perf" -- \
		sysbench "$TEST" "${SB[@]}" --mysql-port="$port" --threads="$THREADS" --time="$DURATION" run >"$out.sb" 2>&1 ||
		die "sysbench failed: $out.sb"
	nstat >"$out.nstat" 2>/dev/null || die "nstat failed"
	wait "$pp" || die "perf stat failed: $out.perf"
	wait "$dp" || die "perf stat failed: $out.db.perf"
	s1=$(switches "$pid")
	c1=$(cpu_s "$pid")
	d1=$(cpu_s "$DB_PID")
	q=$(awk '/queries:/ { print $2; exit }' "$out.sb")
	[ -n "$q" ] && [ "$q" -gt 0 ] || die "no queries in $out.sb"
	per_query "$out.perf" ""
	per_query "$out.db.perf" mariadbd_
	per_query "$out.sb.perf" sysbench_
	awk -v t="$t" -v r="$r" -v q="$q" -v want="$TCP_COUNTERS" 'BEGIN { split(want, w, " "); for (i in w) c[w[i]] = 0 }
		$1 in c { c[$1] = $2 } END { for (k in c) print t, r, "tcp_" k, c[k] / q }' "$out.nstat"
	echo "$s0 $s1" | awk -v t="$t" -v r="$r" -v q="$q" '{ print t, r, "voluntary_switches", ($3 - $1) / q; print t, r, "involuntary_switches", ($4 - $2) / q }'
	echo "$t $r cpu_us $(awk -v a="$c0" -v b="$c1" -v q="$q" 'BEGIN { print (b - a) * 1e6 / q }')"
	echo "$t $r mariadbd_cpu_us $(awk -v a="$d0" -v b="$d1" -v q="$q" 'BEGIN { print (b - a) * 1e6 / q }')"
	echo "$t $r qps $(awk '/queries:/ { gsub(/[(]/, "", $3); print $3; exit }' "$out.sb")"
}

for r in $(seq 1 "$RUNS"); do
	order="haproxy $GATES"
	[ $((r % 2)) -eq 0 ] && order="$(echo "$GATES" | awk '{ for (i = NF; i >= 1; i--) printf "%s ", $i }')haproxy"
	for t in $order; do
		log "run $r: $t"
		measure "$t" "$r"
	done
done >"$WORKDIR/rows.txt"

echo "$TEST, $THREADS threads, $RUNS run(s) of ${DURATION}s per proxy; per relayed query (qps: queries/s), median of the runs"
echo
awk '
	{ k = $3; v[$1, k, ++n[$1, k]] = $4; keys[k] = 1 }
	function med(t, k,   m, i, j, a, x) {
		m = n[t, k]; if (m == 0) return "-"
		for (i = 1; i <= m; i++) a[i] = v[t, k, i]
		for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
		return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	END {
		b = ("importgate-b", "qps") in n
		print "| per query | haproxy | importgate |" (b ? " importgate-b |" : "")
		print "|---|---:|---:|" (b ? "---:|" : "")
		for (k in keys) {
			printf "| %s | %.3f | %.3f |", k, med("haproxy", k), med("importgate", k)
			if (b) printf " %.3f |", med("importgate-b", k)
			printf "\n"
		}
	}' "$WORKDIR/rows.txt" | { read -r h; read -r s; echo "$h"; echo "$s"; sort; }
echo
echo "raw rows: $WORKDIR/rows.txt"
