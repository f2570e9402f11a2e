/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The supervisor's children (swtpm, QEMU; docs/vm.md, "Lockdown"): started
 * with exactly their fds, dying with the supervisor, without core files or
 * new privileges, optionally as an unprivileged VM user, and running an
 * exec-only copy of their binary, which makes them non-dumpable.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"
#include "vm/limits.h"

/* The unprivileged user QEMU and swtpm run as. */
struct vm_user {
	char name[64]; /* "": no user (the supervisor's) */
	uid_t uid;
	gid_t gid;
	gid_t groups[VM_USER_GROUPS_MAX];
	int n_groups;
};

/* How a child runs. */
struct vm_child {
	int exec_fd; /* an exec-only copy of the binary (vm_exec_copy); -1:
			execvp(argv[0]) */
	const struct vm_user *user; /* NULL: the supervisor's user */
};

/* The VM user by name: not uid or gid 0; only root may start processes
 * as another user. A name that is the caller's own user needs no drop:
 * ret->name stays "". */
int vm_user_resolve(const char *name, struct vm_user *ret, struct err *e);

/* In a child dropped to u: every paths[i] passes access(modes[i]).
 * -errno naming the first path that does not (its parent directories
 * must be searchable by u). */
int vm_user_check_access(const struct vm_user *u, const char *const *paths,
			 const int *modes, size_t n, struct err *e);

/* The binary name (PATH searched as execvp does) copied into a sealed
 * memfd of mode 0111: executable, not readable. *ret: the memfd
 * (close-on-exec). */
int vm_exec_copy(const char *name, int *ret, struct err *e);

/* fork + exec argv with exactly the keep[] fds inherited (besides 0-2:
 * stdin /dev/null, stdout and stderr to our stderr). The child: RLIMIT_CORE
 * 0, c->user's groups, gid and uid (checked), PR_SET_NO_NEW_PRIVS,
 * PR_SET_PDEATHSIG SIGKILL (after the credentials change, which clears
 * it), then fexecve(c->exec_fd) (a root child first drops
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its effective set, so
 * that the exec-only copy is unreadable to it too) or execvp. c NULL: no
 * user, execvp. A child that cannot set itself up exits 126 with the
 * reason on stderr. */
int vm_spawn(char *const *argv, const int *keep, size_t n_keep,
	     const struct vm_child *c, pid_t *ret, struct err *e);
