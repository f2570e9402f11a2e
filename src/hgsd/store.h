/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsd's store: everything a node needs that must be shared by all nodes.
 * SQLite (WAL, versioned schema with migrations) is the embedded default;
 * the interface is the contract a PostgreSQL backend implements next, so
 * no SQLite type or behaviour leaks through it.
 *
 * Conventions: functions return 0 or a negative errno and leave one message
 * in *e (backend errors are mapped once, inside the backend, e.g. a UNIQUE
 * violation to -EEXIST, "not found" to -ENOENT, a busy database that does
 * not clear within the busy timeout to -EBUSY). Out-parameters are written
 * only on success. All functions may be called from many threads at once.
 * Blobs are copied in and out; the caller frees what it receives with the
 * matching *_clear/free function.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct store;

/* "sqlite:PATH" or a bare PATH (SQLite); "postgresql://..." later.
 * Creates the database if missing (SQLite: mode 0600; a file group or
 * others may access is refused, -EPERM) and runs pending migrations.
 * -EPROTONOSUPPORT: the database was written by a newer shieldvm. */
int store_open(const char *uri, struct store **ret, struct err *e);
void store_close(struct store *s);     /* no call may still be running */
int store_schema_version(struct store *s, int *ret, struct err *e);

/* ---- hosts ---- */

enum store_host_mode {
	STORE_MODE_TPM = 1,      /* registered by EK (public key or certificate) */
	STORE_MODE_HOST_KEY = 2, /* registered by a host public key (weaker) */
};

struct store_host {
	int64_t id;
	char name[128];
	unsigned modes;          /* STORE_MODE_* bits the host may attest with */
	bool enabled;
	int64_t created;         /* Unix seconds */
	uint8_t ek_name[66];     /* TPM name of the EK public (nameAlg || digest) */
	size_t ek_name_len;      /* 0 without an EK */
	uint8_t *ek_pub;         /* marshalled TPM2B_PUBLIC, or NULL */
	size_t ek_pub_len;
	uint8_t *ek_cert;        /* DER, or NULL */
	size_t ek_cert_len;
	char *host_key_pem;      /* SubjectPublicKeyInfo PEM, or NULL */
};

void store_host_clear(struct store_host *h);
void store_hosts_free(struct store_host *v, size_t n);

/* h->id is ignored; h->created 0 means now. -EINVAL: TPM mode without an
 * EK name, host-key mode without a key, unknown mode bits. */
int store_host_add(struct store *s, const struct store_host *h, int64_t *ret_id,
		   struct err *e);                       /* -EEXIST: name or EK taken */
int store_host_get(struct store *s, const char *name, struct store_host *ret,
		   struct err *e);                       /* -ENOENT */
int store_host_get_by_id(struct store *s, int64_t id, struct store_host *ret,
			 struct err *e);
int store_host_get_by_ek(struct store *s, const uint8_t *ek_name, size_t len,
			 struct store_host *ret, struct err *e);
int store_host_list(struct store *s, struct store_host **ret, size_t *ret_n,
		    struct err *e);                      /* ordered by name */
int store_host_set_enabled(struct store *s, const char *name, bool enabled,
			   struct err *e);
int store_host_remove(struct store *s, const char *name, struct err *e);
                                                 /* also removes its AKs */

/* ---- attestation keys (enrolled) ---- */

int store_ak_add(struct store *s, int64_t host_id, const uint8_t *ak_name,
		 size_t name_len, const uint8_t *ak_pub, size_t pub_len,
		 struct err *e);           /* -EEXIST; -ENOENT: no such host */
/* The enrolled AK with this TPM name: its host and marshalled public. */
int store_ak_get(struct store *s, const uint8_t *ak_name, size_t name_len,
		 int64_t *ret_host_id, uint8_t **ret_pub, size_t *ret_pub_len,
		 struct err *e);                         /* -ENOENT */

/* ---- pending enrollments (MakeCredential issued, not yet answered) ---- */

/* id: a random string chosen by the caller (<= 64 chars). Only the SHA-256
 * of the credential secret is stored. */
int store_enrollment_put(struct store *s, const char *id, int64_t host_id,
			 const uint8_t *ak_pub, size_t ak_pub_len,
			 const uint8_t secret_sha256[32], int64_t expires,
			 struct err *e);
/* Atomically fetch and delete. -ENOENT unknown (or already used), -ETIME
 * expired (expires < now; and deleted). */
int store_enrollment_take(struct store *s, const char *id, int64_t now,
			  int64_t *ret_host_id, uint8_t **ret_ak_pub,
			  size_t *ret_ak_pub_len, uint8_t ret_secret_sha256[32],
			  struct err *e);

/* ---- nonces: single use across the cluster ---- */

struct store_audit;

/* Record that the nonce with this SHA-256 was used; -EEXIST if it already
 * was (a replayed quote). Expired records (expires < now) may be purged. */
int store_nonce_consume(struct store *s, const uint8_t nonce_sha256[32],
			int64_t expires, int64_t now, struct err *e);

