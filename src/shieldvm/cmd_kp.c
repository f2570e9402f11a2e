/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shieldvm kp new|show|grant|revoke|unwrap: the VM owner's side of key
 * protectors (docs/key-protection.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/file.h"
#include "common/hex.h"
#include "common/limits.h"
#include "common/util.h"
#include "kp/guardian.h"
#include "kp/kp.h"
#include "shieldvm/cmd.h"
#include "shieldvm/json_out.h"

#define KP_UUID_BYTES 16

static void kp_usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm kp new --owner OWNER.guardian --guardian HGS.json [--guardian ...]\n"
		"                       --policy shielded|encryption-supported [--vm-id UUID]\n"
		"                       [--vm-config FILE] [--out KP]\n"
		"       shieldvm kp show KP [--json]\n"
		"       shieldvm kp grant KP --owner OWNER.guardian --guardian NEW.json [--out FILE]\n"
		"       shieldvm kp revoke KP --owner OWNER.guardian --guardian-id ID [--out FILE]\n"
		"       shieldvm kp unwrap KP --owner OWNER.guardian\n"
		"\n"
		"A key protector (KP) holds a VM's transport key wrapped for its owner and\n"
		"for each fabric guardian (hgsd) that may run it, bound to the VM id, its\n"
		"security policy and optionally a digest of its configuration, signed by\n"
		"the owner.\n"
		"\n"
		"  new              make a KP with a fresh random transport key (generation 0)\n"
		"  show             print what a KP says (verifies its signatures; no secrets)\n"
		"  grant, revoke    add or remove a fabric guardian (same transport key,\n"
		"                   next generation); by default KP is replaced atomically\n"
		"  unwrap           the owner's offline break-glass recovery: print the\n"
		"                   transport key (hex) on standard output\n"
		"\n"
		"  --owner FILE       the owner's private guardian file (mode 0600)\n"
		"  --guardian FILE    a guardian's signed metadata (shieldvm guardian export,\n"
		"                     hgsctl key export, GET /v1/guardian); repeatable for new\n"
		"  --guardian-id ID   revoke: the guardian's id (see kp show)\n"
		"  --policy P         shielded (TPM attestation only) or encryption-supported\n"
		"  --vm-id UUID       the VM's id (default: a random version 4 UUID)\n"
		"  --vm-config FILE   bind the SHA-256 of this file's bytes to the KP\n"
		"  --out FILE         where to write (new: default standard output, and never\n"
		"                     over an existing file; '-' for standard output)\n"
		"  --json             show: machine-readable output\n");
}

static int rc_for(int r)
{
	return r == -EKEYREJECTED || r == -ENOKEY ? EXIT_FAIL : EXIT_INPUT;
}

static int load_kp(const char *path, struct kp **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct err e = { { 0 } };
	size_t len;
	int r;

	if (file_read(path, KP_MAX_SIZE, &buf, &len, &e) < 0) {
		cli_error("kp", "%s", err_str(&e));
		return -EIO;
	}
	/* a trailing newline is how files end, not part of the KP */
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	r = kp_parse((const char *)buf, len, ret, &e);
	if (r < 0)
		cli_error("kp", "%s: %s", path, err_str(&e));
	return r;
}

static int fsync_dir_of(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	int fd, r = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Write text + newline to path: a new file (excl) or an atomic replacement
 * (temporary file in the same directory, fsync, rename, fsync directory). */
static int write_kp(const char *path, const char *text, bool excl)
{
	_cleanup_free_ char *tmp = NULL;
	size_t len = strlen(text);
	mode_t mode = 0644;
	struct stat st;
	int fd, r = 0;

	if (streq(path, "-")) {
		puts(text);
		return fflush(stdout) == 0 ? 0 : -EIO;
	}
	if (excl) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
		if (fd < 0) {
			cli_error("kp", "%s: %s%s", path, strerror(errno),
				  errno == EEXIST ? " (refusing to overwrite a key protector)" : "");
			return -errno;
		}
	} else {
		if (stat(path, &st) == 0)
			mode = st.st_mode & 0777;
		if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
			tmp = NULL;
			return -ENOMEM;
		}
		fd = mkstemp(tmp);
		if (fd < 0) {
			cli_error("kp", "%s: %s", tmp, strerror(errno));
			return -errno;
		}
		if (fchmod(fd, mode) < 0)
			r = -errno;
	}
	for (size_t off = 0; r == 0 && off < len + 1;) {
		ssize_t n = off < len ? write(fd, text + off, len - off) : write(fd, "\n", 1);

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
	if (r == 0 && tmp && rename(tmp, path) < 0)
		r = -errno;
	if (r == 0)
		r = fsync_dir_of(path);
	if (r < 0) {
		cli_error("kp", "%s: %s", path, strerror(-r));
		unlink(tmp ? tmp : path);
	}
	return r;
}

