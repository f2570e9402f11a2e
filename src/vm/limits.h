/* SPDX-License-Identifier: Apache-2.0 */
/* Every limit of the launcher (src/vm/) in one place. */
#pragma once

#define VM_DEF_FILE "vm.json"
#define VM_DEF_MAX_SIZE (64 * 1024) /* vm.json, bytes */
#define VM_NAME_MAX 64		    /* [A-Za-z0-9._-], not "." first */
#define VM_MEMORY_MIN_MB 128
#define VM_MEMORY_MAX_MB (1024 * 1024)
#define VM_VCPUS_MAX 64
#define VM_DISKS_MAX 8
#define VM_DISK_NAME_MAX 32		       /* [a-z0-9_-] */
#define VM_DISK_SIZE_MAX_MB (16 * 1024 * 1024) /* 16 TiB */
#define VM_PATH_MAX 1024    /* any path we put on a command line */
#define VM_DEVICES_MAX 8    /* kinds in security.devices */
#define VM_PROFILE_MAX 4096 /* canonical profile text, bytes */
#define VM_VARS_MAX_SIZE (8 * 1024 * 1024) /* an OVMF VARS image */
#define VM_VTPM_MAX_FILES 16		   /* files in vtpm/ we digest */
#define VM_VTPM_MAX_FILE_SIZE (4 * 1024 * 1024)
#define VM_ARGV_MAX 128		     /* QEMU / swtpm arguments */
#define VM_QMP_MAX_MSG (1024 * 1024) /* one QMP message, bytes */
#define VM_QMP_TIMEOUT_MS 10000	     /* one QMP answer */
#define VM_CONTROL_MAX_MSG 4096	     /* one request on the control socket */
#define VM_CONTROL_TIMEOUT_MS 5000
#define VM_STOP_TIMEOUT_S 60	  /* ACPI powerdown, then quit */
#define VM_START_TIMEOUT_MS 10000 /* swtpm / QEMU sockets appear */
#define VM_EXEC_MAX_SIZE (256 * 1024 * 1024) /* QEMU / swtpm binary copied
						exec-only */
#define VM_USER_GROUPS_MAX 64 /* supplementary groups of the VM user */

#define VM_OVMF_CODE "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
#define VM_OVMF_VARS_MS "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
#define VM_OVMF_VARS_BLANK "/usr/share/OVMF/OVMF_VARS_4M.fd"
#define VM_QEMU "qemu-system-x86_64"
#define VM_QEMU_IMG "qemu-img"
#define VM_QEMU_DATADIR "/usr/share/qemu" /* -L: firmware ROMs */
#define VM_SWTPM "swtpm"
#define VM_LOCKDOWN "qemu-7.2-v1" /* the lockdown set qemu.c builds */
#define VM_QEMU_IMG_ATTEMPTS 3 /* qemu-img's PBKDF2 calibration can fail */
#define VM_LUKS_ITER_MS "10"   /* LUKS PBKDF2 time, ms (random 256-bit keys) */
