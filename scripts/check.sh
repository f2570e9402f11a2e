#!/usr/bin/env bash
# `make check`: every test, twice.
#
#   1. build/       gcc, debugoptimized, hardening flags, werror
#   2. build-asan/  gcc, -Db_sanitize=address,undefined (leaks and UB abort)
#
# Each build runs the whole meson test suite: unit, tpm (swtpm), cli, fuzz
# corpus replay and lint (banned functions). The very last line printed is
#
#   N passed, M failed[, K skipped]
#
# summed over both builds; a build that fails to configure or compile counts
# as one failure. Exit status is 0 only if nothing failed.
#
# Environment: CHECK_CC (default gcc) picks the compiler on first configure;
# ASAN_OPTIONS and UBSAN_OPTIONS, if set, replace the defaults below.
set -uo pipefail

cd "$(dirname "$0")/.."

rm -f build/check-summary.txt
scripts/install-deps.sh || {
	echo "check: could not install the packages in scripts/packages.txt" >&2
	mkdir -p build && echo "0 passed, 1 failed" >build/check-summary.txt
	echo "0 passed, 1 failed"
	exit 1
}

# Sanitizer runtime settings: any report ends the test with an error.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1}

build_failures=0
tested=()

# run_suite NAME BUILDDIR TIMEOUT_MULTIPLIER [meson options...]
run_suite()
{
	local name=$1 dir=$2 mult=$3
	shift 3

	echo
	echo "==== $name: configure and build $dir ===="
	if ! CC=${CHECK_CC:-gcc} scripts/build.sh "$dir" "$@"; then
		echo "==== $name: BUILD FAILED ($dir) ===="
		build_failures=$((build_failures + 1))
		return
	fi
	echo
	echo "==== $name: meson test -C $dir ===="
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --no-rebuild --print-errorlogs \
		--timeout-multiplier "$mult"
	tested+=("$dir")
}

run_suite "release build" build 1 \
	-Dbuildtype=debugoptimized -Db_sanitize=none -Dwerror=true
run_suite "ASan+UBSan build" build-asan 3 \
	-Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
	-Db_lundef=false -Dwerror=true

passed=0 failed=0 skipped=0
if ((${#tested[@]} > 0)); then
	read -r passed failed skipped < <(scripts/test-summary.sh "${tested[@]}")
fi
failed=$((failed + build_failures))

echo
line="$passed passed, $failed failed"
((skipped > 0)) && line+=", $skipped skipped"
mkdir -p build && echo "$line" >build/check-summary.txt
echo "$line"
((failed == 0))
