/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/eventlog_decode.h"
#include "common/hex.h"
#include "common/limits.h"
#include "common/util.h"

static const struct policy_rule_info rules[_RULE_MAX] = {
	[RULE_BASELINE] = { "baseline",
			    "the host's measured boot events match an approved baseline", true },
	[RULE_SECURE_BOOT] = { "secure-boot-enabled",
			       "UEFI Secure Boot is on: SecureBoot=1 and PK, KEK, db, dbx measured in PCR 7",
			       true },
	[RULE_BOOT_APPS_MEASURED] = { "boot-apps-measured",
				      "every boot stage was measured: each boot option's application appears in PCR 4",
				      true },
	[RULE_NO_DEBUG] = { "no-debug",
			    "no debugger: no kernel debugger arguments, no firmware debug mode, no Windows boot/kernel debugging",
			    true },
	[RULE_IOMMU] = { "iommu-enabled",
			 "the IOMMU is on: kernel command line enables it and firmware did not report DMA protection disabled",
			 true },
	[RULE_DBX_CURRENT] = { "dbx-current",
			       "the dbx revocation list contains every entry of the baseline's dbx",
			       true },
	[RULE_CMDLINE] = { "cmdline",
			   "every kernel command-line argument matches the allow patterns and none the deny patterns",
			   true },
	[RULE_BOOT_APPS] = { "boot-apps",
			     "every boot application's digest is on the allowlist", false },
	[RULE_LOG_INTEGRITY] = { "log-integrity",
				 "event data matches its digest wherever the spec defines it as the hash of the data; no error separator",
				 true },
};

const struct policy_rule_info *policy_rule_info(enum policy_rule_id id)
{
	return id < _RULE_MAX ? &rules[id] : NULL;
}

int policy_rule_lookup(const char *id)
{
	for (int i = 0; i < _RULE_MAX; i++)
		if (streq(rules[i].id, id))
			return i;
	return -ENOENT;
}

const char *policy_status_name(enum policy_status s)
{
	return s == POLICY_PASS ? "pass" : s == POLICY_FAIL ? "fail" : "skipped";
}

struct policy *policy_new(const char *id)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->id = strdup(id ? id : "shieldvm-default");
	if (!p->id) {
		free(p);
		return NULL;
	}
	for (int i = 0; i < _RULE_MAX; i++)
		p->enabled[i] = rules[i].default_enabled;
	return p;
}

static void strv_free(char **v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; i < p->n_baselines; i++)
		baseline_free(p->baselines[i]);
	free(p->baselines);
	strv_free(p->allow, p->n_allow);
	strv_free(p->deny, p->n_deny);
	strv_free(p->apps, p->n_apps);
	free(p->id);
	free(p);
}
DEFINE_CLEANUP_FUNC(struct policy, policy_free)

int policy_add_baseline(struct policy *p, struct baseline *b, struct err *e)
{
	struct baseline **n;

	for (uint32_t i = 0; i < p->n_baselines; i++)
		if (streq(p->baselines[i]->name, b->name)) {
			baseline_free(b);
			return err_set(e, EEXIST, "baseline \"%s\" already in the policy",
				       p->baselines[i]->name);
		}
	if (p->n_baselines >= POLICY_MAX_BASELINES) {
		baseline_free(b);
		return err_set(e, E2BIG, "more than %u baselines", POLICY_MAX_BASELINES);
	}
	n = reallocarray(p->baselines, p->n_baselines + 1u, sizeof(*n));
	if (!n) {
		baseline_free(b);
		return err_set(e, ENOMEM, "out of memory");
	}
	p->baselines = n;
	p->baselines[p->n_baselines++] = b;
	return 0;
}

static int strv_add(char ***v, uint32_t *n, const char *s, struct err *e)
{
	char **nv;

	if (*n >= POLICY_MAX_PATTERNS)
		return err_set(e, E2BIG, "more than %u entries", POLICY_MAX_PATTERNS);
	if (!s[0] || strlen(s) > POLICY_MAX_PATTERN_LEN)
		return err_set(e, EINVAL, "empty or overlong entry \"%.40s\"", s);
	nv = reallocarray(*v, *n + 1u, sizeof(char *));
	if (!nv)
		return err_set(e, ENOMEM, "out of memory");
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return err_set(e, ENOMEM, "out of memory");
	(*n)++;
	return 0;
}

int policy_add_pattern(struct policy *p, bool allow, const char *pattern, struct err *e)
{
	return allow ? strv_add(&p->allow, &p->n_allow, pattern, e)
		     : strv_add(&p->deny, &p->n_deny, pattern, e);
}

