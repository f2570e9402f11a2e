#!/usr/bin/env bash
# Configuration: errors name the file, line, key and value; flags override
# the file; --help/--version; hgsd refuses root without a service user and
# an admin socket another hgsd serves.
. "$(dirname "$0")/lib.sh"

# expect_config_error TEXT: hgsd --config $TMP/bad.conf exits 2 and its
# error names TEXT.
expect_config_error() {
	local rc=0
	"$HGSD" --foreground --config "$TMP/bad.conf" "${@:2}" 2>"$TMP/err.log" || rc=$?
	[[ $rc == 2 ]] || { cat "$TMP/err.log" >&2; fail "expected exit 2, got $rc"; }
	jq -e --arg t "$1" 'select(.event == "config_error") | .message | contains($t)' "$TMP/err.log" >/dev/null ||
		{ cat "$TMP/err.log" >&2; fail "error does not say: $1"; }
}

printf '[server]\nlisten = 127.0.0.1:0\ntimeout = 30s\n' >"$TMP/bad.conf"
expect_config_error "$TMP/bad.conf:3: [server] timeout = '30s': expected an integer"
printf '[server]\n\nmax_body = 99999999999999999999\n' >"$TMP/bad.conf"
expect_config_error ":3: [server] max_body = '99999999999999999999'"
printf '[server]\nmax_connections = -1\n' >"$TMP/bad.conf"
expect_config_error "[server] max_connections = '-1'"
printf '[server]\nthreads = 0x10\n' >"$TMP/bad.conf"
expect_config_error "[server] threads = '0x10'"
printf '[server]\nlisten = localhost\n' >"$TMP/bad.conf"
expect_config_error "[server] listen = 'localhost': expected HOST:PORT"
printf '[server]\nlisten = ::1:80\n' >"$TMP/bad.conf"
expect_config_error "expected HOST:PORT"
printf '[sever]\nlisten = 127.0.0.1:0\n' >"$TMP/bad.conf"
expect_config_error ":2: [sever] listen = '127.0.0.1:0': unknown key"
printf '[attestation]\nmodes = tpm, magic\n' >"$TMP/bad.conf"
expect_config_error "[attestation] modes = 'tpm, magic'"
printf '[server]\nkeep_alive = maybe\n' >"$TMP/bad.conf"
expect_config_error "[server] keep_alive = 'maybe': expected yes or no"
printf '[admin]\nsocket = relative.sock\n' >"$TMP/bad.conf"
expect_config_error "must be an absolute path"
printf '[log]\nlevel = loud\n' >"$TMP/bad.conf"
expect_config_error "[log] level = 'loud'"
printf '[server\nlisten = 127.0.0.1:0\n' >"$TMP/bad.conf"
expect_config_error ":1: syntax error"
printf '[server]\n' >"$TMP/bad.conf"
expect_config_error "--listen 'nope': expected HOST:PORT" --listen nope
expect_config_error "unknown option '--bogus'" --bogus
rc=0
"$HGSD" --config "$TMP/missing.conf" 2>"$TMP/err.log" || rc=$?
[[ $rc == 2 ]] && grep -q 'missing.conf: No such file' "$TMP/err.log" || fail "missing --config file not reported"
ok "config errors name file, line, key and value"

"$HGSD" --help | grep -q -- '--admin-socket PATH' || fail "--help"
"$HGSD" --version | grep -Eq '^hgsd [0-9]+\.[0-9]+' || fail "--version"
ok "--help, --version"

# Flags override the file; every documented key is accepted.
write_config hgs1 "keep_alive = no" "timeout = 5" "max_connections = 100" \
	"tls_priorities = NORMAL"
