/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/argv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

void vm_argv_clear(struct vm_argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
	a->v[0] = NULL;
}

static int add(struct vm_argv *a, struct err *e, const char *fmt, ...)
	_printf_(3, 4);
static int add(struct vm_argv *a, struct err *e, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	if (a->n >= VM_ARGV_MAX)
		return err_set(e, E2BIG, "more than %d arguments", VM_ARGV_MAX);
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return err_set(e, ENOMEM, "out of memory");
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
	return 0;
}

#define ADD(...)                                   \
	do {                                       \
		int r_ = add(ret, e, __VA_ARGS__); \
		if (r_ < 0) {                      \
			vm_argv_clear(ret);        \
			return r_;                 \
		}                                  \
	} while (0)

bool vm_serial_allowed(const struct vm_def *d)
{
	return d->security.policy == KP_POLICY_ENCRYPTION_SUPPORTED &&
	       d->security.serial_console;
}

/* Paths that go into QEMU options: no ',' (QEMU's separator). */
static int opt_path(const char *what, const char *p, struct err *e)
{
	if (!p || !*p || strchr(p, ',') || strlen(p) >= VM_PATH_MAX)
		return err_set(e, EINVAL,
			       "%s '%s': a path without ',' is needed", what,
			       p ? p : "(none)");
	return 0;
}

#define QMP_CHARDEV_ID "qmp"
#define QMP_MON "chardev=" QMP_CHARDEV_ID ",mode=control"
#define TPM_CHARDEV_ID "chrtpm"
#define SER_CHARDEV_ID "ser0"
#define SER_CHARDEV_OPTS ",server=on,wait=off"

/* The lockdown set: these argument pairs, always. */
static const char *const required[][2] = {
	{ "-nodefaults", NULL },
	{ "-no-user-config", NULL },
	{ "-display", "none" },
	{ "-vga", "none" },
	{ "-monitor", "none" },
	{ "-accel", "tcg" },
	{ "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
		      "resourcecontrol=deny" },
	{ "-machine", "q35,smm=on" },
	{ "-global", "driver=cfi.pflash01,property=secure,value=on" },
	{ "-tpmdev", "emulator,id=tpm0,chardev=chrtpm" },
	{ "-device", "tpm-crb,tpmdev=tpm0" },
	/* QEMU runs from an exec-only memfd copy (child.c), so it cannot
	 * find its data directory relative to its binary: name it */
	{ "-L", VM_QEMU_DATADIR },
};

int vm_qemu_argv(const struct vm_qemu_params *p, struct vm_argv *ret,
		 struct err *e)
{
	const struct vm_def *d = p->def;
	bool serial = vm_serial_allowed(d);
	int r;

	memset(ret, 0, sizeof(*ret));
	if (p->qmp_fd < 0 || p->tpm_fd < 0)
		return err_set(e, EINVAL, "QEMU: no %s fd",
			       p->qmp_fd < 0 ? "QMP" : "vTPM");
	if ((r = opt_path("firmware", d->firmware_path, e)) < 0 ||
	    (r = opt_path("VARS", p->vars, e)) < 0 ||
	    (r = opt_path("VM directory", p->dir, e)) < 0 ||
	    (serial && p->serial_fd < 0 &&
	     (r = err_set(e, EINVAL, "console: no socket fd")) < 0))
		return r;
	ADD("%s", p->qemu ? p->qemu : VM_QEMU);
	for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
		ADD("%s", required[i][0]);
		if (required[i][1])
			ADD("%s", required[i][1]);
	}
	ADD("-name");
	ADD("guest=%s,debug-threads=off", d->name);
	ADD("-uuid");
	ADD("%s", d->uuid);
	ADD("-m");
	ADD("%llu", (unsigned long long)d->memory_mb);
	ADD("-smp");
	ADD("%u", d->vcpus);
	ADD("-drive");
	ADD("if=pflash,format=raw,unit=0,readonly=on,file=%s",
	    d->firmware_path);
	ADD("-drive");
	ADD("if=pflash,format=raw,unit=1,file=%s", p->vars);
	ADD("-chardev");
	ADD("socket,id=" TPM_CHARDEV_ID ",fd=%d", p->tpm_fd);
	/* QMP on an inherited socketpair end: no path anyone else could
	 * connect to (docs/vm.md, "Lockdown") */
	ADD("-chardev");
	ADD("socket,id=" QMP_CHARDEV_ID ",fd=%d", p->qmp_fd);
	ADD("-mon");
	ADD("%s", QMP_MON);
	if (serial) {
		ADD("-chardev");
		ADD("socket,id=" SER_CHARDEV_ID ",fd=%d" SER_CHARDEV_OPTS,
		    p->serial_fd);
		ADD("-serial");
		ADD("chardev:ser0");
	} else {
		ADD("-serial");
		ADD("none");
	}
	for (size_t i = 0; i < d->n_disks; i++) {
		const struct vm_disk *k = &d->disks[i];

		if (k->format == VM_DISK_QCOW2_LUKS) {
			if (p->disk_key_fd[i] < 0) {
				vm_argv_clear(ret);
				return err_set(e, EINVAL, "disk %s: no key fd",
					       k->name);
			}
			ADD("-object");
			ADD("secret,id=sec-%s,format=raw,file=/dev/fd/%d",
			    k->name, p->disk_key_fd[i]);
			ADD("-blockdev");
			ADD("driver=qcow2,node-name=disk-%s,file.driver=file,"
			    "file.filename=%s/%s,encrypt.format=luks,"
			    "encrypt.key-secret=sec-%s",
			    k->name, p->dir, k->file, k->name);
		} else {
			ADD("-blockdev");
			ADD("driver=raw,node-name=disk-%s,file.driver=file,"
			    "file.filename=%s/%s",
			    k->name, p->dir, k->file);
		}
		ADD("-device");
		ADD("virtio-blk-pci,drive=disk-%s,serial=%s", k->name, k->name);
	}
	r = vm_qemu_argv_check(ret->v, serial, e);
	if (r < 0)
		vm_argv_clear(ret);
	return r;
}

