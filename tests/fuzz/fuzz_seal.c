/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: sealed JWEs (what a guarded host receives from hgsd)
 * from untrusted bytes. seal_open on the input with each of three fixed
 * software transport keys (EC P-256, EC P-384, RSA-2048; the seeds in
 * corpus/seal/ were sealed to them) behind a keyop like the host's TPM
 * one: seal_open's parsing, the ECDH / RSA-OAEP key step and A256GCM.
 * The keys are test keys, generated for this harness only.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>

#include <jansson.h>

#include "kp/jw.h"
#include "kp/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char seal_p256[] =
	"{\"crv\":\"P-256\",\"d\":\"DpUqcfQuaCQJr8HCa_JK8_bgJnAeI_9nIBRVSpm_93c\""
	",\"kty\":\"EC\",\"x\":\"TFvWmgm8JZLrV1yDAp7OEOFyI2Kc_0FNA4bwO_R1hnc\",\"y"
	"\":\"u1kB4HYHWFv_MbJV-HKFA4ucaWSNTURQr_mj8axYST8\"}";
static const char seal_p384[] =
	"{\"crv\":\"P-384\",\"d\":\"ZjBRC_RyubksjKU7EAJ1b1BTT7xVqMK_JcyXqnl9nHAP"
	"4oNsGVsa-kADXSHlHTC_\",\"kty\":\"EC\",\"x\":\"UKyt2B-Pq0jGZm8kEy7G-ZGLuV"
	"6AUxkQm0Hw60KO6aB0N3j2azYnygoxEZ7tcx03\",\"y\":\"ubib8mdLha90jSIsSAI"
	"wBHUJrhm-VXu-KcM9g62OuB4afjs01hVu1Ml7TqQ2MvwZ\"}";
static const char seal_rsa[] =
	"{\"d\":\"EHt7aoMrmEbcIbtx_iMXKRliishfK4AIyd9LTg7Wn_xZCGZLoBCLZrGnd2"
	"83dnFAGy4GgvAuO5MCceDQZ3ddWPsXOqwFHRW8_vR8tDzVv9LlXshOtMu9vieAV3"
	"6u1WCdU9Zp7oYUqAf-H9mwDpvYwt5WYk-nsl1ziTcBC6-EdIMG9QEZnl1-qIDZvQ"
	"MQgiH99IKy4eEftchhvIdsocBP75dcq6e7PhOFYmJckNgiSMYCUNsWgfVAWQvkD-"
	"SHs6bhpBJICp8q5Zuur_0HnJkUjuOEBLP25_P6SIdeOd0QqKNnaat8iqlrKSpDhM"
	"Jm9MjcJgKl-7H48vXAb9qgVNG0YQ\",\"dp\":\"tZ4LQlYP2cqgKn0-3VtWmfRf-gIx"
	"SPm-Z8Ej7t9AI4k2bDz6Mt8KQlcxOiuscxFYBABbEu_lfVAg5vEjgGDxBhwwqhU4"
	"MOz4UczhG2UNY7bWNgMPeWNLvND6TFiBxvs7jYjRsNLEME3AUjA3F3y32jh3W3u3"
	"yowLFvzOkQ01Xz0\",\"dq\":\"d6HDaho2ZjGmdgWPVXTydu-nqJDyjcX8A9DADZaGJ"
	"jBv3q-5Q1sS5Nb7H1hY-_zS4Ga2zRourhOOCLFiM66eCiqYQ8QymOiPMI57Hvgcm"
	"8U3JuSHzx2YxQr9QK6KBIO-jylzudarRfthnzZagaZY0vpfYci9WVUXUL4NO0BiP"
	"T0\",\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"uVjmyUtLLUN884GoN77e-d_Um80hurzk"
	"2YZKB9M5wTqN01eAXgJCu9-W-iTZawjlqdK-J0zVeA9f-R1xV1CCCSfk1-gYS62C"
	"wPzShk4ZgYWWTNsq64zZmqx5ivBJ-UyMwiQY0Lx-bHAEj7ebKMJM5tW14bFffuiK"
	"C1tKFt2-dsJtssQbVOE379e28Ae7arl2zg3lkzW8B4pUR0usXFCOqbEm2-_nvARJ"
	"S3MjeHFDJ6DgGU5eiJodf7KZL64k84Mir8315YvVKthJFoNt2uAijR7bwWp73kin"
	"re2bYwverQvmI7L-DntEF22cIdskSKW78i4nOCxf2cjyzWhAZw6Efw\",\"p\":\"593"
	"u_IaUJsp1vMhxMl6DLuHWrhhfZ_kYUFjyFiNSlnkSqxvy9BFCrrCnzsDeSru-emv"
	"km6_4uZ9N3JAdc1STXpvEJePnp4mOZCTWj1DSiGd1d4DrhpyOTuCMQnCs_BXV5N9"
	"ziSxb5RSE-MBsPDiwNqiWL8pRHngsdXO8IH5r1ws\",\"q\":\"zKN1Ei2_OrMycFI_q"
	"8jOyahdi_fDG1orZ1bXsOC_WE3RExLnCYzw5FECjEY28KaOc26gFNqS4ZRNq8Po6"
	"jB7N7y3lA1Fwj26J-bLSJe6RJSz-1jrYl9LjjGiaZWhXa8al8wdctsvGrmT60lHC"
	"MdmzvT1FvPrkUkR4tYckRYNoN0\",\"qi\":\"TaLQWPTieT2-tWwd8c4HlHXwgZZroM"
	"hEDxiifHNFpfC8KSK_W22QoCx2Nt13laNYEEe8fpVZScekioIg8Q3tZU5CYBoEBm"
	"9SJTrP3fRLoQ95oNypryK0jmFioUbLjHxZgTx9MeidbJtd8O_vgRmxshT58ZKFeK"
	"OBUZNoOcVOIpo\"}";
