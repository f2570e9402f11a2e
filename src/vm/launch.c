/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "common/file.h"
#include "common/hex.h"
#include "common/util.h"
#include "host/secmem.h"
#include "vm/argv.h"
#include "vm/child.h"
#include "vm/control.h"
#include "vm/filter.h"
#include "vm/image.h"
#include "vm/keys.h"
#include "vm/qcow2.h"
#include "vm/qmp.h"
#include "vm/vars.h"

#define SWTPM_STOP_TIMEOUT_MS 10000

static void logf_(const char *fmt, ...) _printf_(1, 2);
static void logf_(const char *fmt, ...)
{
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s shieldvm-supervisor[%d]: ", ts, (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t vm_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The supervisor's one line per start (launch.h, vm_start_timings). */
static void log_start_timings(struct vm_start_timings *t)
{
#define MS(us) (long long)(((us) + 500) / 1000)
	t->total_us = vm_mono_us() - t->t0_us;
	logf_("start timings: token %lld ms, unwrap %lld ms, commit %lld ms, "
	      "keys %lld ms, vars %lld ms, swtpm %lld ms, qemu %lld ms, "
	      "total %lld ms",
	      MS(t->token_us), MS(t->unwrap_us), MS(t->commit_us),
	      MS(t->keys_us), MS(t->vars_us), MS(t->swtpm_us), MS(t->qemu_us),
	      MS(t->total_us));
#undef MS
}

int vm_runtime_dir(const char *uuid, char *out, size_t max, struct err *e)
{
	const char *base = getenv(VM_RUNTIME_ENV), *x;
	int n;

	if (base && *base)
		n = snprintf(out, max, "%s/%s", base, uuid);
	else if (geteuid() == 0)
		n = snprintf(out, max, "/run/shieldvm/%s", uuid);
	else if ((x = getenv("XDG_RUNTIME_DIR")) && *x)
		n = snprintf(out, max, "%s/shieldvm/%s", x, uuid);
	else
		return err_set(e, ENOENT,
			       "no runtime directory: not root and "
			       "XDG_RUNTIME_DIR is not set (or set %s)",
			       VM_RUNTIME_ENV);
	if (n < 0 || (size_t)n >= max || (size_t)n > 80)
		return err_set(e, ENAMETOOLONG,
			       "runtime directory path too long for unix "
			       "sockets");
	return 0;
}

/* A memfd (close-on-exec) holding len bytes, positioned at 0. */
static int memfd_with(const char *name, const void *buf, size_t len,
		      struct err *e)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	const uint8_t *p = buf;
	size_t off = 0;

	if (fd < 0)
		return err_set(e, errno, "memfd_create: %s", strerror(errno));
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = errno;

			close(fd);
			return err_set(e, r, "memfd write: %s", strerror(r));
		}
		off += (size_t)n;
	}
	(void)fcntl(fd, F_ADD_SEALS,
		    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
	if (lseek(fd, 0, SEEK_SET) < 0) {
		int r = errno;

		close(fd);
		return err_set(e, r, "memfd seek: %s", strerror(r));
	}
	return fd;
}

/* fork + exec argv with exactly the keep[] fds inherited (vm_spawn),
 * as the supervisor's user. */
static int spawn(char *const *argv, const int *keep, size_t n_keep, pid_t *ret,
		 struct err *e)
{
	return vm_spawn(argv, keep, n_keep, NULL, ret, e);
}

static int wait_exit(pid_t pid, int timeout_ms, int *status)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);

		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(10 * 1000);
	}
}

static int path_join(char *out, size_t max, const char *a, const char *b,
		     struct err *e)
{
	int n = snprintf(out, max, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= max)
		return err_set(e, ENAMETOOLONG, "%s/%s: path too long", a, b);
	return 0;
}

/* path (not a symlink) to uid:gid with mode; uid -1: the owner stays. */
static int give(const char *path, uid_t uid, gid_t gid, mode_t mode,
		struct err *e)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return err_set(e, ELOOP, "%s: a symlink", path);
	if (lchown(path, uid, gid) < 0 || chmod(path, mode) < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	return 0;
}

/* What QEMU and swtpm open by path becomes the VM user's, and no more:
 * the VM directory and the runtime directory root's with the user's group
 * and mode 0710 (search only: vm.json, kp, secrets, vars.enc, the logs
 * and the control socket stay root's 0600), vtpm/ and its files, each
 * disk, the decrypted VARS copy and swtpm's log the user's (0700 / 0600);
 * a directory between the VM directory and a disk 0710 like the VM
 * directory. The key memfds and the socketpairs are inherited fds. */
static int give_to_user(const struct vm_launch *l, const struct vm_user *u,
			const char *rundir, const char *vtpm,
			const char *run_vars, const char *tlog, struct err *e)
{
	DIR *d;
	char p[VM_PATH_MAX + 64];
	struct dirent *de;
	struct stat st;
	int r;

	/* the base of the runtime directories (/run/shieldvm), which
	 * runtime_clear_stale made 0700: searchable by all, not listable
	 * (each VM's directory keeps its own mode) */
	snprintf(p, sizeof(p), "%s", rundir);
	*strrchr(p, '/') = '\0';
	if (stat(p, &st) < 0)
		return err_set(e, errno, "%s: %s", p, strerror(errno));
	if (st.st_uid == geteuid() && (st.st_mode & 0711) != 0711 &&
	    chmod(p, (st.st_mode & 07777) | 0711) < 0)
		return err_set(e, errno, "%s: %s", p, strerror(errno));
	if ((r = give(l->dir, (uid_t)-1, u->gid, 0710, e)) < 0 ||
	    (r = give(rundir, (uid_t)-1, u->gid, 0710, e)) < 0 ||
	    (r = give(vtpm, u->uid, u->gid, 0700, e)) < 0 ||
	    (r = give(run_vars, u->uid, u->gid, 0600, e)) < 0)
		return r;
	r = file_write(tlog, "", 0, 0600, e);
	if (r == 0)
		r = give(tlog, u->uid, u->gid, 0600, e);
	if (r < 0)
		return r;
	d = opendir(vtpm);
	if (!d)
		return err_set(e, errno, "%s: %s", vtpm, strerror(errno));
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		r = path_join(p, sizeof(p), vtpm, de->d_name, e);
		if (r == 0)
			r = give(p, u->uid, u->gid, 0600, e);
		if (r < 0) {
			closedir(d);
			return r;
		}
	}
	closedir(d);
	for (size_t i = 0; i < l->def->n_disks; i++) {
		char *slash;

		r = path_join(p, sizeof(p), l->dir, l->def->disks[i].file, e);
		if (r == 0)
			r = give(p, u->uid, u->gid, 0600, e);
		if (r < 0)
			return r;
		/* the directories in between (vm_def_parse: inside DIR) */
		while ((slash = strrchr(p, '/')) &&
		       (size_t)(slash - p) > strlen(l->dir)) {
			*slash = '\0';
			r = give(p, (uid_t)-1, u->gid, 0710, e);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Overwrite a file with zeros, then remove it. */
static void wipe_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		static const uint8_t zero[4096];
		off_t left = st.st_size;

		while (left > 0) {
			ssize_t n = write(fd, zero,
					  left > (off_t)sizeof(zero) ?
						  sizeof(zero) :
						  (size_t)left);
			if (n <= 0)
				break;
			left -= n;
		}
		(void)fsync(fd);
	}
	if (fd >= 0)
		close(fd);
	(void)unlink(path);
}

