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

struct vm_launch {
	const char *dir; /* the VM directory, absolute */
	const struct vm_def *def;
	const uint8_t *root; /* the VM root key (32 bytes, locked) */
	const struct host_secrets *recorded; /* state and digests as found */
	const char *vars_template; /* first start; NULL: by secure_boot */
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
	/* QEMU and swtpm run as this unprivileged user (the supervisor must
	 * be root); NULL: as the supervisor's user (docs/vm.md, "The VM
	 * user") */
	const char *vm_user;
};

/* Run the VM until QEMU exits. 0: QEMU ran and exited, its state was saved
 * and recorded. Refusals before the start: -EKEYREJECTED (firmware image
 * changed), -ESTALE (vTPM state or VARS differs from the recorded digests:
 * replaced or rolled back; or the last run did not stop cleanly). */
int vm_launch_run(const struct vm_launch *l, struct err *e);

/* The runtime directory of a VM: $SHIELDVM_RUNTIME_DIR/<uuid>, else
 * /run/shieldvm/<uuid> for root, $XDG_RUNTIME_DIR/shieldvm/<uuid> for
 * others. */
int vm_runtime_dir(const char *uuid, char *out, size_t max, struct err *e);
