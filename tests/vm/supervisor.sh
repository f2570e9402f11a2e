#!/usr/bin/env bash
# The supervisor with real swtpm and real QEMU (TCG) booting OVMF with no
# disk (it stays in the firmware), driven by launch_tool with test keys (no
# hgsd: `shieldvm run` itself needs a guarded host; the e2e-vm suite runs
# it). One case per invocation: supervisor.sh CASE.
#
# Environment (tests/vm/meson.build): SHIELDVM, LAUNCH_TOOL.
set -euo pipefail

: "${SHIELDVM:?}" "${LAUNCH_TOOL:?}"
for t in swtpm qemu-system-x86_64 qemu-img; do
	command -v "$t" >/dev/null || { echo "FAIL: $t is not installed" >&2; exit 1; }
done
[[ -r /usr/share/OVMF/OVMF_CODE_4M.secboot.fd ]] ||
	{ echo "FAIL: OVMF (Secure Boot build) is not installed" >&2; exit 1; }

TMP=$(mktemp -d /tmp/vm-test.XXXXXX)
# the runtime directory on tmpfs, as in production (/run/shieldvm)
RUNBASE=$(mktemp -d /dev/shm/vm-run.XXXXXX)
export SHIELDVM_RUNTIME_DIR=$RUNBASE
VM=$TMP/vm
UUID=6d1c2a9e-4f3b-4c5d-8e7f-0a1b2c3d4e5f
SUP_PID=

cleanup() {
	if [[ -n $SUP_PID ]] && kill -0 "$SUP_PID" 2>/dev/null; then
		kill -9 "$SUP_PID" 2>/dev/null || true
		wait "$SUP_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP" "$RUNBASE"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	[[ -f $TMP/sup.log ]] && { echo "--- supervisor log" >&2; cat "$TMP/sup.log" >&2; }
	exit 1
}
pass() { echo "ok: $*"; }

# make_vm [DISKS_JSON DEVICES_JSON]
make_vm() {
	local fw disks=${1:-[]} devices=${2:-[]}
	mkdir -m 0700 "$VM"
	fw=$(sha256sum /usr/share/OVMF/OVMF_CODE_4M.secboot.fd | cut -d' ' -f1)
	cat >"$VM/vm.json" <<-JSON
	{"version": 1, "name": "t1", "uuid": "$UUID", "memory_mb": 256,
	 "vcpus": 1, "disks": $disks, "network": "none",
	 "security": {"policy": "shielded", "firmware": {"code": "$fw"},
	  "secure_boot": true, "vtpm": "tpm-crb", "console": "none",
	  "lockdown": "qemu-7.2-v1", "devices": $devices}}
	JSON
}

# start [ARGS]: the supervisor in the background; waits for "running".
start() {
	local before
	before=$(grep -c "running; control socket" "$TMP/sup.log" 2>/dev/null || true)
	"$LAUNCH_TOOL" "$VM" --stop-timeout 2 "$@" 2>>"$TMP/sup.log" &
	SUP_PID=$!
	for _ in $(seq 1 200); do
		(( $(grep -c "running; control socket" "$TMP/sup.log" 2>/dev/null || true) > before )) && return 0
		kill -0 "$SUP_PID" 2>/dev/null || { wait "$SUP_PID" || true; fail "the supervisor exited at start"; }
		sleep 0.1
	done
	fail "the VM did not start in 20 s"
}

# start_refused PATTERN [ARGS]: the start fails with a message matching.
start_refused() {
	local pat=$1
	shift
	: >"$TMP/refused.log"
	if "$LAUNCH_TOOL" "$VM" --stop-timeout 2 "$@" 2>"$TMP/refused.log"; then
		fail "the start was not refused ($pat)"
	fi
	grep -q -- "$pat" "$TMP/refused.log" ||
		{ cat "$TMP/refused.log" >&2; fail "refused, but not with '$pat'"; }
	pass "refused: $(tail -1 "$TMP/refused.log")"
	[[ ! -e $RUNBASE/$UUID ]] || fail "a refused start left a runtime directory"
}

# stop_vm: `shieldvm stop`, then the supervisor must exit 0.
stop_vm() {
	"$SHIELDVM" stop "$VM" >/dev/null || fail "shieldvm stop"
	wait "$SUP_PID" || fail "the supervisor exited with $?"
	SUP_PID=
}