/* Options that never appear (as an option word). */
static const char *const forbidden_opts[] = {
	"-kernel",     "-initrd",   "-qmp",	    "-qmp-pretty",
	"-append",     "-dtb",	    "-gdb",	    "-s",
	"-S",	       "-incoming", "-loadvm",	    "-daemonize",
	"-plugin",     "-fsdev",    "-virtfs",	    "-netdev",
	"-nic",	       "-net",	    "-usb",	    "-usbdevice",
	"-bios",       "-pflash",   "-hda",	    "-hdb",
	"-cdrom",      "-snapshot", "-semihosting", "-semihosting-config",
	"-d",	       "-D",	    "-trace",	    "-chroot",
	"-runas",      "-parallel", "-debugcon",    "-virtioconsole",
	"-spice",      "-vnc",	    "-readconfig",  "-writeconfig",
	"-option-rom", "-fw_cfg",   "-mem-path",    "-device-list",
	"-set",	       "-icount",   "-qtest",	    "-whpx",
};

/* Every option that may appear (an allow-list: anything else, including
 * an option QEMU adds in a later version, is refused). */
static const char *const allowed_opts[] = {
	"-nodefaults", "-no-user-config", "-display", "-vga",	 "-monitor",
	"-accel",      "-sandbox",	  "-machine", "-global", "-tpmdev",
	"-device",     "-name",		  "-uuid",    "-m",	 "-smp",
	"-drive",      "-chardev",	  "-mon",     "-serial", "-object",
	"-blockdev",   "-L",
};

/* -device drivers that may appear. */
static const char *const allowed_devices[] = { "tpm-crb", "virtio-blk-pci" };

/* One of v's comma-separated tokens is tok (prefix: or starts with it). */
static bool token_in(const char *v, const char *tok, bool prefix)
{
	size_t len = strlen(tok);

	while (*v) {
		size_t n = strcspn(v, ",");

		if ((n == len || (prefix && n > len)) &&
		    strncmp(v, tok, len) == 0)
			return true;
		v += n;
		if (*v == ',')
			v++;
	}
	return false;
}

static bool has_token(const char *v, const char *tok)
{
	return token_in(v, tok, false);
}

/* "socket,id=ID,fd=N", N a decimal fd number. */
static bool is_fd_chardev(const char *v, const char *id)
{
	size_t l = strlen(id);
	const char *d;

	if (strncmp(v, "socket,id=", 10) != 0 || strncmp(v + 10, id, l) != 0 ||
	    strncmp(v + 10 + l, ",fd=", 4) != 0)
		return false;
	d = v + 10 + l + 4;
	return *d && strlen(d) <= 9 && strspn(d, "0123456789") == strlen(d);
}

