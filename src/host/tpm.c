/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guarded host's TPM: ESAPI over a tctildr TCTI. See tpm.h and
 * docs/host-tpm.md for the key hierarchy and the templates.
 */
#include "host/tpm.h"
#include "attest/ektemplate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "attest/hash.h"
#include "common/util.h"

/* How often host_tpm_quote() starts over when the PCRs moved under it. */
#define HOST_TPM_QUOTE_TRIES 5
/* TPM2_PCR_Read returns at most this many digests per call. */
#define HOST_TPM_PCR_READ_MAX 8

struct host_tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
};

/* ---- TSS2_RC at the boundary ------------------------------------------*/

/* TPM response codes (format-one codes keep only their error number). */
static int rc_errno(TSS2_RC rc)
{
	TSS2_RC base;

	if (rc == TSS2_RC_SUCCESS)
		return 0;
	if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER &&
	    (rc & TSS2_RC_LAYER_MASK) != TSS2_RESMGR_TPM_RC_LAYER)
		return tpm2_rc_to_errno(rc);
	base = rc & 0xFFFF;
	if (base & TPM2_RC_FMT1)
		base = TPM2_RC_FMT1 | (base & 0x3F);
	switch (base) {
	case TPM2_RC_INTEGRITY:
	case TPM2_RC_VALUE:
	case TPM2_RC_ECC_POINT:
	case TPM2_RC_NO_RESULT:
	case TPM2_RC_SIZE:
		return -EKEYREJECTED;
	case TPM2_RC_AUTH_FAIL:
	case TPM2_RC_BAD_AUTH:
	case TPM2_RC_POLICY_FAIL:
	case TPM2_RC_AUTH_UNAVAILABLE:
	case TPM2_RC_LOCKOUT:
	case TPM2_RC_NV_AUTHORIZATION:
		return -EACCES;
	case TPM2_RC_HANDLE:
	case TPM2_RC_REFERENCE_H0:
		return -ENOENT;
	case TPM2_RC_ASYMMETRIC:
	case TPM2_RC_CURVE:
	case TPM2_RC_HASH:
	case TPM2_RC_SCHEME:
	case TPM2_RC_KEY_SIZE:
	case TPM2_RC_PCR:
		return -EOPNOTSUPP;
	case TPM2_RC_RETRY:
	case TPM2_RC_YIELDED:
	case TPM2_RC_TESTING:
	case TPM2_RC_CANCELED:
		return -EAGAIN;
	case TPM2_RC_OBJECT_MEMORY:
	case TPM2_RC_SESSION_MEMORY:
	case TPM2_RC_MEMORY:
	case TPM2_RC_OBJECT_HANDLES:
	case TPM2_RC_SESSION_HANDLES:
		return -ENOSPC;
	default:
		return tpm2_rc_to_errno(rc);
	}
}

/* Record "what: decoded rc" and return the errno. */
static int rc_err(struct err *e, TSS2_RC rc, const char *what)
{
	return err_set(e, -rc_errno(rc), "%s: %s (0x%x)", what,
		       Tss2_RC_Decode(rc), rc);
}

static bool rc_is(TSS2_RC rc, TSS2_RC code)
{
	TSS2_RC base = rc & 0xFFFF;

	if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
		return false;
	if (base & TPM2_RC_FMT1)
		base = TPM2_RC_FMT1 | (base & 0x3F);
	return base == code;
}

/* The TPM may answer "retry" for a while after a reset or during self
 * test: ESAPI calls go through this. */
#define TPM_CALL(rc, call)                                   \
	do {                                                 \
		for (int _try = 0; _try < 20; _try++) {      \
			(rc) = (call);                       \
			if (!rc_is((rc), TPM2_RC_RETRY) &&   \
			    !rc_is((rc), TPM2_RC_YIELDED) && \
			    !rc_is((rc), TPM2_RC_TESTING))   \
				break;                       \
			usleep(10000);                       \
		}                                            \
	} while (0)

/* ---- cleanup helpers --------------------------------------------------*/

static void esys_freep(void *p)
{
	Esys_Free(*(void **)p);
}
#define _cleanup_esys_ _cleanup_(esys_freep)

/* A transient object or session, flushed at scope exit. */
struct tpm_obj {
	ESYS_CONTEXT *esys;
	ESYS_TR h;
};

static void tpm_obj_flush(struct tpm_obj *o)
{
	if (o->h != ESYS_TR_NONE)
		(void)Esys_FlushContext(o->esys, o->h);
	o->h = ESYS_TR_NONE;
}
#define _cleanup_flush_ _cleanup_(tpm_obj_flush)
#define TPM_OBJ(t)                                   \
	{                                            \
		.esys = (t)->esys, .h = ESYS_TR_NONE \
	}

/* ---- open/close -------------------------------------------------------*/

void host_tpm_close(struct host_tpm *t)
{
	if (!t)
		return;
	if (t->esys)
		Esys_Finalize(&t->esys);
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
	free(t);
}

int host_tpm_open(const char *tcti, struct host_tpm **ret, struct err *e)
{
	_cleanup_(host_tpm_closep) struct host_tpm *t = NULL;
	_cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;

	if (!tcti)
		tcti = HOST_TPM_DEFAULT_TCTI;
	/* tpm2-tss logs its own errors to stderr; ours carry the decoded
	 * code already, one line per failure. TSS2_LOG, when set, wins. */
	(void)setenv("TSS2_LOG", "all+NONE", 0);
	t = calloc(1, sizeof(*t));
	if (!t)
		return err_set(e, ENOMEM, "out of memory");

	rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		t->tcti = NULL;
		rc_err(e, rc, "cannot open TPM");
		err_prefix(e, "TCTI \"%s\"", tcti);
		return -EIO;
	}
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		t->esys = NULL;
		return rc_err(e, rc, "Esys_Initialize");
	}

	/* Probe; a TPM never started (swtpm without startup-clear) says
	 * TPM_RC_INITIALIZE, and a host agent may start it. */
	TPM_CALL(rc, Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
					ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
					TPM2_PT_MANUFACTURER, 1, &more, &cap));
	if (rc_is(rc, TPM2_RC_INITIALIZE)) {
		TPM_CALL(rc, Esys_Startup(t->esys, TPM2_SU_CLEAR));
		if (rc != TSS2_RC_SUCCESS)
			return rc_err(e, rc, "TPM2_Startup(CLEAR)");
		TPM_CALL(rc, Esys_GetCapability(t->esys, ESYS_TR_NONE,
						ESYS_TR_NONE, ESYS_TR_NONE,
						TPM2_CAP_TPM_PROPERTIES,
						TPM2_PT_MANUFACTURER, 1, &more,
						&cap));
	}
	if (rc != TSS2_RC_SUCCESS) {
		int r = rc_err(e, rc, "TPM2_GetCapability");

		err_prefix(e, "TCTI \"%s\"", tcti);
		return r;
	}
	*ret = TAKE_PTR(t);
	return 0;
}