int policy_add_boot_app(struct policy *p, const char *digest, struct err *e)
{
	const char *colon = strchr(digest, ':');
	const struct hash_alg *alg;
	uint8_t buf[EVENTLOG_MAX_DIGEST];
	char name[16];

	if (!colon || (size_t)(colon - digest) >= sizeof(name))
		return err_set(e, EINVAL, "boot app \"%.80s\": expected ALG:HEX", digest);
	memcpy(name, digest, (size_t)(colon - digest));
	name[colon - digest] = '\0';
	alg = hash_alg_by_name(name);
	if (!alg || hex_decode(colon + 1, buf, sizeof(buf)) != (int)alg->size)
		return err_set(e, EINVAL, "boot app \"%.80s\": expected ALG:HEX with a %s digest",
			       digest, alg ? alg->name : "known");
	return strv_add(&p->apps, &p->n_apps, digest, e);
}

static json_t *strv_json(char **v, uint32_t n)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *policy_to_json(const struct policy *p)
{
	json_t *o = json_object(), *r = json_object(), *b = json_array();

	json_object_set_new(o, "version", json_integer(1));
	json_object_set_new(o, "id", json_string(p->id));
	for (int i = 0; i < _RULE_MAX; i++)
		json_object_set_new(r, rules[i].id, json_boolean(p->enabled[i]));
	json_object_set_new(o, "rules", r);
	json_object_set_new(o, "cmdline_allow", strv_json(p->allow, p->n_allow));
	json_object_set_new(o, "cmdline_deny", strv_json(p->deny, p->n_deny));
	json_object_set_new(o, "boot_apps", strv_json(p->apps, p->n_apps));
	for (uint32_t i = 0; i < p->n_baselines; i++)
		json_array_append_new(b, baseline_to_json(p->baselines[i]));
	json_object_set_new(o, "baselines", b);
	return o;
}

static int strv_from_json(struct policy *p, const json_t *j, const char *key, int which,
			  struct err *e)
{
	const json_t *a = json_object_get(j, key), *v;
	size_t i;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return err_set(e, EINVAL, "policy: \"%s\" is not an array", key);
	json_array_foreach(a, i, v) {
		int r;

		if (!json_is_string(v))
			return err_set(e, EINVAL, "policy: \"%s\"[%zu] is not a string", key, i);
		r = which == 2 ? policy_add_boot_app(p, json_string_value(v), e)
			       : policy_add_pattern(p, which == 0, json_string_value(v), e);
		if (r < 0) {
			err_prefix(e, "policy: \"%s\"[%zu]", key, i);
			return r;
		}
	}
	return 0;
}

int policy_from_json(const json_t *j, struct policy **ret, struct err *e)
{
	_cleanup_(policy_freep) struct policy *p = NULL;
	const json_t *r, *v, *bl;
	const char *key;
	size_t i;
	int rr;

	if (!json_is_object(j))
		return err_set(e, EINVAL, "policy: not a JSON object");
	if (!json_is_integer(json_object_get(j, "version")) ||
	    json_integer_value(json_object_get(j, "version")) != 1)
		return err_set(e, EINVAL, "policy: \"version\" must be 1");
	v = json_object_get(j, "id");
	if (!json_is_string(v) || !json_string_length(v))
		return err_set(e, EINVAL, "policy: missing \"id\"");
	p = policy_new(json_string_value(v));
	if (!p)
		return err_set(e, ENOMEM, "out of memory");
	r = json_object_get(j, "rules");
	if (r && !json_is_object(r))
		return err_set(e, EINVAL, "policy: \"rules\" is not an object");
	json_object_foreach((json_t *)r, key, v) {
		int id = policy_rule_lookup(key);

		if (id < 0)
			return err_set(e, EINVAL, "policy: unknown rule \"%s\"", key);
		if (!json_is_boolean(v))
			return err_set(e, EINVAL, "policy: rule \"%s\" must be true or false", key);
		p->enabled[id] = json_is_true(v);
	}
	if ((rr = strv_from_json(p, j, "cmdline_allow", 0, e)) < 0 ||
	    (rr = strv_from_json(p, j, "cmdline_deny", 1, e)) < 0 ||
	    (rr = strv_from_json(p, j, "boot_apps", 2, e)) < 0)
		return rr;
	bl = json_object_get(j, "baselines");
	if (bl && !json_is_array(bl))
		return err_set(e, EINVAL, "policy: \"baselines\" is not an array");
	json_array_foreach(bl, i, v) {
		struct baseline *b;

		rr = baseline_from_json(v, &b, e);
		if (rr < 0)
			return rr;
		rr = policy_add_baseline(p, b, e);
		if (rr < 0)
			return rr;
	}
	*ret = TAKE_PTR(p);
	return 0;
}

/* ---- evaluation ---- */

