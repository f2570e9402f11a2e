/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A VM definition (DIR/vm.json, docs/vm.md) and its security profile.
 * Pure code, no I/O.
 *
 *   {"version": 1, "name", "uuid", "memory_mb", "vcpus",
 *    "firmware_path"?: OVMF code image (default VM_OVMF_CODE),
 *    "disks": [{"name", "file": "disks/NAME.qcow2",
 *               "format": "qcow2-luks" | "raw", "size_mb",
 *               "import"?: {"path": "<absolute>", "sha256": "<hex>"}}],
 *    "network": "none",
 *    "security": {"policy", "firmware": {"code": "<sha256 hex>"},
 *                 "secure_boot", "vtpm": "tpm-crb",
 *                 "console": "none" | "serial", "lockdown",
 *                 "devices": [sorted kinds]}}
 *
 * security.devices must be exactly the kinds the VM has: "disk-luks" for
 * qcow2-luks disks, "disk-raw" for raw (unencrypted: test report disks)
 * ones. "import" (qcow2-luks only) names the image the first start converts
 * into the disk (src/vm/image.h); it is not part of the profile: what the
 * guest boots is checked by Secure Boot. The profile is the canonical JSON of "security" (jansson
 * JSON_COMPACT | JSON_SORT_KEYS); its SHA-256 is the KP's config_digest.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "kp/kp.h"
#include "vm/limits.h"

enum vm_disk_format {
	VM_DISK_QCOW2_LUKS,
	VM_DISK_RAW,
};

struct vm_disk {
	char name[VM_DISK_NAME_MAX + 1];
	char file[VM_PATH_MAX]; /* relative to the VM directory */
	enum vm_disk_format format;
	uint64_t size_mb;
	/* "import": both empty when the disk starts empty */
	char import_path[VM_PATH_MAX];
	char import_sha256[65]; /* lower-case hex */
};

struct vm_security {
	enum kp_policy policy;
	char firmware_code[65]; /* SHA-256, lower-case hex */
	bool secure_boot;
	bool serial_console;
	char lockdown[32];
	/* devices derive from the disks */
};

struct vm_def {
	char name[VM_NAME_MAX + 1];
	char uuid[KP_VM_ID_LEN + 1];
	uint64_t memory_mb;
	unsigned vcpus;
	char firmware_path[VM_PATH_MAX];
	size_t n_disks;
	struct vm_disk disks[VM_DISKS_MAX];
	struct vm_security security;
};

/* Parse and validate vm.json text; -EBADMSG (malformed, a missing or
 * mistyped member), -EINVAL (a value out of range or not allowed), each
 * with a message that names the member and the value. */
int vm_def_parse(const char *text, size_t len, struct vm_def *ret,
		 struct err *e);

/* The definition as vm.json (JSON object, new reference). */
int vm_def_to_json(const struct vm_def *d, json_t **ret, struct err *e);

/* Validate what vm_def_parse validates on a struct filled in by code. */
int vm_def_check(const struct vm_def *d, struct err *e);

/* The security profile: canonical text (malloc'ed) and its SHA-256. */
int vm_profile_text(const struct vm_def *d, char **ret, struct err *e);
int vm_profile_digest(const struct vm_def *d, uint8_t out[KP_DIGEST_SIZE],
		      struct err *e);

/* Helpers shared with the CLI. */
bool vm_name_valid(const char *s);
bool vm_disk_name_valid(const char *s);
bool vm_uuid_valid(const char *s);
const char *vm_disk_format_to_string(enum vm_disk_format f);