/* ---- small pieces -----------------------------------------------------*/

static int get_property(struct host_tpm *t, TPM2_PT prop, uint32_t *ret,
			struct err *e)
{
	_cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;

	TPM_CALL(rc, Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
					ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
					prop, 1, &more, &cap));
	if (rc != TSS2_RC_SUCCESS)
		return rc_err(e, rc, "TPM2_GetCapability(TPM_PROPERTIES)");
	if (cap->data.tpmProperties.count < 1 ||
	    cap->data.tpmProperties.tpmProperty[0].property != prop)
		return err_set(e, ENOENT, "TPM does not report property 0x%x",
			       prop);
	*ret = cap->data.tpmProperties.tpmProperty[0].value;
	return 0;
}

static int public_fill(const TPM2B_PUBLIC *pub, struct host_tpm_public *ret,
		       struct err *e)
{
	size_t off = 0;
	TSS2_RC rc;
	int r;

	rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, ret->pub, sizeof(ret->pub),
					  &off);
	if (rc != TSS2_RC_SUCCESS)
		return rc_err(e, rc, "cannot marshal TPM2B_PUBLIC");
	ret->pub_len = off;
	r = tpm2_public_name(&pub->publicArea, ret->name, &ret->name_len, e);
	if (r < 0)
		return r;
	return 0;
}

static int key_unmarshal(const struct host_tpm_key *k, TPM2B_PRIVATE *priv,
			 TPM2B_PUBLIC *pub, struct err *e)
{
	size_t off = 0;
	TSS2_RC rc;

	memset(priv, 0, sizeof(*priv));
	memset(pub, 0, sizeof(*pub));
	rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(k->priv, k->priv_len, &off, priv);
	if (rc != TSS2_RC_SUCCESS || off != k->priv_len)
		return err_set(e, EBADMSG, "key blob: malformed TPM2B_PRIVATE");
	off = 0;
	rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(k->pub.pub, k->pub.pub_len, &off,
					    pub);
	if (rc != TSS2_RC_SUCCESS || off != k->pub.pub_len)
		return err_set(e, EBADMSG, "key blob: malformed TPM2B_PUBLIC");
	return 0;
}

/* ---- PCR banks --------------------------------------------------------*/

static int pcr_allocation(struct host_tpm *t, TPML_PCR_SELECTION *ret,
			  struct err *e)
{
	_cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;

	TPM_CALL(rc, Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
					ESYS_TR_NONE, TPM2_CAP_PCRS, 0, 1,
					&more, &cap));
	if (rc != TSS2_RC_SUCCESS)
		return rc_err(e, rc, "TPM2_GetCapability(PCRS)");
	*ret = cap->data.assignedPCR;
	return 0;
}

static bool selection_empty(const TPMS_PCR_SELECTION *s)
{
	for (unsigned i = 0; i < s->sizeofSelect && i < TPM2_PCR_SELECT_MAX;
	     i++)
		if (s->pcrSelect[i])
			return false;
	return true;
}

int host_tpm_pcr_banks(struct host_tpm *t, uint16_t *algs, size_t max,
		       size_t *ret_n, struct err *e)
{
	TPML_PCR_SELECTION sel;
	size_t n = 0;
	int r;

	r = pcr_allocation(t, &sel, e);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < sel.count && i < TPM2_NUM_PCR_BANKS; i++) {
		if (selection_empty(&sel.pcrSelections[i]))
			continue;
		if (n >= max)
			return err_set(e, ENOBUFS,
				       "TPM has more than %zu PCR banks", max);
		algs[n++] = sel.pcrSelections[i].hash;
	}
	*ret_n = n;
	return 0;
}

/* ---- templates --------------------------------------------------------*/

static const struct {
	const char *name;
	uint32_t nv_cert;
} ek_types[] = {
	[HOST_TPM_EK_RSA2048] = { "rsa2048", 0x01c00002 },
	[HOST_TPM_EK_ECC_P256] = { "ecc-p256", 0x01c0000a },
	[HOST_TPM_EK_ECC_P384] = { "ecc-p384", 0x01c00016 },
};

int host_tpm_ek_type_from_string(const char *s, enum host_tpm_ek_type *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(ek_types); i++)
		if (streq(s, ek_types[i].name)) {
			*ret = (enum host_tpm_ek_type)i;
			return 0;
		}
	return -EINVAL;
}

const char *host_tpm_ek_type_to_string(enum host_tpm_ek_type type)
{
	if ((size_t)type >= ARRAY_SIZE(ek_types))
		return "unknown";
	return ek_types[type].name;
}

int host_tpm_key_type_from_string(const char *s, enum host_tpm_key_type *ret)
{
	if (streq(s, "rsa2048") || streq(s, "rsa")) {
		*ret = HOST_TPM_KEY_RSA2048;
		return 0;
	}
	if (streq(s, "ecc-p256") || streq(s, "ecc")) {
		*ret = HOST_TPM_KEY_ECC_P256;
		return 0;
	}
	return -EINVAL;
}

/* The host's EK types are the shared TCG templates (src/attest/ektemplate.h). */
_Static_assert((int)HOST_TPM_EK_RSA2048 == (int)EKTEMPLATE_RSA2048_L1 &&
		       (int)HOST_TPM_EK_ECC_P256 == (int)EKTEMPLATE_ECC_P256_L2 &&
		       (int)HOST_TPM_EK_ECC_P384 == (int)EKTEMPLATE_ECC_P384_H3,
	       "host EK types follow the template enumeration");

static int ek_template(enum host_tpm_ek_type type, TPM2B_PUBLIC *ret,
		       struct err *e)
{
	memset(ret, 0, sizeof(*ret));
	if ((size_t)type >= ARRAY_SIZE(ek_types))
		return err_set(e, EINVAL, "unknown EK type %d", (int)type);
	ektemplate_public((enum ektemplate)type, &ret->publicArea);
	return 0;
}

