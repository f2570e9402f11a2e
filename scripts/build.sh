#!/usr/bin/env bash
# Configure (first time) or reconfigure, then build one meson build directory.
#
# Usage: scripts/build.sh BUILDDIR [meson -D options...]
# Environment: CC picks the compiler on first configure (meson remembers it).
#
# Run from the repository root. Exit status is non-zero if configure or build
# fails.
set -euo pipefail

builddir=$1
shift

if [[ -f $builddir/meson-private/coredata.dat ]]; then
	if (($# > 0)); then
		meson configure "$builddir" "$@"
	fi
else
	meson setup "$builddir" "$@"
fi
# NINJA_TARGETS: build only these targets (default: all).
# shellcheck disable=SC2086
ninja -C "$builddir" ${NINJA_TARGETS:-}
