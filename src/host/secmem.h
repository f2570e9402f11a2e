/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Locked memory for secrets (transport keys, derived keys, the VM's
 * secrets): one anonymous mapping, mlock'ed (never swapped), excluded from
 * core dumps (MADV_DONTDUMP) and not inherited by children
 * (MADV_DONTFORK), handed out by a bump allocator, wiped and unmapped as a
 * whole. Small on purpose: RLIMIT_MEMLOCK is often 64 KiB for non-root.
 */
#pragma once

#include <stddef.h>

#include "common/err.h"

#define HOST_SECMEM_MAX (256u * 1024) /* largest arena, bytes */

struct host_secmem;

/* An arena of at least size bytes (rounded up to pages). -ENOMEM when
 * the memory cannot be locked (the message names RLIMIT_MEMLOCK). */
int host_secmem_new(size_t size, struct host_secmem **ret, struct err *e);

/* n zeroed bytes, 16-byte aligned; NULL when the arena is full. */
void *host_secmem_alloc(struct host_secmem *m, size_t n);

/* Wipe, unlock and unmap. NULL is fine. */
void host_secmem_free(struct host_secmem *m);

static inline void host_secmem_freep(struct host_secmem **m)
{
	host_secmem_free(*m);
}

/* Make the process non-dumpable (no core file, no ptrace by the same
 * uid, /proc/PID/mem closed): called by whoever is about to hold keys. */
int host_secmem_protect_process(struct err *e);
