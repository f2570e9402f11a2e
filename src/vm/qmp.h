/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A QMP client (QEMU Machine Protocol: JSON messages over a unix socket,
 * one per line): greeting, qmp_capabilities, execute, events. Used only by
 * the supervisor, which alone holds the VM's QMP socket: one end of a
 * socketpair whose other end QEMU inherits (no path anyone could connect
 * to; docs/vm.md, "Lockdown").
 */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

struct vm_qmp;

/* Take fd (the supervisor's end of the QMP socketpair; owned from now on,
 * closed on failure too), read QEMU's greeting within timeout_ms,
 * negotiate capabilities. -ECONNRESET: QEMU closed its end (it exited). */
int vm_qmp_open(int fd, int timeout_ms, struct vm_qmp **ret, struct err *e);
void vm_qmp_close(struct vm_qmp *q);

static inline void vm_qmp_closep(struct vm_qmp **q)
{
	vm_qmp_close(*q);
}

/* The socket, for poll() (events arrive unasked). */
int vm_qmp_fd(const struct vm_qmp *q);

/* Execute a command (args: NULL or an object, borrowed). *ret: the
 * "return" value (new reference). -EREMOTEIO with QEMU's error class and
 * description in e when QEMU answers an error; -ECONNRESET when QEMU went
 * away. Events read meanwhile are queued. */
int vm_qmp_execute(struct vm_qmp *q, const char *cmd, json_t *args,
		   json_t **ret, struct err *e);

/* The next queued or readable event (timeout_ms 0: only what is there).
 * -EAGAIN none; -ECONNRESET QEMU went away. *ret: the event object. */
int vm_qmp_event(struct vm_qmp *q, int timeout_ms, json_t **ret, struct err *e);
