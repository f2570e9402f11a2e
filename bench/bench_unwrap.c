/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key releases per second of hgsd's Key Protection Service (driven by
 * bench_unwrap.sh). Simulated hosts attest in host-key mode (a software
 * EC P-256 host key signs the nonce; the token's cnf is a software EC
 * P-256 transport key), so the client opens the sealed answer in software
 * with seal_open_jwk where a real host would use its TPM. Each host gets
 * its own key protector (EC P-256 owner guardian generated here + hgsd's
 * primary guardian from GET /v1/guardian, policy encryption-supported,
 * generation 0, never committed, so every release is accepted). Then K
 * concurrent clients (one thread and one keep-alive HTTP/1.1 connection each)
 * loop: POST /v1/unwrap {token, kp}, expect 200, open "sealed" with the
 * transport key. Beside it, in the same run, the crypto floor of one
 * release as hgsd must do it (token verify, kp_parse signature checks,
 * ECDH unwrap, kp_roll, seal_to_jwk), on one core and on every core.
 *
 * With --tang URL it measures Tang instead (POST /rec/KID, the request a
 * Clevis client makes to release a key, one connection per request since
 * tangd serves one request per connection).
 *
 * Usage:
 *   bench_unwrap                      crypto floor only
 *   bench_unwrap --url URL --admin SOCKET --pid HGSD_PID [--hosts N]
 *                [--seconds S] [--warmup S] [--levels 1,16,...] [--no-floor]
 *   bench_unwrap --tang URL [--pid TANG_PID] [--seconds S] [--levels ...]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <jose/jose.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "attest/token.h"
#include "common/b64.h"
#include "kp/guardian.h"
#include "kp/kp.h"
#include "kp/seal.h"
#include "loadgen.h"


/* ---- HTTP ---------------------------------------------------------------- */

static json_t *http_json(struct loadgen_http *h, const char *path, json_t *body, long want)
{
	char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
	long st = loadgen_http_req(h, path, s, s ? strlen(s) : 0);
	json_t *j;

	free(s);
	if (st != want)
		loadgen_die("%s: HTTP %ld %s %.300s", path, st, h->errbuf, h->resp.buf);
	j = json_loads(h->resp.buf, 0, NULL);
	if (!j)
		loadgen_die("%s: answer is not JSON: %.200s", path, h->resp.buf);
	return j;
}

/* ---- keys ----------------------------------------------------------------- */

/* A fresh EC JWK pair on crv: private (d) and public (kty, crv, x, y). */
static void ec_jwk_pair(const char *crv, json_t **priv, json_t **pub)
{
	*priv = json_pack("{s:s, s:s}", "kty", "EC", "crv", crv);
	if (!*priv || !jose_jwk_gen(NULL, *priv))
		loadgen_die("jose_jwk_gen %s failed", crv);
	*pub = json_pack("{s:s, s:s, s:O, s:O}", "kty", "EC", "crv", crv, "x",
			 json_object_get(*priv, "x"), "y", json_object_get(*priv, "y"));
	if (!*pub)
		loadgen_die("out of memory");
}

/* Sign msg with an EC key (DER ECDSA-SHA256), base64url. */
static char *sign_b64(EVP_PKEY *key, const uint8_t *msg, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t sig[128];
	size_t sl = sizeof(sig);
	char *out = malloc(200);

	if (!ctx || !out || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) <= 0 ||
	    EVP_DigestSign(ctx, sig, &sl, msg, len) <= 0)
		loadgen_die("ECDSA sign failed");
	EVP_MD_CTX_free(ctx);
	if (jose_b64_enc_buf(sig, sl, out, 199) == SIZE_MAX)
		loadgen_die("base64url");
	out[jose_b64_enc_buf(sig, sl, NULL, 0)] = '\0';
	return out;
}

struct host {
	json_t *tk_priv;   /* software transport key (private JWK) */
	char *token;
	char *body;        /* {"token", "kp"} */
	size_t body_len;
};