/* store_nonce_consume, then store_audit_add(a) only if the nonce was
 * consumed, both in one commit where the backend can: the attestation hot
 * path makes one durable write instead of two. Returns what
 * store_nonce_consume would. The audit record's own result goes to
 * *ret_audit (0, a negative errno with the message in *audit_e, or
 * -ECANCELED when the nonce was not consumed); a failed audit insert does
 * not undo the nonce, as with the two calls one after the other. */
int store_nonce_consume_audit(struct store *s, const uint8_t nonce_sha256[32],
			      int64_t expires, int64_t now,
			      const struct store_audit *a, int *ret_audit,
			      struct err *audit_e, struct err *e);

/* ---- attestation policy: baselines, rule switches, settings ---- */

/* Baselines as the JSON of baseline_to_json() (src/attest/baseline.h). */
int store_baseline_put(struct store *s, const char *name, const char *json,
		       struct err *e);                   /* -EEXIST */
int store_baseline_get(struct store *s, const char *name, char **ret_json,
		       struct err *e);
int store_baseline_list(struct store *s, char ***ret_names, size_t *ret_n,
			struct err *e);          /* free each name, then the array */
int store_baseline_remove(struct store *s, const char *name, struct err *e);

/* Rule ids of src/attest/policy.h; absent rows mean "the rule's default". */
int store_rule_set(struct store *s, const char *rule, bool enabled,
		   struct err *e);
/* Calls fn for each stored rule switch (fn may use the store). fn returns
 * 0 to go on, > 0 to stop (the call returns 0), a negative errno to stop
 * with that error. */
int store_rule_list(struct store *s,
		    int (*fn)(const char *rule, bool enabled, void *userdata),
		    void *userdata, struct err *e);

/* Small named values: "nonce_key" (32 random bytes), "policy_id",
 * "cmdline_allow"/"cmdline_deny" (JSON arrays), ... Values returned are
 * followed by a NUL not counted in *ret_len, so text can be used as is. */
int store_setting_get(struct store *s, const char *key, uint8_t **ret,
		      size_t *ret_len, struct err *e);   /* -ENOENT */
int store_setting_put(struct store *s, const char *key, const uint8_t *val,
		      size_t len, struct err *e);
/* Insert only if absent (first node to start wins); returns the stored
 * value either way. For cluster-wide secrets created at first start. */
int store_setting_get_or_create(struct store *s, const char *key,
				const uint8_t *val, size_t len, uint8_t **ret,
				size_t *ret_len, struct err *e);

/* ---- token signing keys ---- */

struct store_key {
	char kid[64];
	char *private_pem;  /* PKCS#8 PEM: a secret, wipe before free */
	bool primary;
	bool enabled;
	int64_t created;
};

void store_key_clear(struct store_key *k); /* wipes private_pem */
void store_keys_free(struct store_key *v, size_t n);
/* At most one key is primary, and the primary key is enabled: adding a
 * second primary fails with -EEXIST (first node to start wins; the loser
 * lists the keys), making a disabled key primary or disabling the primary
 * key with -EINVAL. k->created 0 means now. */
int store_key_add(struct store *s, const struct store_key *k, struct err *e);
int store_key_list(struct store *s, struct store_key **ret, size_t *ret_n,
		   struct err *e);
int store_key_set_primary(struct store *s, const char *kid, struct err *e);
int store_key_set_enabled(struct store *s, const char *kid, bool enabled,
			  struct err *e);

/* ---- guardian keys (Key Protection Service, docs/hgsd.md) ---- */

#define STORE_GUARDIAN_ID_MAX 63u    /* RFC 7638 thumbprint: 43 chars */
#define STORE_GUARDIAN_ALG_MAX 15u   /* "ec-p256", "rsa4096", ... */
#define STORE_GUARDIAN_JSON_MAX (64u * 1024) /* private guardian JSON */

struct store_guardian {
	char id[STORE_GUARDIAN_ID_MAX + 1];  /* the guardian's id (thumbprint) */
	char name[128];
	char algorithm[STORE_GUARDIAN_ALG_MAX + 1];
	char *private_json; /* the private guardian file's text: a secret,
			     * wiped before free */
	bool primary;
	bool enabled;
	int64_t created;    /* Unix seconds */
};

void store_guardian_clear(struct store_guardian *g); /* wipes private_json */
static inline void store_guardian_clearp(struct store_guardian *g)
{
	store_guardian_clear(g);
}
void store_guardians_free(struct store_guardian *v, size_t n);
/* The same invariants as token signing keys: at most one primary (a second
 * primary: -EEXIST), the primary is enabled (-EINVAL). g->created 0 means
 * now. -EEXIST also for an id that is taken. */
int store_guardian_add(struct store *s, const struct store_guardian *g,
		       struct err *e);
/* Ordered by creation time, then id. with_private false leaves
 * private_json NULL (listings that need no secret). */
