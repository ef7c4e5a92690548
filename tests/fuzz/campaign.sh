#!/bin/bash
# campaign.sh - a long fuzzing run by hand (the suite runs each target for a few seconds):
# every libFuzzer target in turn for SECONDS, with its seeds and dictionary, keeping the
# corpus in build-fuzz/corpus/<target> between runs. Appends one line per target to
# $LOG (tab-separated: date, target, seconds, executions, coverage, features, result) and
# leaves crash inputs in build-fuzz/artifacts. docs/RELIABILITY.md adds the lines up.
#   SECONDS_PER_TARGET [600]   TARGETS [all]   LOG [docs/fuzz-log.tsv]   NICE [19]
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
F=$ROOT/build-fuzz
SECS=${SECONDS_PER_TARGET:-600}
LOG=${LOG:-$ROOT/docs/fuzz-log.tsv}
NICE=${NICE:-19}

if [ ! -f "$F/build.ninja" ]; then
	CC=clang meson setup "$F" -Dfuzz=true -Dbuildtype=debugoptimized -Db_lundef=false >/dev/null || exit 1
fi
ninja -C "$F" >/dev/null || { echo "fuzz build failed" >&2; exit 1; }
mkdir -p "$F/artifacts"
targets=${TARGETS:-$(find "$F/tests/fuzz" -maxdepth 2 -type f -executable -name 'fuzz_*' -printf '%f\n' | sort)}
for name in $targets; do
	t=$(find "$F/tests/fuzz" -maxdepth 2 -type f -name "$name" | head -n 1)
	seeds=$(find "$ROOT/tests/fuzz" -type d -path "*/seeds/${name#fuzz_}" | head -n 1)
	dict=$(find "$ROOT/tests/fuzz" -name "${name#fuzz_}.dict" | head -n 1)
	corpus=$F/corpus/$name
	mkdir -p "$corpus"
	out=$F/artifacts/$name.log
	if nice -n "$NICE" "$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$F/artifacts/$name-" ${dict:+-dict="$dict"} "$corpus" ${seeds:+"$seeds"} >"$out" 2>&1; then
		result=ok
	else
		result="FAILED ($out)"
	fi
	execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$out" | awk '{print $2}')
	cov=$(grep -o 'cov: [0-9]*' "$out" | tail -n 1 | awk '{print $2}')
	ft=$(grep -o 'ft: [0-9]*' "$out" | tail -n 1 | awk '{print $2}')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$name" "$SECS" "${execs:-?}" "${cov:-?}" \
		"${ft:-?}" "$result" | tee -a "$LOG"
done
