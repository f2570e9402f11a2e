/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shielded VMs on a guarded host (docs/vm.md):
 *   shieldvm vm profile ...        the canonical security profile
 *   shieldvm vm new NAME --kp KP   a VM directory
 *   shieldvm run VM                start it under a supervisor
 *   shieldvm status|stop|poweroff|reset VM   through the control socket
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/file.h"
#include "common/hex.h"
#include "common/util.h"
#include "host/agent.h"
#include "host/client.h"
#include "host/secmem.h"
#include "host/tpm.h"
#include "host/unwrap.h"
#include "kp/kp.h"
#include "shieldvm/cmd.h"
#include "shieldvm/json_out.h"
#include "vm/control.h"
#include "vm/def.h"
#include "vm/image.h"
#include "vm/launch.h"
#include "vm/vars.h"

#define RUN_LOCK ".run.lock"
#define VARS_TEMPLATE_FILE "vars.template"

static void vm_usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm vm profile [--policy P] [--serial-console] [--no-secure-boot]\n"
		"                           [--firmware F] [--disk DISK ...]\n"
		"       shieldvm vm profile --dir VM\n"
		"       shieldvm vm new NAME --kp KP [--memory MB] [--vcpus N]\n"
		"                       [--disk DISK ...] [--vars-template F]\n"
		"                       [--serial-console] [--no-secure-boot] [--firmware F]\n"
		"                       [--dir D]\n"
		"\n"
		"profile: print the canonical security profile of a VM (no trailing newline;\n"
		"its SHA-256 is what `shieldvm kp new --vm-config FILE` binds to the KP):\n"
		"  shieldvm vm profile --policy shielded > profile.json\n"
		"new: make the VM directory D (default ./NAME, mode 0700) with vm.json and\n"
		"the KP (its vm_id is the VM's uuid, its policy the VM's policy, its\n"
		"config_digest must equal the profile's SHA-256). The encrypted VARS and\n"
		"disks need the VM's keys, which only a start on a guarded host has: the\n"
		"first `shieldvm run` creates them.\n"
		"\n"
		"  --policy P          shielded (default) or encryption-supported\n"
		"  --serial-console    a serial console (encryption-supported only)\n"
		"  --no-secure-boot    firmware without Secure Boot keys (encryption-supported\n"
		"                      only)\n"
		"  --firmware F        OVMF code image (default %s)\n"
		"  --disk NAME:SIZE    a QEMU LUKS qcow2 disk of SIZE MiB; NAME:SIZE:raw an\n"
		"                      unencrypted raw disk (test report disks), repeatable\n"
		"  --disk NAME:import=IMAGE\n"
		"                      a QEMU LUKS qcow2 disk made from IMAGE (raw or qcow2)\n"
		"                      at the first run; vm new records its path and\n"
		"                      SHA-256, the run refuses an image that changed\n"
		"  --memory MB         guest RAM (default 512)\n"
		"  --vcpus N           (default 1)\n"
		"  --vars-template F   first-start VARS (default %s)\n",
		VM_OVMF_CODE, VM_OVMF_VARS_MS);
}

static void run_usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm run VM [--foreground] [--accept-unclean-stop]\n"
		"                       [--stop-timeout S] [--vm-user NAME] [--new-disks]\n"
		"                       [host agent options]\n"
		"       shieldvm status VM [--json]\n"
		"       shieldvm stop|poweroff|reset VM\n"
		"\n"
		"run: release the VM's key (attesting first when needed; roll and commit\n"
		"its KP), check the definition against the KP and the vTPM state and VARS\n"
		"against the digests recorded at the last clean stop, then start swtpm and\n"
		"QEMU under a supervisor (one per VM) and return once the VM runs (with\n"
		"--foreground: when it has stopped). The supervisor logs to VM/%s.\n"
		"status, stop (ACPI power button; quit after the stop timeout), poweroff\n"
		"(quit now), reset: through the supervisor's root-only control socket.\n"
		"\n"
		"  --foreground            stay in the foreground until the VM stops\n"
		"  --accept-unclean-stop   start although the last run did not stop cleanly\n"
		"                          (its vTPM state and VARS cannot be checked)\n"
		"  --stop-timeout S        seconds between the power button and quit (%d)\n"
		"  --vm-user NAME          run QEMU and swtpm as this unprivileged user\n"
		"                          (run as root; default: vm_user in the agent's\n"
		"                          config, else the supervisor's user)\n"
		"  --new-disks             create a missing disk of a VM that has run before\n"
		"                          (a disk added to the definition; refused without)\n"
		"  --tcti T, --state-dir D, --hgs URL, --ca-file F, --event-log F,\n"
		"  --no-attest, --quiet    as for `shieldvm host unwrap`\n"
		"  --json                  (status) machine-readable output\n"
		"\n"
		"Exit status: 0 done, 1 refused (hgsd, KP, rollback, firmware, filter),\n"
		"2 usage, 3 local error, 4 the VM is not running (status: stopped).\n",
		VM_LOG_FILE, VM_STOP_TIMEOUT_S);
}