# alive PID: still running after 5 s (a zombie waiting for a reaper that is
# not ours counts as dead)
alive() {
	for _ in $(seq 1 50); do
		[[ -e /proc/$1 ]] || return 1
		[[ $(awk '{print $3}' /proc/"$1"/stat 2>/dev/null) == Z ]] && return 1
		sleep 0.1
	done
	return 0
}

# check_qmp_no_path QEMU_PID: QMP is QEMU's inherited end of a socketpair
# held by the supervisor; no socket in the runtime directory but the
# control socket.
check_qmp_no_path() {
	local qpid=$1 cl fd socks
	cl=$(tr '\0' '\n' </proc/"$qpid"/cmdline)
	grep -qx -- "-mon" <<<"$cl" && grep -qx "chardev=qmp,mode=control" <<<"$cl" ||
		fail "QEMU has no '-mon chardev=qmp,mode=control'"
	fd=$(sed -n 's/^socket,id=qmp,fd=\([0-9]*\)$/\1/p' <<<"$cl")
	[[ -n $fd ]] || fail "QEMU's QMP chardev is not an inherited fd: $(grep qmp <<<"$cl")"
	grep -q -- "-qmp\|qmp.sock" <<<"$cl" && fail "QEMU has a path-based QMP"
	[[ ! -e $RUNBASE/$UUID/qmp.sock ]] || fail "qmp.sock exists in the runtime directory"
	socks=$(find "$RUNBASE/$UUID" -type s -printf '%f\n' | sort | tr '\n' ' ')
	[[ $socks == "control.sock " ]] || fail "sockets in the runtime directory: $socks"
	[[ $(readlink /proc/"$qpid"/fd/"$fd") == socket:* ]] || fail "QMP fd $fd is not a socket"
	pass "QMP and the vTPM over inherited socketpairs (QMP fd $fd), no qmp.sock or swtpm.sock"
}

# check_exec_only PID WHAT: the process runs an exec-only sealed memfd copy
# of its binary (mode 0111: exec of an unreadable file makes it
# non-dumpable)
check_exec_only() {
	local exe
	exe=$(readlink /proc/"$1"/exe)
	[[ $exe == "/memfd:"* ]] || fail "$2 runs $exe, not its exec-only copy"
	[[ $(stat -L -c %a /proc/"$1"/exe) == 111 ]] || fail "$2's binary copy is readable"
	[[ $(awk '/^Max core file size/ {print $5 $6}' /proc/"$1"/limits) == 00 ]] ||
		fail "$2 may dump core: $(grep Core /proc/"$1"/limits)"
	pass "$2 runs an exec-only copy ($exe, mode 0111), core limit 0"
}

secrets_show() { "$LAUNCH_TOOL" --show "$VM"; }

check_stopped_clean() {
	local st
	[[ ! -e $RUNBASE/$UUID ]] || fail "runtime directory left: $(ls -la "$RUNBASE/$UUID")"
	st=$(secrets_show)
	grep -qx "state 1" <<<"$st" || fail "secrets state: $st"
	grep -qx "vars $(sha256sum "$VM/vars.enc" | cut -d' ' -f1)" <<<"$st" ||
		fail "the recorded VARS digest is not vars.enc's"
	grep -q "stopped cleanly" "$TMP/sup.log" || fail "no clean stop in the log"
	pass "clean stop: runtime dir gone, digests recorded"
}

# ---- cases -----------------------------------------------------------------

