/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key protection formats: guardians (all four algorithms, private files,
 * signed metadata), key protectors (create, parse, unwrap by every
 * recipient, roll, grant, revoke, and each tampering that must be
 * refused), and sealing to a transport key (RSA and EC, tampering), with
 * libjose as an independent implementation in both directions where it
 * can act as one (EC: Debian 12's libjose has no RSA-OAEP).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <jose/jose.h>

#include "common/util.h"
#include "kp/guardian.h"
#include "kp/jw.h"
#include "kp/kp.h"
#include "kp/seal.h"

#define NOW ((int64_t)1700000000)
#define VM_ID "123e4567-e89b-42d3-a456-426614174000"

/* made once: RSA key generation takes seconds */
static struct guardian *g[4];        /* one per algorithm */
static struct guardian *owner, *hgs1, *hgs2, *stranger;
static struct guardian *hgs1_pub, *hgs2_pub;
static const uint8_t tk0[KP_TK_SIZE] = { 0x10, 0x20, 0x30, 0x40, 0x50 };

static int setup(void **state)
{
	struct err e = { { 0 } };

	for (int a = 0; a < 4; a++)
		if (guardian_generate(a < 2 ? "ec" : "rsa", a, &g[a], &e) < 0) {
			fprintf(stderr, "%s\n", e.msg);
			return -1;
		}
	if (guardian_generate("owner", GUARDIAN_EC_P256, &owner, &e) < 0 ||
	    guardian_generate("hgs-one", GUARDIAN_EC_P256, &hgs1, &e) < 0 ||
	    guardian_generate("hgs-two", GUARDIAN_EC_P384, &hgs2, &e) < 0 ||
	    guardian_generate("stranger", GUARDIAN_EC_P256, &stranger, &e) < 0 ||
	    guardian_public_copy(hgs1, &hgs1_pub, &e) < 0 ||
	    guardian_public_copy(hgs2, &hgs2_pub, &e) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	for (int a = 0; a < 4; a++)
		guardian_free(g[a]);
	guardian_free(owner);
	guardian_free(hgs1);
	guardian_free(hgs2);
	guardian_free(stranger);
	guardian_free(hgs1_pub);
	guardian_free(hgs2_pub);
	return 0;
}

/* ---- helpers ---- */

static json_t *load(const char *text)
{
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);

	assert_non_null(j);
	return j;
}

static char *dump(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	assert_non_null(s);
	return s;
}

/* Flip one bit of byte idx (from the end when idx < 0) of a base64url
 * member, re-encoded canonically. */
static void flip_b64(json_t *o, const char *member, long idx)
{
	const char *s = json_string_value(json_object_get(o, member));
	uint8_t *buf;
	size_t len;

	assert_non_null(s);
	assert_int_equal(jw_b64_decode_alloc(s, strlen(s), 1 << 20, &buf, &len), 0);
	assert_true(len > 0);
	buf[idx < 0 ? len - (size_t)-idx : (size_t)idx] ^= 0x01;
	assert_int_equal(json_object_set_new(o, member, jw_b64_json(buf, len)), 0);
	free(buf);
}

/* Decode a base64url JSON member, let f edit it, re-encode. */
static void edit_b64_json(json_t *o, const char *member,
			  void (*f)(json_t *, void *), void *arg)
{
	const char *s = json_string_value(json_object_get(o, member));
	uint8_t *buf;
	size_t len;
	json_t *j;
	char *t;

	assert_int_equal(jw_b64_decode_alloc(s, strlen(s), 1 << 20, &buf, &len), 0);
	j = json_loadb((const char *)buf, len, 0, NULL);
	assert_non_null(j);
	f(j, arg);
	t = dump(j);
	assert_int_equal(json_object_set_new(o, member, jw_b64_json(t, strlen(t))), 0);
	free(t);
	free(buf);
	json_decref(j);
}

static char *create(const struct guardian *own,
		    const struct guardian *const *gs, size_t n,
		    const uint8_t *config)
{
	struct err e = { { 0 } };
	char *text = NULL;
	int r = kp_create(own, gs, n, VM_ID, KP_POLICY_SHIELDED, config, tk0, 0,
			  NOW, &text, &e);

	if (r < 0)
		fail_msg("kp_create: %s", e.msg);
	return text;
}

static char *create_default(void)
{
	const struct guardian *gs[] = { hgs1_pub, hgs2_pub };

	return create(owner, gs, 2, NULL);
}

static struct kp *parse_ok(const char *text)
{
	struct err e = { { 0 } };
	struct kp *kp = NULL;

	if (kp_parse(text, strlen(text), &kp, &e) < 0)
		fail_msg("kp_parse: %s", e.msg);
	return kp;
}

static int parse_json(const json_t *j)
{
	struct err e = { { 0 } };
	struct kp *kp = NULL;
	char *t = dump(j);
	int r = kp_parse(t, strlen(t), &kp, &e);
	struct err e2 = { { 0 } };
	struct kp *kp2 = NULL;
	int r2;

	/* its size is counted as json_dumpb writes it */
	assert_int_equal(jw_compact_size(j), strlen(t));
	/* kp_parse_json of the same value decides the same, for the same
	 * reason */
	r2 = kp_parse_json(j, &kp2, &e2);
	assert_int_equal(r2, r);
	assert_string_equal(e2.msg, e.msg);
	if (r == 0) {
		assert_memory_equal(kp_digest(kp), kp_digest(kp2),
				    KP_DIGEST_SIZE);
		assert_string_equal(kp_sealed_by(kp), kp_sealed_by(kp2));
		assert_int_equal(kp_generation(kp), kp_generation(kp2));
		kp_free(kp);
		kp_free(kp2);
	} else {
		assert_true(e.msg[0] != '\0'); /* every refusal says why */
	}
	free(t);
	return r;
}

static void unwrap_ok(const struct kp *kp, const struct guardian *me,
		      const uint8_t want[KP_TK_SIZE])
{
	struct err e = { { 0 } };
	uint8_t tk[KP_TK_SIZE];

	if (kp_unwrap(kp, me, tk, &e) < 0)
		fail_msg("kp_unwrap as %s: %s", me->name, e.msg);
	assert_memory_equal(tk, want, KP_TK_SIZE);
}

/* ---- guardians ---- */

static void test_guardian_round_trips(void **state)
{
	for (int a = 0; a < 4; a++) {
		struct guardian *p = NULL, *m = NULL;
		struct err e = { { 0 } };
		char *text = NULL, *meta = NULL;
		enum guardian_alg alg;

		assert_int_equal(guardian_alg_from_string(guardian_alg_to_string(a), &alg), 0);
		assert_int_equal(alg, a);
		assert_int_equal(guardian_to_private_json(g[a], &text, &e), 0);
		if (guardian_from_private_json(text, strlen(text), &p, &e) < 0)
			fail_msg("%s: %s", guardian_alg_to_string(a), e.msg);
		assert_true(p->has_private);
		assert_string_equal(p->id, g[a]->id);
		assert_int_equal(p->alg, a);
		assert_true(json_equal(p->enc, g[a]->enc));
		assert_int_equal(guardian_metadata(p, &meta, &e), 0);
		if (guardian_from_metadata(meta, strlen(meta), &m, &e) < 0)
			fail_msg("%s: %s", guardian_alg_to_string(a), e.msg);
		assert_false(m->has_private);
		assert_false(jw_jwk_has_private(m->enc));
		assert_false(jw_jwk_has_private(m->sig));
		assert_string_equal(m->id, g[a]->id);
		assert_string_equal(m->name, g[a]->name);
		/* libjose verifies the metadata signature too */
		{
			json_t *jws = load(meta);

			assert_true(jose_jws_ver(NULL, jws, NULL, m->sig, false));
			json_decref(jws);
		}
		explicit_bzero(text, strlen(text));
		free(text);
		free(meta);
		guardian_free(p);
		guardian_free(m);
	}
	assert_int_equal(guardian_alg_from_string("rsa2048", &(enum guardian_alg){ 0 }),
			 -EINVAL);
}

static void test_guardian_names(void **state)
{
	struct guardian *x = NULL;
	struct err e = { { 0 } };
	char longname[GUARDIAN_NAME_MAX + 2];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(guardian_generate("", GUARDIAN_EC_P256, &x, &e), -EINVAL);
	assert_int_equal(guardian_generate("a\nb", GUARDIAN_EC_P256, &x, &e), -EINVAL);
	assert_int_equal(guardian_generate(longname, GUARDIAN_EC_P256, &x, &e), -EINVAL);
	longname[GUARDIAN_NAME_MAX] = '\0';
	assert_int_equal(guardian_generate(longname, GUARDIAN_EC_P256, &x, &e), 0);
	guardian_free(x);
}

static void set_str(json_t *o, void *arg)
{
	const char *const *kv = arg;

	json_object_set_new(o, kv[0], json_string(kv[1]));
}

static void test_metadata_tampering(void **state)
{
	struct guardian *m = NULL;
	struct err e = { { 0 } };
	char *meta = NULL, *t;
	json_t *j;
	const char *kv[] = { "name", "evil" };

	assert_int_equal(guardian_metadata(hgs1, &meta, &e), 0);

	/* payload changed, old signature */
	j = load(meta);
	edit_b64_json(j, "payload", set_str, kv);
	t = dump(j);
	assert_int_equal(guardian_from_metadata(t, strlen(t), &m, &e), -EKEYREJECTED);
	free(t);
	json_decref(j);

	/* signature bit */
	j = load(meta);
	flip_b64(j, "signature", 3);
	t = dump(j);
	assert_int_equal(guardian_from_metadata(t, strlen(t), &m, &e), -EKEYREJECTED);
	free(t);
	json_decref(j);

	/* kid of another key in the header */
	{
		const char *kid[] = { "kid", json_string_value(json_object_get(hgs2->sig, "kid")) };

		j = load(meta);
		edit_b64_json(j, "protected", set_str, kid);
		t = dump(j);
		assert_int_equal(guardian_from_metadata(t, strlen(t), &m, &e),
				 -EKEYREJECTED);
		free(t);
		json_decref(j);
	}

	/* alg none / HS256 in the header */
	{
		const char *none[] = { "alg", "none" }, *hs[] = { "alg", "HS256" };

		j = load(meta);
		edit_b64_json(j, "protected", set_str, none);
		t = dump(j);
		assert_int_equal(guardian_from_metadata(t, strlen(t), &m, &e), -EINVAL);
		free(t);
		json_decref(j);
		j = load(meta);
		edit_b64_json(j, "protected", set_str, hs);
		t = dump(j);
		assert_int_equal(guardian_from_metadata(t, strlen(t), &m, &e), -EINVAL);
		free(t);
		json_decref(j);
	}

	/* an unprotected header member, a trailing byte, oversize */
	j = load(meta);
	json_object_set_new(j, "header", json_pack("{s:s}", "kid", "x"));
	t = dump(j);
	assert_int_equal(guardian_from_metadata(t, strlen(t), &m, &e), -EBADMSG);
	free(t);
	json_decref(j);
	assert_int_equal(guardian_from_metadata(meta, GUARDIAN_FILE_MAX + 1, &m, &e),
			 -E2BIG);

	/* a private file is not metadata */
	assert_int_equal(guardian_to_private_json(hgs1, &t, &e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(guardian_from_metadata(t, strlen(t), &m, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "PRIVATE"));
	explicit_bzero(t, strlen(t));
	free(t);
	free(meta);
}

static int private_parse(const json_t *j, struct err *e)
{
	struct guardian *p = NULL;
	char *t = dump(j);
	int r = guardian_from_private_json(t, strlen(t), &p, e);

	guardian_free(p);
	free(t);
	return r;
}

static void test_private_file_refusals(void **state)
{
	struct err e = { { 0 } };
	char *text = NULL, *pub;
	json_t *j, *k;

	assert_int_equal(guardian_to_private_json(owner, &text, &e), 0);

	j = load(text);
	json_object_set_new(j, "type", json_string("shieldvm-guardian"));
	assert_int_equal(private_parse(j, &e), -EBADMSG);
	json_decref(j);

	j = load(text);
	json_object_set_new(j, "version", json_integer(2));
	assert_int_equal(private_parse(j, &e), -EBADMSG);
	json_decref(j);

	j = load(text);
	json_object_set_new(j, "algorithm", json_string("rsa2048"));
	assert_int_equal(private_parse(j, &e), -EINVAL);
	json_decref(j);

	/* a JWK alg outside the allow-list */
	j = load(text);
	json_object_set_new(json_object_get(j, "encryption"), "alg",
			    json_string("ECDH-ES+A128KW"));
	assert_int_equal(private_parse(j, &e), -EINVAL);
	json_decref(j);
	j = load(text);
	json_object_set_new(json_object_get(j, "encryption"), "alg",
			    json_string("RSA1_5"));
	assert_int_equal(private_parse(j, &e), -EINVAL);
	json_decref(j);

	/* the algorithm says P-384, the keys are P-256 */
	j = load(text);
	json_object_set_new(j, "algorithm", json_string("ec-p384"));
	assert_int_equal(private_parse(j, &e), -EBADMSG);
	json_decref(j);

	/* public-only keys */
	j = load(text);
	json_object_del(json_object_get(j, "signing"), "d");
	assert_int_equal(private_parse(j, &e), -EBADMSG);
	json_decref(j);

	/* thumbprint mismatches: id, kid */
	j = load(text);
	json_object_set_new(j, "id", json_string(hgs1->id));
	assert_int_equal(private_parse(j, &e), -EBADMSG);
	json_decref(j);
	j = load(text);
	json_object_set_new(json_object_get(j, "signing"), "kid", json_string(hgs1->id));
	assert_int_equal(private_parse(j, &e), -EBADMSG);
	json_decref(j);

	/* d of another key (private and public halves disagree) */
	j = load(text);
	k = json_object_get(hgs1->enc, "d");
	json_object_set(json_object_get(j, "encryption"), "d", k);
	assert_int_equal(private_parse(j, &e), -EBADMSG);
	json_decref(j);

	/* unknown members, at the top and in a JWK */
	j = load(text);
	json_object_set_new(j, "extra", json_true());
	assert_int_equal(private_parse(j, &e), -EBADMSG);
	json_decref(j);
	j = load(text);
	json_object_set_new(json_object_get(j, "encryption"), "key_ops", json_array());
	assert_int_equal(private_parse(j, &e), -EBADMSG);
	json_decref(j);

	/* the public JSON is not a private file */
	j = guardian_public_json(owner);
	pub = dump(j);
	assert_int_equal(guardian_from_private_json(pub, strlen(pub),
						    &(struct guardian *){ NULL }, &e),
			 -EBADMSG);
	free(pub);
	json_decref(j);

	/* not JSON, oversize, duplicate members */
	assert_int_equal(guardian_from_private_json("{", 1, &(struct guardian *){ NULL }, &e),
			 -EBADMSG);
	assert_int_equal(guardian_from_private_json(text, GUARDIAN_FILE_MAX + 1,
						    &(struct guardian *){ NULL }, &e),
			 -E2BIG);
	{
		const char dup[] = "{\"type\":\"a\",\"type\":\"b\"}";

		assert_int_equal(guardian_from_private_json(dup, strlen(dup),
							    &(struct guardian *){ NULL }, &e),
				 -EBADMSG);
	}
	explicit_bzero(text, strlen(text));
	free(text);
}

static void test_public_json_refuses_private(void **state)
{
	struct guardian *x = NULL;
	struct err e = { { 0 } };
	json_t *j = guardian_public_json(owner);

	json_object_set(json_object_get(j, "encryption"), "d",
			json_object_get(owner->enc, "d"));
	assert_int_equal(guardian_from_public_json(j, &x, &e), -EBADMSG);
	json_decref(j);
}

/* ---- key protectors ---- */

static void test_kp_create_parse_unwrap(void **state)
{
	uint8_t cfg[32] = { 7 };
	const struct guardian *gs[] = { hgs1_pub, hgs2_pub };
	char *text = create(owner, gs, 2, cfg), dtext[48];
	struct kp *kp = parse_ok(text);
	struct err e = { { 0 } };
	uint8_t tk[KP_TK_SIZE];

	assert_string_equal(kp_vm_id(kp), VM_ID);
	assert_int_equal(kp_policy(kp), KP_POLICY_SHIELDED);
	assert_int_equal(kp_generation(kp), 0);
	assert_memory_equal(kp_config_digest(kp), cfg, 32);
	assert_string_equal(kp_owner(kp)->id, owner->id);
	assert_false(kp_owner(kp)->has_private);
	assert_int_equal(kp_guardian_count(kp), 2);
	assert_string_equal(kp_guardian(kp, 0)->id, hgs1->id);
	assert_string_equal(kp_guardian(kp, 1)->id, hgs2->id);
	assert_null(kp_guardian(kp, 2));
	assert_string_equal(kp_sealed_by(kp), owner->id);
	assert_int_equal(kp_created(kp), NOW);
	assert_true(kp_has_recipient(kp, owner->id));
	assert_true(kp_has_recipient(kp, hgs2->id));
	assert_false(kp_has_recipient(kp, stranger->id));
	kp_digest_text(kp_digest(kp), dtext);
	assert_int_equal(strlen(dtext), 43);

	unwrap_ok(kp, owner, tk0);
	unwrap_ok(kp, hgs1, tk0);
	unwrap_ok(kp, hgs2, tk0);
	assert_int_equal(kp_unwrap(kp, stranger, tk, &e), -ENOKEY);
	assert_int_equal(kp_unwrap(kp, hgs1_pub, tk, &e), -EINVAL);

	/* the same bytes parse to the same digest */
	{
		struct kp *again = parse_ok(text);

		assert_memory_equal(kp_digest(again), kp_digest(kp), KP_DIGEST_SIZE);
		kp_free(again);
	}
	kp_free(kp);
	free(text);
}

static void test_kp_all_algorithms(void **state)
{
	/* owner RSA-4096 with an RSA-3072, a P-384 and a P-256 guardian */
	const struct guardian *gs[] = { g[GUARDIAN_RSA3072], g[GUARDIAN_EC_P384],
					g[GUARDIAN_EC_P256] };
	char *text = create(g[GUARDIAN_RSA4096], gs, 3, NULL), *next = NULL;
	struct kp *kp = parse_ok(text), *kp2;
	struct err e = { { 0 } };
	uint8_t tk1[KP_TK_SIZE] = { 0xaa };

	assert_null(kp_config_digest(kp));
	for (int a = 0; a < 4; a++)
		unwrap_ok(kp, g[a], tk0);
	/* roll sealed by the RSA guardian (PS256 seal) */
	if (kp_roll(kp, g[GUARDIAN_RSA3072], tk1, &next, &e) < 0)
		fail_msg("%s", e.msg);
	kp2 = parse_ok(next);
	assert_string_equal(kp_sealed_by(kp2), g[GUARDIAN_RSA3072]->id);
	for (int a = 0; a < 4; a++)
		unwrap_ok(kp2, g[a], tk1);
	kp_free(kp);
	kp_free(kp2);
	free(text);
	free(next);
}

static void test_kp_libjose_interop(void **state)
{
	char *text = create_default();
	json_t *j = load(text), *wrap = json_object_get(j, "wrap");
	const json_t *rcps = json_object_get(wrap, "recipients");
	const struct guardian *who[] = { owner, hgs1, hgs2 };

	/* libjose opens every (EC) recipient of our KP */
	for (size_t i = 0; i < 3; i++) {
		json_t *cek = jose_jwe_dec_jwk(NULL, wrap, json_array_get(rcps, i),
					       who[i]->enc);
		size_t len = 0;
		char *pt;
		json_t *p;

		assert_non_null(cek);
		pt = jose_jwe_dec_cek(NULL, wrap, cek, &len);
		assert_non_null(pt);
		p = json_loadb(pt, len, 0, NULL);
		assert_non_null(p);
		assert_string_equal(json_string_value(json_object_get(p, "vm_id")), VM_ID);
		json_decref(p);
		free(pt);
		json_decref(cek);
	}

	/* and a recipient libjose wraps for the same CEK is one we open:
	 * replace hgs1's recipient by one made with jose_jwe_enc_jwk */
	{
		json_t *cek = jose_jwe_dec_jwk(NULL, wrap, json_array_get(rcps, 0),
					       owner->enc);
		json_t *tmp = json_pack("{s:O}", "protected",
					json_object_get(wrap, "protected"));
		json_t *rcp = json_pack("{s:{s:s, s:s}}", "header", "alg",
					"ECDH-ES+A256KW", "kid", hgs1->id);
		json_t *pub = json_deep_copy(hgs1_pub->enc);
		struct kp *kp;

		json_object_del(pub, "kid");
		assert_true(jose_jwe_enc_jwk(NULL, tmp, rcp, pub, cek));
		assert_non_null(json_object_get(tmp, "encrypted_key"));
		json_array_set_new((json_t *)rcps, 1,
				   json_pack("{s:O, s:O}", "header",
					     json_object_get(tmp, "header"),
					     "encrypted_key",
					     json_object_get(tmp, "encrypted_key")));
		free(text);
		text = dump(j);
		kp = parse_ok(text);
		unwrap_ok(kp, hgs1, tk0);
		kp_free(kp);
		json_decref(cek);
		json_decref(tmp);
		json_decref(rcp);
		json_decref(pub);
	}
	json_decref(j);
	free(text);
}

static void test_kp_roll(void **state)
{
	char *text = create_default(), *next = NULL, *next2 = NULL;
	struct kp *kp = parse_ok(text), *kp2, *kp3;
	struct err e = { { 0 } };
	uint8_t tk1[KP_TK_SIZE] = { 1 }, tk2[KP_TK_SIZE] = { 2 };

	assert_int_equal(kp_roll(kp, hgs1, tk1, &next, &e), 0);
	kp2 = parse_ok(next);
	{
		uint8_t d[KP_DIGEST_SIZE];

		assert_int_equal(kp_digest_unverified(next, strlen(next), d, &e), 0);
		assert_memory_equal(d, kp_digest(kp2), KP_DIGEST_SIZE);
		assert_int_equal(kp_digest_unverified("{}", 2, d, &e), -EBADMSG);
	}
	{
		/* kp_roll_json: the digest is the one kp_parse computes,
		 * and the JSON is a KP that parses */
		uint8_t d[KP_DIGEST_SIZE];
		json_t *j = NULL;
		struct kp *kpj = NULL;

		assert_int_equal(kp_roll_json(kp, hgs1, tk1, &j, d, &e), 0);
		assert_int_equal(kp_parse_json(j, &kpj, &e), 0);
		assert_memory_equal(d, kp_digest(kpj), KP_DIGEST_SIZE);
		assert_int_equal(kp_generation(kpj), 1);
		assert_string_equal(kp_sealed_by(kpj), hgs1->id);
		unwrap_ok(kpj, hgs2, tk1);
		kp_free(kpj);
		json_decref(j);
		assert_int_equal(kp_roll_json(kp, stranger, tk1, &j, d, &e),
				 -EKEYREJECTED);
	}
	assert_int_equal(kp_generation(kp2), 1);
	assert_string_equal(kp_sealed_by(kp2), hgs1->id);
	assert_memory_not_equal(kp_digest(kp2), kp_digest(kp), KP_DIGEST_SIZE);
	unwrap_ok(kp2, owner, tk1);
	unwrap_ok(kp2, hgs2, tk1);
	/* the descriptor is the same one */
	assert_int_equal(kp_created(kp2), kp_created(kp));

	/* roll again by the other guardian */
	assert_int_equal(kp_roll(kp2, hgs2, tk2, &next2, &e), 0);
	kp3 = parse_ok(next2);
	assert_int_equal(kp_generation(kp3), 2);
	unwrap_ok(kp3, hgs1, tk2);

	/* a key not in the KP may not roll it */
	assert_int_equal(kp_roll(kp, stranger, tk1, &next, &e), -EKEYREJECTED);
	assert_int_equal(kp_roll(kp, hgs1_pub, tk1, &next, &e), -EINVAL);
	kp_free(kp);
	kp_free(kp2);
	kp_free(kp3);
	free(text);
	free(next);
	free(next2);
}

/* Verified descriptors are cached by their bytes (kp.c): a KP whose
 * descriptor was verified before parses the same, a changed one is checked
 * in full, and KPs keep their descriptor when the cache drops it. */
static void test_kp_descriptor_cache(void **state)
{
	const struct guardian *gs[] = { hgs1_pub };
	char *text = create_default();
	struct kp *kp = parse_ok(text), *again = parse_ok(text), *k;
	struct err e = { { 0 } };
	json_t *j = load(text);

	assert_memory_equal(kp_digest(kp), kp_digest(again), KP_DIGEST_SIZE);
	assert_string_equal(kp_owner(kp)->id, kp_owner(again)->id);
	assert_int_equal(kp_guardian_count(again), 2);
	unwrap_ok(again, hgs2, tk0);
	kp_free(again);
	/* the same strings with another member beside them: refused */
	assert_int_equal(json_object_set_new(json_object_get(j, "descriptor"),
					     "extra", json_string("x")),
			 0);
	assert_int_equal(parse_json(j), -EBADMSG);
	json_decref(j);
	/* the same payload and header with another signature: refused */
	j = load(text);
	{
		json_t *d = json_object_get(j, "descriptor");
		char *sig = strdup(
			json_string_value(json_object_get(d, "signature")));

		sig[5] = sig[5] == 'A' ? 'B' : 'A';
		json_object_set_new(d, "signature", json_string(sig));
		free(sig);
	}
	assert_int_equal(parse_json(j), -EKEYREJECTED);
	json_decref(j);
	/* more distinct descriptors than the cache holds, while kp lives */
	for (int i = 0; i < 300; i++) {
		char *t = NULL;

		assert_int_equal(kp_create(owner, gs, 1, VM_ID,
					   KP_POLICY_SHIELDED, NULL, tk0, 0,
					   NOW + i, &t, &e),
				 0);
		k = parse_ok(t);
		kp_free(k);
		free(t);
	}
	assert_string_equal(kp_vm_id(kp), VM_ID);
	unwrap_ok(kp, hgs1, tk0);
	k = parse_ok(text);
	assert_memory_equal(kp_digest(kp), kp_digest(k), KP_DIGEST_SIZE);
	kp_free(k);
	kp_free(kp);
	free(text);
}

/* EC public keys from points: on the curve or refused, both curves
 * (jw_ec_pub copies a per-curve parameters key, then sets the point). */
static void test_ec_points(void **state)
{
	static const char *const crvs[] = { "P-256", "P-384" };

	for (size_t c = 0; c < 2; c++) {
		struct err e = { { 0 } };
		json_t *priv =
			json_pack("{s:s, s:s}", "kty", "EC", "crv", crvs[c]);
		uint8_t point[JW_EC_POINT_MAX];
		size_t coord = c == 0 ? 32 : 48, len;
		EVP_PKEY *pk = NULL;
		char *jwe = NULL;
		json_t *pub;

		assert_non_null(priv);
		assert_true(jose_jwk_gen(NULL, priv));
		point[0] = 0x04;
		assert_int_equal(jw_b64_decode(json_string_value(
						       json_object_get(priv,
								       "x")),
					       json_string_length(
						       json_object_get(priv,
								       "x")),
					       point + 1, coord, &len),
				 0);
		assert_int_equal(jw_b64_decode(json_string_value(
						       json_object_get(priv,
								       "y")),
					       json_string_length(
						       json_object_get(priv,
								       "y")),
					       point + 1 + coord, coord, &len),
				 0);
		assert_int_equal(jw_ec_pub(point, 1 + 2 * coord, &pk, &e), 0);
		assert_int_equal(EVP_PKEY_get_bits(pk), (int)(8 * coord));
		EVP_PKEY_free(pk);
		point[2 * coord] ^= 1; /* y + or - 1: off the curve */
		assert_int_equal(jw_ec_pub(point, 1 + 2 * coord, &pk, &e),
				 -EBADMSG);
		point[2 * coord] ^= 1;
		point[0] = 0x02; /* compressed: not taken */
		assert_int_equal(jw_ec_pub(point, 1 + 2 * coord, &pk, &e),
				 -EBADMSG);
		assert_int_equal(jw_ec_pub(point, 1 + coord, &pk, &e),
				 -EBADMSG);
		/* a transport key off the curve is not sealed to */
		point[2 * coord] ^= 1;
		pub = json_pack("{s:s, s:s, s:O, s:o}", "kty", "EC", "crv",
				crvs[c], "x", json_object_get(priv, "x"), "y",
				jw_b64_json(point + 1 + coord, coord));
		assert_non_null(pub);
		assert_true(seal_to_jwk(pub, (const uint8_t *)"x", 1, &jwe,
					&e) < 0);
		assert_null(jwe);
		json_decref(pub);
		json_decref(priv);
	}
}

/* jw_thumbprint writes the RFC 7638 JSON itself for plain EC and RSA
 * keys: always what libjose computes. */
static void test_thumbprint_as_libjose(void **state)
{
	static const char *const tmpls[] = {
		"{\"kty\":\"EC\",\"crv\":\"P-256\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-384\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-521\"}",
		"{\"kty\":\"RSA\",\"bits\":2048}",
		"{\"kty\":\"oct\",\"bytes\":32}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(tmpls); i++) {
		json_t *jwk = json_loads(tmpls[i], 0, NULL);
		struct err e = { { 0 } };
		char ours[JW_KID_MAX], want[JW_KID_MAX];
		uint8_t thp[32];

		assert_non_null(jwk);
		assert_true(jose_jwk_gen(NULL, jwk));
		json_object_set_new(jwk, "kid",
				    json_string("extra members are ignored"));
		for (int variant = 0; variant < 3; variant++) {
			if (variant == 1 && json_object_get(jwk, "kty") &&
			    json_object_get(jwk, "x"))
				/* not base64url: libjose's path */
				json_object_set_new(jwk, "x",
						    json_string("a+b/\"c"));
			if (variant == 2 && json_object_get(jwk, "n"))
				json_object_set_new(jwk, "e",
						    json_string("AQAB\u00e9"));
			assert_int_equal(jose_jwk_thp_buf(NULL, jwk, "S256",
							  thp, sizeof(thp)),
					 sizeof(thp));
			jw_b64_encode_to(thp, sizeof(thp), want);
			assert_int_equal(jw_thumbprint(jwk, ours, &e), 0);
			assert_string_equal(ours, want);
		}
		json_object_del(jwk, "kty");
		assert_int_equal(jw_thumbprint(jwk, ours, &e), -EBADMSG);
		json_decref(jwk);
	}
}

static void test_kp_seal_by_stranger(void **state)
{
	/* a roll whose seal a non-listed key signed (crafted with the
	 * library's own signer) is refused */
	char *text = create_default();
	json_t *j = load(text), *seal, *hdr = NULL, *payload = NULL;
	struct err e = { { 0 } };
	char *p;

	assert_int_equal(jw_jws_open(json_object_get(j, "seal"), "shieldvm-kp-seal+json",
				     4096, &hdr, &payload, &e), 0);
	p = dump(payload);
	assert_int_equal(jw_jws_sign(stranger->sig_key, "ES256",
				     json_string_value(json_object_get(stranger->sig, "kid")),
				     "shieldvm-kp-seal+json", p, strlen(p), &seal, &e), 0);
	json_object_set_new(j, "seal", seal);
	assert_int_equal(parse_json(j), -EKEYREJECTED);

	/* signed by the stranger but claiming hgs1's kid */
	assert_int_equal(jw_jws_sign(stranger->sig_key, "ES256",
				     json_string_value(json_object_get(hgs1->sig, "kid")),
				     "shieldvm-kp-seal+json", p, strlen(p), &seal, &e), 0);
	json_object_set_new(j, "seal", seal);
	assert_int_equal(parse_json(j), -EKEYREJECTED);
	json_decref(hdr);
	json_decref(payload);
	free(p);
	json_decref(j);
	free(text);
}

static void test_kp_grant_revoke(void **state)
{
	const struct guardian *gs[] = { hgs1_pub };
	char *text = create(owner, gs, 1, NULL), *granted = NULL, *revoked = NULL;
	struct kp *kp = parse_ok(text), *kp2, *kp3;
	struct err e = { { 0 } };
	uint8_t wrong[KP_TK_SIZE] = { 0 };

	assert_int_equal(kp_grant(kp, owner, tk0, hgs2_pub, NOW + 10, &granted, &e), 0);
	kp2 = parse_ok(granted);
	assert_int_equal(kp_generation(kp2), 1);
	assert_int_equal(kp_guardian_count(kp2), 2);
	assert_int_equal(kp_created(kp2), NOW + 10);
	unwrap_ok(kp2, hgs2, tk0);
	unwrap_ok(kp2, hgs1, tk0);

	assert_int_equal(kp_revoke(kp2, owner, tk0, hgs1->id, NOW + 20, &revoked, &e), 0);
	kp3 = parse_ok(revoked);
	assert_int_equal(kp_generation(kp3), 2);
	assert_int_equal(kp_guardian_count(kp3), 1);
	assert_false(kp_has_recipient(kp3, hgs1->id));
	assert_int_equal(kp_unwrap(kp3, hgs1, wrong, &e), -ENOKEY);
	unwrap_ok(kp3, hgs2, tk0);

	/* refusals */
	assert_int_equal(kp_grant(kp, owner, tk0, hgs1_pub, NOW, &granted, &e), -EEXIST);
	assert_int_equal(kp_grant(kp, owner, tk0, owner, NOW, &granted, &e), -EEXIST);
	assert_int_equal(kp_grant(kp, hgs1, tk0, hgs2_pub, NOW, &granted, &e),
			 -EKEYREJECTED);
	assert_int_equal(kp_grant(kp, owner, wrong, hgs2_pub, NOW, &granted, &e),
			 -EKEYREJECTED);
	assert_int_equal(kp_revoke(kp3, owner, tk0, hgs1->id, NOW, &revoked, &e), -ENOENT);
	assert_int_equal(kp_revoke(kp3, owner, tk0, hgs2->id, NOW, &revoked, &e), -EINVAL);
	assert_int_equal(kp_revoke(kp3, stranger, tk0, hgs2->id, NOW, &revoked, &e),
			 -EKEYREJECTED);
	kp_free(kp);
	kp_free(kp2);
	kp_free(kp3);
	free(text);
	free(granted);
	free(revoked);
}

static void test_kp_create_refusals(void **state)
{
	const struct guardian *gs[KP_MAX_GUARDIANS + 1];
	struct err e = { { 0 } };
	char *t = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(gs); i++)
		gs[i] = i % 2 ? hgs1 : hgs2;
	assert_int_equal(kp_create(owner, gs, 0, VM_ID, KP_POLICY_SHIELDED, NULL, tk0,
				   0, NOW, &t, &e), -EINVAL);
	assert_int_equal(kp_create(owner, gs, KP_MAX_GUARDIANS + 1, VM_ID,
				   KP_POLICY_SHIELDED, NULL, tk0, 0, NOW, &t, &e), -E2BIG);
	assert_int_equal(kp_create(owner, gs, 3, VM_ID, KP_POLICY_SHIELDED, NULL, tk0,
				   0, NOW, &t, &e), -EEXIST);
	gs[0] = owner;
	assert_int_equal(kp_create(owner, gs, 1, VM_ID, KP_POLICY_SHIELDED, NULL, tk0,
				   0, NOW, &t, &e), -EINVAL);
	gs[0] = hgs1;
	assert_int_equal(kp_create(owner, gs, 1, "123E4567-E89B-42D3-A456-426614174000",
				   KP_POLICY_SHIELDED, NULL, tk0, 0, NOW, &t, &e), -EINVAL);
	assert_int_equal(kp_create(hgs1_pub, gs + 1, 1, VM_ID, KP_POLICY_SHIELDED, NULL,
				   tk0, 0, NOW, &t, &e), -EINVAL);
	assert_int_equal(kp_create(owner, gs, 1, VM_ID, KP_POLICY_SHIELDED, NULL, tk0,
				   KP_MAX_GENERATION + 1, NOW, &t, &e), -EOVERFLOW);
}

static void test_kp_generation_limit(void **state)
{
	const struct guardian *gs[] = { hgs1_pub };
	struct err e = { { 0 } };
	char *t = NULL, *n = NULL;
	struct kp *kp;

	assert_int_equal(kp_create(owner, gs, 1, VM_ID, KP_POLICY_ENCRYPTION_SUPPORTED,
				   NULL, tk0, KP_MAX_GENERATION, NOW, &t, &e), 0);
	kp = parse_ok(t);
	assert_int_equal(kp_policy(kp), KP_POLICY_ENCRYPTION_SUPPORTED);
	assert_int_equal(kp_roll(kp, hgs1, tk0, &n, &e), -EOVERFLOW);
	kp_free(kp);
	free(t);
}

/* Each tampering of a member covered by a signature or the digest. */
static void test_kp_tampering(void **state)
{
	char *text = create_default();
	json_t *j;
	const char *pol[] = { "policy", "encryption-supported" };

	/* descriptor payload: a value changed, old signature */
	j = load(text);
	edit_b64_json(json_object_get(j, "descriptor"), "payload", set_str, pol);
	assert_int_equal(parse_json(j), -EKEYREJECTED);
	json_decref(j);
	/* descriptor payload: a raw byte */
	j = load(text);
	flip_b64(json_object_get(j, "descriptor"), "payload", 40);
	assert_true(parse_json(j) < 0);
	json_decref(j);
	/* descriptor signature */
	j = load(text);
	flip_b64(json_object_get(j, "descriptor"), "signature", 5);
	assert_int_equal(parse_json(j), -EKEYREJECTED);
	json_decref(j);
	/* wrap members covered by the digest */
	{
		static const char *const m[] = { "iv", "ciphertext", "tag" };

		for (size_t i = 0; i < ARRAY_SIZE(m); i++) {
			j = load(text);
			flip_b64(json_object_get(j, "wrap"), m[i], 0);
			assert_int_equal(parse_json(j), -EKEYREJECTED);
			json_decref(j);
		}
	}
	/* wrap protected header: another generation */
	{
		j = load(text);
		const char *s = json_string_value(json_object_get(json_object_get(j, "wrap"),
								  "protected"));
		uint8_t buf[256];
		size_t len;
		json_t *h;
		char *hs;

		assert_int_equal(jw_b64_decode(s, strlen(s), buf, sizeof(buf), &len), 0);
		h = json_loadb((const char *)buf, len, 0, NULL);
		json_object_set_new(h, "svm.gen", json_integer(5));
		hs = dump(h);
		json_object_set_new(json_object_get(j, "wrap"), "protected",
				    jw_b64_json(hs, strlen(hs)));
		assert_int_equal(parse_json(j), -EKEYREJECTED);
		free(hs);
		json_decref(h);
		json_decref(j);
	}
	/* seal payload and signature */
	j = load(text);
	flip_b64(json_object_get(j, "seal"), "signature", 1);
	assert_int_equal(parse_json(j), -EKEYREJECTED);
	json_decref(j);
	j = load(text);
	{
		const char *vm[] = { "vm_id", "00000000-0000-4000-8000-000000000000" };

		edit_b64_json(json_object_get(j, "seal"), "payload", set_str, vm);
	}
	assert_int_equal(parse_json(j), -EKEYREJECTED);
	json_decref(j);
	/* a seal from another KP (same owner, same VM id) */
	{
		char *other = create_default();
		json_t *o = load(other);

		j = load(text);
		json_object_set(j, "seal", json_object_get(o, "seal"));
		assert_int_equal(parse_json(j), -EKEYREJECTED);
		json_decref(j);
		/* and its wrap with our descriptor and seal */
		j = load(text);
		json_object_set(j, "wrap", json_object_get(o, "wrap"));
		assert_int_equal(parse_json(j), -EKEYREJECTED);
		json_decref(j);
		json_decref(o);
		free(other);
	}
	/* recipients reordered, one dropped, one extra */
	j = load(text);
	{
		json_t *r = json_object_get(json_object_get(j, "wrap"), "recipients");
		json_t *first = json_incref(json_array_get(r, 0));

		json_array_remove(r, 0);
		json_array_append_new(r, first);
		assert_int_equal(parse_json(j), -EBADMSG);
		json_array_remove(r, 0);
		assert_int_equal(parse_json(j), -EBADMSG);
	}
	json_decref(j);
	/* unknown members anywhere */
	j = load(text);
	json_object_set_new(json_object_get(j, "wrap"), "aad", json_string("AAAA"));
	assert_int_equal(parse_json(j), -EBADMSG);
	json_decref(j);
	j = load(text);
	json_object_set_new(json_object_get(j, "wrap"), "unprotected", json_object());
	assert_int_equal(parse_json(j), -EBADMSG);
	json_decref(j);
	j = load(text);
	json_object_set_new(j, "x", json_null());
	assert_int_equal(parse_json(j), -EBADMSG);
	json_decref(j);
	/* type, version */
	j = load(text);
	json_object_set_new(j, "version", json_integer(2));
	assert_int_equal(parse_json(j), -EBADMSG);
	json_decref(j);
	/* a base64url member with padding / standard alphabet */
	j = load(text);
	{
		json_t *w = json_object_get(j, "wrap");
		char iv[64];

		snprintf(iv, sizeof(iv), "%s=",
			 json_string_value(json_object_get(w, "iv")));
		json_object_set_new(w, "iv", json_string(iv));
	}
	assert_int_equal(parse_json(j), -EBADMSG);
	json_decref(j);
	free(text);
}

static void test_kp_encrypted_key_tampered(void **state)
{
	char *text = create_default();
	json_t *j = load(text);
	json_t *r = json_object_get(json_object_get(j, "wrap"), "recipients");
	struct err e = { { 0 } };
	uint8_t tk[KP_TK_SIZE];
	struct kp *kp;
	char *t;

	flip_b64(json_array_get(r, 1), "encrypted_key", 3);
	t = dump(j);
	kp = parse_ok(t); /* not covered by the digest */
	assert_int_equal(kp_unwrap(kp, hgs1, tk, &e), -EKEYREJECTED);
	unwrap_ok(kp, owner, tk0);
	unwrap_ok(kp, hgs2, tk0);
	kp_free(kp);
	free(t);

	/* an epk moved to another point: only that recipient fails */
	json_decref(j);
	j = load(text);
	r = json_object_get(json_object_get(j, "wrap"), "recipients");
	json_object_set(json_object_get(json_array_get(r, 1), "header"), "epk",
			json_object_get(json_object_get(json_array_get(r, 0), "header"),
					"epk"));
	t = dump(j);
	kp = parse_ok(t);
	assert_int_equal(kp_unwrap(kp, hgs1, tk, &e), -EKEYREJECTED);
	unwrap_ok(kp, owner, tk0);
	kp_free(kp);
	free(t);
	json_decref(j);
	free(text);
}

/* Recipients and content encryption outside the allow-list, made with
 * libjose (or by hand where libjose cannot: RSA1_5). */
static void test_kp_weak_algorithms(void **state)
{
	char *text = create_default();
	json_t *j, *r;

	/* RSA1_5 recipient header */
	j = load(text);
	r = json_object_get(json_object_get(j, "wrap"), "recipients");
	json_object_set_new(json_object_get(json_array_get(r, 1), "header"), "alg",
			    json_string("RSA1_5"));
	assert_int_equal(parse_json(j), -EINVAL);
	json_decref(j);

	/* ECDH-ES+A128KW recipient from libjose */
	{
		json_t *tmp, *rcp, *cek = json_object(), *pub;

		j = load(text);
		r = json_object_get(json_object_get(j, "wrap"), "recipients");
		tmp = json_pack("{s:O}", "protected",
				json_object_get(json_object_get(j, "wrap"), "protected"));
		rcp = json_pack("{s:{s:s, s:s}}", "header", "alg", "ECDH-ES+A128KW",
				"kid", hgs1->id);
		pub = json_deep_copy(hgs1_pub->enc);
		json_object_del(pub, "alg");
		json_object_del(pub, "kid");
		json_object_del(pub, "use");
		assert_true(jose_jwe_enc_jwk(NULL, tmp, rcp, pub, cek));
		json_array_set_new(r, 1, json_pack("{s:O, s:O}", "header",
						   json_object_get(tmp, "header"),
						   "encrypted_key",
						   json_object_get(tmp, "encrypted_key")));
		assert_int_equal(parse_json(j), -EINVAL);
		json_decref(tmp);
		json_decref(rcp);
		json_decref(cek);
		json_decref(pub);
		json_decref(j);
	}

	/* A128CBC-HS256 content encryption: a whole wrap made by libjose */
	{
		json_t *wrap = json_pack("{s:{s:s, s:s, s:i}}", "protected", "enc",
					 "A128CBC-HS256", "cty", "shieldvm-tk+json",
					 "svm.gen", 0);
		json_t *cek = json_object();
		const struct guardian *who[] = { owner, hgs1, hgs2 };

		for (size_t i = 0; i < 3; i++) {
			json_t *rcp = json_pack("{s:{s:s, s:s}}", "header", "alg",
						"ECDH-ES+A256KW", "kid", who[i]->id);
			json_t *pub = json_deep_copy(who[i]->enc);

			json_object_del(pub, "d");
			json_object_del(pub, "kid");
			assert_true(jose_jwe_enc_jwk(NULL, wrap, rcp, pub, cek));
			json_decref(rcp);
			json_decref(pub);
		}
		assert_true(jose_jwe_enc_cek(NULL, wrap, cek, "{}", 2));
		j = load(text);
		json_object_set(j, "wrap", wrap);
		assert_int_equal(parse_json(j), -EINVAL);
		json_decref(j);
		json_decref(wrap);
		json_decref(cek);
	}
	free(text);
}

static const char *big_string(size_t n)
{
	static char *s;

	free(s);
	s = malloc(n + 1);
	assert_non_null(s);
	memset(s, 'A', n);
	s[n] = '\0';
	return s;
}

static void test_kp_oversize(void **state)
{
	struct err e = { { 0 } };
	struct kp *kp = NULL;
	char *big = malloc(KP_MAX_SIZE + 2);

	assert_non_null(big);
	memset(big, ' ', KP_MAX_SIZE + 1);
	big[KP_MAX_SIZE + 1] = '\0';
	assert_int_equal(kp_parse(big, KP_MAX_SIZE + 1, &kp, &e), -E2BIG);
	free(big);
	assert_int_equal(kp_parse("[]", 2, &kp, &e), -EBADMSG);
	assert_int_equal(kp_parse("", 0, &kp, &e), -EBADMSG);
	/* deep nesting */
	{
		char deep[64];

		memset(deep, '[', 30);
		memset(deep + 30, ']', 30);
		memcpy(deep, "{\"a\":", 5);
		deep[59] = '}';
		deep[60] = '\0';
		assert_true(kp_parse(deep, 60, &kp, &e) < 0);
	}
	/* the same limits on a parsed value */
	{
		json_t *j = json_pack("{s:s%}", "type", big_string(KP_MAX_SIZE),
				      (size_t)KP_MAX_SIZE);

		assert_non_null(j);
		assert_int_equal(kp_parse_json(j, &kp, &e), -E2BIG);
		json_decref(j);
		j = json_loads("{\"a\":[[[[[[[[[[[]]]]]]]]]]]}", 0, NULL);
		assert_non_null(j);
		assert_int_equal(kp_parse_json(j, &kp, &e), -EBADMSG);
		json_decref(j);
		j = json_array();
		assert_int_equal(kp_parse_json(j, &kp, &e), -EBADMSG);
		json_decref(j);
		/* the size count is json_dumpb's, escapes and numbers too */
		j = json_loads(
			"{\"a\\\"\\u0001\\n\":[\"\\\\\\/\\u001f\\u007f\\u00e9\\t\",-12,0,"
			"1e-9,2.5,1E300,true,false,null,{},[],{\"\":\"\"}],\"b\":-9007199254740993}",
			0, NULL);
		assert_non_null(j);
		assert_int_equal(jw_compact_size(j),
				 json_dumpb(j, NULL, 0,
					    JSON_COMPACT |
						    JSON_PRESERVE_ORDER));
		json_decref(j);
	}
}

/* ---- sealing ---- */

static json_t *gen_jwk(const char *tmpl)
{
	json_t *k = load(tmpl);

	assert_true(jose_jwk_gen(NULL, k));
	return k;
}

static json_t *pub_of(const json_t *k)
{
	json_t *p = json_deep_copy(k);

	assert_true(jose_jwk_pub(NULL, p));
	json_object_del(p, "key_ops");
	return p;
}

/* compact -> flattened JSON for libjose */
static json_t *compact_to_json(const char *jwe)
{
	char *c = strdup(jwe), *p[5];
	json_t *j;

	p[0] = c;
	for (int i = 1; i < 5; i++) {
		p[i] = strchr(p[i - 1], '.');
		assert_non_null(p[i]);
		*p[i]++ = '\0';
	}
	j = json_pack("{s:s, s:s, s:s, s:s}", "protected", p[0], "iv", p[2],
		      "ciphertext", p[3], "tag", p[4]);
	if (*p[1])
		json_object_set_new(j, "encrypted_key", json_string(p[1]));
	free(c);
	return j;
}

static const char *const seal_keys[] = {
	"{\"kty\":\"RSA\",\"bits\":2048}",
	"{\"kty\":\"EC\",\"crv\":\"P-256\"}",
	"{\"kty\":\"EC\",\"crv\":\"P-384\"}",
};

static void test_seal_round_trip(void **state)
{
	static const char msg[] = "{\"tk\":\"secret\"}";

	for (size_t i = 0; i < ARRAY_SIZE(seal_keys); i++) {
		json_t *k = gen_jwk(seal_keys[i]), *pub = pub_of(k);
		struct err e = { { 0 } };
		uint8_t out[64];
		size_t len = 0;
		char *jwe = NULL;

		if (seal_to_jwk(pub, (const uint8_t *)msg, strlen(msg), &jwe, &e) < 0)
			fail_msg("%s", e.msg);
		if (seal_open_jwk(jwe, strlen(jwe), k, out, sizeof(out), &len, &e) < 0)
			fail_msg("%s", e.msg);
		assert_int_equal(len, strlen(msg));
		assert_memory_equal(out, msg, len);
		/* too small an output buffer */
		assert_int_equal(seal_open_jwk(jwe, strlen(jwe), k, out, 4, &len, &e),
				 -E2BIG);
		/* a public key cannot open, a private one cannot be sealed to */
		assert_int_equal(seal_open_jwk(jwe, strlen(jwe), pub, out, sizeof(out),
					       &len, &e), -EINVAL);
		assert_int_equal(seal_to_jwk(k, (const uint8_t *)msg, 3, &jwe, &e), -EINVAL);
		/* libjose opens ours (EC; it has no RSA-OAEP here) */
		if (i > 0) {
			json_t *jj = compact_to_json(jwe);
			size_t pl = 0;
			char *pt = jose_jwe_dec(NULL, jj, NULL, k, &pl);

			assert_non_null(pt);
			assert_int_equal(pl, strlen(msg));
			assert_memory_equal(pt, msg, pl);
			free(pt);
			json_decref(jj);
		}
		free(jwe);
		json_decref(k);
		json_decref(pub);
	}
}

/* a compact JWE made by libjose for k, with our header conventions */
static char *libjose_seal_ex(const json_t *k, const char *alg, const char *enc,
			     const char *pt, const json_t *extra);

static char *libjose_seal(const json_t *k, const char *alg, const char *enc,
			  const char *pt)
{
	return libjose_seal_ex(k, alg, enc, pt, NULL);
}

static char *libjose_seal_ex(const json_t *k, const char *alg, const char *enc,
			     const char *pt, const json_t *extra)
{
	char kid[JW_KID_MAX], *out;
	json_t *pub = pub_of(k), *jwe, *cek = json_object(), *hdr;
	const char *f[5];

	assert_int_equal(jw_thumbprint(k, kid, NULL), 0);
	/* libjose's key agreement puts epk in the unprotected header and
	 * leaves the derived CEK in cek; compact form needs every header
	 * member protected, so a second JWE carries the same header with epk
	 * moved into it, encrypted by libjose with its own derived CEK */
	hdr = json_pack("{s:s, s:s, s:s, s:s}", "alg", alg, "enc", enc, "kid", kid,
			"cty", "shieldvm-sealed+json");
	if (extra)
		json_object_update(hdr, (json_t *)extra);
	jwe = json_pack("{s:O}", "protected", hdr);
	assert_true(jose_jwe_enc_jwk(NULL, jwe, NULL, pub, cek));
	if (json_object_get(jwe, "header")) {
		json_t *moved = json_object_get(json_object_get(jwe, "header"), "epk");

		assert_non_null(moved);
		json_object_set(hdr, "epk", moved);
		f[1] = json_string_value(json_object_get(jwe, "encrypted_key"));
		{
			json_t *ek = f[1] ? json_string(f[1]) : NULL;

			json_decref(jwe);
			jwe = json_pack("{s:O}", "protected", hdr);
			if (ek)
				json_object_set_new(jwe, "encrypted_key", ek);
		}
	}
	json_decref(hdr);
	assert_true(jose_jwe_enc_cek(NULL, jwe, cek, pt, strlen(pt)));
	f[0] = json_string_value(json_object_get(jwe, "protected"));
	f[1] = json_string_value(json_object_get(jwe, "encrypted_key"));
	f[2] = json_string_value(json_object_get(jwe, "iv"));
	f[3] = json_string_value(json_object_get(jwe, "ciphertext"));
	f[4] = json_string_value(json_object_get(jwe, "tag"));
	out = malloc(4096);
	snprintf(out, 4096, "%s.%s.%s.%s.%s", f[0], f[1] ? f[1] : "", f[2], f[3], f[4]);
	json_decref(jwe);
	json_decref(cek);
	json_decref(pub);
	return out;
}

static void test_seal_from_libjose(void **state)
{
	for (size_t i = 1; i < ARRAY_SIZE(seal_keys); i++) {
		json_t *k = gen_jwk(seal_keys[i]);
		struct err e = { { 0 } };
		uint8_t out[64];
		size_t len = 0;
		char *jwe = libjose_seal(k, "ECDH-ES", "A256GCM", "hello");

		if (seal_open_jwk(jwe, strlen(jwe), k, out, sizeof(out), &len, &e) < 0)
			fail_msg("%s: %s", jwe, e.msg);
		assert_int_equal(len, 5);
		assert_memory_equal(out, "hello", 5);
		free(jwe);

		/* with PartyUInfo / PartyVInfo in the Concat KDF */
		{
			json_t *x = json_pack("{s:s, s:s}", "apu", "QWxpY2U", "apv", "Qm9i");

			jwe = libjose_seal_ex(k, "ECDH-ES", "A256GCM", "hello", x);
			if (seal_open_jwk(jwe, strlen(jwe), k, out, sizeof(out), &len, &e) < 0)
				fail_msg("apu/apv: %s", e.msg);
			assert_int_equal(len, 5);
			free(jwe);
			json_decref(x);
		}

		/* weak choices libjose will happily make: refused by name */
		jwe = libjose_seal(k, "ECDH-ES+A128KW", "A256GCM", "hello");
		assert_int_equal(seal_open_jwk(jwe, strlen(jwe), k, out, sizeof(out),
					       &len, &e), -EINVAL);
		free(jwe);
		jwe = libjose_seal(k, "ECDH-ES", "A128CBC-HS256", "hello");
		assert_int_equal(seal_open_jwk(jwe, strlen(jwe), k, out, sizeof(out),
					       &len, &e), -EINVAL);
		free(jwe);
		json_decref(k);
	}
}

static char *seg_replace(const char *jwe, int idx, const char *with)
{
	const char *p = jwe, *start;
	char *out = malloc(strlen(jwe) + strlen(with) + 1);
	size_t o = 0;

	for (int i = 0; i < 5; i++) {
		start = p;
		while (*p && *p != '.')
			p++;
		if (i)
			out[o++] = '.';
		if (i == idx) {
			memcpy(out + o, with, strlen(with));
			o += strlen(with);
		} else {
			memcpy(out + o, start, (size_t)(p - start));
			o += (size_t)(p - start);
		}
		if (*p)
			p++;
	}
	out[o] = '\0';
	return out;
}

static char *seg_flip(const char *jwe, int idx)
{
	const char *p = jwe;
	char seg[4096], *r;
	uint8_t buf[3072];
	size_t len, n;

	for (int i = 0; i < idx; i++)
		p = strchr(p, '.') + 1;
	n = strcspn(p, ".");
	memcpy(seg, p, n);
	seg[n] = '\0';
	assert_int_equal(jw_b64_decode(seg, n, buf, sizeof(buf), &len), 0);
	buf[len / 2] ^= 0x80;
	jw_b64_encode_to(buf, len, seg);
	r = seg_replace(jwe, idx, seg);
	return r;
}

static void test_seal_tampering(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(seal_keys); i++) {
		json_t *k = gen_jwk(seal_keys[i]), *pub = pub_of(k);
		json_t *other = gen_jwk(seal_keys[i]);
		struct err e = { { 0 } };
		uint8_t out[64];
		size_t len;
		char *jwe = NULL, *t;

		assert_int_equal(seal_to_jwk(pub, (const uint8_t *)"secret", 6, &jwe, &e), 0);
		/* header, iv, ciphertext, tag; encrypted key (RSA) */
		for (int s = 0; s < 5; s++) {
			if (s == 1 && i > 0)
				continue;
			t = seg_flip(jwe, s);
			memset(&e, 0, sizeof(e));
			assert_true(seal_open_jwk(t, strlen(t), k, out, sizeof(out), &len,
						  &e) < 0);
			free(t);
		}
		/* a truncated tag is not a shorter tag */
		{
			const char *tag = strrchr(jwe, '.') + 1;
			char shorter[32];

			snprintf(shorter, sizeof(shorter), "%.16s", tag);
			t = seg_replace(jwe, 4, shorter);
			assert_int_equal(seal_open_jwk(t, strlen(t), k, out, sizeof(out),
						       &len, &e), -EBADMSG);
			free(t);
		}
		/* another key (kid differs) */
		assert_int_equal(seal_open_jwk(jwe, strlen(jwe), other, out, sizeof(out),
					       &len, &e), -EKEYREJECTED);
		/* six segments, four segments, oversize */
		assert_int_equal(asprintf(&t, "%s.x", jwe) > 0, 1);
		assert_int_equal(seal_open_jwk(t, strlen(t), k, out, sizeof(out), &len,
					       &e), -EBADMSG);
		free(t);
		t = strdup(jwe);
		*strrchr(t, '.') = '\0';
		assert_int_equal(seal_open_jwk(t, strlen(t), k, out, sizeof(out), &len,
					       &e), -EBADMSG);
		free(t);
		assert_int_equal(seal_open_jwk(jwe, SEAL_MAX_SIZE + 1, k, out, sizeof(out),
					       &len, &e), -E2BIG);
		free(jwe);
		json_decref(k);
		json_decref(pub);
		json_decref(other);
	}
	/* RSA1_5 in the header of an RSA seal is refused before any RSA */
	{
		json_t *k = gen_jwk(seal_keys[0]), *pub = pub_of(k), *h;
		struct err e = { { 0 } };
		char *jwe = NULL, *hs, *hb, *t;
		uint8_t out[64], buf[512];
		size_t len;

		assert_int_equal(seal_to_jwk(pub, (const uint8_t *)"x", 1, &jwe, &e), 0);
		assert_int_equal(jw_b64_decode(jwe, strcspn(jwe, "."), buf, sizeof(buf),
					       &len), 0);
		h = json_loadb((const char *)buf, len, 0, NULL);
		json_object_set_new(h, "alg", json_string("RSA1_5"));
		hs = dump(h);
		hb = jw_b64_encode(hs, strlen(hs));
		t = seg_replace(jwe, 0, hb);
		assert_int_equal(seal_open_jwk(t, strlen(t), k, out, sizeof(out), &len,
					       &e), -EINVAL);
		free(t);
		free(hb);
		free(hs);
		json_decref(h);
		free(jwe);
		json_decref(k);
		json_decref(pub);
	}
}

/* A keyop that fails (a TPM refusing) ends in -EKEYREJECTED. */
static int bad_ecdh(void *u, const uint8_t *peer, size_t peer_len, uint8_t *z,
		    size_t max, size_t *ret_len, struct err *e)
{
	return err_set(e, EIO, "TPM says no");
}

static void test_seal_keyop(void **state)
{
	json_t *k = gen_jwk(seal_keys[1]), *pub = pub_of(k);
	struct seal_keyop op = { .ecdh_zgen = bad_ecdh };
	struct seal_keyop rsa_only = { 0 };
	struct err e = { { 0 } };
	uint8_t out[16];
	size_t len;
	char *jwe = NULL;

	assert_int_equal(seal_to_jwk(pub, (const uint8_t *)"x", 1, &jwe, &e), 0);
	assert_true(seal_open(jwe, strlen(jwe), &op, NULL, out, sizeof(out), &len, &e) < 0);
	assert_int_equal(seal_open(jwe, strlen(jwe), &rsa_only, NULL, out, sizeof(out),
				   &len, &e), -EINVAL);
	free(jwe);
	json_decref(k);
	json_decref(pub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guardian_round_trips),
		cmocka_unit_test(test_guardian_names),
		cmocka_unit_test(test_metadata_tampering),
		cmocka_unit_test(test_private_file_refusals),
		cmocka_unit_test(test_public_json_refuses_private),
		cmocka_unit_test(test_kp_create_parse_unwrap),
		cmocka_unit_test(test_kp_all_algorithms),
		cmocka_unit_test(test_kp_libjose_interop),
		cmocka_unit_test(test_kp_roll),
		cmocka_unit_test(test_kp_descriptor_cache),
		cmocka_unit_test(test_ec_points),
		cmocka_unit_test(test_thumbprint_as_libjose),
		cmocka_unit_test(test_kp_seal_by_stranger),
		cmocka_unit_test(test_kp_grant_revoke),
		cmocka_unit_test(test_kp_create_refusals),
		cmocka_unit_test(test_kp_generation_limit),
		cmocka_unit_test(test_kp_tampering),
		cmocka_unit_test(test_kp_encrypted_key_tampered),
		cmocka_unit_test(test_kp_weak_algorithms),
		cmocka_unit_test(test_kp_oversize),
		cmocka_unit_test(test_seal_round_trip),
		cmocka_unit_test(test_seal_from_libjose),
		cmocka_unit_test(test_seal_tampering),
		cmocka_unit_test(test_seal_keyop),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
