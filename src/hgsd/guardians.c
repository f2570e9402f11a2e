/* SPDX-License-Identifier: Apache-2.0 */
/* hgsd's guardian keys: first-start creation, snapshots, unwrap
 * (guardians.h). */
#include "hgsd/guardians.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "hgsd/log.h"
#include "hgsd/sealed.h"

struct gkey {
	char id[STORE_GUARDIAN_ID_MAX + 1];
	bool enabled;
	bool primary;
	struct guardian *g; /* enabled keys only (private) */
};

struct guardian_set {
	struct gkey *keys;
	size_t n;
	json_t *metadata; /* the primary's signed metadata */
	const char *primary_id;
	unsigned refs; /* under the guardians lock */
	int64_t built_ms;
};

struct guardians {
	pthread_mutex_t lock;
	struct store *store;
	const struct kek *kek;
	struct guardian_set *cur;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_free(struct guardian_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		guardian_free(set->keys[i].g);
	free(set->keys);
	json_decref(set->metadata);
	free(set);
}

int guardian_row_new(const struct guardian *g, const struct kek *kek, bool primary,
		     struct store_guardian *row, struct err *e)
{
	char *text = NULL, aad[SEALED_AAD_MAX];
	int r;

	r = guardian_to_private_json(g, &text, e);
	if (r < 0)
		return r;
	sealed_row_aad(STORE_PRIVATE_GUARDIAN_KEY, g->id, aad);
	*row = (struct store_guardian){ .primary = primary, .enabled = true };
	r = kek_seal_text(kek, aad, text, &row->private_json, e);
	sealed_free_str(text);
	if (r < 0)
		return r;
	snprintf(row->id, sizeof(row->id), "%s", g->id);
	snprintf(row->name, sizeof(row->name), "%s", g->name);
	snprintf(row->algorithm, sizeof(row->algorithm), "%s",
		 guardian_alg_to_string(g->alg));
	return 0;
}

/* First start: agree on one key with every other node starting now. */
static int create_first(struct store *s, const struct kek *kek, struct err *e)
{
	_cleanup_(guardian_freep) struct guardian *cand = NULL, *won = NULL;
	struct store_guardian row = { 0 };
	char *text = NULL, *won_text = NULL;
	int r;

	r = guardian_generate(GUARDIANS_FIRST_NAME, GUARDIAN_EC_P256, &cand, e);
	if (r < 0)
		return r;
	r = guardian_to_private_json(cand, &text, e);
	if (r < 0)
		return r;
	r = sealed_offer_first(s, kek, GUARDIANS_FIRST_SETTING, text, "{", &won_text, e);
	sealed_free_str(text);
	if (r <= 0)
		return r;
	r = guardian_from_private_json(won_text, strlen(won_text), &won, e);
	sealed_free_str(won_text);
	if (r < 0) {
		err_prefix(e, "setting %s", GUARDIANS_FIRST_SETTING);
		return r;
	}
	r = guardian_row_new(won, kek, true, &row, e);
	if (r < 0)
		return r;
	row.created = time(NULL);
	r = store_guardian_add(s, &row, e);
	store_guardian_clear(&row);
	if (r < 0 && r != -EEXIST)
		return r;
	/* Everyone writes the same id: the private key leaves the settings. */
	r = store_setting_put(s, GUARDIANS_FIRST_SETTING,
			      (const uint8_t *)won->id, strlen(won->id), e);
	if (r < 0)
		return r;
	log_event(LOG_LEVEL_INFO, NULL, "guardian_key_created", "{s:s, s:s}",
		  "id", won->id, "algorithm", guardian_alg_to_string(won->alg));
	return 0;
}

/* A snapshot from the rows. */
static int set_build(const struct kek *kek, struct store_guardian *v, size_t n,
		     struct guardian_set **ret, struct err *e)
{
	struct guardian_set *set = calloc(1, sizeof(*set));
	const struct guardian *primary = NULL;
	char *meta = NULL;
	int r;

