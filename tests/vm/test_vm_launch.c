/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure parts of the launcher: key derivation labels, the QEMU and swtpm
 * command lines (the lockdown is always there; nothing forbidden can get
 * in), VARS encryption, the secrets file version 2 (and the upgrade of
 * version 1), the control socket's allow-list.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "common/util.h"
#include "host/secrets.h"
#include "vm/argv.h"
#include "vm/def.h"
#include "vm/filter.h"
#include "vm/qmp.h"
#include "vm/keys.h"
#include "vm/vars.h"

#include "../lib/check.h"

#define FW "d50189a486d22af418198226a3a5bcb6ddac775590f6a808bd629474ee034d62"
#define UUID "12345678-1234-4234-8234-123456789abc"

/* An independent HKDF-SHA256 (OpenSSL's EVP_KDF, parameters spelled out). */
static void hkdf(const uint8_t *ikm, size_t n, const char *info, uint8_t *out,
		 size_t len)
{
	EVP_KDF *k = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *c = EVP_KDF_CTX_new(k);
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_octet_string("key", (void *)ikm, n),
		OSSL_PARAM_construct_octet_string("info", (void *)info,
						  strlen(info)),
		OSSL_PARAM_construct_end(),
	};

	assert_int_equal(EVP_KDF_derive(c, out, len, p), 1);
	EVP_KDF_CTX_free(c);
	EVP_KDF_free(k);
}

static void test_key_labels(void **state)
{
	static const char *const want[] = {
		"shieldvm vtpm v1", "shieldvm vars v1", "shieldvm saved-state v1",
		"shieldvm disk v1 root", "shieldvm disk v1 data",
	};
	uint8_t root[VM_KEY_SIZE], keys[5][VM_KEY_SIZE], ref[VM_KEY_SIZE];
	char label[VM_KEY_LABEL_MAX];
	struct err e = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(root); i++)
		root[i] = (uint8_t)(i * 7 + 1);
	check_ok(vm_key_derive(root, VM_KEY_VTPM, NULL, keys[0], &e), &e);
	check_ok(vm_key_derive(root, VM_KEY_VARS, NULL, keys[1], &e), &e);
	check_ok(vm_key_derive(root, VM_KEY_SAVED_STATE, NULL, keys[2], &e), &e);
	check_ok(vm_key_derive(root, VM_KEY_DISK, "root", keys[3], &e), &e);
	check_ok(vm_key_derive(root, VM_KEY_DISK, "data", keys[4], &e), &e);
	for (size_t i = 0; i < 5; i++) {
		hkdf(root, sizeof(root), want[i], ref, sizeof(ref));
		assert_memory_equal(keys[i], ref, VM_KEY_SIZE);
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(want[i], want[j]);
			assert_memory_not_equal(keys[i], keys[j], VM_KEY_SIZE);
		}
	}
	/* none equals the secrets file's own sealing label */
	for (size_t i = 0; i < 5; i++)
		assert_string_not_equal(want[i], "shieldvm secrets v1");
	check_ok(vm_key_label(VM_KEY_DISK, "root", label, sizeof(label), &e),
		 &e);
	assert_string_equal(label, "shieldvm disk v1 root");
	assert_int_equal(vm_key_derive(root, VM_KEY_DISK, NULL, ref, &e),
			 -EINVAL);
	assert_int_equal(vm_key_derive(root, VM_KEY_DISK, "../x", ref, &e),
			 -EINVAL);
	assert_int_equal(vm_key_derive(root, VM_KEY_DISK, "", ref, &e),
			 -EINVAL);
}

static void make_def(struct vm_def *d, enum kp_policy p, bool serial)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "t1");
	snprintf(d->uuid, sizeof(d->uuid), UUID);
	d->memory_mb = 512;
	d->vcpus = 1;
	snprintf(d->firmware_path, sizeof(d->firmware_path), VM_OVMF_CODE);
	d->n_disks = 2;
	snprintf(d->disks[0].name, sizeof(d->disks[0].name), "root");
	snprintf(d->disks[0].file, sizeof(d->disks[0].file),
		 "disks/root.qcow2");
	d->disks[0].size_mb = 100;
	snprintf(d->disks[1].name, sizeof(d->disks[1].name), "report");
	snprintf(d->disks[1].file, sizeof(d->disks[1].file), "disks/report.raw");
	d->disks[1].format = VM_DISK_RAW;
	d->disks[1].size_mb = 8;
	d->security.policy = p;
	snprintf(d->security.firmware_code, sizeof(d->security.firmware_code),
		 FW);
	d->security.secure_boot = true;
	d->security.serial_console = serial;
	snprintf(d->security.lockdown, sizeof(d->security.lockdown),
		 VM_LOCKDOWN);
}

