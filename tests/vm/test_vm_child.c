/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The supervisor's children (src/vm/child.c), with a real probe program
 * (child_probe.c) as the child: exactly the kept fds, no core, no new
 * privileges, the VM user, and not dumpable when it runs its exec-only
 * copy; the same exec without the copy is the control (dumpable). Root
 * runs these tests (the user cases need it).
 *
 *   test_vm_child PROBE
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "vm/child.h"

#include "../lib/check.h"

#define DUMPABLE 1
#define NO_NEW_PRIVS 2
#define NO_CORE 4
#define KEPT_OPEN 8
#define OTHER_OPEN 16
#define UID_IS 32

static const char *probe;

/* Run the probe as c says; its exit bits. */
static int run_probe(const struct vm_child *c, uid_t uid)
{
	int kept = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int other = open("/dev/null", O_RDONLY | O_CLOEXEC);
	char a1[16], a2[16], a3[16];
	char *argv[] = { (char *)probe, a1, a2, a3, NULL };
	struct err e = { 0 };
	pid_t pid;
	int status;

	assert_true(kept >= 0 && other >= 0);
	snprintf(a1, sizeof(a1), "%d", kept);
	snprintf(a2, sizeof(a2), "%d", other);
	snprintf(a3, sizeof(a3), "%u", (unsigned)uid);
	check_ok(vm_spawn(argv, &kept, 1, c, &pid, &e), &e);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(kept);
	close(other);
	if (!WIFEXITED(status) || WEXITSTATUS(status) >= 64)
		fail_msg("probe: status %d", status);
	return WEXITSTATUS(status);
}

static void test_exec_copy(void **state)
{
	struct err e = { 0 };
	struct stat st;
	int fd = -1, seals;

	(void)state;
	check_ok(vm_exec_copy(probe, &fd, &e), &e);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0111);
	seals = fcntl(fd, F_GET_SEALS);
	assert_true(seals & F_SEAL_WRITE);
	assert_true(seals & F_SEAL_SEAL);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fchmod(fd, 0755), 0); /* the owner could... */
	assert_true(write(fd, "x", 1) < 0);    /* ...but not change it */
	close(fd);
	/* from PATH, as execvp */
	check_ok(vm_exec_copy("true", &fd, &e), &e);
	close(fd);
	memset(&e, 0, sizeof(e));
	assert_int_equal(vm_exec_copy("no-such-binary-shieldvm", &fd, &e),
			 -ENOENT);
	assert_non_null(strstr(err_str(&e), "not found in PATH"));
	memset(&e, 0, sizeof(e));
	assert_int_equal(vm_exec_copy("/etc", &fd, &e), -EINVAL);
}

/* As root, no VM user: the exec-only copy makes the child non-dumpable;
 * the same exec of the file itself leaves it dumpable (the control). */
static void test_spawn_root(void **state)
{
	struct err e = { 0 };
	struct vm_child c = { .exec_fd = -1 };
	int bits;

	(void)state;
	if (geteuid() != 0)
		skip();
	bits = run_probe(&c, 0);
	assert_int_equal(bits, DUMPABLE | NO_NEW_PRIVS | NO_CORE | KEPT_OPEN |
				       UID_IS);
	check_ok(vm_exec_copy(probe, &c.exec_fd, &e), &e);
	bits = run_probe(&c, 0);
	assert_int_equal(bits, NO_NEW_PRIVS | NO_CORE | KEPT_OPEN | UID_IS);
	close(c.exec_fd);
	/* the plain spawn (qemu-img) also keeps only its fds */
	bits = run_probe(NULL, 0);
	assert_int_equal(bits & (KEPT_OPEN | OTHER_OPEN), KEPT_OPEN);
}