static int random_uuid(char out[KP_VM_ID_LEN + 1])
{
	uint8_t b[KP_UUID_BYTES];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, KP_VM_ID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
		 b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* A UUID as given, in the canonical lower-case form. */
static int canonical_uuid(const char *s, char out[KP_VM_ID_LEN + 1])
{
	if (strlen(s) != KP_VM_ID_LEN)
		return -EINVAL;
	for (size_t i = 0; i < KP_VM_ID_LEN; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return -EINVAL;
		} else if (c >= 'A' && c <= 'F') {
			c = (char)(c - 'A' + 'a');
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return -EINVAL;
		}
		out[i] = c;
	}
	out[KP_VM_ID_LEN] = '\0';
	return 0;
}

static int file_sha256(const char *path, uint8_t out[KP_DIGEST_SIZE])
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct err e = { { 0 } };
	unsigned int n = 0;
	size_t len;

	if (file_read(path, FILE_MAX_SIZE, &buf, &len, &e) < 0) {
		cli_error("kp", "%s", err_str(&e));
		return -EIO;
	}
	if (EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != KP_DIGEST_SIZE) {
		cli_error("kp", "SHA-256 failed");
		return -EIO;
	}
	return 0;
}

static void note_guardian(const struct guardian *g)
{
	fprintf(stderr,
		"shieldvm kp: guardian \"%s\" id %s (self-signed metadata: check this id\n"
		"  with the one its fabric administrator gave you)\n",
		g->name, g->id);
}

static void fmt_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "%" PRId64, t);
}

static json_t *guardian_summary(const struct guardian *g)
{
	return json_pack("{s:s, s:s, s:s}", "name", g->name, "id", g->id, "algorithm",
			 guardian_alg_to_string(g->alg));
}

static int show(const struct kp *kp, bool json)
{
	char digest[48], cfg[48], created[32];
	const uint8_t *cd = kp_config_digest(kp);

	kp_digest_text(kp_digest(kp), digest);
	if (cd)
		kp_digest_text(cd, cfg);
	fmt_time(kp_created(kp), created);
	if (json) {
		json_t *gs = json_array(), *o;

		for (size_t i = 0; gs && i < kp_guardian_count(kp); i++)
			json_array_append_new(gs, guardian_summary(kp_guardian(kp, i)));
		o = json_pack("{s:s, s:s, s:I, s:s?, s:s, s:s, s:I, s:o, s:o, s:s}",
			      "vm_id", kp_vm_id(kp), "policy",
			      kp_policy_to_string(kp_policy(kp)), "generation",
			      (json_int_t)kp_generation(kp), "config_digest",
			      cd ? cfg : NULL, "digest", digest, "created", created,
			      "created_epoch", (json_int_t)kp_created(kp), "owner",
			      guardian_summary(kp_owner(kp)), "guardians", gs,
			      "sealed_by", kp_sealed_by(kp));
		if (o && !cd)
			json_object_set_new(o, "config_digest", json_null());
		return json_print(o) < 0 ? EXIT_INPUT : EXIT_OK;
	}
	printf("vm id          %s\n", kp_vm_id(kp));
	printf("policy         %s\n", kp_policy_to_string(kp_policy(kp)));
	printf("generation     %" PRIu64 "\n", kp_generation(kp));
	printf("config digest  %s\n", cd ? cfg : "(none)");
	printf("digest         %s\n", digest);
	printf("created        %s\n", created);
	printf("owner          %s  %s (%s)\n", kp_owner(kp)->id, kp_owner(kp)->name,
	       guardian_alg_to_string(kp_owner(kp)->alg));
	for (size_t i = 0; i < kp_guardian_count(kp); i++) {
		const struct guardian *g = kp_guardian(kp, i);

		printf("guardian       %s  %s (%s)\n", g->id, g->name,
		       guardian_alg_to_string(g->alg));
	}
	{
		const char *by = kp_sealed_by(kp);

		printf("sealed by      %s (%s)\n", by,
		       streq(by, kp_owner(kp)->id) ? "owner" : "guardian");
	}
	return EXIT_OK;
}

struct kp_args {
	const char *owner, *policy, *vm_id, *vm_config, *out, *guardian_id;
	const char *guardians[KP_MAX_GUARDIANS + 1];
	size_t n_guardians;
	bool json;
};

