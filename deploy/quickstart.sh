#!/usr/bin/env bash
# Quick start: installs what is missing, builds importgate, starts a local MariaDB
# (the backend, 127.0.0.1:4001) and a local etcd (the cluster state, 127.0.0.1:2379) in
# .run/, and runs the gateway on 127.0.0.1:4000 in the foreground. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/.run
mkdir -p "$RUN"

./deploy/install-deps.sh
if [ ! -f build/build.ninja ]; then
	meson setup build -Dbuildtype=release >/dev/null
fi
ninja -C build >/dev/null
echo "built: build/proxy/importgate"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

user_opt=()
[ "$(id -u)" -eq 0 ] && user_opt=(--user=root)

# MariaDB: the local stand-in for TiDB (a user 'app' with password 'app', database 'test').
if [ ! -d "$RUN/mariadb/mysql" ]; then
	mariadb-install-db --no-defaults --datadir="$RUN/mariadb" --auth-root-authentication-method=normal \
		"${user_opt[@]}" >"$RUN/mariadb-install.log" 2>&1
	fresh=1
fi
mariadbd --no-defaults --datadir="$RUN/mariadb" --port=4001 --bind-address=127.0.0.1 \
	--socket="$RUN/mariadb.sock" --local-infile=1 "${user_opt[@]}" >"$RUN/mariadb.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do mariadb -S "$RUN/mariadb.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
if [ "${fresh:-0}" = 1 ]; then
	mariadb -S "$RUN/mariadb.sock" -uroot -e "DELETE FROM mysql.global_priv WHERE User='';
		CREATE USER 'app'@'%' IDENTIFIED BY 'app'; GRANT ALL ON *.* TO 'app'@'%';
		CREATE DATABASE IF NOT EXISTS test; FLUSH PRIVILEGES;"
fi

# etcd: where PD keeps log backup tasks and changefeeds (empty here: nothing is covered).
etcd --name quickstart --data-dir "$RUN/etcd" --listen-client-urls http://127.0.0.1:2379 \
	--advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
	--initial-advertise-peer-urls http://127.0.0.1:2380 \
	--initial-cluster quickstart=http://127.0.0.1:2380 >"$RUN/etcd.log" 2>&1 &
pids+=($!)

sed -e "s#/var/log/importgate/audit.jsonl#$RUN/audit.jsonl#" \
    -e "s#/var/lib/importgate/obligations.log#$RUN/obligations.log#" \
    conf/importgate.yaml >"$RUN/importgate.yaml"

cat <<MSG

importgate is starting on 127.0.0.1:4000 (backend MariaDB 127.0.0.1:4001, etcd 127.0.0.1:2379).
Connect with:   mariadb -h 127.0.0.1 -P 4000 -u app -papp test
Config in use:  $RUN/importgate.yaml      Stop: Ctrl-C

MSG
build/proxy/importgate -c "$RUN/importgate.yaml" &
pids+=($!)
wait "${pids[-1]}"
