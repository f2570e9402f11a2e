#!/usr/bin/env bash
# shieldvm guardian new|export and kp new|show|grant|revoke|unwrap through
# the CLI: what each writes, exit codes, and every refusal with its reason.
set -uo pipefail
shieldvm=${SHIELDVM:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect CODE PATTERN CMD...: exit code CODE and PATTERN on stderr
expect() {
	local code=$1 pat=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	[ $rc -eq "$code" ] || { fail "'$*' exited $rc, not $code: $(cat "$tmp/err")"; return; }
	[ -z "$pat" ] || grep -qE -- "$pat" "$tmp/err" ||
		fail "'$*': stderr lacks /$pat/: $(cat "$tmp/err")"
}
mode() { stat -c %a "$1"; }

# ---- guardian new / export ----
"$shieldvm" guardian new alice >"$tmp/out" || fail "guardian new"
[ "$(mode alice.guardian)" = 600 ] || fail "alice.guardian mode $(mode alice.guardian)"
grep -q '^id ' "$tmp/out" || fail "guardian new prints the id"
alice_id=$(sed -n 's/^id //p' "$tmp/out")
jq -e '.type == "shieldvm-guardian-private" and .algorithm == "ec-p256" and .id == "'"$alice_id"'"' \
	alice.guardian >/dev/null || fail "private file content"
for alg in ec-p384 rsa3072; do
	umask 022
	"$shieldvm" guardian new "hgs-$alg" --algorithm "$alg" --out "hgs-$alg.priv" >/dev/null ||
		fail "guardian new --algorithm $alg"
	[ "$(mode "hgs-$alg.priv")" = 600 ] || fail "$alg file mode under umask 022"
	"$shieldvm" guardian export "hgs-$alg.priv" --out "hgs-$alg.json" || fail "export $alg"
done
"$shieldvm" guardian new bob --out bob.guardian >/dev/null || fail "guardian new bob"
"$shieldvm" guardian export bob.guardian >bob.json || fail "export to stdout"
jq -e '.protected and .payload and .signature and (has("header") | not)' hgs-ec-p384.json >/dev/null ||
	fail "metadata is a flattened JWS"
jq -r .payload hgs-ec-p384.json | basenc --base64url -d 2>/dev/null |
	jq -e '.type == "shieldvm-guardian" and (.encryption | has("d") | not) and (.signing | has("d") | not)' \
	>/dev/null || fail "metadata payload is public only"
grep -q '"d"' hgs-rsa3072.json && fail "export leaks a private member"

expect 3 'refusing to overwrite' "$shieldvm" guardian new alice
expect 2 'algorithm' "$shieldvm" guardian new carol --algorithm rsa2048
expect 2 'not a file name' "$shieldvm" guardian new a/b
expect 2 '' "$shieldvm" guardian new
expect 2 'unrecognized option|invalid option' "$shieldvm" guardian new x --frobnicate
expect 2 'unknown verb' "$shieldvm" guardian rotate alice.guardian
"$shieldvm" guardian --help | grep -q 'guardian new NAME' || fail "guardian --help"

# loose modes, symlinks, non-regular files
cp alice.guardian loose.guardian && chmod 640 loose.guardian
expect 3 'mode 0640 gives group or others access.*chmod 600' "$shieldvm" guardian export loose.guardian
chmod 604 loose.guardian
expect 3 'chmod 600' "$shieldvm" guardian export loose.guardian
ln -s alice.guardian link.guardian
expect 3 'symbolic link' "$shieldvm" guardian export link.guardian
expect 3 'not a regular file' "$shieldvm" guardian export /dev/null
mkdir dir.guardian && chmod 700 dir.guardian
expect 3 'not a regular file' "$shieldvm" guardian export dir.guardian
expect 3 'chmod 600' "$shieldvm" guardian export bob.json
chmod 600 bob.json
expect 3 'guardian metadata|not a private|unknown member' "$shieldvm" guardian export bob.json

# ---- kp new ----
echo 'machine: q35; console: none' >vm.conf
"$shieldvm" kp new --owner alice.guardian --guardian hgs-ec-p384.json --policy shielded \
	--vm-id 123E4567-E89B-42D3-A456-426614174000 --vm-config vm.conf --out vm.kp 2>"$tmp/err" ||
	fail "kp new: $(cat "$tmp/err")"
grep -q 'check this id' "$tmp/err" || fail "kp new shows the guardian id to check"
"$shieldvm" kp show vm.kp >"$tmp/show" || fail "kp show"
grep -q '^vm id *123e4567-e89b-42d3-a456-426614174000$' "$tmp/show" || fail "vm id lower-cased"
grep -q '^policy *shielded$' "$tmp/show" || fail "show policy"
grep -q '^generation *0$' "$tmp/show" || fail "show generation"
grep -q "^owner *$alice_id" "$tmp/show" || fail "show owner"
grep -q '^sealed by .*(owner)$' "$tmp/show" || fail "show sealed by"
cfg=$(openssl dgst -sha256 -binary vm.conf | basenc --base64url | tr -d '=')
grep -q "^config digest *$cfg$" "$tmp/show" || fail "config digest is SHA-256 of the file"
"$shieldvm" kp show --json vm.kp >"$tmp/show.json" || fail "kp show --json"
jq -e '.generation == 0 and .policy == "shielded" and (.guardians | length == 1) and
       .owner.id == "'"$alice_id"'" and .config_digest == "'"$cfg"'"' "$tmp/show.json" >/dev/null ||
	fail "show --json: $(cat "$tmp/show.json")"
grep -qi '"tk"\|"d"' "$tmp/show" "$tmp/show.json" && fail "show prints secrets"

"$shieldvm" kp new --owner alice.guardian --guardian hgs-ec-p384.json --policy encryption-supported \
	>stdout.kp 2>/dev/null || fail "kp new to stdout"
"$shieldvm" kp show --json stdout.kp | jq -e '.vm_id | test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")' \
	>/dev/null || fail "random vm id is a v4 UUID"

expect 3 'refusing to overwrite' "$shieldvm" kp new --owner alice.guardian --guardian hgs-ec-p384.json \
	--policy shielded --out vm.kp
expect 2 'policy' "$shieldvm" kp new --owner alice.guardian --guardian hgs-ec-p384.json --policy strict
expect 2 'needs' "$shieldvm" kp new --owner alice.guardian --policy shielded
expect 2 'not a UUID' "$shieldvm" kp new --owner alice.guardian --guardian hgs-ec-p384.json \
	--policy shielded --vm-id 1234
expect 2 'listed twice' "$shieldvm" kp new --owner alice.guardian --guardian hgs-ec-p384.json \
	--guardian hgs-ec-p384.json --policy shielded
"$shieldvm" guardian export alice.guardian >alice.json
expect 2 'is the owner' "$shieldvm" kp new --owner alice.guardian --guardian alice.json --policy shielded
expect 3 'chmod 600' "$shieldvm" kp new --owner loose.guardian --guardian hgs-ec-p384.json --policy shielded
expect 3 'PRIVATE' "$shieldvm" kp new --owner alice.guardian --guardian hgs-ec-p384.priv --policy shielded
expect 2 'unrecognized option|invalid option' "$shieldvm" kp new --bogus

# ---- unwrap ----
"$shieldvm" kp unwrap vm.kp --owner alice.guardian >"$tmp/tk" 2>"$tmp/err" || fail "kp unwrap"
grep -qE '^[0-9a-f]{64}$' "$tmp/tk" || fail "unwrap prints 64 hex digits"
grep -q WARNING "$tmp/err" || fail "unwrap warns on stderr"
expect 1 'not the owner' "$shieldvm" kp unwrap vm.kp --owner bob.guardian
expect 1 'not the owner' "$shieldvm" kp unwrap vm.kp --owner hgs-ec-p384.priv
expect 2 'needs --owner' "$shieldvm" kp unwrap vm.kp

# ---- grant / revoke (atomic replacement) ----
cp vm.kp vm0.kp
"$shieldvm" kp grant vm.kp --owner alice.guardian --guardian hgs-rsa3072.json 2>/dev/null || fail "kp grant"
"$shieldvm" kp show --json vm.kp | jq -e '.generation == 1 and (.guardians | length == 2)' >/dev/null ||
	fail "grant: generation 1, two guardians"
ls vm.kp.* 2>/dev/null && fail "grant left a temporary file"
"$shieldvm" kp unwrap vm.kp --owner alice.guardian 2>/dev/null | cmp -s - "$tmp/tk" || fail "grant keeps the TK"
expect 2 'already' "$shieldvm" kp grant vm.kp --owner alice.guardian --guardian hgs-rsa3072.json
expect 1 'owner is' "$shieldvm" kp grant vm.kp --owner bob.guardian --guardian bob.json
rsa_id=$("$shieldvm" kp show --json vm.kp | jq -r '.guardians[1].id')
p384_id=$("$shieldvm" kp show --json vm.kp | jq -r '.guardians[0].id')
"$shieldvm" kp revoke vm.kp --owner alice.guardian --guardian-id "$p384_id" --out vm2.kp 2>/dev/null ||
	fail "kp revoke --out"
"$shieldvm" kp show --json vm2.kp | jq -e '.generation == 2 and (.guardians | length == 1) and
	.guardians[0].id == "'"$rsa_id"'"' >/dev/null || fail "revoke result"
"$shieldvm" kp show --json vm.kp | jq -e '.generation == 1' >/dev/null || fail "--out left KP alone"
expect 2 'not in the KP' "$shieldvm" kp revoke vm2.kp --owner alice.guardian --guardian-id "$p384_id"
expect 2 'only guardian' "$shieldvm" kp revoke vm2.kp --owner alice.guardian --guardian-id "$rsa_id"
expect 2 'needs --owner and --guardian-id' "$shieldvm" kp revoke vm2.kp --owner alice.guardian

# ---- tampered KPs ----
jq -c '.seal.signature |= (.[:-3] + (if .[-3:-2] == "A" then "B" else "A" end) + .[-2:])' vm0.kp >bad-seal.kp
expect 1 'seal' "$shieldvm" kp show bad-seal.kp
jq -c '.wrap.iv = "AAAAAAAAAAAAAAAA"' vm0.kp >bad-iv.kp
expect 1 'digest' "$shieldvm" kp show bad-iv.kp
expect 1 'digest' "$shieldvm" kp unwrap bad-iv.kp --owner alice.guardian
jq -c '.descriptor.signature |= ("A" + .[1:])' vm0.kp >bad-desc.kp
expect 1 'descriptor' "$shieldvm" kp show bad-desc.kp
jq -c '.wrap.recipients[0].header.alg = "RSA1_5"' vm0.kp >rsa15.kp
expect 3 'not allowed' "$shieldvm" kp show rsa15.kp
jq -c '.wrap.recipients[0].encrypted_key |= ("A" + .[1:])' vm0.kp >bad-ek.kp
"$shieldvm" kp show bad-ek.kp >/dev/null || fail "an encrypted key is not covered by the digest"
expect 1 'KP recipient|A256KW|authentication' "$shieldvm" kp unwrap bad-ek.kp --owner alice.guardian
echo '{"type": "shieldvm-kp"' >trunc.kp
expect 3 'not JSON' "$shieldvm" kp show trunc.kp
expect 3 'No such file' "$shieldvm" kp show missing.kp
head -c 2000000 /dev/zero >big.kp
expect 3 'limit|larger' "$shieldvm" kp show big.kp

# ---- usage ----
expect 2 'unknown verb' "$shieldvm" kp frob vm.kp
expect 2 'exactly one' "$shieldvm" kp show
expect 2 'unrecognized option|invalid option' "$shieldvm" kp show vm.kp --verbose
"$shieldvm" kp --help | grep -q 'kp unwrap KP --owner' || fail "kp --help"
"$shieldvm" --help | grep -qE '^  kp ' || fail "shieldvm --help lists kp"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all kp CLI checks passed"
