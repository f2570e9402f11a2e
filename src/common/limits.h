/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every bound shieldvm puts on untrusted input, in one place.
 * Raising one of these is a review matter: each guards a parser.
 */
#pragma once

/* TCG event logs (binary_bios_measurements) */
#define EVENTLOG_MAX_SIZE (4u * 1024 * 1024)   /* whole log, bytes */
#define EVENTLOG_MAX_EVENTS 16384u              /* events per log */
#define EVENTLOG_MAX_EVENT_DATA (1024u * 1024)  /* one event's data, bytes */
#define EVENTLOG_MAX_BANKS 5u                   /* digest algorithms per log */
#define EVENTLOG_MAX_DIGEST 64u                 /* largest digest (SHA-512) */
#define EVENTLOG_NUM_PCRS 24u                   /* PC Client PCRs 0..23 */
#define EVENTLOG_MAX_DESCRIPTION 512u           /* decoded text per event */

/* UEFI structures inside events */
#define EFI_MAX_VARIABLE_NAME 256u              /* UTF-16 code units */
#define EFI_MAX_SIGNATURE_LISTS 4096u           /* lists in one db/dbx */
#define EFI_MAX_DEVICE_PATH_NODES 64u

/* TPM 2.0 structures */
#define TPM_MAX_ATTEST_SIZE 4096u               /* marshalled TPMS_ATTEST */
#define TPM_MAX_SIGNATURE_SIZE 1024u            /* marshalled TPMT_SIGNATURE */
#define TPM_MAX_PUBLIC_SIZE 1024u               /* marshalled TPM2B_PUBLIC */
#define TPM_MAX_NONCE_SIZE 64u                  /* extraData */
#define TPM_KEY_CACHE_ENTRIES 1024u             /* validated public keys kept */

/* Certificates */
#define EKCERT_MAX_SIZE (16u * 1024)            /* one DER certificate */
#define EKCERT_MAX_CHAIN_DEPTH 8

/* Policy and baselines (JSON) */
#define POLICY_MAX_FILE_SIZE (8u * 1024 * 1024)
#define POLICY_MAX_BASELINES 256u
#define POLICY_MAX_PATTERNS 256u
#define POLICY_MAX_PATTERN_LEN 256u
#define POLICY_MAX_JSON_DEPTH 16u

/* Generic input files read by the CLI */
#define FILE_MAX_SIZE (16u * 1024 * 1024)

/* hgsd, the Host Guardian Service daemon (docs/hgsd.md) */
#define HGSD_MAX_BODY_DEFAULT (1024u * 1024)     /* [server] max_body default */
#define HGSD_MAX_BODY_CEILING (64u * 1024 * 1024) /* highest max_body accepted */
#define HGSD_JSON_MAX_DEPTH 16u                  /* nesting of a request body */
#define HGSD_CONFIG_MAX_SIZE (256u * 1024)       /* hgsd.conf */
#define HGSD_TLS_FILE_MAX (256u * 1024)          /* tls_cert / tls_key PEM */
#define HGSD_EK_CA_MAX_FILES 1024u               /* files read from ek_ca_dir */
#define HGSD_EK_CA_FILE_MAX (1024u * 1024)       /* one file in ek_ca_dir */
#define HGSD_NAME_MAX 127u                       /* host / baseline name */
#define HGSD_HOST_KEY_PEM_MAX 16384u             /* host public key PEM */
#define HGSD_AUDIT_DEFAULT_LIMIT 100u            /* audit records per listing */
#define HGSD_AUDIT_MAX_LIMIT 10000u
#define HGSD_MAX_CONNECTIONS_CEILING 65536u
#define HGSD_MAX_THREADS 256u                    /* [server] threads */
#define HGSD_STOP_GRACE_SECONDS 5u               /* drain on SIGTERM */
#define HGSD_AUDIT_HEAD_SECONDS 60               /* audit chain head logged at most this often */
#define HGSD_SECURE_HEAP_SIZE (1u << 20)         /* OpenSSL's secure heap (a power of 2) */