/* SRK: TCG TPM v2.0 Provisioning Guidance, ECC P-256 storage key. */
static void srk_template(TPM2B_PUBLIC *ret)
{
	TPMT_PUBLIC *p = &ret->publicArea;

	memset(ret, 0, sizeof(*ret));
	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
	p->parameters.eccDetail.symmetric.keyBits.aes = 128;
	p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

#define KEY_ATTRS_BASE                                    \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH)

static int key_template(enum host_tpm_key_type type, bool ak, TPM2B_PUBLIC *ret,
			struct err *e)
{
	TPMT_PUBLIC *p = &ret->publicArea;

	memset(ret, 0, sizeof(*ret));
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes =
		KEY_ATTRS_BASE |
		(ak ? TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT :
		      TPMA_OBJECT_DECRYPT);
	switch (type) {
	case HOST_TPM_KEY_RSA2048:
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		if (ak) {
			p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
			p->parameters.rsaDetail.scheme.details.rsassa.hashAlg =
				TPM2_ALG_SHA256;
		} else {
			p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		}
		p->parameters.rsaDetail.keyBits = 2048;
		return 0;
	case HOST_TPM_KEY_ECC_P256:
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		if (ak) {
			p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
			p->parameters.eccDetail.scheme.details.ecdsa.hashAlg =
				TPM2_ALG_SHA256;
		} else {
			p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		}
		p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		return 0;
	}
	return err_set(e, EINVAL, "unknown key type %d", (int)type);
}

/* ---- primaries --------------------------------------------------------*/

static int create_primary(struct host_tpm *t, ESYS_TR hierarchy,
			  const TPM2B_PUBLIC *tmpl, const char *what,
			  ESYS_TR *ret, TPM2B_PUBLIC **ret_pub, struct err *e)
{
	static const TPM2B_SENSITIVE_CREATE sens = { 0 };
	static const TPM2B_DATA outside = { 0 };
	static const TPML_PCR_SELECTION no_pcrs = { 0 };
	_cleanup_esys_ TPM2B_CREATION_DATA *cdata = NULL;
	_cleanup_esys_ TPM2B_DIGEST *chash = NULL;
	_cleanup_esys_ TPMT_TK_CREATION *ticket = NULL;
	TSS2_RC rc;

	TPM_CALL(rc, Esys_CreatePrimary(t->esys, hierarchy, ESYS_TR_PASSWORD,
					ESYS_TR_NONE, ESYS_TR_NONE, &sens, tmpl,
					&outside, &no_pcrs, ret, ret_pub,
					&cdata, &chash, &ticket));
	if (rc != TSS2_RC_SUCCESS)
		return rc_err(e, rc, what);
	return 0;
}

static int ek_create(struct host_tpm *t, enum host_tpm_ek_type type,
		     ESYS_TR *ret, TPM2B_PUBLIC **ret_pub, struct err *e)
{
	TPM2B_PUBLIC tmpl;
	char what[64];
	int r;

	r = ek_template(type, &tmpl, e);
	if (r < 0)
		return r;
	snprintf(what, sizeof(what), "TPM2_CreatePrimary(EK %s)",
		 ek_types[type].name);
	return create_primary(t, ESYS_TR_RH_ENDORSEMENT, &tmpl, what, ret,
			      ret_pub, e);
}

static int srk_create(struct host_tpm *t, ESYS_TR *ret, struct err *e)
{
	_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
	TPM2B_PUBLIC tmpl;

	srk_template(&tmpl);
	return create_primary(t, ESYS_TR_RH_OWNER, &tmpl,
			      "TPM2_CreatePrimary(SRK ECC P-256)", ret, &pub,
			      e);
}

int host_tpm_ek_public(struct host_tpm *t, enum host_tpm_ek_type type,
		       struct host_tpm_public *ret, struct err *e)
{
	_cleanup_flush_ struct tpm_obj ek = TPM_OBJ(t);
	_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
	struct host_tpm_public out;
	int r;

	if ((size_t)type >= ARRAY_SIZE(ek_types))
		return err_set(e, EINVAL, "unknown EK type %d", (int)type);
	r = ek_create(t, type, &ek.h, &pub, e);
	if (r < 0)
		return r;
	r = public_fill(pub, &out, e);
	if (r < 0)
		return r;
	*ret = out;
	return 0;
}

/* ---- NV ---------------------------------------------------------------*/

int host_tpm_ek_cert(struct host_tpm *t, enum host_tpm_ek_type type,
		     uint8_t **ret, size_t *ret_len, struct err *e)
{
	_cleanup_esys_ TPM2B_NV_PUBLIC *nvpub = NULL;
	_cleanup_esys_ TPM2B_NAME *nvname = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	ESYS_TR nv = ESYS_TR_NONE, auth;
	uint32_t index, chunk_max = 0, size;
	TSS2_RC rc;
	int r;

	if ((size_t)type >= ARRAY_SIZE(ek_types))
		return err_set(e, EINVAL, "unknown EK type %d", (int)type);
	index = ek_types[type].nv_cert;

	TPM_CALL(rc, Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE,
					   ESYS_TR_NONE, ESYS_TR_NONE, &nv));
	if (rc != TSS2_RC_SUCCESS) {
		if (rc_errno(rc) == -ENOENT)
			return err_set(
				e, ENOENT,
				"no %s EK certificate: NV index 0x%08x is not defined",
				ek_types[type].name, index);
		return rc_err(e, rc, "NV index lookup");
	}
	TPM_CALL(rc, Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE,
					ESYS_TR_NONE, &nvpub, &nvname));
	if (rc != TSS2_RC_SUCCESS) {
		r = rc_err(e, rc, "TPM2_NV_ReadPublic");
		goto out;
	}
	size = nvpub->nvPublic.dataSize;
	if (size == 0 || size > EKCERT_MAX_SIZE) {
		r = err_set(e, EMSGSIZE,
			    "NV index 0x%08x holds %u bytes, not a certificate of at most %u",
			    index, size, EKCERT_MAX_SIZE);
		goto out;
	}
	/* EK certificate indices are readable with their own (empty) auth or
	 * the owner's. */
	if (nvpub->nvPublic.attributes & TPMA_NV_AUTHREAD)
		auth = nv;
	else if (nvpub->nvPublic.attributes & TPMA_NV_OWNERREAD)
		auth = ESYS_TR_RH_OWNER;
	else {
		r = err_set(e, EACCES,
			    "NV index 0x%08x is readable neither with its auth nor the owner's",
			    index);
		goto out;
	}
	r = get_property(t, TPM2_PT_NV_BUFFER_MAX, &chunk_max, e);
	if (r < 0)
		goto out;
	if (chunk_max == 0 || chunk_max > TPM2_MAX_NV_BUFFER_SIZE)
		chunk_max = 512;

	buf = malloc(size);
	if (!buf) {
		r = err_set(e, ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t off = 0; off < size;) {
		_cleanup_esys_ TPM2B_MAX_NV_BUFFER *data = NULL;
		uint16_t n = (uint16_t)(size - off < chunk_max ? size - off :
								 chunk_max);

		TPM_CALL(rc, Esys_NV_Read(t->esys, auth, nv, ESYS_TR_PASSWORD,
					  ESYS_TR_NONE, ESYS_TR_NONE, n,
					  (uint16_t)off, &data));
		if (rc != TSS2_RC_SUCCESS) {
			r = rc_err(e, rc, "TPM2_NV_Read");
			err_prefix(e, "NV index 0x%08x offset %u", index, off);
			goto out;
		}
		if (data->size != n) {
			r = err_set(e, EBADMSG,
				    "NV index 0x%08x: asked %u bytes at %u, got %u",
				    index, n, off, data->size);
			goto out;
		}
		memcpy(buf + off, data->buffer, n);
		off += n;
	}
	*ret = TAKE_PTR(buf);
	*ret_len = size;
	r = 0;
out:
	(void)Esys_TR_Close(t->esys, &nv);
	return r;
}