static const struct guardian *fetch_hgs(struct loadgen_http *api)
{
	struct guardian *g = NULL;
	struct err e = { 0 };
	long st = loadgen_http_req(api, "/v1/guardian", NULL, 0);

	if (st != 200)
		loadgen_die("GET /v1/guardian: HTTP %ld %s %.200s", st, api->errbuf, api->resp.buf);
	if (guardian_from_metadata(api->resp.buf, api->resp.len, &g, &e) < 0)
		loadgen_die("GET /v1/guardian: %s", err_str(&e));
	return g;
}

static char *new_kp(const struct guardian *owner, const struct guardian *hgs, unsigned i,
		    const char *run)
{
	const struct guardian *gs[] = { hgs };
	uint8_t tk[KP_TK_SIZE], r[6];
	char vm_id[KP_VM_ID_LEN + 1], *text = NULL;
	struct err e = { 0 };

	if (RAND_bytes(tk, sizeof(tk)) != 1 || RAND_bytes(r, sizeof(r)) != 1)
		loadgen_die("RAND_bytes");
	snprintf(vm_id, sizeof(vm_id), "%08lx-%04x-4%03x-8%03x-%02x%02x%02x%02x%02x%02x",
		 strtoul(run, NULL, 10) & 0xffffffffUL, i & 0xffff, (i >> 16) & 0xfff, 0,
		 r[0], r[1], r[2], r[3], r[4], r[5]);
	if (kp_create(owner, gs, 1, vm_id, KP_POLICY_ENCRYPTION_SUPPORTED, NULL, tk, 0,
		      (int64_t)time(NULL), &text, &e) < 0)
		loadgen_die("kp_create: %s", err_str(&e));
	OPENSSL_cleanse(tk, sizeof(tk));
	return text;
}

/* Register host i (host-key mode), attest it, build its unwrap body. */
static void host_setup(struct host *h, unsigned i, const char *run, struct loadgen_http *admin,
		       struct loadgen_http *api, const char *kp_text)
{
	EVP_PKEY *hk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIO *bio = BIO_new(BIO_s_mem());
	char name[64], *pem = NULL, *sig;
	uint8_t nonce[128];
	size_t nonce_len = 0;
	json_t *tk_pub, *req, *ans, *kpj;
	long pem_len;

	if (!hk || !bio || PEM_write_bio_PUBKEY(bio, hk) != 1)
		loadgen_die("host key");
	pem_len = BIO_get_mem_data(bio, &pem);
	snprintf(name, sizeof(name), "bench-%s-%u", run, i);
	req = json_pack("{s:s, s:s%}", "name", name, "host_key_pem", pem, (size_t)pem_len);
	json_decref(http_json(admin, "/v1/admin/hosts", req, 201));
	json_decref(req);
	BIO_free(bio);

	ec_jwk_pair("P-256", &h->tk_priv, &tk_pub);
	ans = http_json(api, "/v1/attest/nonce", json_object(), 200);
	if (b64url_decode(json_string_value(json_object_get(ans, "nonce")),
			  json_string_length(json_object_get(ans, "nonce")), nonce, sizeof(nonce),
			  &nonce_len) < 0)
		loadgen_die("nonce: bad base64url");
	sig = sign_b64(hk, nonce, nonce_len);
	req = json_pack("{s:s, s:s, s:O, s:s, s:{s:o}}", "mode", "host-key", "host", name,
			"nonce", json_object_get(ans, "nonce"), "signature", sig, "transport_key",
			"jwk", tk_pub);
	json_decref(ans);
	ans = http_json(api, "/v1/attest", req, 200);
	h->token = strdup(json_string_value(json_object_get(ans, "token")));
	json_decref(ans);
	json_decref(req);
	free(sig);
	EVP_PKEY_free(hk);

	kpj = json_loads(kp_text, 0, NULL);
	req = json_pack("{s:s, s:o}", "token", h->token, "kp", kpj);
	h->body = json_dumps(req, JSON_COMPACT);
	h->body_len = strlen(h->body);
	json_decref(req);
}