static EVP_PKEY *keys[3];
static char kids[3][JW_KID_MAX];

/* The host's keyop, in software: what a TPM does for seal_open. */
static int rsa(void *u, const uint8_t *in, size_t in_len, uint8_t *out,
	       size_t max, size_t *ret_len, struct err *e)
{
	return jw_rsa_oaep_decrypt(u, in, in_len, out, max, ret_len, e);
}

static int ecdh(void *u, const uint8_t *peer, size_t peer_len, uint8_t *z,
		size_t max, size_t *ret_len, struct err *e)
{
	EVP_PKEY *p = NULL;
	int r = jw_ec_pub(peer, peer_len, &p, e);

	if (r == 0 && EVP_PKEY_get_bits(p) != EVP_PKEY_get_bits(u))
		r = -EKEYREJECTED;
	if (r == 0)
		r = jw_ecdh(u, p, z, max, ret_len, e);
	EVP_PKEY_free(p);
	return r;
}

static void init(void)
{
	const char *text[] = { seal_p256, seal_p384, seal_rsa };
	enum jw_kty kty;

	if (keys[0])
		return;
	/* the keys are built once: an RSA pairwise check per input would
	 * leave the fuzzer a few executions a second */
	for (int i = 0; i < 3; i++) {
		json_t *j = json_loads(text[i], 0, NULL);

		if (!j || jw_jwk_check(j, true, JW_RSA_MIN_BITS, JW_RSA_MAX_BITS, &kty,
				       &keys[i], NULL) < 0 ||
		    jw_thumbprint(j, kids[i], NULL) < 0)
			abort();
		json_decref(j);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[SEAL_MAX_PLAINTEXT];
	size_t len;

	init();
	for (int i = 0; i < 3; i++) {
		struct seal_keyop op = { .userdata = keys[i] };
		struct err e = { { 0 } };

		if (i == 2)
			op.rsa_oaep_decrypt = rsa;
		else
			op.ecdh_zgen = ecdh;
		if (seal_open((const char *)data, size, &op, kids[i], out, sizeof(out),
			      &len, &e) == 0 && len > sizeof(out))
			abort();
	}
	return 0;
}
