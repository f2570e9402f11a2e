/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: key protectors from untrusted bytes (what hgsd's
 * POST /v1/unwrap parses before anything else).
 *
 *  - kp_parse on the input;
 *  - when it parses, kp_unwrap as the fixed owner and the fixed guardian
 *    below (the seeds in corpus/kp/ were made with them), which must agree
 *    on the TK; and kp_roll by the guardian, whose output must parse again
 *    (a roll we cannot read back aborts).
 * The keys are test keys, generated for this harness only.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kp/kp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_owner[] =
	"{\"type\":\"shieldvm-guardian-private\",\"version\":1,\"name\":\"fuzz-own"
	"er\",\"id\":\"3gqXhpqxYnu6jgWCQfqSq0FqWVORYe7Gl4_IZk2SU4E\",\"algorith"
	"m\":\"ec-p256\",\"encryption\":{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"Ltmr8vc"
	"FAYVY5krSGvHxQM-9-OBrQWUHF2JJu9qD41I\",\"y\":\"3VXBM4tjHv5Ej9wFluvrL"
	"_2cT47aWgOWO97tUqg4X_U\",\"d\":\"kTrzzN8JMl176hdDqKFrIFd4RQsI20iL_lW"
	"OZBkp07M\",\"alg\":\"ECDH-ES+A256KW\",\"use\":\"enc\",\"kid\":\"3gqXhpqxYnu6"
	"jgWCQfqSq0FqWVORYe7Gl4_IZk2SU4E\"},\"signing\":{\"kty\":\"EC\",\"crv\":\"P"
	"-256\",\"x\":\"0QMedImECPJTN8u8dqz53i1HNg2GOccP8OLQTu1LU0A\",\"y\":\"Ivz"
	"aRfH-kfxLz6EJM1oc6FlcE2lCCyOz79UY46_bHlg\",\"d\":\"d5dDR51LyR-C2qiF2"
	"NdtGwvcSBplMW3-gG0iBWcSMns\",\"alg\":\"ES256\",\"use\":\"sig\",\"kid\":\"y3x"
	"YMj6SU4AYwuAp7gP1VqY8c4NsTsq_gAisXmYTjRI\"}}";
static const char fuzz_hgs[] =
	"{\"type\":\"shieldvm-guardian-private\",\"version\":1,\"name\":\"fuzz-hgs"
	"\",\"id\":\"zPL4NVl4Sr3to2H2w2itQhtaRem8fZ9LLfLuLW2GkXo\",\"algorithm\""
	":\"ec-p256\",\"encryption\":{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"SCpGMyohT"
	"17b7wfLXyb8d1RAU0bNzXFn96_gI5w1-7w\",\"y\":\"EapeKKswlv_Y1Wk77O9iYO5"
	"pfWOLhM8V_AEI_eReQCw\",\"d\":\"22NZ37aXN9pAw5367wx9lTJEjWxKRjbQEMUSw"
	"yys3iE\",\"alg\":\"ECDH-ES+A256KW\",\"use\":\"enc\",\"kid\":\"zPL4NVl4Sr3to2"
	"H2w2itQhtaRem8fZ9LLfLuLW2GkXo\"},\"signing\":{\"kty\":\"EC\",\"crv\":\"P-2"
	"56\",\"x\":\"QFxywJWHWNXy0aTTDve78vUNVQs3Di0gDAPWMCoVlwE\",\"y\":\"kam9Y"
	"kqkIBuf-YEci0bQecvXkamHP-Bhs3y6Dos-k6s\",\"d\":\"5YuBaQlqIfEDg0Vyr9x"
	"kXp5uPTdJPQJcjCk7w3YuVeA\",\"alg\":\"ES256\",\"use\":\"sig\",\"kid\":\"2kIl7"
	"VR1SR6aQrH_sT2lr-GsajHVCzaaokgNwZeBFn4\"}}";
static struct guardian *owner, *hgs;

static void init(void)
{
	if (owner)
		return;
	if (guardian_from_private_json(fuzz_owner, strlen(fuzz_owner), &owner, NULL) < 0 ||
	    guardian_from_private_json(fuzz_hgs, strlen(fuzz_hgs), &hgs, NULL) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = { { 0 } };
	uint8_t tk_o[KP_TK_SIZE], tk_h[KP_TK_SIZE];
	struct kp *kp = NULL, *next = NULL;
	char *rolled = NULL;
	int ro, rh;

	init();
	if (kp_parse((const char *)data, size, &kp, &e) < 0)
		return 0;
	ro = kp_unwrap(kp, owner, tk_o, &e);
	rh = kp_unwrap(kp, hgs, tk_h, &e);
	if (ro == 0 && rh == 0 && memcmp(tk_o, tk_h, KP_TK_SIZE) != 0)
		abort(); /* two recipients of one KP, two TKs */
	if (kp_has_recipient(kp, hgs->id)) {
		if (kp_roll(kp, hgs, tk_h, &rolled, &e) < 0)
			abort();
		if (kp_parse(rolled, strlen(rolled), &next, &e) < 0 ||
		    kp_generation(next) != kp_generation(kp) + 1)
			abort(); /* we wrote a KP we do not accept */
		kp_free(next);
		free(rolled);
	}
	kp_free(kp);
	return 0;
}
