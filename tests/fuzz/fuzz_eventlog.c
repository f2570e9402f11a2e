/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: the TCG event log parser, replay, digest checks and the
 * event decoders a policy relies on. Everything here reads untrusted bytes
 * that a host sends to hgsd.
 */
#include <stddef.h>
#include <stdint.h>

#include "attest/eventlog.h"
#include "attest/eventlog_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_sig(const uint8_t type[16], const uint8_t owner[16],
		     const uint8_t *sig, size_t len, void *userdata)
{
	size_t *n = userdata;

	(void)type;
	(void)owner;
	(void)sig;
	(void)len;
	(*n)++;
	return 0;
}

static void decode_event(const struct eventlog_event *ev)
{
	char text[EVENTLOG_MAX_DESCRIPTION];
	struct efi_variable var;
	struct efi_image_load img;
	size_t n_sigs = 0;

	(void)eventlog_type_name(ev->type);
	eventlog_event_describe(ev, text, sizeof(text));
	(void)eventlog_event_text(ev, text, sizeof(text));

	switch (ev->type) {
	case EV_SEPARATOR:
		(void)eventlog_separator_kind(ev);
		break;
	case EV_EFI_VARIABLE_DRIVER_CONFIG:
	case EV_EFI_VARIABLE_BOOT:
	case EV_EFI_VARIABLE_BOOT2:
	case EV_EFI_VARIABLE_AUTHORITY:
		if (efi_variable_parse(ev->data, ev->data_len, &var) == 0)
			(void)efi_siglist_walk(var.data, var.data_len,
					       count_sig, &n_sigs);
		break;
	case EV_EFI_BOOT_SERVICES_APPLICATION:
	case EV_EFI_BOOT_SERVICES_DRIVER:
	case EV_EFI_RUNTIME_SERVICES_DRIVER:
		if (efi_image_load_parse(ev->data, ev->data_len, &img) == 0)
			(void)efi_device_path_text(img.device_path,
						   img.device_path_len, text,
						   sizeof(text));
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eventlog *log = NULL;
	struct eventlog_pcrs pcrs;
	struct err e = { { 0 } };

	if (eventlog_parse(data, size, &log, &e) < 0)
		return 0;

	(void)eventlog_replay(log, ~0u, &pcrs, &e);
	(void)eventlog_check_digests(log, &e);
	(void)eventlog_best_alg(log);
	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];

		for (uint32_t b = 0; b < log->n_algs; b++)
			(void)eventlog_event_digest(ev, log->algs[b]->tpm_id);
		decode_event(ev);
	}
	eventlog_free(log);
	return 0;
}
