/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The supervisor of one VM (docs/vm.md, "The supervisor"): checks the
 * firmware and the recorded digests (rollback), creates the encrypted VARS
 * and disks at the first start, decrypts VARS into the runtime directory,
 * starts swtpm (state key by fd) and QEMU (locked down, disk keys by fd),
 * alone holds QMP, serves the control socket (allow-list: filter.h), and at
 * QEMU's exit re-encrypts VARS, wipes the plaintext, stops swtpm and hands
 * the new digests to the caller to be sealed into the secrets file.
 *
 * The caller has already forked, called setsid() and made the process
 * non-dumpable; the root key stays in the caller's locked memory.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "host/secrets.h"
#include "vm/def.h"

/* Files of a VM directory besides issue 4's kp/secrets. */
#define VM_VARS_FILE "vars.enc"
#define VM_VTPM_DIR "vtpm"
#define VM_LOG_FILE "supervisor.log"
/* Files of the runtime directory. */
#define VM_RUN_CONTROL "control.sock"
#define VM_RUN_QMP "qmp.sock"	/* now a socketpair: stale dirs only */
#define VM_RUN_TPM "swtpm.sock" /* now a socketpair: stale dirs only */
#define VM_RUN_VARS "vars.fd"
#define VM_RUN_CONSOLE "console.sock"
#define VM_RUN_SWTPM_LOG "swtpm.log"
#define VM_RUNTIME_ENV "SHIELDVM_RUNTIME_DIR" /* base directory override */

/* Where a start's time went (CLOCK_MONOTONIC, microseconds). The caller
 * sets t0_us (its start) and the phases before the launch (token, unwrap,
 * commit: host/unwrap.h); vm_launch_run adds its own (keys: HKDF of the
 * per-purpose keys; vars: VARS read, decrypted, written to the runtime
 * directory; swtpm: exec until its socket accepts; qemu: exec until QMP
 * is ready) and, once QEMU runs, logs the line
 *   start timings: token T ms, unwrap U ms, commit C ms, keys K ms,
 *   vars V ms, swtpm S ms, qemu Q ms, total X ms
 * (total: from t0_us until QMP is ready; it also holds what no phase names:
 * the checks of the firmware and the recorded digests, fork, the agent's
 * TPM open). */
struct vm_start_timings {
	int64_t t0_us;
	int64_t token_us, unwrap_us, commit_us;
	int64_t keys_us, vars_us, swtpm_us, qemu_us, total_us;
};

struct vm_launch {
	const char *dir; /* the VM directory, absolute */
	const struct vm_def *def;
	const uint8_t *root; /* the VM root key (32 bytes, locked) */
	const struct host_secrets *recorded; /* state and digests as found */
	const char *vars_template; /* first start; NULL: by secure_boot */
	bool new_disks; /* create a missing qcow2-luks disk although the VM
			   has run before (a disk added to the definition) */
	bool accept_unclean;	   /* start after a run that did not stop
				      cleanly (the digests cannot be checked) */
	const char *qemu, *swtpm, *qemu_img; /* NULL: from PATH */
	int stop_timeout_s; /* stop: ACPI powerdown, quit after this; 0:
			       VM_STOP_TIMEOUT_S */
	int ready_fd; /* "ready\n" once QEMU runs, "error: ...\n" on failure
			 before that; -1: none */
	/* At a clean stop: the new digests (s->root is the same key; state
	 * HOST_SECRETS_STOPPED) to be sealed into the secrets file. Also
	 * called with *recorded itself when the start is refused before swtpm
	 * or QEMU ran (nothing changed: the caller's "running" mark is taken
	 * back). */
	int (*record)(void *ctx, const struct host_secrets *s, struct err *e);
	void *record_ctx;
	struct vm_start_timings *timings; /* optional: filled and logged */
	/* QEMU and swtpm run as this unprivileged user (the supervisor must
	 * be root); NULL: as the supervisor's user (docs/vm.md, "The VM
	 * user") */
	const char *vm_user;
};

/* CLOCK_MONOTONIC in microseconds (the clock of vm_start_timings). */
int64_t vm_mono_us(void);

/* Run the VM until QEMU exits. 0: QEMU ran and exited, its state was saved
 * and recorded. Refusals before the start: -EKEYREJECTED (firmware image
 * changed), -ESTALE (vTPM state or VARS differs from the recorded digests:
 * replaced or rolled back; or the last run did not stop cleanly). */
int vm_launch_run(const struct vm_launch *l, struct err *e);

/* The checks that need no key, for the caller to run before it asks for
 * the key (vm_launch_run runs them again): the firmware image hashes to
 * security.firmware.code (-EKEYREJECTED), every existing qcow2-luks disk is
 * a LUKS-encrypted qcow2 with no backing or external data file
 * (-EKEYREJECTED; vm/qcow2.h). dir: the VM directory. */
int vm_launch_check(const char *dir, const struct vm_def *d, struct err *e);

/* The runtime directory of a VM: $SHIELDVM_RUNTIME_DIR/<uuid>, else
 * /run/shieldvm/<uuid> for root, $XDG_RUNTIME_DIR/shieldvm/<uuid> for
 * others. */
int vm_runtime_dir(const char *uuid, char *out, size_t max, struct err *e);