static int exit_for(int r)
{
	switch (r) {
	case -EKEYREJECTED:
	case -ESTALE:
	case -EREMOTEIO:
	case -EPERM:
		return EXIT_FAIL;
	default:
		return EXIT_INPUT;
	}
}

static int load_def(const char *cmd, const char *dir, struct vm_def *ret)
{
	_cleanup_free_ uint8_t *text = NULL;
	char path[PATH_MAX];
	struct err e = { 0 };
	size_t len;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, VM_DEF_FILE);
	r = file_read(path, VM_DEF_MAX_SIZE, &text, &len, &e);
	if (r == 0)
		r = vm_def_parse((const char *)text, len, ret, &e);
	if (r < 0)
		cli_error(cmd, "%s: %s", path, err_str(&e));
	return r;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* --disk NAME:SIZE[:raw] or NAME:import=PATH (the path as given; made
 * absolute and probed by resolve_imports). */
static int parse_disk(const char *arg, struct vm_disk *d)
{
	char buf[128], *size, *fmt;
	const char *colon = strchr(arg, ':');
	uint64_t mb;

	if (colon && strncmp(colon + 1, "import=", 7) == 0) {
		const char *p = colon + 1 + 7;

		if ((size_t)(colon - arg) >= sizeof(d->name) || !*p ||
		    strlen(p) >= sizeof(d->import_path))
			return -EINVAL;
		memset(d, 0, sizeof(*d));
		memcpy(d->name, arg, (size_t)(colon - arg));
		if (!vm_disk_name_valid(d->name))
			return -EINVAL;
		memcpy(d->import_path, p, strlen(p) + 1);
		d->format = VM_DISK_QCOW2_LUKS;
		snprintf(d->file, sizeof(d->file), "disks/%.*s.qcow2",
			 (int)(colon - arg), arg);
		d->size_mb = 1; /* until resolve_imports */
		return 0;
	}
	if (strlen(arg) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", arg);
	size = strchr(buf, ':');
	if (!size)
		return -EINVAL;
	*size++ = '\0';
	fmt = strchr(size, ':');
	if (fmt)
		*fmt++ = '\0';
	if (!vm_disk_name_valid(buf) ||
	    parse_u64(size, VM_DISK_SIZE_MAX_MB, &mb) < 0 || mb == 0)
		return -EINVAL;
	if (fmt && !streq(fmt, "raw"))
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	memcpy(d->name, buf, strlen(buf) + 1); /* valid: fits */
	d->format = fmt ? VM_DISK_RAW : VM_DISK_QCOW2_LUKS;
	snprintf(d->file, sizeof(d->file), "disks/%s.%s", buf,
		 fmt ? "raw" : "qcow2");
	d->size_mb = mb;
	return 0;
}

/* vm new: each import=PATH made absolute (symlinks resolved), probed
 * (raw or qcow2, src/vm/image.h) and hashed; size_mb from its virtual
 * size. The first `run` converts it after checking the hash again. */
static int resolve_imports(struct vm_def *d,
			   enum vm_image_format formats[VM_DISKS_MAX])
{
	for (size_t i = 0; i < d->n_disks; i++) {
		struct vm_disk *k = &d->disks[i];
		char abs[PATH_MAX];
		struct vm_image im;
		struct err e = { 0 };
		int fd, r;

		if (!k->import_path[0])
			continue;
		if (!realpath(k->import_path, abs)) {
			if (errno == ENOENT)
				cli_error("vm new", "--disk %s:import=%s: %s is "
					  "missing", k->name, k->import_path,
					  k->import_path);
			else
				cli_error("vm new", "--disk %s:import=%s: %s",
					  k->name, k->import_path,
					  strerror(errno));
			return EXIT_INPUT;
		}
		if (strlen(abs) >= sizeof(k->import_path) ||
		    strpbrk(abs, ",\n")) {
			cli_error("vm new", "--disk %s:import=%s: the path %s "
				  "must be shorter than %d bytes, without ','",
				  k->name, k->import_path, abs, VM_PATH_MAX);
			return EXIT_USAGE;
		}
		fd = vm_image_open(abs, &e);
		r = fd < 0 ? fd : vm_image_probe(fd, abs, &im, &e);
		if (fd >= 0)
			close(fd);
		if (r < 0) {
			cli_error("vm new", "--disk %s:import: %s", k->name,
				  err_str(&e));
			return EXIT_INPUT;
		}
		memcpy(k->import_path, abs, strlen(abs) + 1);
		memcpy(k->import_sha256, im.sha256, sizeof(k->import_sha256));
		k->size_mb = vm_image_size_mb(&im);
		formats[i] = im.format;
	}
	return EXIT_OK;
}

static int firmware_digest(const char *cmd, const char *path, char out[65])
{
	_cleanup_free_ uint8_t *buf = NULL;
	uint8_t d[VM_DIGEST_SIZE];
	struct err e = { 0 };
	size_t len;
	int r;

	r = file_read(path, 64 * 1024 * 1024, &buf, &len, &e);
	if (r == 0)
		r = vm_digest(buf, len, d, &e);
	if (r < 0) {
		cli_error(cmd, "firmware %s: %s", path, err_str(&e));
		return r;
	}
	hex_encode(d, sizeof(d), out);
	return 0;
}

enum {
	OPT_POLICY = 0x100,
	OPT_SERIAL,
	OPT_NO_SB,
	OPT_FIRMWARE,
	OPT_DISK,
	OPT_DIR,
	OPT_KP,
	OPT_MEMORY,
	OPT_VCPUS,
	OPT_VARS_TEMPLATE,
};

static int vm_profile_cmd(struct vm_def *d, const char *dir)
{
	_cleanup_free_ char *text = NULL;
	struct err e = { 0 };
	int r;

	if (dir && load_def("vm profile", dir, d) < 0)
		return EXIT_INPUT;
	r = vm_profile_text(d, &text, &e);
	if (r < 0) {
		cli_error("vm profile", "%s", err_str(&e));
		return EXIT_USAGE;
	}
	fputs(text, stdout);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_INPUT;
}

static int write_file_excl(const char *path, const void *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL |
						    O_CLOEXEC | O_NOFOLLOW,
				      0600);
	const uint8_t *p = buf;

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return fsync(fd) < 0 ? -errno : 0;
}

