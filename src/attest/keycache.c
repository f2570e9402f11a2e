/* SPDX-License-Identifier: Apache-2.0 */
/* Validated public keys by content: see keycache.h. */
#include "attest/keycache.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "attest/hash.h"
#include "common/limits.h"

#define ID_SIZE 32 /* SHA-256 */
#define BUCKETS (2 * TPM_KEY_CACHE_ENTRIES)

struct entry {
	uint8_t id[ID_SIZE];
	EVP_PKEY *pkey;           /* NULL: unused */
	struct entry *hnext;      /* bucket chain */
	struct entry *prev, *next; /* LRU list, most recent first */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry entries[TPM_KEY_CACHE_ENTRIES];
static struct entry *buckets[BUCKETS];
static struct entry *head, *tail;
static size_t used;

static struct entry **bucket(const uint8_t id[ID_SIZE])
{
	uint32_t h;

	memcpy(&h, id, sizeof(h)); /* SHA-256 output: uniform */
	return &buckets[h % BUCKETS];
}

static void lru_unlink(struct entry *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		tail = x->prev;
	x->prev = x->next = NULL;
}

static void lru_push_front(struct entry *x)
{
	x->prev = NULL;
	x->next = head;
	if (head)
		head->prev = x;
	head = x;
	if (!tail)
		tail = x;
}

static struct entry *find(const uint8_t id[ID_SIZE])
{
	for (struct entry *x = *bucket(id); x; x = x->hnext)
		if (memcmp(x->id, id, ID_SIZE) == 0)
			return x;
	return NULL;
}

EVP_PKEY *keycache_get(const uint8_t *data, size_t len)
{
	uint8_t id[ID_SIZE];
	EVP_PKEY *pkey = NULL;
	struct entry *x;

	if (hash_digest(hash_alg_by_id(TPM_ALG_SHA256), data, len, id) < 0)
		return NULL;
	pthread_mutex_lock(&lock);
	x = find(id);
	if (x && EVP_PKEY_up_ref(x->pkey) == 1) {
		pkey = x->pkey;
		if (x != head) {
			lru_unlink(x);
			lru_push_front(x);
		}
	}
	pthread_mutex_unlock(&lock);
	return pkey;
}

void keycache_put(const uint8_t *data, size_t len, EVP_PKEY *pkey)
{
	uint8_t id[ID_SIZE];
	EVP_PKEY *evicted = NULL;
	struct entry *x;

	if (!pkey || hash_digest(hash_alg_by_id(TPM_ALG_SHA256), data, len, id) < 0 ||
	    EVP_PKEY_up_ref(pkey) != 1)
		return;
	pthread_mutex_lock(&lock);
	if (find(id)) { /* another thread was first */
		pthread_mutex_unlock(&lock);
		EVP_PKEY_free(pkey);
		return;
	}
	if (used < TPM_KEY_CACHE_ENTRIES) {
		x = &entries[used++];
	} else {
		struct entry **p;

		x = tail;
		lru_unlink(x);
		for (p = bucket(x->id); *p != x; p = &(*p)->hnext)
			;
		*p = x->hnext;
		evicted = x->pkey;
	}
	memcpy(x->id, id, ID_SIZE);
	x->pkey = pkey;
	x->hnext = *bucket(id);
	*bucket(id) = x;
	lru_push_front(x);
	pthread_mutex_unlock(&lock);
	EVP_PKEY_free(evicted);
}

size_t keycache_size(void)
{
	size_t n;

	pthread_mutex_lock(&lock);
	n = used;
	pthread_mutex_unlock(&lock);
	return n;
}
