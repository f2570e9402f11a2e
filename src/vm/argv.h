/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command lines of the VM's processes: QEMU (locked down, docs/vm.md
 * "Lockdown") and swtpm (the vTPM). Pure code: only strings.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "vm/def.h"

/* A NULL-terminated argument vector of malloc'ed strings. */
struct vm_argv {
	size_t n;
	char *v[VM_ARGV_MAX + 1];
};

void vm_argv_clear(struct vm_argv *a);

struct vm_qemu_params {
	const struct vm_def *def;
	const char *dir;  /* the VM directory (disk files are relative) */
	const char *vars; /* the decrypted VARS copy (runtime dir) */
	int tpm_fd;	  /* QEMU's end of the socketpair to swtpm's
			     control channel (inherited; no path) */
	int qmp_fd;	  /* QEMU's end of the supervisor's QMP
			     socketpair (inherited; no path) */
	int serial_fd;	  /* console: a listening socket the supervisor bound
			     (RUN/console.sock); used only when allowed */
	const char *qemu; /* binary; NULL: VM_QEMU */
	int disk_key_fd[VM_DISKS_MAX]; /* per qcow2-luks disk: fd of its
					   passphrase (a memfd), -1 for raw */
};

/* Is a serial console allowed: policy encryption-supported AND the
 * definition asks for one. */
bool vm_serial_allowed(const struct vm_def *d);

/* The QEMU command line; checked with vm_qemu_argv_check before it is
 * returned (so a builder bug cannot produce a weaker VM). */
int vm_qemu_argv(const struct vm_qemu_params *p, struct vm_argv *ret,
		 struct err *e);

/* The lockdown check: every required option present, nothing forbidden
 * (-kernel, -initrd, -append, -gdb, -s, a monitor other than the one QMP
 * monitor on an inherited fd, -qmp, a serial port unless
 * allow_serial, virtio-serial / guest agent / 9p / vhost-user / vfio /
 * ivshmem devices, -incoming, -loadvm, -daemonize, -plugin, ...).
 * -EPERM with the offending argument named. */
int vm_qemu_argv_check(char *const *argv, bool allow_serial, struct err *e);

struct vm_swtpm_params {
	const char *state_dir; /* DIR/vtpm */
	int ctrl_fd;	       /* swtpm's end of the socketpair to QEMU
				  (--ctrl type=unixio,clientfd=N) */
	const char *log_file;  /* NULL: no log */
	const char *pid_file;  /* NULL: none */
	int key_fd;	       /* 32 raw bytes: the vTPM state key */
	const char *swtpm;     /* binary; NULL: VM_SWTPM */
};

/* swtpm socket --tpm2 --tpmstate dir=...,mode=0600 --ctrl
 * type=unixio,clientfd=N
 * --key fd=N,mode=aes-256-cbc,format=binary,remove=false --log
 * file=...,level=1 --terminate; checked: never a log level above 1, never
 * a state without --key, the control channel only on the inherited fd. */
int vm_swtpm_argv(const struct vm_swtpm_params *p, struct vm_argv *ret,
		  struct err *e);
int vm_swtpm_argv_check(char *const *argv, struct err *e);