static int vm_new_cmd(struct vm_def *d, const char *kp_path, const char *dir,
		      const char *vars_template)
{
	_cleanup_free_ uint8_t *kp_text = NULL, *tmpl = NULL;
	_cleanup_(kp_freep) struct kp *kp = NULL;
	_cleanup_(json_decrefp) json_t *j = NULL;
	_cleanup_free_ char *def_text = NULL;
	enum vm_image_format formats[VM_DISKS_MAX] = { 0 };
	uint8_t digest[KP_DIGEST_SIZE];
	char path[PATH_MAX], dtext[48], ktext[48];
	struct err e = { 0 };
	size_t len, tlen = 0;
	int r;

	r = file_read(kp_path, KP_MAX_SIZE, &kp_text, &len, &e);
	if (r < 0) {
		cli_error("vm new", "%s", err_str(&e));
		return EXIT_INPUT;
	}
	r = kp_parse((const char *)kp_text, len, &kp, &e);
	if (r < 0) {
		cli_error("vm new", "%s: %s", kp_path, err_str(&e));
		return exit_for(r);
	}
	r = resolve_imports(d, formats);
	if (r != EXIT_OK)
		return r;
	snprintf(d->uuid, sizeof(d->uuid), "%s", kp_vm_id(kp));
	if (d->security.policy != kp_policy(kp)) {
		cli_error("vm new",
			  "--policy %s, but the KP's policy is %s (the VM takes "
			  "the KP's; leave --policy out)",
			  kp_policy_to_string(d->security.policy),
			  kp_policy_to_string(kp_policy(kp)));
		return EXIT_USAGE;
	}
	r = vm_profile_digest(d, digest, &e);
	if (r < 0) {
		cli_error("vm new", "%s", err_str(&e));
		return EXIT_USAGE;
	}
	if (!kp_config_digest(kp)) {
		cli_error("vm new",
			  "%s binds no VM configuration: the owner must make it "
			  "with `shieldvm kp new --vm-config` and this VM's "
			  "profile (`shieldvm vm profile`)",
			  kp_path);
		return EXIT_FAIL;
	}
	if (CRYPTO_memcmp(digest, kp_config_digest(kp), KP_DIGEST_SIZE) != 0) {
		kp_digest_text(digest, dtext);
		kp_digest_text(kp_config_digest(kp), ktext);
		cli_error("vm new",
			  "the VM's security profile (SHA-256 %s) is not the one "
			  "%s binds (%s): print it with `shieldvm vm profile` "
			  "and the same options, and have the owner issue a KP "
			  "for it",
			  dtext, kp_path, ktext);
		return EXIT_FAIL;
	}
	if (vars_template) {
		r = file_read(vars_template, VM_VARS_MAX_SIZE, &tmpl, &tlen, &e);
		if (r < 0) {
			cli_error("vm new", "--vars-template: %s", err_str(&e));
			return EXIT_INPUT;
		}
	}
	r = vm_def_to_json(d, &j, &e);
	if (r < 0) {
		cli_error("vm new", "%s", err_str(&e));
		return EXIT_INPUT;
	}
	def_text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!def_text)
		return EXIT_INPUT;
	if (mkdir(dir, 0700) < 0) {
		cli_error("vm new", "%s: %s", dir, strerror(errno));
		return EXIT_INPUT;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, VM_DEF_FILE);
	r = write_file_excl(path, def_text, strlen(def_text));
	if (r == 0) {
		snprintf(path, sizeof(path), "%s/%s", dir, HOST_VM_KP);
		r = write_file_excl(path, kp_text, len);
	}
	if (r == 0 && tmpl) {
		snprintf(path, sizeof(path), "%s/%s", dir, VARS_TEMPLATE_FILE);
		r = write_file_excl(path, tmpl, tlen);
	}
	for (size_t i = 0; r == 0 && i < d->n_disks; i++) {
		_cleanup_close_ int fd = -1;

		if (i == 0) {
			snprintf(path, sizeof(path), "%s/disks", dir);
			if (mkdir(path, 0700) < 0)
				r = -errno;
		}
		if (r < 0 || d->disks[i].format != VM_DISK_RAW)
			continue;
		/* a raw (unencrypted) disk: a sparse file now */
		snprintf(path, sizeof(path), "%s/%s", dir, d->disks[i].file);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 ||
		    ftruncate(fd, (off_t)(d->disks[i].size_mb << 20)) < 0)
			r = -errno;
	}
	if (r < 0) {
		cli_error("vm new", "%s: %s", path, strerror(-r));
		return EXIT_INPUT;
	}
	for (size_t i = 0; i < d->n_disks; i++)
		if (d->disks[i].import_path[0])
			printf("disk %s: imports %s (%s, %" PRIu64 " MiB, "
			       "SHA-256 %s) at the first run\n",
			       d->disks[i].name, d->disks[i].import_path,
			       vm_image_format_to_string(formats[i]),
			       d->disks[i].size_mb, d->disks[i].import_sha256);
	printf("VM %s (%s, policy %s) created in %s; its keys, encrypted VARS "
	       "and disks are made by its first `shieldvm run %s`\n",
	       d->name, d->uuid, kp_policy_to_string(d->security.policy), dir,
	       dir);
	return EXIT_OK;
}