/* Write a file of the VM directory atomically (mode 0600). */
static int write_atomic(const char *dir, const char *name, const void *buf,
			size_t len, struct err *e)
{
	char tmp[VM_PATH_MAX + 64], path[VM_PATH_MAX + 64];
	int r;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	(void)unlink(tmp);
	r = file_write(tmp, buf, len, 0600, e);
	if (r < 0)
		return r;
	if (rename(tmp, path) < 0) {
		r = errno;
		(void)unlink(tmp);
		return err_set(e, r, "%s: %s", path, strerror(r));
	}
	{
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
	return 0;
}

struct keys {
	struct host_secmem *mem;
	uint8_t *vtpm, *vars;
	uint8_t *disk[VM_DISKS_MAX];
	char *disk_hex[VM_DISKS_MAX]; /* the LUKS passphrase */
};

static int derive_keys(const struct vm_launch *l, struct keys *k, struct err *e)
{
	int r;

	r = host_secmem_new(8192, &k->mem, e);
	if (r < 0)
		return r;
	k->vtpm = host_secmem_alloc(k->mem, VM_KEY_SIZE);
	k->vars = host_secmem_alloc(k->mem, VM_KEY_SIZE);
	if (!k->vtpm || !k->vars)
		return err_set(e, ENOMEM, "locked memory too small");
	if ((r = vm_key_derive(l->root, VM_KEY_VTPM, NULL, k->vtpm, e)) < 0 ||
	    (r = vm_key_derive(l->root, VM_KEY_VARS, NULL, k->vars, e)) < 0)
		return r;
	for (size_t i = 0; i < l->def->n_disks; i++) {
		if (l->def->disks[i].format != VM_DISK_QCOW2_LUKS)
			continue;
		k->disk[i] = host_secmem_alloc(k->mem, VM_KEY_SIZE);
		k->disk_hex[i] = host_secmem_alloc(k->mem, 2 * VM_KEY_SIZE + 1);
		if (!k->disk[i] || !k->disk_hex[i])
			return err_set(e, ENOMEM, "locked memory too small");
		r = vm_key_derive(l->root, VM_KEY_DISK, l->def->disks[i].name,
				  k->disk[i], e);
		if (r < 0)
			return r;
		hex_encode(k->disk[i], VM_KEY_SIZE, k->disk_hex[i]);
	}
	return 0;
}

static int check_firmware(const struct vm_def *d, struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	uint8_t dg[VM_DIGEST_SIZE];
	char hex[65];
	size_t len;
	int r;

	r = file_read(d->firmware_path, 64 * 1024 * 1024, &buf, &len, e);
	if (r < 0)
		return r;
	r = vm_digest(buf, len, dg, e);
	if (r < 0)
		return r;
	hex_encode(dg, sizeof(dg), hex);
	if (!streq(hex, d->security.firmware_code))
		return err_set(e, EKEYREJECTED,
			       "firmware %s has SHA-256 %s, the definition "
			       "(and the KP) name %s: refusing to start",
			       d->firmware_path, hex,
			       d->security.firmware_code);
	return 0;
}

/* The disk check: every qcow2-luks disk that exists is a qcow2 image with
 * QEMU's LUKS encryption and nothing that makes QEMU open another file
 * (vm/qcow2.h). A disk replaced by an unencrypted qcow2 or a raw file is
 * refused here, before any key is released and before QEMU starts: QEMU
 * itself would refuse an unencrypted qcow2 only because of encrypt.format
 * on its command line, with an error of its own, and would open a backing
 * or external data file the header names. We parse the header ourselves
 * rather than run `qemu-img info --output=json`: no process (and no
 * timeout to handle) per disk at every start, and the header is small and
 * documented (QEMU's docs/interop/qcow2.txt). Missing disks are left to
 * create_disks (the first start). */
static int check_disks(const char *dir, const struct vm_def *d, struct err *e)
{
	for (size_t i = 0; i < d->n_disks; i++) {
		const struct vm_disk *dk = &d->disks[i];
		char path[VM_PATH_MAX + 64];
		int r;

		if (dk->format != VM_DISK_QCOW2_LUKS)
			continue;
		r = path_join(path, sizeof(path), dir, dk->file, e);
		if (r < 0)
			return r;
		if (access(path, F_OK) < 0 && errno == ENOENT) {
			/* to be imported: the image must still be there (its
			 * digest is checked at the import; a missing one is
			 * refused here, before the key is released) */
			if (dk->import_path[0]) {
				int fd = vm_image_open(dk->import_path, e);

				if (fd < 0) {
					err_prefix(e, "disk %s: the image to "
						      "import",
						   dk->name);
					return fd;
				}
				close(fd);
			}
			continue;
		}
		r = vm_qcow2_check_file(path, dk->name, e);
		if (r < 0)
			return r;
	}
	return 0;
}

int vm_launch_check(const char *dir, const struct vm_def *d, struct err *e)
{
	int r = check_firmware(d, e);

	if (r < 0)
		return r;
	return check_disks(dir, d, e);
}

/* The rollback check: vtpm/ and vars.enc against the recorded digests. */
static int check_recorded(const struct vm_launch *l, const char *vtpm,
			  const char *vars, struct err *e)
{
	const struct host_secrets *s = l->recorded;
	_cleanup_free_ uint8_t *buf = NULL;
	uint8_t dg[VM_DIGEST_SIZE];
	struct stat st;
	size_t len;
	int r;

	if (s->state == HOST_SECRETS_RUNNING && l->accept_unclean) {
		logf_("the last run did not stop cleanly; starting without the "
		      "rollback check (--accept-unclean-stop)");
		return 0;
	}
	if (s->state == HOST_SECRETS_RUNNING)
		return err_set(e, ESTALE,
			       "the last run of this VM did not stop cleanly "
			       "(crash, kill or power loss): its vTPM state and "
			       "VARS cannot be checked against rollback; start "
			       "with --accept-unclean-stop if you know why");
	if (s->state == HOST_SECRETS_FRESH) {
		uint8_t empty[VM_DIGEST_SIZE];
		bool state = stat(vars, &st) == 0;

		if (!state && stat(vtpm, &st) == 0) {
			r = vm_digest_dir(vtpm, dg, e);
			if (r < 0)
				return r;
			r = vm_digest(NULL, 0, empty, e);
			if (r < 0)
				return r;
			state = CRYPTO_memcmp(dg, empty, sizeof(dg)) != 0;
		}
		if (state)
			return err_set(e, ESTALE,
				       "%s: vTPM state or VARS present but the "
				       "secrets record no clean stop: refusing "
				       "state nobody recorded",
				       l->dir);
		return 0;
	}
	if (stat(vtpm, &st) < 0 && errno == ENOENT)
		return err_set(e, ESTALE,
			       "%s: the vTPM state recorded at the last clean "
			       "stop is missing (removed): refusing to start",
			       vtpm);
	r = vm_digest_dir(vtpm, dg, e);
	if (r < 0)
		return r;
	if (CRYPTO_memcmp(dg, s->vtpm_digest, sizeof(dg)) != 0)
		return err_set(e, ESTALE,
			       "%s: the vTPM state differs from the one "
			       "recorded at the last clean stop (replaced or "
			       "rolled back): refusing to start",
			       vtpm);
	r = file_read(vars, VM_VARS_MAX_SIZE + VM_VARS_OVERHEAD, &buf, &len, e);
	if (r < 0)
		return r;
	r = vm_digest(buf, len, dg, e);
	if (r < 0)
		return r;
	if (CRYPTO_memcmp(dg, s->vars_digest, sizeof(dg)) != 0)
		return err_set(e, ESTALE,
			       "%s differs from the one recorded at the last "
			       "clean stop (replaced or rolled back): refusing "
			       "to start",
			       vars);
	return 0;
}

/* First start: vars.enc from the template. */
static int create_vars(const struct vm_launch *l, const struct keys *k,
		       struct err *e)
{
	const char *t = l->vars_template;
	_cleanup_free_ uint8_t *plain = NULL, *enc = NULL;
	size_t len, enc_len;
	int r;

	if (!t)
		t = l->def->security.secure_boot ? VM_OVMF_VARS_MS :
						   VM_OVMF_VARS_BLANK;
	r = file_read(t, VM_VARS_MAX_SIZE, &plain, &len, e);
	if (r < 0)
		return r;
	r = vm_vars_seal(k->vars, l->def->uuid, plain, len, &enc, &enc_len, e);
	if (r < 0)
		return r;
	logf_("first start: %s created from %s", VM_VARS_FILE, t);
	return write_atomic(l->dir, VM_VARS_FILE, enc, enc_len, e);
}

/* Run qemu-img (argv a, inheriting keep[]) until it succeeds.
 * qemu-img calibrates PBKDF2 with getrusage(RUSAGE_THREAD); on a loaded
 * machine a tick-based clock can read 0 ms and it gives up ("Unable to get
 * accurate CPU usage"): retry, up to VM_QEMU_IMG_ATTEMPTS. out (what it
 * writes) is removed after each failure: no half disk stays behind. */
static int qemu_img_retry(char *const *a, const int *keep, size_t n_keep,
			  const char *what, const char *disk, const char *out,
			  struct err *e)
{
	int status = 0, r;
	pid_t pid;

	for (int attempt = 1;; attempt++) {
		r = spawn(a, keep, n_keep, &pid, e);
		if (r < 0) {
			(void)unlink(out);
			return r;
		}
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			return 0;
		(void)unlink(out);
		if (attempt < VM_QEMU_IMG_ATTEMPTS) {
			logf_("disk %s: qemu-img %s failed, retrying", disk,
			      what);
			continue;
		}
		return err_set(e, EIO,
			       "disk %s: qemu-img %s failed (status %d, %d "
			       "attempts; its messages are in %s)",
			       disk, what,
			       WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			       attempt, VM_LOG_FILE);
	}
}

/* argv from NULL-terminated strings, each strdup'ed (and "%d" formatted
 * ones given already allocated); -ENOMEM if any is missing. */
static int argv_done(struct vm_argv *a, struct err *e)
{
	a->v[a->n] = NULL;
	for (size_t j = 0; j < a->n; j++)
		if (!a->v[j]) {
			vm_argv_clear(a);
			return err_set(e, ENOMEM, "out of memory");
		}
	return 0;
}

/* First start of an imported disk: check that the image still hashes to
 * import.sha256, then `qemu-img convert` it into a LUKS qcow2 (key by fd)
 * written next to path and renamed into place once complete. The image is
 * opened once: the hashed file is the one converted (by /dev/fd). */
static int import_disk(const struct vm_launch *l, const struct vm_disk *dk,
		       const char *key_hex, const char *path, struct err *e)
{
	char part[VM_PATH_MAX + 80];
	struct vm_argv a = { 0 };
	struct vm_image im;
	int keep[2] = { -1, -1 }, r;
	int64_t t0 = now_ms();

	r = vm_image_open(dk->import_path, e);
	if (r < 0) {
		err_prefix(e,
			   "disk %s: the image to import (named in %s at `vm "
			   "new`)",
			   dk->name, VM_DEF_FILE);
		return r;
	}
	keep[1] = r;
	r = vm_image_probe(keep[1], dk->import_path, &im, e);
	if (r < 0) {
		err_prefix(e, "disk %s: import", dk->name);
		goto out;
	}
	if (!streq(im.sha256, dk->import_sha256)) {
		r = err_set(e, EKEYREJECTED,
			    "disk %s: %s has SHA-256 %s, but %s names %s (the "
			    "image changed since `vm new`): refusing to "
			    "import it",
			    dk->name, dk->import_path, im.sha256, VM_DEF_FILE,
			    dk->import_sha256);
		goto out;
	}
	snprintf(part, sizeof(part), "%s.import", path);
	(void)unlink(part);
	keep[0] = memfd_with("disk-key", key_hex, strlen(key_hex), e);
	if (keep[0] < 0) {
		r = keep[0];
		goto out;
	}
	a.v[a.n++] = strdup(l->qemu_img ? l->qemu_img : VM_QEMU_IMG);
	a.v[a.n++] = strdup("convert");
	a.v[a.n++] = strdup("-q");
	a.v[a.n++] = strdup("-f");
	a.v[a.n++] = strdup(vm_image_format_to_string(im.format));
	a.v[a.n++] = strdup("-O");
	a.v[a.n++] = strdup("qcow2");
	a.v[a.n++] = strdup("--object");
	if (asprintf(&a.v[a.n++], "secret,id=sec0,format=raw,file=/dev/fd/%d",
		     keep[0]) < 0)
		a.v[a.n - 1] = NULL;
	a.v[a.n++] = strdup("-o");
	a.v[a.n++] = strdup("encrypt.format=luks,encrypt.key-secret=sec0,"
			    "encrypt.iter-time=" VM_LUKS_ITER_MS);
	if (asprintf(&a.v[a.n++], "/dev/fd/%d", keep[1]) < 0)
		a.v[a.n - 1] = NULL;
	a.v[a.n++] = strdup(part);
	r = argv_done(&a, e);
	if (r < 0)
		goto out;
	r = qemu_img_retry(a.v, keep, 2, "convert", dk->name, part, e);
	vm_argv_clear(&a);
	if (r < 0)
		goto out;
	(void)chmod(part, 0600);
	if (rename(part, path) < 0) {
		r = err_set(e, errno, "%s: %s", path, strerror(errno));
		(void)unlink(part);
		goto out;
	}
	logf_("first start: disk %s imported from %s (%s, SHA-256 %s, "
	      "%" PRIu64 " bytes) into %s (LUKS) in %" PRId64 " ms",
	      dk->name, dk->import_path, vm_image_format_to_string(im.format),
	      im.sha256, im.virtual_size, dk->file, now_ms() - t0);
out:
	for (size_t i = 0; i < 2; i++)
		if (keep[i] >= 0)
			close(keep[i]);
	return r;
}

/* First start: missing qcow2-luks disks (empty, or imported), key by fd. */
static int create_disks(const struct vm_launch *l, const struct keys *k,
			struct err *e)
{
	const struct vm_def *d = l->def;

	for (size_t i = 0; i < d->n_disks; i++) {
		const struct vm_disk *dk = &d->disks[i];
		char path[VM_PATH_MAX + 64], sub[VM_PATH_MAX + 64];
		struct vm_argv a = { 0 };
		struct stat st;
		int fd, r;
		char *slash;

		r = path_join(path, sizeof(path), l->dir, dk->file, e);
		if (r < 0)
			return r;
		if (stat(path, &st) == 0)
			continue;
		if (dk->format != VM_DISK_QCOW2_LUKS)
			return err_set(e, ENOENT,
				       "disk %s: %s is missing (raw disks are "
				       "not created by the launcher)",
				       dk->name, path);
		/* a VM that has run has its disks: a missing one was lost or
		 * removed, and an empty (or freshly imported) one in its
		 * place would silently replace the guest's data */
		if (l->recorded && l->recorded->state != HOST_SECRETS_FRESH &&
		    !l->new_disks)
			return err_set(e, ENOENT,
				       "disk %s: %s is missing, and the VM has "
				       "run before: restore the disk (or, for "
				       "a disk added to the definition, start "
				       "with --new-disks to create it)",
				       dk->name, path);
		snprintf(sub, sizeof(sub), "%s", path);
		slash = strrchr(sub, '/');
		if (slash) {
			*slash = '\0';
			(void)mkdir(sub, 0700);
		}
		if (dk->import_path[0]) {
			r = import_disk(l, dk, k->disk_hex[i], path, e);
			if (r < 0)
				return r;
			continue;
		}
		fd = memfd_with("disk-key", k->disk_hex[i],
				strlen(k->disk_hex[i]), e);
		if (fd < 0)
			return fd;
		a.v[a.n++] = strdup(l->qemu_img ? l->qemu_img : VM_QEMU_IMG);
		a.v[a.n++] = strdup("create");
		a.v[a.n++] = strdup("-q");
		a.v[a.n++] = strdup("-f");
		a.v[a.n++] = strdup("qcow2");
		a.v[a.n++] = strdup("--object");
		if (asprintf(&a.v[a.n++],
			     "secret,id=sec0,format=raw,file=/dev/fd/%d",
			     fd) < 0)
			a.v[a.n - 1] = NULL;
		a.v[a.n++] = strdup("-o");
		/* The passphrase is a random 256-bit key: PBKDF2 stretching
		 * adds nothing but start time (QEMU's default is 2 s per disk
		 * open). */
		a.v[a.n++] = strdup("encrypt.format=luks,encrypt.key-secret="
				    "sec0,encrypt.iter-time=" VM_LUKS_ITER_MS);
		a.v[a.n++] = strdup(path);
		if (asprintf(&a.v[a.n++], "%" PRIu64 "M", dk->size_mb) < 0)
			a.v[a.n - 1] = NULL;
		r = argv_done(&a, e);
		if (r == 0)
			r = qemu_img_retry(a.v, &fd, 1, "create", dk->name,
					   path, e);
		close(fd);
		vm_argv_clear(&a);
		if (r < 0)
			return r;
		(void)chmod(path, 0600);
		logf_("first start: disk %s created (%s, %" PRIu64
		      " MiB, LUKS)",
		      dk->name, dk->file, dk->size_mb);
	}
	return 0;
}

/* The size of our stderr (supervisor.log) when it is a regular file, else
 * -1: where QEMU's messages will start. */
static off_t stderr_size(void)
{
	struct stat st;

	if (fstat(2, &st) < 0 || !S_ISREG(st.st_mode))
		return -1;
	return st.st_size;
}

/* The last line QEMU wrote to our stderr since `from` (lines of ours left
 * out), at most max - 1 bytes; "" if none or stderr is not a file. */
static void qemu_last_line(off_t from, char *out, size_t max)
{
	char buf[4096];
	_cleanup_close_ int fd = -1;
	struct stat st;
	ssize_t n;
	char *line, *save = NULL;

	out[0] = '\0';
	if (from < 0)
		return;
	fd = open("/proc/self/fd/2", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= from)
		return;
	if (st.st_size - from > (off_t)sizeof(buf) - 1)
		from = st.st_size - (off_t)sizeof(buf) + 1;
	n = pread(fd, buf, sizeof(buf) - 1, from);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!*line || strstr(line, " shieldvm-supervisor["))
			continue;
		snprintf(out, max, "%s", line);
	}
	/* control characters from QEMU stay out of our messages */
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* QEMU exited before the VM ran (before QMP was up): the refusal carries
 * QEMU's reason, the last line of its stderr. When that line is about one
 * of our -blockdev options ("qemu-system-x86_64: -blockdev VALUE: REASON",
 * VALUE exactly as in qa) it names the disk; a disk QEMU cannot unlock is
 * another VM's, or was encrypted under another key. */