/* ---- keys under the SRK -----------------------------------------------*/

static int key_create(struct host_tpm *t, enum host_tpm_key_type type, bool ak,
		      struct host_tpm_key *ret, struct err *e)
{
	static const TPM2B_SENSITIVE_CREATE sens = { 0 };
	static const TPM2B_DATA outside = { 0 };
	static const TPML_PCR_SELECTION no_pcrs = { 0 };
	_cleanup_flush_ struct tpm_obj srk = TPM_OBJ(t);
	_cleanup_esys_ TPM2B_PRIVATE *priv = NULL;
	_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
	_cleanup_esys_ TPM2B_CREATION_DATA *cdata = NULL;
	_cleanup_esys_ TPM2B_DIGEST *chash = NULL;
	_cleanup_esys_ TPMT_TK_CREATION *ticket = NULL;
	struct host_tpm_key out;
	TPM2B_PUBLIC tmpl;
	size_t off = 0;
	TSS2_RC rc;
	int r;

	r = key_template(type, ak, &tmpl, e);
	if (r < 0)
		return r;
	r = srk_create(t, &srk.h, e);
	if (r < 0)
		return r;
	TPM_CALL(rc, Esys_Create(t->esys, srk.h, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				 ESYS_TR_NONE, &sens, &tmpl, &outside, &no_pcrs,
				 &priv, &pub, &cdata, &chash, &ticket));
	if (rc != TSS2_RC_SUCCESS)
		return rc_err(e, rc,
			      ak ? "TPM2_Create(AK)" :
				   "TPM2_Create(transport key)");
	rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, out.priv, sizeof(out.priv),
					   &off);
	if (rc != TSS2_RC_SUCCESS)
		return rc_err(e, rc, "cannot marshal TPM2B_PRIVATE");
	out.priv_len = off;
	r = public_fill(pub, &out.pub, e);
	if (r < 0)
		return r;
	*ret = out;
	return 0;
}

int host_tpm_ak_create(struct host_tpm *t, enum host_tpm_key_type type,
		       struct host_tpm_key *ret, struct err *e)
{
	return key_create(t, type, true, ret, e);
}

int host_tpm_transport_key_create(struct host_tpm *t,
				  enum host_tpm_key_type type,
				  struct host_tpm_key *ret, struct err *e)
{
	return key_create(t, type, false, ret, e);
}

/* Load keys[0..n) under a fresh SRK, which is flushed again at once: the
 * loaded children do not need it. handles[] must start as ESYS_TR_NONE. */
static int keys_load(struct host_tpm *t, const struct host_tpm_key *const *keys,
		     struct tpm_obj *handles, size_t n, struct err *e)
{
	_cleanup_flush_ struct tpm_obj srk = TPM_OBJ(t);
	TSS2_RC rc;
	int r;

	r = srk_create(t, &srk.h, e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		TPM2B_PRIVATE priv;
		TPM2B_PUBLIC pub;

		r = key_unmarshal(keys[i], &priv, &pub, e);
		if (r < 0)
			return r;
		TPM_CALL(rc, Esys_Load(t->esys, srk.h, ESYS_TR_PASSWORD,
				       ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub,
				       &handles[i].h));
		explicit_bzero(&priv, sizeof(priv));
		if (rc != TSS2_RC_SUCCESS)
			return rc_err(
				e, rc,
				"TPM2_Load (a key made by another TPM, or after TPM2_Clear?)");
	}
	return 0;
}

#define KEY_FILE_MAGIC "SVTK"
#define KEY_FILE_VERSION 1

int host_tpm_key_to_bytes(const struct host_tpm_key *k, uint8_t *buf,
			  size_t max, size_t *ret_len, struct err *e)
{
	size_t need = 4 + 2 + k->pub.pub_len + k->priv_len;

	if (need > max)
		return err_set(e, ENOBUFS, "key blob needs %zu bytes, have %zu",
			       need, max);
	memcpy(buf, KEY_FILE_MAGIC, 4);
	buf[4] = 0;
	buf[5] = KEY_FILE_VERSION;
	memcpy(buf + 6, k->pub.pub, k->pub.pub_len);
	memcpy(buf + 6 + k->pub.pub_len, k->priv, k->priv_len);
	*ret_len = need;
	return 0;
}

int host_tpm_key_from_bytes(const uint8_t *buf, size_t len,
			    struct host_tpm_key *ret, struct err *e)
{
	struct host_tpm_key k = { 0 };
	TPM2B_PRIVATE priv = { 0 };
	TPM2B_PUBLIC pub = { 0 };
	size_t off = 6, start;
	TSS2_RC rc;
	int r;