	if (!set)
		return err_set(e, ENOMEM, "out of memory");
	set->keys = calloc(n ? n : 1, sizeof(*set->keys));
	if (!set->keys) {
		free(set);
		return err_set(e, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		struct gkey *k = &set->keys[set->n];

		snprintf(k->id, sizeof(k->id), "%s", v[i].id);
		k->enabled = v[i].enabled;
		k->primary = v[i].primary;
		set->n++;
		if (!v[i].enabled)
			continue; /* a disabled key releases nothing */
		r = guardian_open_row(kek, &v[i], &k->g, NULL, NULL, e);
		if (r < 0) {
			err_prefix(e, "guardian key %s", v[i].id);
			set_free(set);
			return r;
		}
		if (!streq(k->g->id, k->id)) {
			set_free(set);
			return err_set(e, EBADMSG,
				       "guardian key %s: the stored key has id %s",
				       v[i].id, k->g->id);
		}
		if (k->primary && !primary) {
			primary = k->g;
			set->primary_id = k->id;
		}
	}
	if (!primary) {
		set_free(set);
		return err_set(e, ENOKEY,
			       "no enabled primary guardian key in the store");
	}
	r = guardian_metadata(primary, &meta, e);
	if (r < 0) {
		set_free(set);
		return r;
	}
	set->metadata = json_loads(meta, JSON_REJECT_DUPLICATES, NULL);
	free(meta);
	if (!json_is_object(set->metadata)) {
		set_free(set);
		return err_set(e, EBADMSG,
			       "guardian metadata is not a JSON object");
	}
	*ret = set;
	return 0;
}

int guardian_open_row(const struct kek *kek, const struct store_guardian *row,
		      struct guardian **ret, char **ret_text, bool *ret_sealed, struct err *e)
{
	char aad[SEALED_AAD_MAX], *text = NULL;
	bool was_sealed = false;
	int r;

	sealed_row_aad(STORE_PRIVATE_GUARDIAN_KEY, row->id, aad);
	r = kek_open_text(kek, aad, row->private_json, &text, &was_sealed, e);
	if (r < 0)
		return r;
	r = guardian_from_private_json(text, strlen(text), ret, e);
	if (r >= 0 && ret_text)
		*ret_text = TAKE_PTR(text);
	sealed_free_str(text);
	if (ret_sealed)
		*ret_sealed = was_sealed;
	return r;
}

static int load(struct store *s, const struct kek *kek, struct guardian_set **ret,
		struct err *e)
{
	struct store_guardian *v = NULL;
	size_t n = 0;
	int r;

