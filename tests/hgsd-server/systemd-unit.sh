#!/usr/bin/env bash
# etc/hgsd.service: systemd's own checks. `systemd-analyze verify` (syntax,
# directives, the executable; ExecStart pointed at the hgsd just built) and
# `systemd-analyze security --offline`, whose exposure score must stay at
# or below 3.0 of 10: a change that loosens the sandbox fails here.
set -euo pipefail

: "${HGSD:?HGSD must point at the hgsd binary}"
unit=${HGSD_UNIT:-$(dirname "$0")/../../etc/hgsd.service}
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze is not installed (Debian package systemd)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hgsd-unit.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

grep -q '^ExecStart=/usr/sbin/hgsd --foreground ' "$unit" || { echo "FAIL: ExecStart is not /usr/sbin/hgsd --foreground" >&2; exit 1; }
sed "s|/usr/sbin/hgsd|$HGSD|" "$unit" >"$TMP/hgsd.service"
systemd-analyze verify --man=no "$TMP/hgsd.service" || { echo "FAIL: systemd-analyze verify" >&2; exit 1; }
echo "ok: systemd-analyze verify accepts the unit"
out=$(systemd-analyze security --offline=true --threshold=30 "$TMP/hgsd.service" 2>&1) ||
	{ echo "$out" | tail -n 25 >&2; echo "FAIL: the sandbox's exposure is above 3.0" >&2; exit 1; }
echo "ok: $(grep -o 'Overall exposure level.*' <<<"$out")"
# the score is real: the same unit without its sandbox fails the threshold
grep -v -E '^(Protect|Private|Restrict|NoNewPrivileges|CapabilityBoundingSet|SystemCall|MemoryDeny|LockPersonality|UMask)' \
	"$TMP/hgsd.service" >"$TMP/bare.service"
if systemd-analyze security --offline=true --threshold=30 "$TMP/bare.service" >/dev/null 2>&1; then
	echo "FAIL: a unit without the sandbox passes the threshold too" >&2
	exit 1
fi
echo "ok: the same unit without its sandbox is refused by the threshold"
