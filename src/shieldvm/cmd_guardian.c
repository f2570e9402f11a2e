/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shieldvm guardian new|export: an owner's guardian (an encryption and a
 * signing key pair) in a private file, and its signed public metadata.
 *
 * Private guardian files are read only when they are regular files that
 * give group and others no access at all (like ssh's private keys); they
 * are created 0600 with O_EXCL, never over an existing file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/file.h"
#include "common/util.h"
#include "kp/guardian.h"
#include "shieldvm/cmd.h"
#include "shieldvm/json_out.h"

#define GUARDIAN_FILE_SUFFIX ".guardian"

int cli_load_private_guardian(const char *cmd, const char *path,
			      struct guardian **ret)
{
	_cleanup_close_ int fd = -1;
	struct err e = { { 0 } };
	uint8_t *buf = NULL;
	struct stat st;
	size_t len = 0;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ELOOP)
			cli_error(cmd, "%s: is a symbolic link; give the private guardian file itself",
				  path);
		else
			cli_error(cmd, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	if (fstat(fd, &st) < 0) {
		cli_error(cmd, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		cli_error(cmd, "%s: not a regular file; a private guardian file must be one", path);
		return -EIO;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		cli_error(cmd,
			  "%s: mode %04o gives group or others access to a private guardian file; refusing to use it (fix with: chmod 600 '%s')",
			  path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	if (st.st_size <= 0 || st.st_size > GUARDIAN_FILE_MAX) {
		cli_error(cmd, "%s: %jd bytes, a private guardian file has 1..%d", path,
			  (intmax_t)st.st_size, GUARDIAN_FILE_MAX);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		cli_error(cmd, "out of memory");
		return -ENOMEM;
	}
	while (len < (size_t)st.st_size + 1) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (len == 0 || len > (size_t)st.st_size) {
		cli_error(cmd, "%s: changed while being read", path);
		r = -EIO;
	} else {
		r = guardian_from_private_json((const char *)buf, len, ret, &e);
		if (r < 0)
			cli_error(cmd, "%s: %s", path, err_str(&e));
	}
	OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
	free(buf);
	return r;
}

int cli_load_guardian_metadata(const char *cmd, const char *path,
			       struct guardian **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct err e = { { 0 } };
	size_t len;
	int r;

	if (file_read(path, GUARDIAN_FILE_MAX, &buf, &len, &e) < 0) {
		cli_error(cmd, "%s", err_str(&e));
		return -EIO;
	}
	r = guardian_from_metadata((const char *)buf, len, ret, &e);
	if (r < 0)
		cli_error(cmd, "%s: %s", path, err_str(&e));
	return r;
}

/* Create path with mode 0600, refusing to replace anything; write text
 * and a newline, fsync. */
static int write_private(const char *cmd, const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		cli_error(cmd, "%s: %s%s", path, strerror(errno),
			  errno == EEXIST ? " (refusing to overwrite a file)" : "");
		return -errno;
	}
	if (fchmod(fd, 0600) < 0)
		r = -errno;
	for (size_t off = 0; r == 0 && off < len + 1;) {
		ssize_t n = off < len ? write(fd, text + off, len - off) :
					write(fd, "\n", 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		cli_error(cmd, "%s: %s", path, strerror(-r));
		unlink(path);
	}
	return r;
}

static void guardian_usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm guardian new NAME [--algorithm ALG] [--out FILE]\n"
		"       shieldvm guardian export FILE [--out FILE]\n"
		"\n"
		"A guardian is a named pair of keys: one receives wrapped transport keys\n"
		"(encryption), one signs key protectors and metadata. Its id is the RFC 7638\n"
		"thumbprint of the encryption key.\n"
		"\n"
		"  new NAME          make an owner guardian; its private keys go to a new file\n"
		"                    (mode 0600, never over an existing file; default\n"
		"                    NAME.guardian in the current directory)\n"
		"  export FILE       print the signed public metadata of a private guardian\n"
		"                    file (what `kp new --guardian` and hgsd's GET /v1/guardian\n"
		"                    use; no private key material)\n"
		"\n"
		"  --algorithm ALG   ec-p256 (default), ec-p384, rsa3072 or rsa4096\n"
		"  --out FILE        where to write (export: default standard output)\n"
		"\n"
		"Private guardian files that give group or others any access are refused.\n");
}

int cmd_guardian(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "algorithm", required_argument, NULL, 'a' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *out = NULL, *alg_s = "ec-p256", *verb;
	int c;

	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		guardian_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	verb = argv[1];
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "ha:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			alg_s = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			guardian_usage(stdout);
			return EXIT_OK;
		default:
			guardian_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc - 1) {
		cli_error("guardian", "%s takes exactly one argument (see --help)", verb);
		return EXIT_USAGE;
	}

	if (streq(verb, "new")) {
		_cleanup_(guardian_freep) struct guardian *g = NULL;
		_cleanup_free_ char *def = NULL;
		const char *name = argv[optind + 1];
		enum guardian_alg alg;
		struct err e = { { 0 } };
		char *text = NULL;
		int r;

		if (guardian_alg_from_string(alg_s, &alg) < 0) {
			cli_error("guardian", "--algorithm '%s': expected ec-p256, ec-p384, rsa3072 or rsa4096",
				  alg_s);
			return EXIT_USAGE;
		}
		if (!out) {
			if (strchr(name, '/') || streq(name, ".") || streq(name, "..")) {
				cli_error("guardian", "name '%s' is not a file name: give --out FILE",
					  name);
				return EXIT_USAGE;
			}
			if (asprintf(&def, "%s%s", name, GUARDIAN_FILE_SUFFIX) < 0) {
				def = NULL;
				cli_error("guardian", "out of memory");
				return EXIT_INPUT;
			}
			out = def;
		}
		if (access(out, F_OK) == 0 || errno != ENOENT) {
			cli_error("guardian", "%s already exists; refusing to overwrite a guardian",
				  out);
			return EXIT_INPUT;
		}
		if (guardian_generate(name, alg, &g, &e) < 0) {
			cli_error("guardian", "%s", err_str(&e));
			return e.msg[0] && strstr(e.msg, "name") ? EXIT_USAGE : EXIT_INPUT;
		}
		if (guardian_to_private_json(g, &text, &e) < 0) {
			cli_error("guardian", "%s", err_str(&e));
			return EXIT_INPUT;
		}
		r = write_private("guardian", out, text);
		OPENSSL_cleanse(text, strlen(text));
		free(text);
		if (r < 0)
			return EXIT_INPUT;
		printf("guardian %s (%s)\nid %s\nprivate keys written to %s (mode 0600)\n",
		       g->name, guardian_alg_to_string(g->alg), g->id, out);
		return EXIT_OK;
	}
	if (streq(verb, "export")) {
		_cleanup_(guardian_freep) struct guardian *g = NULL;
		_cleanup_free_ char *meta = NULL;
		struct err e = { { 0 } };
		size_t n;

		if (cli_load_private_guardian("guardian", argv[optind + 1], &g) < 0)
			return EXIT_INPUT;
		if (guardian_metadata(g, &meta, &e) < 0) {
			cli_error("guardian", "%s", err_str(&e));
			return EXIT_INPUT;
		}
		if (!out || streq(out, "-")) {
			puts(meta);
			return fflush(stdout) == 0 ? EXIT_OK : EXIT_INPUT;
		}
		n = strlen(meta);
		meta[n] = '\n'; /* over the NUL: file_write takes a length */
		if (file_write(out, meta, n + 1, 0644, &e) < 0) {
			cli_error("guardian", "%s", err_str(&e));
			return EXIT_INPUT;
		}
		return EXIT_OK;
	}
	cli_error("guardian", "unknown verb '%s' (new, export)", verb);
	return EXIT_USAGE;
}