/* "socket,id=ser0,fd=N,server=on,wait=off": a listening socket. */
static bool is_console_chardev(const char *v)
{
	static const char pre[] = "socket,id=" SER_CHARDEV_ID ",fd=";
	const char *d = v + sizeof(pre) - 1;
	size_t n;

	if (strncmp(v, pre, sizeof(pre) - 1) != 0)
		return false;
	n = strspn(d, "0123456789");
	return n > 0 && n <= 9 && streq(d + n, SER_CHARDEV_OPTS);
}

static bool is_qmp_chardev(const char *v)
{
	return is_fd_chardev(v, QMP_CHARDEV_ID);
}

/* "N" (decimal, at most 9 digits) then the end or a ','. */
static bool fd_value(const char *d)
{
	size_t n = strspn(d, "0123456789");

	return n > 0 && n <= 9 && (d[n] == '\0' || d[n] == ',');
}

/* The first comma-separated token of v is one of list[]. */
static bool first_token_in(const char *v, const char *const *list, size_t n)
{
	size_t len = strcspn(v, ",");

	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && strncmp(v, list[i], len) == 0)
			return true;
	return false;
}

static bool opt_is(const char *a, const char *opt)
{
	/* QEMU also accepts "--opt" */
	if (a[0] == '-' && a[1] == '-')
		a++;
	return streq(a, opt);
}