cat >>"$TMP/hgs1.conf" <<EOC
[tokens]
lifetime = 3600
[attestation]
modes = tpm
nonce_lifetime = 120
policy_id = fleet-policy
EOC
sed -i 's/^listen = .*/listen = 127.0.0.1:1/' "$TMP/hgs1.conf"
start_hgsd hgs1 --listen 127.0.0.1:0
http GET /v1/info
expect_status 200
jq_expect '.token_lifetime == 3600 and .nonce_lifetime == 120 and .modes == ["tpm"] and .policy_id == "fleet-policy"'
http POST /v1/attest/nonce -d '{}'
jq_expect '.expires - now < 125'
curl -sS -D "$TMP/h" -o /dev/null "$BASE_URL/v1/info"
grep -qi '^Connection: close' "$TMP/h" || fail "keep_alive = no: no Connection: close"
ok "file values reach the API; --listen overrides the file"

# A second hgsd on the same admin socket is refused (the live one keeps it).
rc=0
"$HGSD" --foreground --config "$TMP/hgs1.conf" --listen 127.0.0.1:0 2>"$TMP/second.log" || rc=$?
[[ $rc == 1 ]] && grep -q 'another hgsd serves it' "$TMP/second.log" || { cat "$TMP/second.log" >&2; fail "second hgsd on the same socket"; }
admin GET /v1/admin/hosts
expect_status 200
ok "admin socket in use: refused"

# The socket is 0660 in a 0750 directory.
[[ $(stat -c %a "$ADMIN") == 660 ]] || fail "admin socket mode $(stat -c %a "$ADMIN")"
[[ $(stat -c %a "$(dirname "$ADMIN")") == 750 ]] || fail "admin dir mode $(stat -c %a "$(dirname "$ADMIN")")"
ok "admin socket 0660, directory 0750"
stop_hgsd "$HGSD_PID"

# Not dumpable, and (under root) really running as the service user.
if [[ $(id -u) == 0 ]]; then
	rm -f "$TMP/hgs1.log"
	start_hgsd hgs1
	[[ $(awk '/^Uid:/ {print $2, $3, $4, $5}' /proc/"$HGSD_PID"/status) == "65534 65534 65534 65534" ]] ||
		fail "hgsd does not run as nobody"
	[[ $(awk '/^Groups:/ {print $2}' /proc/"$HGSD_PID"/status) == 65534 ]] || fail "supplementary groups kept"
	[[ $(awk '/^NoNewPrivs:/ {print $2}' /proc/"$HGSD_PID"/status) == 1 ]] || fail "NoNewPrivs not set"
	# a non-dumpable process's /proc files belong to root
	[[ $(stat -c %u /proc/"$HGSD_PID"/environ) == 0 ]] || fail "hgsd is dumpable"
	stop_hgsd "$HGSD_PID"
	ok "runs as nobody, no new privileges, not dumpable"

	# Root without a service user is refused.
	write_config root
	sed -i '/^user = /d' "$TMP/root.conf"
	rc=0
	"$HGSD" --foreground --config "$TMP/root.conf" 2>"$TMP/root.log" || rc=$?
	[[ $rc == 1 ]] && grep -q 'refusing to run as root' "$TMP/root.log" || { cat "$TMP/root.log" >&2; fail "ran as root"; }
	ok "refuses root without [server] user"
fi

# The documented example configuration parses and serves (with the paths
# that need root or /run overridden by flags).
rm -f "$TMP/etc.log"
"$HGSD" --foreground --config "$(dirname "$0")/../../etc/hgsd.conf" --listen 127.0.0.1:0 \
	--store "sqlite:$TMP/state/etc.db" --admin-socket "$TMP/run-etc/admin.sock" \
	${HGSD_USER:+--user "$HGSD_USER"} 2>"$TMP/etc.log" &
HGSD_PID=$!
HGSD_PIDS+=("$HGSD_PID")
wait_hgsd etc "$HGSD_PID"
http GET /v1/info
expect_status 200
jq_expect '.token_lifetime == 28800 and .nonce_lifetime == 300'
stop_hgsd "$HGSD_PID"
ok "etc/hgsd.conf parses and serves"
