/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key release on the guarded host (docs/host-agent.md, "Key release"): a
 * health token (attesting first when needed), POST /v1/unwrap with the
 * VM's key protector (KP), the sealed answer opened inside the TPM with the
 * host transport key, and the crash-safe roll of a VM key directory:
 *
 *   DIR/kp       the current KP          DIR/kp.next  the next one, briefly
 *   DIR/secrets  the VM's keys, encrypted under the current TK (secrets.h)
 *
 *  0. recover: kp.next with secrets bound to it becomes kp; otherwise a
 *     kp.next is stale and removed
 *  1. POST /v1/unwrap {token, kp} -> TK, next TK, next KP (all checked)
 *  2. decrypt secrets with TK (create them at the first start)
 *  3. write kp.next              (temporary file, fsync, rename, fsync dir)
 *  4. re-encrypt secrets under the next TK, bound to the next KP
 *  5. POST /v1/unwrap/commit {token, next kp, mac}
 *  6. rename kp.next -> kp
 * A crash after any step leaves a directory the next start can use. TKs and
 * keys live only in locked memory (secmem.h) and are wiped after use.
 *
 * Test hook: with SHIELDVM_CRASH_AT=<step> in the environment the process
 * calls _exit(99) right after that step (after-unwrap, after-kp-next,
 * after-secrets, after-commit, after-rename): what kill -9 would do.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "common/util.h"
#include "host/agent.h"
#include "host/secrets.h"
#include "kp/kp.h"

#define HOST_UNWRAP_TOKEN_MARGIN \
	300 /* s: attest when the token expires sooner */
#define HOST_UNWRAP_CRASH_ENV "SHIELDVM_CRASH_AT"
#define HOST_UNWRAP_CRASH_EXIT 99
#define HOST_VM_KP "kp"
#define HOST_VM_KP_NEXT "kp.next"
#define HOST_VM_SECRETS "secrets"

/* Where a start's time went (CLOCK_MONOTONIC, microseconds), filled by
 * host_unwrap_vm_keys when the options point at one:
 *   token   a health token: the stored one checked, or an attestation
 *           (also a second attestation after a 401)
 *   unwrap  POST /v1/unwrap and the sealed answer opened in the TPM
 *   commit  the roll: secrets opened and re-sealed, kp.next written
 *           (fsync), POST /v1/unwrap/commit, the rename (fsync) */
struct host_unwrap_timings {
	int64_t token_us, unwrap_us, commit_us;
};

struct host_unwrap_options {
	const char *event_log; /* for an attestation; NULL: the default log */
	int64_t token_margin;  /* seconds; 0: HOST_UNWRAP_TOKEN_MARGIN */
	bool no_attest;	       /* use token.jwt as it is, never attest */
	bool mark_running;     /* host_unwrap_vm_keys: the re-sealed secrets
				  say HOST_SECRETS_RUNNING (a launcher that
				  re-seals at a clean stop) */
	struct host_unwrap_timings *timings; /* optional: filled */
};

/*
 * The unlocked secrets of a VM, handed to a launcher by
 * host_unwrap_vm_keys, all in one locked arena (secmem.h):
 *   secrets   as opened at this start (root key; the digests and state of
 *             the last clean stop), or fresh ones at the first start
 *   seal_key  the sealing key of the NEW TK (HKDF of it, secrets.h), not
 *             the TK itself: enough to re-seal the secrets at shutdown
 *             (host_vm_keys_reseal), useless for anything else (it opens
 *             no KP and is not what hgsd releases)
 *   binding   the KP (generation, digest) the secrets file is bound to now
 */
struct host_vm_keys {
	struct host_secmem *mem;
	struct host_secrets *secrets;
	uint8_t *seal_key; /* HOST_SECRETS_KEY_SIZE */
	struct host_secrets_binding binding;
	char vm_id[KP_VM_ID_LEN + 1];
	enum kp_policy policy;
	uint8_t config_digest[KP_DIGEST_SIZE];
	bool has_config_digest;
	bool created; /* first start: the secrets were made now */
};

void host_vm_keys_free(struct host_vm_keys *k);
DEFINE_CLEANUP_FUNC(struct host_vm_keys, host_vm_keys_free)

/*
 * Re-seal s (new digests and state) into DIR/secrets under k's sealing
 * key, bound to k->binding, atomically (temporary file, fsync, rename,
 * fsync dir), holding the directory's flock (-EBUSY while a start holds
 * it). -ESTALE when DIR/secrets is no longer bound to k->binding (another
 * start rolled the KP meanwhile: nothing is written).
 */
int host_vm_keys_reseal(const struct host_vm_keys *k, const char *dir,
			const struct host_secrets *s, struct err *e);

/*
 * One release of a KP (text), nothing written and nothing committed
 * (diagnostics). *ret: {"vm_id", "policy", "generation", "kp_digest",
 * "tk_fingerprint", "next_generation", "next_kp_digest", "url",
 * "attested"}.
 * -EREMOTEIO: hgsd refused; *ret (when not NULL) holds {"step", "url",
 * "http_status", "error", "message"}. -EKEYREJECTED: the sealed answer does
 * not open with this host's transport key. -EBADMSG: an answer that does
 * not fit the request (wrong digest, vm id, generation).
 */
int host_unwrap_kp(struct host_agent *a, const char *kp_text, size_t len,
		   const struct host_unwrap_options *o, json_t **ret,
		   struct err *e);

/*
 * The whole roll procedure on a VM key directory (0700 or stricter writes:
 * it must be ours and not writable by group or others; locked with flock
 * against a concurrent start: -EBUSY). *ret: what host_unwrap_kp gives,
 * plus "new_generation", "committed", "secrets_fingerprint",
 * "secrets_created", "recovery" ("none", "adopted kp.next", "removed stale
 * kp.next"). -ESTALE: the secrets file belongs to neither kp nor kp.next.
 */
int host_unwrap_vm(struct host_agent *a, const char *dir,
		   const struct host_unwrap_options *o, json_t **ret,
		   struct err *e);

/* host_unwrap_vm that also hands the unlocked secrets to the caller
 * (*ret_keys, freed with host_vm_keys_free, which wipes them). */
int host_unwrap_vm_keys(struct host_agent *a, const char *dir,
			const struct host_unwrap_options *o, json_t **ret,
			struct host_vm_keys **ret_keys, struct err *e);