int cmd_vm(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "serial-console", no_argument, NULL, OPT_SERIAL },
		{ "no-secure-boot", no_argument, NULL, OPT_NO_SB },
		{ "firmware", required_argument, NULL, OPT_FIRMWARE },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "kp", required_argument, NULL, OPT_KP },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "vcpus", required_argument, NULL, OPT_VCPUS },
		{ "vars-template", required_argument, NULL, OPT_VARS_TEMPLATE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vm_def d = { .memory_mb = 512, .vcpus = 1 };
	const char *verb, *dir = NULL, *kp = NULL, *tmpl = NULL;
	const char *firmware = VM_OVMF_CODE;
	bool policy_given = false;
	uint64_t u;
	int c;

	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		vm_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	verb = argv[1];
	if (!streq(verb, "profile") && !streq(verb, "new")) {
		cli_error("vm", "unknown verb '%s' (profile, new)", verb);
		return EXIT_USAGE;
	}
	d.security.policy = KP_POLICY_SHIELDED;
	d.security.secure_boot = true;
	snprintf(d.security.lockdown, sizeof(d.security.lockdown), "%s",
		 VM_LOCKDOWN);
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_POLICY:
			if (kp_policy_from_string(optarg, &d.security.policy) <
			    0) {
				cli_error("vm", "--policy '%s': expected shielded "
					  "or encryption-supported", optarg);
				return EXIT_USAGE;
			}
			policy_given = true;
			break;
		case OPT_SERIAL:
			d.security.serial_console = true;
			break;
		case OPT_NO_SB:
			d.security.secure_boot = false;
			break;
		case OPT_FIRMWARE:
			firmware = optarg;
			break;
		case OPT_DISK:
			if (d.n_disks == VM_DISKS_MAX) {
				cli_error("vm", "at most %d disks", VM_DISKS_MAX);
				return EXIT_USAGE;
			}
			if (parse_disk(optarg, &d.disks[d.n_disks]) < 0) {
				cli_error("vm",
					  "--disk '%s': expected NAME:SIZE_MiB, "
					  "NAME:SIZE_MiB:raw or NAME:import=IMAGE "
					  "(NAME of [a-z0-9_-], SIZE 1..%d)",
					  optarg, VM_DISK_SIZE_MAX_MB);
				return EXIT_USAGE;
			}
			d.n_disks++;
			break;
		case OPT_DIR:
			dir = optarg;
			break;
		case OPT_KP:
			kp = optarg;
			break;
		case OPT_MEMORY:
			if (parse_u64(optarg, VM_MEMORY_MAX_MB, &u) < 0 ||
			    u < VM_MEMORY_MIN_MB) {
				cli_error("vm", "--memory '%s': %d..%d MiB", optarg,
					  VM_MEMORY_MIN_MB, VM_MEMORY_MAX_MB);
				return EXIT_USAGE;
			}
			d.memory_mb = u;
			break;
		case OPT_VCPUS:
			if (parse_u64(optarg, VM_VCPUS_MAX, &u) < 0 || u < 1) {
				cli_error("vm", "--vcpus '%s': 1..%d", optarg,
					  VM_VCPUS_MAX);
				return EXIT_USAGE;
			}
			d.vcpus = (unsigned)u;
			break;
		case OPT_VARS_TEMPLATE:
			tmpl = optarg;
			break;
		case 'h':
			vm_usage(stdout);
			return EXIT_OK;
		default:
			vm_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (strlen(firmware) >= sizeof(d.firmware_path)) {
		cli_error("vm", "--firmware: path too long");
		return EXIT_USAGE;
	}
	snprintf(d.firmware_path, sizeof(d.firmware_path), "%s", firmware);
	if (streq(verb, "profile")) {
		if (optind != argc - 1) {
			cli_error("vm profile", "unexpected argument '%s'",
				  argv[optind + 1]);
			return EXIT_USAGE;
		}
		if (dir)
			return vm_profile_cmd(&d, dir);
		/* an imported disk is a qcow2-luks disk; the image itself is
		 * not part of the profile */
		for (size_t i = 0; i < d.n_disks; i++)
			d.disks[i].import_path[0] = '\0';
		snprintf(d.name, sizeof(d.name), "profile");
		snprintf(d.uuid, sizeof(d.uuid),
			 "00000000-0000-4000-8000-000000000000");
		if (firmware_digest("vm profile", firmware,
				    d.security.firmware_code) < 0)
			return EXIT_INPUT;
		return vm_profile_cmd(&d, NULL);
	}
	if (optind != argc - 2) {
		cli_error("vm new", "expected one NAME");
		return EXIT_USAGE;
	}
	if (!vm_name_valid(argv[optind + 1])) {
		cli_error("vm new",
			  "NAME '%s': 1..%d characters of [A-Za-z0-9._-], not "
			  "starting with '.' or '-'",
			  argv[optind + 1], VM_NAME_MAX);
		return EXIT_USAGE;
	}
	snprintf(d.name, sizeof(d.name), "%s", argv[optind + 1]);
	if (!kp) {
		cli_error("vm new", "--kp KP is required");
		return EXIT_USAGE;
	}
	if (!dir)
		dir = d.name;
	if (!policy_given) {
		/* the KP decides; read it first */
		_cleanup_free_ uint8_t *t = NULL;
		_cleanup_(kp_freep) struct kp *k = NULL;
		struct err e = { 0 };
		size_t len;

		if (file_read(kp, KP_MAX_SIZE, &t, &len, &e) == 0 &&
		    kp_parse((const char *)t, len, &k, &e) == 0)
			d.security.policy = kp_policy(k);
	}
	if (firmware_digest("vm new", firmware, d.security.firmware_code) < 0)
		return EXIT_INPUT;
	return vm_new_cmd(&d, kp, dir, tmpl);
}

