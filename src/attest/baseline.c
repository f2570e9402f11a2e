/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/baseline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/eventlog_decode.h"
#include "common/hex.h"
#include "common/util.h"

void baseline_free(struct baseline *b)
{
	if (!b)
		return;
	for (unsigned p = 0; p < EVENTLOG_NUM_PCRS; p++) {
		for (uint32_t i = 0; i < b->pcrs[p].n_events; i++)
			free(b->pcrs[p].events[i].description);
		free(b->pcrs[p].events);
	}
	free(b->dbx);
	free(b->name);
	free(b->source);
	free(b);
}
DEFINE_CLEANUP_FUNC(struct baseline, baseline_free)

int baseline_cmp_sha256(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* Truncating message writer (a function, so truncation is deliberate). */
static void msgf(char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void msgf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}

struct dbx_acc {
	uint8_t (*v)[32];
	uint32_t n, cap;
};

static int dbx_add(const uint8_t type[16], const uint8_t owner[16],
		   const uint8_t *data, size_t len, void *userdata)
{
	struct dbx_acc *a = userdata;

	if (a->n == a->cap) {
		uint32_t ncap = a->cap ? a->cap * 2 : 64;
		uint8_t (*nv)[32] = reallocarray(a->v, ncap, 32);

		if (!nv || ncap > 1u << 20)
			return -ENOMEM;
		a->v = nv;
		a->cap = ncap;
	}
	if (hash_digest(hash_alg_by_id(TPM_ALG_SHA256), data, len, a->v[a->n]) < 0)
		return -EIO;
	a->n++;
	return 0;
}

int baseline_collect_dbx(const struct eventlog *log, bool *ret_has,
			 uint8_t (**ret)[32], uint32_t *ret_n, struct err *e)
{
	*ret_has = false;
	*ret = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];
		struct efi_variable v;
		struct dbx_acc acc = { 0 };
		int r;

		if (ev->pcr != 7 || ev->type != EV_EFI_VARIABLE_DRIVER_CONFIG ||
		    ev->check == EVENTLOG_CHECK_MISMATCH)
			continue;
		if (efi_variable_parse(ev->data, ev->data_len, &v) < 0 ||
		    !streq(v.name, "dbx") ||
		    memcmp(v.guid, efi_guid_image_security_db, 16) != 0)
			continue;
		r = efi_siglist_walk(v.data, v.data_len, dbx_add, &acc);
		if (r < 0) {
			free(acc.v);
			return err_set(e, -r == ENOMEM ? ENOMEM : EBADMSG,
				       "event %zu (dbx, PCR 7): malformed signature list",
				       i);
		}
		if (acc.n)
			qsort(acc.v, acc.n, 32, baseline_cmp_sha256);
		free(*ret);
		*ret = acc.v;
		*ret_n = acc.n;
		*ret_has = true;
	}
	return 0;
}

static int add_event(struct baseline_pcr *bp, const struct eventlog_event *ev,
		     const struct eventlog_digest *d)
{
	struct baseline_event *n = reallocarray(bp->events, bp->n_events + 1u,
						 sizeof(*n));
	char desc[EVENTLOG_MAX_DESCRIPTION];

	if (!n)
		return -ENOMEM;
	bp->events = n;
	n = &bp->events[bp->n_events];
	memset(n, 0, sizeof(*n));
	n->type = ev->type;
	memcpy(n->digest, d->bytes, d->alg->size);
	eventlog_event_describe(ev, desc, sizeof(desc));
	n->description = strdup(desc);
	if (!n->description)
		return -ENOMEM;
	bp->n_events++;
	return 0;
}

int baseline_capture(const struct eventlog *log, const char *name,
		     const char *source, const struct hash_alg *alg,
		     uint32_t pcr_mask, struct baseline **ret, struct err *e)
{
	_cleanup_(baseline_freep) struct baseline *b = NULL;
	int r;

	if (!name || !name[0])
		return err_set(e, EINVAL, "a baseline needs a name");
	if (!alg)
		alg = eventlog_best_alg(log);
	if (!alg)
		return err_set(e, EINVAL, "the log has no bank that covers every event");
	if (!pcr_mask || pcr_mask >> EVENTLOG_NUM_PCRS)
		return err_set(e, EINVAL, "no valid PCR selected for the baseline");
	b = calloc(1, sizeof(*b));
	if (!b)
		return err_set(e, ENOMEM, "out of memory");
	b->name = strdup(name);
	b->source = strdup(source ? source : "");
	if (!b->name || !b->source)
		return err_set(e, ENOMEM, "out of memory");
	b->alg = alg;
	b->pcr_mask = pcr_mask;
	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];
		const struct eventlog_digest *d;

		if (ev->type == EV_NO_ACTION || !(pcr_mask & (1u << ev->pcr)))
			continue;
		d = eventlog_event_digest(ev, alg->tpm_id);
		if (!d)
			return err_set(e, EINVAL, "event %zu (PCR %u) has no %s digest",
				       i, ev->pcr, alg->name);
		r = add_event(&b->pcrs[ev->pcr], ev, d);
		if (r < 0)
			return err_set(e, -r, "out of memory");
	}
	r = baseline_collect_dbx(log, &b->has_dbx, &b->dbx, &b->n_dbx, e);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(b);
	return 0;
}

