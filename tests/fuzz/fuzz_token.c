/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: health tokens and JWKs from untrusted bytes.
 *
 *  - token_verify on the input as a compact JWT, against a fixed JWK Set
 *    (the public key that signed the valid seeds in corpus/token/) at a
 *    fixed time inside those seeds' lifetime, so mutations of a valid
 *    token reach the claim checks;
 *  - when the input is a JSON object, the JWK paths: its RFC 7638
 *    thumbprint; token_issue with it as the cnf transport key (any token
 *    issued must then verify: an issue/verify disagreement aborts); and
 *    token_verify of a fixed valid token with it as the JWK Set's key.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attest/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1700000060 /* inside the valid seeds' lifetime */

static const char fixed_jwks[] =
	"{\"keys\":[{\"alg\":\"ES256\",\"crv\":\"P-256\","
	"\"kid\":\"HgLRNp6aZdq0C6hTfWhSdXiNiR1Fy_4KtAth2Z1x3As\","
	"\"kty\":\"EC\",\"use\":\"sig\","
	"\"x\":\"wDf3Jeb-CL0MWjwrZkV6AGCWo6QBK2LwkxNW9mSxIIo\","
	"\"y\":\"5pDr0mblhLPIDC1L8DxpdF9FcJDa5xY23KDt7RvTIN4\"}]}";

static json_t *jwks;
static struct token_key *key;     /* signs tokens for the JWK paths */
static json_t *own_jwks;          /* {"keys": [key->jwk]} */
static char *own_token;           /* a valid token signed by key */

static void init(void)
{
	struct token_claims c = { 0 };
	json_t *cnf = NULL;

	if (jwks)
		return;
	jwks = json_loads(fixed_jwks, 0, NULL);
	if (!jwks || token_key_generate(&key, NULL) < 0)
		abort();
	own_jwks = json_pack("{s:[O]}", "keys", key->jwk);
	/* the signing key's own public JWK serves as a valid cnf key */
	cnf = json_deep_copy(key->jwk);
	if (!own_jwks || !cnf)
		abort();
	json_object_del(cnf, "alg");
	json_object_del(cnf, "use");
	c.iat = FUZZ_NOW;
	c.exp = FUZZ_NOW + 3600;
	memcpy(c.host, "fuzz", 5);
	memcpy(c.policy_id, "fuzz", 5);
	memcpy(c.verifier_build, "hgsd fuzz", 10);
	c.cnf_jwk = cnf;
	if (token_issue(key, &c, &own_token, NULL) < 0)
		abort();
	json_decref(cnf);
}

static void jwk_paths(json_t *jwk)
{
	struct token_claims c = { 0 }, out = { 0 };
	struct err e = { { 0 } };
	char thp[64], *jwt = NULL;
	json_t *set;

	token_jwk_thumbprint(jwk, thp, &e);

	c.iat = FUZZ_NOW;
	c.exp = FUZZ_NOW + 3600;
	c.status = TOKEN_WARNING;
	c.mode = TOKEN_MODE_HOST_KEY;
	memcpy(c.host, "fuzz", 5);
	memcpy(c.policy_id, "fuzz", 5);
	memcpy(c.verifier_build, "hgsd fuzz", 10);
	c.cnf_jwk = jwk;
	if (token_issue(key, &c, &jwt, &e) == 0) {
		if (token_verify(own_jwks, jwt, FUZZ_NOW, &out, &e) != 0)
			abort(); /* we issued a token we do not accept */
		token_claims_clear(&out);
		free(jwt);
	}

	/* the input as the JWK Set entry for own_token's kid */
	set = json_pack("{s:[O]}", "keys", jwk);
	if (!set)
		return;
	if (json_is_object(jwk) && !json_object_get(jwk, "kid"))
		json_object_set_new(jwk, "kid", json_string(key->kid));
	token_verify(set, own_token, FUZZ_NOW, &out, &e);
	token_claims_clear(&out);
	json_decref(set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_claims out = { 0 };
	struct err e = { { 0 } };
	char *s;
	json_t *j;

	init();
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (token_verify(jwks, s, FUZZ_NOW, &out, &e) == 0)
		token_claims_clear(&out);
	free(s);

	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (j && json_is_object(j))
		jwk_paths(j);
	json_decref(j);
	return 0;
}
