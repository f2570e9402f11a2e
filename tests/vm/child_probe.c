/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a child of the supervisor sees of itself (tests/vm/test_vm_child.c):
 *   child_probe KEPT_FD CLOSED_FD UID
 * exits with bits: 1 dumpable, 2 no_new_privs, 4 core limit 0, 8 KEPT_FD
 * open, 16 CLOSED_FD open, 32 real, effective and saved uid are UID.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rlimit rl;
	int bits = 0;

	uid_t r, eu, su;

	if (argc != 4)
		return 100;
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1)
		bits |= 1;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
		bits |= 2;
	if (getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 &&
	    rl.rlim_max == 0)
		bits |= 4;
	if (fcntl((int)strtol(argv[1], NULL, 10), F_GETFD) >= 0)
		bits |= 8;
	if (fcntl((int)strtol(argv[2], NULL, 10), F_GETFD) >= 0)
		bits |= 16;
	if (getresuid(&r, &eu, &su) == 0 &&
	    r == (uid_t)strtoul(argv[3], NULL, 10) && eu == r && su == r)
		bits |= 32;
	return bits;
}