static int cmd_new(const struct kp_args *a)
{
	_cleanup_(guardian_freep) struct guardian *owner = NULL;
	struct guardian *gs[KP_MAX_GUARDIANS] = { NULL };
	uint8_t tk[KP_TK_SIZE], cfg[KP_DIGEST_SIZE];
	char vm_id[KP_VM_ID_LEN + 1];
	struct err e = { { 0 } };
	enum kp_policy policy;
	char *text = NULL;
	int rc = EXIT_INPUT, r;

	if (!a->owner || !a->policy || a->n_guardians == 0) {
		cli_error("kp", "new needs --owner, --policy and at least one --guardian");
		return EXIT_USAGE;
	}
	if (kp_policy_from_string(a->policy, &policy) < 0) {
		cli_error("kp", "--policy '%s': expected shielded or encryption-supported",
			  a->policy);
		return EXIT_USAGE;
	}
	if (a->vm_id ? canonical_uuid(a->vm_id, vm_id) < 0 : random_uuid(vm_id) < 0) {
		cli_error("kp", "--vm-id '%s': not a UUID (8-4-4-4-12 hex digits)",
			  a->vm_id ? a->vm_id : "");
		return EXIT_USAGE;
	}
	if (a->out && !streq(a->out, "-") && access(a->out, F_OK) == 0) {
		cli_error("kp", "%s already exists; refusing to overwrite a key protector",
			  a->out);
		return EXIT_INPUT;
	}
	if (a->vm_config && file_sha256(a->vm_config, cfg) < 0)
		return EXIT_INPUT;
	if (cli_load_private_guardian("kp", a->owner, &owner) < 0)
		return EXIT_INPUT;
	for (size_t i = 0; i < a->n_guardians; i++) {
		if (cli_load_guardian_metadata("kp", a->guardians[i], &gs[i]) < 0)
			goto out;
		note_guardian(gs[i]);
	}
	if (RAND_bytes(tk, sizeof(tk)) != 1) {
		cli_error("kp", "the random number generator failed");
		goto out;
	}
	r = kp_create(owner, (const struct guardian *const *)gs, a->n_guardians, vm_id,
		      policy, a->vm_config ? cfg : NULL, tk, 0, (int64_t)time(NULL),
		      &text, &e);
	OPENSSL_cleanse(tk, sizeof(tk));
	if (r < 0) {
		cli_error("kp", "%s", err_str(&e));
		rc = r == -EINVAL || r == -EEXIST || r == -E2BIG ? EXIT_USAGE : EXIT_INPUT;
		goto out;
	}
	if (write_kp(a->out ? a->out : "-", text, true) < 0)
		goto out;
	if (a->out && !streq(a->out, "-"))
		fprintf(stderr, "shieldvm kp: key protector for VM %s written to %s\n", vm_id,
			a->out);
	rc = EXIT_OK;
out:
	free(text);
	for (size_t i = 0; i < a->n_guardians; i++)
		guardian_free(gs[i]);
	return rc;
}

/* grant and revoke: owner edits written over KP (or to --out) */
static int cmd_edit(const char *verb, const char *path, const struct kp_args *a)
{
	_cleanup_(guardian_freep) struct guardian *owner = NULL, *add = NULL;
	_cleanup_(kp_freep) struct kp *kp = NULL;
	uint8_t tk[KP_TK_SIZE];
	struct err e = { { 0 } };
	char *text = NULL;
	bool grant = streq(verb, "grant");
	int r;

	if (!a->owner || (grant ? a->n_guardians != 1 : !a->guardian_id)) {
		cli_error("kp", grant ? "grant needs --owner and one --guardian" :
					"revoke needs --owner and --guardian-id");
		return EXIT_USAGE;
	}
	if ((r = load_kp(path, &kp)) < 0)
		return rc_for(r);
	if (cli_load_private_guardian("kp", a->owner, &owner) < 0)
		return EXIT_INPUT;
	if (grant) {
		if (cli_load_guardian_metadata("kp", a->guardians[0], &add) < 0)
			return EXIT_INPUT;
		note_guardian(add);
	}
	if (!streq(owner->id, kp_owner(kp)->id)) {
		cli_error("kp", "%s: its owner is %s, not %s (%s)", path, kp_owner(kp)->id,
			  owner->id, a->owner);
		return EXIT_FAIL;
	}
	r = kp_unwrap(kp, owner, tk, &e);
	if (r == 0)
		r = grant ? kp_grant(kp, owner, tk, add, (int64_t)time(NULL), &text, &e) :
			    kp_revoke(kp, owner, tk, a->guardian_id, (int64_t)time(NULL),
				      &text, &e);
	OPENSSL_cleanse(tk, sizeof(tk));
	if (r < 0) {
		cli_error("kp", "%s: %s", path, err_str(&e));
		return r == -EEXIST || r == -ENOENT || r == -EINVAL || r == -E2BIG ?
			       EXIT_USAGE : rc_for(r);
	}
	r = write_kp(a->out ? a->out : path, text, false);
	free(text);
	if (r < 0)
		return EXIT_INPUT;
	fprintf(stderr, "shieldvm kp: %s: generation %" PRIu64 " written to %s\n", verb,
		kp_generation(kp) + 1, a->out ? a->out : path);
	return EXIT_OK;
}

