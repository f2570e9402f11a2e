#!/usr/bin/env bash
# hgsctl host add|list|show|disable|enable|remove against a real hgsd:
# registration by EK public (a real TPM2B_PUBLIC), by an EK certificate that
# swtpm_setup put in a fresh swtpm's NV (local CA), and by a host key made
# with openssl; human and --json output; the server's refusals (exit 1 with
# its message), usage errors (2) and bad local files (3).
. "$(dirname "$0")/lib.sh"

# ---- an EK certificate from swtpm_setup (tests/lib/swtpm.sh), in a
# subshell so that the fixture's traps stay its own ----
(
	# shellcheck source=../lib/swtpm.sh
	. "$(dirname "$0")/../lib/swtpm.sh"
	swtpm_lib_init
	swtpm_lib_provision "$SWTPM_DIR/state"
	swtpm_lib_start "$SWTPM_DIR/state"
	tpm2_nvread 0x01c00002 -o "$TMP/ek-rsa.der" 2>>"$SWTPM_LOG"
	tpm2_createek -c "$SWTPM_DIR/ek.ctx" -G rsa -u "$TMP/ek-rsa.pub" 2>>"$SWTPM_LOG" >/dev/null
	tpm2_flushcontext -t 2>>"$SWTPM_LOG"
	cp "$SWTPM_DIR"/ca/cadir/* "$TMP/ek-ca/"
)
[[ -s $TMP/ek-rsa.der && -s $TMP/ek-rsa.pub ]] || fail "no EK certificate from swtpm"
openssl x509 -inform DER -in "$TMP/ek-rsa.der" -out "$TMP/ek-rsa.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/host.key" 2>/dev/null
openssl pkey -in "$TMP/host.key" -pubout -out "$TMP/host.pub"
# a certificate from a CA hgsd does not trust
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/rogue.key" \
	-out "$TMP/rogue.pem" -days 30 -subj "/CN=rogue" 2>/dev/null

start_hgsd hgs1

# ---- empty fabric ----
expect 0 host list
out_has '^no hosts registered$'
expect 0 --json host list
out_jq '.hosts == []'
ok "empty host list"

# ---- add by EK public ----
expect 0 host add --name node1 --ek-pub "$KEYLIME/ek.pub"
out_has '^host node1 registered \(modes tpm, EK name 000b[0-9a-f]{64}\)$'
want=$("$SHIELDVM" tpm2-name "$KEYLIME/ek.pub")
out_has "EK name $want"
ok "host add --ek-pub (EK name $want, as 'shieldvm tpm2-name' computes)"

# ---- add by EK certificate alone (swtpm's NV certificate, PEM) and with
# its EK public (DER) ----
expect 0 --json host add --name swtpm1 --ek-cert "$TMP/ek-rsa.pem"
out_jq '.name == "swtpm1" and .modes == ["tpm"] and .has_ek_cert and .has_ek_pub and (.ek_name | test("^000b"))'
cert_name=$(jq -r .ek_name "$TMP/out")
tpm_name=$("$SHIELDVM" tpm2-name "$TMP/ek-rsa.pub")
[[ $cert_name == "$tpm_name" ]] || fail "EK name from the certificate ($cert_name) is not the TPM's EK ($tpm_name)"
expect 0 host remove swtpm1
out_has '^host swtpm1 removed$'
expect 0 host add --name swtpm1 --ek-cert "$TMP/ek-rsa.der" --ek-pub "$TMP/ek-rsa.pub"
out_has "EK name $tpm_name"
ok "host add --ek-cert (swtpm_setup certificate; EK name $tpm_name)"

# ---- add by host key ----
expect 0 host add --name hk1 --host-key "$TMP/host.pub"
out_has '^host hk1 registered \(modes host-key\)$'
# from standard input
expect 0 host add --name hk2 --host-key - <"$TMP/host.pub"
ok "host add --host-key (file and stdin)"

# ---- list ----
expect 0 host list
out_has '^NAME +ENABLED +MODES +REGISTERED +EK NAME$'
out_has '^hk1 +yes +host-key +20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +-$'
out_has '^node1 +yes +tpm +[0-9T:Z-]+ +000b[0-9a-f]{16}\.\.\.$'
out_has '^swtpm1 +yes +tpm '
[[ $(wc -l <"$TMP/out") == 5 ]] || { show_output; fail "host list: expected a header and 4 rows"; }
# columns line up: every row's MODES column starts where the header's does
col=$(head -n 1 "$TMP/out" | grep -bo 'MODES' | cut -d: -f1)
while IFS= read -r line; do
	[[ ${line:$((col - 1)):1} == " " && ${line:$col:1} != " " ]] || fail "misaligned row: '$line'"
done < <(tail -n +2 "$TMP/out")
expect 0 host list --json
out_jq '[.hosts[].name] == ["hk1", "hk2", "node1", "swtpm1"] and all(.hosts[]; has("ek_pub") | not)'
expect 0 --json host list
out_jq '(.hosts | length) == 4'
ok "host list: aligned table and --json (either position)"

# ---- show ----
expect 0 host show swtpm1
out_has '^name: +swtpm1$'
out_has '^enabled: +yes$'
out_has "^ek name: +$tpm_name$"
out_has '^ek public: +[0-9]+ bytes \(TPM2B_PUBLIC\)$'
out_has '^ek cert: +[0-9]+ bytes$'
out_has '^  issuer: .*swtpm'
expect 0 host show hk1
out_has '^host key:$'
out_has '^  -----BEGIN PUBLIC KEY-----$'
expect 0 host show node1 --json
out_jq '.name == "node1" and .enabled == true and (.ek_pub | length > 0)'
ok "host show: human and --json"

# ---- disable / enable ----
expect 0 host disable node1
out_has '^host node1 disabled$'
expect 0 --json host show node1
out_jq '.enabled == false'
expect 0 host list
out_has '^node1 +no +tpm '
expect 0 host enable node1
out_has '^host node1 enabled$'
expect 0 --json host enable node1
out_jq '.enabled == true'
ok "host disable and enable"

# ---- the server's refusals: exit 1 with its error and message ----
expect 1 host add --name node1 --host-key "$TMP/host.pub"
err_has "hgsd refused \(conflict, HTTP 409\): host 'node1': the name or the EK is registered already"
expect 1 host add --name node1b --ek-pub "$KEYLIME/ek.pub"
err_has 'conflict'
expect 1 --json host add --name node1 --ek-pub "$KEYLIME/ek.pub"
out_jq '.error == "conflict" and (.message | length > 0)'
expect 1 host add --name rogue1 --ek-cert "$TMP/rogue.pem"
err_has 'ek_cert_untrusted, HTTP 403'
expect 1 host add --name ak1 --ek-pub "$KEYLIME/ak.pub"
err_has 'bad_request.*endorsement key'
expect 1 host show ghost
err_has "not_found, HTTP 404"
expect 1 host remove ghost
err_has "not_found"
expect 1 host enable ghost
ok "refusals: conflict, untrusted EK certificate, not an EK, unknown host (exit 1, server's message)"

# ---- usage errors: exit 2, the bad input quoted ----
expect 2 host add --ek-pub "$KEYLIME/ek.pub"
err_has -- '--name is required'
expect 2 host add --name 'bad name' --ek-pub "$KEYLIME/ek.pub"
err_has "host name 'bad name'"
expect 2 host add --name n9
err_has 'needs --ek-pub, --ek-cert or --host-key'
expect 2 host show '../baselines'
err_has "host name '../baselines'"
expect 2 host show
expect 2 host show a b
err_has "unexpected argument 'b'"
expect 2 host frobnicate
err_has "unknown command 'frobnicate'"
expect 2 frobnicate
expect 2 host add --name x --bogus
expect 2
expect 0 host add --help
out_has '^Usage: hgsctl host add'
expect 0 host show --help
expect 0 host --help
expect 0 --help
expect 0 --version
out_has '^hgsctl [0-9]'
ok "usage errors exit 2; --help everywhere"

# ---- bad local input: exit 3, naming the file ----
expect 3 host add --name n9 --ek-pub "$TMP/missing.pub"
err_has "$TMP/missing.pub: No such file or directory"
head -c 5000 /dev/zero >"$TMP/big.pub"
expect 3 host add --name n9 --ek-pub "$TMP/big.pub"
err_has "big.pub: 5000 bytes, limit is 1024"
: >"$TMP/empty.pub"
expect 3 host add --name n9 --ek-pub "$TMP/empty.pub"
err_has 'empty.pub: the file is empty'
expect 3 host add --name n9 --host-key "$KEYLIME/ek.pub"
err_has 'not a PEM file'
expect 3 host add --name n9 --ek-cert "$TMP"
err_has 'is a directory'
ok "bad local files exit 3 naming the file"

# ---- remove ----
expect 0 host remove hk2
expect 1 host show hk2
expect 0 --json host list
out_jq '[.hosts[].name] == ["hk1", "node1", "swtpm1"]'
ok "host remove"

stop_hgsd "$HGSD_PID"
