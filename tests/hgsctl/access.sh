#!/usr/bin/env bash
# Reaching hgsd: the socket from --socket, $HGSCTL_SOCKET or the default;
# an unreachable socket (missing, stale, not a socket, path too long) exits
# 3 with a clear message; a non-admin is refused: by hgsd's peer check
# (SO_PEERCRED, 403 forbidden, exit 1, audited) or by the socket's file
# permissions (EACCES, exit 3), each with a hint.
. "$(dirname "$0")/lib.sh"

start_hgsd hgs1

# ---- where the socket comes from ----
RC=0
HGSCTL_SOCKET=$ADMIN "$HGSCTL" host list >"$TMP/out" 2>"$TMP/err" || RC=$?
[[ $RC == 0 ]] || { show_output; fail "HGSCTL_SOCKET: exit $RC"; }
out_has '^no hosts registered$'
RC=0
HGSCTL_SOCKET=$TMP/elsewhere.sock "$HGSCTL" --socket "$ADMIN" host list >"$TMP/out" 2>"$TMP/err" || RC=$?
[[ $RC == 0 ]] || { show_output; fail "--socket over HGSCTL_SOCKET: exit $RC"; }
if [[ ! -e /run/shieldvm/hgsd.sock ]]; then
	RC=0
	env -u HGSCTL_SOCKET "$HGSCTL" host list >"$TMP/out" 2>"$TMP/err" || RC=$?
	[[ $RC == 3 ]] || { show_output; fail "default socket: exit $RC, expected 3"; }
	err_has "cannot connect to hgsd's admin socket /run/shieldvm/hgsd.sock: No such file or directory"
fi
ok "socket from --socket, HGSCTL_SOCKET, default /run/shieldvm/hgsd.sock"

# ---- unreachable: exit 3, the socket named, a hint ----
expect 3 --socket "$TMP/nope.sock" host list
err_has "cannot connect to hgsd's admin socket $TMP/nope.sock: No such file or directory"
err_has 'hint: is hgsd running\? Choose the socket with --socket or HGSCTL_SOCKET'
# a stale socket nobody listens on
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TMP/stale.sock"
expect 3 --socket "$TMP/stale.sock" --json host list
err_has "stale.sock: Connection refused"
[[ ! -s $TMP/out ]] || { show_output; fail "--json printed something for an unreachable socket"; }
expect 3 --socket "$TMP" host list
expect 3 --socket "$TMP/$(printf 'x%.0s' {1..120}).sock" host list
err_has 'longer than a Unix socket address allows'
expect 2 --socket '' host list
# every command reports the same way
expect 3 --socket "$TMP/nope.sock" baseline add --name b --from-log "$SHIELDVM_TESTDATA/eventlogs/local__ovmf_sb_shim_grub.bin"
expect 3 --socket "$TMP/nope.sock" rule list
expect 3 --socket "$TMP/nope.sock" audit list --since 1h
echo abc.def.ghi >"$TMP/tok"
expect 3 --socket "$TMP/nope.sock" token verify "$TMP/tok"
# and after hgsd stops
stop_hgsd "$HGSD_PID"
expect 3 host list
err_has 'cannot connect'
ok "unreachable hgsd: exit 3 naming the socket, with a hint"

# ---- non-admin peers ----
if [[ $(id -u) != 0 ]]; then
	echo "skip: the peer checks need root to run hgsctl as other users"
	exit 0
fi
start_hgsd hgs1
# hgsd runs as nobody and owns the socket, so nobody reaches it and is
# refused by the peer check.
RC=0
setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$HGSCTL" --socket "$ADMIN" host list >"$TMP/out" 2>"$TMP/err" || RC=$?
[[ $RC == 1 ]] || { show_output; fail "nobody: exit $RC, expected 1"; }
err_has 'hgsd refused \(forbidden, HTTP 403\): .+'
err_has "hint: only root and members of hgsd's admin group"
RC=0
# the test data may sit under a directory only root can enter (a CI
# checkout, mktemp -d): give nobody its own readable copy
cp "$KEYLIME/ek.pub" "$TMP/ek-nobody.pub"
chmod 0644 "$TMP/ek-nobody.pub"
setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$HGSCTL" --socket "$ADMIN" host add --name evil --ek-pub "$TMP/ek-nobody.pub" >"$TMP/out" 2>"$TMP/err" || RC=$?
[[ $RC == 1 ]] || { show_output; fail "nobody host add: exit $RC, expected 1"; }
err_has 'forbidden'
expect 1 host show evil
expect 0 --json audit list --limit 10
out_jq '[.records[] | select(.details.op == "connect" and .result == "fail" and .details.peer_uid == 65534)] | length == 2'
ok "nobody: 403 forbidden from the peer check, exit 1 with a hint, audited"

# Another user that the socket's permissions (0660, owner nobody) keep out.
RC=0
setpriv --reuid=daemon --regid=daemon --clear-groups \
	"$HGSCTL" --socket "$ADMIN" host list >"$TMP/out" 2>"$TMP/err" || RC=$?
[[ $RC == 3 ]] || { show_output; fail "daemon: exit $RC, expected 3"; }
err_has "cannot connect to hgsd's admin socket $ADMIN: Permission denied"
err_has "hint: only root and members of hgsd's admin group"
ok "daemon: permission denied on the socket, exit 3 with a hint"

stop_hgsd "$HGSD_PID"