case_lifecycle() {
	local json qpid tpid st1 t0 t1
	make_vm
	start
	[[ -f $VM/vars.enc && -d $VM/vtpm ]] || fail "first start made no vars.enc / vtpm"
	[[ $(stat -c %a "$RUNBASE/$UUID") == 700 ]] || fail "runtime dir mode"
	[[ $(stat -c %a "$RUNBASE/$UUID/control.sock") == 600 ]] || fail "control socket mode"
	[[ $(stat -c %a "$RUNBASE/$UUID/vars.fd") == 600 ]] || fail "VARS copy mode"
	[[ $(stat -f -c %T "$RUNBASE/$UUID") == tmpfs ]] || fail "runtime dir not on tmpfs"

	# status through the socket (the CLI)
	json=$("$SHIELDVM" status "$VM" --json) || fail "shieldvm status"
	grep -q '"state": "running"' <<<"$json" || fail "status: $json"
	"$SHIELDVM" status "$VM" | grep -q ": running" || fail "status text"
	pass "status: running"
	qpid=$(sed -n 's/.*"qemu_pid": \([0-9]*\).*/\1/p' <<<"$json")
	tpid=$(sed -n 's/.*"swtpm_pid": \([0-9]*\).*/\1/p' <<<"$json")
	[[ -n $qpid && -n $tpid ]] || fail "no pids in $json"
	# QEMU's command line: the lockdown, no kernel
	tr '\0' ' ' </proc/"$qpid"/cmdline | grep -q -- "-sandbox on,obsolete=deny" ||
		fail "QEMU runs without -sandbox"
	if tr '\0' ' ' </proc/"$qpid"/cmdline | grep -q -- "-kernel\|-monitor stdio"; then
		fail "QEMU runs with -kernel or a monitor"
	fi
	tr '\0' ' ' </proc/"$tpid"/cmdline | grep -q -- "--key fd=[0-9]*,mode=aes-256-cbc" ||
		fail "swtpm runs without --key"
	tr '\0' ' ' </proc/"$tpid"/cmdline | grep -q -- "--ctrl type=unixio,clientfd=[0-9]* " ||
		fail "swtpm's control channel is not its socketpair end"
	tr '\0' '\n' </proc/"$qpid"/cmdline | grep -qx "socket,id=chrtpm,fd=[0-9]*" ||
		fail "QEMU's vTPM chardev is not its socketpair end"
	check_qmp_no_path "$qpid"
	check_exec_only "$qpid" QEMU
	check_exec_only "$tpid" swtpm
	# the supervisor is not dumpable: /proc/PID/environ is root-owned and
	# its core dumps are off (PR_SET_DUMPABLE 0 makes /proc files root's)
	[[ $(stat -c %U /proc/"$SUP_PID"/mem) == root ]] || fail "supervisor /proc owner"

	# the filter: refused through the socket, and logged
	for c in human-monitor-command dump-guest-memory pmemsave device_add migrate; do
		out=$("$LAUNCH_TOOL" --request "$VM" "$c") || fail "request $c"
		grep -q '"class":"Refused"' <<<"$out" || fail "$c was not refused: $out"
		grep -q "REFUSED '$c'" "$TMP/sup.log" || fail "$c refusal not logged"
	done
	pass "human-monitor-command, dump-guest-memory, pmemsave, device_add, migrate refused and logged"
	out=$("$LAUNCH_TOOL" --request "$VM" status) || fail "request status"
	grep -q '"return"' <<<"$out" || fail "status refused: $out"

	# a reset's RESET event is logged, and the supervisor sleeps while the
	# VM idles (it once spun at 100% CPU on an unread event: the QMP
	# client's unit test, vm-launch-units, pins that case down)
	"$SHIELDVM" reset "$VM" >/dev/null || fail "shieldvm reset"
	for _ in $(seq 1 100); do
		grep -q "QEMU event RESET" "$TMP/sup.log" && break
		sleep 0.1
	done
	grep -q "QEMU event RESET" "$TMP/sup.log" || fail "the RESET event was not logged"
	sup_ticks() { awk '{print $14 + $15}' /proc/"$SUP_PID"/stat; }
	t0=$(sup_ticks)
	sleep 5
	t1=$(sup_ticks)
	(( t1 - t0 < 50 )) ||
		fail "the supervisor used $((t1 - t0)) ticks of CPU in 5 s while the VM idled (busy loop)"
	pass "QMP events logged; the supervisor idles ($((t1 - t0)) ticks in 5 s)"

	st1=$(sha256sum "$VM/vars.enc")
	stop_vm
	kill -0 "$qpid" 2>/dev/null && fail "QEMU still runs"
	kill -0 "$tpid" 2>/dev/null && fail "swtpm still runs"
	pass "stop: QEMU and swtpm gone"
	check_stopped_clean
	[[ $(sha256sum "$VM/vars.enc") != "$st1" ]] || fail "vars.enc was not re-encrypted"
	pass "VARS re-encrypted (fresh IV)"
	rc=0
	out=$("$SHIELDVM" status "$VM") || rc=$?
	[[ $rc == 4 ]] && grep -q ": stopped" <<<"$out" || fail "status after stop: $rc $out"

	# the vTPM state on disk is encrypted: swtpm's header flags say so and
	# libtpms' plaintext magic (PERSISTENT_ALL_MAGIC ab364723) is absent
	local permall=$VM/vtpm/tpm2-00.permall
	[[ -s $permall ]] || fail "no vTPM state"
	flags=$(od -An -tx1 -j4 -N2 "$permall" | tr -d ' ')
	(( (0x$flags & 1) == 1 )) || fail "vTPM state flags $flags: not encrypted"
	if od -An -tx1 -v "$permall" | tr -d ' \n' | grep -q "ab364723"; then
		fail "plaintext TPM state magic in $permall"
	fi
	pass "vTPM state encrypted"
	# and does not load without the key
	mkdir "$TMP/nokey" && cp "$permall" "$TMP/nokey/"
	if timeout 5 swtpm socket --tpm2 --tpmstate dir="$TMP/nokey" \
		--server type=unixio,path="$TMP/nokey/s" --ctrl type=unixio,path="$TMP/nokey/c" \
		--flags not-need-init,startup-clear >"$TMP/nokey.log" 2>&1; then
		fail "swtpm without the key loaded the state"
	fi
	pass "vTPM state does not load without the key"

	# a second run: the digests match
	start
	"$SHIELDVM" poweroff "$VM" >/dev/null || fail "poweroff"
	wait "$SUP_PID" || fail "supervisor after poweroff"
	SUP_PID=
	check_stopped_clean
	pass "second run and poweroff"
}

