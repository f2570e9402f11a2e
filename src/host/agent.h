/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guarded-host agent (docs/host-agent.md): enrollment of the host's AK
 * with hgsd, attestation for a health token, and the agent's state
 * directory. The TPM is reached only through host/tpm.h, hgsd only through
 * host/client.h.
 *
 * State directory (default HOST_AGENT_DEFAULT_STATE_DIR), mode 0700, owned
 * by the user running the agent; every file 0600 (the agent refuses looser
 * modes and files owned by another user; config may be 0644 but never
 * group- or world-writable):
 *   config           optional INI: hgs_urls = URL [URL...], ca_file = F,
 *                    vm_user = NAME (QEMU and swtpm's user for `run`)
 *   ak.key           AK blobs (host_tpm_key_to_bytes)
 *   transport.key    host transport key blobs
 *   ek.pub           EK TPM2B_PUBLIC;  ek.crt: EK certificate (DER), if any
 *   enrollment.json  result of the last successful enrollment
 *   token.jwt        the last health token
 *   status.json      the last attestation attempt (result, reasons)
 *   baseline.json    capture-baseline's output (unless -o)
 * Files are replaced atomically (temporary file, fsync, rename).
 *
 * Every function returns 0 or a negative errno with one line in e; results
 * come back as JSON objects (what `--json` prints).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "host/client.h"
#include "host/tpm.h"

#define HOST_AGENT_DEFAULT_STATE_DIR "/var/lib/shieldvm/host"
#define HOST_AGENT_DEFAULT_EVENT_LOG \
	"/sys/kernel/security/tpm0/binary_bios_measurements"
#define HOST_AGENT_TCTI_ENV "SHIELDVM_TCTI"

#define HOST_AGENT_STATE_FILE_MAX (64u * 1024) /* any state file but token */
#define HOST_AGENT_CONFIG_MAX (16u * 1024)
#define HOST_AGENT_USER_MAX 32 /* config vm_user */

struct host_agent_options {
	const char *state_dir; /* NULL: HOST_AGENT_DEFAULT_STATE_DIR */
	const char *tcti;      /* NULL: $SHIELDVM_TCTI, else the TPM default */
	const char *const *urls; /* --hgs; none: hgs_urls from config */
	size_t n_urls;
	const char *ca_file;   /* NULL: ca_file from config, else system CAs */
	bool create;           /* create the state directory if missing */
	bool quiet;            /* no progress lines on stderr */
};

struct host_agent;

/* Opens (and with create, makes) the state directory and reads config. */
int host_agent_open(const struct host_agent_options *o,
		    struct host_agent **ret, struct err *e);
/* config's vm_user (the unprivileged user `shieldvm run` gives QEMU and
 * swtpm), or NULL. */
const char *host_agent_vm_user(const struct host_agent *a);
void host_agent_free(struct host_agent *a);

static inline void host_agent_freep(struct host_agent **a)
{
	host_agent_free(*a);
}

struct host_agent_init_options {
	enum host_tpm_ek_type ek;
	enum host_tpm_key_type ak;
	enum host_tpm_key_type transport_key;
	bool new_transport_key; /* replace an existing transport.key */
};

/*
 * Enrollment: EK public (+ certificate from NV when present), new AK,
 * POST /v1/enroll, ActivateCredential, POST /v1/enroll/finish; then the AK,
 * EK and result are stored, the transport key is created if missing (or
 * asked for), and config is written from the options if it does not exist.
 * -EREMOTEIO: hgsd refused (*ret_refusal, if given, holds its answer:
 * {"url", "status", "error", "message"}).
 * *ret: the enrollment record (enrollment.json's content).
 */
int host_agent_init(struct host_agent *a,
		    const struct host_agent_init_options *io, json_t **ret,
		    json_t **ret_refusal, struct err *e);

/*
 * Attestation: nonce, quote over every PCR of the banks both the log and
 * the TPM have, certify of the transport key, POST /v1/attest. On success
 * token.jwt is written; on a refusal (-EREMOTEIO) token.jwt is removed
 * (the host was judged and is not healthy, or its evidence did not check).
 * Every outcome after the evidence was gathered is recorded in status.json,
 * and returned in *ret (also on failure, when not NULL): {"time",
 * "result": "pass"|"fail"|"error", "url"?, "http_status"?, "error"?,
 * "message"?, "failures"?, "expires"?}.
 */
int host_agent_attest(struct host_agent *a, const char *event_log,
		      json_t **ret, struct err *e);

/*
 * The agent's view: enrollment, transport key, token (claims, expiry,
 * whether its signature was verified against GET /v1/keys of a configured
 * hgsd, or only decoded), last attestation result. *ret_healthy: a token
 * is present, unexpired, and (when verified) valid.
 */
int host_agent_status(struct host_agent *a, bool fetch_keys, json_t **ret,
		      bool *ret_healthy, struct err *e);

struct host_agent_capture_options {
	const char *event_log;
	const char *name;       /* host and baseline name; NULL: hostname */
	const char *output;     /* baseline file; NULL: state dir baseline.json */
	enum host_tpm_ek_type ek;
};

/*
 * What an admin needs to register this host: the baseline of its event log
 * (src/attest/baseline.h) and its EK public area (ek.pub, and ek.crt when
 * the TPM has a certificate), written to files. *ret: {"name",
 * "baseline_file", "ek_pub_file", "ek_pub" (base64url), "ek_name" (hex),
 * "ek_cert_file"?, "commands": [suggested hgsctl lines]}.
 */
int host_agent_capture_baseline(struct host_agent *a,
				 const struct host_agent_capture_options *co,
				 json_t **ret, struct err *e);

/* Decode a JWT's claims WITHOUT verifying its signature (for display). */
int host_agent_jwt_claims_unverified(const char *jwt, size_t len,
				     json_t **ret, struct err *e);

/* ---- for key release (host/unwrap.h) -------------------------------------*/

/* One progress line on stderr ("shieldvm host: ...") unless quiet. */
void host_agent_progress(const struct host_agent *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The client for the configured hgsd URLs (owned by a; -EINVAL when no URL
 * is configured). */
int host_agent_client(struct host_agent *a, struct host_client **ret,
		      struct err *e);

/* The TPM named by the options, and the transport key's blobs. */
int host_agent_open_tpm(struct host_agent *a, struct host_tpm **ret,
			struct err *e);
int host_agent_transport_key(struct host_agent *a, struct host_tpm_key *ret,
			     struct err *e);

/*
 * A health token that stays valid for at least margin more seconds (or a
 * quarter of its lifetime, if that is less) and is
 * bound to this host's transport key: token.jwt if it is, else (unless
 * no_attest) a fresh attestation with event_log (NULL: the default log).
 * *ret_jwt is malloc'ed; *ret_attested (optional) says whether it attested.
 * With no_attest, a stored token is used whatever its expiry (tests and
 * diagnostics: hgsd judges it); -ENOENT when there is none. margin < 0:
 * attest whatever the stored token (hgsd has refused it).
 */
int host_agent_token(struct host_agent *a, const char *event_log,
		     int64_t margin, bool no_attest, char **ret_jwt,
		     bool *ret_attested, struct err *e);