static int qemu_failed(const struct vm_def *d, const struct vm_argv *qa,
		       int status, off_t log_from, struct err *e)
{
	char line[ERR_MSG_MAX + 2 * VM_PATH_MAX];
	const char *rest;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) :
				       128 + WTERMSIG(status);

	qemu_last_line(log_from, line, sizeof(line));
	if (!line[0])
		return err_set(e, EIO,
			       "QEMU exited (status %d) before the VM ran: see "
			       "%s",
			       code, VM_LOG_FILE);
	rest = strstr(line, ": -blockdev ");
	for (size_t j = 0; rest && j + 1 < qa->n; j++) {
		const char *v = qa->v[j + 1], *reason;
		size_t vl = strlen(v);

		if (!streq(qa->v[j], "-blockdev") ||
		    strncmp(rest + 12, v, vl) != 0 ||
		    strncmp(rest + 12 + vl, ": ", 2) != 0)
			continue;
		reason = rest + 12 + vl + 2;
		for (size_t i = 0; i < d->n_disks; i++) {
			char nn[VM_DISK_NAME_MAX + 32];

			snprintf(nn, sizeof(nn), "node-name=disk-%s,",
				 d->disks[i].name);
			if (!strstr(v, nn))
				continue;
			if (strstr(reason, "cannot unlock") ||
			    strstr(reason, "Invalid password"))
				return err_set(e, EKEYREJECTED,
					       "disk %s (%s): QEMU cannot "
					       "unlock it with this VM's key "
					       "(another VM's disk, or "
					       "encrypted under another key): "
					       "%s",
					       d->disks[i].name,
					       d->disks[i].file, reason);
			return err_set(e, EIO,
				       "disk %s (%s): QEMU cannot open it: %s",
				       d->disks[i].name, d->disks[i].file,
				       reason);
		}
	}
	return err_set(e, EIO, "QEMU exited (status %d) before the VM ran: %s",
		       code, line);
}

