/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The supervisor with test keys, no hgsd (tests/vm/supervisor.sh): what
 * `shieldvm run` does after host_unwrap_vm_keys, with a fixed test TK
 * standing in for the one hgsd releases. Like run, it marks the secrets
 * file "running" before the start and re-seals it (host_vm_keys_reseal)
 * with the new digests at the clean stop.
 *
 *   launch_tool DIR [--accept-unclean-stop] [--stop-timeout S]
 *               [--vm-user NAME]
 *     DIR/vm.json must exist; DIR/secrets is created at the first start.
 *   launch_tool --show DIR      print the secrets' state and digests
 *   launch_tool --request DIR NAME   send {"execute": NAME} to the VM's
 *                                    supervisor, print the answer
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/file.h"
#include "common/hex.h"
#include "common/util.h"
#include "host/secmem.h"
#include "host/unwrap.h"
#include "vm/def.h"
#include "vm/control.h"
#include "vm/launch.h"

static const struct host_secrets_binding test_binding = {
	.generation = 1,
	.kp_digest = { 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
		       0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
		       0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
		       0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11 },
	.version = 2,
};

struct record_ctx {
	const struct host_vm_keys *k;
	const char *dir;
};

static int record(void *ctx, const struct host_secrets *s, struct err *e)
{
	const struct record_ctx *c = ctx;

	return host_vm_keys_reseal(c->k, c->dir, s, e);
}

int main(int argc, char **argv)
{
	_cleanup_free_ uint8_t *text = NULL, *sec = NULL;
	struct host_vm_keys k = { 0 };
	struct vm_def def;
	struct vm_launch l = { .ready_fd = -1 };
	struct record_ctx rc;
	struct err e = { 0 };
	uint8_t tk[KP_TK_SIZE], file[HOST_SECRETS_FILE_SIZE];
	char path[4096], hex[65];
	bool show = false;
	const char *dir;
	size_t len, sec_len;
	int r;

	if (argc == 4 && streq(argv[1], "--request")) {
		json_t *ans = NULL;
		char rundir[4096];

		snprintf(path, sizeof(path), "%s/vm.json", argv[2]);
		r = file_read(path, VM_DEF_MAX_SIZE, &text, &len, &e);
		if (r == 0)
			r = vm_def_parse((const char *)text, len, &def, &e);
		if (r == 0)
			r = vm_runtime_dir(def.uuid, rundir, sizeof(rundir), &e);
		if (r == 0)
			r = vm_control_request(rundir, argv[3], &ans, &e);
		if (r < 0)
			goto fail;
		json_dumpf(ans, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(ans);
		return 0;
	}
	if (argc >= 3 && streq(argv[1], "--show")) {
		show = true;
		argv++;
		argc--;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: launch_tool [--show] DIR "
				"[--accept-unclean-stop]\n");
		return 2;
	}
	dir = argv[1];
	for (int i = 2; i < argc; i++) {
		if (streq(argv[i], "--accept-unclean-stop"))
			l.accept_unclean = true;
		else if (streq(argv[i], "--new-disks"))
			l.new_disks = true;
		else if (streq(argv[i], "--vm-user") && i + 1 < argc)
			l.vm_user = argv[++i];
		else if (streq(argv[i], "--stop-timeout") && i + 1 < argc)
			l.stop_timeout_s = (int)strtol(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "launch_tool: bad argument %s\n",
				argv[i]);
			return 2;
		}
	}
	memset(tk, 0x42, sizeof(tk));
	snprintf(path, sizeof(path), "%s/vm.json", dir);
	r = file_read(path, VM_DEF_MAX_SIZE, &text, &len, &e);
	if (r == 0)
		r = vm_def_parse((const char *)text, len, &def, &e);
	if (r < 0)
		goto fail;
	r = host_secmem_new(4096, &k.mem, &e);
	if (r < 0)
		goto fail;
	k.secrets = host_secmem_alloc(k.mem, sizeof(*k.secrets));
	k.seal_key = host_secmem_alloc(k.mem, HOST_SECRETS_KEY_SIZE);
	k.binding = test_binding;
	snprintf(path, sizeof(path), "%s/secrets", dir);
	r = host_secrets_sealing_key(tk, k.seal_key, &e);
	if (r < 0)
		goto fail;
	r = file_read(path, HOST_SECRETS_MAX_FILE_SIZE, &sec, &sec_len, &e);
	if (r == -ENOENT) {
		e.msg[0] = '\0';
		r = host_secrets_generate(k.secrets, &e);
		if (r == 0)
			r = host_secrets_seal(k.secrets, tk, &k.binding, file,
					      &e);
		if (r == 0)
			r = file_write(path, file, sizeof(file), 0600, &e);
	} else if (r == 0) {
		r = host_secrets_open(sec, sec_len, tk, &k.binding, k.secrets,
				      &e);
	}
	if (r < 0)
		goto fail;
	if (show) {
		printf("state %u\n", k.secrets->state);
		printf("vtpm %s\n", hex_encode(k.secrets->vtpm_digest, 32, hex));
		printf("vars %s\n", hex_encode(k.secrets->vars_digest, 32, hex));
		host_secmem_free(k.mem);
		return 0;
	}
	r = host_secmem_protect_process(&e);
	if (r < 0)
		goto fail;
	{
		/* what mark_running does at a real start */
		struct host_secrets run = *k.secrets;

		run.state = HOST_SECRETS_RUNNING;
		r = host_secrets_seal(&run, tk, &k.binding, file, &e);
		explicit_bzero(&run, sizeof(run));
		if (r == 0)
			r = file_write(path, file, sizeof(file), 0600, &e);
		if (r < 0)
			goto fail;
	}
	explicit_bzero(tk, sizeof(tk));
	l.dir = dir;
	l.def = &def;
	l.root = k.secrets->root;
	l.recorded = k.secrets;
	l.record = record;
	rc.k = &k;
	rc.dir = dir;
	l.record_ctx = &rc;
	r = vm_launch_run(&l, &e);
	host_secmem_free(k.mem);
	if (r < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "launch_tool: %s\n", err_str(&e));
	return 1;
}
