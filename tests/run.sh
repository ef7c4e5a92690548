#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what is missing, builds under
# ASan+UBSan, checks that deploy/install-deps.sh installs every dependency the meson files
# and the tests name (tests/check-deps.sh), runs the unit tests (cmocka), the integration
# tests (pytest: real MariaDB, real etcd, the TiDB double, real clients), static analysis
# (tests/lint.sh) and every fuzz
# target for a short time; then a ThreadSanitizer build of the gateway under the integration
# tests that exercise its threads (workers, decision pool and PD watch, admin, audit writer,
# obligations).
# The last line is "N passed, N failed". Exit status 0 only when nothing failed. A failed
# install, setup or build stops it with that step's output and what failed.
#   FUZZ_SECONDS=N   time per fuzz target (default 8; 0 skips fuzzing)
#   PYTEST_ARGS=...  extra pytest arguments (e.g. "-k tls -x")
#   TSAN=0           skips the ThreadSanitizer step
#   IG_BUILD_DIR=DIR the ASan+UBSan build directory (default build-asan)
#   IG_TEST_WORKERS=N pytest processes for the integration and TSan steps (default 4: the
#                    tests spend much of their time waiting on sockets and processes, so two
#                    per core keep a 2-core machine busy; 1 runs them in one process).
#                    pytest-xdist hands out whole test files (--dist loadfile), longest first
#                    (conftest.py SLOW_FIRST), so a file's module fixtures (etcd, TiDB double)
#                    live in one worker; each worker has its own MariaDB.
# Static analysis and the fuzz and TSan builds run in the background (nice 10) while the unit
# and integration tests run, and are waited for before the fuzz runs and the TSan tests.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
PY=/usr/bin/python3   # Debian's interpreter: it sees python3-pytest and python3-pymysql
B=${IG_BUILD_DIR:-$ROOT/build-asan}   # an ASan+UBSan build dir of one's own, to run beside others
F=$ROOT/build-fuzz
T=$ROOT/build-tsan
OUT=$B/test-results
FUZZ_SECONDS=${FUZZ_SECONDS:-8}
WORKERS=${IG_TEST_WORKERS:-4}
XDIST=()
[ "$WORKERS" -gt 1 ] && XDIST=(-n "$WORKERS" --dist loadfile)

fail_now() { echo "tests/run.sh: $1" >&2; echo "0 passed, 1 failed"; exit 1; }
# A step's header with the seconds since the start: where the suite's time goes.
hdr() { echo "== $1 [${SECONDS}s]"; }
# A failed setup or build: its output, then which package install-deps.sh lacks, if any.
fail_build() {
	cat "$2" >&2
	echo "== dependency check (tests/check-deps.sh)" >&2
	bash tests/check-deps.sh 2>&1 | grep -v '^ok ' >&2
	fail_now "$1 (its output is above, also in $2)"
}

./deploy/install-deps.sh || fail_now "installing dependencies failed: deploy/install-deps.sh (output above)"

log=$(mktemp /tmp/importgate-build.XXXXXX)
if [ ! -f "$B/build.ninja" ]; then
	meson setup "$B" -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
		>"$log" 2>&1 || fail_build "meson setup $B failed" "$log"