/* The runtime directory: 0700, on tmpfs when possible, empty. A stale one
 * (a supervisor that died) is wiped first; a live supervisor: -EBUSY. */
static int runtime_setup(const char *rundir, struct err *e)
{
	struct statfs sf;

	if (mkdir(rundir, 0700) < 0)
		return err_set(e, errno, "%s: %s", rundir, strerror(errno));
	if (statfs(rundir, &sf) == 0 && sf.f_type != TMPFS_MAGIC &&
	    sf.f_type != RAMFS_MAGIC)
		logf_("warning: runtime directory %s is not on tmpfs: the "
		      "decrypted VARS may reach a disk",
		      rundir);
	return 0;
}

static void runtime_remove(const char *rundir)
{
	static const char *const names[] = {
		VM_RUN_CONTROL, VM_RUN_QMP,	VM_RUN_TPM,
		VM_RUN_VARS,	VM_RUN_CONSOLE, VM_RUN_SWTPM_LOG,
	};
	char p[VM_PATH_MAX + 64];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(p, sizeof(p), "%s/%s", rundir, names[i]);
		wipe_file(p);
	}
	(void)rmdir(rundir);
}

/* No supervisor answers: a runtime directory left by one that died (it
 * may hold the plaintext VARS) is wiped now, whatever happens next. A live
 * supervisor: -EBUSY. */