/* ---- load generator -------------------------------------------------------- */

struct unwrap_ctx {
	struct host *hosts;
	unsigned n_hosts;
};

/* POST /v1/unwrap, open the sealed answer; the part timed apart is the
 * HTTP round trip. */
static int unwrap_request(struct loadgen_client *c, struct loadgen_http *http, double t0,
			  double *ret_full, double *ret_part)
{
	const struct unwrap_ctx *ctx = c->level->ctx;
	struct host *h = &ctx->hosts[c->index % ctx->n_hosts];
	static _Thread_local uint8_t pt[SEAL_MAX_PLAINTEXT];
	json_t *ans, *sealed;
	struct err e = { 0 };
	size_t pt_len = 0;
	double t1;
	long st;

	st = loadgen_http_req(http, "/v1/unwrap", h->body, h->body_len);
	t1 = loadgen_now();
	if (st != 200) {
		loadgen_client_error(c, "unwrap: HTTP %ld %s %.200s", st, http->errbuf,
				     http->resp.buf);
		return -1;
	}
	ans = json_loadb(http->resp.buf, http->resp.len, 0, NULL);
	sealed = json_object_get(ans, "sealed");
	if (!json_is_string(sealed) ||
	    seal_open_jwk(json_string_value(sealed), json_string_length(sealed), h->tk_priv, pt,
			  sizeof(pt), &pt_len, &e) < 0 ||
	    !memmem(pt, pt_len, "\"next_tk\"", 9)) {
		loadgen_client_error(c, "sealed answer: %s", err_str(&e));
		json_decref(ans);
		return -1;
	}
	OPENSSL_cleanse(pt, pt_len);
	json_decref(ans);
	*ret_full = loadgen_now() - t0;
	*ret_part = t1 - t0;
	return 0;
}

struct tang_ctx {
	const char *path; /* "/rec/KID" */
	const char *body;
};

/* POST /rec/KID on a new connection; nothing is timed apart. */
static int tang_request(struct loadgen_client *c, struct loadgen_http *http, double t0,
			double *ret_full, double *ret_part)
{
	const struct tang_ctx *ctx = c->level->ctx;
	long st = loadgen_http_req(http, ctx->path, ctx->body, strlen(ctx->body));

	*ret_full = *ret_part = loadgen_now() - t0;
	if (st != 200 || !strstr(http->resp.buf, "\"x\"")) {
		loadgen_client_error(c, "tang: HTTP %ld %s %.160s", st, http->errbuf,
				     http->resp.buf);
		return -1;
	}
	return 0;
}

static void print_levels(const char *what, const struct loadgen_result *res, unsigned n)
{
	const char *const head[2][LOADGEN_COLUMNS] = {
		{ "clients", what, "full p50", "full p99", "HTTP p50", "HTTP p99", "errors",
		  "server", "client" },
		{ "", "", "ms", "ms", "ms", "ms", "", "cores", "cores" },
	};

	loadgen_print(res, n, head);
}

/* ---- crypto floor ------------------------------------------------------------ */

#define FLOOR_SECONDS 0.5

struct floor_ctx {
	struct token_key *tok_key;
	json_t *jwks;
	char *jwt;
	struct guardian *owner, *hgs;
	char *kp_text;
	json_t *tk_pub, *tk_priv;
	char *sealed;
};

static void op_token(struct floor_ctx *f)
{
	struct err e = { 0 };

	if (token_verify(f->jwks, f->jwt, (int64_t)time(NULL), NULL, &e) < 0)
		loadgen_die("token_verify: %s", err_str(&e));
}

static struct kp *op_parse(struct floor_ctx *f)
{
	struct kp *kp = NULL;
	struct err e = { 0 };

	if (kp_parse(f->kp_text, strlen(f->kp_text), &kp, &e) < 0)
		loadgen_die("kp_parse: %s", err_str(&e));
	return kp;
}

