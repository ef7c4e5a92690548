#!/usr/bin/env bash
# Checks that deploy/install-deps.sh installs everything the build and the suite need, so a
# machine where something was installed by hand cannot hide a missing install step (issue 14):
#   - every dependency('x') in the meson files: its pkg-config file (pkg-config
#     --variable=pcfiledir) is owned (dpkg -S) by a package install-deps.sh names;
#   - every find_library('x'): the lib<x>.so the compiler finds, likewise;
#   - every find_program('x'): the program on PATH, likewise;
#   - every third-party Python module the tests import (not stdlib, not a file of the
#     repository) and the pytest plugins tests/run.sh uses (xdist): the module's file,
#     likewise, as /usr/bin/python3 sees it;
#   - the programs the quick start, the harness and tests/run.sh run (listed below).
# Counted as installed by it: the packages it names and what they depend on (Depends and
# Pre-Depends, followed through virtual packages; it installs without Recommends). A package
# present only because someone installed it by hand is reported.
# Prints one line per item ("ok" or "MISSING ... why") and exits 1 when anything is missing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=/usr/bin/python3

# Programs run by deploy/quickstart.sh, tests/run.sh, tests/lint.sh and tests/integration (the
# packaging checks run systemd-analyze, logrotate, man and groff; the transparency test
# MariaDB's mysql_client_test; the metrics checks promtool).
PROGRAMS="meson ninja pkg-config gcc clang mariadb-install-db mariadbd mariadb etcd curl openssl
cppcheck clang-tidy socat ip systemd-analyze logrotate man groff mysql_client_test promtool"

# IG_DEPS_LIST: a file of package names to check against instead (the test of this check)
if [ -n "${IG_DEPS_LIST:-}" ]; then names=$(cat "$IG_DEPS_LIST"); else names=$(./deploy/install-deps.sh --list); fi
[ -n "$names" ] || { echo "MISSING: deploy/install-deps.sh --list printed nothing"; exit 1; }
declare -A listed=()
# The closure over the installed packages' Depends and Pre-Depends.
for p in $(dpkg-query -W -f='${Package}\t${Provides}\t${Depends}, ${Pre-Depends}\n' |
	$PY -c '
import re, sys
todo = sys.argv[1:]
deps, provided = {}, {}
for line in sys.stdin:
    pkg, provides, dep = line.rstrip("\n").split("\t")
    deps[pkg] = [n for d in dep.split(",") for alt in d.split("|")
                 if (n := re.sub(r"[ :(].*", "", alt.strip()))]
    for v in provides.split(","):
        if (n := re.sub(r"[ (].*", "", v.strip())):
            provided.setdefault(n, []).append(pkg)
seen = set()
while todo:
    p = todo.pop()
    for q in [p] + provided.get(p, []):
        if q in deps and q not in seen:
            seen.add(q)
            todo += deps[q]
print("\n".join(sorted(seen)))
' $names); do listed[$p]=1; done

bad=0
# owner KIND NAME PATH: the package owning PATH must be one install-deps.sh names.
owner() {
	local kind=$1 name=$2 path=$3 pkgs p
	if [ -z "$path" ] || [ ! -e "$path" ]; then
		echo "MISSING $kind $name: not found on this machine, and no package deploy/install-deps.sh installs provides it"
		bad=1
		return
	fi
	# dpkg knows the path as the package installed it: try it as found, with symlinks
	# resolved (alternatives), and with /usr added or taken away (usr-merge).
	local real c
	real=$(readlink -f "$path")
	pkgs=""
	for c in "$path" "$real" "${path#/usr}" "${real#/usr}" "/usr$path" "/usr$real"; do
		pkgs=$(dpkg -S "$c" 2>/dev/null) && break
	done
	pkgs=$(printf '%s\n' "$pkgs" | sed -n 's/: .*//p' | tr ',' '\n' | sed 's/^ *//; s/:.*//' | sort -u)
	if [ -z "$pkgs" ]; then
		echo "MISSING $kind $name: $path belongs to no Debian package (installed by hand?)"
		bad=1
		return
	fi
	for p in $pkgs; do
		if [ -n "${listed[$p]:-}" ]; then
			echo "ok $kind $name ($path: $p)"
			return
		fi
	done
	echo "MISSING $kind $name: $path comes from $(echo $pkgs), which deploy/install-deps.sh does not install"
	bad=1
}

meson_files=$(find . -name meson.build -not -path './build*' -not -path './.run/*' | sort)
# name('arg' ...) calls; the first argument only.
calls() { grep -ho "$1([[:space:]]*'[^']*'" $meson_files | sed "s/.*'\(.*\)'/\1/" | sort -u; }

for d in $(calls dependency); do
	case $d in
	threads) echo "ok dependency threads (meson built-in, the C library)"; continue ;;
	esac
	dir=$(pkg-config --variable=pcfiledir "$d" 2>/dev/null)
	owner dependency "$d" "${dir:+$dir/$d.pc}"
done
for l in $(calls find_library); do
	so=$(cc -print-file-name="lib$l.so")
	[ "${so#/}" != "$so" ] && so=$(realpath -s "$so") || so=""
	owner find_library "$l" "$so"
done
for p in $(calls find_program) $PROGRAMS; do
	owner program "$p" "$(command -v "$p" || true)"
done

# Third-party Python modules the tests import, with the file /usr/bin/python3 loads.
mods=$($PY - <<'EOF'
import ast, pathlib, sys
local = {p.stem for p in pathlib.Path(".").rglob("*.py")} | {p.name for p in pathlib.Path(".").rglob("*") if p.is_dir()}
names = set()
for f in list(pathlib.Path("tests").rglob("*.py")) + list(pathlib.Path("deploy").rglob("*.py")):
    if any(part.startswith("build") for part in f.parts):
        continue
    for node in ast.walk(ast.parse(f.read_text(), str(f))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
for n in sorted(names - set(sys.stdlib_module_names) - local):
    print(n)
EOF
)
# and the pytest plugins tests/run.sh loads by option (-n: pytest-xdist), not by import
mods="$mods xdist"
for m in $mods; do
	file=$($PY -c "import $m, sys; sys.stdout.write(getattr($m, '__file__', '') or '')" 2>/dev/null)
	owner python-module "$m" "$file"
done

if [ $bad != 0 ]; then
	echo "check-deps: FAILED: add the packages above to deploy/install-deps.sh"
	exit 1
fi
echo "check-deps: every dependency is installed by deploy/install-deps.sh"