static int runtime_clear_stale(const char *rundir, struct err *e)
{
	char parent[VM_PATH_MAX];
	json_t *ans = NULL;
	struct stat st;

	if (vm_control_request(rundir, "status", &ans, NULL) == 0) {
		json_decref(ans);
		return err_set(e, EBUSY,
			       "a supervisor already runs this VM (%s)",
			       rundir);
	}
	snprintf(parent, sizeof(parent), "%s", rundir);
	*strrchr(parent, '/') = '\0';
	if (mkdir(parent, 0700) < 0 && errno != EEXIST)
		return err_set(e, errno, "%s: %s", parent, strerror(errno));
	if (lstat(rundir, &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return err_set(e, EPERM, "%s: not our directory", rundir);
	logf_("removing a stale runtime directory %s", rundir);
	runtime_remove(rundir);
	if (lstat(rundir, &st) == 0)
		return err_set(e, ENOTEMPTY,
			       "%s: could not be removed (remove it by hand)",
			       rundir);
	return 0;
}

static int listen_control(const char *path, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;
	mode_t old;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, ENAMETOOLONG, "%s: too long", path);
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set(e, errno, "socket: %s", strerror(errno));
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		int r = errno;

		umask(old);
		close(fd);
		return err_set(e, r, "%s: %s", path, strerror(r));
	}
	umask(old);
	return fd;
}

struct sup {
	const struct vm_launch *l;
	struct vm_qmp *qmp;
	pid_t qemu, swtpm;
	int64_t started;
	int64_t stop_deadline; /* 0: no stop asked */
	int64_t stop_ms;
	bool quit_sent;
};

static void answer(int fd, json_t *msg)
{
	char *t = json_dumps(msg, JSON_COMPACT);

	if (t) {
		(void)send(fd, t, strlen(t), MSG_NOSIGNAL);
		(void)send(fd, "\n", 1, MSG_NOSIGNAL);
	}
	free(t);
	json_decref(msg);
}

static json_t *error_json(const char *cls, const char *desc)
{
	return json_pack("{s:{s:s, s:s}}", "error", "class", cls, "desc", desc);
}

static void do_action(struct sup *s, const struct vm_filter_entry *f, int fd)
{
	struct err e = { 0 };
	json_t *ret = NULL;
	int r;

	r = vm_qmp_execute(s->qmp, f->qmp, NULL, &ret, &e);
	if (r < 0) {
		logf_("'%s': %s", f->name, err_str(&e));
		answer(fd, error_json("Failed", err_str(&e)));
		return;
	}
	switch (f->action) {
	case VM_ACTION_STATUS: {
		json_t *o =
			json_pack("{s:s, s:s, s:O, s:i, s:i, s:i, s:I, s:b}",
				  "name", s->l->def->name, "uuid",
				  s->l->def->uuid, "qemu", ret,
				  "supervisor_pid", (int)getpid(), "qemu_pid",
				  (int)s->qemu, "swtpm_pid", (int)s->swtpm,
				  "uptime_s",
				  (json_int_t)((now_ms() - s->started) / 1000),
				  "stopping", s->stop_deadline != 0);
		json_object_set_new(o, "state",
				    json_deep_copy(
					    json_object_get(ret, "status")));
		answer(fd, json_pack("{s:o}", "return", o));
		break;
	}
	case VM_ACTION_STOP:
		if (!s->stop_deadline)
			s->stop_deadline = now_ms() + s->stop_ms;
		logf_("stop: ACPI power button pressed; quit in %d s if the "
		      "guest does not power off",
		      (int)(s->stop_ms / 1000));
		answer(fd, json_pack("{s:{}}", "return"));
		break;
	case VM_ACTION_POWEROFF:
		s->quit_sent = true;
		logf_("poweroff: QEMU told to quit");
		answer(fd, json_pack("{s:{}}", "return"));
		break;
	case VM_ACTION_RESET:
		logf_("reset");
		answer(fd, json_pack("{s:{}}", "return"));
		break;
	}
	json_decref(ret);
}

static void serve_one(struct sup *s, int lfd)
{
	_cleanup_close_ int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	char buf[VM_CONTROL_MAX_MSG + 1] = "";
	const struct vm_filter_entry *f;
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	size_t len = 0;
	int64_t deadline = now_ms() + VM_CONTROL_TIMEOUT_MS;
	json_t *req;
	const char *name;

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 ||
	    (cr.uid != 0 && cr.uid != geteuid())) {
		logf_("control: refused a connection from uid %u pid %d",
		      (unsigned)cr.uid, (int)cr.pid);
		return;
	}
	while (!memchr(buf, '\n', len)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (len == VM_CONTROL_MAX_MSG || left <= 0 ||
		    poll(&p, 1, (int)left) <= 0) {
			logf_("control: pid %d: no complete request",
			      (int)cr.pid);
			answer(fd, error_json("GenericError",
					      "no complete request"));
			return;
		}
		n = read(fd, buf + len, VM_CONTROL_MAX_MSG - len);
		if (n <= 0)
			return;
		len += (size_t)n;
	}
	buf[len] = '\0';
	req = json_loads(buf, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES,
			 NULL);
	name = json_string_value(json_object_get(req, "execute"));
	if (!json_is_object(req) || !name) {
		logf_("control: pid %d uid %u: malformed request refused",
		      (int)cr.pid, (unsigned)cr.uid);
		answer(fd, error_json("GenericError",
				      "expected {\"execute\": NAME}"));
		json_decref(req);
		return;
	}
	f = vm_filter_lookup(name);
	if (!f || json_object_size(req) != 1) {
		char desc[160];

		snprintf(desc, sizeof(desc),
			 "'%.64s' is not allowed on a shielded VM (allowed: "
			 "status, stop, poweroff, reset; no arguments)",
			 name);
		logf_("control: REFUSED '%.64s' from pid %d uid %u", name,
		      (int)cr.pid, (unsigned)cr.uid);
		answer(fd, error_json("Refused", desc));
		json_decref(req);
		return;
	}
	logf_("control: '%s' from pid %d uid %u", f->name, (int)cr.pid,
	      (unsigned)cr.uid);
	do_action(s, f, fd);
	json_decref(req);
}

