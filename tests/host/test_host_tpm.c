/* SPDX-License-Identifier: Apache-2.0 */
/*
 * src/host/tpm.c against swtpm (run by tests/host/with-swtpm.sh): what the
 * TPM produces is checked with the project's verifiers (src/attest) and with
 * tpm2-tools' tpm2_checkquote and OpenSSL as peers.
 */
#include <dirent.h>
#include <errno.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "attest/credential.h"
#include "attest/ekcert.h"
#include "attest/hash.h"
#include "attest/quote.h"
#include "attest/tpm2.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/util.h"
#include "helpers.h"

extern char **environ;

static const uint8_t nonce[20] = { 0x5e, 0xed, 1,  2,  3,  4,  5,  6,  7,  8,
				   9,	 10,   11, 12, 13, 14, 15, 16, 17, 18 };

/* Each test group shares one TPM connection (swtpm serves one client). */
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

static TPMT_PUBLIC public_of(const struct host_tpm_public *p)
{
	TPMT_PUBLIC pub;
	struct err e = { 0 };

	check_ok(tpm2_tpm2b_public_unmarshal(p->pub, p->pub_len, &pub, &e), &e);
	return pub;
}

static struct tpm2_key *key_of(const struct host_tpm_key *k)
{
	struct tpm2_key *key = NULL;
	struct err e = { 0 };

	check_ok(tpm2_key_from_public(k->pub.pub, k->pub.pub_len, &key, &e),
		 &e);
	return key;
}

/* ---- PCR banks, EK --------------------------------------------------*/

static void test_pcr_banks(void **state)
{
	uint16_t banks[8];
	size_t n = 0;
	struct err e = { 0 };
	bool sha256 = false;

	check_ok(host_tpm_pcr_banks(*state, banks, ARRAY_SIZE(banks), &n, &e),
		 &e);
	for (size_t i = 0; i < n; i++)
		if (banks[i] == TPM_ALG_SHA256)
			sha256 = true;
	assert_true(n >= 1);
	assert_true(sha256);
}

static struct ekcert_cas *load_cas(void)
{
	const char *dir = test_env("SHIELDVM_TEST_CA_DIR");
	struct ekcert_cas *cas = NULL;
	struct err e = { 0 };
	struct dirent *de;
	DIR *d = opendir(dir);

