/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding of the event data a policy needs: UEFI variables, boot
 * application loads with device paths, strings (EV_IPL, EV_EFI_ACTION),
 * separators, EV_NO_ACTION headers, tagged events, firmware blobs.
 * Every decoder checks bounds and fails with -EBADMSG on short data.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/eventlog.h"

#define EFI_GUID_STR_LEN 37 /* 36 + NUL */

/* Well-known variable GUIDs */
extern const uint8_t efi_guid_global_variable[16];   /* 8be4df61-... */
extern const uint8_t efi_guid_image_security_db[16]; /* d719b2cb-... */
extern const uint8_t efi_guid_shim_lock[16];         /* 605dab50-... */

struct efi_variable {
	uint8_t guid[16];
	char name[EFI_MAX_VARIABLE_NAME * 3 + 1]; /* UTF-8 */
	const uint8_t *data;
	size_t data_len;
};

/* UEFI_VARIABLE_DATA (DRIVER_CONFIG, BOOT, BOOT2, AUTHORITY events). */
int efi_variable_parse(const uint8_t *buf, size_t len, struct efi_variable *ret);
void efi_guid_format(const uint8_t guid[16], char out[EFI_GUID_STR_LEN]);

/* UEFI_IMAGE_LOAD_EVENT (BOOT_SERVICES_APPLICATION/DRIVER, RUNTIME_DRIVER) */
struct efi_image_load {
	uint64_t location, length, link_address;
	const uint8_t *device_path;
	size_t device_path_len;
};
int efi_image_load_parse(const uint8_t *buf, size_t len,
			 struct efi_image_load *ret);
/* Render an EFI device path as text (e.g. "PciRoot(0x0)/Pci(0x3,0x0)/
 * HD(1,GPT,...)/\EFI\debian\shimx64.efi"); unknown nodes as
 * "Path(type,subtype,hex)". Always NUL-terminates out. */
int efi_device_path_text(const uint8_t *buf, size_t len, char *out, size_t outsz);

/* Signature lists (db, dbx, KEK, PK, MokList): count entries and call fn
 * for each EFI_SIGNATURE_DATA (type GUID, owner, data). */
typedef int (*efi_siglist_fn)(const uint8_t type[16], const uint8_t owner[16],
			      const uint8_t *data, size_t len, void *userdata);
int efi_siglist_walk(const uint8_t *buf, size_t len, efi_siglist_fn fn,
		     void *userdata);

/* Printable text of a string-bearing event (EV_IPL, EV_EFI_ACTION, EV_ACTION,
 * EV_S_CRTM_VERSION, EV_POST_CODE strings, EV_EFI_HCRTM_EVENT). Handles
 * NUL-terminated ASCII/UTF-8 and UTF-16LE; non-printable bytes become '?'.
 * Returns true when the data is text. */
bool eventlog_event_text(const struct eventlog_event *ev, char *out, size_t outsz);

/* One line describing the event's data, for humans and for policy failure
 * messages: "SecureBoot = 1 (8be4df61-...)", "\EFI\BOOT\BOOTX64.EFI", ... */
void eventlog_event_describe(const struct eventlog_event *ev, char *out,
			     size_t outsz);

/* EV_SEPARATOR: 0 for the normal separator (0x00000000, or 0xFFFFFFFF as
 * conventional BIOS firmware such as SeaBIOS writes it), 1 for the PFP's
 * error separator (0x00000001), -EBADMSG for anything else. Windows' WBCL separators
 * ("WBCL" in PCRs 12-14) return 2. */
int eventlog_separator_kind(const struct eventlog_event *ev);
