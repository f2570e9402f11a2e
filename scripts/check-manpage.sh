#!/usr/bin/env bash
# Every command that `shieldvm --help` lists must have its own subsection
# (.SS NAME) in docs/man/shieldvm.1, so the man page cannot silently fall
# behind the CLI.
#
# Usage: scripts/check-manpage.sh SHIELDVM MANPAGE
set -euo pipefail

shieldvm=$1
man=$2

help=$("$shieldvm" --help)
# Command lines in the help text: two spaces, a name, spaces, a summary.
mapfile -t commands < <(sed -nE 's/^  ([a-z][a-z0-9-]*)  +.*/\1/p' <<<"$help")
if ((${#commands[@]} == 0)); then
	echo "check-manpage: no commands found in '$shieldvm --help'" >&2
	exit 1
fi

missing=0
for c in "${commands[@]}"; do
	# roff writes '-' as '\-' in names.
	if ! grep -qxF ".SS ${c//-/\\-}" "$man" && ! grep -qxF ".SS $c" "$man"; then
		echo "check-manpage: '$c' (from shieldvm --help) has no .SS section in $man" >&2
		missing=1
	fi
done
((missing == 0)) || exit 1
echo "check-manpage: ${#commands[@]} commands documented"