	assert_non_null(d);
	check_ok(ekcert_cas_new(&cas, &e), &e);
	while ((de = readdir(d))) {
		char path[1024];
		_cleanup_free_ uint8_t *buf = NULL;
		size_t len;

		if (!strstr(de->d_name, ".pem"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		check_ok(file_read(path, EKCERT_MAX_SIZE, &buf, &len, &e), &e);
		assert_true(ekcert_cas_add(cas, buf, len, path, &e) >= 1);
	}
	closedir(d);
	return cas;
}

static void check_ek(struct host_tpm *t, enum host_tpm_ek_type type,
		     bool has_cert, struct ekcert_cas *cas)
{
	struct host_tpm_public ek, again;
	struct err e = { 0 };
	_cleanup_free_ uint8_t *cert = NULL;
	size_t cert_len = 0;
	TPMT_PUBLIC pub;
	int r;

	check_ok(host_tpm_ek_public(t, type, &ek, &e), &e);
	pub = public_of(&ek);
	/* The standard template: a restricted decryption key the TPM made,
	 * usable with credential_make(). */
	assert_true(pub.objectAttributes & TPMA_OBJECT_RESTRICTED);
	assert_true(pub.objectAttributes & TPMA_OBJECT_DECRYPT);
	assert_true(pub.objectAttributes & TPMA_OBJECT_FIXEDTPM);
	assert_int_equal(pub.type, type == HOST_TPM_EK_RSA2048 ? TPM2_ALG_RSA :
								 TPM2_ALG_ECC);
	/* Same template and seed, same key. */
	check_ok(host_tpm_ek_public(t, type, &again, &e), &e);
	assert_int_equal(ek.name_len, again.name_len);
	assert_memory_equal(ek.name, again.name, ek.name_len);

	r = host_tpm_ek_cert(t, type, &cert, &cert_len, &e);
	if (!has_cert) {
		assert_int_equal(r, -ENOENT);
		assert_non_null(strstr(e.msg, "not defined"));
		return;
	}
	check_ok(r, &e);
	check_ok(ekcert_match_public(cert, cert_len, &pub, &e), &e);
	check_ok(ekcert_verify(cas, cert, cert_len, 0, NULL, &e), &e);
}

static void test_ek(void **state)
{
	struct ekcert_cas *cas = load_cas();
	struct host_tpm_public rsa, p384;
	_cleanup_free_ uint8_t *cert = NULL;
	struct err e = { 0 };
	TPMT_PUBLIC pub;
	size_t len;

	/* swtpm_setup 0.7 certifies the RSA-2048 (L-1) and ECC P-384 (H-3)
	 * EKs; the P-256 (L-2) EK exists but has no certificate. */
	check_ek(*state, HOST_TPM_EK_RSA2048, true, cas);
	check_ek(*state, HOST_TPM_EK_ECC_P256, false, cas);
	check_ek(*state, HOST_TPM_EK_ECC_P384, true, cas);

	/* The RSA certificate is not the P-384 EK's. */
	check_ok(host_tpm_ek_public(*state, HOST_TPM_EK_RSA2048, &rsa, &e), &e);
	check_ok(host_tpm_ek_public(*state, HOST_TPM_EK_ECC_P384, &p384, &e),
		 &e);
	check_ok(host_tpm_ek_cert(*state, HOST_TPM_EK_RSA2048, &cert, &len, &e),
		 &e);
	pub = public_of(&p384);
	assert_int_equal(ekcert_match_public(cert, len, &pub, &e),
			 -EKEYREJECTED);
	ekcert_cas_free(cas);
}

/* ---- AK and key blobs ----------------------------------------------*/

static void test_ak_blobs(void **state)
{
	for (int type = 0; type < 2; type++) {
		struct host_tpm_key ak, back;
		uint8_t buf[HOST_TPM_KEY_FILE_MAX + 1];
		size_t len;
		struct err e = { 0 };
		TPMT_PUBLIC pub;

		check_ok(host_tpm_ak_create(*state, type, &ak, &e), &e);
		pub = public_of(&ak.pub);
		assert_int_equal(pub.objectAttributes,
				 TPMA_OBJECT_FIXEDTPM |
					 TPMA_OBJECT_FIXEDPARENT |
					 TPMA_OBJECT_SENSITIVEDATAORIGIN |
					 TPMA_OBJECT_USERWITHAUTH |
					 TPMA_OBJECT_RESTRICTED |
					 TPMA_OBJECT_SIGN_ENCRYPT);
		assert_int_equal(ak.pub.name_len, 34);

		check_ok(host_tpm_key_to_bytes(&ak, buf, sizeof(buf), &len, &e),
			 &e);
		check_ok(host_tpm_key_from_bytes(buf, len, &back, &e), &e);
		assert_int_equal(back.priv_len, ak.priv_len);
		assert_memory_equal(back.priv, ak.priv, ak.priv_len);
		assert_int_equal(back.pub.pub_len, ak.pub.pub_len);
		assert_memory_equal(back.pub.pub, ak.pub.pub, ak.pub.pub_len);
		assert_memory_equal(back.pub.name, ak.pub.name,
				    ak.pub.name_len);

		/* Truncated, trailing byte, wrong magic, wrong version. */
		memset(&e, 0, sizeof(e));
		assert_int_equal(host_tpm_key_from_bytes(buf, len - 1, &back,
							 &e),
				 -EBADMSG);
		buf[len] = 0;
		memset(&e, 0, sizeof(e));
		assert_int_equal(host_tpm_key_from_bytes(buf, len + 1, &back,
							 &e),
				 -EBADMSG);
		assert_non_null(strstr(e.msg, "trailing"));
		buf[0] ^= 1;
		assert_int_equal(host_tpm_key_from_bytes(buf, len, &back, &e),
				 -EBADMSG);
		buf[0] ^= 1;
		buf[5] = 2;
		assert_int_equal(host_tpm_key_from_bytes(buf, len, &back, &e),
				 -EBADMSG);
		buf[5] = 1;

		/* A blob with a damaged private part does not load. */
		back = ak;
		back.priv[back.priv_len - 1] ^= 0x80;
		memset(&e, 0, sizeof(e));
		assert_true(host_tpm_quote(*state, &back, NULL, 0, nonce,
					   sizeof(nonce),
					   &(struct host_tpm_quote){ 0 },
					   &e) < 0);
		assert_non_null(strstr(e.msg, "TPM2_Load"));
	}
}

/* ---- ActivateCredential --------------------------------------------*/

static void activate_one(struct host_tpm *t, enum host_tpm_ek_type ek_type,
			 enum host_tpm_key_type ak_type)
{
	struct host_tpm_public ek;
	struct host_tpm_key ak, other;
	struct credential cred;
	uint8_t secret[32], got[HOST_TPM_SECRET_MAX];
	size_t got_len = 0;
	struct err e = { 0 };
	TPMT_PUBLIC ekpub;

	check_ok(host_tpm_ek_public(t, ek_type, &ek, &e), &e);
	ekpub = public_of(&ek);
	check_ok(host_tpm_ak_create(t, ak_type, &ak, &e), &e);
	check_ok(host_tpm_ak_create(t, ak_type, &other, &e), &e);
	assert_int_equal(RAND_bytes(secret, sizeof(secret)), 1);

	check_ok(credential_make(&ekpub, ak.pub.name, ak.pub.name_len, secret,
				 sizeof(secret), &cred, &e),
		 &e);
	check_ok(host_tpm_activate_credential(t, ek_type, &ak, cred.id_object,
					      cred.id_object_len, cred.secret,
					      cred.secret_len, got, &got_len,
					      &e),
		 &e);
	assert_int_equal(got_len, sizeof(secret));
	assert_memory_equal(got, secret, sizeof(secret));
	OPENSSL_cleanse(got, sizeof(got));

	/* Made for another AK's name: the TPM refuses, nothing leaks. */
	memset(&e, 0, sizeof(e));
	check_ok(credential_make(&ekpub, other.pub.name, other.pub.name_len,
				 secret, sizeof(secret), &cred, &e),
		 &e);
	assert_int_equal(host_tpm_activate_credential(t, ek_type, &ak,
						      cred.id_object,
						      cred.id_object_len,
						      cred.secret,
						      cred.secret_len, got,
						      &got_len, &e),
			 -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "TPM2_ActivateCredential"));

	/* Made for another EK (a different type): refused as well. */
	if (ek_type != HOST_TPM_EK_RSA2048) {
		struct host_tpm_public rsa;
		TPMT_PUBLIC rsapub;

		check_ok(host_tpm_ek_public(t, HOST_TPM_EK_RSA2048, &rsa, &e),
			 &e);
		rsapub = public_of(&rsa);
		check_ok(credential_make(&rsapub, ak.pub.name, ak.pub.name_len,
					 secret, sizeof(secret), &cred, &e),
			 &e);
		memset(&e, 0, sizeof(e));
		assert_true(host_tpm_activate_credential(t, ek_type, &ak,
							 cred.id_object,
							 cred.id_object_len,
							 cred.secret,
							 cred.secret_len, got,
							 &got_len, &e) < 0);
	}
	/* Malformed input never reaches the TPM. */
	memset(&e, 0, sizeof(e));
	assert_int_equal(host_tpm_activate_credential(t, ek_type, &ak,
						      cred.id_object,
						      cred.id_object_len - 1,
						      cred.secret,
						      cred.secret_len, got,
						      &got_len, &e),
			 -EBADMSG);
	OPENSSL_cleanse(secret, sizeof(secret));
}

static void test_activate_rsa(void **state)
{
	activate_one(*state, HOST_TPM_EK_RSA2048, HOST_TPM_KEY_RSA2048);
	activate_one(*state, HOST_TPM_EK_RSA2048, HOST_TPM_KEY_ECC_P256);
}

static void test_activate_ecc(void **state)
{
	activate_one(*state, HOST_TPM_EK_ECC_P256, HOST_TPM_KEY_ECC_P256);
	activate_one(*state, HOST_TPM_EK_ECC_P384, HOST_TPM_KEY_RSA2048);
}

/* ---- Quote ---------------------------------------------------------*/

/* tpm2_quote -o's serialized PCR file: TPML_PCR_SELECTION and UINT32
 * count, then count TPML_DIGESTs of at most 8 values, C structs in host
 * byte order, selection order. */
static void write_tpm2_tools_pcrs(const char *path, const TPMS_ATTEST *att,
				  const struct quote_pcrs *pcrs)
{
	const TPML_PCR_SELECTION *sel = &att->attested.quote.pcrSelect;
	static TPML_DIGEST lists[16];
	uint32_t count = 0;
	FILE *f;

	memset(lists, 0, sizeof(lists));
	for (uint32_t b = 0; b < sel->count; b++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[b];
		const struct quote_pcr_bank *bank =
			quote_pcrs_bank((struct quote_pcrs *)pcrs, s->hash);
		const struct hash_alg *h = hash_alg_by_id(s->hash);

		assert_non_null(bank);
		for (unsigned p = 0; p < 24; p++) {
			TPML_DIGEST *l;

			if (!(s->pcrSelect[p / 8] & (1u << (p % 8))))
				continue;
			if (count == 0 || lists[count - 1].count == 8)
				count++;
			assert_true(count <= ARRAY_SIZE(lists));
			l = &lists[count - 1];
			l->digests[l->count].size = h->size;
			memcpy(l->digests[l->count].buffer, bank->values[p],
			       h->size);
			l->count++;
		}
	}
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(sel, sizeof(*sel), 1, f), 1);
	assert_int_equal(fwrite(&count, sizeof(count), 1, f), 1);
	assert_int_equal(fwrite(lists, sizeof(lists[0]), count, f), count);
	assert_int_equal(fclose(f), 0);
}

