/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/def.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/util.h"

#define DEF_VERSION 1
#define VTPM_KIND "tpm-crb"
#define DEVICE_DISK_LUKS "disk-luks"
#define DEVICE_DISK_RAW "disk-raw"

static void json_decrefp_(json_t **j)
{
	json_decref(*j);
}

bool vm_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VM_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

bool vm_disk_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VM_DISK_NAME_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) ||
		      isdigit((unsigned char)s[i]) || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

bool vm_uuid_valid(const char *s)
{
	if (strlen(s) != KP_VM_ID_LEN)
		return false;
	for (size_t i = 0; i < KP_VM_ID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i]) ||
			   isupper((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

const char *vm_disk_format_to_string(enum vm_disk_format f)
{
	return f == VM_DISK_RAW ? "raw" : "qcow2-luks";
}

/* A path we may put into a QEMU option: no ',' (QEMU's separator), no
 * control characters, not empty. */
static bool path_ok(const char *s)
{
	if (!*s || strlen(s) >= VM_PATH_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (*p == ',' || (unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* A disk file: relative, inside the VM directory (no "..", no leading
 * "/"), and a path_ok. */
static bool disk_file_ok(const char *s)
{
	if (!path_ok(s) || s[0] == '/')
		return false;
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, "/");

		if ((n == 2 && p[0] == '.' && p[1] == '.') ||
		    (n == 1 && p[0] == '.') || n == 0)
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

static bool hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]) ||
		    isupper((unsigned char)s[i]))
			return false;
	return true;
}

int vm_def_check(const struct vm_def *d, struct err *e)
{
	const struct vm_security *s = &d->security;

	if (!vm_name_valid(d->name))
		return err_set(e, EINVAL,
			       "name '%s': 1..%d characters of [A-Za-z0-9._-], "
			       "not starting with '.' or '-'",
			       d->name, VM_NAME_MAX);
	if (!vm_uuid_valid(d->uuid))
		return err_set(e, EINVAL,
			       "uuid '%s': not a lower-case RFC 4122 UUID",
			       d->uuid);
	if (d->memory_mb < VM_MEMORY_MIN_MB || d->memory_mb > VM_MEMORY_MAX_MB)
		return err_set(e, EINVAL,
			       "memory_mb %" PRIu64 ": must be %d..%d",
			       d->memory_mb, VM_MEMORY_MIN_MB,
			       VM_MEMORY_MAX_MB);
	if (d->vcpus < 1 || d->vcpus > VM_VCPUS_MAX)
		return err_set(e, EINVAL, "vcpus %u: must be 1..%d", d->vcpus,
			       VM_VCPUS_MAX);
	if (!path_ok(d->firmware_path) || d->firmware_path[0] != '/')
		return err_set(e, EINVAL,
			       "firmware_path '%s': an absolute path without "
			       "',' or control characters",
			       d->firmware_path);
	if (d->n_disks > VM_DISKS_MAX)
		return err_set(e, E2BIG, "%zu disks: at most %d", d->n_disks,
			       VM_DISKS_MAX);
	for (size_t i = 0; i < d->n_disks; i++) {
		const struct vm_disk *k = &d->disks[i];

		if (!vm_disk_name_valid(k->name))
			return err_set(e, EINVAL,
				       "disks[%zu].name '%s': 1..%d characters "
				       "of [a-z0-9_-]",
				       i, k->name, VM_DISK_NAME_MAX);
		for (size_t j = 0; j < i; j++)
			if (streq(d->disks[j].name, k->name))
				return err_set(e, EINVAL,
					       "disks[%zu].name '%s': used "
					       "twice",
					       i, k->name);
		if (!disk_file_ok(k->file))
			return err_set(e, EINVAL,
				       "disks[%zu].file '%s': a relative path "
				       "inside the VM directory (no '..', "
				       "',' or control characters)",
				       i, k->file);
		if (k->size_mb < 1 || k->size_mb > VM_DISK_SIZE_MAX_MB)
			return err_set(e, EINVAL,
				       "disks[%zu].size_mb %" PRIu64
				       ": must be 1..%d",
				       i, k->size_mb, VM_DISK_SIZE_MAX_MB);
		if (!k->import_path[0] && !k->import_sha256[0])
			continue;
		if (k->format != VM_DISK_QCOW2_LUKS)
			return err_set(e, EINVAL,
				       "disks[%zu].import: only a 'qcow2-luks' "
				       "disk can be imported (it is encrypted "
				       "with the VM's key)",
				       i);
		if (!path_ok(k->import_path) || k->import_path[0] != '/')
			return err_set(e, EINVAL,
				       "disks[%zu].import.path '%s': an "
				       "absolute path without ',' or control "
				       "characters",
				       i, k->import_path);
		if (!hex64(k->import_sha256))
			return err_set(e, EINVAL,
				       "disks[%zu].import.sha256 '%s': not a "
				       "lower-case hex SHA-256",
				       i, k->import_sha256);
	}
	if (!hex64(s->firmware_code))
		return err_set(e, EINVAL,
			       "security.firmware.code '%s': not a lower-case "
			       "hex SHA-256",
			       s->firmware_code);
	if (s->policy == KP_POLICY_SHIELDED && s->serial_console)
		return err_set(e, EINVAL,
			       "security.console 'serial': policy 'shielded' "
			       "allows no console (only "
			       "'encryption-supported' does)");
	if (s->policy == KP_POLICY_SHIELDED && !s->secure_boot)
		return err_set(e, EINVAL,
			       "security.secure_boot false: policy 'shielded' "
			       "requires Secure Boot");
	if (!streq(s->lockdown, VM_LOCKDOWN))
		return err_set(e, EINVAL,
			       "security.lockdown '%s': this launcher builds "
			       "'%s'",
			       s->lockdown, VM_LOCKDOWN);
	return 0;
}

/* The device kinds of d, sorted, distinct. */
static json_t *devices_json(const struct vm_def *d)
{
	bool luks = false, raw = false;
	json_t *a = json_array();

	for (size_t i = 0; i < d->n_disks; i++) {
		if (d->disks[i].format == VM_DISK_RAW)
			raw = true;
		else
			luks = true;
	}
	if (!a)
		return NULL;
	if (luks)
		json_array_append_new(a, json_string(DEVICE_DISK_LUKS));
	if (raw)
		json_array_append_new(a, json_string(DEVICE_DISK_RAW));
	return a;
}

static json_t *security_json(const struct vm_def *d)
{
	const struct vm_security *s = &d->security;

	return json_pack("{s:s, s:{s:s}, s:b, s:s, s:s, s:s, s:o}", "policy",
			 kp_policy_to_string(s->policy), "firmware", "code",
			 s->firmware_code, "secure_boot", s->secure_boot,
			 "vtpm", VTPM_KIND, "console",
			 s->serial_console ? "serial" : "none", "lockdown",
			 s->lockdown, "devices", devices_json(d));
}

int vm_def_to_json(const struct vm_def *d, json_t **ret, struct err *e)
{
	_cleanup_(json_decrefp_) json_t *o = NULL, *disks = NULL;

	disks = json_array();
	if (!disks)
		return err_set(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < d->n_disks; i++) {
		const struct vm_disk *k = &d->disks[i];

		json_t *dj = json_pack("{s:s, s:s, s:s, s:I}", "name", k->name,
				       "file", k->file, "format",
				       vm_disk_format_to_string(k->format),
				       "size_mb", (json_int_t)k->size_mb);

		if (dj && k->import_path[0] &&
		    json_object_set_new(dj, "import",
					json_pack("{s:s, s:s}", "path",
						  k->import_path, "sha256",
						  k->import_sha256)) < 0) {
			json_decref(dj);
			dj = NULL;
		}
		if (json_array_append_new(disks, dj) < 0)
			return err_set(e, ENOMEM, "out of memory");
	}
	o = json_pack("{s:i, s:s, s:s, s:I, s:i, s:s, s:O, s:s, s:o}",
		      "version", DEF_VERSION, "name", d->name, "uuid", d->uuid,
		      "memory_mb", (json_int_t)d->memory_mb, "vcpus",
		      (int)d->vcpus, "firmware_path", d->firmware_path, "disks",
		      disks, "network", "none", "security", security_json(d));
	if (!o)
		return err_set(e, ENOMEM, "out of memory");
	*ret = TAKE_PTR(o);
	return 0;
}

/* ---- parsing ----------------------------------------------------------*/

static int get_str(json_t *o, const char *where, const char *key, char *out,
		   size_t max, bool optional, struct err *e)
{
	json_t *v = json_object_get(o, key);

	if (!v && optional)
		return 0;
	if (!json_is_string(v))
		return err_set(e, EBADMSG, "%s%s: %s", where, key,
			       v ? "not a string" : "missing");
	if (json_string_length(v) >= max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return err_set(e, EINVAL, "%s%s: longer than %zu bytes", where,
			       key, max - 1);
	snprintf(out, max, "%s", json_string_value(v));
	return 0;
}

static int get_uint(json_t *o, const char *where, const char *key,
		    uint64_t *out, struct err *e)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return err_set(e, EBADMSG, "%s%s: %s", where, key,
			       v ? "not an integer" : "missing");
	if (json_integer_value(v) < 0)
		return err_set(e, EINVAL,
			       "%s%s %" JSON_INTEGER_FORMAT ": negative", where,
			       key, json_integer_value(v));
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* Only the members we know: an unknown one is a typo or a newer format. */
static int only_keys(json_t *o, const char *where, const char *const *keys,
		     struct err *e)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		size_t i;

		for (i = 0; keys[i]; i++)
			if (streq(k, keys[i]))
				break;
		if (!keys[i])
			return err_set(e, EBADMSG, "%sunknown member '%s'",
				       where, k);
	}
	return 0;
}

static int parse_security(json_t *s, struct vm_def *d, struct err *e)
{
	static const char *const keys[] = { "policy",	   "firmware",
					    "secure_boot", "vtpm",
					    "console",	   "lockdown",
					    "devices",	   NULL };
	struct vm_security *sec = &d->security;
	char buf[64];
	json_t *fw, *v, *want;
	int r;

	if (!json_is_object(s))
		return err_set(e, EBADMSG, "security: %s",
			       s ? "not an object" : "missing");
	r = only_keys(s, "security: ", keys, e);
	if (r < 0)
		return r;
	r = get_str(s, "security.", "policy", buf, sizeof(buf), false, e);
	if (r < 0)
		return r;
	if (kp_policy_from_string(buf, &sec->policy) < 0)
		return err_set(e, EINVAL,
			       "security.policy '%s': expected 'shielded' or "
			       "'encryption-supported'",
			       buf);
	fw = json_object_get(s, "firmware");
	if (!json_is_object(fw) || json_object_size(fw) != 1)
		return err_set(e, EBADMSG,
			       "security.firmware: expected {\"code\": "
			       "\"<sha256>\"}");
	r = get_str(fw, "security.firmware.", "code", sec->firmware_code,
		    sizeof(sec->firmware_code), false, e);
	if (r < 0)
		return r;
	v = json_object_get(s, "secure_boot");
	if (!json_is_boolean(v))
		return err_set(e, EBADMSG, "security.secure_boot: %s",
			       v ? "not a boolean" : "missing");
	sec->secure_boot = json_is_true(v);
	r = get_str(s, "security.", "vtpm", buf, sizeof(buf), false, e);
	if (r < 0)
		return r;
	if (!streq(buf, VTPM_KIND))
		return err_set(e, EINVAL,
			       "security.vtpm '%s': only '" VTPM_KIND
			       "' is supported",
			       buf);
	r = get_str(s, "security.", "console", buf, sizeof(buf), false, e);
	if (r < 0)
		return r;
	if (streq(buf, "serial"))
		sec->serial_console = true;
	else if (!streq(buf, "none"))
		return err_set(e, EINVAL,
			       "security.console '%s': expected 'none' or "
			       "'serial'",
			       buf);
	r = get_str(s, "security.", "lockdown", sec->lockdown,
		    sizeof(sec->lockdown), false, e);
	if (r < 0)
		return r;
	v = json_object_get(s, "devices");
	if (!json_is_array(v) || json_array_size(v) > VM_DEVICES_MAX)
		return err_set(e, EBADMSG, "security.devices: %s",
			       !v		? "missing" :
			       json_is_array(v) ? "too many" :
						  "not an array");
	want = devices_json(d);
	if (!want)
		return err_set(e, ENOMEM, "out of memory");
	r = json_equal(v, want) ? 0 :
				  err_set(e, EINVAL,
					  "security.devices does not list "
					  "exactly the VM's device kinds (its "
					  "disks)");
	json_decref(want);
	return r;
}

static int parse_disk(json_t *o, size_t i, struct vm_disk *k, struct err *e)
{
	static const char *const keys[] = { "name",    "file",	 "format",
					    "size_mb", "import", NULL };
	static const char *const import_keys[] = { "path", "sha256", NULL };
	char where[48], fmt[32];
	json_t *im;
	int r;

	snprintf(where, sizeof(where), "disks[%zu].", i);
	if (!json_is_object(o))
		return err_set(e, EBADMSG, "disks[%zu]: not an object", i);
	r = only_keys(o, where, keys, e);
	if (r < 0)
		return r;
	r = get_str(o, where, "name", k->name, sizeof(k->name), false, e);
	if (r < 0)
		return r;
	r = get_str(o, where, "file", k->file, sizeof(k->file), false, e);
	if (r < 0)
		return r;
	r = get_str(o, where, "format", fmt, sizeof(fmt), false, e);
	if (r < 0)
		return r;
	if (streq(fmt, "qcow2-luks"))
		k->format = VM_DISK_QCOW2_LUKS;
	else if (streq(fmt, "raw"))
		k->format = VM_DISK_RAW;
	else
		return err_set(e, EINVAL,
			       "%sformat '%s': expected 'qcow2-luks' or 'raw'",
			       where, fmt);
	r = get_uint(o, where, "size_mb", &k->size_mb, e);
	if (r < 0)
		return r;
	im = json_object_get(o, "import");
	if (!im)
		return 0;
	snprintf(where, sizeof(where), "disks[%zu].import", i);
	if (!json_is_object(im))
		return err_set(e, EBADMSG,
			       "%s: not an object (expected {\"path\", "
			       "\"sha256\"})",
			       where);
	snprintf(where, sizeof(where), "disks[%zu].import.", i);
	r = only_keys(im, where, import_keys, e);
	if (r < 0)
		return r;
	r = get_str(im, where, "path", k->import_path,
		    sizeof(k->import_path), false, e);
	if (r < 0)
		return r;
	return get_str(im, where, "sha256", k->import_sha256,
		       sizeof(k->import_sha256), false, e);
}

int vm_def_parse(const char *text, size_t len, struct vm_def *ret,
		 struct err *e)
{
	static const char *const keys[] = {
		"version",	 "name",  "uuid",    "memory_mb", "vcpus",
		"firmware_path", "disks", "network", "security",  NULL
	};
	_cleanup_(json_decrefp_) json_t *j = NULL;
	json_error_t je;
	struct vm_def d = { 0 };
	uint64_t u;
	char net[16];
	json_t *disks;
	int r;

	if (len > VM_DEF_MAX_SIZE)
		return err_set(e, E2BIG, "definition: %zu bytes, at most %d",
			       len, VM_DEF_MAX_SIZE);
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return err_set(e, EBADMSG, "definition: line %d: %s", je.line,
			       je.text);
	if (!json_is_object(j))
		return err_set(e, EBADMSG, "definition: not a JSON object");
	r = only_keys(j, "definition: ", keys, e);
	if (r < 0)
		return r;
	r = get_uint(j, "", "version", &u, e);
	if (r < 0)
		return r;
	if (u != DEF_VERSION)
		return err_set(e, EINVAL, "version %" PRIu64 ": expected %d", u,
			       DEF_VERSION);
	r = get_str(j, "", "name", d.name, sizeof(d.name), false, e);
	if (r < 0)
		return r;
	r = get_str(j, "", "uuid", d.uuid, sizeof(d.uuid), false, e);
	if (r < 0)
		return r;
	r = get_uint(j, "", "memory_mb", &d.memory_mb, e);
	if (r < 0)
		return r;
	r = get_uint(j, "", "vcpus", &u, e);
	if (r < 0)
		return r;
	d.vcpus = u > VM_VCPUS_MAX ? VM_VCPUS_MAX + 1 : (unsigned)u;
	snprintf(d.firmware_path, sizeof(d.firmware_path), "%s", VM_OVMF_CODE);
	r = get_str(j, "", "firmware_path", d.firmware_path,
		    sizeof(d.firmware_path), true, e);
	if (r < 0)
		return r;
	disks = json_object_get(j, "disks");
	if (!json_is_array(disks))
		return err_set(e, EBADMSG, "disks: %s",
			       disks ? "not an array" : "missing");
	if (json_array_size(disks) > VM_DISKS_MAX)
		return err_set(e, E2BIG, "disks: %zu, at most %d",
			       json_array_size(disks), VM_DISKS_MAX);
	d.n_disks = json_array_size(disks);
	for (size_t i = 0; i < d.n_disks; i++) {
		r = parse_disk(json_array_get(disks, i), i, &d.disks[i], e);
		if (r < 0)
			return r;
	}
	r = get_str(j, "", "network", net, sizeof(net), false, e);
	if (r < 0)
		return r;
	if (!streq(net, "none"))
		return err_set(e, EINVAL,
			       "network '%s': only 'none' is supported", net);
	r = parse_security(json_object_get(j, "security"), &d, e);
	if (r < 0)
		return r;
	r = vm_def_check(&d, e);
	if (r < 0)
		return r;
	*ret = d;
	return 0;
}

/* ---- profile ----------------------------------------------------------*/

int vm_profile_text(const struct vm_def *d, char **ret, struct err *e)
{
	_cleanup_(json_decrefp_) json_t *s = NULL;
	char *t;
	int r;

	r = vm_def_check(d, e);
	if (r < 0)
		return r;
	s = security_json(d);
	if (!s)
		return err_set(e, ENOMEM, "out of memory");
	t = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS);
	if (!t)
		return err_set(e, ENOMEM, "out of memory");
	if (strlen(t) > VM_PROFILE_MAX) {
		free(t);
		return err_set(e, E2BIG, "profile over %d bytes",
			       VM_PROFILE_MAX);
	}
	*ret = t;
	return 0;
}

int vm_profile_digest(const struct vm_def *d, uint8_t out[KP_DIGEST_SIZE],
		      struct err *e)
{
	_cleanup_free_ char *t = NULL;
	int r;

	r = vm_profile_text(d, &t, e);
	if (r < 0)
		return r;
	if (EVP_Digest(t, strlen(t), out, NULL, EVP_sha256(), NULL) != 1)
		return err_set(e, EIO, "SHA-256 failed");
	return 0;
}