static void qemu_argv(const struct vm_def *d, struct vm_argv *a)
{
	struct vm_qemu_params p = {
		.def = d, .dir = "/var/lib/vm/t1", .vars = "/run/x/vars.fd",
		.tpm_fd = 8, .qmp_fd = 9,
		.serial_fd = 11,
		.disk_key_fd = { 7, -1 },
	};
	struct err e = { 0 };

	check_ok(vm_qemu_argv(&p, a, &e), &e);
}

static bool has_pair(const struct vm_argv *a, const char *o, const char *v)
{
	for (size_t i = 0; i + 1 < a->n; i++)
		if (streq(a->v[i], o) && (!v || streq(a->v[i + 1], v)))
			return true;
	return false;
}

static bool has_substr(const struct vm_argv *a, const char *s)
{
	for (size_t i = 0; i < a->n; i++)
		if (strstr(a->v[i], s))
			return true;
	return false;
}

static void test_qemu_lockdown(void **state)
{
	static const char *const required[][2] = {
		{ "-nodefaults", NULL },
		{ "-display", "none" },
		{ "-vga", "none" },
		{ "-monitor", "none" },
		{ "-accel", "tcg" },
		{ "-sandbox", "on,obsolete=deny,elevateprivileges=deny,"
			      "spawn=deny,resourcecontrol=deny" },
		{ "-machine", "q35,smm=on" },
		{ "-global", "driver=cfi.pflash01,property=secure,value=on" },
		{ "-device", "tpm-crb,tpmdev=tpm0" },
		{ "-tpmdev", "emulator,id=tpm0,chardev=chrtpm" },
		{ "-chardev", "socket,id=chrtpm,fd=8" },
		{ "-chardev", "socket,id=qmp,fd=9" },
		{ "-mon", "chardev=qmp,mode=control" },
		{ "-drive", "if=pflash,format=raw,unit=0,readonly=on,file="
			    VM_OVMF_CODE },
		{ "-drive", "if=pflash,format=raw,unit=1,file=/run/x/vars.fd" },
		{ "-L", "/usr/share/qemu" },
	};
	static const char *const never[] = {
		"-kernel", "-initrd", "-append", "-gdb", "-s", "-S",
		"virtio-serial", "virtserialport", "guest_agent", "virtfs",
		"9p", "vhost-user", "-qmp", "qmp.sock", "unix:", "swtpm.sock",
		"-incoming",
	};
	struct vm_def d;
	struct vm_argv a;
	struct err e = { 0 };

	(void)state;
	for (int pol = 0; pol < 2; pol++)
		for (int serial = 0; serial < 2; serial++) {
			make_def(&d, pol ? KP_POLICY_ENCRYPTION_SUPPORTED
					 : KP_POLICY_SHIELDED,
				 serial);
			qemu_argv(&d, &a);
			for (size_t i = 0; i < ARRAY_SIZE(required); i++)
				if (!has_pair(&a, required[i][0],
					      required[i][1]))
					fail_msg("policy %d serial %d: no '%s "
						 "%s'",
						 pol, serial, required[i][0],
						 required[i][1]);
			for (size_t i = 0; i < ARRAY_SIZE(never); i++)
				for (size_t k = 0; k < a.n; k++)
					if (streq(a.v[k], never[i]) ||
					    (never[i][0] != '-' &&
					     strstr(a.v[k], never[i])))
						fail_msg("'%s' in the QEMU "
							 "command line",
							 never[i]);
			/* serial only for encryption-supported + asked */
			if (pol && serial) {
				assert_true(has_pair(&a, "-serial",
						     "chardev:ser0"));
				assert_true(has_pair(
					&a, "-chardev",
					"socket,id=ser0,fd=11,server=on,"
					"wait=off"));
				assert_false(has_pair(&a, "-serial", "none"));
			} else {
				assert_true(has_pair(&a, "-serial", "none"));
				assert_false(has_pair(&a, "-serial",
						      "chardev:ser0"));
				assert_false(has_substr(&a, "console.sock"));
				assert_false(has_substr(&a, "id=ser0"));
			}
			/* the disk key only by fd */
			assert_true(has_pair(
				&a, "-object",
				"secret,id=sec-root,format=raw,file=/dev/fd/7"));
			assert_true(has_substr(&a, "encrypt.format=luks,"
						   "encrypt.key-secret=sec-root"));
			assert_true(has_substr(&a, "driver=raw,node-name="
						   "disk-report"));
			check_ok(vm_qemu_argv_check(a.v, pol && serial, &e), &e);
			vm_argv_clear(&a);
		}
	/* a luks disk without a key fd is refused */
	{
		struct vm_qemu_params p = {
			.def = &d, .dir = "/v", .vars = "/r/v",
			.tpm_fd = 8, .qmp_fd = 9,
			.disk_key_fd = { -1, -1 },
		};
		assert_int_equal(vm_qemu_argv(&p, &a, &e), -EINVAL);
	}
	/* a path with ',' (QEMU's separator) is refused */
	{
		struct vm_qemu_params p = {
			.def = &d, .dir = "/v,x", .vars = "/r/v",
			.tpm_fd = 8, .qmp_fd = 9,
			.disk_key_fd = { 7, -1 },
		};
		assert_int_equal(vm_qemu_argv(&p, &a, &e), -EINVAL);
	}
}