case_rollback() {
	make_vm
	start
	stop_vm
	cp -a "$VM/vars.enc" "$TMP/vars.old"
	cp -a "$VM/vtpm" "$TMP/vtpm.old"
	start
	stop_vm
	# an older VARS
	cp -a "$VM/vars.enc" "$TMP/vars.cur"
	cp -a "$TMP/vars.old" "$VM/vars.enc"
	start_refused "differs from the one recorded"
	cp -a "$TMP/vars.cur" "$VM/vars.enc"
	# a modified VARS
	printf '\x01' | dd of="$VM/vars.enc" bs=1 seek=100 conv=notrunc status=none
	start_refused "differs from the one recorded"
	cp -a "$TMP/vars.cur" "$VM/vars.enc"
	# a replaced vTPM state
	cp -a "$VM/vtpm" "$TMP/vtpm.cur"
	echo junk >>"$VM/vtpm/tpm2-00.permall"
	start_refused "vTPM state differs"
	rm -rf "$VM/vtpm" && cp -a "$TMP/vtpm.cur" "$VM/vtpm"
	# a removed vTPM state
	rm -f "$VM/vtpm/tpm2-00.permall"
	start_refused "vTPM state differs"
	rm -rf "$VM/vtpm" && cp -a "$TMP/vtpm.cur" "$VM/vtpm"
	# the refusals took back the "running" mark: the current state starts
	grep -qx "state 1" <<<"$(secrets_show)" || fail "a refusal left the running mark"
	start
	stop_vm
	pass "the current state still starts"
}

case_unclean() {
	local json qpid tpid
	make_vm
	start
	stop_vm
	start
	json=$("$SHIELDVM" status "$VM" --json) || fail "status"
	qpid=$(sed -n 's/.*"qemu_pid": \([0-9]*\).*/\1/p' <<<"$json")
	tpid=$(sed -n 's/.*"swtpm_pid": \([0-9]*\).*/\1/p' <<<"$json")
	# kill -9 the supervisor: QEMU and swtpm die with it (PDEATHSIG)
	kill -9 "$SUP_PID"
	wait "$SUP_PID" 2>/dev/null || true
	SUP_PID=
	alive "$qpid" && fail "QEMU outlived its supervisor"
	alive "$tpid" && fail "swtpm outlived its supervisor"
	grep -qx "state 2" <<<"$(secrets_show)" || fail "no running mark after a kill"
	[[ -e $RUNBASE/$UUID/vars.fd ]] || fail "expected a stale runtime directory"
	start_refused "did not stop cleanly"
	grep -q "removing a stale runtime directory" "$TMP/refused.log" ||
		fail "the stale runtime dir (plaintext VARS) was not wiped"
	start --accept-unclean-stop
	stop_vm
	check_stopped_clean
}

case_firmware() {
	make_vm
	sed -i 's/"code": "[0-9a-f]*"/"code": "'"$(printf 'a%.0s' {1..64})"'"/' "$VM/vm.json"
	start_refused "refusing to start"
	[[ ! -e $VM/vars.enc ]] || fail "a refused first start left vars.enc"
}

