# lib.sh - shell helpers shared by the benchmark and soak scripts in tests/bench (sourced, not
# run): free loopback ports, waiting for a port, a throw-away MariaDB with a sysbench user, and
# an importgate in front of it. Callers set WORKDIR, SB_USER, SB_PASS and keep started PIDs in
# the PIDS array (their EXIT trap stops them).

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
log() { echo "$(basename "$0"): $*" >&2; }

# The EXIT trap of a script that starts things (`PIDS=(); trap stop_started EXIT`): stops
# every pid in PIDS and waits for them; the logs and results stay, the MariaDB datadir
# (~150 MB) goes unless KEEP_DB is set (a MariaDB of MYSQL_PORT's was not made here).
stop_started() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -z "${MYSQL_PORT:-}" ] && [ -z "${KEEP_DB:-}" ]; then rm -rf "$WORKDIR/mariadb"; fi
}

# taskset prefix for a CPU list, or nothing
pin() { if [ -n "$1" ]; then echo "taskset -c $1"; fi; }

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}

# CPU seconds the whole machine has spent not idle so far (all CPUs, from /proc/stat)
busy_s() {
	awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat
}

# CPU seconds (user+system) a process has used so far
cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

# start_mariadb CPU_LIST: a fresh MariaDB in $WORKDIR/mariadb on a free port, with the user
# $SB_USER; sets DB_PORT and DB_PID and appends its pid to PIDS.
start_mariadb() {
	local d=$WORKDIR/mariadb
	DB_PORT=$(free_port)
	mkdir -p "$d"
	mariadb-install-db --no-defaults --datadir="$d" --auth-root-authentication-method=normal \
		--user=root >"$WORKDIR/install-db.log" 2>&1 || die "mariadb-install-db failed: $WORKDIR/install-db.log"
	$(pin "$1") mariadbd --no-defaults --datadir="$d" --port="$DB_PORT" --bind-address=127.0.0.1 \
		--socket="$d/sock" --user=root --max-connections=8000 --innodb-buffer-pool-size=512M \
		--skip-log-bin --log-error="$WORKDIR/mariadb.err" &
	DB_PID=$!
	PIDS+=($DB_PID)
	wait_port "$DB_PORT" 60 || die "MariaDB did not start; see $WORKDIR/mariadb.err"
	mariadb --no-defaults -S "$d/sock" -uroot <<-SQL
		DELETE FROM mysql.global_priv WHERE User='';
		FLUSH PRIVILEGES;
		CREATE USER '$SB_USER'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('$SB_PASS');
		GRANT ALL PRIVILEGES ON *.* TO '$SB_USER'@'%';
	SQL
	log "MariaDB on 127.0.0.1:$DB_PORT (datadir $d)"
}

# prepare_sbtest [SYSBENCH_ARG...]: a fresh database sbtest on the MariaDB of start_mariadb, with
# TABLES tables of TABLE_SIZE rows; sets SB, sysbench's connection arguments without the port
# (the extra arguments given, e.g. --db-ps-mode=disable, appended).
prepare_sbtest() {
	mariadb --no-defaults -h127.0.0.1 -P"$DB_PORT" -u"$SB_USER" -p"$SB_PASS" \
		-e 'DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest'
	SB=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-user="$SB_USER" --mysql-password="$SB_PASS"
		--mysql-db=sbtest --tables="$TABLES" --table-size="$TABLE_SIZE" "$@")
	sysbench oltp_common "${SB[@]}" --mysql-port="$DB_PORT" prepare >"$WORKDIR/prepare.log" 2>&1 ||
		die "sysbench prepare failed: $WORKDIR/prepare.log"
}

# start_haproxy CPU_LIST DB_PORT: HAProxy (tests/bench/haproxy.cfg) in front of
# 127.0.0.1:DB_PORT; sets HAP_PORT and HAP_PID and appends the pid to PIDS.
start_haproxy() {
	HAP_PORT=$(free_port)
	HAP_LISTEN=127.0.0.1:$HAP_PORT HAP_BACKEND=127.0.0.1:$2 HAP_THREADS=${HAP_THREADS:-2} \
		$(pin "$1") haproxy -db -f "$(dirname "${BASH_SOURCE[0]}")/haproxy.cfg" >"$WORKDIR/haproxy.log" 2>&1 &
	HAP_PID=$!
	PIDS+=($HAP_PID)
	wait_port "$HAP_PORT" 10 || die "HAProxy did not start; see $WORKDIR/haproxy.log"
}

# start_importgate BINARY CPU_LIST DB_PORT [NAME [WORKERS]]: importgate (WORKERS workers, 2 if
# unset; no PD) in front of
# 127.0.0.1:DB_PORT; sets IG_PORT and IG_PID and appends the pid to PIDS. NAME (default
# importgate) names its config, log, audit and obligation files in WORKDIR.
start_importgate() {
	local name=${4:-importgate} workers=${5:-2}
	IG_PORT=$(free_port)
	cat >"$WORKDIR/$name.yaml" <<-YAML
		listen: 127.0.0.1:$IG_PORT
		workers: $workers
		backends:
		  servers: [127.0.0.1:$3]
		cluster:
		  pd: []
		audit:
		  path: $WORKDIR/$name-audit.jsonl
		obligations:
		  file: $WORKDIR/$name-obligations.log
		admin: {listen: 127.0.0.1:0}
		log: {level: warn}
	YAML
	$(pin "$2") "$1" -c "$WORKDIR/$name.yaml" >"$WORKDIR/$name.log" 2>&1 &
	IG_PID=$!
	PIDS+=($IG_PID)
	wait_port "$IG_PORT" 10 || die "importgate did not start; see $WORKDIR/$name.log"
}