int store_guardian_list(struct store *s, bool with_private,
			struct store_guardian **ret, size_t *ret_n,
			struct err *e);
int store_guardian_get(struct store *s, const char *id,
		       struct store_guardian *ret, struct err *e); /* -ENOENT */
/* One transaction: the old primary is demoted. -ENOENT unknown id,
 * -EINVAL a disabled key. */
int store_guardian_set_primary(struct store *s, const char *id,
			       struct err *e);
/* ---- private parts at rest (hgsd's key-encryption key, docs/hgsd.md) ---- */

enum store_private_kind {
	STORE_PRIVATE_TOKEN_KEY,    /* signing_key.private_pem */
	STORE_PRIVATE_GUARDIAN_KEY, /* guardian_key.private_json */
};

/* Replace the stored private text of key id, only if it still is old (so
 * that nodes sealing the same rows at once do not undo each other): 0,
 * -ESTALE when the row is gone or holds something else by now. */
int store_private_replace(struct store *s, enum store_private_kind kind, const char *id,
			  const char *old, const char *text, struct err *e);

/* -EINVAL: disabling the primary key. */
int store_guardian_set_enabled(struct store *s, const char *id, bool enabled,
			       struct err *e);
/* Only a disabled, non-primary key: -EINVAL otherwise, -ENOENT unknown. */
int store_guardian_remove(struct store *s, const char *id, struct err *e);

/* ---- rollback records of key protectors ---- */

/* Per (owner guardian id, VM id): the generation and KP digest the host
 * committed last. Keyed by owner so that another owner's KP naming the
 * same vm_id cannot block this VM. */
struct store_vm_record {
	uint64_t generation;
	uint8_t digest[32];
	int64_t updated;   /* Unix seconds of the last change */
};

#define STORE_VM_ID_MAX 63u
#define STORE_VM_GENERATION_MAX ((uint64_t)1 << 53)

int store_vm_get(struct store *s, const char *owner, const char *vm_id,
		 struct store_vm_record *ret, struct err *e); /* -ENOENT */
/* Atomic compare-and-set: with no record, or a record of a lower
 * generation, store (generation, digest); with a record of this
 * generation and this digest, succeed without change; otherwise (an older
 * generation, or this generation with another digest) -ESTALE and *ret_cur
 * (may be NULL) holds the record. now 0 means the system clock. */
int store_vm_commit(struct store *s, const char *owner, const char *vm_id,
		    uint64_t generation, const uint8_t digest[32], int64_t now,
		    struct store_vm_record *ret_cur, struct err *e);

/* ---- audit ---- */

struct store_audit {
	int64_t id;
	int64_t time;        /* Unix seconds */
	char host[128];      /* host name, or "" when unknown */
	char action[32];     /* "attest", "enroll", "enroll-finish", "admin", ... */
	char result[16];     /* "pass", "fail", "error" */
	char *details;       /* JSON text: failed rules with evidence, reason */
};

void store_audit_clear(struct store_audit *a);
/* a->id is ignored; a->time 0 means now; a->details may be NULL. */
int store_audit_add(struct store *s, const struct store_audit *a, struct err *e);
/* host NULL: all hosts; since: only records with time >= since. Newest
 * first, at most limit records (0: no limit). fn returns as for
 * store_rule_list; the record (details included) is valid only during the
 * call, and fn must not call the store (the listing holds a connection). */
int store_audit_list(struct store *s, const char *host, int64_t since,
		     size_t limit,
		     int (*fn)(const struct store_audit *a, void *userdata),
		     void *userdata, struct err *e);

/* The audit hash chain (docs/store.md "Audit chain"). */
#define STORE_AUDIT_CHAIN_SIZE 32

/* The newest record's id (0: no record) and chain (zeros: none). */
int store_audit_head(struct store *s, int64_t *ret_id, uint8_t chain[STORE_AUDIT_CHAIN_SIZE],
		     struct err *e);

struct store_audit_check {
	int64_t records;	 /* all records */
	int64_t unchained;	 /* without a chain: written before schema 4 or by an older node */
	int64_t first_chained;	 /* id of the first chained record, 0: none */
	int64_t head_id;	 /* the newest record, 0: none */
	uint8_t head[STORE_AUDIT_CHAIN_SIZE]; /* its chain (zeros: none) */
	int64_t broken_id;	 /* first record whose chain does not verify, 0: none */
	bool anchor_given;
	bool anchor_found;	 /* a record with the anchor's id exists */
	bool anchor_matches;	 /* ... and its chain is the anchor's */
};

/* Walk every record in id order and recompute the chain. With anchor_id >
 * 0, also compare that record's chain with anchor (a head hgsd logged
 * earlier): a rewrite or truncation of the records since shows there. 0
 * when the walk ran (the verdict is in *ret), negative on a store error. */
int store_audit_check(struct store *s, int64_t anchor_id,
		      const uint8_t anchor[STORE_AUDIT_CHAIN_SIZE], struct store_audit_check *ret,
		      struct err *e);
