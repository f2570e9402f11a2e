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
 * concurrent clients (one thread and one keep-alive libcurl handle each)
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
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
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

#define MAX_LEVELS 8
#define RESP_MAX (256u * 1024u)

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench_unwrap: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- HTTP --------------------------------------------------------------- */

struct resp {
	char *buf;
	size_t len;
	bool overflow;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = size * n;

	if (r->len + len + 1 > RESP_MAX) {
		r->overflow = true;
		return len;
	}
	memcpy(r->buf + r->len, p, len);
	r->len += len;
	r->buf[r->len] = '\0';
	return len;
}

struct http {
	CURL *c;
	struct curl_slist *hdr;
	struct resp resp;
	char url[512];
	size_t url_base;
	char errbuf[CURL_ERROR_SIZE];
};

static void http_init(struct http *h, const char *base, const char *unix_socket, bool fresh)
{
	memset(h, 0, sizeof(*h));
	h->c = curl_easy_init();
	h->resp.buf = malloc(RESP_MAX);
	if (!h->c || !h->resp.buf)
		die("out of memory");
	h->hdr = curl_slist_append(NULL, "Content-Type: application/json");
	h->hdr = curl_slist_append(h->hdr, "Expect:");
	h->url_base = (size_t)snprintf(h->url, sizeof(h->url), "%s", base);
	curl_easy_setopt(h->c, CURLOPT_HTTPHEADER, h->hdr);
	curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h->c, CURLOPT_WRITEDATA, &h->resp);
	curl_easy_setopt(h->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h->c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h->c, CURLOPT_ERRORBUFFER, h->errbuf);
	if (fresh)
		curl_easy_setopt(h->c, CURLOPT_FORBID_REUSE, 1L);
	if (unix_socket)
		curl_easy_setopt(h->c, CURLOPT_UNIX_SOCKET_PATH, unix_socket);
}

static void http_free(struct http *h)
{
	curl_easy_cleanup(h->c);
	curl_slist_free_all(h->hdr);
	free(h->resp.buf);
}