static void res(struct policy_rule_result *r, enum policy_status s, int32_t ev,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void res(struct policy_rule_result *r, enum policy_status s, int32_t ev,
		const char *fmt, ...)
{
	va_list ap;

	r->status = s;
	r->event = ev;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

static bool trusted(const struct eventlog_event *ev)
{
	return ev->check == EVENTLOG_CHECK_OK || ev->check == EVENTLOG_CHECK_DATA_ONLY;
}

static bool is_action(const struct eventlog_event *ev, uint32_t pcr, const char *text)
{
	size_t n = strlen(text);

	return ev->type == EV_EFI_ACTION && ev->pcr == pcr && ev->data_len >= n &&
	       memcmp(ev->data, text, n) == 0 && trusted(ev);
}

static void eval_secure_boot(const struct eventlog *log, struct policy_rule_result *r)
{
	static const char *const need[] = { "PK", "KEK", "db", "dbx" };
	bool seen[ARRAY_SIZE(need)] = { false };
	int32_t sb = -1;

	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];
		struct efi_variable v;

		if (ev->pcr != 7 || ev->type != EV_EFI_VARIABLE_DRIVER_CONFIG)
			continue;
		if (efi_variable_parse(ev->data, ev->data_len, &v) < 0) {
			res(r, POLICY_FAIL, (int32_t)i,
			    "event %zu (EV_EFI_VARIABLE_DRIVER_CONFIG, PCR 7): malformed variable data", i);
			return;
		}
		if (!trusted(ev)) {
			res(r, POLICY_FAIL, (int32_t)i,
			    "event %zu (EV_EFI_VARIABLE_DRIVER_CONFIG, PCR 7): %s data does not match its digest",
			    i, v.name);
			return;
		}
		if (streq(v.name, "SecureBoot") &&
		    !memcmp(v.guid, efi_guid_global_variable, 16)) {
			if (sb >= 0) {
				res(r, POLICY_FAIL, (int32_t)i,
				    "event %zu (EV_EFI_VARIABLE_DRIVER_CONFIG, PCR 7): SecureBoot measured twice",
				    i);
				return;
			}
			if (v.data_len != 1 || v.data[0] != 1) {
				res(r, POLICY_FAIL, (int32_t)i,
				    "event %zu (EV_EFI_VARIABLE_DRIVER_CONFIG, PCR 7): SecureBoot is %u, policy requires 1",
				    i, v.data_len ? v.data[0] : 0);
				return;
			}
			sb = (int32_t)i;
		}
		for (size_t k = 0; k < ARRAY_SIZE(need); k++) {
			const uint8_t *guid = k < 2 ? efi_guid_global_variable
						    : efi_guid_image_security_db;

			if (streq(v.name, need[k]) && !memcmp(v.guid, guid, 16)) {
				if (k == 0 && v.data_len == 0) {
					res(r, POLICY_FAIL, (int32_t)i,
					    "event %zu (EV_EFI_VARIABLE_DRIVER_CONFIG, PCR 7): PK is empty (setup mode)",
					    i);
					return;
				}
				seen[k] = true;
			}
		}
	}
	if (sb < 0) {
		res(r, POLICY_FAIL, -1, "no SecureBoot variable measured in PCR 7");
		return;
	}
	for (size_t k = 0; k < ARRAY_SIZE(need); k++)
		if (!seen[k]) {
			res(r, POLICY_FAIL, -1, "Secure Boot variable %s not measured in PCR 7",
			    need[k]);
			return;
		}
	res(r, POLICY_PASS, sb, "event %d: SecureBoot = 1; PK, KEK, db, dbx measured in PCR 7",
	    sb);
}

#define ACTION_CALLING "Calling EFI Application from Boot Option"
#define ACTION_RETURNING "Returning from EFI Application from Boot Option"
#define ACTION_EBS "Exit Boot Services Invocation"

static void eval_boot_apps_measured(const struct eventlog *log,
				    struct policy_rule_result *r)
{
	int32_t pending = -1;
	unsigned apps = 0, calls = 0;

	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];

		if (is_action(ev, 4, ACTION_CALLING) || is_action(ev, 5, ACTION_EBS)) {
			if (pending >= 0) {
				res(r, POLICY_FAIL, pending,
				    "event %d (EV_EFI_ACTION, PCR 4): \"" ACTION_CALLING
				    "\" is not followed by a measured boot application: the image it started was not measured (e.g. QEMU -kernel, which bypasses Secure Boot verification)",
				    pending);
				return;
			}
			if (ev->pcr == 4) {
				pending = (int32_t)i;
				calls++;
			}
		} else if (ev->pcr == 4 && ev->type == EV_EFI_BOOT_SERVICES_APPLICATION) {
			pending = -1;
			apps++;
		}
	}
	if (pending >= 0) {
		res(r, POLICY_FAIL, pending,
		    "event %d (EV_EFI_ACTION, PCR 4): \"" ACTION_CALLING
		    "\" is not followed by a measured boot application: the image it started was not measured (e.g. QEMU -kernel, which bypasses Secure Boot verification)",
		    pending);
		return;
	}
	if (apps == 0) {
		res(r, POLICY_FAIL, -1,
		    "no EV_EFI_BOOT_SERVICES_APPLICATION in PCR 4: no boot stage was measured");
		return;
	}
	res(r, POLICY_PASS, -1, "%u boot application(s) measured in PCR 4 for %u boot option call(s)",
	    apps, calls);
}