static void op_unwrap(struct floor_ctx *f, struct kp *kp, uint8_t tk[KP_TK_SIZE])
{
	struct err e = { 0 };

	if (kp_unwrap(kp, f->hgs, tk, &e) < 0)
		loadgen_die("kp_unwrap: %s", err_str(&e));
}

static void op_roll(struct floor_ctx *f, struct kp *kp)
{
	uint8_t next[KP_TK_SIZE] = { 1 };
	char *text = NULL;
	struct err e = { 0 };

	if (kp_roll(kp, f->hgs, next, &text, &e) < 0)
		loadgen_die("kp_roll: %s", err_str(&e));
	free(text);
}

static void op_seal(struct floor_ctx *f)
{
	static const char pt[] = "{\"vm_id\":\"00000000-0000-4000-8000-000000000000\","
				 "\"generation\":0,\"kp_digest\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
				 "AAAAAAAAAAAAAA\",\"tk\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
				 "AAAA\",\"next_generation\":1,\"next_kp_digest\":\"AAAAAAAAAAAAAAA"
				 "AAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"next_tk\":\"AAAAAAAAAAAAAAAAAAAAA"
				 "AAAAAAAAAAAAAAAAAAAAAA\"}";
	char *jwe = NULL;
	struct err e = { 0 };

	if (seal_to_jwk(f->tk_pub, (const uint8_t *)pt, sizeof(pt) - 1, &jwe, &e) < 0)
		loadgen_die("seal_to_jwk: %s", err_str(&e));
	free(jwe);
}

/* One whole release as hgsd computes it. */
static void op_release(struct floor_ctx *f)
{
	uint8_t tk[KP_TK_SIZE];
	struct kp *kp;

	op_token(f);
	kp = op_parse(f);
	op_unwrap(f, kp, tk);
	op_roll(f, kp);
	op_seal(f);
	kp_free(kp);
}

enum floor_op { F_TOKEN, F_PARSE, F_UNWRAP, F_ROLL, F_SEAL, F_OPEN, F_RELEASE, F_N };

static void run_op(struct floor_ctx *f, enum floor_op op)
{
	static _Thread_local uint8_t pt[SEAL_MAX_PLAINTEXT];
	uint8_t tk[KP_TK_SIZE];
	struct kp *kp;
	size_t n;
	struct err e = { 0 };

	switch (op) {
	case F_TOKEN:
		op_token(f);
		break;
	case F_PARSE:
		kp_free(op_parse(f));
		break;
	case F_UNWRAP:
	case F_ROLL:
		kp = op_parse(f); /* subtracted below */
		if (op == F_UNWRAP)
			op_unwrap(f, kp, tk);
		else
			op_roll(f, kp);
		kp_free(kp);
		break;
	case F_SEAL:
		op_seal(f);
		break;
	case F_OPEN:
		if (seal_open_jwk(f->sealed, strlen(f->sealed), f->tk_priv, pt, sizeof(pt), &n,
				  &e) < 0)
			loadgen_die("seal_open_jwk: %s", err_str(&e));
		break;
	default:
		op_release(f);
	}
}

static double per_op(struct floor_ctx *f, enum floor_op op)
{
	double t0, t;
	unsigned long n = 0;

	for (int i = 0; i < 5; i++)
		run_op(f, op);
	t0 = loadgen_now();
	do {
		for (int i = 0; i < 8; i++)
			run_op(f, op);
		n += 8;
		t = loadgen_now();
	} while (t - t0 < FLOOR_SECONDS);
	return (t - t0) / (double)n;
}

struct par {
	pthread_t th;
	struct floor_ctx *f;
	unsigned long n;
};

static atomic_int par_stop;

static void *par_run(void *arg)
{
	struct par *p = arg;

	while (!atomic_load(&par_stop)) {
		op_release(p->f);
		p->n++;
	}
	return NULL;
}