/* Whatever is appended to a good command line, the check refuses. */
static void test_qemu_forbidden(void **state)
{
	static const char *const bad[][2] = {
		{ "-kernel", "/boot/vmlinuz" },
		{ "--kernel", "/boot/vmlinuz" },
		{ "-initrd", "/boot/initrd" },
		{ "-append", "console=ttyS0" },
		{ "-gdb", "tcp::1234" },
		{ "-s", NULL },
		{ "-S", NULL },
		{ "-monitor", "stdio" },
		{ "-monitor", "unix:/tmp/m,server" },
		{ "-mon", "chardev=c" },
		{ "-mon", "chardev=qmp,mode=control" },
		{ "-mon", "chardev=qmp,mode=readline" },
		{ "-mon", "chardev=qmp" },
		{ "-qmp", "stdio" },
		{ "-qmp-pretty", "unix:/tmp/q,server=on,wait=off" },
		{ "-chardev", "socket,id=qmp,fd=10" },
		{ "-chardev", "socket,id=qmp,path=/tmp/q,server=on,wait=off" },
		{ "-chardev", "socket,id=c2,fd=10" },
		{ "-chardev", "socket,id=chrtpm,fd=10" },
		{ "-chardev", "socket,id=chrtpm,path=/tmp/t" },
		{ "-chardev", "socket,id=ser0,fd=11,server=on,wait=off" },
		{ "-chardev", "socket,id=c2,path=/tmp/x,fd=10" },
		{ "-serial", "stdio" },
		{ "-serial", "chardev:ser0" },
		{ "-chardev", "socket,id=ser0,path=/tmp/s,server=on" },
		{ "-chardev", "stdio,id=x" },
		{ "-chardev", "pty,id=x" },
		{ "-device", "virtio-serial-pci" },
		{ "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0" },
		{ "-device", "virtconsole" },
		{ "-device", "vhost-user-fs-pci,chardev=c,tag=t" },
		{ "-device", "virtio-9p-pci,fsdev=f,mount_tag=t" },
		{ "-device", "vfio-pci,host=01:00.0" },
		{ "-device", "ivshmem-plain,memdev=m" },
		{ "-device", "isa-debugcon,chardev=c" },
		{ "-device", "usb-redir,chardev=c" },
		{ "-device", "virtio-net-pci" },
		{ "-virtfs", "local,path=/,mount_tag=r" },
		{ "-fsdev", "local,id=f,path=/" },
		{ "-object", "memory-backend-file,id=m,mem-path=/dev/shm/x,share=on" },
		{ "-object", "filter-dump,id=f,netdev=n,file=/tmp/x" },
		{ "-drive", "file=/tmp/disk.img" },
		{ "-blockdev", "driver=qcow2,node-name=x,file.driver=file,file.filename=/tmp/x" },
		{ "-blockdev", "driver=nbd,server.type=inet" },
		{ "-incoming", "tcp:0:4444" },
		{ "-loadvm", "snap" },
		{ "-plugin", "/tmp/p.so" },
		{ "-qmp", "tcp:127.0.0.1:4444,server" },
		{ "-qmp", "unix:/tmp/q2,server=on,wait=off" },
		{ "-display", "gtk" },
		{ "-vnc", ":0" },
		{ "-spice", "port=5900" },
		{ "-vga", "std" },
		{ "-sandbox", "off" },
		{ "-machine", "pc" },
		{ "-L", "/tmp/roms" },
		{ "-accel", "hvf" },
		{ "-d", "int" },
		{ "-D", "/tmp/log" },
		{ "-trace", "enable=*" },
		{ "-daemonize", NULL },
		{ "-readconfig", "/tmp/c" },
		{ "-set", "device.x.y=z" },
		{ "-global", "ICH9-LPC.disable_s3=0" },
		{ "-fw_cfg", "name=opt/x,file=/tmp/x" },
		{ "-bios", "/tmp/bios" },
		{ "-netdev", "user,id=n" },
		{ "-snapshot", NULL },
		{ "-new-option-of-qemu-9", "x" },
	};
	struct vm_def d;
	struct vm_argv a;
	struct err e = { 0 };

	(void)state;
	make_def(&d, KP_POLICY_SHIELDED, false);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		qemu_argv(&d, &a);
		a.v[a.n++] = strdup(bad[i][0]);
		if (bad[i][1])
			a.v[a.n++] = strdup(bad[i][1]);
		a.v[a.n] = NULL;
		memset(&e, 0, sizeof(e));
		if (vm_qemu_argv_check(a.v, false, &e) != -EPERM)
			fail_msg("'%s %s' was not refused", bad[i][0],
				 bad[i][1] ? bad[i][1] : "");
		vm_argv_clear(&a);
	}
	/* removing any part of the lockdown is refused */
	qemu_argv(&d, &a);
	for (size_t i = 1; i < a.n; i++) {
		char *v[VM_ARGV_MAX + 1];
		size_t n = 0;
		bool is_opt = a.v[i][0] == '-';
		size_t skip = is_opt ? i : i - 1; /* drop the option and its
						     value */
		bool two = is_opt && i + 1 < a.n && a.v[i + 1][0] != '-';

		if (!is_opt)
			continue;
		for (size_t k = 0; k < a.n; k++)
			if (k != skip && !(two && k == skip + 1))
				v[n++] = a.v[k];
		v[n] = NULL;
		/* disks, name, uuid, memory, smp are not part of the
		 * lockdown; everything else is */
		if (streq(a.v[i], "-name") || streq(a.v[i], "-uuid") ||
		    streq(a.v[i], "-m") || streq(a.v[i], "-smp") ||
		    streq(a.v[i], "-object") || streq(a.v[i], "-blockdev") ||
		    streq(a.v[i], "-drive") ||
		    (streq(a.v[i], "-device") &&
		     strncmp(a.v[i + 1], "virtio-blk", 10) == 0) ||
		    streq(a.v[i], "-chardev"))
			continue;
		if (vm_qemu_argv_check(v, false, &e) != -EPERM)
			fail_msg("without '%s %s' the check passed", a.v[i],
				 two ? a.v[i + 1] : "");
	}
	vm_argv_clear(&a);
}

