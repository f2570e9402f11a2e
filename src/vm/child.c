/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/child.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

#ifndef MFD_EXEC
#define MFD_EXEC_ 0x0010U /* linux 6.3 */
#else
#define MFD_EXEC_ MFD_EXEC
#endif

extern char **environ;

/* Root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH in its effective
 * set (the permitted set keeps them: execve gives root its full set back).
 * Only so that exec sees an exec-only binary as unreadable (below). */
static int drop_dac_caps(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	d[0].effective &=
		~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

/* In the child, after fork: die with the supervisor, no core files, the
 * user, no new privileges. A child that cannot set any of it exits 126
 * (before exec) with the reason on stderr (the supervisor's log). */
static void child_setup(const struct vm_child *c, pid_t parent)
{
	const struct rlimit no_core = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &no_core) < 0) {
		fprintf(stderr, "setrlimit(RLIMIT_CORE): %s\n",
			strerror(errno));
		_exit(126);
	}
	if (c && c->user) {
		const struct vm_user *u = c->user;

		if (setgroups((size_t)u->n_groups, u->groups) < 0 ||
		    setresgid(u->gid, u->gid, u->gid) < 0 ||
		    setresuid(u->uid, u->uid, u->uid) < 0) {
			fprintf(stderr, "dropping to user %s: %s\n", u->name,
				strerror(errno));
			_exit(126);
		}
		if (getuid() != u->uid || geteuid() != u->uid ||
		    getgid() != u->gid || setuid(0) == 0) {
			fprintf(stderr, "user %s: still privileged\n", u->name);
			_exit(126);
		}
	} else if (geteuid() == 0 && c && c->exec_fd >= 0) {
		int r = drop_dac_caps();

		if (r < 0) {
			fprintf(stderr, "capset: %s\n", strerror(-r));
			_exit(126);
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		fprintf(stderr, "PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
		_exit(126);
	}
	/* after the credentials change, which clears it */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
}

/* fork + exec argv with exactly the keep[] fds inherited (besides 0-2:
 * stdin /dev/null, stdout and stderr to our stderr); the child dies with
 * us (PR_SET_PDEATHSIG), dumps no core, gets no new privileges, runs as
 * c->user and execs c->exec_fd when given. */
int vm_spawn(char *const *argv, const int *keep, size_t n_keep,
	     const struct vm_child *c, pid_t *ret, struct err *e)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0)
		return err_set(e, errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (null >= 0)
			dup2(null, 0);
		dup2(2, 1);
		for (size_t i = 0; i < n_keep; i++)
			if (keep[i] >= 0)
				fcntl(keep[i], F_SETFD, 0);
		child_setup(c, parent);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		if (c && c->exec_fd >= 0)
			fexecve(c->exec_fd, argv, environ);
		else
			execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	*ret = pid;
	return 0;
}

/* The binary name (PATH searched as execvp does) copied into a sealed
 * memfd of mode 0111: executable, not readable. execve of a file the
 * process may not read marks the new process non-dumpable (the kernel's
 * would_dump(): /proc/PID owned by root, no ptrace attach or /proc/PID/mem
 * for its own uid, no core), from its first instruction. A root child
 * drops its DAC capabilities before the exec so that this holds for root
 * too (drop_dac_caps). */