static int cmd_unwrap(const char *path, const struct kp_args *a)
{
	_cleanup_(guardian_freep) struct guardian *owner = NULL;
	_cleanup_(kp_freep) struct kp *kp = NULL;
	uint8_t tk[KP_TK_SIZE];
	char hex[2 * KP_TK_SIZE + 1];
	struct err e = { { 0 } };
	int r;

	if (!a->owner) {
		cli_error("kp", "unwrap needs --owner");
		return EXIT_USAGE;
	}
	if ((r = load_kp(path, &kp)) < 0)
		return rc_for(r);
	if (cli_load_private_guardian("kp", a->owner, &owner) < 0)
		return EXIT_INPUT;
	if (!streq(owner->id, kp_owner(kp)->id)) {
		cli_error("kp", "%s: its owner is %s; %s is guardian %s, not the owner", path,
			  kp_owner(kp)->id, a->owner, owner->id);
		return EXIT_FAIL;
	}
	if ((r = kp_unwrap(kp, owner, tk, &e)) < 0) {
		cli_error("kp", "%s: %s", path, err_str(&e));
		return rc_for(r);
	}
	hex_encode(tk, sizeof(tk), hex);
	OPENSSL_cleanse(tk, sizeof(tk));
	fprintf(stderr,
		"shieldvm kp: WARNING: this is VM %s's transport key (generation %" PRIu64 ").\n"
		"  Anyone who has it can decrypt the VM's state; keep it off disks and logs.\n",
		kp_vm_id(kp), kp_generation(kp));
	printf("%s\n", hex);
	OPENSSL_cleanse(hex, sizeof(hex));
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_INPUT;
}

int cmd_kp(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "owner", required_argument, NULL, 'w' },
		{ "guardian", required_argument, NULL, 'g' },
		{ "guardian-id", required_argument, NULL, 'i' },
		{ "policy", required_argument, NULL, 'p' },
		{ "vm-id", required_argument, NULL, 'v' },
		{ "vm-config", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct kp_args a = { 0 };
	const char *verb;
	int c, nargs;

	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		kp_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	verb = argv[1];
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			a.owner = optarg;
			break;
		case 'g':
			if (a.n_guardians == KP_MAX_GUARDIANS) {
				cli_error("kp", "at most %d --guardian", KP_MAX_GUARDIANS);
				return EXIT_USAGE;
			}
			a.guardians[a.n_guardians++] = optarg;
			break;
		case 'i':
			a.guardian_id = optarg;
			break;
		case 'p':
			a.policy = optarg;
			break;
		case 'v':
			a.vm_id = optarg;
			break;
		case 'c':
			a.vm_config = optarg;
			break;
		case 'o':
			a.out = optarg;
			break;
		case 'j':
			a.json = true;
			break;
		case 'h':
			kp_usage(stdout);
			return EXIT_OK;
		default:
			kp_usage(stderr);
			return EXIT_USAGE;
		}
	}
	nargs = argc - 1 - optind;
	if (streq(verb, "new")) {
		if (nargs != 0) {
			cli_error("kp", "new takes no file argument (use --out)");
			return EXIT_USAGE;
		}
		return cmd_new(&a);
	}
	if (!streq(verb, "show") && !streq(verb, "grant") && !streq(verb, "revoke") &&
	    !streq(verb, "unwrap")) {
		cli_error("kp", "unknown verb '%s' (new, show, grant, revoke, unwrap)", verb);
		return EXIT_USAGE;
	}
	if (nargs != 1) {
		cli_error("kp", "%s takes exactly one KP file", verb);
		return EXIT_USAGE;
	}
	if (streq(verb, "show")) {
		_cleanup_(kp_freep) struct kp *kp = NULL;
		int r = load_kp(argv[optind + 1], &kp);

		return r < 0 ? rc_for(r) : show(kp, a.json);
	}
	if (streq(verb, "unwrap"))
		return cmd_unwrap(argv[optind + 1], &a);
	return cmd_edit(verb, argv[optind + 1], &a);
}
