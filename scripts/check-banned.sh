#!/usr/bin/env bash
# Fail if C sources use a banned function (curl's checksrc and STYLE.md):
#
#   atoi atol      no error reporting, UB on overflow: use strtol/strtoul with
#                  end-pointer and range checks (see src/common)
#   sprintf vsprintf strcpy strcat gets
#                  unbounded writes: use snprintf, memcpy with a checked size
#   strtok         hidden global state: use strtok_r or a cursor
#   memset(SECRET, 0, ...)
#                  the compiler may drop a memset of memory that is not read
#                  again: wipe secrets with explicit_bzero/OPENSSL_cleanse.
#                  SECRET is a first argument with a name component key,
#                  secret, seed, password, passwd, passphrase or tk
#                  (`ak_key`, `tk`, `st->seed_buf`).
#
# Comments, string and character literals are blanked before matching, so
# prose mentioning these names is fine. The check is lexical: it reports what
# it finds with file:line and the offending line. A memset whose arguments
# span lines is not seen (write the call on one line, or use explicit_bzero).
#
# Usage: scripts/check-banned.sh [ROOT]   (ROOT: repository root; default ..)
# Scans ROOT/src, ROOT/tests, ROOT/bench (*.c, *.h). Exit 1 on any finding.
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

dirs=()
for d in src tests bench; do
	[[ -d $d ]] && dirs+=("$d")
done
((${#dirs[@]} > 0)) || exit 0

mapfile -d '' files < <(find "${dirs[@]}" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
((${#files[@]} > 0)) || exit 0

# Print FILE:LINE:TEXT for every line, with comments and the contents of
# string/char literals replaced by blanks (POSIX awk; block comments may span
# lines).
strip()
{
	awk '
	FNR == 1 { inblock = 0 }
	{
		line = $0; out = ""; n = length(line); i = 1; instr = 0
		while (i <= n) {
			c = substr(line, i, 1); d = substr(line, i, 2)
			if (inblock) {
				if (d == "*/") { inblock = 0; out = out "  "; i += 2 }
				else { out = out " "; i++ }
				continue
			}
			if (instr) {
				if (c == "\\") { out = out "  "; i += 2; continue }
				if (c == q) { instr = 0; out = out c; i++; continue }
				out = out " "; i++; continue
			}
			if (d == "/*") { inblock = 1; out = out "  "; i += 2; continue }
			if (d == "//") break
			if (c == "\"" || c == "\047") { instr = 1; q = c; out = out c; i++; continue }
			out = out c; i++
		}
		print FILENAME ":" FNR ":" out
	}' "$@"
}

stripped=$(strip "${files[@]}")

banned='(?<![A-Za-z0-9_])(atoi|atol|sprintf|vsprintf|strcpy|strcat|gets|strtok)\s*\('
secret='(?i)(?<![A-Za-z0-9_])memset\s*\(\s*[^,]*(?<![A-Za-z0-9])(key|keys|secret|secrets|seed|seeds|password|passwd|passphrase|tk)(?![A-Za-z0-9])[^,]*,\s*(0+|0x0+|\x27\s*\x27)\s*,'

found=0
# report WHAT PATTERN: print FILE:LINE: WHAT (MATCH): LINE for every hit.
report()
{
	local what=$1 pattern=$2 hits hit file lineno rest match text
	hits=$(grep -P -- "^[^:]*:[0-9]+:.*$pattern" <<<"$stripped" || true)
	[[ -n $hits ]] || return 0
	while IFS= read -r hit; do
		file=${hit%%:*}
		rest=${hit#*:}
		lineno=${rest%%:*}
		rest=${rest#*:}
		match=$(grep -oP -- "$pattern" <<<"$rest" | sed -E 's/[[:space:]]*\($//; s/,[^,]*,$//' | sort -u | paste -sd, -)
		text=$(sed -n "${lineno}p" "$file")
		echo "$file:$lineno: $what ($match): ${text#"${text%%[![:space:]]*}"}"
		found=1
	done <<<"$hits"
}

report "banned function" "$banned"
report "memset on a secret, use explicit_bzero or OPENSSL_cleanse" "$secret"

if ((found)); then
	echo "check-banned: banned functions found (see STYLE.md, scripts/check-banned.sh)" >&2
	exit 1
fi
echo "check-banned: ${#files[@]} files clean"