/* The one QMP monitor: on the supervisor's inherited socketpair end, in
 * control mode; each replacement of it is refused with its reason. */
static void test_qemu_qmp(void **state)
{
	static const struct {
		const char *opt, *from, *to, *msg;
	} repl[] = {
		{ "-chardev", "socket,id=qmp,fd=9",
		  "socket,id=qmp,path=/run/x/qmp.sock,server=on,wait=off",
		  "never on a path" },
		{ "-chardev", "socket,id=qmp,fd=9", "socket,id=qmp,fd=9x",
		  "never on a path" },
		{ "-chardev", "socket,id=qmp,fd=9", "socket,id=qmp,fd=",
		  "never on a path" },
		{ "-chardev", "socket,id=qmp,fd=9",
		  "socket,id=qmp,fd=9,server=on", "never on a path" },
		{ "-chardev", "socket,id=qmp,fd=9", "socket,id=mon2,fd=9",
		  "only for QMP, the vTPM and the console" },
		{ "-chardev", "socket,id=chrtpm,fd=8",
		  "socket,id=chrtpm,path=/run/x/swtpm.sock", "never on a path" },
		{ "-chardev", "socket,id=chrtpm,fd=8",
		  "socket,id=chrtpm,fd=8,server=on", "never on a path" },
		{ "-mon", "chardev=qmp,mode=control", "chardev=qmp,mode=readline",
		  "human monitor" },
		{ "-mon", "chardev=qmp,mode=control", "chardev=qmp",
		  "only 'chardev=qmp,mode=control'" },
		{ "-mon", "chardev=qmp,mode=control",
		  "chardev=chrtpm,mode=control",
		  "only 'chardev=qmp,mode=control'" },
		{ "-mon", "chardev=qmp,mode=control", "chardev=qmp,mode=control,pretty=on",
		  "only 'chardev=qmp,mode=control'" },
	};
	struct vm_def d;
	struct vm_argv a;
	struct err e = { 0 };

	(void)state;
	make_def(&d, KP_POLICY_SHIELDED, false);
	for (size_t i = 0; i < ARRAY_SIZE(repl); i++) {
		bool done = false;

		qemu_argv(&d, &a);
		for (size_t k = 1; k + 1 < a.n && !done; k++)
			if (streq(a.v[k], repl[i].opt) &&
			    streq(a.v[k + 1], repl[i].from)) {
				free(a.v[k + 1]);
				a.v[k + 1] = strdup(repl[i].to);
				done = true;
			}
		assert_true(done);
		memset(&e, 0, sizeof(e));
		assert_int_equal(vm_qemu_argv_check(a.v, false, &e), -EPERM);
		if (!strstr(err_str(&e), repl[i].msg))
			fail_msg("'%s %s': '%s', expected '%s'", repl[i].opt,
				 repl[i].to, err_str(&e), repl[i].msg);
		vm_argv_clear(&a);
	}
	/* the console of a VM that may have one: only on the bound fd */
	{
		static const char *const bad_con[] = {
			"socket,id=ser0,path=/run/x/console.sock,server=on,"
			"wait=off",
			"socket,id=ser0,fd=11,server=on,wait=on",
			"socket,id=ser0,fd=11",
			"socket,id=ser0,fd=11,server=on,wait=off,logfile=/x",
		};

		make_def(&d, KP_POLICY_ENCRYPTION_SUPPORTED, true);
		for (size_t i = 0; i < ARRAY_SIZE(bad_con); i++) {
			qemu_argv(&d, &a);
			memset(&e, 0, sizeof(e));
			check_ok(vm_qemu_argv_check(a.v, true, &e), &e);
			for (size_t k = 1; k + 1 < a.n; k++)
				if (strncmp(a.v[k + 1], "socket,id=ser0,",
					    15) == 0) {
					free(a.v[k + 1]);
					a.v[k + 1] = strdup(bad_con[i]);
				}
			assert_int_equal(vm_qemu_argv_check(a.v, true, &e),
					 -EPERM);
			if (!strstr(err_str(&e), "the console only on"))
				fail_msg("'%s': %s", bad_con[i], err_str(&e));
			vm_argv_clear(&a);
		}
		make_def(&d, KP_POLICY_SHIELDED, false);
	}
	/* -qmp in any form: a named refusal */
	qemu_argv(&d, &a);
	a.v[a.n++] = strdup("-qmp");
	a.v[a.n++] = strdup("unix:/run/x/qmp.sock,server=on,wait=off");
	a.v[a.n] = NULL;
	memset(&e, 0, sizeof(e));
	assert_int_equal(vm_qemu_argv_check(a.v, false, &e), -EPERM);
	if (!strstr(err_str(&e), "'-qmp' is forbidden"))
		fail_msg("-qmp: %s", err_str(&e));
	vm_argv_clear(&a);
	/* no monitor at all: refused */
	qemu_argv(&d, &a);
	for (size_t k = 1; k + 1 < a.n; k++)
		if (streq(a.v[k], "-mon")) {
			free(a.v[k]);
			free(a.v[k + 1]);
			memmove(&a.v[k], &a.v[k + 2],
				(a.n - k - 1) * sizeof(a.v[0]));
			a.n -= 2;
			break;
		}
	memset(&e, 0, sizeof(e));
	assert_int_equal(vm_qemu_argv_check(a.v, false, &e), -EPERM);
	assert_non_null(strstr(err_str(&e), "lacks its QMP monitor"));
	vm_argv_clear(&a);
	/* the builder wants an fd */
	{
		struct vm_qemu_params p = {
			.def = &d, .dir = "/v", .vars = "/r/v",
			.tpm_fd = 8, .qmp_fd = -1,
			.disk_key_fd = { 7, -1 },
		};
		assert_int_equal(vm_qemu_argv(&p, &a, &e), -EINVAL);
	}
}

