/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCG PC Client Platform Firmware Profile event log parser and replay.
 *
 * Two formats exist. The legacy one (TPM 1.2 era, SHA-1 only) is a sequence
 * of TCG_PCClientPCREvent. The crypto-agile one starts with a legacy-format
 * EV_NO_ACTION event carrying a TCG_EfiSpecIdEvent ("Spec ID Event03") that
 * declares the digest algorithms and sizes; every later event is a
 * TCG_PCR_EVENT2 with one digest per algorithm. All integers little-endian.
 */
#include "attest/eventlog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/eventlog_decode.h"
#include "common/cursor.h"
#include "common/util.h"

#define LEGACY_HEADER_SIZE 32u /* pcr, type, sha1[20], size */
#define AGILE_MIN_HEADER_SIZE 12u /* pcr, type, digest count */
#define SPECID_SIG "Spec ID Event03"
#define SPECID_SIG_LEGACY "Spec ID Event00"
#define STARTUP_LOCALITY_SIG "StartupLocality"

static const struct {
	uint32_t type;
	const char *name;
} type_names[] = {
	{ EV_PREBOOT_CERT, "EV_PREBOOT_CERT" },
	{ EV_POST_CODE, "EV_POST_CODE" },
	{ EV_UNUSED, "EV_UNUSED" },
	{ EV_NO_ACTION, "EV_NO_ACTION" },
	{ EV_SEPARATOR, "EV_SEPARATOR" },
	{ EV_ACTION, "EV_ACTION" },
	{ EV_EVENT_TAG, "EV_EVENT_TAG" },
	{ EV_S_CRTM_CONTENTS, "EV_S_CRTM_CONTENTS" },
	{ EV_S_CRTM_VERSION, "EV_S_CRTM_VERSION" },
	{ EV_CPU_MICROCODE, "EV_CPU_MICROCODE" },
	{ EV_PLATFORM_CONFIG_FLAGS, "EV_PLATFORM_CONFIG_FLAGS" },
	{ EV_TABLE_OF_DEVICES, "EV_TABLE_OF_DEVICES" },
	{ EV_COMPACT_HASH, "EV_COMPACT_HASH" },
	{ EV_IPL, "EV_IPL" },
	{ EV_IPL_PARTITION_DATA, "EV_IPL_PARTITION_DATA" },
	{ EV_NONHOST_CODE, "EV_NONHOST_CODE" },
	{ EV_NONHOST_CONFIG, "EV_NONHOST_CONFIG" },
	{ EV_NONHOST_INFO, "EV_NONHOST_INFO" },
	{ EV_OMIT_BOOT_DEVICE_EVENTS, "EV_OMIT_BOOT_DEVICE_EVENTS" },
	{ EV_POST_CODE2, "EV_POST_CODE2" },
	{ EV_EFI_VARIABLE_DRIVER_CONFIG, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
	{ EV_EFI_VARIABLE_BOOT, "EV_EFI_VARIABLE_BOOT" },
	{ EV_EFI_BOOT_SERVICES_APPLICATION, "EV_EFI_BOOT_SERVICES_APPLICATION" },
	{ EV_EFI_BOOT_SERVICES_DRIVER, "EV_EFI_BOOT_SERVICES_DRIVER" },
	{ EV_EFI_RUNTIME_SERVICES_DRIVER, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
	{ EV_EFI_GPT_EVENT, "EV_EFI_GPT_EVENT" },
	{ EV_EFI_ACTION, "EV_EFI_ACTION" },
	{ EV_EFI_PLATFORM_FIRMWARE_BLOB, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
	{ EV_EFI_HANDOFF_TABLES, "EV_EFI_HANDOFF_TABLES" },
	{ EV_EFI_PLATFORM_FIRMWARE_BLOB2, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
	{ EV_EFI_HANDOFF_TABLES2, "EV_EFI_HANDOFF_TABLES2" },
	{ EV_EFI_VARIABLE_BOOT2, "EV_EFI_VARIABLE_BOOT2" },
	{ EV_EFI_GPT_EVENT2, "EV_EFI_GPT_EVENT2" },
	{ EV_EFI_HCRTM_EVENT, "EV_EFI_HCRTM_EVENT" },
	{ EV_EFI_VARIABLE_AUTHORITY, "EV_EFI_VARIABLE_AUTHORITY" },
	{ EV_EFI_SPDM_FIRMWARE_BLOB, "EV_EFI_SPDM_FIRMWARE_BLOB" },
	{ EV_EFI_SPDM_FIRMWARE_CONFIG, "EV_EFI_SPDM_FIRMWARE_CONFIG" },
};

const char *eventlog_type_name(uint32_t type)
{
	for (size_t i = 0; i < ARRAY_SIZE(type_names); i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	return NULL;
}

void eventlog_free(struct eventlog *log)
{
	if (!log)
		return;
	free(log->events);
	free(log->raw);
	free(log);
}
DEFINE_CLEANUP_FUNC(struct eventlog, eventlog_free)

static void add_warning(struct eventlog *log, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void add_warning(struct eventlog *log, const char *fmt, ...)
{
	va_list ap;

	if (log->n_warnings >= EVENTLOG_MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(log->warnings[log->n_warnings++], ERR_MSG_MAX, fmt, ap);
	va_end(ap);
}

static int push_event(struct eventlog *log, size_t *cap, struct eventlog_event **ret,
		      struct err *e)
{
	if (log->n_events >= EVENTLOG_MAX_EVENTS)
		return err_set(e, E2BIG, "more than %u events (limit)",
			       EVENTLOG_MAX_EVENTS);
	if (log->n_events == *cap) {
		size_t ncap = *cap ? *cap * 2 : 128;
		struct eventlog_event *n;

		if (ncap > EVENTLOG_MAX_EVENTS)
			ncap = EVENTLOG_MAX_EVENTS;
		n = reallocarray(log->events, ncap, sizeof(*n));
		if (!n)
			return err_set(e, ENOMEM, "out of memory");
		log->events = n;
		*cap = ncap;
	}
	*ret = &log->events[log->n_events++];
	memset(*ret, 0, sizeof(**ret));
	(*ret)->index = (uint32_t)(log->n_events - 1);
	return 0;
}

/* Common tail of both event formats: u32 size + data. */
static int read_event_data(struct cursor *c, struct eventlog_event *ev,
			   struct err *e)
{
	uint32_t size;

	if (cursor_u32le(c, &size) < 0)
		return err_set(e, EBADMSG,
			       "event %u at offset %zu: truncated header (event data size)",
			       ev->index, ev->offset);
	if (size > EVENTLOG_MAX_EVENT_DATA)
		return err_set(e, EBADMSG,
			       "event %u at offset %zu: event data size %u exceeds limit %u",
			       ev->index, ev->offset, size, EVENTLOG_MAX_EVENT_DATA);
	if (cursor_bytes(c, size, &ev->data) < 0)
		return err_set(e, EBADMSG,
			       "event %u at offset %zu: event data size %u but only %zu bytes left",
			       ev->index, ev->offset, size, cursor_left(c));
	ev->data_len = size;
	return 0;
}

static int check_pcr(const struct eventlog_event *ev, struct err *e)
{
	/* EV_NO_ACTION is never extended, so its PCR index is informative. */
	if (ev->pcr >= EVENTLOG_NUM_PCRS && ev->type != EV_NO_ACTION)
		return err_set(e, EBADMSG,
			       "event %u at offset %zu: PCR index %u out of range (0-%u)",
			       ev->index, ev->offset, ev->pcr, EVENTLOG_NUM_PCRS - 1);
	return 0;
}

/* First event of every log: TCG_PCClientPCREvent (legacy format). */
static int parse_legacy_event(struct eventlog *log, struct cursor *c,
			      size_t *cap, struct err *e)
{
	struct eventlog_event *ev;
	size_t off = c->off;
	int r;

	r = push_event(log, cap, &ev, e);
	if (r < 0)
		return r;
	ev->offset = off;
	if (cursor_u32le(c, &ev->pcr) < 0 || cursor_u32le(c, &ev->type) < 0 ||
	    cursor_bytes(c, 20, &ev->digests[0].bytes) < 0)
		return err_set(e, EBADMSG,
			       "event %u at offset %zu: truncated header (%zu bytes left, need %u)",
			       ev->index, off, log->raw_len - off, LEGACY_HEADER_SIZE);
	ev->digests[0].alg = hash_alg_by_id(TPM_ALG_SHA1);
	ev->n_digests = 1;
	r = read_event_data(c, ev, e);
	if (r < 0)
		return r;
	return check_pcr(ev, e);
}

static int parse_specid(struct eventlog *log, const struct eventlog_event *ev,
			struct err *e)
{
	struct cursor c = cursor_init(ev->data, ev->data_len);
	uint32_t platform_class, n_algs;
	uint8_t uintn_size, vendor_size;

	if (cursor_skip(&c, 16) < 0 || cursor_u32le(&c, &platform_class) < 0 ||
	    cursor_u8(&c, &log->spec_minor) < 0 ||
	    cursor_u8(&c, &log->spec_major) < 0 ||
	    cursor_u8(&c, &log->spec_errata) < 0 ||
	    cursor_u8(&c, &uintn_size) < 0 || cursor_u32le(&c, &n_algs) < 0)
		return err_set(e, EBADMSG, "event 0 (SpecID): truncated");
	if (n_algs == 0)
		return err_set(e, EBADMSG, "event 0 (SpecID): declares no digest algorithms");
	if (n_algs > EVENTLOG_MAX_BANKS)
		return err_set(e, EBADMSG,
			       "event 0 (SpecID): %u digest algorithms, limit is %u",
			       n_algs, EVENTLOG_MAX_BANKS);
	for (uint32_t i = 0; i < n_algs; i++) {
		uint16_t id, size;
		const struct hash_alg *alg;

		if (cursor_u16le(&c, &id) < 0 || cursor_u16le(&c, &size) < 0)
			return err_set(e, EBADMSG,
				       "event 0 (SpecID): truncated algorithm list (%u of %u)",
				       i, n_algs);
		alg = hash_alg_by_id(id);
		if (!alg)
			return err_set(e, EOPNOTSUPP,
				       "event 0 (SpecID): unknown digest algorithm 0x%04x",
				       id);
		if (alg->size != size)
			return err_set(e, EBADMSG,
				       "event 0 (SpecID): %s declared with digest size %u, must be %u",
				       alg->name, size, alg->size);
		for (uint32_t j = 0; j < i; j++)
			if (log->algs[j] == alg)
				return err_set(e, EBADMSG,
					       "event 0 (SpecID): %s declared twice",
					       alg->name);
		log->algs[i] = alg;
	}
	log->n_algs = n_algs;
	if (cursor_u8(&c, &vendor_size) < 0) {
		add_warning(log, "SpecID event has no vendorInfoSize field");
	} else if (vendor_size > cursor_left(&c)) {
		add_warning(log,
			    "SpecID vendorInfoSize %u exceeds the event (%zu bytes left)",
			    vendor_size, cursor_left(&c));
	} else {
		cursor_skip(&c, vendor_size);
		if (!cursor_eof(&c))
			add_warning(log, "SpecID event has %zu trailing bytes",
				    cursor_left(&c));
	}
	return 0;
}

static int parse_agile_event(struct eventlog *log, struct cursor *c,
			     size_t *cap, struct err *e)
{
	struct eventlog_event *ev;
	size_t off = c->off;
	uint32_t count;
	int r;

	r = push_event(log, cap, &ev, e);
	if (r < 0)
		return r;
	ev->offset = off;
	if (cursor_u32le(c, &ev->pcr) < 0 || cursor_u32le(c, &ev->type) < 0 ||
	    cursor_u32le(c, &count) < 0)
		return err_set(e, EBADMSG,
			       "event %u at offset %zu: truncated header (%zu bytes left)",
			       ev->index, off, log->raw_len - off);
	if (count > log->n_algs)
		return err_set(e, EBADMSG,
			       "event %u at offset %zu: %u digests, but the SpecID event declares %u algorithms",
			       ev->index, off, count, log->n_algs);
	for (uint32_t i = 0; i < count; i++) {
		const struct hash_alg *alg = NULL;
		uint16_t id;

		if (cursor_u16le(c, &id) < 0)
			return err_set(e, EBADMSG,
				       "event %u at offset %zu: truncated digest %u",
				       ev->index, off, i);
		for (uint32_t j = 0; j < log->n_algs; j++)
			if (log->algs[j]->tpm_id == id)
				alg = log->algs[j];
		if (!alg)
			return err_set(e, EBADMSG,
				       "event %u at offset %zu: digest algorithm 0x%04x not declared in the SpecID event",
				       ev->index, off, id);
		for (uint32_t j = 0; j < i; j++)
			if (ev->digests[j].alg == alg)
				return err_set(e, EBADMSG,
					       "event %u at offset %zu: two %s digests",
					       ev->index, off, alg->name);
		if (cursor_bytes(c, alg->size, &ev->digests[i].bytes) < 0)
			return err_set(e, EBADMSG,
				       "event %u at offset %zu: truncated %s digest",
				       ev->index, off, alg->name);
		ev->digests[i].alg = alg;
	}
	ev->n_digests = count;
	if (count < log->n_algs && ev->type != EV_NO_ACTION)
		add_warning(log,
			    "event %u at offset %zu: %u digests for %u declared algorithms",
			    ev->index, off, count, log->n_algs);
	r = read_event_data(c, ev, e);
	if (r < 0)
		return r;
	return check_pcr(ev, e);
}

static bool data_has_sig(const struct eventlog_event *ev, const char *sig)
{
	size_t n = strlen(sig) + 1; /* with the NUL */

	return ev->data_len >= n && memcmp(ev->data, sig, n) == 0;
}

static void note_no_action(struct eventlog *log, const struct eventlog_event *ev)
{
	if (ev->type != EV_NO_ACTION || !data_has_sig(ev, STARTUP_LOCALITY_SIG))
		return;
	if (ev->data_len < sizeof(STARTUP_LOCALITY_SIG) + 1) {
		add_warning(log, "event %u: StartupLocality event without locality",
			    ev->index);
		return;
	}
	if (log->has_startup_locality) {
		add_warning(log, "event %u: second StartupLocality event ignored",
			    ev->index);
		return;
	}
	log->has_startup_locality = true;
	log->startup_locality = ev->data[sizeof(STARTUP_LOCALITY_SIG)];
}

int eventlog_parse(const uint8_t *buf, size_t len, struct eventlog **ret,
		   struct err *e)
{
	_cleanup_(eventlog_freep) struct eventlog *log = NULL;
	struct cursor c;
	size_t cap = 0;
	int r;

	if (len == 0)
		return err_set(e, EBADMSG, "empty event log");
	if (len > EVENTLOG_MAX_SIZE)
		return err_set(e, EFBIG, "event log of %zu bytes exceeds limit %u",
			       len, EVENTLOG_MAX_SIZE);
	log = calloc(1, sizeof(*log));
	if (!log)
		return err_set(e, ENOMEM, "out of memory");
	log->raw = malloc(len);
	if (!log->raw)
		return err_set(e, ENOMEM, "out of memory");
	memcpy(log->raw, buf, len);
	log->raw_len = len;
	c = cursor_init(log->raw, len);

	r = parse_legacy_event(log, &c, &cap, e);
	if (r < 0)
		return r;
	if (log->events[0].type == EV_NO_ACTION && log->events[0].pcr == 0 &&
	    data_has_sig(&log->events[0], SPECID_SIG)) {
		static const uint8_t zero[20];

		if (memcmp(log->events[0].digests[0].bytes, zero, 20) != 0)
			return err_set(e, EBADMSG,
				       "event 0 (SpecID): digest is not zero");
		r = parse_specid(log, &log->events[0], e);
		if (r < 0)
			return r;
		log->crypto_agile = true;
		/* The SpecID header is not a measurement: it has no digests. */
		log->events[0].n_digests = 0;
	} else {
		log->algs[0] = hash_alg_by_id(TPM_ALG_SHA1);
		log->n_algs = 1;
		note_no_action(log, &log->events[0]);
	}

	while (!cursor_eof(&c)) {
		size_t min = log->crypto_agile ? AGILE_MIN_HEADER_SIZE
					       : LEGACY_HEADER_SIZE;

		/* Too short to be even the fixed part of an event header:
		 * padding some firmware leaves at the end. Nothing in it is
		 * a measurement, so replay is not affected. */
		if (cursor_left(&c) < 8 && cursor_left(&c) < min) {
			add_warning(log, "%zu trailing bytes at offset %zu ignored",
				    cursor_left(&c), c.off);
			break;
		}
		if (log->crypto_agile)
			r = parse_agile_event(log, &c, &cap, e);
		else
			r = parse_legacy_event(log, &c, &cap, e);
		if (r < 0)
			return r;
		note_no_action(log, &log->events[log->n_events - 1]);
	}
	*ret = TAKE_PTR(log);
	return 0;
}

const struct eventlog_digest *eventlog_event_digest(const struct eventlog_event *ev,
						    uint16_t tpm_alg)
{
	for (uint32_t i = 0; i < ev->n_digests; i++)
		if (ev->digests[i].alg->tpm_id == tpm_alg)
			return &ev->digests[i];
	return NULL;
}

static void bank_reset(struct eventlog_bank *b, const struct eventlog *log)
{
	memset(b->pcr, 0, sizeof(b->pcr));
	for (unsigned i = 17; i <= 22; i++)
		memset(b->pcr[i], 0xff, b->alg->size);
	if (log->has_startup_locality)
		b->pcr[0][b->alg->size - 1] = log->startup_locality;
	b->extended = 0;
}

int eventlog_replay(const struct eventlog *log, uint32_t bank_mask,
		    struct eventlog_pcrs *ret, struct err *e)
{
	EVP_MD_CTX *ctx[EVENTLOG_MAX_BANKS] = { 0 };
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	for (uint32_t i = 0; i < log->n_algs; i++) {
		struct eventlog_bank *b;

		if (!(bank_mask & (1u << i)))
			continue;
		if (!hash_alg_md(log->algs[i])) {
			r = err_set(e, EOPNOTSUPP,
				    "cannot replay the %s bank: algorithm unavailable",
				    log->algs[i]->name);
			goto out;
		}
		b = &ret->banks[ret->n_banks++];
		b->alg = log->algs[i];
		bank_reset(b, log);
		ctx[ret->n_banks - 1] = EVP_MD_CTX_new();
		if (!ctx[ret->n_banks - 1]) {
			r = err_set(e, ENOMEM, "out of memory");
			goto out;
		}
	}

	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];

		if (ev->type == EV_NO_ACTION)
			continue;
		for (uint32_t d = 0; d < ev->n_digests; d++) {
			for (uint32_t k = 0; k < ret->n_banks; k++) {
				struct eventlog_bank *b = &ret->banks[k];

				if (b->alg != ev->digests[d].alg)
					continue;
				if (!EVP_DigestInit_ex(ctx[k], hash_alg_md(b->alg), NULL) ||
				    !EVP_DigestUpdate(ctx[k], b->pcr[ev->pcr], b->alg->size) ||
				    !EVP_DigestUpdate(ctx[k], ev->digests[d].bytes, b->alg->size) ||
				    !EVP_DigestFinal_ex(ctx[k], b->pcr[ev->pcr], NULL)) {
					r = err_set(e, EIO, "event %zu: %s extend failed",
						    i, b->alg->name);
					goto out;
				}
				b->extended |= 1u << ev->pcr;
			}
		}
	}
out:
	for (uint32_t k = 0; k < EVENTLOG_MAX_BANKS; k++)
		EVP_MD_CTX_free(ctx[k]);
	return r;
}

const struct eventlog_bank *eventlog_pcrs_bank(const struct eventlog_pcrs *p,
					       uint16_t tpm_alg)
{
	for (uint32_t i = 0; i < p->n_banks; i++)
		if (p->banks[i].alg->tpm_id == tpm_alg)
			return &p->banks[i];
	return NULL;
}

const struct hash_alg *eventlog_best_alg(const struct eventlog *log)
{
	static const uint16_t pref[] = { TPM_ALG_SHA384, TPM_ALG_SHA256,
					 TPM_ALG_SHA512, TPM_ALG_SM3_256,
					 TPM_ALG_SHA1 };

	for (size_t p = 0; p < ARRAY_SIZE(pref); p++) {
		bool everywhere = false;

		for (uint32_t i = 0; i < log->n_algs; i++)
			if (log->algs[i]->tpm_id == pref[p])
				everywhere = true;
		if (!everywhere)
			continue;
		for (size_t i = 0; i < log->n_events && everywhere; i++)
			if (log->events[i].type != EV_NO_ACTION &&
			    !eventlog_event_digest(&log->events[i], pref[p]))
				everywhere = false;
		if (everywhere && hash_alg_md(hash_alg_by_id(pref[p])))
			return hash_alg_by_id(pref[p]);
	}
	return NULL;
}

/*
 * Digest checks. For these event types the PFP specification defines the
 * digest as the hash of the event data, so data a policy reads (variable
 * values, action strings, separators) can be trusted only if it matches.
 */
static bool digest_is(EVP_MD_CTX *ctx, const struct eventlog_digest *d,
		      const uint8_t *data, size_t len)
{
	uint8_t h[EVENTLOG_MAX_DIGEST];

	if (!EVP_DigestInit_ex(ctx, hash_alg_md(d->alg), NULL) ||
	    !EVP_DigestUpdate(ctx, data, len) || !EVP_DigestFinal_ex(ctx, h, NULL))
		return false;
	return memcmp(h, d->bytes, d->alg->size) == 0;
}

/* Candidate byte ranges whose hash may be the digest of this event. */
struct span {
	const uint8_t *p;
	size_t n;
};

static size_t digest_candidates(const struct eventlog_event *ev, struct span *c)
{
	static const char *const ipl_prefixes[] = { "grub_cmd: ", "kernel_cmdline: ",
						    "grub_kernel_cmdline " };
	size_t n = 0;

	switch (ev->type) {
	case EV_SEPARATOR:
	case EV_ACTION:
	case EV_EFI_ACTION:
	case EV_S_CRTM_VERSION:
	case EV_EFI_GPT_EVENT:
	case EV_OMIT_BOOT_DEVICE_EVENTS:
	case EV_EFI_HCRTM_EVENT:
		c[n++] = (struct span){ ev->data, ev->data_len };
		return n;
	case EV_EFI_VARIABLE_DRIVER_CONFIG:
	case EV_EFI_VARIABLE_AUTHORITY:
	case EV_EFI_VARIABLE_BOOT:
	case EV_EFI_VARIABLE_BOOT2: {
		/* The spec says H(UEFI_VARIABLE_DATA); EDK2 and most firmware
		 * hash only VariableData for Boot#### and BootOrder, and some
		 * older firmware does so for every variable. The second
		 * candidate is that weaker form (see EVENTLOG_CHECK_DATA_ONLY). */
		struct efi_variable v;

		c[n++] = (struct span){ ev->data, ev->data_len };
		if (efi_variable_parse(ev->data, ev->data_len, &v) == 0)
			c[n++] = (struct span){ v.data, v.data_len };
		return n;
	}
	case EV_IPL: {
		/* grub and shim measure the command or path without the
		 * prefix they log (tried first: the common case); systemd-boot
		 * measures the UTF-16 data as is. */
		size_t len = ev->data_len;

		while (len && ev->data[len - 1] == 0)
			len--;
		for (size_t i = 0; i < ARRAY_SIZE(ipl_prefixes); i++) {
			size_t pl = strlen(ipl_prefixes[i]);

			if (len >= pl && memcmp(ev->data, ipl_prefixes[i], pl) == 0) {
				c[n++] = (struct span){ ev->data + pl, len - pl };
				if (len < ev->data_len)
					c[n++] = (struct span){ ev->data + pl, len - pl + 1 };
			}
		}
		c[n++] = (struct span){ ev->data, ev->data_len };
		if (len != ev->data_len)
			c[n++] = (struct span){ ev->data, len };
		return n;
	}
	case EV_EVENT_TAG:
		/* Linux EFI stub: tagged event 0x8F3B22ED carries the kernel's
		 * load options, and the digest is the hash of those. Windows'
		 * SIPA events (PCRs 12-14) are measured as they are logged. */
		if (ev->data_len > 8 && ev->data[0] == 0xED && ev->data[1] == 0x22 &&
		    ev->data[2] == 0x3B && ev->data[3] == 0x8F)
			c[n++] = (struct span){ ev->data + 8, ev->data_len - 8u };
		else
			c[n++] = (struct span){ ev->data, ev->data_len };
		return n;
	default:
		return 0;
	}
}

/* Bit of alg in the log's bank order (log->algs), as replay masks use. */
static uint32_t bank_bit(const struct eventlog *log, const struct hash_alg *alg)
{
	for (uint32_t i = 0; i < log->n_algs; i++)
		if (log->algs[i] == alg)
			return 1u << i;
	return 0;
}

static bool is_variable_event(uint32_t type)
{
	return type == EV_EFI_VARIABLE_DRIVER_CONFIG || type == EV_EFI_VARIABLE_BOOT ||
	       type == EV_EFI_VARIABLE_BOOT2 || type == EV_EFI_VARIABLE_AUTHORITY;
}

int eventlog_check_digests(struct eventlog *log, struct err *e)
{
	return eventlog_check_digests_banks(log, ~0u, e);
}

int eventlog_check_digests_banks(struct eventlog *log, uint32_t bank_mask, struct err *e)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int mismatches = 0;

	if (!ctx)
		return err_set(e, ENOMEM, "out of memory");

	for (size_t i = 0; i < log->n_events; i++) {
		struct eventlog_event *ev = &log->events[i];
		struct span cand[6];
		size_t n_cand;
		unsigned checked = 0;
		bool all = true;

		ev->check = EVENTLOG_CHECK_NONE;
		ev->check_alg = 0;
		if (ev->type == EV_NO_ACTION || ev->n_digests == 0)
			continue;
		n_cand = digest_candidates(ev, cand);
		if (n_cand == 0)
			continue;
		bool strict = true;

		for (uint32_t d = 0; d < ev->n_digests && all; d++) {
			bool ok = false;
			size_t k;

			if (!hash_alg_md(ev->digests[d].alg) ||
			    !(bank_mask & bank_bit(log, ev->digests[d].alg)))
				continue;
			checked++;
			for (k = 0; k < n_cand && !ok; k++)
				ok = digest_is(ctx, &ev->digests[d], cand[k].p, cand[k].n);
			if (!ok) {
				all = false;
				ev->check_alg = ev->digests[d].alg->tpm_id;
			} else if (k > 1) {
				strict = false;
			}
		}
		if (!checked)
			continue; /* nothing verifiable in the selected banks */
		if (all && !strict && is_variable_event(ev->type) &&
		    ev->type != EV_EFI_VARIABLE_BOOT && ev->type != EV_EFI_VARIABLE_BOOT2) {
			ev->check = EVENTLOG_CHECK_DATA_ONLY;
		} else if (all) {
			ev->check = EVENTLOG_CHECK_OK;
		} else if (ev->type == EV_IPL || ev->type == EV_EVENT_TAG) {
			/* Not a spec-defined H(data): unverified, not wrong. */
			ev->check = EVENTLOG_CHECK_NONE;
		} else {
			ev->check = EVENTLOG_CHECK_MISMATCH;
			mismatches++;
		}
	}
	EVP_MD_CTX_free(ctx);
	(void)e;
	return mismatches;
}
