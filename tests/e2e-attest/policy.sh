#!/usr/bin/env bash
# Policy refusals with honest evidence (the TPM really measured the log):
# a boot that is not the baseline, Secure Boot off, a denied command-line
# argument, a kernel debugger on the command line.
#   policy.sh CASE
. "$(dirname "$0")/lib.sh"

# OVMF booting a kernel directly (-kernel) against the shim boot's baseline.
case_baseline_mismatch() {
	local log=$LOGS/local__ovmf_sb_directkernel.bin
	fixture sha1,sha256 "$log"
	enroll_ok
	evidence bl --log "$log"
	attest bl
	policy_failure baseline "closest baseline shim: PCR 1, event 10"
	answer_expect 'any(.body.failures[]; .rule == "baseline" and .event == 10)'
	# the unmeasured kernel is reported too
	policy_failure boot-apps-measured "not followed by a measured boot application"
	answer_expect '[.body.failures[].rule] | sort == ["baseline", "boot-apps-measured"]'
	expect_audit attest fail policy_failed node1
	ok "direct-kernel boot vs the shim baseline: policy_failed naming baseline (event 10) and the unmeasured kernel"
}

# A real Secure-Boot-off log (GCE Ubuntu 21.04; sha1, sha256 and sha384
# banks: swtpm gets the same), with its own baseline, so that exactly one
# rule fails.
case_secure_boot_off() {
	local log=$LOGS/gotpmtools__ubuntu-2104-no-secure-boot.bin
	fixture sha1,sha256,sha384 "$log"
	add_baseline ubuntu-nosb "$log"
	enroll_ok
	evidence nosb --log "$log"
	attest nosb
	policy_failure secure-boot-enabled "SecureBoot is 0, policy requires 1"
	answer_expect '[.body.failures[].rule] == ["secure-boot-enabled"] and .body.failures[0].event == 3'
	expect_audit attest fail policy_failed node1
	admin GET "/v1/admin/audit?host=node1&limit=1"
	jq_expect '.records[0].details.failures[0].message | test("SecureBoot is 0")'
	ok "Secure Boot off (sha1+sha256+sha384 quote): only secure-boot-enabled fails, 'SecureBoot is 0'"
}

# set_setting KEY JSON: an hgsd store setting, written with sqlite3 as the
# service user (the admin API has no call for cmdline patterns yet), then
# one policy cache period (POLICY_CACHE_TTL_MS, 1 s) waited for.
set_setting() {
	local db=$TMP/state-hgs1/hgsd.db
	local sql="INSERT OR REPLACE INTO setting(key, value) VALUES ('$1', CAST('$2' AS BLOB));"
	if [[ -n $HGSD_USER ]]; then
		runuser -u "$HGSD_USER" -- sqlite3 -cmd ".timeout 5000" "$db" "$sql"
	else
		sqlite3 -cmd ".timeout 5000" "$db" "$sql"
	fi
	sleep 1.2
}

# The policy's command-line deny pattern "console=*" against the shim boot
# (its kernel command line has console=ttyS0).
case_cmdline_deny() {
	fixture
	enroll_ok
	evidence ok1
	attest ok1
	expect_answer 200
	set_setting cmdline_deny '["console=*"]'
	evidence deny
	attest deny
	policy_failure cmdline 'console=ttyS0.*deny pattern "console=[*]"'
	answer_expect '[.body.failures[].rule] == ["cmdline"]'
	expect_audit attest fail policy_failed node1
	ok "cmdline deny pattern console=*: policy_failed naming cmdline and console=ttyS0"
}

# A real boot whose kernel command line carries kgdbwait: the shim log with
# the argument added to grub's PCR 8 events (text and digests, as grub
# measures them), replayed into the TPM. The baseline (PCRs 0-7) still
# matches; no-debug does not.
case_debugger_kgdbwait() {
	cl_nofixture_edit() {
		"$E2E_CLIENT" edit-log --in "$SHIM_LOG" --out "$W/$1.bin" --cmdline-append kgdbwait \
			--cmdline-event "$2" >"$W/$1.out" 2>"$W/$1.err" || fail "edit-log: $(cat "$W/$1.err")"
	}
	cl_nofixture_edit kgdb all
	grep -q 'kernel_cmdline: /vmlinuz console=ttyS0 panic=-1 quiet kgdbwait' "$W/kgdb.err" ||
		fail "edit-log: $(cat "$W/kgdb.err")"
	cl_nofixture_edit kgdb-kernel kernel
	fixture sha1,sha256 "$W/kgdb.bin"
	enroll_ok
	evidence kgdb --log "$W/kgdb.bin"
	attest kgdb
	policy_failure no-debug 'debugger argument "kgdbwait"'
	answer_expect '[.body.failures[].rule] == ["no-debug"]'
	expect_audit attest fail policy_failed node1
	ok "kgdbwait on the measured command line (grub_cmd + kernel_cmdline): policy_failed naming no-debug and kgdbwait"

	# Only the kernel_cmdline event says kgdbwait: still caught, and that
	# event is named.
	tpm_up host2 sha1,sha256 "$W/kgdb-kernel.bin"
	TCTI_host=$TCTI_host2
	cl ek --type rsa2048 --pub "$W/ek2.pub" --cert "$W/ek2.der" >/dev/null
	admin POST /v1/admin/hosts -d "{\"name\": \"node2\", \"ek_pub\": \"$(b64url "$W/ek2.pub")\"}"
	expect_status 201
	cl create-key --kind ak --type ecc-p256 --out "$W/ak2.key" >/dev/null
	cl enroll --ek-pub "$W/ek2.pub" --ak "$W/ak2.key" >/dev/null
	expect_answer 200
	cl nonce --out "$W/k2.nonce" >/dev/null
	cl create-key --kind tk --type ecc-p256 --out "$W/tk2.key" >/dev/null
	cl evidence --nonce "$W/k2.nonce" --ak "$W/ak2.key" --tk "$W/tk2.key" --log "$W/kgdb-kernel.bin" \
		--out "$W/k2.json" >/dev/null
	attest k2
	policy_failure no-debug 'event 42.*"kgdbwait"'
	expect_audit attest fail policy_failed node2
	ok "kgdbwait in the kernel_cmdline event alone: no-debug names event 42"
}

run_case "$@"