json_t *baseline_to_json(const struct baseline *b)
{
	json_t *o = json_object(), *pcrs = json_object();

	json_object_set_new(o, "name", json_string(b->name));
	json_object_set_new(o, "source", json_string(b->source));
	json_object_set_new(o, "bank", json_string(b->alg->name));
	for (unsigned p = 0; p < EVENTLOG_NUM_PCRS; p++) {
		json_t *arr;
		char key[4];

		if (!(b->pcr_mask & (1u << p)))
			continue;
		arr = json_array();
		for (uint32_t i = 0; i < b->pcrs[p].n_events; i++) {
			const struct baseline_event *be = &b->pcrs[p].events[i];
			const char *tn = eventlog_type_name(be->type);
			char hex[2 * EVENTLOG_MAX_DIGEST + 1];
			json_t *ev = json_object();

			json_object_set_new(ev, "type", json_integer(be->type));
			if (tn)
				json_object_set_new(ev, "type_name", json_string(tn));
			json_object_set_new(ev, "digest",
					    json_string(hex_encode(be->digest, b->alg->size, hex)));
			json_object_set_new(ev, "description", json_string(be->description));
			json_array_append_new(arr, ev);
		}
		snprintf(key, sizeof(key), "%u", p);
		json_object_set_new(pcrs, key, arr);
	}
	json_object_set_new(o, "pcrs", pcrs);
	if (b->has_dbx) {
		json_t *arr = json_array();

		for (uint32_t i = 0; i < b->n_dbx; i++) {
			char hex[65];

			json_array_append_new(arr, json_string(hex_encode(b->dbx[i], 32, hex)));
		}
		json_object_set_new(o, "dbx_sha256", arr);
	}
	return o;
}