/*
 * Command lines. The event type and grub's "kernel_cmdline: " prefix are not
 * measured (only the digest of the string after it is), so an attacker who
 * controls the log text can relabel the kernel command line as some other
 * string. Therefore:
 *   - deny checks (debugger, IOMMU off, cmdline deny) scan every string
 *     whose measured content is verified: grub commands, kernel command
 *     lines, systemd-boot's PCR 12 strings, the Linux EFI stub's load options;
 *   - allow checks and IOMMU evidence read only recognised kernel command
 *     lines, and a rule that needs one fails when none is there;
 *   - an event that could carry a command line but whose content cannot be
 *     verified (EV_IPL in PCR 8/12 not matching its digest, a PCR 9 tagged
 *     event that is neither verified load options nor the fixed "Linux
 *     initrd" initrd event) fails those rules: nothing may hide there.
 */
struct cmdline {
	int32_t event;
	bool is_cmdline; /* a recognised kernel command line */
	bool verified;   /* content matches the measured digest */
	char *text;      /* whole (never judged on a prefix), split into
			  * NUL-terminated arguments */
	size_t len;      /* bytes of text, the separators included */
};

static void cmdlines_free(struct cmdline *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].text);
	free(v);
}

static bool is_linux_initrd_tag(const struct eventlog_event *ev)
{
	static const char initrd[] = "Linux initrd";

	if (ev->data_len < 8 || ev->data[0] != 0xEC || ev->data[1] != 0x22 ||
	    ev->data[2] != 0x3B || ev->data[3] != 0x8F)
		return false;
	return ev->data_len - 8u >= sizeof(initrd) - 1 && ev->data_len - 8u <= sizeof(initrd) &&
	       memcmp(ev->data + 8, initrd, sizeof(initrd) - 1) == 0 &&
	       (ev->data_len - 8u == sizeof(initrd) - 1 || ev->data[ev->data_len - 1] == 0);
}