fi
ninja -C "$B" >"$log" 2>&1 || fail_build "build failed: ninja -C $B" "$log"
tail -n 1 "$log"
rm -f "$log"
mkdir -p "$OUT"
rm -f "$OUT"/*

# --- the background chain: static analysis, the fuzz build, the TSan build ------------------
# They need the CPU, not the network; the unit and integration tests wait on sockets and
# processes much of the time. Run beside them at a lower priority, they use what the tests
# leave; the fuzz runs and the TSan tests, which want the cores to themselves, start after.

# Sets fuzz_targets to the fuzz executables of $F (paths relative to it).
fuzz_targets_of() {
	mapfile -t fuzz_targets < <(meson introspect "$F" --targets 2>"$OUT/fuzz-introspect.txt" | $PY -c '
import json, os, sys
for t in json.load(sys.stdin):
    if t["type"] == "executable" and t["name"].startswith("fuzz_"):
        print(os.path.relpath(t["filename"][0], sys.argv[1]))' "$F")
}

run_lint() {
	if bash tests/lint.sh "$B" >"$OUT/lint-output.txt" 2>&1; then
		echo "ok lint" >"$OUT/lint.txt"
	else
		echo "fail lint" >"$OUT/lint.txt"
	fi
}

# Writes $OUT/fuzz-built when the fuzz targets are built.
build_fuzz() {
	# A tree set up before lightning/toml.cc existed has g++ (or no C++) as its C++ compiler,
	# which takes no -fsanitize=fuzzer: such a tree is set up again.
	if [ -f "$F/build.ninja" ] && ! grep -A1 '^rule cpp_COMPILER' "$F/build.ninja" | grep -q 'clang++'; then
		rm -rf "$F"
	fi
	if [ ! -f "$F/build.ninja" ]; then
		CC=clang CXX=clang++ meson setup "$F" -Dfuzz=true -Dbuildtype=debugoptimized -Db_lundef=false \
			>/dev/null 2>"$OUT/fuzz-setup.txt" || return 0
	fi
	# Only the fuzz targets: the rest of that tree (gateway, unit tests, clients) is the ASan
	# tree's again, a second build of the same sources for nothing (issue 14).
	fuzz_targets_of
	[ "${#fuzz_targets[@]}" -gt 0 ] && ninja -C "$F" "${fuzz_targets[@]}" >"$OUT/fuzz-build.txt" 2>&1 &&
		touch "$OUT/fuzz-built"
}

# Writes $OUT/tsan-built when the TSan gateway is built, else "fail ..." to tsan.txt.
build_tsan() {
	if [ ! -f "$T/build.ninja" ]; then
		meson setup "$T" -Dbuildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false -Dtests=false \
			>"$OUT/tsan-setup.txt" 2>&1 || { echo "fail tsan-setup" >"$OUT/tsan.txt"; return 0; }
	fi
	if ninja -C "$T" proxy/importgate >"$OUT/tsan-build.txt" 2>&1; then
		touch "$OUT/tsan-built"
	else
		echo "fail tsan-build" >"$OUT/tsan.txt"
	fi
}

background() {
	run_lint
	[ "$FUZZ_SECONDS" = 0 ] || build_fuzz
	[ "${TSAN:-1}" = 0 ] || build_tsan
}
hdr "background: static analysis (tests/lint.sh), fuzz and TSan builds (nice 10)"
nice -n 10 bash -c "$(declare -f fuzz_targets_of run_lint build_fuzz build_tsan background)
	B='$B' F='$F' T='$T' OUT='$OUT' PY='$PY' FUZZ_SECONDS='$FUZZ_SECONDS' TSAN='${TSAN:-1}' background" &
BG_PID=$!

hdr "dependencies (tests/check-deps.sh: meson files and test imports vs deploy/install-deps.sh)"
if bash tests/check-deps.sh >"$OUT/deps-output.txt" 2>&1; then
	echo "ok deps" >"$OUT/deps.txt"
	echo "  deps: ok"
else
	echo "fail deps" >"$OUT/deps.txt"
	grep -v '^ok ' "$OUT/deps-output.txt" | sed 's/^/  /'
	echo "  deps: FAILED (see $OUT/deps-output.txt)"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

hdr "unit tests (cmocka, ASan+UBSan)"
meson test -C "$B" --print-errorlogs --no-rebuild --num-processes 2 --timeout-multiplier 6 >"$OUT/meson-test.txt" 2>&1
tail -n 12 "$OUT/meson-test.txt"

hdr "integration tests (pytest, $WORKERS processes)"
IMPORTGATE_BIN=$B/proxy/importgate IGCLIENT_BIN=$B/tests/clients/igclient \
	IG_LOGICAL_CLI=$B/tests/unit/logical/logical_cli \
	$PY -m pytest tests/integration tests/tidb_double -q -p no:cacheprovider "${XDIST[@]}" \
	--durations=15 --junitxml="$OUT/pytest.xml" ${PYTEST_ARGS:-} 2>&1 | tail -n 42

hdr "waiting for the background chain"
wait "$BG_PID"
if [ "$(cat "$OUT/lint.txt" 2>/dev/null)" = "ok lint" ]; then
	echo "  lint: ok"
else
	echo "fail lint" >"$OUT/lint.txt"
	echo "  lint: FAILED (see $OUT/lint-output.txt)"
fi

if [ "$FUZZ_SECONDS" != 0 ]; then
	hdr "fuzz targets (libFuzzer, ${FUZZ_SECONDS}s each)"
	if [ -f "$OUT/fuzz-built" ]; then
		# Two targets at a time (libFuzzer uses one core each): each still runs FUZZ_SECONDS.
		targets=$(find "$F/tests/fuzz" -maxdepth 2 -type f -executable -name 'fuzz_*' | sort)
		for t in $targets; do
			name=$(basename "$t")
			seeds=$(find "$ROOT/tests/fuzz" -type d -path "*/seeds/$name" | head -n 1)
			corpus=$F/corpus/$name
			mkdir -p "$corpus"
			{
				if "$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
					-artifact_prefix="$OUT/$name-" "$corpus" ${seeds:+"$seeds"} >"$OUT/fuzz-$name.txt" 2>&1; then
					echo ok >"$OUT/fuzz-$name.status"
				else
					echo fail >"$OUT/fuzz-$name.status"
				fi
			} &
			while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
		done
		wait
		for t in $targets; do
			name=$(basename "$t")
			if [ "$(cat "$OUT/fuzz-$name.status" 2>/dev/null)" = ok ]; then
				echo "ok $name" >>"$OUT/fuzz.txt"
				echo "  $name: ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$OUT/fuzz-$name.txt" | awk '{print $2}') runs)"
			else
				echo "fail $name" >>"$OUT/fuzz.txt"
				echo "  $name: FAILED (see $OUT/fuzz-$name.txt)"
			fi
		done
	else
		echo "fail fuzz-build" >>"$OUT/fuzz.txt"
		echo "  fuzz build FAILED (see $OUT/fuzz-setup.txt, $OUT/fuzz-build.txt)"
	fi