/* Wait for QEMU to exit, serving the control socket. Returns QEMU's wait
 * status. */
static int supervise(struct sup *s, int lfd, int sfd)
{
	int status = 0;

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = lfd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = s->qmp ? vm_qmp_fd(s->qmp) : -1,
			  .events = POLLIN },
		};
		struct err e = { 0 };
		json_t *ev = NULL;
		int pr;

		if (s->stop_deadline && !s->quit_sent &&
		    now_ms() > s->stop_deadline) {
			logf_("stop: the guest did not power off in %d s: quit",
			      (int)(s->stop_ms / 1000));
			s->quit_sent = true;
			if (s->qmp)
				(void)vm_qmp_execute(s->qmp, "quit", NULL, NULL,
						     NULL);
		}
		pr = poll(p, 3, 500);
		if (pr < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGTERM ||
				    si.ssi_signo == SIGINT) {
					logf_("signal %u: stopping the VM",
					      si.ssi_signo);
					if (!s->stop_deadline && s->qmp) {
						s->stop_deadline =
							now_ms() + s->stop_ms;
						(void)vm_qmp_execute(
							s->qmp,
							"system_powerdown",
							NULL, NULL, NULL);
					}
				}
			}
		}
		if (waitpid(s->qemu, &status, WNOHANG) == s->qemu)
			return status;
		if (s->swtpm > 0) {
			int st;

			if (waitpid(s->swtpm, &st, WNOHANG) == s->swtpm) {
				s->swtpm = -1;
				if (s->quit_sent) {
					logf_("swtpm exited (QEMU is quitting)");
				} else {
					logf_("swtpm exited (status %d) while "
					      "the VM ran: quitting QEMU",
					      WEXITSTATUS(st));
					s->quit_sent = true;
					if (s->qmp)
						(void)vm_qmp_execute(s->qmp,
								     "quit",
								     NULL, NULL,
								     NULL);
				}
			}
		}
		if (p[0].revents & POLLIN)
			serve_one(s, lfd);
		while (s->qmp) {
			int r = vm_qmp_event(s->qmp, 0, &ev, &e);

			if (r == -EAGAIN)
				break;
			if (r < 0) {
				vm_qmp_close(s->qmp); /* QEMU is exiting */
				s->qmp = NULL;
				break;
			}
			logf_("QEMU event %s",
			      json_string_value(json_object_get(ev, "event")));
			json_decref(ev);
		}
	}
	waitpid(s->qemu, &status, 0);
	return status;
}

/* swtpm: SIGTERM (it writes its state and exits), SIGKILL after a timeout. */
static int stop_swtpm(pid_t pid)
{
	int status = 0;

	if (pid <= 0)
		return 0;
	kill(pid, SIGTERM);
	if (wait_exit(pid, SWTPM_STOP_TIMEOUT_MS, &status) < 0) {
		logf_("swtpm did not exit: killed");
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -ETIMEDOUT;
	}
	return 0;
}

/* VARS back into vars.enc; the plaintext wiped. */
static int save_vars(const struct vm_launch *l, const struct keys *k,
		     const char *run_vars, struct err *e)
{
	_cleanup_free_ uint8_t *plain = NULL, *enc = NULL;
	size_t len = 0, enc_len = 0;
	int r;

	r = file_read(run_vars, VM_VARS_MAX_SIZE, &plain, &len, e);
	if (r == 0)
		r = vm_vars_seal(k->vars, l->def->uuid, plain, len, &enc,
				 &enc_len, e);
	if (plain)
		OPENSSL_cleanse(plain, len);
	wipe_file(run_vars);
	if (r < 0)
		return r;
	return write_atomic(l->dir, VM_VARS_FILE, enc, enc_len, e);
}