/* Every command-line candidate, in log order. */
static int collect_cmdlines(const struct eventlog *log, struct cmdline **ret, size_t *ret_n)
{
	static const char *const prefixes[] = { "kernel_cmdline: ", "grub_kernel_cmdline ",
						"grub_cmd: " };
	struct cmdline *v;
	size_t n = 0;

	v = calloc(log->n_events + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];
		struct eventlog_event sub = *ev;
		struct cmdline *c = &v[n];
		size_t size, skip = 0;
		bool is_text;

		if ((ev->pcr == 8 || ev->pcr == 12) && ev->type != EV_NO_ACTION) {
			/* every event: the type is not measured either */
			c->is_cmdline = ev->pcr == 12 && ev->type == EV_IPL;
		} else if (ev->type == EV_EVENT_TAG && ev->pcr == 9 && !is_linux_initrd_tag(ev)) {
			c->is_cmdline = ev->data_len > 8 && ev->data[0] == 0xED &&
					ev->data[1] == 0x22 && ev->data[2] == 0x3B &&
					ev->data[3] == 0x8F;
			if (ev->data_len >= 8) {
				sub.data = ev->data + 8;
				sub.data_len = ev->data_len - 8;
			}
		} else {
			continue;
		}
		/* UTF-16 becomes at most 3 bytes per 2; ASCII stays */
		size = 2 * (size_t)sub.data_len + 2;
		c->text = malloc(size);
		if (!c->text) {
			cmdlines_free(v, n);
			return -ENOMEM;
		}
		c->event = (int32_t)i;
		c->verified = ev->check == EVENTLOG_CHECK_OK;
		is_text = eventlog_event_text(&sub, c->text, size);
		if (!is_text) {
			if (c->verified) {
				/* verified, and no text: a separator, SIPA data */
				free(c->text);
				c->text = NULL;
				continue;
			}
			c->text[0] = '\0';
		}
		for (size_t k = 0; is_text && ev->type == EV_IPL && k < ARRAY_SIZE(prefixes); k++) {
			size_t pl = strlen(prefixes[k]);

			if (strncmp(c->text, prefixes[k], pl) == 0) {
				skip = pl;
				c->is_cmdline = k < 2;
				break;
			}
		}
		if (skip)
			memmove(c->text, c->text + skip, strlen(c->text + skip) + 1);
		c->len = strlen(c->text);
		for (size_t k = 0; k < c->len; k++)
			if (c->text[k] == ' ' || c->text[k] == '\t' || c->text[k] == '\n')
				c->text[k] = '\0';
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* fnmatch(pattern, s, 0) == 0. Most patterns are a literal, or a literal
 * and one final '*'; for those fnmatch compares bytes (flags 0: '*' matches
 * anything, '/' and a leading '.' included), so this does too, without
 * fnmatch's per-call setup; every other pattern goes to fnmatch. The policy
 * checks each argument of every command line against every pattern. */
static bool pattern_match(const char *pattern, const char *s)
{
	unsigned char c = (unsigned char)pattern[0];
	size_t n;

	/* An ordinary ASCII first character must be the string's: that
	 * settles most pairs at once, in any locale. */
	if (c && c < 0x80 && c != '*' && c != '?' && c != '[' && c != '\\' &&
	    (unsigned char)s[0] != c)
		return false;
	n = strcspn(pattern, "*?[\\");
	if (!pattern[n])
		return strcmp(pattern, s) == 0;
	if (pattern[n] == '*' && !pattern[n + 1])
		return strncmp(pattern, s, n) == 0;
	return fnmatch(pattern, s, 0) == 0;
}

/* The arguments of a command line: first with prev NULL, NULL at the end. */
static const char *next_arg(const struct cmdline *c, const char *prev)
{
	const char *p = prev ? prev + strlen(prev) : c->text;
	const char *end = c->text + c->len;

	while (p < end && *p == '\0')
		p++;
	return p < end ? p : NULL;
}

/* A command line a rule cannot read whole or trust fails that rule. */
static bool cmdline_unusable(const struct cmdline *c, const char *why,
			     struct policy_rule_result *r)
{
	if (!c->verified) {
		res(r, POLICY_FAIL, c->event,
		    "event %d: %s does not match its digest, so it cannot be %s",
		    c->event, c->is_cmdline ? "kernel command line" : "a string that may carry the kernel command line",
		    why);
		return true;
	}
	return false;
}

static const char *const debug_patterns[] = {
	"kgdboc=*", "kgdbwait", "kgdbcon", "kgdbdbgp=*", "ekgdboc=*", "kgdb*",
	"earlyprintk=dbgp*", "earlyprintk=xdbc*",
};

/* Windows SIPA (WBCL) events: boot and kernel debugging flags. */
#define SIPA_BOOTDEBUGGING 0x00040001u
#define SIPA_OSKERNELDEBUG 0x00050001u
#define SIPA_AGGREGATION 0x40000000u

static int sipa_find_debug(const uint8_t *p, size_t n, unsigned depth, uint32_t *ret_type)
{
	size_t off = 0;

	if (depth > 8)
		return 0;
	while (n - off >= 8) {
		uint32_t type = (uint32_t)p[off] | ((uint32_t)p[off + 1] << 8) |
				((uint32_t)p[off + 2] << 16) | ((uint32_t)p[off + 3] << 24);
		uint32_t size = (uint32_t)p[off + 4] | ((uint32_t)p[off + 5] << 8) |
				((uint32_t)p[off + 6] << 16) | ((uint32_t)p[off + 7] << 24);

		off += 8;
		if (size > n - off)
			return 0;
		if (type & SIPA_AGGREGATION) {
			int r = sipa_find_debug(p + off, size, depth + 1, ret_type);

			if (r)
				return r;
		} else if ((type == SIPA_BOOTDEBUGGING || type == SIPA_OSKERNELDEBUG) &&
			   size >= 1) {
			for (uint32_t k = 0; k < size; k++)
				if (p[off + k]) {
					*ret_type = type;
					return 1;
				}
		}
		off += size;
	}
	return 0;
}

static void eval_no_debug(const struct eventlog *log, const struct cmdline *cl, size_t ncl,
			  struct policy_rule_result *r)
{
	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];
		uint32_t t;

		if (ev->type == EV_EFI_ACTION &&
		    ev->data_len >= 15 && memcmp(ev->data, "UEFI Debug Mode", 15) == 0) {
			res(r, POLICY_FAIL, (int32_t)i,
			    "event %zu (EV_EFI_ACTION, PCR %u): firmware reports \"UEFI Debug Mode\"",
			    i, ev->pcr);
			return;
		}
		if (ev->type == EV_EVENT_TAG && ev->pcr >= 12 && ev->pcr <= 14 &&
		    ev->check != EVENTLOG_CHECK_OK) {
			res(r, POLICY_FAIL, (int32_t)i,
			    "event %zu (EV_EVENT_TAG, PCR %u): Windows boot configuration does not match its digest, so its debugging flags cannot be read",
			    i, ev->pcr);
			return;
		}
		if (ev->type == EV_EVENT_TAG && ev->pcr >= 12 && ev->pcr <= 14 &&
		    sipa_find_debug(ev->data, ev->data_len, 0, &t)) {
			res(r, POLICY_FAIL, (int32_t)i,
			    "event %zu (EV_EVENT_TAG, PCR %u): Windows %s debugging is enabled",
			    i, ev->pcr, t == SIPA_BOOTDEBUGGING ? "boot" : "kernel");
			return;
		}
	}
	for (size_t c = 0; c < ncl; c++) {
		const char *arg = NULL;

		while ((arg = next_arg(&cl[c], arg)))
			for (size_t k = 0; k < ARRAY_SIZE(debug_patterns); k++)
				if (pattern_match(debug_patterns[k], arg)) {
					res(r, POLICY_FAIL, cl[c].event,
					    "event %d: %s has debugger argument \"%s\"",
					    cl[c].event,
					    cl[c].is_cmdline ? "kernel command line" : "measured command",
					    arg);
					return;
				}
		if (cmdline_unusable(&cl[c], "checked for debugger arguments", r))
			return;
	}
	res(r, POLICY_PASS, -1, "no debugger evidence in firmware actions or %zu measured command line(s)",
	    ncl);
}

