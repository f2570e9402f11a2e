/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host transport key as seal_open's key operation (src/host/keyop.c)
 * against swtpm: JWEs sealed by seal_to_jwk (src/kp/seal.c) to the public
 * JWK of a TPM transport key open inside the TPM, for RSA (RSA-OAEP-256,
 * TPM2_RSA_Decrypt) and EC P-256 (ECDH-ES, TPM2_ECDH_ZGen); the kid must
 * be the key's thumbprint; another TPM key opens nothing.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "helpers.h"
#include "host/keyop.h"
#include "kp/seal.h"

static int setup(void **state)
{
	*state = test_tpm_open();
	return 0;
}

static int teardown(void **state)
{
	host_tpm_close(*state);
	return 0;
}

static const char msg[] = "{\"tk\":\"the transport key would be here\"}";

static void round_trip(struct host_tpm *t, enum host_tpm_key_type type)
{
	struct host_tpm_key key, other;
	struct host_keyop op, op_other;
	json_t *jwk = NULL;
	char *jwe = NULL, kid[64], other_kid[64];
	uint8_t out[SEAL_MAX_PLAINTEXT];
	size_t out_len = 0;
	struct err e = { 0 };

	check_ok(host_tpm_transport_key_create(t, type, &key, &e), &e);
	check_ok(host_tpm_transport_key_create(t, type, &other, &e), &e);
	check_ok(host_tpm_key_jwk(&key, &jwk, &e), &e);
	check_ok(host_tpm_key_thumbprint(&key, kid, &e), &e);
	check_ok(host_tpm_key_thumbprint(&other, other_kid, &e), &e);
	assert_string_not_equal(kid, other_kid);
	check_ok(seal_to_jwk(jwk, (const uint8_t *)msg, strlen(msg), &jwe, &e),
		 &e);

	host_keyop_init(&op, t, &key);
	check_ok(seal_open(jwe, strlen(jwe), &op.op, kid, out, sizeof(out),
			   &out_len, &e),
		 &e);
	assert_int_equal(out_len, strlen(msg));
	assert_memory_equal(out, msg, out_len);
	OPENSSL_cleanse(out, sizeof(out));

	/* the kid names another key: refused before the TPM is asked */
	memset(&e, 0, sizeof(e));
	assert_true(seal_open(jwe, strlen(jwe), &op.op, other_kid, out,
			      sizeof(out), &out_len, &e) < 0);
	assert_true(e.msg[0]);

	/* another TPM key, kid not checked: the TPM (RSA) or the GCM tag
	 * (EC: ZGen gives another secret) refuses */
	host_keyop_init(&op_other, t, &other);
	memset(&e, 0, sizeof(e));
	assert_int_equal(seal_open(jwe, strlen(jwe), &op_other.op, NULL, out,
				   sizeof(out), &out_len, &e),
			 -EKEYREJECTED);
	if (type == HOST_TPM_KEY_RSA2048)
		assert_non_null(strstr(e.msg, "TPM2_RSA_Decrypt"));

	/* a damaged ciphertext (last segment = tag) */
	{
		char *dot = strrchr(jwe, '.');

		dot[1] = dot[1] == 'A' ? 'B' : 'A';
		memset(&e, 0, sizeof(e));
		assert_int_equal(seal_open(jwe, strlen(jwe), &op.op, kid, out,
					   sizeof(out), &out_len, &e),
				 -EKEYREJECTED);
	}
	free(jwe);
	json_decref(jwk);
}

static void test_rsa(void **state)
{
	round_trip(*state, HOST_TPM_KEY_RSA2048);
}

static void test_ecc(void **state)
{
	round_trip(*state, HOST_TPM_KEY_ECC_P256);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rsa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ecc, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