static int parse_pcr_key(const char *key, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(key, &end, 10);
	if (errno || end == key || *end || v >= EVENTLOG_NUM_PCRS || key[0] == '-' ||
	    key[0] == '+' || (key[0] == '0' && key[1]))
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

int baseline_from_json(const json_t *j, struct baseline **ret, struct err *e)
{
	_cleanup_(baseline_freep) struct baseline *b = NULL;
	const json_t *pcrs, *dbx, *arr;
	const char *key;

	if (!json_is_object(j))
		return err_set(e, EINVAL, "baseline: not a JSON object");
	b = calloc(1, sizeof(*b));
	if (!b)
		return err_set(e, ENOMEM, "out of memory");
	if (!json_is_string(json_object_get(j, "name")) ||
	    !json_string_length(json_object_get(j, "name")))
		return err_set(e, EINVAL, "baseline: missing \"name\"");
	b->name = strdup(json_string_value(json_object_get(j, "name")));
	b->source = strdup(json_is_string(json_object_get(j, "source"))
				   ? json_string_value(json_object_get(j, "source"))
				   : "");
	if (!b->name || !b->source)
		return err_set(e, ENOMEM, "out of memory");
	if (!json_is_string(json_object_get(j, "bank")) ||
	    !(b->alg = hash_alg_by_name(json_string_value(json_object_get(j, "bank")))))
		return err_set(e, EINVAL, "baseline %s: missing or unknown \"bank\"", b->name);
	pcrs = json_object_get(j, "pcrs");
	if (!json_is_object(pcrs) || json_object_size(pcrs) == 0)
		return err_set(e, EINVAL, "baseline %s: missing \"pcrs\"", b->name);
	json_object_foreach((json_t *)pcrs, key, arr) {
		unsigned p;
		size_t i;
		json_t *ev;

		if (parse_pcr_key(key, &p) < 0)
			return err_set(e, EINVAL, "baseline %s: bad PCR index \"%s\"",
				       b->name, key);
		if (!json_is_array(arr) || json_array_size(arr) > EVENTLOG_MAX_EVENTS)
			return err_set(e, EINVAL, "baseline %s: PCR %u is not an event array",
				       b->name, p);
		b->pcr_mask |= 1u << p;
		b->pcrs[p].events = calloc(json_array_size(arr) + 1, sizeof(struct baseline_event));
		if (!b->pcrs[p].events)
			return err_set(e, ENOMEM, "out of memory");
		json_array_foreach(arr, i, ev) {
			struct baseline_event *be = &b->pcrs[p].events[i];
			json_t *type = json_object_get(ev, "type");
			json_t *dig = json_object_get(ev, "digest");
			json_t *desc = json_object_get(ev, "description");

			if (!json_is_integer(type) || json_integer_value(type) < 0 ||
			    json_integer_value(type) > UINT32_MAX || !json_is_string(dig) ||
			    hex_decode(json_string_value(dig), be->digest, sizeof(be->digest)) !=
				    (int)b->alg->size)
				return err_set(e, EINVAL,
					       "baseline %s: PCR %u event %zu: bad type or %s digest",
					       b->name, p, i, b->alg->name);
			be->type = (uint32_t)json_integer_value(type);
			be->description = strdup(json_is_string(desc) ? json_string_value(desc) : "");
			if (!be->description)
				return err_set(e, ENOMEM, "out of memory");
			b->pcrs[p].n_events++;
		}
	}
	dbx = json_object_get(j, "dbx_sha256");
	if (dbx) {
		size_t i;
		json_t *v;

		if (!json_is_array(dbx) || json_array_size(dbx) > (1u << 20))
			return err_set(e, EINVAL, "baseline %s: bad \"dbx_sha256\"", b->name);
		b->dbx = calloc(json_array_size(dbx) + 1, 32);
		if (!b->dbx)
			return err_set(e, ENOMEM, "out of memory");
		json_array_foreach(dbx, i, v) {
			if (!json_is_string(v) ||
			    hex_decode(json_string_value(v), b->dbx[i], 32) != 32)
				return err_set(e, EINVAL, "baseline %s: dbx entry %zu is not a SHA-256",
					       b->name, i);
		}
		b->n_dbx = (uint32_t)json_array_size(dbx);
		qsort(b->dbx, b->n_dbx, 32, baseline_cmp_sha256);
		b->has_dbx = true;
	}
	*ret = TAKE_PTR(b);
	return 0;
}

static void type_str(uint32_t type, char *buf, size_t n)
{
	const char *tn = eventlog_type_name(type);

	if (tn)
		snprintf(buf, n, "%s", tn);
	else
		snprintf(buf, n, "0x%08x", type);
}

int baseline_compare(const struct baseline *b, const struct eventlog *log,
		     struct baseline_diff *ret)
{
	uint32_t pos[EVENTLOG_NUM_PCRS] = { 0 };
	bool diverged[EVENTLOG_NUM_PCRS] = { false };

	memset(ret, 0, sizeof(*ret));
	ret->match = true;
	ret->log_index = -1;
	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];
		const struct eventlog_digest *d;
		const struct baseline_pcr *bp;
		const struct baseline_event *be;
		char desc[EVENTLOG_MAX_DESCRIPTION], t1[40], t2[40];

		if (ev->type == EV_NO_ACTION || !(b->pcr_mask & (1u << ev->pcr)) ||
		    diverged[ev->pcr])
			continue;
		bp = &b->pcrs[ev->pcr];
		d = eventlog_event_digest(ev, b->alg->tpm_id);
		if (pos[ev->pcr] < bp->n_events) {
			be = &bp->events[pos[ev->pcr]];
			if (d && be->type == ev->type &&
			    memcmp(be->digest, d->bytes, b->alg->size) == 0) {
				pos[ev->pcr]++;
				ret->matched++;
				continue;
			}
		}
		diverged[ev->pcr] = true;
		if (!ret->match)
			continue;
		ret->match = false;
		ret->pcr = ev->pcr;
		ret->pos = pos[ev->pcr];
		ret->log_index = (int32_t)i;
		eventlog_event_describe(ev, desc, sizeof(desc));
		type_str(ev->type, t1, sizeof(t1));
		if (pos[ev->pcr] >= bp->n_events) {
			msgf(ret->message, sizeof(ret->message),
				 "PCR %u: event %zu (%s: %s) is not in baseline %s, which ends after %u event(s) in this PCR",
				 ev->pcr, i, t1, desc, b->name, bp->n_events);
		} else if (!d) {
			msgf(ret->message, sizeof(ret->message),
				 "PCR %u: event %zu (%s: %s) has no %s digest, baseline %s needs one",
				 ev->pcr, i, t1, desc, b->alg->name, b->name);
		} else {
			char he[17], hf[17];

			be = &bp->events[pos[ev->pcr]];
			type_str(be->type, t2, sizeof(t2));
			hex_encode(be->digest, 8, he);
			hex_encode(d->bytes, 8, hf);
			msgf(ret->message, sizeof(ret->message),
				 "PCR %u, event %zu: baseline %s expects %s %s (%s:%s..), found %s %s (%s:%s..)",
				 ev->pcr, i, b->name, t2, be->description, b->alg->name, he,
				 t1, desc, b->alg->name, hf);
		}
	}
	/* Events the baseline has that the log never measured. */
	for (unsigned p = 0; p < EVENTLOG_NUM_PCRS; p++) {
		const struct baseline_pcr *bp = &b->pcrs[p];
		char t[40];

		if (!(b->pcr_mask & (1u << p)) || diverged[p] || pos[p] >= bp->n_events)
			continue;
		if (!ret->match)
			continue;
		ret->match = false;
		ret->pcr = p;
		ret->pos = pos[p];
		ret->log_index = -1;
		type_str(bp->events[pos[p]].type, t, sizeof(t));
		msgf(ret->message, sizeof(ret->message),
			 "PCR %u: the log ends after %u event(s), baseline %s expects %s %s next",
			 p, pos[p], b->name, t, bp->events[pos[p]].description);
	}
	return 0;
}