/* ---- run ----------------------------------------------------------------*/

struct run_ctx {
	struct host_vm_keys *k;
	const char *dir;
};

static int run_record(void *ctx, const struct host_secrets *s, struct err *e)
{
	const struct run_ctx *c = ctx;

	return host_vm_keys_reseal(c->k, c->dir, s, e);
}

/* The definition against the KP: vm_id, policy, config digest. */
static int check_against_kp(const struct vm_def *d, const char *vm_id,
			    enum kp_policy policy, const uint8_t *cd,
			    struct err *e)
{
	uint8_t digest[KP_DIGEST_SIZE];
	int r;

	if (!streq(vm_id, d->uuid))
		return err_set(e, EKEYREJECTED,
			       "the KP is for VM %s, the definition is VM %s",
			       vm_id, d->uuid);
	if (policy != d->security.policy)
		return err_set(e, EKEYREJECTED,
			       "the KP's policy is %s, the definition says %s",
			       kp_policy_to_string(policy),
			       kp_policy_to_string(d->security.policy));
	r = vm_profile_digest(d, digest, e);
	if (r < 0)
		return r;
	if (!cd || CRYPTO_memcmp(cd, digest, KP_DIGEST_SIZE) != 0)
		return err_set(e, EKEYREJECTED,
			       "the definition's security profile is not the "
			       "one bound in the KP (changed since the owner "
			       "issued it, e.g. a console added or Secure Boot "
			       "off): the owner must issue a new KP");
	return 0;
}

