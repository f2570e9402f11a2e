/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCG PC Client Platform Firmware Profile event logs
 * (binary_bios_measurements): parse, replay, check event digests.
 *
 * Pure code: bytes in, structures out, no I/O. The parser copies the input,
 * so the caller may free its buffer once eventlog_parse() returns.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/hash.h"
#include "common/err.h"
#include "common/limits.h"

/* Event types (PC Client PFP, section 10.4.1) */
#define EV_PREBOOT_CERT 0x00000000u
#define EV_POST_CODE 0x00000001u
#define EV_UNUSED 0x00000002u
#define EV_NO_ACTION 0x00000003u
#define EV_SEPARATOR 0x00000004u
#define EV_ACTION 0x00000005u
#define EV_EVENT_TAG 0x00000006u
#define EV_S_CRTM_CONTENTS 0x00000007u
#define EV_S_CRTM_VERSION 0x00000008u
#define EV_CPU_MICROCODE 0x00000009u
#define EV_PLATFORM_CONFIG_FLAGS 0x0000000Au
#define EV_TABLE_OF_DEVICES 0x0000000Bu
#define EV_COMPACT_HASH 0x0000000Cu
#define EV_IPL 0x0000000Du
#define EV_IPL_PARTITION_DATA 0x0000000Eu
#define EV_NONHOST_CODE 0x0000000Fu
#define EV_NONHOST_CONFIG 0x00000010u
#define EV_NONHOST_INFO 0x00000011u
#define EV_OMIT_BOOT_DEVICE_EVENTS 0x00000012u
#define EV_POST_CODE2 0x00000013u
#define EV_EFI_VARIABLE_DRIVER_CONFIG 0x80000001u
#define EV_EFI_VARIABLE_BOOT 0x80000002u
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define EV_EFI_BOOT_SERVICES_DRIVER 0x80000004u
#define EV_EFI_RUNTIME_SERVICES_DRIVER 0x80000005u
#define EV_EFI_GPT_EVENT 0x80000006u
#define EV_EFI_ACTION 0x80000007u
#define EV_EFI_PLATFORM_FIRMWARE_BLOB 0x80000008u
#define EV_EFI_HANDOFF_TABLES 0x80000009u
#define EV_EFI_PLATFORM_FIRMWARE_BLOB2 0x8000000Au
#define EV_EFI_HANDOFF_TABLES2 0x8000000Bu
#define EV_EFI_VARIABLE_BOOT2 0x8000000Cu
#define EV_EFI_GPT_EVENT2 0x8000000Du
#define EV_EFI_HCRTM_EVENT 0x80000010u
#define EV_EFI_VARIABLE_AUTHORITY 0x800000E0u
#define EV_EFI_SPDM_FIRMWARE_BLOB 0x800000E1u
#define EV_EFI_SPDM_FIRMWARE_CONFIG 0x800000E2u

/* What eventlog_check_digests() found for one event. */
enum eventlog_check {
	EVENTLOG_CHECK_NONE = 0,   /* the spec does not define digest = H(data) */
	EVENTLOG_CHECK_OK,         /* every bank's digest equals H(data) */
	EVENTLOG_CHECK_MISMATCH,   /* some bank's digest differs from H(data) */
	EVENTLOG_CHECK_DATA_ONLY,  /* UEFI variable events: the digest covers the
				    * VariableData only (older firmware), so the
				    * variable's name and GUID are not bound */
};

struct eventlog_digest {
	const struct hash_alg *alg;
	const uint8_t *bytes; /* alg->size bytes */
};

struct eventlog_event {
	uint32_t index;  /* position in the log, 0-based */
	size_t offset;   /* byte offset of the event header */
	uint32_t pcr;
	uint32_t type;
	uint32_t n_digests;
	struct eventlog_digest digests[EVENTLOG_MAX_BANKS];
	const uint8_t *data;
	uint32_t data_len;
	enum eventlog_check check;
	uint16_t check_alg; /* with MISMATCH: the first bank that differed */
};

#define EVENTLOG_MAX_WARNINGS 8

struct eventlog {
	bool crypto_agile;
	/* Banks declared by the SpecID event (legacy logs: sha1 only). */
	uint32_t n_algs;
	const struct hash_alg *algs[EVENTLOG_MAX_BANKS];
	uint8_t spec_major, spec_minor, spec_errata;
	bool has_startup_locality;
	uint8_t startup_locality;
	size_t n_events;
	struct eventlog_event *events;
	size_t n_warnings;
	char warnings[EVENTLOG_MAX_WARNINGS][ERR_MSG_MAX];
	uint8_t *raw; /* private copy of the input */
	size_t raw_len;
};

struct eventlog_bank {
	const struct hash_alg *alg;
	uint32_t extended; /* bit i: PCR i was extended by some event */
	uint8_t pcr[EVENTLOG_NUM_PCRS][EVENTLOG_MAX_DIGEST];
};

struct eventlog_pcrs {
	uint32_t n_banks;
	struct eventlog_bank banks[EVENTLOG_MAX_BANKS];
};

int eventlog_parse(const uint8_t *buf, size_t len, struct eventlog **ret,
		   struct err *e);
void eventlog_free(struct eventlog *log);

/* Replay into final PCR values per bank (TCG PFP rules: EV_NO_ACTION is not
 * extended; PCR 0 starts at the StartupLocality value; PCRs 17-22 start at
 * all ones). bank_mask: bit i selects log->algs[i]; ~0u for all. */
int eventlog_replay(const struct eventlog *log, uint32_t bank_mask,
		    struct eventlog_pcrs *ret, struct err *e);
const struct eventlog_bank *eventlog_pcrs_bank(const struct eventlog_pcrs *p,
					       uint16_t tpm_alg);

/* Set ev->check on every event; returns the number of mismatches (>= 0) or
 * a negative errno. */
int eventlog_check_digests(struct eventlog *log, struct err *e);
/* The same over the banks in bank_mask only (bit i: log->algs[i]), e.g. the
 * banks a verified quote covers. An event with no digest in those banks (or
 * only in banks this OpenSSL cannot compute) stays EVENTLOG_CHECK_NONE. */
int eventlog_check_digests_banks(struct eventlog *log, uint32_t bank_mask, struct err *e);

/* The strongest bank the log carries for every event (sha384 > sha256 >
 * sha1); NULL if none. */
const struct hash_alg *eventlog_best_alg(const struct eventlog *log);
const struct eventlog_digest *eventlog_event_digest(const struct eventlog_event *ev,
						    uint16_t tpm_alg);

/* Names: "EV_SEPARATOR", or NULL for unknown types. */
const char *eventlog_type_name(uint32_t type);