/* body NULL: GET. The status, or -1 on a transport error. */
static long http_req(struct http *h, const char *path, const char *body, size_t len)
{
	long st = 0;

	snprintf(h->url + h->url_base, sizeof(h->url) - h->url_base, "%s", path);
	h->resp.len = 0;
	h->resp.overflow = false;
	h->resp.buf[0] = '\0';
	h->errbuf[0] = '\0';
	curl_easy_setopt(h->c, CURLOPT_URL, h->url);
	if (body) {
		curl_easy_setopt(h->c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else {
		curl_easy_setopt(h->c, CURLOPT_HTTPGET, 1L);
	}
	if (curl_easy_perform(h->c) != CURLE_OK)
		return -1;
	curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &st);
	return st;
}

static json_t *http_json(struct http *h, const char *path, json_t *body, long want)
{
	char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
	long st = http_req(h, path, s, s ? strlen(s) : 0);
	json_t *j;

	free(s);
	if (st != want)
		die("%s: HTTP %ld %s %.300s", path, st, h->errbuf, h->resp.buf);
	j = json_loads(h->resp.buf, 0, NULL);
	if (!j)
		die("%s: answer is not JSON: %.200s", path, h->resp.buf);
	return j;
}

/* ---- keys ----------------------------------------------------------------- */

/* A fresh EC JWK pair on crv: private (d) and public (kty, crv, x, y). */
static void ec_jwk_pair(const char *crv, json_t **priv, json_t **pub)
{
	*priv = json_pack("{s:s, s:s}", "kty", "EC", "crv", crv);
	if (!*priv || !jose_jwk_gen(NULL, *priv))
		die("jose_jwk_gen %s failed", crv);
	*pub = json_pack("{s:s, s:s, s:O, s:O}", "kty", "EC", "crv", crv, "x",
			 json_object_get(*priv, "x"), "y", json_object_get(*priv, "y"));
	if (!*pub)
		die("out of memory");
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
		die("ECDSA sign failed");
	EVP_MD_CTX_free(ctx);
	if (jose_b64_enc_buf(sig, sl, out, 199) == SIZE_MAX)
		die("base64url");
	out[jose_b64_enc_buf(sig, sl, NULL, 0)] = '\0';
	return out;
}

struct host {
	json_t *tk_priv;   /* software transport key (private JWK) */
	char *token;
	char *body;        /* {"token", "kp"} */
	size_t body_len;
};

static const struct guardian *fetch_hgs(struct http *api)
{
	struct guardian *g = NULL;
	struct err e = { 0 };
	long st = http_req(api, "/v1/guardian", NULL, 0);

	if (st != 200)
		die("GET /v1/guardian: HTTP %ld %s %.200s", st, api->errbuf, api->resp.buf);
	if (guardian_from_metadata(api->resp.buf, api->resp.len, &g, &e) < 0)
		die("GET /v1/guardian: %s", err_str(&e));
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
		die("RAND_bytes");
	snprintf(vm_id, sizeof(vm_id), "%08lx-%04x-4%03x-8%03x-%02x%02x%02x%02x%02x%02x",
		 strtoul(run, NULL, 10) & 0xffffffffUL, i & 0xffff, (i >> 16) & 0xfff, 0,
		 r[0], r[1], r[2], r[3], r[4], r[5]);
	if (kp_create(owner, gs, 1, vm_id, KP_POLICY_ENCRYPTION_SUPPORTED, NULL, tk, 0,
		      (int64_t)time(NULL), &text, &e) < 0)
		die("kp_create: %s", err_str(&e));
	OPENSSL_cleanse(tk, sizeof(tk));
	return text;
}

/* Register host i (host-key mode), attest it, build its unwrap body. */
static void host_setup(struct host *h, unsigned i, const char *run, struct http *admin,
		       struct http *api, const char *kp_text)
{
	EVP_PKEY *hk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIO *bio = BIO_new(BIO_s_mem());
	char name[64], *pem = NULL, *sig;
	uint8_t nonce[128];
	size_t nonce_len = 0;
	json_t *tk_pub, *req, *ans, *kpj;
	long pem_len;

	if (!hk || !bio || PEM_write_bio_PUBKEY(bio, hk) != 1)
		die("host key");
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
		die("nonce: bad base64url");
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

enum { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };
static atomic_int phase;

struct samples {
	double *v;
	size_t n, cap;
};

static void samples_add(struct samples *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 4096;
		double *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			die("out of memory");
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

struct client {
	pthread_t th;
	const char *url;
	struct host *host;     /* hgsd mode */
	const char *tang_path; /* tang mode: "/rec/KID" */
	const char *tang_body;
	struct samples full, rtt;
	unsigned long ok, errors;
	char first_error[256];
};

static void client_error(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void client_error(struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (atomic_load(&phase) == PHASE_MEASURE)
		c->errors++;
	if (c->first_error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(c->first_error, sizeof(c->first_error), fmt, ap);
	va_end(ap);
}

static void *client_run(void *arg)
{
	struct client *c = arg;
	static _Thread_local uint8_t pt[SEAL_MAX_PLAINTEXT];
	struct http http;

	http_init(&http, c->url, NULL, c->tang_path != NULL);
	while (atomic_load(&phase) != PHASE_STOP) {
		double t0 = now_s(), t1, t2;
		bool measured = atomic_load(&phase) == PHASE_MEASURE;
		long st;

		if (c->tang_path) {
			st = http_req(&http, c->tang_path, c->tang_body, strlen(c->tang_body));
			t1 = t2 = now_s();
			if (st != 200 || !strstr(http.resp.buf, "\"x\"")) {
				client_error(c, "tang: HTTP %ld %s %.160s", st, http.errbuf,
					     http.resp.buf);
				continue;
			}
		} else {
			json_t *ans, *sealed;
			struct err e = { 0 };
			size_t pt_len = 0;

			st = http_req(&http, "/v1/unwrap", c->host->body, c->host->body_len);
			t1 = now_s();
			if (st != 200) {
				client_error(c, "unwrap: HTTP %ld %s %.200s", st, http.errbuf,
					     http.resp.buf);
				continue;
			}
			ans = json_loadb(http.resp.buf, http.resp.len, 0, NULL);
			sealed = json_object_get(ans, "sealed");
			if (!json_is_string(sealed) ||
			    seal_open_jwk(json_string_value(sealed), json_string_length(sealed),
					  c->host->tk_priv, pt, sizeof(pt), &pt_len, &e) < 0 ||
			    !memmem(pt, pt_len, "\"next_tk\"", 9)) {
				client_error(c, "sealed answer: %s", err_str(&e));
				json_decref(ans);
				continue;
			}
			OPENSSL_cleanse(pt, pt_len);
			json_decref(ans);
			t2 = now_s();
		}
		if (measured && atomic_load(&phase) == PHASE_MEASURE) {
			c->ok++;
			samples_add(&c->full, t2 - t0);
			samples_add(&c->rtt, t1 - t0);
		}
	}
	http_free(&http);
	return NULL;
}

static double proc_cpu(long pid, bool children)
{
	char path[64], buf[4096], *p;
	unsigned long ut = 0, st = 0;
	long cut = 0, cst = 0;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld",
			 &ut, &st, &cut, &cst) != 4)
		return -1;
	return (double)(ut + st + (children ? (unsigned long)(cut + cst) : 0)) /
	       (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const struct samples *s, double q)
{
	size_t i;

	if (!s->n)
		return 0;
	i = (size_t)(q * (double)(s->n - 1) + 0.5);
	return s->v[i];
}

struct level_result {
	unsigned clients;
	double rate, full_p50, full_p99, rtt_p50, rtt_p99, server_cores, client_cores;
	unsigned long ok, errors;
	char first_error[256];
};

struct level_cfg {
	const char *url;
	struct host *hosts;
	unsigned n_hosts;
	const char *tang_path, *tang_body;
	long pid;
	bool pid_children; /* tang: socat forks tangd per connection */
	double warmup, secs;
};

static void run_level(unsigned k, const struct level_cfg *cfg, struct level_result *res)
{
	struct client *cl = calloc(k, sizeof(*cl));
	struct samples full = { 0 }, rtt = { 0 };
	double c0, c1, s0, s1, t0, t1;
	pthread_attr_t attr;

	if (!cl)
		die("out of memory");
	memset(res, 0, sizeof(*res));
	res->clients = k;
	atomic_store(&phase, PHASE_WARMUP);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (unsigned i = 0; i < k; i++) {
		cl[i].url = cfg->url;
		if (cfg->hosts)
			cl[i].host = &cfg->hosts[i % cfg->n_hosts];
		cl[i].tang_path = cfg->tang_path;
		cl[i].tang_body = cfg->tang_body;
		if (pthread_create(&cl[i].th, &attr, client_run, &cl[i]))
			die("cannot start client thread %u of %u", i, k);
	}
	pthread_attr_destroy(&attr);
	usleep((useconds_t)(cfg->warmup * 1e6));
	c0 = proc_cpu(cfg->pid, cfg->pid_children);
	s0 = self_cpu();
	t0 = now_s();
	atomic_store(&phase, PHASE_MEASURE);
	usleep((useconds_t)(cfg->secs * 1e6));
	atomic_store(&phase, PHASE_STOP);
	t1 = now_s();
	c1 = proc_cpu(cfg->pid, cfg->pid_children);
	s1 = self_cpu();
	for (unsigned i = 0; i < k; i++) {
		pthread_join(cl[i].th, NULL);
		res->ok += cl[i].ok;
		res->errors += cl[i].errors;
		if (!res->first_error[0] && cl[i].first_error[0])
			memcpy(res->first_error, cl[i].first_error, sizeof(res->first_error));
		for (size_t j = 0; j < cl[i].full.n; j++) {
			samples_add(&full, cl[i].full.v[j]);
			samples_add(&rtt, cl[i].rtt.v[j]);
		}
		free(cl[i].full.v);
		free(cl[i].rtt.v);
	}
	free(cl);
	qsort(full.v, full.n, sizeof(double), cmp_double);
	qsort(rtt.v, rtt.n, sizeof(double), cmp_double);
	res->rate = (double)res->ok / (t1 - t0);
	res->full_p50 = pct(&full, 0.50) * 1e3;
	res->full_p99 = pct(&full, 0.99) * 1e3;
	res->rtt_p50 = pct(&rtt, 0.50) * 1e3;
	res->rtt_p99 = pct(&rtt, 0.99) * 1e3;
	res->server_cores = c0 >= 0 && c1 >= 0 ? (c1 - c0) / (t1 - t0) : -1;
	res->client_cores = (s1 - s0) / (t1 - t0);
	free(full.v);
	free(rtt.v);
}

static void print_levels(const char *what, const struct level_result *res, unsigned n)
{
	printf("\n%8s %10s %10s %10s %10s %10s %8s %7s %7s\n", "clients", what, "full p50",
	       "full p99", "HTTP p50", "HTTP p99", "errors", "server", "client");
	printf("%8s %10s %10s %10s %10s %10s %8s %7s %7s\n", "", "", "ms", "ms", "ms", "ms", "",
	       "cores", "cores");
	for (unsigned i = 0; i < n; i++)
		printf("%8u %10.0f %10.2f %10.2f %10.2f %10.2f %8lu %7.2f %7.2f\n",
		       res[i].clients, res[i].rate, res[i].full_p50, res[i].full_p99,
		       res[i].rtt_p50, res[i].rtt_p99, res[i].errors, res[i].server_cores,
		       res[i].client_cores);
	for (unsigned i = 0; i < n; i++)
		if (res[i].first_error[0])
			printf("  first error at %u clients: %s\n", res[i].clients,
			       res[i].first_error);
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
		die("token_verify: %s", err_str(&e));
}

static struct kp *op_parse(struct floor_ctx *f)
{
	struct kp *kp = NULL;
	struct err e = { 0 };

	if (kp_parse(f->kp_text, strlen(f->kp_text), &kp, &e) < 0)
		die("kp_parse: %s", err_str(&e));
	return kp;
}

static void op_unwrap(struct floor_ctx *f, struct kp *kp, uint8_t tk[KP_TK_SIZE])
{
	struct err e = { 0 };

	if (kp_unwrap(kp, f->hgs, tk, &e) < 0)
		die("kp_unwrap: %s", err_str(&e));
}

static void op_roll(struct floor_ctx *f, struct kp *kp)
{
	uint8_t next[KP_TK_SIZE] = { 1 };
	char *text = NULL;
	struct err e = { 0 };

	if (kp_roll(kp, f->hgs, next, &text, &e) < 0)
		die("kp_roll: %s", err_str(&e));
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
		die("seal_to_jwk: %s", err_str(&e));
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
			die("seal_open_jwk: %s", err_str(&e));
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
	t0 = now_s();
	do {
		for (int i = 0; i < 8; i++)
			run_op(f, op);
		n += 8;
		t = now_s();
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
		die("%s", err_str(&e));
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
		die("token_issue: %s", err_str(&e));
	gs[0] = f->hgs;
	if (kp_create(f->owner, gs, 1, "00000000-0000-4000-8000-000000000001",
		      KP_POLICY_ENCRYPTION_SUPPORTED, NULL, tk, 0, (int64_t)time(NULL), &f->kp_text,
		      &e) < 0)
		die("kp_create: %s", err_str(&e));
	if (seal_to_jwk(f->tk_pub, (const uint8_t *)"{}", 2, &f->sealed, &e) < 0)
		die("seal_to_jwk: %s", err_str(&e));
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
	t0 = now_s();
	for (long i = 0; i < cores; i++) {
		p[i].f = &f;
		if (pthread_create(&p[i].th, NULL, par_run, &p[i]))
			die("thread");
	}
	usleep((useconds_t)(2 * FLOOR_SECONDS * 1e6));
	atomic_store(&par_stop, 1);
	for (long i = 0; i < cores; i++) {
		pthread_join(p[i].th, NULL);
		total += p[i].n;
	}
	t1 = now_s();
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
	struct http h;
	json_t *adv, *payload, *keys, *k, *ecmr = NULL, *priv, *pub;
	char thp[128], path[256];
	size_t i;

	http_init(&h, url, NULL, true);
	if (http_req(&h, "/adv", NULL, 0) != 200)
		die("tang GET /adv: %s %.200s", h.errbuf, h.resp.buf);
	adv = json_loads(h.resp.buf, 0, NULL);
	payload = adv ? jose_b64_dec_load(json_object_get(adv, "payload")) : NULL;
	keys = json_object_get(payload, "keys");
	json_array_foreach(keys, i, k)
		if (json_is_string(json_object_get(k, "alg")) &&
		    !strcmp(json_string_value(json_object_get(k, "alg")), "ECMR"))
			ecmr = k;
	if (!ecmr)
		die("tang advertisement without an ECMR key");
	{
		json_t *t = jose_jwk_thp(NULL, ecmr, "S256");

		if (!json_is_string(t))
			die("thumbprint of tang's ECMR key");
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
	http_free(&h);
}

/* ---- main ------------------------------------------------------------------ */

static double arg_double(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 3600)
		die("bad %s '%s'", what, s);
	return v;
}

static unsigned long arg_ulong(const char *s, const char *what, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max)
		die("bad %s '%s'", what, s);
	return v;
}

int main(int argc, char **argv)
{
	const char *url = NULL, *admin_sock = NULL, *tang = NULL;
	unsigned levels[MAX_LEVELS] = { 1, 16, 64, 256 }, n_levels = 4, n_hosts = 0, max_k = 0;
	struct level_result res[MAX_LEVELS];
	struct level_cfg cfg = { .warmup = 1, .secs = 10 };
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
			die("%s needs a value", a);
		i++;
		if (!strcmp(a, "--url"))
			url = v;
		else if (!strcmp(a, "--admin"))
			admin_sock = v;
		else if (!strcmp(a, "--tang"))
			tang = v;
		else if (!strcmp(a, "--pid"))
			cfg.pid = (long)arg_ulong(v, "pid", LONG_MAX);
		else if (!strcmp(a, "--hosts"))
			n_hosts = (unsigned)arg_ulong(v, "host count", 100000);
		else if (!strcmp(a, "--seconds"))
			cfg.secs = arg_double(v, "duration");
		else if (!strcmp(a, "--warmup"))
			cfg.warmup = arg_double(v, "warm-up");
		else if (!strcmp(a, "--levels")) {
			char buf[128], *save = NULL, *tok;

			snprintf(buf, sizeof(buf), "%s", v);
			n_levels = 0;
			for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (n_levels == MAX_LEVELS)
					die("at most %d levels", MAX_LEVELS);
				levels[n_levels++] = (unsigned)arg_ulong(tok, "level", 4096);
			}
			if (!n_levels)
				die("no levels");
		} else
			die("unknown option %s", a);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		die("curl_global_init failed");
	if (tang) {
		char *path, *body;

		tang_prepare(tang, &path, &body);
		cfg.url = tang;
		cfg.tang_path = path;
		cfg.tang_body = body;
		cfg.pid_children = true;
		printf("\n== Tang (tangd under socat, one process per connection) on %s: POST %.20s... "
		       "(a Clevis recovery request, P-521 ECMR), one connection per request, "
		       "%.0f s per level\n",
		       tang, path, cfg.secs);
		fflush(stdout);
		for (unsigned i = 0; i < n_levels; i++) {
			run_level(levels[i], &cfg, &res[i]);
			fprintf(stderr, "  tang level %u clients done: %.0f/s\n", levels[i],
				res[i].rate);
		}
		print_levels("recover/s", res, n_levels);
		printf("  server cores = socat + its exited tangd children (CPU of reaped children)\n");
		free(path);
		free(body);
		curl_global_cleanup();
		return 0;
	}
	if (!url || do_floor)
		floor_rate = measure_floor();
	if (!url)
		return 0;
	if (!admin_sock)
		die("--admin is required with --url");
	for (unsigned i = 0; i < n_levels; i++)
		if (levels[i] > max_k)
			max_k = levels[i];
	if (!n_hosts)
		n_hosts = max_k;
	snprintf(run, sizeof(run), "%ld", (long)getpid());
	cfg.url = url;
	cfg.n_hosts = n_hosts;
	cfg.hosts = calloc(n_hosts, sizeof(*cfg.hosts));
	if (!cfg.hosts)
		die("out of memory");
	{
		struct http admin, api;
		struct guardian *owner = NULL;
		const struct guardian *hgs;
		struct err e = { 0 };
		double t0 = now_s();

		http_init(&admin, "http://hgsd", admin_sock, false);
		http_init(&api, url, NULL, false);
		hgs = fetch_hgs(&api);
		if (guardian_generate("bench-owner", GUARDIAN_EC_P256, &owner, &e) < 0)
			die("%s", err_str(&e));
		for (unsigned i = 0; i < n_hosts; i++) {
			char *kp = new_kp(owner, hgs, i, run);

			host_setup(&cfg.hosts[i], i, run, &admin, &api, kp);
			free(kp);
		}
		printf("\n== %u software hosts registered in host-key mode, attested (token cnf = a "
		       "software EC P-256 transport key), one KP each (owner + hgsd guardian %s, "
		       "EC P-256) in %.2f s\n",
		       n_hosts, hgs->id, now_s() - t0);
		guardian_free(owner);
		guardian_free((struct guardian *)hgs);
		http_free(&admin);
		http_free(&api);
	}
	printf("== POST /v1/unwrap (token verify, KP parse + unwrap, rollback check, kp_roll, seal, "
	       "audit) + seal_open_jwk on the client, %.0f s per level after %.0f s warm-up, %ld "
	       "cores shared by hgsd and the clients\n",
	       cfg.secs, cfg.warmup, sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);
	for (unsigned i = 0; i < n_levels; i++) {
		run_level(levels[i], &cfg, &res[i]);
		fprintf(stderr, "  level %u clients done: %.0f/s\n", levels[i], res[i].rate);
	}
	print_levels("release/s", res, n_levels);
	printf("  full = HTTP round trip + JSON parse + seal_open_jwk on the client; HTTP = the "
	       "POST /v1/unwrap round trip alone\n");
	printf("  hgsd CPU per release (server cores / rate):");
	for (unsigned i = 0; i < n_levels; i++)
		if (res[i].rate > 0 && res[i].server_cores >= 0)
			printf(" %.0f us (%u)", res[i].server_cores / res[i].rate * 1e6,
			       res[i].clients);
	if (floor_rate > 0)
		printf("; crypto floor %.0f us", 1e6 / floor_rate);
	printf("\n");
	{
		double best = 0, p99_64 = -1;

		for (unsigned i = 0; i < n_levels; i++) {
			if (res[i].rate > best)
				best = res[i].rate;
			if (res[i].clients == 64)
				p99_64 = res[i].full_p99;
		}
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
		json_decref(cfg.hosts[i].tk_priv);
		free(cfg.hosts[i].token);
		free(cfg.hosts[i].body);
	}
	free(cfg.hosts);
	curl_global_cleanup();
	return 0;
}