static void eval_iommu(const struct eventlog *log, const struct cmdline *cl, size_t ncl,
		       struct policy_rule_result *r)
{
	static const char *const on[] = { "intel_iommu=on*", "amd_iommu=on", "amd_iommu=force*",
					   "iommu=force" };
	static const char *const off[] = { "intel_iommu=off", "amd_iommu=off", "iommu=off",
					   "iommu=pt", "iommu.passthrough=1", "iommu.passthrough=on" };
	int32_t evidence = -1;

	for (size_t i = 0; i < log->n_events; i++)
		if (log->events[i].type == EV_EFI_ACTION && log->events[i].data_len >= 23 &&
		    memcmp(log->events[i].data, "DMA Protection Disabled", 23) == 0) {
			res(r, POLICY_FAIL, (int32_t)i,
			    "event %zu (EV_EFI_ACTION, PCR %u): firmware reports \"DMA Protection Disabled\"",
			    i, log->events[i].pcr);
			return;
		}
	for (size_t c = 0; c < ncl; c++) {
		const char *arg = NULL;

		if (cmdline_unusable(&cl[c], "checked for IOMMU settings", r))
			return;
		while ((arg = next_arg(&cl[c], arg))) {
			for (size_t k = 0; k < ARRAY_SIZE(off); k++)
				if (pattern_match(off[k], arg)) {
					res(r, POLICY_FAIL, cl[c].event,
					    "event %d: kernel command line has \"%s\": the IOMMU does not isolate host DMA",
					    cl[c].event, arg);
					return;
				}
			for (size_t k = 0; k < ARRAY_SIZE(on) && cl[c].is_cmdline; k++)
				if (pattern_match(on[k], arg))
					evidence = cl[c].event;
		}
	}
	if (evidence < 0) {
		res(r, POLICY_FAIL, -1,
		    ncl ? "no verified kernel command line enables the IOMMU (intel_iommu=on, amd_iommu=on or iommu=force)"
			: "no kernel command line measured, so nothing shows the IOMMU is on");
		return;
	}
	res(r, POLICY_PASS, evidence, "event %d: kernel command line enables the IOMMU", evidence);
}

static void eval_cmdline(const struct policy *p, const struct cmdline *cl, size_t ncl,
			 struct policy_rule_result *r)
{
	size_t kernel = 0;

	for (size_t c = 0; c < ncl; c++) {
		const char *arg = NULL;
		bool first = true;

		if (cmdline_unusable(&cl[c], "checked against the patterns", r))
			return;
		kernel += cl[c].is_cmdline;
		while ((arg = next_arg(&cl[c], arg))) {
			bool allowed = p->n_allow == 0 || !cl[c].is_cmdline;

			/* grub's kernel_cmdline starts with the kernel path */
			if (first && arg[0] == '/' && cl[c].is_cmdline) {
				first = false;
				continue;
			}
			first = false;
			for (uint32_t k = 0; k < p->n_deny; k++)
				if (pattern_match(p->deny[k], arg)) {
					res(r, POLICY_FAIL, cl[c].event,
					    "event %d: %s argument \"%s\" matches deny pattern \"%s\"",
					    cl[c].event,
					    cl[c].is_cmdline ? "kernel command line" : "measured command",
					    arg, p->deny[k]);
					return;
				}
			for (uint32_t k = 0; k < p->n_allow && !allowed; k++)
				allowed = pattern_match(p->allow[k], arg);
			if (!allowed) {
				res(r, POLICY_FAIL, cl[c].event,
				    "event %d: kernel command line argument \"%s\" matches no allow pattern",
				    cl[c].event, arg);
				return;
			}
		}
	}
	if (p->n_allow && !kernel) {
		res(r, POLICY_FAIL, -1,
		    "the policy has allow patterns but the log measured no kernel command line");
		return;
	}
	res(r, POLICY_PASS, -1, "%zu kernel command line(s) and %zu other measured string(s) within %u allow and %u deny pattern(s)",
	    kernel, ncl - kernel, p->n_allow, p->n_deny);
}

