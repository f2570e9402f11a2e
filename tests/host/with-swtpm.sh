#!/usr/bin/env bash
# Run a test program against a fresh swtpm (suite 'host'):
#   with-swtpm.sh [--banks sha1,sha256] PROGRAM ARGS...
# Provisions EKs with certificates from a local CA, starts swtpm on free
# loopback ports and exports SHIELDVM_TEST_TCTI, SHIELDVM_TEST_CA_DIR
# (root + intermediate PEMs) and SHIELDVM_TEST_TMP (scratch, removed after).
set -euo pipefail
# shellcheck source=tests/lib/swtpm.sh
source "$(dirname "$0")/../lib/swtpm.sh"

banks=sha1,sha256,sha384
if [[ ${1:-} == --banks ]]; then
	banks=$2
	shift 2
fi
swtpm_lib_init
swtpm_lib_provision "$SWTPM_DIR/state" "$banks"
swtpm_lib_start "$SWTPM_DIR/state"
mkdir -p "$SWTPM_DIR/scratch"
export SHIELDVM_TEST_TCTI=$SWTPM_TCTI
export SHIELDVM_TEST_CA_DIR=$SWTPM_DIR/ca/cadir
export SHIELDVM_TEST_TMP=$SWTPM_DIR/scratch
"$@"