int vm_qemu_argv_check(char *const *argv, bool allow_serial, struct err *e)
{
	size_t n = 0, qmp = 0, mon = 0, tpm = 0, serial = 0;
	bool found[ARRAY_SIZE(required)] = { 0 };

	for (; argv[n]; n++)
		;
	for (size_t i = 1; i < n; i++) {
		const char *a = argv[i], *v = i + 1 < n ? argv[i + 1] : NULL;

		if (a[0] != '-')
			return err_set(e, EPERM,
				       "QEMU argument %zu '%s': not an option",
				       i, a);
		for (size_t k = 0; k < ARRAY_SIZE(forbidden_opts); k++)
			if (opt_is(a, forbidden_opts[k]))
				return err_set(e, EPERM,
					       "QEMU option '%s' is forbidden "
					       "for a shielded VM",
					       a);
		{
			size_t k;

			for (k = 0; k < ARRAY_SIZE(allowed_opts); k++)
				if (opt_is(a, allowed_opts[k]))
					break;
			if (k == ARRAY_SIZE(allowed_opts))
				return err_set(e, EPERM,
					       "QEMU option '%s' is not on the "
					       "launcher's allow-list",
					       a);
		}
		for (size_t k = 0; k < ARRAY_SIZE(required); k++)
			if (opt_is(a, required[k][0]) &&
			    (!required[k][1] ||
			     (v && streq(v, required[k][1]))))
				found[k] = true;
		if (opt_is(a, "-nodefaults") || opt_is(a, "-no-user-config"))
			continue;
		if (!v)
			return err_set(e, EPERM,
				       "QEMU option '%s' without a value", a);
		if (opt_is(a, "-monitor") && !streq(v, "none"))
			return err_set(e, EPERM,
				       "QEMU '-monitor %s': only 'none'", v);
		if (opt_is(a, "-display") && !streq(v, "none"))
			return err_set(e, EPERM,
				       "QEMU '-display %s': only 'none'", v);
		if (opt_is(a, "-vga") && !streq(v, "none"))
			return err_set(e, EPERM, "QEMU '-vga %s': only 'none'",
				       v);
		if (opt_is(a, "-serial") && !streq(v, "none") &&
		    !(allow_serial && streq(v, "chardev:ser0")))
			return err_set(e, EPERM,
				       "QEMU '-serial %s': a serial console "
				       "needs policy encryption-supported and "
				       "a definition that asks for it",
				       v);
		if (opt_is(a, "-serial"))
			serial++;
		if (opt_is(a, "-accel") && !streq(v, "tcg") && !streq(v, "kvm"))
			return err_set(e, EPERM, "QEMU '-accel %s'", v);
		if (opt_is(a, "-mon") && ++mon > 1)
			return err_set(e, EPERM,
				       "QEMU '-mon %s': more than one monitor",
				       v);
		if (opt_is(a, "-mon") && has_token(v, "mode=readline"))
			return err_set(e, EPERM,
				       "QEMU '-mon %s': a human monitor (HMP) "
				       "reads guest memory; only QMP",
				       v);
		if (opt_is(a, "-mon") && !streq(v, QMP_MON))
			return err_set(e, EPERM,
				       "QEMU '-mon %s': only '" QMP_MON "'", v);
		if (opt_is(a, "-chardev") && strncmp(v, "socket,", 7) != 0)
			return err_set(e, EPERM,
				       "QEMU '-chardev %s': only sockets", v);
		if (opt_is(a, "-chardev") &&
		    has_token(v, "id=" QMP_CHARDEV_ID) && !is_qmp_chardev(v))
			return err_set(e, EPERM,
				       "QEMU '-chardev %s': QMP only on the "
				       "supervisor's inherited socket "
				       "(socket,id=" QMP_CHARDEV_ID
				       ",fd=N), never on a path",
				       v);
		if (opt_is(a, "-chardev") && is_qmp_chardev(v) && ++qmp > 1)
			return err_set(e, EPERM,
				       "QEMU '-chardev %s': a second QMP chardev",
				       v);
		if (opt_is(a, "-chardev") &&
		    has_token(v, "id=" TPM_CHARDEV_ID) &&
		    !is_fd_chardev(v, TPM_CHARDEV_ID))
			return err_set(e, EPERM,
				       "QEMU '-chardev %s': the vTPM only on "
				       "the socketpair to swtpm "
				       "(socket,id=" TPM_CHARDEV_ID
				       ",fd=N), never on a path",
				       v);
		if (opt_is(a, "-chardev") && is_fd_chardev(v, TPM_CHARDEV_ID) &&
		    ++tpm > 1)
			return err_set(e, EPERM,
				       "QEMU '-chardev %s': a second vTPM "
				       "chardev",
				       v);
		if (opt_is(a, "-chardev") && strstr(v, "id=ser0") &&
		    !allow_serial)
			return err_set(e, EPERM,
				       "QEMU '-chardev %s': a console chardev "
				       "for a VM that may have none",
				       v);
		if (opt_is(a, "-chardev") &&
		    has_token(v, "id=" SER_CHARDEV_ID) &&
		    !is_console_chardev(v))
			return err_set(e, EPERM,
				       "QEMU '-chardev %s': the console only on "
				       "the socket the supervisor bound "
				       "(socket,id=" SER_CHARDEV_ID
				       ",fd=N" SER_CHARDEV_OPTS ")",
				       v);
		if (opt_is(a, "-chardev") && !is_qmp_chardev(v) &&
		    !is_fd_chardev(v, TPM_CHARDEV_ID) &&
		    !is_console_chardev(v) && token_in(v, "fd=", true))
			return err_set(e, EPERM,
				       "QEMU '-chardev %s': an inherited fd is "
				       "only for QMP, the vTPM and the console",
				       v);
		if (opt_is(a, "-sandbox") && !streq(v, required[6][1]))
			return err_set(e, EPERM, "QEMU '-sandbox %s'", v);
		if (opt_is(a, "-L") && !streq(v, VM_QEMU_DATADIR))
			return err_set(e, EPERM, "QEMU '-L %s': only %s", v,
				       VM_QEMU_DATADIR);
		if (opt_is(a, "-machine") && !streq(v, "q35,smm=on"))
			return err_set(e, EPERM, "QEMU '-machine %s'", v);
		if (opt_is(a, "-device") &&
		    !first_token_in(v, allowed_devices,
				    ARRAY_SIZE(allowed_devices)))
			return err_set(e, EPERM,
				       "QEMU '-device %s': only tpm-crb and "
				       "virtio-blk-pci devices (no "
				       "virtio-serial, guest agent, 9p, "
				       "vhost-user, vfio, ...)",
				       v);
		if (opt_is(a, "-object") && strncmp(v, "secret,", 7) != 0)
			return err_set(e, EPERM,
				       "QEMU '-object %s': only secrets", v);
		if (opt_is(a, "-drive") && strncmp(v, "if=pflash,", 10) != 0)
			return err_set(e, EPERM,
				       "QEMU '-drive %s': only the firmware "
				       "flash",
				       v);
		if (opt_is(a, "-blockdev") &&
		    strncmp(v, "driver=qcow2,", 13) != 0 &&
		    strncmp(v, "driver=raw,", 11) != 0)
			return err_set(e, EPERM,
				       "QEMU '-blockdev %s': only qcow2 and raw",
				       v);
		if (opt_is(a, "-blockdev") &&
		    strncmp(v, "driver=qcow2,", 13) == 0 &&
		    !strstr(v, ",encrypt.format=luks,"))
			return err_set(e, EPERM,
				       "QEMU '-blockdev %s': a qcow2 disk "
				       "without LUKS encryption",
				       v);
		if (opt_is(a, "-global") && !streq(v, required[8][1]))
			return err_set(e, EPERM, "QEMU '-global %s'", v);
		if (opt_is(a, "-tpmdev") && !streq(v, required[9][1]))
			return err_set(e, EPERM, "QEMU '-tpmdev %s'", v);
		i++; /* the value */
	}
	for (size_t k = 0; k < ARRAY_SIZE(required); k++)
		if (!found[k])
			return err_set(e, EPERM,
				       "QEMU command line lacks '%s%s%s'",
				       required[k][0],
				       required[k][1] ? " " : "",
				       required[k][1] ? required[k][1] : "");
	if (qmp != 1 || mon != 1)
		return err_set(e, EPERM,
			       "QEMU command line lacks its QMP monitor "
			       "('-chardev socket,id=" QMP_CHARDEV_ID
			       ",fd=N -mon " QMP_MON "')");
	if (tpm != 1)
		return err_set(e, EPERM,
			       "QEMU command line lacks its vTPM chardev "
			       "('-chardev socket,id=" TPM_CHARDEV_ID
			       ",fd=N')");
	if (serial != 1)
		return err_set(e, EPERM,
			       "QEMU command line needs exactly one -serial "
			       "(none, or the console of a VM that may have "
			       "one)");
	return 0;
}