/* The QMP client against a socketpair playing QEMU: an event that arrives
 * unasked is returned by vm_qmp_event(q, 0) and not left readable (the
 * supervisor polls the socket and once spun at 100% CPU on an event its
 * timeout-0 read never took), a partial line waits for its end, a closed
 * peer is -ECONNRESET. */
static void put_line(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_qmp_events(void **state)
{
	struct vm_qmp *q = NULL;
	struct err e = { 0 };
	json_t *ev = NULL;
	char buf[256];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* QEMU's side, written ahead: the greeting and the answer to
	 * qmp_capabilities */
	put_line(sv[1], "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n"
			"{\"return\": {}}\n");
	assert_int_equal(vm_qmp_open(sv[0], 2000, &q, &e), 0);
	assert_true(read(sv[1], buf, sizeof(buf)) > 0); /* the command */
	assert_int_equal(vm_qmp_event(q, 0, &ev, &e), -EAGAIN);

	put_line(sv[1], "{\"event\": \"RTC_CHANGE\", \"data\": {}}\n");
	assert_int_equal(vm_qmp_event(q, 0, &ev, &e), 0);
	assert_string_equal(json_string_value(json_object_get(ev, "event")),
			    "RTC_CHANGE");
	json_decref(ev);
	ev = NULL;
	assert_int_equal(vm_qmp_event(q, 0, &ev, &e), -EAGAIN);

	/* half an event: taken in, nothing returned; the rest completes it */
	put_line(sv[1], "{\"event\": \"RE");
	assert_int_equal(vm_qmp_event(q, 0, &ev, &e), -EAGAIN);
	put_line(sv[1], "SET\"}\n");
	assert_int_equal(vm_qmp_event(q, 0, &ev, &e), 0);
	assert_string_equal(json_string_value(json_object_get(ev, "event")),
			    "RESET");
	json_decref(ev);
	ev = NULL;

	close(sv[1]);
	assert_int_equal(vm_qmp_event(q, 0, &ev, &e), -ECONNRESET);
	vm_qmp_close(q);
}

static void test_swtpm(void **state)
{
	struct vm_swtpm_params p = {
		.state_dir = "/var/lib/vm/t1/vtpm",
		.ctrl_fd = 6,
		.log_file = "/run/x/swtpm.log",
		.key_fd = 5,
	};
	static const char *const bad_log[] = { "level=2", "level=5",
					       "level=20", "file=/x" };
	struct vm_argv a;
	struct err e = { 0 };

	(void)state;
	check_ok(vm_swtpm_argv(&p, &a, &e), &e);
	assert_string_equal(a.v[1], "socket");
	assert_true(has_pair(&a, "--tpm2", NULL) || has_substr(&a, "--tpm2"));
	assert_true(has_pair(&a, "--tpmstate",
			     "dir=/var/lib/vm/t1/vtpm,mode=0600"));
	assert_true(has_pair(&a, "--ctrl", "type=unixio,clientfd=6"));
	assert_true(has_pair(&a, "--key", "fd=5,mode=aes-256-cbc,"
					  "format=binary,remove=false"));
	assert_true(has_pair(&a, "--log", "file=/run/x/swtpm.log,level=1"));
	assert_false(has_substr(&a, "--migration-key"));
	vm_argv_clear(&a);

	for (size_t i = 0; i < ARRAY_SIZE(bad_log); i++) {
		char *v[] = { (char *)"swtpm", (char *)"socket",
			      (char *)"--tpmstate", (char *)"dir=/x",
			      (char *)"--key",
			      (char *)"fd=5,mode=aes-256-cbc,format=binary",
			      (char *)"--log", (char *)bad_log[i], NULL };

		assert_int_equal(vm_swtpm_argv_check(v, &e), -EPERM);
	}
	{
		char *v[] = { (char *)"swtpm", (char *)"socket",
			      (char *)"--tpmstate", (char *)"dir=/x",
			      (char *)"--log", (char *)"level=1", NULL };

		assert_int_equal(vm_swtpm_argv_check(v, &e), -EPERM);
	}
	{
		char *v[] = { (char *)"swtpm", (char *)"socket",
			      (char *)"--tpmstate", (char *)"dir=/x",
			      (char *)"--key", (char *)"file=/k,mode=aes-cbc",
			      NULL };

		assert_int_equal(vm_swtpm_argv_check(v, &e), -EPERM);
	}
	/* the control channel only on the inherited socketpair end */
	{
		static const char *const bad_ctrl[] = {
			"type=unixio,path=/run/x/swtpm.sock,mode=0600",
			"type=tcp,port=2322",
			"type=unixio,fd=6",
			"type=unixio,clientfd=",
			"type=unixio,clientfd=6x",
		};

		for (size_t i = 0; i < ARRAY_SIZE(bad_ctrl); i++) {
			char *v[] = { (char *)"swtpm", (char *)"socket",
				      (char *)"--tpmstate", (char *)"dir=/x",
				      (char *)"--key",
				      (char *)"fd=5,mode=aes-256-cbc,format=binary",
				      (char *)"--ctrl", (char *)bad_ctrl[i],
				      NULL };

			memset(&e, 0, sizeof(e));
			assert_int_equal(vm_swtpm_argv_check(v, &e), -EPERM);
			assert_non_null(strstr(err_str(&e), "socketpair"));
		}
	}
	{
		char *v[] = { (char *)"swtpm", (char *)"socket",
			      (char *)"--tpmstate", (char *)"dir=/x",
			      (char *)"--key",
			      (char *)"fd=5,mode=aes-256-cbc,format=binary",
			      NULL };

		memset(&e, 0, sizeof(e));
		assert_int_equal(vm_swtpm_argv_check(v, &e), -EPERM);
		assert_non_null(strstr(err_str(&e), "lacks --ctrl"));
	}
	p.ctrl_fd = -1;
	assert_int_equal(vm_swtpm_argv(&p, &a, &e), -EINVAL);
	p.ctrl_fd = 6;
	p.key_fd = -1;
	assert_int_equal(vm_swtpm_argv(&p, &a, &e), -EINVAL);
}

static void test_vars(void **state)
{
	uint8_t key[VM_KEY_SIZE], other[VM_KEY_SIZE], plain[1000];
	uint8_t *enc = NULL, *out = NULL;
	size_t enc_len = 0, out_len = 0;
	struct err e = { 0 };

	(void)state;
	memset(key, 1, sizeof(key));
	memset(other, 2, sizeof(other));
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)i;
	check_ok(vm_vars_seal(key, UUID, plain, sizeof(plain), &enc, &enc_len,
			      &e),
		 &e);
	assert_int_equal(enc_len, sizeof(plain) + VM_VARS_OVERHEAD);
	assert_memory_equal(enc, "SVVR", 4);
	assert_null(memmem(enc, enc_len, plain + 100, 64));
	check_ok(vm_vars_open(key, UUID, enc, enc_len, &out, &out_len, &e),
		 &e);
	assert_int_equal(out_len, sizeof(plain));
	assert_memory_equal(out, plain, sizeof(plain));
	free(out);
	out = NULL;
	/* another key, another VM: refused */
	assert_int_equal(vm_vars_open(other, UUID, enc, enc_len, &out, &out_len,
				      &e),
			 -EKEYREJECTED);
	assert_int_equal(vm_vars_open(key,
				      "12345678-1234-4234-8234-123456789abd",
				      enc, enc_len, &out, &out_len, &e),
			 -EKEYREJECTED);
	/* every byte is covered */
	for (size_t i = 0; i < enc_len; i++) {
		int r;

		enc[i] ^= 0x01;
		r = vm_vars_open(key, UUID, enc, enc_len, &out, &out_len, &e);
		if (i < 8)
			assert_int_equal(r, -EBADMSG);
		else
			assert_int_equal(r, -EKEYREJECTED);
		enc[i] ^= 0x01;
	}
	/* truncated */
	assert_int_equal(vm_vars_open(key, UUID, enc, enc_len - 1, &out,
				      &out_len, &e),
			 -EKEYREJECTED);
	assert_int_equal(vm_vars_open(key, UUID, enc, VM_VARS_OVERHEAD, &out,
				      &out_len, &e),
			 -EBADMSG);
	/* a fresh IV every time */
	{
		uint8_t *enc2 = NULL;
		size_t n2 = 0;

		check_ok(vm_vars_seal(key, UUID, plain, sizeof(plain), &enc2,
				      &n2, &e),
			 &e);
		assert_memory_not_equal(enc + 8, enc2 + 8, 12);
		free(enc2);
	}
	free(enc);
}

