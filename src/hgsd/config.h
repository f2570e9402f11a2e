/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsd configuration: built-in defaults, then the config file (inih,
 * /etc/shieldvm/hgsd.conf unless --config), then command-line flags.
 * Every key is documented in docs/hgsd.md and etc/hgsd.conf.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "hgsd/log.h"

#define CONFIG_DEFAULT_PATH "/etc/shieldvm/hgsd.conf"

/* Attestation modes the server accepts ([attestation] modes). */
#define CONFIG_MODE_TPM 1u
#define CONFIG_MODE_HOST_KEY 2u

struct config {
	/* [server] */
	char *listen_host;    /* "0.0.0.0", "::1", ... */
	uint16_t listen_port; /* 0: any free port (tests) */
	char *node;           /* node name (default: the host name) */
	unsigned threads;     /* 0: number of online CPUs */
	unsigned max_connections;
	unsigned timeout;     /* seconds of inactivity per connection */
	size_t max_body;      /* bytes */
	bool keep_alive;
	char *tls_cert;       /* PEM file, or NULL for plain HTTP */
	char *tls_key;
	char *tls_priorities; /* GnuTLS priority string */
	char *user;           /* drop to this user after opening listeners */
	bool foreground;      /* flag only */

	/* [store] */
	char *store_uri;

	/* [tokens] */
	uint32_t token_lifetime; /* seconds */

	/* [keys] */
	char *kek_file;     /* key-encryption key for keys at rest, or NULL */
	char *old_kek_file; /* during a rotation: the KEK being replaced */

	/* [attestation] */
	unsigned modes;          /* CONFIG_MODE_* */
	uint32_t nonce_lifetime; /* seconds */
	char *policy_id;
	char *ek_ca_dir;

	/* [admin] */
	char *admin_socket;
	char *admin_group;

	/* [log] */
	enum log_level log_level;

	char *config_path; /* the file read, or NULL */
};

/* Exit codes of config_from_args' callers. */
enum config_parse_result {
	CONFIG_RUN = 0,  /* go on */
	CONFIG_EXIT = 1, /* --help / --version printed: exit 0 */
};

/*
 * Defaults < file < flags. Returns CONFIG_RUN, CONFIG_EXIT, or -EINVAL with
 * the reason in e (a bad flag, or "FILE:LINE: [section] key = 'value': why").
 * A missing file is an error only when --config named it.
 */
int config_from_args(int argc, char **argv, struct config *ret, struct err *e);
/* Just the file (for tests of the parser). */
int config_load_file(struct config *c, const char *path, struct err *e);
void config_defaults(struct config *c);
void config_clear(struct config *c);

/* "tpm, host-key" <-> CONFIG_MODE_* bits. */
int config_parse_modes(const char *s, unsigned *ret);