	if (len > HOST_TPM_KEY_FILE_MAX)
		return err_set(e, EMSGSIZE, "key blob: %zu bytes, at most %zu",
			       len, (size_t)HOST_TPM_KEY_FILE_MAX);
	if (len < 6 || memcmp(buf, KEY_FILE_MAGIC, 4) != 0)
		return err_set(e, EBADMSG, "key blob: no \"%s\" magic",
			       KEY_FILE_MAGIC);
	if (buf[4] != 0 || buf[5] != KEY_FILE_VERSION)
		return err_set(e, EBADMSG, "key blob: version %u, expected %u",
			       (unsigned)(buf[4] << 8 | buf[5]),
			       KEY_FILE_VERSION);
	start = off;
	rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, &pub);
	if (rc != TSS2_RC_SUCCESS)
		return err_set(e, EBADMSG,
			       "key blob: malformed TPM2B_PUBLIC: %s",
			       Tss2_RC_Decode(rc));
	memcpy(k.pub.pub, buf + start, off - start);
	k.pub.pub_len = off - start;
	start = off;
	rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(buf, len, &off, &priv);
	if (rc != TSS2_RC_SUCCESS)
		return err_set(e, EBADMSG,
			       "key blob: malformed TPM2B_PRIVATE: %s",
			       Tss2_RC_Decode(rc));
	if (off != len)
		return err_set(e, EBADMSG, "key blob: %zu trailing bytes",
			       len - off);
	memcpy(k.priv, buf + start, off - start);
	k.priv_len = off - start;
	r = tpm2_public_name(&pub.publicArea, k.pub.name, &k.pub.name_len, e);
	if (r < 0)
		return r;
	*ret = k;
	return 0;
}

/* ---- ActivateCredential -----------------------------------------------*/

/* A policy session satisfying PolicySecret(TPM_RH_ENDORSEMENT): the L
 * templates' authPolicy (PolicyA). */
static int ek_policy_session(struct host_tpm *t, ESYS_TR *ret, struct err *e)
{
	static const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	_cleanup_flush_ struct tpm_obj s = TPM_OBJ(t);
	_cleanup_esys_ TPM2B_TIMEOUT *timeout = NULL;
	_cleanup_esys_ TPMT_TK_AUTH *ticket = NULL;
	TSS2_RC rc;

	TPM_CALL(rc, Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
					   ESYS_TR_NONE, ESYS_TR_NONE,
					   ESYS_TR_NONE, NULL, TPM2_SE_POLICY,
					   &sym, TPM2_ALG_SHA256, &s.h));
	if (rc != TSS2_RC_SUCCESS)
		return rc_err(e, rc, "TPM2_StartAuthSession(policy)");
	TPM_CALL(rc,
		 Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, s.h,
				   ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				   NULL, NULL, NULL, 0, &timeout, &ticket));
	if (rc != TSS2_RC_SUCCESS)
		return rc_err(e, rc, "TPM2_PolicySecret(TPM_RH_ENDORSEMENT)");
	*ret = s.h;
	s.h = ESYS_TR_NONE;
	return 0;
}

int host_tpm_activate_credential(struct host_tpm *t, enum host_tpm_ek_type ek,
				 const struct host_tpm_key *ak,
				 const uint8_t *id_object, size_t id_object_len,
				 const uint8_t *enc_secret,
				 size_t enc_secret_len,
				 uint8_t secret[HOST_TPM_SECRET_MAX],
				 size_t *ret_len, struct err *e)
{
	_cleanup_flush_ struct tpm_obj ekh = TPM_OBJ(t);
	_cleanup_flush_ struct tpm_obj akh = TPM_OBJ(t);
	_cleanup_flush_ struct tpm_obj session = TPM_OBJ(t);
	_cleanup_esys_ TPM2B_PUBLIC *ekpub = NULL;
	_cleanup_esys_ TPM2B_DIGEST *cert_info = NULL;
	const struct host_tpm_key *keys[1] = { ak };
	TPM2B_ID_OBJECT blob = { 0 };
	TPM2B_ENCRYPTED_SECRET es = { 0 };
	size_t off = 0;
	TSS2_RC rc;
	int r;

	if ((size_t)ek >= ARRAY_SIZE(ek_types))
		return err_set(e, EINVAL, "unknown EK type %d", (int)ek);
	rc = Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(id_object, id_object_len, &off,
					       &blob);
	if (rc != TSS2_RC_SUCCESS || off != id_object_len)
		return err_set(e, EBADMSG,
			       "credential: malformed TPM2B_ID_OBJECT (%zu bytes)",
			       id_object_len);
	off = 0;
	rc = Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(enc_secret,
						      enc_secret_len, &off,
						      &es);
	if (rc != TSS2_RC_SUCCESS || off != enc_secret_len)
		return err_set(
			e, EBADMSG,
			"credential: malformed TPM2B_ENCRYPTED_SECRET (%zu bytes)",
			enc_secret_len);

	r = keys_load(t, keys, &akh, 1, e);
	if (r < 0)
		return r;
	r = ek_create(t, ek, &ekh.h, &ekpub, e);
	if (r < 0)
		return r;
	if (ek == HOST_TPM_EK_ECC_P384) {
		/* H templates set userWithAuth: the empty auth value does. */
		session.h = ESYS_TR_NONE;
		TPM_CALL(rc,
			 Esys_ActivateCredential(t->esys, akh.h, ekh.h,
						 ESYS_TR_PASSWORD,
						 ESYS_TR_PASSWORD, ESYS_TR_NONE,
						 &blob, &es, &cert_info));
	} else {
		r = ek_policy_session(t, &session.h, e);
		if (r < 0)
			return r;
		/* Let the TPM end the session with the command; on failure
		 * it stays and the cleanup flushes it. */
		rc = Esys_TRSess_SetAttributes(t->esys, session.h, 0,
					       TPMA_SESSION_CONTINUESESSION);
		if (rc != TSS2_RC_SUCCESS)
			return rc_err(e, rc, "Esys_TRSess_SetAttributes");
		TPM_CALL(rc, Esys_ActivateCredential(t->esys, akh.h, ekh.h,
						     ESYS_TR_PASSWORD,
						     session.h, ESYS_TR_NONE,
						     &blob, &es, &cert_info));
		/* Ended by the TPM and ESYS together. */
		if (rc == TSS2_RC_SUCCESS)
			session.h = ESYS_TR_NONE;
	}
	if (rc != TSS2_RC_SUCCESS) {
		r = rc_err(e, rc, "TPM2_ActivateCredential");
		if (r == -EKEYREJECTED)
			err_prefix(e,
				   "credential not made for this EK (%s) and AK name",
				   ek_types[ek].name);
		return r;
	}
	if (cert_info->size > HOST_TPM_SECRET_MAX) {
		OPENSSL_cleanse(cert_info->buffer, cert_info->size);
		return err_set(e, EBADMSG, "TPM returned a %u-byte secret",
			       cert_info->size);
	}
	memcpy(secret, cert_info->buffer, cert_info->size);
	*ret_len = cert_info->size;
	OPENSSL_cleanse(cert_info->buffer, sizeof(cert_info->buffer));
	return 0;
}