/* A version 1 secrets file made here by hand (issue 4's layout). */
static void make_v1(const uint8_t tk[32], uint64_t gen, const uint8_t kpd[32],
		    const uint8_t keys[96], uint8_t out[HOST_SECRETS_V1_FILE_SIZE])
{
	uint8_t key[32];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n;

	memcpy(out, "SVSC", 4);
	out[4] = 0;
	out[5] = 1;
	out[6] = 0;
	out[7] = 3;
	for (int i = 0; i < 8; i++)
		out[8 + i] = (uint8_t)(gen >> (56 - 8 * i));
	memcpy(out + 16, kpd, 32);
	memset(out + 48, 0x5a, 12);
	hkdf(tk, 32, "shieldvm secrets v1", key, 32);
	assert_int_equal(EVP_EncryptInit_ex2(c, EVP_aes_256_gcm(), key,
					     out + 48, NULL),
			 1);
	assert_int_equal(EVP_EncryptUpdate(c, NULL, &n, out, 60), 1);
	assert_int_equal(EVP_EncryptUpdate(c, out + 60, &n, keys, 96), 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, out + 156, &n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16,
					     out + 156),
			 1);
	EVP_CIPHER_CTX_free(c);
}

static void test_secrets_v1_upgrade(void **state)
{
	uint8_t tk[32], kpd[32], keys[96], root[32];
	uint8_t v1[HOST_SECRETS_V1_FILE_SIZE], v2[HOST_SECRETS_FILE_SIZE];
	struct host_secrets_binding b = { .generation = 5 }, got;
	struct host_secrets s, s2;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(HOST_SECRETS_V1_FILE_SIZE, 172);
	assert_int_equal(HOST_SECRETS_FILE_SIZE, 176);
	memset(tk, 0x33, sizeof(tk));
	memset(kpd, 0x44, sizeof(kpd));
	for (size_t i = 0; i < sizeof(keys); i++)
		keys[i] = (uint8_t)(i * 3);
	memcpy(b.kp_digest, kpd, 32);
	make_v1(tk, 5, kpd, keys, v1);
	check_ok(host_secrets_binding(v1, sizeof(v1), &got, &e), &e);
	assert_int_equal(got.version, 1);
	assert_int_equal(got.generation, 5);
	check_ok(host_secrets_open(v1, sizeof(v1), tk, &b, &s, &e), &e);
	hkdf(keys, sizeof(keys), "shieldvm secrets v1 to v2 root", root, 32);
	assert_memory_equal(s.root, root, 32);
	assert_int_equal(s.state, HOST_SECRETS_FRESH);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(s.vtpm_digest[i] | s.vars_digest[i], 0);
	/* written back: version 2, same root */
	check_ok(host_secrets_seal(&s, tk, &b, v2, &e), &e);
	check_ok(host_secrets_binding(v2, sizeof(v2), &got, &e), &e);
	assert_int_equal(got.version, 2);
	check_ok(host_secrets_open(v2, sizeof(v2), tk, &b, &s2, &e), &e);
	assert_memory_equal(&s, &s2, sizeof(s));
	/* a tampered version 1 file is refused */
	v1[100] ^= 1;
	assert_int_equal(host_secrets_open(v1, sizeof(v1), tk, &b, &s, &e),
			 -EKEYREJECTED);
	/* a version 1 header on a version 2 size (and back) is refused */
	v2[5] = 1;
	assert_int_equal(host_secrets_binding(v2, sizeof(v2), &got, &e),
			 -EBADMSG);
}