static void floor_setup(struct floor_ctx *f)
{
	struct token_claims c = { 0 };
	const struct guardian *gs[1];
	uint8_t tk[KP_TK_SIZE] = { 7 };
	struct err e = { 0 };

	if (token_key_generate(&f->tok_key, &e) < 0 ||
	    guardian_generate("bench-owner", GUARDIAN_EC_P256, &f->owner, &e) < 0 ||
	    guardian_generate("bench-hgs", GUARDIAN_EC_P256, &f->hgs, &e) < 0)
		loadgen_die("%s", err_str(&e));
	f->jwks = json_pack("{s:[O]}", "keys", f->tok_key->jwk);
	ec_jwk_pair("P-256", &f->tk_priv, &f->tk_pub);
	c.iat = (int64_t)time(NULL);
	c.exp = c.iat + 3600;
	c.status = TOKEN_WARNING;
	c.mode = TOKEN_MODE_HOST_KEY;
	snprintf(c.host, sizeof(c.host), "bench");
	snprintf(c.policy_id, sizeof(c.policy_id), "shieldvm-default");
	snprintf(c.verifier_build, sizeof(c.verifier_build), "bench");
	c.cnf_jwk = f->tk_pub;
	if (token_issue(f->tok_key, &c, &f->jwt, &e) < 0)
		loadgen_die("token_issue: %s", err_str(&e));
	gs[0] = f->hgs;
	if (kp_create(f->owner, gs, 1, "00000000-0000-4000-8000-000000000001",
		      KP_POLICY_ENCRYPTION_SUPPORTED, NULL, tk, 0, (int64_t)time(NULL), &f->kp_text,
		      &e) < 0)
		loadgen_die("kp_create: %s", err_str(&e));
	if (seal_to_jwk(f->tk_pub, (const uint8_t *)"{}", 2, &f->sealed, &e) < 0)
		loadgen_die("seal_to_jwk: %s", err_str(&e));
}

static double measure_floor(void)
{
	struct floor_ctx f = { 0 };
	double t[F_N], t0, t1;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct par *p;
	unsigned long total = 0;

	floor_setup(&f);
	for (int i = 0; i < F_N; i++)
		t[i] = per_op(&f, (enum floor_op)i);
	t[F_UNWRAP] -= t[F_PARSE];
	t[F_ROLL] -= t[F_PARSE];
	if (cores < 1)
		cores = 1;
	p = calloc((size_t)cores, sizeof(*p));
	atomic_store(&par_stop, 0);
	t0 = loadgen_now();
	for (long i = 0; i < cores; i++) {
		p[i].f = &f;
		if (pthread_create(&p[i].th, NULL, par_run, &p[i]))
			loadgen_die("thread");
	}
	usleep((useconds_t)(2 * FLOOR_SECONDS * 1e6));
	atomic_store(&par_stop, 1);
	for (long i = 0; i < cores; i++) {
		pthread_join(p[i].th, NULL);
		total += p[i].n;
	}
	t1 = loadgen_now();
	free(p);

	printf("== crypto floor of one key release as hgsd computes it (this run, EC P-256 everywhere)\n");
	printf("  token_verify (ES256 + claims)     %8.1f us\n", t[F_TOKEN] * 1e6);
	printf("  kp_parse (2 ES256 verifies, JSON) %8.1f us\n", t[F_PARSE] * 1e6);
	printf("  kp_unwrap (ECDH-ES+A256KW)        %8.1f us\n", t[F_UNWRAP] * 1e6);
	printf("  kp_roll (2 wraps + ES256 seal)    %8.1f us\n", t[F_ROLL] * 1e6);
	printf("  seal_to_jwk (ECDH-ES, A256GCM)    %8.1f us\n", t[F_SEAL] * 1e6);
	printf("  one release, single-threaded      %8.1f us = %7.0f releases/s on one core\n",
	       t[F_RELEASE] * 1e6, 1 / t[F_RELEASE]);
	printf("  one release on %ld threads         %7.0f releases/s (all cores)\n", cores,
	       (double)total / (t1 - t0));
	printf("  client: seal_open_jwk             %8.1f us (software; a host does it in its TPM)\n",
	       t[F_OPEN] * 1e6);
	token_key_free(f.tok_key);
	json_decref(f.jwks);
	free(f.jwt);
	guardian_free(f.owner);
	guardian_free(f.hgs);
	free(f.kp_text);
	json_decref(f.tk_pub);
	json_decref(f.tk_priv);
	free(f.sealed);
	return 1 / t[F_RELEASE];
}