/* ---- Quote ------------------------------------------------------------*/

static int attestation_fill(const TPM2B_ATTEST *att, const TPMT_SIGNATURE *sig,
			    struct host_tpm_attestation *ret, struct err *e)
{
	size_t off = 0;
	TSS2_RC rc;

	if (att->size > sizeof(ret->attest))
		return err_set(e, EMSGSIZE, "TPMS_ATTEST of %u bytes",
			       att->size);
	memcpy(ret->attest, att->attestationData, att->size);
	ret->attest_len = att->size;
	rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, ret->sig, sizeof(ret->sig),
					    &off);
	if (rc != TSS2_RC_SUCCESS)
		return rc_err(e, rc, "cannot marshal TPMT_SIGNATURE");
	ret->sig_len = off;
	return 0;
}

static int nonce_data(const uint8_t *nonce, size_t len, TPM2B_DATA *ret,
		      struct err *e)
{
	if (len == 0 || len > TPM_MAX_NONCE_SIZE || len > sizeof(ret->buffer))
		return err_set(e, EINVAL, "nonce of %zu bytes (1..%u)", len,
			       TPM_MAX_NONCE_SIZE);
	ret->size = (uint16_t)len;
	memcpy(ret->buffer, nonce, len);
	return 0;
}

/* Read every PCR in sel into pcrs; *ret_counter is the PCR update counter,
 * the same for every PCR_Read call (else retried). */
static int pcrs_read(struct host_tpm *t, const TPML_PCR_SELECTION *sel,
		     struct quote_pcrs *pcrs, uint32_t *ret_counter,
		     struct err *e)
{
	for (int attempt = 0; attempt < HOST_TPM_QUOTE_TRIES; attempt++) {
		TPML_PCR_SELECTION left = *sel;
		uint32_t counter = 0;
		bool first = true, moved = false;
		struct quote_pcrs out = { 0 };

		for (;;) {
			_cleanup_esys_ TPML_PCR_SELECTION *got = NULL;
			_cleanup_esys_ TPML_DIGEST *values = NULL;
			uint32_t c;
			unsigned k = 0;
			bool any = false;
			TSS2_RC rc;

			for (uint32_t b = 0; b < left.count; b++)
				if (!selection_empty(&left.pcrSelections[b]))
					any = true;
			if (!any)
				break;
			TPM_CALL(rc, Esys_PCR_Read(t->esys, ESYS_TR_NONE,
						   ESYS_TR_NONE, ESYS_TR_NONE,
						   &left, &c, &got, &values));
			if (rc != TSS2_RC_SUCCESS)
				return rc_err(e, rc, "TPM2_PCR_Read");
			if (!first && c != counter) {
				moved = true;
				break;
			}
			first = false;
			counter = c;
			if (values->count == 0)
				return err_set(
					e, EPROTO,
					"TPM2_PCR_Read returned no PCR for a non-empty selection");
			for (uint32_t b = 0; b < got->count; b++) {
				const TPMS_PCR_SELECTION *gs =
					&got->pcrSelections[b];
				const struct hash_alg *h =
					hash_alg_by_id(gs->hash);
				struct quote_pcr_bank *bank;
				TPMS_PCR_SELECTION *ls = NULL;

				for (uint32_t j = 0; j < left.count; j++)
					if (left.pcrSelections[j].hash ==
					    gs->hash)
						ls = &left.pcrSelections[j];
				if (!h || !ls)
					return err_set(
						e, EPROTO,
						"TPM2_PCR_Read answered bank 0x%04x not asked for",
						gs->hash);
				bank = quote_pcrs_add_bank(&out, gs->hash);
				if (!bank)
					return err_set(e, ENOBUFS,
						       "too many PCR banks");
				for (unsigned p = 0; p < QUOTE_NUM_PCRS; p++) {
					if (p / 8 >= gs->sizeofSelect ||
					    !(gs->pcrSelect[p / 8] &
					      (1u << (p % 8))))
						continue;
					if (k >= values->count ||
					    values->digests[k].size != h->size)
						return err_set(
							e, EPROTO,
							"TPM2_PCR_Read: digest count or size does not match its selection");
					memcpy(bank->values[p],
					       values->digests[k].buffer,
					       h->size);
					bank->mask |= 1u << p;
					ls->pcrSelect[p / 8] &=
						(uint8_t) ~(1u << (p % 8));
					k++;
				}
			}
			if (k != values->count)
				return err_set(
					e, EPROTO,
					"TPM2_PCR_Read returned %u digests for %u selected PCRs",
					values->count, k);
		}
		if (moved)
			continue;
		*pcrs = out;
		*ret_counter = counter;
		return 0;
	}
	return err_set(e, EAGAIN, "PCRs kept changing while being read");
}

static int quote_selection(struct host_tpm *t, const uint16_t *banks,
			   size_t n_banks, TPML_PCR_SELECTION *ret,
			   struct err *e)
{
	TPML_PCR_SELECTION alloc, sel = { 0 };
	int r;