/* Before anything is released: the current KP of the directory (its
 * descriptor, hence its config digest, is the same in every generation). */
static int precheck(const char *dir, const struct vm_def *d, struct err *e)
{
	_cleanup_free_ uint8_t *t = NULL;
	_cleanup_(kp_freep) struct kp *kp = NULL;
	char path[PATH_MAX];
	size_t len;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, HOST_VM_KP);
	r = file_read(path, KP_MAX_SIZE, &t, &len, e);
	if (r == 0)
		r = kp_parse((const char *)t, len, &kp, e);
	if (r < 0) {
		err_prefix(e, "%s", path);
		return r;
	}
	r = check_against_kp(d, kp_vm_id(kp), kp_policy(kp),
			     kp_config_digest(kp), e);
	if (r < 0)
		return r;
	/* the firmware image and the disks' encryption need no key: refused
	 * before hgsd releases (and rolls) anything */
	return vm_launch_check(dir, d, e);
}

struct run_opts {
	struct host_agent_options ao;
	struct host_unwrap_options uo;
	bool foreground, accept_unclean, new_disks;
	int stop_timeout;
	int64_t t0_us; /* the command's start (start timings) */
	const char *vm_user; /* --vm-user; NULL: the supervisor's user */
};

/* Everything after the fork (or in the foreground): returns 0 or -errno
 * with e set. */
static int supervise_vm(const char *dir, const struct vm_def *d,
			const struct run_opts *o, int ready_fd, struct err *e)
{
	_cleanup_(host_agent_freep) struct host_agent *a = NULL;
	_cleanup_(host_vm_keys_freep) struct host_vm_keys *k = NULL;
	_cleanup_(json_decrefp) json_t *res = NULL;
	struct host_unwrap_options uo = o->uo;
	struct vm_launch l = { .ready_fd = ready_fd };
	struct host_unwrap_timings ut = { 0 };
	struct vm_start_timings st = { .t0_us = o->t0_us };
	struct run_ctx rc;
	char tmpl[PATH_MAX];
	int r;

	r = host_secmem_protect_process(e);
	if (r < 0)
		return r;
	r = precheck(dir, d, e);
	if (r < 0)
		return r;
	r = host_agent_open(&o->ao, &a, e);
	if (r < 0)
		return r;
	uo.mark_running = true;
	uo.timings = &ut;
	r = host_unwrap_vm_keys(a, dir, &uo, &res, &k, e);
	if (r < 0)
		return r;
	st.token_us = ut.token_us;
	st.unwrap_us = ut.unwrap_us;
	st.commit_us = ut.commit_us;
	r = check_against_kp(d, k->vm_id, k->policy,
			     k->has_config_digest ? k->config_digest : NULL, e);
	if (r < 0) {
		struct err e2 = { 0 };

		(void)host_vm_keys_reseal(k, dir, k->secrets, &e2);
		return r;
	}
	snprintf(tmpl, sizeof(tmpl), "%s/%s", dir, VARS_TEMPLATE_FILE);
	rc.k = k;
	rc.dir = dir;
	l.dir = dir;
	l.def = d;
	l.root = k->secrets->root;
	l.recorded = k->secrets;
	l.vars_template = access(tmpl, R_OK) == 0 ? tmpl : NULL;
	l.accept_unclean = o->accept_unclean;
	l.new_disks = o->new_disks;
	l.stop_timeout_s = o->stop_timeout;
	/* --vm-user, else the agent config's vm_user */
	l.vm_user = o->vm_user ? o->vm_user : host_agent_vm_user(a);
	l.record = run_record;
	l.record_ctx = &rc;
	l.timings = &st;
	return vm_launch_run(&l, e);
}

