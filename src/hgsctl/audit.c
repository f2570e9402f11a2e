/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsctl audit list [--host N] [--since T] [--limit N]: hgsd's audit
 * records, newest first (GET /v1/admin/audit). T is Unix seconds, an ISO
 * 8601 date or date and time, or an age like 1h, 30m, 7d.
 * hgsctl audit verify [--anchor ID:CHAIN]: the audit hash chain checked
 * over every record (GET /v1/admin/audit/verify); exit 1 when it is broken
 * or does not contain the anchor.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/limits.h"
#include "common/util.h"
#include "hgsctl/hgsctl.h"
#include "hgsctl/table.h"

/* A details cell is cut here (--json shows all of it). */
#define AUDIT_DETAILS_MAX 240u

static void audit_usage(FILE *f)
{
	fprintf(f,
		"Usage: hgsctl audit list [--host NAME] [--since TIME] [--limit N] [--json]\n"
		"       hgsctl audit verify [--anchor ID:CHAIN] [--json]\n"
		"\n"
		"list: hgsd's audit records (attestations and admin changes), newest first.\n"
		"  --host NAME   records of this host only\n"
		"  --since TIME  records at or after TIME: Unix seconds (1763805600), an ISO\n"
		"                8601 date or date and time (2026-11-22, 2026-11-22T10:00:00Z,\n"
		"                2026-11-22T10:00+01:00; without a zone: local time), or an\n"
		"                age: N followed by s, m, h, d or w (30m, 1h, 7d)\n"
		"  --limit N     at most N records, 1-%u (default %u)\n"
		"  --json        print hgsd's JSON\n"
		"verify: recompute the hash chain over every audit record; exit 1 if a\n"
		"record was changed, removed or reordered, or if the anchor does not match.\n"
		"  --anchor ID:CHAIN  a head hgsd logged earlier (event audit_head: id and\n"
		"                     chain): the records up to it must be the same now\n",
		HGSD_AUDIT_MAX_LIMIT, HGSD_AUDIT_DEFAULT_LIMIT);
}

/* n decimal digits at *p, advancing it; -1 if they are not there. */
static int digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

/* YYYY-MM-DD[(T| )HH:MM[:SS]][Z|(+|-)HH[:]MM] */
static int parse_iso8601(const char *s, int64_t *ret)
{
	const char *p = s;
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
	bool zone = false;
	time_t t;

	if ((y = digits(&p, 4)) < 0 || *p++ != '-' ||
	    (mo = digits(&p, 2)) < 0 || *p++ != '-' || (d = digits(&p, 2)) < 0)
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if ((h = digits(&p, 2)) < 0 || *p++ != ':' ||
		    (mi = digits(&p, 2)) < 0)
			return -EINVAL;
		if (*p == ':' && (p++, (sec = digits(&p, 2)) < 0))
			return -EINVAL;
		if (*p == 'Z' || *p == 'z') {
			zone = true;
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om;

			if ((oh = digits(&p, 2)) < 0)
				return -EINVAL;
			if (*p == ':')
				p++;
			if ((om = digits(&p, 2)) < 0 || oh > 23 || om > 59)
				return -EINVAL;
			off = sign * (oh * 3600 + om * 60);
			zone = true;
		}
	}
	if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 59)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	tm.tm_isdst = -1;
	t = zone ? timegm(&tm) : mktime(&tm);
	/* both normalise: 2026-02-30 would come back as March 2 */
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -EINVAL;
	*ret = (int64_t)t - off;
	return *ret < 0 ? -ERANGE : 0;
}

/* Unix seconds, ISO 8601, or an age before now. */
static int parse_since(const char *s, int64_t now, int64_t *ret)
{
	static const struct {
		char unit;
		int64_t seconds;
	} units[] = { { 's', 1 },
		      { 'm', 60 },
		      { 'h', 3600 },
		      { 'd', 86400 },
		      { 'w', 604800 } };
	size_t n = strspn(s, "0123456789");
	char *end;
	long long v;

	if (n == 0 || n > 18) /* 18 digits cannot overflow int64 */
		return n > 18 && !s[n] ? -ERANGE : parse_iso8601(s, ret);
	if (s[n] == '\0' || (s[n + 1] == '\0' && strchr("smhdw", s[n]))) {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno || end != s + n)
			return -EINVAL;
		if (s[n] == '\0') {
			*ret = v;
			return 0;
		}
		for (size_t i = 0; i < ARRAY_SIZE(units); i++)
			if (units[i].unit == s[n]) {
				if (v > now / units[i].seconds)
					return -ERANGE; /* before 1970 */
				*ret = now - v * units[i].seconds;
				return 0;
			}
		return -EINVAL;
	}
	return parse_iso8601(s, ret);
}

