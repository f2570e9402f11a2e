/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/eventlog_decode.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/cursor.h"
#include "common/hex.h"
#include "common/util.h"

/* GUIDs are stored as they appear on the wire (mixed-endian EFI_GUID). */
const uint8_t efi_guid_global_variable[16] = {
	0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
	0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c
};
const uint8_t efi_guid_image_security_db[16] = {
	0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45,
	0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f
};
const uint8_t efi_guid_shim_lock[16] = {
	0x50, 0xab, 0x5d, 0x60, 0x46, 0xe0, 0x00, 0x43,
	0xab, 0xb6, 0x3d, 0xd8, 0x10, 0xdd, 0x8b, 0x23
};

void efi_guid_format(const uint8_t g[16], char out[EFI_GUID_STR_LEN])
{
	snprintf(out, EFI_GUID_STR_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9],
		 g[10], g[11], g[12], g[13], g[14], g[15]);
}

/* Append formatted text; truncates silently, always NUL-terminated. */
struct sbuf {
	char *p;
	size_t size, len;
};

static void sb_add(struct sbuf *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->len + 1 >= s->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(s->p + s->len, s->size - s->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	s->len += (size_t)n;
	if (s->len >= s->size)
		s->len = s->size - 1;
}

static void sb_char(struct sbuf *s, char c)
{
	if (s->len + 1 < s->size) {
		s->p[s->len++] = c;
		s->p[s->len] = '\0';
	}
}

/* UTF-16LE (n code units) to UTF-8, stopping at NUL; unprintable -> '?'. */
static void sb_utf16(struct sbuf *s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t cp = (uint32_t)(p[2 * i] | (p[2 * i + 1] << 8));

		if (cp == 0)
			break;
		if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < n) {
			uint32_t lo = (uint32_t)(p[2 * i + 2] | (p[2 * i + 3] << 8));

			if (lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i++;
			} else {
				cp = '?';
			}
		} else if (cp >= 0xd800 && cp <= 0xdfff) {
			cp = '?';
		}
		if (cp < 0x20 || cp == 0x7f)
			sb_char(s, '?');
		else if (cp < 0x80)
			sb_char(s, (char)cp);
		else if (cp < 0x800)
			sb_add(s, "%c%c", (char)(0xc0 | (cp >> 6)),
			       (char)(0x80 | (cp & 0x3f)));
		else if (cp < 0x10000)
			sb_add(s, "%c%c%c", (char)(0xe0 | (cp >> 12)),
			       (char)(0x80 | ((cp >> 6) & 0x3f)),
			       (char)(0x80 | (cp & 0x3f)));
		else
			sb_add(s, "%c%c%c%c", (char)(0xf0 | (cp >> 18)),
			       (char)(0x80 | ((cp >> 12) & 0x3f)),
			       (char)(0x80 | ((cp >> 6) & 0x3f)),
			       (char)(0x80 | (cp & 0x3f)));
	}
}

int efi_variable_parse(const uint8_t *buf, size_t len, struct efi_variable *ret)
{
	struct cursor c = cursor_init(buf, len);
	uint64_t name_len, data_len;
	const uint8_t *name;
	struct sbuf s = { ret->name, sizeof(ret->name), 0 };

	ret->name[0] = '\0';
	if (cursor_copy(&c, ret->guid, 16) < 0 ||
	    cursor_u64le(&c, &name_len) < 0 || cursor_u64le(&c, &data_len) < 0)
		return -EBADMSG;
	if (name_len > EFI_MAX_VARIABLE_NAME || data_len > cursor_left(&c))
		return -EBADMSG;
	if (cursor_bytes(&c, (size_t)name_len * 2, &name) < 0 ||
	    cursor_bytes(&c, (size_t)data_len, &ret->data) < 0)
		return -EBADMSG;
	ret->data_len = (size_t)data_len;
	sb_utf16(&s, name, (size_t)name_len);
	/* Trailing bytes after VariableData are tolerated (some firmware pads). */
	return 0;
}

int efi_image_load_parse(const uint8_t *buf, size_t len,
			 struct efi_image_load *ret)
{
	struct cursor c = cursor_init(buf, len);
	uint64_t dp_len;