/* ---- tang ------------------------------------------------------------------ */

/* GET /adv, pick the ECMR key, build a recovery request for it. */
static void tang_prepare(const char *url, char **ret_path, char **ret_body)
{
	struct loadgen_http h;
	json_t *adv, *payload, *keys, *k, *ecmr = NULL, *priv, *pub;
	char thp[128], path[256];
	size_t i;

	loadgen_http_init(&h, url, NULL, true);
	if (loadgen_http_req(&h, "/adv", NULL, 0) != 200)
		loadgen_die("tang GET /adv: %s %.200s", h.errbuf, h.resp.buf);
	adv = json_loads(h.resp.buf, 0, NULL);
	payload = adv ? jose_b64_dec_load(json_object_get(adv, "payload")) : NULL;
	keys = json_object_get(payload, "keys");
	json_array_foreach(keys, i, k)
		if (json_is_string(json_object_get(k, "alg")) &&
		    !strcmp(json_string_value(json_object_get(k, "alg")), "ECMR"))
			ecmr = k;
	if (!ecmr)
		loadgen_die("tang advertisement without an ECMR key");
	{
		json_t *t = jose_jwk_thp(NULL, ecmr, "S256");

		if (!json_is_string(t))
			loadgen_die("thumbprint of tang's ECMR key");
		snprintf(thp, sizeof(thp), "%s", json_string_value(t));
		json_decref(t);
	}
	snprintf(path, sizeof(path), "/rec/%s", thp);
	ec_jwk_pair(json_string_value(json_object_get(ecmr, "crv")), &priv, &pub);
	json_object_set_new(pub, "alg", json_string("ECMR"));
	json_object_set_new(pub, "key_ops", json_pack("[s]", "deriveKey"));
	*ret_body = json_dumps(pub, JSON_COMPACT);
	*ret_path = strdup(path);
	json_decref(priv);
	json_decref(pub);
	json_decref(payload);
	json_decref(adv);
	loadgen_http_free(&h);
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct loadgen_opts o = LOADGEN_OPTS_DEFAULT;
	const char *tang = NULL;
	unsigned n_hosts;
	struct loadgen_result res[LOADGEN_MAX_LEVELS];
	struct loadgen_level lv = { 0 };
	struct unwrap_ctx ctx = { 0 };
	bool do_floor = true;
	double floor_rate = 0;
	char run[32];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--no-floor")) {
			do_floor = false;
			continue;
		}
		if (!v)
			loadgen_die("%s needs a value", a);
		i++;
		if (!strcmp(a, "--tang"))
			tang = v;
		else if (!loadgen_opt(&o, a, v))
			loadgen_die("unknown option %s", a);
	}
	lv.pid = o.pid;
	lv.warmup = o.warmup;
	lv.secs = o.secs;
	if (tang) {
		struct tang_ctx tc;
		char *path, *body;

		tang_prepare(tang, &path, &body);
		tc.path = path;
		tc.body = body;
		lv.url = tang;
		lv.fresh = true;
		lv.request = tang_request;
		lv.ctx = &tc;
		lv.pid_children = true;
		printf("\n== Tang (tangd under socat, one process per connection) on %s: POST %.20s... "
		       "(a Clevis recovery request, P-521 ECMR), one connection per request, "
		       "%.0f s per level\n",
		       tang, path, o.secs);
		fflush(stdout);
		loadgen_run(&lv, o.levels, o.n_levels, "tang level", res);
		print_levels("recover/s", res, o.n_levels);
		printf("  server cores = socat + its exited tangd children (CPU of reaped children)\n");
		free(path);
		free(body);
		return 0;
	}
	if (!o.url || do_floor)
		floor_rate = measure_floor();
	if (!o.url)
		return 0;
	if (!o.admin)
		loadgen_die("--admin is required with --url");
	n_hosts = loadgen_hosts(&o);
	snprintf(run, sizeof(run), "%ld", (long)getpid());
	ctx.n_hosts = n_hosts;
	ctx.hosts = calloc(n_hosts, sizeof(*ctx.hosts));
	if (!ctx.hosts)
		loadgen_die("out of memory");
	{
		struct loadgen_http admin, api;
		struct guardian *owner = NULL;
		const struct guardian *hgs;
		struct err e = { 0 };
		double t0 = loadgen_now();

		loadgen_http_init(&admin, "http://hgsd", o.admin, false);
		loadgen_http_init(&api, o.url, NULL, false);
		hgs = fetch_hgs(&api);
		if (guardian_generate("bench-owner", GUARDIAN_EC_P256, &owner, &e) < 0)
			loadgen_die("%s", err_str(&e));
		for (unsigned i = 0; i < n_hosts; i++) {
			char *kp = new_kp(owner, hgs, i, run);

			host_setup(&ctx.hosts[i], i, run, &admin, &api, kp);
			free(kp);
		}
		printf("\n== %u software hosts registered in host-key mode, attested (token cnf = a "
		       "software EC P-256 transport key), one KP each (owner + hgsd guardian %s, "
		       "EC P-256) in %.2f s\n",
		       n_hosts, hgs->id, loadgen_now() - t0);
		guardian_free(owner);
		guardian_free((struct guardian *)hgs);
		loadgen_http_free(&admin);
		loadgen_http_free(&api);
	}
	printf("== POST /v1/unwrap (token verify, KP parse + unwrap, rollback check, kp_roll, seal, "
	       "audit) + seal_open_jwk on the client, %.0f s per level after %.0f s warm-up, %ld "
	       "cores shared by hgsd and the clients\n",
	       o.secs, o.warmup, sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);
	lv.url = o.url;
	lv.request = unwrap_request;
	lv.ctx = &ctx;
	loadgen_run(&lv, o.levels, o.n_levels, "level", res);
	print_levels("release/s", res, o.n_levels);
	printf("  full = HTTP round trip + JSON parse + seal_open_jwk on the client; HTTP = the "
	       "POST /v1/unwrap round trip alone\n");
	printf("  hgsd CPU per release (server cores / rate):");
	for (unsigned i = 0; i < o.n_levels; i++)
		if (res[i].rate > 0 && res[i].server_cores >= 0)
			printf(" %.0f us (%u)", res[i].server_cores / res[i].rate * 1e6,
			       res[i].clients);
	if (floor_rate > 0)
		printf("; crypto floor %.0f us", 1e6 / floor_rate);
	printf("\n");
	{
		double best, p99_64;
		unsigned best_k;

		loadgen_best(res, o.n_levels, &best, &best_k, &p99_64);
		printf("\ngoal: >= 5000 releases/s: reached %.0f%s", best,
		       best >= 5000 ? "" : " -- NOT met");
		if (floor_rate > 0)
			printf(" (crypto floor %.0f/s per core)", floor_rate);
		printf("\n");
		if (p99_64 >= 0)
			printf("goal: p99 < 20 ms at 64 clients: %.2f ms%s\n", p99_64,
			       p99_64 < 20 ? "" : " -- NOT met");
	}
	for (unsigned i = 0; i < n_hosts; i++) {
		json_decref(ctx.hosts[i].tk_priv);
		free(ctx.hosts[i].token);
		free(ctx.hosts[i].body);
	}
	free(ctx.hosts);
	return 0;
}