static int run(char *const argv[])
{
	pid_t pid;
	int status;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_file(const char *dir, const char *name, const void *buf,
		       size_t len, char *path, size_t path_size)
{
	struct err e = { 0 };

	snprintf(path, path_size, "%s/%s", dir, name);
	(void)unlink(path);
	check_ok(file_write(path, buf, len, 0600, &e), &e);
}

/* tpm2_checkquote as the peer oracle. */
static int checkquote(const struct host_tpm_key *ak,
		      const struct host_tpm_quote *q, const uint8_t *n,
		      size_t n_len)
{
	const char *dir = test_env("SHIELDVM_TEST_TMP");
	char pub[1024], msg[1024], sig[1024], pcrs[1024], hex[2 * 64 + 1];
	TPMS_ATTEST att;
	struct err e = { 0 };

	check_ok(tpm2_attest_unmarshal(q->att.attest, q->att.attest_len, &att,
				       &e),
		 &e);
	write_file(dir, "ak.pub", ak->pub.pub, ak->pub.pub_len, pub,
		   sizeof(pub));
	write_file(dir, "quote.msg", q->att.attest, q->att.attest_len, msg,
		   sizeof(msg));
	write_file(dir, "quote.sig", q->att.sig, q->att.sig_len, sig,
		   sizeof(sig));
	snprintf(pcrs, sizeof(pcrs), "%s/pcrs.ser", dir);
	write_tpm2_tools_pcrs(pcrs, &att, &q->pcrs);
	hex_encode(n, n_len, hex);
	return run((char *const[]){ "tpm2_checkquote", "-u", pub, "-m", msg,
				    "-s", sig, "-f", pcrs, "-g", "sha256", "-q",
				    hex, NULL });
}

static void quote_one(struct host_tpm *t, enum host_tpm_key_type type,
		      const uint16_t *banks, size_t n_banks)
{
	_cleanup_free_ struct host_tpm_quote *q = calloc(1, sizeof(*q));
	_cleanup_free_ struct quote_pcrs *bad = calloc(1, sizeof(*bad));
	struct host_tpm_key ak;
	struct tpm2_key *key;
	struct quote_info info;
	struct err e = { 0 };
	uint8_t other[sizeof(nonce)];

	assert_non_null(q);
	assert_non_null(bad);
	check_ok(host_tpm_ak_create(t, type, &ak, &e), &e);
	{
		/* Through a state file's bytes and back: the AK loads again. */
		uint8_t buf[HOST_TPM_KEY_FILE_MAX];
		size_t len;

		check_ok(host_tpm_key_to_bytes(&ak, buf, sizeof(buf), &len, &e),
			 &e);
		memset(&ak, 0, sizeof(ak));
		check_ok(host_tpm_key_from_bytes(buf, len, &ak, &e), &e);
	}
	check_ok(host_tpm_quote(t, &ak, banks, n_banks, nonce, sizeof(nonce), q,
				&e),
		 &e);
	key = key_of(&ak);
	check_ok(quote_verify(key, q->att.attest, q->att.attest_len, q->att.sig,
			      q->att.sig_len, nonce, sizeof(nonce), &q->pcrs,
			      &info, &e),
		 &e);
	assert_true(info.pcr_digest_checked);
	assert_int_equal(info.n_banks, n_banks ? n_banks : q->pcrs.n_banks);
	for (unsigned i = 0; i < info.n_banks; i++)
		assert_int_equal(info.banks[i].mask, 0xffffff);
	assert_int_equal(info.sig_alg, type == HOST_TPM_KEY_RSA2048 ?
					       TPM2_ALG_RSASSA :
					       TPM2_ALG_ECDSA);
	assert_int_equal(checkquote(&ak, q, nonce, sizeof(nonce)), 0);

	/* Another nonce, another PCR value: rejected by both verifiers. */
	memcpy(other, nonce, sizeof(other));
	other[0] ^= 1;
	memset(&e, 0, sizeof(e));
	assert_int_equal(quote_verify(key, q->att.attest, q->att.attest_len,
				      q->att.sig, q->att.sig_len, other,
				      sizeof(other), &q->pcrs, NULL, &e),
			 -EKEYREJECTED);
	assert_int_not_equal(checkquote(&ak, q, other, sizeof(other)), 0);
	*bad = q->pcrs;
	bad->banks[0].values[7][0] ^= 1;
	memset(&e, 0, sizeof(e));
	assert_int_equal(quote_verify(key, q->att.attest, q->att.attest_len,
				      q->att.sig, q->att.sig_len, nonce,
				      sizeof(nonce), bad, NULL, &e),
			 -EKEYREJECTED);
	tpm2_key_free(key);
}

static void test_quote(void **state)
{
	static const uint16_t sha256[] = { TPM_ALG_SHA256 };
	static const uint16_t two[] = { TPM_ALG_SHA1, TPM_ALG_SHA256 };
	static const uint16_t sha512[] = { TPM_ALG_SHA512 };
	struct host_tpm_key ak;
	struct host_tpm_quote q;
	struct err e = { 0 };
	const uint8_t *d[1];
	uint8_t digest[32];
	uint16_t alg = TPM_ALG_SHA256;

	/* Make PCRs 7 and 16 interesting. */
	memset(digest, 0x77, sizeof(digest));
	d[0] = digest;
	check_ok(host_tpm_pcr_extend(*state, 7, 1, &alg, d, &e), &e);
	check_ok(host_tpm_pcr_extend(*state, 16, 1, &alg, d, &e), &e);

	quote_one(*state, HOST_TPM_KEY_RSA2048, sha256, 1);
	quote_one(*state, HOST_TPM_KEY_ECC_P256, two, 2);
	quote_one(*state, HOST_TPM_KEY_ECC_P256, NULL, 0); /* all banks */

	/* A bank the TPM does not allocate; a bad nonce. */
	check_ok(host_tpm_ak_create(*state, HOST_TPM_KEY_ECC_P256, &ak, &e),
		 &e);
	assert_int_equal(host_tpm_quote(*state, &ak, sha512, 1, nonce,
					sizeof(nonce), &q, &e),
			 -EOPNOTSUPP);
	assert_non_null(strstr(e.msg, "sha512"));
	memset(&e, 0, sizeof(e));
	assert_int_equal(host_tpm_quote(*state, &ak, sha256, 1, nonce, 0, &q,
					&e),
			 -EINVAL);
}

/* ---- Transport key: certify, decrypt -------------------------------*/

static void test_certify(void **state)
{
	for (int at = 0; at < 2; at++)
		for (int tt = 0; tt < 2; tt++) {
			struct host_tpm_key ak, tk;
			struct host_tpm_attestation att;
			struct quote_info info;
			struct err e = { 0 };
			struct tpm2_key *key;
			TPMT_PUBLIC tkpub, akpub;
			uint8_t other[sizeof(nonce)];

			check_ok(host_tpm_ak_create(*state, at, &ak, &e), &e);
			check_ok(host_tpm_transport_key_create(*state, tt, &tk,
							       &e),
				 &e);
			check_ok(host_tpm_certify(*state, &ak, &tk, nonce,
						  sizeof(nonce), &att, &e),
				 &e);
			key = key_of(&ak);
			tkpub = public_of(&tk.pub);
			check_ok(quote_verify_certify(key, att.attest,
						      att.attest_len, att.sig,
						      att.sig_len, nonce,
						      sizeof(nonce), &tkpub,
						      &info, &e),
				 &e);
			assert_int_equal(info.name_len, tk.pub.name_len);
			assert_memory_equal(info.name, tk.pub.name,
					    tk.pub.name_len);
			check_ok(quote_check_transport_key(&tkpub, &e), &e);

			/* Not for another key, not for another nonce; the AK
			 * itself is no transport key. */
			akpub = public_of(&ak.pub);
			assert_int_equal(quote_verify_certify(key, att.attest,
							      att.attest_len,
							      att.sig,
							      att.sig_len,
							      nonce,
							      sizeof(nonce),
							      &akpub, NULL, &e),
					 -EKEYREJECTED);
			memcpy(other, nonce, sizeof(other));
			other[19] ^= 0x10;
			assert_int_equal(quote_verify_certify(key, att.attest,
							      att.attest_len,
							      att.sig,
							      att.sig_len,
							      other,
							      sizeof(other),
							      &tkpub, NULL, &e),
					 -EKEYREJECTED);
			assert_int_equal(quote_check_transport_key(&akpub, &e),
					 -EKEYREJECTED);
			tpm2_key_free(key);
		}
}

static void test_rsa_decrypt(void **state)
{
	struct host_tpm_key tk;
	struct err e = { 0 };
	TPMT_PUBLIC pub;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx;
	uint8_t secret[32], ct[256], out[256];
	size_t ct_len = sizeof(ct), out_len = 0;

	check_ok(host_tpm_transport_key_create(*state, HOST_TPM_KEY_RSA2048,
					       &tk, &e),
		 &e);
	pub = public_of(&tk.pub);
	check_ok(tpm2_public_to_pkey(&pub, &pkey, &e), &e);
	assert_int_equal(RAND_bytes(secret, sizeof(secret)), 1);

	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx,
						      RSA_PKCS1_OAEP_PADDING),
			 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &ct_len, secret,
					  sizeof(secret)),
			 1);
	EVP_PKEY_CTX_free(ctx);

	check_ok(host_tpm_rsa_decrypt(*state, &tk, ct, ct_len, out, sizeof(out),
				      &out_len, &e),
		 &e);
	assert_int_equal(out_len, sizeof(secret));
	assert_memory_equal(out, secret, sizeof(secret));

	/* A damaged ciphertext, a too small output buffer. */
	ct[100] ^= 1;
	memset(&e, 0, sizeof(e));
	assert_int_equal(host_tpm_rsa_decrypt(*state, &tk, ct, ct_len, out,
					      sizeof(out), &out_len, &e),
			 -EKEYREJECTED);
	ct[100] ^= 1;
	memset(&e, 0, sizeof(e));
	assert_int_equal(host_tpm_rsa_decrypt(*state, &tk, ct, ct_len, out, 16,
					      &out_len, &e),
			 -ENOBUFS);
	OPENSSL_cleanse(out, sizeof(out));
	OPENSSL_cleanse(secret, sizeof(secret));
	EVP_PKEY_free(pkey);
}