static void eval_boot_apps(const struct policy *p, const struct eventlog *log,
			   struct policy_rule_result *r)
{
	unsigned n = 0;

	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];
		bool ok = false;
		char hex[2 * EVENTLOG_MAX_DIGEST + 1], desc[EVENTLOG_MAX_DESCRIPTION];

		if (ev->type != EV_EFI_BOOT_SERVICES_APPLICATION)
			continue;
		n++;
		for (uint32_t d = 0; d < ev->n_digests && !ok; d++) {
			const struct eventlog_digest *dg = &ev->digests[d];
			size_t nl = strlen(dg->alg->name);

			hex_encode(dg->bytes, dg->alg->size, hex);
			for (uint32_t k = 0; k < p->n_apps && !ok; k++)
				ok = strncasecmp(p->apps[k], dg->alg->name, nl) == 0 &&
				     p->apps[k][nl] == ':' && strcasecmp(p->apps[k] + nl + 1, hex) == 0;
		}
		if (!ok) {
			const struct eventlog_digest *dg = &ev->digests[0];

			eventlog_event_describe(ev, desc, sizeof(desc));
			hex_encode(dg->bytes, dg->alg->size, hex);
			res(r, POLICY_FAIL, (int32_t)i,
			    "event %zu (EV_EFI_BOOT_SERVICES_APPLICATION, PCR %u): %s (%s:%s) is not on the boot-apps allowlist",
			    i, ev->pcr, desc, dg->alg->name, hex);
			return;
		}
	}
	res(r, POLICY_PASS, -1, "all %u boot application(s) are on the allowlist", n);
}

static void eval_log_integrity(const struct eventlog *log, struct policy_rule_result *r)
{
	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];
		const char *tn = eventlog_type_name(ev->type);
		const struct hash_alg *alg = hash_alg_by_id(ev->check_alg);

		if (ev->type == EV_SEPARATOR && eventlog_separator_kind(ev) == 1) {
			res(r, POLICY_FAIL, (int32_t)i,
			    "event %zu (EV_SEPARATOR, PCR %u): error separator: firmware failed to measure",
			    i, ev->pcr);
			return;
		}
		/* Every event whose digest the spec defines as the hash of its
		 * data must match, except EV_EFI_VARIABLE_AUTHORITY: real GCE and
		 * shim logs carry authority events that hash to none of the
		 * plausible ranges (docs/eventlog.md), and no rule reads them. */
		if (ev->check == EVENTLOG_CHECK_MISMATCH && ev->type != EV_EFI_VARIABLE_AUTHORITY) {
			res(r, POLICY_FAIL, (int32_t)i,
			    "event %zu (%s, PCR %u): the %s digest does not match the event data",
			    i, tn, ev->pcr, alg ? alg->name : "?");
			return;
		}
	}
	res(r, POLICY_PASS, -1, "event data matches its digests; no error separator");
}

static void eval_baseline(const struct policy *p, const struct eventlog *log,
			  struct policy_verdict *v, const struct baseline **ret_best,
			  struct policy_rule_result *r)
{
	struct baseline_diff best = { 0 };
	const struct baseline *bb = NULL;

	if (p->n_baselines == 0) {
		res(r, POLICY_FAIL, -1, "the policy has no baseline");
		return;
	}
	for (uint32_t i = 0; i < p->n_baselines; i++) {
		struct baseline_diff d;

		baseline_compare(p->baselines[i], log, &d);
		if (d.match) {
			v->baseline = p->baselines[i]->name;
			v->baseline_matched = true;
			*ret_best = p->baselines[i];
			res(r, POLICY_PASS, -1, "matches baseline %s (%u events)",
			    p->baselines[i]->name, d.matched);
			return;
		}
		if (!bb || d.matched > best.matched) {
			best = d;
			bb = p->baselines[i];
		}
	}
	v->baseline = bb->name;
	*ret_best = bb;
	res(r, POLICY_FAIL, best.log_index, "closest baseline %s: %s", bb->name, best.message);
}

