# shellcheck shell=bash
# swtpm fixture for tests (source it). One swtpm per test, on free loopback
# ports, with its own temporary directory; torn down on any exit.
#
#   swtpm_lib_init                 temp dir $SWTPM_DIR, EXIT/INT/TERM traps
#   swtpm_lib_provision STATE [BANKS]
#                                  swtpm_setup --tpm2 with RSA-2048 and ECC
#                                  P-384 EKs and their certificates from a
#                                  local CA created in $SWTPM_DIR/ca (no file
#                                  outside $SWTPM_DIR is read or written);
#                                  BANKS: PCR banks to allocate, default
#                                  sha256 (e.g. sha1,sha256,sha384)
#   swtpm_lib_start STATE          start swtpm on STATE; exports SWTPM_TCTI
#                                  and TPM2TOOLS_TCTI ("swtpm:host=...,port=N")
#   swtpm_lib_stop                 stop it (also done on exit)
#
# After swtpm_lib_provision, $SWTPM_DIR/ca/cadir holds the CA certificates an
# EK certificate chains to (root + intermediate, no keys).
#
# A caller with its own EXIT trap must call swtpm_lib_cleanup from it.
# Ideas shared with tests/tpm/lib.sh (which keeps working unchanged).

SWTPM_DIR=
SWTPM_PID=
SWTPM_TCTI=
SWTPM_LOG=

swtpm_lib_stop() {
	if [[ -n $SWTPM_PID ]]; then
		kill "$SWTPM_PID" 2>/dev/null || true
		wait "$SWTPM_PID" 2>/dev/null || true
		SWTPM_PID=
	fi
}

swtpm_lib_cleanup() {
	local rc=$?
	swtpm_lib_stop
	if [[ $rc != 0 && -n $SWTPM_LOG && -s $SWTPM_LOG ]]; then
		echo "--- swtpm/tool log (last 20 lines):" >&2
		tail -n 20 "$SWTPM_LOG" >&2
	fi
	if [[ -n $SWTPM_DIR && -d $SWTPM_DIR ]]; then
		rm -rf "$SWTPM_DIR"
	fi
	return "$rc"
}

swtpm_lib_init() {
	SWTPM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/shieldvm-swtpm.XXXXXX")
	SWTPM_LOG=$SWTPM_DIR/swtpm.log
	: >"$SWTPM_LOG"
	trap 'swtpm_lib_cleanup; exit $?' EXIT
	trap 'exit 130' INT TERM
}

swtpm_lib_provision() {
	local state=$1 banks=${2:-sha256} ca=$SWTPM_DIR/ca
	mkdir -p "$state" "$ca" "$ca/cadir"
	cat >"$ca/swtpm-localca.conf" <<CONF
statedir = $ca
signingkey = $ca/signkey.pem
issuercert = $ca/issuercert.pem
certserial = $ca/certserial
CONF
	cat >"$ca/swtpm-localca.options" <<CONF
--platform-manufacturer shieldvm-test
--platform-version 2.1
--platform-model swtpm
CONF
	cat >"$ca/swtpm_setup.conf" <<CONF
create_certs_tool = $(command -v swtpm_localca)
create_certs_tool_config = $ca/swtpm-localca.conf
create_certs_tool_options = $ca/swtpm-localca.options
active_pcr_banks = $banks
CONF
	if ! swtpm_setup --tpm2 --tpmstate "$state" --config "$ca/swtpm_setup.conf" \
		--create-ek-cert --overwrite --pcr-banks "$banks" \
		>>"$SWTPM_LOG" 2>&1; then
		echo "swtpm_setup failed" >&2
		return 1
	fi
	cp "$ca/swtpm-localca-rootca-cert.pem" "$ca/issuercert.pem" "$ca/cadir/"
}

# Is a TCP port on the loopback free? (listening sockets in /proc/net/tcp*)
swtpm_lib_port_free() {
	local hex
	hex=$(printf ':%04X ' "$1")
	! grep -q -- "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

swtpm_lib_start() {
	local state=$1 port try
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + (RANDOM * 7 + $$ + try * 131) % 40000))
		if ! swtpm_lib_port_free "$port" || ! swtpm_lib_port_free $((port + 1)); then
			continue
		fi
		swtpm socket --tpm2 \
			--server type=tcp,port=$port,bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear \
			--tpmstate dir="$state" >>"$SWTPM_LOG" 2>&1 &
		SWTPM_PID=$!
		SWTPM_TCTI="swtpm:host=127.0.0.1,port=$port"
		export SWTPM_TCTI TPM2TOOLS_TCTI=$SWTPM_TCTI
		for _ in $(seq 1 100); do
			kill -0 "$SWTPM_PID" 2>/dev/null || break
			if tpm2_getrandom 4 >/dev/null 2>>"$SWTPM_LOG"; then
				return 0
			fi
			sleep 0.05
		done
		swtpm_lib_stop
	done
	echo "cannot start swtpm" >&2
	return 1
}