int vm_exec_copy(const char *name, int *ret, struct err *e)
{
	char path[VM_PATH_MAX];
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	_cleanup_close_ int in = -1;
	struct stat st;
	off_t off = 0;
	int fd;

	if (strchr(name, '/')) {
		if (strlen(name) >= sizeof(path))
			return err_set(e, ENAMETOOLONG, "%s: too long", name);
		snprintf(path, sizeof(path), "%s", name);
	} else {
		const char *p = getenv("PATH");
		bool found = false;

		if (!p || !*p)
			p = "/usr/local/bin:/usr/bin:/bin";
		while (*p && !found) {
			size_t n = strcspn(p, ":");
			int k = snprintf(path, sizeof(path), "%.*s/%s", (int)n,
					 p, name);

			found = n > 0 && k > 0 && (size_t)k < sizeof(path) &&
				access(path, X_OK) == 0;
			p += n;
			if (*p == ':')
				p++;
		}
		if (!found)
			return err_set(e, ENOENT, "%s: not found in PATH",
				       name);
	}
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size > VM_EXEC_MAX_SIZE)
		return err_set(e, EINVAL,
			       "%s: not a regular file of at most "
			       "%d bytes",
			       path, VM_EXEC_MAX_SIZE);
	fd = memfd_create(base, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC_);
	if (fd < 0 && errno == EINVAL) /* kernels before 6.3: no MFD_EXEC */
		fd = memfd_create(base, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return err_set(e, errno, "memfd_create: %s", strerror(errno));
	while (off < st.st_size) {
		ssize_t n = sendfile(fd, in, &off, (size_t)(st.st_size - off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int r = n < 0 ? errno : EIO;

			close(fd);
			return err_set(e, r, "%s: copy: %s", path, strerror(r));
		}
	}
	if (fchmod(fd, 0111) < 0 ||
	    fcntl(fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) <
		    0) {
		int r = errno;

		close(fd);
		return err_set(e, r, "%s: exec-only copy: %s", path,
			       strerror(r));
	}
	*ret = fd;
	return 0;
}

/* The VM user by name: not root; only root may start processes as
 * another user. A name that is the supervisor's own user is no drop
 * (ret->name empty). */
int vm_user_resolve(const char *name, struct vm_user *ret, struct err *e)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = VM_USER_GROUPS_MAX, r;

	memset(ret, 0, sizeof(*ret));
	if (!*name || strlen(name) >= sizeof(ret->name))
		return err_set(e, EINVAL, "VM user '%s': not a user name",
			       name);
	r = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (r != 0 || !res)
		return err_set(e, r ? r : ENOENT, "VM user '%s': %s", name,
			       r ? strerror(r) : "no such user");
	if (pw.pw_uid == 0 || pw.pw_gid == 0)
		return err_set(e, EINVAL,
			       "VM user '%s' is uid %u gid %u: QEMU and swtpm "
			       "must run as an unprivileged user",
			       name, (unsigned)pw.pw_uid, (unsigned)pw.pw_gid);
	if (pw.pw_uid == geteuid())
		return 0;
	if (geteuid() != 0)
		return err_set(e, EPERM,
			       "VM user '%s': only a supervisor running as root "
			       "can start QEMU and swtpm as another user",
			       name);
	if (getgrouplist(name, pw.pw_gid, ret->groups, &n) < 0)
		return err_set(e, E2BIG, "VM user '%s': more than %d groups",
			       name, VM_USER_GROUPS_MAX);
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	ret->uid = pw.pw_uid;
	ret->gid = pw.pw_gid;
	ret->n_groups = n;
	return 0;
}

/* As the VM user, every path QEMU and swtpm open must be reachable (its
 * parent directories searchable): checked in a child that drops to the
 * user, so that the refusal names the path instead of QEMU failing later. */
int vm_user_check_access(const struct vm_user *u, const char *const *paths,
			 const int *modes, size_t n, struct err *e)
{
	int p[2], status;
	struct {
		int idx, err;
	} res = { -1, 0 };
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(e, errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return err_set(e, errno, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(p[0]);
		if (setgroups((size_t)u->n_groups, u->groups) < 0 ||
		    setresgid(u->gid, u->gid, u->gid) < 0 ||
		    setresuid(u->uid, u->uid, u->uid) < 0) {
			res.err = errno;
		} else {
			for (size_t i = 0; i < n; i++)
				if (access(paths[i], modes[i]) < 0) {
					res.idx = (int)i;
					res.err = errno;
					break;
				}
		}
		(void)!write(p[1], &res, sizeof(res));
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &res, sizeof(res)) != (ssize_t)sizeof(res))
		res.err = EIO;
	close(p[0]);
	waitpid(pid, &status, 0);
	if (res.err && res.idx < 0)
		return err_set(e, res.err, "cannot become user %s: %s", u->name,
			       strerror(res.err));
	if (res.err)
		return err_set(e, res.err,
			       "%s: not accessible to the VM user %s (%s): "
			       "every directory above it must be searchable "
			       "by that user",
			       paths[res.idx], u->name, strerror(res.err));
	return 0;
}
