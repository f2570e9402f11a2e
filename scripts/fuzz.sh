#!/usr/bin/env bash
# `make fuzz`: build every libFuzzer harness with clang into build-fuzz/ and
# fuzz each for FUZZ_SECONDS (default 60), one job per core.
#
# * build-fuzz/ is configured with -Dfuzz=true, ASan+UBSan, and
#   -fsanitize=fuzzer-no-link on the whole project, so the code under test
#   carries coverage instrumentation; warnings are not errors there (clang
#   warns about other things than gcc, and gcc's build is the gate).
# * Each harness reads its seed corpus tests/fuzz/corpus/NAME/ and writes new
#   inputs to build-fuzz/corpus/NAME/ (the seed directory is never written).
# * Crashes, leaks and timeouts land in build-fuzz/artifacts/NAME/ as
#   crash-*, leak-*, timeout-*; the script exits 1 if any were found.
#   Reproduce one with: build-fuzz/tests/fuzz/fuzz-NAME FILE
#
# Environment: FUZZ_SECONDS, FUZZ_JOBS (default: number of cores),
# FUZZERS (default: every tests/fuzz/fuzz_*.c), FUZZ_ARGS (extra libFuzzer
# flags, e.g. -max_len=65536).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-$(nproc)}
dir=build-fuzz

scripts/install-deps.sh

if [[ -n ${FUZZERS:-} ]]; then
	read -r -a names <<<"$FUZZERS"
else
	names=()
	for f in tests/fuzz/fuzz_*.c; do
		[[ -e $f ]] || continue
		f=${f##*/fuzz_}
		names+=("${f%.c}")
	done
fi

targets=()
for name in "${names[@]}"; do
	targets+=("tests/fuzz/fuzz-$name")
done
CC=clang NINJA_TARGETS="${targets[*]}" scripts/build.sh "$dir" \
	-Dfuzz=true -Dwerror=false -Dbuildtype=debugoptimized \
	-Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fsanitize=fuzzer-no-link

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

found=0
summary=()
for name in "${names[@]}"; do
	exe=$root/$dir/tests/fuzz/fuzz-$name
	seed=$root/tests/fuzz/corpus/$name
	corpus=$root/$dir/corpus/$name
	artifacts=$root/$dir/artifacts/$name
	logs=$root/$dir/logs/$name

	echo "==== fuzz-$name: ${seconds}s x $jobs jobs ===="
	mkdir -p "$corpus" "$artifacts" "$logs"
	rm -f "$logs"/fuzz-*.log
	seeds=()
	[[ -d $seed ]] && seeds+=("$seed")

	# libFuzzer writes fuzz-N.log per job into the working directory.
	# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
	(cd "$logs" && "$exe" -max_total_time="$seconds" \
		-jobs="$jobs" -workers="$jobs" -print_final_stats=1 \
		-artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} \
		"$corpus" "${seeds[@]}") || true

	execs=0
	for log in "$logs"/fuzz-*.log; do
		[[ -e $log ]] || continue
		n=$(awk '/stat::number_of_executed_units:/ { s += $2 } END { print s + 0 }' "$log")
		execs=$((execs + n))
	done
	crashes=$(find "$artifacts" -maxdepth 1 -type f \
		\( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
	found=$((found + crashes))
	summary+=("fuzz-$name: $execs executions, corpus $(find "$corpus" -type f | wc -l) new inputs, $crashes findings")
	if ((crashes > 0)); then
		summary+=("  findings in $dir/artifacts/$name/; logs in $dir/logs/$name/")
	fi
done

echo
echo "==== fuzz summary (${seconds}s, $jobs jobs each) ===="
printf '%s\n' "${summary[@]}"
((found == 0))
