#!/usr/bin/env bash
# Installs the Debian 12 packages importgate needs to build, test and benchmark, if any
# are missing. Idempotent; needs root or sudo only when something is missing.
#   --bench   also the benchmark tools
#   --build   only what building the gateway needs (the Dockerfile's build stage)
#   --list    prints the package names, one a line, and installs nothing
#             (tests/check-deps.sh checks the meson files' dependencies against it)
# The lists are the packages named explicitly; tests/check-deps.sh fails the suite when the
# build or the tests need a file that none of them provides.
set -euo pipefail

BUILD="meson ninja-build pkg-config gcc g++ clang libclang-rt-14-dev libuv1-dev libssl-dev
libmariadb-dev libpcre2-dev libcurl4-openssl-dev libjansson-dev libyaml-dev libcmocka-dev
libsystemd-dev libhttp-parser-dev libtomlplusplus-dev zlib1g-dev libzstd-dev"
RUN="mariadb-server mariadb-client etcd-server etcd-client openssl curl"
TEST="python3 python3-pytest python3-pytest-xdist python3-pymysql python3-cryptography
python3-prometheus-client python3-yaml cppcheck clang-tidy socat iproute2
python3-kubernetes systemd logrotate man-db groff-base mariadb-test prometheus"
BENCH="sysbench haproxy"

want="$BUILD $RUN $TEST"
list=0
for a in "$@"; do
	case $a in
	--bench) want="$want $BENCH" ;;
	--build) want="$BUILD" ;;
	--list) list=1 ;;
	*) echo "usage: $0 [--bench] [--build] [--list]" >&2; exit 2 ;;
	esac
done
if [ $list = 1 ]; then
	printf '%s\n' $want
	exit 0
fi

missing=()
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# On failure apt's own output says why (a package name, a mirror, no sudo): keep it.
log=$(mktemp)
remove=("$log")
# Package scripts must not start services on the host (MariaDB is started per test run).
if [ "$(id -u)" -eq 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	remove+=(/usr/sbin/policy-rc.d)
fi
trap 'rm -f "${remove[@]}"' EXIT
if ! $SUDO apt-get update -qq >"$log" 2>&1 ||
   ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
	cat "$log" >&2
	echo "install-deps.sh: installing ${missing[*]} failed (apt-get output above)" >&2
	exit 1
fi