static int parse_limit(const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v > HGSD_AUDIT_MAX_LIMIT)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* "op=host-add status=201 peer_uid=0": the details object on one line. */
static void details_str(const json_t *d, char *buf, size_t size)
{
	const char *key;
	json_t *v;
	size_t n = 0;

	buf[0] = '\0';
	if (!json_is_object(d)) {
		char *s = d ? json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY) :
			      NULL;

		snprintf(buf, size, "%s", s ? s : "-");
		free(s);
		return;
	}
	json_object_foreach((json_t *)d, key, v) {
		char *s = NULL;
		int w;

		if (streq(key, "rid"))
			continue; /* request id: in --json */
		if (!json_is_string(v))
			s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		w = snprintf(buf + n, size - n, "%s%s=%s", n ? " " : "", key,
			     json_is_string(v) ? json_string_value(v) :
			     s		       ? s :
						 "?");
		free(s);
		if (w < 0 || (size_t)w >= size - n) {
			if (size > 4)
				memcpy(buf + size - 4, "...", 4);
			return;
		}
		n += (size_t)w;
	}
	if (!buf[0])
		snprintf(buf, size, "-");
}

static int audit_row(struct table *t, const json_t *rec)
{
	char id[24], when[HGSCTL_TIME_MAX], details[AUDIT_DETAILS_MAX];
	const char *hn = hgsctl_json_str(rec, "host", NULL);
	const char *cells[6];

	snprintf(id, sizeof(id), "%lld",
		 (long long)hgsctl_json_int(rec, "id", 0));
	details_str(json_object_get(rec, "details"), details, sizeof(details));
	cells[0] = id;
	cells[1] = hgsctl_format_time(hgsctl_json_int(rec, "time", 0), when,
				      sizeof(when));
	cells[2] = hn && hn[0] ? hn : "-";
	cells[3] = hgsctl_json_str(rec, "action", "?");
	cells[4] = hgsctl_json_str(rec, "result", "?");
	cells[5] = details;
	return table_add(t, cells);
}

static int audit_list(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		HGSCTL_OPTS_END,
	};
	static const char *const headers[] = { "ID",	 "TIME",   "HOST",
					       "ACTION", "RESULT", "DETAILS" };
	const char *host = NULL;
	int64_t since = -1;
	unsigned limit = 0;
	char path[HGSD_NAME_MAX + 128];
	size_t n;
	int c, r, w;

	optind = 0;
	while ((c = hgsctl_getopt(ctx, "audit list", audit_usage, argc, argv,
				  opts, &r)) > 0) {
		switch (c) {
		case 'H':
			if (!hgsctl_name_valid(optarg)) {
				hgsctl_error("audit list",
					     "--host '%s': expected 1-%u of A-Z a-z 0-9 . _ -, not starting with . or -",
					     optarg, HGSD_NAME_MAX);
				return HGSCTL_EXIT_USAGE;
			}
			host = optarg;
			break;
		case 's':
			r = parse_since(optarg, (int64_t)time(NULL), &since);
			if (r < 0) {
				hgsctl_error(
					"audit list",
					r == -ERANGE ?
						"--since '%s': out of range (before 1970 or too large)" :
						"--since '%s': expected Unix seconds, an ISO 8601 date or date and time (2026-11-22, 2026-11-22T10:00:00Z) or an age (30m, 1h, 7d)",
					optarg);
				return HGSCTL_EXIT_USAGE;
			}
			break;
		case 'l':
			if (parse_limit(optarg, &limit) < 0) {
				hgsctl_error("audit list",
					     "--limit '%s': expected an integer in [1, %u]",
					     optarg, HGSD_AUDIT_MAX_LIMIT);
				return HGSCTL_EXIT_USAGE;
			}
			break;
		}
	}
	if (c < 0)
		return r;

	/* host is a checked name and the rest are digits: nothing to escape */
	n = (size_t)snprintf(path, sizeof(path), "/v1/admin/audit");
	if (host) {
		w = snprintf(path + n, sizeof(path) - n, "%shost=%s", "?",
			     host);
		n += (size_t)w;
	}
	if (since >= 0) {
		w = snprintf(path + n, sizeof(path) - n, "%ssince=%" PRId64,
			     host ? "&" : "?", since);
		n += (size_t)w;
	}
	if (limit) {
		w = snprintf(path + n, sizeof(path) - n, "%slimit=%u",
			     host || since >= 0 ? "&" : "?", limit);
		n += (size_t)w;
	}
	if (n >= sizeof(path))
		return HGSCTL_EXIT_USAGE;

	return hgsctl_list(ctx, "audit list", path, "records",
			   "no audit records", headers, ARRAY_SIZE(headers),
			   audit_row);
}