fi


if [ "${TSAN:-1}" != 0 ]; then
	hdr "ThreadSanitizer (the gateway built with -fsanitize=thread, multi-threaded tests)"
	if [ -f "$OUT/tsan-built" ]; then
		# The harness fails a test on a "ThreadSanitizer" report in the gateway's stderr, or
		# on its exit status (TSan's is 66 after a report). Tests, not files, are handed out
		# (--dist load): test_obligations.py alone would otherwise set the step's length.
		(cd tests/integration && IMPORTGATE_BIN=$T/proxy/importgate IGCLIENT_BIN=$B/tests/clients/igclient \
			IG_HARDENING_SCALE=300 IG_CHURN_SECONDS=3 IG_CHURN_RATE=300 TSAN_OPTIONS="second_deadlock_stack=1" \
			$PY -m pytest -q -p no:cacheprovider ${XDIST:+-n "$WORKERS" --dist load} --junitxml="$OUT/pytest-tsan.xml" \
			test_relay_many.py test_relay_session.py test_backends.py test_operations.py \
			test_state_freshness.py test_audit.py test_obligations.py test_hardening_load.py \
			test_relay_timeouts.py test_workers_balance.py test_relay_kill.py test_metrics_threads.py \
			test_relay_pass_end.py test_relay_pass_end_mixed.py) 2>&1 | tail -n 6
	else
		[ -s "$OUT/tsan.txt" ] || echo "fail tsan-build" >"$OUT/tsan.txt"
		echo "  TSan build FAILED (see $OUT/tsan-setup.txt, $OUT/tsan-build.txt)"
	fi
fi

echo "== done [${SECONDS}s]"
$PY tests/summarize.py "$B" "$OUT"