	if (cursor_u64le(&c, &ret->location) < 0 ||
	    cursor_u64le(&c, &ret->length) < 0 ||
	    cursor_u64le(&c, &ret->link_address) < 0 ||
	    cursor_u64le(&c, &dp_len) < 0)
		return -EBADMSG;
	if (dp_len > cursor_left(&c))
		return -EBADMSG;
	ret->device_path = buf + c.off;
	ret->device_path_len = (size_t)dp_len;
	return 0;
}

static void sb_guid(struct sbuf *s, const uint8_t *g)
{
	char t[EFI_GUID_STR_LEN];

	efi_guid_format(g, t);
	sb_add(s, "%s", t);
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

static void dp_node(struct sbuf *s, uint8_t type, uint8_t sub, const uint8_t *d,
		    size_t n)
{
	if (type == 1 && sub == 1 && n >= 2) {
		sb_add(s, "Pci(0x%x,0x%x)", d[1], d[0]);
	} else if (type == 2 && sub == 1 && n >= 8) {
		uint32_t hid = le32(d), uid = le32(d + 4);

		if (hid == 0x0a0341d0)
			sb_add(s, "PciRoot(0x%" PRIx32 ")", uid);
		else if (hid == 0x0a0841d0)
			sb_add(s, "PcieRoot(0x%" PRIx32 ")", uid);
		else
			sb_add(s, "Acpi(0x%" PRIx32 ",0x%" PRIx32 ")", hid, uid);
	} else if (type == 3 && sub == 2 && n >= 4) {
		sb_add(s, "Scsi(0x%x,0x%x)", le16(d), le16(d + 2));
	} else if (type == 3 && sub == 5 && n >= 2) {
		sb_add(s, "USB(0x%x,0x%x)", d[0], d[1]);
	} else if (type == 3 && sub == 18 && n >= 6) {
		sb_add(s, "Sata(0x%x,0x%x,0x%x)", le16(d), le16(d + 2), le16(d + 4));
	} else if (type == 3 && sub == 23 && n >= 12) {
		sb_add(s, "NVMe(0x%" PRIx32 ",", le32(d));
		for (int i = 0; i < 8; i++)
			sb_add(s, "%s%02X", i ? "-" : "", d[4 + i]);
		sb_char(s, ')');
	} else if (type == 3 && sub == 11 && n >= 32) {
		sb_add(s, "MAC(");
		for (int i = 0; i < 6; i++)
			sb_add(s, "%02x", d[i]);
		sb_add(s, ",0x%x)", d[32 < n ? 32 : 0]);
	} else if (type == 4 && sub == 1 && n >= 38) {
		uint8_t fmt = d[36], sigtype = d[37];

		sb_add(s, "HD(%" PRIu32 ",", le32(d));
		if (fmt == 2 && sigtype == 2) {
			sb_add(s, "GPT,");
			sb_guid(s, d + 20);
		} else if (fmt == 1 && sigtype == 1) {
			sb_add(s, "MBR,0x%" PRIx32, le32(d + 20));
		} else {
			sb_add(s, "%u,%u", fmt, sigtype);
		}
		sb_add(s, ",0x%" PRIx64 ",0x%" PRIx64 ")", le64(d + 4), le64(d + 12));
	} else if (type == 4 && sub == 4) {
		sb_utf16(s, d, n / 2);
	} else if (type == 4 && (sub == 6 || sub == 7) && n >= 16) {
		sb_add(s, "%s(", sub == 6 ? "Fv" : "FvFile");
		sb_guid(s, d);
		sb_char(s, ')');
	} else if (type == 4 && sub == 8 && n >= 20) {
		sb_add(s, "Offset(0x%" PRIx64 ",0x%" PRIx64 ")", le64(d + 4),
		       le64(d + 12));
	} else if ((type == 1 || type == 3 || type == 4) &&
		   sub == (type == 4 ? 3 : type == 1 ? 4 : 10) && n >= 16) {
		sb_add(s, "Ven%s(", type == 1 ? "Hw" : type == 3 ? "Msg" : "Media");
		sb_guid(s, d);
		sb_char(s, ')');
	} else {
		char hex[2 * 32 + 1];
		size_t m = n > 32 ? 32 : n;

		sb_add(s, "Path(%u,%u,%s%s)", type, sub, hex_encode(d, m, hex),
		       n > m ? "..." : "");
	}
}

int efi_device_path_text(const uint8_t *buf, size_t len, char *out, size_t outsz)
{
	struct sbuf s = { out, outsz, 0 };
	struct cursor c = cursor_init(buf, len);
	unsigned nodes = 0;
	bool first = true;

	if (outsz)
		out[0] = '\0';
	while (!cursor_eof(&c)) {
		uint8_t type, sub;
		uint16_t nlen;
		const uint8_t *d;

		if (++nodes > EFI_MAX_DEVICE_PATH_NODES)
			return -E2BIG;
		if (cursor_u8(&c, &type) < 0 || cursor_u8(&c, &sub) < 0 ||
		    cursor_u16le(&c, &nlen) < 0 || nlen < 4 ||
		    cursor_bytes(&c, nlen - 4u, &d) < 0)
			return -EBADMSG;
		if (type == 0x7f && sub == 0xff)
			break;
		if (type == 0x7f) {
			sb_char(&s, ',');
			first = true;
			continue;
		}
		if (!first)
			sb_char(&s, '/');
		first = false;
		dp_node(&s, type, sub, d, nlen - 4u);
	}
	return 0;
}

int efi_siglist_walk(const uint8_t *buf, size_t len, efi_siglist_fn fn,
		     void *userdata)
{
	struct cursor c = cursor_init(buf, len);
	unsigned lists = 0;
	int count = 0;

	while (!cursor_eof(&c)) {
		const uint8_t *type, *hdr;
		uint32_t list_size, header_size, sig_size;
		struct cursor l;

		if (++lists > EFI_MAX_SIGNATURE_LISTS)
			return -E2BIG;
		if (cursor_bytes(&c, 16, &type) < 0 ||
		    cursor_u32le(&c, &list_size) < 0 ||
		    cursor_u32le(&c, &header_size) < 0 ||
		    cursor_u32le(&c, &sig_size) < 0)
			return -EBADMSG;
		if (list_size < 28u || sig_size < 16u ||
		    (uint64_t)header_size + 28u > list_size)
			return -EBADMSG;
		if (cursor_bytes(&c, list_size - 28u, &hdr) < 0)
			return -EBADMSG;
		l = cursor_init(hdr + header_size, list_size - 28u - header_size);
		if (cursor_left(&l) % sig_size)
			return -EBADMSG;
		while (!cursor_eof(&l)) {
			const uint8_t *sig = NULL;

			if (cursor_bytes(&l, sig_size, &sig) < 0)
				return -EBADMSG;
			if (fn) {
				int r = fn(type, sig, sig + 16, sig_size - 16u,
					   userdata);

				if (r < 0)
					return r;
			}
			if (count == INT32_MAX)
				return -E2BIG;
			count++;
		}
	}
	return count;
}

static bool is_utf16_text(const uint8_t *p, size_t n)
{
	size_t units = n / 2;

	if (n < 4 || n % 2)
		return false;
	for (size_t i = 0; i < units; i++) {
		uint16_t u = le16(p + 2 * i);

		if (u == 0)
			return i == units - 1 && i > 0;
		if (u < 0x20 && u != '\t' && u != '\n' && u != '\r')
			return false;
	}
	/* Mostly ASCII in the high byte? */
	return p[1] == 0;
}

bool eventlog_event_text(const struct eventlog_event *ev, char *out, size_t outsz)
{
	struct sbuf s = { out, outsz, 0 };
	const uint8_t *p = ev->data;
	size_t n = ev->data_len;
	size_t printable = 0;

	if (outsz)
		out[0] = '\0';
	if (n == 0)
		return false;
	if (is_utf16_text(p, n)) {
		sb_utf16(&s, p, n / 2);
		return true;
	}
	while (n && p[n - 1] == 0)
		n--;
	for (size_t i = 0; i < n; i++)
		if ((p[i] >= 0x20 && p[i] < 0x7f) || p[i] == '\n' || p[i] == '\t' ||
		    p[i] >= 0x80)
			printable++;
	if (printable < n)
		return false;
	for (size_t i = 0; i < n; i++)
		sb_char(&s, p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?');
	return true;
}

int eventlog_separator_kind(const struct eventlog_event *ev)
{
	static const uint8_t zero[4], one[4] = { 1, 0, 0, 0 },
				      ffff[4] = { 0xff, 0xff, 0xff, 0xff };

	/* 0 in the UEFI PFP; all ones in the conventional BIOS spec (SeaBIOS) */
	if (ev->data_len == 4 &&
	    (memcmp(ev->data, zero, 4) == 0 || memcmp(ev->data, ffff, 4) == 0))
		return 0;
	if (ev->data_len == 4 && memcmp(ev->data, one, 4) == 0)
		return 1;
	if (ev->data_len == 4 && memcmp(ev->data, "WBCL", 4) == 0)
		return 2;
	return -EBADMSG;
}

static void describe_variable(struct sbuf *s, const struct eventlog_event *ev)
{
	struct efi_variable v;
	char guid[EFI_GUID_STR_LEN];

	if (efi_variable_parse(ev->data, ev->data_len, &v) < 0) {
		sb_add(s, "malformed UEFI_VARIABLE_DATA (%u bytes)", ev->data_len);
		return;
	}
	efi_guid_format(v.guid, guid);
	sb_add(s, "%s", v.name);
	if (v.data_len == 1) {
		sb_add(s, " = %u", v.data[0]);
	} else if (streq(v.name, "BootOrder")) {
		sb_add(s, " =");
		for (size_t i = 0; i + 1 < v.data_len; i += 2)
			sb_add(s, " %04X", le16(v.data + i));
	} else if (strncmp(v.name, "Boot", 4) == 0 && v.data_len >= 6) {
		/* EFI_LOAD_OPTION: attributes u32, path list length u16,
		 * description (UTF-16, NUL-terminated), device path list. */
		uint16_t fpl = le16(v.data + 4);
		size_t i = 6;

		sb_add(s, " \"");
		while (i + 1 < v.data_len && le16(v.data + i))
			i += 2;
		sb_utf16(s, v.data + 6, (i - 6) / 2);
		sb_add(s, "\"");
		i += 2;
		if (i <= v.data_len && fpl <= v.data_len - i) {
			char dp[256];

			if (efi_device_path_text(v.data + i, fpl, dp, sizeof(dp)) == 0 &&
			    dp[0])
				sb_add(s, " %s", dp);
		}
	} else {
		int n = efi_siglist_walk(v.data, v.data_len, NULL, NULL);

		if (n >= 0 && v.data_len)
			sb_add(s, " (%d signature%s, %zu bytes)", n, n == 1 ? "" : "s",
			       v.data_len);
		else
			sb_add(s, " (%zu bytes)", v.data_len);
	}
	sb_add(s, " [%s]", guid);
}

void eventlog_event_describe(const struct eventlog_event *ev, char *out,
			     size_t outsz)
{
	struct sbuf s = { out, outsz, 0 };
	char text[EVENTLOG_MAX_DESCRIPTION];

	if (outsz)
		out[0] = '\0';
	switch (ev->type) {
	case EV_EFI_VARIABLE_DRIVER_CONFIG:
	case EV_EFI_VARIABLE_BOOT:
	case EV_EFI_VARIABLE_BOOT2:
	case EV_EFI_VARIABLE_AUTHORITY:
		describe_variable(&s, ev);
		return;
	case EV_EFI_BOOT_SERVICES_APPLICATION:
	case EV_EFI_BOOT_SERVICES_DRIVER:
	case EV_EFI_RUNTIME_SERVICES_DRIVER: {
		struct efi_image_load il;

		if (efi_image_load_parse(ev->data, ev->data_len, &il) < 0) {
			sb_add(&s, "malformed UEFI_IMAGE_LOAD_EVENT (%u bytes)",
			       ev->data_len);
			return;
		}
		if (efi_device_path_text(il.device_path, il.device_path_len, text,
					 sizeof(text)) < 0)
			sb_add(&s, "(malformed device path) ");
		else
			sb_add(&s, "%s ", text[0] ? text : "(no device path)");
		sb_add(&s, "(%" PRIu64 " bytes at 0x%" PRIx64 ")", il.length,
		       il.location);
		return;
	}
	case EV_SEPARATOR: {
		int k = eventlog_separator_kind(ev);

		sb_add(&s, "%s", k == 0 ? "separator" : k == 1 ? "ERROR separator" : k == 2 ? "separator WBCL" : "separator with unexpected value");
		return;
	}
	case EV_NO_ACTION:
		if (ev->data_len >= 16 && memcmp(ev->data, "Spec ID Event03", 16) == 0)
			sb_add(&s, "SpecID (crypto-agile log header)");
		else if (ev->data_len >= 17 &&
			 memcmp(ev->data, "StartupLocality", 16) == 0)
			sb_add(&s, "StartupLocality %u", ev->data[16]);
		else if (ev->data_len >= 16 && memcmp(ev->data, "SP800-155 Event", 16) == 0)
			sb_add(&s, "SP800-155 reference manifest event");
		else if (ev->data_len >= 16 && memcmp(ev->data, "NvIndexInstance", 16) == 0)
			sb_add(&s, "NvIndexInstance");
		else
			sb_add(&s, "not extended (%u bytes)", ev->data_len);
		return;
	case EV_EVENT_TAG:
		if (ev->data_len >= 8) {
			uint32_t id = le32(ev->data), n = le32(ev->data + 4);

			if (id == 0x8F3B22EC)
				sb_add(&s, "Linux initrd (LOAD_FILE2)");
			else if (id == 0x8F3B22ED)
				sb_add(&s, "Linux kernel load options");
			else
				sb_add(&s, "tagged event 0x%08" PRIx32, id);
			if (n <= ev->data_len - 8 && n) {
				struct eventlog_event sub = *ev;

				sub.data = ev->data + 8;
				sub.data_len = n;
				if (eventlog_event_text(&sub, text, sizeof(text)))
					sb_add(&s, ": %s", text);
			}
			return;
		}
		break;
	case EV_EFI_PLATFORM_FIRMWARE_BLOB:
		if (ev->data_len == 16) {
			sb_add(&s, "firmware blob 0x%" PRIx64 " (%" PRIu64 " bytes)",
			       le64(ev->data), le64(ev->data + 8));
			return;
		}
		break;
	case EV_EFI_PLATFORM_FIRMWARE_BLOB2:
		if (ev->data_len >= 1 && ev->data[0] <= ev->data_len - 1u) {
			struct eventlog_event sub = *ev;

			sub.data = ev->data + 1;
			sub.data_len = ev->data[0];
			eventlog_event_text(&sub, text, sizeof(text));
			sb_add(&s, "firmware blob \"%s\"", text);
			return;
		}
		break;
	case EV_EFI_GPT_EVENT:
		if (ev->data_len >= 92 + 8)
			sb_add(&s, "GPT header, disk ");
		if (ev->data_len >= 92 + 8) {
			sb_guid(&s, ev->data + 56);
			return;
		}
		break;
	case EV_EFI_HANDOFF_TABLES:
		if (ev->data_len >= 8) {
			sb_add(&s, "%" PRIu64 " configuration table(s)", le64(ev->data));
			return;
		}
		break;
	case EV_POST_CODE:
		if (ev->data_len == 16) {
			sb_add(&s, "POST code blob 0x%" PRIx64 " (%" PRIu64 " bytes)",
			       le64(ev->data), le64(ev->data + 8));
			return;
		}
		break;
	default:
		break;
	}
	if (eventlog_event_text(ev, text, sizeof(text))) {
		sb_add(&s, "\"%s\"", text);
	} else if (ev->data_len) {
		char hex[2 * 24 + 1];
		size_t m = ev->data_len > 24 ? 24 : ev->data_len;

		sb_add(&s, "%u bytes: %s%s", ev->data_len, hex_encode(ev->data, m, hex),
		       ev->data_len > m ? "..." : "");
	}
}