static void test_spawn_user(void **state)
{
	struct err e = { 0 };
	struct vm_user u;
	struct vm_child c = { .exec_fd = -1, .user = &u };
	int bits;

	(void)state;
	if (geteuid() != 0)
		skip();
	check_ok(vm_user_resolve("nobody", &u, &e), &e);
	assert_string_equal(u.name, "nobody");
	assert_int_not_equal(u.uid, 0);
	assert_true(u.n_groups >= 1);
	/* the control: the user's own exec of a readable file: dumpable */
	bits = run_probe(&c, u.uid);
	assert_int_equal(bits, DUMPABLE | NO_NEW_PRIVS | NO_CORE | KEPT_OPEN |
				       UID_IS);
	check_ok(vm_exec_copy(probe, &c.exec_fd, &e), &e);
	bits = run_probe(&c, u.uid);
	assert_int_equal(bits, NO_NEW_PRIVS | NO_CORE | KEPT_OPEN | UID_IS);
	close(c.exec_fd);
}

static void test_user_resolve(void **state)
{
	static const struct {
		const char *name, *msg;
		int r;
	} bad[] = {
		{ "root", "must run as an unprivileged user", -EINVAL },
		{ "no-such-user-shieldvm", "no such user", -ENOENT },
		{ "", "not a user name", -EINVAL },
		{ "a-name-of-more-than-sixty-four-characters-is-not-a-name-"
		  "we-take-at-all",
		  "not a user name", -EINVAL },
	};
	struct vm_user u;
	struct err e;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(vm_user_resolve(bad[i].name, &u, &e),
				 bad[i].r);
		if (!strstr(err_str(&e), bad[i].msg))
			fail_msg("'%s': '%s', expected '%s'", bad[i].name,
				 err_str(&e), bad[i].msg);
	}
}

static void test_user_access(void **state)
{
	const char *ok[] = { "/", "/usr/bin" };
	int ok_modes[] = { X_OK, R_OK | X_OK };
	char dir[] = "/tmp/vm-child.XXXXXX", sub[64];
	const char *bad[] = { "/", sub };
	int bad_modes[] = { X_OK, X_OK };
	struct vm_user u;
	struct err e = { 0 };

	(void)state;
	if (geteuid() != 0)
		skip();
	check_ok(vm_user_resolve("nobody", &u, &e), &e);
	check_ok(vm_user_check_access(&u, ok, ok_modes, 2, &e), &e);
	assert_non_null(mkdtemp(dir)); /* 0700, root's */
	snprintf(sub, sizeof(sub), "%s/vm", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(vm_user_check_access(&u, bad, bad_modes, 2, &e),
			 -EACCES);
	assert_non_null(strstr(err_str(&e), sub));
	assert_non_null(strstr(err_str(&e), "not accessible to the VM user "
					    "nobody"));
	assert_int_equal(chmod(dir, 0711), 0);
	check_ok(vm_user_check_access(&u, bad, bad_modes, 2, &e), &e);
	rmdir(sub);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_copy),
		cmocka_unit_test(test_spawn_root),
		cmocka_unit_test(test_spawn_user),
		cmocka_unit_test(test_user_resolve),
		cmocka_unit_test(test_user_access),
	};

	static char dir[] = "/tmp/vm-child.XXXXXX";
	char path[sizeof(dir) + 16];
	int in, out, r;
	ssize_t n;
	char buf[65536];

	if (argc != 2) {
		fprintf(stderr, "usage: test_vm_child PROBE\n");
		return 2;
	}
	/* the probe where nobody can reach it (the build directory may sit
	 * below a 0700 directory): a copy in a 0755 directory of its own */
	if (!mkdtemp(dir) || chmod(dir, 0755) < 0) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/probe", dir);
	in = open(argv[1], O_RDONLY | O_CLOEXEC);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (in < 0 || out < 0) {
		perror(argv[1]);
		return 1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			perror(path);
			return 1;
		}
	close(in);
	if (close(out) < 0 || n < 0 || chmod(path, 0755) < 0) {
		perror(path);
		return 1;
	}
	probe = path;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	rmdir(dir);
	return r;
}