static void test_ecdh_zgen(void **state)
{
	struct host_tpm_key tk;
	struct err e = { 0 };
	TPMT_PUBLIC pub;
	EVP_PKEY *tkkey = NULL, *eph;
	EVP_PKEY_CTX *ctx;
	uint8_t point[65], z_sw[32], z_tpm[66];
	size_t point_len = 0, z_sw_len = sizeof(z_sw), z_tpm_len = 0;

	check_ok(host_tpm_transport_key_create(*state, HOST_TPM_KEY_ECC_P256,
					       &tk, &e),
		 &e);
	pub = public_of(&tk.pub);
	check_ok(tpm2_public_to_pkey(&pub, &tkkey, &e), &e);

	eph = EVP_EC_gen("P-256");
	assert_non_null(eph);
	assert_int_equal(EVP_PKEY_get_octet_string_param(
				 eph, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
				 sizeof(point), &point_len),
			 1);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(ctx, tkkey), 1);
	assert_int_equal(EVP_PKEY_derive(ctx, z_sw, &z_sw_len), 1);
	EVP_PKEY_CTX_free(ctx);

	check_ok(host_tpm_ecdh_zgen(*state, &tk, point, point_len, z_tpm,
				    sizeof(z_tpm), &z_tpm_len, &e),
		 &e);
	assert_int_equal(z_tpm_len, z_sw_len);
	assert_memory_equal(z_tpm, z_sw, z_sw_len);

	/* A point that is not on the curve. */
	point[40] ^= 1;
	memset(&e, 0, sizeof(e));
	assert_int_equal(host_tpm_ecdh_zgen(*state, &tk, point, point_len,
					    z_tpm, sizeof(z_tpm), &z_tpm_len,
					    &e),
			 -EKEYREJECTED);
	/* Compressed points are not accepted. */
	point[0] = 0x02;
	assert_int_equal(host_tpm_ecdh_zgen(*state, &tk, point, 33, z_tpm,
					    sizeof(z_tpm), &z_tpm_len, &e),
			 -EINVAL);
	OPENSSL_cleanse(z_sw, sizeof(z_sw));
	OPENSSL_cleanse(z_tpm, sizeof(z_tpm));
	EVP_PKEY_free(eph);
	EVP_PKEY_free(tkkey);
}

static void test_open_errors(void **state)
{
	struct host_tpm *t = NULL;
	struct err e = { 0 };

	(void)state;
	assert_true(host_tpm_open("swtpm:host=127.0.0.1,port=1", &t, &e) < 0);
	assert_null(t);
	assert_non_null(strstr(e.msg, "port=1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test_setup_teardown(test_pcr_banks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ak_blobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activate_rsa, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_activate_ecc, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_quote, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsa_decrypt, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ecdh_zgen, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
