#!/usr/bin/env bash
# Quick start: installs what is missing, builds importgate, starts a local MariaDB (standing in
# for TiDB) and a local etcd (standing in for PD's) in .run/, and runs the gateway on
# 127.0.0.1:4000 in the foreground. Ctrl-C stops everything it started.
#
# By default it sets up a demo (deploy/demo/): a sample log backup task (pitr-shop, shop.*) and
# a sample changefeed (cf-dw, dw.*) written into etcd in TiDB's own encodings, sample databases,
# a small CSV and a config with a few rules, and prints a walkthrough to paste into another
# terminal. tests/integration/test_quickstart.py runs that walkthrough.
#
#   --no-demo   empty etcd, no sample data, conf/importgate.yaml
# Environment (defaults in brackets), for running it beside other things:
#   IG_QS_PORT [4000] gateway   IG_QS_BACKEND_PORT [4001] MariaDB   IG_QS_ADMIN_PORT [10090]
#   IG_QS_ETCD_PORT [2379]      IG_QS_ETCD_PEER_PORT [2380]         IG_QS_RELAY_PORT [4002]
#   IG_QS_RUN [.run]  where the data, logs and config live
#   IG_QS_BIN         an importgate binary to use: skips installing and building
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=1
for a in "$@"; do
	case $a in
	--no-demo) DEMO=0 ;;
	*) echo "usage: $0 [--no-demo]" >&2; exit 2 ;;
	esac