static int audit_verify(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "anchor", required_argument, NULL, 'a' },
		HGSCTL_OPTS_END,
	};
	const char *anchor = NULL;
	char path[256];
	json_t *ans = NULL, *head, *anc;
	bool intact;
	int c, r;

	optind = 0;
	while ((c = hgsctl_getopt(ctx, "audit verify", audit_usage, argc, argv, opts, &r)) > 0) {
		if (c == 'a') {
			size_t n = strspn(optarg, "0123456789");

			/* ID:CHAIN, checked here so it cannot change the path */
			if (n == 0 || n > 19 || optarg[n] != ':' ||
			    strlen(optarg + n + 1) != 64 ||
			    strspn(optarg + n + 1, "0123456789abcdef") != 64) {
				hgsctl_error("audit verify",
					     "--anchor '%s': expected ID:CHAIN, a record id and 64 "
					     "lowercase hex digits (hgsd's audit_head event)",
					     optarg);
				return HGSCTL_EXIT_USAGE;
			}
			anchor = optarg;
		}
	}
	if (c < 0)
		return r;
	snprintf(path, sizeof(path), "/v1/admin/audit/verify%s%s", anchor ? "?anchor=" : "",
		 anchor ? anchor : "");
	r = hgsctl_call(ctx, "GET", path, NULL, &ans);
	if (r != HGSCTL_EXIT_OK)
		return r;
	intact = hgsctl_json_bool(ans, "intact", false);
	if (ctx->json) {
		r = hgsctl_print_json(ans);
		json_decref(ans);
		return r ? r : intact ? HGSCTL_EXIT_OK : HGSCTL_EXIT_REFUSED;
	}
	head = json_object_get(ans, "head");
	anc = json_object_get(ans, "anchor");
	printf("%" PRId64 " audit records, %" PRId64 " without a chain (from before the chain, "
	       "or by an older node)\n",
	       hgsctl_json_int(ans, "records", 0), hgsctl_json_int(ans, "unchained", 0));
	if (hgsctl_json_int(head, "id", 0))
		printf("head: %" PRId64 ":%s\n", hgsctl_json_int(head, "id", 0),
		       hgsctl_json_str(head, "chain", ""));
	if (json_is_integer(json_object_get(ans, "broken_at")))
		printf("BROKEN at record %" PRId64
		       ": it, or one before it, was changed, removed or reordered\n",
		       hgsctl_json_int(ans, "broken_at", 0));
	if (anc && !hgsctl_json_bool(anc, "found", false))
		printf("ANCHOR record %" PRId64 " is gone: records were removed\n",
		       hgsctl_json_int(anc, "id", 0));
	else if (anc && !hgsctl_json_bool(anc, "matches", false))
		printf("ANCHOR record %" PRId64 " has another chain now: records up to it were "
		       "rewritten\n",
		       hgsctl_json_int(anc, "id", 0));
	else if (anc)
		printf("anchor %" PRId64 ": matches\n", hgsctl_json_int(anc, "id", 0));
	printf("%s\n", intact ? "intact" : "NOT intact");
	json_decref(ans);
	return intact ? HGSCTL_EXIT_OK : HGSCTL_EXIT_REFUSED;
}

int cmd_audit(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct hgsctl_cmd verbs[] = {
		{ "list", audit_list, "list audit records" },
		{ "verify", audit_verify, "check the audit hash chain" },
	};

	return hgsctl_dispatch(ctx, "audit", verbs, ARRAY_SIZE(verbs),
			       audit_usage, argc, argv);
}