static int do_run(const char *vm, const struct run_opts *o)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	struct vm_def d;
	struct err e = { 0 };
	_cleanup_close_ int lock = -1;
	int p[2], r, status;
	pid_t pid;

	if (!realpath(vm, dir)) {
		cli_error("run", "%s: %s", vm, strerror(errno));
		return EXIT_INPUT;
	}
	if (load_def("run", dir, &d) < 0)
		return EXIT_INPUT;
	snprintf(path, sizeof(path), "%s/%s", dir, RUN_LOCK);
	lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock < 0) {
		cli_error("run", "%s: %s", path, strerror(errno));
		return EXIT_INPUT;
	}
	if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
		cli_error("run", "VM %s is already running (or starting)",
			  d.name);
		return EXIT_FAIL;
	}
	if (o->foreground) {
		r = supervise_vm(dir, &d, o, -1, &e);
		if (r < 0) {
			cli_error("run", "%s: %s", d.name, err_str(&e));
			return exit_for(r);
		}
		return EXIT_OK;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		cli_error("run", "pipe: %s", strerror(errno));
		return EXIT_INPUT;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		cli_error("run", "fork: %s", strerror(errno));
		return EXIT_INPUT;
	}
	if (pid == 0) {
		int log, null;

		close(p[0]);
		setsid();
		snprintf(path, sizeof(path), "%s/%s", dir, VM_LOG_FILE);
		log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
					 O_NOFOLLOW,
			   0600);
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (log >= 0) {
			dup2(log, 2);
			close(log);
		}
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			close(null);
		}
		if (chdir("/") < 0)
			_exit(EXIT_INPUT);
		r = supervise_vm(dir, &d, o, p[1], &e);
		if (r < 0) {
			char msg[ERR_MSG_MAX + 16];
			int n = snprintf(msg, sizeof(msg), "error %d %s\n", -r,
					 err_str(&e));

			(void)!write(p[1], msg, (size_t)n);
			_exit(exit_for(r));
		}
		_exit(EXIT_OK);
	}
	close(p[1]);
	{
		char buf[ERR_MSG_MAX + 32];
		size_t len = 0;
		ssize_t n;

		while (len < sizeof(buf) - 1 &&
		       (n = read(p[0], buf + len, sizeof(buf) - 1 - len)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break;
			len += (size_t)n;
			if (memchr(buf, '\n', len))
				break;
		}
		buf[len] = '\0';
		close(p[0]);
		if (strncmp(buf, "ready\n", 6) == 0) {
			printf("VM %s running (supervisor pid %d, log %s/%s)\n",
			       d.name, (int)pid, dir, VM_LOG_FILE);
			return EXIT_OK;
		}
		waitpid(pid, &status, 0);
		if (strncmp(buf, "error ", 6) == 0) {
			char *msg = strchr(buf + 6, ' ');
			char *nl = strchr(buf, '\n');

			if (nl)
				*nl = '\0';
			cli_error("run", "%s: %s", d.name, msg ? msg + 1 : buf);
			return WIFEXITED(status) ? WEXITSTATUS(status)
						 : EXIT_INPUT;
		}
		cli_error("run", "%s: the supervisor exited (see %s/%s)", d.name,
			  dir, VM_LOG_FILE);
		return EXIT_INPUT;
	}
}

enum {
	OPT_R_TCTI = 0x200,
	OPT_R_STATE_DIR,
	OPT_R_HGS,
	OPT_R_CA_FILE,
	OPT_R_QUIET,
	OPT_R_EVENT_LOG,
	OPT_R_NO_ATTEST,
	OPT_R_FOREGROUND,
	OPT_R_UNCLEAN,
	OPT_R_NEW_DISKS,
	OPT_R_STOP_TIMEOUT,
	OPT_R_VM_USER,
	OPT_R_JSON,
};