int vm_swtpm_argv(const struct vm_swtpm_params *p, struct vm_argv *ret,
		  struct err *e)
{
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((r = opt_path("vTPM state", p->state_dir, e)) < 0 ||
	    (p->log_file && (r = opt_path("swtpm log", p->log_file, e)) < 0) ||
	    (p->pid_file && (r = opt_path("swtpm pid", p->pid_file, e)) < 0))
		return r;
	if (p->key_fd < 0 || p->ctrl_fd < 0)
		return err_set(e, EINVAL, "swtpm: no %s fd",
			       p->key_fd < 0 ? "key" : "control channel");
	ADD("%s", p->swtpm ? p->swtpm : VM_SWTPM);
	ADD("socket");
	ADD("--tpm2");
	ADD("--tpmstate");
	ADD("dir=%s,mode=0600", p->state_dir);
	ADD("--ctrl");
	ADD("type=unixio,clientfd=%d", p->ctrl_fd);
	ADD("--key");
	ADD("fd=%d,mode=aes-256-cbc,format=binary,remove=false", p->key_fd);
	ADD("--log");
	if (p->log_file)
		ADD("file=%s,level=1", p->log_file);
	else
		ADD("fd=2,level=1");
	if (p->pid_file) {
		ADD("--pid");
		ADD("file=%s", p->pid_file);
	}
	ADD("--terminate");
	r = vm_swtpm_argv_check(ret->v, e);
	if (r < 0)
		vm_argv_clear(ret);
	return r;
}

int vm_swtpm_argv_check(char *const *argv, struct err *e)
{
	bool key = false, state = false, ctrl = false;

	for (size_t i = 1; argv[i]; i++) {
		const char *a = argv[i], *v = argv[i + 1];

		if (streq(a, "--log")) {
			const char *l = v ? strstr(v, "level=") : NULL;

			if (!l || (l[6] != '0' && l[6] != '1') ||
			    (l[7] && l[7] != ','))
				return err_set(e, EPERM,
					       "swtpm '--log %s': level 2 and up "
					       "dump TPM traffic with secrets; "
					       "at most level=1",
					       v ? v : "");
		}
		if (streq(a, "--key") && v && strstr(v, "mode=aes-256-cbc") &&
		    strncmp(v, "fd=", 3) == 0)
			key = true;
		if (streq(a, "--tpmstate"))
			state = true;
		if (streq(a, "--ctrl") &&
		    !(v && strncmp(v, "type=unixio,clientfd=", 21) == 0 &&
		      fd_value(v + 21)))
			return err_set(e, EPERM,
				       "swtpm '--ctrl %s': the control channel "
				       "only on the socketpair to QEMU "
				       "(type=unixio,clientfd=N), never on a "
				       "path or a port",
				       v ? v : "");
		if (streq(a, "--ctrl"))
			ctrl = true;
		if (streq(a, "--migration-key") || streq(a, "--daemon") ||
		    streq(a, "-d") || streq(a, "--server"))
			return err_set(e, EPERM,
				       "swtpm option '%s' not allowed", a);
	}
	if (!state || !key || !ctrl)
		return err_set(e, EPERM, "swtpm command line lacks %s",
			       !state ? "--tpmstate" :
			       !key   ? "--key fd=N,mode=aes-256-cbc" :
					"--ctrl type=unixio,clientfd=N");
	return 0;
}