int vm_launch_run(const struct vm_launch *l, struct err *e)
{
	struct keys k = { 0 };
	struct vm_argv qa = { 0 }, ta = { 0 };
	struct sup s = { .l = l, .qemu = -1, .swtpm = -1 };
	bool started = false, created_vars = false;
	char rundir[VM_PATH_MAX], vtpm[VM_PATH_MAX + 64],
		vars[VM_PATH_MAX + 64], run_vars[VM_PATH_MAX + 64],
		ctl[VM_PATH_MAX + 64], con[VM_PATH_MAX + 64],
		tlog[VM_PATH_MAX + 64];
	int disk_fds[VM_DISKS_MAX], keep[VM_DISKS_MAX + 3];
	int tfd = -1, lfd = -1, sfd = -1, status = 0, r;
	int64_t t_phase = 0; /* start timings */
	bool have_rundir = false, qemu_never_ran = false;
	uint8_t vtpm_before[VM_DIGEST_SIZE];
	off_t log_from = -1;
	int qmp_fds[2] = { -1, -1 }, tpm_fds[2] = { -1, -1 }, con_fd = -1;
	struct vm_child child = { .exec_fd = -1 };
	struct vm_user user = { .name = "" };
	sigset_t mask;
	size_t n_keep = 0;

	for (size_t i = 0; i < VM_DISKS_MAX; i++)
		disk_fds[i] = -1;
	umask(0077);
	s.stop_ms = (int64_t)(l->stop_timeout_s > 0 ? l->stop_timeout_s :
						      VM_STOP_TIMEOUT_S) *
		    1000;
	r = vm_def_check(l->def, e);
	if (r < 0)
		goto out;
	r = vm_runtime_dir(l->def->uuid, rundir, sizeof(rundir), e);
	if (r < 0)
		goto out;
	if ((r = path_join(vtpm, sizeof(vtpm), l->dir, VM_VTPM_DIR, e)) < 0 ||
	    (r = path_join(vars, sizeof(vars), l->dir, VM_VARS_FILE, e)) < 0 ||
	    (r = path_join(run_vars, sizeof(run_vars), rundir, VM_RUN_VARS,
			   e)) < 0 ||
	    (r = path_join(ctl, sizeof(ctl), rundir, VM_RUN_CONTROL, e)) < 0 ||
	    (r = path_join(con, sizeof(con), rundir, VM_RUN_CONSOLE, e)) < 0 ||
	    (r = path_join(tlog, sizeof(tlog), rundir, VM_RUN_SWTPM_LOG, e)) <
		    0)
		goto out;

	/* the user QEMU and swtpm run as */
	if (l->vm_user) {
		r = vm_user_resolve(l->vm_user, &user, e);
		if (r < 0)
			goto out;
	}
	if (user.name[0])
		logf_("QEMU and swtpm run as user %s (uid %u gid %u)",
		      user.name, (unsigned)user.uid, (unsigned)user.gid);
	else
		logf_("QEMU and swtpm run as the supervisor's user (uid %u)%s",
		      (unsigned)geteuid(),
		      geteuid() == 0 ? ": no VM user configured (--vm-user)" :
				       "");

	/* checks before anything starts */
	r = runtime_clear_stale(rundir, e);
	if (r < 0)
		goto out;
	r = check_firmware(l->def, e);
	if (r < 0)
		goto out;
	r = check_recorded(l, vtpm, vars, e);
	if (r < 0)
		goto out;
	t_phase = vm_mono_us();
	r = derive_keys(l, &k, e);
	if (r < 0)
		goto out;
	if (l->timings)
		l->timings->keys_us = vm_mono_us() - t_phase;

	/* first start */
	if (access(vars, F_OK) < 0) {
		r = create_vars(l, &k, e);
		if (r < 0)
			goto out;
		created_vars = true;
	}
	r = create_disks(l, &k, e);
	if (r < 0)
		goto out;
	r = check_disks(l->dir, l->def, e);
	if (r < 0)
		goto out;
	if (mkdir(vtpm, 0700) < 0 && errno != EEXIST) {
		r = err_set(e, errno, "%s: %s", vtpm, strerror(errno));
		goto out;
	}

	/* runtime directory and the decrypted VARS */
	r = runtime_setup(rundir, e);
	if (r < 0)
		goto out;
	have_rundir = true;
	{
		_cleanup_free_ uint8_t *enc = NULL, *plain = NULL;
		size_t len = 0, plen = 0;

		t_phase = vm_mono_us();
		r = file_read(vars, VM_VARS_MAX_SIZE + VM_VARS_OVERHEAD, &enc,
			      &len, e);
		if (r == 0)
			r = vm_vars_open(k.vars, l->def->uuid, enc, len, &plain,
					 &plen, e);
		if (r == 0)
			r = file_write(run_vars, plain, plen, 0600, e);
		if (plain)
			OPENSSL_cleanse(plain, plen);
		if (r < 0) {
			err_prefix(e, "%s", vars);
			goto out;
		}
		if (l->timings)
			l->timings->vars_us = vm_mono_us() - t_phase;
	}
	if (user.name[0]) {
		const char *paths[5 + VM_DISKS_MAX] = {
			l->dir, vtpm, run_vars, tlog, l->def->firmware_path,
		};
		int modes[5 + VM_DISKS_MAX] = {
			X_OK, R_OK | W_OK | X_OK, R_OK | W_OK, W_OK, R_OK,
		};
		char disk[VM_DISKS_MAX][VM_PATH_MAX + 64];
		size_t n = 5;

		r = give_to_user(l, &user, rundir, vtpm, run_vars, tlog, e);
		for (size_t i = 0; r == 0 && i < l->def->n_disks; i++) {
			r = path_join(disk[i], sizeof(disk[i]), l->dir,
				      l->def->disks[i].file, e);
			paths[n] = disk[i];
			modes[n++] = R_OK | W_OK;
		}
		if (r == 0)
			r = vm_user_check_access(&user, paths, modes, n, e);
		if (r < 0)
			goto out;
		child.user = &user;
	}

	/* signals: handled through a signalfd from here on */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		r = err_set(e, errno, "signalfd: %s", strerror(errno));
		goto out;
	}

	/* swtpm */
	tfd = memfd_with("vtpm-key", k.vtpm, VM_KEY_SIZE, e);
	if (tfd < 0) {
		r = tfd;
		goto out;
	}
	/* swtpm's control channel: a socketpair, swtpm and QEMU inherit
	 * one end each (no socket path anyone could connect to) */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tpm_fds) < 0) {
		r = err_set(e, errno, "socketpair: %s", strerror(errno));
		goto out;
	}
	{
		struct vm_swtpm_params tp = {
			.state_dir = vtpm,
			.ctrl_fd = tpm_fds[1],
			.log_file = tlog,
			.key_fd = tfd,
			.swtpm = l->swtpm,
		};

		r = vm_swtpm_argv(&tp, &ta, e);
	}
	if (r < 0)
		goto out;
	/* if QEMU fails at its start, "nothing ran" is this state unchanged */
	r = vm_digest_dir(vtpm, vtpm_before, e);
	if (r < 0)
		goto out;
	started = true; /* from here on the vTPM state may change */
	t_phase = vm_mono_us();
	r = vm_exec_copy(ta.v[0], &child.exec_fd, e);
	if (r == 0) {
		int fds[2] = { tfd, tpm_fds[1] };

		r = vm_spawn(ta.v, fds, 2, &child, &s.swtpm, e);
	}
	close(tfd);
	tfd = -1;
	close(tpm_fds[1]);
	tpm_fds[1] = -1;
	if (child.exec_fd >= 0)
		close(child.exec_fd);
	child.exec_fd = -1;
	if (r < 0)
		goto out;
	logf_("swtpm started (pid %d)", (int)s.swtpm);
	/* swtpm initialises while QEMU starts: this is its spawn only */
	if (l->timings)
		l->timings->swtpm_us = vm_mono_us() - t_phase;

	/* QEMU */
	for (size_t i = 0; i < l->def->n_disks; i++) {
		if (!k.disk_hex[i])
			continue;
		disk_fds[i] = memfd_with("disk-key", k.disk_hex[i],
					 strlen(k.disk_hex[i]), e);
		if (disk_fds[i] < 0) {
			r = disk_fds[i];
			goto out;
		}
		keep[n_keep++] = disk_fds[i];
	}
	/* QMP: a socketpair, QEMU inherits one end (no path to connect to) */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp_fds) < 0) {
		r = err_set(e, errno, "socketpair: %s", strerror(errno));
		goto out;
	}
	keep[n_keep++] = qmp_fds[1];
	keep[n_keep++] = tpm_fds[0];
	/* the console (a VM that may have one): the supervisor binds its
	 * socket (root's, 0600) and QEMU listens on the inherited fd */
	if (vm_serial_allowed(l->def)) {
		con_fd = listen_control(con, e);
		if (con_fd < 0) {
			r = con_fd;
			goto out;
		}
		keep[n_keep++] = con_fd;
	}
	{
		struct vm_qemu_params qp = {
			.def = l->def,
			.dir = l->dir,
			.vars = run_vars,
			.tpm_fd = tpm_fds[0],
			.qmp_fd = qmp_fds[1],
			.serial_fd = con_fd,
			.qemu = l->qemu,
		};

		memcpy(qp.disk_key_fd, disk_fds, sizeof(disk_fds));
		r = vm_qemu_argv(&qp, &qa, e);
	}
	if (r < 0)
		goto out;
	t_phase = vm_mono_us();
	log_from = stderr_size();
	r = vm_exec_copy(qa.v[0], &child.exec_fd, e);
	if (r == 0)
		r = vm_spawn(qa.v, keep, n_keep, &child, &s.qemu, e);
	if (child.exec_fd >= 0)
		close(child.exec_fd);
	child.exec_fd = -1;
	close(qmp_fds[1]);
	qmp_fds[1] = -1;
	close(tpm_fds[0]);
	tpm_fds[0] = -1;
	if (con_fd >= 0)
		close(con_fd);
	con_fd = -1;
	for (size_t i = 0; i < VM_DISKS_MAX; i++)
		if (disk_fds[i] >= 0) {
			close(disk_fds[i]);
			disk_fds[i] = -1;
		}
	if (r < 0)
		goto out;
	/* swtpm and QEMU have their keys: only the VARS key is needed again */
	OPENSSL_cleanse(k.vtpm, VM_KEY_SIZE);
	for (size_t i = 0; i < VM_DISKS_MAX; i++) {
		if (k.disk[i])
			OPENSSL_cleanse(k.disk[i], VM_KEY_SIZE);
		if (k.disk_hex[i])
			OPENSSL_cleanse(k.disk_hex[i], 2 * VM_KEY_SIZE + 1);
	}
	logf_("QEMU started (pid %d)", (int)s.qemu);
	r = vm_qmp_open(qmp_fds[0], VM_START_TIMEOUT_MS, &s.qmp, e);
	qmp_fds[0] = -1; /* owned by s.qmp, or closed */
	if (r < 0) {
		bool swtpm_died = false;
		int st;

		/* swtpm no longer has a socket to wait for: a swtpm that
		 * failed shows here (QEMU cannot start without its vTPM) */
		if (s.swtpm > 0 && waitpid(s.swtpm, &st, WNOHANG) == s.swtpm) {
			s.swtpm = -1;
			swtpm_died = true;
			err_prefix(e,
				   "QEMU (swtpm exited first, status %d: see "
				   "%s)",
				   WIFEXITED(st) ? WEXITSTATUS(st) : -1,
				   VM_LOG_FILE);
		} else {
			err_prefix(e, "QEMU");
		}
		/* QEMU gone at its start (say, a disk it cannot unlock): the
		 * refusal carries its reason */
		if (wait_exit(s.qemu, 2000, &status) == 0) {
			s.qemu = -1;
			qemu_never_ran = true;
			if (!swtpm_died) {
				if (e)
					e->msg[0] = '\0';
				r = qemu_failed(l->def, &qa, status, log_from,
						e);
			}
		}
		goto out;
	}
	if (l->timings)
		l->timings->qemu_us = vm_mono_us() - t_phase;
	lfd = listen_control(ctl, e);
	if (lfd < 0) {
		r = lfd;
		goto out;
	}
	s.started = now_ms();
	logf_("VM %s (%s) running; control socket %s", l->def->name,
	      l->def->uuid, ctl);
	if (l->timings)
		log_start_timings(l->timings);
	if (l->ready_fd >= 0) {
		(void)!write(l->ready_fd, "ready\n", 6);
		close(l->ready_fd);
	}

	status = supervise(&s, lfd, sfd);
	s.qemu = -1;
	logf_("QEMU exited (%s %d)", WIFEXITED(status) ? "status" : "signal",
	      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	close(lfd);
	lfd = -1;
	(void)unlink(ctl);
	vm_qmp_close(s.qmp);
	s.qmp = NULL;

	/* shutdown: swtpm, VARS, digests */
	{
		struct host_secrets *rec =
			host_secmem_alloc(k.mem, sizeof(*rec));
		_cleanup_free_ uint8_t *enc = NULL;
		size_t len = 0;
		int sr = stop_swtpm(s.swtpm);

		s.swtpm = -1;
		r = save_vars(l, &k, run_vars, e);
		if (r < 0)
			goto out;
		if (sr < 0) {
			r = err_set(e, EIO,
				    "swtpm did not stop cleanly: the "
				    "digests are not recorded");
			goto out;
		}
		if (!rec) {
			r = err_set(e, ENOMEM, "locked memory too small");
			goto out;
		}
		memcpy(rec, l->recorded, sizeof(*rec));
		r = vm_digest_dir(vtpm, rec->vtpm_digest, e);
		if (r == 0)
			r = file_read(vars, VM_VARS_MAX_SIZE + VM_VARS_OVERHEAD,
				      &enc, &len, e);
		if (r == 0)
			r = vm_digest(enc, len, rec->vars_digest, e);
		if (r < 0)
			goto out;
		rec->state = HOST_SECRETS_STOPPED;
		if (l->record) {
			r = l->record(l->record_ctx, rec, e);
			if (r < 0)
				goto out;
		}
		logf_("stopped cleanly: VARS re-encrypted, plaintext wiped, "
		      "digests recorded");
	}
	r = 0;
out:
	if (s.qmp) {
		(void)vm_qmp_execute(s.qmp, "quit", NULL, NULL, NULL);
		vm_qmp_close(s.qmp);
	}
	if (s.qemu > 0) {
		if (wait_exit(s.qemu, 5000, &status) < 0) {
			kill(s.qemu, SIGKILL);
			waitpid(s.qemu, &status, 0);
		}
	}
	if (s.swtpm > 0)
		stop_swtpm(s.swtpm);
	if (tfd >= 0)
		close(tfd);
	if (con_fd >= 0)
		close(con_fd);
	for (size_t i = 0; i < 2; i++) {
		if (qmp_fds[i] >= 0)
			close(qmp_fds[i]);
		if (tpm_fds[i] >= 0)
			close(tpm_fds[i]);
	}
	if (lfd >= 0)
		close(lfd);
	if (sfd >= 0)
		close(sfd);
	for (size_t i = 0; i < VM_DISKS_MAX; i++)
		if (disk_fds[i] >= 0)
			close(disk_fds[i]);
	if (have_rundir) {
		if (r < 0 && access(run_vars, F_OK) == 0 && s.started)
			logf_("VARS not saved: %s", err_str(e));
		runtime_remove(rundir);
	}
	vm_argv_clear(&qa);
	vm_argv_clear(&ta);
	host_secmem_free(k.mem);
	if (r < 0)
		logf_("%s", err_str(e));
	if (r < 0 && started && qemu_never_ran) {
		uint8_t now[VM_DIGEST_SIZE];
		struct err e2 = { 0 };

		/* QEMU exited before the VM ran and swtpm is stopped: if the
		 * vTPM state is what it was, nothing ran and the secrets keep
		 * their state (a later start with the problem fixed needs no
		 * --accept-unclean-stop); VARS was never saved */
		if (vm_digest_dir(vtpm, now, &e2) == 0 &&
		    CRYPTO_memcmp(now, vtpm_before, sizeof(now)) == 0) {
			logf_("QEMU did not run and the vTPM state is "
			      "unchanged: nothing to record");
			started = false;
		} else {
			logf_("QEMU did not run but the vTPM state changed: "
			      "the secrets stay marked running");
		}
	}
	if (r < 0 && !started) {
		struct err e2 = { 0 };

		/* refused before anything ran: nothing to record */
		if (created_vars)
			(void)unlink(vars);
		if (l->record && l->record(l->record_ctx, l->recorded, &e2) < 0)
			logf_("could not take back the running mark: %s",
			      err_str(&e2));
	}
	return r;
}