static void test_secrets_v2(void **state)
{
	uint8_t tk[32], key[32], f[HOST_SECRETS_FILE_SIZE];
	struct host_secrets_binding b = { .generation = 9 };
	struct host_secrets s, s2;
	struct err e = { 0 };

	(void)state;
	memset(tk, 0x21, sizeof(tk));
	check_ok(host_secrets_generate(&s, &e), &e);
	memset(s.vtpm_digest, 0xaa, 32);
	memset(s.vars_digest, 0xbb, 32);
	s.state = HOST_SECRETS_STOPPED;
	/* sealing with the sealing key equals sealing with the TK */
	check_ok(host_secrets_sealing_key(tk, key, &e), &e);
	check_ok(host_secrets_seal_with(&s, key, &b, f, &e), &e);
	check_ok(host_secrets_open(f, sizeof(f), tk, &b, &s2, &e), &e);
	assert_memory_equal(&s, &s2, sizeof(s));
	/* a state out of range does not open */
	s.state = 7;
	check_ok(host_secrets_seal(&s, tk, &b, f, &e), &e);
	assert_int_equal(host_secrets_open(f, sizeof(f), tk, &b, &s2, &e),
			 -EBADMSG);
}

static void test_filter(void **state)
{
	static const char *const refused[] = {
		"human-monitor-command", "dump-guest-memory", "pmemsave",
		"memsave", "gdbserver", "device_add", "device_del", "migrate",
		"migrate-incoming", "migrate-set-parameters", "getfd", "add-fd",
		"qom-get", "qom-set", "qom-list", "object-add", "object-del",
		"blockdev-add", "blockdev-del", "drive-mirror", "blockdev-backup",
		"block_resize", "netdev_add", "chardev-add", "chardev-change",
		"screendump", "cont", "balloon", "inject-nmi", "send-key",
		"input-send-event", "x-exit-preconfig", "query-memory-devices",
		"query-block", "query-chardev", "guest-exec", "loadvm",
		"savevm", "snapshot-save", "snapshot-load", "exit-preconfig",
		"trace-event-set-state", "xen-save-devices-state",
		"qmp_capabilities", "quit", "system_powerdown", "system_reset",
		"query-status", "STATUS", "Stop", "status ", " stop", "",
		"status\n",
	};
	static const char *const allowed[] = { "status", "stop", "poweroff",
					       "reset" };
	const struct vm_filter_entry *t;
	size_t n;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		if (vm_filter_lookup(refused[i]))
			fail_msg("'%s' is allowed", refused[i]);
	assert_null(vm_filter_lookup(NULL));
	t = vm_filter_table(&n);
	assert_int_equal(n, ARRAY_SIZE(allowed));
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
		assert_non_null(vm_filter_lookup(allowed[i]));
	/* the table maps only to QMP commands that read no guest state */
	for (size_t i = 0; i < n; i++)
		assert_true(streq(t[i].qmp, "query-status") ||
			    streq(t[i].qmp, "system_powerdown") ||
			    streq(t[i].qmp, "quit") ||
			    streq(t[i].qmp, "system_reset"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_labels),
		cmocka_unit_test(test_qemu_lockdown),
		cmocka_unit_test(test_qemu_forbidden),
		cmocka_unit_test(test_qemu_qmp),
		cmocka_unit_test(test_qmp_events),
		cmocka_unit_test(test_swtpm),
		cmocka_unit_test(test_vars),
		cmocka_unit_test(test_secrets_v1_upgrade),
		cmocka_unit_test(test_secrets_v2),
		cmocka_unit_test(test_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
