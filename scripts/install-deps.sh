#!/usr/bin/env bash
# Install the Debian packages listed in scripts/packages.txt, idempotently.
#
# * If dpkg-query says every package is installed, do nothing (no apt, no
#   network, no root needed).
# * Otherwise apt-get install only the missing ones; if that fails (stale or
#   empty package lists), run apt-get update once and try again.
# * sudo only when not already root.
#
# Usage: scripts/install-deps.sh [--check]   (--check: report, install nothing)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
list="$here/packages.txt"

packages=()
while read -r line; do
	line=${line%%#*}
	read -r -a words <<<"$line"
	packages+=("${words[@]}")
done <"$list"

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [[ ${1:-} == --check ]]; then
	exit 1
fi

sudo=()
if ((EUID != 0)); then
	if ! command -v sudo >/dev/null; then
		echo "install-deps: not root and no sudo; install the packages above" >&2
		exit 1
	fi
	sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
apt_install=("${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}")
if ! "${apt_install[@]}"; then
	echo "install-deps: install failed; refreshing package lists and retrying"
	"${sudo[@]}" apt-get update
	"${apt_install[@]}"
fi