done
PORT=${IG_QS_PORT:-4000}
BACKEND_PORT=${IG_QS_BACKEND_PORT:-4001}
RELAY_PORT=${IG_QS_RELAY_PORT:-4002}
ADMIN_PORT=${IG_QS_ADMIN_PORT:-10090}
ETCD_PORT=${IG_QS_ETCD_PORT:-2379}
ETCD_PEER_PORT=${IG_QS_ETCD_PEER_PORT:-2380}
RUN=$(mkdir -p "${IG_QS_RUN:-$ROOT/.run}" && cd "${IG_QS_RUN:-$ROOT/.run}" && pwd)
ETCDCTL=(env ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$ETCD_PORT")

# fail WHAT [LOG]: says which step failed, shows its output, and stops (the trap cleans up).
fail() {
	if [ -n "${2:-}" ] && [ -f "$2" ]; then
		echo "---- last lines of $2" >&2
		tail -n 40 "$2" >&2
		echo "----" >&2
	fi
	echo "quickstart: FAILED: $1" >&2
	exit 1
}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build
if [ -n "${IG_QS_BIN:-}" ]; then
	BIN=$IG_QS_BIN
else
	./deploy/install-deps.sh || fail "installing dependencies: deploy/install-deps.sh (its output is above)"
	if [ ! -f build/build.ninja ]; then
		meson setup build -Dbuildtype=release >"$RUN/build.log" 2>&1 ||
			{ bash tests/check-deps.sh 2>&1 | grep -v '^ok ' >>"$RUN/build.log" || true
			  fail "meson setup build: a dependency missing? (the check of deploy/install-deps.sh is at the end)" "$RUN/build.log"; }
	fi
	ninja -C build >"$RUN/build.log" 2>&1 || fail "building: ninja -C build" "$RUN/build.log"
	BIN=build/proxy/importgate
	echo "built: $BIN"
fi

user_opt=()
[ "$(id -u)" -eq 0 ] && user_opt=(--user=root)

# ---- MariaDB: the local stand-in for TiDB (user 'app', password 'app', database 'test').
if [ ! -d "$RUN/mariadb/mysql" ]; then
	rm -rf "$RUN/mariadb"
	mariadb-install-db --no-defaults --datadir="$RUN/mariadb" --auth-root-authentication-method=normal \
		"${user_opt[@]}" >"$RUN/mariadb-install.log" 2>&1 || fail "mariadb-install-db" "$RUN/mariadb-install.log"
fi
mariadbd --no-defaults --datadir="$RUN/mariadb" --port="$BACKEND_PORT" --bind-address=127.0.0.1 \
	--socket="$RUN/mariadb.sock" --pid-file="$RUN/mariadb.pid" --local-infile=1 --skip-log-bin \
	--log-error="$RUN/mariadb.log" "${user_opt[@]}" >>"$RUN/mariadb.log" 2>&1 &
pids+=($!)
sql() { mariadb --no-defaults -S "$RUN/mariadb.sock" -uroot "$@"; }
for _ in $(seq 150); do sql -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
sql -e 'SELECT 1' >/dev/null 2>&1 || fail "MariaDB did not start on 127.0.0.1:$BACKEND_PORT" "$RUN/mariadb.log"
sql -e "DELETE FROM mysql.global_priv WHERE User=''; CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app';
	GRANT ALL ON *.* TO 'app'@'%'; CREATE DATABASE IF NOT EXISTS test; FLUSH PRIVILEGES;" ||
	fail "creating the user app in MariaDB"

# ---- etcd: where PD keeps log backup tasks and changefeeds.
etcd --name quickstart --data-dir "$RUN/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
	--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-cluster "quickstart=http://127.0.0.1:$ETCD_PEER_PORT" >"$RUN/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 || fail "etcd did not start on 127.0.0.1:$ETCD_PORT" "$RUN/etcd.log"
"${ETCDCTL[@]}" del --prefix /tidb/ >/dev/null || fail "clearing /tidb/ in the local etcd"

BACKEND=$BACKEND_PORT
if [ $DEMO = 1 ]; then
	# The sample cluster state, sample data and the dialect relay (deploy/demo/).
	grep -v '^#' deploy/demo/cluster-state.txt | while read -r key file; do
		[ -n "$key" ] || continue
		"${ETCDCTL[@]}" put "$key" <"deploy/demo/$file" >/dev/null || fail "writing $key into etcd"
	done
	sql <deploy/demo/demo.sql || fail "creating the sample databases (deploy/demo/demo.sql)"
	sql -e "TRUNCATE shop.orders" || fail "emptying shop.orders"
	mkdir -p "$RUN/demo"
	: >"$RUN/audit.jsonl"  # the walkthrough's audit lines are this run's
	cp deploy/demo/orders.csv "$RUN/demo/orders.csv"
	chmod 0755 "$RUN/demo" && chmod 0644 "$RUN/demo/orders.csv"
	/usr/bin/python3 deploy/demo/mariadb-dialect-relay.py "$RELAY_PORT" "$BACKEND_PORT" >"$RUN/relay.log" 2>&1 &
	pids+=($!)
	BACKEND=$RELAY_PORT
	sed -e "s#@RUN@#$RUN#g" -e "s#@PORT@#$PORT#g" -e "s#@BACKEND_PORT@#$BACKEND#g" \
	    -e "s#@ETCD_PORT@#$ETCD_PORT#g" -e "s#@ADMIN_PORT@#$ADMIN_PORT#g" \
	    deploy/demo/importgate-demo.yaml >"$RUN/importgate.yaml"
else
	sed -e "s#/var/log/importgate/audit.jsonl#$RUN/audit.jsonl#" \
	    -e "s#/var/lib/importgate/obligations.log#$RUN/obligations.log#" \
	    -e "s#^listen: 127.0.0.1:4000#listen: 127.0.0.1:$PORT#" \
	    -e "s#servers: \[127.0.0.1:4001\]#servers: [127.0.0.1:$BACKEND]#" \
	    -e "s#pd: \[http://127.0.0.1:2379\]#pd: [http://127.0.0.1:$ETCD_PORT]#" \
	    -e "s#listen: 127.0.0.1:10090#listen: 127.0.0.1:$ADMIN_PORT#" \
	    conf/importgate.yaml >"$RUN/importgate.yaml"
fi

# ---- the gateway
"$BIN" -c "$RUN/importgate.yaml" --check-config >"$RUN/check-config.log" 2>&1 ||
	fail "the config $RUN/importgate.yaml" "$RUN/check-config.log"
"$BIN" -c "$RUN/importgate.yaml" 2> >(tee "$RUN/importgate.log" >&2) &
gw=$!
pids+=("$gw")
for _ in $(seq 150); do
	kill -0 $gw 2>/dev/null || fail "importgate exited at start (its log is above)"
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
	sleep 0.2
done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || fail "importgate does not accept on 127.0.0.1:$PORT"

M="mariadb -h 127.0.0.1 -P $PORT"
CSV=$RUN/demo/orders.csv
IMPORT="IMPORT INTO orders FROM '$CSV' WITH LINES_TERMINATED_BY='\\n'"
cat <<MSG

importgate is running on 127.0.0.1:$PORT (backend MariaDB 127.0.0.1:$BACKEND_PORT, etcd 127.0.0.1:$ETCD_PORT,
admin API 127.0.0.1:$ADMIN_PORT). Connect with:   $M -u app -papp test
Config in use: $RUN/importgate.yaml      Stop: Ctrl-C
MSG
if [ $DEMO = 1 ]; then
	cat <<MSG

Demo. The local etcd holds a log backup task "pitr-shop" covering shop.* and a changefeed
"cf-dw" covering dw.* (deploy/demo/, in TiDB's own encodings). In another terminal:

1. Ask what an import into staging.events (covered by nothing) would get, without running
   it. The reason names what the gateway sees in the cluster; TiDB alone would refuse the
   import because they exist, the gateway adds WITH DISABLE_PRECHECK:
  \$ curl -s -X POST 127.0.0.1:$ADMIN_PORT/api/v1/explain -d @$ROOT/deploy/demo/explain-staging.json

2. An import into a covered table is refused, with the reason:
  \$ $M -u app -papp shop -e "$IMPORT"

3. The same import by the user 'loader', whose rule says log_backup: logical: the gateway
   rewrites it into LOAD DATA, which log backup records, and the CSV's rows arrive:
  \$ $M -u loader -ploader shop -e "$IMPORT"
  \$ $M -u app -papp -e "SELECT * FROM shop.orders"

4. The audit log: the decision for each import (the refusal; the rewrite with its LOAD DATA
   text) and the logical import's result:
  \$ grep -h import. $RUN/audit.jsonl

(MariaDB has no FIELDS DEFINED NULL BY, which TiDB's LOAD DATA needs; the demo's
deploy/demo/mariadb-dialect-relay.py deletes that one clause on the way to MariaDB.)
MSG
fi
echo
echo "quickstart: ready"
wait $gw
