#!/usr/bin/env bash
# Installs the Debian 12 packages importgate needs to build, test and benchmark, if any
# are missing. Idempotent; needs root or sudo only when something is missing.
set -euo pipefail

BUILD="meson ninja-build pkg-config gcc clang libclang-rt-14-dev libuv1-dev libssl-dev
libmariadb-dev libpcre2-dev libcurl4-openssl-dev libjansson-dev libyaml-dev libcmocka-dev
libsystemd-dev libhttp-parser-dev"
RUN="mariadb-server mariadb-client etcd-server etcd-client openssl curl"
TEST="python3 python3-pytest python3-pymysql python3-cryptography python3-prometheus-client
cppcheck clang-tidy socat iproute2"
BENCH="sysbench haproxy"

want="$BUILD $RUN $TEST"
[ "${1:-}" = "--bench" ] && want="$want $BENCH"

missing=()
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start services on the host (MariaDB is started per test run).
if [ "$(id -u)" -eq 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
