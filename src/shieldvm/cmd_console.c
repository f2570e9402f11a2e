/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shieldvm console VM: the serial console of a running VM whose definition
 * has one. Only policy encryption-supported may have a console (the
 * definition says "console": "serial", bound in the KP like the rest of
 * the security profile); a shielded VM has none, and QEMU was started with
 * -serial none, so there is nothing to connect to.
 *
 * The console is QEMU's socket chardev RUN/console.sock in the VM's 0700
 * runtime directory. This command relays it to the terminal (raw mode,
 * Ctrl-] leaves) or, without a terminal, copies stdin to the guest and the
 * guest's output to stdout until either side ends or --timeout.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"
#include "common/util.h"
#include "shieldvm/cmd.h"
#include "shieldvm/json_out.h"
#include "vm/def.h"
#include "vm/launch.h"
#include "vm/limits.h"

#define CONSOLE_ESCAPE 0x1d /* Ctrl-] */

static void console_usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm console VM [--read-only] [--timeout S]\n"
		"\n"
		"Attach to the serial console of a running VM. Only a VM of policy\n"
		"encryption-supported whose definition has \"console\": \"serial\" has one\n"
		"(a shielded VM has no console at all). On a terminal, Ctrl-] detaches;\n"
		"otherwise stdin goes to the guest and its output to stdout until either\n"
		"ends.\n"
		"\n"
		"  --read-only   only show the guest's output, send nothing\n"
		"  --timeout S   detach after S seconds (1..86400)\n"
		"\n"
		"Exit status: 0 detached, 1 the VM has no console, 2 usage,\n"
		"3 local error, 4 the VM is not running.\n");
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Relay until EOF on the socket, the escape key on a terminal, EOF on a
 * non-terminal stdin (when not read-only), or the deadline. */
static int relay(int sock, bool tty, bool read_only, int64_t deadline)
{
	char buf[4096];
	bool in_open = !read_only;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = sock, .events = POLLIN },
			{ .fd = in_open ? 0 : -1, .events = POLLIN },
		};
		int timeout = -1, r;
		ssize_t n;

		if (deadline > 0) {
			int64_t left = deadline - mono_ms();

			if (left <= 0)
				return 0;
			timeout = left > INT_MAX ? INT_MAX : (int)left;
		}
		r = poll(p, 2, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (p[0].revents) {
			n = read(sock, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return 0; /* QEMU closed it: the VM stopped */
			r = write_all(1, buf, (size_t)n);
			if (r < 0)
				return r;
		}
		if (p[1].revents) {
			n = read(0, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (tty)
					return 0;
				in_open = false;
				(void)shutdown(sock, SHUT_WR);
				continue;
			}
			if (tty) {
				char *esc = memchr(buf, CONSOLE_ESCAPE,
						   (size_t)n);

				if (esc) {
					(void)write_all(sock, buf,
							(size_t)(esc - buf));
					return 0;
				}
			}
			r = write_all(sock, buf, (size_t)n);
			if (r < 0)
				return r;
		}
	}
}

int cmd_console(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "read-only", no_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_free_ uint8_t *text = NULL;
	_cleanup_close_ int sock = -1;
	char path[PATH_MAX], rundir[PATH_MAX];
	struct termios saved, raw;
	struct err e = { 0 };
	struct vm_def d;
	bool read_only = false, tty;
	int64_t deadline = 0;
	size_t len;
	int c, n, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			read_only = true;
			break;
		case 't': {
			char *end;
			unsigned long s;

			errno = 0;
			s = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || s < 1 ||
			    s > 86400) {
				cli_error("console",
					  "--timeout '%s': 1..86400 s", optarg);
				return EXIT_USAGE;
			}
			deadline = mono_ms() + (int64_t)s * 1000;
			break;
		}
		case 'h':
			console_usage(stdout);
			return EXIT_OK;
		default:
			console_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_error("console", "expected one VM directory (see --help)");
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "%s/%s", argv[optind], VM_DEF_FILE);
	r = file_read(path, VM_DEF_MAX_SIZE, &text, &len, &e);
	if (r == 0)
		r = vm_def_parse((const char *)text, len, &d, &e);
	if (r < 0) {
		cli_error("console", "%s: %s", path, err_str(&e));
		return EXIT_INPUT;
	}
	if (!d.security.serial_console) {
		cli_error("console",
			  "VM %s has no console: %s",
			  d.name,
			  d.security.policy == KP_POLICY_SHIELDED
				  ? "policy shielded allows none"
				  : "its definition has \"console\": \"none\" "
				    "(the owner binds a console in the KP)");
		return EXIT_FAIL;
	}
	r = vm_runtime_dir(d.uuid, rundir, sizeof(rundir), &e);
	if (r < 0) {
		cli_error("console", "%s", err_str(&e));
		return EXIT_INPUT;
	}
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", rundir,
		     VM_RUN_CONSOLE);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		cli_error("console", "%s: path too long", rundir);
		return EXIT_INPUT;
	}
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		cli_error("console", "socket: %s", strerror(errno));
		return EXIT_INPUT;
	}
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED) {
			cli_error("console", "VM %s is not running", d.name);
			return 4;
		}
		cli_error("console", "%s: %s", sa.sun_path, strerror(errno));
		return EXIT_INPUT;
	}
	tty = isatty(0) && !read_only;
	if (tty) {
		if (tcgetattr(0, &saved) < 0) {
			cli_error("console", "tcgetattr: %s", strerror(errno));
			return EXIT_INPUT;
		}
		raw = saved;
		cfmakeraw(&raw);
		(void)tcsetattr(0, TCSANOW, &raw);
		fprintf(stderr, "Connected to %s's console; Ctrl-] leaves.\r\n",
			d.name);
	}
	r = relay(sock, tty, read_only, deadline);
	if (tty) {
		(void)tcsetattr(0, TCSANOW, &saved);
		fprintf(stderr, "\nDetached from %s's console.\n", d.name);
	}
	if (r < 0) {
		cli_error("console", "%s", strerror(-r));
		return EXIT_INPUT;
	}
	return EXIT_OK;
}