	r = pcr_allocation(t, &alloc, e);
	if (r < 0)
		return r;
	if (n_banks == 0) {
		for (uint32_t i = 0; i < alloc.count && i < TPM2_NUM_PCR_BANKS;
		     i++) {
			if (selection_empty(&alloc.pcrSelections[i]))
				continue;
			if (!hash_alg_by_id(alloc.pcrSelections[i].hash))
				continue;
			if (sel.count >= QUOTE_MAX_BANKS)
				break;
			sel.pcrSelections[sel.count++].hash =
				alloc.pcrSelections[i].hash;
		}
	} else {
		if (n_banks > QUOTE_MAX_BANKS)
			return err_set(e, EINVAL,
				       "%zu PCR banks asked, at most %u",
				       n_banks, QUOTE_MAX_BANKS);
		for (size_t i = 0; i < n_banks; i++) {
			bool found = false;

			for (uint32_t j = 0; j < alloc.count; j++)
				if (alloc.pcrSelections[j].hash == banks[i] &&
				    !selection_empty(&alloc.pcrSelections[j]))
					found = true;
			if (!found || !hash_alg_by_id(banks[i]))
				return err_set(
					e, EOPNOTSUPP,
					"PCR bank %s (0x%04x) is not allocated in this TPM",
					tpm2_alg_name(banks[i]), banks[i]);
			for (uint32_t j = 0; j < sel.count; j++)
				if (sel.pcrSelections[j].hash == banks[i])
					return err_set(e, EINVAL,
						       "PCR bank %s asked twice",
						       tpm2_alg_name(banks[i]));
			sel.pcrSelections[sel.count++].hash = banks[i];
		}
	}
	if (sel.count == 0)
		return err_set(e, EOPNOTSUPP, "TPM has no usable PCR bank");
	for (uint32_t i = 0; i < sel.count; i++) {
		sel.pcrSelections[i].sizeofSelect = 3;
		sel.pcrSelections[i].pcrSelect[0] = 0xff;
		sel.pcrSelections[i].pcrSelect[1] = 0xff;
		sel.pcrSelections[i].pcrSelect[2] = 0xff;
	}
	*ret = sel;
	return 0;
}

/* Do the values read reproduce the quote's pcrDigest? */
static bool quote_matches(const struct host_tpm_quote *q, uint16_t sig_hash)
{
	struct quote_selection_bank sel[TPM2_NUM_PCR_BANKS];
	uint8_t digest[QUOTE_MAX_DIGEST];
	TPMS_ATTEST att;
	size_t len;
	unsigned n = 0;

	if (tpm2_attest_unmarshal(q->att.attest, q->att.attest_len, &att,
				  NULL) < 0)
		return false;
	if (att.type != TPM2_ST_ATTEST_QUOTE)
		return false;
	for (uint32_t i = 0;
	     i < att.attested.quote.pcrSelect.count && i < TPM2_NUM_PCR_BANKS;
	     i++) {
		const TPMS_PCR_SELECTION *s =
			&att.attested.quote.pcrSelect.pcrSelections[i];
		uint32_t mask = 0;

		for (unsigned b = 0; b < s->sizeofSelect && b < 4; b++)
			mask |= (uint32_t)s->pcrSelect[b] << (8 * b);
		sel[n].alg = s->hash;
		sel[n].mask = mask;
		n++;
	}
	if (quote_pcr_digest(sig_hash, sel, n, &q->pcrs, digest, &len, NULL) <
	    0)
		return false;
	return len == att.attested.quote.pcrDigest.size &&
	       memcmp(digest, att.attested.quote.pcrDigest.buffer, len) == 0;
}

int host_tpm_quote(struct host_tpm *t, const struct host_tpm_key *ak,
		   const uint16_t *banks, size_t n_banks, const uint8_t *nonce,
		   size_t nonce_len, struct host_tpm_quote *ret, struct err *e)
{
	static const TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	_cleanup_flush_ struct tpm_obj akh = TPM_OBJ(t);
	const struct host_tpm_key *keys[1] = { ak };
	_cleanup_free_ struct host_tpm_quote *q = NULL;
	TPML_PCR_SELECTION sel;
	TPM2B_DATA qdata;
	int r;

	r = nonce_data(nonce, nonce_len, &qdata, e);
	if (r < 0)
		return r;
	r = quote_selection(t, banks, n_banks, &sel, e);
	if (r < 0)
		return r;
	q = calloc(1, sizeof(*q));
	if (!q)
		return err_set(e, ENOMEM, "out of memory");
	r = keys_load(t, keys, &akh, 1, e);
	if (r < 0)
		return r;

	for (int attempt = 0; attempt < HOST_TPM_QUOTE_TRIES; attempt++) {
		_cleanup_esys_ TPM2B_ATTEST *quoted = NULL;
		_cleanup_esys_ TPMT_SIGNATURE *sig = NULL;
		struct quote_pcrs after;
		uint32_t c1, c2;
		TSS2_RC rc;

		r = pcrs_read(t, &sel, &q->pcrs, &c1, e);
		if (r < 0)
			return r;
		TPM_CALL(rc, Esys_Quote(t->esys, akh.h, ESYS_TR_PASSWORD,
					ESYS_TR_NONE, ESYS_TR_NONE, &qdata,
					&scheme, &sel, &quoted, &sig));
		if (rc != TSS2_RC_SUCCESS)
			return rc_err(e, rc, "TPM2_Quote");
		r = attestation_fill(quoted, sig, &q->att, e);
		if (r < 0)
			return r;
		/* The counter says whether anything was extended meanwhile
		 * (except PCRs the TPM exempts from counting, e.g. 16 and
		 * 23); the pcrDigest check catches those too. */
		{
			TPML_PCR_SELECTION one = { .count = 1 };

			one.pcrSelections[0].hash = sel.pcrSelections[0].hash;
			one.pcrSelections[0].sizeofSelect = 3;
			one.pcrSelections[0].pcrSelect[0] = 1;
			r = pcrs_read(t, &one, &after, &c2, e);
			if (r < 0)
				return r;
		}
		if (c1 == c2 && quote_matches(q, sig->signature.any.hashAlg)) {
			*ret = *q;
			return 0;
		}
	}
	return err_set(e, EAGAIN,
		       "PCRs changed between TPM2_PCR_Read and TPM2_Quote %d times",
		       HOST_TPM_QUOTE_TRIES);
}

int host_tpm_certify(struct host_tpm *t, const struct host_tpm_key *ak,
		     const struct host_tpm_key *key, const uint8_t *nonce,
		     size_t nonce_len, struct host_tpm_attestation *ret,
		     struct err *e)
{
	static const TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	struct tpm_obj h[2] = { TPM_OBJ(t), TPM_OBJ(t) };
	const struct host_tpm_key *keys[2] = { ak, key };
	_cleanup_esys_ TPM2B_ATTEST *info = NULL;
	_cleanup_esys_ TPMT_SIGNATURE *sig = NULL;
	TPM2B_DATA qdata;
	TSS2_RC rc;
	int r;