case_busy() {
	make_vm
	start
	start_refused_running() {
		if "$LAUNCH_TOOL" "$VM" 2>"$TMP/busy.log"; then fail "second supervisor started"; fi
		grep -q "already runs\|in use" "$TMP/busy.log" || { cat "$TMP/busy.log"; fail "second start: wrong error"; }
	}
	start_refused_running
	pass "a second supervisor is refused"
	stop_vm
}

case_disks() {
	local info qpid f
	make_vm '[{"name": "data", "file": "disks/data.qcow2", "format": "qcow2-luks", "size_mb": 16},
	          {"name": "report", "file": "disks/report.raw", "format": "raw", "size_mb": 1}]' \
		'["disk-luks", "disk-raw"]'
	# a raw disk is never made by the launcher
	start_refused "raw disks are not created"
	mkdir -p "$VM/disks" && truncate -s 1M "$VM/disks/report.raw"
	start
	[[ -f $VM/disks/data.qcow2 ]] || fail "the first start made no disk"
	[[ $(stat -c %a "$VM/disks/data.qcow2") == 600 ]] || fail "disk mode"
	info=$(qemu-img info --force-share --output=json "$VM/disks/data.qcow2")
	grep -q '"encrypted": true' <<<"$info" || fail "disk not encrypted: $info"
	grep -q '"format": "luks"' <<<"$info" || fail "disk not LUKS: $info"
	pass "first start: LUKS qcow2 disk created (key by fd)"
	qpid=$(sed -n 's/.*"qemu_pid": \([0-9]*\).*/\1/p' <<<"$("$SHIELDVM" status "$VM" --json)")
	tr '\0' '\n' </proc/"$qpid"/cmdline | grep -q "^secret,id=sec-data,format=raw,file=/dev/fd/[0-9]*$" ||
		fail "the disk key is not passed by fd"
	tr '\0' '\n' </proc/"$qpid"/cmdline | grep -q "encrypt.key-secret=sec-data" ||
		fail "the disk is not opened through LUKS"
	# the key is nowhere in a file or on a command line: the passphrase
	# fd is a memfd, closed in the supervisor once QEMU has it
	for f in /proc/"$SUP_PID"/fd/*; do
		[[ $(readlink "$f") == *memfd:disk-key* ]] && fail "the supervisor kept the disk key fd"
	done
	pass "QEMU opened the LUKS disk with the key by fd"
	stop_vm
	check_stopped_clean
	# the second start opens the existing disk
	start
	stop_vm
	pass "second start with the existing disk"
	# the VM has run: a missing disk is not silently made anew (its data
	# would be gone); --new-disks creates it (a disk added later)
	mv "$VM/disks/data.qcow2" "$TMP/data.qcow2"
	start_refused "disk data: .* is missing, and the VM has run before"
	[[ ! -e $VM/disks/data.qcow2 ]] || fail "a refused start created the disk"
	start --new-disks
	[[ -f $VM/disks/data.qcow2 ]] || fail "--new-disks made no disk"
	stop_vm
	check_stopped_clean
	pass "a lost disk of a VM that has run is refused; --new-disks creates it"
}

case_console() {
	local out rc json qpid
	# a shielded VM has no console, running or not
	make_vm
	rc=0; "$SHIELDVM" console "$VM" --read-only --timeout 1 2>"$TMP/con.err" || rc=$?
	[[ $rc == 1 ]] && grep -q "has no console: policy shielded allows none" "$TMP/con.err" ||
		fail "console of a shielded VM: status $rc, $(cat "$TMP/con.err")"
	pass "shielded: no console"
	rm -rf "$VM"
	# encryption-supported with "console": "serial": QEMU gets the console
	# socket, and `shieldvm console` shows what the firmware prints
	make_vm
	sed -i 's/"policy": "shielded"/"policy": "encryption-supported"/; s/"console": "none"/"console": "serial"/' "$VM/vm.json"
	chmod 0600 "$VM/vm.json"
	chmod 0711 "$TMP"
	rc=0; "$SHIELDVM" console "$VM" --read-only --timeout 1 2>"$TMP/con.err" || rc=$?
	[[ $rc == 4 ]] && grep -q "is not running" "$TMP/con.err" ||
		fail "console of a stopped VM: status $rc, $(cat "$TMP/con.err")"
	pass "stopped VM: not running (exit 4)"
	# QEMU as nobody: the supervisor binds the console socket (root's,
	# 0600) and QEMU listens on the inherited fd
	start --vm-user nobody
	json=$("$SHIELDVM" status "$VM" --json) || fail "shieldvm status"
	qpid=$(sed -n 's/.*"qemu_pid": \([0-9]*\).*/\1/p' <<<"$json")
	tr '\0' '\n' </proc/"$qpid"/cmdline | grep -qx "socket,id=ser0,fd=[0-9]*,server=on,wait=off" ||
		fail "QEMU's console chardev is not the inherited listening socket"
	[[ $(stat -c '%u %a %F' "$RUNBASE/$UUID/console.sock") == "0 600 socket" ]] ||
		fail "console socket: $(stat -c '%u %a %F' "$RUNBASE/$UUID/console.sock")"
	# OVMF (no bootable disk) reports on the console that it found
	# nothing to boot; it needs seconds under TCG to get there, so
	# attaching right after the start loses nothing
	"$SHIELDVM" console "$VM" --read-only --timeout 120 >"$TMP/con.out" 2>"$TMP/con.err" &
	out=$!
	for _ in $(seq 1 1200); do
		grep -a -q "BdsDxe: No bootable option" "$TMP/con.out" && break
		kill -0 "$out" 2>/dev/null || break
		sleep 0.1
	done
	grep -a -q "BdsDxe: No bootable option" "$TMP/con.out" ||
		fail "the console did not show the firmware's output: $(head -c 300 "$TMP/con.out" | cat -v; cat "$TMP/con.err")"
	kill "$out" 2>/dev/null; wait "$out" 2>/dev/null || true
	pass "console: $(wc -c <"$TMP/con.out") bytes of firmware output (QEMU as nobody)"
	stop_vm
	check_stopped_clean
}