static void eval_dbx(const struct baseline *b, const struct eventlog *log,
		     struct policy_rule_result *r)
{
	uint8_t (*dbx)[32] = NULL;
	uint32_t n = 0, missing = 0, first = 0;
	struct err e = { 0 };
	bool has;

	if (!b || !b->has_dbx) {
		res(r, POLICY_FAIL, -1, "no baseline with a recorded dbx to compare with");
		return;
	}
	if (baseline_collect_dbx(log, &has, &dbx, &n, &e) < 0) {
		res(r, POLICY_FAIL, -1, "%s", err_str(&e));
		return;
	}
	if (!has) {
		res(r, POLICY_FAIL, -1, "no dbx measurement with a valid digest in PCR 7");
		return;
	}
	for (uint32_t i = 0; i < b->n_dbx; i++)
		if (!bsearch(b->dbx[i], dbx, n, 32, baseline_cmp_sha256) &&
		    !missing++)
			first = i;
	free(dbx);
	if (missing) {
		char hex[65];

		res(r, POLICY_FAIL, -1,
		    "dbx has %u entries, %u of baseline %s's %u revocations are missing (first: sha256 %s)",
		    n, missing, b->name, b->n_dbx, hex_encode(b->dbx[first], 32, hex));
		return;
	}
	res(r, POLICY_PASS, -1, "dbx (%u entries) contains all %u revocations of baseline %s", n,
	    b->n_dbx, b->name);
}

int policy_evaluate(const struct policy *p, struct eventlog *log,
		    struct policy_verdict *v, struct err *e)
{
	int r = eventlog_check_digests(log, e);

	if (r < 0)
		return r;
	return policy_evaluate_checked(p, log, v, e);
}

int policy_evaluate_checked(const struct policy *p, const struct eventlog *log,
			    struct policy_verdict *v, struct err *e)
{
	struct cmdline *cl = NULL;
	const struct baseline *best = NULL;
	size_t ncl;

	memset(v, 0, sizeof(*v));
	if (collect_cmdlines(log, &cl, &ncl) < 0)
		return err_set(e, ENOMEM, "out of memory");
	for (int i = 0; i < _RULE_MAX; i++) {
		v->results[i].rule = (enum policy_rule_id)i;
		v->results[i].event = -1;
	}
	/* The baseline is evaluated even when disabled: dbx-current needs it. */
	eval_baseline(p, log, v, &best, &v->results[RULE_BASELINE]);
	eval_secure_boot(log, &v->results[RULE_SECURE_BOOT]);
	eval_boot_apps_measured(log, &v->results[RULE_BOOT_APPS_MEASURED]);
	eval_no_debug(log, cl, ncl, &v->results[RULE_NO_DEBUG]);
	eval_iommu(log, cl, ncl, &v->results[RULE_IOMMU]);
	eval_dbx(best, log, &v->results[RULE_DBX_CURRENT]);
	eval_cmdline(p, cl, ncl, &v->results[RULE_CMDLINE]);
	eval_boot_apps(p, log, &v->results[RULE_BOOT_APPS]);
	eval_log_integrity(log, &v->results[RULE_LOG_INTEGRITY]);
	cmdlines_free(cl, ncl);
	v->pass = true;
	for (int i = 0; i < _RULE_MAX; i++) {
		if (!p->enabled[i]) {
			v->results[i].status = POLICY_SKIPPED;
			continue;
		}
		if (v->results[i].status == POLICY_FAIL)
			v->pass = false;
	}
	return 0;
}

json_t *policy_verdict_to_json(const struct policy_verdict *v)
{
	json_t *o = json_object(), *arr = json_array(), *failed = json_array();

	json_object_set_new(o, "result", json_string(v->pass ? "pass" : "fail"));
	json_object_set_new(o, "baseline", v->baseline ? json_string(v->baseline) : json_null());
	json_object_set_new(o, "baseline_matched", json_boolean(v->baseline_matched));
	for (int i = 0; i < _RULE_MAX; i++) {
		const struct policy_rule_result *r = &v->results[i];
		json_t *x = json_object();

		json_object_set_new(x, "rule", json_string(rules[i].id));
		json_object_set_new(x, "status", json_string(policy_status_name(r->status)));
		json_object_set_new(x, "message", json_string(r->message));
		json_object_set_new(x, "event", r->event >= 0 ? json_integer(r->event) : json_null());
		json_array_append_new(arr, x);
		if (r->status == POLICY_FAIL)
			json_array_append_new(failed, json_string(rules[i].id));
	}
	json_object_set_new(o, "failed_rules", failed);
	json_object_set_new(o, "rules", arr);
	return o;
}