	r = nonce_data(nonce, nonce_len, &qdata, e);
	if (r < 0)
		return r;
	r = keys_load(t, keys, h, 2, e);
	if (r < 0)
		goto out;
	TPM_CALL(rc, Esys_Certify(t->esys, h[1].h, h[0].h, ESYS_TR_PASSWORD,
				  ESYS_TR_PASSWORD, ESYS_TR_NONE, &qdata,
				  &scheme, &info, &sig));
	if (rc != TSS2_RC_SUCCESS) {
		r = rc_err(e, rc, "TPM2_Certify");
		goto out;
	}
	r = attestation_fill(info, sig, ret, e);
out:
	tpm_obj_flush(&h[0]);
	tpm_obj_flush(&h[1]);
	return r;
}

/* ---- decrypt operations -----------------------------------------------*/

int host_tpm_rsa_decrypt(struct host_tpm *t, const struct host_tpm_key *key,
			 const uint8_t *in, size_t in_len, uint8_t *out,
			 size_t max, size_t *ret_len, struct err *e)
{
	static const TPMT_RSA_DECRYPT scheme = {
		.scheme = TPM2_ALG_OAEP,
		.details.oaep.hashAlg = TPM2_ALG_SHA256,
	};
	static const TPM2B_DATA label = { 0 };
	_cleanup_flush_ struct tpm_obj kh = TPM_OBJ(t);
	const struct host_tpm_key *keys[1] = { key };
	_cleanup_esys_ TPM2B_PUBLIC_KEY_RSA *msg = NULL;
	TPM2B_PUBLIC_KEY_RSA ct;
	TSS2_RC rc;
	int r;

	if (in_len == 0 || in_len > sizeof(ct.buffer))
		return err_set(e, EINVAL, "RSA ciphertext of %zu bytes",
			       in_len);
	ct.size = (uint16_t)in_len;
	memcpy(ct.buffer, in, in_len);
	r = keys_load(t, keys, &kh, 1, e);
	if (r < 0)
		return r;
	TPM_CALL(rc,
		 Esys_RSA_Decrypt(t->esys, kh.h, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				  ESYS_TR_NONE, &ct, &scheme, &label, &msg));
	if (rc_is(rc, TPM2_RC_FAILURE)) {
		uint32_t v;

		/* libtpms (swtpm 0.7) answers TPM_RC_FAILURE to a ciphertext
		 * whose OAEP padding does not check, without entering failure
		 * mode: if the TPM still answers, the input was refused. */
		if (get_property(t, TPM2_PT_MANUFACTURER, &v, NULL) == 0)
			return err_set(
				e, EKEYREJECTED,
				"TPM2_RSA_Decrypt(OAEP SHA-256): the ciphertext does not decrypt under this key (TPM_RC_FAILURE)");
	}
	if (rc != TSS2_RC_SUCCESS)
		return rc_err(e, rc, "TPM2_RSA_Decrypt(OAEP SHA-256)");
	if (msg->size > max) {
		OPENSSL_cleanse(msg->buffer, sizeof(msg->buffer));
		return err_set(e, ENOBUFS,
			       "plaintext of %u bytes, room for %zu", msg->size,
			       max);
	}
	memcpy(out, msg->buffer, msg->size);
	*ret_len = msg->size;
	OPENSSL_cleanse(msg->buffer, sizeof(msg->buffer));
	return 0;
}

int host_tpm_ecdh_zgen(struct host_tpm *t, const struct host_tpm_key *key,
		       const uint8_t *peer, size_t peer_len, uint8_t *z,
		       size_t max, size_t *ret_len, struct err *e)
{
	_cleanup_flush_ struct tpm_obj kh = TPM_OBJ(t);
	const struct host_tpm_key *keys[1] = { key };
	_cleanup_esys_ TPM2B_ECC_POINT *outp = NULL;
	TPM2B_ECC_POINT inp = { 0 };
	size_t coord;
	TSS2_RC rc;
	int r;

	if (peer_len < 3 || peer[0] != 0x04 || (peer_len - 1) % 2 != 0 ||
	    (peer_len - 1) / 2 > sizeof(inp.point.x.buffer))
		return err_set(
			e, EINVAL,
			"peer point: not an uncompressed SEC1 point (%zu bytes)",
			peer_len);
	coord = (peer_len - 1) / 2;
	inp.point.x.size = (uint16_t)coord;
	memcpy(inp.point.x.buffer, peer + 1, coord);
	inp.point.y.size = (uint16_t)coord;
	memcpy(inp.point.y.buffer, peer + 1 + coord, coord);
	r = keys_load(t, keys, &kh, 1, e);
	if (r < 0)
		return r;
	TPM_CALL(rc, Esys_ECDH_ZGen(t->esys, kh.h, ESYS_TR_PASSWORD,
				    ESYS_TR_NONE, ESYS_TR_NONE, &inp, &outp));
	if (rc != TSS2_RC_SUCCESS)
		return rc_err(e, rc, "TPM2_ECDH_ZGen");
	if (outp->point.x.size > max) {
		OPENSSL_cleanse(&outp->point, sizeof(outp->point));
		return err_set(e, ENOBUFS, "shared secret of %u bytes",
			       outp->point.x.size);
	}
	memcpy(z, outp->point.x.buffer, outp->point.x.size);
	*ret_len = outp->point.x.size;
	OPENSSL_cleanse(&outp->point, sizeof(outp->point));
	return 0;
}

/* ---- PCR extend -------------------------------------------------------*/

int host_tpm_pcr_extend(struct host_tpm *t, unsigned pcr, unsigned n,
			const uint16_t *algs, const uint8_t *const *digests,
			struct err *e)
{
	TPML_DIGEST_VALUES v = { 0 };
	TSS2_RC rc;

	if (pcr >= QUOTE_NUM_PCRS)
		return err_set(e, EINVAL, "PCR %u out of range", pcr);
	if (n == 0 || n > TPM2_NUM_PCR_BANKS)
		return err_set(e, EINVAL, "%u digests to extend", n);
	for (unsigned i = 0; i < n; i++) {
		const struct hash_alg *h = hash_alg_by_id(algs[i]);

		if (!h || h->size > sizeof(v.digests[i].digest))
			return err_set(e, EOPNOTSUPP, "hash 0x%04x", algs[i]);
		v.digests[i].hashAlg = algs[i];
		memcpy(&v.digests[i].digest, digests[i], h->size);
	}
	v.count = n;
	TPM_CALL(rc,
		 Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD,
				 ESYS_TR_NONE, ESYS_TR_NONE, &v));
	if (rc != TSS2_RC_SUCCESS) {
		int r = rc_err(e, rc, "TPM2_PCR_Extend");

		err_prefix(e, "PCR %u", pcr);
		return r;
	}
	return 0;
}