# Disk import (vm.json "import"): refusals before anything starts, a qemu-img
# failure that leaves no half disk, then a raw and a qcow2 image converted
# into LUKS qcow2 disks at the first start, never read again afterwards.
case_import() {
	local marker raw q2 sha_raw sha_q2 info n
	marker=SHIELDVM-IMPORT-$(head -c 16 /dev/urandom | xxd -p)
	raw=$TMP/src.img
	q2=$TMP/src.qcow2
	# a 4 MiB raw image: the marker at 1 MiB, the rest zeros
	truncate -s 4M "$raw"
	for _ in $(seq 1 64); do printf '%s\n' "$marker"; done |
		dd of="$raw" bs=1M seek=1 conv=notrunc status=none
	qemu-img convert -q -f raw -O qcow2 "$raw" "$q2"
	sha_raw=$(sha256sum "$raw" | cut -d' ' -f1)
	sha_q2=$(sha256sum "$q2" | cut -d' ' -f1)
	grep -q "$marker" "$q2" || fail "the plaintext qcow2 source does not show the marker"

	# import_vm ROOT_PATH ROOT_SHA
	import_vm() {
		rm -rf "$VM"
		make_vm "[{\"name\": \"root\", \"file\": \"disks/root.qcow2\", \"format\": \"qcow2-luks\", \"size_mb\": 4,
		           \"import\": {\"path\": \"$1\", \"sha256\": \"$2\"}},
		          {\"name\": \"data\", \"file\": \"disks/data.qcow2\", \"format\": \"qcow2-luks\", \"size_mb\": 4,
		           \"import\": {\"path\": \"$q2\", \"sha256\": \"$sha_q2\"}}]" '["disk-luks"]'
	}
	no_half_disk() {
		local left
		left=$(find "$VM/disks" -name 'root*' 2>/dev/null || true)
		[[ -z $left ]] || fail "a failed import left $left"
	}

	import_vm "$TMP/missing.img" "$sha_raw"
	start_refused "disk root: the image to import (named in vm.json at \`vm new\`): $TMP/missing.img is missing"
	no_half_disk
	import_vm "$raw" "$(sha256sum /dev/null | cut -d' ' -f1)"
	start_refused "disk root: $raw has SHA-256 $sha_raw, but vm.json names .*the image changed since \`vm new\`"
	no_half_disk
	head -c 1000 /dev/urandom >"$TMP/text.img"
	import_vm "$TMP/text.img" "$sha_raw"
	start_refused "disk root: import: $TMP/text.img: not a disk image"
	no_half_disk
	# a qcow2 header we accept (our parser checks the header and its
	# extensions, not the tables) but qemu-img cannot open (an unaligned
	# L1 table offset): each attempt fails, nothing is left behind
	{ printf 'QFI\xfb\0\0\0\3'; head -c 12 /dev/zero; printf '\0\0\0\x10'
	  printf '\0\0\0\0\0\x40\0\0'; head -c 4 /dev/zero; printf '\0\0\0\1'
	  printf '\0\0\0\0\0\1\0\1'; printf '\0\0\0\0\0\2\0\0'; printf '\0\0\0\1'
	  head -c 36 /dev/zero; printf '\0\0\0\4\0\0\0\x68'; head -c 8 /dev/zero; } >"$TMP/bad.qcow2"
	truncate -s 256K "$TMP/bad.qcow2"
	import_vm "$TMP/bad.qcow2" "$(sha256sum "$TMP/bad.qcow2" | cut -d' ' -f1)"
	start_refused "disk root: qemu-img convert failed"
	no_half_disk
	n=$(grep -c "qemu-img convert failed, retrying" "$TMP/refused.log" || true)
	[[ $n == 2 ]] || fail "qemu-img convert tried $((n + 1)) times, expected 3"
	pass "a failed conversion is retried, then refused; no half disk"

	import_vm "$raw" "$sha_raw"
	start
	for d in root data; do
		[[ -f $VM/disks/$d.qcow2 && ! -e $VM/disks/$d.qcow2.import ]] || fail "disk $d not imported"
		[[ $(stat -c %a "$VM/disks/$d.qcow2") == 600 ]] || fail "disk $d mode"
		info=$(qemu-img info --force-share --output=json "$VM/disks/$d.qcow2")
		jq -e '.format == "qcow2" and .encrypted == true and
			."format-specific".data.encrypt.format == "luks" and
			."virtual-size" == 4194304' <<<"$info" >/dev/null ||
			fail "disk $d: $info"
		n=$(grep -c "$marker" "$VM/disks/$d.qcow2" || true)
		[[ $n == 0 ]] || fail "disk $d holds the image's plaintext ($n lines)"
	done
	grep -q "first start: disk root imported from $raw (raw, SHA-256 $sha_raw, 4194304 bytes)" "$TMP/sup.log" ||
		fail "no import line for root"
	grep -q "first start: disk data imported from $q2 (qcow2, SHA-256 $sha_q2" "$TMP/sup.log" ||
		fail "no import line for data"
	pass "raw and qcow2 images imported into LUKS qcow2 disks (4 MiB; no plaintext marker)"
	stop_vm
	check_stopped_clean
	# later starts never read the sources again
	rm -f "$raw" "$q2"
	start
	stop_vm
	pass "second start without the source images"
}

# QEMU and swtpm as an unprivileged user (nobody): their uid, their files,
# not dumpable (their /proc files are root's; nobody cannot read them), and
# everything else still root's.
case_user() {
	local json qpid tpid nobody_gid out
	nobody_gid=$(id -g nobody)
	make_vm '[{"name": "data", "file": "disks/data.qcow2", "format": "qcow2-luks", "size_mb": 16},
	          {"name": "report", "file": "disks/report.raw", "format": "raw", "size_mb": 1}]' \
		'["disk-luks", "disk-raw"]'
	mkdir -p "$VM/disks" && truncate -s 1M "$VM/disks/report.raw"
	chmod 0600 "$VM/vm.json" # as vm new writes it
	start_refused "must run as an unprivileged user" --vm-user root
	start_refused "no such user" --vm-user no-such-user-shieldvm
	# the test's directories are 0700: nobody cannot reach the VM
	start_refused "not accessible to the VM user nobody" --vm-user nobody
	# the VM's parent directories are the admin's; the runtime base (0700
	# like /run/shieldvm) the supervisor makes searchable itself
	chmod 0711 "$TMP"
	chmod 0700 "$RUNBASE"
	start --vm-user nobody
	[[ $(stat -c %a "$RUNBASE") == 711 ]] || fail "runtime base: $(stat -c %a "$RUNBASE")"
	grep -q "QEMU and swtpm run as user nobody" "$TMP/sup.log" || fail "no user line in the log"
	json=$("$SHIELDVM" status "$VM" --json) || fail "shieldvm status"
	grep -q '"state": "running"' <<<"$json" || fail "status: $json"
	qpid=$(sed -n 's/.*"qemu_pid": \([0-9]*\).*/\1/p' <<<"$json")
	tpid=$(sed -n 's/.*"swtpm_pid": \([0-9]*\).*/\1/p' <<<"$json")
	[[ $(ps -o uid= -p "$qpid" | tr -d ' ') == 65534 ]] || fail "QEMU runs as uid $(ps -o uid= -p "$qpid")"
	[[ $(ps -o uid= -p "$tpid" | tr -d ' ') == 65534 ]] || fail "swtpm runs as uid $(ps -o uid= -p "$tpid")"
	grep -q "^Groups:[[:space:]]*${nobody_gid}[[:space:]]*$\|^Groups:[[:space:]]*$" /proc/"$qpid"/status ||
		fail "QEMU's groups: $(grep Groups /proc/"$qpid"/status)"
	grep -q "^NoNewPrivs:[[:space:]]*1" /proc/"$qpid"/status || fail "QEMU without no_new_privs"
	pass "QEMU and swtpm run as nobody (uid 65534), no_new_privs"
	# not dumpable: the kernel gives the /proc files of a non-dumpable
	# process to root, and its own uid may not read its memory or
	# environment (a dumpable process of nobody's is the control)
	for p in "$qpid" "$tpid"; do
		[[ $(stat -c %u /proc/"$p"/environ) == 0 ]] || fail "/proc/$p is not root's: dumpable"
		if setpriv --reuid nobody --regid "$nobody_gid" --clear-groups cat /proc/"$p"/environ >/dev/null 2>&1; then
			fail "nobody reads /proc/$p/environ"
		fi
		if setpriv --reuid nobody --regid "$nobody_gid" --clear-groups dd if=/proc/"$p"/mem of=/dev/null count=1 2>/dev/null; then
			fail "nobody opens /proc/$p/mem"
		fi
	done
	setpriv --reuid nobody --regid "$nobody_gid" --clear-groups sleep 30 &
	local ctl=$!
	sleep 0.2
	[[ $(stat -c %u /proc/"$ctl"/environ) == 65534 ]] || fail "control: a dumpable process's /proc is not its user's"
	setpriv --reuid nobody --regid "$nobody_gid" --clear-groups cat /proc/"$ctl"/environ >/dev/null ||
		fail "control: nobody cannot read its own dumpable process"
	kill "$ctl"
	wait "$ctl" 2>/dev/null || true
	pass "QEMU and swtpm not dumpable (/proc root's, unreadable by nobody; a dumpable control is readable)"
	# files: the user's only what QEMU and swtpm open
	[[ $(stat -c '%u:%g %a' "$VM") == "0:$nobody_gid 710" ]] || fail "VM dir: $(stat -c '%u:%g %a' "$VM")"
	[[ $(stat -c '%u:%g %a' "$RUNBASE/$UUID") == "0:$nobody_gid 710" ]] || fail "runtime dir: $(stat -c '%u:%g %a' "$RUNBASE/$UUID")"
	for f in vm.json secrets vars.enc; do
		[[ $(stat -c '%u %a' "$VM/$f") == "0 600" ]] || fail "$f: $(stat -c '%u %a' "$VM/$f")"
	done
	[[ $(stat -c '%u %a' "$RUNBASE/$UUID/control.sock") == "0 600" ]] || fail "control socket not root's"
	for f in "$VM/disks/data.qcow2" "$VM/disks/report.raw" "$RUNBASE/$UUID/vars.fd"; do
		[[ $(stat -c '%u %a' "$f") == "65534 600" ]] || fail "$f: $(stat -c '%u %a' "$f")"
	done
	[[ $(stat -c '%u %a' "$VM/vtpm") == "65534 700" ]] || fail "vtpm: $(stat -c '%u %a' "$VM/vtpm")"
	if setpriv --reuid nobody --regid "$nobody_gid" --clear-groups cat "$VM/secrets" >/dev/null 2>&1; then
		fail "nobody reads the secrets file"
	fi
	pass "files: disks, vtpm/, the VARS copy nobody's; vm.json, secrets, vars.enc, the control socket root's"
	stop_vm
	check_stopped_clean
	find "$VM/vtpm" -type f ! -user nobody | grep -q . && fail "vTPM state files not nobody's"
	# a second run as nobody loads the state swtpm wrote as nobody
	start --vm-user nobody
	out=$("$LAUNCH_TOOL" --request "$VM" status) || fail "request status"
	grep -q '"return"' <<<"$out" || fail "status: $out"
	"$SHIELDVM" poweroff "$VM" >/dev/null || fail "poweroff"
	wait "$SUP_PID" || fail "supervisor after poweroff"
	SUP_PID=
	check_stopped_clean
	pass "second run as nobody, clean stop"
}

"case_$1"
echo "PASS: $1"