static int do_control(const char *cmd, const char *vm, bool json)
{
	_cleanup_(json_decrefp) json_t *ans = NULL;
	char rundir[PATH_MAX];
	struct vm_def d;
	struct err e = { 0 };
	json_t *ret, *err;
	int r;

	if (load_def(cmd, vm, &d) < 0)
		return EXIT_INPUT;
	r = vm_runtime_dir(d.uuid, rundir, sizeof(rundir), &e);
	if (r == 0)
		r = vm_control_request(rundir, cmd, &ans, &e);
	if (r == -ENOENT || r == -ECONNREFUSED) {
		if (streq(cmd, "status") && json)
			return json_print(json_pack("{s:s, s:s, s:s}", "name",
						    d.name, "uuid", d.uuid,
						    "state", "stopped")) < 0
				       ? EXIT_INPUT
				       : 4;
		if (streq(cmd, "status"))
			printf("VM %s (%s): stopped\n", d.name, d.uuid);
		else
			cli_error(cmd, "VM %s is not running", d.name);
		return 4;
	}
	if (r < 0) {
		cli_error(cmd, "%s: %s", d.name, err_str(&e));
		return r == -EACCES ? EXIT_FAIL : EXIT_INPUT;
	}
	err = json_object_get(ans, "error");
	if (err) {
		cli_error(cmd, "%s: %s", d.name,
			  json_string_value(json_object_get(err, "desc")));
		return EXIT_FAIL;
	}
	ret = json_object_get(ans, "return");
	if (streq(cmd, "status")) {
		if (json)
			return json_print(json_incref(ret)) < 0 ? EXIT_INPUT
								: EXIT_OK;
		printf("VM %s (%s): %s%s (supervisor %" JSON_INTEGER_FORMAT
		       ", QEMU %" JSON_INTEGER_FORMAT ", swtpm %" JSON_INTEGER_FORMAT
		       ", up %" JSON_INTEGER_FORMAT " s)\n",
		       d.name, d.uuid,
		       json_string_value(json_object_get(ret, "state")),
		       json_is_true(json_object_get(ret, "stopping"))
			       ? ", stopping"
			       : "",
		       json_integer_value(json_object_get(ret, "supervisor_pid")),
		       json_integer_value(json_object_get(ret, "qemu_pid")),
		       json_integer_value(json_object_get(ret, "swtpm_pid")),
		       json_integer_value(json_object_get(ret, "uptime_s")));
		return EXIT_OK;
	}
	printf("VM %s: %s sent\n", d.name, cmd);
	return EXIT_OK;
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, OPT_R_TCTI },
		{ "state-dir", required_argument, NULL, OPT_R_STATE_DIR },
		{ "hgs", required_argument, NULL, OPT_R_HGS },
		{ "ca-file", required_argument, NULL, OPT_R_CA_FILE },
		{ "quiet", no_argument, NULL, OPT_R_QUIET },
		{ "event-log", required_argument, NULL, OPT_R_EVENT_LOG },
		{ "no-attest", no_argument, NULL, OPT_R_NO_ATTEST },
		{ "foreground", no_argument, NULL, OPT_R_FOREGROUND },
		{ "accept-unclean-stop", no_argument, NULL, OPT_R_UNCLEAN },
		{ "new-disks", no_argument, NULL, OPT_R_NEW_DISKS },
		{ "stop-timeout", required_argument, NULL, OPT_R_STOP_TIMEOUT },
		{ "vm-user", required_argument, NULL, OPT_R_VM_USER },
		{ "json", no_argument, NULL, OPT_R_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *urls[HOST_CLIENT_MAX_URLS];
	struct run_opts o = { .ao = { .urls = urls }, .t0_us = vm_mono_us() };
	const char *cmd = argv[0];
	bool is_run = streq(cmd, "run"), json = false, agent_opt = false;
	uint64_t u;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_R_TCTI:
			o.ao.tcti = optarg;
			agent_opt = true;
			break;
		case OPT_R_STATE_DIR:
			o.ao.state_dir = optarg;
			agent_opt = true;
			break;
		case OPT_R_HGS:
			if (o.ao.n_urls == HOST_CLIENT_MAX_URLS) {
				cli_error(cmd, "at most %d --hgs URLs",
					  HOST_CLIENT_MAX_URLS);
				return EXIT_USAGE;
			}
			urls[o.ao.n_urls++] = optarg;
			agent_opt = true;
			break;
		case OPT_R_CA_FILE:
			o.ao.ca_file = optarg;
			agent_opt = true;
			break;
		case OPT_R_QUIET:
			o.ao.quiet = true;
			agent_opt = true;
			break;
		case OPT_R_EVENT_LOG:
			o.uo.event_log = optarg;
			agent_opt = true;
			break;
		case OPT_R_NO_ATTEST:
			o.uo.no_attest = true;
			agent_opt = true;
			break;
		case OPT_R_FOREGROUND:
			o.foreground = true;
			agent_opt = true;
			break;
		case OPT_R_NEW_DISKS:
			o.new_disks = true;
			agent_opt = true;
			break;
		case OPT_R_UNCLEAN:
			o.accept_unclean = true;
			agent_opt = true;
			break;
		case OPT_R_STOP_TIMEOUT:
			if (parse_u64(optarg, 3600, &u) < 0 || u < 1) {
				cli_error(cmd, "--stop-timeout '%s': 1..3600 s",
					  optarg);
				return EXIT_USAGE;
			}
			o.stop_timeout = (int)u;
			agent_opt = true;
			break;
		case OPT_R_VM_USER:
			o.vm_user = optarg;
			agent_opt = true;
			break;
		case OPT_R_JSON:
			json = true;
			break;
		case 'h':
			run_usage(stdout);
			return EXIT_OK;
		default:
			run_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_error(cmd, "expected one VM directory (see --help)");
		return EXIT_USAGE;
	}
	if ((agent_opt && !is_run) || (json && !streq(cmd, "status"))) {
		cli_error(cmd, "an option given is not one of '%s' (see --help)",
			  cmd);
		return EXIT_USAGE;
	}
	if (is_run)
		return do_run(argv[optind], &o);
	return do_control(cmd, argv[optind], json);
}