	r = store_guardian_list(s, true, &v, &n, e);
	if (r < 0)
		return r;
	r = set_build(kek, v, n, ret, e);
	store_guardians_free(v, n);
	return r;
}

/* Seal, in the store, every private key stored before the KEK was
 * configured (disabled ones too); another node doing the same at once is
 * not an error. Every row is opened on the way: a start with the wrong KEK
 * stops here, naming the key. */
static int seal_stored(struct store *s, const struct kek *kek, unsigned *count, struct err *e)
{
	struct store_guardian *v = NULL;
	size_t n = 0;
	int r;

	r = store_guardian_list(s, true, &v, &n, e);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		_cleanup_(guardian_freep) struct guardian *gd = NULL;
		char *text = NULL;
		bool was_sealed = false;

		r = guardian_open_row(kek, &v[i], &gd, &text, &was_sealed, e);
		if (r < 0) {
			err_prefix(e, "guardian key %s", v[i].id);
			break;
		}
		if (!was_sealed && kek)
			r = sealed_replace_row(s, kek, STORE_PRIVATE_GUARDIAN_KEY, v[i].id,
					       v[i].private_json, text, count, e);
		sealed_free_str(text);
	}
	store_guardians_free(v, n);
	return r < 0 ? r : 0;
}

int guardians_new(struct store *s, const struct kek *kek, struct guardians **ret,
		  unsigned *ret_sealed, struct err *e)
{
	struct guardians *g;
	struct store_guardian *v = NULL;
	size_t n = 0;
	int r;

	*ret_sealed = 0;
	r = store_guardian_list(s, false, &v, &n, e);
	if (r < 0)
		return r;
	store_guardians_free(v, n);
	if (n == 0) {
		r = create_first(s, kek, e);
		if (r < 0)
			return r;
	}
	r = seal_stored(s, kek, ret_sealed, e);
	if (r < 0)
		return r;
	g = calloc(1, sizeof(*g));
	if (!g)
		return err_set(e, ENOMEM, "out of memory");
	pthread_mutex_init(&g->lock, NULL);
	g->store = s;
	g->kek = kek;
	r = load(s, kek, &g->cur, e);
	if (r < 0) {
		guardians_free(g);
		return r;
	}
	g->cur->refs = 1;
	g->cur->built_ms = now_ms();
	*ret = g;
	return 0;
}

void guardians_free(struct guardians *g)
{
	if (!g)
		return;
	set_free(g->cur);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

/* Does the key table (ids, enabled, primary) still say what set does? */
static bool set_current(const struct guardian_set *set,
			const struct store_guardian *v, size_t n)
{
	if (!set || set->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!streq(set->keys[i].id, v[i].id) ||
		    set->keys[i].enabled != v[i].enabled ||
		    set->keys[i].primary != v[i].primary)
			return false;
	return true;
}

int guardians_get(struct guardians *g, struct guardian_set **ret, struct err *e)
{
	struct guardian_set *stale = NULL, *fresh = NULL;
	struct store_guardian *v = NULL;
	int64_t t = now_ms();
	size_t n = 0;
	bool same;
	int r;

	pthread_mutex_lock(&g->lock);
	if (g->cur && t - g->cur->built_ms < GUARDIANS_TTL_MS) {
		g->cur->refs++;
		*ret = g->cur;
		pthread_mutex_unlock(&g->lock);
		return 0;
	}
	/* Re-read under the lock: one store read per TTL, not per thread.
	 * First without the secrets: when nothing changed (the usual case)
	 * the snapshot is kept, keys and metadata signature included. */
	r = store_guardian_list(g->store, false, &v, &n, e);
	if (r < 0) {
		pthread_mutex_unlock(&g->lock);
		return r;
	}
	same = set_current(g->cur, v, n);
	store_guardians_free(v, n);
	if (same) {
		g->cur->built_ms = t;
		g->cur->refs++;
		*ret = g->cur;
		pthread_mutex_unlock(&g->lock);
		return 0;
	}
	r = load(g->store, g->kek, &fresh, e);
	if (r < 0) {
		pthread_mutex_unlock(&g->lock);
		return r;
	}
	fresh->built_ms = t;
	fresh->refs = 2; /* the cache's and the caller's */
	if (g->cur && --g->cur->refs == 0)
		stale = g->cur;
	g->cur = fresh;
	*ret = fresh;
	pthread_mutex_unlock(&g->lock);
	set_free(stale);
	return 0;
}

void guardians_put(struct guardians *g, struct guardian_set *set)
{
	bool last;

	if (!set)
		return;
	pthread_mutex_lock(&g->lock);
	last = --set->refs == 0;
	pthread_mutex_unlock(&g->lock);
	if (last)
		set_free(set);
}

void guardians_invalidate(struct guardians *g)
{
	pthread_mutex_lock(&g->lock);
	if (g->cur)
		g->cur->built_ms = INT64_MIN / 2;
	pthread_mutex_unlock(&g->lock);
}

const json_t *guardian_set_metadata(const struct guardian_set *set)
{
	return set->metadata;
}

const char *guardian_set_primary_id(const struct guardian_set *set)
{
	return set->primary_id;
}

int guardian_set_unwrap(const struct guardian_set *set, const struct kp *kp,
			uint8_t tk[KP_TK_SIZE], const struct guardian **ret_key,
			struct err *e)
{
	bool disabled = false, tried = false;
	struct err last = { 0 };

	for (size_t i = 0; i < set->n; i++) {
		const struct gkey *k = &set->keys[i];
		int r;

		if (!kp_has_recipient(kp, k->id))
			continue;
		if (!k->enabled) {
			disabled = true;
			continue;
		}
		tried = true;
		last = (struct err){ 0 };
		r = kp_unwrap(kp, k->g, tk, &last);
		if (r == 0) {
			*ret_key = k->g;
			return 0;
		}
		OPENSSL_cleanse(tk, KP_TK_SIZE);
	}
	if (tried)
		return err_set(e, EKEYREJECTED, "%s", err_str(&last));
	if (disabled)
		return err_set(e, EKEYREVOKED,
			       "the KP is wrapped only for disabled guardian "
			       "keys of this service");
	return err_set(e, ENOKEY,
		       "the KP has no recipient for a guardian key of this "
		       "service");
}
