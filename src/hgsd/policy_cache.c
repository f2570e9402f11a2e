/* SPDX-License-Identifier: Apache-2.0 */
#include "hgsd/policy_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "attest/baseline.h"
#include "common/util.h"

struct policy_ref {
	struct policy *p;
	unsigned refs; /* under the cache lock */
	int64_t built_ms;
};

struct policy_cache {
	pthread_mutex_t lock;
	struct store *store;
	char *default_id;
	struct policy_ref *cur;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int policy_cache_new(struct store *s, const char *default_id, struct policy_cache **ret,
		     struct err *e)
{
	struct policy_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return err_set(e, ENOMEM, "out of memory");
	pthread_mutex_init(&c->lock, NULL);
	c->store = s;
	c->default_id = strdup(default_id ? default_id : "shieldvm-default");
	if (!c->default_id) {
		free(c);
		return err_set(e, ENOMEM, "out of memory");
	}
	*ret = c;
	return 0;
}

static void ref_release(struct policy_ref *r)
{
	policy_free(r->p);
	free(r);
}

void policy_cache_free(struct policy_cache *c)
{
	if (!c)
		return;
	if (c->cur)
		ref_release(c->cur);
	pthread_mutex_destroy(&c->lock);
	free(c->default_id);
	free(c);
}

static int rule_cb(const char *rule, bool enabled, void *userdata)
{
	struct policy *p = userdata;
	int id = policy_rule_lookup(rule);

	if (id >= 0) /* rows for rules this version does not know are ignored */
		p->enabled[id] = enabled;
	return 0;
}

static int add_patterns(struct store *s, struct policy *p, const char *key, bool allow,
			struct err *e)
{
	_cleanup_free_ uint8_t *val = NULL;
	json_t *arr, *v;
	size_t len, i;
	int r = store_setting_get(s, key, &val, &len, e);

	if (r == -ENOENT) {
		memset(e, 0, sizeof(*e));
		return 0;
	}
	if (r < 0)
		return r;
	arr = json_loadb((const char *)val, len, 0, NULL);
	if (!json_is_array(arr)) {
		json_decref(arr);
		return err_set(e, EBADMSG, "store setting %s is not a JSON array", key);
	}
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) ||
		    (r = policy_add_pattern(p, allow, json_string_value(v), e)) < 0) {
			json_decref(arr);
			return r < 0 ? r : err_set(e, EBADMSG, "store setting %s: not a string", key);
		}
	}
	json_decref(arr);
	return 0;
}

static int build(struct policy_cache *c, struct policy **ret, struct err *e)
{
	struct policy *p = NULL;
	_cleanup_free_ uint8_t *id = NULL;
	char **names = NULL;
	size_t n = 0, idlen;
	int r;

	r = store_setting_get(c->store, "policy_id", &id, &idlen, e);
	if (r < 0 && r != -ENOENT)
		return r;
	memset(e, 0, sizeof(*e));
	p = policy_new(r == 0 && idlen && idlen < 128 ? NULL : c->default_id);
	if (!p)
		return err_set(e, ENOMEM, "out of memory");
	if (r == 0 && idlen && idlen < 128) {
		free(p->id);
		p->id = strndup((const char *)id, idlen);
		if (!p->id) {
			policy_free(p);
			return err_set(e, ENOMEM, "out of memory");
		}
	}
	r = store_rule_list(c->store, rule_cb, p, e);
	if (r >= 0)
		r = add_patterns(c->store, p, "cmdline_allow", true, e);
	if (r >= 0)
		r = add_patterns(c->store, p, "cmdline_deny", false, e);
	if (r >= 0)
		r = store_baseline_list(c->store, &names, &n, e);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		_cleanup_free_ char *text = NULL;
		struct baseline *b = NULL;
		json_t *j;

		r = store_baseline_get(c->store, names[i], &text, e);
		if (r < 0)
			break;
		j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
		r = j ? baseline_from_json(j, &b, e)
		      : err_set(e, EBADMSG, "stored baseline %s is not JSON", names[i]);
		json_decref(j);
		if (r >= 0)
			r = policy_add_baseline(p, b, e);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (r < 0) {
		policy_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int policy_cache_get(struct policy_cache *c, struct policy_ref **ret, struct err *e)
{
	struct policy_ref *stale = NULL, *fresh;
	int64_t t = now_ms();
	struct policy *p = NULL;
	int r;

	pthread_mutex_lock(&c->lock);
	if (c->cur && t - c->cur->built_ms < POLICY_CACHE_TTL_MS) {
		c->cur->refs++;
		*ret = c->cur;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	/* Rebuild under the lock: one store read per TTL, not one per thread. */
	r = build(c, &p, e);
	if (r < 0) {
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	fresh = calloc(1, sizeof(*fresh));
	if (!fresh) {
		pthread_mutex_unlock(&c->lock);
		policy_free(p);
		return err_set(e, ENOMEM, "out of memory");
	}
	fresh->p = p;
	fresh->built_ms = t;
	fresh->refs = 2; /* the cache's and the caller's */
	if (c->cur && --c->cur->refs == 0)
		stale = c->cur;
	c->cur = fresh;
	*ret = fresh;
	pthread_mutex_unlock(&c->lock);
	if (stale)
		ref_release(stale);
	return 0;
}

const struct policy *policy_ref_policy(const struct policy_ref *r)
{
	return r->p;
}

void policy_cache_put(struct policy_cache *c, struct policy_ref *r)
{
	bool last;

	if (!r)
		return;
	pthread_mutex_lock(&c->lock);
	last = --r->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (last)
		ref_release(r);
}
